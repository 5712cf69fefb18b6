/*
 * ring_wait.c — how a worker that serves shared-memory rings waits: it
 * polls its rings for a bounded, adaptive window after the last ring work
 * (the policy in src/transport/spin.h, shared with libutmem), then arms the
 * rings' sleeping flags and blocks in epoll_wait, where a client's doorbell
 * wakes it (docs/protocol.md section 9, "Wake-ups").
 *
 * Daemon-specific details on top of the shared policy: after
 * POLITE_AFTER_NS without work the worker polls between sched_yield()s, so
 * a runnable thread on its CPU (often the very client it waits for) goes
 * first, and a long yield does not count as losing the CPU (it ran someone
 * else on purpose); it returns to epoll at least every SPIN_SLICE_NS so
 * other connections and signals are never starved.
 */
#include "daemon/daemon.h"

#include <sched.h>

#define SPIN_SLICE_NS 10000u
#define POLITE_AFTER_NS 3000u /* then poll between sched_yield()s */

/*
 * Spin over l's rings until one has work (UD_RING_READY) or the slice
 * ends (0). Caller is within the spin window that ends at end.
 */
static int spin_slice(struct ud_loop *l, uint64_t now, uint64_t end)
{
	uint64_t prev;
	int polite;

	if (end > now + SPIN_SLICE_NS)
		end = now + SPIN_SLICE_NS;
	do {
		if (ud_ring_ready(l))
			return UD_RING_READY;
		ud_ring_beat(l);
		polite = now - l->ring_last_ns > POLITE_AFTER_NS;
		if (polite)
			sched_yield();
		else
			uspin_relax();
		prev = now;
		now = uspin_now();
		/*
		 * Lost the CPU mid-spin, and not to the client we wait for
		 * (it would have sent something): stop spinning for a while,
		 * a woken worker would get the CPU at once.
		 */
		if (!polite && !ud_ring_ready(l) &&
		    uspin_preempted(&l->ring_spin, now, now - prev))
			break;
	} while (now < end);
	return 0;
}

int ud_ring_wait_timeout(struct ud_loop *l, int block_ms, int *armed)
{
	uint64_t now = uspin_now();
	uint64_t window = uspin_window(&l->ring_spin, now);

	*armed = 0;
	if (now - l->ring_last_ns < window) {
		int rc = spin_slice(l, now, l->ring_last_ns + window);

		l->ring_idle = 1;
		return rc;
	}
	/* Raise the flags, then re-check (uring_sleep_prepare fences). */
	l->ring_idle = 1;
	ud_ring_arm(l, 1);
	if (ud_ring_ready(l)) {
		ud_ring_arm(l, 0);
		return UD_RING_READY;
	}
	*armed = 1;
	return block_ms;
}

/*
 * A ring had work now: at the first work after an idle spell, adapt the
 * window to the gap before it (spin.h), so a client that thinks between
 * requests, or an idle one, costs little CPU on a small machine.
 */
void ud_ring_worked(struct ud_loop *l)
{
	uint64_t now = uspin_now();

	if (l->ring_idle) {
		uspin_adapt(&l->ring_spin, now, now - l->ring_last_ns);
		l->ring_idle = 0;
	}
	l->ring_last_ns = now;
}

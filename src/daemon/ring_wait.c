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
 * first; it returns to epoll at least every SPIN_SLICE_NS so other
 * connections and signals are never starved. A yield that gave the CPU
 * away for longer than USPIN_PREEMPTED_NS without the rings getting work
 * ran someone else, not the client: more runnable threads than cores, so
 * the worker stops spinning for USPIN_CALM_NS like one preempted mid-spin.
 * And while the host has more runnable threads than utmemd has cores
 * (/proc/loadavg, read every CROWD_NS), a worker spins only as long as
 * its spins pay: one that ended without work makes it sleep at once for
 * the next CROWD_NS. A yield only lets others go first, the spinning
 * worker stays runnable and keeps its share of the cores. Spinning on,
 * the workers took the CPU their tenants needed: in the swinging-demand
 * experiment on two cores, two tenants' worst half seconds fell to 19-20 %
 * of their offered load; with no spinning at all, 88 %. Not spinning at
 * all when crowded cost Redis's TMEM.PUT of 128 KiB values (8 clients on
 * the same two cores) about a tenth: there the spins found Redis's next
 * posts.
 */
#include "daemon/daemon.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SPIN_SLICE_NS 10000u
#define POLITE_AFTER_NS 3000u /* then poll between sched_yield()s */
#define CROWD_NS 10000000u    /* how often to read /proc/loadavg */

/*
 * More threads runnable on the host than the cores utmemd runs on? The
 * fourth field of /proc/loadavg, "R/T", counts the runnable ones now, the
 * reader included. Looked at every CROWD_NS; never crowded if unreadable.
 */
static int crowded(struct ud_loop *l, uint64_t now)
{
	char buf[128];
	const char *p = buf;
	ssize_t n;

	if (now < l->crowd_next_ns || l->d->loadavg_fd < 0)
		return l->crowded;
	l->crowd_next_ns = now + CROWD_NS;
	n = pread(l->d->loadavg_fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return l->crowded = 0;
	buf[n] = '\0';
	for (int f = 0; f < 3 && p; f++) { /* skip the three averages */
		p = strchr(p, ' ');
		p = p ? p + 1 : NULL;
	}
	l->crowded = p && strtoul(p, NULL, 10) > l->d->ncpu;
	return l->crowded;
}

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
		now = umono_ns();
		/*
		 * Lost the CPU mid-spin or in a yield, and not to the client
		 * we wait for (it would have sent something): stop spinning
		 * for a while, a woken worker would get the CPU at once.
		 */
		if (!ud_ring_ready(l) &&
		    uspin_preempted(&l->ring_spin, now, now - prev)) {
			ud_count1(&l->spin_crowded); /* a crowded host cut it short */
			break;
		}
	} while (now < end);
	return 0;
}

int ud_ring_wait_timeout(struct ud_loop *l, int block_ms, int *armed)
{
	uint64_t now = umono_ns();
	uint64_t window = uspin_window(&l->ring_spin, now);

	*armed = 0;
	if (now - l->ring_last_ns < window) {
		int rc;

		if (now < l->crowd_skip_until && crowded(l, now)) {
			ud_count1(&l->spin_crowded); /* skipped: host crowded */
			goto sleep;
		}
		rc = spin_slice(l, now, l->ring_last_ns + window);
		l->ring_idle = 1;
		l->spun = 1;
		return rc;
	}
	/* A spin that found nothing, on a crowded host: sleep at once for a
	 * while (see the top of this file). */
	if (l->spun && crowded(l, now))
		l->crowd_skip_until = now + CROWD_NS;
sleep:
	l->spun = 0;
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
	uint64_t now = umono_ns();

	if (l->ring_idle) {
		uspin_adapt(&l->ring_spin, now, now - l->ring_last_ns);
		l->ring_idle = 0;
	}
	l->spun = 0;
	l->ring_last_ns = now;
}

/*
 * sched.c — what the threads that serve tenants (workers, VM threads) ask of
 * the CPU scheduler: a short slice, so that a request that wakes one is
 * served soon even when the host has more runnable threads than cores.
 *
 * Why: a request that waits for utmemd (a pop, a GET that is not one-sided,
 * a PUT beyond credit) costs its tenant a wake-up of a worker. On a crowded
 * host the woken worker waited behind the tenants' own threads for their
 * whole slice (0.75 ms × (1 + log2 cores) by default): in the swinging-demand
 * experiment (bench/swing, docs/evaluation.md §8) pops took milliseconds and
 * two of three tenants lost up to 66 % of their throughput for half a second.
 *
 * How: under EEVDF (Linux 6.6 and later) a fair thread's slice sets how soon
 * it runs after a wake-up, not how much CPU it gets (that is its weight, its
 * nice value). Since Linux 6.12 a thread may ask for its own slice
 * (sched_setattr, SCHED_OTHER with sched_runtime: 0.1 .. 100 ms), without
 * privilege. A short slice is therefore latency without a larger share: a
 * tenant that floods utmemd gets no more CPU through it than before, which a
 * lower nice value would give it. Older kernels accept and ignore the
 * request; sched_getattr then reports no slice, and so does INFO
 * (`worker_slice_ns` 0).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon/daemon.h"

/* The kernel's struct sched_attr, first version (48 bytes). Not included
 * from <linux/sched/types.h>: it clashes with glibc's <sched.h>. */
struct ud_sched_attr {
	uint32_t size;
	uint32_t policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime;
	uint64_t deadline;
	uint64_t period;
};

#define UD_SCHED_OTHER 0
#define UD_SCHED_BATCH 3

static int getattr(struct ud_sched_attr *a)
{
	memset(a, 0, sizeof(*a));
	if (syscall(SYS_sched_getattr, 0, a, (unsigned)sizeof(*a), 0u) < 0)
		return -errno;
	return 0;
}

/*
 * Give the calling thread a slice of us microseconds (0: leave the
 * kernel's default), keeping its policy and nice value; a thread an
 * operator made real-time (chrt) is left alone. *got_ns is the slice the
 * kernel reports afterwards (0: none of its own, as before Linux 6.12).
 * Returns 0 or -errno.
 */
int ud_sched_slice(unsigned us, uint64_t *got_ns)
{
	struct ud_sched_attr a;
	int err;

	*got_ns = 0;
	if (!us)
		return 0;
	err = getattr(&a);
	if (err)
		return err;
	if (a.policy != UD_SCHED_OTHER && a.policy != UD_SCHED_BATCH)
		return -EPERM;
	a.size = sizeof(a);
	a.flags = 0;
	a.runtime = (uint64_t)us * 1000u;
	a.deadline = a.period = 0;
	if (syscall(SYS_sched_setattr, 0, &a, 0u) < 0)
		return -errno;
	err = getattr(&a);
	if (!err)
		*got_ns = a.runtime;
	return err;
}

/*
 * Called by each serving thread as it starts: ask for cfg.worker_slice_us;
 * the first one to find out logs the outcome and publishes it for INFO.
 */
void ud_sched_serving_thread(struct ud_daemon *d)
{
	uint64_t got = 0;
	int err = ud_sched_slice(d->worker_slice_us, &got);

	atomic_store_explicit(&d->worker_slice_ns, got, memory_order_relaxed);
	if (!d->worker_slice_us || atomic_exchange(&d->slice_told, 1))
		return;
	if (err)
		ud_warn("workers: cannot ask for a %u us scheduler slice: %s",
			d->worker_slice_us, strerror(-err));
	else if (!got)
		ud_info("workers: the kernel ignores a thread's own scheduler slice "
			"(Linux < 6.12); workers keep the default");
	else
		ud_debug("workers: scheduler slice %llu us",
			 (unsigned long long)(got / 1000u));
}

/*
 * stall.c — the machine's own stalls, told apart from utmemd's.
 *
 * The probe judges utmemd by the slowest of good's round trips. On a small
 * VM running several tests at once, the whole machine stops scheduling
 * some threads for hundreds of milliseconds: a process that did nothing
 * but sleep 1 ms at a time woke up to 920 ms late beside hostile-guess and
 * hostile-logs (2 vCPUs, mostly context switches; no steal time), and the
 * probe's slowest round trip then fell in the same interval. That is not
 * utmemd making a tenant wait.
 *
 * A watcher thread in the probe's own process sleeps 1 ms at a time and
 * records each wake-up that came more than STALL_MIN_US late, as the
 * interval in which it was not run. A round trip's own time is its latency
 * less the part of it that falls in such intervals: time in which the
 * probe's process could not have run either. utmemd blocked on something
 * (a full pipe, a lock, a wait on another tenant) leaves the watcher
 * running on time, so its round trips keep their whole latency.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "hostile.h"

#define STALL_MIN_US 2000u
#define STALL_MAX 65536u

static struct {
	uint64_t from, to;
} stalls[STALL_MAX];
static atomic_uint nstalls;
static atomic_bool stop;
static pthread_t watcher;
static int running;

static void *watch(void *arg)
{
	const struct timespec ms = {0, 1000000};

	(void)arg;
	while (!atomic_load(&stop)) {
		uint64_t t0 = now_us(), t1;
		unsigned n;

		nanosleep(&ms, NULL);
		t1 = now_us();
		if (t1 - t0 <= 1000u + STALL_MIN_US)
			continue;
		n = atomic_load_explicit(&nstalls, memory_order_relaxed);
		if (n == STALL_MAX)
			continue; /* full: later stalls count against utmemd */
		stalls[n].from = t0 + 1000u;
		stalls[n].to = t1;
		atomic_store_explicit(&nstalls, n + 1, memory_order_release);
	}
	return NULL;
}

int stall_watch_start(void)
{
	atomic_store(&stop, 0);
	atomic_store(&nstalls, 0);
	if (pthread_create(&watcher, NULL, watch, NULL))
		return -1;
	running = 1;
	return 0;
}

void stall_watch_stop(void)
{
	if (!running)
		return;
	atomic_store(&stop, 1);
	pthread_join(watcher, NULL);
	running = 0;
}

/*
 * The time within [from, to] (now_us clock) that the watcher saw stalled.
 * Calls in the order of from share *cursor (start it at 0): stalls that
 * ended before one interval began are not looked at again.
 */
uint64_t stall_within(uint64_t from, uint64_t to, unsigned *cursor)
{
	unsigned i, n = atomic_load_explicit(&nstalls, memory_order_acquire);
	uint64_t sum = 0;

	while (*cursor < n && stalls[*cursor].to <= from)
		(*cursor)++;
	for (i = *cursor; i < n && stalls[i].from < to; i++) {
		uint64_t a = stalls[i].from > from ? stalls[i].from : from;
		uint64_t b = stalls[i].to < to ? stalls[i].to : to;

		if (b > a)
			sum += b - a;
	}
	return sum;
}

/* The longest stall the watcher saw, in microseconds. */
uint64_t stall_longest(void)
{
	unsigned i, n = atomic_load_explicit(&nstalls, memory_order_acquire);
	uint64_t m = 0;

	for (i = 0; i < n; i++)
		if (stalls[i].to - stalls[i].from > m)
			m = stalls[i].to - stalls[i].from;
	return m;
}

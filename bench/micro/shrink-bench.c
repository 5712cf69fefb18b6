/*
 * shrink-bench.c — how fast RSS follows a shrink (issue 10's target: a
 * 1 GiB shrink returns its memory within 100 ms at every value size from
 * 64 B to 1 MiB). Not a test: a measurement of the store library as
 * utmemd links it.
 *
 * For each value size: fill one ephemeral pool to FILL bytes of charge,
 * read every 8th entry (so approximate LRU keeps exactly those: the most
 * scattered survivors, the hard case for giving memory back), then lower
 * the capacity by SHRINK bytes the way ust_set_capacity() does, in its
 * steps: evict (ust_shrink), compact when wanted (ust_compact), purge
 * (flush + arena purge). A sampler thread reads /proc/self/statm every
 * millisecond meanwhile. Printed per size: each step's wall and CPU time, when RSS first
 * came within the documented margin of the charge (charge * 9/8 + 8 MiB
 * over the RSS before the fill) and RSS 100 ms after the shrink began.
 * With SHRINK_BENCH_SERIES=DIR the RSS samples go to DIR/rss-<size>.dat
 * (ms since the shrink, MiB) for plotting.
 *
 * Usage: shrink-bench [fill-MiB [shrink-MiB [sizes...]]]
 *        (default 1152 1024 64 256 1024 4096 16384 131072 1048576)
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jemalloc/jemalloc.h>

#include "store/internal.h"

#define MiB (1024.0 * 1024.0)
#define MAX_SAMPLES 200000

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* CPU time of the calling thread in ms (wall time on a loaded machine
 * includes waiting for a CPU; this does not). */
static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static uint64_t rss(void)
{
	unsigned long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%lu %lu", &size, &res) != 2)
			res = 0;
		fclose(f);
	}
	return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* The sampler: (ms since t0, rss) every millisecond until stopped. */
static struct {
	double t0;
	double t[MAX_SAMPLES];
	uint64_t rss[MAX_SAMPLES];
	atomic_int n;
	atomic_bool stop;
} smp;

static void *sampler(void *arg)
{
	(void)arg;
	while (!atomic_load(&smp.stop)) {
		int i = atomic_load(&smp.n);

		if (i < MAX_SAMPLES) {
			smp.t[i] = now_ms() - smp.t0;
			smp.rss[i] = rss();
			atomic_store(&smp.n, i + 1);
		}
		usleep(1000);
	}
	return NULL;
}

static uint64_t charged(ust_store *st)
{
	struct ust_store_info si;

	ust_store_info(st, &si);
	return si.charged;
}

static void one_size(size_t vlen, uint64_t fill, uint64_t shrink, const char *series)
{
	struct ust_config cfg = { .capacity = fill };
	struct ust_limits lim = { 0, UINT64_MAX, 1 };
	struct ust_compact_info ci = { 0 };
	uint64_t base, full, n = 0, target_cap = fill - shrink, goal, after, kept = 0;
	double t_ev, t_cmp, t_purge, t_in = -1, rss100 = -1, c0, c_ev, c_cmp, c_purge;
	static char buf[1 << 20];
	char *val = calloc(1, vlen);
	uint32_t t, p;
	ust_store *st;
	pthread_t th;
	char k[32];

	mallctl("arena.4096.purge", NULL, NULL, NULL, 0);
	base = rss();
	if (!val || ust_store_new(&cfg, &st) || ust_tenant_add(st, "a", &lim, &t) ||
	    ust_pool_open(st, t, "e", UST_POOL_EPHEMERAL, UST_OPEN_CREATE, &p)) {
		fprintf(stderr, "shrink-bench: setup failed\n");
		exit(1);
	}
	memset(val, 'v', vlen);
	for (;; n++) {
		int kl = snprintf(k, sizeof(k), "k%llu", (unsigned long long)n);

		if ((vlen >= 65536 || (n & 1023) == 0) &&
		    charged(st) + (vlen + 128) * (vlen >= 65536 ? 1 : 1024) > fill)
			break;
		if (ust_put(st, t, p, k, (size_t)kl, val, vlen))
			break;
	}
	for (uint64_t i = 0; i < n; i += 8) {
		int kl = snprintf(k, sizeof(k), "k%llu", (unsigned long long)i);

		ust_get_buf(st, t, p, k, (size_t)kl, 0, buf, sizeof(buf), NULL);
	}
	full = rss();
	smp.t0 = now_ms();
	atomic_store(&smp.n, 0);
	atomic_store(&smp.stop, false);
	pthread_create(&th, NULL, sampler, NULL);
	/* ust_set_capacity(st, target_cap), step by step */
	c0 = cpu_ms();
	pthread_mutex_lock(&st->mgmt);
	atomic_store(&st->capacity, target_cap);
	ust_shrink(st);
	pthread_mutex_unlock(&st->mgmt);
	t_ev = now_ms() - smp.t0;
	c_ev = cpu_ms() - c0;
	ust_alloc_flush(&st->alloc);
	if (ust_compact_wanted(st))
		ust_compact(st, 0, &ci);
	t_cmp = now_ms() - smp.t0;
	c_cmp = cpu_ms() - c0;
	ust_alloc_trim(&st->alloc);
	t_purge = now_ms() - smp.t0;
	c_purge = cpu_ms() - c0;
	while (now_ms() - smp.t0 < t_purge + 100)
		usleep(1000);
	atomic_store(&smp.stop, true);
	pthread_join(th, NULL);
	after = rss();
	/* LRU quality: how many of the entries read before the shrink survived
	 * (all of them fit: they are 1/8 of the fill, the capacity more) */
	for (uint64_t i = 0; i < n; i += 8) {
		int kl = snprintf(k, sizeof(k), "k%llu", (unsigned long long)i);

		kept += ust_get_buf(st, t, p, k, (size_t)kl, 0, buf, sizeof(buf), NULL) == 0;
	}
	goal = base + charged(st) + charged(st) / 8 + (8u << 20);
	for (int i = 0; i < atomic_load(&smp.n); i++) {
		if (t_in < 0 && smp.rss[i] <= goal)
			t_in = smp.t[i];
		if (rss100 < 0 && smp.t[i] >= 100)
			rss100 = (double)(smp.rss[i] - base) / MiB;
	}
	printf("%8zu %9llu %7.0f %7.0f %7.1f | %7.1f %7.1f %7.1f | %6.1f %6.1f %6.1f |"
	       " %9llu %7.1f | %8.1f %8.1f %8.1f | %5.1f\n",
	       vlen, (unsigned long long)n, (double)(full - base) / MiB,
	       (double)charged(st) / MiB, (double)(after - base) / MiB, t_ev, t_cmp - t_ev,
	       t_purge - t_cmp, c_ev, c_cmp - c_ev, c_purge - c_cmp,
	       (unsigned long long)ci.moved, ci.bytes_moved / MiB, t_purge, t_in, rss100,
	       n ? 100.0 * (double)kept / (double)((n + 7) / 8) : 0.0);
	if (series) {
		char path[4096];
		FILE *f;

		snprintf(path, sizeof(path), "%s/rss-%zu.dat", series, vlen);
		f = fopen(path, "w");
		for (int i = 0; f && i < atomic_load(&smp.n); i++)
			fprintf(f, "%.2f %.2f\n", smp.t[i], (double)(smp.rss[i] - base) / MiB);
		if (f)
			fclose(f);
	}
	ust_store_free(st);
	free(val);
}

int main(int argc, char **argv)
{
	static const size_t def[] = { 64, 256, 1024, 4096, 16384, 131072, 1048576 };
	uint64_t fill = (argc > 1 ? strtoull(argv[1], NULL, 10) : 1152) << 20;
	uint64_t shrink = (argc > 2 ? strtoull(argv[2], NULL, 10) : 1024) << 20;
	const char *series = getenv("SHRINK_BENCH_SERIES");
	double load[3] = { 0 };

	if (shrink >= fill) {
		fprintf(stderr, "shrink-bench: shrink must be less than fill\n");
		return 2;
	}
	if (getloadavg(load, 3) < 0)
		load[0] = -1;
	printf("# shrink-bench: fill %.0f MiB, shrink by %.0f MiB, every 8th entry read; "
	       "load %.2f %.2f %.2f\n", fill / MiB, shrink / MiB, load[0], load[1], load[2]);
	printf("# times in ms from the start of the shrink; RSS in MiB over the RSS before the fill\n");
	printf("# wall: each step's elapsed time; cpu: the same steps' CPU time (the\n"
	       "# difference is waiting for a CPU or for other CPUs' TLB flushes)\n");
	printf("# kept%%: share of the entries read before the shrink still there after it\n");
	printf("#  value   entries  rssful  charge rssaftr |  evict  compact   purge |"
	       " cpu:ev   comp  purge |     moved  movMiB |     done   in-marg  rss@100 | kept%%\n");
	if (argc > 3) {
		for (int i = 3; i < argc; i++)
			one_size(strtoull(argv[i], NULL, 10), fill, shrink, series);
	} else {
		for (size_t i = 0; i < sizeof(def) / sizeof(def[0]); i++)
			one_size(def[i], fill, shrink, series);
	}
	return 0;
}

/*
 * arena-bench.c — microbenchmark of the value-region allocator
 * (src/store/arena*.c; not a test). On a memfd region like utmemd's it
 * measures, each as the median of REPS runs:
 *
 *   pairs    alloc+release pairs per second for 64 B, 1 KiB, 128 KiB and
 *            1 MiB, with a warm cache (warm_max 64 MiB) and without (every
 *            freed run punched at once); 255 allocations of the size stay
 *            live meanwhile (one slot short of full slabs, so a pair does
 *            not make and empty a slab; the "64 churn" row has 256, so it
 *            does). "+write"
 *            rows also write the whole allocation before releasing it, as a
 *            client filling a staging extent does: that is where punched
 *            reuse pays its page faults.
 *   first    the first write (memset) of a 128 KiB run just allocated from
 *            the warm cache vs from punched space, and what punching it
 *            cost, per run.
 *   threads  64 B pairs with 1 and 2 threads on one arena (one mutex).
 *   hazards  64 B pairs with 0, 64 and 1024 hazard words to scan.
 *
 * ARENA_BENCH_SECS (default 0.3) sets the time per figure. The load
 * average is printed before and after: the machine is shared.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "store/arena.h"

#define REPS 3
/* Live neighbours during pairs: 255 leaves one free slot in a slab of 64/4 objects. */
#define BG 255

static double secs = 0.3;

struct region {
	int fd;
	char *base;
	uint64_t size;
	ust_arena *a;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void loadavg(const char *when)
{
	char buf[128] = "?";
	FILE *f = fopen("/proc/loadavg", "r");

	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			strcpy(buf, "?\n");
		fclose(f);
	}
	printf("load average %s: %s", when, buf);
}

/* A region: page 0 holds nhaz hazard words (64 bytes apart), heap after. */
static int region_open(struct region *r, uint64_t heap, size_t warm_max, uint32_t nhaz)
{
	struct ust_arena_cfg cfg = { 0 };
	uint64_t hz = ((uint64_t)nhaz * 64 + 4095) / 4096 * 4096;
	int rc;

	if (!hz)
		hz = 4096;
	r->size = hz + heap;
	r->fd = memfd_create("arena-bench", MFD_CLOEXEC);
	if (r->fd < 0 || ftruncate(r->fd, (off_t)r->size) < 0)
		return -errno;
	r->base = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
		       r->fd, 0);
	if (r->base == MAP_FAILED)
		return -errno;
	cfg.base = r->base;
	cfg.fd = r->fd;
	cfg.heap_off = hz;
	cfg.heap_len = heap;
	cfg.warm_max = warm_max;
	cfg.hazards = nhaz ? (const volatile void *)r->base : NULL;
	cfg.nhazards = nhaz;
	cfg.hazard_stride = 64;
	rc = ust_arena_create(&cfg, &r->a);
	return rc;
}

static void region_close(struct region *r)
{
	ust_arena_destroy(r->a);
	munmap(r->base, r->size);
	close(r->fd);
}

static int cmp_d(const void *x, const void *y)
{
	double p = *(const double *)x, q = *(const double *)y;

	return (p > q) - (p < q);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return v[n / 2];
}

static void die(const char *what, int64_t rc)
{
	fprintf(stderr, "arena-bench: %s: %s\n", what, strerror((int)-rc));
	exit(1);
}

/* Pairs per second of alloc(len) [+ memset] + release, for secs. */
static double pairs(ust_arena *a, char *base, size_t len, bool write)
{
	uint64_t n = 0;
	double t0 = now(), t;

	do {
		for (int i = 0; i < 16; i++) {
			int64_t off = ust_arena_alloc(a, len, NULL);

			if (off < 0)
				die("alloc", off);
			if (write)
				memset(base + off, (int)n, len);
			ust_arena_release(a, (uint64_t)off, len);
			n++;
		}
		t = now();
	} while (t - t0 < secs);
	return (double)n / (t - t0);
}

/* Median pairs/s for one size and cache setting, with nbg live neighbours. */
static double pairs_fig(size_t len, size_t warm_max, bool write, uint32_t nhaz, int nbg)
{
	double v[REPS];

	for (int rep = 0; rep < REPS; rep++) {
		struct region r;
		int64_t bg[BG + 1];
		int rc = region_open(&r, 1ull << 30, warm_max, nhaz);

		if (rc < 0)
			die("region", rc);
		for (int i = 0; i < nbg; i++) {
			bg[i] = ust_arena_alloc(r.a, len, NULL);
			if (bg[i] < 0)
				die("alloc", bg[i]);
		}
		/* one pair first, so a warm run exists for the warm case */
		pairs(r.a, r.base, len, write);
		v[rep] = pairs(r.a, r.base, len, write);
		for (int i = 0; i < nbg; i++)
			ust_arena_release(r.a, (uint64_t)bg[i], len);
		region_close(&r);
	}
	return median(v, REPS);
}

static void bench_pairs(void)
{
	static const size_t sizes[] = { 64, 1024, 128 * 1024, 1024 * 1024 };

	printf("\nalloc+release pairs per second (median of %d x %.2f s; %d live neighbours)\n",
	       REPS, secs, BG);
	printf("%-10s %14s %14s %16s %16s\n", "size", "warm", "punched",
	       "warm+write", "punched+write");
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t len = sizes[i];

		printf("%-10zu %14.0f %14.0f %16.0f %16.0f\n", len,
		       pairs_fig(len, 64u << 20, false, 0, BG), pairs_fig(len, 0, false, 0, BG),
		       pairs_fig(len, 64u << 20, true, 0, BG), pairs_fig(len, 0, true, 0, BG));
		fflush(stdout);
	}
	/* 256 neighbours fill 4 slabs exactly: every pair makes and empties a slab. */
	printf("%-10s %14.0f %14.0f %16.0f %16.0f\n", "64 churn",
	       pairs_fig(64, 64u << 20, false, 0, BG + 1), pairs_fig(64, 0, false, 0, BG + 1),
	       pairs_fig(64, 64u << 20, true, 0, BG + 1), pairs_fig(64, 0, true, 0, BG + 1));
}

/*
 * First write to a 128 KiB run from the warm cache vs from punched space:
 * per round, allocate, time the memset, release (timing the release too:
 * with warm_max 0 that is where the punch happens).
 */
static void bench_first_write(void)
{
	const size_t len = 128 * 1024;
	const int rounds = 200;
	double wv[REPS], rv[REPS], pv[REPS], pr[REPS];

	for (int rep = 0; rep < REPS; rep++) {
		for (int warm = 0; warm < 2; warm++) {
			struct region r;
			double tw = 0, tr = 0;
			int rc = region_open(&r, 64u << 20, warm ? 64u << 20 : 0, 0);

			if (rc < 0)
				die("region", rc);
			for (int i = 0; i < rounds + 1; i++) {
				int64_t off = ust_arena_alloc(r.a, len, NULL);
				double t0, t1, t2;

				if (off < 0)
					die("alloc", off);
				t0 = now();
				memset(r.base + off, i, len);
				t1 = now();
				ust_arena_release(r.a, (uint64_t)off, len);
				t2 = now();
				if (i) { /* the first round is cold either way */
					tw += t1 - t0;
					tr += t2 - t1;
				}
			}
			(warm ? wv : pv)[rep] = tw / rounds * 1e6;
			(warm ? rv : pr)[rep] = tr / rounds * 1e6;
			region_close(&r);
		}
	}
	printf("\nfirst write of a 128 KiB run (memset), and its release, us per run (median of %d x %d)\n",
	       REPS, rounds);
	printf("%-28s %10s %12s\n", "run comes from", "write", "release");
	printf("%-28s %10.1f %12.1f\n", "warm cache", median(wv, REPS), median(rv, REPS));
	printf("%-28s %10.1f %12.1f\n", "punched space (warm_max 0)", median(pv, REPS),
	       median(pr, REPS));
}

struct tjob {
	ust_arena *a;
	pthread_barrier_t *bar;
	double rate;
};

static void *tpairs(void *p)
{
	struct tjob *j = p;

	pthread_barrier_wait(j->bar);
	j->rate = pairs(j->a, NULL, 64, false);
	return NULL;
}

static void bench_threads(void)
{
	printf("\n64 B pairs per second on one arena, all threads together (median of %d)\n", REPS);
	for (int nt = 1; nt <= 2; nt++) {
		double v[REPS];

		for (int rep = 0; rep < REPS; rep++) {
			struct region r;
			pthread_t th[2];
			struct tjob j[2];
			pthread_barrier_t bar;
			int rc = region_open(&r, 1ull << 30, 64u << 20, 0);

			if (rc < 0)
				die("region", rc);
			for (int i = 0; i < BG; i++)
				if (ust_arena_alloc(r.a, 64, NULL) < 0)
					die("alloc", -ENOMEM);
			pthread_barrier_init(&bar, NULL, (unsigned)nt);
			for (int i = 0; i < nt; i++) {
				j[i] = (struct tjob){ .a = r.a, .bar = &bar };
				pthread_create(&th[i], NULL, tpairs, &j[i]);
			}
			v[rep] = 0;
			for (int i = 0; i < nt; i++) {
				pthread_join(th[i], NULL);
				v[rep] += j[i].rate;
			}
			pthread_barrier_destroy(&bar);
			region_close(&r);
		}
		printf("%d thread%s %14.0f\n", nt, nt > 1 ? "s" : " ", median(v, REPS));
	}
}

static void bench_hazards(void)
{
	static const uint32_t nh[] = { 0, 64, 1024 };

	printf("\n64 B pairs per second by hazard words scanned per release (median of %d)\n", REPS);
	for (unsigned i = 0; i < 3; i++)
		printf("%5u words %14.0f\n", nh[i], pairs_fig(64, 64u << 20, false, nh[i], BG));
}

int main(int argc, char **argv)
{
	const char *e = getenv("ARENA_BENCH_SECS");
	const char *only = argc > 1 ? argv[1] : "all";

	if (e && *e)
		secs = atof(e);
	loadavg("before");
	if (!strcmp(only, "all") || !strcmp(only, "pairs"))
		bench_pairs();
	if (!strcmp(only, "all") || !strcmp(only, "first"))
		bench_first_write();
	if (!strcmp(only, "all") || !strcmp(only, "threads"))
		bench_threads();
	if (!strcmp(only, "all") || !strcmp(only, "hazards"))
		bench_hazards();
	loadavg("after");
	return 0;
}

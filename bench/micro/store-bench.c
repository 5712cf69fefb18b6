/*
 * store-bench.c — microbenchmark of the store library (not a test): PUT and
 * GET operations per second for 64 B, 1 KiB, 128 KiB and 1 MiB values with 1
 * and 2 threads, memcpy of the same sizes in the same run as the physical
 * reference, and the bytes of overhead per entry measured two ways (the
 * store's own accounting and the growth of the process's RSS). Each figure
 * is the median of REPS runs. Built twice: store-bench (jemalloc, the
 * store as shipped) and store-bench-libc (the same store on glibc malloc).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"

#define REPS 3
#define MAXT 2

/* Keys per thread for 64 B and 1 KiB values; STORE_BENCH_KEYS overrides. */
static uint64_t small_keys = 16384;

struct job {
	ust_store *st;
	uint32_t tenant, pool;
	size_t vlen;
	uint64_t first, nkeys, ops;
	int get;
	unsigned char *buf;
	double secs;
	pthread_barrier_t *bar;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int sink(void *ctx, const void *val, size_t len)
{
	memcpy(ctx, val, len);
	return 0;
}

/* One thread's share: PUT or GET ops over its own key range. */
static void *run_job(void *arg)
{
	struct job *j = arg;
	double t0;

	pthread_barrier_wait(j->bar);
	t0 = now();
	for (uint64_t i = 0; i < j->ops; i++) {
		uint64_t k = j->first + i % j->nkeys;
		int r = j->get ? ust_get(j->st, j->tenant, j->pool, &k, sizeof(k), 0, sink, j->buf)
			       : ust_put(j->st, j->tenant, j->pool, &k, sizeof(k), j->buf, j->vlen);

		if (r) {
			fprintf(stderr, "store-bench: op failed: %s\n", strerror(-r));
			exit(1);
		}
	}
	j->secs = now() - t0;
	return NULL;
}

/* memcpy of the same size into a rotating set of destinations. */
static void *run_copy(void *arg)
{
	struct job *j = arg;
	unsigned char **dst = calloc(j->nkeys, sizeof(*dst));
	double t0;

	for (uint64_t i = 0; i < j->nkeys; i++) {
		dst[i] = malloc(j->vlen);
		memset(dst[i], 1, j->vlen);
	}
	pthread_barrier_wait(j->bar);
	t0 = now();
	for (uint64_t i = 0; i < j->ops; i++) {
		memcpy(dst[i % j->nkeys], j->buf, j->vlen);
		__asm__ volatile("" ::: "memory");
	}
	j->secs = now() - t0;
	for (uint64_t i = 0; i < j->nkeys; i++)
		free(dst[i]);
	free(dst);
	return NULL;
}

/* Operations per second of nthr threads running fn; mode 0 put, 1 get. */
static double measure(ust_store *st, uint32_t t, uint32_t p, size_t vlen, int nthr,
		      int mode, uint64_t nkeys, uint64_t ops, void *(*fn)(void *))
{
	struct job jobs[MAXT];
	pthread_t th[MAXT];
	pthread_barrier_t bar;
	double worst = 0;

	pthread_barrier_init(&bar, NULL, (unsigned)nthr);
	for (int i = 0; i < nthr; i++) {
		jobs[i] = (struct job){ st, t, p, vlen, (uint64_t)i * nkeys, nkeys, ops, mode,
					malloc(vlen), 0, &bar };
		memset(jobs[i].buf, 'v', vlen);
		pthread_create(&th[i], NULL, fn, &jobs[i]);
	}
	for (int i = 0; i < nthr; i++) {
		pthread_join(th[i], NULL);
		if (jobs[i].secs > worst)
			worst = jobs[i].secs;
		free(jobs[i].buf);
	}
	pthread_barrier_destroy(&bar);
	return (double)ops * nthr / worst;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static ust_store *fresh(uint32_t *t, uint32_t *p)
{
	struct ust_config cfg = { .capacity = UINT64_MAX, .max_value = 2u << 20 };
	struct ust_limits l = { 0, UINT64_MAX, 1 };
	ust_store *st;

	if (ust_store_new(&cfg, &st) || ust_tenant_add(st, "bench", &l, t) ||
	    ust_pool_open(st, *t, "p", 0, UST_OPEN_CREATE, p)) {
		fprintf(stderr, "store-bench: setup failed\n");
		exit(1);
	}
	return st;
}

/* Median of REPS: [0] put, [1] get, [2] memcpy ops/s. */
static void bench_size(size_t vlen, int nthr, double out[3])
{
	uint64_t nkeys = vlen >= 131072 ? 64 : small_keys;
	uint64_t ops = vlen >= 1048576 ? 3000 : vlen >= 131072 ? 20000 : 1000000;
	double r[3][REPS];

	for (int rep = 0; rep < REPS; rep++) {
		uint32_t t, p;
		ust_store *st = fresh(&t, &p);

		r[0][rep] = measure(st, t, p, vlen, nthr, 0, nkeys, ops, run_job);
		r[1][rep] = measure(st, t, p, vlen, nthr, 1, nkeys, ops, run_job);
		r[2][rep] = measure(st, t, p, vlen, nthr, 0, nkeys, ops, run_copy);
		ust_store_free(st);
	}
	for (int i = 0; i < 3; i++) {
		qsort(r[i], REPS, sizeof(double), cmp_d);
		out[i] = r[i][REPS / 2];
	}
}

static uint64_t rss(void)
{
	unsigned long sz = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%lu %lu", &sz, &res) != 2)
			res = 0;
		fclose(f);
	}
	return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Overhead per entry for n entries of an 8-byte key and vlen-byte value. */
static void overhead(size_t vlen, uint64_t n)
{
	struct ust_store_info si;
	unsigned char val[4096];
	uint32_t t, p;
	ust_store *st = fresh(&t, &p);
	uint64_t before = rss(), after;

	memset(val, 'x', sizeof(val));
	for (uint64_t k = 0; k < n; k++)
		ust_put(st, t, p, &k, sizeof(k), val, vlen);
	after = rss();
	ust_store_info(st, &si);
	printf("| %6zu B | %8llu | %13.1f | %10.1f |\n", vlen,
	       (unsigned long long)n,
	       (double)(si.charged - si.stats.bytes_stored) / (double)n,
	       ((double)after - (double)before) / (double)n - (double)(8 + vlen));
	ust_store_free(st);
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 64, 1024, 128 * 1024, 1024 * 1024 };
	const char *which = argc > 1 ? argv[1] : ALLOC_NAME;

	if (getenv("STORE_BENCH_KEYS"))
		small_keys = strtoull(getenv("STORE_BENCH_KEYS"), NULL, 0);
	if (small_keys < 1)
		small_keys = 1;
	printf("## store-bench (%s), median of %d, %llu keys per thread\n\n", which,
	       REPS, (unsigned long long)small_keys);
	printf("| value | thr | PUT ops/s | GET ops/s | memcpy ops/s | PUT MB/s | memcpy MB/s | PUT/memcpy |\n");
	printf("|------:|----:|----------:|----------:|-------------:|---------:|------------:|-----------:|\n");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (int nthr = 1; nthr <= MAXT; nthr++) {
			double r[3];

			bench_size(sizes[i], nthr, r);
			printf("| %7zu | %d | %10.0f | %10.0f | %12.0f | %8.0f | %11.0f | %5.2f |\n",
			       sizes[i], nthr, r[0], r[1], r[2], r[0] * (double)sizes[i] / 1e6,
			       r[2] * (double)sizes[i] / 1e6, r[0] / r[2]);
			fflush(stdout);
		}
	}
	printf("\n| value | entries | charged B/entry over key+value | RSS B/entry over key+value |\n");
	printf("|------:|--------:|--------------:|-----------:|\n");
	overhead(64, 1000000);
	overhead(1000, 200000);
	return 0;
}

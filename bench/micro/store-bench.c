/*
 * store-bench.c — microbenchmark of the store library (not a test): PUT and
 * GET operations per second for 64 B, 1 KiB, 128 KiB and 1 MiB values with 1
 * and 2 threads, memcpy of the same sizes in the same run as the physical
 * reference, and the bytes of overhead per entry measured two ways (the
 * store's own accounting and the growth of the process's RSS). Each figure
 * is the median of REPS runs. Built twice: store-bench (jemalloc, the
 * store as shipped) and store-bench-libc (the same store on glibc malloc).
 *
 * Every thread starts at a barrier and times itself; a figure is all
 * threads' operations divided by the slowest thread's time. What the
 * threads share is chosen with STORE_BENCH_MODE:
 *   pool   (default) one tenant, one pool, each thread its own key range;
 *   tenant each thread its own tenant and pool (independent clients);
 *   hot    one tenant, one pool, every thread the same keys.
 * STORE_BENCH_SIZES (e.g. "64,1024") limits the value sizes,
 * STORE_BENCH_OVERHEAD=0 skips the per-entry overhead table and
 * STORE_BENCH_PIN=1 pins thread i to CPU i.
 *
 * Besides throughput ("x1thr": N threads over 1 thread), each thread's CPU
 * time is measured: "cpu-eff" is operations per CPU second with N threads
 * over the same with 1 (1.00 = sharing costs nothing per operation; lower =
 * cache lines bouncing or lock waits), and "cores" is how many CPUs the PUT
 * threads really got (CPU seconds per wall second). On a loaded machine
 * x1thr is capped by cores; cpu-eff is meaningful only when cores is
 * clearly above 1, since threads that never run at once never contend.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
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

enum share { SHARE_POOL, SHARE_TENANT, SHARE_HOT };
static enum share mode = SHARE_POOL;
static int pin;

/* A store with one tenant and pool per possible thread (index 0 shared). */
struct setup {
	ust_store *st;
	uint32_t t[MAXT], p[MAXT];
};

struct job {
	int idx;
	ust_store *st;
	uint32_t tenant, pool;
	size_t vlen;
	uint64_t first, nkeys, ops;
	int get;
	unsigned char *buf;
	double secs; /* wall time of the thread's loop */
	double cpu;  /* CPU time the thread got meanwhile */
	pthread_barrier_t *bar;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* With STORE_BENCH_PIN=1, run thread idx on CPU idx only. */
static void pin_self(int idx)
{
	cpu_set_t set;

	if (!pin)
		return;
	CPU_ZERO(&set);
	CPU_SET(idx, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
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
	double t0, c0;

	pin_self(j->idx);
	pthread_barrier_wait(j->bar);
	t0 = now();
	c0 = cpu_now();
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
	j->cpu = cpu_now() - c0;
	return NULL;
}

/* memcpy of the same size into a rotating set of destinations. */
static void *run_copy(void *arg)
{
	struct job *j = arg;
	unsigned char **dst = calloc(j->nkeys, sizeof(*dst));
	double t0, c0;

	for (uint64_t i = 0; i < j->nkeys; i++) {
		dst[i] = malloc(j->vlen);
		memset(dst[i], 1, j->vlen);
	}
	pin_self(j->idx);
	pthread_barrier_wait(j->bar);
	t0 = now();
	c0 = cpu_now();
	for (uint64_t i = 0; i < j->ops; i++) {
		memcpy(dst[i % j->nkeys], j->buf, j->vlen);
		__asm__ volatile("" ::: "memory");
	}
	j->secs = now() - t0;
	j->cpu = cpu_now() - c0;
	for (uint64_t i = 0; i < j->nkeys; i++)
		free(dst[i]);
	free(dst);
	return NULL;
}

/* One measurement: throughput, CPU efficiency, cores actually obtained. */
struct result {
	double ops;     /* all threads' operations per wall second */
	double per_cpu; /* operations per CPU second the threads got */
	double conc;    /* CPU seconds per wall second: cores really used */
};

/*
 * Run nthr threads of fn (get: GET instead of PUT). Wall time is the
 * slowest thread's; per_cpu shows the cost of sharing apart from how much
 * CPU the (possibly loaded) machine gave: if threads contend, each
 * operation costs more CPU time.
 */
static struct result measure(const struct setup *su, size_t vlen, int nthr, int get,
			     uint64_t nkeys, uint64_t ops, void *(*fn)(void *))
{
	struct job jobs[MAXT];
	pthread_t th[MAXT];
	pthread_barrier_t bar;
	double worst = 0, cpu = 0;

	pthread_barrier_init(&bar, NULL, (unsigned)nthr);
	for (int i = 0; i < nthr; i++) {
		int w = mode == SHARE_TENANT ? i : 0;
		uint64_t first = mode == SHARE_HOT ? 0 : (uint64_t)i * nkeys;

		jobs[i] = (struct job){ i, su->st, su->t[w], su->p[w], vlen, first, nkeys,
					ops, get, malloc(vlen), 0, 0, &bar };
		memset(jobs[i].buf, 'v', vlen);
		pthread_create(&th[i], NULL, fn, &jobs[i]);
	}
	for (int i = 0; i < nthr; i++) {
		pthread_join(th[i], NULL);
		if (jobs[i].secs > worst)
			worst = jobs[i].secs;
		cpu += jobs[i].cpu;
		free(jobs[i].buf);
	}
	pthread_barrier_destroy(&bar);
	return (struct result){ (double)ops * nthr / worst, (double)ops * nthr / cpu,
				cpu / worst };
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* A fresh store with MAXT tenants, each with one persistent pool. */
static void fresh(struct setup *su)
{
	struct ust_config cfg = { .capacity = UINT64_MAX, .max_value = 2u << 20 };
	struct ust_limits l = { 0, UINT64_MAX, 1 };
	int err = ust_store_new(&cfg, &su->st);

	for (int i = 0; !err && i < MAXT; i++) {
		char name[16];

		snprintf(name, sizeof(name), "bench%d", i);
		err = ust_tenant_add(su->st, name, &l, &su->t[i]);
		if (!err)
			err = ust_pool_open(su->st, su->t[i], "p", 0, UST_OPEN_CREATE, &su->p[i]);
	}
	if (err) {
		fprintf(stderr, "store-bench: setup failed: %s\n", strerror(-err));
		exit(1);
	}
}

/* Median of REPS of each figure: [0] put, [1] get, [2] memcpy. */
static void bench_size(size_t vlen, int nthr, struct result out[3])
{
	uint64_t nkeys = vlen >= 131072 ? 64 : small_keys;
	uint64_t ops = vlen >= 1048576 ? 3000 : vlen >= 131072 ? 20000 : 1000000;
	double r[3][3][REPS]; /* [what][field][rep] */

	for (int rep = 0; rep < REPS; rep++) {
		struct setup su;
		struct result m[3];

		fresh(&su);
		m[0] = measure(&su, vlen, nthr, 0, nkeys, ops, run_job);
		m[1] = measure(&su, vlen, nthr, 1, nkeys, ops, run_job);
		m[2] = measure(&su, vlen, nthr, 0, nkeys, ops, run_copy);
		ust_store_free(su.st);
		for (int i = 0; i < 3; i++) {
			r[i][0][rep] = m[i].ops;
			r[i][1][rep] = m[i].per_cpu;
			r[i][2][rep] = m[i].conc;
		}
	}
	for (int i = 0; i < 3; i++) {
		for (int f = 0; f < 3; f++)
			qsort(r[i][f], REPS, sizeof(double), cmp_d);
		out[i] = (struct result){ r[i][0][REPS / 2], r[i][1][REPS / 2],
					  r[i][2][REPS / 2] };
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
	struct setup su;
	uint64_t before, after;

	fresh(&su);
	before = rss();
	memset(val, 'x', sizeof(val));
	for (uint64_t k = 0; k < n; k++)
		ust_put(su.st, su.t[0], su.p[0], &k, sizeof(k), val, vlen);
	after = rss();
	ust_store_info(su.st, &si);
	printf("| %6zu B | %8llu | %13.1f | %10.1f |\n", vlen,
	       (unsigned long long)n,
	       (double)(si.charged - si.stats.bytes_stored) / (double)n,
	       ((double)after - (double)before) / (double)n - (double)(8 + vlen));
	ust_store_free(su.st);
}

/* Read the STORE_BENCH_* settings; sizes[] gets the value sizes to run. */
static size_t read_env(size_t *sizes, size_t cap)
{
	static const size_t all[] = { 64, 1024, 128 * 1024, 1024 * 1024 };
	const char *m = getenv("STORE_BENCH_MODE"), *z = getenv("STORE_BENCH_SIZES");
	size_t n = 0;

	if (getenv("STORE_BENCH_KEYS"))
		small_keys = strtoull(getenv("STORE_BENCH_KEYS"), NULL, 0);
	if (small_keys < 1)
		small_keys = 1;
	pin = getenv("STORE_BENCH_PIN") && atoi(getenv("STORE_BENCH_PIN")) == 1;
	if (m && strcmp(m, "tenant") == 0)
		mode = SHARE_TENANT;
	else if (m && strcmp(m, "hot") == 0)
		mode = SHARE_HOT;
	else if (m && strcmp(m, "pool") != 0)
		fprintf(stderr, "store-bench: unknown STORE_BENCH_MODE %s, using pool\n", m);
	while (z && *z && n < cap) {
		char *end;
		unsigned long long v = strtoull(z, &end, 0);

		if (end == z || v < 1 || v > (2u << 20) - 4096)
			break;
		sizes[n++] = (size_t)v;
		z = *end == ',' ? end + 1 : end;
	}
	if (n == 0)
		for (; n < sizeof(all) / sizeof(all[0]); n++)
			sizes[n] = all[n];
	return n;
}

int main(int argc, char **argv)
{
	static const char *mode_name[] = { "pool", "tenant", "hot" };
	const char *which = argc > 1 ? argv[1] : ALLOC_NAME;
	const char *ov = getenv("STORE_BENCH_OVERHEAD");
	size_t sizes[8], nsizes = read_env(sizes, 8);

	printf("## store-bench (%s), median of %d, %llu keys per thread, mode %s%s\n\n",
	       which, REPS, (unsigned long long)small_keys, mode_name[mode],
	       pin ? ", pinned" : "");
	printf("| value | thr | PUT ops/s | GET ops/s | memcpy ops/s | PUT MB/s | memcpy MB/s | PUT/memcpy "
	       "| PUT x1thr | GET x1thr | memcpy x1thr | PUT cpu-eff | GET cpu-eff | cores |\n");
	printf("|------:|----:|----------:|----------:|-------------:|---------:|------------:|-----------:"
	       "|----------:|----------:|-------------:|------------:|------------:|------:|\n");
	for (size_t i = 0; i < nsizes; i++) {
		struct result one[3] = { { 1, 1, 1 }, { 1, 1, 1 }, { 1, 1, 1 } };

		for (int nthr = 1; nthr <= MAXT; nthr++) {
			struct result r[3];

			bench_size(sizes[i], nthr, r);
			if (nthr == 1)
				memcpy(one, r, sizeof(one));
			printf("| %7zu | %d | %10.0f | %10.0f | %12.0f | %8.0f | %11.0f | %5.2f "
			       "| %5.2f | %5.2f | %5.2f | %5.2f | %5.2f | %4.2f |\n",
			       sizes[i], nthr, r[0].ops, r[1].ops, r[2].ops,
			       r[0].ops * (double)sizes[i] / 1e6,
			       r[2].ops * (double)sizes[i] / 1e6, r[0].ops / r[2].ops,
			       r[0].ops / one[0].ops, r[1].ops / one[1].ops, r[2].ops / one[2].ops,
			       r[0].per_cpu / one[0].per_cpu, r[1].per_cpu / one[1].per_cpu,
			       r[0].conc);
			fflush(stdout);
		}
	}
	if (ov && strcmp(ov, "0") == 0)
		return 0;
	printf("\n| value | entries | charged B/entry over key+value | RSS B/entry over key+value |\n");
	printf("|------:|--------:|--------------:|-----------:|\n");
	overhead(64, 1000000);
	overhead(1000, 200000);
	return 0;
}

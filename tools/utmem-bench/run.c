/*
 * run.c — the benchmark engine of utmem-bench: worker threads, phases,
 * preload, timing of each round trip, and merging the workers' results.
 *
 * The main thread drives a phase variable (INIT, WARMUP, MEASURE, STOP);
 * workers read it before each round and record a round only if it started
 * in MEASURE, so the boundary between phases never splits a round's
 * numbers. Each worker's rate is its answered requests over its own
 * measured window (start of its first measured round to end of its last),
 * and the reported rate is their sum.
 */
#include "run.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"

enum { UB_PHASE_INIT, UB_PHASE_WARMUP, UB_PHASE_MEASURE, UB_PHASE_STOP };

struct ub_shared {
	const struct ub_opts *o;
	const struct ub_target_ops *target;
	atomic_int phase;
	atomic_uint ready; /* workers connected and preloaded (or failed) */
	atomic_uint live;  /* workers not yet finished */
};

struct ub_worker {
	struct ub_conn conn;
	struct ub_shared *sh;
	struct ub_op *ops;
	pthread_t tid;
	int started;
	int err;          /* why the worker stopped early, or 0 */
	uint64_t rng;
	uint64_t budget;  /* --requests share; 0 = until STOP */
	uint64_t done;
	uint64_t t_first; /* measured window, ns */
	uint64_t t_last;
	struct ub_tally tally;
	struct ub_hist hist;
};

/* Monotonic time in ns (vDSO: cheap enough to call twice per round). */
static uint64_t ub_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleep ns, resuming after signals. */
static void ub_sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u),
			       .tv_nsec = (long)(ns % 1000000000u) };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* xorshift64*: fast, good enough to spread keys, one state per worker. */
static uint64_t ub_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(2685821657736338717);
}

/* Choose the next n requests of the workload. */
static void ub_fill_ops(struct ub_worker *w, unsigned n)
{
	const struct ub_opts *o = w->sh->o;

	for (unsigned i = 0; i < n; i++) {
		uint64_t r = ub_rand(&w->rng);

		/* High 32 bits scaled to the keyspace: uniform, no modulo bias worth noting. */
		w->ops[i].key = (uint32_t)(((r >> 32) * o->keys) >> 32);
		if (o->op == UB_OP_MIX)
			w->ops[i].get = (double)(r & 0xffffffu) / 16777216.0 < o->get_ratio;
		else
			w->ops[i].get = o->op == UB_OP_GET;
	}
}

/*
 * Write this worker's slice of the keyspace, P keys per round. Returns 0, or
 * -EIO if any PUT was refused (GETs would then measure misses), or the
 * connection error.
 */
static int ub_preload(struct ub_worker *w)
{
	const struct ub_opts *o = w->sh->o;
	uint32_t lo = (uint32_t)((uint64_t)o->keys * w->conn.id / o->connections);
	uint32_t hi = (uint32_t)((uint64_t)o->keys * (w->conn.id + 1) / o->connections);
	struct ub_tally t = { 0 };
	int err;

	for (uint32_t k = lo; k < hi;) {
		unsigned n = 0;

		if (atomic_load(&w->sh->phase) == UB_PHASE_STOP)
			return -ECANCELED;
		for (; n < o->pipeline && k < hi; n++, k++) {
			w->ops[n].key = k;
			w->ops[n].get = 0;
		}
		err = w->sh->target->round(&w->conn, w->ops, n, &t);
		if (err)
			return err;
		if (t.err) {
			char why[sizeof(w->conn.errmsg)];

			snprintf(why, sizeof(why), "%s", w->conn.errmsg);
			ub_conn_fail(&w->conn, "preload: %s", why);
			return -EIO;
		}
	}
	return 0;
}

/* Time rounds until STOP or the request budget is spent. */
static void ub_worker_loop(struct ub_worker *w)
{
	const struct ub_opts *o = w->sh->o;
	int phase;

	while ((phase = atomic_load(&w->sh->phase)) != UB_PHASE_STOP) {
		struct ub_tally t = { 0 };
		unsigned n = o->pipeline;
		uint64_t t0, t1;

		if (phase == UB_PHASE_MEASURE && w->budget) {
			if (w->done >= w->budget)
				break;
			if (w->budget - w->done < n)
				n = (unsigned)(w->budget - w->done);
		}
		ub_fill_ops(w, n);
		t0 = ub_now_ns();
		w->err = w->sh->target->round(&w->conn, w->ops, n, &t);
		t1 = ub_now_ns();
		if (w->err)
			break;
		if (phase != UB_PHASE_MEASURE)
			continue;
		if (!w->t_first)
			w->t_first = t0;
		w->t_last = t1;
		w->done += n;
		w->tally.ok += t.ok;
		w->tally.miss += t.miss;
		w->tally.err += t.err;
		w->tally.bytes += t.bytes;
		ub_hist_record(&w->hist, t1 - t0);
	}
}

/*
 * A worker: connect, preload its slice, wait for the start, run rounds,
 * close. Errors are left in w->err and w->conn.errmsg for the main thread.
 */
static void *ub_worker_main(void *arg)
{
	struct ub_worker *w = arg;
	const struct ub_opts *o = w->sh->o;

	w->err = w->sh->target->open(&w->conn);
	if (!w->err && o->preload && (o->op != UB_OP_PUT || o->preload == 2) &&
	    o->target != UB_TARGET_MEMCPY)
		w->err = ub_preload(w);
	/* Other connections GET these keys: they must see them stored. */
	if (!w->err && w->sh->target->settle)
		w->err = w->sh->target->settle(&w->conn);
	atomic_fetch_add(&w->sh->ready, 1);
	if (!w->err) {
		while (atomic_load(&w->sh->phase) == UB_PHASE_INIT)
			ub_sleep_ns(200000);
		ub_worker_loop(w);
	}
	w->sh->target->close(&w->conn);
	atomic_fetch_sub(&w->sh->live, 1);
	return NULL;
}

/* The implementation of a target kind, or NULL if not compiled in. */
static const struct ub_target_ops *ub_target_for(enum ub_target_kind k)
{
	switch (k) {
	case UB_TARGET_REDIS: return &ub_target_redis;
	case UB_TARGET_MEMCPY: return &ub_target_memcpy;
	case UB_TARGET_UTMEM:
#if UB_HAVE_UTMEM
		return &ub_target_utmem;
#else
		return NULL;
#endif
	}
	return NULL;
}

/*
 * Wait until cond(sh) holds, some worker failed (live workers fewer than
 * `want_live`, if nonzero), or `until` (ns) passes. Returns 1 if cond held.
 */
static int ub_wait(struct ub_shared *sh, int (*cond)(struct ub_shared *),
		   unsigned want_live, uint64_t until)
{
	while (!cond(sh)) {
		if (want_live && atomic_load(&sh->live) < want_live)
			return 0;
		if (ub_now_ns() >= until)
			return 0;
		ub_sleep_ns(1000000);
	}
	return 1;
}

/* Conditions for ub_wait(). */
static int ub_all_ready(struct ub_shared *sh)
{
	return atomic_load(&sh->ready) == sh->o->connections;
}

static int ub_none_live(struct ub_shared *sh)
{
	return atomic_load(&sh->live) == 0;
}

static int ub_never(struct ub_shared *sh)
{
	(void)sh;
	return 0;
}

/* Allocate and seed every worker. Returns 0 or -ENOMEM. */
static int ub_workers_init(struct ub_worker *ws, struct ub_shared *sh,
			   const unsigned char *pattern)
{
	const struct ub_opts *o = sh->o;
	uint64_t per = o->requests / o->connections;
	uint64_t extra = o->requests % o->connections;

	for (unsigned i = 0; i < o->connections; i++) {
		struct ub_worker *w = &ws[i];

		w->sh = sh;
		ub_hist_reset(&w->hist);
		/* splitmix64-style spread so workers draw different keys. */
		w->rng = (o->seed + i + 1) * UINT64_C(0x9e3779b97f4a7c15) | 1u;
		/* Never 0 when --requests is set: options ensure requests >= C. */
		w->budget = o->requests ? per + (i < extra) : 0;
		w->ops = calloc(o->pipeline, sizeof(*w->ops));
		if (!w->ops || ub_conn_init(&w->conn, o, i, pattern))
			return -ENOMEM;
	}
	return 0;
}

/* Free the workers (all stopped) and what ub_workers_init() gave them. */
static void ub_workers_free(struct ub_worker *ws, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		ub_conn_release(&ws[i].conn);
		free(ws[i].ops);
	}
	free(ws);
}

/* Merge the workers' numbers into res; first error message wins. */
static void ub_aggregate(struct ub_worker *ws, const struct ub_opts *o,
			 uint64_t t_measure, struct ub_result *res)
{
	uint64_t end = t_measure;

	for (unsigned i = 0; i < o->connections; i++) {
		struct ub_worker *w = &ws[i];
		double win = (double)(w->t_last - w->t_first) / 1e9;

		if (!res->error[0] && w->conn.errmsg[0])
			snprintf(res->error, sizeof(res->error), "%s", w->conn.errmsg);
		res->tally.ok += w->tally.ok;
		res->tally.miss += w->tally.miss;
		res->tally.err += w->tally.err;
		res->tally.bytes += w->tally.bytes;
		res->rounds += w->hist.count;
		ub_hist_merge(&res->hist, &w->hist);
		if (w->t_last > end)
			end = w->t_last;
		if (w->t_last <= w->t_first || win <= 0.0)
			continue;
		res->ops_per_s += (double)(w->tally.ok + w->tally.miss) / win;
		res->mb_per_s += (double)w->tally.bytes / win / 1e6;
	}
	res->elapsed_s = (double)(end - t_measure) / 1e9;
}

/* The first fatal error of any worker, or 0. */
static int ub_first_err(struct ub_worker *ws, unsigned n, struct ub_result *res)
{
	for (unsigned i = 0; i < n; i++) {
		if (ws[i].err && ws[i].err != -ECANCELED) {
			snprintf(res->error, sizeof(res->error), "%s",
				 ws[i].conn.errmsg[0] ? ws[i].conn.errmsg
						      : strerror(-ws[i].err));
			return ws[i].err;
		}
	}
	return 0;
}

/*
 * Move the phases: warmup, measure (by time or until budgets are spent),
 * stop. Returns 0, or -ETIME if the run outlived --max-time.
 */
static int ub_drive(struct ub_shared *sh, uint64_t deadline, uint64_t *t_measure)
{
	const struct ub_opts *o = sh->o;
	unsigned n = o->connections;

	uint64_t until;

	atomic_store(&sh->phase, UB_PHASE_WARMUP);
	until = ub_now_ns() + (uint64_t)(o->warmup_s * 1e9);
	ub_wait(sh, ub_never, n, until < deadline ? until : deadline);
	*t_measure = ub_now_ns();
	if (*t_measure >= deadline)
		return -ETIME;
	atomic_store(&sh->phase, UB_PHASE_MEASURE);
	if (o->requests) {
		if (!ub_wait(sh, ub_none_live, 0, deadline))
			return -ETIME;
	} else {
		until = *t_measure + (uint64_t)(o->duration_s * 1e9);
		ub_wait(sh, ub_never, n, until < deadline ? until : deadline);
		if (until > deadline && ub_now_ns() >= deadline)
			return -ETIME;
	}
	atomic_store(&sh->phase, UB_PHASE_STOP);
	return 0;
}

/* Start the threads; returns how many started (all, unless out of threads). */
static unsigned ub_start(struct ub_worker *ws, struct ub_shared *sh)
{
	unsigned i;

	for (i = 0; i < sh->o->connections; i++) {
		if (pthread_create(&ws[i].tid, NULL, ub_worker_main, &ws[i]))
			break;
		ws[i].started = 1;
	}
	return i;
}

int ub_run(const struct ub_opts *o, struct ub_result *res)
{
	struct ub_shared sh = { .o = o, .target = ub_target_for(o->target) };
	uint64_t deadline, grace, t_measure = 0;
	const unsigned char *pattern;
	struct ub_worker *ws;
	unsigned started;
	int err;

	memset(res, 0, sizeof(*res));
	ub_hist_reset(&res->hist);
	if (!sh.target) {
		snprintf(res->error, sizeof(res->error),
			 "this utmem-bench was built without libutmem");
		return -EPROTONOSUPPORT;
	}
	deadline = ub_now_ns() + (uint64_t)(o->max_time_s * 1e9);
	grace = (uint64_t)o->timeout_ms * 1000000u + 2000000000u;
	atomic_init(&sh.phase, UB_PHASE_INIT);
	atomic_init(&sh.ready, 0);
	atomic_init(&sh.live, o->connections);
	pattern = ub_pattern_new(o->value_size);
	ws = calloc(o->connections, sizeof(*ws));
	err = -ENOMEM;
	snprintf(res->error, sizeof(res->error), "out of memory");
	if (!pattern || !ws || ub_workers_init(ws, &sh, pattern))
		goto err_alloc;
	res->error[0] = '\0';
	started = ub_start(ws, &sh);
	/* Threads that never started will never decrement live. */
	atomic_fetch_sub(&sh.live, o->connections - started);
	atomic_fetch_add(&sh.ready, o->connections - started);
	err = -ETIME;
	if (!ub_wait(&sh, ub_all_ready, 0, deadline))
		goto err_stop;
	err = ub_first_err(ws, o->connections, res);
	if (!err && started < o->connections) {
		snprintf(res->error, sizeof(res->error), "cannot start %u threads",
			 o->connections);
		err = -EAGAIN;
	}
	if (!err)
		err = ub_drive(&sh, deadline, &t_measure);
	if (err)
		goto err_stop;
	if (!ub_wait(&sh, ub_none_live, 0, ub_now_ns() + grace))
		goto err_hung;
	for (unsigned i = 0; i < started; i++)
		pthread_join(ws[i].tid, NULL);
	err = ub_first_err(ws, o->connections, res);
	ub_aggregate(ws, o, t_measure, res);
	ub_workers_free(ws, o->connections);
	free((void *)pattern);
	return err;

err_stop:
	atomic_store(&sh.phase, UB_PHASE_STOP);
	if (err == -ETIME)
		snprintf(res->error, sizeof(res->error),
			 "run exceeded --max-time %.1f s", o->max_time_s);
	if (!ub_wait(&sh, ub_none_live, 0, ub_now_ns() + grace))
		goto err_hung;
	for (unsigned i = 0; i < started; i++)
		pthread_join(ws[i].tid, NULL);
err_alloc:
	if (ws)
		ub_workers_free(ws, o->connections);
	free((void *)pattern);
	return err;

err_hung:
	/* Workers stuck in a request still use ws: leave it to process exit. */
	if (!res->error[0] || err != -ETIME)
		snprintf(res->error, sizeof(res->error),
			 "workers did not stop within %.1f s of the request timeout",
			 (double)grace / 1e9);
	return -ETIME;
}

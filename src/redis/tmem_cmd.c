/*
 * tmem_cmd.c — the TMEM.* commands: Redis keys and values stored in a utmemd
 * pool instead of Redis's own memory (the thesis's TMEMPUT/TMEMGET layer).
 *
 * Single-key commands make one libutmem call. Multi-key commands queue their
 * keys in libutmem batches of at most TCMD_CHUNK operations (pipelined on the
 * connection, one round trip per chunk), so a command with a million keys
 * neither holds a million requests in memory nor waits for a million round
 * trips. A chunk whose connection broke is retried once from where it
 * stopped (tconn_call), never replayed from the start, so replies are never
 * emitted twice.
 *
 * Values are copied once from the libutmem reply into Redis's reply buffer:
 * GET reads into a scratch buffer kept across commands, and falls back to an
 * exact-size allocation for a value larger than it (then grows it for next
 * time, up to a bound).
 */
#include "tmem_cmd.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmem_conn.h"

/* Operations per libutmem batch, and bounds on MGET's receive slots. */
#define TCMD_CHUNK 256
#define TCMD_SLOT_MIN (4u * 1024u)
#define TCMD_SLOT_MAX (1024u * 1024u)
#define TCMD_MGET_SCRATCH (8u * 1024u * 1024u)

/* ---- helpers ---- */

/* Which limit a -EMSGSIZE for this key is about. */
static enum tconn_what tcmd_size_what(const struct tconn *t, size_t klen)
{
	if (t->c != NULL && klen > utmem_max_key(t->c))
		return TCONN_KEY;
	return TCONN_VALUE;
}

/*
 * Whether result res for a key of klen bytes means "the key holds nothing":
 * a miss, or a key utmemd cannot hold at all (empty, or over max_key), which
 * therefore cannot have a value either.
 */
static int tcmd_no_value(ssize_t res, size_t klen)
{
	return res == -ENOENT || res == -EMSGSIZE ||
	       (res == -EINVAL && klen == 0);
}

/* Refuse to store under an empty key (utmemd keys are 1..max_key bytes),
 * Redis accepts them. Nothing was sent, so no old value can exist. */
static int tcmd_reply_empty_key(RedisModuleCtx *ctx, struct tconn *t)
{
	t->n.errors++;
	return rm.ReplyWithError(ctx, "ERR utmemd cannot store an empty key");
}

/*
 * A PUT refused for its size must leave no value under the key, like any
 * refused PUT. The daemon guarantees that for refusals it decides; this
 * covers a refusal made before the request left the library. Best effort:
 * the result is ignored (a miss is the expected outcome).
 */
static void tcmd_forget(struct tconn *t, const char *key, size_t klen)
{
	if (t->c != NULL && klen <= utmem_max_key(t->c))
		(void)utmem_invalidate(t->c, t->pool, key, klen);
}

/* ---- TMEM.PUT key value (alias TMEMPUT) ---- */

struct tcmd_put {
	const char *key, *val;
	size_t klen, vlen;
};

static ssize_t tcmd_put_op(struct tconn *t, void *arg)
{
	struct tcmd_put *a = arg;

	return utmem_put(t->c, t->pool, a->key, a->klen, a->val, a->vlen);
}

/* Reply +OK, or the error that says which limit refused the value. */
static int tcmd_put(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
{
	struct tconn *t = &tconn_state;
	struct tcmd_put a;
	ssize_t r;

	if (argc != 3)
		return rm.WrongArity(ctx);
	t->n.commands++;
	a.key = rm.StringPtrLen(argv[1], &a.klen);
	a.val = rm.StringPtrLen(argv[2], &a.vlen);
	if (a.klen == 0)
		return tcmd_reply_empty_key(ctx, t);
	r = tconn_call(t, "put", tcmd_put_op, &a);
	if (r < 0) {
		if (r == -EMSGSIZE)
			tcmd_forget(t, a.key, a.klen);
		return tconn_reply_error(ctx, t, (int)r,
					 tcmd_size_what(t, a.klen), NULL);
	}
	t->n.puts++;
	t->n.put_bytes += a.vlen;
	return rm.ReplyWithSimpleString(ctx, "OK");
}

/* ---- TMEM.GET key (alias TMEMGET) ---- */

struct tcmd_get {
	const char *key;
	size_t klen;
	const void *val; /* the value: in t->buf or in heap */
	size_t vlen;
	void *heap;      /* malloc()ed by libutmem for a large value, or NULL */
};

static ssize_t tcmd_get_op(struct tconn *t, void *arg)
{
	struct tcmd_get *a = arg;
	ssize_t n;
	int err;

	a->heap = NULL;
	if (t->buf == NULL)
		(void)tconn_buf_reserve(t, 1); /* without it, get_alloc below */
	n = utmem_get(t->c, t->pool, a->key, a->klen, t->buf, t->buf_cap, 0);
	if (n >= 0) {
		a->val = t->buf;
		a->vlen = (size_t)n;
		return n;
	}
	if (n != -ENOBUFS)
		return n;
	/* Larger than the scratch buffer: the daemon sent nothing yet. */
	err = utmem_get_alloc(t->c, t->pool, a->key, a->klen, &a->heap,
			      &a->vlen, 0);
	if (err < 0)
		return err;
	a->val = a->heap;
	return (ssize_t)a->vlen;
}

/* Reply with the value as a bulk string, nil on a miss, or an error. */
static int tcmd_get(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
{
	struct tconn *t = &tconn_state;
	struct tcmd_get a = { 0 };
	ssize_t r;

	if (argc != 2)
		return rm.WrongArity(ctx);
	t->n.commands++;
	t->n.gets++;
	a.key = rm.StringPtrLen(argv[1], &a.klen);
	r = tconn_call(t, "get", tcmd_get_op, &a);
	if (tcmd_no_value(r, a.klen)) {
		t->n.misses++;
		return rm.ReplyWithNull(ctx);
	}
	if (r < 0)
		return tconn_reply_error(ctx, t, (int)r, TCONN_KEY, NULL);
	t->n.hits++;
	t->n.get_bytes += a.vlen;
	rm.ReplyWithStringBuffer(ctx, a.val, a.vlen);
	tconn_note_size(t, a.vlen);
	if (a.heap != NULL) {
		free(a.heap);
		(void)tconn_buf_reserve(t, a.vlen); /* next time in one trip */
	}
	return RM_OK;
}

/* ---- multi-key commands: chunked batches ---- */

struct tcmd_multi;

/* Queue the operation for argv[argi] as slot p of the chunk: returns the
 * batch index, or -errno (then reported to done() as that key's result). */
typedef int (*tcmd_queue_fn)(struct tconn *t, struct tcmd_multi *m, int argi,
			     int p);
/* Take the result for argv[argi] (slot p), in argument order. */
typedef void (*tcmd_done_fn)(struct tconn *t, struct tcmd_multi *m, int argi,
			     int p, ssize_t res);

struct tcmd_multi {
	RedisModuleCtx *ctx;
	RedisModuleString **argv;
	int argc;
	int step;      /* 1: keys; 2: key value pairs */
	int next;      /* first argument not yet done (resume point) */
	int chunk;     /* keys per batch */
	tcmd_queue_fn queue;
	tcmd_done_fn done;

	long long count;   /* DEL/EXISTS: keys found; MPUT: pairs stored */
	ssize_t first_err; /* MPUT/DEL: first per-key failure, or 0 */
	int emitted;       /* MGET: elements replied */
	size_t slot;       /* MGET: bytes of scratch per key */
};

/*
 * Run the remaining keys of m, one batch per chunk. Returns 0, or the error
 * of a batch that failed as a whole (m->next then points at its first key,
 * so calling again resumes there).
 */
static ssize_t tcmd_multi_op(struct tconn *t, void *arg)
{
	struct tcmd_multi *m = arg;
	int bidx[TCMD_CHUNK];

	while (m->next < m->argc) {
		int np = 0, queued = 0, argi;

		utmem_batch_reset(t->batch);
		for (argi = m->next; argi < m->argc && np < m->chunk;
		     argi += m->step, np++) {
			bidx[np] = m->queue(t, m, argi, np);
			queued += bidx[np] >= 0;
		}
		if (queued > 0) {
			int r = utmem_batch_exec(t->batch);

			if (r < 0)
				return r;
		}
		for (int p = 0; p < np; p++) {
			ssize_t res = bidx[p] < 0 ? bidx[p]
				      : utmem_batch_result(t->batch, (size_t)bidx[p]);

			m->done(t, m, m->next + p * m->step, p, res);
		}
		m->next = argi;
	}
	return 0;
}

/* Key (and length) of argv[i]. */
static const char *tcmd_arg(const struct tcmd_multi *m, int i, size_t *len)
{
	return rm.StringPtrLen(m->argv[i], len);
}

/* ---- TMEM.DEL key [key ...] ---- */

static int tcmd_del_queue(struct tconn *t, struct tcmd_multi *m, int argi,
			  int p)
{
	size_t klen;
	const char *key = tcmd_arg(m, argi, &klen);

	return utmem_batch_invalidate(t->batch, t->pool, key, klen);
}

/* A miss and an impossible key both mean "not there". */
static void tcmd_count_done(struct tconn *t, struct tcmd_multi *m, int argi,
			    int p, ssize_t res)
{
	size_t klen;

	(void)tcmd_arg(m, argi, &klen);
	if (res >= 0 || res == -ENOBUFS)
		m->count++;
	else if (!tcmd_no_value(res, klen) && m->first_err == 0)
		m->first_err = res;
}

/*
 * Run m through tconn_call and reply with its count (DEL, EXISTS), or with
 * the error that stopped it.
 */
static int tcmd_counting(RedisModuleCtx *ctx, struct tcmd_multi *m,
			 const char *opname, const char *verb)
{
	struct tconn *t = &tconn_state;
	char note[64];
	ssize_t r;

	r = tconn_call(t, opname, tcmd_multi_op, m);
	if (r == 0 && m->first_err == 0)
		return rm.ReplyWithLongLong(ctx, m->count);
	snprintf(note, sizeof(note), "%lld of %d keys %s before the failure",
		 m->count, m->argc - 1, verb);
	return tconn_reply_error(ctx, t, r < 0 ? (int)r : (int)m->first_err,
				 TCONN_KEY, note);
}

/* Reply with the number of keys that were present and are now removed. */
static int tcmd_del(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
{
	struct tcmd_multi m = {
		.ctx = ctx, .argv = argv, .argc = argc, .step = 1, .next = 1,
		.chunk = TCMD_CHUNK, .queue = tcmd_del_queue,
		.done = tcmd_count_done,
	};
	int rc;

	if (argc < 2)
		return rm.WrongArity(ctx);
	tconn_state.n.commands++;
	rc = tcmd_counting(ctx, &m, "del", "deleted");
	tconn_state.n.dels += (uint64_t)m.count;
	return rc;
}

/* ---- TMEM.EXISTS key [key ...] ---- */

/*
 * A GET with room for zero bytes: libutmem sends the maximum length along,
 * and utmemd answers "longer than that" without sending the value, so an
 * existence check costs a header each way whatever the value's size.
 */
static int tcmd_exists_queue(struct tconn *t, struct tcmd_multi *m, int argi,
			     int p)
{
	static char none;
	size_t klen;
	const char *key = tcmd_arg(m, argi, &klen);

	return utmem_batch_get(t->batch, t->pool, key, klen, &none, 0, 0);
}

/* Reply with how many of the keys hold a value (a key named twice counts
 * twice, as Redis's EXISTS does). */
static int tcmd_exists(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
{
	struct tcmd_multi m = {
		.ctx = ctx, .argv = argv, .argc = argc, .step = 1, .next = 1,
		.chunk = TCMD_CHUNK, .queue = tcmd_exists_queue,
		.done = tcmd_count_done,
	};

	if (argc < 2)
		return rm.WrongArity(ctx);
	tconn_state.n.commands++;
	return tcmd_counting(ctx, &m, "exists", "found");
}

/* ---- TMEM.MPUT key value [key value ...] ---- */

static int tcmd_mput_queue(struct tconn *t, struct tcmd_multi *m, int argi,
			   int p)
{
	size_t klen, vlen;
	const char *key = tcmd_arg(m, argi, &klen);
	const char *val = tcmd_arg(m, argi + 1, &vlen);

	return utmem_batch_put(t->batch, t->pool, key, klen, val, vlen);
}

static void tcmd_mput_done(struct tconn *t, struct tcmd_multi *m, int argi,
			   int p, ssize_t res)
{
	size_t klen, vlen;
	const char *key = tcmd_arg(m, argi, &klen);

	if (res >= 0) {
		(void)tcmd_arg(m, argi + 1, &vlen);
		m->count++;
		t->n.puts++;
		t->n.put_bytes += vlen;
		return;
	}
	if (res == -EMSGSIZE)
		tcmd_forget(t, key, klen);
	if (m->first_err == 0)
		m->first_err = res;
}

/*
 * Reply +OK if every pair was stored. Otherwise reply with the first
 * refusal (or the broken link) and how many pairs were stored; every
 * refused key holds no value afterwards.
 */
static int tcmd_mput(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
{
	struct tconn *t = &tconn_state;
	struct tcmd_multi m = {
		.ctx = ctx, .argv = argv, .argc = argc, .step = 2, .next = 1,
		.chunk = TCMD_CHUNK, .queue = tcmd_mput_queue,
		.done = tcmd_mput_done,
	};
	char note[96];
	ssize_t r;

	if (argc < 3 || argc % 2 == 0)
		return rm.WrongArity(ctx);
	t->n.commands++;
	for (int i = 1; i < argc; i += 2) {
		size_t klen;

		(void)tcmd_arg(&m, i, &klen);
		if (klen == 0) /* refuse the whole command: nothing is sent */
			return tcmd_reply_empty_key(ctx, t);
	}
	r = tconn_call(t, "mput", tcmd_multi_op, &m);
	if (r == 0 && m.first_err == 0)
		return rm.ReplyWithSimpleString(ctx, "OK");
	snprintf(note, sizeof(note),
		 "%lld of %d pairs stored; refused keys hold no value", m.count,
		 (argc - 1) / 2);
	return tconn_reply_error(ctx, t, r < 0 ? (int)r : (int)m.first_err,
				 TCONN_VALUE, note);
}

/* ---- TMEM.MGET key [key ...] ---- */

static int tcmd_mget_queue(struct tconn *t, struct tcmd_multi *m, int argi,
			   int p)
{
	size_t klen;
	const char *key = tcmd_arg(m, argi, &klen);
	char *slot = (char *)t->buf + (size_t)p * m->slot;

	return utmem_batch_get(t->batch, t->pool, key, klen, slot, m->slot, 0);
}

/* Reply one element: the value, nil, or an error for that key only. */
static void tcmd_mget_done(struct tconn *t, struct tcmd_multi *m, int argi,
			   int p, ssize_t res)
{
	size_t klen, vlen;
	const char *key = tcmd_arg(m, argi, &klen);
	void *heap = NULL;

	if (m->emitted == 0)
		rm.ReplyWithArray(m->ctx, m->argc - 1);
	m->emitted++;
	t->n.gets++;
	if (res == -ENOBUFS) {
		/* Larger than its slot: fetch it alone, at its exact size. */
		int err = utmem_get_alloc(t->c, t->pool, key, klen, &heap,
					  &vlen, 0);

		res = err < 0 ? err : (ssize_t)vlen;
	}
	if (res >= 0) {
		const char *val = heap ? heap : (char *)t->buf + (size_t)p * m->slot;

		t->n.hits++;
		t->n.get_bytes += (uint64_t)res;
		tconn_note_size(t, (size_t)res);
		rm.ReplyWithStringBuffer(m->ctx, val, (size_t)res);
	} else if (tcmd_no_value(res, klen)) {
		t->n.misses++;
		rm.ReplyWithNull(m->ctx);
	} else {
		tconn_reply_error(m->ctx, t, (int)res, TCONN_KEY, NULL);
	}
	free(heap);
}

/*
 * Choose the receive slot per key from recent value sizes, and how many
 * keys fit in one chunk of scratch. Returns 0 or -ENOMEM.
 */
static int tcmd_mget_plan(struct tconn *t, struct tcmd_multi *m)
{
	size_t slot = t->size_hint, nkeys = (size_t)(m->argc - 1), chunk;

	if (slot < TCMD_SLOT_MIN)
		slot = TCMD_SLOT_MIN;
	if (slot > TCMD_SLOT_MAX)
		slot = TCMD_SLOT_MAX;
	slot = (slot + 63) & ~(size_t)63;
	chunk = TCMD_MGET_SCRATCH / slot;
	if (chunk > TCMD_CHUNK)
		chunk = TCMD_CHUNK;
	if (chunk > nkeys)
		chunk = nkeys;
	m->slot = slot;
	m->chunk = (int)chunk;
	return tconn_buf_reserve(t, slot * chunk);
}

/*
 * Reply with an array holding, per key, its value or nil. If the link fails
 * before the first element, the reply is that error alone; if it fails
 * later, the keys not yet fetched get an error element each.
 */
static int tcmd_mget(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
{
	struct tconn *t = &tconn_state;
	struct tcmd_multi m = {
		.ctx = ctx, .argv = argv, .argc = argc, .step = 1, .next = 1,
		.queue = tcmd_mget_queue, .done = tcmd_mget_done,
	};
	ssize_t r;
	int err;

	if (argc < 2)
		return rm.WrongArity(ctx);
	t->n.commands++;
	err = tcmd_mget_plan(t, &m);
	if (err < 0)
		return tconn_reply_error(ctx, t, err, TCONN_NONE, NULL);
	r = tconn_call(t, "mget", tcmd_multi_op, &m);
	if (r >= 0)
		return RM_OK;
	if (m.emitted == 0)
		return tconn_reply_error(ctx, t, (int)r, TCONN_NONE, NULL);
	while (m.emitted < argc - 1) {
		tconn_reply_error(ctx, t, (int)r, TCONN_NONE, NULL);
		m.emitted++;
	}
	return RM_OK;
}

/* ---- TMEM.INFO ---- */

/* A bounded text being appended to. */
struct tcmd_text {
	char buf[4096];
	size_t len;
};

static void tcmd_addf(struct tcmd_text *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Append printf-style; output past the buffer is cut, never overflows. */
static void tcmd_addf(struct tcmd_text *x, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (x->len >= sizeof(x->buf) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(x->buf + x->len, sizeof(x->buf) - x->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		x->len += (size_t)n < sizeof(x->buf) - x->len
				  ? (size_t)n
				  : sizeof(x->buf) - x->len - 1;
}

struct tcmd_stats {
	struct utmem_stats tenant, pool;
};

static ssize_t tcmd_stats_op(struct tconn *t, void *arg)
{
	struct tcmd_stats *s = arg;
	int err = utmem_stats(t->c, 0, &s->tenant);

	if (err < 0)
		return err;
	return utmem_stats(t->c, t->pool, &s->pool);
}

static void tcmd_info_stats(struct tcmd_text *x, const char *pre,
			    const struct utmem_stats *s, int tenant)
{
	tcmd_addf(x,
		  "%s_entries:%llu\r\n%s_bytes_stored:%llu\r\n"
		  "%s_bytes_charged:%llu\r\n%s_puts:%llu\r\n%s_gets:%llu\r\n"
		  "%s_hits:%llu\r\n%s_misses:%llu\r\n%s_invalidates:%llu\r\n"
		  "%s_evictions:%llu\r\n%s_refused_puts:%llu\r\n",
		  pre, (unsigned long long)s->entries, pre,
		  (unsigned long long)s->bytes_stored, pre,
		  (unsigned long long)s->bytes_charged, pre,
		  (unsigned long long)s->puts, pre, (unsigned long long)s->gets,
		  pre, (unsigned long long)s->hits, pre,
		  (unsigned long long)s->misses, pre,
		  (unsigned long long)s->invalidates, pre,
		  (unsigned long long)s->evictions, pre,
		  (unsigned long long)s->refused_puts);
	if (tenant)
		tcmd_addf(x, "%s_limit_max:%llu\r\n%s_limit_min:%llu\r\n", pre,
			  (unsigned long long)s->limit_max, pre,
			  (unsigned long long)s->limit_min);
}

static void tcmd_info_counters(struct tcmd_text *x, const struct tconn *t)
{
	const struct tconn_counters *n = &t->n;

	tcmd_addf(x,
		  "# module\r\ncommands:%llu\r\nerrors:%llu\r\nconnects:%llu\r\n"
		  "connect_failures:%llu\r\nretries:%llu\r\nunavailable:%llu\r\n"
		  "timeouts:%llu\r\nrefused_quota:%llu\r\nrefused_capacity:%llu\r\n"
		  "refused_toobig:%llu\r\nputs:%llu\r\nput_bytes:%llu\r\n"
		  "gets:%llu\r\nhits:%llu\r\nmisses:%llu\r\nget_bytes:%llu\r\n"
		  "dels:%llu\r\n",
		  (unsigned long long)n->commands, (unsigned long long)n->errors,
		  (unsigned long long)n->connects,
		  (unsigned long long)n->connect_failures,
		  (unsigned long long)n->retries,
		  (unsigned long long)n->unavailable,
		  (unsigned long long)n->timeouts,
		  (unsigned long long)n->refused_quota,
		  (unsigned long long)n->refused_capacity,
		  (unsigned long long)n->refused_toobig,
		  (unsigned long long)n->puts, (unsigned long long)n->put_bytes,
		  (unsigned long long)n->gets, (unsigned long long)n->hits,
		  (unsigned long long)n->misses, (unsigned long long)n->get_bytes,
		  (unsigned long long)n->dels);
	if (t->last_err[0] != '\0')
		tcmd_addf(x, "last_error:%s\r\nlast_error_age_ms:%lld\r\n",
			  t->last_err, (long long)(tconn_now_ms() - t->last_err_ms));
	else
		tcmd_addf(x, "last_error:none\r\n");
}

/*
 * Reply with a bulk string of "field:value" lines, INFO style: the link,
 * the configuration, the module's counters, and the tenant's and pool's
 * counters as utmemd keeps them (when it answers). Never an error reply:
 * a dead utmemd shows as connected:0 and stats_error.
 */
static int tcmd_info(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
{
	struct tconn *t = &tconn_state;
	struct tcmd_text *x;
	struct tcmd_stats s;
	ssize_t r;

	if (argc != 1)
		return rm.WrongArity(ctx);
	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return tconn_reply_error(ctx, t, -ENOMEM, TCONN_NONE, NULL);
	r = tconn_call(t, "info", tcmd_stats_op, &s);
	tcmd_addf(x,
		  "# utmem\r\nmodule_version:%s\r\nlibutmem_version:%s\r\n"
		  "connected:%d\r\naddr:%s\r\npool:%s\r\nkind:%s\r\n"
		  "timeout_ms:%d\r\n",
		  UTMEM_VERSION_STRING, utmem_version(), r >= 0, t->cfg.addr,
		  t->cfg.pool, tconn_kind_name(&t->cfg), t->cfg.timeout_ms);
	if (t->c != NULL)
		tcmd_addf(x, "max_key:%zu\r\nmax_value:%zu\r\n",
			  utmem_max_key(t->c), utmem_max_value(t->c));
	tcmd_info_counters(x, t);
	if (r >= 0) {
		tcmd_addf(x, "# utmemd\r\n");
		tcmd_info_stats(x, "tenant", &s.tenant, 1);
		tcmd_info_stats(x, "pool", &s.pool, 0);
	} else {
		tcmd_addf(x, "stats_error:%s\r\n", utmem_strerror((int)r));
	}
	rm.ReplyWithStringBuffer(ctx, x->buf, x->len);
	free(x);
	return RM_OK;
}

/* ---- the module's section of Redis's INFO ---- */

/* One counter of struct tconn_counters, by name, for INFO. */
struct tcmd_counter {
	const char *name;
	size_t off;
};

#define TCMD_COUNTER(f) { #f, offsetof(struct tconn_counters, f) }

static const struct tcmd_counter tcmd_counters[] = {
	TCMD_COUNTER(commands), TCMD_COUNTER(errors),
	TCMD_COUNTER(connects), TCMD_COUNTER(connect_failures),
	TCMD_COUNTER(retries), TCMD_COUNTER(unavailable),
	TCMD_COUNTER(timeouts), TCMD_COUNTER(refused_quota),
	TCMD_COUNTER(refused_capacity), TCMD_COUNTER(refused_toobig),
	TCMD_COUNTER(puts), TCMD_COUNTER(put_bytes), TCMD_COUNTER(gets),
	TCMD_COUNTER(hits), TCMD_COUNTER(misses), TCMD_COUNTER(get_bytes),
	TCMD_COUNTER(dels),
};

/* Redis calls this for INFO (and crash reports): local state only. */
static void tcmd_info_section(RedisModuleInfoCtx *ictx, int for_crash_report)
{
	const struct tconn *t = &tconn_state;

	rm.InfoAddSection(ictx, NULL); /* the default section: "# utmem" */
	rm.InfoAddFieldULongLong(ictx, "linked", (unsigned long long)t->linked);
	rm.InfoAddFieldCString(ictx, "addr", t->cfg.addr);
	rm.InfoAddFieldCString(ictx, "pool", t->cfg.pool);
	rm.InfoAddFieldCString(ictx, "kind", tconn_kind_name(&t->cfg));
	for (size_t i = 0; i < sizeof(tcmd_counters) / sizeof(tcmd_counters[0]);
	     i++) {
		uint64_t v;

		memcpy(&v, (const char *)&t->n + tcmd_counters[i].off, sizeof(v));
		rm.InfoAddFieldULongLong(ictx, tcmd_counters[i].name, v);
	}
}

void tcmd_register_info(RedisModuleCtx *ctx)
{
	if (rm.RegisterInfoFunc == NULL || rm.InfoAddSection == NULL ||
	    rm.InfoAddFieldCString == NULL || rm.InfoAddFieldULongLong == NULL)
		return;
	if (rm.RegisterInfoFunc(ctx, tcmd_info_section) != RM_OK)
		rm_log(ctx, "warning", "utmem: Redis refused the INFO section");
}

/* ---- registration ---- */

struct tcmd_def {
	const char *name;
	RedisModuleCmdFunc fn;
	const char *flags;
	int first, last, step; /* legacy key positions, for every Redis */
	int arity;             /* with the command name; -N: at least N */
	uint64_t kflags;       /* key-spec flags; 0: the command takes no key */
	const char *summary, *complexity;
};

/*
 * Values live in utmemd, not in Redis memory, so no command is "deny-oom";
 * "write" commands are refused on read-only replicas, and nothing is
 * replicated (the pool is the host's, not the dataset's). Key-spec flags
 * say what each command does to its keys, for ACL read/write selectors.
 */
static const struct tcmd_def tcmd_defs[] = {
	{ "tmem.put", tcmd_put, "write", 1, 1, 1, 3,
	  RM_KEY_OW | RM_KEY_UPDATE,
	  "Store a value in the utmemd pool, replacing any old one",
	  "O(N) where N is the value's size" },
	{ "tmemput", tcmd_put, "write", 1, 1, 1, 3, RM_KEY_OW | RM_KEY_UPDATE,
	  "Alias of TMEM.PUT (the thesis's name)",
	  "O(N) where N is the value's size" },
	{ "tmem.get", tcmd_get, "readonly fast", 1, 1, 1, 2,
	  RM_KEY_RO | RM_KEY_ACCESS, "Get a value from the utmemd pool",
	  "O(N) where N is the value's size" },
	{ "tmemget", tcmd_get, "readonly fast", 1, 1, 1, 2,
	  RM_KEY_RO | RM_KEY_ACCESS, "Alias of TMEM.GET (the thesis's name)",
	  "O(N) where N is the value's size" },
	{ "tmem.del", tcmd_del, "write", 1, -1, 1, -2,
	  RM_KEY_RM | RM_KEY_DELETE,
	  "Remove keys from the utmemd pool; returns how many existed",
	  "O(N) where N is the number of keys" },
	{ "tmem.exists", tcmd_exists, "readonly fast", 1, -1, 1, -2, RM_KEY_RO,
	  "Count the keys that hold a value, without transferring it",
	  "O(N) where N is the number of keys" },
	{ "tmem.mput", tcmd_mput, "write", 1, -1, 2, -3,
	  RM_KEY_OW | RM_KEY_UPDATE,
	  "Store several values in the utmemd pool in pipelined batches",
	  "O(N) where N is the total size of the values" },
	{ "tmem.mget", tcmd_mget, "readonly fast", 1, -1, 1, -2,
	  RM_KEY_RO | RM_KEY_ACCESS,
	  "Get several values from the utmemd pool in pipelined batches",
	  "O(N) where N is the total size of the values" },
	{ "tmem.info", tcmd_info, "readonly fast allow-loading allow-stale", 0,
	  0, 0, 1, 0,
	  "Link to utmemd, configuration, module and utmemd counters",
	  "O(1)" },
};

#define TCMD_NDEFS (sizeof(tcmd_defs) / sizeof(tcmd_defs[0]))

/* Redis may keep pointers into these, so they live as long as the module. */
static struct rm_keyspec tcmd_kspecs[TCMD_NDEFS][2];
static const struct rm_cmdinfo_version tcmd_info_v1 = {
	.version = 1,
	.sizeof_historyentry = sizeof(struct rm_cmd_history),
	.sizeof_keyspec = sizeof(struct rm_keyspec),
	.sizeof_arg = sizeof(struct rm_cmd_arg),
};

/*
 * Give command i its arity, key-spec flags and summary (Redis >= 7.0).
 * Only metadata: the command works without it, so a refusal is logged and
 * otherwise ignored.
 */
static void tcmd_set_info(RedisModuleCtx *ctx, size_t i)
{
	const struct tcmd_def *d = &tcmd_defs[i];
	struct rm_keyspec *ks = tcmd_kspecs[i];
	struct rm_cmdinfo info = {
		.version = &tcmd_info_v1,
		.summary = d->summary,
		.complexity = d->complexity,
		.since = UTMEM_VERSION_STRING,
		.arity = d->arity,
	};
	RedisModuleCommand *cmd;

	if (rm.GetCommand == NULL || rm.SetCommandInfo == NULL)
		return;
	cmd = rm.GetCommand(ctx, d->name);
	if (cmd == NULL)
		return;
	if (d->kflags != 0) {
		memset(ks, 0, 2 * sizeof(*ks));
		ks[0].flags = d->kflags;
		ks[0].begin_search_type = RM_KSPEC_BS_INDEX;
		ks[0].bs.index.pos = d->first;
		ks[0].find_keys_type = RM_KSPEC_FK_RANGE;
		/* Relative to the first key; negative counts from the end. */
		ks[0].fk.range.lastkey = d->last < 0 ? d->last : d->last - d->first;
		ks[0].fk.range.keystep = d->step;
		info.key_specs = ks;
	}
	if (rm.SetCommandInfo(cmd, &info) != RM_OK)
		rm_log(ctx, "warning",
		       "utmem: Redis refused the metadata of %s; it works without",
		       d->name);
}

int tcmd_register(RedisModuleCtx *ctx)
{
	for (size_t i = 0; i < TCMD_NDEFS; i++) {
		const struct tcmd_def *d = &tcmd_defs[i];

		if (rm.CreateCommand(ctx, d->name, d->fn, d->flags, d->first,
				     d->last, d->step) != RM_OK) {
			rm_log(ctx, "warning",
			       "utmem: Redis refused to register command %s",
			       d->name);
			return -EINVAL;
		}
		tcmd_set_info(ctx, i);
	}
	return 0;
}

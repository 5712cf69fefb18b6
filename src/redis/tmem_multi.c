/*
 * tmem_multi.c — the multi-key TMEM commands: DEL, EXISTS, MPUT, MGET.
 *
 * EXISTS and MGET first read the keys one-sidedly from the tenant's value
 * region (utmem_get_view with UTMEM_GET_LOCAL: no round trip, and MGET
 * replies each element from its view, the value's one copy). Where the
 * link has no region (UTMEM_FAST_PATH=0, TCP, vsock) the first key says
 * so (-EAGAIN), and where a key has a PUT of this connection posted and
 * not applied yet (utmem_put_pending, asked before the first view) the
 * command would have to wait for it: EXISTS and MGET then block their
 * client while utmemd answers where they may (tmem_block.c), and
 * otherwise queue their keys in libutmem batches of at most TCMD_CHUNK
 * operations (pipelined on the connection, one round trip per chunk), so a
 * command with a million keys neither holds a million requests in memory
 * nor waits for a million round trips. A chunk whose connection broke is
 * resent once from where it stopped (tconn_call), never replayed from the
 * start, so no reply element is ever emitted twice.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmem_block.h"
#include "tmem_cmd.h"
#include "tmem_conn.h"

/* Operations per libutmem batch, and bounds on MGET's receive slots. */
#define TCMD_CHUNK 256
#define TCMD_SLOT_MIN (4u * 1024u)
#define TCMD_SLOT_MAX (1024u * 1024u)
#define TCMD_MGET_SCRATCH (8u * 1024u * 1024u)

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
	utmem_view_fn view; /* EXISTS/MGET: a key's value read one-sidedly */

	long long count;   /* DEL/EXISTS: keys found; MPUT: pairs stored */
	ssize_t first_err; /* MPUT/DEL: first per-key failure, or 0 */
	enum tconn_what first_what; /* MPUT: what first_err is about */
	int emitted;       /* MGET: elements replied */
	int local_ok;      /* EXISTS/MGET: a one-sided read was possible */
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
 * Reply with m's count (DEL, EXISTS), or with the error that stopped it
 * (r, else the first per-key failure) and how many keys were done first.
 */
static int tcmd_count_reply(RedisModuleCtx *ctx, const struct tcmd_multi *m,
			    ssize_t r, const char *verb)
{
	char note[64];

	if (r == 0 && m->first_err == 0)
		return rm.ReplyWithLongLong(ctx, m->count);
	snprintf(note, sizeof(note), "%lld of %d keys %s before the failure",
		 m->count, m->argc - 1, verb);
	return tconn_reply_error(ctx, &tconn_state,
				 r < 0 ? (int)r : (int)m->first_err, TCONN_KEY,
				 note);
}

/* Run m's batches through tconn_call and reply as tcmd_count_reply(). */
static int tcmd_counting(RedisModuleCtx *ctx, struct tcmd_multi *m,
			 const char *opname, const char *verb)
{
	return tcmd_count_reply(ctx, m,
				tconn_call(&tconn_state, opname, tcmd_multi_op, m),
				verb);
}

/* Reply with the number of keys that were present and are now removed. */
int tcmd_del(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
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
	/* Off Redis's thread where the client may block (tmem_block.c). */
	if (tblock_del(ctx, argv, argc))
		return RM_OK;
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

/* EXISTS's view: the key holds a value, count it; nothing is copied. */
static int tcmd_view_count(void *arg, const void *val, size_t len)
{
	struct tcmd_multi *m = arg;

	(void)val;
	(void)len;
	m->count++;
	return 0;
}

/*
 * Look key argi up one-sidedly (UTMEM_GET_LOCAL) with m->view. A view that
 * could not be had this time, once one was had for an earlier key, is
 * asked of utmemd alone; before that, -EAGAIN goes back to the caller, who
 * takes the batch path from this key on (no value region on this link).
 */
static int tcmd_local_view(struct tconn *t, struct tcmd_multi *m, int argi)
{
	size_t klen;
	const char *key = tcmd_arg(m, argi, &klen);
	int r;

	if (klen == 0)
		return -EINVAL; /* holds nothing; nothing to ask */
	r = utmem_get_view(t->c, t->pool, key, klen, UTMEM_GET_LOCAL, m->view, m);
	if (r == -EAGAIN && m->local_ok)
		r = utmem_get_view(t->c, t->pool, key, klen, 0, m->view, m);
	if (r != -EAGAIN && !tconn_is_link_error(r))
		m->local_ok = 1;
	return r;
}

/*
 * Whether a key of m has a PUT of this connection posted and not applied
 * yet: a one-sided read of it would have to wait for utmemd, so the whole
 * command goes to utmemd (after the PUT, on the same ring) instead. Cheap
 * when nothing is posted (one check), else one hash per key.
 */
static int tcmd_any_pending(struct tconn *t, const struct tcmd_multi *m)
{
	if (t->c == NULL || utmem_put_pending(t->c, t->pool, NULL, 0) != 1)
		return 0;
	for (int i = 1; i < m->argc; i++) {
		size_t klen;
		const char *key = tcmd_arg(m, i, &klen);

		if (utmem_put_pending(t->c, t->pool, key, klen) == 1)
			return 1;
	}
	return 0;
}

/*
 * EXISTS and MGET from views of the value region: no round trip to
 * utmemd. A key holding a value goes to m->view (EXISTS counts it, MGET
 * replies with it, the value's one copy), any other to m->done, as from
 * a batch (a miss, or that key's error).
 */
static ssize_t tcmd_local_op(struct tconn *t, void *arg)
{
	struct tcmd_multi *m = arg;

	if (m->next == 1 && tcmd_any_pending(t, m))
		return -EAGAIN; /* nothing done: utmemd answers, after the PUT */
	for (; m->next < m->argc; m->next++) {
		int r = tcmd_local_view(t, m, m->next);

		if (r == -EAGAIN)
			return r; /* the batch path goes on from this key */
		if (r < 0 && tconn_is_link_error(r))
			return r; /* resumed at this key (tconn_call) */
		if (r < 0)
			m->done(t, m, m->next, 0, r);
	}
	return 0;
}

/* Reply with how many of the keys hold a value (a key named twice counts
 * twice, as Redis's EXISTS does): from views where the link has the value
 * region, else in batches through utmemd. */
int tcmd_exists(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
{
	struct tconn *t = &tconn_state;
	struct tcmd_multi m = {
		.ctx = ctx, .argv = argv, .argc = argc, .step = 1, .next = 1,
		.chunk = TCMD_CHUNK, .queue = tcmd_exists_queue,
		.done = tcmd_count_done, .view = tcmd_view_count,
	};
	ssize_t r;

	if (argc < 2)
		return rm.WrongArity(ctx);
	t->n.commands++;
	r = tconn_call(t, "exists", tcmd_local_op, &m);
	if (r == -EAGAIN) {
		t->n.batch_views++;
		/* No value region: ask utmemd, blocking only this client where
		 * it may block (tmem_block.c), else in batches on Redis's
		 * thread. */
		if (m.next == 1 && m.count == 0 && tblock_exists(ctx, argv, argc))
			return RM_OK;
		return tcmd_counting(ctx, &m, "exists", "found");
	}
	if (m.local_ok)
		t->n.local_views++;
	return tcmd_count_reply(ctx, &m, r, "found");
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

	if (res >= 0) {
		(void)tcmd_arg(m, argi + 1, &vlen);
		m->count++;
		t->n.puts++;
		t->n.put_bytes += vlen;
		return;
	}
	/* Nothing to invalidate here: libutmem queued a value over max_value
	 * as an INVALIDATE in the PUT's place, so the old value went in order.
	 * One sent now, after the whole batch, would also remove what a later
	 * pair of the same key stored. A key over max_key holds nothing. */
	if (m->first_err == 0) {
		(void)tcmd_arg(m, argi, &klen);
		m->first_err = res;
		m->first_what = tcmd_size_what(t, klen);
	}
}

/*
 * Reply +OK if every pair was stored. Otherwise reply with the first
 * refusal (or the broken link) and how many pairs were stored; every
 * refused key holds no value afterwards.
 */
int tcmd_mput(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
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
	if (tblock_mput(ctx, argv, argc))
		return RM_OK;
	r = tconn_call(t, "mput", tcmd_multi_op, &m);
	if (r == 0 && m.first_err == 0)
		return rm.ReplyWithSimpleString(ctx, "OK");
	snprintf(note, sizeof(note),
		 "%lld of %d pairs stored; refused keys hold no value", m.count,
		 (argc - 1) / 2);
	return tconn_reply_error(ctx, t, r < 0 ? (int)r : (int)m.first_err,
				 r < 0 ? TCONN_NONE : m.first_what, note);
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

/* Start MGET's next element (and, before the first, the reply's array). */
static void tcmd_mget_element(struct tconn *t, struct tcmd_multi *m)
{
	if (m->emitted == 0)
		rm.ReplyWithArray(m->ctx, m->argc - 1);
	m->emitted++;
	t->n.gets++;
}

/* MGET's element for a value of len bytes, copied into the reply. */
static void tcmd_mget_value(struct tconn *t, struct tcmd_multi *m,
			    const void *val, size_t len)
{
	tcmd_mget_element(t, m);
	t->n.hits++;
	t->n.get_bytes += len;
	tconn_note_size(t, len);
	rm.ReplyWithStringBuffer(m->ctx, val, len);
}

/* Reply one element: the value, nil, or an error for that key only. */
static void tcmd_mget_done(struct tconn *t, struct tcmd_multi *m, int argi,
			   int p, ssize_t res)
{
	size_t klen, vlen;
	const char *key = tcmd_arg(m, argi, &klen);
	void *heap = NULL;

	if (res == -ENOBUFS) {
		/* Larger than its slot: fetch it alone, at its exact size. */
		int err = utmem_get_alloc(t->c, t->pool, key, klen, &heap,
					  &vlen, 0);

		res = err < 0 ? err : (ssize_t)vlen;
	}
	if (res >= 0) {
		tcmd_mget_value(t, m, heap ? heap : (char *)t->buf + (size_t)p * m->slot,
				(size_t)res);
	} else if (tcmd_no_value(res, klen)) {
		tcmd_mget_element(t, m);
		t->n.misses++;
		rm.ReplyWithNull(m->ctx);
	} else {
		tcmd_mget_element(t, m);
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

/* The view of one MGET element: reply with it at once (the one copy). */
static int tcmd_view_element(void *arg, const void *val, size_t len)
{
	tcmd_mget_value(&tconn_state, arg, val, len);
	return 0;
}

/*
 * Reply with an array holding, per key, its value or nil: from views where
 * the link has the value region, else in batches through utmemd. If the
 * link fails before the first element, the reply is that error alone; if
 * it fails later, the keys not yet fetched get an error element each.
 */
int tcmd_mget(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
{
	struct tconn *t = &tconn_state;
	struct tcmd_multi m = {
		.ctx = ctx, .argv = argv, .argc = argc, .step = 1, .next = 1,
		.queue = tcmd_mget_queue, .done = tcmd_mget_done,
		.view = tcmd_view_element,
	};
	ssize_t r;
	int err;

	if (argc < 2)
		return rm.WrongArity(ctx);
	t->n.commands++;
	r = tconn_call(t, "mget", tcmd_local_op, &m);
	if (r != -EAGAIN) {
		if (m.local_ok)
			t->n.local_views++;
		goto done;
	}
	t->n.batch_views++;
	/* No value region: ask utmemd, blocking only this client where it
	 * may block (tmem_block.c), else in batches on Redis's thread. */
	if (m.emitted == 0 && tblock_mget(ctx, argv, argc)) {
		t->n.gets += (uint64_t)(argc - 1);
		return RM_OK;
	}
	err = tcmd_mget_plan(t, &m);
	if (err < 0)
		return tconn_reply_error(ctx, t, err, TCONN_NONE, NULL);
	r = tconn_call(t, "mget", tcmd_multi_op, &m);
done:
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


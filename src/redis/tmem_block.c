/*
 * tmem_block.c — blocking the calling client while utmemd answers TMEM.POP,
 * TMEM.DEL, a TMEM.PUT or TMEM.MPUT beyond the connection's credit,
 * TMEM.INFO, a TMEM.GET not read one-sidedly, and (without a value
 * region) TMEM.MGET and TMEM.EXISTS,
 * instead of waiting on Redis's only thread (tmem_block.h).
 *
 * A command makes a tblock_cmd, submits its requests (one pop, one
 * INVALIDATE per DEL key, one GET per MGET key, one GET that asks for no
 * value, UTMEM_GET_PROBE, per EXISTS key, one PUT per PUT/MPUT pair: posted
 * where credit covers it, which needs no reply; for INFO the tenant's and
 * the pool's STATS and SERVER_INFO), each tagged with its
 * key's slot in the command, and blocks its client with the
 * module's timeout_ms. Redis's event loop watches utmem_event_fd() while
 * requests are outstanding; its callback reaps completions, and the one
 * that leaves a command with nothing pending unblocks its client with the
 * command as private data: Redis then calls tblock_reply (the reply, on
 * the main thread) and tblock_free. Every blocked client is unblocked
 * exactly once, also after a disconnect (Redis then just frees the data).
 *
 * The timeout is the module's own: a command not answered within
 * timeout_ms is found by tblock_tick() (before each sleep of the event
 * loop, which wakes at least every 1000/hz ms), which drops the link with
 * -ETIMEDOUT, so every waiting command is answered -TIMEOUT through its
 * reply callback. Redis's own timeout of blocked clients is not used:
 * Redis 7.0 loses the reply of a client that a module unblocks in the
 * same turn of the loop in which its timeout fires (the client then
 * hangs), and a module cannot tell when that turn comes.
 *
 * A request is sent through the same channel as the PUTs posted before
 * it, so a POP or DEL sees the TMEM.PUT that preceded it on any client.
 * A command whose requests are lost with the connection is answered with
 * the link error; a pop is never sent twice.
 */
#include "tmem_block.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmem_cmd.h"

enum tblock_kind {
	TBLOCK_POP, TBLOCK_DEL, TBLOCK_MGET, TBLOCK_EXISTS, TBLOCK_PUT,
	TBLOCK_MPUT, TBLOCK_INFO, TBLOCK_GET
};

/* TMEM.INFO's three requests, in the order of its tblock_key slots. */
enum { TBLOCK_INFO_TENANT, TBLOCK_INFO_POOL, TBLOCK_INFO_SERVER,
       TBLOCK_INFO_N };

/* DEL, EXISTS, PUT and MPUT count their keys (there, or stored); POP,
 * MGET and INFO keep values (INFO: the answers to its requests). */
static int tblock_counts(enum tblock_kind kind)
{
	return kind != TBLOCK_POP && kind != TBLOCK_MGET && kind != TBLOCK_INFO &&
	       kind != TBLOCK_GET;
}

static int tblock_puts(enum tblock_kind kind)
{
	return kind == TBLOCK_PUT || kind == TBLOCK_MPUT;
}

/* One key of a command: its request's tag points here. */
struct tblock_key {
	struct tblock_cmd *b;
	int64_t res; /* POP/MGET: the value's length or -errno */
	void *val;   /* POP/MGET: the value (malloc()ed by libutmem) */
	size_t klen;
	size_t vlen; /* PUT/MPUT: the value's length */
	int done;    /* res is utmemd's answer, or a refusal before sending */
};

struct tblock_cmd {
	struct tblock_cmd *prev, *next; /* commands with requests out */
	RedisModuleBlockedClient *bc;   /* NULL while still submitting */
	enum tblock_kind kind;
	RedisModuleString **argv;       /* the keys: argv[1..nkeys] */
	int nkeys, sent;                /* keys, and keys submitted so far */
	int pending;                    /* requests sent and not completed */
	long long count;                /* DEL/EXISTS: keys that were there;
					   PUT/MPUT: pairs stored */
	int64_t err;                    /* DEL/EXISTS/PUT/MPUT: the first
					   per-key error; all: a failure of
					   the whole */
	size_t err_klen;                /* PUT/MPUT: the key err refused */
	int64_t deadline;               /* tconn_now_ms() to answer by */
	struct tblock_key key[];        /* nkeys */
};

static struct {
	struct tblock_cmd *live; /* commands with requests out (a list) */
	struct tblock_cmd *spare; /* a freed one-key command, for the next:
				    a posted TMEM.PUT allocates nothing */
	int fd;                 /* watched event descriptor, or -1 */
	int hooked;             /* tblock_tick() runs before each sleep */
} tb = { .fd = -1 };

/* Blocking is possible in this Redis, and in this context. */
static int tblock_allowed(RedisModuleCtx *ctx)
{
	if (!tb.hooked || !rm.BlockClient || !rm.UnblockClient ||
	    !rm.GetBlockedClientPrivateData || !rm.GetContextFlags ||
	    !rm.EventLoopAdd || !rm.EventLoopDel)
		return 0;
	return !(rm.GetContextFlags(ctx) &
		 (RM_CTX_FLAGS_LUA | RM_CTX_FLAGS_MULTI |
		  RM_CTX_FLAGS_DENY_BLOCKING));
}

static void tblock_link(struct tblock_cmd *b)
{
	b->prev = NULL;
	b->next = tb.live;
	if (tb.live != NULL)
		tb.live->prev = b;
	tb.live = b;
}

static void tblock_unlink(struct tblock_cmd *b)
{
	if (b->prev != NULL)
		b->prev->next = b->next;
	else
		tb.live = b->next;
	if (b->next != NULL)
		b->next->prev = b->prev;
	b->prev = b->next = NULL;
}

/* The result for key i (its reply, or a refusal before sending). */
static void tblock_key_done(struct tblock_cmd *b, int i, int64_t res,
			    void *val)
{
	struct tblock_key *k = &b->key[i];

	k->done = 1;
	if (!tblock_counts(b->kind)) {
		free(k->val);
		k->res = res;
		k->val = val;
		return;
	}
	free(val);
	if (res >= 0) {
		b->count++;
		if (tblock_puts(b->kind)) {
			tconn_state.n.puts++;
			tconn_state.n.put_bytes += k->vlen;
		}
	} else if ((tblock_puts(b->kind) || !tcmd_no_value((ssize_t)res, k->klen)) &&
		   b->err == 0) {
		b->err = res;
		b->err_klen = k->klen;
	}
}

/*
 * Every key not answered gets err (the link is gone). Which are answered is
 * kept in a flag, not read off res and val: a hit on an empty value has
 * res 0, and its val is non-NULL only by libutmem's promise.
 */
static void tblock_fail_rest(struct tblock_cmd *b, int64_t err)
{
	if (tblock_counts(b->kind)) {
		if (b->err == 0)
			b->err = err;
		return;
	}
	for (int i = 0; i < b->nkeys; i++)
		if (!b->key[i].done)
			b->key[i].res = err;
}

/* One value, nil or error: as TMEM.GET and TMEM.MGET answer a key. */
static int tblock_answer_key(RedisModuleCtx *ctx, const struct tblock_key *k)
{
	struct tconn *t = &tconn_state;

	if (tcmd_no_value((ssize_t)k->res, k->klen)) {
		t->n.misses++;
		return rm.ReplyWithNull(ctx);
	}
	if (k->res < 0)
		return tconn_reply_error(ctx, t, (int)k->res, TCONN_KEY, NULL);
	t->n.hits++;
	t->n.get_bytes += (uint64_t)k->res;
	tconn_note_size(t, (size_t)k->res);
	return rm.ReplyWithStringBuffer(ctx, k->val, (size_t)k->res);
}

/* Answer the command (through the blocked client's context, or at once). */
static int tblock_answer(RedisModuleCtx *ctx, const struct tblock_cmd *b)
{
	struct tconn *t = &tconn_state;
	char note[96];
	int link = 0;

	switch (b->kind) {
	case TBLOCK_POP:
	case TBLOCK_GET:
		return tblock_answer_key(ctx, &b->key[0]);
	case TBLOCK_MGET:
		/* Failed as a whole (every key lost with the link): that
		 * error alone, as the synchronous MGET says it. */
		for (int i = 0; i < b->nkeys; i++)
			link += tconn_is_link_error((int)b->key[i].res);
		if (link == b->nkeys)
			return tconn_reply_error(ctx, t, (int)b->key[0].res,
						 TCONN_NONE, NULL);
		rm.ReplyWithArray(ctx, b->nkeys);
		for (int i = 0; i < b->nkeys; i++)
			tblock_answer_key(ctx, &b->key[i]);
		return RM_OK;
	case TBLOCK_PUT:
	case TBLOCK_MPUT:
		if (b->err == 0)
			return rm.ReplyWithSimpleString(ctx, "OK");
		snprintf(note, sizeof(note),
			 "%lld of %d pairs stored; refused keys hold no value",
			 b->count, b->nkeys);
		/* (what names key or value only for TOOBIG, never a link's) */
		return tconn_reply_error(ctx, t, (int)b->err,
					 tcmd_size_what(t, b->err_klen),
					 b->kind == TBLOCK_MPUT ? note : NULL);
	case TBLOCK_INFO:
		return tcmd_info_reply(ctx,
				       b->key[TBLOCK_INFO_TENANT].res < 0
					       ? b->key[TBLOCK_INFO_TENANT].res
					       : b->key[TBLOCK_INFO_POOL].res,
				       b->key[TBLOCK_INFO_TENANT].val,
				       b->key[TBLOCK_INFO_POOL].val,
				       b->key[TBLOCK_INFO_SERVER].val);
	case TBLOCK_DEL:
	case TBLOCK_EXISTS:
		break;
	}
	if (b->kind == TBLOCK_DEL)
		t->n.dels += (uint64_t)b->count;
	if (b->err == 0)
		return rm.ReplyWithLongLong(ctx, b->count);
	snprintf(note, sizeof(note), "%lld of %d keys %s before the failure",
		 b->count, b->nkeys, b->kind == TBLOCK_DEL ? "deleted" : "found");
	return tconn_reply_error(ctx, t, (int)b->err, TCONN_KEY, note);
}

static int tblock_reply(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
{
	(void)argv;
	(void)argc;
	return tblock_answer(ctx, rm.GetBlockedClientPrivateData(ctx));
}

static void tblock_free(RedisModuleCtx *ctx, void *priv)
{
	struct tblock_cmd *b = priv;

	(void)ctx;
	for (int i = 0; i < b->nkeys; i++)
		free(b->key[i].val);
	if (b->nkeys == 1 && tb.spare == NULL)
		tb.spare = b;
	else
		free(b);
}

/* Nothing pending any more: hand the command to Redis to answer. */
static void tblock_finish(struct tblock_cmd *b)
{
	tblock_unlink(b);
	tconn_state.n.async_done++;
	rm.UnblockClient(b->bc, b);
}

static void tblock_unwatch(void)
{
	if (tb.fd >= 0)
		rm.EventLoopDel(tb.fd, RM_EVENTLOOP_READABLE);
	tb.fd = -1;
}

/* Take every completion that is in; stop watching when none is left. */
static void tblock_pump(struct tconn *t)
{
	struct utmem_completion co[64];
	int n;

	while (t->c != NULL && (n = utmem_reap(t->c, co, 64)) > 0) {
		for (int i = 0; i < n; i++) {
			struct tblock_key *k = (struct tblock_key *)(uintptr_t)co[i].tag;
			struct tblock_cmd *b = k->b;

			t->n.async_inflight--;
			tblock_key_done(b, (int)(k - b->key), co[i].result,
					co[i].val);
			if (--b->pending == 0 && b->bc != NULL)
				tblock_finish(b);
		}
	}
	if (t->n.async_inflight == 0)
		tblock_unwatch();
}

static void tblock_on_event(int fd, void *user_data, int mask)
{
	(void)fd;
	(void)user_data;
	(void)mask;
	tblock_pump(&tconn_state);
}

/* Watch the client's event descriptor (it changes with the client). */
static void tblock_watch(struct tconn *t)
{
	int fd = utmem_event_fd(t->c);

	if (fd == tb.fd)
		return;
	tblock_unwatch();
	if (fd >= 0 && rm.EventLoopAdd(fd, RM_EVENTLOOP_READABLE,
				       tblock_on_event, NULL) == RM_OK)
		tb.fd = fd;
	else
		rm_log(NULL, "warning", "utmem: cannot watch libutmem's event "
		       "descriptor: %s", fd < 0 ? utmem_strerror(fd) : "EventLoopAdd");
}

void tblock_on_drop(struct tconn *t, int err)
{
	struct tblock_cmd *b, *next;

	if (tb.live == NULL && tb.fd < 0)
		return;
	tblock_pump(t);
	tblock_unwatch();
	for (b = tb.live; b != NULL; b = next) {
		int lost = b->pending;

		next = b->next;
		t->n.async_inflight -= (uint64_t)b->pending;
		b->pending = 0;
		if (b->bc != NULL) {
			tblock_fail_rest(b, err);
			tblock_finish(b);
		} else if (lost) {
			/* Still submitting (tblock_run answers it): what it had
			 * in flight is lost; what it has not sent yet is sent
			 * on the new link (tconn_call's retry). */
			tblock_fail_rest(b, err);
		}
	}
}

void tblock_enable(void)
{
	tb.hooked = 1;
}

void tblock_fini(void)
{
	free(tb.spare);
	tb.spare = NULL;
}

void tblock_tick(void)
{
	struct tconn *t = &tconn_state;
	int64_t now;
	uint64_t late = 0;

	if (tb.live == NULL)
		return;
	now = tconn_now_ms();
	for (struct tblock_cmd *b = tb.live; b != NULL; b = b->next)
		late += b->bc != NULL && now >= b->deadline;
	if (late == 0)
		return;
	/* utmemd did not answer in time: hung, as the synchronous path
	 * would conclude. Every command waiting gets -TIMEOUT. */
	t->n.async_timeouts += late;
	tconn_lost(t, "async", -ETIMEDOUT);
}

/*
 * Pair i of a PUT/MPUT: posted (stored at once), sent (pending; a frame
 * larger than half the ring streams through it), or, for a value above
 * max_value, put synchronously, which removes the key's old value (rare:
 * a wait on Redis's thread). Returns 0 or a link error.
 */
static int tblock_submit_put(struct tconn *t, struct tblock_cmd *b, int i)
{
	struct tblock_key *k = &b->key[i];
	const char *key = rm.StringPtrLen(b->argv[1 + 2 * i], &k->klen);
	const char *val = rm.StringPtrLen(b->argv[2 + 2 * i], &k->vlen);
	int r = utmem_submit_put(t->c, t->pool, key, k->klen, val, k->vlen,
				 (uint64_t)(uintptr_t)k);

	if (r == 1) {
		tblock_key_done(b, i, 0, NULL);
		return 0;
	}
	if (r == 0) {
		b->pending++;
		t->n.async_inflight++;
		return 0;
	}
	if (r == -EMSGSIZE) /* utmem_put drops the old value, then refuses */
		r = utmem_put(t->c, t->pool, key, k->klen, val, k->vlen);
	/* The bound, no asynchronous requests here, the link: the caller's. */
	if (r == -EAGAIN || r == -EOPNOTSUPP || tconn_is_link_error(r))
		return r;
	tblock_key_done(b, i, r, NULL);
	return 0;
}

/* Submit the keys not yet sent (resumed after a redial by tconn_call). */
static ssize_t tblock_submit_op(struct tconn *t, void *arg)
{
	struct tblock_cmd *b = arg;

	for (; b->sent < b->nkeys; b->sent++) {
		struct tblock_key *k = &b->key[b->sent];
		const char *key;
		uint64_t tag = (uint64_t)(uintptr_t)k;
		int r;

		if (tblock_puts(b->kind)) {
			r = tblock_submit_put(t, b, b->sent);
			if (r != 0)
				return r;
			continue;
		}
		if (b->kind == TBLOCK_INFO) {
			r = b->sent == TBLOCK_INFO_SERVER
				    ? utmem_submit_server_info(t->c, tag)
				    : utmem_submit_stats(t->c,
							 b->sent == TBLOCK_INFO_POOL
								 ? t->pool : 0,
							 tag);
			if (r != 0)
				return r; /* the link, the pool handle, the bound */
			b->pending++;
			t->n.async_inflight++;
			continue;
		}
		key = rm.StringPtrLen(b->argv[1 + b->sent], &k->klen);
		if (b->kind == TBLOCK_DEL)
			r = utmem_submit_invalidate(t->c, t->pool, key, k->klen,
						    tag);
		else
			r = utmem_submit_get(t->c, t->pool, key, k->klen,
					     b->kind == TBLOCK_POP ? UTMEM_GET_EXCLUSIVE :
					     b->kind == TBLOCK_EXISTS ? UTMEM_GET_PROBE : 0,
					     tag);
		if (r == 0) {
			b->pending++;
			t->n.async_inflight++;
			continue;
		}
		if (r == -EINVAL || r == -EMSGSIZE) {
			tblock_key_done(b, b->sent, r, NULL); /* holds nothing */
			continue;
		}
		return r; /* the link, the pool handle, the bound */
	}
	return 0;
}

/*
 * Submit b's requests and block the client, or answer at once when
 * nothing is pending. Returns 1, or 0 (b freed, nothing sent: run the
 * command synchronously).
 */
static int tblock_run(RedisModuleCtx *ctx, struct tblock_cmd *b)
{
	struct tconn *t = &tconn_state;
	ssize_t r;

	static const char *const opname[] = { "pop", "del", "mget", "exists",
					      "put", "mput", "info", "get" };

	tblock_link(b);
	r = tconn_call(t, opname[b->kind], tblock_submit_op, b);
	if (r < 0 && b->pending == 0 && b->sent == 0 &&
	    (r == -EAGAIN || r == -EOPNOTSUPP)) {
		tblock_unlink(b);
		tblock_free(ctx, b);
		t->n.async_sync++;
		return 0;
	}
	if (r < 0)
		tblock_fail_rest(b, r);
	if (b->pending == 0) {
		tblock_unlink(b);
		tblock_answer(ctx, b);
		tblock_free(ctx, b);
		return 1;
	}
	b->argv = NULL; /* Redis's, valid during the command only */
	/* No timeout of Redis's (tblock_tick keeps ours): Redis 7.0 drops the
	 * reply of a client unblocked in the turn in which it times out. */
	b->deadline = tconn_now_ms() + t->cfg.timeout_ms;
	b->bc = rm.BlockClient(ctx, tblock_reply, NULL, tblock_free, 0);
	t->n.async_blocked++;
	tblock_watch(t);
	return 1;
}

/* Room for n more requests under libutmem's bound? */
static int tblock_room(struct tconn *t, int n)
{
	int out = t->c != NULL ? utmem_async_outstanding(t->c) : 0;

	return out >= 0 && out + n <= UTMEM_ASYNC_MAX;
}

/* Make the command for argv[1..nkeys] if it may block here, else count
 * the synchronous run. */
static struct tblock_cmd *tblock_new(RedisModuleCtx *ctx,
				     RedisModuleString **argv, int nkeys,
				     enum tblock_kind kind)
{
	struct tconn *t = &tconn_state;
	struct tblock_cmd *b = NULL;

	if (tblock_allowed(ctx) && nkeys <= TBLOCK_KEYS_MAX &&
	    tblock_room(t, nkeys)) {
		size_t size = sizeof(*b) + (size_t)nkeys * sizeof(b->key[0]);

		if (nkeys == 1 && tb.spare != NULL) {
			b = tb.spare;
			tb.spare = NULL;
			memset(b, 0, size);
		} else {
			b = calloc(1, size);
		}
	}
	if (b == NULL) {
		t->n.async_sync++;
		return NULL;
	}
	b->kind = kind;
	b->argv = argv;
	b->nkeys = nkeys;
	for (int i = 0; i < nkeys; i++)
		b->key[i].b = b;
	return b;
}

int tblock_pop(RedisModuleCtx *ctx, RedisModuleString **argv)
{
	struct tblock_cmd *b = tblock_new(ctx, argv, 1, TBLOCK_POP);

	return b != NULL && tblock_run(ctx, b);
}

int tblock_get(RedisModuleCtx *ctx, RedisModuleString **argv)
{
	struct tblock_cmd *b = tblock_new(ctx, argv, 1, TBLOCK_GET);

	return b != NULL && tblock_run(ctx, b);
}

int tblock_del(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
{
	struct tblock_cmd *b = tblock_new(ctx, argv, argc - 1, TBLOCK_DEL);

	return b != NULL && tblock_run(ctx, b);
}

int tblock_mget(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
{
	struct tblock_cmd *b = tblock_new(ctx, argv, argc - 1, TBLOCK_MGET);

	return b != NULL && tblock_run(ctx, b);
}

int tblock_exists(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
{
	struct tblock_cmd *b = tblock_new(ctx, argv, argc - 1, TBLOCK_EXISTS);

	return b != NULL && tblock_run(ctx, b);
}

int tblock_info(RedisModuleCtx *ctx)
{
	struct tblock_cmd *b = tblock_new(ctx, NULL, TBLOCK_INFO_N, TBLOCK_INFO);

	return b != NULL && tblock_run(ctx, b);
}

int tblock_put(RedisModuleCtx *ctx, RedisModuleString **argv)
{
	struct tblock_cmd *b = tblock_new(ctx, argv, 1, TBLOCK_PUT);

	return b != NULL && tblock_run(ctx, b);
}

/* An MPUT of one pair is still an MPUT: its refusal says how many pairs
 * were stored, as the synchronous MPUT's does. */
int tblock_mput(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
{
	struct tblock_cmd *b = tblock_new(ctx, argv, (argc - 1) / 2,
					  TBLOCK_MPUT);

	return b != NULL && tblock_run(ctx, b);
}

/*
 * tmem_cmd.c — the single-key TMEM commands, TMEM.PUT and TMEM.GET (aliases
 * TMEMPUT, TMEMGET, the thesis's names) and TMEM.POP (an exclusive GET, as
 * frontswap's), and helpers every command shares.
 *
 * Each makes one libutmem call. PUT sends the value straight from Redis's
 * argument buffer (on the fast path it is posted: copied once into shared
 * memory, no wait for utmemd). GET replies from a view of the value where
 * it lies (utmem_get_view: on the fast path a one-sided read of the
 * tenant's value region), so the value is copied once, into Redis's reply
 * buffer. POP must be served by utmemd (it removes the value): it reads
 * into a scratch buffer kept across commands, falling back to an
 * exact-size allocation for a larger value (then growing the scratch buffer
 * for next time, up to a bound).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmem_block.h"
#include "tmem_cmd.h"
#include "tmem_conn.h"


/* Which limit a -EMSGSIZE for this key is about. */
enum tconn_what tcmd_size_what(const struct tconn *t, size_t klen)
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
int tcmd_no_value(ssize_t res, size_t klen)
{
	return res == -ENOENT || res == -EMSGSIZE ||
	       (res == -EINVAL && klen == 0);
}

/* Refuse to store under an empty key (utmemd keys are 1..max_key bytes),
 * Redis accepts them. Nothing was sent, so no old value can exist. */
int tcmd_reply_empty_key(RedisModuleCtx *ctx, struct tconn *t)
{
	t->n.errors++;
	return rm.ReplyWithError(ctx, "ERR utmemd cannot store an empty key");
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
int tcmd_put(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
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
	/* Posted, or this client alone waits (tmem_block.c); else on
	 * Redis's thread. */
	if (tblock_put(ctx, argv))
		return RM_OK;
	r = tconn_call(t, "put", tcmd_put_op, &a);
	if (r < 0) /* -EMSGSIZE: libutmem dropped the old value already */
		return tconn_reply_error(ctx, t, (int)r,
					 tcmd_size_what(t, a.klen), NULL);
	t->n.puts++;
	t->n.put_bytes += a.vlen;
	return rm.ReplyWithSimpleString(ctx, "OK");
}

/* ---- TMEM.GET key (alias TMEMGET), TMEM.POP key ---- */

struct tcmd_get {
	RedisModuleCtx *ctx;
	const char *key;
	size_t klen;
	unsigned flags;  /* UTMEM_GET_EXCLUSIVE for POP */
	const void *val; /* the value: in t->buf or in heap */
	size_t vlen;
	void *heap;      /* malloc()ed by libutmem for a large value, or NULL */
	int replied;     /* the view callback has replied with the value */
};

/* The view of a GET's value: reply with it at once (the one copy). */
static int tcmd_view_reply(void *arg, const void *val, size_t len)
{
	struct tcmd_get *a = arg;

	rm.ReplyWithStringBuffer(a->ctx, val, len);
	a->replied = 1;
	a->vlen = len;
	return 0;
}

static ssize_t tcmd_view_op(struct tconn *t, void *arg)
{
	struct tcmd_get *a = arg;
	int r;

	a->heap = NULL;
	r = utmem_get_view(t->c, t->pool, a->key, a->klen, a->flags,
			   tcmd_view_reply, a);
	return r < 0 ? r : (ssize_t)a->vlen;
}

static ssize_t tcmd_get_op(struct tconn *t, void *arg)
{
	struct tcmd_get *a = arg;
	ssize_t n;
	int err;

	a->heap = NULL;
	if (t->buf == NULL)
		(void)tconn_buf_reserve(t, 1); /* without it, get_alloc below */
	n = utmem_get(t->c, t->pool, a->key, a->klen, t->buf, t->buf_cap,
		      a->flags);
	if (n >= 0) {
		a->val = t->buf;
		a->vlen = (size_t)n;
		return n;
	}
	if (n != -ENOBUFS)
		return n;
	/* Larger than the scratch buffer: the daemon sent (and, for POP,
	 * removed) nothing yet. */
	err = utmem_get_alloc(t->c, t->pool, a->key, a->klen, &a->heap,
			      &a->vlen, a->flags);
	if (err < 0)
		return err;
	a->val = a->heap;
	return (ssize_t)a->vlen;
}

/*
 * GET or POP: reply with the value as a bulk string, nil on a miss, or an
 * error. A POP is never sent twice (see tconn_call_once).
 */
static int tcmd_fetch(RedisModuleCtx *ctx, RedisModuleString **argv, int argc,
		      unsigned flags)
{
	struct tconn *t = &tconn_state;
	struct tcmd_get a = { .ctx = ctx, .flags = flags };
	size_t max_key;
	ssize_t r;

	if (argc != 2)
		return rm.WrongArity(ctx);
	t->n.commands++;
	t->n.gets++;
	a.key = rm.StringPtrLen(argv[1], &a.klen);
	/* A key utmemd cannot hold holds nothing: nil, asked of no one, and
	 * no error for TMEM.INFO's last_error. */
	max_key = t->c != NULL ? utmem_max_key(t->c) : 0;
	if (a.klen == 0 || (max_key != 0 && a.klen > max_key)) {
		t->n.misses++;
		return rm.ReplyWithNull(ctx);
	}
	/* A POP waits for utmemd: off Redis's thread where it may block. */
	if ((flags & UTMEM_GET_EXCLUSIVE) && tblock_pop(ctx, argv))
		return RM_OK;
	if (flags & UTMEM_GET_EXCLUSIVE) {
		r = tconn_call_once(t, "pop", tcmd_get_op, &a);
	} else {
		/* A one-sided read, which never waits for utmemd; where it
		 * cannot be had now, utmemd answers while only this client
		 * waits; else (MULTI, Lua, Redis < 7) on Redis's thread. */
		r = -EAGAIN;
		if (t->c != NULL) {
			a.flags = UTMEM_GET_LOCAL;
			r = tcmd_view_op(t, &a);
			a.flags = 0;
			if (tconn_is_link_error((int)r))
				r = -EAGAIN; /* the paths below drop the link */
		}
		if (r == -EAGAIN && tblock_get(ctx, argv))
			return RM_OK;
		if (r == -EAGAIN)
			r = tconn_call(t, "get", tcmd_view_op, &a);
	}
	if (tcmd_no_value(r, a.klen)) {
		t->n.misses++;
		return rm.ReplyWithNull(ctx);
	}
	if (r < 0)
		return tconn_reply_error(ctx, t, (int)r, TCONN_KEY, NULL);
	t->n.hits++;
	t->n.get_bytes += a.vlen;
	if (!a.replied)
		rm.ReplyWithStringBuffer(ctx, a.val, a.vlen);
	tconn_note_size(t, a.vlen);
	if (a.heap != NULL) {
		free(a.heap);
		(void)tconn_buf_reserve(t, a.vlen); /* next time in one trip */
	}
	return RM_OK;
}

int tcmd_get(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
{
	return tcmd_fetch(ctx, argv, argc, 0);
}

int tcmd_pop(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
{
	return tcmd_fetch(ctx, argv, argc, UTMEM_GET_EXCLUSIVE);
}


/*
 * tmem_conn.c — connecting the Redis module to utmemd and keeping it so.
 *
 * The module connects once (at load if utmemd is up, else on the first
 * command) and keeps that libutmem client until the link breaks; then it
 * drops it and the next command dials again, reopening the pool by name
 * (tmem_conn.h). Dialing and closing are done off Redis's thread
 * (tmem_dial.c). This file adds what a Redis server needs on top: one
 * bounded retry so the first command after a daemon restart succeeds
 * instead of reporting the dead socket, a log line when the link to utmemd
 * goes down or comes back (not one per failing command), counters, and
 * error replies that say which limit refused a value.
 */
#include "tmem_conn.h"
#include "tmem_block.h"
#include "tmem_dial.h"
#include "proto/clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct tconn tconn_state;

/* The GET scratch buffer starts at this size and is never kept larger. */
#define TCONN_BUF_MIN (64u * 1024u)
#define TCONN_BUF_KEEP (8u * 1024u * 1024u)

int64_t tconn_now_ms(void)
{
	return (int64_t)(umono_ns() / 1000000u);
}

const char *tconn_kind_name(const struct tconn_cfg *cfg)
{
	return (cfg->pool_flags & UTMEM_POOL_EPHEMERAL) ? "ephemeral"
							 : "persistent";
}

int tconn_is_link_error(int err)
{
	switch (-err) {
	case ECONNRESET:
	case ECONNREFUSED:
	case ECONNABORTED:
	case ENOTCONN:
	case EPIPE:
	case ETIMEDOUT:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EINPROGRESS: /* not linked yet: dialing */
		return 1;
	default:
		return 0;
	}
}

/*
 * Errors worth exactly one more attempt: the connection broke before or
 * while the request went out (redial and send it again), or the pool handle
 * vanished (the pool was destroyed under us; reopen it). A timeout is not
 * among them: retrying it would double the wait.
 */
static int tconn_is_retryable(int err)
{
	return err == -ECONNRESET || err == -EPIPE || err == -ENOTCONN ||
	       err == -ECONNABORTED || err == -EBADF;
}

/* Remember err for TMEM.INFO. Misses and short buffers are not errors. */
static void tconn_record(struct tconn *t, const char *opname, int err)
{
	if (err == -ENOENT || err == -ENOBUFS || err == -EAGAIN)
		return; /* -EAGAIN: no one-sided read here (tmem_multi.c) */
	snprintf(t->last_err, sizeof(t->last_err), "%s: %s", opname,
		 utmem_strerror(err));
	t->last_err_ms = tconn_now_ms();
}

/* Log when the link changes state; stay quiet while it stays the same. */
static void tconn_set_linked(struct tconn *t, int up, const char *why)
{
	if (up == t->linked)
		return;
	t->linked = up;
	if (up)
		rm_log(NULL, "notice", "utmem: linked to utmemd at %s, pool %s (%s)",
		       t->cfg.addr, t->cfg.pool, tconn_kind_name(&t->cfg));
	else
		rm_log(NULL, "warning",
		       "utmem: lost utmemd at %s: %s; TMEM commands fail until it "
		       "is back, each one dials again",
		       t->cfg.addr, why);
}

/* Forget the client; the next tconn_ready() dials a new one. Blocked
 * commands waiting on it are answered first (with t->drop_err). It is
 * closed off Redis's thread: the close waits for the PUTs posted on it. */
static void tconn_drop(struct tconn *t)
{
	tblock_on_drop(t, t->drop_err ? t->drop_err : -ECONNRESET);
	t->drop_err = 0;
	utmem_batch_free(t->batch);
	t->batch = NULL;
	tdial_close(t->c);
	t->c = NULL;
}

/* Why a connect failed (err > 0), in words: a refusal for the tenant's
 * connection limit is not "Disk quota exceeded". */
static const char *tconn_connect_text(int err)
{
	return err == EDQUOT ? "this tenant is at its connection limit (max_conns)"
			     : strerror(err);
}

/*
 * Fold a failed dial into the few errors callers act on, keeping the
 * socket's own errno for the message. A missing socket file (ENOENT) must
 * not come back as ENOENT, which callers read as "no such key".
 */
static int tconn_dial_error(struct tconn *t, int err)
{
	if (err == -ETIMEDOUT || err == -EPERM || err == -ENOMEM ||
	    err == -EINVAL)
		return err;
	t->connect_err = -err;
	t->failed_dialing = 1;
	return -ENOTCONN;
}

/* The UTMEM_OPT_* flags a dial asks for now. */
static unsigned tconn_flags(const struct tconn *t)
{
	return t->lazy_kick ? UTMEM_OPT_LAZY_KICK : 0;
}

/*
 * Make a dial's result the module's connection, or record why it failed
 * (opname: the command that asked). Returns 0 or the error callers act on.
 */
static int tconn_adopt(struct tconn *t, const char *opname,
		       const struct tdial_result *res)
{
	int err = res->err;

	if (err == 0) {
		t->c = res->c;
		t->batch = res->batch;
		t->pool = res->pool;
		t->connect_err = 0;
		t->dial_timed_out_ms = 0;
		memcpy(t->server, res->server, sizeof(t->server));
		t->server_ms = tconn_now_ms();
		t->n.connects++;
		tconn_set_linked(t, 1, NULL);
		return 0;
	}
	/* Not answering (stopped, or its accept queue full): the next
	 * commands do not wait for a dial, for timeout_ms. */
	t->dial_timed_out_ms = err == -ETIMEDOUT ? tconn_now_ms() : 0;
	if (res->in_connect) {
		snprintf(t->last_err, sizeof(t->last_err), "%s: connect: %s",
			 opname, tconn_connect_text(-err));
		err = tconn_dial_error(t, err);
	} else {
		snprintf(t->last_err, sizeof(t->last_err), "%s: open pool %s: %s",
			 opname, t->cfg.pool, utmem_strerror(err));
	}
	t->n.connect_failures++;
	t->last_err_ms = tconn_now_ms();
	/* Log the first failure and each loss of the link, not every retry;
	 * an address libutmem cannot parse is the load's to say (one line). */
	if ((t->linked || t->n.connect_failures == 1) &&
	    !(res->in_connect && err == -EINVAL))
		rm_log(NULL, "warning", "utmem: cannot use utmemd at %s: %s",
		       t->cfg.addr, t->last_err);
	t->linked = 0;
	return err;
}

/* Take the dial's result, waiting up to wait_ms; 1 if there is one to
 * adopt. One dialed with flags since changed is closed, not adopted. */
static int tconn_take(struct tconn *t, struct tdial_result *res, int wait_ms)
{
	if (!t->dialing || !tdial_take(res, wait_ms))
		return 0;
	t->dialing = 0;
	if (res->flags == tconn_flags(t))
		return 1;
	utmem_batch_free(res->batch);
	tdial_close(res->c);
	return 0;
}

/* How long the command asking for a dial waits for it. */
static int tconn_dial_wait_ms(const struct tconn *t)
{
	if (t->dial_timed_out_ms != 0 &&
	    tconn_now_ms() - t->dial_timed_out_ms < t->cfg.timeout_ms)
		return 0;
	return t->cfg.timeout_ms < TCONN_DIAL_WAIT_MS ? t->cfg.timeout_ms
						       : TCONN_DIAL_WAIT_MS;
}

int tconn_ready(struct tconn *t, const char *opname)
{
	struct tdial_result res;

	if (t->c != NULL)
		return 0;
	/* A dial asked by an earlier command came in: a failure was
	 * that command's, so dial again below. */
	if (tconn_take(t, &res, 0) && tconn_adopt(t, t->dial_op, &res) == 0)
		return 0;
	if (!t->dialing) {
		tdial_request(&t->cfg, tconn_flags(t));
		t->dialing = 1;
		t->dial_op = opname;
		if (tconn_take(t, &res, tconn_dial_wait_ms(t)))
			return tconn_adopt(t, opname, &res);
	}
	return -EINPROGRESS;
}

void tconn_poll(struct tconn *t)
{
	struct tdial_result res;

	if (t->dialing && tconn_take(t, &res, 0))
		(void)tconn_adopt(t, t->dial_op, &res);
}

/*
 * Prepare the second attempt after error r: reopen the pool for a vanished
 * handle, else dial a new connection. Returns 0 or the error to report.
 */
static int tconn_recover(struct tconn *t, const char *opname, int r)
{
	t->n.retries++;
	if (r == -EBADF)
		return utmem_pool_open(t->c, t->cfg.pool,
				       t->cfg.pool_flags | UTMEM_POOL_CREATE,
				       &t->pool);
	tconn_drop(t);
	return tconn_ready(t, opname);
}

/* tconn_call() and tconn_call_once(): may_retry says which. */
static ssize_t tconn_run(struct tconn *t, const char *opname, tconn_op_fn op,
			 void *arg, int may_retry)
{
	ssize_t r;

	t->failed_dialing = 0;
	r = tconn_ready(t, opname);
	if (r < 0)
		return r;
	r = op(t, arg);
	if (r < 0 && may_retry && tconn_is_retryable((int)r)) {
		int err = tconn_recover(t, opname, (int)r);

		r = err < 0 ? err : op(t, arg);
	}
	if (r < 0) {
		if (!t->failed_dialing) /* else tconn_ready() said it better */
			tconn_record(t, opname, (int)r);
		if (tconn_is_link_error((int)r)) {
			t->drop_err = (int)r; /* what blocked commands get */
			tconn_drop(t);
			tconn_set_linked(t, 0, utmem_strerror((int)r));
		}
	} else {
		tconn_set_linked(t, 1, NULL);
	}
	return r;
}

void tconn_lost(struct tconn *t, const char *opname, int err)
{
	tconn_record(t, opname, err);
	t->drop_err = err;
	tconn_drop(t);
	tconn_set_linked(t, 0, utmem_strerror(err));
}

ssize_t tconn_call(struct tconn *t, const char *opname, tconn_op_fn op,
		   void *arg)
{
	return tconn_run(t, opname, op, arg, 1);
}

ssize_t tconn_call_once(struct tconn *t, const char *opname, tconn_op_fn op,
			void *arg)
{
	return tconn_run(t, opname, op, arg, 0);
}

void tconn_set_lazy_kick(struct tconn *t, int on)
{
	if (t->lazy_kick == on)
		return;
	/* The client was dialed with the other setting (a dial under way
	 * with it is closed when taken, tconn_take). */
	t->lazy_kick = on;
	if (t->c != NULL)
		tconn_drop(t);
}

void tconn_flush(struct tconn *t)
{
	if (t->c != NULL)
		(void)utmem_flush(t->c);
}

int tconn_start(struct tconn *t)
{
	int err = tdial_start();

	if (err < 0)
		rm_log(NULL, "warning", "utmem: no thread to connect to utmemd "
		       "with (%s): connecting waits on Redis's thread, up to "
		       "timeout_ms=%d", strerror(-err), t->cfg.timeout_ms);
	return err;
}

void tconn_shutdown(struct tconn *t)
{
	tconn_drop(t);
	tdial_stop(); /* closes what tconn_drop handed it */
	t->dialing = 0;
	free(t->buf);
	t->buf = NULL;
	t->buf_cap = 0;
	t->linked = 0;
}

/* Count and word a refusal or failure; the first word is the error code. */
int tconn_reply_error(RedisModuleCtx *ctx, struct tconn *t, int err,
		      enum tconn_what what, const char *suffix)
{
	const char *sep = suffix ? " (" : "";
	const char *end = suffix ? ")" : "";
	size_t lim;

	if (suffix == NULL)
		suffix = "";
	t->n.errors++;
	switch (-err) {
	case EDQUOT:
		t->n.refused_quota++;
		return rm_reply_errorf(ctx, "QUOTA tenant quota exceeded%s%s%s",
				       sep, suffix, end);
	case ENOSPC:
		t->n.refused_capacity++;
		return rm_reply_errorf(ctx, "CAPACITY host pool full%s%s%s", sep,
				       suffix, end);
	case EMSGSIZE:
		t->n.refused_toobig++;
		lim = 0;
		if (t->c != NULL)
			lim = what == TCONN_KEY ? utmem_max_key(t->c)
						: utmem_max_value(t->c);
		return rm_reply_errorf(
			ctx, "TOOBIG %s exceeds utmemd limit of %zu bytes%s%s%s",
			what == TCONN_KEY ? "key" : "value", lim, sep, suffix,
			end);
	case ETIMEDOUT:
		t->n.timeouts++;
		return rm_reply_errorf(
			ctx, "TIMEOUT utmemd at %s did not answer within %d ms%s%s%s",
			t->cfg.addr, t->cfg.timeout_ms, sep, suffix, end);
	case EINPROGRESS:
		t->n.unavailable++;
		if (t->dial_timed_out_ms != 0)
			return rm_reply_errorf(
				ctx, "UNAVAILABLE utmemd at %s: not answering "
				     "(the last connect timed out after %d ms); "
				     "connecting in the background%s%s%s",
				t->cfg.addr, t->cfg.timeout_ms, sep, suffix, end);
		return rm_reply_errorf(ctx, "UNAVAILABLE utmemd at %s: connecting "
					    "in the background%s%s%s",
				       t->cfg.addr, sep, suffix, end);
	case ECONNRESET:
	case ECONNREFUSED:
	case ECONNABORTED:
	case ENOTCONN:
	case EPIPE:
	case EHOSTUNREACH:
	case ENETUNREACH:
		t->n.unavailable++;
		/* A refusal at connect for the tenant's connection limit is
		 * not "Disk quota exceeded": say which limit. */
		if (err == -ENOTCONN && t->failed_dialing &&
		    t->connect_err == EDQUOT)
			return rm_reply_errorf(
				ctx, "UNAVAILABLE utmemd at %s refused the "
				     "connection: %s%s%s%s",
				t->cfg.addr, tconn_connect_text(EDQUOT), sep,
				suffix, end);
		if (err == -ENOTCONN && t->failed_dialing)
			return rm_reply_errorf(
				ctx, "UNAVAILABLE utmemd at %s unreachable: "
				     "connect: %s%s%s%s",
				t->cfg.addr, tconn_connect_text(t->connect_err), sep,
				suffix, end);
		return rm_reply_errorf(ctx,
				       "UNAVAILABLE utmemd at %s: connection lost: %s%s%s%s",
				       t->cfg.addr, strerror(-err), sep, suffix,
				       end);
	case EACCES:
		return rm_reply_errorf(ctx,
				       "NOPERM pool %s not granted to this tenant%s%s%s",
				       t->cfg.pool, sep, suffix, end);
	case EEXIST:
		return rm_reply_errorf(ctx,
				       "ERR pool %s exists in utmemd with another kind "
				       "than %s%s%s%s",
				       t->cfg.pool, tconn_kind_name(&t->cfg), sep,
				       suffix, end);
	case EPERM:
		return rm_reply_errorf(ctx, "NOPERM utmemd refused the token%s%s%s",
				       sep, suffix, end);
	case ENOMEM:
		return rm_reply_errorf(ctx, "NOMEM out of memory%s%s%s", sep,
				       suffix, end);
	default:
		return rm_reply_errorf(ctx, "ERR utmem: %s%s%s%s",
				       utmem_strerror(err), sep, suffix, end);
	}
}

int tconn_buf_reserve(struct tconn *t, size_t need)
{
	size_t cap = TCONN_BUF_MIN;
	void *p;

	if (need <= t->buf_cap)
		return 0;
	if (need > TCONN_BUF_KEEP)
		return -EFBIG;
	while (cap < need)
		cap *= 2;
	/* No realloc: the old contents are never needed, so do not copy them. */
	p = malloc(cap);
	if (p == NULL)
		return -ENOMEM;
	free(t->buf);
	t->buf = p;
	t->buf_cap = cap;
	return 0;
}

void tconn_note_size(struct tconn *t, size_t len)
{
	/* Follow growth at once, decay slowly, so one huge value does not size
	 * every later MGET slot. */
	if (len >= t->size_hint)
		t->size_hint = len;
	else
		t->size_hint -= (t->size_hint - len) / 16;
}

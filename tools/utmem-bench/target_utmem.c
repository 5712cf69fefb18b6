/*
 * target_utmem.c — utmem-bench driving utmemd through libutmem.
 *
 * A round of one request is a plain utmem_put()/utmem_get(), what an
 * application calls; a round of n > 1 is one utmem_batch of n requests,
 * pipelined on the connection and answered in one utmem_batch_exec(). The
 * client is opened with no_reconnect, so a daemon that goes away ends the
 * run with its error instead of being silently reconnected mid-measurement.
 */
#include "target.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <utmem.h>

struct ub_utmem {
	utmem_client *cl;
	utmem_batch *batch;
	uint32_t pool;
};

/*
 * Errors that mean the connection, not the request, failed (-EIO is the
 * daemon refusing one request: counted, not fatal).
 */
static int ub_utmem_conn_error(int err)
{
	return err == -ECONNRESET || err == -ECONNREFUSED || err == -ENOTCONN ||
	       err == -ETIMEDOUT || err == -EPIPE || err == -EPROTO;
}

/*
 * Connect, check the value fits, open (create) the pool, make the batch.
 * Returns 0 or -errno with errmsg set; close() frees what was made.
 */
static int ub_utmem_open(struct ub_conn *c)
{
	const struct ub_opts *o = c->o;
	struct utmem_options uo = { .token = o->token,
				    .timeout_ms = o->timeout_ms,
				    .no_reconnect = 1 };
	unsigned flags = UTMEM_POOL_CREATE;
	struct ub_utmem *u;
	int err;

	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	c->priv = u;
	err = utmem_connect(o->addr, &uo, &u->cl);
	if (err) {
		/* The library's words, and the system's: at connect time
		 * -ENOENT means a missing socket, not a missing key. */
		ub_conn_fail(c, "connect to %s: %s (%s)", o->addr,
			     utmem_strerror(err), strerror(-err));
		return err;
	}
	if (o->value_size > utmem_max_value(u->cl)) {
		ub_conn_fail(c, "value size %zu above the daemon's limit %zu",
			     o->value_size, utmem_max_value(u->cl));
		return -EMSGSIZE;
	}
	if (o->ephemeral)
		flags |= UTMEM_POOL_EPHEMERAL;
	err = utmem_pool_open(u->cl, o->pool, flags, &u->pool);
	if (err) {
		ub_conn_fail(c, "open pool '%s': %s", o->pool, utmem_strerror(err));
		return err;
	}
	err = utmem_batch_new(u->cl, &u->batch);
	if (err) {
		ub_conn_fail(c, "new batch: %s", utmem_strerror(err));
		return err;
	}
	return 0;
}

/*
 * Tally one result r of op (slot i). Returns 0, or r when it is a
 * connection error, which ends the worker.
 */
static int ub_utmem_judge(struct ub_conn *c, const struct ub_op *op,
			  unsigned slot, ssize_t r, struct ub_tally *t)
{
	if (r >= 0 && op->get) {
		ub_judge_get(c, op->key, ub_buf(c, slot), (size_t)r, t);
		return 0;
	}
	if (r >= 0) {
		t->ok++;
		t->bytes += c->o->value_size;
		return 0;
	}
	if (op->get && r == -ENOENT) {
		t->miss++;
		return 0;
	}
	if (ub_utmem_conn_error((int)r)) {
		ub_conn_fail(c, "connection to %s: %s", c->o->addr,
			     utmem_strerror((int)r));
		return (int)r;
	}
	ub_conn_error(c, "%s key %u: %s", op->get ? "GET" : "PUT", op->key,
		      utmem_strerror((int)r));
	t->err++;
	return 0;
}

/* One request with the plain calls. */
static int ub_utmem_single(struct ub_conn *c, const struct ub_op *op,
			   struct ub_tally *t)
{
	struct ub_utmem *u = c->priv;
	const char *key = ub_key(c, 0, op->key);
	size_t vs = c->o->value_size;
	ssize_t r;

	if (op->get)
		r = utmem_get(u->cl, u->pool, key, UB_KEY_LEN, ub_buf(c, 0), vs, 0);
	else
		r = utmem_put(u->cl, u->pool, key, UB_KEY_LEN,
			      ub_value(c, op->key), vs);
	return ub_utmem_judge(c, op, 0, r, t);
}

/* One round trip: a plain call for n == 1, else one batch. 0 or -errno. */
static int ub_utmem_round(struct ub_conn *c, const struct ub_op *ops,
			  unsigned n, struct ub_tally *t)
{
	struct ub_utmem *u = c->priv;
	size_t vs = c->o->value_size;
	int r, err;

	if (n == 1)
		return ub_utmem_single(c, &ops[0], t);
	utmem_batch_reset(u->batch);
	for (unsigned i = 0; i < n; i++) {
		const char *key = ub_key(c, i, ops[i].key);

		if (ops[i].get)
			r = utmem_batch_get(u->batch, u->pool, key, UB_KEY_LEN,
					    ub_buf(c, i), vs, 0);
		else
			r = utmem_batch_put(u->batch, u->pool, key, UB_KEY_LEN,
					    ub_value(c, ops[i].key), vs);
		if (r < 0) {
			ub_conn_fail(c, "queue request: %s", utmem_strerror(r));
			return r;
		}
	}
	r = utmem_batch_exec(u->batch);
	if (r < 0) {
		ub_conn_fail(c, "connection to %s: %s", c->o->addr,
			     utmem_strerror(r));
		return r;
	}
	for (unsigned i = 0; i < n; i++) {
		err = ub_utmem_judge(c, &ops[i], i,
				     utmem_batch_result(u->batch, i), t);
		if (err)
			return err;
	}
	return 0;
}

/* Free the batch, close the client. */
static void ub_utmem_close(struct ub_conn *c)
{
	struct ub_utmem *u = c->priv;

	if (!u)
		return;
	utmem_batch_free(u->batch);
	utmem_close(u->cl);
	free(u);
	c->priv = NULL;
}

/* Wait until every PUT this connection posted was applied by utmemd. */
static int ub_utmem_settle(struct ub_conn *c)
{
	struct ub_utmem *u = c->priv;
	int err = utmem_sync(u->cl);

	if (err)
		ub_conn_fail(c, "sync: %s", utmem_strerror(err));
	return err;
}

const struct ub_target_ops ub_target_utmem = {
	.name = "utmem",
	.open = ub_utmem_open,
	.round = ub_utmem_round,
	.close = ub_utmem_close,
	.settle = ub_utmem_settle,
};

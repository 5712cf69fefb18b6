/*
 * target_redis.c — utmem-bench driving redis-server (or the utmem Redis
 * module) over RESP with hiredis.
 *
 * A round of n requests is sent the way a pipelining client sends them:
 * n redisAppendCommandArgv() calls, then n redisGetReply(), so the load
 * shape matches one utmem_batch_exec() of n requests on the native side. A
 * round of one request is a plain redisCommandArgv(), as utmem_put/get is.
 * The PUT and GET command names are options, so the same code drives SET/GET
 * and TMEM.PUT/TMEM.GET.
 */
#include "target.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

struct ub_redis {
	redisContext *rc;
};

/* Connect to "unix:PATH", a PATH containing '/', or "tcp:HOST:PORT". */
static redisContext *ub_redis_connect(const char *addr, struct timeval tv,
				      char *err, size_t errlen)
{
	char host[256];
	const char *hp, *colon;
	long port;
	char *end;

	if (strncmp(addr, "unix:", 5) == 0)
		return redisConnectUnixWithTimeout(addr + 5, tv);
	if (strncmp(addr, "tcp:", 4) != 0)
		return strchr(addr, '/') ? redisConnectUnixWithTimeout(addr, tv)
					 : NULL;
	hp = addr + 4;
	colon = strrchr(hp, ':');
	if (!colon || colon == hp || (size_t)(colon - hp) >= sizeof(host)) {
		snprintf(err, errlen, "malformed address '%s'", addr);
		return NULL;
	}
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535) {
		snprintf(err, errlen, "bad port in '%s'", addr);
		return NULL;
	}
	memcpy(host, hp, (size_t)(colon - hp));
	host[colon - hp] = '\0';
	return redisConnectWithTimeout(host, (int)port, tv);
}

/* Connect with the request timeout. Returns 0 or -errno, errmsg set. */
static int ub_redis_open(struct ub_conn *c)
{
	struct timeval tv = { .tv_sec = c->o->timeout_ms / 1000,
			      .tv_usec = (c->o->timeout_ms % 1000) * 1000 };
	struct ub_redis *r;
	char why[128] = "malformed address (expected unix:PATH or tcp:HOST:PORT)";

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	c->priv = r;
	r->rc = ub_redis_connect(c->o->addr, tv, why, sizeof(why));
	if (!r->rc) {
		ub_conn_fail(c, "connect to %s: %s", c->o->addr, why);
		return -EINVAL;
	}
	if (r->rc->err) {
		ub_conn_fail(c, "connect to %s: %s", c->o->addr, r->rc->errstr);
		return -ECONNREFUSED;
	}
	if (redisSetTimeout(r->rc, tv) != REDIS_OK) {
		ub_conn_fail(c, "set timeout on %s: %s", c->o->addr, r->rc->errstr);
		return -EIO;
	}
	return 0;
}

/* Fill argv for one request. */
static int ub_redis_argv(struct ub_conn *c, unsigned slot, const struct ub_op *op,
			 const char **argv, size_t *argvlen)
{
	argv[0] = op->get ? c->o->get_cmd : c->o->put_cmd;
	argvlen[0] = strlen(argv[0]);
	argv[1] = ub_key(c, slot, op->key);
	argvlen[1] = UB_KEY_LEN;
	if (op->get)
		return 2;
	argv[2] = (const char *)ub_value(c, op->key);
	argvlen[2] = c->o->value_size;
	return 3;
}

/* Tally one reply (never NULL: the caller checked). */
static void ub_redis_judge(struct ub_conn *c, const struct ub_op *op,
			   const redisReply *rep, struct ub_tally *t)
{
	if (rep->type == REDIS_REPLY_ERROR) {
		ub_conn_error(c, "%s: %.*s", op->get ? c->o->get_cmd : c->o->put_cmd,
			      (int)rep->len, rep->str);
		t->err++;
		return;
	}
	if (!op->get) {
		t->ok++;
		t->bytes += c->o->value_size;
		return;
	}
	if (rep->type == REDIS_REPLY_NIL) {
		t->miss++;
		return;
	}
	if (rep->type != REDIS_REPLY_STRING) {
		ub_conn_error(c, "%s: unexpected reply type %d", c->o->get_cmd,
			      rep->type);
		t->err++;
		return;
	}
	ub_judge_get(c, op->key, rep->str, rep->len, t);
}

/*
 * One round trip (see the file comment). Returns 0, or -ECONNRESET when
 * hiredis reports the connection broken: the context is unusable then.
 */
static int ub_redis_round(struct ub_conn *c, const struct ub_op *ops,
			  unsigned n, struct ub_tally *t)
{
	struct ub_redis *r = c->priv;
	const char *argv[3];
	size_t argvlen[3];
	void *rep;
	int argc;

	if (n == 1) {
		argc = ub_redis_argv(c, 0, &ops[0], argv, argvlen);
		rep = redisCommandArgv(r->rc, argc, argv, argvlen);
		if (!rep)
			goto err_conn;
		ub_redis_judge(c, &ops[0], rep, t);
		freeReplyObject(rep);
		return 0;
	}
	for (unsigned i = 0; i < n; i++) {
		argc = ub_redis_argv(c, i, &ops[i], argv, argvlen);
		if (redisAppendCommandArgv(r->rc, argc, argv, argvlen) != REDIS_OK)
			goto err_conn;
	}
	for (unsigned i = 0; i < n; i++) {
		if (redisGetReply(r->rc, &rep) != REDIS_OK || !rep)
			goto err_conn;
		ub_redis_judge(c, &ops[i], rep, t);
		freeReplyObject(rep);
	}
	return 0;

err_conn:
	ub_conn_fail(c, "redis connection %s: %s", c->o->addr,
		     r->rc->err ? r->rc->errstr : "no reply");
	return -ECONNRESET;
}

/* Disconnect and free. */
static void ub_redis_close(struct ub_conn *c)
{
	struct ub_redis *r = c->priv;

	if (!r)
		return;
	if (r->rc)
		redisFree(r->rc);
	free(r);
	c->priv = NULL;
}

const struct ub_target_ops ub_target_redis = {
	.name = "redis",
	.open = ub_redis_open,
	.round = ub_redis_round,
	.close = ub_redis_close,
};

/*
 * tmem_info.c — what the module tells about itself: the TMEM.INFO command
 * (link, configuration, module counters, and utmemd's counters for the
 * tenant and the pool) and a "# utmem" section in Redis's own INFO, which
 * shows local state only and so never waits for utmemd.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmem_block.h"
#include "tmem_cmd.h"
#include "tmem_conn.h"

/* The module's counters (struct tconn_counters) by name, in the order
 * TMEM.INFO and Redis's INFO list them. */
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
	TCMD_COUNTER(dels), TCMD_COUNTER(local_views),
	TCMD_COUNTER(batch_views), TCMD_COUNTER(async_blocked),
	TCMD_COUNTER(async_done), TCMD_COUNTER(async_timeouts),
	TCMD_COUNTER(async_sync), TCMD_COUNTER(async_inflight),
};
#define TCMD_NCOUNTERS (sizeof(tcmd_counters) / sizeof(tcmd_counters[0]))

/* Counter i of t's. */
static uint64_t tcmd_counter(const struct tconn *t, size_t i)
{
	uint64_t v;

	memcpy(&v, (const char *)&t->n + tcmd_counters[i].off, sizeof(v));
	return v;
}

_Static_assert(sizeof(struct tconn_counters) == TCMD_NCOUNTERS * sizeof(uint64_t),
	       "every counter is listed, once");

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
	char server[1024];
};

static ssize_t tcmd_stats_op(struct tconn *t, void *arg)
{
	struct tcmd_stats *s = arg;
	int err = utmem_stats(t->c, 0, &s->tenant);

	if (err < 0)
		return err;
	err = utmem_stats(t->c, t->pool, &s->pool);
	if (err < 0)
		return err;
	/* An older utmemd without SERVER_INFO: no server section, no error. */
	if (utmem_server_info(t->c, s->server, sizeof(s->server)) < 0)
		s->server[0] = '\0';
	return 0;
}

/* Add utmemd's "key:value\n" server lines as "server_key:value\r\n". */
static void tcmd_info_server(struct tcmd_text *x, const char *text)
{
	while (*text) {
		const char *nl = strchr(text, '\n');
		size_t n = nl ? (size_t)(nl - text) : strlen(text);
		tcmd_addf(x, "server_%.*s\r\n", (int)n, text);
		text += n + (nl != NULL);
	}
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
	tcmd_addf(x, "# module\r\n");
	for (size_t i = 0; i < TCMD_NCOUNTERS; i++)
		tcmd_addf(x, "%s:%llu\r\n", tcmd_counters[i].name,
			  (unsigned long long)tcmd_counter(t, i));
	if (t->last_err[0] != '\0')
		tcmd_addf(x, "last_error:%s\r\nlast_error_age_ms:%lld\r\n",
			  t->last_err, (long long)(tconn_now_ms() - t->last_err_ms));
	else
		tcmd_addf(x, "last_error:none\r\n");
}

int tcmd_info_reply(RedisModuleCtx *ctx, int64_t err,
		    const struct utmem_stats *tenant,
		    const struct utmem_stats *pool, const char *server)
{
	struct tconn *t = &tconn_state;
	struct tcmd_text *x = calloc(1, sizeof(*x));

	if (x == NULL)
		return tconn_reply_error(ctx, t, -ENOMEM, TCONN_NONE, NULL);
	tcmd_addf(x,
		  "# utmem\r\nmodule_version:%s\r\nlibutmem_version:%s\r\n"
		  "connected:%d\r\nconnecting:%d\r\naddr:%s\r\npool:%s\r\n"
		  "kind:%s\r\ntimeout_ms:%d\r\n",
		  UTMEM_VERSION_STRING, utmem_version(),
		  err >= 0 && t->c != NULL, t->dialing, t->cfg.addr, t->cfg.pool,
		  tconn_kind_name(&t->cfg), t->cfg.timeout_ms);
	if (t->c != NULL)
		tcmd_addf(x, "max_key:%zu\r\nmax_value:%zu\r\n",
			  utmem_max_key(t->c), utmem_max_value(t->c));
	tcmd_info_counters(x, t);
	if (err >= 0) {
		tcmd_addf(x, "# utmemd\r\n");
		/* An older utmemd without SERVER_INFO: no server section. */
		if (server != NULL)
			tcmd_info_server(x, server);
		tcmd_info_stats(x, "tenant", tenant, 1);
		tcmd_info_stats(x, "pool", pool, 0);
	} else {
		tcmd_addf(x, "stats_error:%s\r\n",
			  err == -EINPROGRESS ? "connecting in the background"
					      : utmem_strerror((int)err));
	}
	rm.ReplyWithStringBuffer(ctx, x->buf, x->len);
	free(x);
	return RM_OK;
}

/*
 * Reply with a bulk string of "field:value" lines, INFO style: the link,
 * the configuration, the module's counters, and the tenant's and pool's
 * counters as utmemd keeps them (when it answers). Never an error reply:
 * a dead utmemd shows as connected:0 and stats_error. Where the client
 * may block, utmemd is asked asynchronously (tblock_info) and Redis's
 * thread does not wait; elsewhere (MULTI, scripts, Redis < 7) it waits.
 */
int tcmd_info(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
{
	struct tconn *t = &tconn_state;
	struct tcmd_stats s;
	ssize_t r;

	(void)argv;
	if (argc != 1)
		return rm.WrongArity(ctx);
	if (tblock_info(ctx))
		return RM_OK;
	r = tconn_call(t, "info", tcmd_stats_op, &s);
	return tcmd_info_reply(ctx, r, &s.tenant, &s.pool,
			       r >= 0 && s.server[0] != '\0' ? s.server : NULL);
}

/* ---- the module's section of Redis's INFO ---- */

/*
 * "# utmem_server": what utmemd said about itself at the last connect
 * (SERVER_INFO), and how long ago; INFO never waits for utmemd.
 */
static void tcmd_info_server_section(RedisModuleInfoCtx *ictx,
				     const struct tconn *t)
{
	char line[sizeof(t->server)];
	const char *p = t->server;

	if (!p[0])
		return;
	rm.InfoAddSection(ictx, "server");
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char *colon;
		memcpy(line, p, n);
		line[n] = '\0';
		colon = strchr(line, ':');
		if (colon) {
			*colon = '\0';
			rm.InfoAddFieldCString(ictx, line, colon + 1);
		}
		p += n + (nl != NULL);
	}
	rm.InfoAddFieldULongLong(ictx, "info_age_ms",
				 (unsigned long long)(tconn_now_ms() - t->server_ms));
}

/* Redis calls this for INFO (and crash reports): local state only. */
static void tcmd_info_section(RedisModuleInfoCtx *ictx, int for_crash_report)
{
	const struct tconn *t = &tconn_state;

	rm.InfoAddSection(ictx, NULL); /* the default section: "# utmem" */
	rm.InfoAddFieldULongLong(ictx, "linked", (unsigned long long)t->linked);
	rm.InfoAddFieldULongLong(ictx, "connecting",
				 (unsigned long long)t->dialing);
	rm.InfoAddFieldCString(ictx, "addr", t->cfg.addr);
	rm.InfoAddFieldCString(ictx, "pool", t->cfg.pool);
	rm.InfoAddFieldCString(ictx, "kind", tconn_kind_name(&t->cfg));
	for (size_t i = 0; i < TCMD_NCOUNTERS; i++)
		rm.InfoAddFieldULongLong(ictx, tcmd_counters[i].name,
					 tcmd_counter(t, i));
	tcmd_info_server_section(ictx, t);
}

void tcmd_register_info(RedisModuleCtx *ctx)
{
	if (rm.RegisterInfoFunc == NULL || rm.InfoAddSection == NULL ||
	    rm.InfoAddFieldCString == NULL || rm.InfoAddFieldULongLong == NULL)
		return;
	if (rm.RegisterInfoFunc(ctx, tcmd_info_section) != RM_OK)
		rm_log(ctx, "warning", "utmem: Redis refused the INFO section");
}


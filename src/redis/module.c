/*
 * module.c — loading and unloading utmem.so in Redis.
 *
 *   redis-server --loadmodule utmem.so addr=unix:/run/utmem/t1.sock pool=redis \
 *                [kind=persistent|ephemeral] [timeout_ms=N] [token=T]
 *
 * (or MODULE LOAD with the same arguments). Arguments are checked before
 * anything else happens, and a bad one fails the load with one log line that
 * names it, leaving Redis running. The connection to utmemd is tried at load
 * time, off Redis's thread (tmem_dial.c), waited for TCONN_DIAL_WAIT_MS at
 * most; if utmemd is not up yet, or does not answer, the module still loads
 * (a warning is logged) and connects on the first TMEM command, so Redis
 * and utmemd may start in any order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/admin.h"
#include "proto/name.h"
#include "rm_api.h"
#include "tmem_block.h"
#include "tmem_cmd.h"
#include "tmem_conn.h"

#define TMOD_NAME "utmem"
#define TMOD_VERSION \
	(UTMEM_VERSION_MAJOR * 10000 + UTMEM_VERSION_MINOR * 100 + \
	 UTMEM_VERSION_PATCH)
/* What addr= may be, for the messages that refuse one. */
#define TMOD_ADDR_FORMS                                                         \
	"(expected unix:PATH, tcp:HOST:PORT with token=, vsock:CID:PORT, or in " \
	"a guest ivshmem:, dev:PATH or virtio-serial:NAME)"
#define TMOD_USAGE \
	"usage: loadmodule utmem.so addr=ADDRESS pool=NAME " \
	"[kind=persistent|ephemeral] [timeout_ms=1..600000] [token=TOKEN]"

/* An error message being built for the log. */
struct tmod_why {
	char msg[256];
};

/* Copy a bounded string value into dst (cap includes the NUL). */
static int tmod_copy(char *dst, size_t cap, const char *val, size_t vlen)
{
	if (vlen == 0 || vlen >= cap || memchr(val, '\0', vlen) != NULL)
		return -EINVAL;
	memcpy(dst, val, vlen);
	dst[vlen] = '\0';
	return 0;
}

/*
 * Could these n bytes be a misspelt argument name, safe to show in the log:
 * 1..16 of [a-z_], as every name is? A token is unlikely to be.
 */
static int tmod_name_like(const char *s, size_t n)
{
	if (n == 0 || n > 16)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((s[i] < 'a' || s[i] > 'z') && s[i] != '_')
			return 0;
	return 1;
}

/* The arguments, in the order of names[] in tmod_apply(). */
enum { TMOD_ADDR, TMOD_POOL, TMOD_KIND, TMOD_TIMEOUT, TMOD_TOKEN };

/*
 * Apply argument number pos (from 1), "name=value", to cfg. Returns 0 or
 * -EINVAL with why.
 */
static int tmod_apply(struct tconn_cfg *cfg, unsigned *seen, int pos,
		      const char *arg, size_t len, struct tmod_why *why)
{
	static const char *const names[] = { "addr", "pool", "kind",
					     "timeout_ms", "token" };
	/* The numeric arguments' bounds, by index into names[]. */
	static const unsigned long num_lo[] = { [TMOD_TIMEOUT] = 1 };
	static const unsigned long num_hi[] = {
		[TMOD_TIMEOUT] = TCONN_MAX_TIMEOUT_MS };
	uint64_t num;
	char shown[65];
	size_t nshown;
	const char *eq = memchr(arg, '=', len);
	const char *fault = NULL;
	size_t nlen = 0, vlen = 0;
	const char *val;
	unsigned i;

	if (eq == NULL)
		goto err_form;
	nlen = (size_t)(eq - arg);
	val = eq + 1;
	vlen = len - nlen - 1;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == nlen && memcmp(arg, names[i], nlen) == 0)
			break;
	if (i == sizeof(names) / sizeof(names[0]))
		goto err_form;
	if (*seen & (1u << i)) {
		snprintf(why->msg, sizeof(why->msg), "%s given twice", names[i]);
		return -EINVAL;
	}
	*seen |= 1u << i;
	switch (i) {
	case TMOD_ADDR:
		/* No address has a control character: refused here, the value
		 * can be quoted in the log as it is later on. */
		for (size_t k = 0; k < vlen; k++)
			if ((unsigned char)val[k] < 0x20 || val[k] == 0x7f)
				goto err_value;
		if (tmod_copy(cfg->addr, sizeof(cfg->addr), val, vlen) < 0)
			goto err_value;
		return 0;
	case TMOD_POOL:
		if (tmod_copy(cfg->pool, sizeof(cfg->pool), val, vlen) < 0 ||
		    !uname_ok(cfg->pool))
			goto err_value;
		return 0;
	case TMOD_KIND:
		if (vlen == 10 && memcmp(val, "persistent", 10) == 0)
			cfg->pool_flags = UTMEM_POOL_PERSISTENT;
		else if (vlen == 9 && memcmp(val, "ephemeral", 9) == 0)
			cfg->pool_flags = UTMEM_POOL_EPHEMERAL;
		else
			goto err_value;
		return 0;
	case TMOD_TIMEOUT:
		/* Read as utmemd reads a number (digits only, 0005 is 5). */
		if (uadm_parse_uint(val, vlen, num_lo[i], num_hi[i], &num) < 0)
			goto err_value;
		cfg->timeout_ms = (int)num;
		return 0;
	default: /* TMOD_TOKEN */
		/* One utmemd could never hold for a tenant fails here. */
		if (uadm_token_check(val, vlen, &fault) < 0 ||
		    tmod_copy(cfg->token, sizeof(cfg->token), val, vlen) < 0)
			goto err_value;
		return 0;
	}

/* Values are echoed only where they cannot be a secret: a misspelt
 * "tokn=..." or a bare token argument must not reach Redis's log. Nor may
 * what stands before a token's own '=' (base64 padding) when the token is
 * given alone: only a name that looks like one is shown. */
err_form:
	if (eq != NULL && tmod_name_like(arg, nlen))
		snprintf(why->msg, sizeof(why->msg),
			 "unknown argument '%.*s=...'", (int)nlen, arg);
	else if (eq != NULL)
		snprintf(why->msg, sizeof(why->msg),
			 "argument %d has an unknown name (not shown)", pos);
	else
		snprintf(why->msg, sizeof(why->msg),
			 "argument %d is not NAME=VALUE (not shown)", pos);
	return -EINVAL;
err_value:
	/* At most 64 bytes of it, control characters as '?': a newline in an
	 * argument must not forge a line of Redis's log. */
	nshown = i == TMOD_TOKEN ? 0 : vlen > 64 ? 64 : vlen;
	for (size_t k = 0; k < nshown; k++)
		shown[k] = (unsigned char)val[k] < 0x20 || val[k] == 0x7f ? '?' : val[k];
	shown[nshown] = '\0';
	if (i == TMOD_TOKEN)
		snprintf(why->msg, sizeof(why->msg),
			 "bad value for token (%zu bytes, not shown): %s (utmemd's "
			 "rule for a tenant's token)", vlen,
			 fault != NULL ? fault : "unusable");
	else if (i < sizeof(num_hi) / sizeof(num_hi[0]) && num_hi[i] != 0)
		snprintf(why->msg, sizeof(why->msg),
			 "bad value for %s: '%s' (expected digits only, %lu..%lu)",
			 names[i], shown, num_lo[i], num_hi[i]);
	else
		snprintf(why->msg, sizeof(why->msg), "bad value for %s: '%s'",
			 names[i], shown);
	return -EINVAL;
}

/*
 * Build cfg from the module arguments. Returns 0, or -EINVAL with why set
 * (unknown or repeated argument, bad value, addr or pool missing).
 */
static int tmod_parse(struct tconn_cfg *cfg, RedisModuleString **argv,
		      int argc, struct tmod_why *why)
{
	unsigned seen = 0;

	memset(cfg, 0, sizeof(*cfg));
	cfg->pool_flags = UTMEM_POOL_PERSISTENT;
	cfg->timeout_ms = TCONN_DEFAULT_TIMEOUT_MS;
	for (int i = 0; i < argc; i++) {
		size_t len;
		const char *arg = rm.StringPtrLen(argv[i], &len);
		int err = tmod_apply(cfg, &seen, i + 1, arg, len, why);

		if (err < 0)
			return err;
	}
	if (cfg->addr[0] == '\0' || cfg->pool[0] == '\0') {
		snprintf(why->msg, sizeof(why->msg), "%s",
			 cfg->addr[0] == '\0' ? "addr= is required"
					      : "pool= is required");
		return -EINVAL;
	}
	/* Checked here, on Redis's thread: the dial thread's answer may come
	 * after tconn_ready() stops waiting for it (timeout_ms=1 on a busy
	 * host), and the module would load with an address no dial reaches. */
	if (utmem_addr_check(cfg->addr) < 0) {
		snprintf(why->msg, sizeof(why->msg), "bad value for addr: '%.64s' %s",
			 cfg->addr, TMOD_ADDR_FORMS);
		return -EINVAL;
	}
	/* utmemd knows a TCP client only by its token: without one every
	 * command would be refused (NOPERM), so refuse to load instead. */
	if (strncmp(cfg->addr, "tcp:", 4) == 0 && cfg->token[0] == '\0') {
		snprintf(why->msg, sizeof(why->msg),
			 "addr=%.64s needs token= (utmemd knows a TCP client by its tenant's token)",
			 cfg->addr);
		return -EINVAL;
	}
	return 0;
}

/* Before Redis's event loop sleeps: wake utmemd for the PUTs just posted. */
static void tmod_before_sleep(RedisModuleCtx *ctx, struct rm_event eid,
			      uint64_t subevent, void *data)
{
	(void)ctx;
	(void)eid;
	(void)data;
	if (subevent == RM_SUBEVENT_EVENTLOOP_BEFORE_SLEEP) {
		tconn_flush(&tconn_state);
		tconn_poll(&tconn_state); /* a dial that came in */
		tblock_tick(); /* blocked POP/DEL past timeout_ms */
	}
}

/*
 * Will tmod_hook_event_loop() find the hook? Redis >= 7.0 has it, and
 * EventLoopAdd with it: the first dial asks for lazy kicks on that guess,
 * so that the connection made at load is not made twice.
 */
static int tmod_expect_hook(void)
{
	return rm.SubscribeToServerEvent != NULL && rm.EventLoopAdd != NULL;
}

/*
 * Batch the wake-ups of posted PUTs into one per event-loop turn where
 * Redis (>= 7.0) offers the hook; elsewhere each PUT wakes utmemd itself.
 * Called last in OnLoad: a hook cannot be removed again if the load failed.
 */
static void tmod_hook_event_loop(RedisModuleCtx *ctx, struct tconn *t)
{
	struct rm_event ev = { RM_EVENT_EVENTLOOP, 1 };

	if (rm.SubscribeToServerEvent == NULL ||
	    rm.SubscribeToServerEvent(ctx, ev, tmod_before_sleep) != RM_OK) {
		rm_log(ctx, "verbose", "utmem: no event-loop hook in this Redis: "
		       "each posted PUT wakes utmemd itself, and POP/DEL wait "
		       "for utmemd on Redis's thread");
		tconn_set_lazy_kick(t, 0);
		return;
	}
	tconn_set_lazy_kick(t, 1);
	tblock_enable();
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
{
	struct tconn *t = &tconn_state;
	struct tmod_why why = { { 0 } };
	struct tconn_cfg cfg;
	int err;

	err = rm_api_bind(ctx, TMOD_NAME, TMOD_VERSION);
	if (err == -EEXIST)
		rm_log(ctx, "warning", "utmem: a module named %s is already loaded",
		       TMOD_NAME);
	if (err < 0)
		return RM_ERR;
	err = tmod_parse(&cfg, argv, argc, &why);
	if (err < 0) {
		rm_log(ctx, "warning", "utmem: not loaded: %s; %s", why.msg,
		       TMOD_USAGE);
		return RM_ERR;
	}
	rm_api_keep_log_ctx(ctx);
	memset(t, 0, sizeof(*t));
	t->cfg = cfg;
	t->lazy_kick = tmod_expect_hook();
	(void)tconn_start(t); /* else dials wait on Redis's thread (logged) */
	err = tconn_ready(t, "load");
	if (err == -EINVAL) {
		/* libutmem could not parse the address (or TCP lacks token=):
		 * no later attempt can succeed, so say so now. */
		rm_log(ctx, "warning", "utmem: not loaded: bad value for addr: '%s' %s",
		       cfg.addr, TMOD_ADDR_FORMS);
		goto err_ready;
	}
	if (err == -EINPROGRESS)
		rm_log(ctx, "warning",
		       "utmem: utmemd at %s not usable yet (no answer within "
		       "%d ms; connecting goes on in the background); loading "
		       "anyway, TMEM commands answer UNAVAILABLE until it is "
		       "linked", cfg.addr, TCONN_DIAL_WAIT_MS < cfg.timeout_ms ?
		       TCONN_DIAL_WAIT_MS : cfg.timeout_ms);
	else if (err < 0)
		rm_log(ctx, "warning",
		       "utmem: utmemd at %s not usable yet (%s); loading anyway, "
		       "each TMEM command tries again",
		       cfg.addr, t->last_err);
	if (tcmd_register(ctx) < 0)
		goto err_ready;
	tcmd_register_info(ctx);
	tmod_hook_event_loop(ctx, t);
	rm_log(ctx, "notice",
	       "utmem %s loaded: addr=%s pool=%s kind=%s timeout_ms=%d",
	       UTMEM_VERSION_STRING, cfg.addr, cfg.pool, tconn_kind_name(&cfg),
	       cfg.timeout_ms);
	return RM_OK;

err_ready:
	tconn_shutdown(t);
	tblock_fini();
	rm_api_release();
	return RM_ERR;
}

int RedisModule_OnUnload(RedisModuleCtx *ctx)
{
	tconn_shutdown(&tconn_state);
	tblock_fini();
	rm_log(ctx, "notice", "utmem: unloaded");
	rm_api_release();
	return RM_OK;
}

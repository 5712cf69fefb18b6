/*
 * options.c — command-line parsing and validation for utmem-bench.
 *
 * Every option is checked for syntax and range here; combinations that make
 * no sense (a native token for Redis, no address for a network target) are
 * refused with a message naming the option, so a benchmark script fails at
 * once instead of measuring the wrong thing.
 */
#include "options.h"
#include "proto/name.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	OPT_TARGET = 256, OPT_ADDR, OPT_TOKEN, OPT_OP, OPT_GET_RATIO,
	OPT_VALUE_SIZE, OPT_KEYS, OPT_KEY_OFFSET, OPT_CONNECTIONS, OPT_PIPELINE, OPT_DURATION,
	OPT_REQUESTS, OPT_WARMUP, OPT_MAX_TIME, OPT_TIMEOUT, OPT_POOL,
	OPT_EPHEMERAL, OPT_PUT_CMD, OPT_GET_CMD, OPT_VERIFY, OPT_NO_PRELOAD,
	OPT_PRELOAD, OPT_JSON, OPT_LABEL, OPT_SEED, OPT_HELP, OPT_VERSION, OPT_BREAKDOWN,
};

static const struct option ub_long_opts[] = {
	{ "target", required_argument, NULL, OPT_TARGET },
	{ "addr", required_argument, NULL, OPT_ADDR },
	{ "token", required_argument, NULL, OPT_TOKEN },
	{ "op", required_argument, NULL, OPT_OP },
	{ "get-ratio", required_argument, NULL, OPT_GET_RATIO },
	{ "value-size", required_argument, NULL, OPT_VALUE_SIZE },
	{ "keys", required_argument, NULL, OPT_KEYS },
	{ "key-offset", required_argument, NULL, OPT_KEY_OFFSET },
	{ "connections", required_argument, NULL, OPT_CONNECTIONS },
	{ "pipeline", required_argument, NULL, OPT_PIPELINE },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "requests", required_argument, NULL, OPT_REQUESTS },
	{ "warmup", required_argument, NULL, OPT_WARMUP },
	{ "max-time", required_argument, NULL, OPT_MAX_TIME },
	{ "timeout-ms", required_argument, NULL, OPT_TIMEOUT },
	{ "pool", required_argument, NULL, OPT_POOL },
	{ "ephemeral", no_argument, NULL, OPT_EPHEMERAL },
	{ "put-cmd", required_argument, NULL, OPT_PUT_CMD },
	{ "get-cmd", required_argument, NULL, OPT_GET_CMD },
	{ "verify", no_argument, NULL, OPT_VERIFY },
	{ "no-preload", no_argument, NULL, OPT_NO_PRELOAD },
	{ "preload", no_argument, NULL, OPT_PRELOAD },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "breakdown", no_argument, NULL, OPT_BREAKDOWN },
	{ "label", required_argument, NULL, OPT_LABEL },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

/* The --help text. */
static void ub_usage(FILE *f)
{
	fputs(
"usage: utmem-bench [options]\n"
"Load generator for utmemd (native protocol), redis-server (RESP) and memcpy.\n"
"\n"
"Target:\n"
"  --target utmem|redis|memcpy  what to drive (default utmem)\n"
"  --addr ADDR          unix:PATH, tcp:HOST:PORT, or a PATH with a '/'\n"
"  --token TOKEN        utmem over TCP: the tenant's token\n"
"  --pool NAME          utmem pool, created if missing (default " UB_DEFAULT_POOL ")\n"
"  --ephemeral          utmem: open the pool as ephemeral\n"
"  --put-cmd CMD        redis: command for PUT (default SET)\n"
"  --get-cmd CMD        redis: command for GET (default GET)\n"
"  --timeout-ms MS      per-request timeout (default 10000)\n"
"\n"
"Workload:\n"
"  --op put|get|mix     operation (default put); get and mix preload every key\n"
"  --get-ratio R        mix: share of GETs, 0..1 (default 0.9)\n"
"  --value-size SIZE    bytes, suffix K/M/G binary: 64, 1K, 128K, 1M (default 1K)\n"
"  --keys N             keyspace size, keys key:%08u (default 10000)\n"
"  --key-offset K       the keys are K..K+N-1 (default 0): clients run side by\n"
"                       side with different sizes keep to their own keys\n"
"  --connections C      connections, one thread each (default 1, max 256)\n"
"  --pipeline P         requests in flight per connection (default 1)\n"
"  --duration S         timed phase in seconds (default 5)\n"
"  --requests N         timed phase of N requests in total instead\n"
"  --warmup S           untimed phase before it (default 1)\n"
"  --max-time S         abort the whole run after S seconds (default: generous)\n"
"  --no-preload         do not write the keys before get/mix\n"
"  --preload            put: write every key first too, so the timed phase\n"
"                       overwrites values already stored (steady state, as\n"
"                       memcpy's arena is faulted in before it is timed)\n"
"  --verify             check GET values' content, not only their length\n"
"  --seed N             random seed (default 1)\n"
"\n"
"Latency breakdown (the thesis's Table 3.2; utmemd needs bench_modes = on):\n"
"  --breakdown          time 1K and 1M PUT and GET, one request at a time on\n"
"                       one key, in each mode (fast, served, socket,\n"
"                       null-store, no-forward); print p50/p99 of the time in\n"
"                       the library, transport, daemon and store; --requests\n"
"                       N per cell (default 1000)\n"
"\n"
"Output:\n"
"  --json               one JSON line (--breakdown: one per cell) instead of\n"
"                       the human-readable block\n"
"  --label TEXT         tag the result\n"
"\n"
"Latency is measured per round trip: one pipeline of P requests.\n"
"Exit status: 0 run done, 1 connection or run failure, 2 bad arguments.\n",
	      f);
}

const char *ub_target_name(enum ub_target_kind t)
{
	switch (t) {
	case UB_TARGET_UTMEM: return "utmem";
	case UB_TARGET_REDIS: return "redis";
	case UB_TARGET_MEMCPY: return "memcpy";
	}
	return "?";
}

const char *ub_op_name(enum ub_op_kind op)
{
	switch (op) {
	case UB_OP_PUT: return "put";
	case UB_OP_GET: return "get";
	case UB_OP_MIX: return "mix";
	}
	return "?";
}

int ub_parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: break;
	}
	if (shift && (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0 ||
		      strcmp(end, "b") == 0))
		end += strlen(end);
	else if (!shift && (strcmp(end, "B") == 0 || strcmp(end, "b") == 0))
		end++;
	if (*end != '\0')
		return -EINVAL;
	if (v > (SIZE_MAX >> shift))
		return -ERANGE;
	*out = (size_t)v << shift;
	return 0;
}

/* Parse an unsigned integer in [lo, hi]. Returns 0 or -EINVAL. */
static int ub_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end != '\0' || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Parse a finite number in [lo, hi]. Returns 0 or -EINVAL. */
static int ub_parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end != '\0' || !isfinite(v) || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Defaults: a 5 s PUT run of 1 KiB values on one connection. */
static void ub_defaults(struct ub_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->target = UB_TARGET_UTMEM;
	o->op = UB_OP_PUT;
	o->get_ratio = 0.9;
	o->value_size = 1024;
	o->keys = 10000;
	o->connections = 1;
	o->pipeline = 1;
	o->duration_s = 5.0;
	o->warmup_s = 1.0;
	o->timeout_ms = 10000;
	o->pool = UB_DEFAULT_POOL;
	o->put_cmd = "SET";
	o->get_cmd = "GET";
	o->preload = 1;
	o->label = "";
	o->seed = 1;
}

/* Report a bad option value; returns -EINVAL for the caller to pass on. */
static int ub_bad(const char *opt, const char *val, const char *why)
{
	fprintf(stderr, "utmem-bench: invalid --%s '%s': %s\n"
		"Try 'utmem-bench --help'.\n", opt, val ? val : "", why);
	return -EINVAL;
}

/* --target and --op. Returns 0 or -EINVAL (message printed). */
static int ub_parse_enum_opt(int id, const char *arg, struct ub_opts *o)
{
	if (id == OPT_TARGET) {
		if (strcmp(arg, "utmem") == 0)
			o->target = UB_TARGET_UTMEM;
		else if (strcmp(arg, "redis") == 0)
			o->target = UB_TARGET_REDIS;
		else if (strcmp(arg, "memcpy") == 0)
			o->target = UB_TARGET_MEMCPY;
		else
			return ub_bad("target", arg, "expected utmem, redis or memcpy");
		return 0;
	}
	if (strcmp(arg, "put") == 0)
		o->op = UB_OP_PUT;
	else if (strcmp(arg, "get") == 0)
		o->op = UB_OP_GET;
	else if (strcmp(arg, "mix") == 0)
		o->op = UB_OP_MIX;
	else
		return ub_bad("op", arg, "expected put, get or mix");
	return 0;
}

/* Options that take a number. Returns 0 or -EINVAL (message printed). */
static int ub_parse_number_opt(int id, const char *arg, struct ub_opts *o)
{
	uint64_t u;

	switch (id) {
	case OPT_GET_RATIO:
		if (ub_parse_double(arg, 0.0, 1.0, &o->get_ratio))
			return ub_bad("get-ratio", arg, "expected a number in 0..1");
		return 0;
	case OPT_VALUE_SIZE:
		if (ub_parse_size(arg, &o->value_size) || o->value_size > UB_MAX_VALUE)
			return ub_bad("value-size", arg, "expected a size up to 1G, e.g. 64, 1K, 1M");
		return 0;
	case OPT_KEYS:
		if (ub_parse_u64(arg, 1, UB_MAX_KEYS, &u))
			return ub_bad("keys", arg, "expected 1..100000000");
		o->keys = (uint32_t)u;
		return 0;
	case OPT_KEY_OFFSET:
		if (ub_parse_u64(arg, 0, UB_MAX_KEYS - 1, &u))
			return ub_bad("key-offset", arg, "expected 0..99999999");
		o->key_offset = (uint32_t)u;
		return 0;
	case OPT_CONNECTIONS:
		if (ub_parse_u64(arg, 1, UB_MAX_CONNECTIONS, &u))
			return ub_bad("connections", arg, "expected 1..256");
		o->connections = (unsigned)u;
		return 0;
	case OPT_PIPELINE:
		if (ub_parse_u64(arg, 1, UB_MAX_PIPELINE, &u))
			return ub_bad("pipeline", arg, "expected 1..4096");
		o->pipeline = (unsigned)u;
		return 0;
	case OPT_DURATION:
		if (ub_parse_double(arg, 0.01, UB_MAX_DURATION_S, &o->duration_s))
			return ub_bad("duration", arg, "expected seconds in 0.01..3600");
		return 0;
	case OPT_REQUESTS:
		if (ub_parse_u64(arg, 1, UINT64_C(1) << 40, &o->requests))
			return ub_bad("requests", arg, "expected a positive count");
		return 0;
	case OPT_WARMUP:
		if (ub_parse_double(arg, 0.0, UB_MAX_WARMUP_S, &o->warmup_s))
			return ub_bad("warmup", arg, "expected seconds in 0..600");
		return 0;
	case OPT_MAX_TIME:
		if (ub_parse_double(arg, 0.1, 86400.0, &o->max_time_s))
			return ub_bad("max-time", arg, "expected seconds in 0.1..86400");
		return 0;
	case OPT_TIMEOUT:
		if (ub_parse_u64(arg, 1, 3600000, &u))
			return ub_bad("timeout-ms", arg, "expected 1..3600000");
		o->timeout_ms = (int)u;
		return 0;
	case OPT_SEED:
		if (ub_parse_u64(arg, 0, UINT64_MAX, &o->seed))
			return ub_bad("seed", arg, "expected an unsigned integer");
		return 0;
	}
	return -EINVAL;
}

/* Options that take a string or nothing. Returns 0 or -EINVAL. */
static int ub_parse_string_opt(int id, const char *arg, struct ub_opts *o)
{
	switch (id) {
	case OPT_ADDR: o->addr = arg; return 0;
	case OPT_TOKEN: o->token = arg; return 0;
	case OPT_POOL:
		if (!uname_ok(arg))
			return ub_bad("pool", arg, "expected " UNAME_RULE);
		o->pool = arg;
		return 0;
	case OPT_EPHEMERAL: o->ephemeral = 1; return 0;
	case OPT_PUT_CMD:
	case OPT_GET_CMD:
		if (!*arg || strlen(arg) > 64 || strpbrk(arg, " \t\r\n"))
			return ub_bad(id == OPT_PUT_CMD ? "put-cmd" : "get-cmd",
				      arg, "expected one command word");
		if (id == OPT_PUT_CMD)
			o->put_cmd = arg;
		else
			o->get_cmd = arg;
		return 0;
	case OPT_VERIFY: o->verify = 1; return 0;
	case OPT_NO_PRELOAD: o->preload = 0; return 0;
	case OPT_PRELOAD: o->preload = 2; return 0;
	case OPT_JSON: o->json = 1; return 0;
	case OPT_BREAKDOWN: o->breakdown = 1; return 0;
	case OPT_LABEL:
		if (strlen(arg) > 200)
			return ub_bad("label", arg, "longer than 200 characters");
		o->label = arg;
		return 0;
	}
	return ub_parse_number_opt(id, arg, o);
}

/* Cross-option checks. Returns 0 or -EINVAL (message printed). */
static int ub_check(struct ub_opts *o)
{
	double budget;

	if (o->target != UB_TARGET_MEMCPY && !o->addr) {
		fprintf(stderr, "utmem-bench: --addr is required for --target %s\n"
			"Try 'utmem-bench --help'.\n", ub_target_name(o->target));
		return -EINVAL;
	}
	if (o->target == UB_TARGET_MEMCPY && o->addr)
		return ub_bad("addr", o->addr, "memcpy has no address");
	if (o->token && o->target != UB_TARGET_UTMEM)
		return ub_bad("token", "(hidden)", "only for --target utmem");
	if (o->breakdown && o->target != UB_TARGET_UTMEM)
		return ub_bad("breakdown", "", "only for --target utmem");
	if (o->breakdown && o->requests > UB_MAX_BREAKDOWN_REQUESTS)
		return ub_bad("requests", "", "--breakdown takes at most 10000000 per cell");
	if ((uint64_t)o->key_offset + o->keys > UB_MAX_KEYS) {
		fprintf(stderr, "utmem-bench: --key-offset %" PRIu32 " + --keys %" PRIu32
			" goes past key 99999999\nTry 'utmem-bench --help'.\n",
			o->key_offset, o->keys);
		return -EINVAL;
	}
	if (o->requests && o->requests < o->connections) {
		fprintf(stderr, "utmem-bench: --requests %" PRIu64 " is fewer than "
			"--connections %u\nTry 'utmem-bench --help'.\n",
			o->requests, o->connections);
		return -EINVAL;
	}
	if ((double)o->pipeline * (double)o->value_size > (double)((size_t)4 << 30)) {
		fprintf(stderr, "utmem-bench: --pipeline %u x --value-size %zu is "
			"above 4G of buffers\nTry 'utmem-bench --help'.\n",
			o->pipeline, o->value_size);
		return -EINVAL;
	}
	if (o->max_time_s == 0.0) {
		/* Generous but finite: phases, plus time for preload. */
		budget = o->warmup_s + (o->requests ? 600.0 : o->duration_s) + 300.0;
		o->max_time_s = budget;
	}
	return 0;
}

int ub_opts_parse(int argc, char **argv, struct ub_opts *o)
{
	int c, err;

	ub_defaults(o);
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", ub_long_opts, NULL)) != -1) {
		if (c == 'h' || c == OPT_HELP) {
			ub_usage(stdout);
			return 1;
		}
		if (c == OPT_VERSION) {
			puts("utmem-bench " UB_VERSION);
			return 1;
		}
		if (c == '?' || c == ':') {
			fprintf(stderr, "utmem-bench: unknown option or missing argument: '%s'\n"
				"Try 'utmem-bench --help'.\n", argv[optind - 1]);
			return -EINVAL;
		}
		if (c == OPT_TARGET || c == OPT_OP)
			err = ub_parse_enum_opt(c, optarg, o);
		else
			err = ub_parse_string_opt(c, optarg, o);
		if (err)
			return err;
	}
	if (optind < argc) {
		fprintf(stderr, "utmem-bench: unexpected argument '%s'\n"
			"Try 'utmem-bench --help'.\n", argv[optind]);
		return -EINVAL;
	}
	return ub_check(o);
}

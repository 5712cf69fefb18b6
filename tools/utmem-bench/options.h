/*
 * options.h — the command line of utmem-bench, parsed into one struct.
 *
 * Parsing is separate from running so that every bad argument is reported
 * (exit status 2, one clear message) before any connection is made, and so
 * that the limits that keep a run bounded live in one place.
 */
#ifndef UB_OPTIONS_H
#define UB_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

enum ub_target_kind { UB_TARGET_UTMEM, UB_TARGET_REDIS, UB_TARGET_MEMCPY };
enum ub_op_kind { UB_OP_PUT, UB_OP_GET, UB_OP_MIX };

/* Bounds: a run can neither ask for absurd memory nor run unbounded. */
#define UB_MAX_CONNECTIONS 256u
#define UB_MAX_PIPELINE 4096u
#define UB_MAX_KEYS 100000000u
#define UB_MAX_VALUE ((size_t)1 << 30)
#define UB_MAX_DURATION_S 3600.0
#define UB_MAX_WARMUP_S 600.0
#define UB_DEFAULT_POOL "bench"
#define UB_MAX_BREAKDOWN_REQUESTS 10000000u /* samples per cell */

struct ub_opts {
	enum ub_target_kind target;
	const char *addr;    /* unix:PATH, tcp:HOST:PORT, or PATH */
	const char *token;   /* native TCP token */
	enum ub_op_kind op;
	double get_ratio;    /* mix: share of GETs */
	size_t value_size;
	uint32_t keys;       /* keyspace: key:%08u for key_offset.. */
	uint32_t key_offset; /* ..key_offset+keys-1 (< 10^8) */
	unsigned connections;
	unsigned pipeline;   /* ops per round trip */
	double duration_s;   /* timed phase, when requests == 0 */
	uint64_t requests;   /* total timed ops; 0 = use duration */
	double warmup_s;
	double max_time_s;   /* hard cap on the whole run, preload included */
	int timeout_ms;      /* per request */
	const char *pool;
	int ephemeral;
	const char *put_cmd; /* redis */
	const char *get_cmd;
	int verify;
	int preload;         /* 1: write every key before GET/mix runs; 2: PUT too */
	int json;
	int breakdown;       /* --breakdown: the latency breakdown (breakdown.c) */
	const char *label;
	uint64_t seed;
};

/*
 * Parse argv into *o (defaults first). Returns 0 to run, 1 when --help or
 * --version was handled (printed to stdout), or -EINVAL after printing a
 * message to stderr: the caller exits 2.
 */
int ub_opts_parse(int argc, char **argv, struct ub_opts *o);

/*
 * Parse a size: digits with an optional binary suffix K, M or G (also KB,
 * KiB, ...). Returns 0 and sets *out, or -EINVAL / -ERANGE.
 */
int ub_parse_size(const char *s, size_t *out);

/* Names for reports. */
const char *ub_target_name(enum ub_target_kind t);
const char *ub_op_name(enum ub_op_kind op);

#endif /* UB_OPTIONS_H */

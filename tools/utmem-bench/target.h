/*
 * target.h — what utmem-bench drives: one connection's view of a target.
 *
 * A target (native utmemd, redis-server, or plain memcpy) implements three
 * calls on a ub_conn, which one worker thread owns: open it, run one round
 * of n requests as a single round trip (a pipeline), and close it. The
 * worker times each round; the target only performs it and tallies what
 * came back, so every target is measured by the same loop.
 */
#ifndef UB_TARGET_H
#define UB_TARGET_H

#include <stddef.h>
#include <stdint.h>

#include "options.h"

/* "key:%08u": every key in the keyspace (< 10^8) has this length. */
#define UB_KEY_LEN 12u
#define UB_KEY_SLOT 16u
/* Values of different keys start at different offsets of one pattern. */
#define UB_PATTERN_SPREAD 251u

/* One request of a round. */
struct ub_op {
	uint32_t key;
	uint8_t get; /* 1 GET, 0 PUT */
};

/* What a round produced. */
struct ub_tally {
	uint64_t ok;    /* PUT stored, GET hit with the right value */
	uint64_t miss;  /* GET found nothing */
	uint64_t err;   /* refused, wrong length or content, error reply */
	uint64_t bytes; /* value bytes moved by ok operations */
};

struct ub_conn {
	const struct ub_opts *o;
	unsigned id;                  /* worker index */
	void *priv;                   /* the target's state */
	char *keys;                   /* pipeline slots of UB_KEY_SLOT bytes */
	unsigned char *bufs;          /* GET buffers */
	unsigned nbufs;               /* pipeline, or 1 when shared (big values) */
	size_t buf_stride;
	const unsigned char *pattern; /* value_size + UB_PATTERN_SPREAD bytes */
	char errmsg[256];             /* first error seen, for the report */
};

struct ub_target_ops {
	const char *name;
	/* Connect and prepare. Returns 0 or -errno with c->errmsg set. */
	int (*open)(struct ub_conn *c);
	/*
	 * Run ops[0..n) as one round trip and add the outcome to *t. Returns
	 * 0, or -errno when the connection itself failed (c->errmsg set): the
	 * worker then stops, since later results would mean nothing.
	 */
	int (*round)(struct ub_conn *c, const struct ub_op *ops, unsigned n,
		     struct ub_tally *t);
	/* Release everything open() acquired; safe after a failed open(). */
	void (*close)(struct ub_conn *c);
	/*
	 * Optional: make what this connection stored visible to the others
	 * (utmem: its posted PUTs applied). Returns 0 or -errno (c->errmsg
	 * set). Called after the preload, before the measured rounds.
	 */
	int (*settle)(struct ub_conn *c);
};

extern const struct ub_target_ops ub_target_redis;
extern const struct ub_target_ops ub_target_memcpy;
#if UB_HAVE_UTMEM
extern const struct ub_target_ops ub_target_utmem;
#endif

/* Write key k into pipeline slot i; returns the key (UB_KEY_LEN bytes). */
const char *ub_key(struct ub_conn *c, unsigned slot, uint32_t k);

/* The value PUT under key k: value_size bytes, never written to. */
static inline const unsigned char *ub_value(const struct ub_conn *c,
					    uint32_t k)
{
	return c->pattern + (k % UB_PATTERN_SPREAD);
}

/* The GET buffer of pipeline slot i (value_size bytes of room). */
static inline unsigned char *ub_buf(const struct ub_conn *c, unsigned slot)
{
	return c->bufs + (size_t)(slot % c->nbufs) * c->buf_stride;
}

/*
 * Judge one GET that returned len bytes into buf for key k: checks the
 * length and, with --verify, the content, and tallies ok or err. Never fails.
 */
void ub_judge_get(struct ub_conn *c, uint32_t k, const void *buf, size_t len,
		  struct ub_tally *t);

/* Record a formatted error as c->errmsg if none was recorded yet. */
void ub_conn_error(struct ub_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Record the error that ended the connection, replacing any earlier one. */
void ub_conn_fail(struct ub_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif /* UB_TARGET_H */

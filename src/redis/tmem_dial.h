/*
 * tmem_dial.h — connecting to utmemd, and closing a connection, off
 * Redis's thread.
 *
 * Both may wait up to timeout_ms on a stopped or overloaded utmemd:
 * libutmem's connect for room in a full accept queue and then for each
 * answer of the handshake (HELLO, the ring, the pool), its close for the
 * PUTs posted on the connection to be applied. One thread of the module's
 * own does them, so Redis's thread waits for neither (docs/redis.md,
 * "When utmemd is down"); tmem_conn.c asks for a dial, waits a short
 * while for it, and otherwise answers UNAVAILABLE until it is done.
 *
 * Work is done in order, closes first: a dial asked after a close starts
 * once that close is over, so the new connection sees the PUTs posted on
 * the old one, as when both ran on Redis's thread. Where the thread cannot
 * be started, each request runs at once on the caller's thread.
 */
#ifndef UTMEM_REDIS_TMEM_DIAL_H
#define UTMEM_REDIS_TMEM_DIAL_H

#include <stdint.h>

#include "tmem_conn.h"

/* What one dial got: a client with the pool open, or the step's error. */
struct tdial_result {
	utmem_client *c;     /* NULL on failure */
	utmem_batch *batch;  /* reusable batch on c */
	uint32_t pool;       /* handle of the pool on c */
	int err;             /* 0, or -errno of the step that failed */
	int in_connect;      /* that step was utmem_connect (else the pool) */
	unsigned flags;      /* UTMEM_OPT_* it was dialed with */
	char server[1024];   /* utmemd's SERVER_INFO, or "" */
};

/* Start the thread. Returns 0 or -errno (requests then run inline). */
int tdial_start(void);

/*
 * Stop the thread: the closes queued are done, a dial under way is waited
 * for (up to its timeouts) and closed. Safe when never started.
 */
void tdial_stop(void);

/*
 * Ask for a dial to cfg with flags, unless one was asked and not taken
 * yet. Never waits (inline: runs it). Returns 1 if asked now, else 0.
 */
int tdial_request(const struct tconn_cfg *cfg, unsigned flags);

/*
 * Take the result of the dial asked, waiting up to wait_ms (0: not at
 * all) for it. Returns 1 with *res filled (its client is the caller's),
 * or 0 while it is still under way or none was asked.
 */
int tdial_take(struct tdial_result *res, int wait_ms);

/* Close c (which may be NULL) off Redis's thread; never waits. */
void tdial_close(utmem_client *c);

#endif /* UTMEM_REDIS_TMEM_DIAL_H */

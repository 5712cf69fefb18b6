/*
 * rawring.h — a ring client that does not cooperate, the one the tests
 * share: the hostile suite's ring attacks (hostile/ringhold.c, ringpost.c,
 * ringunread.c, ringhalf.c, ringidle.c) and e2e_ring's hostile, scribble,
 * tenant-scribble and pin cases (daemon/e2e_ring.c). It asks for a
 * shared-memory ring on a raw tenant connection, maps it itself
 * (src/transport/ring.h) and then writes whatever frames and indices the
 * test wants, where libutmem would follow the rules; it also hands over
 * the tenant's value region for the test to map. Frames are the wire's
 * (src/proto/wire.h). It stalls too (t_ringidle.sh): replies left in the
 * ring untaken, frames half-sent, rings left idle.
 */
#ifndef UTMEM_TEST_RAWRING_H
#define UTMEM_TEST_RAWRING_H

#include <stddef.h>
#include <stdint.h>

#include "proto/wire.h"
#include "transport/ring.h"

struct rawring {
	int fd;                /* the tenant socket */
	struct uring_map m;    /* the ring, mapped by us */
	struct uring_end tx;   /* requests: we produce (ring 0) */
	struct uring_end rx;   /* replies: we consume (ring 1) */
	int bell;              /* wakes utmemd (an eventfd) */
	int pipe;              /* wakes us (read end of a pipe) */
	int region_fd;         /* the tenant's value region, or -1 */
	uint64_t region_size;
	uint64_t sent;         /* frames sent through the ring (applied counts these) */
};

/*
 * Connect to the tenant socket (PATH or unix:PATH), say HELLO and ask for a ring. Returns 0
 * with *r set up; a wire status > 0 (QUOTA: the connection was refused at
 * accept; NOMEM: the ring was refused, r->fd is then a plain connection
 * the caller may go on using, or must close); -1 if the exchange failed.
 */
int rawring_open(const char *sock, struct rawring *r);
/* Unmap and close everything of r (the socket too). */
void rawring_close(struct rawring *r);

/* Ring utmemd's doorbell (it may be asleep); a failure is said on stderr. */
void rawring_kick(struct rawring *r);
/*
 * Write n bytes into the request ring, as room allows, publishing the
 * tail and ringing as it goes; waits up to ms for room. 0, or -1 (no room
 * in time, or utmemd's head is impossible).
 */
int rawring_write(struct rawring *r, const void *p, size_t n, int ms);
/*
 * Against the rules: copy n bytes to the request ring at index at, publish
 * tail as the request ring's tail, whatever utmemd's head says, and ring.
 */
void rawring_poke(struct rawring *r, uint64_t at, const void *p, size_t n,
		  uint64_t tail);
/* Encode and write one frame (value may be NULL with vlen 0). */
int rawring_frame(struct rawring *r, unsigned op, unsigned flags, uint64_t id,
		  uint32_t pool, const void *key, uint32_t klen,
		  const void *val, uint32_t vlen);
/*
 * Write a frame's header announcing vlen value bytes, its key and only the
 * first part bytes of val (part <= vlen), waiting up to ms for room: a
 * frame left half-sent. 0 or -1.
 */
int rawring_part(struct rawring *r, unsigned op, unsigned flags, uint64_t id,
		 uint32_t pool, const void *key, uint32_t klen,
		 const void *val, uint32_t vlen, uint32_t part, int ms);
/*
 * Read the next reply header from the reply ring within ms (replies here
 * carry no value). Returns its status, or -1 (nothing in time, or an
 * impossible tail).
 */
int rawring_reply(struct rawring *r, struct uwire_hdr *h, int ms);
/*
 * The header of the reply starting off bytes past our reply head, without
 * taking anything (the head stays where it is). 0, or -1 if utmemd has not
 * written it all, or it is not a header.
 */
int rawring_peek(struct rawring *r, uint64_t off, struct uwire_hdr *h);
/* Reply bytes utmemd has written that we have not taken (-1: impossible). */
int64_t rawring_pending(struct rawring *r);
/* Request bytes utmemd has taken from the request ring so far. */
uint64_t rawring_taken(struct rawring *r);
/* Wait up to ms until utmemd has served n frames (shm->applied). 0 or -1. */
int rawring_applied(struct rawring *r, uint64_t n, int ms);
/* What utmemd has granted so far (shm->credit), and staging slot i. */
uint64_t rawring_credit(struct rawring *r);
void rawring_slot(struct rawring *r, unsigned i, uint64_t *off, uint64_t *len,
		  uint32_t *gen);
/* Has utmemd closed r (its socket hung up) within ms? Takes what it sent. */
int rawring_closed(struct rawring *r, int ms);
/*
 * Watch the n rings of r until utmemd has closed each or ms have passed:
 * ms_to_close[i] is how long after since_us[i] (CLOCK_MONOTONIC, in
 * microseconds) ring i was seen closed (within 10 ms), or -1 if it was
 * not. Rings without a socket are skipped (-1). Returns how many were
 * closed.
 */
int rawring_wait_closed(struct rawring *r, int n, const uint64_t *since_us,
			int64_t *ms_to_close, int ms);

#endif

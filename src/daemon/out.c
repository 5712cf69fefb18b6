/*
 * out.c — a connection's pending replies: the output-segment allocator and
 * the reply helpers the dispatchers call.
 *
 * Replies are queued in a FIFO of segments. Small replies share a 16 KiB
 * segment; a large one gets a segment of its own, sized (to a page) to it,
 * so a written byte is never copied again to make room. A drained small
 * segment stays with its connection (the tail, or ospare) for the next
 * replies; drained large ones go to a per-loop cache, bounded to twice the
 * larger of 1 MiB and the largest segment seen since the worker was last
 * idle, and never more than SEG_CACHE_MAX, so steady large GETs reuse warm
 * memory instead of faulting fresh pages each round. The loop drops that
 * cache when it idles (ud_seg_cache_trim).
 *
 * Accounting (limits.c): a connection's segments, queued or kept, are its
 * out_held bytes; the first UD_OUT_ALLOW of them are its base, and every
 * byte beyond is charged to its tenant's in-flight budget before the
 * segment is taken. A reply that does not fit the budget is not queued:
 * ud_out_reserve fails with -ENOMEM and the caller answers NOMEM (a GET)
 * or stops serving the connection until its backlog drains (loop.c).
 * Everything here runs on the connection's own loop: no locking.
 */
#include "daemon/daemon.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define OUT_DEFAULT UD_OUT_BASE
#define OUT_KEEP OUT_DEFAULT     /* largest drained segment a connection keeps */
#define SEG_CACHE_MIN (1u << 20) /* loop cache: 2x max(this, largest seen) */
#define SEG_CACHE_MAX (16u << 20) /* ...and never more (docs/security.md) */
#define SEG_ROUND 4096u          /* large segments: whole pages */

/* The part of held bytes that is charged: all beyond the base. */
static size_t over_base(size_t held)
{
	return held > UD_OUT_ALLOW ? held - UD_OUT_ALLOW : 0;
}

/*
 * c is about to hold n more bytes of segments: charge what falls beyond
 * its base. Returns 0 (out_held grown) or -ENOMEM (nothing changed).
 */
static int held_add(struct ud_conn *c, size_t n)
{
	if (ud_hold(c, over_base(c->out_held + n) - over_base(c->out_held)) < 0)
		return -ENOMEM;
	c->out_held += n;
	return 0;
}

/* c no longer holds n bytes of segments: give back what was charged. */
static void held_sub(struct ud_conn *c, size_t n)
{
	ud_unhold(c, over_base(c->out_held) - over_base(c->out_held - n));
	c->out_held -= n;
}

size_t ud_backlog(const struct ud_conn *c)
{
	return c->out_bytes;
}

/*
 * The loop keeps drained segments of more than OUT_DEFAULT bytes up to
 * twice the larger of SEG_CACHE_MIN and the largest it saw since it was
 * last idle: enough for a pipelined stream of large GETs to reuse warm
 * memory every round, never more than a couple of values per worker.
 */
static size_t seg_cache_limit(const struct ud_loop *l)
{
	size_t big = l->seg_largest > SEG_CACHE_MIN ? l->seg_largest
						     : SEG_CACHE_MIN;

	return big > SEG_CACHE_MAX / 2 ? SEG_CACHE_MAX : 2 * big;
}

/* Give a drained segment back: to the loop's cache if it fits, else free. */
static void seg_put(struct ud_loop *l, struct ud_seg *s)
{
	size_t limit;

	if (s->cap > l->seg_largest)
		l->seg_largest = s->cap;
	limit = seg_cache_limit(l);
	if (l->seg_cache_bytes > limit || s->cap > limit - l->seg_cache_bytes) {
		free(s);
		return;
	}
	s->next = l->seg_cache;
	l->seg_cache = s;
	l->seg_cache_bytes += s->cap;
}

void ud_seg_cache_trim(struct ud_loop *l)
{
	struct ud_seg *s, *next;

	for (s = l->seg_cache; s; s = next) {
		next = s->next;
		free(s);
	}
	l->seg_cache = NULL;
	l->seg_cache_bytes = 0;
	l->seg_largest = 0;
}

/* Would a cached segment of cap bytes do for want? (It wastes at most a
 * quarter.) */
static bool seg_fits(size_t cap, size_t want)
{
	return cap >= want && cap - want <= want / 4;
}

/* The segment size a reply of n bytes takes (0: too large): OUT_DEFAULT,
 * shared with its neighbours, or its own, rounded up to a page so cached
 * segments fit values of nearly the same size. */
static size_t seg_want(size_t n)
{
	size_t want = n <= OUT_DEFAULT ? OUT_DEFAULT : n;

	if (want > SIZE_MAX - SEG_ROUND)
		return 0;
	return (want + SEG_ROUND - 1) & ~(size_t)(SEG_ROUND - 1);
}

/*
 * An empty segment of at least `want` bytes: the cached one that fits best
 * (seg_fits), or a new one. Returns NULL if out of memory.
 */
static struct ud_seg *seg_get(struct ud_loop *l, size_t want)
{
	struct ud_seg **pp, **best = NULL, *s;

	for (pp = &l->seg_cache; *pp; pp = &(*pp)->next)
		if (seg_fits((*pp)->cap, want) && (!best || (*pp)->cap < (*best)->cap))
			best = pp;
	if (best) {
		s = *best;
		*best = s->next;
		l->seg_cache_bytes -= s->cap;
	} else {
		if (want > SIZE_MAX - sizeof(*s))
			return NULL;
		s = malloc(sizeof(*s) + want);
		if (!s)
			return NULL;
		s->cap = want;
	}
	s->next = NULL;
	s->head = s->len = 0;
	return s;
}

/* Recycle a drained segment: small ones stay with c, the rest go to the loop. */
static void seg_release(struct ud_conn *c, struct ud_seg *s)
{
	if (s->cap <= OUT_KEEP && !c->ospare) {
		s->head = s->len = 0;
		s->next = NULL;
		c->ospare = s;
		return;
	}
	held_sub(c, s->cap);
	if (s->cap <= OUT_DEFAULT) {
		free(s);
		return;
	}
	seg_put(c->loop, s);
}

/*
 * Make the tail segment able to take n more bytes in one piece: the spare,
 * or a segment of seg_want(n) bytes. Returns 0 or -ENOMEM.
 */
int ud_out_reserve(struct ud_conn *c, size_t n)
{
	struct ud_seg *s, *t = c->oq_tail;
	size_t want;

	if (t && t->cap - t->len >= n)
		return 0;
	if (n <= OUT_DEFAULT && c->ospare) {
		s = c->ospare;
		c->ospare = NULL;
	} else {
		want = seg_want(n);
		if (!want || held_add(c, want) < 0)
			return -ENOMEM; /* the tenant's in-flight budget is spent */
		s = seg_get(c->loop, want);
		if (!s) {
			held_sub(c, want);
			return -ENOMEM;
		}
	}
	if (t && t == c->oq && t->head == t->len) {
		/* An empty queue holding a too-small segment: replace it. */
		c->oq = c->oq_tail = s;
		seg_release(c, t);
		return 0;
	}
	if (t)
		t->next = s;
	else
		c->oq = s;
	c->oq_tail = s;
	return 0;
}

bool ud_out_warm(const struct ud_conn *c, size_t n)
{
	const struct ud_seg *t = c->oq_tail, *s;

	size_t want = seg_want(n);

	if ((t && t->cap - t->len >= n) || (n <= OUT_DEFAULT && c->ospare))
		return true;
	if (n <= OUT_DEFAULT || !want)
		return false;
	for (s = c->loop->seg_cache; s; s = s->next)
		if (seg_fits(s->cap, want))
			return true;
	return false;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

int ud_out_prepare(struct ud_conn *c, size_t n)
{
	struct ud_seg *t;
	uintptr_t lo, hi, pg = SEG_ROUND;
	volatile uint8_t *room;
	int err = ud_out_reserve(c, n);

	if (err || !n)
		return err;
	t = c->oq_tail;
	room = t->data + t->len;
	/* Whole pages, the partial ones at the ends included: populating
	 * writes nothing, so what else those pages hold is unharmed. */
	lo = (uintptr_t)room & ~(pg - 1);
	hi = ((uintptr_t)room + n + pg - 1) & ~(pg - 1);
	(void)madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
	/* Then write a byte of each page of the room: where the kernel lacks
	 * MADV_POPULATE_WRITE, and on a VM whose hypervisor maps a page for
	 * the process only at its first touch (the development VM: 13.5 us
	 * per page after populating, against 0.2 to write it again), this is
	 * what faults it in. The room is overwritten by the reply. */
	room[0] = 0;
	for (uintptr_t p = lo + pg; p < (uintptr_t)room + n; p += pg)
		*(volatile uint8_t *)p = 0;
	return 0;
}

int ud_out_append(struct ud_conn *c, const void *buf, size_t n)
{
	struct ud_seg *t;

	if (ud_out_reserve(c, n) < 0)
		return -ENOMEM;
	t = c->oq_tail;
	memcpy(t->data + t->len, buf, n);
	t->len += n;
	if (!c->out_bytes)
		c->stall_ns = c->loop->now_ns; /* the client's clock starts */
	c->out_bytes += n;
	return 0;
}

void ud_out_consume(struct ud_conn *c, size_t n)
{
	struct ud_seg *s;

	c->out_bytes -= n;
	if (n)
		c->stall_ns = c->active_ns = c->loop->now_ns; /* it reads */
	while ((s = c->oq) != NULL) {
		size_t part = s->len - s->head;

		if (n < part) {
			s->head += n;
			return;
		}
		n -= part;
		if (s == c->oq_tail) {
			/* The last one: keep it, empty, for the next replies. */
			s->head = s->len = 0;
			if (s->cap <= OUT_KEEP)
				return;
			c->oq_tail = NULL;
		}
		c->oq = s->next;
		seg_release(c, s);
	}
}

/*
 * Free every output segment of c (the connection goes away). The charge
 * is given back with the rest of c's by ud_conn_release.
 */
void ud_out_free(struct ud_conn *c)
{
	struct ud_seg *s, *next;

	for (s = c->oq; s; s = next) {
		next = s->next;
		free(s);
	}
	free(c->ospare);
	c->oq = c->oq_tail = c->ospare = NULL;
	c->out_bytes = 0;
	c->out_held = 0;
}

uint8_t *ud_reply_begin(struct ud_conn *c, const struct uwire_hdr *req,
			unsigned status, uint32_t pool, size_t vlen)
{
	struct uwire_hdr h = {
		.version = UWIRE_VERSION,
		.opcode = req->opcode,
		.flags = UWIRE_F_RESPONSE,
		.id = req->id,
		.pool = pool,
		.status = (uint16_t)status,
		.vlen = (uint32_t)vlen,
	};
	struct ud_seg *t;
	uint8_t *p;

	if (vlen > SIZE_MAX - UWIRE_HDR_SIZE ||
	    ud_out_reserve(c, UWIRE_HDR_SIZE + vlen) < 0) {
		ud_warn_rl("fd %d: no memory for a %zu-byte reply; closing the connection",
			   c->fd, vlen);
		c->closing = 1;
		return NULL;
	}
	t = c->oq_tail;
	p = t->data + t->len;
	uwire_hdr_encode(&h, p);
	t->len += UWIRE_HDR_SIZE + vlen;
	if (!c->out_bytes)
		c->stall_ns = c->loop->now_ns; /* the client's clock starts */
	c->out_bytes += UWIRE_HDR_SIZE + vlen;
	return p + UWIRE_HDR_SIZE;
}

void ud_reply(struct ud_conn *c, const struct uwire_hdr *req, unsigned status,
	      uint32_t pool, const void *val, size_t vlen)
{
	uint8_t *p = ud_reply_begin(c, req, status, pool, vlen);

	if (p && vlen)
		memcpy(p, val, vlen);
}
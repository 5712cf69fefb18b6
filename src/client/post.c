/*
 * post.c — posted PUTs: handing a PUT to utmemd without waiting for it
 * (docs/protocol.md section 10, docs/design.md "The data path").
 *
 * On a connection with a ring, utmemd grants credit (quota reserved in
 * advance, a byte count in the ring header) and staging extents (page runs
 * of the tenant's value region). A PUT whose charge bound fits the credit is
 * posted: a record big enough is written straight into a staging extent
 * (the value's only copy) and named by a PUT_REF frame; a smaller one goes
 * inline in a PUT frame flagged POSTED. No reply comes back: the charge was
 * reserved before the request left, so utmemd cannot refuse it for room.
 * A PUT that credit does not cover first gives back what credit is left
 * (CREDIT_RETURN), so that the synchronous PUT that follows meets the quota
 * exactly.
 *
 * Order: every request of the connection goes through its one request ring
 * and utmemd serves them in order, so a later GET, pop or INVALIDATE sent
 * to utmemd sees an earlier posted PUT. One-sided reads do not go through
 * the ring, so for them the client remembers, per hash slot, the sequence
 * number of the last posted request on a key hashing there, and waits until
 * utmemd's `applied` count passes it before reading such a key.
 */
#include "client/client_int.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "transport/ring.h"

/* Credit the daemon has granted and we have not spent. */
static uint64_t credit_left(struct utmem_client *c)
{
	struct uclient_post *p = &c->post;
	uint64_t granted = uclient_ring_credit(c);

	return granted - p->spent > granted ? 0 : granted - p->spent;
}

/* Remember that the request with sequence seq touched (pool, key). */
static void pending_note(struct utmem_client *c, uint32_t pool, const void *key,
			 size_t klen, uint64_t seq)
{
	uint64_t h = uvr_hash(0, pool, key, klen);

	c->post.pend[h & (UCLIENT_PEND_SLOTS - 1)] = seq;
}

void uclient_post_note(struct utmem_client *c, uint32_t pool, const void *key,
		       size_t klen)
{
	pending_note(c, pool, key, klen, c->post.sent);
	c->post.noted = c->post.sent;
}

/* The posted request a read of key (NULL: of anything) must follow, 0 if
 * none is left unserved. */
static uint64_t pending_seq(struct utmem_client *c, uint32_t pool,
			    const void *key, size_t klen)
{
	uint64_t seq;

	if (!c->ring)
		return 0;
	if (key) {
		uint64_t h = uvr_hash(0, pool, key, klen);

		seq = c->post.pend[h & (UCLIENT_PEND_SLOTS - 1)];
	} else {
		seq = c->post.last; /* synchronous requests settled themselves */
	}
	return seq != 0 && uclient_ring_applied(c) < seq ? seq : 0;
}

int uclient_post_pending(struct utmem_client *c, uint32_t pool,
			 const void *key, size_t klen)
{
	/*
	 * Any key: an asynchronous request on the ring makes a read of its
	 * key wait (it was noted), so it counts here as the posted ones do,
	 * lest the answer for any key be 0 where the one for that key is 1.
	 * Later frames are applied after it: applied < noted says it all.
	 */
	if (!key && c->ring && c->post.noted > c->post.last)
		return uclient_ring_applied(c) < c->post.noted;
	return pending_seq(c, pool, key, klen) != 0;
}

int uclient_post_settle(struct utmem_client *c, uint32_t pool, const void *key,
			size_t klen)
{
	uint64_t seq = pending_seq(c, pool, key, klen);

	return seq ? uclient_ring_wait_applied(c, seq, c->timeout_ms) : 0;
}

/*
 * A slot too small for a record that has stayed unused through this many
 * PUT_REFs (utmemd learns its sizes from its last 64 records) is not one
 * kept small for smaller values: its size is out of date.
 */
#define STAGE_STALE_REFS 64u

/*
 * The smallest staging slot that fits rec bytes and we have not used.
 * *small_mask: the unused slots too small for it that should go back so
 * that utmemd refills them at the size it learns from this PUT: all of
 * them when no published slot, used or not, fits it (utmemd sizes its
 * extents for other values); else only those unused for STAGE_STALE_REFS
 * (with values of two sizes, the slots of the smaller ones are meant to be
 * small, and a slot of the larger size comes back with a refill).
 */
static int slot_pick(struct utmem_client *c, uint64_t rec, uint64_t *off,
		     uint32_t *gen, uint32_t *small_mask)
{
	struct uclient_post *p = &c->post;
	uint32_t small = 0, stale = 0;
	int best = -1;
	uint64_t best_len = 0;
	bool fits = false;

	for (unsigned i = 0; i < URING_STAGES; i++) {
		uint64_t o, len;
		uint32_t g;

		if (uclient_ring_stage(c, i, &o, &len, &g) < 0 || len == 0)
			continue;
		if (g != p->seen_gen[i]) {
			p->seen_gen[i] = g;
			p->seen_at[i] = p->refs;
		}
		if (len >= rec)
			fits = true;
		if (g == p->used_gen[i])
			continue;
		if (len < rec) {
			small |= 1u << i;
			if (p->refs - p->seen_at[i] >= STAGE_STALE_REFS)
				stale |= 1u << i;
			continue;
		}
		if (best < 0 || len < best_len) {
			best = (int)i;
			best_len = len;
			*off = o;
			*gen = g;
		}
	}
	*small_mask = fits ? stale : small;
	return best;
}

/*
 * Give back unspent credit and the staging slots in mask (posted). The
 * frame says up to which grant total we give back: a refill utmemd makes
 * while the frame is on its way stays ours.
 */
static int give_back(struct utmem_client *c, uint32_t mask)
{
	uint64_t upto = uclient_ring_credit(c);
	uint8_t hdr[UWIRE_HDR_SIZE], val[UWIRE_RETURN_SIZE];
	struct uwire_hdr h = {
		.version = UWIRE_VERSION,
		.opcode = UWIRE_OP_CREDIT_RETURN,
		.id = c->next_id++,
		.vlen = sizeof(val),
	};
	struct iovec iov[2] = {{hdr, sizeof(hdr)}, {val, sizeof(val)}};
	int err;

	uwire_hdr_encode(&h, hdr);
	uwire_put_u32(val, mask);
	uwire_put_u32(val + 4, 0);
	uwire_put_u64(val + 8, upto);
	err = uclient_ring_post(c, iov, 2);
	if (err)
		return err;
	if (c->post.spent < upto)
		c->post.spent = upto;
	c->post.returned = c->post.spent;
	for (unsigned i = 0; i < URING_STAGES; i++) {
		uint64_t o, len;
		uint32_t g;

		if ((mask & (1u << i)) && uclient_ring_stage(c, i, &o, &len, &g) == 0)
			c->post.used_gen[i] = g;
	}
	return 0;
}

/* PUT_REF through staging slot i (extent at off, generation gen). */
static int post_ref(struct utmem_client *c, uint32_t pool, unsigned i,
		    uint64_t off, uint32_t gen, const void *key, size_t klen,
		    const void *val, size_t vlen)
{
	uint8_t hdr[UWIRE_HDR_SIZE], ref[UWIRE_REF_SIZE];
	struct uwire_ref r = {.slot = i, .gen = gen, .vlen = (uint32_t)vlen};
	struct uwire_hdr h = {
		.version = UWIRE_VERSION,
		.opcode = UWIRE_OP_PUT_REF,
		.id = c->next_id++,
		.pool = pool,
		.klen = (uint32_t)klen,
		.vlen = UWIRE_REF_SIZE,
	};
	struct iovec iov[3] = {{hdr, sizeof(hdr)}, {(void *)key, klen},
			       {ref, sizeof(ref)}};
	int err;

	if (uvr_reuse_note(&c->post.reuse, off, UVR_REC_HDR + klen + vlen))
		uvr_rec_write(c->region->base + off, key, klen, val, vlen);
	else
		uvr_rec_write_cold(c->region->base + off, key, klen, val, vlen);
	uwire_hdr_encode(&h, hdr);
	uwire_ref_encode(&r, ref);
	err = uclient_ring_post(c, iov, 3);
	if (err)
		return err;
	c->post.used_gen[i] = gen;
	c->post.refs++;
	c->post.spent += uvr_ref_bound(klen);
	return 0;
}

/* PUT flagged POSTED with the value inline. */
static int post_inline(struct utmem_client *c, uint32_t pool, const void *key,
		       size_t klen, const void *val, size_t vlen)
{
	uint8_t hdr[UWIRE_HDR_SIZE];
	struct uwire_hdr h = {
		.version = UWIRE_VERSION,
		.opcode = UWIRE_OP_PUT,
		.flags = UWIRE_F_POSTED,
		.id = c->next_id++,
		.pool = pool,
		.klen = (uint32_t)klen,
		.vlen = (uint32_t)vlen,
	};
	struct iovec iov[3] = {{hdr, sizeof(hdr)}, {(void *)key, klen},
			       {(void *)val, vlen}};
	int err;

	uwire_hdr_encode(&h, hdr);
	err = uclient_ring_post(c, iov, 3);
	if (!err)
		c->post.spent += uvr_put_bound(klen, vlen);
	return err;
}

static int post_put(struct utmem_client *c, uint32_t pool, int region_pool,
		    const void *key, size_t klen, const void *val, size_t vlen)
{
	uint64_t rec = uvr_rec_size(klen, vlen), left, off = 0;
	uint64_t applied;
	uint32_t gen = 0, small = 0;
	int err, i = -1;

again:
	/* utmemd wants its credit back (limits lowered): give it all back
	 * and put this one synchronously, against the new limits. */
	if (uclient_ring_recall(c) != c->post.seen_recall) {
		c->post.seen_recall = uclient_ring_recall(c);
		err = give_back(c, uclient_ring_stages_held(c, c->post.used_gen));
		return err ? err : -EAGAIN;
	}
	left = credit_left(c);
	if (region_pool && c->region && rec >= UVR_STAGE_MIN) {
		i = slot_pick(c, rec, &off, &gen, &small);
		if (i >= 0 && left >= uvr_ref_bound(klen) &&
		    off <= c->region->size && rec <= c->region->size - off) {
			err = post_ref(c, pool, (unsigned)i, off, gen, key, klen,
				       val, vlen);
			goto posted;
		}
		/* Slots too small for this record: hand them back so the
		 * daemon refills them at the size it learns from this PUT. */
		if (small) {
			err = give_back(c, small);
			if (err)
				return err;
			left = 0;
		}
	}
	if (left >= uvr_put_bound(klen, vlen) &&
	    UWIRE_HDR_SIZE + klen + vlen <= uclient_ring_max_frame(c)) {
		err = post_inline(c, pool, key, klen, val, vlen);
		goto posted;
	}
	/* Used up by PUTs utmemd has not applied yet: applying them is what
	 * refills (before it publishes them applied), so wait for that, as a
	 * synchronous PUT would wait, and keep the fast path. utmemd tops
	 * the credit up in steps (UVR_CREDIT_STEP), and what is posted and
	 * not applied is about a window when the credit is used up, so wait
	 * for that fraction of it, not for the whole backlog. Each turn
	 * waits for at least one more frame, so this ends by the last PUT
	 * posted. */
	applied = uclient_ring_applied(c);
	if (c->post.last && applied < c->post.last) {
		uint64_t step = (c->post.last - applied + UVR_CREDIT_STEP - 1) /
				UVR_CREDIT_STEP;

		err = uclient_ring_wait_applied(c, applied + step, c->timeout_ms);
		if (err)
			return err;
		goto again;
	}
	/* Not covered: give every bit of credit back, then the caller sends
	 * a synchronous PUT that is checked against the exact quota. Also
	 * when none is left to spend but we posted since the last return:
	 * utmemd reserved each posted PUT at its bound and holds what it was
	 * not charged (up to a page each) until a CREDIT_RETURN, and the
	 * synchronous PUT would be refused for that room of our own. */
	if (credit_left(c) || c->post.spent != c->post.returned ||
	    uclient_ring_stages_held(c, c->post.used_gen)) {
		err = give_back(c, uclient_ring_stages_held(c, c->post.used_gen));
		if (err)
			return err;
	}
	return -EAGAIN;
posted:
	if (err)
		return err;
	c->post.last = c->post.sent;
	pending_note(c, pool, key, klen, c->post.sent);
	return 0;
}

/*
 * Everything that may spend credit or write a staging extent runs marked
 * busy in the ring header, from before the recall check until the frame
 * is produced: utmemd takes back the credit of a client it finds idle
 * after a recall (docs/protocol.md section 10, "Reclaim").
 */
int uclient_post_put(struct utmem_client *c, uint32_t pool, int region_pool,
		     const void *key, size_t klen, const void *val, size_t vlen)
{
	int err;

	if (!c->ring || !c->post.credit_ok || c->no_post)
		return -EAGAIN;
	uclient_ring_posting(c, 1);
	err = post_put(c, pool, region_pool, key, klen, val, vlen);
	uclient_ring_posting(c, 0);
	return err;
}

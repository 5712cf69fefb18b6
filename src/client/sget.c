/*
 * sget.c — one-sided GETs: reading a value out of the tenant's value region
 * through the index utmemd keeps there, without a request to utmemd
 * (docs/protocol.md section 10; layout and ordering in src/proto/region.h).
 *
 * The region is written by utmemd and may be scribbled on by any process of
 * this tenant (ourselves included), so every offset read from it is checked
 * against the region's size before use; what utmemd wrote is otherwise
 * trusted, as the daemon's replies are. A read that keeps meeting changing
 * buckets, or anything out of bounds, gives up with -EAGAIN and the caller
 * asks utmemd instead.
 */
#include "client/client_int.h"

#include <errno.h>
#include <string.h>

#define SGET_TRIES 16

/* Called between the probes of a key's two buckets; a test defines it to
 * move the entry just then (test_sindex.c). Nothing here. */
__attribute__((weak, visibility("hidden"))) void uclient_sget_between(void);
__attribute__((weak, visibility("hidden"))) void uclient_sget_between(void)
{
}

/* Is [off, off + len) inside the region's heap? */
static int in_heap(const struct uclient_region *r, uint64_t off, uint64_t len)
{
	return off >= r->heap_off && off <= r->size && len <= r->size - off;
}

/*
 * Look at one bucket for (pool, key). Returns 1 and calls fn (hit: fn's
 * result in *fn_rc), 0 if the key is not there (*seen: the bucket's
 * version it was not there in), or -EAGAIN if the bucket or directory
 * changed under us (retry). fn's result is kept apart: a fn returning
 * -EAGAIN must not be taken for a changed bucket and called again.
 */
static int probe(struct uclient_region *r, const struct uvr_dir *d,
		 uint32_t dseq, const struct uvr_bucket *b, uint16_t tag,
		 uint32_t pool, const void *key, size_t klen, uclient_view_fn fn,
		 void *ctx, uint32_t *seen, int *fn_rc)
{
	uint32_t bseq = uvr_seq_begin(&b->seq);

	*seen = bseq;

	if (bseq & 1)
		return -EAGAIN;
	for (unsigned k = 0; k < UVR_SLOTS; k++) {
		/* Relaxed atomics: utmemd may be rewriting the slot (we check
		 * b->seq after); a plain load would be a C11 data race. */
		uint64_t ref = __atomic_load_n(&b->slot[k].ref, __ATOMIC_RELAXED);
		uint32_t vlen = __atomic_load_n(&b->slot[k].vlen, __ATOMIC_RELAXED);
		uint32_t spool = __atomic_load_n(&b->slot[k].pool, __ATOMIC_RELAXED);
		uint32_t rklen;
		uint64_t off = uvr_ref_off(ref);
		const uint8_t *rec;

		if (uvr_ref_tag(ref) != tag || spool != pool)
			continue;
		if (!uvr_seq_same(&b->seq, bseq))
			return -EAGAIN;
		if (!in_heap(r, off, uvr_rec_size(klen, vlen)))
			return -EAGAIN; /* scribbled on: let utmemd answer */
		/* Pin the record, then make sure it was still indexed when the
		 * pin became visible: from then on utmemd will not reuse it. */
		uvr_hazard_set(r->hazard, off);
		if (!uvr_seq_same(&b->seq, bseq) || !uvr_seq_same(&d->seq, dseq)) {
			uvr_hazard_clear(r->hazard);
			return -EAGAIN;
		}
		rec = r->base + off;
		memcpy(&rklen, rec, sizeof(rklen));
		if (rklen != klen || memcmp(rec + UVR_REC_HDR, key, klen) != 0) {
			uvr_hazard_clear(r->hazard);
			continue; /* a tag collision */
		}
		*fn_rc = fn(ctx, rec + UVR_REC_HDR + klen, vlen);
		uvr_hazard_clear(r->hazard);
		return 1;
	}
	return uvr_seq_same(&b->seq, bseq) ? 0 : -EAGAIN;
}

int uclient_sget(struct uclient_region *r, uint32_t pool, const void *key,
		 size_t klen, uclient_view_fn fn, void *ctx)
{
	uint64_t h = uvr_hash(r->seed, pool, key, klen);
	const struct uvr_dir *d = &r->dir[uvr_sub(h)];
	uint16_t tag = uvr_tag(h);

	if (!r->hazard)
		return -EAGAIN;
	for (int tries = 0; tries < SGET_TRIES; tries++) {
		uint32_t dseq = uvr_seq_begin(&d->seq), b[2];
		/* Acquire on off: pairs with utmemd's release when it moves the
		 * sub-table, so the buckets found there are read after their
		 * writing; mask is checked with the sequence like the slots. */
		uint32_t mask = __atomic_load_n(&d->mask, __ATOMIC_RELAXED);
		uint64_t off = __atomic_load_n(&d->off, __ATOMIC_ACQUIRE);
		int rc = 0, fn_rc = 0;

		if (dseq & 1)
			continue;
		if (off == 0) {
			if (uvr_seq_same(&d->seq, dseq))
				return -ENOENT; /* nothing indexed there yet */
			continue;
		}
		if ((off & (UVR_LINE - 1)) ||
		    !in_heap(r, off, ((uint64_t)mask + 1) * sizeof(struct uvr_bucket))) {
			if (!uvr_seq_same(&d->seq, dseq))
				continue;
			return -EAGAIN;
		}
		const struct uvr_bucket *bk[2];
		uint32_t seen[2];

		uvr_buckets(h, mask, &b[0], &b[1]);
		for (int i = 0; i < 2 && rc == 0; i++) {
			if (i)
				uclient_sget_between();
			bk[i] = (const struct uvr_bucket *)(r->base + off) + b[i];
			rc = probe(r, d, dseq, bk[i], tag, pool, key, klen, fn,
				   ctx, &seen[i], &fn_rc);
		}
		if (rc == 1)
			return fn_rc < 0 ? fn_rc : 0; /* fn was called: done */
		if (rc == -EAGAIN)
			continue;
		/* A miss in both is only a miss if the first bucket did not
		 * change while the second was read: utmemd moves an entry by
		 * writing its new slot, then clearing the old one, so a reader
		 * that saw the first bucket before the write and the second
		 * after the clear saw it in neither. */
		if (uvr_seq_same(&bk[0]->seq, seen[0]) && uvr_seq_same(&d->seq, dseq))
			return -ENOENT;
	}
	return -EAGAIN;
}

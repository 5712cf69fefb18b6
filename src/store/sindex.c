/*
 * sindex.c — writing a tenant's shared index (sindex.h, src/proto/region.h).
 *
 * Each sub-table is a power-of-two array of 64-byte buckets, three slots
 * each; a key may sit in either of two buckets (two-choice hashing keeps the
 * table near 85% full before the first overflow). An overflow doubles the
 * sub-table: the new array is built from the private shadow, published in
 * the directory under its sequence number, and the old one released; a
 * reader caught in between sees the directory's sequence change and retries.
 * Every shared write goes through the bucket's or the directory's sequence
 * number (uvr_seq_open/close), and the values written come from the shadow,
 * never from the region.
 */
#include "store/sindex.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SINDEX_NB_MIN 2u

static struct uvr_bucket *bucket_at(struct ust_sindex *x, uint64_t off,
				    uint32_t i)
{
	return (struct uvr_bucket *)(x->base + off) + i;
}

/* Write slot k of bucket b (index bi of sub-table u) from its shadow. */
static void publish_slot(struct ust_sindex *x, struct ust_ssub *u, uint32_t bi,
			 unsigned k)
{
	struct uvr_bucket *b = bucket_at(x, u->off, bi);
	const struct ust_sshadow *sh = &u->sh[bi * UVR_SLOTS + k];
	uint32_t v = u->bseq[bi];

	uvr_seq_open(&b->seq, v);
	/* Relaxed atomics: a one-sided reader reads these while we write
	 * them (a seqlock: it discards what it read if b->seq moved), and a
	 * plain store racing its load is a data race in C11, reported by
	 * TSan (test_sindex's race case). The order against the reader's
	 * re-check comes from uvr_seq_open/close, not from these stores. */
	if (sh->off) {
		__atomic_store_n(&b->slot[k].pool, sh->pool, __ATOMIC_RELAXED);
		__atomic_store_n(&b->slot[k].vlen, sh->vlen, __ATOMIC_RELAXED);
		__atomic_store_n(&b->slot[k].ref, uvr_ref(sh->off, uvr_tag(sh->h)),
				 __ATOMIC_RELAXED);
	} else {
		__atomic_store_n(&b->slot[k].ref, 0, __ATOMIC_RELAXED);
	}
	uvr_seq_close(&b->seq, v);
	u->bseq[bi] = v + 2;
}

int ust_sindex_init(struct ust_sindex *x, uint8_t *base, uint64_t size,
		    uint64_t dir_off, uint64_t seed,
		    const struct ust_sindex_mem *mem)
{
	memset(x, 0, sizeof(*x));
	x->base = base;
	x->size = size;
	x->seed = seed;
	x->mem = *mem;
	x->dir = (struct uvr_dir *)(base + dir_off);
	for (unsigned i = 0; i < UVR_NSUB; i++) {
		pthread_mutex_init(&x->sub[i].lock, NULL);
		x->sub[i].shrink_below = UINT32_MAX;
		x->dir[i].seq = 0;
		x->dir[i].mask = 0;
		x->dir[i].off = 0;
	}
	return 0;
}

void ust_sindex_fini(struct ust_sindex *x)
{
	for (unsigned i = 0; i < UVR_NSUB; i++) {
		struct ust_ssub *u = &x->sub[i];

		if (u->nb)
			x->mem.release(x->mem.ctx, u->off,
				       (size_t)u->nb * sizeof(struct uvr_bucket));
		free(u->sh);
		free(u->bseq);
		pthread_mutex_destroy(&u->lock);
	}
	memset(x->sub, 0, sizeof(x->sub));
}

/* Occupied slots of bucket bi in a shadow array. */
static unsigned used(const struct ust_sshadow *sh, uint32_t bi)
{
	unsigned n = 0;

	for (unsigned k = 0; k < UVR_SLOTS; k++)
		n += sh[bi * UVR_SLOTS + k].off != 0;
	return n;
}

/*
 * Place (h, off, pool, vlen) in a shadow array of nb buckets: the emptier
 * of the key's two buckets. Returns the slot index, or -1 if both are full.
 */
static long place(struct ust_sshadow *sh, uint32_t nb, uint64_t h)
{
	uint32_t b1, b2, b;

	uvr_buckets(h, nb - 1, &b1, &b2);
	b = used(sh, b2) < used(sh, b1) ? b2 : b1;
	for (unsigned k = 0; k < UVR_SLOTS; k++)
		if (!sh[b * UVR_SLOTS + k].off)
			return (long)(b * UVR_SLOTS + k);
	return -1;
}

/*
 * place(), and when both buckets are full, move one of their entries to
 * its other bucket if that has room (the one level of displacement that
 * inserts use, displace()): without it a rebuild at half load fails for
 * large tables, whose fullest buckets hold 4 to 5 entries' worth of keys.
 * Builds a private array only: nothing is published. Returns the freed
 * slot, or -1.
 */
static long place_moving(struct ust_sshadow *sh, uint32_t nb, uint64_t h)
{
	long k = place(sh, nb, h);
	uint32_t b[2];

	if (k >= 0)
		return k;
	uvr_buckets(h, nb - 1, &b[0], &b[1]);
	for (int i = 0; i < 2; i++) {
		for (unsigned s = 0; s < UVR_SLOTS; s++) {
			long from = (long)(b[i] * UVR_SLOTS + s);
			uint32_t a1, a2, alt;

			uvr_buckets(sh[from].h, nb - 1, &a1, &a2);
			alt = a1 == b[i] ? a2 : a1;
			for (unsigned j = 0; j < UVR_SLOTS; j++) {
				long to = (long)(alt * UVR_SLOTS + j);

				if (sh[to].off)
					continue;
				sh[to] = sh[from];
				sh[from].off = 0;
				return from;
			}
		}
	}
	return -1;
}

/*
 * Build sub-table u anew with nb buckets from its shadow (or empty), write
 * the whole array to the region, and publish it in the directory. Returns
 * 0, -ENOSPC if the shadow does not fit nb buckets, or -ENOMEM.
 */
static int rebuild(struct ust_sindex *x, unsigned si, uint32_t nb)
{
	struct ust_ssub *u = &x->sub[si];
	size_t bytes = (size_t)nb * sizeof(struct uvr_bucket);
	struct ust_sshadow *sh = calloc((size_t)nb * UVR_SLOTS, sizeof(*sh));
	uint32_t *bseq = calloc(nb, sizeof(*bseq));
	struct uvr_dir *d = &x->dir[si];
	struct uvr_bucket *b;
	int64_t off;

	atomic_fetch_add_explicit(&x->rebuilds, 1, memory_order_relaxed);

	if (!sh || !bseq)
		goto nomem;
	for (uint32_t i = 0; u->sh && i < u->nb * UVR_SLOTS; i++) {
		long k;

		if (!u->sh[i].off)
			continue;
		k = place_moving(sh, nb, u->sh[i].h);
		if (k < 0) {
			free(sh);
			free(bseq);
			return -ENOSPC;
		}
		sh[k] = u->sh[i];
	}
	off = x->mem.alloc(x->mem.ctx, bytes);
	if (off < 0)
		goto nomem;
	/* Heap memory may be reused: write every byte of the new array. */
	b = bucket_at(x, (uint64_t)off, 0);
	memset(b, 0, bytes);
	for (uint32_t i = 0; i < nb * UVR_SLOTS; i++) {
		if (!sh[i].off)
			continue;
		b[i / UVR_SLOTS].slot[i % UVR_SLOTS].pool = sh[i].pool;
		b[i / UVR_SLOTS].slot[i % UVR_SLOTS].vlen = sh[i].vlen;
		b[i / UVR_SLOTS].slot[i % UVR_SLOTS].ref =
			uvr_ref(sh[i].off, uvr_tag(sh[i].h));
	}
	/* Readers that took the old directory entry see its sequence move. */
	uvr_seq_open(&d->seq, u->dseq);
	/* mask relaxed (seqlock data, as in publish_slot); off with release:
	 * a reader that loads the new offset (acquire, src/client/sget.c)
	 * also sees the array written above, whatever the sequence said. */
	__atomic_store_n(&d->mask, nb - 1, __ATOMIC_RELAXED);
	__atomic_store_n(&d->off, (uint64_t)off, __ATOMIC_RELEASE);
	uvr_seq_close(&d->seq, u->dseq);
	u->dseq += 2;
	atomic_fetch_add_explicit(&x->bytes, (uint64_t)nb * UST_SINDEX_BUCKET_BYTES,
				  memory_order_relaxed);
	if (u->nb) {
		x->mem.release(x->mem.ctx, u->off,
			       (size_t)u->nb * sizeof(struct uvr_bucket));
		atomic_fetch_sub_explicit(&x->bytes,
					  (uint64_t)u->nb * UST_SINDEX_BUCKET_BYTES,
					  memory_order_relaxed);
	}
	free(u->sh);
	free(u->bseq);
	/* Atomic: ust_sindex_prefetch reads these without the lock. */
	__atomic_store_n(&u->sh, sh, __ATOMIC_RELAXED);
	__atomic_store_n(&u->bseq, bseq, __ATOMIC_RELAXED);
	__atomic_store_n(&u->nb, nb, __ATOMIC_RELAXED);
	u->shrink_below = UINT32_MAX;
	__atomic_store_n(&u->off, (uint64_t)off, __ATOMIC_RELAXED);
	return 0;
nomem:
	free(sh);
	free(bseq);
	return -ENOMEM;
}

/* Grow sub-table si until its shadow plus one more entry fits. */
static int grow(struct ust_sindex *x, unsigned si)
{
	struct ust_ssub *u = &x->sub[si];
	uint32_t nb = u->nb ? u->nb : SINDEX_NB_MIN / 2;
	int err;

	do {
		if (nb > (UINT32_MAX >> 2))
			return -ENOMEM;
		nb *= 2;
		err = rebuild(x, si, nb);
	} while (err == -ENOSPC);
	return err;
}

/*
 * Both buckets of h are full: move one of their entries to its other
 * bucket if that has a free slot (one level of cuckoo displacement, which
 * lets a table fill to ~95% instead of ~85% before it must double). The
 * entry is written to its new slot before its old slot is cleared, and
 * both buckets' versions change, so a reader that found it in neither sees
 * that its first bucket changed and reads again (src/client/sget.c). Returns the freed slot, or -1.
 */
static long displace(struct ust_sindex *x, struct ust_ssub *u, uint64_t h)
{
	uint32_t b[2];

	uvr_buckets(h, u->nb - 1, &b[0], &b[1]);
	for (int i = 0; i < 2; i++) {
		for (unsigned k = 0; k < UVR_SLOTS; k++) {
			long from = (long)(b[i] * UVR_SLOTS + k);
			uint32_t a1, a2, alt;

			uvr_buckets(u->sh[from].h, u->nb - 1, &a1, &a2);
			alt = a1 == b[i] ? a2 : a1;
			for (unsigned j = 0; j < UVR_SLOTS; j++) {
				long to = (long)(alt * UVR_SLOTS + j);

				if (u->sh[to].off)
					continue;
				u->sh[to] = u->sh[from];
				publish_slot(x, u, alt, j);
				u->sh[from].off = 0;
				publish_slot(x, u, b[i], k);
				return from;
			}
		}
	}
	return -1;
}

int ust_sindex_insert(struct ust_sindex *x, uint64_t h, uint64_t off,
		      uint32_t pool, uint32_t vlen)
{
	unsigned si = uvr_sub(h);
	struct ust_ssub *u = &x->sub[si];
	long k = -1;
	int err = 0;

	pthread_mutex_lock(&u->lock);
	if (u->nb) {
		k = place(u->sh, u->nb, h);
		if (k < 0)
			k = displace(x, u, h);
	}
	while (k < 0) {
		err = grow(x, si);
		if (err)
			goto out;
		k = place(u->sh, u->nb, h);
	}
	u->sh[k] = (struct ust_sshadow){ .h = h, .off = off, .pool = pool,
					 .vlen = vlen };
	u->count++;
	atomic_fetch_add_explicit(&x->count, 1, memory_order_relaxed);
	publish_slot(x, u, (uint32_t)k / UVR_SLOTS, (unsigned)k % UVR_SLOTS);
out:
	if (err)
		atomic_fetch_add_explicit(&x->failed, 1, memory_order_relaxed);
	pthread_mutex_unlock(&u->lock);
	return err;
}

/* The shadow index of the slot holding off for hash h, or -1. */
static long find(const struct ust_ssub *u, uint64_t h, uint64_t off)
{
	uint32_t b[2];

	if (!u->nb)
		return -1;
	uvr_buckets(h, u->nb - 1, &b[0], &b[1]);
	for (int i = 0; i < 2; i++)
		for (unsigned k = 0; k < UVR_SLOTS; k++)
			if (u->sh[b[i] * UVR_SLOTS + k].off == off)
				return (long)(b[i] * UVR_SLOTS + k);
	return -1;
}

int ust_sindex_replace(struct ust_sindex *x, uint64_t h, uint64_t old_off,
		       uint64_t new_off, uint32_t vlen)
{
	struct ust_ssub *u = &x->sub[uvr_sub(h)];
	long k;

	pthread_mutex_lock(&u->lock);
	k = find(u, h, old_off);
	if (k >= 0) {
		u->sh[k].off = new_off;
		u->sh[k].vlen = vlen;
		publish_slot(x, u, (uint32_t)k / UVR_SLOTS, (unsigned)k % UVR_SLOTS);
	}
	pthread_mutex_unlock(&u->lock);
	return k < 0 ? -ENOENT : 0;
}

/*
 * A sub-table that fell below a quarter full is rebuilt at half its size or
 * less (about half full), so the index gives its memory back when a tenant
 * shrinks, before it costs the tenant much beyond its entries' share
 * (region.c charges the difference); never below the minimum, and only if
 * the entries fit. Caller holds u->lock.
 */
static void maybe_shrink(struct ust_sindex *x, unsigned si)
{
	struct ust_ssub *u = &x->sub[si];
	uint32_t nb = u->nb;

	if (nb <= 16 || (uint64_t)u->count * 4 >= (uint64_t)nb * UVR_SLOTS ||
	    u->count >= u->shrink_below)
		return;
	while (nb > 16 && (uint64_t)u->count * 2 < (uint64_t)(nb / 2) * UVR_SLOTS)
		nb /= 2;
	/* The entries may not fit the smallest size: try the next ones. A
	 * table that fits none of them is tried again only once it has lost
	 * half its entries (each try costs a pass over the table). */
	for (; nb < u->nb; nb *= 2) {
		int err = rebuild(x, si, nb);

		if (err == 0) {
			u->shrink_below = UINT32_MAX;
			return;
		}
		if (err != -ENOSPC)
			break;
	}
	u->shrink_below = u->count / 2;
}

/*
 * Without the lock, so the table may be rebuilt meanwhile: the fields are
 * read atomically and may not match each other, and a prefetch of an
 * address that is not (or no longer) the bucket's does no harm (x86's
 * prefetch never faults).
 */
void ust_sindex_prefetch(struct ust_sindex *x, uint64_t h)
{
	struct ust_ssub *u = &x->sub[uvr_sub(h)];
	uint32_t nb = __atomic_load_n(&u->nb, __ATOMIC_RELAXED);
	struct ust_sshadow *sh = __atomic_load_n(&u->sh, __ATOMIC_RELAXED);
	uint32_t b[2];

	if (!nb || !sh)
		return;
	uvr_buckets(h, nb - 1, &b[0], &b[1]);
	for (int i = 0; i < 2; i++) {
		const char *p = (const char *)&sh[b[i] * UVR_SLOTS];

		__builtin_prefetch(p);
		__builtin_prefetch(p + sizeof(*sh) * UVR_SLOTS - 1);
		__builtin_prefetch(bucket_at(x, __atomic_load_n(&u->off, __ATOMIC_RELAXED), b[i]), 1);
		__builtin_prefetch(&__atomic_load_n(&u->bseq, __ATOMIC_RELAXED)[b[i]], 1);
	}
}

int ust_sindex_remove(struct ust_sindex *x, uint64_t h, uint64_t off)
{
	unsigned si = uvr_sub(h);
	struct ust_ssub *u = &x->sub[si];
	long k;

	pthread_mutex_lock(&u->lock);
	k = find(u, h, off);
	if (k >= 0) {
		u->sh[k].off = 0;
		u->count--;
		atomic_fetch_sub_explicit(&x->count, 1, memory_order_relaxed);
		publish_slot(x, u, (uint32_t)k / UVR_SLOTS, (unsigned)k % UVR_SLOTS);
		maybe_shrink(x, si);
	}
	pthread_mutex_unlock(&u->lock);
	return k < 0 ? -ENOENT : 0;
}

void ust_sindex_usage(struct ust_sindex *x, uint64_t *shared, uint64_t *priv)
{
	uint64_t nb = atomic_load_explicit(&x->bytes, memory_order_relaxed) /
		      UST_SINDEX_BUCKET_BYTES;

	*shared = nb * sizeof(struct uvr_bucket);
	*priv = nb * (UST_SINDEX_BUCKET_BYTES - sizeof(struct uvr_bucket));
}

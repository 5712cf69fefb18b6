/*
 * sindex.h — the store's writer of a tenant's shared index: the mirror, in
 * the tenant's value region, of every entry of its private pools, which
 * clients read without asking utmemd (one-sided GETs). Layout and ordering
 * rules: src/proto/region.h; specification: docs/protocol.md section 10.
 *
 * The writer never reads the region back: a private shadow of every bucket
 * (full hash, record offset, pool, value length per slot) is the truth, and
 * each change is written to the shared bucket under its sequence number.
 * Bucket arrays live in the region's heap, obtained through callbacks (the
 * arena), so this file knows nothing of how the heap is managed.
 *
 * Locking: each of the UVR_NSUB sub-tables has its own mutex, taken inside
 * whatever lock the caller holds (the store calls these under a stripe
 * lock: order stripe, then sub-table, then the heap's own lock).
 */
#ifndef UTMEM_STORE_SINDEX_H
#define UTMEM_STORE_SINDEX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/region.h"

/* Where bucket arrays come from: the region's heap. */
struct ust_sindex_mem {
	/* Offset of len fresh bytes in the region, or a negative errno. */
	int64_t (*alloc)(void *ctx, size_t len);
	void (*release)(void *ctx, uint64_t off, size_t len);
	void *ctx;
};

struct ust_sshadow {
	uint64_t h;    /* full hash; meaningful when off != 0 */
	uint64_t off;  /* record offset, 0 = free slot */
	uint32_t pool;
	uint32_t vlen;
};

/* nb, off, sh and bseq are written under lock, atomically, and read
 * without it by ust_sindex_prefetch. */
struct ust_ssub {
	pthread_mutex_t lock;
	uint32_t nb;              /* buckets, a power of two (0 = none yet) */
	uint32_t count;           /* occupied slots */
	uint64_t off;             /* shared bucket array */
	struct ust_sshadow *sh;   /* [nb * UVR_SLOTS], private */
	uint32_t dseq;            /* our copy of the directory sequence */
	uint32_t *bseq;           /* [nb] our copies of bucket sequences */
	uint32_t shrink_below;    /* try a smaller table only under this count
				     (a try failed); UINT32_MAX: any */
};

struct ust_sindex {
	uint8_t *base;            /* our mapping of the region */
	uint64_t size;
	uint64_t seed;
	struct uvr_dir *dir;      /* [UVR_NSUB], in the region */
	struct ust_sindex_mem mem;
	struct ust_ssub sub[UVR_NSUB];
	_Atomic uint64_t failed;  /* inserts that found no room (ENOMEM) */
	_Atomic uint64_t rebuilds; /* sub-tables built anew (or tried) */
	/* Bytes of every sub-table (shared buckets and private shadow) and
	 * entries indexed: written under a sub-table's lock, read by anyone
	 * (the region charges what the tables cost beyond their entries). */
	_Atomic uint64_t bytes;
	_Atomic uint64_t count;
};

/*
 * Set up the index of a region: base/size are the daemon's mapping,
 * dir_off where the directory goes (UVR_NSUB lines, written empty here),
 * seed the hash seed published in the header. Returns 0 or -ENOMEM.
 */
int ust_sindex_init(struct ust_sindex *x, uint8_t *base, uint64_t size,
		    uint64_t dir_off, uint64_t seed,
		    const struct ust_sindex_mem *mem);

/* Free the private shadow and give every bucket array back. */
void ust_sindex_fini(struct ust_sindex *x);

/*
 * Mirror a new entry: record at off for (pool, key) with hash
 * h = uvr_hash(seed, pool, key). Returns 0, or -ENOMEM when neither bucket
 * has room and the sub-table cannot grow (heap or memory exhausted); the
 * caller must then not link the entry (a miss in the index is
 * authoritative, so every entry must be in it).
 */
int ust_sindex_insert(struct ust_sindex *x, uint64_t h, uint64_t off,
		      uint32_t pool, uint32_t vlen);

/*
 * Replace the record of an entry in place (an overwrite, or a record moved
 * by compaction): readers see the old or the new record, never a miss.
 * Returns 0, or -ENOENT if old_off is not indexed (then nothing changed).
 */
int ust_sindex_replace(struct ust_sindex *x, uint64_t h, uint64_t old_off,
		       uint64_t new_off, uint32_t vlen);

/* Remove the slot of the record at off. Returns 0 or -ENOENT. */
int ust_sindex_remove(struct ust_sindex *x, uint64_t h, uint64_t off);
/* A hint: bring the shadow buckets of hash h into the cache (no lock; a
 * table rebuilt meanwhile makes it useless, never wrong). */
void ust_sindex_prefetch(struct ust_sindex *x, uint64_t h);

/* Bytes of shared bucket arrays and of private shadow, for accounting. */
void ust_sindex_usage(struct ust_sindex *x, uint64_t *shared, uint64_t *priv);

/* What a sub-table costs per bucket: the shared bucket, its three slots'
 * private shadow and its sequence copy. */
#define UST_SINDEX_BUCKET_BYTES                                                \
	(sizeof(struct uvr_bucket) + UVR_SLOTS * sizeof(struct ust_sshadow) + \
	 sizeof(uint32_t))

#endif /* UTMEM_STORE_SINDEX_H */

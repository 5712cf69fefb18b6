/*
 * region.h — the layout of a tenant's value region, shared by utmemd (which
 * writes it) and libutmem (which reads values out of it and writes staged
 * values into it). docs/protocol.md section 10 is its specification.
 *
 * A value region is one memory object (a memfd for a local tenant, the
 * ivshmem file for a VM) holding, at fixed offsets given in its header:
 *
 *   header page       struct uvr_hdr (written once by utmemd)
 *   hazard table      nhaz words of 64 bytes, one per fast-path connection:
 *                     the record offset a client is reading now, 0 = none
 *   directory         nsub entries of 64 bytes (struct uvr_dir): where each
 *                     index sub-table's buckets are, with a sequence number
 *   heap              arena-managed: value records and index buckets
 *
 * Records are [u32 klen][u32 0][key][value]; the index maps (pool, key) to
 * a record through 64-byte buckets of three 16-byte slots. utmemd keeps all
 * of its own bookkeeping privately and only ever WRITES the region (the
 * client can scribble on any byte of it); clients treat what utmemd wrote as
 * trustworthy but still check every offset against the region's size, so a
 * scribbled region can confuse only its own tenant, never crash anything.
 *
 * Sequence numbers (seqlock): a writer makes `seq` odd, changes the bucket,
 * and makes it even again (release); a reader takes `seq` (acquire), reads,
 * and takes it again after an acquire fence: equal and even means what it
 * read was stable. Hazard words make the record itself stable (see
 * uvr_hazard_set): a record is never reused or punched while a hazard word
 * names it, except by a forced reclaim after UVR_HAZARD_GRACE_MS.
 */
#ifndef UTMEM_PROTO_REGION_H
#define UTMEM_PROTO_REGION_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * The index hash is XXH3 from Debian's xxhash.h, inlined (XXH_INLINE_ALL):
 * the client library, and the Redis module that embeds it, then need no
 * libxxhash at run time (a guest or container may not have it).
 */
#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>

#include "proto/copy.h"

#define UVR_MAGIC 0x52565455u /* "UTVR" */
#define UVR_LAYOUT 1u
#define UVR_PAGE 4096u
#define UVR_LINE 64u
#define UVR_NSUB 64u          /* index sub-tables (power of two) */
#define UVR_SLOTS 3u          /* slots per bucket */
#define UVR_REC_HDR 8u        /* u32 klen, u32 0 */
#define UVR_OFF_BITS 48       /* record offsets are below 2^48 */
#define UVR_OFF_MASK ((UINT64_C(1) << UVR_OFF_BITS) - 1)
#define UVR_HAZARD_GRACE_MS 1000u

/* The header page. All fields little-endian host order (x86-64, arm64). */
struct uvr_hdr {
	uint32_t magic;     /* UVR_MAGIC */
	uint32_t layout;    /* UVR_LAYOUT */
	uint64_t size;      /* bytes of the region */
	uint64_t seed;      /* index hash seed (per tenant) */
	uint32_t nsub;      /* index sub-tables: UVR_NSUB */
	uint32_t nhaz;      /* hazard words */
	uint64_t haz_off;   /* offset of the hazard table */
	uint64_t dir_off;   /* offset of the directory */
	uint64_t heap_off;  /* first byte of the heap */
	uint64_t heap_len;  /* bytes of the heap */
	uint32_t tenant;    /* tenant id (informational) */
	uint32_t reserved[7];
};
_Static_assert(sizeof(struct uvr_hdr) == 96, "region header layout");

/* One hazard word, alone on its cache line. */
struct uvr_hazard {
	_Alignas(UVR_LINE) uint64_t off;
};

/* A directory entry: where sub-table i's buckets are. */
struct uvr_dir {
	_Alignas(UVR_LINE) uint32_t seq; /* odd while utmemd replaces the table */
	uint32_t mask;                   /* buckets - 1; 0 with off 0 = empty */
	uint64_t off;                    /* offset of the bucket array, 0 = none */
};

/*
 * A slot: the record's offset in the low 48 bits and a 16-bit tag of the
 * hash in the top bits (0 = free slot), the pool id and the value length.
 */
struct uvr_slot {
	uint64_t ref;
	uint32_t pool;
	uint32_t vlen;
};

struct uvr_bucket {
	_Alignas(UVR_LINE) uint32_t seq;
	uint32_t pad;
	struct uvr_slot slot[UVR_SLOTS];
};
_Static_assert(sizeof(struct uvr_bucket) == UVR_LINE, "bucket is one line");

/* The hash of (pool, key) for a region whose header says `seed`. */
static inline uint64_t uvr_hash(uint64_t seed, uint32_t pool, const void *key,
				size_t klen)
{
	return XXH3_64bits_withSeed(key, klen,
				    seed ^ ((uint64_t)pool * 0x9e3779b97f4a7c15ull));
}

/* Which sub-table, which two buckets and which tag hash h maps to. */
static inline uint32_t uvr_sub(uint64_t h)
{
	return (uint32_t)(h & (UVR_NSUB - 1));
}

static inline uint16_t uvr_tag(uint64_t h)
{
	uint16_t t = (uint16_t)(h >> 48);

	return t ? t : 1; /* 0 marks a free slot */
}

static inline void uvr_buckets(uint64_t h, uint32_t mask, uint32_t *b1,
			       uint32_t *b2)
{
	*b1 = (uint32_t)(h >> 8) & mask;
	*b2 = (uint32_t)(h >> 28) & mask;
	if (*b2 == *b1)
		*b2 = (*b1 + 1) & mask;
}

static inline uint64_t uvr_ref(uint64_t off, uint16_t tag)
{
	return (off & UVR_OFF_MASK) | ((uint64_t)tag << UVR_OFF_BITS);
}

static inline uint64_t uvr_ref_off(uint64_t ref)
{
	return ref & UVR_OFF_MASK;
}

static inline uint16_t uvr_ref_tag(uint64_t ref)
{
	return (uint16_t)(ref >> UVR_OFF_BITS);
}

/* Bytes of a record for this key and value. */
static inline uint64_t uvr_rec_size(size_t klen, size_t vlen)
{
	return (uint64_t)UVR_REC_HDR + klen + vlen;
}

/* Write the record [u32 klen][u32 0][key][value] at rec (both ends: a
 * client into its staging extent, utmemd into a heap record). */
static inline void uvr_rec_write(uint8_t *rec, const void *key, size_t klen,
				 const void *val, size_t vlen)
{
	uint32_t k32 = (uint32_t)klen, zero = 0;

	memcpy(rec, &k32, 4);
	memcpy(rec + 4, &zero, 4);
	memcpy(rec + UVR_REC_HDR, key, klen);
	if (vlen)
		memcpy(rec + UVR_REC_HDR + klen, val, vlen);
}

/*
 * The same for a staged record, which nobody reads soon: the value is
 * written with streaming stores where it is large (copy.h).
 */
static inline void uvr_rec_write_cold(uint8_t *rec, const void *key, size_t klen,
				      const void *val, size_t vlen)
{
	uvr_rec_write(rec, key, klen, val, 0);
	if (vlen)
		uvr_copy_cold(rec + UVR_REC_HDR + klen, val, vlen);
}

/*
 * Staging: a record of at least UVR_STAGE_MIN bytes goes through a staging
 * extent (PUT_REF); smaller ones inline in the frame. Larger than the
 * arena's biggest slab class (16 KiB + 64), so a staged record is always a
 * page run, and a 16 KiB value with its key is packed into a slab rather
 * than given five pages. (libutmem before 2026-11-30 staged from 16 KiB;
 * utmemd copies such a record out of its extent into its slab.)
 */
#define UVR_STAGE_MIN (16u * 1024u + 65u)

/*
 * Upper bounds of what a PUT can be charged, known to both ends: a client
 * spends these from its credit for posted requests, and utmemd counts the
 * same sums (docs/protocol.md section 10). They cover either layout (a
 * value in the region's arena, or in the daemon's heap): a head of at most
 * 5/4 of (32 + klen) + 16 (allocator classes), the bucket slot (8), the
 * index share (80), and the value's allocation (size classes waste under a
 * quarter; page runs under a page) plus up to 128 bytes of its metadata.
 */
static inline uint64_t uvr_head_bound(uint64_t klen)
{
	uint64_t h = 32 + klen;

	return h + h / 4 + 16 + 8 + 80;
}

static inline uint64_t uvr_put_bound(uint64_t klen, uint64_t vlen)
{
	uint64_t rec = UVR_REC_HDR + klen + vlen;
	uint64_t run = (rec + UVR_PAGE - 1) & ~(uint64_t)(UVR_PAGE - 1);
	uint64_t cls = rec + rec / 4 + 16;

	return uvr_head_bound(klen) + (cls > run ? cls : run) + 128;
}

/* The credit a PUT_REF spends: its record's allocation was reserved with
 * the staging extent, so only the entry's metadata is left to pay. */
static inline uint64_t uvr_ref_bound(uint64_t klen)
{
	return uvr_head_bound(klen) + 128;
}

/*
 * The step credit moves in: utmemd tops a connection's window up once
 * 1/UVR_CREDIT_STEP of it is spent (daemon/credit.c), and a client out of
 * credit waits for 1/UVR_CREDIT_STEP of its posted, unapplied frames to
 * apply before it looks again (client/post.c). docs/protocol.md, "Credit".
 */
#define UVR_CREDIT_STEP 8u

/* ---- memory ordering of the index (every acquire/release/fence here) ---- */

/*
 * ThreadSanitizer does not model fences (gcc refuses them under it): in
 * such builds the fences below become sequentially consistent accesses of
 * the sequence and hazard words themselves, which TSan follows.
 */
#if defined(__SANITIZE_THREAD__)
#define UVR_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UVR_TSAN 1
#endif
#endif
#ifdef UVR_TSAN
#define uvr_fence(order) ((void)0)
#define UVR_SEQ_LOAD __ATOMIC_SEQ_CST
#else
#define uvr_fence(order) __atomic_thread_fence(order)
#define UVR_SEQ_LOAD __ATOMIC_RELAXED
#endif

/* Reader: a sequence number, acquire (what follows reads after it). */
static inline uint32_t uvr_seq_begin(const uint32_t *seq)
{
	return __atomic_load_n(seq, __ATOMIC_ACQUIRE);
}

/*
 * Reader: did the sequence stay at v (even) while we read? The acquire
 * fence orders our data reads before the re-read of the sequence.
 */
static inline int uvr_seq_same(const uint32_t *seq, uint32_t v)
{
	uvr_fence(__ATOMIC_ACQUIRE);
	return !(v & 1) && __atomic_load_n(seq, UVR_SEQ_LOAD) == v;
}

/* Writer: open (odd) a bucket or directory entry for change. */
static inline void uvr_seq_open(uint32_t *seq, uint32_t v)
{
#ifdef UVR_TSAN
	__atomic_store_n(seq, v + 1, __ATOMIC_SEQ_CST);
#else
	__atomic_store_n(seq, v + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
#endif
}

/* Writer: close it (even again); release orders the change before. */
static inline void uvr_seq_close(uint32_t *seq, uint32_t v)
{
	__atomic_store_n(seq, v + 2, __ATOMIC_RELEASE);
}

/*
 * Reader: name the record being read in our hazard word. Sequentially
 * consistent, paired with the writer's fence in uvr_hazard_scan_fence():
 * either the writer's scan sees our word, or our re-check of the bucket
 * sequence (after this store) sees the writer's removal.
 */
static inline void uvr_hazard_set(uint64_t *word, uint64_t off)
{
#ifdef UVR_TSAN
	__atomic_exchange_n(word, off, __ATOMIC_SEQ_CST);
#else
	__atomic_store_n(word, off, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

static inline void uvr_hazard_clear(uint64_t *word)
{
	__atomic_store_n(word, 0, __ATOMIC_RELEASE);
}

/* Writer: after unlinking a record from the index, before scanning hazards. */
static inline void uvr_hazard_scan_fence(void)
{
	uvr_fence(__ATOMIC_SEQ_CST);
}

static inline uint64_t uvr_hazard_load(const uint64_t *word)
{
	return __atomic_load_n(word, UVR_SEQ_LOAD);
}

#endif /* UTMEM_PROTO_REGION_H */

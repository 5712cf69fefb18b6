/*
 * arena.h — an allocator over a tenant's shared "value region" whose
 * metadata lives only in utmemd's private memory.
 *
 * A value region is a memfd (or an ivshmem file) that utmemd maps and that
 * the tenant's clients map read-write. The tenant can therefore write any
 * byte of it at any time, so the arena never reads anything from the region
 * except the hazard table (below), and then only to decide whether to wait
 * before reusing a range. Every boundary, size and free list is kept in
 * daemon-private memory, and that metadata is O(live allocations + warm
 * runs + deferred ranges), never O(region size): a region may be 1 TiB and
 * almost empty.
 *
 * The heap [heap_off, heap_off + heap_len) of the region is cut into 4 KiB
 * pages. Requests of up to UST_ARENA_SMALL_MAX bytes come from size-class
 * slabs (16-byte steps up to 128 B, then four classes per doubling plus
 * one at 64 B above 512 B, 1, 2, 4, 8 and 16 KiB for records of
 * power-of-two values: waste under 25 %, under 13 % up to 128 B); larger
 * ones are page runs. Free
 * page runs coalesce. A run or slab that becomes free has its pages given
 * back to the OS at once (fallocate PUNCH_HOLE on fd, else MADV_REMOVE on
 * base), except for a warm cache of at most warm_max bytes of recently
 * freed runs kept faulted in, because a punched run costs its next writer a
 * page fault per page (or, with warm_hard, up to warm_hard bytes until the
 * next ust_arena_poll(), so punches leave the callers' path). The free
 * slots of a slab of objects of a page or more go back the same way while
 * the slab still holds others: beyond warm_max bytes of them, the next
 * ust_arena_poll() punches the whole pages they cover (a flushed pool's
 * 16 KiB records among another pool's otherwise stayed resident).
 *
 * One-sided readers publish in the region's hazard table the offset they are
 * reading (0 = none). Before a freed range becomes reusable or is punched,
 * the arena issues a seq_cst fence and scans the table; a range containing
 * a hazard value is deferred (at most one range per table slot) and retried
 * later. A hostile client can write any value there: it can delay reuse of
 * at most nhazards ranges, and ust_arena_force() takes them back anyway.
 *
 * Every function is thread-safe: one mutex per arena, never held across a
 * system call (punches run outside it).
 */
#ifndef UTMEM_STORE_ARENA_H
#define UTMEM_STORE_ARENA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The arena's page; ust_arena_create() refuses a system page of another size. */
#define UST_ARENA_PAGE 4096u
/* Largest request served from a slab; larger ones are page runs. */
#define UST_ARENA_SMALL_MAX 16448u
/* Number of slab size classes (16 B .. UST_ARENA_SMALL_MAX). */
#define UST_ARENA_NCLASSES 42u
/* Alignment of every offset returned (page runs: UST_ARENA_PAGE). */
#define UST_ARENA_ALIGN 16u

typedef struct ust_arena ust_arena;

struct ust_arena_cfg {
	/* utmemd's mapping of the whole region: with fd, a MAP_SHARED mapping
	 * of it (the arena unmaps spans of it with MADV_DONTNEED before
	 * punching, keeping the file's pages); without, punched with
	 * MADV_REMOVE. */
	void *base;
	int fd;              /* the region's file, punched with fallocate; -1 = use base */
	uint64_t heap_off;   /* heap start in the region, > 0, page multiple */
	uint64_t heap_len;   /* heap length, page multiple, at most 2^32 - 1 pages */
	size_t warm_max;     /* bytes of freed runs kept faulted in for reuse */
	/*
	 * 0, or more than warm_max: release and alloc then never punch while
	 * the warm cache holds at most warm_hard bytes, and leave bringing it
	 * back to warm_max to ust_arena_poll() (a background thread's job), so
	 * that no caller waits for a punch (ms each here) on its own path.
	 */
	size_t warm_hard;
	/*
	 * 0 (= warm_hard), or between warm_max and warm_hard: what
	 * ust_arena_poll() brings the cache down to whatever its runs' age, so
	 * that a large warm_hard (callers never punch, even when a whole pool
	 * is flushed at once) holds memory for one poll interval only.
	 */
	size_t warm_poll;
	/*
	 * 0, or how long a run must have lain in the warm cache before
	 * ust_arena_poll() punches it to bring the cache back to warm_max: a
	 * cache in use (runs freed and taken again at a high rate) keeps up to
	 * warm_hard bytes faulted in, and only what lay idle goes back to the
	 * OS. Every page punched is faulted in again by the next writer, in
	 * every process that maps it (costly on a VM that shadows page tables).
	 */
	uint64_t warm_idle_ns;
	/*
	 * Hazard table in the region: nhazards words of 8 bytes, hazard_stride
	 * bytes apart (a multiple of 8; 8-byte aligned). NULL/0 = none.
	 */
	const volatile void *hazards;
	uint32_t nhazards;
	size_t hazard_stride;
	/*
	 * Slack of the slabs of classes under a page (ust_arena_slack) that is
	 * normal use: beyond slack_free plus half their objects' bytes, slabs
	 * up to three quarters full are evacuated (ust_arena_should_move),
	 * not only those up to half full. 0: only those up to half full.
	 */
	uint64_t slack_free;
};

struct ust_arena_stats {
	uint64_t heap_bytes;       /* heap_len */
	uint64_t alloc_count;      /* live allocations (deferred ones not included) */
	uint64_t alloc_bytes;      /* bytes they occupy (size class / page run) */
	uint64_t class_count[UST_ARENA_NCLASSES]; /* live small allocations per class */
	uint64_t class_bytes[UST_ARENA_NCLASSES];
	uint64_t run_count;        /* live page-run allocations */
	uint64_t run_bytes;
	uint64_t slabs;            /* slabs (each holds >= 1 live or deferred object) */
	uint64_t slab_bytes;       /* pages they span */
	uint64_t evac_slabs;       /* slabs flagged for evacuation (should_move) */
	uint64_t resident_bytes;   /* our accounting: heap pages not known punched */
	uint64_t warm_bytes;       /* free runs kept faulted in */
	uint64_t warm_runs;
	uint64_t slack_bytes;      /* ust_arena_slack()'s slack */
	uint64_t warm_slot_bytes;  /* free slots of slabs of objects of a page
				      or more not punched yet (at most
				      warm_max after a poll; their whole pages
				      are punched, the rest stays with the slab) */
	uint64_t deferred_bytes;   /* freed but hazarded, not yet reusable */
	uint64_t deferred_count;
	uint64_t cold_runs;        /* free punched runs (coalesced) */
	uint64_t cold_bytes;
	uint64_t busy_bytes;       /* being punched right now */
	uint64_t meta_bytes;       /* daemon-private metadata held */
	uint64_t punches;          /* punch calls made */
	uint64_t punched_bytes;
	uint64_t punch_errors;     /* fallocate/madvise failures (pages may stay) */
	uint64_t forced_bytes;     /* deferred bytes taken back by force() */
};

/*
 * Create an arena over cfg's heap. The heap is punched once (it is assumed
 * free). The region, fd and hazard table must outlive the arena; the arena
 * does not own them. Returns 0 and *out, -EINVAL for a bad configuration
 * (unaligned, heap_off 0 — offset 0 means "no hazard" —, heap beyond the
 * file), -ENOTSUP if the system page is not UST_ARENA_PAGE, -ENOMEM.
 */
int ust_arena_create(const struct ust_arena_cfg *cfg, ust_arena **out);

/* Free the arena's metadata. The region is left as it is. NULL is allowed. */
void ust_arena_destroy(ust_arena *a);

/*
 * Allocate len bytes (0 is treated as 1). Returns the offset from the
 * region's start (16-byte aligned; page-aligned for len >
 * UST_ARENA_SMALL_MAX; a power-of-two len up to 4 KiB is aligned to len,
 * e.g. 64 for a 64-byte index bucket, since slabs start on a page and hold
 * objects of one size back to back), and the bytes it occupies in
 * *occupied (may be NULL; equals ust_arena_size(len)); or -ENOMEM when the
 * heap has no room or daemon metadata cannot be allocated. The bytes are
 * whatever the range held before (a previous value of the same region, or
 * zeros if it was punched). Waits for punches in flight rather than fail.
 */
int64_t ust_arena_alloc(ust_arena *a, size_t len, size_t *occupied);

/*
 * ust_arena_alloc(), also saying in *resident whether every page of the
 * allocation is known to be in memory: a page run taken from the warm cache
 * (freed runs kept faulted in) is, and so is a slot of a new slab of
 * objects of a page or more (the arena maps such a slab in whole, in the
 * caller's thread); a cold (punched or never used) run and other slab
 * slots are not said to be. A caller that wants an allocation's pages
 * present before someone writes them (staging extents) asks the kernel only
 * for the others: on a VM, fallocate() over 1 MiB of pages already there
 * cost utmemd's worker more than everything else in a 1 MiB PUT.
 */
int64_t ust_arena_alloc_resident(ust_arena *a, size_t len, bool *resident);

/*
 * Free an allocation (off as returned, len as requested or any length of
 * the same size class). Returns 0, or -EINVAL if (off, len) is not a live
 * allocation (the arena is unchanged). May punch pages before returning.
 */
int ust_arena_release(ust_arena *a, uint64_t off, size_t len);
/*
 * ust_arena_release() of n ranges in one call: one lock per 64, and each
 * range's map slot and descriptor fetched ahead
 * while the ones before it are freed (an eviction's victims, which lie
 * anywhere in the heap). Returns how many were not live allocations
 * (those are left alone, as ust_arena_release() would).
 */
unsigned ust_arena_release_many(ust_arena *a, const uint64_t *off, const size_t *len,
				unsigned n);
/* A hint before ust_arena_release(a, off, len): bring the map slot that
 * finds off's slab or run into the cache. No lock; never wrong, at worst
 * useless. */
void ust_arena_prefetch(ust_arena *a, uint64_t off, size_t len);

/*
 * Give back the tail of a page-run allocation: (off, old_len) becomes
 * (off, new_len), both above UST_ARENA_SMALL_MAX, and the whole pages
 * beyond are freed (warm cache or punch). Used when a staging extent is
 * adopted by a smaller record. Returns 0, -EINVAL (not a live run of that
 * size, or sizes out of range) or -ENOMEM (unchanged).
 */
int ust_arena_shrink(ust_arena *a, uint64_t off, size_t old_len, size_t new_len);

/* Bytes an allocation of len occupies in the region. Pure. */
size_t ust_arena_size(size_t len);

/*
 * Bytes to charge for an allocation of len: ust_arena_size(len) plus its
 * share of daemon-private metadata (an upper bound that holds whatever the
 * arena's state: see docs in arena.c). Pure, monotonic in len.
 */
uint64_t ust_arena_charge(size_t len);

/*
 * Compaction hint: true if the allocation sits in a sparsely used slab that
 * the arena is evacuating (new allocations avoid it, so moving the value
 * to a fresh allocation and releasing this one empties the slab). Flags the
 * slab if it qualifies. False for page runs and unknown offsets.
 */
bool ust_arena_should_move(ust_arena *a, uint64_t off, size_t len);

/*
 * The slabs of classes under a page: bytes of them that no live or
 * deferred object takes (free slots and tail waste; *slack), and bytes
 * their objects take (*taken). Such a free slot shares its page with live
 * neighbours, so it stays resident until its slab empties: a tenant that
 * frees all but one record per page keeps every page. Any thread, no lock
 * (a snapshot of two counters).
 */
void ust_arena_slack(ust_arena *a, uint64_t *slack, uint64_t *taken);

/*
 * Retry deferred ranges now, and punch warm runs beyond warm_poll, then
 * those beyond warm_max that lay idle warm_idle_ns (warm runs accumulate
 * beyond warm_max only with warm_hard set); and, if more than warm_max
 * bytes of page-sized slab slots lie free, their pages down to half that.
 * Returns the bytes still deferred.
 */
uint64_t ust_arena_poll(ust_arena *a);
/*
 * Did the last ust_arena_poll() leave nothing for the next poll or force
 * to do (no deferred range, warm caches within warm_max), with no release
 * since? Then both may be skipped: a region of an idle tenant costs its
 * poller a load. Any thread, no lock needed.
 */
bool ust_arena_quiet(ust_arena *a);

/*
 * How much the deferred bytes grew (> 0) or shrank (< 0) since the last
 * call: for the owner to charge them (the store charges a region's tenant
 * for the records its hazard words pin). Any thread, no lock needed.
 */
int64_t ust_arena_deferred_take(ust_arena *a);
/* Is there a change for ust_arena_deferred_take()? (A load: cheap.) */
bool ust_arena_deferred_changed(ust_arena *a);

/*
 * Take back deferred ranges deferred at least age_ns ago even if still
 * hazarded (page runs are punched, slab objects freed into their slab).
 * Returns the bytes taken back.
 */
uint64_t ust_arena_force(ust_arena *a, uint64_t age_ns);

/*
 * Only hazard words [0, n) are handed out to readers now (n <= nhazards):
 * a release scans only those. A word beyond n is nobody's, whatever it
 * holds. Call it with the new bound before handing out a word beyond the
 * old one, and after taking back the highest. At creation every word
 * counts.
 */
void ust_arena_hazards_live(ust_arena *a, uint32_t n);

/* Punch the whole warm cache now (shrink, flush, idle), and the free pages
 * of slabs of objects of a page or more. Returns bytes punched. */
uint64_t ust_arena_trim(ust_arena *a);

/*
 * trim(), then punch every free run again and every page of a slab that
 * only free slots overlap, so that pages a tenant faulted in by writing
 * outside its allocations are returned. Afterwards the region's real
 * residency within the heap is at most stats.resident_bytes (which counts
 * slabs whole). Returns the bytes punched.
 */
uint64_t ust_arena_scrub(ust_arena *a);

/*
 * Allocate the pages of [off, off + len) in the region's file now, in the
 * calling process (so charged to its memory cgroup), without mapping
 * them. Best effort: on failure the first writer allocates them.
 */
void ust_arena_populate(ust_arena *a, uint64_t off, uint64_t len);

/*
 * Map the pages of [off, off + len) into the arena's mapping now (and
 * allocate those not in the file yet), in one system call
 * (MADV_POPULATE_WRITE) rather than one page fault per page: for a cold
 * range the caller is about to write whole. Best effort: where the kernel
 * lacks it, the writes fault the pages in as before.
 */
void ust_arena_map_in(ust_arena *a, uint64_t off, uint64_t len);

/*
 * Keep the pages of [off, off + len), a live allocation, mapped in the
 * arena's view: the spans it unmaps before punching freed ranges around
 * them (one TLB flush for many punches) stop short of it instead of
 * covering it. For what utmemd touches all the time (the shared index),
 * which would otherwise fault back in page by page. 0, or -ENOSPC when
 * UST_ARENA_MAX_PINS are pinned (the range then works unpinned, slower).
 * ust_arena_unpin() takes the same range back before it is released.
 */
/*
 * Copy len bytes from src to dst (both in the heap, not overlapping). From
 * a page up, through the region's file (copy_file_range), so that neither
 * side is mapped in utmemd's view: no page faults for a source it unmapped
 * before punching its neighbours, and no TLB flush when the source is
 * punched later. Smaller copies, and any the file refuses, memcpy through
 * the view.
 */
void ust_arena_copy(ust_arena *a, uint64_t dst, uint64_t src, size_t len);

#define UST_ARENA_MAX_PINS 256u
int ust_arena_pin(ust_arena *a, uint64_t off, uint64_t len);
void ust_arena_unpin(ust_arena *a, uint64_t off, uint64_t len);

/* A consistent snapshot of the counters. */
void ust_arena_stats(ust_arena *a, struct ust_arena_stats *out);

/*
 * The region's real allocated bytes (fstat st_blocks * 512) — the whole
 * file, including what lies outside the heap. -errno on failure, -ENOTSUP
 * without an fd.
 */
int64_t ust_arena_resident(ust_arena *a);

/* Size of class i (0 <= i < UST_ARENA_NCLASSES), and the class of len (<= SMALL_MAX). */
size_t ust_arena_class_size(unsigned i);
unsigned ust_arena_class_of(size_t len);

#endif

/*
 * arena_int.h — the arena's private data structures, shared by arena.c
 * (public entry points), arena_run.c (page runs, warm cache, punching),
 * arena_slab.c (size classes and slabs), arena_hazard.c (hazard scan and
 * deferred ranges) and arena_map.c (page -> run hash map).
 *
 * Every page of the heap belongs to exactly one run descriptor; the
 * descriptors are kept in address order in a doubly linked list (so a
 * run's neighbours for coalescing are one pointer away and no per-page
 * table exists). A run is in one of the states below. Allocated runs and
 * slabs are also in a hash map keyed by their first page (the lookup for
 * release); free runs are in size-segregated bins (two-level, four bins
 * per doubling, with a bitmap of non-empty bins, as in TLSF), one set for
 * cold (punched) and one for warm runs. Everything is protected by
 * a->lock except the punching itself, which a run in state RUN_BUSY waits
 * for outside the lock.
 */
#ifndef UTMEM_STORE_ARENA_INT_H
#define UTMEM_STORE_ARENA_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/arena.h"

#define AR_P UST_ARENA_PAGE
#define AR_NBINS 128u
/* Entries of a free bin examined for the best fit before rounding up. */
#define AR_FIT_SCAN 16u
/* Slab fullness buckets (alloc prefers the fullest). */
#define AR_NBUCKETS 4u
/* Most objects in one slab (the bitmap in struct run). */
#define AR_SLAB_MAXOBJ 256u
/* Most pages a slab spans (class 16448: 13 objects in 53 pages). */
#define AR_SLAB_MAXPAGES 64u
/* A batch's punched runs are made cold (and waiters woken) this often. */
#define AR_PUNCH_CHUNK (8ull << 20)
/* Freed ranges at most this far apart are unmapped as one span before
 * their punches (ar_batch_punch). The live value pages between them fault
 * back in only if utmemd reads them again (a GET over the socket, a
 * compaction move), a few us each; the flush saved costs 30-130 us on a
 * VM whose other vCPU runs a thread of utmemd. Pinned spans (the shared
 * index, touched all the time) end a span instead. */
#define AR_ZAP_GAP (2ull << 20)
/* The longest span unmapped at once (a chunk's worth, and a bit). */
#define AR_ZAP_SPAN (16ull << 20)
/* ust_arena_copy() goes through the file from this size up. Below, records
 * share source pages, whose one fault the memcpy pays for several of
 * them, and a system call per record cost more: compaction after a 1 GiB
 * shrink, 1 KiB values, 157-243 ms against 199-216; 256 B 522-613 against
 * 451-486; 4 KiB 45-70 against 223-245, 16 KiB 19-24 against 148-184. */
#define AR_COPY_FILE_MIN 4096u
/* Most spans pinned at once: the shared index's 64 sub-tables, and one
 * more each while it is rebuilt, with room to spare. */
#define AR_PINS UST_ARENA_MAX_PINS
/* Deferred ranges are retried on ordinary calls at most this often. */
#define AR_RETRY_NS 1000000ull

enum run_state {
	RUN_COLD,  /* free and punched: in a->cold bins */
	RUN_WARM,  /* free, kept faulted in: in a->warm bins and the LRU list */
	RUN_ALLOC, /* a page-run allocation: in a->map */
	RUN_SLAB,  /* a slab: in a->map and (when partial) its class's lists */
	RUN_DEFER, /* a freed page run a hazard still covers: in a->def[] */
	RUN_BUSY,  /* being punched outside the lock; becomes RUN_COLD */
};

/*
 * One run of pages (80 bytes, a malloc size class: the charge counts it as
 * exactly that). prev/next link it into the one list its state puts it in
 * (a free bin, a slab list, or a punch batch).
 */
struct run {
	struct run *aprev, *anext; /* address order; runs tile the heap */
	struct run *prev, *next;
	uint32_t start, npages;    /* heap page index and length */
	uint8_t state, cls, bucket, evac;
	uint16_t nfree;            /* slab: free slots */
	uint8_t hint;              /* slab: the slot to look at first */
	uint8_t nwarm;             /* slab of a page class: free slots not
				      punched since they were freed (an
				      allocation takes one off, punched or
				      not: a slot it reuses was most likely
				      the last freed) */
	union {
		struct {
			struct run *lprev, *lnext; /* warm LRU, head = newest */
			uint64_t stamp;            /* deferred since (ns) */
		} w;
		uint64_t bits[AR_SLAB_MAXOBJ / 64]; /* slab: 1 = slot taken */
	} u;
};

/* Size-segregated free lists. */
struct bins {
	struct run *head[AR_NBINS];
	uint64_t nonempty[AR_NBINS / 64];
};

/* Open-addressing map from a page index to the run starting there. */
struct amap_slot {
	uint32_t key;
	struct run *val; /* NULL = empty slot */
};
struct amap {
	struct amap_slot *slots;
	uint32_t cap;   /* power of two */
	uint32_t count;
};

/* A freed range waiting for hazards to clear. */
struct deferred {
	struct run *r;   /* the page run (RUN_DEFER), or the slab holding it */
	uint64_t off;    /* region offset */
	uint64_t len;    /* bytes covered (occupied size) */
	uint64_t stamp;  /* when deferred, CLOCK_MONOTONIC ns */
	bool small;
};

/* A slab's class layout. */
struct cls {
	uint32_t size;
	uint16_t pages;
	uint16_t nobjs;
};

/* Per-class slab lists. */
struct cslabs {
	struct run *bucket[AR_NBUCKETS]; /* partial slabs by fullness, not evacuating */
	struct run *evac;                /* partial slabs being evacuated */
	uint64_t free_slots;             /* free slots in bucket[] slabs */
};

struct ust_arena {
	pthread_mutex_t lock;
	pthread_cond_t punched;  /* signalled when busy runs become cold */
	uint32_t waiters;

	/* configuration */
	char *base;
	int fd;
	uint64_t heap_off;
	uint32_t heap_pages;
	uint64_t warm_max;
	uint64_t warm_hard;      /* >= warm_max: what release/alloc enforce */
	uint64_t warm_poll;      /* in [warm_max, warm_hard]: what poll enforces */
	uint64_t warm_idle_ns;   /* poll punches warm runs idle this long */
	uint64_t slack_free;     /* slack of small slabs that is normal use */
	const volatile char *haz;
	uint32_t nhaz;
	_Atomic uint32_t haz_live; /* words [0, haz_live) may be in use */
	size_t haz_stride;

	/* runs */
	struct run *first;       /* address list head */
	struct bins cold, warm;
	struct run *lru_head, *lru_tail;
	struct amap map;
	struct cslabs cs[UST_ARENA_NCLASSES];

	/* hazards */
	struct deferred *def;    /* nhaz entries */
	uint32_t ndef;
	uint64_t def_gen;        /* ranges ever deferred (ar_run_take's retries) */
	uint64_t *snap;          /* nhaz entries: sorted hazard snapshot */
	uint64_t last_retry;

	/* counters (pages unless named bytes) */
	uint64_t cold_pages, warm_pages, busy_pages;
	uint64_t ncold, nwarm, nruns_desc;
	uint64_t class_count[UST_ARENA_NCLASSES];
	uint64_t run_count, run_pages;
	uint64_t slabs, slab_pages, evac_slabs;
	/* Bytes of free slots of page classes (ar_page_class) not punched
	 * since they were freed: the sum of nwarm × size over the slabs. */
	uint64_t slot_warm;
	/* Classes under a page (their free slots share pages with live
	 * neighbours, so nothing but an emptied slab gives memory back): bytes
	 * of their slabs, and of their taken slots (live or deferred). Written
	 * under the lock, read without it (ust_arena_slack). */
	_Atomic uint64_t small_slab_bytes, small_taken_bytes;
	uint64_t def_bytes;
	/* Nothing for ust_arena_poll or ust_arena_force to do, as the last
	 * poll left it; any release clears it (both under the lock; read
	 * without it, ust_arena_quiet). */
	_Atomic bool quiet;
	_Atomic int64_t def_delta; /* def_bytes change not yet taken
				      (ust_arena_deferred_take) */
	uint64_t punches, punched_bytes, forced_bytes;
	_Atomic uint64_t punch_errors;
	/* Spans zaps leave mapped (ust_arena_pin): first page << 32 | pages,
	 * 0 = free slot. Written under the lock, read without it by
	 * ar_pinned() (a stale read only zaps or spares a span too many). */
	_Atomic uint64_t pins[AR_PINS];
	_Atomic uint32_t pins_hi; /* slots [0, pins_hi) may be in use */
};

/* arena_map.c */
int ar_map_init(struct amap *m);
void ar_map_fini(struct amap *m);
void ar_map_prefetch(const struct amap *m, uint32_t key);
struct run *ar_map_get(const struct amap *m, uint32_t key);
int ar_map_reserve(struct amap *m, uint32_t extra);
void ar_map_put(struct amap *m, uint32_t key, struct run *v);
void ar_map_del(struct amap *m, uint32_t key);
void ar_map_shrink(struct amap *m);
size_t ar_map_bytes(const struct amap *m);

/* arena_slab.c */
extern const struct cls ar_cls_tab[UST_ARENA_NCLASSES];

/* Layout of class i. */
static inline const struct cls *ar_cls(unsigned i)
{
	return &ar_cls_tab[i];
}

unsigned ar_cls_of(size_t len);
int64_t ar_slab_alloc(ust_arena *a, unsigned c, struct run **batch,
		      struct run **fresh);
struct run *ar_slab_find(ust_arena *a, uint64_t off, unsigned c);
/* A hint before ar_slab_find(): the map slot of its first candidate. No lock. */
void ar_slab_prefetch(ust_arena *a, uint64_t off, unsigned c);
/* The first page a slab of class c holding a slot at off could start at
 * (slab_start's first candidate), or UINT64_MAX. */
uint64_t ar_slab_first_page(const ust_arena *a, uint64_t off, unsigned c, uint64_t *i);
bool ar_slab_taken(const struct run *s, const ust_arena *a, uint64_t off);
void ar_slab_free(ust_arena *a, struct run *s, uint64_t off, struct run **batch);
bool ar_slab_should_move(ust_arena *a, struct run *s);
uint64_t ar_slab_scrub(ust_arena *a, struct run *s, struct run **empties,
		       uint32_t *zapped, bool warm_only);
uint64_t ar_slabs_scrub(ust_arena *a, bool warm_only, uint64_t limit,
			struct run **batch);
void ar_slab_drop(ust_arena *a, struct run *s, struct run **batch);

/* Add d to a counter only the lock holder writes (readers need no lock). */
static inline void ar_count(_Atomic uint64_t *c, int64_t d)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + (uint64_t)d,
			      memory_order_relaxed);
}

/*
 * Is class c a page class, whose free slots hold whole pages that can go
 * back to the OS while the slab still has live objects? Objects of at
 * least a page: 4096 B and its multiples exactly, the others in part
 * (16448: three pages of each slot's four).
 */
static inline bool ar_page_class(unsigned c)
{
	return ar_cls(c)->size >= AR_P;
}

/* Region offset of heap page `page`. */
static inline uint64_t ar_off(const ust_arena *a, uint32_t page)
{
	return a->heap_off + (uint64_t)page * AR_P;
}

/* arena_run.c */
struct run *ar_desc_new(ust_arena *a);
void ar_desc_free(ust_arena *a, struct run *r);
struct run *ar_run_take(ust_arena *a, uint32_t npages, struct run **batch);
int ar_run_cut(ust_arena *a, struct run *r, uint32_t npages, struct run **batch);
void ar_run_free(ust_arena *a, struct run *r, bool warm_ok, struct run **batch);
void ar_batch_punch(ust_arena *a, struct run *batch);
void ar_warm_drain(ust_arena *a, struct run **batch);
void ar_warm_fit(ust_arena *a, uint64_t limit, uint64_t idle_ns,
		 struct run **batch);
int ar_punch_range(ust_arena *a, uint64_t off, uint64_t len);
void ar_zap(ust_arena *a, uint64_t off, uint64_t len);
bool ar_pinned(const ust_arena *a, uint32_t lo, uint32_t hi);
void ar_bins_remove(struct bins *b, struct run *r);
void ar_cold_insert(ust_arena *a, struct run *r);
void ar_to_busy(ust_arena *a, struct run *r, struct run **batch);
struct run *ar_make_cold(ust_arena *a, struct run *r);

/* arena_hazard.c */
bool ar_haz_hit(const ust_arena *a, uint64_t off, uint64_t len);
void ar_defer(ust_arena *a, const struct deferred *d, struct run **batch);
void ar_retry(ust_arena *a, struct run **batch);
uint64_t ar_force(ust_arena *a, uint64_t age_ns, struct run **batch);
void ar_free_now(ust_arena *a, const struct deferred *d, bool warm_ok,
		 struct run **batch);
bool ar_is_deferred(const ust_arena *a, uint64_t off);

#endif

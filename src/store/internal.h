/*
 * internal.h — the store's private data structures, shared by its modules.
 *
 * The store is cut into lock stripes. A key's hash picks its stripe; every
 * pool holds one small chained hash table per stripe (struct ust_sub), and
 * every tenant one block of counters per stripe, so that the PUT/GET path
 * touches only the stripe's mutex and that stripe's part of the pool and the
 * tenant. Charges are reserved from the tenant's and the store's atomic
 * totals in chunks that a (tenant, stripe) block holds as credit (account.c),
 * so most PUTs and removals touch no shared counter. Tenant and pool tables change only
 * while the management mutex and every stripe lock are held (a "big reader"
 * lock: readers take one stripe, writers take all), so a thread holding any
 * stripe lock may follow st->tenants[] and st->pools[] without refcounts.
 * Lock order: st->mgmt, then stripes in ascending order; the data path never
 * holds two stripe locks at once.
 */
#ifndef UTMEM_STORE_INTERNAL_H
#define UTMEM_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "store/arena.h"
#include "store/sindex.h"
#include "store/store.h"

#define UST_CACHELINE 64
#define UST_DEFAULT_MAX_KEY 1024u
#define UST_DEFAULT_MAX_VALUE (64u << 20)
#define UST_MAX_SHARDS 4096u

/*
 * Charged per entry on top of its allocation: the hash bucket pointer the
 * entry occupies. Tables grow at two entries per bucket, so the real share
 * is 4..8 bytes; 8 is charged so the figure never depends on table state.
 */
#define UST_SLOT_COST 8u

/*
 * Values of at least this many bytes live in an allocation of their own,
 * of exactly vlen bytes, and the entry holds a pointer to it. Inline, header
 * and key push a power-of-two value (4 KiB page, 128 KiB, 1 MiB) just past
 * a jemalloc size class, which the next class (a quarter of a power of two
 * above) then charges as 25 % extra; a separate value costs one more small
 * allocation (the pointer) and at most ~48 B when the value size is not a
 * class of its own. Below this, the extra allocation's time matters more
 * than bytes (docs/store.md, "Entry layout").
 */
#define UST_SPLIT_MIN 4096u

/*
 * One stored pair. Small values: key and value inline after the header in
 * a single allocation; 24 bytes of header plus UST_SLOT_COST = 32 bytes of
 * metadata. Values of UST_SPLIT_MIN bytes or more: the key is followed by
 * an 8-byte pointer to the separately allocated value (40 bytes).
 */
struct ust_entry {
	struct ust_entry *next; /* hash chain */
	uint32_t tenant;        /* tenant charged for this entry */
	uint32_t vlenf;         /* value length; bit 31: UST_VLEN_REGION (ust_vlen) */
	uint32_t stamp;         /* st->clock at the last PUT or GET */
	uint16_t klen;
	uint16_t tag;           /* top hash bits: cheap mismatch test */
	unsigned char data[];   /* klen key bytes, then the value or its pointer */
};
_Static_assert(sizeof(struct ust_entry) == 24, "entry header must stay 24 bytes");

/*
 * An entry whose value lives in its tenant's value region (region.c) has
 * this bit set in vlen (values are at most 1 GiB, so bit 31 is free); the
 * pointer after its key is then the daemon's address of the record
 * [u32 klen][u32 0][key][value] in the region.
 */
#define UST_VLEN_REGION (1u << 31)

/* Charged per region entry for its share of the shared index (sindex.c):
 * 64-byte buckets of 3 slots, shared, plus a 24-byte private shadow per
 * slot; 80 B is the cost at the index's average fill (two-choice buckets
 * with displacement double near 95% full: 67-100 B per entry between). */
#define UST_INDEX_COST 80u

/* Is a value of vlen bytes kept outside its entry's allocation? */
static inline bool ust_split(size_t vlen)
{
	return vlen >= UST_SPLIT_MIN;
}

/* The value length of e, without the region bit. */
static inline uint32_t ust_vlen(const struct ust_entry *e)
{
	return e->vlenf & ~UST_VLEN_REGION;
}

/* Does e's value live in its tenant's value region? */
static inline bool ust_in_region(const struct ust_entry *e)
{
	return (e->vlenf & UST_VLEN_REGION) != 0;
}

/* Bytes of the entry allocation itself for this key and value length. */
static inline size_t ust_head_size(size_t klen, size_t vlen)
{
	return sizeof(struct ust_entry) + klen +
	       (ust_split(vlen) ? sizeof(unsigned char *) : vlen);
}

/* Bytes of the entry allocation of a region entry: header, key, pointer. */
static inline size_t ust_region_head_size(size_t klen)
{
	return sizeof(struct ust_entry) + klen + sizeof(unsigned char *);
}

/* The same, for an existing entry of either kind. */
static inline size_t ust_entry_head_size(const struct ust_entry *e)
{
	return ust_in_region(e) ? ust_region_head_size(e->klen)
				: ust_head_size(e->klen, e->vlenf);
}

/* The pointer stored after the key (separate value, or region record). */
static inline unsigned char *ust_entry_ptr(const struct ust_entry *e)
{
	unsigned char *v;

	memcpy(&v, e->data + e->klen, sizeof(v));
	return v;
}

/*
 * The value of e: inline, the separate allocation whose address follows
 * the key (unaligned, hence memcpy), or in its record in the region.
 * Valid while e is.
 */
static inline unsigned char *ust_entry_value(const struct ust_entry *e)
{
	if (ust_in_region(e))
		return ust_entry_ptr(e) + 8 + e->klen;
	if (!ust_split(e->vlenf))
		return (unsigned char *)e->data + e->klen;
	return ust_entry_ptr(e);
}

/* A pool's entries and counters within one stripe; stripe lock protects it. */
struct ust_sub {
	_Alignas(UST_CACHELINE) struct ust_entry **buckets;
	uint32_t mask;  /* buckets - 1, valid when buckets != NULL */
	uint32_t count;
	uint32_t hand;  /* eviction sweep position (bucket index) */
	struct ust_stats stats;
};

/*
 * A tenant's counters within one stripe; the stripe lock protects it.
 * credit: bytes reserved from t->charged and st->charged but not used by an
 * entry yet (account.c). eph: charge of the tenant's ephemeral entries in
 * this stripe. Both are written only under the stripe lock; they are atomics
 * (relaxed, i.e. plain moves) so that eviction may read them without it.
 */
struct ust_tstripe {
	_Alignas(UST_CACHELINE) struct ust_stats stats;
	_Atomic uint64_t credit;
	_Atomic uint64_t eph;
};

struct ust_stripe {
	_Alignas(UST_CACHELINE) pthread_mutex_t lock;
};

/*
 * A tenant's value region (region.c): the shared memory its private-pool
 * values live in, with the arena that manages its heap and the index that
 * clients read. The mapping and its file belong to the caller of
 * ust_region_attach(); this object to the store. Arena and index calls are
 * made under a stripe lock (so tenant removal, which holds them all, never
 * races them) or with `users` raised (ust_stage_*).
 */
struct ust_region {
	uint8_t *base;
	uint64_t size;
	ust_arena *arena;
	struct ust_sindex idx;
	uint64_t haz_off;
	uint32_t nhaz;
	pthread_mutex_t haz_lock;   /* hazard word allocation */
	uint8_t *haz_used;          /* [nhaz] */
	uint32_t haz_hi;            /* 1 + the highest word in use, or 0 */
	_Atomic int users;          /* ust_stage_* calls in flight */
	uint64_t scrub_base;        /* resident bytes a scrub could not take
				       back (ust_regions_poll's thread only) */
	pthread_mutex_t hold_lock;  /* orders the held-byte charges (region.c) */
	/* Under hold_lock: what is charged to the tenant for freed records
	 * its hazard words pin, and for its index beyond the entries' share
	 * (region.c, settle); index_free: index bytes never charged that way. */
	uint64_t held_pin, index_free;
	uint64_t slack_free;        /* ust_region_cfg.slack_free */
	_Atomic uint64_t held_idx;  /* read without the lock to skip settles */
};

struct ust_tenant {
	uint32_t id;
	/* Frozen (ust_tenant_freeze): its PUTs are refused. Beside ts, which
	 * every operation reads anyway, so the PUT path's check costs no
	 * extra cache line. */
	_Atomic bool frozen;
	struct ust_tstripe *ts; /* [nstripes]; read on every operation */
	struct ust_region *region; /* NULL: values in the store's heap */
	char name[UST_NAME_MAX + 1];
	_Atomic uint64_t min;
	_Atomic uint64_t max;
	/* What PUTs are admitted against: max, or, while a shrink brings the
	 * tenant down to a max lowered below what it holds, what it holds
	 * (it may not grow meanwhile; ust_shrink lowers this step by step). */
	_Atomic uint64_t admit_max;
	_Atomic uint32_t weight;
	/* Charge of all its entries plus the credit its stripes hold. */
	_Alignas(UST_CACHELINE) _Atomic uint64_t charged;
	_Atomic uint32_t held; /* stripes holding credit for it */
	_Atomic uint32_t max_pools; /* 0 = no limit */
	uint32_t npools;  /* private pools; st->mgmt */
	uint64_t meta;    /* their metadata, in charged; st->mgmt */
};

struct ust_pool {
	uint32_t id;
	uint32_t owner; /* private: owning tenant; shared: UST_TENANT_ADMIN */
	unsigned kind;
	char name[UST_NAME_MAX + 1];
	uint32_t *grants; /* shared pools: tenants allowed to open it */
	uint32_t ngrants;
	uint32_t *managers; /* shared pools: grantees that may flush/destroy */
	uint32_t nmanagers;
	uint64_t meta;    /* private pools: charged to the owner for this */
	struct ust_sub *sub; /* [nstripes] */
	unsigned pins;    /* flushes and destroys dropping entries without
			   * st->mgmt (pool.c); under st->mgmt */
	bool dead;        /* out of the id table; the last pin frees it */
};

/* The allocator for entries (alloc.c). */
struct ust_alloc {
	unsigned narenas; /* reserved for per-store arenas; 0 today */
};

/* The process heap as the allocator reports it (ust_alloc_usage). */
struct ust_alloc_usage {
	uint64_t allocated; /* bytes handed out (and cached by threads) */
	uint64_t active;    /* bytes of pages holding at least one of them */
	uint64_t resident;  /* allocator's resident pages, metadata included */
	uint64_t dirty;     /* freed pages not yet returned to the OS */
};

/*
 * Where the compaction walk (compact.c) stands: stripe, pool id and bucket
 * to look at next. Protected by st->compact_lock.
 */
struct ust_compact_cursor {
	unsigned s;
	uint32_t pool;
	uint32_t bucket;
	unsigned phase; /* 0: slabs, and count pages per block; 1: pages */
	uint64_t pass;  /* completed passes over the whole store */
	uint64_t region_moved; /* value-region records moved in this pass */
};

/*
 * How much of each 2 MiB block of address space page-sized allocations
 * use, counted by phase 0 of a compaction pass (open addressing, keys are
 * block number + 1, 0 = empty slot). compact.c.
 */
struct ust_census {
	uint64_t *block;
	uint32_t *pages;  /* pages used in the block */
	uint32_t *pieces; /* allocations starting in the block */
	size_t cap, n;
};

struct ust_store {
	unsigned nstripes;
	unsigned smask;
	unsigned gbits;  /* log2 of the stripes in one pool group */
	unsigned ngmask; /* pool groups - 1 */
	size_t max_key;
	size_t max_value;
	bool charge_pools; /* UST_CFG_CHARGE_POOLS */
	struct ust_stripe *stripes;
	_Alignas(UST_CACHELINE) _Atomic uint64_t capacity;
	/* Charge of every entry plus all credit held by tenants' stripes,
	 * plus the held bytes below. */
	_Alignas(UST_CACHELINE) _Atomic uint64_t charged;
	/* The capacity PUTs are admitted against: the capacity, or, while a
	 * shrink brings the store down to a lowered one, the charge (the store
	 * may not grow meanwhile; PUTs make room for themselves only, and the
	 * shrink lowers this step by step, evict.c). */
	_Atomic uint64_t admit_cap;
	/* Freed value-region records that tenants' hazard words pin, and
	 * index bytes beyond their entries' share (both charged to those
	 * tenants, ust_hold). */
	_Atomic uint64_t pinned;
	_Atomic uint64_t index_held;
	_Alignas(UST_CACHELINE) _Atomic uint32_t clock; /* coarse LRU time */
	_Alignas(UST_CACHELINE) pthread_mutex_t mgmt;
	_Atomic uint32_t mgmt_waiters; /* threads waiting for mgmt (ust_mgmt_lock) */
	/* Below: written only with mgmt and every stripe lock held. */
	struct ust_tenant **tenants; /* indexed by id, [next_tenant] */
	uint32_t tenant_cap;
	uint32_t next_tenant;
	uint32_t ntenants;
	struct ust_pool **pools;     /* indexed by slot (id & UST_POOL_SLOT_MASK), [next_pool] */
	uint32_t pool_cap;
	uint32_t next_pool;          /* slots ever used: bounded by live pools */
	/* Ids to hand out again: a destroyed pool's slot with the next
	 * generation. Room for every slot, reserved when the slot is made,
	 * so destroying never allocates. */
	uint32_t *pool_free;
	uint32_t pool_nfree, pool_free_cap;
	uint32_t npools;
	/* Eviction cursor, mgmt only. ev_owed: a shrink's last sample at the
	 * cursor's slot was cut short by its step; the next shrink step
	 * starts there again and evicts up to this many more (evict.c). */
	uint32_t ev_pool;
	uint32_t ev_stripe;
	uint32_t ev_owed;
	struct ust_alloc alloc;
	/* Compaction (compact.c): one walker at a time; never held with mgmt
	 * by the walker, which takes stripe locks one at a time under it. */
	pthread_mutex_t compact_lock;
	struct ust_compact_cursor ccur;
	struct ust_census census;
	struct ust_compact_info ctotal; /* every walk so far, summed */
	/* st->charged when the last pass ended, or more when ust_shrink()
	 * started from more since: a fall by a quarter asks for a pass. */
	_Atomic uint64_t walk_charged;
	/* The value regions' slack beyond their allowances, summed
	 * (ust_regions_slack; at each maintenance poll), and what of it the
	 * last pass left because it could move nothing (0 after a pass that
	 * moved region records), or less since: growth by
	 * UST_REGION_SLACK_FREE beyond that asks for a pass. */
	_Atomic uint64_t region_excess, walk_excess;
	/* The tenant id from which ust_regions_poll checks region files
	 * next (its thread only). */
	uint32_t scrub_from;
	/* ust_shrink() calls under way (ust_shrinking). */
	_Atomic uint32_t shrinking;
	unsigned flags;        /* ust_config.flags */
	_Atomic uint64_t trims; /* ust_trim() calls (ust_trim_count) */
	void (*trimmed)(void *arg); /* ust_config's */
	void *trimmed_arg;
};

/* hash.c */
int ust_hash_init(void);
uint64_t ust_hash(const void *key, size_t len);

/* alloc.c */
int ust_alloc_init(struct ust_alloc *a, unsigned want);
void ust_alloc_fini(struct ust_alloc *a);
size_t ust_alloc_size(const struct ust_alloc *a, size_t size);
void *ust_alloc(struct ust_alloc *a, unsigned slot, size_t size);
void ust_alloc_free(struct ust_alloc *a, void *p, size_t size);
void ust_alloc_trim(struct ust_alloc *a);
void ust_alloc_flush(struct ust_alloc *a);
void ust_alloc_sparse(struct ust_alloc *a, void *const *p, unsigned n, bool *move);
void *ust_alloc_move(struct ust_alloc *a, void *p, size_t size);
int ust_alloc_usage(struct ust_alloc *a, struct ust_alloc_usage *out);
int ust_alloc_bin(const struct ust_alloc *a, size_t size, unsigned *bin);
int ust_alloc_slab(const struct ust_alloc *a, size_t size, unsigned *nregs,
		   size_t *slab_size);

/* table.c */
struct ust_entry *ust_sub_find(struct ust_sub *sub, uint64_t h, const void *key,
			       size_t klen, struct ust_entry ***link);
bool ust_sub_prepare(struct ust_sub *sub);
void ust_sub_insert(struct ust_sub *sub, struct ust_entry *e, uint64_t h);
void ust_sub_unlink(struct ust_sub *sub, struct ust_entry **link);
struct ust_entry *ust_sub_detach_all(struct ust_sub *sub);
bool ust_sub_shrink(struct ust_sub *sub);
uint64_t ust_entry_hash(const struct ust_entry *e);

/* account.c */
uint64_t ust_entry_charge(const ust_store *st, const struct ust_entry *e);
uint64_t ust_charge_for(const ust_store *st, size_t klen, size_t vlen);
uint64_t ust_charge_region(const ust_store *st, size_t klen, size_t vlen);
uint64_t ust_credit(const struct ust_tstripe *ts);
void ust_credit_add(struct ust_tenant *t, unsigned s, uint64_t n);
int ust_charge_try(ust_store *st, struct ust_tenant *t, unsigned s, uint64_t charge,
		   uint64_t have, uint64_t credit_g);
int ust_meta_charge(ust_store *st, struct ust_tenant *t, uint64_t n);
void ust_meta_uncharge(ust_store *st, struct ust_tenant *t, uint64_t n);
void ust_hold(ust_store *st, struct ust_tenant *t, int64_t d,
	      _Atomic uint64_t *kind);
void ust_account_in(ust_store *st, struct ust_pool *p, unsigned s,
		    const struct ust_entry *e, uint64_t charge);
void ust_account_out(ust_store *st, struct ust_pool *p, unsigned s,
		     const struct ust_entry *e, bool keep);
void ust_credit_trim(ust_store *st, struct ust_tenant *t, unsigned s);
void ust_credit_drop(ust_store *st, struct ust_tenant *t, unsigned s);
void ust_credit_reclaim(ust_store *st, struct ust_tenant *only);
uint64_t ust_tenant_eph(const ust_store *st, const struct ust_tenant *t);
void ust_stats_add(struct ust_stats *to, const struct ust_stats *from);
struct ust_entry *ust_entry_new(ust_store *st, unsigned s, uint32_t tenant,
				const void *key, size_t klen, const void *val, size_t vlen);
void ust_entry_free_list(ust_store *st, struct ust_entry *e);
void ust_account_out_noindex(ust_store *st, struct ust_pool *p, unsigned s,
			     const struct ust_entry *e, bool keep);

/* region.c */
uint64_t ust_region_hash(const struct ust_region *g, uint32_t pool,
			 const void *key, size_t klen);
uint64_t ust_entry_rec_off(const struct ust_region *g, const struct ust_entry *e);
struct ust_entry *ust_region_entry_new(ust_store *st, unsigned s,
				       struct ust_region *g, uint32_t tenant,
				       const void *key, size_t klen,
				       const void *val, size_t vlen,
				       int64_t stage_off, size_t stage_len);
void ust_region_entry_drop(ust_store *st, struct ust_region *g,
			   struct ust_entry *e);
/* A hint before unlinking entry e of pool p: if its value is in its
 * tenant's region, fetch its index buckets and its record's slab map slot
 * into the cache. Caller holds a stripe lock (the tenant cannot go). */
void ust_region_prefetch(ust_store *st, const struct ust_pool *p, const struct ust_entry *e);
void ust_region_unlink(ust_store *st, struct ust_pool *p, const struct ust_entry *e);
/*
 * ust_region_unlink() of n region entries of pool p (an eviction's
 * victims, one tenant's): each leaves the index, then their records go
 * back to the arena in one call (ust_arena_release_many), so that the
 * descriptor misses of one overlap the work on the others. An entry of
 * another region, or past UST_UNLINK_MAX, is unlinked alone.
 */
#define UST_UNLINK_MAX 64u
void ust_region_unlink_many(ust_store *st, struct ust_pool *p,
			    struct ust_entry *const *e, unsigned n);
/* Give [off, off + len) back to g's arena and charge t for what its hazard
 * words pin (t: g's tenant, kept alive by the caller's stripe lock; NULL
 * or a tenant that no longer owns g: no charge). */
void ust_region_release(ust_store *st, struct ust_region *g,
			struct ust_tenant *t, uint64_t off, size_t len);
void ust_region_destroy(struct ust_region *g);
struct ust_region *ust_region_detach_locked(ust_store *st, struct ust_tenant *t);
void ust_region_settle(ust_store *st, struct ust_region *g, struct ust_tenant *t);
void ust_region_retire(struct ust_region *g);
void ust_regions_trim(ust_store *st);
uint64_t ust_regions_slack(ust_store *st);
uint64_t ust_region_slack_excess(const struct ust_region *g, uint64_t *slack);

/* store.c: stripes, the big-reader lock, id tables */
void ust_lock_all(ust_store *st);
void ust_unlock_all(ust_store *st);
struct ust_tenant *ust_tenant_get(const ust_store *st, uint32_t id);
struct ust_pool *ust_pool_get(const ust_store *st, uint32_t id);
int ust_table_grow(void **arr, uint32_t *cap, uint32_t need);
unsigned ust_stripe_of(const ust_store *st, uint32_t pool, uint64_t h);
bool ust_stripe_used(const ust_store *st, uint32_t pool, unsigned s);
uint32_t ust_now(ust_store *st);

/* pool.c */
bool ust_pool_granted(const struct ust_pool *p, uint32_t tenant);
bool ust_pool_may_see(const struct ust_pool *p, uint32_t tenant);
bool ust_pool_may_manage(const struct ust_pool *p, uint32_t tenant);
void ust_pool_forget(struct ust_pool *p, uint32_t tenant);
void ust_pool_drop_entries(ust_store *st, struct ust_pool *p, uint32_t tenant,
			   bool all, bool locked);
void ust_pool_release(ust_store *st, struct ust_pool *p);
void ust_pool_drop_pinned(ust_store *st, struct ust_pool *p, uint32_t tenant,
			  bool all);
bool ust_name_ok(const char *name);
void ust_pool_sum(ust_store *st, struct ust_pool *p, struct ust_stats *out);
void ust_tenant_sum(ust_store *st, struct ust_tenant *t, struct ust_stats *out);

/*
 * What a PUT short of room asks evict.c for: its charge, the entry it
 * replaces (charge credited to the tenant when it pays for it, to the store
 * always; whether it is ephemeral) and its key, whose entry is never evicted
 * to make room for the PUT that replaces it (that frees nothing the credit
 * did not already count, and would make the credit stale).
 */
struct ust_room {
	uint64_t charge;
	uint64_t credit_t; /* charge of the replaced entry, if the tenant's */
	uint64_t credit_g; /* charge of the replaced entry */
	bool old_eph;      /* the replaced entry is in an ephemeral pool */
	uint32_t pool;
	unsigned s;        /* stripe of (pool, key) */
	const void *key;
	size_t klen;
};

/* compact.c */
void ust_compact_note(ust_store *st);
void ust_compact_fini(ust_store *st);

/* evict.c: callers hold no stripe lock; see each function for mgmt */
int ust_make_room(ust_store *st, uint32_t tenant, const struct ust_room *room);
void ust_shrink(ust_store *st);

/*
 * A pool id is its slot in st->pools (low UST_POOL_SLOT_BITS) and the
 * slot's generation: a destroyed pool's slot is used again, under a new
 * id, so creating and destroying pools in a loop holds no memory, and a
 * handle to a destroyed pool does not reach its successor (until the
 * generation wraps, after 1024 reuses of the slot).
 */
#define UST_POOL_SLOT_BITS 22
#define UST_POOL_SLOT_MASK ((1u << UST_POOL_SLOT_BITS) - 1)

/* The pool in slot i (1 <= i < next_pool), or NULL. Locks: as st->pools. */
static inline struct ust_pool *ust_pool_at(const ust_store *st, uint32_t i)
{
	return i > 0 && i < st->next_pool ? st->pools[i] : NULL;
}

/* Empty p's slot and keep its next id for reuse. All stripe locks held. */
void ust_pool_slot_free(ust_store *st, const struct ust_pool *p);

/*
 * Set an admission limit (st->admit_cap, t->admit_max) for a new limit:
 * the limit itself, or what is held now if that is more (a shrink then
 * brings it down, ust_shrink). Caller holds st->mgmt.
 */
static inline void ust_admit_from(_Atomic uint64_t *admit, uint64_t limit,
				  _Atomic uint64_t *held)
{
	uint64_t now = atomic_load_explicit(held, memory_order_relaxed);

	atomic_store_explicit(admit, now > limit ? now : limit, memory_order_relaxed);
}

/*
 * Take st->mgmt, counted as a waiter while blocked: a shrink that holds it
 * for seconds lets counted waiters in between its steps (evict.c,
 * mgmt_breathe), so INFO, a pool open or a PUT that must make room waits
 * for one step, not for the whole shrink.
 */
static inline void ust_mgmt_lock(ust_store *st)
{
	atomic_fetch_add_explicit(&st->mgmt_waiters, 1, memory_order_relaxed);
	pthread_mutex_lock(&st->mgmt);
	atomic_fetch_sub_explicit(&st->mgmt_waiters, 1, memory_order_relaxed);
}

#endif /* UTMEM_STORE_INTERNAL_H */

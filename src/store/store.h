/*
 * store.h — the tmem store: tenants, pools, entries, accounting, eviction.
 *
 * The store is the thesis's "backend": it owns the host's pooled memory,
 * keeps every tenant within its allowance and serves PUT/GET/INVALIDATE with
 * tmem semantics (docs/design.md, ../../shared/design/ARCHITECTURE.md). It
 * knows nothing of sockets, daemons or wire formats; utmemd links it, and so
 * do the unit tests and the microbenchmark.
 *
 * Conventions: every function returning int returns 0 (or a count) on
 * success and a negative errno value on failure. All functions are safe to
 * call from any thread at any time; the PUT/GET path takes only per-shard
 * locks and atomics, never one global lock.
 *
 * Errors that callers map to user-visible statuses:
 *   -EINVAL     malformed argument (NULL key with non-zero length, bad kind)
 *   -EBADF      pool id unknown, destroyed, or not accessible to this tenant
 *               (the two are deliberately indistinguishable: opacity)
 *   -ENOENT     GET/INVALIDATE miss; unknown tenant or pool name
 *   -EACCES     shared pool not granted to this tenant (or absent)
 *   -EEXIST     name already used (tenant add; pool open with another kind)
 *   -EMSGSIZE   key or value larger than the configured limit
 *   -EDQUOT     the tenant's own limit (max) would be exceeded
 *   -ENOSPC     the host capacity would be exceeded
 *   -ENOMEM     the allocator failed
 *   -ENOBUFS    (ust_get_buf) the caller's buffer is too small; nothing removed
 *   -EROFS      PUT by a frozen tenant (ust_tenant_freeze); no value is left
 */
#ifndef UTMEM_STORE_H
#define UTMEM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest tenant or pool name, in bytes, not counting the NUL. */
#define UST_NAME_MAX 63

/* Tenant id 0 is the operator: it may flush, destroy and list any pool. */
#define UST_TENANT_ADMIN 0u

/* Pool kinds: one persistence bit and one sharing bit. */
enum ust_pool_kind {
	UST_POOL_PERSISTENT = 0,
	UST_POOL_EPHEMERAL = 1u << 0,
	UST_POOL_SHARED = 1u << 1,
};

/* ust_pool_open() flags. */
#define UST_OPEN_CREATE (1u << 0)

/* ust_get() flags. */
#define UST_GET_EXCLUSIVE (1u << 0) /* "pop": return and remove in one step */

typedef struct ust_store ust_store;

/* The longest key a store takes: an entry keeps a key's length in 16 bits. */
#define UST_KEY_MAX 65535u

struct ust_config {
	uint64_t capacity;  /* host bytes the store may charge in all */
	size_t max_key;     /* longest key in bytes, <= UST_KEY_MAX; 0 = 1024 */
	size_t max_value;   /* longest value in bytes; 0 = 64 MiB */
	unsigned shards;    /* lock stripes; 0 = chosen from the core count */
	unsigned flags;     /* UST_CFG_* */
	/* With UST_CFG_COMPACT_DEFER: called after every ust_trim(), from the
	 * thread that trimmed and with no store lock held, so that the
	 * maintenance thread purges now rather than at its next look; it must
	 * not call into the store. NULL: nobody is told. */
	void (*trimmed)(void *arg);
	void *trimmed_arg;
};

/*
 * ust_config.flags. UST_CFG_COMPACT_DEFER: ust_trim() (and so shrinking,
 * flush, destroy) only flushes the calling thread's cache and counts
 * (ust_trim_count); the caller's maintenance thread purges (ust_purge) and
 * compacts (ust_compact), so that management calls, and the connections
 * that share a thread with them, are not held up by either.
 */
#define UST_CFG_COMPACT_DEFER (1u << 0)
/*
 * UST_CFG_CHARGE_POOLS: charge each private pool's metadata
 * (ust_pool_meta_bytes) to its tenant. utmemd does, so that opening pools
 * is paid for like storing; off by default, so charged bytes are entries
 * alone.
 */
#define UST_CFG_CHARGE_POOLS (1u << 1)

struct ust_limits {
	uint64_t min;    /* reserved bytes: never evicted to serve others */
	uint64_t max;    /* cap in bytes; UINT64_MAX = no cap of its own */
	uint32_t weight; /* share of what is left above every min; >= 1 */
};

/* Counters kept per tenant and per pool (and summed for the store). */
struct ust_stats {
	uint64_t entries;
	uint64_t bytes_stored;  /* key + value bytes as given by clients */
	uint64_t bytes_charged; /* allocator's real size + metadata */
	uint64_t puts;
	uint64_t gets;
	uint64_t hits;
	uint64_t misses;
	uint64_t invalidates;
	uint64_t evictions;
	uint64_t refused_puts;
};

struct ust_tenant_info {
	uint32_t id;
	char name[UST_NAME_MAX + 1];
	struct ust_limits limits;
	struct ust_stats stats; /* entries only: pool_bytes is apart */
	/*
	 * Freeable: the charge of the tenant's ephemeral entries, i.e. what a
	 * shrink could take from it now without touching persistent data
	 * (entries under its min go last, see docs/store.md).
	 */
	uint64_t freeable;
	bool frozen;
	uint32_t pools;         /* its private pools */
	uint32_t max_pools;     /* ust_tenant_set_max_pools; 0 = no limit */
	uint64_t pool_bytes;    /* charged for their metadata */
};

struct ust_pool_info {
	uint32_t id;
	char name[UST_NAME_MAX + 1];
	uint32_t owner; /* tenant id of a private pool; UST_TENANT_ADMIN if shared */
	unsigned kind;  /* enum ust_pool_kind bits */
	struct ust_stats stats;
};

struct ust_store_info {
	uint64_t capacity;
	uint64_t charged;  /* bytes charged to all tenants */
	uint64_t reserved; /* sum of every tenant's min */
	uint32_t tenants;
	uint32_t pools;
	struct ust_stats stats; /* sums over all pools */
	uint64_t freeable; /* sum of the tenants' freeable bytes */
	uint64_t pinned;   /* freed value-region records that tenants' hazard
			      words pin: charged to them (in charged) until
			      reused or punched */
	uint64_t index_held; /* what tenants' region indexes cost beyond
				their entries' share: charged to them (in
				charged) */
	uint64_t region_slack; /* free slots among live records in tenants'
				  value-region slabs under a page: resident,
				  not charged (ust_region_cfg.slack_free) */
};

/*
 * Create a store. cfg->capacity may be 0 (nothing can be stored until it is
 * raised). Returns 0 and sets *out, or -EINVAL / -ENOMEM.
 */
int ust_store_new(const struct ust_config *cfg, ust_store **out);

/* Free every entry, pool and tenant, and the store. Accepts NULL. */
void ust_store_free(ust_store *st);

/* Effective limits (defaults filled in). */
size_t ust_max_key(const ust_store *st);
/* Bytes charged to a tenant for each private pool it has (metadata). */
uint64_t ust_pool_meta_bytes(const ust_store *st);
size_t ust_max_value(const ust_store *st);

/*
 * Change the host capacity. Growth is immediate. Shrinking evicts ephemeral
 * entries at once until the charge fits, never drops persistent ones (later
 * PUTs, to ephemeral pools too, are refused with -ENOSPC until it fits) and
 * returns freed memory to the OS before returning.
 */
int ust_set_capacity(ust_store *st, uint64_t capacity);

/*
 * Lowering limits without doing the eviction: with UST_SHRINK_LATER,
 * ust_set_capacity_ex() and ust_tenant_set_ex() set the new limits and
 * return; until a shrink runs, PUTs are admitted against what is held
 * (nobody grows: a PUT that needs room evicts its own charge).
 * ust_over_limits() tells whether entries must still go, and
 * ust_shrink_now(), on any thread, evicts and gives the memory back as the
 * plain calls would have. utmemd runs the operator's shrinks so, on its
 * bulk thread. Flags 0: the plain calls.
 */
#define UST_SHRINK_LATER 1u
int ust_set_capacity_ex(ust_store *st, uint64_t capacity, unsigned flags);
bool ust_over_limits(ust_store *st);
void ust_shrink_now(ust_store *st);
void ust_store_info(ust_store *st, struct ust_store_info *out);

/*
 * Tenants. Names are 1..UST_NAME_MAX bytes of [A-Za-z0-9._-]. Ids start at 1
 * and are never reused. Removing a tenant destroys its private pools and
 * frees every entry it put in shared pools. ust_tenant_set() applies at once,
 * with the same shrinking rules as ust_set_capacity().
 */
int ust_tenant_add(ust_store *st, const char *name, const struct ust_limits *lim,
		   uint32_t *id);
int ust_tenant_remove(ust_store *st, uint32_t tenant);
int ust_tenant_set(ust_store *st, uint32_t tenant, const struct ust_limits *lim);
int ust_tenant_set_ex(ust_store *st, uint32_t tenant, const struct ust_limits *lim,
		      unsigned flags);
/*
 * Most private pools the tenant may have (0 = no limit; the default). A
 * lower limit refuses new pools, never closes existing ones. Returns 0 or
 * -ENOENT.
 */
int ust_tenant_set_max_pools(ust_store *st, uint32_t tenant, uint32_t max_pools);
int ust_tenant_find(ust_store *st, const char *name, uint32_t *tenant);

/*
 * Freeze (frozen = true) or thaw a tenant, as Xen tmem's freeze for
 * maintenance: while frozen, every PUT it makes is refused with -EROFS (and,
 * as for any refused PUT, removes the old value under the key), except a
 * ust_put_ex() paid from a reservation (src->reserved: a posted PUT the
 * tenant's credit covered before the freeze, which is stored), while GET,
 * exclusive GET, INVALIDATE, flush and destroy are served as usual. Other
 * tenants are unaffected, also in shared pools. Returns 0 or -ENOENT.
 * Lock-free (an atomic flag the PUT path reads).
 */
int ust_tenant_freeze(ust_store *st, uint32_t tenant, bool frozen);
int ust_tenant_info(ust_store *st, uint32_t tenant, struct ust_tenant_info *out);

/*
 * Fill up to cap records, ordered by id; return how many tenants exist (may be
 * more than cap: call again with a larger array).
 */
int ust_tenant_list(ust_store *st, struct ust_tenant_info *out, size_t cap);

/*
 * Open a pool by name for a tenant.
 *  - private (no UST_POOL_SHARED in kind): names are per tenant; with
 *    UST_OPEN_CREATE a missing pool is created; an existing pool of another
 *    kind is -EEXIST. With UST_CFG_CHARGE_POOLS, creating one charges
 *    its metadata (ust_pool_meta_bytes) to the tenant like an entry
 *    (-EDQUOT, -ENOSPC; ephemeral entries may be evicted to make room); a
 *    tenant that has its max_pools private pools gets -EDQUOT.
 *  - shared: the pool must have been created by the operator
 *    (ust_shared_pool_create) and granted to this tenant, else -EACCES.
 * Sets *pool to an id that is never reused.
 */
int ust_pool_open(ust_store *st, uint32_t tenant, const char *name,
		  unsigned kind, unsigned flags, uint32_t *pool);

/*
 * Operator: create a shared pool (kind gets UST_POOL_SHARED), grant/revoke.
 * A grant lets the tenant open the pool and PUT, GET and INVALIDATE in it;
 * with UST_GRANT_MANAGE also flush and destroy it for every grantee.
 * ust_pool_grant adds a plain grant (rights already given stay);
 * ust_pool_grant_rights grants and sets the rights to exactly those given.
 */
#define UST_GRANT_MANAGE (1u << 0)
int ust_shared_pool_create(ust_store *st, const char *name, unsigned kind,
			   uint32_t *pool);
int ust_pool_grant(ust_store *st, uint32_t pool, uint32_t tenant);
int ust_pool_grant_rights(ust_store *st, uint32_t pool, uint32_t tenant,
			  unsigned rights);
int ust_pool_revoke(ust_store *st, uint32_t pool, uint32_t tenant);

/*
 * Flush (drop every entry) or destroy a pool. A tenant may do so to its own
 * private pools and to shared pools it was granted with UST_GRANT_MANAGE
 * (-EACCES for a grantee without it, -EBADF for everyone else);
 * UST_TENANT_ADMIN to any. Destroying invalidates the id at once; later
 * uses return -EBADF.
 */
int ust_pool_flush(ust_store *st, uint32_t tenant, uint32_t pool);
int ust_pool_destroy(ust_store *st, uint32_t tenant, uint32_t pool);
int ust_pool_info(ust_store *st, uint32_t tenant, uint32_t pool,
		  struct ust_pool_info *out);

/*
 * List pools visible to a tenant (UST_TENANT_ADMIN: all), ordered by id.
 * Same return convention as ust_tenant_list().
 */
int ust_pool_list(ust_store *st, uint32_t tenant, struct ust_pool_info *out,
		  size_t cap);

/*
 * PUT: store a copy of val under key, replacing any old value atomically.
 * If the PUT fails for any reason (-EROFS, -EMSGSIZE, -EDQUOT, -ENOSPC,
 * -ENOMEM) the key has no value afterwards: the old one is removed, as in
 * tmem.
 * In any pool, room is made by evicting ephemeral entries: the tenant's
 * own when over its max, else those of the victim the rule in
 * docs/store.md picks (the tenant's own on a tie); persistent entries are
 * never evicted.
 */
int ust_put(ust_store *st, uint32_t tenant, uint32_t pool, const void *key,
	    size_t klen, const void *val, size_t vlen);

/*
 * GET: find key and hand its value to sink, called exactly once on a hit,
 * under the key's stripe lock (do not call back into the store from it,
 * and do only the copy there: every operation on the stripe waits).
 * A negative return from sink is passed through and, for an exclusive get,
 * leaves the entry in place. -EAGAIN from sink means "not now": the GET
 * counts nothing and changes nothing, so that the caller can prepare what
 * the copy needs (e.g. fault in its destination) without the lock and call
 * ust_get again. Returns 0 on a hit, -ENOENT on a miss.
 */
typedef int (*ust_sink_fn)(void *ctx, const void *val, size_t len);
int ust_get(ust_store *st, uint32_t tenant, uint32_t pool, const void *key,
	    size_t klen, unsigned flags, ust_sink_fn sink, void *ctx);

/*
 * GET into a caller buffer. Sets *vlen to the value's length on a hit; if it
 * exceeds cap returns -ENOBUFS and removes nothing, even when exclusive.
 */
int ust_get_buf(ust_store *st, uint32_t tenant, uint32_t pool, const void *key,
		size_t klen, unsigned flags, void *buf, size_t cap, size_t *vlen);

/* INVALIDATE one key. Returns 0 if it was there, -ENOENT if not. */
int ust_invalidate(ust_store *st, uint32_t tenant, uint32_t pool,
		   const void *key, size_t klen);

/*
 * Return memory freed by earlier removals to the OS now: when the heap is
 * fragmented (ust_compact_wanted), compact first, then purge the
 * allocator's free pages (with UST_CFG_COMPACT_DEFER: neither, see there).
 * Shrinking, flush, destroy and tenant removal call it already.
 */
void ust_trim(ust_store *st);

/*
 * Flush the calling thread's allocator cache and return every wholly free
 * page to the OS (what ust_trim does after compacting). For the
 * maintenance thread of a UST_CFG_COMPACT_DEFER store. Lock-free in the
 * store; the allocator takes its own locks.
 */
void ust_purge(ust_store *st);

/* What compaction did: one call's figures, or totals (ust_compact_totals). */
struct ust_compact_info {
	uint64_t entries_seen;  /* entries looked at */
	uint64_t moved;         /* allocations moved out of sparse slabs */
	uint64_t region_moved;  /* of them, value-region records */
	uint64_t bytes_moved;
	uint64_t tables_shrunk; /* per-stripe bucket arrays made smaller */
	uint64_t passes;        /* walks over the whole store completed */
	uint64_t ns;            /* time spent */
};

/*
 * Compaction: walk every pool's tables stripe by stripe and move entries
 * (and values kept apart) that sit in sparsely used allocator slabs to
 * fuller ones, so the sparse slabs empty and their pages can be returned;
 * halve bucket arrays below half load. Looks at up to budget entries
 * (0: until a whole pass is done), resuming where the previous call
 * stopped; a call with a budget also ends once it moved about 8 MiB, so
 * that the caller can give back what the moves freed before the next
 * call (each move fills a free slot first, possibly faulting its pages
 * in, and frees its old one after). Returns 1 if a pass over the whole
 * store completed in this call, else 0. Adds what it did to *out when not
 * NULL. Takes each stripe lock in turn for a bounded number of entries;
 * never st's management lock, so PUTs, GETs and evictions go on
 * meanwhile. Does not purge (ust_trim does).
 */
int ust_compact(ust_store *st, uint64_t budget, struct ust_compact_info *out);

/*
 * How many times ust_trim() ran: a maintenance thread that compacts for a
 * UST_CFG_COMPACT_DEFER store polls it to learn that a shrink, flush or
 * destroy just happened. Lock-free.
 */
uint64_t ust_trim_count(ust_store *st);

/*
 * Cheap totals for a controller that samples often: the charge (including
 * charge credit held by stripes, at most 256 KiB per tenant and stripe),
 * the sum of the tenants' min and the capacity. Takes st->mgmt briefly
 * for the sum of mins; no stripe lock.
 */
void ust_totals(ust_store *st, uint64_t *charged, uint64_t *reserved,
		uint64_t *capacity);

/* Every compaction so far, summed. */
void ust_compact_totals(ust_store *st, struct ust_compact_info *out);

/* The process heap, as the allocator reports it (jemalloc stats). */
struct ust_heap_info {
	uint64_t allocated; /* bytes handed out */
	uint64_t active;    /* bytes of pages holding allocations */
	uint64_t resident;  /* allocator's resident bytes, metadata included */
	uint64_t dirty;     /* free pages not yet returned to the OS */
};

/* Returns 0, or -ENOTSUP with *out zeroed (no allocator statistics). */
int ust_heap_info(ust_store *st, struct ust_heap_info *out);

/*
 * Would a compaction pass pay off? True when free space inside partly used
 * slabs (active - allocated) exceeds 1/8 of what is allocated plus 4 MiB,
 * or when the store's charge fell by a quarter since the last full pass or
 * since a shrink, flush or destroy began (bucket arrays to shrink, value
 * region slabs the drop left half empty), or when the value regions' slack
 * beyond their allowances (ust_region_cfg.slack_free; summed at each
 * ust_regions_poll) grew by UST_REGION_SLACK_FREE since the last pass
 * ended. Costs a stats refresh (tens of microseconds).
 */
bool ust_compact_wanted(ust_store *st);

/*
 * Is a shrink (lowered limits applied, ust_shrink_now and the calls that
 * shrink at once) evicting now? Compaction waits for it: a pass walks
 * every entry, and moves records that the shrink may evict next (a 1 GiB
 * shrink of 1 KiB values in value regions took twice as long beside one).
 * ust_compact_wanted() is false meanwhile.
 */
bool ust_shrinking(ust_store *st);

/*
 * Reading a pool's entries (iter.c), for persistence. ust_stripes() is the
 * number of lock stripes. ust_pool_visit() calls fn(ctx, tenant, key, klen,
 * val, vlen) for every entry of pool in stripe `stripe` (tenant: the one
 * charged for the entry), with that stripe locked: fn must not call into
 * the store, and should be quick (copy, do not write files). A negative
 * return from fn stops the visit and is returned. Returns 0, -EBADF for an
 * unknown pool, -EINVAL for a bad stripe. Visiting every stripe gives each
 * entry once; entries PUT meanwhile may or may not be seen.
 */
typedef int (*ust_visit_fn)(void *ctx, uint32_t tenant, const void *key,
			    size_t klen, const void *val, size_t vlen);
unsigned ust_stripes(const ust_store *st);
int ust_pool_visit(ust_store *st, uint32_t pool, unsigned stripe,
		   ust_visit_fn fn, void *ctx);

/* ---- value regions (region.c): shared memory for a tenant's values ---- */

/* Most hazard words (one-sided readers) a region may have. */
#define UST_REGION_MAX_HAZARDS 4096u

struct ust_region_cfg {
	void *base;       /* the caller's read-write mapping of the region */
	uint64_t size;    /* bytes, a page multiple (sparse is fine) */
	int fd;           /* its file, for punching holes; -1 = madvise on base */
	uint32_t nhaz;    /* hazard words: one-sided readers at once */
	uint64_t seed;    /* the index hash seed (random, per region) */
	size_t warm_max;  /* freed page runs kept faulted in for reuse */
	size_t warm_hard; /* up to this, punching waits for ust_regions_poll() */
	size_t warm_poll; /* ... which brings it down to this at once, */
	uint64_t warm_idle_ns; /* ... and to warm_max runs idle this long */
	/* Index bytes the entries' share (UST_INDEX_COST each) need not
	 * cover before the rest is charged to the tenant; 0 = the default,
	 * UST_REGION_INDEX_FREE. */
	uint64_t index_free;
	/* Slack of its slabs under a page (free slots among live records,
	 * ust_arena_slack) that is normal use, beyond an eighth of their
	 * records' bytes; 0 = the default, UST_REGION_SLACK_FREE. More asks
	 * for a compaction pass (ust_compact_wanted). */
	uint64_t slack_free;
};

/* See ust_region_cfg.slack_free: about one slab of every class under a
 * page, and some. */
#define UST_REGION_SLACK_FREE (4u << 20)

/* A region's index tables may cost this much beyond their entries' share
 * before the tenant is charged the difference: every sub-table at the
 * size it never shrinks below (64 x 16 buckets, 140 KiB), and some. */
#define UST_REGION_INDEX_FREE (256u << 10)

/*
 * Give tenant a value region: lay it out (docs/protocol.md section 10) and
 * keep the values of the tenant's private pools there from now on, each
 * mirrored in the region's index for one-sided reads. Call before the
 * tenant stores anything in a private pool. The mapping must outlive the
 * tenant (ust_tenant_remove() detaches and forgets the region). Returns 0,
 * -EINVAL, -ENOENT, -EEXIST (it has one) or -ENOMEM.
 */
int ust_region_attach(ust_store *st, uint32_t tenant,
		      const struct ust_region_cfg *cfg);

/* Assign / give back a hazard word of tenant's region (one per reader). */
int ust_region_hazard_get(ust_store *st, uint32_t tenant, uint32_t *idx);
void ust_region_hazard_put(ust_store *st, uint32_t tenant, uint32_t idx);

struct ust_region_stats {
	uint64_t size, heap_bytes;
	uint64_t alloc_bytes;     /* records, index arrays and staging extents */
	uint64_t resident_bytes;  /* heap pages the arena has not punched */
	uint64_t warm_bytes;      /* free page runs kept for reuse */
	uint64_t deferred_bytes;  /* freed, waiting for a hazard to clear */
	uint64_t index_shared, index_private; /* bytes of the index */
	uint64_t index_failed;    /* entries the index had no room for */
	uint64_t index_held;      /* index bytes charged beyond the entries' */
	uint64_t slack_bytes;     /* free slots of slabs under a page (ust_arena_slack) */
};
int ust_region_stats(ust_store *st, uint32_t tenant, struct ust_region_stats *out);
/*
 * Background work of every region (a maintenance thread, often): bring
 * warm caches back to warm_max, retry freed ranges a hazard held, and take
 * back those held longer than UVR_HAZARD_GRACE_MS. Punches happen here,
 * not on the data path (up to warm_hard).
 *
 * A tenant may write anywhere in its region, so it can fault in pages
 * outside its allocations, which nobody is charged for. Each call compares
 * the real allocation (st_blocks) of UST_REGION_SCRUB_PER_POLL region
 * files, taken in turn, with what their arenas account for (so every file
 * is looked at within ceil(regions / UST_REGION_SCRUB_PER_POLL) calls, and
 * an idle daemon of thousands of tenants does not spend a system call per
 * tenant per poll); above that by more than UST_REGION_SCRUB_SLACK it
 * punches every free page again (ust_arena_scrub) and reports the tenant
 * and the bytes to scrubbed (may be NULL), outside any lock.
 */
#define UST_REGION_SCRUB_SLACK (4u << 20)
#define UST_REGION_SCRUB_PER_POLL 64u
typedef void (*ust_scrubbed_fn)(void *arg, uint32_t tenant, uint64_t bytes);
void ust_regions_poll(ust_store *st, ust_scrubbed_fn scrubbed, void *arg);

/*
 * Map in the pages of a value a GET is about to copy under a stripe lock,
 * from outside any lock, so that the copy does not fault; p may be stale
 * (the value gone meanwhile). A value in tenant's value region, whose
 * records a client may have written without utmemd ever touching them, is
 * read a byte a page where the file holds the page (mincore), the region
 * held alive meanwhile: populating is not enough on a VM whose hypervisor
 * maps a page for the process only at its first touch. Elsewhere (utmemd's
 * heap) it is populated for reading (MADV_POPULATE_READ, safe on any
 * address).
 */
void ust_prefault_value(ust_store *st, uint32_t tenant, const void *p, size_t n);
/* Punch the region's warm cache and empty slabs now. */
int ust_region_trim(ust_store *st, uint32_t tenant);

/*
 * Reservations: charge bytes to tenant (and the store) with no entry yet,
 * making room like a PUT would (ephemeral entries may be evicted). What a
 * connection is granted as credit for posted PUTs is reserved this way.
 * Returns 0, -EDQUOT, -ENOSPC, -ENOENT, or -EBADF (the tenant removed
 * meanwhile). ust_unreserve() gives bytes back
 * (nothing if the tenant is gone: its reservations went with it).
 */
int ust_reserve(ust_store *st, uint32_t tenant, uint64_t bytes);
void ust_unreserve(ust_store *st, uint32_t tenant, uint64_t bytes);
/* Bytes tenant could still be charged now (its max and the capacity,
 * ephemeral entries not counted as room). 0 if it is gone or frozen. */
uint64_t ust_tenant_room(ust_store *st, uint32_t tenant);

/*
 * Staging extents: a page run of len bytes of tenant's region, reserved
 * against its quota (*charge bytes), for a client to write one record into
 * before ust_put_ex() adopts it. With prepaid, the caller already holds
 * ust_stage_charge(len) bytes reserved (ust_reserve) and hands them over;
 * nothing is reserved here, and on failure they stay the caller's. Returns
 * 0 with *off, -ENOENT (no region), -EDQUOT/-ENOSPC, or -ENOMEM.
 * ust_stage_free() gives an unused one back.
 */
int ust_stage_alloc(ust_store *st, uint32_t tenant, size_t len, bool prepaid,
		    uint64_t *off, uint64_t *charge);
void ust_stage_free(ust_store *st, uint32_t tenant, uint64_t off, size_t len,
		    uint64_t charge);
/* What a staging extent of len bytes is charged. Pure. */
uint64_t ust_stage_charge(size_t len);

/*
 * Count GETs served outside the store (one-sided reads a tenant's clients
 * made and reported) in pool (which must be the tenant's) and the tenant:
 * reads, of which hits hit. pool 0 or another's: tenant figures only.
 */
void ust_pool_add_reads(ust_store *st, uint32_t tenant, uint32_t pool,
			uint64_t reads, uint64_t hits);

/* Where a PUT's value comes from, and who pays (ust_put_ex). */
struct ust_put_src {
	const void *val;    /* copy vlen bytes from here, unless staged */
	size_t vlen;
	int64_t stage_off;  /* >= 0: adopt this staging extent, whose record
			       [klen][0][key][value] the client wrote */
	size_t stage_len;   /* the staging extent's length */
	uint64_t *reserved; /* non-NULL: take the charge from these reserved
			       bytes (decremented) rather than the limits, so
			       the PUT cannot be refused for room */
};

/*
 * PUT with a choice of source and payer; otherwise as ust_put(). A staged
 * value for a pool whose values do not live in the region (a shared pool)
 * is copied out of the extent, which is then released. With reserved, a
 * PUT whose charge exceeds *reserved pays the rest from the limits (and
 * may then be refused). The staging extent is consumed in every case.
 * Returns as ust_put().
 */
int ust_put_ex(ust_store *st, uint32_t tenant, uint32_t pool, const void *key,
	       size_t klen, const struct ust_put_src *src);

/* Bytes a PUT may be charged, at most, for this key and value (either
 * layout): what connection credit is counted in. Pure. */
uint64_t ust_put_bound(size_t klen, size_t vlen);

#ifdef __cplusplus
}
#endif

#endif /* UTMEM_STORE_H */

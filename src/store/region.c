/*
 * region.c — a tenant's value region in the store: the shared memory that
 * holds the values of its private pools, laid out as src/proto/region.h
 * says (header, hazard words, index directory, heap). The arena (arena.c)
 * manages the heap; the shared index (sindex.c) mirrors every entry so that
 * clients can read values without a request.
 *
 * What lives where: each entry's key, lengths and links stay in the store's
 * private tables as for any entry; the value lives in a record
 * [u32 klen][u32 0][key][value] in the heap, which either utmemd writes (a
 * PUT whose value came in a frame) or the client wrote into a staging
 * extent that the entry then adopts (PUT_REF: no copy at all). The key is in
 * the record too, so that a one-sided reader can compare it; utmemd never
 * reads a record back except as opaque value bytes.
 *
 * Lifetime: arena and index calls run under a stripe lock, or with
 * g->users raised (staging calls from a connection); tenant removal detaches
 * the region under every stripe lock, waits for users to drain, then
 * destroys it.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "store/internal.h"

/* The index's heap callbacks: bucket arrays come from the arena too. */
/* The shared index lives in the heap, pinned: utmemd updates it on every
 * PUT and eviction, and the arena's unmapping of spans around freed
 * records (before punching them) must not take its pages out of view. */
static int64_t idx_alloc(void *ctx, size_t len)
{
	int64_t off = ust_arena_alloc(ctx, len, NULL);

	if (off >= 0)
		(void)ust_arena_pin(ctx, (uint64_t)off, len);
	return off;
}

static void idx_release(void *ctx, uint64_t off, size_t len)
{
	ust_arena_unpin(ctx, off, len);
	(void)ust_arena_release(ctx, off, len);
}

uint64_t ust_region_hash(const struct ust_region *g, uint32_t pool,
			 const void *key, size_t klen)
{
	return uvr_hash(g->idx.seed, pool, key, klen);
}

/* Offset in the region of e's record. */
uint64_t ust_entry_rec_off(const struct ust_region *g, const struct ust_entry *e)
{
	return (uint64_t)(ust_entry_ptr(e) - g->base);
}

/* Bytes of the record of an entry with this key and value. */
static size_t rec_len(size_t klen, size_t vlen)
{
	return (size_t)uvr_rec_size(klen, vlen);
}

void ust_region_destroy(struct ust_region *g)
{
	if (!g)
		return;
	ust_sindex_fini(&g->idx);
	ust_arena_destroy(g->arena);
	pthread_mutex_destroy(&g->haz_lock);
	pthread_mutex_destroy(&g->hold_lock);
	free(g->haz_used);
	free(g);
}

/* Where header, hazard table, directory and heap go in a region of size. */
static int layout(uint64_t size, uint32_t nhaz, struct uvr_hdr *h)
{
	uint64_t dir_end;

	memset(h, 0, sizeof(*h));
	h->magic = UVR_MAGIC;
	h->layout = UVR_LAYOUT;
	h->size = size;
	h->nsub = UVR_NSUB;
	h->nhaz = nhaz;
	h->haz_off = UVR_PAGE;
	h->dir_off = h->haz_off + (uint64_t)nhaz * sizeof(struct uvr_hazard);
	dir_end = h->dir_off + (uint64_t)UVR_NSUB * sizeof(struct uvr_dir);
	h->heap_off = (dir_end + UVR_PAGE - 1) & ~(uint64_t)(UVR_PAGE - 1);
	if (h->heap_off + 16 * UVR_PAGE > size)
		return -EINVAL;
	h->heap_len = (size - h->heap_off) & ~(uint64_t)(UVR_PAGE - 1);
	return 0;
}

int ust_region_attach(ust_store *st, uint32_t tenant,
		      const struct ust_region_cfg *cfg)
{
	struct ust_arena_cfg ac = {0};
	struct ust_sindex_mem mem = {idx_alloc, idx_release, NULL};
	struct ust_region *g;
	struct ust_tenant *t;
	struct uvr_hdr h;
	int err;

	if (!st || !cfg || !cfg->base || (cfg->size % UVR_PAGE) ||
	    cfg->nhaz == 0 || cfg->nhaz > UST_REGION_MAX_HAZARDS ||
	    layout(cfg->size, cfg->nhaz, &h))
		return -EINVAL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->haz_used = calloc(cfg->nhaz, 1);
	if (!g->haz_used) {
		free(g);
		return -ENOMEM;
	}
	pthread_mutex_init(&g->haz_lock, NULL);
	pthread_mutex_init(&g->hold_lock, NULL);
	g->base = cfg->base;
	g->size = cfg->size;
	g->nhaz = cfg->nhaz;
	g->haz_off = h.haz_off;
	h.seed = cfg->seed;
	h.tenant = tenant;
	/* Hazard words and directory start clear (the heap is punched by the
	 * arena); the header goes last. */
	memset(g->base + h.haz_off, 0, h.heap_off - h.haz_off);
	ac.base = cfg->base;
	ac.fd = cfg->fd;
	ac.heap_off = h.heap_off;
	ac.heap_len = h.heap_len;
	ac.warm_max = cfg->warm_max;
	ac.warm_hard = cfg->warm_hard;
	ac.warm_poll = cfg->warm_poll;
	ac.warm_idle_ns = cfg->warm_idle_ns;
	g->index_free = cfg->index_free ? cfg->index_free : UST_REGION_INDEX_FREE;
	g->slack_free = cfg->slack_free ? cfg->slack_free : UST_REGION_SLACK_FREE;
	ac.slack_free = g->slack_free;
	ac.hazards = g->base + h.haz_off;
	ac.nhazards = cfg->nhaz;
	ac.hazard_stride = sizeof(struct uvr_hazard);
	err = ust_arena_create(&ac, &g->arena);
	if (err)
		goto err_region;
	ust_arena_hazards_live(g->arena, 0); /* none handed out yet */
	mem.ctx = g->arena;
	err = ust_sindex_init(&g->idx, g->base, g->size, h.dir_off, cfg->seed, &mem);
	if (err)
		goto err_arena;
	memcpy(g->base, &h, sizeof(h));

	ust_mgmt_lock(st);
	t = ust_tenant_get(st, tenant);
	err = !t ? -ENOENT : t->region ? -EEXIST : 0;
	if (!err) {
		ust_lock_all(st);
		t->region = g;
		ust_unlock_all(st);
	}
	pthread_mutex_unlock(&st->mgmt);
	if (err)
		goto err_index;
	return 0;
err_index:
	ust_sindex_fini(&g->idx);
err_arena:
	ust_arena_destroy(g->arena);
	g->arena = NULL;
err_region:
	pthread_mutex_destroy(&g->haz_lock);
	pthread_mutex_destroy(&g->hold_lock);
	free(g->haz_used);
	free(g);
	return err;
}

/*
 * Take tenant t's region away (caller holds st->mgmt and every stripe lock,
 * after every entry of t was dropped). What it held goes with the tenant's
 * charge; the store's counts of it go here. Returns the region for
 * ust_region_retire().
 */
struct ust_region *ust_region_detach_locked(ust_store *st, struct ust_tenant *t)
{
	struct ust_region *g = t->region;

	if (g) {
		pthread_mutex_lock(&g->hold_lock);
		atomic_fetch_sub(&st->pinned, g->held_pin);
		atomic_fetch_sub(&st->index_held, atomic_load(&g->held_idx));
		g->held_pin = 0;
		atomic_store(&g->held_idx, 0);
		pthread_mutex_unlock(&g->hold_lock);
	}
	t->region = NULL;
	return g;
}

/* Wait for staging calls in flight, then destroy (no lock held). */
void ust_region_retire(struct ust_region *g)
{
	if (!g)
		return;
	while (atomic_load(&g->users))
		sched_yield();
	ust_region_destroy(g);
}

/*
 * Find tenant's region and raise its user count, so it outlives the call
 * even if the tenant is removed meanwhile. Returns it, or NULL. The
 * _locked form for a caller holding stripe 0's lock.
 */
static struct ust_region *region_enter_locked(ust_store *st, uint32_t tenant)
{
	struct ust_tenant *t = ust_tenant_get(st, tenant);

	if (!t || !t->region)
		return NULL;
	atomic_fetch_add(&t->region->users, 1);
	return t->region;
}

static struct ust_region *region_enter(ust_store *st, uint32_t tenant)
{
	struct ust_region *g;

	pthread_mutex_lock(&st->stripes[0].lock);
	g = region_enter_locked(st, tenant);
	pthread_mutex_unlock(&st->stripes[0].lock);
	return g;
}

static void region_leave(struct ust_region *g)
{
	atomic_fetch_sub(&g->users, 1);
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif

void ust_prefault_value(ust_store *st, uint32_t tenant, const void *p, size_t n)
{
	uintptr_t pg = UST_ARENA_PAGE, lo = (uintptr_t)p & ~(pg - 1);
	uintptr_t hi = ((uintptr_t)p + n + pg - 1) & ~(pg - 1);
	unsigned char vec[4096];
	struct ust_region *g;

	if (!n || hi < lo)
		return;
	g = region_enter(st, tenant);
	if (!g || lo < (uintptr_t)g->base || hi > (uintptr_t)g->base + g->size) {
		if (g)
			region_leave(g);
		/* utmemd's heap: populating a page freed meanwhile maps the
		 * zero page at most, and an unmapped range fails quietly. */
		(void)madvise((void *)lo, hi - lo, MADV_POPULATE_READ);
		return;
	}
	/* In the region: only pages the file holds, a chunk at a time. A
	 * hole (the value freed and punched meanwhile) is left alone, since
	 * reading it would allocate a page there. */
	while (lo < hi) {
		size_t pages = (hi - lo) / pg < sizeof(vec) ? (hi - lo) / pg : sizeof(vec);

		if (mincore((void *)lo, pages * pg, vec) < 0)
			break;
		for (size_t i = 0; i < pages; i++)
			if (vec[i] & 1)
				(void)*(volatile const uint8_t *)(lo + i * pg);
		lo += pages * pg;
	}
	region_leave(g);
}

/* Index charges are brought up to date in steps of at least this much,
 * except the first byte and the last: a growing table is charged at once. */
#define INDEX_HOLD_STEP 4096u

/* What g's index tables cost beyond their entries' share and index_free. */
static uint64_t index_excess(struct ust_region *g)
{
	uint64_t bytes = atomic_load_explicit(&g->idx.bytes, memory_order_relaxed);
	uint64_t share = atomic_load_explicit(&g->idx.count, memory_order_relaxed) *
			 UST_INDEX_COST + g->index_free;

	return bytes > share ? bytes - share : 0;
}

static bool index_due(uint64_t excess, uint64_t held)
{
	uint64_t gap = excess > held ? excess - held : held - excess;

	return gap >= INDEX_HOLD_STEP || (gap && (excess == 0 || held == 0));
}

/* Would ust_region_settle have anything to do? (Loads only.) */
static bool settle_due(struct ust_region *g)
{
	return ust_arena_deferred_changed(g->arena) ||
	       index_due(index_excess(g),
			 atomic_load_explicit(&g->held_idx, memory_order_relaxed));
}

/*
 * Charge the tenant what it holds without an entry:
 *
 * - A freed record that a hazard word names cannot be reused or punched
 *   until no word does (arena_hazard.c), at most UVR_HAZARD_GRACE_MS. The
 *   tenant sets its own words, so the bytes it pins this way are charged
 *   to it for as long as they are held, like its entries: without that it
 *   could make utmemd keep hundreds of freed records (up to max_value
 *   each) resident beyond its quota. The arena counts the change.
 * - Each entry pays UST_INDEX_COST for its share of the index, what an
 *   honest index costs per entry on average. The tenant knows its index's
 *   seed, so keys crafted to share buckets can make a sub-table double
 *   again and again with few entries in it: what the tables cost beyond
 *   the entries' share and index_free is charged too.
 *
 * hold_lock keeps the charges of one region in the order they were taken,
 * so the tenant's charge never dips below what it holds.
 */
void ust_region_settle(ust_store *st, struct ust_region *g, struct ust_tenant *t)
{
	int64_t d;
	uint64_t ex;

	if (!t || t->region != g)
		return; /* removed: its charge went with it */
	/* Every unlink and index insert calls this; almost never is there
	 * anything to do. */
	if (!settle_due(g))
		return;
	pthread_mutex_lock(&g->hold_lock);
	d = ust_arena_deferred_take(g->arena);
	if (d) {
		ust_hold(st, t, d, &st->pinned);
		g->held_pin += (uint64_t)d;
	}
	ex = index_excess(g);
	d = (int64_t)(ex - atomic_load_explicit(&g->held_idx, memory_order_relaxed));
	if (d) {
		ust_hold(st, t, d, &st->index_held);
		atomic_store_explicit(&g->held_idx, ex, memory_order_relaxed);
	}
	pthread_mutex_unlock(&g->hold_lock);
}

/* The same, for a caller holding no stripe lock (g entered). */
static void settle_id(ust_store *st, struct ust_region *g, uint32_t tenant)
{
	if (!settle_due(g))
		return; /* as ust_region_settle would, without stripe 0's lock */
	pthread_mutex_lock(&st->stripes[0].lock);
	ust_region_settle(st, g, ust_tenant_get(st, tenant));
	pthread_mutex_unlock(&st->stripes[0].lock);
}

void ust_region_release(ust_store *st, struct ust_region *g,
			struct ust_tenant *t, uint64_t off, size_t len)
{
	(void)ust_arena_release(g->arena, off, len);
	ust_region_settle(st, g, t);
}

int ust_region_hazard_get(ust_store *st, uint32_t tenant, uint32_t *idx)
{
	struct ust_region *g = region_enter(st, tenant);
	int err = -ENOSPC;

	if (!g)
		return -ENOENT;
	pthread_mutex_lock(&g->haz_lock);
	for (uint32_t i = 0; i < g->nhaz; i++) {
		if (!g->haz_used[i]) {
			g->haz_used[i] = 1;
			*idx = i;
			err = 0;
			break;
		}
	}
	if (!err && *idx >= g->haz_hi) {
		g->haz_hi = *idx + 1; /* before the client learns the word */
		ust_arena_hazards_live(g->arena, g->haz_hi);
	}
	pthread_mutex_unlock(&g->haz_lock);
	region_leave(g);
	return err;
}

void ust_region_hazard_put(ust_store *st, uint32_t tenant, uint32_t idx)
{
	struct ust_region *g = region_enter(st, tenant);
	struct uvr_hazard *w;

	if (!g)
		return;
	if (idx < g->nhaz) {
		/* A client that died mid-read leaves its word set: clear it. */
		w = (struct uvr_hazard *)(g->base + g->haz_off) + idx;
		uvr_hazard_clear(&w->off);
		pthread_mutex_lock(&g->haz_lock);
		g->haz_used[idx] = 0;
		while (g->haz_hi && !g->haz_used[g->haz_hi - 1])
			g->haz_hi--;
		ust_arena_hazards_live(g->arena, g->haz_hi);
		pthread_mutex_unlock(&g->haz_lock);
	}
	region_leave(g);
}

_Static_assert(UVR_STAGE_MIN > UST_ARENA_SMALL_MAX,
	       "a staged record is a page run (ust_arena_shrink)");

/*
 * Build a region entry for a PUT: the private head (key, pointer) and the
 * record, either allocated here and filled from val (copied) or the
 * staging extent at stage_off adopted as it is (the client wrote the
 * record; a tail of whole pages beyond it is released). Caller holds a
 * stripe lock, or a stripe-independent guarantee that g lives. Returns the
 * entry (unlinked, unaccounted) or NULL (allocation failed; a staging
 * extent is then released).
 */
struct ust_entry *ust_region_entry_new(ust_store *st, unsigned s,
				       struct ust_region *g, uint32_t tenant,
				       const void *key, size_t klen,
				       const void *val, size_t vlen,
				       int64_t stage_off, size_t stage_len)
{
	struct ust_entry *e = ust_alloc(&st->alloc, s, ust_region_head_size(klen));
	size_t rlen = rec_len(klen, vlen);
	unsigned char *rec;
	int64_t off = stage_off;

	if (!e)
		goto err_stage;
	if (off < 0) {
		bool resident = true;

		off = ust_arena_alloc_resident(g->arena, rlen, &resident);
		if (off < 0)
			goto err_head;
		/* A page run from cold space: map it in with one call, not a
		 * fault per page (18 us each on the evaluation VM; a 16 KiB
		 * value's 5 pages were most of utmemd's time in an ingest). */
		if (!resident && rlen > UST_ARENA_SMALL_MAX)
			ust_arena_map_in(g->arena, (uint64_t)off, rlen);
		rec = g->base + off;
		uvr_rec_write(rec, key, klen, val, vlen);
	} else if (rlen <= UST_ARENA_SMALL_MAX) {
		/* A record a slab holds, staged by an older client (it staged
		 * from 16 KiB): a page-run extent cannot become a slab object,
		 * so the value is copied into one and the extent given back. */
		off = ust_arena_alloc(g->arena, rlen, NULL);
		if (off < 0)
			goto err_head;
		rec = g->base + off;
		uvr_rec_write(rec, key, klen, val, vlen);
		(void)ust_arena_release(g->arena, (uint64_t)stage_off, stage_len);
	} else {
		rec = g->base + off;
		if (ust_arena_shrink(g->arena, (uint64_t)off, stage_len, rlen) < 0)
			goto err_head;
	}
	e->tenant = tenant;
	e->klen = (uint16_t)klen;
	e->vlenf = (uint32_t)vlen | UST_VLEN_REGION;
	e->stamp = ust_now(st);
	memcpy(e->data, key, klen);
	memcpy(e->data + klen, &rec, sizeof(rec));
	return e;
err_head:
	ust_alloc_free(&st->alloc, e, ust_region_head_size(klen));
err_stage:
	if (stage_off >= 0)
		(void)ust_arena_release(g->arena, (uint64_t)stage_off, stage_len);
	return NULL;
}

/* Release the record of an entry that was built but never linked. */
void ust_region_entry_drop(ust_store *st, struct ust_region *g,
			   struct ust_entry *e)
{
	ust_region_release(st, g, ust_tenant_get(st, e->tenant),
			   ust_entry_rec_off(g, e), rec_len(e->klen, ust_vlen(e)));
}

/* The region of e's tenant, or NULL (the tenant is gone). Stripe lock held. */
static struct ust_region *entry_region(ust_store *st, const struct ust_entry *e)
{
	return st->tenants[e->tenant] ? st->tenants[e->tenant]->region : NULL;
}

void ust_region_prefetch(ust_store *st, const struct ust_pool *p, const struct ust_entry *e)
{
	struct ust_region *g = ust_in_region(e) ? entry_region(st, e) : NULL;

	if (!g)
		return;
	ust_sindex_prefetch(&g->idx, ust_region_hash(g, p->id, e->data, e->klen));
	ust_arena_prefetch(g->arena, ust_entry_rec_off(g, e), rec_len(e->klen, ust_vlen(e)));
}

/*
 * An entry of pool p was just unlinked (caller holds its stripe lock):
 * take it out of the index, then give its record back to the arena, which
 * reuses or punches it once no hazard word names it. The head is freed
 * later by ust_entry_free_list().
 */
void ust_region_unlink(ust_store *st, struct ust_pool *p, const struct ust_entry *e)
{
	struct ust_region *g = entry_region(st, e);
	uint64_t off;

	if (!g)
		return;
	off = ust_entry_rec_off(g, e);
	(void)ust_sindex_remove(&g->idx, ust_region_hash(g, p->id, e->data, e->klen),
				off);
	ust_region_release(st, g, ust_tenant_get(st, e->tenant), off,
			   rec_len(e->klen, ust_vlen(e)));
}

void ust_region_unlink_many(ust_store *st, struct ust_pool *p,
			    struct ust_entry *const *e, unsigned n)
{
	struct ust_region *g = n ? entry_region(st, e[0]) : NULL;
	uint64_t off[UST_UNLINK_MAX];
	size_t len[UST_UNLINK_MAX];
	unsigned k = 0;

	for (unsigned i = 0; i < n; i++) {
		if (k == UST_UNLINK_MAX || entry_region(st, e[i]) != g) {
			ust_region_unlink(st, p, e[i]); /* not one region's */
			continue;
		}
		off[k] = ust_entry_rec_off(g, e[i]);
		len[k] = rec_len(e[i]->klen, ust_vlen(e[i]));
		(void)ust_sindex_remove(&g->idx, ust_region_hash(g, p->id, e[i]->data,
								 e[i]->klen), off[k]);
		k++;
	}
	if (!k || !g)
		return;
	(void)ust_arena_release_many(g->arena, off, len, k);
	ust_region_settle(st, g, ust_tenant_get(st, e[0]->tenant));
}

/* ---- staging extents (see store.h) ---- */

int ust_stage_alloc(ust_store *st, uint32_t tenant, size_t len, bool prepaid,
		    uint64_t *off, uint64_t *charge)
{
	struct ust_region *g = region_enter(st, tenant);
	uint64_t c = ust_arena_charge(len);
	bool resident;
	int64_t o;
	int err;

	if (!g)
		return -ENOENT;
	err = prepaid ? 0 : ust_reserve(st, tenant, c);
	if (err)
		goto out;
	o = ust_arena_alloc_resident(g->arena, len, &resident);
	if (o < 0) {
		if (!prepaid)
			ust_unreserve(st, tenant, c);
		err = (int)o;
		goto out;
	}
	/*
	 * Allocate the extent's pages here, in utmemd, before the client
	 * writes them: a page of shared memory is charged to the memory
	 * cgroup of whoever first faults it in, and the client is typically
	 * the very guest whose memory utmem relieves (a Redis in a 256 MiB
	 * cgroup staging 128 KiB values filled that cgroup with utmem's data
	 * and swapped it). A run from the warm cache is in memory already:
	 * asking again walked every page of it under the file's lock, which
	 * made this call most of utmemd's CPU in a stream of 1 MiB PUTs.
	 * (A tenant that punched its own warm pages through its mapping
	 * faults them back in, charged to itself.)
	 */
	if (!resident)
		ust_arena_populate(g->arena, (uint64_t)o, len);
	*off = (uint64_t)o;
	*charge = c;
out:
	region_leave(g);
	return err;
}

void ust_stage_free(ust_store *st, uint32_t tenant, uint64_t off, size_t len,
		    uint64_t charge)
{
	struct ust_region *g = region_enter(st, tenant);

	if (!g)
		return;
	(void)ust_arena_release(g->arena, off, len);
	settle_id(st, g, tenant);
	region_leave(g);
	ust_unreserve(st, tenant, charge);
}

uint64_t ust_stage_charge(size_t len)
{
	return ust_arena_charge(len);
}

int ust_region_stats(ust_store *st, uint32_t tenant, struct ust_region_stats *out)
{
	struct ust_region *g = region_enter(st, tenant);
	struct ust_arena_stats as;

	if (!g)
		return -ENOENT;
	ust_arena_stats(g->arena, &as);
	memset(out, 0, sizeof(*out));
	out->size = g->size;
	out->heap_bytes = as.heap_bytes;
	out->alloc_bytes = as.alloc_bytes;
	out->resident_bytes = as.resident_bytes;
	out->warm_bytes = as.warm_bytes;
	out->deferred_bytes = as.deferred_bytes;
	ust_sindex_usage(&g->idx, &out->index_shared, &out->index_private);
	out->index_failed = g->idx.failed;
	out->index_held = atomic_load_explicit(&g->held_idx, memory_order_relaxed);
	out->slack_bytes = as.slack_bytes;
	region_leave(g);
	return 0;
}

/*
 * The region of the first tenant from *id on that has one, entered (the
 * caller leaves it with region_leave()), with *id set to that tenant; NULL
 * past the last tenant. Tenants added meanwhile are seen, removed ones
 * skipped.
 */
static struct ust_region *region_next(ust_store *st, uint32_t *id)
{
	for (;; (*id)++) {
		struct ust_region *g = NULL;
		uint32_t n;

		/* One hold of stripe 0 per tenant, as region_enter's. */
		pthread_mutex_lock(&st->stripes[0].lock);
		n = st->next_tenant;
		if (*id < n)
			g = region_enter_locked(st, *id);
		pthread_mutex_unlock(&st->stripes[0].lock);
		if (*id >= n)
			return NULL;
		if (g)
			return g;
	}
}

/*
 * Give every region's free memory back now: deferred ranges retried, the
 * warm cache and empty slabs punched. Each region is kept alive by its user
 * count, no lock is held while punching.
 */
void ust_regions_trim(ust_store *st)
{
	struct ust_region *g;

	for (uint32_t id = 1; (g = region_next(st, &id)); id++) {
		ust_arena_poll(g->arena);
		ust_arena_trim(g->arena);
		settle_id(st, g, id);
		region_leave(g);
	}
}

/*
 * g's slack (ust_arena_slack) beyond its allowance: slack_free and an
 * eighth of its records' bytes there. *slack gets the slack itself.
 */
uint64_t ust_region_slack_excess(const struct ust_region *g, uint64_t *slack)
{
	uint64_t taken, allow;

	ust_arena_slack(g->arena, slack, &taken);
	allow = g->slack_free + taken / 8;
	return *slack > allow ? *slack - allow : 0;
}

/*
 * Publish sum, every region's slack beyond its allowance, as
 * st->region_excess and return it; a fall below the last pass's figure
 * lowers that, so that the next growth is measured from here
 * (ust_compact_wanted). ust_regions_poll sums it in its own walk.
 *
 * Why: a tenant that frees all but one small record per page keeps every
 * page resident, charged for the one record. Nothing else asks for a pass
 * when it keeps its charge level meanwhile (new records of another size
 * class); compaction then empties the slabs (arena_slab.c, should_move).
 */
static uint64_t excess_publish(ust_store *st, uint64_t sum)
{
	uint64_t base;

	atomic_store_explicit(&st->region_excess, sum, memory_order_relaxed);
	base = atomic_load_explicit(&st->walk_excess, memory_order_relaxed);
	while (sum < base &&
	       !atomic_compare_exchange_weak_explicit(&st->walk_excess, &base, sum,
						      memory_order_relaxed,
						      memory_order_relaxed))
		;
	return sum;
}

/* The same from a walk of its own (the end of a compaction pass). */
uint64_t ust_regions_slack(ust_store *st)
{
	struct ust_region *g;
	uint64_t sum = 0, slack;

	for (uint32_t id = 1; (g = region_next(st, &id)); id++) {
		sum += ust_region_slack_excess(g, &slack);
		region_leave(g);
	}
	return excess_publish(st, sum);
}

/*
 * What g's file may hold without a scrub: what its arena accounts for, the
 * area before the heap, UST_REGION_SCRUB_SLACK, and what the last scrub
 * could not take back (pages the accounting does not see, so that they
 * do not make every poll scrub again).
 */
static uint64_t region_expect(struct ust_region *g)
{
	struct ust_arena_stats as;
	uint64_t fixed;

	ust_arena_stats(g->arena, &as);
	fixed = g->size > as.heap_bytes ? g->size - as.heap_bytes : 0;
	return as.resident_bytes + fixed + UST_REGION_SCRUB_SLACK + g->scrub_base;
}

/* Scrub g if its file holds more than expected; returns the bytes its file
 * shrank by (0 if no scrub). */
static uint64_t region_scrub(struct ust_region *g)
{
	int64_t before = ust_arena_resident(g->arena), after;
	uint64_t expect = region_expect(g);

	if (before <= 0 || (uint64_t)before <= expect)
		return 0;
	(void)ust_arena_scrub(g->arena);
	after = ust_arena_resident(g->arena);
	if (after < 0)
		return 0;
	g->scrub_base = 0;
	expect = region_expect(g);
	if ((uint64_t)after > expect)
		g->scrub_base = (uint64_t)after - expect;
	return after < before ? (uint64_t)(before - after) : 0;
}

void ust_regions_poll(ust_store *st, ust_scrubbed_fn scrubbed, void *arg)
{
	struct ust_region *g;
	uint64_t excess = 0, slack;
	uint32_t checked = 0, from = st->scrub_from;

	for (uint32_t id = 1; (g = region_next(st, &id)); id++) {
		uint64_t punched = 0;

		/* An idle tenant's region: nothing released since the last
		 * poll left it so (relaxed: a release missed now is seen at
		 * the next poll, 20 ms on). */
		if (!ust_arena_quiet(g->arena)) {
			ust_arena_poll(g->arena);
			ust_arena_force(g->arena, (uint64_t)UVR_HAZARD_GRACE_MS * 1000000u);
		}
		settle_id(st, g, id); /* and whatever other paths freed */
		if (id >= from && checked < UST_REGION_SCRUB_PER_POLL) {
			punched = region_scrub(g);
			st->scrub_from = id + 1;
			checked++;
		}
		excess += ust_region_slack_excess(g, &slack);
		region_leave(g);
		if (punched && scrubbed)
			scrubbed(arg, id, punched);
	}
	/* Past the last region: the next call starts again at the first. */
	if (checked < UST_REGION_SCRUB_PER_POLL)
		st->scrub_from = 0;
	(void)excess_publish(st, excess);
}

/* Punch every free range and the warm cache of tenant's region now. */
int ust_region_trim(ust_store *st, uint32_t tenant)
{
	struct ust_region *g = region_enter(st, tenant);

	if (!g)
		return -ENOENT;
	ust_arena_trim(g->arena);
	region_leave(g);
	return 0;
}

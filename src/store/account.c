/*
 * account.c — what an entry costs and who pays, and the entries themselves
 * (built and freed here, so that the charge is always what was allocated).
 * An entry is charged the allocator's real size for what it allocates plus
 * its hash bucket pointer: ust_alloc_size(24 + klen + vlen) + UST_SLOT_COST
 * for small values, ust_alloc_size(24 + klen + 8) + ust_alloc_size(vlen) +
 * UST_SLOT_COST for values kept apart (vlen >= UST_SPLIT_MIN, internal.h).
 *
 * Limits are checked against two atomic totals, the tenant's t->charged and
 * the store's st->charged. Updating them on every PUT would make their cache
 * lines bounce between cores, so a (tenant, stripe) block reserves charge
 * from both totals in chunks and holds it as credit: PUTs in that stripe pay
 * from the credit and removals there pay back into it, under the stripe lock
 * the operation holds anyway. The totals therefore count every entry plus
 * the credit held. The credit is bounded: a refill is at most
 * UST_CREDIT_CHUNK and at most 1/(2 * nstripes) of the room left (none
 * when that is under UST_CREDIT_MIN), and a stripe keeps at most
 * UST_CREDIT_HIGH. It is reclaimed (evict.c) before any PUT is refused or
 * any entry is evicted, so limits hold exactly and nothing is refused
 * while room is held as credit elsewhere. Counters
 * (stats) live in the same per-stripe blocks and are summed on read.
 */
#include <errno.h>
#include <string.h>

#include "store/internal.h"

/* Most a stripe reserves beyond what the PUT at hand needs. */
#define UST_CREDIT_CHUNK (64u << 10)
/*
 * Smaller refills are not taken: near a limit, a PUT reserves exactly what
 * it needs, so stripes hold no crumbs of credit that a PUT short of room
 * would have to reclaim (a pass over every stripe) before evicting.
 */
#define UST_CREDIT_MIN (4u << 10)
/* A stripe holding more credit than this gives all but a chunk back. */
#define UST_CREDIT_HIGH (256u << 10)

static uint64_t rd(const _Atomic uint64_t *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
}

static uint64_t sat_sub(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/*
 * Charge for an entry with this key and value length: what ust_entry_new()
 * really allocates (entry, plus the value when it is kept apart) and the
 * bucket slot. Pure.
 */
uint64_t ust_charge_for(const ust_store *st, size_t klen, size_t vlen)
{
	uint64_t c = ust_alloc_size(&st->alloc, ust_head_size(klen, vlen)) + UST_SLOT_COST;

	if (ust_split(vlen))
		c += ust_alloc_size(&st->alloc, vlen);
	return c;
}

/*
 * Charge for an entry whose value lives in its tenant's region: the private
 * head (header, key, record pointer), the bucket slot, its share of the
 * shared index and the record's arena allocation with its metadata. Pure.
 */
uint64_t ust_charge_region(const ust_store *st, size_t klen, size_t vlen)
{
	return ust_alloc_size(&st->alloc, ust_region_head_size(klen)) +
	       UST_SLOT_COST + UST_INDEX_COST +
	       ust_arena_charge((size_t)uvr_rec_size(klen, vlen));
}

/* Charge of an existing entry (the same figure it was charged on PUT). */
uint64_t ust_entry_charge(const ust_store *st, const struct ust_entry *e)
{
	if (ust_in_region(e))
		return ust_charge_region(st, e->klen, ust_vlen(e));
	return ust_charge_for(st, e->klen, e->vlenf);
}

uint64_t ust_put_bound(size_t klen, size_t vlen)
{
	return uvr_put_bound(klen, vlen);
}

/* Credit a tenant's stripe block holds. Caller holds its stripe lock. */
uint64_t ust_credit(const struct ust_tstripe *ts)
{
	return rd(&ts->credit);
}

/*
 * Set ts's credit to v, keeping t->held (how many of t's stripes hold any)
 * right; that shared counter is written only when a credit becomes zero or
 * stops being zero. Caller holds the stripe lock.
 */
static void credit_set(struct ust_tenant *t, struct ust_tstripe *ts, uint64_t v)
{
	uint64_t old = rd(&ts->credit);

	atomic_store_explicit(&ts->credit, v, memory_order_relaxed);
	if (!old && v)
		atomic_fetch_add_explicit(&t->held, 1, memory_order_relaxed);
	else if (old && !v)
		atomic_fetch_sub_explicit(&t->held, 1, memory_order_relaxed);
}

/* Add n bytes (already in the totals) to t's credit in stripe s. Caller
 * holds s. */
void ust_credit_add(struct ust_tenant *t, unsigned s, uint64_t n)
{
	credit_set(t, &t->ts[s], ust_credit(&t->ts[s]) + n);
}

/* Give n reserved bytes back to the tenant's and the store's totals. */
static void unreserve(ust_store *st, struct ust_tenant *t, uint64_t n)
{
	atomic_fetch_sub_explicit(&t->charged, n, memory_order_relaxed);
	atomic_fetch_sub_explicit(&st->charged, n, memory_order_relaxed);
}

/*
 * Reserve n bytes in both totals, counting credit_g bytes of the store's as
 * already free (another tenant's entry that the PUT replaces). Returns 0,
 * -EDQUOT or -ENOSPC. Add-then-check: two racing reservations at the very
 * edge of a limit may both be refused, never both admitted.
 */
static int reserve(ust_store *st, struct ust_tenant *t, uint64_t n, uint64_t credit_g)
{
	uint64_t max = atomic_load_explicit(&t->admit_max, memory_order_relaxed);
	uint64_t cap = atomic_load_explicit(&st->admit_cap, memory_order_relaxed);
	uint64_t prev;

	prev = atomic_fetch_add_explicit(&t->charged, n, memory_order_relaxed);
	if (prev + n > max) {
		atomic_fetch_sub_explicit(&t->charged, n, memory_order_relaxed);
		return -EDQUOT;
	}
	prev = atomic_fetch_add_explicit(&st->charged, n, memory_order_relaxed);
	if (sat_sub(prev + n, credit_g) > cap) {
		unreserve(st, t, n);
		return -ENOSPC;
	}
	return 0;
}

/*
 * Charge n bytes of metadata (a private pool) to tenant t's and the
 * store's totals, like an entry but with no stripe credit. Returns 0,
 * -EDQUOT or -ENOSPC with nothing changed. Caller holds st->mgmt.
 */
int ust_meta_charge(ust_store *st, struct ust_tenant *t, uint64_t n)
{
	int err = n ? reserve(st, t, n, 0) : 0;

	if (!err)
		t->meta += n;
	return err;
}

/* Give back n bytes charged by ust_meta_charge. Caller holds st->mgmt. */
void ust_meta_uncharge(ust_store *st, struct ust_tenant *t, uint64_t n)
{
	unreserve(st, t, n);
	t->meta -= n;
}

/*
 * Charge (d > 0) or give back (d < 0) bytes t holds without an entry, and
 * count them in kind (&st->pinned or &st->index_held): the freed records
 * of its region that its hazard words still pin, or what its region's
 * index costs beyond its entries' share. No limit applies (the memory is
 * held already); its PUTs are refused until the bytes are given back. The
 * caller keeps t alive (a stripe lock) and orders the calls for one region
 * (region.c).
 */
void ust_hold(ust_store *st, struct ust_tenant *t, int64_t d,
	      _Atomic uint64_t *kind)
{
	if (d > 0) {
		atomic_fetch_add_explicit(&t->charged, (uint64_t)d,
					  memory_order_relaxed);
		atomic_fetch_add_explicit(&st->charged, (uint64_t)d,
					  memory_order_relaxed);
		atomic_fetch_add_explicit(kind, (uint64_t)d, memory_order_relaxed);
	} else if (d < 0) {
		unreserve(st, t, (uint64_t)-d);
		atomic_fetch_sub_explicit(kind, (uint64_t)-d, memory_order_relaxed);
	}
}

/*
 * Reserve bytes for tenant with no entry (see store.h), evicting to make
 * room like a PUT. Tenant lookups happen under stripe 0's lock (any stripe
 * makes the tenant table stable); eviction takes its own locks.
 */
int ust_reserve(ust_store *st, uint32_t tenant, uint64_t bytes)
{
	for (int i = 0;; i++) {
		struct ust_room want = {.charge = bytes, .s = 0};
		struct ust_tenant *t;
		int err;

		pthread_mutex_lock(&st->stripes[0].lock);
		t = ust_tenant_get(st, tenant);
		err = t ? reserve(st, t, bytes, 0) : -ENOENT;
		pthread_mutex_unlock(&st->stripes[0].lock);
		if (err != -EDQUOT && err != -ENOSPC)
			return err;
		if (i == 3)
			return err;
		err = ust_make_room(st, tenant, &want);
		if (err)
			return err;
	}
}

static void add_reads(struct ust_stats *s, uint64_t reads, uint64_t hits)
{
	s->gets += reads;
	s->hits += hits;
	s->misses += reads - hits;
}

void ust_pool_add_reads(ust_store *st, uint32_t tenant, uint32_t pool,
			uint64_t reads, uint64_t hits)
{
	struct ust_tenant *t;
	struct ust_pool *p;

	if (!reads || hits > reads)
		return;
	pthread_mutex_lock(&st->stripes[0].lock);
	t = ust_tenant_get(st, tenant);
	p = pool ? ust_pool_get(st, pool) : NULL;
	if (t) {
		add_reads(&t->ts[0].stats, reads, hits);
		if (p && !(p->kind & UST_POOL_SHARED) && p->owner == tenant)
			add_reads(&p->sub[0].stats, reads, hits);
	}
	pthread_mutex_unlock(&st->stripes[0].lock);
}

uint64_t ust_tenant_room(ust_store *st, uint32_t tenant)
{
	uint64_t room_t = 0, room_g;
	struct ust_tenant *t;

	pthread_mutex_lock(&st->stripes[0].lock);
	t = ust_tenant_get(st, tenant);
	/* A frozen tenant may not grow: no room at all. */
	if (t && !atomic_load_explicit(&t->frozen, memory_order_relaxed))
		room_t = sat_sub(atomic_load_explicit(&t->max, memory_order_relaxed),
				 rd(&t->charged));
	pthread_mutex_unlock(&st->stripes[0].lock);
	room_g = sat_sub(atomic_load_explicit(&st->capacity, memory_order_relaxed),
			 rd(&st->charged));
	return room_t < room_g ? room_t : room_g;
}

void ust_unreserve(ust_store *st, uint32_t tenant, uint64_t bytes)
{
	struct ust_tenant *t;

	pthread_mutex_lock(&st->stripes[0].lock);
	t = ust_tenant_get(st, tenant);
	if (t)
		unreserve(st, t, bytes);
	pthread_mutex_unlock(&st->stripes[0].lock);
}

/* Extra credit worth taking now: a chunk, or less when room is short. */
static uint64_t refill_size(const ust_store *st, struct ust_tenant *t)
{
	uint64_t room_t = sat_sub(atomic_load_explicit(&t->max, memory_order_relaxed),
				  rd(&t->charged));
	uint64_t room_g = sat_sub(atomic_load_explicit(&st->capacity, memory_order_relaxed),
				  rd(&st->charged));
	uint64_t room = (room_t < room_g ? room_t : room_g) / (2u * st->nstripes);

	if (room < UST_CREDIT_MIN)
		return 0;
	return room < UST_CREDIT_CHUNK ? room : UST_CREDIT_CHUNK;
}

/*
 * Make tenant t's credit in stripe s cover a PUT of charge bytes that
 * replaces an entry of its own worth have minus that credit (have = credit
 * + the replaced charge). Called when the credit alone falls short. If have
 * covers the charge, the totals do not grow, and the PUT fits when they,
 * less what will be left over as credit, are within the limits. Else the
 * shortfall (plus a refill when there is room) is reserved in the totals;
 * credit_g as for reserve(). Returns 0 (credit raised as needed), -EDQUOT
 * or -ENOSPC with nothing changed. Caller holds stripe s.
 */
int ust_charge_try(ust_store *st, struct ust_tenant *t, unsigned s, uint64_t charge,
		   uint64_t have, uint64_t credit_g)
{
	uint64_t need, extra;
	int err;

	if (have >= charge) {
		uint64_t spare = have - charge;

		if (sat_sub(rd(&t->charged), spare) >
		    atomic_load_explicit(&t->admit_max, memory_order_relaxed))
			return -EDQUOT;
		if (sat_sub(rd(&st->charged), spare + credit_g) >
		    atomic_load_explicit(&st->admit_cap, memory_order_relaxed))
			return -ENOSPC;
		return 0;
	}
	need = charge - have;
	extra = refill_size(st, t);
	err = reserve(st, t, need + extra, credit_g);
	if (err && extra) {
		extra = 0;
		err = reserve(st, t, need, credit_g);
	}
	if (!err)
		credit_set(t, &t->ts[s], ust_credit(&t->ts[s]) + need + extra);
	return err;
}

/*
 * May a stripe keep credit? Only while the totals are within the tenant's
 * max and the capacity: a tenant pushed over a lowered limit must get below
 * it before it may PUT again, and credit kept would let it skip that check.
 */
static bool within_limits(const ust_store *st, struct ust_tenant *t)
{
	return rd(&t->charged) <= atomic_load_explicit(&t->max, memory_order_relaxed) &&
	       rd(&st->charged) <= atomic_load_explicit(&st->capacity, memory_order_relaxed);
}

/*
 * Count a newly linked entry in pool p's and its tenant's stripe-s counters
 * and pay its charge from the tenant's credit there, which the caller made
 * sufficient (ust_charge_try, or a removal just before). Caller holds s.
 */
void ust_account_in(ust_store *st, struct ust_pool *p, unsigned s,
		    const struct ust_entry *e, uint64_t charge)
{
	struct ust_tenant *t = st->tenants[e->tenant];
	struct ust_stats *ps = &p->sub[s].stats;
	struct ust_tstripe *tb = &t->ts[s];
	uint64_t bytes = (uint64_t)e->klen + ust_vlen(e);

	ps->entries++;
	ps->bytes_stored += bytes;
	ps->bytes_charged += charge;
	tb->stats.entries++;
	tb->stats.bytes_stored += bytes;
	tb->stats.bytes_charged += charge;
	if (p->kind & UST_POOL_EPHEMERAL)
		atomic_store_explicit(&tb->eph, rd(&tb->eph) + charge, memory_order_relaxed);
	credit_set(t, tb, sat_sub(ust_credit(tb), charge));
}

/*
 * Uncount an entry just unlinked from pool p's stripe s and release its
 * charge: into its tenant's credit there when keep (the data path, where the
 * tenant is likely to PUT again), else straight back to the totals
 * (eviction, flush, destroy: room someone else may be waiting for). Kept
 * credit may pay for the PUT that replaces the entry; what is left is
 * trimmed by ust_credit_trim() once the operation is done. The
 * entry is not freed. Caller holds stripe s (or every lock).
 */
void ust_account_out(ust_store *st, struct ust_pool *p, unsigned s,
		     const struct ust_entry *e, bool keep)
{
	if (ust_in_region(e))
		ust_region_unlink(st, p, e);
	ust_account_out_noindex(st, p, s, e, keep);
}

/*
 * ust_account_out() without taking a region entry out of the index or
 * releasing its record: for an overwrite, where the caller replaces the
 * index slot in place (readers never see a miss) and releases the record
 * itself.
 */
void ust_account_out_noindex(ust_store *st, struct ust_pool *p, unsigned s,
			     const struct ust_entry *e, bool keep)
{
	struct ust_tenant *t = st->tenants[e->tenant];
	struct ust_stats *ps = &p->sub[s].stats;
	struct ust_tstripe *tb = &t->ts[s];
	uint64_t bytes = (uint64_t)e->klen + ust_vlen(e);
	uint64_t charge = ust_entry_charge(st, e);
	uint64_t credit = ust_credit(tb) + charge;

	ps->entries--;
	ps->bytes_stored -= bytes;
	ps->bytes_charged -= charge;
	tb->stats.entries--;
	tb->stats.bytes_stored -= bytes;
	tb->stats.bytes_charged -= charge;
	if (p->kind & UST_POOL_EPHEMERAL)
		atomic_store_explicit(&tb->eph, rd(&tb->eph) - charge, memory_order_relaxed);
	if (keep)
		credit_set(t, tb, credit);
	else
		unreserve(st, t, charge);
}

/*
 * Give back all but a chunk of t's credit in stripe s if it holds more than
 * UST_CREDIT_HIGH (after removals paid into it), or all of it while the
 * totals are over a limit (so that credit never lets a PUT skip the check).
 * Called at the end of an operation, never between a removal and the PUT it
 * pays for. Caller holds s.
 */
void ust_credit_trim(ust_store *st, struct ust_tenant *t, unsigned s)
{
	uint64_t c = ust_credit(&t->ts[s]);
	uint64_t keep = within_limits(st, t) ? UST_CREDIT_CHUNK : 0;

	if (c <= UST_CREDIT_HIGH && keep)
		return;
	if (c <= keep)
		return;
	unreserve(st, t, c - keep);
	credit_set(t, &t->ts[s], keep);
}

/* Give all of t's credit in stripe s back to the totals. Caller holds s. */
void ust_credit_drop(ust_store *st, struct ust_tenant *t, unsigned s)
{
	uint64_t c = ust_credit(&t->ts[s]);

	if (!c)
		return;
	unreserve(st, t, c);
	credit_set(t, &t->ts[s], 0);
}

/*
 * Give every stripe's credit of tenant only (or of every tenant, when only
 * is NULL) back to the totals, so that they count entries alone. Returns at
 * once when no stripe holds any. Caller holds st->mgmt and no stripe lock;
 * takes each stripe lock in turn. Concurrent PUTs may take new credit right
 * after; that is bounded by the room left (refill_size).
 */
void ust_credit_reclaim(ust_store *st, struct ust_tenant *only)
{
	bool any = false;

	for (uint32_t i = 1; i < st->next_tenant && !any; i++) {
		struct ust_tenant *t = only ? only : st->tenants[i];

		any = t && atomic_load_explicit(&t->held, memory_order_relaxed);
	}
	for (unsigned s = 0; any && s < st->nstripes; s++) {
		pthread_mutex_lock(&st->stripes[s].lock);
		for (uint32_t i = 1; i < st->next_tenant; i++) {
			struct ust_tenant *t = only ? only : st->tenants[i];

			if (t)
				ust_credit_drop(st, t, s);
			if (only)
				break;
		}
		pthread_mutex_unlock(&st->stripes[s].lock);
	}
}

/* Charge of t's ephemeral entries: a lock-free sum over its stripes. */
uint64_t ust_tenant_eph(const ust_store *st, const struct ust_tenant *t)
{
	uint64_t sum = 0;

	for (unsigned s = 0; s < st->nstripes; s++)
		sum += rd(&t->ts[s].eph);
	return sum;
}

/* Add every counter of from into to. */
void ust_stats_add(struct ust_stats *to, const struct ust_stats *from)
{
	to->entries += from->entries;
	to->bytes_stored += from->bytes_stored;
	to->bytes_charged += from->bytes_charged;
	to->puts += from->puts;
	to->gets += from->gets;
	to->hits += from->hits;
	to->misses += from->misses;
	to->invalidates += from->invalidates;
	to->evictions += from->evictions;
	to->refused_puts += from->refused_puts;
}

/*
 * Build the entry for a PUT in stripe s: one allocation, or two when the
 * value is kept apart (ust_split). Returns it unlinked and unaccounted, or
 * NULL with nothing allocated if the allocator fails.
 */
struct ust_entry *ust_entry_new(ust_store *st, unsigned s, uint32_t tenant,
				const void *key, size_t klen, const void *val, size_t vlen)
{
	struct ust_entry *e = ust_alloc(&st->alloc, s, ust_head_size(klen, vlen));
	unsigned char *v = NULL;

	if (!e)
		return NULL;
	if (ust_split(vlen)) {
		v = ust_alloc(&st->alloc, s, vlen);
		if (!v) {
			ust_alloc_free(&st->alloc, e, ust_head_size(klen, vlen));
			return NULL;
		}
	}
	e->tenant = tenant;
	e->klen = (uint16_t)klen;
	e->vlenf = (uint32_t)vlen;
	e->stamp = ust_now(st);
	if (klen)
		memcpy(e->data, key, klen);
	if (v) {
		memcpy(e->data + klen, &v, sizeof(v));
		memcpy(v, val, vlen);
	} else if (vlen) {
		memcpy(e->data + klen, val, vlen);
	}
	return e;
}

/* Free a chain of entries (linked by ->next) that are already accounted out. */
void ust_entry_free_list(ust_store *st, struct ust_entry *e)
{
	while (e) {
		struct ust_entry *next = e->next;

		/* A region entry's record went back to the arena at unlink. */
		if (!ust_in_region(e) && ust_split(e->vlenf))
			ust_alloc_free(&st->alloc, ust_entry_value(e), e->vlenf);
		ust_alloc_free(&st->alloc, e, ust_entry_head_size(e));
		e = next;
	}
}

/*
 * pool.c — pools: private or shared, persistent or ephemeral. A pool is an
 * array of per-stripe hash tables plus, when shared, the list of tenants the
 * operator granted it to and, among them, those that may also flush and
 * destroy it (UST_GRANT_MANAGE): a shared pool is everyone's data, so a
 * plain grantee must not be able to wipe it for the others. Ids come from a
 * counter and are never reused; the id table changes only under st->mgmt
 * plus every stripe lock, so the data path can look a pool up while holding
 * just its stripe lock.
 *
 * A private pool costs its owner: with UST_CFG_CHARGE_POOLS (utmemd) its
 * metadata (ust_pool_meta_bytes, about 8 KiB with 64 stripes) is charged to
 * the tenant like an entry, and a tenant may have at most max_pools of them,
 * so opening pools can neither swell the host unaccounted nor slow every
 * POOL_OPEN down.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

#define UST_KIND_MASK (UST_POOL_EPHEMERAL | UST_POOL_SHARED)

/* True if a shared pool p was granted to tenant. Caller holds any lock. */
bool ust_pool_granted(const struct ust_pool *p, uint32_t tenant)
{
	for (uint32_t i = 0; i < p->ngrants; i++)
		if (p->grants[i] == tenant)
			return true;
	return false;
}

static bool in_list(const uint32_t *list, uint32_t n, uint32_t tenant)
{
	for (uint32_t i = 0; i < n; i++)
		if (list[i] == tenant)
			return true;
	return false;
}

/* Remove tenant from a list if present. */
static bool list_del(uint32_t *list, uint32_t *n, uint32_t tenant)
{
	for (uint32_t i = 0; i < *n; i++) {
		if (list[i] == tenant) {
			list[i] = list[--*n];
			return true;
		}
	}
	return false;
}

/* True if tenant may inspect p (STATS, listing). Caller holds any lock. */
bool ust_pool_may_see(const struct ust_pool *p, uint32_t tenant)
{
	if (tenant == UST_TENANT_ADMIN)
		return true;
	if (p->kind & UST_POOL_SHARED)
		return ust_pool_granted(p, tenant);
	return p->owner == tenant;
}

/*
 * True if tenant may flush or destroy p: the operator, the owner of a
 * private pool, a grantee of a shared pool given UST_GRANT_MANAGE.
 */
bool ust_pool_may_manage(const struct ust_pool *p, uint32_t tenant)
{
	if (tenant == UST_TENANT_ADMIN)
		return true;
	if (p->kind & UST_POOL_SHARED)
		return in_list(p->managers, p->nmanagers, tenant);
	return p->owner == tenant;
}

/* Withdraw every right of tenant on p. Caller holds every lock. */
void ust_pool_forget(struct ust_pool *p, uint32_t tenant)
{
	list_del(p->grants, &p->ngrants, tenant);
	list_del(p->managers, &p->nmanagers, tenant);
}

/* Why tenant may not manage p: -EACCES if it may see it, else -EBADF. */
static int manage_err(const struct ust_pool *p, uint32_t tenant)
{
	return p && ust_pool_may_see(p, tenant) ? -EACCES : -EBADF;
}

uint64_t ust_pool_meta_bytes(const ust_store *st)
{
	return ust_alloc_size(&st->alloc, sizeof(struct ust_pool)) +
	       ust_alloc_size(&st->alloc, st->nstripes * sizeof(struct ust_sub)) +
	       sizeof(struct ust_pool *); /* its slot in the id table */
}

/* Entries a flush looks at under one stripe lock before letting others in. */
#define DROP_CHUNK 2048u

/* Where drop_stripe() stopped in a stripe's table, to go on from there. */
struct drop_pos {
	uint32_t b;                /* next bucket */
	struct ust_entry **tbl;    /* the table it indexes */
	uint32_t mask;
};

/*
 * Unlink entries of stripe s (all, or tenant's) from *pos on, until
 * DROP_CHUNK were looked at (a bucket is finished); returns them as a chain and sets *done once the whole table was
 * swept. Caller holds the stripe lock, dropped between calls: a table
 * that was resized meanwhile (a PUT into the pool grew it) is swept again
 * from its first bucket, since its entries have moved between buckets.
 */
static struct ust_entry *drop_stripe(ust_store *st, struct ust_pool *p, unsigned s,
				     uint32_t tenant, bool all, struct drop_pos *pos,
				     bool *done)
{
	struct ust_sub *sub = &p->sub[s];
	struct ust_entry *head = NULL;
	unsigned n = 0;

	*done = false;
	if (!sub->buckets) {
		*done = true;
		return NULL;
	}
	if (pos->tbl != sub->buckets || pos->mask != sub->mask)
		*pos = (struct drop_pos){0, sub->buckets, sub->mask};
	for (; pos->b <= sub->mask && n < DROP_CHUNK; pos->b++) {
		struct ust_entry **pp = &sub->buckets[pos->b];

		while (*pp) {
			struct ust_entry *e = *pp;

			n++; /* a shared pool's other entries take time too */
			if (!all && e->tenant != tenant) {
				pp = &e->next;
				continue;
			}
			ust_sub_unlink(sub, pp);
			ust_account_out(st, p, s, e, false);
			e->next = head;
			head = e;
		}
	}
	if (pos->b <= sub->mask)
		return head;
	*done = true;
	if (sub->count == 0) {
		free(sub->buckets);
		sub->buckets = NULL;
		sub->mask = 0;
		sub->hand = 0;
	}
	return head;
}

/*
 * Remove and free entries of p: all of them, or only those charged to
 * tenant. With locked, the caller holds every stripe lock; otherwise each
 * stripe is locked in turn, for DROP_CHUNK entries at a time, so that
 * another pool's operations on that stripe wait for a chunk, not for the
 * stripe's share of a large pool. Caller holds st->mgmt, or a pin on p
 * (ust_pool_drop_pinned). The tenants the entries are charged to stay
 * alive either way: removing one takes every stripe lock (tenant.c).
 */
void ust_pool_drop_entries(ust_store *st, struct ust_pool *p, uint32_t tenant,
			   bool all, bool locked)
{
	ust_compact_note(st); /* a large drop asks for a compaction pass */
	for (unsigned s = 0; s < st->nstripes; s++) {
		struct drop_pos pos = {0};
		bool done = false;

		while (!done) {
			struct ust_entry *chain;

			if (!locked)
				pthread_mutex_lock(&st->stripes[s].lock);
			chain = drop_stripe(st, p, s, tenant, all, &pos, &done);
			if (!locked)
				pthread_mutex_unlock(&st->stripes[s].lock);
			ust_entry_free_list(st, chain);
		}
	}
}

/*
 * Free an unreachable pool whose entries were dropped, or mark it so its
 * last pin frees it (ust_pool_drop_pinned). Caller holds st->mgmt, or is
 * the only thread left (ust_close).
 */
void ust_pool_release(ust_store *st, struct ust_pool *p)
{
	if (p->pins) {
		p->dead = true; /* a flush still drops entries: it frees p */
		return;
	}
	for (unsigned s = 0; s < st->nstripes; s++)
		free(p->sub[s].buckets);
	free(p->sub);
	free(p->grants);
	free(p->managers);
	free(p);
}

/* Sum p's per-stripe counters into *out, locking each stripe in turn. */
void ust_pool_sum(ust_store *st, struct ust_pool *p, struct ust_stats *out)
{
	for (unsigned s = 0; s < st->nstripes; s++) {
		pthread_mutex_lock(&st->stripes[s].lock);
		ust_stats_add(out, &p->sub[s].stats);
		pthread_mutex_unlock(&st->stripes[s].lock);
	}
}


/*
 * Put p in a slot: a destroyed pool's (under its next generation) or a
 * new one, with room kept in pool_free for when it is freed. Sets p->id.
 * Returns 0, -ENOMEM, or -ENOSPC past UST_POOL_SLOT_MASK live pools. All
 * stripe locks held.
 */
static int pool_slot_take(ust_store *st, struct ust_pool *p)
{
	uint32_t slot;
	int err;

	if (st->pool_nfree) {
		p->id = st->pool_free[--st->pool_nfree];
		st->pools[p->id & UST_POOL_SLOT_MASK] = p;
		return 0;
	}
	if (st->next_pool > UST_POOL_SLOT_MASK)
		return -ENOSPC;
	err = ust_table_grow((void **)&st->pools, &st->pool_cap, st->next_pool + 1);
	if (!err && st->pool_free_cap < st->next_pool + 1) {
		uint32_t ncap = st->pool_cap;
		uint32_t *n = realloc(st->pool_free, (size_t)ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		st->pool_free = n;
		st->pool_free_cap = ncap;
	}
	if (err)
		return err;
	slot = st->next_pool++;
	p->id = slot;
	st->pools[slot] = p;
	return 0;
}

void ust_pool_slot_free(ust_store *st, const struct ust_pool *p)
{
	uint32_t slot = p->id & UST_POOL_SLOT_MASK;
	uint32_t gen = (p->id >> UST_POOL_SLOT_BITS) + 1;

	st->pools[slot] = NULL;
	gen &= (1u << (32 - UST_POOL_SLOT_BITS)) - 1;
	st->pool_free[st->pool_nfree++] = slot | gen << UST_POOL_SLOT_BITS;
}

/*
 * Create and register a pool. Returns 0 with its id in *id, or -ENOMEM.
 * Caller holds st->mgmt; takes every stripe lock to publish it.
 */
static int pool_create(ust_store *st, const char *name, unsigned kind,
		       uint32_t owner, uint32_t *id)
{
	struct ust_pool *p = calloc(1, sizeof(*p));
	int err = -ENOMEM;

	if (!p)
		return -ENOMEM;
	p->sub = aligned_alloc(UST_CACHELINE, st->nstripes * sizeof(*p->sub));
	if (!p->sub)
		goto err_pool;
	memset(p->sub, 0, st->nstripes * sizeof(*p->sub));
	strcpy(p->name, name);
	p->kind = kind;
	p->owner = owner;
	ust_lock_all(st);
	err = pool_slot_take(st, p);
	if (!err) {
		st->npools++;
		*id = p->id;
	}
	ust_unlock_all(st);
	if (!err)
		return 0;
	free(p->sub);
err_pool:
	free(p);
	return err;
}

/* A live pool by (owner, name, sharing); caller holds st->mgmt. */
static struct ust_pool *by_name(ust_store *st, const char *name, bool shared,
				uint32_t owner)
{
	for (uint32_t i = 1; i < st->next_pool; i++) {
		struct ust_pool *p = st->pools[i];

		if (!p || strcmp(p->name, name) != 0)
			continue;
		if (shared ? (p->kind & UST_POOL_SHARED) != 0
			   : (!(p->kind & UST_POOL_SHARED) && p->owner == owner))
			return p;
	}
	return NULL;
}

/*
 * Create tenant t's private pool, charging its metadata and counting it
 * against max_pools. Returns 0, -EDQUOT (max_pools, or the charge does not
 * fit the tenant's max), -ENOSPC or -ENOMEM; *room is set when the charge
 * did not fit (eviction may help), not when max_pools refused the pool.
 * Caller holds st->mgmt.
 */
static int private_create(ust_store *st, struct ust_tenant *t, const char *name,
			  unsigned kind, uint32_t *id, bool *room)
{
	uint32_t lim = atomic_load_explicit(&t->max_pools, memory_order_relaxed);
	uint64_t meta = st->charge_pools ? ust_pool_meta_bytes(st) : 0;
	int err;

	if (lim && t->npools >= lim)
		return -EDQUOT;
	err = ust_meta_charge(st, t, meta);
	if (err) {
		*room = true;
		return err;
	}
	err = pool_create(st, name, kind, t->id, id);
	if (err) {
		ust_meta_uncharge(st, t, meta);
		return err;
	}
	st->pools[*id & UST_POOL_SLOT_MASK]->meta = meta;
	t->npools++;
	return 0;
}

/* One attempt at ust_pool_open; see there. *room as for private_create.
 * Caller holds st->mgmt. */
static int open_locked(ust_store *st, uint32_t tenant, const char *name,
		       unsigned kind, unsigned flags, uint32_t *pool, bool *room)
{
	bool shared = kind & UST_POOL_SHARED;
	struct ust_tenant *t = ust_tenant_get(st, tenant);
	struct ust_pool *p;

	if (!t)
		return -ENOENT;
	p = by_name(st, name, shared, tenant);
	if (shared && (!p || !ust_pool_granted(p, tenant)))
		return -EACCES;
	if (p && p->kind != kind)
		return -EEXIST;
	if (p) {
		*pool = p->id;
		return 0;
	}
	if (!(flags & UST_OPEN_CREATE))
		return -ENOENT;
	return private_create(st, t, name, kind, pool, room);
}

/*
 * Open (or create) a pool for a tenant; see store.h. Takes st->mgmt. When
 * the metadata charge does not fit (not when max_pools refuses the pool),
 * room is made as for a PUT of that size (credit reclaimed, the tenant's
 * or others' ephemeral entries evicted) and the open is tried once more.
 */
int ust_pool_open(ust_store *st, uint32_t tenant, const char *name,
		  unsigned kind, unsigned flags, uint32_t *pool)
{
	int err;

	if (!ust_name_ok(name) || (kind & ~UST_KIND_MASK) || !pool ||
	    (flags & ~UST_OPEN_CREATE))
		return -EINVAL;
	for (int attempt = 0;; attempt++) {
		struct ust_room room = {.charge = ust_pool_meta_bytes(st)};
		bool short_of_room = false;

		ust_mgmt_lock(st);
		err = open_locked(st, tenant, name, kind, flags, pool, &short_of_room);
		pthread_mutex_unlock(&st->mgmt);
		/* max_pools reached is no lack of room: evict nothing for it. */
		if (!short_of_room || attempt)
			return err;
		/* pool 0 never exists: no entry is spared as "replaced". */
		if (ust_make_room(st, tenant, &room) < 0)
			return err;
	}
}

/* Operator: create a shared pool. Returns 0, -EINVAL, -EEXIST, -ENOMEM or
 * -ENOSPC (every pool slot in use). */
int ust_shared_pool_create(ust_store *st, const char *name, unsigned kind,
			   uint32_t *pool)
{
	int err;

	if (!ust_name_ok(name) || (kind & ~UST_KIND_MASK) || !pool)
		return -EINVAL;
	ust_mgmt_lock(st);
	if (by_name(st, name, true, 0))
		err = -EEXIST;
	else
		err = pool_create(st, name, kind | UST_POOL_SHARED, UST_TENANT_ADMIN, pool);
	pthread_mutex_unlock(&st->mgmt);
	return err;
}

/*
 * A copy of list (n entries) with tenant appended, or NULL. The caller
 * swaps it in under every stripe lock, so readers holding one stripe lock
 * never see a list being resized.
 */
static uint32_t *list_add(const uint32_t *list, uint32_t n, uint32_t tenant)
{
	uint32_t *g = malloc(((size_t)n + 1) * sizeof(*g));

	if (!g)
		return NULL;
	if (n)
		memcpy(g, list, n * sizeof(*g));
	g[n] = tenant;
	return g;
}

/*
 * Grant tenant the shared pool with rights added (exact: rights replace
 * what it had). Returns 0 (also if already granted), -EINVAL (unknown
 * rights), -EBADF (no such shared pool), -ENOENT (no such tenant) or
 * -ENOMEM. Takes st->mgmt and, to publish a change, every stripe lock.
 */
static int grant(ust_store *st, uint32_t pool, uint32_t tenant, unsigned rights,
		 bool exact)
{
	uint32_t *g = NULL, *m = NULL;
	struct ust_pool *p;
	bool add_g, add_m;
	int err = 0;

	if (rights & ~UST_GRANT_MANAGE)
		return -EINVAL;
	ust_mgmt_lock(st);
	p = ust_pool_get(st, pool);
	if (!p || !(p->kind & UST_POOL_SHARED))
		err = -EBADF;
	else if (!ust_tenant_get(st, tenant))
		err = -ENOENT;
	if (err)
		goto out;
	add_g = !ust_pool_granted(p, tenant);
	add_m = (rights & UST_GRANT_MANAGE) &&
		!in_list(p->managers, p->nmanagers, tenant);
	if (exact && !(rights & UST_GRANT_MANAGE) &&
	    in_list(p->managers, p->nmanagers, tenant)) {
		ust_lock_all(st);
		list_del(p->managers, &p->nmanagers, tenant);
		ust_unlock_all(st);
	}
	if ((add_g && !(g = list_add(p->grants, p->ngrants, tenant))) ||
	    (add_m && !(m = list_add(p->managers, p->nmanagers, tenant)))) {
		free(g);
		err = -ENOMEM;
		goto out;
	}
	ust_lock_all(st);
	if (g) {
		free(p->grants);
		p->grants = g;
		p->ngrants++;
	}
	if (m) {
		free(p->managers);
		p->managers = m;
		p->nmanagers++;
	}
	ust_unlock_all(st);
out:
	pthread_mutex_unlock(&st->mgmt);
	return err;
}

/* Operator: grant use, keeping rights already given. See store.h. */
int ust_pool_grant(ust_store *st, uint32_t pool, uint32_t tenant)
{
	return grant(st, pool, tenant, 0, false);
}

/* Operator: grant with exactly these rights. See store.h. */
int ust_pool_grant_rights(ust_store *st, uint32_t pool, uint32_t tenant,
			  unsigned rights)
{
	return grant(st, pool, tenant, rights, true);
}

/*
 * Operator: withdraw a grant and every right with it. The tenant's entries
 * stay (charged to it) until removed; it can no longer reach the pool.
 * Returns 0, -EBADF, -ENOENT.
 */
int ust_pool_revoke(ust_store *st, uint32_t pool, uint32_t tenant)
{
	struct ust_pool *p;
	int err = -ENOENT;

	ust_mgmt_lock(st);
	p = ust_pool_get(st, pool);
	if (!p || !(p->kind & UST_POOL_SHARED)) {
		err = -EBADF;
	} else if (ust_pool_granted(p, tenant)) {
		ust_lock_all(st);
		ust_pool_forget(p, tenant);
		ust_unlock_all(st);
		err = 0;
	}
	pthread_mutex_unlock(&st->mgmt);
	return err;
}

/*
 * Drop the entries of p (all, or only tenant's) with st->mgmt released
 * meanwhile, and take it again. Dropping a pool of a million small values
 * takes a tenth of a second, and st->mgmt is what every PUT that must
 * evict waits for: a tenant flushing its own pool in a loop would hold up
 * every tenant at its limit. p is pinned instead (ust_pool_release of a
 * pinned pool leaves it to the last pin); each stripe is locked in turn,
 * as for PUTs. Caller holds st->mgmt.
 */
void ust_pool_drop_pinned(ust_store *st, struct ust_pool *p, uint32_t tenant,
			  bool all)
{
	p->pins++;
	pthread_mutex_unlock(&st->mgmt);
	ust_pool_drop_entries(st, p, tenant, all, false);
	ust_mgmt_lock(st);
	if (--p->pins == 0 && p->dead)
		ust_pool_release(st, p);
}

/*
 * Drop every entry of a pool and trim. Returns 0, -EACCES (a shared pool
 * granted without UST_GRANT_MANAGE) or -EBADF. Takes st->mgmt, but not
 * while it drops (ust_pool_drop_pinned).
 */
int ust_pool_flush(ust_store *st, uint32_t tenant, uint32_t pool)
{
	struct ust_pool *p;
	int err;

	ust_mgmt_lock(st);
	p = ust_pool_get(st, pool);
	err = p && ust_pool_may_manage(p, tenant) ? 0 : manage_err(p, tenant);
	if (!err)
		ust_pool_drop_pinned(st, p, 0, true);
	pthread_mutex_unlock(&st->mgmt);
	if (!err)
		ust_trim(st);
	return err;
}

/*
 * Destroy a pool: its id is invalid once every stripe lock has been dropped,
 * its owner's metadata charge is returned, then its entries are freed
 * (without st->mgmt, as for a flush) and memory trimmed. Returns 0,
 * -EACCES (as for flush) or -EBADF.
 */
int ust_pool_destroy(ust_store *st, uint32_t tenant, uint32_t pool)
{
	struct ust_tenant *owner;
	struct ust_pool *p;

	ust_mgmt_lock(st);
	p = ust_pool_get(st, pool);
	if (!p || !ust_pool_may_manage(p, tenant)) {
		pthread_mutex_unlock(&st->mgmt);
		return manage_err(p, tenant);
	}
	ust_lock_all(st);
	ust_pool_slot_free(st, p);
	st->npools--;
	ust_unlock_all(st);
	owner = p->kind & UST_POOL_SHARED ? NULL : ust_tenant_get(st, p->owner);
	if (owner) {
		ust_meta_uncharge(st, owner, p->meta);
		owner->npools--;
	}
	p->dead = true;
	/* frees p unless a flush still drops entries */
	ust_pool_drop_pinned(st, p, 0, true);
	pthread_mutex_unlock(&st->mgmt);
	ust_trim(st);
	return 0;
}

/* Fill one record; caller holds st->mgmt. */
static void fill_info(ust_store *st, struct ust_pool *p, struct ust_pool_info *out)
{
	memset(out, 0, sizeof(*out));
	out->id = p->id;
	strcpy(out->name, p->name);
	out->owner = p->owner;
	out->kind = p->kind;
	ust_pool_sum(st, p, &out->stats);
}

/* Returns 0 and fills *out, or -EBADF. Takes st->mgmt and stripes in turn. */
int ust_pool_info(ust_store *st, uint32_t tenant, uint32_t pool,
		  struct ust_pool_info *out)
{
	struct ust_pool *p;
	int err = -EBADF;

	ust_mgmt_lock(st);
	p = ust_pool_get(st, pool);
	if (p && ust_pool_may_see(p, tenant)) {
		fill_info(st, p, out);
		err = 0;
	}
	pthread_mutex_unlock(&st->mgmt);
	return err;
}

/* Fill up to cap records of pools visible to tenant; returns their number. */
int ust_pool_list(ust_store *st, uint32_t tenant, struct ust_pool_info *out,
		  size_t cap)
{
	size_t n = 0;

	ust_mgmt_lock(st);
	for (uint32_t i = 1; i < st->next_pool; i++) {
		struct ust_pool *p = st->pools[i];

		if (!p || !ust_pool_may_see(p, tenant))
			continue;
		if (n < cap)
			fill_info(st, p, &out[n]);
		n++;
	}
	pthread_mutex_unlock(&st->mgmt);
	return (int)n;
}

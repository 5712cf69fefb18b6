/*
 * pool.c — pools: private or shared, persistent or ephemeral. A pool is an
 * array of per-stripe hash tables plus, when shared, the list of tenants the
 * operator granted it to. Ids come from a counter and are never reused; the
 * id table changes only under st->mgmt plus every stripe lock, so the data
 * path can look a pool up while holding just its stripe lock.
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

/* True if tenant may flush, destroy or inspect p. */
bool ust_pool_may_manage(const struct ust_pool *p, uint32_t tenant)
{
	if (tenant == UST_TENANT_ADMIN)
		return true;
	if (p->kind & UST_POOL_SHARED)
		return ust_pool_granted(p, tenant);
	return p->owner == tenant;
}

/* Unlink entries of stripe s (all, or tenant's); returns them as a chain. */
static struct ust_entry *drop_stripe(ust_store *st, struct ust_pool *p, unsigned s,
				     uint32_t tenant, bool all)
{
	struct ust_sub *sub = &p->sub[s];
	struct ust_entry *head = NULL;

	if (!sub->buckets)
		return NULL;
	for (uint32_t b = 0; b <= sub->mask; b++) {
		struct ust_entry **pp = &sub->buckets[b];

		while (*pp) {
			struct ust_entry *e = *pp;

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
 * stripe is locked in turn. Caller holds st->mgmt (tenants stay alive).
 */
void ust_pool_drop_entries(ust_store *st, struct ust_pool *p, uint32_t tenant,
			   bool all, bool locked)
{
	for (unsigned s = 0; s < st->nstripes; s++) {
		struct ust_entry *chain;

		if (!locked)
			pthread_mutex_lock(&st->stripes[s].lock);
		chain = drop_stripe(st, p, s, tenant, all);
		if (!locked)
			pthread_mutex_unlock(&st->stripes[s].lock);
		ust_entry_free_list(st, chain);
	}
}

/* Free an unreachable pool whose entries were dropped. */
void ust_pool_release(ust_store *st, struct ust_pool *p)
{
	for (unsigned s = 0; s < st->nstripes; s++)
		free(p->sub[s].buckets);
	free(p->sub);
	free(p->grants);
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
	err = ust_table_grow((void **)&st->pools, &st->pool_cap, st->next_pool + 1);
	if (!err) {
		p->id = st->next_pool++;
		st->pools[p->id] = p;
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

/* Open (or create) a pool for a tenant; see store.h. Takes st->mgmt. */
int ust_pool_open(ust_store *st, uint32_t tenant, const char *name,
		  unsigned kind, unsigned flags, uint32_t *pool)
{
	bool shared = kind & UST_POOL_SHARED;
	struct ust_pool *p;
	int err = 0;

	if (!ust_name_ok(name) || (kind & ~UST_KIND_MASK) || !pool ||
	    (flags & ~UST_OPEN_CREATE))
		return -EINVAL;
	pthread_mutex_lock(&st->mgmt);
	if (!ust_tenant_get(st, tenant)) {
		err = -ENOENT;
		goto out;
	}
	p = by_name(st, name, shared, tenant);
	if (shared && (!p || !ust_pool_granted(p, tenant)))
		err = -EACCES;
	else if (p && p->kind != kind)
		err = -EEXIST;
	else if (p)
		*pool = p->id;
	else if (!(flags & UST_OPEN_CREATE))
		err = -ENOENT;
	else
		err = pool_create(st, name, kind, tenant, pool);
out:
	pthread_mutex_unlock(&st->mgmt);
	return err;
}

/* Operator: create a shared pool. Returns 0, -EINVAL, -EEXIST or -ENOMEM. */
int ust_shared_pool_create(ust_store *st, const char *name, unsigned kind,
			   uint32_t *pool)
{
	int err;

	if (!ust_name_ok(name) || (kind & ~UST_KIND_MASK) || !pool)
		return -EINVAL;
	pthread_mutex_lock(&st->mgmt);
	if (by_name(st, name, true, 0))
		err = -EEXIST;
	else
		err = pool_create(st, name, kind | UST_POOL_SHARED, UST_TENANT_ADMIN, pool);
	pthread_mutex_unlock(&st->mgmt);
	return err;
}

/*
 * Operator: let tenant open shared pool. Returns 0 (also if already granted),
 * -EBADF (no such shared pool), -ENOENT (no such tenant) or -ENOMEM.
 */
int ust_pool_grant(ust_store *st, uint32_t pool, uint32_t tenant)
{
	struct ust_pool *p;
	uint32_t *g;
	int err = 0;

	pthread_mutex_lock(&st->mgmt);
	p = ust_pool_get(st, pool);
	if (!p || !(p->kind & UST_POOL_SHARED))
		err = -EBADF;
	else if (!ust_tenant_get(st, tenant))
		err = -ENOENT;
	if (err || ust_pool_granted(p, tenant))
		goto out;
	g = malloc((p->ngrants + 1) * sizeof(*g));
	if (!g) {
		err = -ENOMEM;
		goto out;
	}
	if (p->ngrants)
		memcpy(g, p->grants, p->ngrants * sizeof(*g));
	g[p->ngrants] = tenant;
	ust_lock_all(st);
	free(p->grants);
	p->grants = g;
	p->ngrants++;
	ust_unlock_all(st);
out:
	pthread_mutex_unlock(&st->mgmt);
	return err;
}

/*
 * Operator: withdraw a grant. The tenant's entries stay (charged to it)
 * until removed; it can no longer reach the pool. Returns 0, -EBADF, -ENOENT.
 */
int ust_pool_revoke(ust_store *st, uint32_t pool, uint32_t tenant)
{
	struct ust_pool *p;
	int err = -ENOENT;

	pthread_mutex_lock(&st->mgmt);
	p = ust_pool_get(st, pool);
	if (!p || !(p->kind & UST_POOL_SHARED)) {
		err = -EBADF;
	} else {
		ust_lock_all(st);
		for (uint32_t i = 0; i < p->ngrants; i++) {
			if (p->grants[i] == tenant) {
				p->grants[i] = p->grants[--p->ngrants];
				err = 0;
				break;
			}
		}
		ust_unlock_all(st);
	}
	pthread_mutex_unlock(&st->mgmt);
	return err;
}

/* Drop every entry of a pool and trim. Returns 0 or -EBADF. Takes st->mgmt. */
int ust_pool_flush(ust_store *st, uint32_t tenant, uint32_t pool)
{
	struct ust_pool *p;
	int err = -EBADF;

	pthread_mutex_lock(&st->mgmt);
	p = ust_pool_get(st, pool);
	if (p && ust_pool_may_manage(p, tenant)) {
		ust_pool_drop_entries(st, p, 0, true, false);
		err = 0;
	}
	pthread_mutex_unlock(&st->mgmt);
	if (!err)
		ust_trim(st);
	return err;
}

/*
 * Destroy a pool: its id is invalid once every stripe lock has been dropped,
 * then its entries are freed and memory trimmed. Returns 0 or -EBADF.
 */
int ust_pool_destroy(ust_store *st, uint32_t tenant, uint32_t pool)
{
	struct ust_pool *p;

	pthread_mutex_lock(&st->mgmt);
	p = ust_pool_get(st, pool);
	if (!p || !ust_pool_may_manage(p, tenant)) {
		pthread_mutex_unlock(&st->mgmt);
		return -EBADF;
	}
	ust_lock_all(st);
	st->pools[pool] = NULL;
	st->npools--;
	ust_unlock_all(st);
	ust_pool_drop_entries(st, p, 0, true, false);
	pthread_mutex_unlock(&st->mgmt);
	ust_pool_release(st, p);
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

	pthread_mutex_lock(&st->mgmt);
	p = ust_pool_get(st, pool);
	if (p && ust_pool_may_manage(p, tenant)) {
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

	pthread_mutex_lock(&st->mgmt);
	for (uint32_t i = 1; i < st->next_pool; i++) {
		struct ust_pool *p = st->pools[i];

		if (!p || !ust_pool_may_manage(p, tenant))
			continue;
		if (n < cap)
			fill_info(st, p, &out[n]);
		n++;
	}
	pthread_mutex_unlock(&st->mgmt);
	return (int)n;
}

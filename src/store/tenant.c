/*
 * tenant.c — tenants: who stores, with which reserve (min), cap (max) and
 * weight. Limits are atomics read by the data path without locks; the tenant
 * table itself changes only under st->mgmt plus every stripe lock. Removing
 * a tenant destroys its private pools and frees what it put in shared ones.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/name.h"
#include "store/internal.h"

/* True if name follows the one rule for names (proto/name.h). */
bool ust_name_ok(const char *name)
{
	return uname_ok(name);
}

static bool limits_ok(const struct ust_limits *lim)
{
	return lim && lim->weight >= 1 && lim->min <= lim->max;
}

/* Find a live tenant by name; caller holds st->mgmt. */
static struct ust_tenant *by_name(ust_store *st, const char *name)
{
	for (uint32_t i = 1; i < st->next_tenant; i++)
		if (st->tenants[i] && strcmp(st->tenants[i]->name, name) == 0)
			return st->tenants[i];
	return NULL;
}

static void set_limits(struct ust_tenant *t, const struct ust_limits *lim)
{
	atomic_store(&t->min, lim->min);
	atomic_store(&t->max, lim->max);
	ust_admit_from(&t->admit_max, lim->max, &t->charged);
	atomic_store(&t->weight, lim->weight);
}

/* A new tenant object with zeroed counters, or NULL. */
static struct ust_tenant *tenant_new(ust_store *st, const char *name,
				     const struct ust_limits *lim)
{
	struct ust_tenant *t = aligned_alloc(UST_CACHELINE, sizeof(*t));

	if (!t)
		return NULL;
	memset(t, 0, sizeof(*t));
	t->ts = aligned_alloc(UST_CACHELINE, st->nstripes * sizeof(*t->ts));
	if (!t->ts) {
		free(t);
		return NULL;
	}
	memset(t->ts, 0, st->nstripes * sizeof(*t->ts));
	strcpy(t->name, name);
	set_limits(t, lim);
	return t;
}

/*
 * Add a tenant. Returns 0 and its id in *id, -EINVAL (bad name or limits),
 * -EEXIST (name taken) or -ENOMEM. Takes st->mgmt and every stripe lock.
 */
int ust_tenant_add(ust_store *st, const char *name, const struct ust_limits *lim,
		   uint32_t *id)
{
	struct ust_tenant *t;
	int err;

	if (!ust_name_ok(name) || !limits_ok(lim))
		return -EINVAL;
	ust_mgmt_lock(st);
	err = -EEXIST;
	if (by_name(st, name))
		goto out;
	err = -ENOMEM;
	t = tenant_new(st, name, lim);
	if (!t)
		goto out;
	ust_lock_all(st);
	err = ust_table_grow((void **)&st->tenants, &st->tenant_cap, st->next_tenant + 1);
	if (!err) {
		t->id = st->next_tenant++;
		st->tenants[t->id] = t;
		st->ntenants++;
		if (id)
			*id = t->id;
	}
	ust_unlock_all(st);
	if (err) {
		free(t->ts);
		free(t);
	}
out:
	pthread_mutex_unlock(&st->mgmt);
	return err;
}

/*
 * Drop the tenant's entries before its removal takes every stripe lock:
 * those of its private pools and its own in shared pools, a stripe and a
 * chunk at a time, with st->mgmt released and each pool pinned
 * (ust_pool_drop_pinned, as a flush does). Under every lock, the whole
 * drop stopped every tenant's data path: removing a tenant of 4 million
 * entries held another tenant's GETs for a second. What the tenant PUTs
 * meanwhile is left to the removal proper. Caller holds st->mgmt.
 */
static void drop_ahead(ust_store *st, uint32_t tenant)
{
	for (uint32_t i = 1; i < st->next_pool; i++) {
		struct ust_pool *p = st->pools[i];
		bool shared;

		if (!p)
			continue;
		shared = p->kind & UST_POOL_SHARED;
		if (shared || p->owner == tenant)
			ust_pool_drop_pinned(st, p, tenant, !shared);
	}
}

/*
 * Remove a tenant: destroy its private pools, free its entries in shared
 * pools, revoke its grants. Returns 0 or -ENOENT. Most entries go first
 * without blocking anyone (drop_ahead); then st->mgmt and every stripe
 * lock are held for the rest of the removal, so no PUT can add to what is
 * dropped.
 */
int ust_tenant_remove(ust_store *st, uint32_t tenant)
{
	struct ust_region *region;
	struct ust_tenant *t;

	ust_mgmt_lock(st);
	if (!ust_tenant_get(st, tenant)) {
		pthread_mutex_unlock(&st->mgmt);
		return -ENOENT;
	}
	drop_ahead(st, tenant);
	t = ust_tenant_get(st, tenant); /* removed meanwhile by another call? */
	if (!t) {
		pthread_mutex_unlock(&st->mgmt);
		return -ENOENT;
	}
	ust_lock_all(st);
	for (uint32_t i = 1; i < st->next_pool; i++) {
		struct ust_pool *p = st->pools[i];

		if (p && (p->kind & UST_POOL_SHARED || p->owner == tenant))
			ust_pool_drop_entries(st, p, tenant, false, true);
		if (p && p->kind & UST_POOL_SHARED)
			ust_pool_forget(p, tenant);
		else if (p && p->owner == tenant) {
			ust_pool_slot_free(st, p);
			st->npools--;
			ust_pool_release(st, p);
		}
	}
	for (unsigned s = 0; s < st->nstripes; s++)
		ust_credit_drop(st, t, s); /* give the store its share back */
	ust_meta_uncharge(st, t, t->meta); /* its pools are gone */
	/* What is still charged is reservations (connection credit): they
	 * go with the tenant. */
	atomic_fetch_sub(&st->charged, atomic_load(&t->charged));
	region = ust_region_detach_locked(st, t);
	st->tenants[tenant] = NULL;
	st->ntenants--;
	ust_unlock_all(st);
	pthread_mutex_unlock(&st->mgmt);
	ust_region_retire(region);
	free(t->ts);
	free(t);
	ust_trim(st);
	return 0;
}

/*
 * Change a tenant's limits; lowering max evicts its ephemeral entries at
 * once and trims. Returns 0, -EINVAL or -ENOENT. Takes st->mgmt.
 */
int ust_tenant_set(ust_store *st, uint32_t tenant, const struct ust_limits *lim)
{
	return ust_tenant_set_ex(st, tenant, lim, 0);
}

/* See store.h (UST_SHRINK_LATER). Takes st->mgmt. */
int ust_tenant_set_ex(ust_store *st, uint32_t tenant, const struct ust_limits *lim,
		      unsigned flags)
{
	struct ust_tenant *t;

	if (!limits_ok(lim) || (flags & ~UST_SHRINK_LATER))
		return -EINVAL;
	ust_mgmt_lock(st);
	t = ust_tenant_get(st, tenant);
	if (t)
		set_limits(t, lim);
	pthread_mutex_unlock(&st->mgmt);
	if (!t)
		return -ENOENT;
	if (!(flags & UST_SHRINK_LATER))
		ust_shrink_now(st);
	return 0;
}

/* Freeze or thaw (see store.h). Returns 0 or -ENOENT. Takes st->mgmt. */
int ust_tenant_freeze(ust_store *st, uint32_t tenant, bool frozen)
{
	struct ust_tenant *t;

	ust_mgmt_lock(st);
	t = ust_tenant_get(st, tenant);
	if (t)
		atomic_store(&t->frozen, frozen);
	pthread_mutex_unlock(&st->mgmt);
	return t ? 0 : -ENOENT;
}

/* See store.h. Takes st->mgmt. */
int ust_tenant_set_max_pools(ust_store *st, uint32_t tenant, uint32_t max_pools)
{
	struct ust_tenant *t;

	ust_mgmt_lock(st);
	t = ust_tenant_get(st, tenant);
	if (t)
		atomic_store(&t->max_pools, max_pools);
	pthread_mutex_unlock(&st->mgmt);
	return t ? 0 : -ENOENT;
}

/* Look a tenant up by name. Returns 0, -EINVAL or -ENOENT. Takes st->mgmt. */
int ust_tenant_find(ust_store *st, const char *name, uint32_t *tenant)
{
	struct ust_tenant *t;

	if (!ust_name_ok(name))
		return -EINVAL;
	ust_mgmt_lock(st);
	t = by_name(st, name);
	if (t && tenant)
		*tenant = t->id;
	pthread_mutex_unlock(&st->mgmt);
	return t ? 0 : -ENOENT;
}

/* Sum tenant t's per-stripe counters into *out, locking each stripe. */
void ust_tenant_sum(ust_store *st, struct ust_tenant *t, struct ust_stats *out)
{
	for (unsigned s = 0; s < st->nstripes; s++) {
		pthread_mutex_lock(&st->stripes[s].lock);
		ust_stats_add(out, &t->ts[s].stats);
		pthread_mutex_unlock(&st->stripes[s].lock);
	}
}

/* Fill one record; caller holds st->mgmt. */
static void fill_info(ust_store *st, struct ust_tenant *t, struct ust_tenant_info *out)
{
	memset(out, 0, sizeof(*out));
	out->id = t->id;
	strcpy(out->name, t->name);
	out->limits.min = atomic_load(&t->min);
	out->limits.max = atomic_load(&t->max);
	out->limits.weight = atomic_load(&t->weight);
	out->max_pools = atomic_load(&t->max_pools);
	ust_tenant_sum(st, t, &out->stats);
	out->freeable = ust_tenant_eph(st, t);
	out->frozen = atomic_load(&t->frozen);
	out->pools = t->npools;
	out->pool_bytes = t->meta;
}

/* Returns 0 and fills *out, or -ENOENT. Takes st->mgmt and stripes in turn. */
int ust_tenant_info(ust_store *st, uint32_t tenant, struct ust_tenant_info *out)
{
	struct ust_tenant *t;

	ust_mgmt_lock(st);
	t = ust_tenant_get(st, tenant);
	if (t)
		fill_info(st, t, out);
	pthread_mutex_unlock(&st->mgmt);
	return t ? 0 : -ENOENT;
}

/* Fill up to cap records by id; returns the number of tenants. */
int ust_tenant_list(ust_store *st, struct ust_tenant_info *out, size_t cap)
{
	size_t n = 0;

	ust_mgmt_lock(st);
	for (uint32_t i = 1; i < st->next_tenant; i++) {
		if (!st->tenants[i])
			continue;
		if (n < cap)
			fill_info(st, st->tenants[i], &out[n]);
		n++;
	}
	pthread_mutex_unlock(&st->mgmt);
	return (int)n;
}

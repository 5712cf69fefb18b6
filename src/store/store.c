/*
 * store.c — the store object: creation and teardown, the stripe locks and
 * the "big reader" lock built from them, the id tables, the capacity, the
 * coarse clock used for approximate LRU, and store-wide information.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/internal.h"

/* Default stripe count: 32 per core, a power of two, at least 64. */
static unsigned default_shards(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned want = (unsigned)(n > 0 ? n : 1) * 32, s = 64;

	while (s < want && s < UST_MAX_SHARDS)
		s <<= 1;
	return s;
}

static unsigned round_pow2(unsigned n)
{
	unsigned s = 1;

	while (s < n && s < UST_MAX_SHARDS)
		s <<= 1;
	return s;
}

/*
 * Pool groups: the stripes are cut into up to UST_POOL_GROUPS groups of at
 * least UST_GROUP_MIN stripes, and a pool's keys use only the group its id
 * picks. Two pools (independent clients, the common case) then take
 * different stripe locks and never pass a lock's cache line between cores;
 * one pool still spreads over a group, 1/4 of the stripes (8 per core by
 * default), which is plenty to keep its threads apart.
 */
#define UST_POOL_GROUPS 4u
#define UST_GROUP_MIN 16u

static void set_groups(ust_store *st)
{
	unsigned per = st->nstripes / UST_POOL_GROUPS;

	if (per < UST_GROUP_MIN)
		per = st->nstripes < UST_GROUP_MIN ? st->nstripes : UST_GROUP_MIN;
	st->gbits = 0;
	while ((1u << st->gbits) < per)
		st->gbits++;
	st->ngmask = (st->nstripes >> st->gbits) - 1;
}

/* The stripe of a key with hash h in pool: its group, then hash bits. */
unsigned ust_stripe_of(const ust_store *st, uint32_t pool, uint64_t h)
{
	return ((pool & st->ngmask) << st->gbits) | (unsigned)(h & ((1u << st->gbits) - 1));
}

/* Can pool have entries in stripe s? (Lets sweeps skip other groups.) */
bool ust_stripe_used(const ust_store *st, uint32_t pool, unsigned s)
{
	return (s >> st->gbits) == (pool & st->ngmask);
}

/* Validate cfg and copy its limits into st. Returns 0 or -EINVAL. */
static int apply_config(ust_store *st, const struct ust_config *cfg)
{
	st->max_key = cfg->max_key ? cfg->max_key : UST_DEFAULT_MAX_KEY;
	st->max_value = cfg->max_value ? cfg->max_value : UST_DEFAULT_MAX_VALUE;
	st->charge_pools = (cfg->flags & UST_CFG_CHARGE_POOLS) != 0;
	if (st->max_key > UST_KEY_MAX || st->max_value > UINT32_MAX - 4096)
		return -EINVAL;
	st->nstripes = cfg->shards ? round_pow2(cfg->shards) : default_shards();
	st->smask = st->nstripes - 1;
	set_groups(st);
	atomic_init(&st->capacity, cfg->capacity);
	atomic_init(&st->admit_cap, cfg->capacity);
	atomic_init(&st->charged, 0);
	atomic_init(&st->clock, 1);
	atomic_init(&st->walk_charged, 0);
	atomic_init(&st->region_excess, 0);
	atomic_init(&st->walk_excess, 0);
	atomic_init(&st->shrinking, 0);
	atomic_init(&st->trims, 0);
	st->flags = cfg->flags;
	st->trimmed = cfg->trimmed;
	st->trimmed_arg = cfg->trimmed_arg;
	return 0;
}

/*
 * Create a store. Returns 0 and sets *out (owned by the caller, freed with
 * ust_store_free), or -EINVAL / -ENOMEM.
 */
int ust_store_new(const struct ust_config *cfg, ust_store **out)
{
	ust_store *st;
	int err;

	if (!cfg || !out)
		return -EINVAL;
	err = ust_hash_init();
	if (err)
		return err;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	err = apply_config(st, cfg);
	if (err)
		goto err_store;
	err = -ENOMEM;
	st->stripes = aligned_alloc(UST_CACHELINE, st->nstripes * sizeof(*st->stripes));
	if (!st->stripes)
		goto err_store;
	err = ust_alloc_init(&st->alloc, st->nstripes < 8 ? st->nstripes : 8);
	if (err)
		goto err_stripes;
	for (unsigned i = 0; i < st->nstripes; i++)
		pthread_mutex_init(&st->stripes[i].lock, NULL);
	pthread_mutex_init(&st->mgmt, NULL);
	pthread_mutex_init(&st->compact_lock, NULL);
	st->ccur.pool = 1;
	st->next_tenant = 1;
	st->next_pool = 1;
	*out = st;
	return 0;

err_stripes:
	free(st->stripes);
err_store:
	free(st);
	return err;
}

/* Free every pool (and its entries), tenant and the store. Accepts NULL. */
void ust_store_free(ust_store *st)
{
	if (!st)
		return;
	for (uint32_t i = 1; i < st->next_pool; i++)
		if (st->pools[i]) {
			ust_pool_drop_entries(st, st->pools[i], 0, true, false);
			ust_pool_release(st, st->pools[i]);
		}
	for (uint32_t i = 1; i < st->next_tenant; i++) {
		if (st->tenants[i]) {
			ust_region_destroy(st->tenants[i]->region);
			free(st->tenants[i]->ts);
			free(st->tenants[i]);
		}
	}
	ust_alloc_fini(&st->alloc);
	for (unsigned i = 0; i < st->nstripes; i++)
		pthread_mutex_destroy(&st->stripes[i].lock);
	pthread_mutex_destroy(&st->mgmt);
	ust_compact_fini(st);
	pthread_mutex_destroy(&st->compact_lock);
	free(st->pools);
	free(st->pool_free);
	free(st->tenants);
	free(st->stripes);
	free(st);
}

size_t ust_max_key(const ust_store *st)
{
	return st->max_key;
}

size_t ust_max_value(const ust_store *st)
{
	return st->max_value;
}

/* Take every stripe lock, in ascending order. Caller holds st->mgmt. */
void ust_lock_all(ust_store *st)
{
	for (unsigned i = 0; i < st->nstripes; i++)
		pthread_mutex_lock(&st->stripes[i].lock);
}

void ust_unlock_all(ust_store *st)
{
	for (unsigned i = st->nstripes; i-- > 0;)
		pthread_mutex_unlock(&st->stripes[i].lock);
}

/*
 * Tenant or pool by id, or NULL. The caller holds st->mgmt or a stripe lock,
 * which keeps the returned object alive until it lets go.
 */
struct ust_tenant *ust_tenant_get(const ust_store *st, uint32_t id)
{
	return id > 0 && id < st->next_tenant ? st->tenants[id] : NULL;
}

struct ust_pool *ust_pool_get(const ust_store *st, uint32_t id)
{
	struct ust_pool *p = ust_pool_at(st, id & UST_POOL_SLOT_MASK);

	return p && p->id == id ? p : NULL;
}

/*
 * Make the pointer array *arr (capacity *cap) hold at least need slots; new
 * slots are zeroed. Returns 0 or -ENOMEM (array unchanged). Caller holds
 * st->mgmt and every stripe lock, since readers index the array.
 */
int ust_table_grow(void **arr, uint32_t *cap, uint32_t need)
{
	uint32_t ncap = *cap ? *cap : 16;
	void **n;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	n = realloc(*arr, ncap * sizeof(void *));
	if (!n)
		return -ENOMEM;
	memset(n + *cap, 0, (ncap - *cap) * sizeof(void *));
	*arr = n;
	*cap = ncap;
	return 0;
}

/*
 * The coarse clock for LRU stamps. Each thread advances the shared clock
 * once per 64 of its own operations, so the shared cache line is written
 * rarely and read (cheaply, while it stays shared) on every operation.
 */
uint32_t ust_now(ust_store *st)
{
	static _Thread_local unsigned ops;

	if ((++ops & 63) == 0)
		return atomic_fetch_add_explicit(&st->clock, 1, memory_order_relaxed) + 1;
	return atomic_load_explicit(&st->clock, memory_order_relaxed);
}

/*
 * Set the capacity. Growth is immediate; shrinking evicts ephemeral entries
 * until the charge fits (persistent ones stay) and trims. Returns 0.
 * Takes st->mgmt, and stripe locks one at a time.
 */
int ust_set_capacity(ust_store *st, uint64_t capacity)
{
	return ust_set_capacity_ex(st, capacity, 0);
}

/* See store.h (UST_SHRINK_LATER). Takes st->mgmt. */
int ust_set_capacity_ex(ust_store *st, uint64_t capacity, unsigned flags)
{
	if (flags & ~UST_SHRINK_LATER)
		return -EINVAL;
	ust_mgmt_lock(st);
	atomic_store(&st->capacity, capacity);
	ust_admit_from(&st->admit_cap, capacity, &st->charged);
	pthread_mutex_unlock(&st->mgmt);
	if (!(flags & UST_SHRINK_LATER))
		ust_shrink_now(st); /* reads the limits as they are then */
	return 0;
}

/* Must entries still go for the limits set? Takes st->mgmt. */
bool ust_over_limits(ust_store *st)
{
	bool over;

	ust_mgmt_lock(st);
	over = atomic_load(&st->admit_cap) > atomic_load(&st->capacity);
	for (uint32_t i = 1; i < st->next_tenant && !over; i++) {
		struct ust_tenant *t = st->tenants[i];

		over = t && atomic_load(&t->admit_max) > atomic_load(&t->max);
	}
	pthread_mutex_unlock(&st->mgmt);
	return over;
}

void ust_shrink_now(ust_store *st)
{
	ust_mgmt_lock(st);
	ust_shrink(st);
	pthread_mutex_unlock(&st->mgmt);
	ust_trim(st);
}

/*
 * Return memory freed by earlier removals to the OS: compact when it pays
 * (and is not deferred to the caller), then flush this thread's cache and
 * purge. Takes st->compact_lock and stripe locks in turn when compacting.
 */
void ust_trim(ust_store *st)
{
	ust_alloc_flush(&st->alloc); /* cached regions back to their slabs first */
	atomic_fetch_add_explicit(&st->trims, 1, memory_order_release);
	if (st->flags & UST_CFG_COMPACT_DEFER) {
		/* The caller's maintenance thread purges and compacts. */
		if (st->trimmed)
			st->trimmed(st->trimmed_arg);
		return;
	}
	if (ust_compact_wanted(st))
		ust_compact(st, 0, NULL);
	ust_alloc_trim(&st->alloc);
	ust_regions_trim(st);
}

void ust_purge(ust_store *st)
{
	ust_alloc_trim(&st->alloc);
	ust_regions_trim(st);
}

uint64_t ust_trim_count(ust_store *st)
{
	return atomic_load_explicit(&st->trims, memory_order_relaxed);
}

/* See store.h. Takes st->mgmt for the sum of mins. */
void ust_totals(ust_store *st, uint64_t *charged, uint64_t *reserved,
		uint64_t *capacity)
{
	uint64_t r = 0;

	ust_mgmt_lock(st);
	for (uint32_t i = 1; i < st->next_tenant; i++)
		if (st->tenants[i])
			r += atomic_load_explicit(&st->tenants[i]->min, memory_order_relaxed);
	pthread_mutex_unlock(&st->mgmt);
	if (charged)
		*charged = atomic_load_explicit(&st->charged, memory_order_relaxed);
	if (reserved)
		*reserved = r;
	if (capacity)
		*capacity = atomic_load_explicit(&st->capacity, memory_order_relaxed);
}

/* Fill *out with store-wide figures. Takes st->mgmt and each stripe in turn. */
void ust_store_info(ust_store *st, struct ust_store_info *out)
{
	memset(out, 0, sizeof(*out));
	ust_mgmt_lock(st);
	out->capacity = atomic_load(&st->capacity);
	out->tenants = st->ntenants;
	out->pools = st->npools;
	for (uint32_t i = 1; i < st->next_tenant; i++) {
		if (st->tenants[i]) {
			out->reserved += atomic_load(&st->tenants[i]->min);
			out->freeable += ust_tenant_eph(st, st->tenants[i]);
			out->charged += st->tenants[i]->meta; /* their pools */
			if (st->tenants[i]->region) {
				uint64_t slack;

				(void)ust_region_slack_excess(st->tenants[i]->region, &slack);
				out->region_slack += slack;
			}
		}
	}
	for (uint32_t i = 1; i < st->next_pool; i++)
		if (st->pools[i])
			ust_pool_sum(st, st->pools[i], &out->stats);
	/* st->charged also counts stripes' credit; the entries' sum is exact. */
	out->charged += out->stats.bytes_charged;
	out->pinned = atomic_load(&st->pinned);
	out->index_held = atomic_load(&st->index_held);
	out->charged += out->pinned + out->index_held;
	pthread_mutex_unlock(&st->mgmt);
}

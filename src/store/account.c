/*
 * account.c — what an entry costs and who pays. An entry is charged
 * ust_alloc_size(24 + klen + vlen) + UST_SLOT_COST: the allocator's real
 * size for header, key and value, plus its hash bucket pointer. Charges live
 * in atomics (per tenant, per tenant's ephemeral part, and for the store) so
 * that limits can be checked without any lock; counters live in per-stripe
 * blocks updated under the stripe lock, so the data path never shares a
 * counter cache line with another stripe.
 */
#include <errno.h>

#include "store/internal.h"

/* Charge for an entry with this key and value length. Pure. */
uint64_t ust_charge_for(const ust_store *st, size_t klen, size_t vlen)
{
	return ust_alloc_size(&st->alloc, sizeof(struct ust_entry) + klen + vlen) +
	       UST_SLOT_COST;
}

/* Charge of an existing entry (the same figure it was charged on PUT). */
uint64_t ust_entry_charge(const ust_store *st, const struct ust_entry *e)
{
	return ust_charge_for(st, e->klen, e->vlen);
}

/*
 * Reserve charge bytes for tenant t, counting as already free credit_t bytes
 * of t's own (the entry being replaced, if t owns it) and credit_g bytes of
 * the store's. Returns 0 with the charge taken, -EDQUOT if t's max would be
 * exceeded, -ENOSPC if the capacity would. Lock-free: the add-then-check may
 * refuse spuriously while another thread's reservation is in flight at the
 * very edge of a limit, never admit too much.
 */
int ust_charge_try(ust_store *st, struct ust_tenant *t, bool eph, uint64_t charge,
		   uint64_t credit_t, uint64_t credit_g)
{
	uint64_t max = atomic_load_explicit(&t->max, memory_order_relaxed);
	uint64_t cap = atomic_load_explicit(&st->capacity, memory_order_relaxed);
	uint64_t prev;

	prev = atomic_fetch_add_explicit(&t->charged, charge, memory_order_relaxed);
	if (prev + charge - credit_t > max) {
		atomic_fetch_sub_explicit(&t->charged, charge, memory_order_relaxed);
		return -EDQUOT;
	}
	prev = atomic_fetch_add_explicit(&st->charged, charge, memory_order_relaxed);
	if (prev + charge - credit_g > cap) {
		atomic_fetch_sub_explicit(&st->charged, charge, memory_order_relaxed);
		atomic_fetch_sub_explicit(&t->charged, charge, memory_order_relaxed);
		return -ENOSPC;
	}
	if (eph)
		atomic_fetch_add_explicit(&t->eph_charged, charge, memory_order_relaxed);
	return 0;
}

/*
 * Count a newly linked entry in pool p's and its tenant's stripe-s counters.
 * The charge itself was taken by ust_charge_try(). Caller holds stripe s.
 */
void ust_account_in(ust_store *st, struct ust_pool *p, unsigned s,
		    const struct ust_entry *e, uint64_t charge)
{
	struct ust_stats *ps = &p->sub[s].stats;
	struct ust_stats *ts = &st->tenants[e->tenant]->ts[s].stats;
	uint64_t bytes = (uint64_t)e->klen + e->vlen;

	ps->entries++;
	ps->bytes_stored += bytes;
	ps->bytes_charged += charge;
	ts->entries++;
	ts->bytes_stored += bytes;
	ts->bytes_charged += charge;
}

/*
 * Uncount an entry just unlinked from pool p's stripe s and release its
 * charge. The entry is not freed. Caller holds stripe s (or every lock).
 */
void ust_account_out(ust_store *st, struct ust_pool *p, unsigned s,
		     const struct ust_entry *e)
{
	struct ust_tenant *t = st->tenants[e->tenant];
	struct ust_stats *ps = &p->sub[s].stats;
	struct ust_stats *ts = &t->ts[s].stats;
	uint64_t bytes = (uint64_t)e->klen + e->vlen;
	uint64_t charge = ust_entry_charge(st, e);

	ps->entries--;
	ps->bytes_stored -= bytes;
	ps->bytes_charged -= charge;
	ts->entries--;
	ts->bytes_stored -= bytes;
	ts->bytes_charged -= charge;
	if (p->kind & UST_POOL_EPHEMERAL)
		atomic_fetch_sub_explicit(&t->eph_charged, charge, memory_order_relaxed);
	atomic_fetch_sub_explicit(&t->charged, charge, memory_order_relaxed);
	atomic_fetch_sub_explicit(&st->charged, charge, memory_order_relaxed);
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

/* Free a chain of entries (linked by ->next) that are already accounted out. */
void ust_entry_free_list(ust_store *st, struct ust_entry *e)
{
	while (e) {
		struct ust_entry *next = e->next;

		ust_alloc_free(&st->alloc, e, sizeof(*e) + e->klen + e->vlen);
		e = next;
	}
}

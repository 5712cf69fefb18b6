/*
 * evict.c — making room. Only ephemeral entries are ever evicted. Victims
 * are chosen per tenant by one rule (docs/store.md): the tenant whose usage
 * above its reserve (min), divided by its weight, is largest; a putting
 * tenant counts its usage as it would be after the PUT, wins ties (its own
 * entries go first, never the one its PUT replaces) and may take from
 * another tenant only if that tenant is
 * at least as far above its share. Within a tenant, eviction is approximate
 * LRU: a sweep over the pools' stripe tables samples up to 32 of the
 * tenant's entries and evicts the oldest quarter by access stamp. Every
 * function here requires the caller to hold st->mgmt and no stripe lock.
 */
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "store/internal.h"
#include "proto/clock.h"

#define UST_SAMPLE 32
#define UST_EVICT_STEP (1u << 20) /* re-pick the victim after this much */
/* Victims whose index buckets and slab map slot are fetched ahead: their
 * cache misses, most of an eviction at small values, then overlap (1 KiB
 * values: a 1 GiB shrink 1.05 s -> 0.85 s; 8 ahead did no better). */
#define EVICT_AHEAD 4u
/* Buckets whose first entry the sample walk fetches ahead. */
#define SAMPLE_AHEAD 8u
/* The longest a shrink step waits for a waiter to take st->mgmt. */
#define BREATH_NS 1000000u

static uint64_t load64(_Atomic uint64_t *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
}

static uint64_t sat_sub(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* (used - min) / weight: how far a tenant is above its reserve, per weight. */
static double score(const struct ust_tenant *t, uint64_t used)
{
	double min = (double)atomic_load_explicit(&t->min, memory_order_relaxed);

	return ((double)used - min) /
	       (double)atomic_load_explicit(&t->weight, memory_order_relaxed);
}

/*
 * The tenant to evict from, or NULL. req is the putting tenant (NULL when
 * shrinking), req_used its usage after the PUT and req_spared the bytes of
 * its ephemeral charge that may not go (the entry the PUT replaces).
 * Candidates have ephemeral bytes they may lose and usage above min; when
 * shrinking and none qualifies, any tenant with ephemeral bytes does
 * (shrinking may cut into reserves).
 */
static struct ust_tenant *pick_victim(ust_store *st, struct ust_tenant *req,
				      uint64_t req_used, uint64_t req_spared)
{
	struct ust_tenant *best = NULL, *any = NULL;
	double bs = 0, as = 0;

	for (uint32_t i = 1; i < st->next_tenant; i++) {
		struct ust_tenant *x = st->tenants[i];
		uint64_t used;
		double sc;

		if (!x || ust_tenant_eph(st, x) <= (x == req ? req_spared : 0))
			continue;
		used = x == req ? req_used : load64(&x->charged);
		sc = score(x, used);
		if (!any || sc > as)
			any = x, as = sc;
		if (used <= atomic_load_explicit(&x->min, memory_order_relaxed))
			continue;
		if (!best || sc > bs || (sc == bs && x == req))
			best = x, bs = sc;
	}
	if (!req)
		return best ? best : any;
	if (best && best != req && bs < score(req, req_used))
		return NULL;
	return best;
}

/*
 * How much of want victim v may lose for others: no more than its usage
 * above its min, so that data below a min is never evicted while someone
 * else above theirs has any (the loop picks again once v is at its min).
 * A victim at or below its min (a shrink's last resort) may lose all of
 * want. Entries go whole, so the last one may cross the min.
 */
static uint64_t above_min(struct ust_tenant *v, uint64_t want)
{
	uint64_t used = load64(&v->charged);
	uint64_t min = atomic_load_explicit(&v->min, memory_order_relaxed);

	return used > min ? min64(want, used - min) : want;
}

/* One sampled entry: where it is and how long since it was used. */
struct sample {
	struct ust_entry *e;
	uint32_t bucket;
	uint32_t age;
};

/* Move the k oldest of n samples to the front (partial selection sort). */
static void oldest_first(struct sample *smp, unsigned n, unsigned k)
{
	for (unsigned i = 0; i < k; i++) {
		unsigned m = i;

		for (unsigned j = i + 1; j < n; j++)
			if (smp[j].age > smp[m].age)
				m = j;
		struct sample tmp = smp[i];

		smp[i] = smp[m];
		smp[m] = tmp;
	}
}

/* Is e the entry under keep's key? keep: narrowed to e's table, or NULL. */
static bool kept(const struct ust_room *keep, const struct ust_entry *e)
{
	return keep && e->klen == keep->klen &&
	       (keep->klen == 0 || memcmp(e->data, keep->key, keep->klen) == 0);
}

static void fetch_ahead(const struct ust_entry *e)
{
	if (e)
		__builtin_prefetch(e);
}

/*
 * Collect up to UST_SAMPLE of tenant's entries from the hand onward,
 * skipping the one under keep's key (NULL: none). The walk reads each
 * chain's first entry, a cache miss apiece: the one SAMPLE_AHEAD buckets on
 * is fetched ahead, so that they overlap.
 */
static unsigned sample_sub(ust_store *st, struct ust_sub *sub, uint32_t tenant,
			   const struct ust_room *keep, struct sample *smp)
{
	uint32_t now = atomic_load_explicit(&st->clock, memory_order_relaxed);
	uint32_t b = sub->hand;
	unsigned n = 0;

	for (uint32_t seen = 0; seen < SAMPLE_AHEAD && seen <= sub->mask; seen++)
		fetch_ahead(sub->buckets[(b + seen) & sub->mask]);
	for (uint32_t seen = 0; seen <= sub->mask && n < UST_SAMPLE; seen++) {
		fetch_ahead(sub->buckets[(b + SAMPLE_AHEAD) & sub->mask]);
		for (struct ust_entry *e = sub->buckets[b]; e && n < UST_SAMPLE; e = e->next)
			if (e->tenant == tenant && !kept(keep, e))
				smp[n++] = (struct sample){ e, b, now - e->stamp };
		b = (b + 1) & sub->mask;
	}
	sub->hand = b;
	return n;
}

/* Unlink e from its bucket chain; returns the link that pointed to it. */
static struct ust_entry **link_of(struct ust_sub *sub, const struct sample *s)
{
	struct ust_entry **pp = &sub->buckets[s->bucket];

	while (*pp != s->e)
		pp = &(*pp)->next;
	return pp;
}

/*
 * Evict the oldest 3/4 * share/1024 (at least a quarter; at most *owed if
 * that is not 0) of a sample of tenant's entries in pool p's stripe s,
 * oldest first, stopping once want bytes are released. Returns the bytes
 * of charge released, and in *owed how many it meant to evict and did not
 * (0 unless want cut it short). The entry under keep's key is spared (keep
 * may be NULL). Takes stripe s.
 */
static uint64_t evict_sample(ust_store *st, struct ust_pool *p, unsigned s,
			     uint32_t tenant, uint64_t want, const struct ust_room *keep,
			     unsigned share, uint32_t *owed)
{
	struct ust_sub *sub = &p->sub[s];
	struct ust_entry *chain = NULL;
	struct sample smp[UST_SAMPLE];
	struct ust_entry *vict[UST_SAMPLE];
	uint64_t freed = 0;
	unsigned n, k, i, ahead, nv = 0;

	if (keep && (keep->pool != p->id || keep->s != s))
		keep = NULL;
	pthread_mutex_lock(&st->stripes[s].lock);
	n = sub->buckets && sub->count ? sample_sub(st, sub, tenant, keep, smp) : 0;
	k = (n * share * 3 / 4 + 1023) / 1024;
	if (k < (n + 3) / 4)
		k = (n + 3) / 4;
	if (k > n)
		k = n;
	if (*owed && k > *owed)
		k = *owed;
	oldest_first(smp, n, k);
	for (i = 0, ahead = 0; i < k && freed < want; i++) {
		struct ust_entry *e = smp[i].e;

		for (; ahead < k && ahead <= i + EVICT_AHEAD; ahead++)
			ust_region_prefetch(st, p, smp[ahead].e);
		ust_sub_unlink(sub, link_of(sub, &smp[i]));
		freed += ust_entry_charge(st, e);
		if (ust_in_region(e)) {
			vict[nv++] = e; /* unlinked from its region below */
			ust_account_out_noindex(st, p, s, e, false);
		} else {
			ust_account_out(st, p, s, e, false);
		}
		sub->stats.evictions++;
		st->tenants[e->tenant]->ts[s].stats.evictions++;
		e->next = chain;
		chain = e;
	}
	ust_region_unlink_many(st, p, vict, nv);
	pthread_mutex_unlock(&st->stripes[s].lock);
	ust_entry_free_list(st, chain);
	*owed = k - i;
	return freed;
}

/* Could pool p hold ephemeral entries charged to tenant? */
static bool eligible(const struct ust_pool *p, uint32_t tenant)
{
	return p && (p->kind & UST_POOL_EPHEMERAL) &&
	       ((p->kind & UST_POOL_SHARED) || p->owner == tenant);
}

/* Advance the store's eviction cursor by one (pool, stripe) slot. */
static void cursor_next(ust_store *st)
{
	if (++st->ev_stripe < st->nstripes)
		return;
	st->ev_stripe = 0;
	if (++st->ev_pool >= st->next_pool)
		st->ev_pool = 1;
}

/*
 * Evict about amount bytes of tenant t's ephemeral entries, sweeping every
 * eligible (pool, stripe) slot round-robin from the store's cursor. Returns
 * the bytes released; 0 means t has nothing evictable. The entry under
 * keep's key (keep may be NULL) is spared. share (per 1024) is the part of
 * t's ephemeral charge the caller wants gone in all (several calls of at
 * most UST_EVICT_STEP): each sample of UST_SAMPLE entries loses 3/4 of that
 * part of its oldest, at least a quarter. A PUT making room wants a little
 * and keeps the quarter (LRU precision); a shrink by 7/8 evicts 21 of each
 * 32 sampled, reading about 1.5 entries per eviction instead of 4 (at 64 B
 * values, reading cold entries is most of an eviction's cost). Measured
 * (shrink-bench 288 256, every 8th entry read, CPU time): 64 B eviction
 * 1278 -> 692 ms, the read entries kept 85 % -> 81 %; evicting the whole
 * share of each sample was faster still (636 ms) but kept only 69 %.
 *
 * A shrink (shrink = true) evicts in calls of UST_EVICT_STEP bytes, and a
 * call's last sample is cut short when the step is done. What that slot
 * was meant to lose is owed (st->ev_owed): the next call starts at the
 * same slot with a new sample evicting the rest, so every slot loses its
 * share. Moving on instead shorted the same slots step after step when a
 * step spanned a whole number of samples and the stripes in use were a
 * multiple of that number; the others ran out of old entries and lost the
 * recently read ones (shrink-bench, every 8th entry read: 25 % of them kept
 * at 16 KiB, where 4 stripes of 16 were cut in 180 of their 201 samples and
 * kept 3,000 entries each against 650). A PUT making room owes nothing:
 * it wants a little each time and moves on.
 */
static uint64_t evict_from(ust_store *st, struct ust_tenant *t, uint64_t amount,
			   const struct ust_room *keep, unsigned share, bool shrink)
{
	uint64_t freed = 0, slots = (uint64_t)st->next_pool * st->nstripes, idle = 0;

	while (freed < amount && idle <= slots) {
		uint32_t owed = shrink ? st->ev_owed : 0;
		struct ust_pool *p;
		uint64_t got = 0;

		if (!st->ev_owed) /* else stay: the slot is owed the rest */
			cursor_next(st);
		st->ev_owed = 0;
		p = ust_pool_at(st, st->ev_pool);
		if (eligible(p, t->id) && ust_stripe_used(st, p->id, st->ev_stripe)) {
			got = evict_sample(st, p, st->ev_stripe, t->id, amount - freed, keep,
					   share, &owed);
			if (shrink)
				st->ev_owed = owed;
		}
		freed += got;
		idle = got ? 0 : idle + 1;
	}
	return freed;
}

/*
 * Evict until the PUT described by r fits both tenant's max and the
 * capacity, counting r's replaced entry as already free (its charge is
 * credited) and never evicting it: that would free nothing more and leave
 * the credit counted twice. Returns 0 when it fits now; -EDQUOT when the
 * max cannot be met even with all the tenant's other ephemeral entries
 * gone (its persistent bytes plus the charge, less the replaced entry if it
 * is its persistent one, exceed max); -ENOSPC when the max can be met but
 * the capacity cannot; -EBADF if the tenant is gone. Takes st->mgmt itself
 * (the caller holds no lock) and stripe locks one at a time.
 */
int ust_make_room(ust_store *st, uint32_t tenant, const struct ust_room *r)
{
	bool reclaimed_t = false, reclaimed_all = false;
	/* The replaced entry is in eph(t) but may not be evicted. */
	uint64_t spared = r->old_eph ? r->credit_t : 0;
	struct ust_tenant *t;
	int err = 0;

	ust_mgmt_lock(st);
	t = ust_tenant_get(st, tenant);
	if (!t)
		err = -EBADF;
	while (!err) {
		uint64_t used = sat_sub(load64(&t->charged) + r->charge, r->credit_t);
		/* The admission limits: during another thread's shrink, this
		 * PUT makes room for itself, not for the shrink. */
		uint64_t max = atomic_load_explicit(&t->admit_max, memory_order_relaxed);
		uint64_t cap = atomic_load_explicit(&st->admit_cap, memory_order_relaxed);
		uint64_t all = sat_sub(load64(&st->charged) + r->charge, r->credit_g);
		struct ust_tenant *v;

		/* Totals include stripes' credit: take it back before judging. */
		if (used > max && !reclaimed_t) {
			ust_credit_reclaim(st, t);
			reclaimed_t = true;
			continue;
		}
		if (used > max) {
			uint64_t evictable = sat_sub(ust_tenant_eph(st, t), spared);

			if (sat_sub(used, evictable) > max ||
			    !evict_from(st, t, min64(used - max, UST_EVICT_STEP), r, 0, false))
				err = -EDQUOT;
			continue;
		}
		if (all <= cap)
			break;
		if (!reclaimed_all) {
			ust_credit_reclaim(st, NULL);
			reclaimed_all = reclaimed_t = true;
			continue;
		}
		v = r->charge > cap ? NULL : pick_victim(st, t, used, spared);
		if (!v || !evict_from(st, v,
				      min64(v == t ? all - cap : above_min(v, all - cap),
					    UST_EVICT_STEP),
				      r, 0, false))
			err = -ENOSPC;
	}
	pthread_mutex_unlock(&st->mgmt);
	return err;
}

/* want as a part (per 1024, at most all) of t's ephemeral charge. */
static unsigned share_of(const ust_store *st, const struct ust_tenant *t, uint64_t want)
{
	uint64_t eph = ust_tenant_eph(st, t);

	if (!eph || want >= eph)
		return 1024;
	return (unsigned)(want * 1024 / eph);
}

/*
 * Between two steps of a shrink, let the threads that wait for st->mgmt
 * (ust_mgmt_lock: PUTs making room for themselves, INFO, pool opens) have
 * it: a 1 GiB shrink of small values takes seconds, and they would all
 * wait for the end, their workers or utmemd's main loop with them. Returns
 * at once when nobody waits; otherwise yields until one of the waiters got
 * in (a mutex does not hand itself over), for BREATH_NS at most. The bound
 * is time, not a count of yields: a waiter asleep on another vCPU takes
 * tens of microseconds to wake, longer than 256 yields on an idle CPU, and
 * the shrink retook the lock first (store_stress: 1 to 639 PUTs let in
 * during the same 60 ms shrink, often under 10).
 * Caller holds st->mgmt, and holds no pointer it read under it across the
 * call (a tenant may be removed meanwhile).
 */
static void mgmt_breathe(ust_store *st)
{
	uint32_t w = atomic_load_explicit(&st->mgmt_waiters, memory_order_relaxed);
	uint64_t until;

	if (!w)
		return;
	until = umono_ns() + BREATH_NS;
	pthread_mutex_unlock(&st->mgmt);
	while (atomic_load_explicit(&st->mgmt_waiters, memory_order_relaxed) >= w &&
	       umono_ns() < until)
		sched_yield();
	pthread_mutex_lock(&st->mgmt);
}

/*
 * Apply lowered limits: evict ephemeral entries of every tenant above its
 * max, then of the victims above until the store fits its capacity, in
 * steps of UST_EVICT_STEP with waiting PUTs let in between (mgmt_breathe).
 * Persistent entries stay; later PUTs are refused until usage fits.
 * Stripes' credit is reclaimed first so that the totals count entries only.
 * Meanwhile PUTs are admitted against what is held after each step
 * (admit_max, admit_cap): they make room for themselves and nobody grows,
 * but none of them does the shrink's work on its worker. At the end the
 * admission limits are the limits again.
 * Caller holds st->mgmt (released and retaken between steps).
 */
void ust_shrink(ust_store *st)
{
	atomic_fetch_add_explicit(&st->shrinking, 1, memory_order_relaxed);
	ust_compact_note(st);
	ust_credit_reclaim(st, NULL);
	for (uint32_t i = 1; i < st->next_tenant; i++) {
		struct ust_tenant *t;

		while ((t = st->tenants[i])) {
			uint64_t used = load64(&t->charged);
			uint64_t max = atomic_load_explicit(&t->max, memory_order_relaxed);

			if (used <= max ||
			    !evict_from(st, t, min64(used - max, UST_EVICT_STEP), NULL,
					share_of(st, t, used - max), true)) {
				atomic_store(&t->admit_max, max); /* exact again */
				break;
			}
			/* What PUTs meet during the breath: no growth. */
			ust_admit_from(&t->admit_max, max, &t->charged);
			mgmt_breathe(st);
		}
	}
	for (;;) {
		uint64_t all = load64(&st->charged);
		uint64_t cap = atomic_load_explicit(&st->capacity, memory_order_relaxed);
		struct ust_tenant *v;
		uint64_t want;

		if (all <= cap)
			break;
		v = pick_victim(st, NULL, 0, 0);
		want = v ? above_min(v, all - cap) : 0;
		if (!v || !evict_from(st, v, min64(want, UST_EVICT_STEP), NULL,
				      share_of(st, v, want), true))
			break;
		ust_admit_from(&st->admit_cap, cap, &st->charged);
		mgmt_breathe(st);
	}
	atomic_store(&st->admit_cap, atomic_load(&st->capacity)); /* exact again */
	atomic_fetch_sub_explicit(&st->shrinking, 1, memory_order_relaxed);
}

bool ust_shrinking(ust_store *st)
{
	return atomic_load_explicit(&st->shrinking, memory_order_relaxed) != 0;
}

/*
 * ops.c — the data path: PUT, GET (plain or exclusive), INVALIDATE. Each
 * operation hashes the key, takes that key's stripe lock (within its pool's
 * group of stripes, store.c) and nothing else,
 * resolves tenant and pool under it (management needs every stripe lock to
 * change them, so they cannot vanish meanwhile), and updates the stripe's
 * counters. A PUT pays its charge from the tenant's credit in the stripe
 * (account.c) and tops the credit up from the shared totals only when it
 * runs short; a PUT whose charge does not fit even then drops the lock, asks
 * evict.c for room, and retries; if it still fails the key is left with no
 * value.
 */
#include <errno.h>
#include <string.h>

#include "store/internal.h"

#define UST_PUT_TRIES 4

/* What one operation works on, resolved under its stripe lock. */
struct op {
	unsigned s;
	struct ust_pool *p;
	struct ust_tenant *t;
	struct ust_sub *sub;
	struct ust_stats *ps; /* pool's counters in this stripe */
	struct ust_stats *ts; /* requesting tenant's counters in this stripe */
};

/* Caller holds stripe s. Returns 0 and fills *o, or -EBADF. */
static int resolve(ust_store *st, uint32_t tenant, uint32_t pool, unsigned s,
		   struct op *o)
{
	struct ust_pool *p = ust_pool_get(st, pool);
	struct ust_tenant *t = ust_tenant_get(st, tenant);

	if (!p || !t)
		return -EBADF;
	if ((p->kind & UST_POOL_SHARED) ? !ust_pool_granted(p, tenant)
					: p->owner != tenant)
		return -EBADF;
	o->s = s;
	o->p = p;
	o->t = t;
	o->sub = &p->sub[s];
	o->ps = &o->sub->stats;
	o->ts = &t->ts[s].stats;
	return 0;
}

static pthread_mutex_t *stripe_lock(ust_store *st, unsigned s)
{
	return &st->stripes[s].lock;
}

/*
 * Unlink and account out the entry at *link; returns it for freeing. Its
 * charge goes to the stripe's credit when the requester is the tenant that
 * pays for it, else straight back to the totals.
 */
static struct ust_entry *take(ust_store *st, struct op *o, struct ust_entry **link)
{
	struct ust_entry *e = *link;

	ust_sub_unlink(o->sub, link);
	ust_account_out(st, o->p, o->s, e, e->tenant == o->t->id);
	e->next = NULL;
	return e;
}

/* Count a refused PUT and remove key's old value. Caller holds the stripe. */
static struct ust_entry *refuse_locked(ust_store *st, struct op *o, uint64_t h,
				       const void *key, size_t klen)
{
	struct ust_entry **link;

	o->ps->puts++;
	o->ps->refused_puts++;
	o->ts->puts++;
	o->ts->refused_puts++;
	if (!ust_sub_find(o->sub, h, key, klen, &link))
		return NULL;
	return take(st, o, link);
}

/* One PUT request's fixed facts, and what its attempts carry over. */
struct put_req {
	uint32_t tenant;
	uint32_t pool;
	uint64_t h;
	unsigned s;        /* stripe of (pool, h) */
	const void *key;
	size_t klen;
	const void *val;   /* the value's bytes (in a staging extent if staged) */
	size_t vlen;
	int64_t stage_off; /* >= 0: a staging extent not yet consumed */
	size_t stage_len;
	uint64_t *reserved;
	bool size_ok;      /* key and value within the limits */
	uint64_t charge;   /* of the entry being put (set under the lock) */
	uint64_t credit_t; /* out: charge of the replaced entry, if the tenant's */
	uint64_t credit_g; /* out: charge of the replaced entry */
	bool old_eph;      /* out: the replaced entry is ephemeral */
	struct ust_entry *built; /* built outside the lock (large values) */
	struct ust_entry *drop;  /* built, not linked: freed after unlock */
};

/* The region o's pool keeps its values in, or NULL (the store's heap). */
static struct ust_region *placement(const struct op *o)
{
	return (o->p->kind & UST_POOL_SHARED) ? NULL : o->t->region;
}

/*
 * Build r's entry for placement g. A staging extent is adopted (g) or
 * copied out and released (no g). Caller holds the stripe lock or keeps g
 * alive otherwise. Returns the entry or NULL (out of memory; the extent is
 * consumed either way).
 */
static struct ust_entry *build(ust_store *st, struct put_req *r,
			       struct ust_region *g, struct ust_region *stage_g)
{
	struct ust_entry *e;
	int64_t so = r->stage_off;

	r->stage_off = -1;
	if (g)
		return ust_region_entry_new(st, r->s, g, r->tenant, r->key, r->klen,
					    r->val, r->vlen, so, r->stage_len);
	e = ust_entry_new(st, r->s, r->tenant, r->key, r->klen, r->val, r->vlen);
	if (so >= 0)
		ust_region_release(st, stage_g, ust_tenant_get(st, r->tenant),
				   (uint64_t)so, r->stage_len);
	return e;
}

/* Unbuild an entry that will not be linked. Caller holds the stripe. */
static void unbuild(ust_store *st, struct put_req *r, struct ust_region *g,
		    struct ust_entry *e)
{
	if (!e)
		return;
	if (ust_in_region(e))
		ust_region_entry_drop(st, g, e);
	e->next = r->drop;
	r->drop = e;
}

/*
 * Pay r->charge in stripe s: from the caller's reservation first when
 * there is one (bytes already counted in the totals move into the stripe's
 * credit), then from the credit and the totals as any PUT. Returns 0,
 * -EDQUOT or -ENOSPC (nothing taken from the totals then). Caller holds s.
 */
static int pay(ust_store *st, struct op *o, struct put_req *r)
{
	struct ust_tstripe *ts = &o->t->ts[o->s];
	uint64_t have = ust_credit(ts);

	if (r->reserved && have + r->credit_t < r->charge && *r->reserved) {
		uint64_t need = r->charge - have - r->credit_t;
		uint64_t take = need < *r->reserved ? need : *r->reserved;

		ust_credit_add(o->t, o->s, take);
		*r->reserved -= take;
		have += take;
	}
	if (have >= r->charge)
		return 0; /* the credit pays: no shared write */
	return ust_charge_try(st, o->t, o->s, r->charge, have + r->credit_t,
			      r->credit_g - r->credit_t);
}

/*
 * Link e in place of old (found at *link, or none): mirror it in the
 * region's index first (in place over the old record, so readers never see
 * a miss), then swap it in. Returns 0, or -ENOMEM when the index has no
 * room (nothing changed). Caller holds the stripe; the credit covers e.
 */
static int put_link(ust_store *st, struct op *o, struct put_req *r,
		    struct ust_entry *e, struct ust_entry **link,
		    struct ust_entry **old)
{
	struct ust_region *g = ust_in_region(e) ? o->t->region : NULL;
	bool swapped = false;

	if (g) {
		uint64_t hx = ust_region_hash(g, r->pool, r->key, r->klen);
		uint64_t off = ust_entry_rec_off(g, e);

		if (*old && ust_in_region(*old))
			swapped = ust_sindex_replace(&g->idx, hx,
						     ust_entry_rec_off(g, *old), off,
						     (uint32_t)r->vlen) == 0;
		if (!swapped) {
			if (ust_sindex_insert(&g->idx, hx, off, r->pool,
					      (uint32_t)r->vlen) < 0)
				return -ENOMEM;
			ust_region_settle(st, g, o->t); /* a table may have grown */
		}
	}
	if (*old) {
		struct ust_entry *x = *link;

		ust_sub_unlink(o->sub, link);
		if (swapped) {
			ust_account_out_noindex(st, o->p, o->s, x,
						x->tenant == o->t->id);
			ust_region_entry_drop(st, g, x);
		} else {
			ust_account_out(st, o->p, o->s, x, x->tenant == o->t->id);
		}
		x->next = NULL;
		*old = x;
	}
	ust_sub_insert(o->sub, e, r->h);
	ust_account_in(st, o->p, o->s, e, r->charge);
	o->ps->puts++;
	o->ts->puts++;
	return 0;
}

/*
 * Build a large value's entry with no stripe lock held: allocating and
 * copying megabytes must not stall the stripe. The region is kept alive by
 * its user count meanwhile. Returns 0, or -EBADF if the pool or tenant is
 * gone (the extent, if any, then released).
 */
static int build_unlocked(ust_store *st, struct put_req *r)
{
	pthread_mutex_t *lk = stripe_lock(st, r->s);
	struct ust_region *g, *sg;
	struct op o;
	int err;

	pthread_mutex_lock(lk);
	err = resolve(st, r->tenant, r->pool, r->s, &o);
	g = err ? NULL : placement(&o);
	sg = err ? NULL : o.t->region;
	if (sg)
		atomic_fetch_add(&sg->users, 1);
	pthread_mutex_unlock(lk);
	if (err)
		return err;
	r->built = build(st, r, g, sg);
	if (sg)
		atomic_fetch_sub(&sg->users, 1);
	return 0;
}

/*
 * One attempt at a PUT. Returns 0 (stored), -EDQUOT/-ENOSPC (did not fit;
 * old value untouched, r->credit_* set for ust_make_room) or a final error
 * (-EBADF; -EROFS, -EMSGSIZE and -ENOMEM after removing the old value).
 */
static int put_once(ust_store *st, struct put_req *r)
{
	pthread_mutex_t *lk = stripe_lock(st, r->s);
	struct ust_entry **link = NULL, *old = NULL, *e = NULL;
	struct ust_region *g;
	struct op o;
	int err;

	pthread_mutex_lock(lk);
	err = resolve(st, r->tenant, r->pool, r->s, &o);
	if (err)
		goto out;
	/* A frozen tenant (ust_tenant_freeze) is refused like any PUT, except
	 * a PUT its connection's credit already covers (posted before the
	 * connection learned of the freeze: it cannot fail any more). */
	err = -EROFS;
	if (atomic_load_explicit(&o.t->frozen, memory_order_relaxed) &&
	    !r->reserved)
		goto refuse;
	g = placement(&o);
	err = -EMSGSIZE;
	if (!r->size_ok)
		goto refuse;
	r->charge = g ? ust_charge_region(st, r->klen, r->vlen)
		      : ust_charge_for(st, r->klen, r->vlen);
	e = r->built;
	r->built = NULL;
	if (e && ust_in_region(e) != (g != NULL)) {
		/* Built for another placement (cannot happen: a pool's kind
		 * and a tenant's region are fixed); build again. */
		unbuild(st, r, o.t->region, e);
		e = NULL;
	}
	if (!e)
		e = build(st, r, g, o.t->region);
	err = -ENOMEM;
	if (!e || !ust_sub_prepare(o.sub))
		goto refuse;
	old = ust_sub_find(o.sub, r->h, r->key, r->klen, &link);
	r->credit_g = old ? ust_entry_charge(st, old) : 0;
	r->credit_t = old && old->tenant == r->tenant ? r->credit_g : 0;
	r->old_eph = old && (o.p->kind & UST_POOL_EPHEMERAL);
	err = pay(st, &o, r);
	if (err) {
		/* Keep the built entry for the next attempt. */
		r->built = e;
		old = NULL;
		goto out;
	}
	err = put_link(st, &o, r, e, link, &old);
	if (!err)
		goto trim;
	old = NULL;
refuse:
	unbuild(st, r, o.t->region, e);
	old = refuse_locked(st, &o, r->h, r->key, r->klen);
trim:
	ust_credit_trim(st, o.t, o.s);
out:
	pthread_mutex_unlock(lk);
	ust_entry_free_list(st, old);
	ust_entry_free_list(st, r->drop);
	r->drop = NULL;
	return err;
}

/* Final refusal after eviction failed: count it, remove the old value. */
static void put_refuse(ust_store *st, struct put_req *r)
{
	pthread_mutex_t *lk = stripe_lock(st, r->s);
	struct ust_entry *old = NULL;
	struct op o;

	pthread_mutex_lock(lk);
	if (resolve(st, r->tenant, r->pool, r->s, &o) == 0) {
		unbuild(st, r, o.t->region, r->built);
		r->built = NULL;
		old = refuse_locked(st, &o, r->h, r->key, r->klen);
		ust_credit_trim(st, o.t, o.s);
	}
	pthread_mutex_unlock(lk);
	ust_entry_free_list(st, old);
	ust_entry_free_list(st, r->drop);
	r->drop = NULL;
}

/*
 * A staging extent never consumed (the PUT failed before building) goes
 * back to its region. Takes stripe 0 to find the region alive.
 */
static void stage_release(ust_store *st, struct put_req *r)
{
	struct ust_tenant *t;

	if (r->stage_off < 0)
		return;
	pthread_mutex_lock(&st->stripes[0].lock);
	t = ust_tenant_get(st, r->tenant);
	if (t && t->region)
		ust_region_release(st, t->region, t, (uint64_t)r->stage_off,
				   r->stage_len);
	pthread_mutex_unlock(&st->stripes[0].lock);
	r->stage_off = -1;
}

/*
 * An entry built outside the lock whose PUT then failed for good must go:
 * its record back to the region (under a stripe lock, so it is alive).
 */
static void built_release(ust_store *st, struct put_req *r)
{
	struct ust_tenant *t;
	struct ust_entry *e = r->built;

	if (!e)
		return;
	r->built = NULL;
	pthread_mutex_lock(&st->stripes[0].lock);
	t = ust_tenant_get(st, r->tenant);
	if (ust_in_region(e) && t && t->region)
		ust_region_entry_drop(st, t->region, e);
	pthread_mutex_unlock(&st->stripes[0].lock);
	e->next = NULL;
	ust_entry_free_list(st, e);
}

int ust_put_ex(ust_store *st, uint32_t tenant, uint32_t pool, const void *key,
	       size_t klen, const struct ust_put_src *src)
{
	struct put_req r = {
		.tenant = tenant, .pool = pool, .key = key, .klen = klen,
		.val = src ? src->val : NULL, .vlen = src ? src->vlen : 0,
		.stage_off = src ? src->stage_off : -1,
		.stage_len = src ? src->stage_len : 0,
		.reserved = src ? src->reserved : NULL,
	};
	int err;

	if (!st || !src || (!key && klen) || (!src->val && src->vlen && src->stage_off < 0))
		return -EINVAL;
	r.h = ust_hash(key, klen);
	r.s = ust_stripe_of(st, pool, r.h);
	r.size_ok = klen <= st->max_key && r.vlen <= st->max_value;
	bool copy_out = r.stage_off < 0; /* the value is copied, not adopted */

	if (r.stage_off >= 0) {
		struct ust_tenant *t;
		struct ust_pool *p;

		/* The value is in the extent, after the record's key. */
		pthread_mutex_lock(&st->stripes[0].lock);
		t = ust_tenant_get(st, tenant);
		if (t && t->region &&
		    (uint64_t)r.stage_off + r.stage_len <= t->region->size &&
		    uvr_rec_size(klen, r.vlen) <= r.stage_len)
			r.val = t->region->base + r.stage_off + UVR_REC_HDR + klen;
		/* A shared pool's value is copied out of the extent into
		 * utmemd's heap (placement): a copy like any other. */
		p = ust_pool_get(st, pool);
		copy_out = p && (p->kind & UST_POOL_SHARED);
		pthread_mutex_unlock(&st->stripes[0].lock);
		if (!r.val)
			r.size_ok = false;
	}
	/* A large value is copied before the stripe lock is taken: a copy
	 * faults its pages in (a fresh allocation; a staged value's, which
	 * utmemd has never touched), and every operation on the stripe,
	 * another tenant's too, would wait for it. An adopted extent needs
	 * no copy, and no second lock round trip. */
	if (r.size_ok && ust_split(r.vlen) && copy_out) {
		err = build_unlocked(st, &r);
		if (err) {
			stage_release(st, &r);
			return err;
		}
	}
	for (int i = 0;; i++) {
		err = put_once(st, &r);
		if (err != -EDQUOT && err != -ENOSPC)
			break;
		if (i + 1 == UST_PUT_TRIES) {
			put_refuse(st, &r);
			break;
		}
		struct ust_room want = {
			.charge = r.charge, .credit_t = r.credit_t, .credit_g = r.credit_g,
			.old_eph = r.old_eph, .pool = pool, .s = r.s, .key = key, .klen = klen,
		};
		int room = ust_make_room(st, tenant, &want);

		if (room) {
			err = room;
			put_refuse(st, &r);
			break;
		}
	}
	built_release(st, &r);
	stage_release(st, &r);
	return err;
}

/*
 * PUT (see store.h). Returns 0 or -EINVAL, -EBADF, -EROFS, -EMSGSIZE, -EDQUOT,
 * -ENOSPC, -ENOMEM; on every failure but -EINVAL/-EBADF the key is left
 * without a value. Takes the key's stripe lock; st->mgmt only to evict.
 */
int ust_put(ust_store *st, uint32_t tenant, uint32_t pool, const void *key,
	    size_t klen, const void *val, size_t vlen)
{
	struct ust_put_src src = {.val = val, .vlen = vlen, .stage_off = -1};

	if (!val && vlen)
		return -EINVAL;
	return ust_put_ex(st, tenant, pool, key, klen, &src);
}

/*
 * GET (see store.h). Returns 0 on a hit, -ENOENT on a miss, a negative sink
 * result, -EINVAL or -EBADF. sink runs under the stripe lock; a sink that
 * returns -EAGAIN declines for now: nothing is counted, stamped or taken.
 */
int ust_get(ust_store *st, uint32_t tenant, uint32_t pool, const void *key,
	    size_t klen, unsigned flags, ust_sink_fn sink, void *ctx)
{
	struct ust_entry **link, *e, *gone = NULL;
	pthread_mutex_t *lk;
	struct op o;
	uint64_t h;
	unsigned s;
	int r;

	if (!st || (!key && klen) || !sink || (flags & ~UST_GET_EXCLUSIVE))
		return -EINVAL;
	h = ust_hash(key, klen);
	s = ust_stripe_of(st, pool, h);
	lk = stripe_lock(st, s);
	pthread_mutex_lock(lk);
	r = resolve(st, tenant, pool, s, &o);
	if (r)
		goto out;
	e = ust_sub_find(o.sub, h, key, klen, &link);
	if (!e) {
		o.ps->gets++;
		o.ts->gets++;
		o.ps->misses++;
		o.ts->misses++;
		r = -ENOENT;
		goto out;
	}
	r = sink(ctx, ust_entry_value(e), ust_vlen(e));
	if (r == -EAGAIN)
		goto out; /* the caller prepares, then asks again */
	o.ps->gets++;
	o.ts->gets++;
	o.ps->hits++;
	o.ts->hits++;
	e->stamp = ust_now(st);
	if (r >= 0 && (flags & UST_GET_EXCLUSIVE)) {
		gone = take(st, &o, link);
		ust_credit_trim(st, o.t, o.s);
	}
out:
	pthread_mutex_unlock(lk);
	ust_entry_free_list(st, gone);
	return r < 0 ? r : 0;
}

struct buf_sink {
	void *buf;
	size_t cap;
	size_t *vlen;
};

static int copy_out(void *ctx, const void *val, size_t len)
{
	struct buf_sink *b = ctx;

	if (b->vlen)
		*b->vlen = len;
	if (len > b->cap)
		return -ENOBUFS;
	if (len)
		memcpy(b->buf, val, len);
	return 0;
}

/* GET into buf (see store.h); -ENOBUFS leaves the entry in place. */
int ust_get_buf(ust_store *st, uint32_t tenant, uint32_t pool, const void *key,
		size_t klen, unsigned flags, void *buf, size_t cap, size_t *vlen)
{
	struct buf_sink b = { .buf = buf, .cap = buf ? cap : 0, .vlen = vlen };

	return ust_get(st, tenant, pool, key, klen, flags, copy_out, &b);
}

/* INVALIDATE: 0 if key was there, -ENOENT if not, -EINVAL, -EBADF. */
int ust_invalidate(ust_store *st, uint32_t tenant, uint32_t pool,
		   const void *key, size_t klen)
{
	struct ust_entry **link, *gone = NULL;
	pthread_mutex_t *lk;
	struct op o;
	uint64_t h;
	unsigned s;
	int r;

	if (!st || (!key && klen))
		return -EINVAL;
	h = ust_hash(key, klen);
	s = ust_stripe_of(st, pool, h);
	lk = stripe_lock(st, s);
	pthread_mutex_lock(lk);
	r = resolve(st, tenant, pool, s, &o);
	if (r)
		goto out;
	r = -ENOENT;
	if (ust_sub_find(o.sub, h, key, klen, &link)) {
		gone = take(st, &o, link);
		ust_credit_trim(st, o.t, o.s);
		o.ps->invalidates++;
		o.ts->invalidates++;
		r = 0;
	}
out:
	pthread_mutex_unlock(lk);
	ust_entry_free_list(st, gone);
	return r;
}

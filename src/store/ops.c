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

/* One PUT request's fixed facts. */
struct put_req {
	uint32_t tenant;
	uint32_t pool;
	uint64_t h;
	unsigned s;        /* stripe of (pool, h) */
	const void *key;
	size_t klen;
	const void *val;
	size_t vlen;
	uint64_t charge;  /* 0 when the sizes are over the limits */
	uint64_t credit_t; /* out: charge of the replaced entry, if the tenant's */
	uint64_t credit_g; /* out: charge of the replaced entry */
	bool old_eph;      /* out: the replaced entry is ephemeral */
};

/*
 * Link the new entry in place of old; the stripe's credit plus old's charge
 * (if the tenant's) covers the new charge. Returns 0, or -ENOMEM (the
 * credit stays with the stripe). Caller holds the stripe.
 */
static int put_link(ust_store *st, struct op *o, struct put_req *r,
		    struct ust_entry **link, struct ust_entry **old)
{
	struct ust_entry *e = ust_entry_new(st, o->s, r->tenant, r->key, r->klen,
					    r->val, r->vlen);

	if (!e)
		return -ENOMEM;
	if (*old)
		*old = take(st, o, link);
	ust_sub_insert(o->sub, e, r->h);
	ust_account_in(st, o->p, o->s, e, r->charge);
	o->ps->puts++;
	o->ts->puts++;
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
	struct ust_entry **link = NULL, *old = NULL;
	uint64_t have;
	struct op o;
	int err;

	pthread_mutex_lock(lk);
	err = resolve(st, r->tenant, r->pool, r->s, &o);
	if (err)
		goto out;
	err = -EROFS; /* frozen tenant (ust_tenant_freeze): refused like any PUT */
	if (atomic_load_explicit(&o.t->frozen, memory_order_relaxed))
		goto refuse;
	err = -EMSGSIZE;
	if (!r->charge)
		goto refuse;
	err = -ENOMEM;
	if (!ust_sub_prepare(o.sub))
		goto refuse;
	old = ust_sub_find(o.sub, r->h, r->key, r->klen, &link);
	r->credit_g = old ? ust_entry_charge(st, old) : 0;
	r->credit_t = old && old->tenant == r->tenant ? r->credit_g : 0;
	r->old_eph = old && (o.p->kind & UST_POOL_EPHEMERAL);
	have = ust_credit(&o.t->ts[o.s]);
	if (have < r->charge) { /* else the credit pays: no shared write */
		err = ust_charge_try(st, o.t, o.s, r->charge, have + r->credit_t,
				     r->credit_g - r->credit_t);
		if (err) {
			old = NULL;
			goto out;
		}
	}
	err = put_link(st, &o, r, link, &old);
	if (!err)
		goto trim;
refuse:
	old = refuse_locked(st, &o, r->h, r->key, r->klen);
trim:
	ust_credit_trim(st, o.t, o.s);
out:
	pthread_mutex_unlock(lk);
	ust_entry_free_list(st, old);
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
		old = refuse_locked(st, &o, r->h, r->key, r->klen);
		ust_credit_trim(st, o.t, o.s);
	}
	pthread_mutex_unlock(lk);
	ust_entry_free_list(st, old);
}

/*
 * PUT (see store.h). Returns 0 or -EINVAL, -EBADF, -EROFS, -EMSGSIZE, -EDQUOT,
 * -ENOSPC, -ENOMEM; on every failure but -EINVAL/-EBADF the key is left
 * without a value. Takes the key's stripe lock; st->mgmt only to evict.
 */
int ust_put(ust_store *st, uint32_t tenant, uint32_t pool, const void *key,
	    size_t klen, const void *val, size_t vlen)
{
	struct put_req r = {
		.tenant = tenant, .pool = pool, .key = key, .klen = klen,
		.val = val, .vlen = vlen,
	};
	int err;

	if (!st || (!key && klen) || (!val && vlen))
		return -EINVAL;
	r.h = ust_hash(key, klen);
	r.s = ust_stripe_of(st, pool, r.h);
	if (klen <= st->max_key && vlen <= st->max_value)
		r.charge = ust_charge_for(st, klen, vlen);
	for (int i = 0;; i++) {
		err = put_once(st, &r);
		if (err != -EDQUOT && err != -ENOSPC)
			return err;
		if (i + 1 == UST_PUT_TRIES)
			break;
		struct ust_room want = {
			.charge = r.charge, .credit_t = r.credit_t, .credit_g = r.credit_g,
			.old_eph = r.old_eph, .pool = pool, .s = r.s, .key = key, .klen = klen,
		};
		int room = ust_make_room(st, tenant, &want);

		if (room) {
			err = room;
			break;
		}
	}
	put_refuse(st, &r);
	return err;
}

/*
 * GET (see store.h). Returns 0 on a hit, -ENOENT on a miss, a negative sink
 * result, -EINVAL or -EBADF. sink runs under the stripe lock.
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
	o.ps->gets++;
	o.ts->gets++;
	e = ust_sub_find(o.sub, h, key, klen, &link);
	if (!e) {
		o.ps->misses++;
		o.ts->misses++;
		r = -ENOENT;
		goto out;
	}
	o.ps->hits++;
	o.ts->hits++;
	e->stamp = ust_now(st);
	r = sink(ctx, ust_entry_value(e), e->vlen);
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

/*
 * iter.c — reading a pool's entries out of the store, one lock stripe at a
 * time, for utmemd's persistence (src/daemon/persist.c): the visitor gets
 * (charged tenant, key, value) bytes and nothing of how an entry is laid
 * out, so callers outside src/store never touch entry internals (values
 * may live apart from their entry, or in a shared-memory arena).
 *
 * Restoring needs nothing new: ust_pool_open() and ust_put() on behalf of
 * the tenant that owned each entry.
 */
#include "store/internal.h"

#include <errno.h>

unsigned ust_stripes(const ust_store *st)
{
	return st->nstripes;
}

int ust_pool_visit(ust_store *st, uint32_t pool, unsigned stripe,
		   ust_visit_fn fn, void *ctx)
{
	pthread_mutex_t *lk;
	struct ust_pool *p;
	struct ust_sub *sub;
	int r = 0;

	if (!st || !fn || stripe >= st->nstripes)
		return -EINVAL;
	lk = &st->stripes[stripe].lock;
	pthread_mutex_lock(lk);
	/* Any stripe lock keeps the pool table still (internal.h). */
	p = ust_pool_get(st, pool);
	if (!p) {
		r = -EBADF;
		goto out;
	}
	sub = &p->sub[stripe];
	if (!sub->buckets)
		goto out;
	for (uint32_t b = 0; b <= sub->mask && r >= 0; b++) {
		for (struct ust_entry *e = sub->buckets[b]; e && r >= 0; e = e->next)
			r = fn(ctx, e->tenant, e->data, e->klen, ust_entry_value(e),
			       ust_vlen(e));
	}
out:
	pthread_mutex_unlock(lk);
	return r < 0 ? r : 0;
}

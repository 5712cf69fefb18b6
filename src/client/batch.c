/*
 * batch.c — the public batch API: queue many requests, then send them all
 * pipelined on the client's connection and collect one result per request.
 *
 * A batch is only a list of prepared requests (struct uclient_req) with the
 * pool handle each one names; utmem_batch_exec() resolves the handles under
 * the client's lock and hands the whole list to uclient_exec(), the same
 * engine single calls use, so a batch of one behaves exactly like the
 * corresponding single call. Keys, values and GET buffers are the caller's
 * memory and are sent from and received into it without copies.
 */
#include "client/client_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct utmem_batch {
	struct utmem_client *c;
	struct uclient_req *reqs;
	uint32_t *handles; /* pool handle of each request */
	size_t n, cap;
	int executed;      /* results are meaningful */
};

int utmem_batch_new(utmem_client *c, utmem_batch **out)
{
	struct utmem_batch *b;

	if (!c || !out)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->c = c;
	*out = b;
	return 0;
}

void utmem_batch_free(utmem_batch *b)
{
	if (!b)
		return;
	free(b->reqs);
	free(b->handles);
	free(b);
}

void utmem_batch_reset(utmem_batch *b)
{
	if (b) {
		b->n = 0;
		b->executed = 0;
	}
}

/*
 * Make room for one more request. Returns its index, or -errno (-E2BIG
 * past UCLIENT_MAX_BATCH requests). Nothing is queued until batch_commit():
 * a request refused after this leaves the batch, and the results of its
 * last exec, as they were.
 */
static int batch_grow(struct utmem_batch *b)
{
	size_t cap;
	void *p;

	if (b->n >= UCLIENT_MAX_BATCH)
		return -E2BIG;
	if (b->n == b->cap) {
		cap = b->cap ? b->cap * 2 : 16;
		p = realloc(b->reqs, cap * sizeof(*b->reqs));
		if (!p)
			return -ENOMEM;
		b->reqs = p;
		p = realloc(b->handles, cap * sizeof(*b->handles));
		if (!p)
			return -ENOMEM;
		b->handles = p;
		b->cap = cap;
	}
	return (int)b->n;
}

/*
 * Commit the request prepared in slot i for pool handle `pool`. The batch
 * now holds a request not executed: results wait for the next exec.
 */
static int batch_commit(struct utmem_batch *b, int i, uint32_t pool)
{
	b->handles[i] = pool;
	b->n++;
	b->executed = 0;
	return i;
}

int utmem_batch_put(utmem_batch *b, uint32_t pool, const void *key,
		    size_t klen, const void *val, size_t vlen)
{
	int i, err;

	if (!b)
		return -EINVAL;
	i = batch_grow(b);
	if (i < 0)
		return i;
	err = uclient_req_put(b->c, &b->reqs[i], key, klen, val, vlen);
	return err ? err : batch_commit(b, i, pool);
}

int utmem_batch_get(utmem_batch *b, uint32_t pool, const void *key,
		    size_t klen, void *buf, size_t cap, unsigned flags)
{
	int i, err;

	if (!b || (!buf && cap) || (flags & ~UTMEM_GET_EXCLUSIVE))
		return -EINVAL;
	err = uclient_check_key(b->c, key, klen);
	if (err)
		return err;
	i = batch_grow(b);
	if (i < 0)
		return i;
	uclient_req_get(&b->reqs[i], key, klen, buf, cap, flags);
	return batch_commit(b, i, pool);
}

int utmem_batch_invalidate(utmem_batch *b, uint32_t pool, const void *key,
			   size_t klen)
{
	int i, err;

	if (!b)
		return -EINVAL;
	err = uclient_check_key(b->c, key, klen);
	if (err)
		return err;
	i = batch_grow(b);
	if (i < 0)
		return i;
	memset(&b->reqs[i], 0, sizeof(b->reqs[i]));
	b->reqs[i].op = UWIRE_OP_INVALIDATE;
	b->reqs[i].key = key;
	b->reqs[i].klen = (uint32_t)klen;
	return batch_commit(b, i, pool);
}

/*
 * Resolve every request's pool handle. A bad handle settles that request
 * with the error; only a connection failure (while reopening a pool) fails
 * the whole batch. Caller holds the client's lock.
 */
static int batch_resolve(struct utmem_batch *b)
{
	struct utmem_client *c = b->c;

	for (size_t i = 0; i < b->n; i++) {
		struct uclient_req *r = &b->reqs[i];
		int err = uclient_resolve_pool(c, b->handles[i], 0, &r->pool);

		if (err && c->fd < 0)
			return err;
		r->done = err != 0;
		r->result = err;
	}
	return 0;
}

/*
 * Run the resolved batch in order: PUTs that can be posted and GETs that
 * can be read one-sidedly are served at once, the rest go to utmemd in
 * pipelined runs. A run is sent before the next request served on the fast
 * path, so no request overtakes one queued before it (a GET after an
 * INVALIDATE of its key sees it gone). Requests the fast path cannot take
 * (pops, shared pools, invalidates) stay in one pipelined run; only a
 * candidate it then declines (credit used up) is sent on its own. Returns
 * 0 or -errno (connection).
 */
static int batch_run(struct utmem_batch *b)
{
	struct utmem_client *c = b->c;
	size_t run = 0; /* first request of the run not yet sent */
	int err;

	for (size_t i = 0; i < b->n; i++) {
		struct uclient_req *r = &b->reqs[i];

		if (!uclient_fast_candidate(c, b->handles[i], r))
			continue;
		if (i > run) {
			err = uclient_exec(c, b->reqs + run, i - run);
			if (err)
				return err;
		}
		run = i;
		err = uclient_fast_req(c, b->handles[i], r);
		if (err < 0)
			return err;
		if (err > 0)
			run = i + 1;
	}
	return run < b->n ? uclient_exec(c, b->reqs + run, b->n - run) : 0;
}

int utmem_batch_exec(utmem_batch *b)
{
	struct utmem_client *c;
	int ok = 0, err;

	if (!b)
		return -EINVAL;
	/*
	 * Every request is sent again: nothing of an earlier exec may stand
	 * as this one's result, even if this one fails before reaching it.
	 */
	for (size_t i = 0; i < b->n; i++)
		b->reqs[i].done = 0;
	b->executed = 1;
	if (b->n == 0)
		return 0; /* nothing to send: the connection is left alone */
	c = b->c;
	err = uclient_lock(c);
	if (!err) {
		err = uclient_ensure(c);
		if (!err)
			err = batch_resolve(b);
		if (!err)
			err = batch_run(b);
		uclient_unlock(c);
	}
	for (size_t i = 0; i < b->n; i++) {
		if (err && !b->reqs[i].done)
			b->reqs[i].result = -ECONNRESET;
		ok += b->reqs[i].result >= 0;
	}
	return err ? err : ok;
}

ssize_t utmem_batch_result(const utmem_batch *b, size_t i)
{
	if (!b || i >= b->n)
		return -EINVAL;
	if (!b->executed)
		return -EAGAIN;
	return b->reqs[i].result;
}

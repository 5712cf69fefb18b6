/*
 * test_store.c — the store's rules one by one: tenants, pool kinds, grants,
 * PUT/GET/pop/INVALIDATE/FLUSH/DESTROY, failure leaving no value, exact
 * accounting against the documented charge formula, eviction order (LRU
 * within a tenant, weighted excess across tenants, reserves), shrinking of
 * capacity and max, persistent data never evicted, and resident memory that
 * really falls after a shrink or a flush.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "helpers.h"
#include "store/internal.h"

#define MiB (1024u * 1024u)
#define NOLIM { 0, UINT64_MAX, 1 }

static ust_store *mk(uint64_t cap)
{
	struct ust_config cfg = { .capacity = cap, .max_key = 64, .max_value = 4 * MiB,
				  .shards = 16 };
	ust_store *st = NULL;

	assert_int_equal(ust_store_new(&cfg, &st), 0);
	return st;
}

static uint32_t tenant(ust_store *st, const char *name, uint64_t min, uint64_t max,
		       uint32_t w)
{
	struct ust_limits l = { min, max, w };
	uint32_t id = 0;

	assert_int_equal(ust_tenant_add(st, name, &l, &id), 0);
	return id;
}

static uint32_t pool(ust_store *st, uint32_t t, const char *name, unsigned kind)
{
	uint32_t id = 0;

	assert_int_equal(ust_pool_open(st, t, name, kind, UST_OPEN_CREATE, &id), 0);
	return id;
}

static struct ust_tenant_info tinfo(ust_store *st, uint32_t t)
{
	struct ust_tenant_info ti;

	assert_int_equal(ust_tenant_info(st, t, &ti), 0);
	return ti;
}

static struct ust_pool_info pinfo(ust_store *st, uint32_t p)
{
	struct ust_pool_info pi;

	assert_int_equal(ust_pool_info(st, UST_TENANT_ADMIN, p, &pi), 0);
	return pi;
}

static void keyf(char *k, size_t n, int i)
{
	snprintf(k, n, "k%06d", i);
}

static void test_config(void **state)
{
	struct ust_config bad = { .capacity = 1, .max_key = 70000 };
	struct ust_config def = { 0 };
	ust_store *st = NULL;

	(void)state;
	assert_int_equal(ust_store_new(&bad, &st), -EINVAL);
	assert_int_equal(ust_store_new(NULL, &st), -EINVAL);
	assert_int_equal(ust_store_new(&def, &st), 0);
	assert_int_equal(ust_max_key(st), 1024);
	assert_int_equal(ust_max_value(st), 64 * MiB);
	ust_store_free(st);
	ust_store_free(NULL);
}

static void test_tenants(void **state)
{
	ust_store *st = mk(MiB);
	struct ust_limits l = NOLIM, zero_w = { 0, 10, 0 }, inv = { 10, 5, 1 };
	struct ust_tenant_info list[4];
	uint32_t a, b, id;

	(void)state;
	a = tenant(st, "vm-a", 0, UINT64_MAX, 1);
	b = tenant(st, "vm.b_2", 100, 1000, 3);
	assert_int_equal(a, 1);
	assert_int_equal(b, 2);
	assert_int_equal(ust_tenant_add(st, "vm-a", &l, &id), -EEXIST);
	assert_int_equal(ust_tenant_add(st, "bad name", &l, &id), -EINVAL);
	assert_int_equal(ust_tenant_add(st, "", &l, &id), -EINVAL);
	assert_int_equal(ust_tenant_add(st, ".", &l, &id), -EINVAL);
	assert_int_equal(ust_tenant_add(st, "..", &l, &id), -EINVAL);
	assert_int_equal(ust_tenant_add(st, "x", &zero_w, &id), -EINVAL);
	assert_int_equal(ust_tenant_add(st, "x", &inv, &id), -EINVAL);
	assert_int_equal(ust_tenant_find(st, "vm.b_2", &id), 0);
	assert_int_equal(id, b);
	assert_int_equal(ust_tenant_find(st, "nope", &id), -ENOENT);
	assert_int_equal(tinfo(st, b).limits.min, 100);
	assert_int_equal(tinfo(st, b).limits.max, 1000);
	assert_int_equal(tinfo(st, b).limits.weight, 3);
	l = (struct ust_limits){ 1, 2, 7 };
	assert_int_equal(ust_tenant_set(st, b, &l), 0);
	assert_int_equal(tinfo(st, b).limits.weight, 7);
	assert_int_equal(ust_tenant_set(st, 99, &l), -ENOENT);
	assert_int_equal(ust_tenant_list(st, list, 1), 2);
	assert_int_equal(list[0].id, a);
	assert_int_equal(ust_tenant_remove(st, a), 0);
	assert_int_equal(ust_tenant_remove(st, a), -ENOENT);
	assert_int_equal(ust_tenant_list(st, list, 4), 1);
	assert_int_equal(list[0].id, b);
	/* ids never reused, names may be */
	assert_int_equal(tenant(st, "vm-a", 0, UINT64_MAX, 1), 3);
	ust_store_free(st);
}

static void test_pool_kinds(void **state)
{
	ust_store *st = mk(MiB);
	uint32_t t = tenant(st, "t", 0, UINT64_MAX, 1);
	uint32_t u = tenant(st, "u", 0, UINT64_MAX, 1);
	uint32_t p, e, again, q;
	struct ust_pool_info pi;
	char buf[8];

	(void)state;
	p = pool(st, t, "pers", UST_POOL_PERSISTENT);
	e = pool(st, t, "eph", UST_POOL_EPHEMERAL);
	assert_int_not_equal(p, e);
	assert_int_equal(ust_pool_open(st, t, "pers", 0, 0, &again), 0);
	assert_int_equal(again, p);
	assert_int_equal(ust_pool_open(st, t, "pers", UST_POOL_EPHEMERAL, UST_OPEN_CREATE, &again), -EEXIST);
	assert_int_equal(ust_pool_open(st, t, "none", 0, 0, &again), -ENOENT);
	assert_int_equal(ust_pool_open(st, t, "x", 8, UST_OPEN_CREATE, &again), -EINVAL);
	assert_int_equal(ust_pool_open(st, 77, "x", 0, UST_OPEN_CREATE, &again), -ENOENT);
	/* private names are per tenant */
	q = pool(st, u, "pers", 0);
	assert_int_not_equal(q, p);
	pi = pinfo(st, e);
	assert_int_equal(pi.kind, UST_POOL_EPHEMERAL);
	assert_int_equal(pi.owner, t);
	/* another tenant cannot touch a private pool */
	assert_int_equal(sput(st, t, p, "k", "v", 1), 0);
	assert_int_equal(sput(st, u, p, "k", "w", 1), -EBADF);
	assert_int_equal(sget(st, u, p, "k", 0, buf, sizeof(buf), NULL), -EBADF);
	assert_int_equal(ust_invalidate(st, u, p, "k", 1), -EBADF);
	assert_int_equal(ust_pool_flush(st, u, p), -EBADF);
	assert_int_equal(ust_pool_destroy(st, u, p), -EBADF);
	assert_int_equal(ust_pool_info(st, u, p, &pi), -EBADF);
	assert_int_equal(sget(st, t, p, "k", 0, buf, sizeof(buf), NULL), 0);
	/* admin is not a data-plane tenant */
	assert_int_equal(sput(st, UST_TENANT_ADMIN, p, "k", "v", 1), -EBADF);
	/* destroy: id dead at once and never reused */
	assert_int_equal(ust_pool_destroy(st, t, p), 0);
	assert_int_equal(sput(st, t, p, "k", "v", 1), -EBADF);
	assert_int_equal(sget(st, t, p, "k", 0, buf, sizeof(buf), NULL), -EBADF);
	assert_int_equal(ust_pool_destroy(st, t, p), -EBADF);
	again = pool(st, t, "pers", 0);
	assert_true(again > q);
	assert_int_equal(sget(st, t, again, "k", 0, buf, sizeof(buf), NULL), -ENOENT);
	assert_int_equal(ust_pool_list(st, t, NULL, 0), 2);
	assert_int_equal(ust_pool_list(st, UST_TENANT_ADMIN, NULL, 0), 3);
	ust_store_free(st);
}

static void test_shared_grants(void **state)
{
	ust_store *st = mk(MiB);
	uint32_t a = tenant(st, "a", 0, UINT64_MAX, 1);
	uint32_t b = tenant(st, "b", 0, UINT64_MAX, 1);
	uint32_t sp, id;
	char buf[8];
	size_t n;

	(void)state;
	assert_int_equal(ust_pool_open(st, a, "sh", UST_POOL_SHARED, UST_OPEN_CREATE, &id), -EACCES);
	assert_int_equal(ust_shared_pool_create(st, "sh", UST_POOL_EPHEMERAL, &sp), 0);
	assert_int_equal(ust_shared_pool_create(st, "sh", 0, &id), -EEXIST);
	assert_int_equal(pinfo(st, sp).owner, UST_TENANT_ADMIN);
	assert_int_equal(ust_pool_open(st, a, "sh", UST_POOL_SHARED | UST_POOL_EPHEMERAL, 0, &id), -EACCES);
	assert_int_equal(sput(st, a, sp, "k", "v", 1), -EBADF);
	assert_int_equal(ust_pool_grant(st, sp, a), 0);
	assert_int_equal(ust_pool_grant(st, sp, 99), -ENOENT);
	assert_int_equal(ust_pool_grant(st, 99, a), -EBADF);
	assert_int_equal(ust_pool_open(st, a, "sh", UST_POOL_SHARED | UST_POOL_EPHEMERAL, 0, &id), 0);
	assert_int_equal(id, sp);
	assert_int_equal(ust_pool_open(st, a, "sh", UST_POOL_SHARED, 0, &id), -EEXIST);
	assert_int_equal(ust_pool_grant(st, sp, b), 0);
	assert_int_equal(sput(st, a, sp, "k", "abc", 3), 0);
	assert_int_equal(sget(st, b, sp, "k", 0, buf, sizeof(buf), &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(buf, "abc", 3);
	/* the putter pays */
	assert_int_equal(tinfo(st, a).stats.bytes_charged, charge_of(1, 3));
	assert_int_equal(tinfo(st, b).stats.bytes_charged, 0);
	assert_int_equal(ust_pool_revoke(st, sp, b), 0);
	assert_int_equal(ust_pool_revoke(st, sp, b), -ENOENT);
	assert_int_equal(sget(st, b, sp, "k", 0, buf, sizeof(buf), &n), -EBADF);
	assert_int_equal(ust_pool_open(st, b, "sh", UST_POOL_SHARED | UST_POOL_EPHEMERAL, 0, &id), -EACCES);
	/* removing a tenant frees what it put in shared pools */
	assert_int_equal(ust_tenant_remove(st, a), 0);
	assert_int_equal(pinfo(st, sp).stats.entries, 0);
	struct ust_store_info si;

	ust_store_info(st, &si);
	assert_int_equal(si.charged, 0);
	ust_store_free(st);
}

static int fail_sink(void *ctx, const void *val, size_t len)
{
	(void)ctx;
	(void)val;
	(void)len;
	return -EIO;
}

static void test_put_get_pop_invalidate(void **state)
{
	ust_store *st = mk(MiB);
	uint32_t t = tenant(st, "t", 0, UINT64_MAX, 1);
	uint32_t p = pool(st, t, "p", 0);
	char buf[16];
	size_t n = 0;

	(void)state;
	assert_int_equal(sput(st, t, p, "k", "one", 3), 0);
	assert_int_equal(sput(st, t, p, "k", "second", 6), 0);
	assert_int_equal(sget(st, t, p, "k", 0, buf, sizeof(buf), &n), 0);
	assert_int_equal(n, 6);
	assert_memory_equal(buf, "second", 6);
	assert_int_equal(pinfo(st, p).stats.entries, 1);
	/* too small a buffer: -ENOBUFS, length told, nothing removed */
	assert_int_equal(sget(st, t, p, "k", UST_GET_EXCLUSIVE, buf, 2, &n), -ENOBUFS);
	assert_int_equal(n, 6);
	assert_int_equal(ust_get(st, t, p, "k", 1, UST_GET_EXCLUSIVE, fail_sink, NULL), -EIO);
	assert_int_equal(sget(st, t, p, "k", 0, buf, sizeof(buf), &n), 0);
	/* pop */
	assert_int_equal(sget(st, t, p, "k", UST_GET_EXCLUSIVE, buf, sizeof(buf), &n), 0);
	assert_memory_equal(buf, "second", 6);
	assert_int_equal(sget(st, t, p, "k", 0, buf, sizeof(buf), &n), -ENOENT);
	/* invalidate */
	assert_int_equal(sput(st, t, p, "j", "x", 1), 0);
	assert_int_equal(ust_invalidate(st, t, p, "j", 1), 0);
	assert_int_equal(ust_invalidate(st, t, p, "j", 1), -ENOENT);
	/* empty key and empty value are values like any other */
	assert_int_equal(ust_put(st, t, p, NULL, 0, NULL, 0), 0);
	assert_int_equal(ust_get_buf(st, t, p, NULL, 0, 0, NULL, 0, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(ust_put(st, t, p, NULL, 3, "x", 1), -EINVAL);
	assert_int_equal(ust_get(st, t, p, "k", 1, 0, NULL, NULL), -EINVAL);
	/* binary keys: a key is its bytes, not a C string */
	assert_int_equal(ust_put(st, t, p, "a\0b", 3, "1", 1), 0);
	assert_int_equal(ust_put(st, t, p, "a\0c", 3, "2", 1), 0);
	assert_int_equal(ust_get_buf(st, t, p, "a\0b", 3, 0, buf, sizeof(buf), &n), 0);
	assert_int_equal(buf[0], '1');
	ust_store_free(st);
}

static void test_flush_destroy(void **state)
{
	ust_store *st = mk(16 * MiB);
	uint32_t t = tenant(st, "t", 0, UINT64_MAX, 1);
	uint32_t p = pool(st, t, "p", 0), q = pool(st, t, "q", UST_POOL_EPHEMERAL);
	char k[16], buf[8];

	(void)state;
	for (int i = 0; i < 1000; i++) {
		keyf(k, sizeof(k), i);
		assert_int_equal(sput(st, t, p, k, "v", 1), 0);
		assert_int_equal(sput(st, t, q, k, "v", 1), 0);
	}
	assert_int_equal(pinfo(st, p).stats.entries, 1000);
	assert_int_equal(ust_pool_flush(st, t, p), 0);
	assert_int_equal(pinfo(st, p).stats.entries, 0);
	assert_int_equal(pinfo(st, p).stats.bytes_charged, 0);
	assert_int_equal(pinfo(st, p).stats.puts, 1000);
	assert_int_equal(sget(st, t, p, "k000001", 0, buf, sizeof(buf), NULL), -ENOENT);
	assert_int_equal(sput(st, t, p, "again", "v", 1), 0);
	assert_int_equal(tinfo(st, t).stats.entries, 1001);
	/* the operator may flush and destroy any pool */
	assert_int_equal(ust_pool_flush(st, UST_TENANT_ADMIN, q), 0);
	assert_int_equal(tinfo(st, t).stats.entries, 1);
	assert_int_equal(ust_pool_destroy(st, UST_TENANT_ADMIN, p), 0);
	assert_int_equal(tinfo(st, t).stats.entries, 0);
	assert_int_equal(tinfo(st, t).stats.bytes_charged, 0);
	assert_int_equal(ust_pool_flush(st, t, p), -EBADF);
	ust_store_free(st);
}

/* Every failure cause removes the old value under the key. */
static void test_failed_put_leaves_no_value(void **state)
{
	ust_store *st = mk(64 * 1024);
	uint32_t t = tenant(st, "t", 0, 16 * 1024, 1);
	uint32_t u = tenant(st, "u", 0, UINT64_MAX, 1);
	uint32_t p = pool(st, t, "p", 0), q = pool(st, u, "q", 0);
	static char big[80 * 1024];
	char buf[8];

	(void)state;
	/* -EMSGSIZE: value over max_value (a store with a small limit) */
	struct ust_config cfg = { .capacity = MiB, .max_key = 8, .max_value = 100 };
	ust_store *small = NULL;
	uint32_t st_t, st_p;

	assert_int_equal(ust_store_new(&cfg, &small), 0);
	st_t = tenant(small, "t", 0, UINT64_MAX, 1);
	st_p = pool(small, st_t, "p", 0);
	assert_int_equal(sput(small, st_t, st_p, "k", "old", 3), 0);
	assert_int_equal(sput(small, st_t, st_p, "k", big, 101), -EMSGSIZE);
	assert_int_equal(sget(small, st_t, st_p, "k", 0, buf, sizeof(buf), NULL), -ENOENT);
	assert_int_equal(sput(small, st_t, st_p, "123456789", "v", 1), -EMSGSIZE);
	assert_int_equal(tinfo(small, st_t).stats.refused_puts, 2);
	assert_int_equal(tinfo(small, st_t).stats.bytes_charged, 0);
	ust_store_free(small);

	/* -EDQUOT: over the tenant's max */
	assert_int_equal(sput(st, t, p, "k", "old", 3), 0);
	assert_int_equal(sput(st, t, p, "k", big, 20 * 1024), -EDQUOT);
	assert_int_equal(sget(st, t, p, "k", 0, buf, sizeof(buf), NULL), -ENOENT);
	assert_int_equal(tinfo(st, t).stats.bytes_charged, 0);
	/* -ENOSPC: over the capacity */
	assert_int_equal(sput(st, u, q, "k", "old", 3), 0);
	assert_int_equal(sput(st, u, q, "k", big, sizeof(big)), -ENOSPC);
	assert_int_equal(sget(st, u, q, "k", 0, buf, sizeof(buf), NULL), -ENOENT);
	assert_int_equal(tinfo(st, u).stats.refused_puts, 1);
	assert_int_equal(pinfo(st, q).stats.refused_puts, 1);
	assert_int_equal(tinfo(st, u).stats.entries, 0);
	/* an overwrite at the limit fits: the old value's charge is credited */
	assert_int_equal(sput(st, t, p, "a", big, 8000), 0);
	assert_int_equal(sput(st, t, p, "b", big, 7000), 0);
	assert_int_equal(sput(st, t, p, "a", big, 8000), 0);
	ust_store_free(st);
}

static void test_accounting_exact(void **state)
{
	ust_store *st = mk(64 * MiB);
	uint32_t t = tenant(st, "t", 0, UINT64_MAX, 1);
	uint32_t p = pool(st, t, "p", 0), q = pool(st, t, "q", UST_POOL_EPHEMERAL);
	static const size_t sizes[] = { 0, 1, 7, 40, 100, 1000, 4096, 5000, 70000, 300000, 2 * MiB };
	static char val[2 * MiB];
	uint64_t charged = 0, stored = 0;
	struct ust_store_info si;
	char k[16], buf[8];

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		keyf(k, sizeof(k), (int)i);
		assert_int_equal(sput(st, t, i % 2 ? p : q, k, val, sizes[i]), 0);
		charged += charge_of(strlen(k), sizes[i]);
		stored += strlen(k) + sizes[i];
	}
	struct ust_tenant_info ti = tinfo(st, t);

	assert_int_equal(ti.stats.entries, 11);
	assert_int_equal(ti.stats.bytes_stored, stored);
	assert_int_equal(ti.stats.bytes_charged, charged);
	assert_int_equal(pinfo(st, p).stats.bytes_charged + pinfo(st, q).stats.bytes_charged,
			 charged);
	ust_store_info(st, &si);
	assert_int_equal(si.charged, charged);
	assert_int_equal(si.stats.bytes_charged, charged);
	assert_int_equal(si.stats.entries, 11);
	assert_int_equal(si.tenants, 1);
	assert_int_equal(si.pools, 2);
	/* operation counters */
	assert_int_equal(sget(st, t, p, "k000001", 0, buf, sizeof(buf), NULL), 0);
	assert_int_equal(sget(st, t, p, "zz", 0, buf, sizeof(buf), NULL), -ENOENT);
	assert_int_equal(ust_invalidate(st, t, p, "k000003", 7), 0);
	ti = tinfo(st, t);
	assert_int_equal(ti.stats.puts, 11);
	assert_int_equal(ti.stats.gets, 2);
	assert_int_equal(ti.stats.hits, 1);
	assert_int_equal(ti.stats.misses, 1);
	assert_int_equal(ti.stats.invalidates, 1);
	assert_int_equal(ti.stats.entries, 10);
	assert_int_equal(ti.stats.bytes_charged, charged - charge_of(7, 40));
	assert_int_equal(pinfo(st, p).stats.gets, 2);
	assert_int_equal(pinfo(st, q).stats.gets, 0);
	ust_store_free(st);
}

/*
 * Power-of-two values (a 4 KiB page, 128 KiB, 1 MiB) are charged within 1 %
 * of key + value + 32 B metadata: the value is allocated apart at its exact
 * size class instead of pushing header + key + value into the next class
 * (25 % more). Also checks that such values read back intact, survive an
 * overwrite by a small value and back, and leave no charge behind.
 */
static void test_large_values_tight(void **state)
{
	static const size_t sizes[] = { 4096, 128 * 1024, MiB };
	ust_store *st = mk(64 * MiB);
	uint32_t t = tenant(st, "t", 0, UINT64_MAX, 1);
	uint32_t p = pool(st, t, "p", 0);
	static unsigned char val[MiB + 8], out[MiB]; /* val + i: a distinct value each */
	size_t n = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(val); i++)
		val[i] = (unsigned char)(i * 7 + i / 4096);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t v = sizes[i];
		uint64_t c;

		assert_int_equal(sput(st, t, p, "k", val, 100), 0);
		assert_int_equal(sput(st, t, p, "k", val + i, v), 0);
		c = tinfo(st, t).stats.bytes_charged;
		assert_true(c > 1 + v + 32);
		assert_true((c - (1 + v + 32)) * 100 < v);
		assert_int_equal(c, charge_of(1, v));
		memset(out, 0, v);
		assert_int_equal(sget(st, t, p, "k", UST_GET_EXCLUSIVE, out, v, &n), 0);
		assert_int_equal(n, v);
		assert_memory_equal(out, val + i, v);
		assert_int_equal(tinfo(st, t).stats.bytes_charged, 0);
		assert_int_equal(tinfo(st, t).stats.entries, 0);
	}
	ust_store_free(st);
}

/* Fill an ephemeral pool, touch half, overflow it: the untouched half goes. */
static void test_evict_lru(void **state)
{
	const int n = 2000;
	const uint64_t c = charge_of(7, 1000);
	ust_store *st = mk(c * n);
	uint32_t t = tenant(st, "t", 0, UINT64_MAX, 1);
	uint32_t p = pool(st, t, "p", UST_POOL_EPHEMERAL);
	static char val[1000];
	int touched_lost = 0, cold_lost = 0;
	char k[16], buf[8];

	(void)state;
	for (int i = 0; i < n; i++) {
		keyf(k, sizeof(k), i);
		assert_int_equal(sput(st, t, p, k, val, sizeof(val)), 0);
	}
	assert_int_equal(tinfo(st, t).stats.evictions, 0);
	for (int i = 0; i < n / 2; i++) {
		keyf(k, sizeof(k), i);
		assert_int_equal(sget(st, t, p, k, 0, buf, 0, NULL), -ENOBUFS);
	}
	for (int i = n; i < n + n / 4; i++) {
		keyf(k, sizeof(k), i);
		assert_int_equal(sput(st, t, p, k, val, sizeof(val)), 0);
	}
	for (int i = 0; i < n; i++) {
		keyf(k, sizeof(k), i);
		if (sget(st, t, p, k, 0, buf, 0, NULL) == -ENOENT)
			*(i < n / 2 ? &touched_lost : &cold_lost) += 1;
	}
	uint64_t ev = tinfo(st, t).stats.evictions;

	printf("# evicted %llu: touched %d, cold %d\n", (unsigned long long)ev,
	       touched_lost, cold_lost);
	assert_true(ev >= (uint64_t)n / 4);
	assert_true((uint64_t)(touched_lost + cold_lost) <= ev);
	assert_true(touched_lost * 10 <= cold_lost);
	assert_true(tinfo(st, t).stats.bytes_charged <= c * n);
	ust_store_free(st);
}

/*
 * A shrink keeps the recently read entries at every value size: fill a pool
 * with 16 KiB values, read every 8th, shrink the capacity to an eighth.
 * With 64 stripes a shrink step (1 MiB) is four samples here, and the
 * stripes the fourth sample of every step fell on were cut short step after
 * step while the others ran out of old entries: 29 % of the read entries
 * kept before the fix, 78-85 % after (evict.c, st->ev_owed).
 */
static void test_shrink_keeps_recent(void **state)
{
	const size_t vlen = 16384;
	const uint64_t c = charge_of(7, vlen), fill_to = 96 * MiB;
	struct ust_config cfg = { .capacity = fill_to, .max_key = 64,
				  .max_value = 4 * MiB, .shards = 64 };
	static char val[16384], buf[8];
	ust_store *st = NULL;
	uint32_t t, p;
	int n = 0, read = 0, kept = 0;
	char k[16];

	(void)state;
	assert_int_equal(ust_store_new(&cfg, &st), 0);
	t = tenant(st, "t", 0, UINT64_MAX, 1);
	p = pool(st, t, "p", UST_POOL_EPHEMERAL);
	for (; (uint64_t)(n + 1) * c <= fill_to; n++) {
		keyf(k, sizeof(k), n);
		assert_int_equal(sput(st, t, p, k, val, vlen), 0);
	}
	assert_int_equal(tinfo(st, t).stats.evictions, 0);
	for (int i = 0; i < n; i += 8, read++) {
		keyf(k, sizeof(k), i);
		assert_int_equal(sget(st, t, p, k, 0, buf, 0, NULL), -ENOBUFS);
	}
	assert_int_equal(ust_set_capacity(st, fill_to / 8), 0);
	for (int i = 0; i < n; i += 8) {
		keyf(k, sizeof(k), i);
		kept += sget(st, t, p, k, 0, buf, 0, NULL) == -ENOBUFS;
	}
	printf("# %d entries, %d read, %d of them kept, %llu left\n", n, read, kept,
	       (unsigned long long)pinfo(st, p).stats.entries);
	/* An eighth of the fill holds about as many entries as were read;
	 * approximate LRU keeps most of them (runs here: 78-85 %), where
	 * moving on from cut samples kept 29 %. */
	assert_true(tinfo(st, t).stats.bytes_charged <= fill_to / 8);
	assert_true(kept * 10 >= read * 6);
	ust_store_free(st);
}

/* Put ephemeral values until the pool holds `bytes` of charge. */
static void fill(ust_store *st, uint32_t t, uint32_t p, int from, int count, size_t vlen)
{
	static char val[128 * 1024]; /* the largest vlen a caller passes */
	char k[16];

	assert_true(vlen <= sizeof(val));
	for (int i = from; i < from + count; i++) {
		keyf(k, sizeof(k), i);
		assert_int_equal(sput(st, t, p, k, val, vlen), 0);
	}
}

static void test_evict_by_weight(void **state)
{
	const uint64_t c = charge_of(7, 1000), cap = 4000 * c;
	ust_store *st = mk(cap);
	uint32_t a = tenant(st, "a", 0, UINT64_MAX, 1);
	uint32_t b = tenant(st, "b", 0, UINT64_MAX, 3);
	uint32_t pa = pool(st, a, "p", UST_POOL_EPHEMERAL);
	uint32_t pb = pool(st, b, "p", UST_POOL_EPHEMERAL);
	uint64_t ua, ub;

	(void)state;
	fill(st, a, pa, 0, 4000, 1000);
	assert_int_equal(tinfo(st, a).stats.bytes_charged, cap);
	fill(st, b, pb, 0, 8000, 1000);
	ua = tinfo(st, a).stats.bytes_charged;
	ub = tinfo(st, b).stats.bytes_charged;
	printf("# a %llu b %llu of %llu\n", (unsigned long long)ua,
	       (unsigned long long)ub, (unsigned long long)cap);
	/* weights 1:3 -> a quarter and three quarters, within 5% of cap */
	assert_true(ua > cap / 4 - cap / 20 && ua < cap / 4 + cap / 20);
	assert_true(ub > 3 * cap / 4 - cap / 20);
	assert_true(ua + ub <= cap);
	/* b is at its share now: its own entries go first */
	fill(st, b, pb, 8000, 500, 1000);
	assert_true(tinfo(st, a).stats.bytes_charged >= ua - 64 * c);
	ust_store_free(st);
}

static void test_min_reserve(void **state)
{
	const uint64_t c = charge_of(7, 1000), cap = 2000 * c;
	ust_store *st = mk(cap);
	uint32_t a = tenant(st, "a", cap / 2, UINT64_MAX, 1);
	uint32_t b = tenant(st, "b", 0, UINT64_MAX, 100);
	uint32_t pa = pool(st, a, "pers", 0), ea = pool(st, a, "eph", UST_POOL_EPHEMERAL);
	uint32_t pb = pool(st, b, "p", UST_POOL_EPHEMERAL);
	static char val[1000];
	char k[16];

	(void)state;
	/* b, with a huge weight, fills everything with ephemeral data */
	fill(st, b, pb, 0, 2000, 1000);
	/* a may still use its whole reserve, persistently: b is evicted */
	fill(st, a, pa, 0, 1000, 1000);
	assert_int_equal(tinfo(st, a).stats.bytes_charged, 1000 * c);
	/*
	 * Above its reserve a competes by weight: 1 against b's 100 for the
	 * 1000 entries left, so (x - 0) / 1 = (1000 - x) / 100 gives x = 9.9.
	 */
	int extra = 0;

	for (;; extra++) {
		keyf(k, sizeof(k), 5000 + extra);
		if (sput(st, a, pa, k, val, sizeof(val)) != 0)
			break;
	}
	assert_int_equal(sput(st, a, pa, k, val, sizeof(val)), -ENOSPC);
	printf("# a got %d entries above its reserve\n", extra);
	assert_true(extra >= 8 && extra <= 11);
	assert_int_equal(tinfo(st, a).stats.refused_puts, 2);
	/* a's ephemeral data below its min is never evicted for b */
	assert_int_equal(ust_pool_flush(st, a, pa), 0);
	fill(st, a, ea, 0, 900, 1000);
	fill(st, b, pb, 5000, 3000, 1000);
	assert_int_equal(tinfo(st, a).stats.entries, 900);
	assert_int_equal(tinfo(st, a).stats.evictions, 0);
	keyf(k, sizeof(k), 1);
	assert_int_equal(sput(st, b, pb, k, val, sizeof(val)), 0);
	ust_store_free(st);
}

/*
 * A victim loses no more than its usage above its min, for a PUT of any
 * size or a shrink of any depth, while another tenant above its min still
 * has ephemeral data: below-min data is never evicted for others, and a
 * shrink takes it only when nothing else is left (docs/store.md). Before,
 * the victim lost what the whole PUT or shrink step needed.
 */
static void test_min_not_overshot(void **state)
{
	const uint64_t c = charge_of(7, 1000);
	ust_store *st = mk(100 * c);
	uint32_t a = tenant(st, "a", 50 * c, UINT64_MAX, 1);
	uint32_t b = tenant(st, "b", 30 * c, UINT64_MAX, 1);
	uint32_t d = tenant(st, "d", 0, UINT64_MAX, 100);
	uint32_t pa = pool(st, a, "p", 0);
	uint32_t eb = pool(st, b, "e", UST_POOL_EPHEMERAL);
	uint32_t ed = pool(st, d, "e", UST_POOL_EPHEMERAL);
	static char val[10000];
	struct ust_store_info si;
	uint64_t dn;

	(void)state;
	assert_true(charge_of(1, sizeof(val)) > 4 * c);
	fill(st, b, eb, 0, 31, 1000); /* 1 entry above its min: score c */
	fill(st, d, ed, 0, 69, 1000); /* score 69c / 100 */
	assert_int_equal(tinfo(st, b).stats.evictions + tinfo(st, d).stats.evictions, 0);
	/* a, below its min, may evict b's entry above b's min, then d's */
	assert_int_equal(sput(st, a, pa, "x", val, sizeof(val)), 0);
	assert_int_equal(tinfo(st, b).stats.entries, 30);
	assert_true(tinfo(st, d).stats.entries < 69);
	/* a shrink takes b down to its min and the rest from d */
	assert_int_equal(ust_set_capacity(st, 200 * c), 0);
	fill(st, b, eb, 100, 5, 1000); /* 5 entries above its min */
	dn = tinfo(st, d).stats.entries;
	ust_store_info(st, &si);
	assert_int_equal(ust_set_capacity(st, si.charged - 20 * c), 0);
	assert_int_equal(tinfo(st, b).stats.entries, 30);
	assert_int_equal(tinfo(st, d).stats.entries, dn - 15);
	ust_store_free(st);
}

/*
 * A PUT replacing its tenant's only ephemeral entry, tied with another
 * tenant for eviction: the replaced entry is never evicted (that would
 * free nothing), so the other tenant is the victim. The putting tenant
 * once won the tie, evicted nothing and the PUT failed with -ENOSPC.
 */
static void test_tie_spares_replaced(void **state)
{
	const uint64_t c1 = charge_of(1, 1000), c2 = charge_of(1, 2000);
	ust_store *st = mk(c1 + c2 + (c2 - c1) / 2);
	uint32_t a = tenant(st, "a", 0, UINT64_MAX, 1);
	uint32_t b = tenant(st, "b", 0, UINT64_MAX, 1);
	uint32_t ea = pool(st, a, "e", UST_POOL_EPHEMERAL);
	uint32_t eb = pool(st, b, "e", UST_POOL_EPHEMERAL);
	static char v[2000];
	size_t len = 0;

	(void)state;
	assert_int_equal(sput(st, a, ea, "k", v, 1000), 0);
	assert_int_equal(sput(st, b, eb, "k", v, 2000), 0);
	/* a after its PUT holds c2, as b does: a tie of equal weights */
	assert_int_equal(sput(st, a, ea, "k", v, 2000), 0);
	assert_int_equal(sget(st, a, ea, "k", 0, v, sizeof(v), &len), 0);
	assert_int_equal(len, 2000);
	assert_int_equal(tinfo(st, b).stats.entries, 0);
	assert_int_equal(tinfo(st, b).stats.evictions, 1);
	ust_store_free(st);
}

static void test_persistent_never_evicted(void **state)
{
	const uint64_t c = charge_of(7, 1000);
	ust_store *st = mk(1000 * c);
	uint32_t a = tenant(st, "a", 0, UINT64_MAX, 1);
	uint32_t b = tenant(st, "b", 0, UINT64_MAX, 1);
	uint32_t pa = pool(st, a, "p", 0), ea = pool(st, a, "e", UST_POOL_EPHEMERAL);
	uint32_t pb = pool(st, b, "p", 0);
	static char val[1000];
	char k[16];

	(void)state;
	fill(st, a, pa, 0, 600, 1000);
	fill(st, a, ea, 0, 400, 1000);
	/* b's persistent PUTs evict a's ephemeral entries, never persistent ones */
	for (int i = 0; i < 400; i++) {
		keyf(k, sizeof(k), i);
		assert_int_equal(sput(st, b, pb, k, val, sizeof(val)), 0);
	}
	assert_int_equal(pinfo(st, pa).stats.entries, 600);
	assert_int_equal(pinfo(st, ea).stats.entries, 0);
	assert_int_equal(sput(st, b, pb, "more", val, sizeof(val)), -ENOSPC);
	/* shrinking below usage keeps persistent data, refuses new PUTs */
	assert_int_equal(ust_set_capacity(st, 100 * c), 0);
	assert_int_equal(pinfo(st, pa).stats.entries, 600);
	assert_int_equal(pinfo(st, pb).stats.entries, 400);
	assert_int_equal(sput(st, a, ea, "e", val, 10), -ENOSPC);
	assert_int_equal(sput(st, a, pa, "p", val, 10), -ENOSPC);
	for (int i = 0; i < 600; i++) {
		keyf(k, sizeof(k), i);
		assert_int_equal(sget(st, a, pa, k, 0, (char[1]){0}, 0, NULL), -ENOBUFS);
	}
	/* growth is immediate */
	assert_int_equal(ust_set_capacity(st, 2000 * c), 0);
	assert_int_equal(sput(st, a, pa, "p", val, 10), 0);
	ust_store_free(st);
}

static void test_shrink_max(void **state)
{
	const uint64_t c = charge_of(7, 1000);
	ust_store *st = mk(10000 * c);
	uint32_t a = tenant(st, "a", 0, UINT64_MAX, 1);
	uint32_t pa = pool(st, a, "p", 0), ea = pool(st, a, "e", UST_POOL_EPHEMERAL);
	struct ust_limits l = { 0, 300 * c, 1 };
	static char val[1000];

	(void)state;
	fill(st, a, pa, 0, 200, 1000);
	fill(st, a, ea, 0, 800, 1000);
	assert_int_equal(ust_tenant_set(st, a, &l), 0);
	assert_true(tinfo(st, a).stats.bytes_charged <= 300 * c);
	assert_int_equal(pinfo(st, pa).stats.entries, 200);
	assert_true(pinfo(st, ea).stats.entries >= 90);
	/* below persistent usage: nothing persistent dropped, PUTs refused */
	l.max = 100 * c;
	assert_int_equal(ust_tenant_set(st, a, &l), 0);
	assert_int_equal(pinfo(st, pa).stats.entries, 200);
	assert_int_equal(pinfo(st, ea).stats.entries, 0);
	assert_int_equal(sput(st, a, pa, "x", val, 10), -EDQUOT);
	assert_int_equal(sput(st, a, ea, "x", val, 10), -EDQUOT);
	l.max = UINT64_MAX;
	assert_int_equal(ust_tenant_set(st, a, &l), 0);
	assert_int_equal(sput(st, a, pa, "x", val, 10), 0);
	ust_store_free(st);
}

/*
 * UST_SHRINK_LATER: lowered limits hold for admission at once (nobody
 * grows; a PUT that needs room evicts its own charge), the eviction waits
 * for ust_shrink_now() (utmemd runs it on its bulk thread).
 */
static void test_shrink_later(void **state)
{
	const uint64_t c = charge_of(7, 1000);
	ust_store *st = mk(10000 * c);
	uint32_t a = tenant(st, "a", 0, UINT64_MAX, 1);
	uint32_t pa = pool(st, a, "p", 0), ea = pool(st, a, "e", UST_POOL_EPHEMERAL);
	struct ust_limits l = { 0, 100 * c, 1 };
	struct ust_store_info si;
	static char val[1000];
	uint64_t before, after;
	char k[16];

	(void)state;
	fill(st, a, pa, 0, 200, 1000);
	fill(st, a, ea, 0, 800, 1000);
	assert_false(ust_over_limits(st));
	assert_int_equal(ust_set_capacity_ex(st, 500 * c, 2u), -EINVAL);
	assert_int_equal(ust_set_capacity_ex(st, 500 * c, UST_SHRINK_LATER), 0);
	assert_int_equal(pinfo(st, ea).stats.entries, 800);
	assert_true(ust_over_limits(st));
	/* (ust_totals: the charge with the stripes' credit, which PUTs may
	 * still spend; what the store holds in all does not grow) */
	ust_totals(st, &before, NULL, NULL);
	for (int i = 0; i < 50; i++) {
		keyf(k, sizeof(k), 10000 + i);
		assert_int_equal(sput(st, a, ea, k, val, sizeof(val)), 0);
	}
	ust_totals(st, &after, NULL, NULL);
	assert_true(after <= before);
	assert_true(pinfo(st, ea).stats.entries >= 700);
	ust_shrink_now(st);
	ust_store_info(st, &si);
	assert_true(si.charged <= 500 * c);
	assert_false(ust_over_limits(st));
	assert_int_equal(pinfo(st, pa).stats.entries, 200);
	/* a tenant's max the same way; persistent bytes above it stay, and
	 * then PUTs are refused as after a plain ust_tenant_set */
	assert_int_equal(ust_tenant_set_ex(st, a, &l, 4u), -EINVAL);
	assert_int_equal(ust_tenant_set_ex(st, a, &l, UST_SHRINK_LATER), 0);
	assert_true(pinfo(st, ea).stats.entries > 0);
	assert_true(ust_over_limits(st));
	ust_shrink_now(st);
	assert_int_equal(pinfo(st, ea).stats.entries, 0);
	assert_int_equal(pinfo(st, pa).stats.entries, 200);
	assert_false(ust_over_limits(st));
	assert_int_equal(sput(st, a, ea, "x", val, 10), -EDQUOT);
	ust_store_free(st);
}

/* Elasticity that does not show in RSS is not elasticity. */
/*
 * Room reserved as per-stripe credit (docs/store.md) is never lost: after
 * many small PUTs have spread credit over every stripe, a PUT that fits the
 * exact room left (entries only) is admitted, one that does not is refused,
 * for the capacity and for a tenant's max alike; removals' credit too.
 */
static void test_credit_never_strands_room(void **state)
{
	const size_t big = 3 * MiB + MiB / 2; /* charge 3.5 MiB + 48 + 8 (apart) */
	const uint64_t cbig = charge_of(2, big), csmall = charge_of(7, 100);
	const uint64_t slack = 20000;
	static char val[4 * MiB];
	ust_store *st = mk(64 * MiB);
	uint32_t a = tenant(st, "a", 0, UINT64_MAX, 1), b = tenant(st, "b", 0, UINT64_MAX, 1);
	uint32_t pa = pool(st, a, "p", 0), pb = pool(st, b, "p", 0);
	struct ust_limits lim = { 0, 0, 1 };
	struct ust_store_info si;
	char k[16];

	(void)state;
	assert_int_equal(cbig, 3 * MiB + MiB / 2 + 48 + 8);
	fill(st, a, pa, 0, 100, 100);
	/* capacity: room for the big value plus slack, as entries count */
	ust_store_info(st, &si);
	assert_int_equal(ust_set_capacity(st, si.charged + cbig + slack), 0);
	fill(st, a, pa, 100, 100, 100); /* credit again in every stripe */
	assert_true(100 * csmall < slack);
	assert_int_equal(sput(st, b, pb, "bb", val, big), 0);
	ust_store_info(st, &si);
	assert_int_equal(si.capacity - si.charged, slack - 100 * csmall);
	assert_int_equal(sput(st, b, pb, "b2", val, 4000), -ENOSPC);
	assert_int_equal(sput(st, b, pb, "b3", val, 100), 0);
	assert_int_equal(ust_invalidate(st, b, pb, "bb", 2), 0);
	assert_int_equal(ust_invalidate(st, b, pb, "b3", 2), 0);
	/* the room B just freed (now its credit) is A's for the asking */
	assert_int_equal(sput(st, a, pa, "aa", val, big), 0);
	assert_int_equal(ust_invalidate(st, a, pa, "aa", 2), 0);
	/* a tenant's max, likewise */
	assert_int_equal(ust_set_capacity(st, 64 * MiB), 0);
	lim.max = tinfo(st, a).stats.bytes_charged + cbig + slack;
	assert_int_equal(ust_tenant_set(st, a, &lim), 0);
	fill(st, a, pa, 200, 100, 100);
	assert_int_equal(sput(st, a, pa, "aa", val, big), 0);
	assert_int_equal(sput(st, a, pa, "a2", val, 4000), -EDQUOT);
	assert_int_equal(sput(st, a, pa, "a3", val, 100), 0);
	assert_true(tinfo(st, a).stats.bytes_charged <= lim.max);
	/* store-wide charge is the sum of entries, credit excluded */
	ust_store_info(st, &si);
	assert_int_equal(si.charged, tinfo(st, a).stats.bytes_charged +
					     tinfo(st, b).stats.bytes_charged);
	keyf(k, sizeof(k), 0);
	assert_int_equal(ust_invalidate(st, a, pa, k, strlen(k)), 0);
	ust_store_free(st);
}

/*
 * Fill ~96 MiB with n values of vlen bytes, then shrink the capacity (an
 * ephemeral pool) and flush (a persistent pool): RSS must fall back each time.
 */
static void rss_falls_with(size_t vlen, size_t n)
{
	ust_store *st = mk(1024ull * MiB);
	uint32_t a = tenant(st, "a", 0, UINT64_MAX, 1);
	uint32_t e = pool(st, a, "e", UST_POOL_EPHEMERAL), p = pool(st, a, "p", 0);
	uint64_t base, full, after;

	printf("# values of %zu B\n", vlen);
	base = rss_bytes();
	fill(st, a, e, 0, (int)n, vlen);
	full = rss_bytes();
	printf("# rss base %llu MiB, full %llu MiB\n", (unsigned long long)(base / MiB),
	       (unsigned long long)(full / MiB));
	assert_true(full - base > 80ull * MiB);
	assert_int_equal(ust_set_capacity(st, MiB), 0);
	after = rss_bytes();
	printf("# after shrink %llu MiB\n", (unsigned long long)(after / MiB));
#ifndef UNDER_TSAN /* its shadow stays resident (helpers.h) */
	assert_true(after < base + 16ull * MiB);
#endif
	/* and a flush of a persistent pool */
	assert_int_equal(ust_set_capacity(st, 1024ull * MiB), 0);
	fill(st, a, p, 0, (int)n, vlen);
	full = rss_bytes();
	assert_true(full - base > 80ull * MiB);
	assert_int_equal(ust_pool_flush(st, a, p), 0);
	after = rss_bytes();
	printf("# after flush %llu MiB\n", (unsigned long long)(after / MiB));
#ifndef UNDER_TSAN
	assert_true(after < base + 16ull * MiB);
#endif
	ust_store_free(st);
}

/* Inline entries and entries with their value apart (128 KiB) alike. */

/*
 * Overwriting one's own ephemeral entry when the tenant's max cannot be met
 * even with every ephemeral entry gone (persistent bytes + new charge >
 * max) is -EDQUOT, also when the capacity is full. The replaced entry was
 * once counted as freed twice (as the overwrite's credit and as evictable),
 * so the store evicted it, then judged the stale figures against the
 * capacity and answered -ENOSPC (found by test_store_model, UTMEM_SEED=13).
 */
static void test_overwrite_own_ephemeral_quota(void **state)
{
	const uint64_t cp = charge_of(1, 3000), c_old = charge_of(1, 1000);
	const uint64_t c_new = charge_of(1, 3000), cb = charge_of(1, 2000);
	ust_store *st = mk(100 * MiB);
	uint32_t a = tenant(st, "a", 0, UINT64_MAX, 1);
	uint32_t b = tenant(st, "b", 0, UINT64_MAX, 1);
	uint32_t pa = pool(st, a, "p", 0), ea = pool(st, a, "e", UST_POOL_EPHEMERAL);
	uint32_t pb = pool(st, b, "p", 0);
	struct ust_limits l = { 0, cp + c_new - 1, 1 };
	struct ust_store_info si;
	static char val[3000];

	(void)state;
	assert_true(c_new > 2 * c_old);
	assert_int_equal(sput(st, a, pa, "p", val, 3000), 0);
	assert_int_equal(sput(st, a, ea, "k", val, 1000), 0);
	assert_int_equal(sput(st, b, pb, "b", val, 2000), 0);
	ust_store_info(st, &si);
	assert_int_equal(si.charged, cp + c_old + cb);
	/* full: capacity exactly the usage; a's max one byte short */
	assert_int_equal(ust_set_capacity(st, si.charged), 0);
	assert_int_equal(ust_tenant_set(st, a, &l), 0);
	assert_int_equal(sput(st, a, ea, "k", val, 3000), -EDQUOT);
	/* refused: the old value is gone, persistent data untouched */
	assert_int_equal(sget(st, a, ea, "k", 0, val, sizeof(val), NULL), -ENOENT);
	assert_int_equal(tinfo(st, a).stats.bytes_charged, cp);
	assert_int_equal(pinfo(st, pb).stats.entries, 1);
	ust_store_free(st);
}
/*
 * Freeze and thaw (Xen tmem's maintenance freeze): a frozen tenant's PUTs
 * are refused with -EROFS and leave no value under the key, in private and
 * shared pools, while its GETs, exclusive GETs, INVALIDATEs and flushes
 * are served and other tenants go on. Freeable is the charge of the
 * tenant's ephemeral entries.
 */
static void test_freeze_thaw(void **state)
{
	ust_store *st = mk(64 * MiB);
	uint32_t a = tenant(st, "a", 0, UINT64_MAX, 1), b = tenant(st, "b", 0, UINT64_MAX, 1);
	uint32_t pa = pool(st, a, "p", 0), ea = pool(st, a, "e", UST_POOL_EPHEMERAL);
	uint32_t sh, pb = pool(st, b, "p", 0);
	struct ust_store_info si;
	char buf[16];

	(void)state;
	assert_int_equal(ust_shared_pool_create(st, "s", UST_POOL_EPHEMERAL, &sh), 0);
	assert_int_equal(ust_pool_grant(st, sh, a), 0);
	assert_int_equal(ust_pool_grant(st, sh, b), 0);
	assert_int_equal(sput(st, a, pa, "k1", "v1", 2), 0);
	assert_int_equal(sput(st, a, pa, "k2", "v2", 2), 0);
	assert_int_equal(sput(st, a, ea, "e1", "x", 1), 0);
	assert_int_equal(sput(st, a, sh, "s1", "yy", 2), 0);
	assert_int_equal(tinfo(st, a).freeable, charge_of(2, 1) + charge_of(2, 2));
	assert_false(tinfo(st, a).frozen);

	assert_int_equal(ust_tenant_freeze(st, a, true), 0);
	assert_true(tinfo(st, a).frozen);
	assert_int_equal(sput(st, a, pa, "new", "v", 1), -EROFS);
	assert_int_equal(sput(st, a, sh, "s2", "v", 1), -EROFS);
	/* a refused PUT removes the old value, as any refused PUT does */
	assert_int_equal(sput(st, a, pa, "k2", "v", 1), -EROFS);
	assert_int_equal(sget(st, a, pa, "k2", 0, buf, sizeof(buf), NULL), -ENOENT);
	/* reads, pops and invalidates are served */
	assert_int_equal(sget(st, a, pa, "k1", 0, buf, sizeof(buf), NULL), 0);
	assert_int_equal(sget(st, a, sh, "s1", UST_GET_EXCLUSIVE, buf, sizeof(buf), NULL), 0);
	assert_int_equal(ust_invalidate(st, a, ea, "e1", 2), 0);
	assert_int_equal(tinfo(st, a).freeable, 0);
	assert_int_equal(tinfo(st, a).stats.refused_puts, 3);
	/* the other tenant goes on, in its own pool and the shared one */
	assert_int_equal(sput(st, b, pb, "k", "v", 1), 0);
	assert_int_equal(sput(st, b, sh, "s2", "v", 1), 0);
	assert_int_equal(ust_pool_flush(st, a, pa), 0);

	assert_int_equal(ust_tenant_freeze(st, a, false), 0);
	assert_false(tinfo(st, a).frozen);
	assert_int_equal(sput(st, a, pa, "k1", "v1", 2), 0);
	assert_int_equal(sput(st, a, ea, "e2", "zz", 2), 0);
	ust_store_info(st, &si);
	assert_int_equal(si.freeable, charge_of(2, 2) + charge_of(2, 1));
	assert_int_equal(ust_tenant_freeze(st, 999, true), -ENOENT);
	ust_store_free(st);
}

static void test_rss_falls(void **state)
{
	(void)state;
	rss_falls_with(4000, 24000);
	rss_falls_with(128 * 1024, 768);
}

/*
 * Shared-pool rights (docs/security.md): a plain grantee may use a shared
 * pool, never flush or destroy it for the others; a grantee with
 * UST_GRANT_MANAGE may, and so may the operator. Rights follow the last
 * ust_pool_grant_rights; revoking drops them all.
 */
static void test_shared_manage_rights(void **state)
{
	ust_store *st = mk(MiB);
	uint32_t a = tenant(st, "a", 0, UINT64_MAX, 1);
	uint32_t b = tenant(st, "b", 0, UINT64_MAX, 1);
	uint32_t c = tenant(st, "c", 0, UINT64_MAX, 1);
	uint32_t sp;

	(void)state;
	assert_int_equal(ust_shared_pool_create(st, "sh", 0, &sp), 0);
	assert_int_equal(ust_pool_grant(st, sp, a), 0);
	assert_int_equal(ust_pool_grant_rights(st, sp, b, UST_GRANT_MANAGE), 0);
	assert_int_equal(ust_pool_grant_rights(st, sp, b, 1u << 5), -EINVAL);
	assert_int_equal(sput(st, a, sp, "k", "v", 1), 0);
	/* a: granted, not a manager: EACCES, and the entry stays. */
	assert_int_equal(ust_pool_flush(st, a, sp), -EACCES);
	assert_int_equal(ust_pool_destroy(st, a, sp), -EACCES);
	assert_int_equal(pinfo(st, sp).stats.entries, 1);
	/* c: not granted at all: the pool does not exist for it. */
	assert_int_equal(ust_pool_flush(st, c, sp), -EBADF);
	assert_int_equal(ust_pool_destroy(st, c, sp), -EBADF);
	/* a grantee may still see the pool's stats */
	struct ust_pool_info pi;
	assert_int_equal(ust_pool_info(st, a, sp, &pi), 0);
	assert_int_equal(ust_pool_info(st, c, sp, &pi), -EBADF);
	/* b manages it. */
	assert_int_equal(ust_pool_flush(st, b, sp), 0);
	assert_int_equal(pinfo(st, sp).stats.entries, 0);
	/* a plain ust_pool_grant keeps b's right; an exact grant drops it */
	assert_int_equal(ust_pool_grant(st, sp, b), 0);
	assert_int_equal(ust_pool_flush(st, b, sp), 0);
	assert_int_equal(ust_pool_grant_rights(st, sp, b, 0), 0);
	assert_int_equal(ust_pool_flush(st, b, sp), -EACCES);
	/* revoking drops every right */
	assert_int_equal(ust_pool_grant_rights(st, sp, a, UST_GRANT_MANAGE), 0);
	assert_int_equal(ust_pool_revoke(st, sp, a), 0);
	assert_int_equal(ust_pool_flush(st, a, sp), -EBADF);
	assert_int_equal(ust_pool_grant(st, sp, a), 0);
	assert_int_equal(ust_pool_destroy(st, a, sp), -EACCES);
	/* the operator may always */
	assert_int_equal(ust_pool_destroy(st, UST_TENANT_ADMIN, sp), 0);
	ust_store_free(st);
}

/*
 * Pools cost their tenant (UST_CFG_CHARGE_POOLS, as utmemd runs the
 * store): each private pool's metadata is charged like an entry, given
 * back on destroy and on tenant removal, and max_pools caps the count.
 */
/*
 * Creating and destroying pools in a loop holds nothing: a destroyed
 * pool's slot is used again under a new id (issue 8: a tenant created
 * 176,128 pools in 90 s, and the table kept a slot for every one). The old
 * id reaches nothing, not the pool now in its slot.
 */
static void test_pool_slots_reused(void **state)
{
	struct ust_config cfg = { .capacity = MiB, .max_key = 64, .max_value = 4 * MiB,
				  .shards = 16 };
	ust_store *st = NULL;
	struct ust_store_info si;
	uint32_t t, keep, prev = 0, id = 0;

	(void)state;
	assert_int_equal(ust_store_new(&cfg, &st), 0);
	t = tenant(st, "t", 0, UINT64_MAX, 1);
	keep = pool(st, t, "keep", 0);
	assert_int_equal(ust_put(st, t, keep, "k", 1, "kept", 4), 0);
	for (int i = 0; i < 20000; i++) {
		id = pool(st, t, "churn", 0);
		assert_int_not_equal(id, prev);
		assert_int_equal(ust_put(st, t, id, "k", 1, "v", 1), 0);
		assert_int_equal(ust_pool_destroy(st, t, id), 0);
		/* the handle of a destroyed pool reaches nothing */
		assert_int_equal(ust_put(st, t, id, "k", 1, "v", 1),
				 ust_put(st, t, 0x7fffffffu, "k", 1, "v", 1));
		prev = id;
	}
	/* two slots in use at most (keep, churn): the table did not grow */
	assert_true(st->next_pool <= 3);
	ust_store_info(st, &si);
	assert_int_equal(si.pools, 1);
	{
		char buf[8];
		size_t n = 0;

		assert_int_equal(ust_get_buf(st, t, keep, "k", 1, 0, buf, sizeof(buf), &n), 0);
		assert_int_equal(n, 4);
	}
	ust_store_free(st);
}

static void test_pool_charge_and_limit(void **state)
{
	struct ust_config cfg = { .capacity = MiB, .max_key = 64, .max_value = 4 * MiB,
				  .shards = 16, .flags = UST_CFG_CHARGE_POOLS };
	ust_store *st = NULL;
	struct ust_store_info si;
	uint64_t meta;
	uint32_t t, small, p[4], q;
	char name[16];

	(void)state;
	assert_int_equal(ust_store_new(&cfg, &st), 0);
	meta = ust_pool_meta_bytes(st);
	assert_true(meta >= 16 * 64); /* at least one cache line per stripe */
	t = tenant(st, "t", 0, UINT64_MAX, 1);
	assert_int_equal(ust_tenant_set_max_pools(st, t, 3), 0);
	assert_int_equal(ust_tenant_set_max_pools(st, 99, 3), -ENOENT);
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		assert_int_equal(ust_pool_open(st, t, name, 0, UST_OPEN_CREATE, &p[i]), 0);
	}
	assert_int_equal(ust_pool_open(st, t, "p3", 0, UST_OPEN_CREATE, &p[3]), -EDQUOT);
	/* reopening an existing one is no new pool */
	assert_int_equal(ust_pool_open(st, t, "p1", 0, UST_OPEN_CREATE, &q), 0);
	assert_int_equal(q, p[1]);
	ust_store_info(st, &si);
	assert_int_equal(si.charged, 3 * meta);
	assert_int_equal(tinfo(st, t).pools, 3);
	assert_int_equal(tinfo(st, t).pool_bytes, 3 * meta);
	assert_int_equal(tinfo(st, t).max_pools, 3);
	assert_int_equal(tinfo(st, t).stats.bytes_charged, 0); /* entries only */
	/* destroying gives the charge back and a place for another */
	assert_int_equal(ust_pool_destroy(st, t, p[0]), 0);
	ust_store_info(st, &si);
	assert_int_equal(si.charged, 2 * meta);
	assert_int_equal(ust_pool_open(st, t, "p3", 0, UST_OPEN_CREATE, &p[3]), 0);
	/* a tenant whose max cannot hold a pool's metadata gets none */
	small = tenant(st, "small", 0, meta - 1, 1);
	assert_int_equal(ust_pool_open(st, small, "x", 0, UST_OPEN_CREATE, &q), -EDQUOT);
	/* removal returns everything */
	assert_int_equal(ust_tenant_remove(st, t), 0);
	ust_store_info(st, &si);
	assert_int_equal(si.charged, 0);
	ust_store_free(st);
}

/*
 * A pool open refused because the tenant has its max_pools pools is not a
 * lack of room: it evicts nothing, whether pools are charged or not (it
 * used to make room for a pool's metadata before being refused again).
 */
static void test_pool_limit_evicts_nothing(void **state)
{
	const uint64_t c = charge_of(7, 1000);

	(void)state;
	for (unsigned flags = 0; flags <= UST_CFG_CHARGE_POOLS; flags += UST_CFG_CHARGE_POOLS) {
		struct ust_config cfg = { .capacity = 64 * MiB, .max_key = 64,
					  .max_value = 4 * MiB, .shards = 16, .flags = flags };
		ust_store *st = NULL;
		uint32_t t, e, q;
		uint64_t meta;

		assert_int_equal(ust_store_new(&cfg, &st), 0);
		meta = flags ? ust_pool_meta_bytes(st) : 0;
		t = tenant(st, "t", 0, meta + 100 * c, 1);
		e = pool(st, t, "e", UST_POOL_EPHEMERAL);
		fill(st, t, e, 0, 100, 1000); /* exactly at its max */
		assert_int_equal(tinfo(st, t).stats.entries, 100);
		assert_int_equal(ust_tenant_set_max_pools(st, t, 1), 0);
		assert_int_equal(ust_pool_open(st, t, "x", 0, UST_OPEN_CREATE, &q), -EDQUOT);
		assert_int_equal(tinfo(st, t).stats.evictions, 0);
		assert_int_equal(tinfo(st, t).stats.entries, 100);
		ust_store_free(st);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_tenants),
		cmocka_unit_test(test_pool_kinds),
		cmocka_unit_test(test_shared_grants),
		cmocka_unit_test(test_shared_manage_rights),
		cmocka_unit_test(test_pool_charge_and_limit),
		cmocka_unit_test(test_pool_limit_evicts_nothing),
		cmocka_unit_test(test_put_get_pop_invalidate),
		cmocka_unit_test(test_flush_destroy),
		cmocka_unit_test(test_failed_put_leaves_no_value),
		cmocka_unit_test(test_accounting_exact),
		cmocka_unit_test(test_large_values_tight),
		cmocka_unit_test(test_evict_lru),
		cmocka_unit_test(test_shrink_keeps_recent),
		cmocka_unit_test(test_evict_by_weight),
		cmocka_unit_test(test_min_reserve),
		cmocka_unit_test(test_min_not_overshot),
		cmocka_unit_test(test_tie_spares_replaced),
		cmocka_unit_test(test_persistent_never_evicted),
		cmocka_unit_test(test_shrink_max),
		cmocka_unit_test(test_credit_never_strands_room),
		cmocka_unit_test(test_overwrite_own_ephemeral_quota),
		cmocka_unit_test(test_rss_falls),
		cmocka_unit_test(test_shrink_later),
		cmocka_unit_test(test_freeze_thaw),
		cmocka_unit_test(test_pool_slots_reused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_iter.c — unit tests of ust_pool_visit() (src/store/iter.c), the
 * store's read-out for persistence: every entry once across the stripes,
 * with its key, value and charged tenant; small and separately allocated
 * values alike; a stop on a negative return; -EBADF and -EINVAL.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "store/store.h"

#define N 500

struct seen {
	int count[N];
	uint32_t tenant[N];
	int calls;
	int stop_after;
};

/* Keys are "k<i>"; value i is i % 251 repeated (i * 37) % 9000 + 1 times. */
static size_t vlen_of(int i) { return (size_t)(i * 37) % 9000 + 1; }

static int visit(void *ctx, uint32_t tenant, const void *key, size_t klen,
		 const void *val, size_t vlen)
{
	struct seen *s = ctx;
	char k[16];
	int i;

	assert_true(klen > 1 && klen < sizeof(k));
	memcpy(k, key, klen);
	k[klen] = '\0';
	i = atoi(k + 1);
	assert_true(i >= 0 && i < N);
	assert_int_equal(vlen, vlen_of(i));
	for (size_t b = 0; b < vlen; b++)
		assert_int_equal(((const unsigned char *)val)[b], i % 251);
	s->count[i]++;
	s->tenant[i] = tenant;
	s->calls++;
	return s->stop_after && s->calls == s->stop_after ? -ECANCELED : 0;
}

static void test_visit(void **state)
{
	struct ust_config cfg = {.capacity = 256u << 20};
	struct ust_limits lim = {0, UINT64_MAX, 1};
	static struct seen s;
	unsigned char *val = malloc(9000);
	uint32_t a, b, pool, other;
	ust_store *st;
	char key[16];
	int err = 0;

	(void)state;
	assert_int_equal(ust_store_new(&cfg, &st), 0);
	assert_int_equal(ust_tenant_add(st, "a", &lim, &a), 0);
	assert_int_equal(ust_tenant_add(st, "b", &lim, &b), 0);
	assert_int_equal(ust_shared_pool_create(st, "sp", 0, &pool), 0);
	assert_int_equal(ust_pool_grant(st, pool, a), 0);
	assert_int_equal(ust_pool_grant(st, pool, b), 0);
	assert_int_equal(ust_pool_open(st, a, "other", 0, UST_OPEN_CREATE, &other), 0);
	for (int i = 0; i < N; i++) {
		int n = snprintf(key, sizeof(key), "k%d", i);
		memset(val, i % 251, vlen_of(i));
		assert_int_equal(ust_put(st, i % 2 ? b : a, pool, key, (size_t)n, val,
					 vlen_of(i)), 0);
	}
	assert_int_equal(ust_put(st, a, other, "x", 1, "y", 1), 0);
	for (unsigned k = 0; k < ust_stripes(st); k++)
		assert_int_equal(ust_pool_visit(st, pool, k, visit, &s), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(s.count[i], 1);
		assert_int_equal(s.tenant[i], i % 2 ? b : a);
	}
	/* A negative return stops the visit and comes back. */
	memset(&s, 0, sizeof(s));
	s.stop_after = 3;
	for (unsigned k = 0; k < ust_stripes(st) && !err; k++)
		err = ust_pool_visit(st, pool, k, visit, &s);
	assert_int_equal(err, -ECANCELED);
	assert_int_equal(s.calls, 3);
	assert_int_equal(ust_pool_visit(st, 9999, 0, visit, &s), -EBADF);
	assert_int_equal(ust_pool_visit(st, pool, ust_stripes(st), visit, &s), -EINVAL);
	free(val);
	ust_store_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_visit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

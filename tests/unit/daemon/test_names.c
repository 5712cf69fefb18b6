/*
 * test_names.c — utmemd's name map (src/daemon/names.c) against a plain
 * array: random puts, gets and deletions over a small name space, so that
 * runs of colliding names, wrap-around at the end of the table and the
 * backward shift of deletions all happen. The seed is printed; set
 * UTMEM_SEED to replay one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "daemon/names.h"

#define SPACE 600 /* distinct names */

static uint64_t rng;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void test_basics(void **state)
{
	struct ud_names m = UD_NAMES_INIT;
	int a = 1, b = 2;
	void *old = NULL;

	(void)state;
	assert_null(ud_names_get(&m, "x")); /* empty: no table yet */
	ud_names_del(&m, "x");
	assert_int_equal(ud_names_put(&m, "x", &a, NULL), 0);
	assert_int_equal(ud_names_put(&m, "x", &b, &old), 1);
	assert_ptr_equal(old, &a); /* the first stays */
	assert_ptr_equal(ud_names_get(&m, "x"), &a);
	assert_null(ud_names_get(&m, "y"));
	ud_names_del(&m, "x");
	assert_null(ud_names_get(&m, "x"));
	assert_int_equal(m.n, 0);
	ud_names_free(&m);
}

static void test_model(void **state)
{
	static char names[SPACE][16];
	static void *model[SPACE];
	struct ud_names m = UD_NAMES_INIT;
	const char *env = getenv("UTMEM_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL);
	size_t live = 0;

	(void)state;
	printf("# UTMEM_SEED=%llu\n", (unsigned long long)seed);
	rng = seed * 0x9e3779b97f4a7c15ull + 1;
	for (int i = 0; i < SPACE; i++)
		snprintf(names[i], sizeof(names[i]), "t%d", i);
	memset(model, 0, sizeof(model));
	for (int round = 0; round < 200000; round++) {
		size_t k = next() % SPACE;
		/* Grow to most of the space, then shrink, then grow again. */
		unsigned bias = (round / 20000) % 2 ? 30 : 70;
		void *old = NULL;

		if (next() % 100 < bias) {
			int r = ud_names_put(&m, names[k], &names[k][1], &old);

			if (model[k]) {
				assert_int_equal(r, 1);
				assert_ptr_equal(old, model[k]);
			} else {
				assert_int_equal(r, 0);
				model[k] = &names[k][1];
				live++;
			}
		} else {
			ud_names_del(&m, names[k]);
			if (model[k])
				live--;
			model[k] = NULL;
		}
		assert_int_equal(m.n, live);
		if (round % 997 == 0) /* every name, present or not */
			for (int j = 0; j < SPACE; j++)
				assert_ptr_equal(ud_names_get(&m, names[j]), model[j]);
		else
			assert_ptr_equal(ud_names_get(&m, names[k]), model[k]);
	}
	ud_names_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basics),
		cmocka_unit_test(test_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

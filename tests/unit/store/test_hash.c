/*
 * test_hash.c — the store's key hash (src/store/hash.c) is keyed with a
 * secret drawn per process: stable within a process, different between
 * two processes, and keys crafted to share one hash under the former
 * unkeyed function (tests/e2e/hostile/collide.h) spread over the buckets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/internal.h"
#include "../../e2e/hostile/collide.h"

#define PROBE_ENV "UST_TEST_HASH_PROBE"

static char self[4096];

/* The hash of "probe" as another process of this binary computes it. */
static uint64_t hash_in_child(void)
{
	char cmd[4200], out[64] = "";
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s=1 '%s'", PROBE_ENV, self);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, sizeof(out), p));
	assert_int_equal(pclose(p), 0);
	return strtoull(out, NULL, 16);
}

static void test_keyed_per_process(void **state)
{
	uint64_t here, a, b;

	(void)state;
	assert_int_equal(ust_hash_init(), 0);
	here = ust_hash("probe", 5);
	assert_true(here == ust_hash("probe", 5)); /* stable */
	a = hash_in_child();
	b = hash_in_child();
	/* Three processes, three secrets: equal only with probability 2^-64. */
	assert_true(a != b);
	assert_true(a != here && b != here);
}

/*
 * 8192 keys with one old hash: under the keyed hash the fullest of 1024
 * buckets (the table.c bucket bits, h >> 20) holds about 8 of them; 40 is
 * far outside chance (p < 1e-12) and far below 8192.
 */
static void test_crafted_keys_spread(void **state)
{
	static unsigned short count[1024];
	unsigned char key[COLLIDE_KLEN];
	uint64_t old0 = 0;
	unsigned worst = 0;

	(void)state;
	assert_int_equal(ust_hash_init(), 0);
	for (uint64_t i = 0; i < 8192; i++) {
		collide_key(i, key);
		if (i == 0)
			old0 = collide_old_hash(key, sizeof(key));
		assert_true(collide_old_hash(key, sizeof(key)) == old0);
		count[(ust_hash(key, sizeof(key)) >> 20) & 1023]++;
	}
	for (unsigned b = 0; b < 1024; b++)
		if (count[b] > worst)
			worst = count[b];
	print_message("fullest bucket: %u of 8192 keys crafted to collide\n", worst);
	assert_true(worst < 40);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keyed_per_process),
		cmocka_unit_test(test_crafted_keys_spread),
	};

	(void)argc;
	if (getenv(PROBE_ENV)) {
		if (ust_hash_init() != 0)
			return 1;
		printf("%016llx\n", (unsigned long long)ust_hash("probe", 5));
		return 0;
	}
	if (!realpath(argv[0], self))
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

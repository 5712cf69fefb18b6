/*
 * test_values.c — the value rules of src/proto/admin.c that utmemd's
 * settings, utmemctl and the Redis module share: a decimal number
 * (uadm_parse_uint). Each case is what one of them must take or refuse,
 * so that a value means the same wherever it is given.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "proto/admin.h"

static int num(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	return uadm_parse_uint(s, strlen(s), lo, hi, out);
}

static void test_parse_uint(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(num("5", 1, 10, &v), 0);
	assert_int_equal(v, 5);
	/* Leading zeros are read, as strtoull reads them in utmemd. */
	assert_int_equal(num("0005", 1, 10, &v), 0);
	assert_int_equal(v, 5);
	assert_int_equal(num("000000000000000000000000000000000000000007", 1, 10, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(num("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	/* The bounds themselves, and one past each. */
	assert_int_equal(num("600000", 1, 600000, &v), 0);
	assert_int_equal(v, 600000);
	assert_int_equal(num("600001", 1, 600000, &v), -EINVAL);
	assert_int_equal(num("0", 1, 600000, &v), -EINVAL);
	assert_int_equal(num("18446744073709551615", 0, UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	/* No wrap however many digits. */
	assert_int_equal(num("18446744073709551616", 0, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(num("18446744073709551617", 1, 600000, &v), -EINVAL);
	assert_int_equal(num("99999999999999999999999999", 0, UINT64_MAX, &v), -EINVAL);
	/* A bound below 9: a single digit above it. */
	assert_int_equal(num("7", 0, 5, &v), -EINVAL);
	assert_int_equal(num("05", 0, 5, &v), 0);
	assert_int_equal(v, 5);
	/* Digits only: no sign, blank, base prefix, exponent, nothing. */
	v = 42;
	assert_int_equal(num("", 0, 10, &v), -EINVAL);
	assert_int_equal(num("+5", 0, 10, &v), -EINVAL);
	assert_int_equal(num("-5", 0, 10, &v), -EINVAL);
	assert_int_equal(num("-0", 0, 10, &v), -EINVAL);
	assert_int_equal(num(" 5", 0, 10, &v), -EINVAL);
	assert_int_equal(num("5 ", 0, 10, &v), -EINVAL);
	assert_int_equal(num("0x5", 0, 100, &v), -EINVAL);
	assert_int_equal(num("1e3", 0, 10000, &v), -EINVAL);
	assert_int_equal(v, 42); /* untouched on failure */
	/* The length is the caller's: a NUL inside is a byte like any. */
	assert_int_equal(uadm_parse_uint("5\0" "5", 3, 0, 1000, &v), -EINVAL);
	assert_int_equal(uadm_parse_uint("55", 1, 0, 1000, &v), 0);
	assert_int_equal(v, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_uint),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_errors.c — utmem_strerror() for every int, built (where the compiler
 * can) with UndefinedBehaviorSanitizer that aborts on the first report, so
 * arithmetic that is undefined for some argument (negating INT_MIN) fails
 * the test even where it happens to print something.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "utmem.h"

/* Values that are no errno: shown as passed, sign included. */
static void test_unknown_codes(void **state)
{
	assert_string_equal(utmem_strerror(INT_MIN),
			    "unknown error -2147483648");
	assert_string_equal(utmem_strerror(INT_MIN + 1),
			    "unknown error -2147483647");
	assert_string_equal(utmem_strerror(INT_MAX),
			    "unknown error 2147483647");
	assert_string_equal(utmem_strerror(-99999), "unknown error -99999");
	assert_string_equal(utmem_strerror(4096), "unknown error 4096");
	(void)state;
}

/* Known values keep their texts, either sign. */
static void test_known_codes(void **state)
{
	assert_string_equal(utmem_strerror(0), "success");
	assert_string_equal(utmem_strerror(-EDQUOT), "tenant quota exceeded");
	assert_string_equal(utmem_strerror(EDQUOT), "tenant quota exceeded");
	assert_string_equal(utmem_strerror(-EINVAL), "Invalid argument");
	assert_string_equal(utmem_strerror(EINVAL), "Invalid argument");
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_codes),
		cmocka_unit_test(test_known_codes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

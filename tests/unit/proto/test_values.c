/*
 * test_values.c — the value rules of src/proto/admin.c that utmemd's
 * settings, utmemctl and the Redis module share: a decimal number
 * (uadm_parse_uint), a setting's text (uadm_text_fault) and a tenant's
 * token (uadm_token_check). Each case is what one of them must take or
 * refuse, so that a value means the same wherever it is given.
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

static void test_text_fault(void **state)
{
	(void)state;
	assert_null(uadm_text_fault("", 0));
	assert_null(uadm_text_fault("plain text", 10));
	assert_null(uadm_text_fault("a;b", 3));         /* ';' after no blank */
	assert_null(uadm_text_fault(";ab", 3));         /* ';' first */
	assert_null(uadm_text_fault("a #b", 4));        /* '#' is no comment */
	assert_null(uadm_text_fault("p\xc3\xa4ss", 5)); /* UTF-8 */
	assert_string_equal(uadm_text_fault("a ;b", 4),
			    "' ;' would start a comment in the config file");
	assert_string_equal(uadm_text_fault("a\tb", 3),
			    "control characters are not allowed");
	assert_string_equal(uadm_text_fault("a\x7f" "b", 3),
			    "control characters are not allowed");
	assert_string_equal(uadm_text_fault("a\0b", 3),
			    "control characters are not allowed");
	/* A tab before ';' is a control character first. */
	assert_string_equal(uadm_text_fault("a\t;b", 4),
			    "control characters are not allowed");
	assert_string_equal(uadm_text_fault(" ab", 3),
			    "leading or trailing blanks are not allowed");
	assert_string_equal(uadm_text_fault("ab ", 3),
			    "leading or trailing blanks are not allowed");
	/* The first fault met, reading from the start, is the one told. */
	assert_string_equal(uadm_text_fault(" a\nb", 4),
			    "control characters are not allowed");
}

static void test_token_check(void **state)
{
	char tok[UADM_TOKEN_MAX + 2];
	const char *why = NULL;

	(void)state;
	memset(tok, 'x', sizeof(tok));
	assert_int_equal(uadm_token_check(tok, 8, &why), 0);
	assert_null(why);
	assert_int_equal(uadm_token_check(tok, 255, &why), 0);
	assert_int_equal(uadm_token_check(tok, 7, &why), -ERANGE);
	assert_string_equal(why, "expected 8..255 bytes");
	assert_int_equal(uadm_token_check(tok, 256, &why), -ERANGE);
	assert_string_equal(why, "expected 8..255 bytes");
	assert_int_equal(uadm_token_check(tok, 0, &why), -ERANGE);
	/* Past the length, the text rule. */
	assert_int_equal(uadm_token_check("abcdefg ", 8, &why), -EINVAL);
	assert_string_equal(why, "leading or trailing blanks are not allowed");
	assert_int_equal(uadm_token_check("abc ;defgh", 10, &why), -EINVAL);
	assert_string_equal(why, "' ;' would start a comment in the config file");
	assert_int_equal(uadm_token_check("abc\tdefgh", 9, &why), -EINVAL);
	assert_string_equal(why, "control characters are not allowed");
	assert_int_equal(uadm_token_check("abc;defgh", 9, &why), 0);
	/* A short token with a bad byte: its length is told first. */
	assert_int_equal(uadm_token_check("a\tb", 3, &why), -ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_uint),
		cmocka_unit_test(test_text_fault),
		cmocka_unit_test(test_token_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

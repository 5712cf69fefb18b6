/*
 * test_errors.c — utmem_strerror() for every int, built (where the compiler
 * can) with UndefinedBehaviorSanitizer that aborts on the first report, so
 * arithmetic that is undefined for some argument (negating INT_MIN) fails
 * the test even where it happens to print something.
 *
 * And the error contract: the errno values utmem_strerror() has a text of
 * its own for (errors.c's table, seen from outside: a text that is not the
 * C library's) are exactly those include/utmem.h lists as "Errors with a
 * utmem meaning", and those libutmem(3) lists first under ERRORS. Usage:
 * test_errors UTMEM_H LIBUTMEM_3_SCD.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

#define MAX_ERRNO 4096 /* beyond every errno value Linux has */

static const char *header_path, *man_path;

/* The errno value whose name is name[0..len), or 0. */
static int errno_named(const char *name, size_t len)
{
	for (int e = 1; e < MAX_ERRNO; e++) {
		const char *n = strerrorname_np(e);

		if (n && strlen(n) == len && memcmp(n, name, len) == 0)
			return e;
	}
	return 0;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	long n;

	if (!f)
		fail_msg("cannot open %s", path);
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) &&
	    fread(buf, 1, (size_t)n, f) == (size_t)n)
		buf[n] = '\0';
	else
		fail_msg("cannot read %s", path);
	fclose(f);
	return buf;
}

/*
 * Note the names of one list entry, which begins at p: names each between
 * open and close (utmem.h: "-" and nothing; the man page: "*" and "*"),
 * separated by ", ". Returns how many names were read (0: p is no entry).
 */
static int entry_names(const char *p, const char *open, const char *close,
		       const char *where, int line, int *listed)
{
	int count = 0;

	for (;;) {
		size_t len = 0;
		int e;

		if (strncmp(p, open, strlen(open)) != 0 || p[strlen(open)] != 'E')
			return count;
		p += strlen(open);
		while ((p[len] >= 'A' && p[len] <= 'Z') ||
		       (p[len] >= '0' && p[len] <= '9'))
			len++;
		e = errno_named(p, len);
		if (!e)
			fail_msg("%s:%d: %.*s is no errno name", where, line,
				 (int)len, p);
		if (listed[e]++)
			fail_msg("%s:%d: %.*s listed twice", where, line, (int)len, p);
		count++;
		p += len;
		if (strncmp(p, close, strlen(close)) != 0)
			fail_msg("%s:%d: %.*s: no closing '%s'", where, line,
				 (int)len, p - len, close);
		p += strlen(close);
		if (strncmp(p, ", ", 2) != 0)
			return count;
		p += 2;
	}
}

/*
 * The names listed in the text at path: from the line holding `from`, up
 * to the first line after it that begins with one of stop[], those of
 * every line that begins with `lead` followed by an entry.
 */
static void listed_in(const char *path, const char *from,
		      const char *const *stop, const char *lead,
		      const char *open, const char *close, int *listed)
{
	char *text = read_file(path), *line = text, *next;
	int in = 0, n = 0, entries = 0;

	for (; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		n++;
		if (!in) {
			in = strstr(line, from) != NULL;
			continue;
		}
		for (const char *const *s = stop; *s; s++)
			if (strncmp(line, *s, strlen(*s)) == 0)
				goto done;
		if (strncmp(line, lead, strlen(lead)) == 0)
			entries += entry_names(line + strlen(lead), open, close,
					       path, n, listed) > 0;
	}
done:
	free(text);
	if (!in)
		fail_msg("%s: no \"%s\"", path, from);
	if (entries == 0)
		fail_msg("%s: no entry after \"%s\"", path, from);
}

/* The values errors.c has a text of its own for. */
static void own_texts(int *own)
{
	for (int e = 1; e < MAX_ERRNO; e++) {
		char mine[256];

		if (!strerrorname_np(e))
			continue;
		snprintf(mine, sizeof(mine), "%s", utmem_strerror(-e));
		own[e] = strcmp(mine, strerror(e)) != 0;
	}
}

static void compare(const char *what, const int *listed, const int *own)
{
	int wrong = 0;

	for (int e = 1; e < MAX_ERRNO; e++) {
		if (!listed[e] == !own[e])
			continue;
		print_error("%s: %s %s (utmem_strerror: \"%s\")\n", what,
			    strerrorname_np(e),
			    own[e] ? "has its own text but is not listed"
				   : "is listed but has no text of its own",
			    utmem_strerror(-e));
		wrong++;
	}
	assert_int_equal(wrong, 0);
}

/* utmem.h's list: " *   -EDQUOT      text" or " *   -EPROTO, -EPROTONOSUPPORT",
 * up to " * Other errors" (or the comment's end). */
static void test_header_lists_every_meaning(void **state)
{
	static const char *const stop[] = {" * Other errors", " */", NULL};
	static int listed[MAX_ERRNO], own[MAX_ERRNO];

	listed_in(header_path, "Errors with a utmem meaning", stop, " *   ", "-",
		  "", listed);
	own_texts(own);
	compare(header_path, listed, own);
	(void)state;
}

/* libutmem(3)'s: "*EDQUOT*" or "*EMSGSIZE*, *EDQUOT*" at the start of a
 * line, in ERRORS up to "Other errors". */
static void test_man_lists_every_meaning(void **state)
{
	static const char *const stop[] = {"Other errors", "# ", NULL};
	static int listed[MAX_ERRNO], own[MAX_ERRNO];

	listed_in(man_path, "# ERRORS", stop, "", "*", "*", listed);
	own_texts(own);
	compare(man_path, listed, own);
	(void)state;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_codes),
		cmocka_unit_test(test_known_codes),
		cmocka_unit_test(test_header_lists_every_meaning),
		cmocka_unit_test(test_man_lists_every_meaning),
	};

	if (argc != 3) {
		fprintf(stderr, "usage: %s UTMEM_H LIBUTMEM_3_SCD\n", argv[0]);
		return 2;
	}
	header_path = argv[1];
	man_path = argv[2];
	return cmocka_run_group_tests(tests, NULL, NULL);
}

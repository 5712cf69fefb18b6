/*
 * test_log.c — utmemd's rate-limited logging (src/daemon/log.c): a call
 * site a tenant can trigger at will logs at most UD_RL_BURST lines per
 * window, and the next window first reports how many were dropped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "daemon/daemon.h"

/* Count lines of f that contain needle. */
static int count_lines(FILE *f, const char *needle)
{
	char line[2048];
	int n = 0;

	rewind(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			n++;
	return n;
}

static void test_burst_then_quiet(void **state)
{
	static struct ud_ratelimit rl;
	FILE *f = tmpfile();
	int saved = dup(2);

	(void)state;
	assert_non_null(f);
	assert_true(saved >= 0);
	fflush(stderr);
	assert_true(dup2(fileno(f), 2) >= 0);
	for (int i = 0; i < 1000; i++)
		ud_log_rl(&rl, UADM_LOG_WARN, "flood #%d", i);
	/* A window later: one line about the dropped ones, then the message. */
	atomic_store(&rl.start, 1);
	ud_log_rl(&rl, UADM_LOG_WARN, "flood again");
	/* Below the log level nothing is written or counted. */
	ud_log_rl(&rl, UADM_LOG_DEBUG, "flood debug");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	assert_int_equal(count_lines(f, "utmemd warn: flood #"), UD_RL_BURST);
	assert_int_equal(count_lines(f, "(990 similar messages suppressed"), 1);
	assert_int_equal(count_lines(f, "flood again"), 1);
	assert_int_equal(count_lines(f, "flood debug"), 0);
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_quiet),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * e2e_check.h — what the daemon's end-to-end test clients share: the check
 * (compare two integers, and on a mismatch print both, with utmem_strerror's
 * text for negative ones, which are -errno values, and count the failure;
 * each client exits non-zero when `failures` is), connecting or exiting,
 * a monotonic clock in seconds, the bounded wait for a flag file that
 * the driving script creates, and the subcommand table every client's
 * main() runs.
 */
#ifndef UTMEM_E2E_CHECK_H
#define UTMEM_E2E_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "utmem.h"

static int failures;

#define CHECK_EQ(what, got, want)                                              \
	do {                                                                   \
		long long g_ = (long long)(got), w_ = (long long)(want);       \
		if (g_ != w_) {                                                \
			fprintf(stderr, "FAIL %s:%d: %s = %lld (%s), want %lld (%s)\n", \
				__FILE__, __LINE__, what, g_,                  \
				g_ < 0 ? utmem_strerror((int)g_) : "",         \
				w_, w_ < 0 ? utmem_strerror((int)w_) : "");    \
			failures++;                                            \
		}                                                              \
	} while (0)

/* Connect to addr (5 s timeout, flags) or exit 1 with the library's text. */
static inline utmem_client *e2e_dial(const char *addr, unsigned flags)
{
	struct utmem_options o = {.timeout_ms = 5000, .flags = flags};
	utmem_client *c = NULL;
	int err = utmem_connect(addr, &o, &c);

	if (err) {
		fprintf(stderr, "FAIL connect %s: %s\n", addr, utmem_strerror(err));
		exit(1);
	}
	return c;
}

/* CLOCK_MONOTONIC in seconds. */
static inline double e2e_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait (at most 20 s) for a flag file the driving script creates: 0, or -1. */
static inline int e2e_wait_flag(const char *path)
{
	struct stat sb;

	for (int i = 0; i < 2000; i++) {
		if (stat(path, &sb) == 0)
			return 0;
		usleep(10000);
	}
	fprintf(stderr, "FAIL timed out waiting for %s\n", path);
	return -1;
}

/* One subcommand of a test client: its name, argument count and body. */
struct e2e_cmd {
	const char *name;
	int nargs;
	int (*fn)(char **argv);
};

/*
 * Run the command argv[1] names with exactly its number of arguments, or
 * print "usage: USAGE" and return 2. stdout is line-buffered first: a
 * printed seed or ready line survives a crash, a timeout or a fork().
 */
static inline int e2e_dispatch(const struct e2e_cmd *cmds, size_t n, int argc,
			       char **argv, const char *usage)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; argc >= 2 && i < n; i++)
		if (strcmp(argv[1], cmds[i].name) == 0 && argc == cmds[i].nargs + 2)
			return cmds[i].fn(argv + 2);
	fprintf(stderr, "usage: %s\n", usage);
	return 2;
}

#endif /* UTMEM_E2E_CHECK_H */

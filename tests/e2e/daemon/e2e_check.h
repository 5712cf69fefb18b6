/*
 * e2e_check.h — the check that the daemon's end-to-end test clients share:
 * compare two integers, and on a mismatch print both (with utmem_strerror's
 * text for negative ones, which are -errno values) and count the failure.
 * Each client exits non-zero when `failures` is.
 */
#ifndef UTMEM_E2E_CHECK_H
#define UTMEM_E2E_CHECK_H

#include <stdio.h>

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

#endif /* UTMEM_E2E_CHECK_H */

/*
 * test_copy.c — uvr_copy_cold (src/proto/copy.h) and the record writer for
 * staged records: every byte lands, for sizes around the streaming
 * threshold and every alignment of source and destination, and nothing
 * around the destination is touched; uvr_reuse tells a rewritten extent
 * from a cold one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/region.h"

#define GUARD 64u

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

typedef void (*copy_fn)(void *dst, const void *src, size_t n);

static void check_copy_with(copy_fn fn, size_t n, unsigned salign, unsigned dalign)
{
	uint8_t *src = malloc(n + 64), *dst = malloc(n + 64 + 2 * GUARD);

	assert_non_null(src);
	assert_non_null(dst);
	fill(src + salign, n, (uint32_t)(n * 31u + salign * 7u + dalign));
	memset(dst, 0xa5, n + 64 + 2 * GUARD);
	fn(dst + GUARD + dalign, src + salign, n);
	if (memcmp(dst + GUARD + dalign, src + salign, n) != 0)
		fail_msg("size %zu, source +%u, destination +%u: bytes differ", n, salign,
			 dalign);
	for (size_t i = 0; i < GUARD + dalign; i++)
		assert_int_equal(dst[i], 0xa5);
	for (size_t i = GUARD + dalign + n; i < n + 64 + 2 * GUARD; i++)
		assert_int_equal(dst[i], 0xa5);
	free(src);
	free(dst);
}

static void check_copy(size_t n, unsigned salign, unsigned dalign)
{
	check_copy_with(uvr_copy_cold, n, salign, dalign);
}

/* Each streaming loop on its own (uvr_copy_cold picks one by the CPU), at
 * every destination alignment up to its store width and sizes around its
 * turn, from below one alignment head up. */
static void test_stream_loops(void **state)
{
#if defined(__x86_64__)
	static const size_t sizes[] = {0, 1, 15, 31, 32, 63, 64, 127, 128, 129,
				       255, 4096 + 77, 65536 + 33};
	copy_fn fns[2] = {uvr_stream_sse2, uvr_stream_avx2};
	unsigned nfn = uvr_have_avx2() ? 2 : 1;

	(void)state;
	if (nfn == 1)
		print_message("this CPU has no AVX2: its loop is not run here\n");
	for (unsigned f = 0; f < nfn; f++)
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
			for (unsigned sa = 0; sa < 9; sa += 4)
				for (unsigned da = 0; da < 34; da++)
					check_copy_with(fns[f], sizes[i], sa, da);
#else
	(void)state;
	skip(); /* streaming loops exist only on x86-64 */
#endif
}

static void test_sizes_and_alignments(void **state)
{
	static const size_t sizes[] = {0, 1, 15, 63, 64, 4096, UVR_STREAM_MIN - 1,
				       UVR_STREAM_MIN, UVR_STREAM_MIN + 1,
				       UVR_STREAM_MIN + 15, UVR_STREAM_MIN + 63,
				       128u * 1024u + 17u, 1u << 20, (1u << 20) + 5u};

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		for (unsigned sa = 0; sa < 17; sa += 3)
			for (unsigned da = 0; da < 34; da++)
				check_copy(sizes[i], sa, da);
}

/* A staged record written cold reads back as the plain writer's. */
static void test_record(void **state)
{
	size_t vlen = 200u * 1024u + 3u, klen = 13, len = UVR_REC_HDR + klen + vlen;
	uint8_t *val = malloc(vlen), *a = malloc(len), *b = malloc(len);

	(void)state;
	assert_non_null(val);
	assert_non_null(a);
	assert_non_null(b);
	fill(val, vlen, 99);
	uvr_rec_write(a, "a key of 13 B", klen, val, vlen);
	uvr_rec_write_cold(b, "a key of 13 B", klen, val, vlen);
	assert_memory_equal(a, b, len);
	free(val);
	free(a);
	free(b);
}

/* An extent written again soon is hot; after a window of other writes, or
 * once pushed out of the table by other extents, it is cold again. */
static void test_reuse(void **state)
{
	struct uvr_reuse r = {0};
	uint64_t mib = 1u << 20;

	(void)state;
	assert_int_equal(uvr_reuse_note(&r, 0, mib), 0);        /* first time */
	assert_int_equal(uvr_reuse_note(&r, 8 * mib, mib), 0);
	assert_int_equal(uvr_reuse_note(&r, 0, mib), 1);        /* 2 MiB later */
	assert_int_equal(uvr_reuse_note(&r, 8 * mib, mib), 1);
	/* More than the window of other values in between: cold. */
	for (uint64_t i = 0; i < 5; i++)
		assert_int_equal(uvr_reuse_note(&r, (100 + i) * mib, mib), 0);
	assert_int_equal(uvr_reuse_note(&r, 0, mib), 0);
	/* Within the window in bytes, but 16 other extents since: forgotten. */
	assert_int_equal(uvr_reuse_note(&r, 200 * mib, 4096), 0);
	for (uint64_t i = 0; i < UVR_REUSE_SLOTS; i++)
		assert_int_equal(uvr_reuse_note(&r, (300 + i) * mib, 4096), 0);
	assert_int_equal(uvr_reuse_note(&r, 200 * mib, 4096), 0);
	assert_int_equal(uvr_reuse_note(&r, 200 * mib, 4096), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes_and_alignments),
		cmocka_unit_test(test_stream_loops),
		cmocka_unit_test(test_record),
		cmocka_unit_test(test_reuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_alloc.c — the jemalloc configuration the store sets (src/store/
 * alloc.c, malloc_conf) is the one in force, and does what it is for.
 *
 * By default jemalloc gives a 4 KiB value a one-page slab of its own, with
 * an extent descriptor (~144 B of metadata) per value that it never hands
 * back to the OS: after a 1 GiB shrink of 4 KiB values RSS stayed 38 MiB
 * over the charge (docs/store.md, "Giving memory back"). alloc.c asks for
 * slabs of 8-16 regions for the classes from 4 KiB to 14 KiB. Checked here
 * twice: the slab geometry jemalloc reports for each of those classes, and
 * the slabs (each with its descriptor) that 8192 values of 4 KiB take.
 *
 * The store always allocates entries with jemalloc's mallocx(), also under
 * AddressSanitizer (which replaces malloc, not mallocx), so nothing here is
 * skipped: if jemalloc does not answer, the test fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "helpers.h"
#include "store/internal.h"

/* Each small class from 4 KiB to 14 KiB and the regions alloc.c asks for. */
static const struct {
	size_t size;
	unsigned nregs;
} classes[] = {
	{ 4096, 16 },  { 5120, 16 },  { 6144, 16 },  { 7168, 16 },
	{ 8192, 8 },   { 10240, 8 },  { 12288, 8 },  { 14336, 8 },
};

/* Whole slabs of regions (no wasted tail), as many as alloc.c set. */
static void test_slab_geometry(void **state)
{
	struct ust_alloc a = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
		unsigned nregs = 0;
		size_t slab = 0;

		assert_int_equal(ust_alloc_slab(&a, classes[i].size, &nregs, &slab), 0);
		printf("# %6zu B: %2u regions in a %6zu B slab\n", classes[i].size, nregs,
		       slab);
		assert_int_equal(nregs, classes[i].nregs);
		assert_int_equal(slab, (size_t)nregs * classes[i].size);
	}
	/* Above the small classes there is no slab to report. */
	{
		unsigned nregs = 0;
		size_t slab = 0;

		assert_int_equal(ust_alloc_slab(&a, 16384, &nregs, &slab), -ENOENT);
	}
}

/* Have jemalloc refresh the statistics read below. */
static void refresh_stats(void)
{
	uint64_t epoch = 1;
	size_t len = sizeof(epoch);

	assert_int_equal(mallctl("epoch", &epoch, &len, &epoch, len), 0);
}

/* Slabs of bin currently holding a region, over all arenas. */
static size_t curslabs(unsigned bin)
{
	size_t v = 0, vl = sizeof(v);
	char name[96];

	refresh_stats();
	snprintf(name, sizeof(name), "stats.arenas.%u.bins.%u.curslabs",
		 (unsigned)MALLCTL_ARENAS_ALL, bin);
	assert_int_equal(mallctl(name, &v, &vl, NULL, 0), 0);
	return v;
}

/* jemalloc's metadata in bytes (printed only: see below). */
static size_t metadata(void)
{
	size_t v = 0, vl = sizeof(v);

	refresh_stats();
	assert_int_equal(mallctl("stats.metadata", &v, &vl, NULL, 0), 0);
	return v;
}

#define NVALS 8192u

/*
 * The slabs, hence extent descriptors (128 B of metadata each, never
 * returned), that 8192 values of 4 KiB take through the store's allocator:
 * one per value with one-region slabs (measured 8190 more, with
 * MALLOC_CONF=slab_sizes:4096-4096:1), one per 16 values with alloc.c's
 * (measured 512). The bound, one per 4 values, is far from both. Slabs
 * are counted rather than stats.metadata compared: metadata also grows by
 * a 2 MiB radix-tree leaf whenever the values happen to reach a new GiB of
 * address space (seen under meson test, with ASLR).
 */
static void test_slabs_per_4k_value(void **state)
{
	struct ust_alloc a = { 0 };
	static void *p[NVALS];
	unsigned bin = 0;
	size_t s0, s1, m0, m1;

	(void)state;
	assert_int_equal(ust_alloc_init(&a, 0), 0);
	assert_int_equal(ust_alloc_bin(&a, 4096, &bin), 0);
	s0 = curslabs(bin);
	m0 = metadata();
	for (unsigned i = 0; i < NVALS; i++) {
		p[i] = ust_alloc(&a, 0, 4096);
		assert_non_null(p[i]);
		memset(p[i], 'v', 64);
	}
	s1 = curslabs(bin);
	m1 = metadata();
	printf("# %u values of 4096 B: %zu more slabs, jemalloc metadata +%zu B\n",
	       NVALS, s1 - s0, m1 - m0);
	for (unsigned i = 0; i < NVALS; i++)
		ust_alloc_free(&a, p[i], 4096);
	ust_alloc_trim(&a);
	ust_alloc_fini(&a);
	assert_true(s1 >= s0);
	assert_true(s1 - s0 <= NVALS / 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slab_geometry),
		cmocka_unit_test(test_slabs_per_4k_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

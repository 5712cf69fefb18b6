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
 * the metadata that 8192 values of 4 KiB cost (measured per value: 128 B
 * with one-region slabs, 8 B with 16 regions).
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

/* jemalloc's metadata in bytes, stats refreshed first. */
static size_t metadata(void)
{
	uint64_t epoch = 1;
	size_t len = sizeof(epoch), v = 0, vl = sizeof(v);

	assert_int_equal(mallctl("epoch", &epoch, &len, &epoch, len), 0);
	assert_int_equal(mallctl("stats.metadata", &v, &vl, NULL, 0), 0);
	return v;
}

#define NVALS 8192u

/*
 * The metadata 8192 values of 4 KiB add, through the store's allocator.
 * One-region slabs: a 128 B descriptor each (measured 1.0 MiB in all with
 * MALLOC_CONF=slab_sizes:4096-4096:1); 16-region slabs: one per 16 values
 * (measured 66 KiB, 8 B per value). The bound, 32 B per value, is far from
 * both.
 */
static void test_metadata_per_4k_value(void **state)
{
	struct ust_alloc a = { 0 };
	static void *p[NVALS];
	size_t before, after;

	(void)state;
	assert_int_equal(ust_alloc_init(&a, 0), 0);
	before = metadata();
	for (unsigned i = 0; i < NVALS; i++) {
		p[i] = ust_alloc(&a, 0, 4096);
		assert_non_null(p[i]);
		memset(p[i], 'v', 64);
	}
	after = metadata();
	printf("# %u values of 4096 B: jemalloc metadata +%zu B (%.1f B per value)\n",
	       NVALS, after - before, (double)(after - before) / NVALS);
	for (unsigned i = 0; i < NVALS; i++)
		ust_alloc_free(&a, p[i], 4096);
	ust_alloc_trim(&a);
	ust_alloc_fini(&a);
	assert_true(after >= before);
	assert_true(after - before <= (size_t)NVALS * 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slab_geometry),
		cmocka_unit_test(test_metadata_per_4k_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_store_rss.c — memory really returns at every value size (issue 10):
 * after a shrink, a flush, a destroy and eviction by PUTs, the process's
 * RSS must fall to within a documented margin of what the store charges
 * (docs/store.md, "Giving memory back"):
 *
 *     RSS - RSS_before_fill <= charged + charged / 8 + 3 MiB
 *
 * The survivors are made as scattered as they get: every 8th entry is read
 * before the shrink (so approximate LRU keeps exactly those), and pools and
 * tenants are filled interleaved (so dropping one leaves every slab and
 * every run of pages half used). Without compaction the shrink case keeps
 * RSS at the peak for values under 4 KiB (measured: 259 MiB RSS for a
 * 32 MiB charge at 64 B). Sizes from 64 B to 1 MiB, about 16 MiB each, so
 * the whole file runs in seconds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "helpers.h"

#define MiB (1024ull * 1024ull)
#define FILL (16 * MiB)
#define SLACK (3 * MiB)

static uint64_t base_rss;

/* Return every free page (a store freed without trimming leaves some). */
static void purge_all(void)
{
	mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
	mallctl("arena.4096.purge", NULL, NULL, NULL, 0); /* MALLCTL_ARENAS_ALL */
}

static ust_store *mk(uint64_t cap)
{
	struct ust_config c = { .capacity = cap };
	ust_store *st = NULL;

	assert_int_equal(ust_store_new(&c, &st), 0);
	return st;
}

static uint32_t tenant(ust_store *st, const char *name)
{
	struct ust_limits l = { 0, UINT64_MAX, 1 };
	uint32_t id;

	assert_int_equal(ust_tenant_add(st, name, &l, &id), 0);
	return id;
}

static uint32_t pool(ust_store *st, uint32_t t, const char *name, unsigned kind)
{
	uint32_t id;

	assert_int_equal(ust_pool_open(st, t, name, kind, UST_OPEN_CREATE, &id), 0);
	return id;
}

static uint64_t charged(ust_store *st)
{
	struct ust_store_info si;

	ust_store_info(st, &si);
	return si.charged;
}

static int key(char *k, size_t n, unsigned i)
{
	return snprintf(k, n, "key-%08u", i);
}

/* Put n values of vlen bytes with keys from first on into (t, p). */
static void fill(ust_store *st, uint32_t t, uint32_t p, unsigned first, unsigned n,
		 const void *val, size_t vlen)
{
	char k[32];

	for (unsigned i = first; i < first + n; i++)
		assert_int_equal(ust_put(st, t, p, k, (size_t)key(k, sizeof(k), i), val, vlen), 0);
}

/* Entries of vlen bytes in about bytes of charge. */
static unsigned count_for(uint64_t bytes, size_t vlen)
{
	return (unsigned)(bytes / charge_of(12, vlen));
}

/* Under AddressSanitizer RSS also holds shadow memory and the quarantine;
 * under ThreadSanitizer its shadow (helpers.h): RSS is not judged. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#if defined(UNDER_ASAN) || defined(UNDER_TSAN)
#define RSS_UNCHECKED 1
#endif

/* The margin, checked and printed: RSS over the start <= charged * 9/8 + SLACK. */
static void check(const char *what, size_t vlen, ust_store *st)
{
	uint64_t c = charged(st), rss = rss_bytes(), over = rss > base_rss ? rss - base_rss : 0;

	printf("# %7zu B %-9s charged %7.2f MiB, RSS over start %7.2f MiB (limit %7.2f)\n",
	       vlen, what, (double)c / MiB, (double)over / MiB,
	       (double)(c + c / 8 + SLACK) / MiB);
#ifndef RSS_UNCHECKED
	assert_true(over <= c + c / 8 + SLACK);
#endif
}

/* RSS must have risen with the fill, or the test proves nothing. */
static void check_full(ust_store *st, size_t vlen)
{
	uint64_t over = rss_bytes() - base_rss;

	assert_true(charged(st) >= FILL / 2);
#ifndef RSS_UNCHECKED
	assert_true(over + SLACK >= charged(st));
#endif
	(void)over;
	(void)vlen;
}

/*
 * Shrink: fill an ephemeral pool, read every 8th entry, shrink the capacity
 * to an eighth. LRU keeps the entries read, one in eight everywhere.
 */
static void shrink_case(size_t vlen, const void *val)
{
	ust_store *st = mk(FILL);
	uint32_t t = tenant(st, "a"), e = pool(st, t, "e", UST_POOL_EPHEMERAL);
	unsigned n = count_for(FILL - FILL / 64, vlen);
	static char buf[1 << 20];
	char k[32];

	fill(st, t, e, 0, n, val, vlen);
	check_full(st, vlen);
	/* The LRU clock moves once per 64 operations: every read is newer
	 * than all but the last 64 PUTs. */
	for (unsigned i = 0; i < n; i += 8)
		assert_int_equal(ust_get_buf(st, t, e, k, (size_t)key(k, sizeof(k), i), 0,
					     buf, sizeof(buf), NULL), 0);
	assert_int_equal(ust_set_capacity(st, FILL / 8), 0);
	check("shrink", vlen, st);
	ust_store_free(st);
	purge_all();
}

/*
 * Flush and destroy: two persistent pools of two tenants filled turn by
 * turn; flushing one leaves the other's entries in every slab; destroying
 * the other and removing its tenant must bring RSS back to the start.
 */
static void flush_case(size_t vlen, const void *val)
{
	ust_store *st = mk(2 * FILL);
	uint32_t a = tenant(st, "a"), b = tenant(st, "b");
	uint32_t pa = pool(st, a, "p", 0), pb = pool(st, b, "p", 0);
	unsigned n = count_for(FILL / 2, vlen);

	for (unsigned i = 0; i < n; i++) {
		fill(st, a, pa, i, 1, val, vlen);
		fill(st, b, pb, i, 1, val, vlen);
	}
	check_full(st, vlen);
	assert_int_equal(ust_pool_flush(st, a, pa), 0);
	check("flush", vlen, st);
	assert_int_equal(ust_pool_destroy(st, b, pb), 0);
	check("destroy", vlen, st);
	fill(st, a, pa, 0, n, val, vlen);
	assert_int_equal(ust_tenant_remove(st, a), 0);
	check("remove", vlen, st);
	ust_store_free(st);
	purge_all();
}

/*
 * Eviction by PUTs: a full ephemeral pool of vlen values is overwritten
 * with values of another size class; each PUT evicts the oldest, which
 * leaves the first class's slabs thinning out. PUTs do not trim (that
 * would cost every PUT a stats refresh); ust_trim() is what utmemd's
 * maintenance thread calls.
 */
static void evict_case(size_t vlen, const void *val)
{
	size_t other = vlen >= 4096 ? vlen / 2 + 1 : vlen * 3 + 40;
	ust_store *st = mk(FILL);
	uint32_t t = tenant(st, "a"), e = pool(st, t, "e", UST_POOL_EPHEMERAL);
	unsigned n = count_for(FILL - FILL / 64, vlen), m = count_for(FILL / 2, other);
	static char buf[1 << 20];
	char k[32];

	fill(st, t, e, 0, n, val, vlen);
	for (unsigned i = 0; i < n; i += 8)
		assert_int_equal(ust_get_buf(st, t, e, k, (size_t)key(k, sizeof(k), i), 0,
					     buf, sizeof(buf), NULL), 0);
	fill(st, t, e, n, m, val, other);
	ust_trim(st);
	check("evict", vlen, st);
	ust_store_free(st);
}

static const size_t sizes[] = { 64, 200, 1024, 3000, 4096, 5000, 16384, 131072, 1 << 20 };

static void test_rss_every_size(void **state)
{
	static char val[1 << 20];

	(void)state;
#ifdef UNDER_ASAN
	printf("# AddressSanitizer: RSS holds shadow memory and the quarantine; "
	       "the cases run (compaction under ASan) but RSS is not checked\n");
#endif
#ifdef UNDER_TSAN
	printf("# ThreadSanitizer: RSS holds its shadow memory; "
	       "the cases run but RSS is not checked\n");
#endif
	memset(val, 'v', sizeof(val));
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		purge_all();
		base_rss = rss_bytes();
		shrink_case(sizes[i], val);
		flush_case(sizes[i], val);
		evict_case(sizes[i], val);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rss_every_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_region_index.c — what a tenant's value-region index costs is charged
 * to that tenant (src/store/region.c, ust_region_settle; docs/security.md).
 *
 * Each region entry pays an average share of the index (UST_INDEX_COST).
 * The tenant knows its index's hash seed, so it can choose keys that share
 * one sub-table's two buckets: the seventh such key makes the sub-table
 * double, and keys that agree in more bits make it double again, so a few
 * entries hold a table many times their share. These tests craft such keys
 * (a search over key names for hashes with 20 chosen bits zero) and check
 * that the tables' cost beyond the entries' share and the region's free
 * allowance is charged, refuses the tenant's PUTs beyond its max, and is
 * given back when the table shrinks or the tenant goes; and that an honest
 * tenant's index, with the default allowance, costs it nothing extra.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "proto/region.h"
#include "store/internal.h"

#define MiB (1024ull * 1024)
#define REGION (16 * MiB)
#define SEED 0x5eed5eed12345678ull
#define CRAFTED 7 /* keys sharing two 3-slot buckets: one too many */
#define ZERO_BITS 7 /* of each bucket choice: the table doubles to 2^8 */

struct fx {
	ust_store *st;
	uint32_t t, p;
	int fd;
	void *base;
};

static void fx_open(struct fx *f, uint64_t index_free)
{
	struct ust_config cfg = {.capacity = 256 * MiB, .max_key = 64,
				 .max_value = 4 * MiB, .shards = 16};
	struct ust_region_cfg rc = {
		.nhaz = 4,
		.seed = SEED,
		.warm_max = 1 * MiB,
		.warm_hard = 4 * MiB,
		.warm_poll = 2 * MiB,
		.warm_idle_ns = 1000000000ull,
		.index_free = index_free,
	};

	memset(f, 0, sizeof(*f));
	assert_int_equal(ust_store_new(&cfg, &f->st), 0);
	assert_int_equal(region_tenant(f->st, "crafty", &rc, REGION, &f->t, &f->p,
				       &f->fd, &f->base), 0);
}

static void fx_close(struct fx *f)
{
	ust_store_free(f->st);
	munmap(f->base, REGION);
	close(f->fd);
}

static uint64_t index_held(ust_store *st)
{
	struct ust_store_info si;

	ust_store_info(st, &si);
	return si.index_held;
}

/* What the tables cost beyond n entries' share and index_free. */
static uint64_t excess(struct fx *f, uint64_t n, uint64_t index_free)
{
	struct ust_region_stats rs;
	uint64_t bytes;

	assert_int_equal(ust_region_stats(f->st, f->t, &rs), 0);
	bytes = rs.index_shared + rs.index_private;
	return bytes > n * UST_INDEX_COST + index_free
		       ? bytes - n * UST_INDEX_COST - index_free
		       : 0;
}

/* Out of line: inlined into a loop over a small buffer, xxhash's reads
 * trip GCC's array-bounds warning. */
__attribute__((noinline)) static uint64_t key_hash(uint32_t pool, const char *k,
						   size_t n)
{
	return uvr_hash(SEED, pool, k, n);
}

/*
 * Key names whose hash puts them in sub-table 0 with both bucket choices 0
 * at every size up to 2^ZERO_BITS buckets (as the tenant can compute from
 * the seed in its region's header).
 */
static void craft(uint32_t pool, char keys[CRAFTED][24])
{
	uint64_t mask = (1ull << ZERO_BITS) - 1;
	unsigned found = 0;

	for (uint64_t i = 0; found < CRAFTED; i++) {
		char k[24];
		int n = snprintf(k, sizeof(k), "c%" PRIu64, i);
		uint64_t h = key_hash(pool, k, (size_t)n);

		if (uvr_sub(h) == 0 && ((h >> 8) & mask) == 0 &&
		    ((h >> 28) & mask) == 0)
			memcpy(keys[found++], k, (size_t)n + 1);
	}
}

static void test_crafted_keys_are_charged(void **state)
{
	const uint64_t free_b = 4096;
	char keys[CRAFTED][24], v[100];
	struct ust_tenant *t;
	struct fx f;
	uint64_t held, charged;

	(void)state;
	fx_open(&f, free_b);
	memset(v, 'v', sizeof(v));
	craft(f.p, keys);
	for (unsigned i = 0; i < CRAFTED; i++)
		assert_int_equal(sput(f.st, f.t, f.p, keys[i], v, sizeof(v)), 0);
	/* Seven entries, a sub-table of at least 2^ZERO_BITS buckets. */
	held = index_held(f.st);
	assert_true(held >= (1u << ZERO_BITS) * UST_SINDEX_BUCKET_BYTES -
				    CRAFTED * UST_INDEX_COST - free_b);
	assert_int_equal(held, excess(&f, CRAFTED, free_b));

	/* The charge refuses PUTs: a max the entries fit under with room for
	 * another, but not with what the index holds (the store before this
	 * charge took the PUT). */
	t = ust_tenant_get(f.st, f.t);
	for (unsigned s = 0; s < f.st->nstripes; s++) { /* credit held ahead */
		pthread_mutex_lock(&f.st->stripes[s].lock);
		ust_credit_drop(f.st, t, s);
		pthread_mutex_unlock(&f.st->stripes[s].lock);
	}
	charged = atomic_load(&t->charged);
	{
		struct ust_limits lim = {0, charged - held / 2, 1};

		assert_int_equal(ust_tenant_set(f.st, f.t, &lim), 0);
	}
	assert_int_equal(sput(f.st, f.t, f.p, "honest", v, sizeof(v)), -EDQUOT);

	/* Removing the keys shrinks the table and gives the charge back. */
	for (unsigned i = 0; i < CRAFTED; i++)
		assert_int_equal(ust_invalidate(f.st, f.t, f.p, keys[i],
						strlen(keys[i])), 0);
	assert_int_equal(index_held(f.st), 0);
	assert_int_equal(sput(f.st, f.t, f.p, "honest", v, sizeof(v)), 0);
	fx_close(&f);
}

static void test_removed_tenant_takes_its_charge(void **state)
{
	char keys[CRAFTED][24], v[16] = "x";
	struct ust_store_info si;
	struct fx f;

	(void)state;
	fx_open(&f, 4096);
	craft(f.p, keys);
	for (unsigned i = 0; i < CRAFTED; i++)
		assert_int_equal(sput(f.st, f.t, f.p, keys[i], v, sizeof(v)), 0);
	assert_true(index_held(f.st) > 0);
	assert_int_equal(ust_tenant_remove(f.st, f.t), 0);
	ust_store_info(f.st, &si);
	assert_int_equal(si.index_held, 0);
	assert_int_equal(si.pinned, 0);
	assert_int_equal(si.charged, 0);
	assert_int_equal(atomic_load(&f.st->charged), 0);
	fx_close(&f);
}

static void test_honest_index_costs_nothing_more(void **state)
{
	struct fx f;
	char k[32], v[64];
	unsigned n = 5000;

	(void)state;
	fx_open(&f, 0); /* the default allowance */
	memset(v, 'h', sizeof(v));
	for (unsigned i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "key:%u", i);
		assert_int_equal(sput(f.st, f.t, f.p, k, v, sizeof(v)), 0);
	}
	assert_int_equal(excess(&f, n, UST_REGION_INDEX_FREE), 0);
	assert_int_equal(index_held(f.st), 0);
	/* Most go: the tables shrink before they cost more than the share
	 * of the entries left (or what is left is charged). */
	for (unsigned i = 0; i < n - 50; i++) {
		snprintf(k, sizeof(k), "key:%u", i);
		assert_int_equal(ust_invalidate(f.st, f.t, f.p, k, strlen(k)), 0);
	}
	{
		uint64_t ex = excess(&f, 50, UST_REGION_INDEX_FREE);
		uint64_t held = index_held(f.st);

		assert_true(held + 4096 > ex && ex + 4096 > held);
	}
	fx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crafted_keys_are_charged),
		cmocka_unit_test(test_removed_tenant_takes_its_charge),
		cmocka_unit_test(test_honest_index_costs_nothing_more),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

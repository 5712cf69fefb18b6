/*
 * test_region_slack.c — free slots among a value region's live records are
 * counted and given back (src/store/arena_slab.c, region.c, compact.c;
 * docs/security.md).
 *
 * A record under a page shares its page with its neighbours, so a freed
 * one stays resident until its whole slab empties. A tenant that frees all
 * but one record per page keeps every page while it is charged for one
 * record each, and if it keeps its charge level meanwhile (records of
 * another size class), nothing used to ask for a compaction pass. These
 * tests lay out exactly that, and a subtler one (every slab just over half
 * full, which the half-full rule never emptied), and check that the slack
 * is counted, asks for a pass, and that a pass gives the pages back with
 * every value intact; and that an honest pattern asks for none.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
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
#include "store/arena.h"
#include "store/internal.h"

#define MiB (1024ull * 1024)
#define REGION (64 * MiB)
#define FILL (8 * MiB)   /* bytes of slots the first size class takes */
#define SLACK_FREE (256u << 10)
#define VLEN 64          /* values of the first class */
#define VLEN2 200        /* another class, to keep the charge level */

struct fx {
	ust_store *st;
	uint32_t t, p;
	int fd;
	void *base;
	unsigned n;        /* keys of the first class */
	unsigned per_slab; /* its objects per slab */
};

static void fill(struct fx *f);

/* The store, tenant, region and pool, filled with n records (fill). */
static void fx_open(struct fx *f)
{
	struct ust_config cfg = {.capacity = 1024 * MiB, .max_key = 64,
				 .max_value = 4 * MiB, .shards = 16};
	struct ust_region_cfg rc = {
		.nhaz = 4,
		.seed = 0x51ac51ac51ac51acull,
		.warm_max = 1 * MiB,
		.warm_hard = 4 * MiB,
		.warm_poll = 2 * MiB,
		.warm_idle_ns = 1000000000ull,
		.slack_free = SLACK_FREE,
	};
	size_t slot;

	memset(f, 0, sizeof(*f));
	assert_int_equal(ust_store_new(&cfg, &f->st), 0);
	assert_int_equal(region_tenant(f->st, "sparse", &rc, REGION, &f->t, &f->p,
				       &f->fd, &f->base), 0);
	/* A record is [u32 klen][u32 0][key][value]; keys are 9 bytes. */
	slot = ust_arena_size(8 + 9 + VLEN);
	f->per_slab = UST_ARENA_PAGE / (unsigned)slot; /* one-page slabs here */
	assert_true(f->per_slab >= 8);
	f->n = (unsigned)(FILL / slot);
	fill(f);
}

static void fx_close(struct fx *f)
{
	ust_store_free(f->st);
	munmap(f->base, REGION);
	close(f->fd);
}

static void key_of(char k[16], unsigned i)
{
	snprintf(k, 16, "k:%07u", i); /* 9 bytes */
}

static void value_of(unsigned char *v, size_t n, unsigned i)
{
	for (size_t j = 0; j < n; j++)
		v[j] = (unsigned char)(i * 31u + j);
}

/* Fill the first class in key order: consecutive keys share a slab. */
static void fill(struct fx *f)
{
	unsigned char v[VLEN];
	char k[16];

	for (unsigned i = 0; i < f->n; i++) {
		key_of(k, i);
		value_of(v, sizeof(v), i);
		assert_int_equal(ust_put(f->st, f->t, f->p, k, strlen(k), v, sizeof(v)), 0);
	}
}

/* Keep the first `keep` keys of every run of per_slab, remove the rest. */
static void thin(struct fx *f, unsigned keep)
{
	char k[16];

	for (unsigned i = 0; i < f->n; i++) {
		if (i % f->per_slab < keep)
			continue;
		key_of(k, i);
		assert_int_equal(ust_invalidate(f->st, f->t, f->p, k, strlen(k)), 0);
	}
}

static void check_kept(struct fx *f, unsigned keep)
{
	unsigned char v[VLEN], want[VLEN];
	size_t vlen;
	char k[16];

	for (unsigned i = 0; i < f->n; i++) {
		int err;

		key_of(k, i);
		err = ust_get_buf(f->st, f->t, f->p, k, strlen(k), 0, v, sizeof(v), &vlen);
		if (i % f->per_slab >= keep) {
			assert_int_equal(err, -ENOENT);
			continue;
		}
		assert_int_equal(err, 0);
		assert_int_equal(vlen, sizeof(v));
		value_of(want, sizeof(want), i);
		assert_memory_equal(v, want, sizeof(v));
	}
}

static struct ust_region_stats rstats(struct fx *f)
{
	struct ust_region_stats rs;

	assert_int_equal(ust_region_stats(f->st, f->t, &rs), 0);
	return rs;
}

/* Run a whole compaction pass. */
static void compact(struct fx *f)
{
	struct ust_compact_info ci = {0};

	while (ust_compact(f->st, 0, &ci) == 0)
		;
	assert_true(ci.moved > 0);
}

static void test_one_record_per_slab(void **state)
{
	unsigned char v2[VLEN2];
	struct ust_store_info si;
	struct ust_region_stats rs;
	struct fx f;
	char k[16];

	(void)state;
	fx_open(&f);
	rs = rstats(&f);
	printf("filled: %u keys, slack %" PRIu64 " B\n", f.n, rs.slack_bytes);
	/* Slabs' tails (64 B of each page here) and the partly used slab of
	 * each class in use. */
	assert_true(rs.slack_bytes <= FILL / 32);
	thin(&f, 1);
	/* The charge kept level: as many records of another class. */
	memset(v2, 'w', sizeof(v2));
	for (unsigned i = 0; i < f.n - f.n / f.per_slab; i += 2) {
		snprintf(k, sizeof(k), "w:%07u", i);
		assert_int_equal(ust_put(f.st, f.t, f.p, k, strlen(k), v2, sizeof(v2)), 0);
	}
	rs = rstats(&f);
	printf("one per slab: %u keys, %u per slab, slack %" PRIu64 " B\n", f.n,
	       f.per_slab, rs.slack_bytes);
	assert_true(rs.slack_bytes >= FILL * 3 / 4);
	ust_store_info(f.st, &si);
	assert_int_equal(si.region_slack, rs.slack_bytes);

	/* The maintenance poll sees it and asks for a pass. */
	ust_regions_poll(f.st, NULL, NULL);
	assert_true(ust_compact_wanted(f.st));
	compact(&f);
	rs = rstats(&f);
	printf("after the pass: slack %" PRIu64 " B\n", rs.slack_bytes);
	assert_true(rs.slack_bytes <= 1 * MiB);
	check_kept(&f, 1);
	/* What is left asks for no other pass. */
	ust_regions_poll(f.st, NULL, NULL);
	assert_false(ust_compact_wanted(f.st));
	fx_close(&f);
}

static void test_slabs_just_over_half_full(void **state)
{
	struct ust_region_stats rs;
	struct fx f;
	unsigned keep;

	(void)state;
	fx_open(&f);
	keep = f.per_slab / 2 + 1;
	thin(&f, keep);
	rs = rstats(&f);
	printf("just over half: keep %u of %u, slack %" PRIu64 " B\n", keep,
	       f.per_slab, rs.slack_bytes);
	assert_true(rs.slack_bytes >= FILL / 3);
	/* No slab is half empty, yet most of them is slack: emptied too. */
	compact(&f);
	rs = rstats(&f);
	printf("after the pass: slack %" PRIu64 " B\n", rs.slack_bytes);
	assert_true(rs.slack_bytes <= FILL / 8);
	check_kept(&f, keep);
	fx_close(&f);
}

static void test_honest_removals_ask_nothing(void **state)
{
	struct ust_region_stats rs;
	struct fx f;
	char k[16];

	(void)state;
	fx_open(&f);
	/* One in ten goes, spread over every slab. */
	for (unsigned i = 0; i < f.n; i += 10) {
		key_of(k, i);
		assert_int_equal(ust_invalidate(f.st, f.t, f.p, k, strlen(k)), 0);
	}
	rs = rstats(&f);
	assert_true(rs.slack_bytes >= FILL / 12);
	ust_regions_poll(f.st, NULL, NULL);
	assert_false(ust_compact_wanted(f.st));
	fx_close(&f);
}

/* Watches a shrink: counts what it saw while one surely ran. */
struct watch {
	ust_store *st;
	atomic_bool done;
	unsigned long shrinking, wanted;
};

static void *watch_shrink(void *arg)
{
	struct watch *w = arg;

	while (!atomic_load(&w->done)) {
		bool s1 = ust_shrinking(w->st), want = ust_compact_wanted(w->st);

		if (s1 && ust_shrinking(w->st)) { /* one shrink: it ran throughout */
			w->shrinking++;
			w->wanted += want;
		}
	}
	return NULL;
}

/*
 * A shrink evicting small region records frees slack all along; a pass
 * beside it would move records it is about to evict (a 1 GiB shrink of
 * 256 B values took 54 s instead of 8). No pass is wanted while it runs,
 * though the slack asks for one before; the one after packs it.
 */
static void test_no_pass_while_shrinking(void **state)
{
	unsigned char v[VLEN2];
	struct watch w = {0};
	pthread_t th;
	uint32_t eph;
	struct fx f;
	char k[16];

	(void)state;
	fx_open(&f);
	thin(&f, 1);
	assert_int_equal(ust_pool_open(f.st, f.t, "e", UST_POOL_EPHEMERAL,
				       UST_OPEN_CREATE, &eph), 0);
	/* Another class than the thinned one, whose free slots it would fill. */
	memset(v, 'e', sizeof(v));
	for (unsigned i = 0; i < 50000; i++) {
		key_of(k, i);
		assert_int_equal(ust_put(f.st, f.t, eph, k, strlen(k), v, sizeof(v)), 0);
	}
	ust_regions_poll(f.st, NULL, NULL);
	assert_true(ust_compact_wanted(f.st));
	w.st = f.st;
	assert_int_equal(pthread_create(&th, NULL, watch_shrink, &w), 0);
	assert_int_equal(ust_set_capacity(f.st, 8 * MiB), 0);
	atomic_store(&w.done, true);
	assert_int_equal(pthread_join(th, NULL), 0);
	printf("during the shrink: %lu looks, %lu wanted a pass\n", w.shrinking, w.wanted);
	assert_true(w.shrinking > 0);
	assert_int_equal(w.wanted, 0);
	assert_false(ust_shrinking(f.st));
	/* The pass came after: the store's trim at the shrink's end ran it. */
	assert_true(rstats(&f).slack_bytes <= 1 * MiB);
	fx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_record_per_slab),
		cmocka_unit_test(test_slabs_just_over_half_full),
		cmocka_unit_test(test_honest_removals_ask_nothing),
		cmocka_unit_test(test_no_pass_while_shrinking),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

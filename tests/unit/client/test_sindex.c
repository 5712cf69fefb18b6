/*
 * test_sindex.c — the shared index end to end in one process: the store's
 * writer (src/store/sindex.c) against the client's one-sided reader
 * (src/client/sget.c) over a real memfd region.
 *
 * A small test heap stands in for the arena: it hands out records and
 * bucket arrays and, like the arena, never reuses a freed record while a
 * hazard word names it. Tests: rules (hit, miss, overwrite in place,
 * remove, growth, pool separation, out-of-bounds scribbles give -EAGAIN
 * not a crash); a randomized model check (seed printed, UTMEM_SEED
 * replays); and a race: a writer thread overwriting and removing keys whose
 * values encode (key, version) while a reader checks that every hit is a
 * whole value of that key — never torn, never another key's; and an
 * entry moved to its other bucket between the reader's two probes is
 * found, not missed.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/client_int.h"
#include "store/sindex.h"

#define REGION (64u << 20)
#define HAZ_OFF 4096u
#define NHAZ 4u
#define DIR_OFF (HAZ_OFF + NHAZ * UVR_LINE)
#define HEAP_OFF (64u * 1024u)

/* ---- a test heap: bump allocation plus size-exact free lists ---- */

struct fblk {
	uint64_t off, len;
	struct fblk *next;
};

struct theap {
	pthread_mutex_t lock;
	uint8_t *base;
	uint64_t next, end;
	struct fblk *free, *deferred;
	uint64_t *haz;
};

static int hazarded(struct theap *t, uint64_t off, uint64_t len)
{
	uvr_hazard_scan_fence();
	for (unsigned i = 0; i < NHAZ; i++) {
		uint64_t v = uvr_hazard_load(&t->haz[i * (UVR_LINE / 8)]);

		if (v >= off && v < off + len)
			return 1;
	}
	return 0;
}

static int64_t theap_alloc(void *ctx, size_t len)
{
	struct theap *t = ctx;
	struct fblk **pp, *b;
	int64_t off = -ENOMEM;

	len = (len + 63) & ~(size_t)63;
	pthread_mutex_lock(&t->lock);
	/* Deferred blocks whose hazard went away become free. */
	for (pp = &t->deferred; (b = *pp);) {
		if (!hazarded(t, b->off, b->len)) {
			*pp = b->next;
			b->next = t->free;
			t->free = b;
		} else {
			pp = &b->next;
		}
	}
	for (pp = &t->free; (b = *pp); pp = &b->next) {
		if (b->len == len) {
			*pp = b->next;
			off = (int64_t)b->off;
			free(b);
			goto out;
		}
	}
	if (t->next + len <= t->end) {
		off = (int64_t)t->next;
		t->next += len;
	}
out:
	pthread_mutex_unlock(&t->lock);
	return off;
}

static void theap_release(void *ctx, uint64_t off, size_t len)
{
	struct theap *t = ctx;
	struct fblk *b = malloc(sizeof(*b));

	assert_non_null(b);
	b->off = off;
	b->len = (len + 63) & ~(size_t)63;
	pthread_mutex_lock(&t->lock);
	if (hazarded(t, b->off, b->len)) {
		b->next = t->deferred;
		t->deferred = b;
	} else {
		b->next = t->free;
		t->free = b;
	}
	pthread_mutex_unlock(&t->lock);
}

struct env {
	uint8_t *base;
	struct theap heap;
	struct ust_sindex x;
	struct uclient_region r;
};

static void env_init(struct env *e, uint64_t seed)
{
	struct ust_sindex_mem mem = {theap_alloc, theap_release, &e->heap};
	int fd = memfd_create("test-sindex", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, REGION), 0);
	e->base = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(e->base != MAP_FAILED);
	close(fd);
	pthread_mutex_init(&e->heap.lock, NULL);
	e->heap.base = e->base;
	e->heap.next = HEAP_OFF;
	e->heap.end = REGION;
	e->heap.free = e->heap.deferred = NULL;
	e->heap.haz = (uint64_t *)(e->base + HAZ_OFF);
	assert_int_equal(ust_sindex_init(&e->x, e->base, REGION, DIR_OFF, seed,
					 &mem), 0);
	e->r = (struct uclient_region){
		.base = e->base, .size = REGION, .heap_off = HEAP_OFF,
		.seed = seed, .dir = (const struct uvr_dir *)(e->base + DIR_OFF),
		.hazard = e->heap.haz,
	};
}

static void env_fini(struct env *e)
{
	struct fblk *b, *n;

	ust_sindex_fini(&e->x);
	for (b = e->heap.free; b; b = n) {
		n = b->next;
		free(b);
	}
	for (b = e->heap.deferred; b; b = n) {
		n = b->next;
		free(b);
	}
	munmap(e->base, REGION);
}

/* Write a record for key/value into the heap; returns its offset. */
static uint64_t rec_put(struct env *e, const void *key, uint32_t klen,
			const void *val, uint32_t vlen)
{
	int64_t off = theap_alloc(&e->heap, uvr_rec_size(klen, vlen));
	uint32_t zero = 0;

	assert_true(off > 0);
	memcpy(e->base + off, &klen, 4);
	memcpy(e->base + off + 4, &zero, 4);
	memcpy(e->base + off + UVR_REC_HDR, key, klen);
	memcpy(e->base + off + UVR_REC_HDR + klen, val, vlen);
	return (uint64_t)off;
}

struct got {
	char buf[4096];
	size_t len;
	int calls;
};

static int take(void *ctx, const void *val, size_t len)
{
	struct got *g = ctx;

	if (len > sizeof(g->buf))
		return -ENOBUFS;
	memcpy(g->buf, val, len);
	g->len = len;
	g->calls++;
	return 0;
}

static int sget(struct env *e, uint32_t pool, const char *key, struct got *g)
{
	memset(g, 0, sizeof(*g));
	return uclient_sget(&e->r, pool, key, strlen(key), take, g);
}

/* Index key->val for pool, writing the record; returns the record offset. */
static uint64_t put(struct env *e, uint32_t pool, const char *key,
		    const char *val)
{
	uint64_t off = rec_put(e, key, (uint32_t)strlen(key), val,
			       (uint32_t)strlen(val));
	uint64_t h = uvr_hash(e->x.seed, pool, key, strlen(key));

	assert_int_equal(ust_sindex_insert(&e->x, h, off, pool,
					   (uint32_t)strlen(val)), 0);
	return off;
}

static void test_rules(void **state)
{
	struct env e;
	struct got g;
	uint64_t off, off2, h;

	(void)state;
	env_init(&e, 0x1234);
	assert_int_equal(sget(&e, 1, "nothing", &g), -ENOENT);
	off = put(&e, 1, "alpha", "one");
	assert_int_equal(sget(&e, 1, "alpha", &g), 0);
	assert_int_equal(g.len, 3);
	assert_memory_equal(g.buf, "one", 3);
	/* Pools are separate. */
	assert_int_equal(sget(&e, 2, "alpha", &g), -ENOENT);
	/* Overwrite in place. */
	h = uvr_hash(e.x.seed, 1, "alpha", 5);
	off2 = rec_put(&e, "alpha", 5, "second", 6);
	assert_int_equal(ust_sindex_replace(&e.x, h, off, off2, 6), 0);
	assert_int_equal(sget(&e, 1, "alpha", &g), 0);
	assert_memory_equal(g.buf, "second", 6);
	assert_int_equal(ust_sindex_replace(&e.x, h, off, off2, 6), -ENOENT);
	/* Remove. */
	assert_int_equal(ust_sindex_remove(&e.x, h, off2), 0);
	assert_int_equal(ust_sindex_remove(&e.x, h, off2), -ENOENT);
	assert_int_equal(sget(&e, 1, "alpha", &g), -ENOENT);
	/* An empty value. */
	put(&e, 1, "empty", "");
	assert_int_equal(sget(&e, 1, "empty", &g), 0);
	assert_int_equal(g.len, 0);
	assert_int_equal(g.calls, 1);
	/* The hazard word is clear after a read. */
	assert_int_equal(uvr_hazard_load(e.r.hazard), 0);
	env_fini(&e);
}

static void test_growth(void **state)
{
	struct env e;
	struct got g;
	char key[32], val[32];
	uint64_t shared, priv;

	(void)state;
	env_init(&e, 99);
	for (int i = 0; i < 20000; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		snprintf(val, sizeof(val), "val-%d", i * 7);
		put(&e, 3, key, val);
	}
	for (int i = 0; i < 20000; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		snprintf(val, sizeof(val), "val-%d", i * 7);
		assert_int_equal(sget(&e, 3, key, &g), 0);
		assert_int_equal(g.len, strlen(val));
		assert_memory_equal(g.buf, val, g.len);
	}
	ust_sindex_usage(&e.x, &shared, &priv);
	/* Two-choice buckets stay well filled: under 64 shared bytes/entry. */
	print_message("index: %llu shared + %llu private bytes for 20000 entries\n",
		      (unsigned long long)shared, (unsigned long long)priv);
	assert_true(shared / 20000 < 64);
	/* Removing 15 of every 16 entries gives the index's memory back. */
	for (int i = 0; i < 20000; i++) {
		uint64_t h, off = 0;
		uint32_t si;

		if (i % 16 == 0)
			continue;
		snprintf(key, sizeof(key), "key-%d", i);
		h = uvr_hash(e.x.seed, 3, key, strlen(key));
		si = uvr_sub(h);
		for (uint32_t k = 0; k < e.x.sub[si].nb * UVR_SLOTS; k++)
			if (e.x.sub[si].sh[k].off && e.x.sub[si].sh[k].h == h)
				off = e.x.sub[si].sh[k].off;
		assert_true(off != 0);
		assert_int_equal(ust_sindex_remove(&e.x, h, off), 0);
	}
	{
		uint64_t shared2, priv2;

		ust_sindex_usage(&e.x, &shared2, &priv2);
		print_message("after removing 15/16: %llu shared + %llu private\n",
			      (unsigned long long)shared2, (unsigned long long)priv2);
		assert_true(shared2 * 4 <= shared);
	}
	for (int i = 0; i < 20000; i += 16) {
		snprintf(key, sizeof(key), "key-%d", i);
		snprintf(val, sizeof(val), "val-%d", i * 7);
		assert_int_equal(sget(&e, 3, key, &g), 0);
		assert_memory_equal(g.buf, val, g.len);
	}
	env_fini(&e);
}

/*
 * Emptying a large index: each sub-table shrinks in a few rebuilds. A
 * rebuild that did not fit was tried again at every removal (and the
 * rebuilds placed entries without moving any, so at half load large
 * tables rarely fit): a flush of 300,000 region entries took 15 s.
 */
static void test_shrink_passes(void **state)
{
	enum { N = 200000 };
	static uint64_t offs[N];
	char key[32];
	uint64_t before, shared, priv;
	struct env e;

	(void)state;
	env_init(&e, 7);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		offs[i] = put(&e, 5, key, "v");
	}
	before = e.x.rebuilds;
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(ust_sindex_remove(&e.x, uvr_hash(e.x.seed, 5, key,
								 strlen(key)),
						   offs[i]), 0);
	}
	ust_sindex_usage(&e.x, &shared, &priv);
	print_message("emptying %d entries: %llu rebuilds; %llu shared bytes left\n",
		      N, (unsigned long long)(e.x.rebuilds - before),
		      (unsigned long long)shared);
	/* 64 sub-tables, each halving from ~2^12 buckets to 16 at most. */
	assert_true(e.x.rebuilds - before <= UVR_NSUB * 16);
	assert_true(shared <= UVR_NSUB * 16 * sizeof(struct uvr_bucket));
	env_fini(&e);
}

static void test_scribble(void **state)
{
	struct env e;
	struct got g;
	struct uvr_dir *d;
	uint64_t h;

	(void)state;
	env_init(&e, 5);
	put(&e, 1, "k", "v");
	/* A tenant scribbling on its directory: the reader must not fault. */
	h = uvr_hash(e.x.seed, 1, "k", 1);
	d = (struct uvr_dir *)(e.base + DIR_OFF) + uvr_sub(h);
	d->off = REGION - 64;
	d->mask = 1023;
	assert_int_equal(sget(&e, 1, "k", &g), -EAGAIN);
	d->off = 1;
	assert_int_equal(sget(&e, 1, "k", &g), -EAGAIN);
	/* An odd sequence forever: bounded retries, then -EAGAIN. */
	d->seq = 1;
	assert_int_equal(sget(&e, 1, "k", &g), -EAGAIN);
	env_fini(&e);
}

/* ---- randomized comparison against a model ---- */

#define MKEYS 512

static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint64_t test_seed(void)
{
	const char *s = getenv("UTMEM_SEED");

	if (s && *s)
		return strtoull(s, NULL, 0);
	return (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
}

static void test_model(void **state)
{
	struct env e;
	struct got g;
	uint64_t seed = test_seed();
	uint64_t off[MKEYS] = {0}, len[MKEYS] = {0};
	uint32_t ver[MKEYS] = {0};
	char key[32], val[64];

	(void)state;
	print_message("sindex model: seed %llu (UTMEM_SEED replays)\n",
		      (unsigned long long)seed);
	rng_state = seed | 1;
	env_init(&e, seed);
	for (int step = 0; step < 50000; step++) {
		unsigned k = (unsigned)(rnd() % MKEYS);
		uint32_t pool = 1 + k % 3;
		uint64_t h;
		int rc;

		snprintf(key, sizeof(key), "m%u", k);
		h = uvr_hash(e.x.seed, pool, key, strlen(key));
		switch (rnd() % 4) {
		case 0:
		case 1: /* put or overwrite */
			ver[k]++;
			snprintf(val, sizeof(val), "%u:%u:%.*s", k, ver[k],
				 (int)(rnd() % 40), "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
			if (off[k]) {
				uint64_t n = rec_put(&e, key, (uint32_t)strlen(key),
						     val, (uint32_t)strlen(val));

				assert_int_equal(ust_sindex_replace(&e.x, h, off[k], n,
								    (uint32_t)strlen(val)), 0);
				theap_release(&e.heap, off[k], len[k]);
				off[k] = n;
			} else {
				off[k] = put(&e, pool, key, val);
			}
			len[k] = uvr_rec_size(strlen(key), strlen(val));
			break;
		case 2: /* remove */
			if (off[k]) {
				assert_int_equal(ust_sindex_remove(&e.x, h, off[k]), 0);
				theap_release(&e.heap, off[k], len[k]);
				off[k] = 0;
			}
			break;
		default: /* read and compare */
			rc = sget(&e, pool, key, &g);
			if (!off[k]) {
				assert_int_equal(rc, -ENOENT);
				break;
			}
			assert_int_equal(rc, 0);
			snprintf(val, sizeof(val), "%u:%u:", k, ver[k]);
			assert_true(g.len >= strlen(val));
			assert_memory_equal(g.buf, val, strlen(val));
			break;
		}
	}
	env_fini(&e);
}

/* ---- a writer racing a one-sided reader ---- */

#define RKEYS 64
#define RVAL 1024

struct race {
	struct env *e;
	int stop; /* atomic: set by the reader, polled by the writer */
	uint64_t reads, hits, torn;
	uint64_t seed;
};

/* A value for (k, v): every 8-byte word holds k << 32 | v. */
static void fill(uint8_t *p, uint32_t k, uint32_t v)
{
	uint64_t w = (uint64_t)k << 32 | v;

	for (size_t i = 0; i + 8 <= RVAL; i += 8)
		memcpy(p + i, &w, 8);
}

static void *writer(void *arg)
{
	struct race *r = arg;
	struct env *e = r->e;
	uint64_t off[RKEYS] = {0}, s = r->seed | 1;
	uint32_t v = 0;
	uint8_t val[RVAL];
	char key[16];

	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		uint32_t k;
		uint64_t h;

		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		k = (uint32_t)(s % RKEYS);
		snprintf(key, sizeof(key), "r%u", k);
		h = uvr_hash(e->x.seed, 7, key, strlen(key));
		if (off[k] && (s >> 40) % 4 == 0) {
			assert_int_equal(ust_sindex_remove(&e->x, h, off[k]), 0);
			theap_release(&e->heap, off[k], uvr_rec_size(strlen(key), RVAL));
			off[k] = 0;
			continue;
		}
		fill(val, k, ++v);
		{
			uint64_t n = rec_put(e, key, (uint32_t)strlen(key), val, RVAL);

			if (off[k]) {
				assert_int_equal(ust_sindex_replace(&e->x, h, off[k], n, RVAL), 0);
				theap_release(&e->heap, off[k],
					      uvr_rec_size(strlen(key), RVAL));
			} else {
				assert_int_equal(ust_sindex_insert(&e->x, h, n, 7, RVAL), 0);
			}
			off[k] = n;
		}
	}
	return NULL;
}

struct check {
	uint32_t k;
	int bad;
};

static int verify(void *ctx, const void *val, size_t len)
{
	struct check *c = ctx;
	const uint8_t *p = val;
	uint64_t w0, w;

	if (len != RVAL) {
		c->bad = 1;
		return 0;
	}
	memcpy(&w0, p, 8);
	if ((uint32_t)(w0 >> 32) != c->k)
		c->bad = 1;
	for (size_t i = 8; i + 8 <= RVAL; i += 8) {
		memcpy(&w, p + i, 8);
		if (w != w0)
			c->bad = 1;
	}
	return 0;
}

static void test_race(void **state)
{
	struct env e;
	struct race r = {0};
	pthread_t t;
	time_t end;

	(void)state;
	r.seed = test_seed();
	print_message("sindex race: seed %llu\n", (unsigned long long)r.seed);
	env_init(&e, r.seed);
	r.e = &e;
	assert_int_equal(pthread_create(&t, NULL, writer, &r), 0);
	end = time(NULL) + 2;
	while (time(NULL) < end) {
		for (int i = 0; i < 1000; i++) {
			struct check c = {.k = (uint32_t)(r.reads % RKEYS)};
			char key[16];
			int rc;

			snprintf(key, sizeof(key), "r%u", c.k);
			rc = uclient_sget(&e.r, 7, key, strlen(key), verify, &c);
			r.reads++;
			if (rc == 0)
				r.hits++;
			if (c.bad)
				r.torn++;
			assert_true(rc == 0 || rc == -ENOENT || rc == -EAGAIN);
		}
	}
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	print_message("sindex race: %llu reads, %llu hits, %llu bad\n",
		      (unsigned long long)r.reads, (unsigned long long)r.hits,
		      (unsigned long long)r.torn);
	assert_int_equal(r.torn, 0);
	assert_true(r.hits > 0);
	env_fini(&e);
}

/* ---- an entry moved between the reader's two probes ---- */

/*
 * uclient_sget() probes a key's first bucket, then its second. utmemd
 * moves an entry to its other bucket (cuckoo displacement) by writing the
 * new slot, then clearing the old one, each under that bucket's version.
 * A reader that saw the first bucket before the write and sees the second
 * after the clear found the key in neither: it must notice that the first
 * bucket changed and read again, never report a miss. The hook below makes
 * that interleaving happen every time: called between the probes, it does
 * the move exactly as sindex.c's displace() publishes it.
 */
static struct {
	struct env *e;
	uint32_t pool;
	const char *key;
	int moves;
} mv;

static struct uvr_bucket *bucket_of(struct env *e, uint64_t h, int which)
{
	const struct uvr_dir *d = &e->r.dir[uvr_sub(h)];
	uint32_t b[2];

	uvr_buckets(h, d->mask, &b[0], &b[1]);
	return (struct uvr_bucket *)(e->base + d->off) + b[which];
}

void uclient_sget_between(void);
void uclient_sget_between(void)
{
	uint64_t h;
	struct uvr_bucket *from, *to;
	unsigned k, j;

	if (!mv.e)
		return;
	h = uvr_hash(mv.e->x.seed, mv.pool, mv.key, strlen(mv.key));
	from = bucket_of(mv.e, h, 1);
	to = bucket_of(mv.e, h, 0);
	for (k = 0; k < UVR_SLOTS && uvr_ref_tag(from->slot[k].ref) != uvr_tag(h); k++)
		;
	for (j = 0; j < UVR_SLOTS && to->slot[j].ref; j++)
		;
	if (k == UVR_SLOTS || j == UVR_SLOTS)
		return; /* not where the test put it: the test fails on moves */
	uvr_seq_open(&to->seq, to->seq);
	to->slot[j] = from->slot[k];
	uvr_seq_close(&to->seq, to->seq - 1);
	uvr_seq_open(&from->seq, from->seq);
	__atomic_store_n(&from->slot[k].ref, 0, __ATOMIC_RELAXED);
	uvr_seq_close(&from->seq, from->seq - 1);
	mv.moves++;
	mv.e = NULL; /* once */
}

static void test_moved_between_probes(void **state)
{
	struct env e;
	struct got g;
	char key[16];
	uint64_t h;
	int n;

	(void)state;
	env_init(&e, 42);
	/* A key whose entry sits in its second bucket with room in its first:
	 * fill its first bucket, insert it, then empty the first again. */
	for (n = 0;; n++) {
		struct uvr_bucket *b0;

		snprintf(key, sizeof(key), "m%d", n);
		h = uvr_hash(e.x.seed, 7, key, strlen(key));
		put(&e, 7, key, "moving");
		b0 = bucket_of(&e, h, 0);
		if (uvr_ref_tag(bucket_of(&e, h, 1)->slot[0].ref) == uvr_tag(h) ||
		    uvr_ref_tag(bucket_of(&e, h, 1)->slot[1].ref) == uvr_tag(h) ||
		    uvr_ref_tag(bucket_of(&e, h, 1)->slot[2].ref) == uvr_tag(h)) {
			int free_slots = 0;

			for (unsigned k = 0; k < UVR_SLOTS; k++)
				free_slots += b0->slot[k].ref == 0;
			if (free_slots)
				break;
		}
		assert_true(n < 100000);
	}
	mv = (__typeof__(mv)){.e = &e, .pool = 7, .key = key};
	assert_int_equal(sget(&e, 7, key, &g), 0);
	assert_int_equal(mv.moves, 1);
	assert_int_equal(g.len, 6);
	assert_memory_equal(g.buf, "moving", 6);
	env_fini(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_shrink_passes),
		cmocka_unit_test(test_scribble),
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_race),
		cmocka_unit_test(test_moved_between_probes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

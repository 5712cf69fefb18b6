/*
 * test_arena.c — the value-region allocator (src/store/arena*.c) against
 * its rules: size classes and alignment, an exact and monotonic charge,
 * coalescing, punching that really lowers the memfd's st_blocks, a bounded
 * warm cache, hazards that defer reuse and force() that overrides them,
 * scrub() bounding what a scribbling tenant makes the host hold, -ENOMEM on
 * exhaustion and recovery after it, the compaction hint, invalid releases;
 * then a randomized model test (thousands of allocations and releases of
 * 1 B .. 2 MiB against a reference: no overlap, contents intact, every
 * counter right after each step; seed printed, UTMEM_SEED replays it,
 * UTMEM_ARENA_STEPS sets the length) and multi-threaded stress runs.
 *
 * Regions are memfds with the hazard table in their first page and the
 * heap after it, as utmemd lays them out.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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

#include "store/arena.h"

#define PG 4096u
#define KiB 1024ull
#define MiB (1024ull * 1024)

/* One test region: page 0 holds the hazard words, the heap follows. */
struct fx {
	int fd;
	char *base;
	uint64_t size;
	uint64_t heap_off, heap_len;
	volatile uint64_t *haz;
	uint32_t nhaz;
	size_t stride; /* in bytes */
	ust_arena *a;
};

/* An arena over a fresh memfd; cfg gives the warm cache's settings. */
static void fx_open_cfg(struct fx *f, uint64_t heap_len, struct ust_arena_cfg cfg,
			uint32_t nhaz, size_t stride)
{

	memset(f, 0, sizeof(*f));
	f->heap_off = PG;
	f->heap_len = heap_len;
	f->size = PG + heap_len;
	f->fd = memfd_create("test-arena", MFD_CLOEXEC);
	assert_true(f->fd >= 0);
	assert_int_equal(ftruncate(f->fd, (off_t)f->size), 0);
	f->base = mmap(NULL, f->size, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
	assert_true(f->base != MAP_FAILED);
	f->haz = (volatile uint64_t *)(void *)f->base;
	f->nhaz = nhaz;
	f->stride = stride ? stride : 8;
	assert_true(nhaz * f->stride <= PG);
	/* Fault the hazard page in now so st_blocks baselines include it. */
	f->base[0] = 0;
	cfg.base = f->base;
	cfg.fd = f->fd;
	cfg.heap_off = f->heap_off;
	cfg.heap_len = heap_len;
	cfg.hazards = nhaz ? (const volatile void *)f->base : NULL;
	cfg.nhazards = nhaz;
	cfg.hazard_stride = f->stride;
	assert_int_equal(ust_arena_create(&cfg, &f->a), 0);
}

static void fx_open_hard(struct fx *f, uint64_t heap_len, size_t warm_max,
			 size_t warm_hard, uint32_t nhaz, size_t stride)
{
	struct ust_arena_cfg cfg = { .warm_max = warm_max, .warm_hard = warm_hard };

	fx_open_cfg(f, heap_len, cfg, nhaz, stride);
}

static void fx_open(struct fx *f, uint64_t heap_len, size_t warm_max,
		    uint32_t nhaz, size_t stride)
{
	fx_open_hard(f, heap_len, warm_max, 0, nhaz, stride);
}

static void fx_close(struct fx *f)
{
	ust_arena_destroy(f->a);
	munmap(f->base, f->size);
	close(f->fd);
}

static void haz_set(struct fx *f, uint32_t i, uint64_t v)
{
	volatile uint64_t *w = (volatile uint64_t *)(void *)(f->base + (size_t)i * f->stride);

	__atomic_store_n(w, v, __ATOMIC_SEQ_CST);
}

static int64_t resident(struct fx *f)
{
	int64_t r = ust_arena_resident(f->a);

	assert_true(r >= 0);
	return r;
}

static struct ust_arena_stats stats(struct fx *f)
{
	struct ust_arena_stats s;

	ust_arena_stats(f->a, &s);
	return s;
}

static int64_t xalloc(struct fx *f, size_t len)
{
	size_t occ = 0;
	int64_t off = ust_arena_alloc(f->a, len, &occ);

	assert_true(off > 0);
	assert_int_equal(occ, ust_arena_size(len));
	return off;
}

/* Write every page of [off, off + len) so that it is really allocated. */
static void touch(struct fx *f, uint64_t off, uint64_t len)
{
	memset(f->base + off, 0xa5, len);
}

/* n runs of len bytes, each written, one after the other into r[]. */
static void xalloc_touched(struct fx *f, int64_t *r, int n, size_t len)
{
	for (int i = 0; i < n; i++) {
		r[i] = xalloc(f, len);
		touch(f, (uint64_t)r[i], len);
	}
}

/* Release r[0..n) of len bytes each, in order. */
static void release_all(struct fx *f, const int64_t *r, int n, size_t len)
{
	for (int i = 0; i < n; i++)
		assert_int_equal(ust_arena_release(f->a, (uint64_t)r[i], len), 0);
}

/* ---- the documented layout and charge, recomputed independently ---- */

/*
 * docs: a class's slab is the smallest run of 1..16 pages holding at least
 * four objects whose tail waste is at most 1/64 of it, else the least
 * wasteful such run; where no run of 16 pages holds four, the same over
 * runs of up to 64 pages. Returns the objects per slab, and the pages in
 * *pages.
 */
static unsigned slab_layout(size_t size, unsigned *pages)
{
	unsigned best = 0, best_n = 0, maxp = 16 * PG >= 4 * size ? 16 : 64;
	double best_w = 2;

	for (unsigned n = 1; n <= maxp; n++) {
		size_t span = (size_t)n * PG;
		double w;

		if (span < 4 * size)
			continue;
		w = (double)(span % size) / (double)span;
		if (w <= 1.0 / 64) {
			best = (unsigned)(span / size);
			best_n = n;
			break;
		}
		if (w < best_w) {
			best_w = w;
			best = (unsigned)(span / size);
			best_n = n;
		}
	}
	if (pages)
		*pages = best_n;
	return best;
}

static unsigned slab_objs(size_t size)
{
	return slab_layout(size, NULL);
}

/* docs: size + ceil(224 / objects per slab) for slab sizes, pages + 224 above. */
static uint64_t charge_model(size_t len)
{
	size_t sz = ust_arena_size(len);

	if (len <= UST_ARENA_SMALL_MAX)
		return sz + (224 + slab_objs(sz) - 1) / slab_objs(sz);
	return sz + 224;
}

/* ---- rules ---- */

static void test_classes(void **state)
{
	size_t prev = 0;

	(void)state;
	for (unsigned i = 0; i < UST_ARENA_NCLASSES; i++) {
		size_t s = ust_arena_class_size(i);

		assert_true(s > prev);
		assert_int_equal(s % 16, 0);
		assert_int_equal(ust_arena_class_of(s), i);
		if (s <= 128)
			assert_int_equal(s, 16 * (i + 1));
		prev = s;
	}
	assert_int_equal(prev, UST_ARENA_SMALL_MAX);
	/* a power of two from 512 B to 16 KiB plus up to 64 bytes of header and key */
	for (size_t p2 = 512; p2 <= 16384; p2 *= 2) {
		assert_int_equal(ust_arena_size(p2 + 1), p2 + 64);
		assert_int_equal(ust_arena_size(p2 + 64), p2 + 64);
		assert_true(ust_arena_size(p2 + 65) > p2 + 64);
	}
	for (size_t len = 1; len <= 2 * MiB + 3 * PG; len++) {
		size_t s = ust_arena_size(len);

		assert_true(s >= len);
		if (len <= UST_ARENA_SMALL_MAX) {
			unsigned c = ust_arena_class_of(len);

			/* the smallest class that fits */
			assert_int_equal(s, ust_arena_class_size(c));
			assert_true(c == 0 || ust_arena_class_size(c - 1) < len);
			if (len <= 128)
				assert_true(s - len < 16);
			else
				assert_true((s - len) * 4 < len); /* under 25 % */
		} else {
			assert_int_equal(s % PG, 0);
			assert_true(s - len < PG);
			assert_true((s - len) * 4 < len);
		}
	}
	assert_int_equal(ust_arena_size(0), 16);
}

/* Every class's slabs hold the objects and span the pages the rule says. */
static void test_slab_layout(void **state)
{
	static int64_t o[257];
	struct ust_arena_stats s;
	struct fx f;

	(void)state;
	fx_open(&f, 16 * MiB, 0, 0, 0);
	for (unsigned c = 0; c < UST_ARENA_NCLASSES; c++) {
		size_t size = ust_arena_class_size(c);
		unsigned pages, n = slab_layout(size, &pages);

		assert_true(n >= 1 && n <= 256);
		for (unsigned i = 0; i < n; i++)
			o[i] = xalloc(&f, size);
		s = stats(&f);
		assert_int_equal(s.slabs, 1);
		assert_int_equal(s.slab_bytes, (uint64_t)pages * PG);
		o[n] = xalloc(&f, size);
		assert_int_equal(stats(&f).slabs, 2);
		for (unsigned i = 0; i <= n; i++)
			assert_int_equal(ust_arena_release(f.a, (uint64_t)o[i], size), 0);
		assert_int_equal(stats(&f).slabs, 0);
	}
	/* power-of-two sizes up to a page are aligned to their size */
	for (size_t p2 = 16; p2 <= PG; p2 *= 2)
		for (int i = 0; i < 300; i++)
			assert_int_equal(xalloc(&f, p2) % (int64_t)p2, 0);
	fx_close(&f);
}

static void test_charge_exact_monotonic(void **state)
{
	uint64_t prev = 0, before[64], i = 0;
	struct fx f;

	(void)state;
	for (size_t len = 1; len <= 2 * MiB + 3 * PG; len++) {
		uint64_t c = ust_arena_charge(len);

		assert_int_equal(c, charge_model(len));
		assert_true(c >= prev);
		assert_true(c > ust_arena_size(len));
		prev = c;
	}
	/* Pure: the same figures whatever an arena holds. */
	for (size_t len = 1; len <= 4 * MiB; len = len * 3 + 1)
		before[i++] = ust_arena_charge(len);
	fx_open(&f, 64 * MiB, 1 * MiB, 0, 0);
	for (size_t len = 1; len <= 4 * MiB; len = len * 3 + 1)
		xalloc(&f, len);
	i = 0;
	for (size_t len = 1; len <= 4 * MiB; len = len * 3 + 1)
		assert_int_equal(ust_arena_charge(len), before[i++]);
	fx_close(&f);
	/* Figures the docs quote. */
	assert_int_equal(ust_arena_charge(64), 64 + 4);
	assert_int_equal(ust_arena_charge(4096), 4096 + 56);
	assert_int_equal(ust_arena_charge(8 + 16 + 4096), 4160 + 15); /* a record */
	assert_int_equal(ust_arena_charge(8 + 16 + 1024), 1088 + 15);
	assert_int_equal(ust_arena_charge(4096 + 65), 5120 + 56);
	assert_int_equal(ust_arena_charge(128 * KiB), 128 * KiB + 224);
}

struct span {
	uint64_t off, len;
};

static int cmp_span(const void *x, const void *y)
{
	const struct span *p = x, *q = y;

	return (p->off > q->off) - (p->off < q->off);
}

static void test_alignment_no_overlap(void **state)
{
	enum { N = 3000 };
	struct span *sp = calloc(N, sizeof(*sp));
	struct ust_arena_stats s;
	uint64_t bytes = 0, seed = 12345;
	struct fx f;

	(void)state;
	assert_non_null(sp);
	fx_open(&f, 256 * MiB, 0, 0, 0);
	for (int i = 0; i < N; i++) {
		size_t len;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		len = 1 + (size_t)((seed >> 33) % ((i % 10) ? 3000 : 300000));
		sp[i].off = (uint64_t)xalloc(&f, len);
		sp[i].len = ust_arena_size(len);
		bytes += sp[i].len;
		assert_int_equal(sp[i].off % (len > UST_ARENA_SMALL_MAX ? PG : 16), 0);
		assert_true(sp[i].off >= f.heap_off);
		assert_true(sp[i].off + sp[i].len <= f.heap_off + f.heap_len);
	}
	s = stats(&f);
	assert_int_equal(s.alloc_count, N);
	assert_int_equal(s.alloc_bytes, bytes);
	qsort(sp, N, sizeof(*sp), cmp_span);
	for (int i = 1; i < N; i++)
		assert_true(sp[i - 1].off + sp[i - 1].len <= sp[i].off);
	for (int i = 0; i < N; i++)
		assert_int_equal(ust_arena_release(f.a, sp[i].off, sp[i].len), 0);
	s = stats(&f);
	assert_int_equal(s.alloc_count, 0);
	assert_int_equal(s.alloc_bytes, 0);
	assert_int_equal(s.slabs, 0);
	assert_int_equal(s.cold_runs, 1);
	assert_int_equal(s.cold_bytes, f.heap_len);
	fx_close(&f);
	free(sp);
}

static void test_coalescing(void **state)
{
	struct ust_arena_stats s;
	int64_t a, b, c, d;
	struct fx f;

	(void)state;
	fx_open(&f, 1 * MiB, 0, 0, 0);
	a = xalloc(&f, 64 * KiB);
	b = xalloc(&f, 64 * KiB);
	c = xalloc(&f, 64 * KiB);
	assert_int_equal(a, (int64_t)f.heap_off);
	assert_int_equal(b, a + (int64_t)(64 * KiB));
	assert_int_equal(c, b + (int64_t)(64 * KiB));
	assert_int_equal(ust_arena_release(f.a, (uint64_t)a, 64 * KiB), 0);
	assert_int_equal(ust_arena_release(f.a, (uint64_t)c, 64 * KiB), 0);
	s = stats(&f);
	assert_int_equal(s.cold_runs, 2); /* a's hole; c merged with the tail */
	assert_int_equal(ust_arena_release(f.a, (uint64_t)b, 64 * KiB), 0);
	s = stats(&f);
	assert_int_equal(s.cold_runs, 1);
	assert_int_equal(s.cold_bytes, 1 * MiB);
	/* the whole heap is one run again */
	d = xalloc(&f, 1 * MiB);
	assert_int_equal(d, (int64_t)f.heap_off);
	assert_int_equal(ust_arena_release(f.a, (uint64_t)d, 1 * MiB), 0);
	fx_close(&f);

	/* Warm runs coalesce with warm neighbours. */
	fx_open(&f, 1 * MiB, 1 * MiB, 0, 0);
	a = xalloc(&f, 64 * KiB);
	b = xalloc(&f, 64 * KiB);
	c = xalloc(&f, 64 * KiB);
	assert_int_equal(ust_arena_release(f.a, (uint64_t)a, 64 * KiB), 0);
	assert_int_equal(ust_arena_release(f.a, (uint64_t)b, 64 * KiB), 0);
	s = stats(&f);
	assert_int_equal(s.warm_runs, 1);
	assert_int_equal(s.warm_bytes, 128 * KiB);
	d = xalloc(&f, 128 * KiB); /* the merged warm run, exactly */
	assert_int_equal(d, a);
	assert_int_equal(stats(&f).warm_bytes, 0);
	ust_arena_release(f.a, (uint64_t)d, 128 * KiB);
	ust_arena_release(f.a, (uint64_t)c, 64 * KiB);
	ust_arena_trim(f.a);
	s = stats(&f);
	assert_int_equal(s.cold_runs, 1);
	assert_int_equal(s.warm_bytes, 0);
	fx_close(&f);
}

static void test_punch_frees(void **state)
{
	enum { NSMALL = 64 * 16 };
	static int64_t sm[NSMALL];
	int64_t base, r;
	struct fx f;

	(void)state;
	fx_open(&f, 64 * MiB, 0, 0, 0);
	base = resident(&f);
	r = xalloc(&f, 4 * MiB);
	touch(&f, (uint64_t)r, 4 * MiB);
	assert_true(resident(&f) >= base + (int64_t)(4 * MiB));
	assert_int_equal(stats(&f).resident_bytes, 4 * MiB);
	assert_int_equal(ust_arena_release(f.a, (uint64_t)r, 4 * MiB), 0);
	assert_true(resident(&f) <= base);
	assert_int_equal(stats(&f).resident_bytes, 0);
	assert_int_equal(stats(&f).punch_errors, 0);

	/* 16 slabs of 64-byte objects, written, then emptied. */
	for (int i = 0; i < NSMALL; i++) {
		sm[i] = xalloc(&f, 64);
		touch(&f, (uint64_t)sm[i], 64);
	}
	assert_int_equal(stats(&f).slabs, 16);
	assert_true(resident(&f) >= base + 16 * PG);
	for (int i = 0; i < NSMALL; i++)
		assert_int_equal(ust_arena_release(f.a, (uint64_t)sm[i], 64), 0);
	assert_int_equal(stats(&f).slabs, 0);
	assert_true(resident(&f) <= base);
	fx_close(&f);
}

static void test_warm_cache(void **state)
{
	int64_t r[8], sep[3], x, y, small, big, base, got;
	struct ust_arena_stats s;
	struct fx f;

	(void)state;
	fx_open(&f, 64 * MiB, 256 * KiB, 0, 0);
	base = resident(&f);
	xalloc_touched(&f, r, 8, 128 * KiB);
	release_all(&f, r, 8, 128 * KiB);
	s = stats(&f);
	assert_true(s.warm_bytes <= 256 * KiB);
	assert_int_equal(s.warm_bytes, 256 * KiB); /* the two newest, merged */
	assert_int_equal(s.warm_runs, 1);
	assert_true(resident(&f) <= base + (int64_t)(256 * KiB));
	assert_true(resident(&f) >= base + (int64_t)(256 * KiB));
	/* A new run comes from the warm cache: no new page of the file. */
	got = xalloc(&f, 128 * KiB);
	assert_true(got >= r[6] && got < r[7] + (int64_t)(128 * KiB));
	touch(&f, (uint64_t)got, 128 * KiB);
	assert_true(resident(&f) <= base + (int64_t)(256 * KiB));
	assert_int_equal(ust_arena_release(f.a, (uint64_t)got, 128 * KiB), 0);
	assert_int_equal(ust_arena_trim(f.a), 256 * KiB);
	s = stats(&f);
	assert_int_equal(s.warm_bytes, 0);
	assert_true(resident(&f) <= base);
	fx_close(&f);

	/* LIFO among equal fits; best fit first. */
	fx_open(&f, 64 * MiB, 4 * MiB, 0, 0);
	x = xalloc(&f, 128 * KiB);
	sep[0] = xalloc(&f, 64 * KiB);
	y = xalloc(&f, 128 * KiB);
	sep[1] = xalloc(&f, 64 * KiB);
	small = xalloc(&f, 64 * KiB);
	sep[2] = xalloc(&f, 64 * KiB);
	big = xalloc(&f, 512 * KiB);
	(void)sep;
	ust_arena_release(f.a, (uint64_t)small, 64 * KiB);
	ust_arena_release(f.a, (uint64_t)x, 128 * KiB);
	ust_arena_release(f.a, (uint64_t)y, 128 * KiB);
	ust_arena_release(f.a, (uint64_t)big, 512 * KiB);
	assert_int_equal(xalloc(&f, 128 * KiB), y);     /* newest of the fits */
	assert_int_equal(xalloc(&f, 64 * KiB), small);  /* best fit, not newest */
	assert_int_equal(xalloc(&f, 128 * KiB), x);
	fx_close(&f);
}

/*
 * ust_arena_alloc_resident() says "resident" exactly for runs from the warm
 * cache: a fresh run, a run punched by trim and a slab slot are not (the
 * staging path populates those and only those).
 */
static void test_alloc_resident(void **state)
{
	int64_t a, b, c;
	bool res = true;
	struct fx f;

	(void)state;
	fx_open(&f, 64 * MiB, 1 * MiB, 0, 0);
	a = ust_arena_alloc_resident(f.a, 128 * KiB, &res);
	assert_true(a > 0);
	assert_false(res); /* never used: cold */
	touch(&f, (uint64_t)a, 128 * KiB);
	assert_int_equal(ust_arena_release(f.a, (uint64_t)a, 128 * KiB), 0);
	assert_int_equal(stats(&f).warm_bytes, 128 * KiB);
	b = ust_arena_alloc_resident(f.a, 64 * KiB, &res);
	assert_int_equal(b, a); /* the front of the warm run */
	assert_true(res);
	c = ust_arena_alloc_resident(f.a, 64 * KiB, &res);
	assert_int_equal(c, a + (int64_t)(64 * KiB)); /* its warm rest */
	assert_true(res);
	assert_int_equal(ust_arena_release(f.a, (uint64_t)b, 64 * KiB), 0);
	assert_int_equal(ust_arena_release(f.a, (uint64_t)c, 64 * KiB), 0);
	assert_int_equal(ust_arena_trim(f.a), 128 * KiB); /* punched: cold again */
	a = ust_arena_alloc_resident(f.a, 128 * KiB, &res);
	assert_true(a > 0);
	assert_false(res);
	res = true;
	assert_true(ust_arena_alloc_resident(f.a, 100, &res) > 0);
	assert_false(res); /* slab slots are never said to be resident */
	res = true;
	assert_int_equal(ust_arena_alloc_resident(f.a, 128 * MiB, &res), -ENOMEM);
	assert_false(res);
	fx_close(&f);
}

/* With warm_hard, releases never punch below it; poll() does, down to warm_max. */
static void test_warm_hard(void **state)
{
	int64_t r[12], base;
	struct ust_arena_stats s;
	struct fx f;

	(void)state;
	fx_open_hard(&f, 64 * MiB, 128 * KiB, 1 * MiB, 0, 0);
	base = resident(&f);
	xalloc_touched(&f, r, 12, 128 * KiB);
	release_all(&f, r, 8, 128 * KiB);
	s = stats(&f);
	assert_int_equal(s.punches, 0);
	assert_int_equal(s.warm_bytes, 1 * MiB);
	/* beyond warm_hard, the oldest runs are punched inline, a chunk's
	 * worth at most (here warm_hard - warm_max: down to warm_max), the
	 * eight neighbours of r[0..7] with one call */
	assert_int_equal(ust_arena_release(f.a, (uint64_t)r[8], 128 * KiB), 0);
	s = stats(&f);
	assert_int_equal(s.punches, 1);
	assert_int_equal(s.warm_bytes, 128 * KiB);
	assert_true(resident(&f) <= base + (int64_t)(4 * 128 * KiB));
	/* poll brings it to warm_max */
	assert_int_equal(ust_arena_poll(f.a), 0);
	s = stats(&f);
	assert_int_equal(s.warm_bytes, 128 * KiB);
	assert_true(resident(&f) <= base + (int64_t)(4 * 128 * KiB));
	/* a run larger than warm_max but within warm_hard waits too */
	ust_arena_release(f.a, (uint64_t)r[9], 128 * KiB);
	ust_arena_release(f.a, (uint64_t)r[10], 128 * KiB);
	ust_arena_release(f.a, (uint64_t)r[11], 128 * KiB);
	r[0] = xalloc(&f, 512 * KiB);
	touch(&f, (uint64_t)r[0], 512 * KiB);
	s = stats(&f);
	ust_arena_release(f.a, (uint64_t)r[0], 512 * KiB);
	assert_int_equal(stats(&f).punches, s.punches);
	ust_arena_poll(f.a);
	assert_true(stats(&f).warm_bytes <= 128 * KiB);
	s = stats(&f);
	assert_int_equal(ust_arena_trim(f.a), s.warm_bytes);
	assert_true(resident(&f) <= base);
	fx_close(&f);
}

/* A cache of 128 KiB, 512 KiB kept until a poll, 4 MiB before a release
 * punches, and runs that never grow idle within a test. */
static const struct ust_arena_cfg warm_poll_cfg = {
	.warm_max = 128 * KiB,
	.warm_hard = 4 * MiB,
	.warm_poll = 512 * KiB,
	.warm_idle_ns = 3600ull * 1000000000ull,
};

/*
 * With warm_poll, poll() brings the cache down to it whatever the runs'
 * age (warm_idle_ns only governs the rest, down to warm_max), and runs
 * that are neighbours are punched with one call.
 */
static void test_warm_poll(void **state)
{
	const struct ust_arena_cfg cfg = warm_poll_cfg;
	int64_t r[24], base;
	struct ust_arena_stats s;
	struct fx f;

	(void)state;
	fx_open_cfg(&f, 64 * MiB, cfg, 0, 0);
	base = resident(&f);
	xalloc_touched(&f, r, 24, 128 * KiB);
	for (int i = 1; i < 24; i++)
		assert_int_equal(r[i], r[i - 1] + (int64_t)(128 * KiB));
	release_all(&f, r, 24, 128 * KiB);
	s = stats(&f);
	assert_int_equal(s.punches, 0);
	assert_int_equal(s.warm_bytes, 3 * MiB);
	assert_int_equal(ust_arena_poll(f.a), 0);
	s = stats(&f);
	assert_int_equal(s.warm_bytes, 512 * KiB);
	/* the 20 oldest runs were neighbours: one range, one call */
	assert_int_equal(s.punches, 1);
	assert_int_equal(s.punched_bytes, 20 * 128 * KiB);
	assert_true(resident(&f) <= base + (int64_t)(512 * KiB));
	/* not idle yet: the rest stays */
	assert_int_equal(ust_arena_poll(f.a), 0);
	assert_int_equal(stats(&f).warm_bytes, 512 * KiB);
	/* the punched range is cold, coalesced and reusable */
	r[0] = xalloc(&f, 2 * MiB);
	assert_int_equal(r[0], r[1] - (int64_t)(128 * KiB));
	ust_arena_release(f.a, (uint64_t)r[0], 2 * MiB);
	/* The warm bytes before the trim (argument order is unspecified:
	 * clang calls the trim first, gcc the stats). */
	s = stats(&f);
	assert_int_equal(ust_arena_trim(f.a), s.warm_bytes);
	assert_true(resident(&f) <= base);
	fx_close(&f);
}

/*
 * ust_arena_quiet: a region poller skips an arena the last poll left with
 * nothing to do and nothing released since; every state that leaves work
 * for a later poll (warm beyond warm_max, a deferred range) keeps it busy.
 */
static void test_quiet(void **state)
{
	const struct ust_arena_cfg cfg = warm_poll_cfg;
	int64_t r[8], sm;
	struct fx f;

	(void)state;
	fx_open_cfg(&f, 64 * MiB, cfg, 4, 8);
	assert_false(ust_arena_quiet(f.a)); /* never polled */
	ust_arena_poll(f.a);
	assert_true(ust_arena_quiet(f.a));
	xalloc_touched(&f, r, 8, 128 * KiB);
	assert_true(ust_arena_quiet(f.a)); /* allocations leave nothing to poll */
	assert_int_equal(ust_arena_release(f.a, (uint64_t)r[0], 128 * KiB), 0);
	assert_false(ust_arena_quiet(f.a));
	ust_arena_poll(f.a); /* 128 KiB warm: within warm_max */
	assert_true(ust_arena_quiet(f.a));
	release_all(&f, r + 1, 4, 128 * KiB);
	ust_arena_poll(f.a); /* 640 KiB warm, down to 512: not idle yet */
	assert_false(ust_arena_quiet(f.a));
	ust_arena_poll(f.a);
	assert_false(ust_arena_quiet(f.a)); /* still beyond warm_max */
	ust_arena_trim(f.a);
	ust_arena_poll(f.a);
	assert_true(ust_arena_quiet(f.a));
	/* A range a hazard word holds stays for the polls to retry. */
	haz_set(&f, 1, (uint64_t)r[5]);
	assert_int_equal(ust_arena_release(f.a, (uint64_t)r[5], 128 * KiB), 0);
	ust_arena_poll(f.a);
	assert_false(ust_arena_quiet(f.a));
	haz_set(&f, 1, 0);
	ust_arena_poll(f.a);
	assert_true(ust_arena_quiet(f.a));
	/* A small object, and a shrink, as any release. */
	sm = xalloc(&f, 64);
	ust_arena_poll(f.a);
	assert_true(ust_arena_quiet(f.a));
	assert_int_equal(ust_arena_release(f.a, (uint64_t)sm, 64), 0);
	assert_false(ust_arena_quiet(f.a));
	ust_arena_poll(f.a);
	assert_int_equal(ust_arena_shrink(f.a, (uint64_t)r[6], 128 * KiB, 64 * KiB), 0);
	assert_false(ust_arena_quiet(f.a));
	fx_close(&f);
}

static void test_hazards(void **state)
{
	int64_t r, r2, sm, o[8], base;
	struct ust_arena_stats s;
	struct fx f;

	(void)state;
	fx_open(&f, 64 * MiB, 0, 4, 64);
	base = resident(&f);
	r = xalloc(&f, 128 * KiB);
	touch(&f, (uint64_t)r, 128 * KiB);
	haz_set(&f, 1, (uint64_t)r + 5000); /* a reader inside the value */
	assert_int_equal(ust_arena_release(f.a, (uint64_t)r, 128 * KiB), 0);
	s = stats(&f);
	assert_int_equal(s.deferred_bytes, 128 * KiB);
	assert_int_equal(s.deferred_count, 1);
	assert_int_equal(s.alloc_count, 0);
	assert_true(resident(&f) >= base + (int64_t)(128 * KiB)); /* not punched */
	assert_int_equal(ust_arena_release(f.a, (uint64_t)r, 128 * KiB), -EINVAL);
	r2 = xalloc(&f, 128 * KiB);
	assert_true(r2 != r);
	assert_int_equal(ust_arena_poll(f.a), 128 * KiB); /* still hazarded */
	haz_set(&f, 1, 0);
	assert_int_equal(ust_arena_poll(f.a), 0);
	s = stats(&f);
	assert_int_equal(s.deferred_count, 0);
	assert_true(resident(&f) <= base); /* punched once free */
	ust_arena_release(f.a, (uint64_t)r2, 128 * KiB);

	/* A small object: its slot is not handed out while hazarded. */
	sm = xalloc(&f, 64);
	haz_set(&f, 3, (uint64_t)sm);
	assert_int_equal(ust_arena_release(f.a, (uint64_t)sm, 64), 0);
	assert_int_equal(stats(&f).deferred_bytes, 64);
	assert_int_equal(ust_arena_release(f.a, (uint64_t)sm, 64), -EINVAL);
	for (int i = 0; i < 200; i++)
		assert_true(xalloc(&f, 64) != sm);
	haz_set(&f, 3, 0);
	assert_int_equal(ust_arena_poll(f.a), 0);
	assert_int_equal(xalloc(&f, 64), sm); /* the freed slot, first */
	fx_close(&f);

	/* force() takes back what a hazard holds forever, old enough only. */
	fx_open(&f, 64 * MiB, 64 * MiB, 4, 8);
	base = resident(&f);
	r = xalloc(&f, 1 * MiB);
	touch(&f, (uint64_t)r, 1 * MiB);
	haz_set(&f, 0, (uint64_t)r);
	assert_int_equal(ust_arena_release(f.a, (uint64_t)r, 1 * MiB), 0);
	assert_int_equal(ust_arena_force(f.a, 3600ull * 1000000000ull), 0);
	assert_int_equal(stats(&f).deferred_bytes, 1 * MiB);
	assert_int_equal(ust_arena_force(f.a, 0), 1 * MiB);
	s = stats(&f);
	assert_int_equal(s.deferred_bytes, 0);
	assert_int_equal(s.forced_bytes, 1 * MiB);
	assert_int_equal(s.warm_bytes, 0); /* punched, not kept warm */
	assert_true(resident(&f) <= base);
	haz_set(&f, 0, 0);
	fx_close(&f);

	/* Garbage in the words defers nothing it does not point into. */
	fx_open(&f, 64 * MiB, 0, 4, 8);
	haz_set(&f, 0, UINT64_MAX);
	haz_set(&f, 1, f.heap_off - 1);
	haz_set(&f, 2, f.heap_off + f.heap_len);
	haz_set(&f, 3, 1ull << 63);
	for (int i = 0; i < 100; i++) {
		size_t len = (size_t)(1 + i * 7919 % 300000);

		r = xalloc(&f, len);
		assert_int_equal(ust_arena_release(f.a, (uint64_t)r, len), 0);
	}
	assert_int_equal(stats(&f).deferred_count, 0);

	/* At most one deferred range per hazard word. */
	for (int i = 0; i < 8; i++)
		o[i] = xalloc(&f, 64 * KiB);
	for (int i = 0; i < 4; i++)
		haz_set(&f, (uint32_t)i, (uint64_t)o[i]);
	for (int i = 0; i < 8; i++)
		assert_int_equal(ust_arena_release(f.a, (uint64_t)o[i], 64 * KiB), 0);
	s = stats(&f);
	assert_int_equal(s.deferred_count, 4);
	assert_int_equal(s.deferred_bytes, 4 * 64 * KiB);
	/* The words move on to other ranges: the old ones go, the list stays bounded. */
	for (int i = 0; i < 4; i++)
		o[i] = xalloc(&f, 64 * KiB);
	for (int i = 0; i < 4; i++)
		haz_set(&f, (uint32_t)i, (uint64_t)o[i] + 100);
	for (int i = 0; i < 4; i++)
		assert_int_equal(ust_arena_release(f.a, (uint64_t)o[i], 64 * KiB), 0);
	s = stats(&f);
	assert_true(s.deferred_count <= 4);
	assert_int_equal(ust_arena_poll(f.a), 4 * 64 * KiB);
	for (int i = 0; i < 4; i++)
		haz_set(&f, (uint32_t)i, 0);
	assert_int_equal(ust_arena_poll(f.a), 0);
	fx_close(&f);
}


/*
 * Only the words handed out count (ust_arena_hazards_live): a word beyond
 * the bound defers nothing, whatever it holds; raised again, it does, and
 * the snapshot taken by a retry sees it too.
 */
static void test_hazards_live(void **state)
{
	int64_t r;
	struct fx f;

	(void)state;
	fx_open(&f, 64 * MiB, 0, 8, 64);
	ust_arena_hazards_live(f.a, 2);
	r = xalloc(&f, 128 * KiB);
	haz_set(&f, 5, (uint64_t)r); /* not handed out: nobody's */
	assert_int_equal(ust_arena_release(f.a, (uint64_t)r, 128 * KiB), 0);
	assert_int_equal(stats(&f).deferred_bytes, 0);
	r = xalloc(&f, 128 * KiB);
	haz_set(&f, 1, (uint64_t)r); /* handed out: defers */
	assert_int_equal(ust_arena_release(f.a, (uint64_t)r, 128 * KiB), 0);
	assert_int_equal(stats(&f).deferred_bytes, 128 * KiB);
	haz_set(&f, 1, 0);
	haz_set(&f, 5, (uint64_t)r);
	assert_int_equal(ust_arena_poll(f.a), 0); /* word 5 still nobody's */
	assert_int_equal(stats(&f).deferred_bytes, 0);
	ust_arena_hazards_live(f.a, 6);
	r = xalloc(&f, 128 * KiB);
	haz_set(&f, 5, (uint64_t)r);
	assert_int_equal(ust_arena_release(f.a, (uint64_t)r, 128 * KiB), 0);
	assert_int_equal(stats(&f).deferred_bytes, 128 * KiB);
	assert_int_equal(ust_arena_poll(f.a), 128 * KiB); /* the retry sees it */
	ust_arena_hazards_live(f.a, 1000); /* clamped to the table */
	haz_set(&f, 5, 0);
	assert_int_equal(ust_arena_poll(f.a), 0);
	fx_close(&f);
}

static void test_scrub(void **state)
{
	enum { NV = 40 };
	int64_t v[NV], base, after;
	size_t vl[NV];
	uint64_t seed = 99;
	struct ust_arena_stats s;
	struct fx f;

	(void)state;
	fx_open(&f, 32 * MiB, 1 * MiB, 0, 0);
	base = resident(&f);
	for (int i = 0; i < NV; i++) {
		vl[i] = (size_t)(i % 2 ? 100 + i * 37 : 20000 + i * 4099);
		v[i] = xalloc(&f, vl[i]);
		memset(f.base + v[i], i + 1, vl[i]);
	}
	for (int i = 0; i < NV; i += 3) { /* some warm, some freed slots */
		ust_arena_release(f.a, (uint64_t)v[i], vl[i]);
		v[i] = 0;
	}
	/* The tenant scribbles all over the heap. */
	for (int i = 0; i < 3000; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		f.base[f.heap_off + (seed >> 20) % f.heap_len] ^= 1;
	}
	assert_true(resident(&f) > base + (int64_t)(4 * MiB));
	/* ...but the values it did not hit... re-set them: scribbling may hit them. */
	for (int i = 0; i < NV; i++)
		if (v[i])
			memset(f.base + v[i], i + 1, vl[i]);
	ust_arena_scrub(f.a);
	s = stats(&f);
	after = resident(&f);
	assert_int_equal(s.warm_bytes, 0);
	assert_true(after <= base + (int64_t)s.resident_bytes);
	assert_true(s.resident_bytes == s.slab_bytes + s.run_bytes);
	for (int i = 0; i < NV; i++) {
		if (!v[i])
			continue;
		for (size_t j = 0; j < vl[i]; j++)
			if ((unsigned char)f.base[v[i] + (int64_t)j] != (unsigned char)(i + 1))
				fail_msg("value %d byte %zu changed by scrub", i, j);
	}
	fx_close(&f);
}

/* Scrub punches the pages of a live slab that only free slots overlap. */
static void test_scrub_slab(void **state)
{
	int64_t o[15], base, before, after;
	uint64_t span = 16 * PG;
	struct fx f;

	(void)state;
	fx_open(&f, 8 * MiB, 0, 0, 0);
	base = resident(&f);
	for (int i = 0; i < 15; i++)
		o[i] = xalloc(&f, 4160); /* 15 per 16-page slab */
	assert_int_equal(stats(&f).slabs, 1);
	touch(&f, (uint64_t)o[0], span);
	for (int i = 2; i <= 12; i++)
		assert_int_equal(ust_arena_release(f.a, (uint64_t)o[i], 4160), 0);
	for (int i = 0; i < 15; i++)
		if (i < 2 || i > 12)
			memset(f.base + o[i], i + 1, 4160);
	touch(&f, (uint64_t)o[2], 11 * 4160); /* the tenant writes free slots */
	before = resident(&f);
	assert_true(before >= base + (int64_t)span);
	ust_arena_scrub(f.a);
	after = resident(&f);
	/* slots 2..12 cover bytes 8320..54080 of the slab: pages 3..12 */
	assert_int_equal(before - after, 10 * PG);
	for (int i = 0; i < 15; i++) {
		if (i >= 2 && i <= 12)
			continue;
		for (int j = 0; j < 4160; j++)
			if (f.base[o[i] + j] != (char)(i + 1))
				fail_msg("slot %d byte %d changed by scrub", i, j);
	}
	/* the slab is intact: its free slots are handed out again */
	assert_int_equal(stats(&f).slabs, 1);
	for (int i = 2; i <= 12; i++) {
		int64_t n = xalloc(&f, 4160);

		assert_true(n >= o[0] && n < o[0] + (int64_t)span);
		memset(f.base + n, 7, 4160);
	}
	assert_int_equal(stats(&f).slabs, 1);
	fx_close(&f);
}

/*
 * Free slots of page-sized objects go back while their slab lives on: a
 * flushed pool's records among another pool's would otherwise stay
 * resident until each slab empties. Beyond warm_max bytes of them a poll
 * punches their pages down to half of it; a trim punches all; a slot
 * freed and taken again (an overwrite) is never punched.
 */
static void test_slot_warm(void **state)
{
	int64_t o[12], base, full;
	struct fx f;

	(void)state;
	fx_open(&f, 8 * MiB, 64 * KiB, 0, 0);
	base = resident(&f);
	for (int i = 0; i < 12; i++) {
		o[i] = xalloc(&f, 16384); /* 4 per 16-page slab: three slabs */
		memset(f.base + o[i], i + 1, 16384);
	}
	assert_int_equal(stats(&f).slabs, 3);
	full = resident(&f);
	assert_int_equal(full - base, 12 * 16384);
	/* an overwrite: freed and taken again, nothing to punch */
	assert_int_equal(ust_arena_release(f.a, (uint64_t)o[0], 16384), 0);
	assert_int_equal(stats(&f).warm_slot_bytes, 16384);
	ust_arena_poll(f.a);
	assert_int_equal(resident(&f), full); /* under warm_max: kept */
	o[0] = xalloc(&f, 16384);
	memset(f.base + o[0], 1, 16384);
	assert_int_equal(stats(&f).warm_slot_bytes, 0);
	/* every other object freed: 96 KiB of free slots in live slabs */
	for (int i = 1; i < 12; i += 2)
		assert_int_equal(ust_arena_release(f.a, (uint64_t)o[i], 16384), 0);
	assert_int_equal(stats(&f).warm_slot_bytes, 6 * 16384);
	assert_int_equal(resident(&f), full); /* nothing punched on the caller's path */
	ust_arena_poll(f.a);
	assert_true(stats(&f).warm_slot_bytes <= 32 * KiB);
	assert_true(full - resident(&f) >= 4 * 16384);
	assert_int_equal(stats(&f).slabs, 3);
	ust_arena_trim(f.a);
	assert_int_equal(stats(&f).warm_slot_bytes, 0);
	assert_int_equal(resident(&f) - base, 6 * 16384); /* the live objects only */
	for (int i = 0; i < 12; i += 2)
		for (int j = 0; j < 16384; j++)
			if (f.base[o[i] + j] != (char)(i + 1))
				fail_msg("object %d byte %d changed by the punch", i, j);
	/* a slab that empties takes its slots' count with it */
	assert_int_equal(ust_arena_release(f.a, (uint64_t)o[10], 16384), 0);
	assert_int_equal(stats(&f).warm_slot_bytes, 16384);
	for (int i = 0; i < 10; i += 2)
		assert_int_equal(ust_arena_release(f.a, (uint64_t)o[i], 16384), 0);
	assert_int_equal(stats(&f).slabs, 0);
	assert_int_equal(stats(&f).warm_slot_bytes, 0);
	fx_close(&f);
}

/*
 * A batch of freed runs with live runs between them: the arena unmaps the
 * whole span from its view before punching (one TLB flush, not one per
 * range). The live runs between must keep every byte, read back through
 * the same view, and only the freed runs' pages go.
 */
static void test_zap_keeps_neighbours(void **state)
{
	int64_t r[32], base, full;
	struct fx f;

	(void)state;
	fx_open(&f, 8 * MiB, 1 * MiB, 0, 0);
	base = resident(&f);
	for (int i = 0; i < 32; i++) {
		r[i] = xalloc(&f, 8192);
		memset(f.base + r[i], i + 1, 8192);
	}
	full = resident(&f);
	assert_int_equal(full - base, 32 * 8192);
	for (int i = 1; i < 32; i += 2)
		assert_int_equal(ust_arena_release(f.a, (uint64_t)r[i], 8192), 0);
	assert_int_equal(stats(&f).punches, 0); /* all in the warm cache */
	assert_int_equal(ust_arena_trim(f.a), 16 * 8192);
	assert_int_equal(stats(&f).punches, 16); /* no two of them adjacent */
	assert_int_equal(resident(&f) - base, 16 * 8192);
	for (int i = 0; i < 32; i += 2)
		for (int j = 0; j < 8192; j++)
			if (f.base[r[i] + j] != (char)(i + 1))
				fail_msg("run %d byte %d changed by the punch", i, j);
	/* and the view still writes through to the file */
	memset(f.base + r[0], 0x5a, 8192);
	{
		char c = 0;

		assert_int_equal(pread(f.fd, &c, 1, (off_t)r[0] + 100), 1);
		assert_int_equal(c, 0x5a);
	}
	fx_close(&f);
}

/* Is the page at p mapped in this process (a page table entry present)?
 * Unlike mincore(), which reports the file's page cache. */
static bool pte_present(const void *p)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &e, sizeof(e),
			       (off_t)((uintptr_t)p / 4096 * sizeof(e))), (ssize_t)sizeof(e));
	close(fd);
	return (e >> 63) & 1;
}

/*
 * A pinned allocation (the shared index) between freed ones: the span the
 * arena unmaps before punching stops short of it, so it stays mapped in
 * the arena's view, while a live unpinned one between freed ones is
 * unmapped (its bytes kept in the file). len: 8 KiB, slots of slabs (the
 * scrub walk punches them); 32 KiB, page runs (a batch punch).
 */
static void zap_spares_pinned(size_t len)
{
	int64_t r[32];
	struct fx f;

	fx_open(&f, 8 * MiB, 2 * MiB, 0, 0);
	for (int i = 0; i < 32; i++) {
		r[i] = xalloc(&f, len);
		memset(f.base + r[i], i + 1, len);
	}
	assert_int_equal(ust_arena_pin(f.a, (uint64_t)r[16], len), 0);
	for (int i = 1; i < 32; i += 2)
		assert_int_equal(ust_arena_release(f.a, (uint64_t)r[i], len), 0);
	assert_int_equal(ust_arena_trim(f.a), 16 * len);
	for (size_t j = 0; j < len; j += 4096)
		if (!pte_present(f.base + r[16] + j))
			fail_msg("%zu-byte runs: pinned page %zu unmapped", len, j / 4096);
	assert_false(pte_present(f.base + r[4])); /* unmapped with the span */
	assert_false(pte_present(f.base + r[28]));
	for (int i = 0; i < 32; i += 2)
		for (size_t j = 0; j < len; j++)
			if (f.base[r[i] + j] != (char)(i + 1))
				fail_msg("run %d byte %zu changed by the punch", i, j);
	ust_arena_unpin(f.a, (uint64_t)r[16], len);
	fx_close(&f);
}

static void test_zap_spares_pinned(void **state)
{
	struct fx f;
	int n;

	(void)state;
	zap_spares_pinned(8192);
	zap_spares_pinned(32768);
	/* bounded: a full table says so, an unpin makes room */
	fx_open(&f, 1 * MiB, 0, 0, 0);
	for (n = 0; ust_arena_pin(f.a, 4096 * 16, 4096) == 0; n++)
		assert_true(n < (int)UST_ARENA_MAX_PINS);
	assert_int_equal(n, UST_ARENA_MAX_PINS);
	assert_int_equal(ust_arena_pin(f.a, 4096 * 32, 4096), -ENOSPC);
	ust_arena_unpin(f.a, 4096 * 16, 4096);
	assert_int_equal(ust_arena_pin(f.a, 4096 * 32, 4096), 0);
	assert_int_equal(ust_arena_pin(f.a, 0, 4096), -EINVAL); /* not the heap */
	assert_int_equal(ust_arena_pin(f.a, 4096 + 1 * MiB - 4096, 8192), -EINVAL); /* past it */
	fx_close(&f);
}

/*
 * ust_arena_release_many(): the same outcome as one ust_arena_release()
 * per range, across its 64-range chunks: small and large ranges freed, a
 * range a hazard covers deferred, ranges that are not live allocations
 * (released twice, never allocated, misaligned) counted and left alone.
 */
static void test_release_many(void **state)
{
	enum { N = 150 };
	uint64_t off[N + 3];
	size_t len[N + 3];
	struct ust_arena_stats s;
	struct fx f;

	(void)state;
	fx_open(&f, 64 * MiB, 0, 4, 64);
	for (unsigned i = 0; i < N; i++) {
		len[i] = i % 5 == 0 ? 20000 + i * 100 : 16 + (i * 97) % 4000;
		off[i] = (uint64_t)xalloc(&f, len[i]);
		memset(f.base + off[i], (int)i, len[i]);
	}
	haz_set(&f, 2, off[70] + 1); /* a reader inside range 70 */
	off[N] = off[3]; /* range 3 twice */
	len[N] = len[3];
	off[N + 1] = 64 * MiB; /* in the heap, never allocated */
	len[N + 1] = 64;
	off[N + 2] = off[1] + 1; /* not where an allocation starts */
	len[N + 2] = len[1];
	assert_int_equal(ust_arena_release_many(f.a, off, len, N + 3), 3);
	s = stats(&f);
	assert_int_equal(s.alloc_count, 0);
	assert_int_equal(s.deferred_count, 1);
	assert_int_equal(s.deferred_bytes, ust_arena_size(len[70]));
	haz_set(&f, 2, 0);
	assert_int_equal(ust_arena_poll(f.a), 0);
	assert_int_equal(stats(&f).deferred_count, 0);
	/* all of it allocatable again */
	for (unsigned i = 0; i < N; i++)
		off[i] = (uint64_t)xalloc(&f, len[i]);
	assert_int_equal(ust_arena_release_many(f.a, off, len, N), 0);
	assert_int_equal(ust_arena_release_many(f.a, off, len, 0), 0);
	assert_int_equal(stats(&f).alloc_count, 0);
	fx_close(&f);
}

/*
 * ust_arena_copy(): the bytes arrive, whatever the size; from a page up
 * neither side gets mapped in the arena's view (a compaction move after a
 * shrink faulted in each survivor the zaps had unmapped, and the source's
 * punch later flushed the TLB for it).
 */
static void test_copy(void **state)
{
	static const size_t sizes[] = { 16, 1000, 4095, 4096, 4160, 70000 };
	struct fx f;

	(void)state;
	fx_open(&f, 8 * MiB, 0, 0, 0);
	for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t len = sizes[k];
		int64_t src = xalloc(&f, len), dst = xalloc(&f, len);
		char *buf = malloc(len);

		assert_non_null(buf);
		for (size_t i = 0; i < len; i++)
			buf[i] = (char)(i * 7 + k);
		assert_int_equal(pwrite(f.fd, buf, len, (off_t)src), (ssize_t)len);
		/* out of the view, as the zaps before a punch leave them */
		assert_int_equal(madvise(f.base + (src & ~4095), (size_t)((uint64_t)src + len - (src & ~4095)),
					 MADV_DONTNEED), 0);
		assert_int_equal(madvise(f.base + (dst & ~4095), (size_t)((uint64_t)dst + len - (dst & ~4095)),
					 MADV_DONTNEED), 0);
		ust_arena_copy(f.a, (uint64_t)dst, (uint64_t)src, len);
		if (len >= 4096) {
			for (size_t i = 0; i < len; i += 4096) {
				if (pte_present(f.base + src + i) || pte_present(f.base + dst + i))
					fail_msg("%zu-byte copy mapped page %zu", len, i / 4096);
			}
		}
		if (memcmp(f.base + dst, buf, len) != 0)
			fail_msg("%zu-byte copy differs", len);
		free(buf);
		assert_int_equal(ust_arena_release(f.a, (uint64_t)src, len), 0);
		assert_int_equal(ust_arena_release(f.a, (uint64_t)dst, len), 0);
	}
	fx_close(&f);
}

static void test_exhaustion(void **state)
{
	enum { N = 4096 };
	static int64_t o[N];
	static size_t l[N];
	uint64_t seed = 7, occ = 0;
	struct ust_arena_stats s;
	int n = 0, round;
	struct fx f;

	(void)state;
	fx_open(&f, 1 * MiB, 128 * KiB, 0, 0);
	assert_int_equal(ust_arena_alloc(f.a, 1 * MiB + 1, NULL), -ENOMEM);
	assert_int_equal(ust_arena_alloc(f.a, SIZE_MAX, NULL), -ENOMEM);
	for (round = 0; round < 3; round++) {
		for (;;) {
			int64_t off;

			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			l[n] = 1 + (size_t)((seed >> 33) % (seed & 1 ? 2000 : 100000));
			off = ust_arena_alloc(f.a, l[n], NULL);
			if (off == -ENOMEM)
				break;
			assert_true(off > 0);
			assert_true(n < N - 1);
			o[n++] = off;
			occ += ust_arena_size(l[n - 1]);
		}
		s = stats(&f);
		assert_true(occ <= 1 * MiB);
		assert_true(s.alloc_bytes == occ);
		/* Free every other one, then everything. */
		for (int i = 0; i < n; i += 2)
			assert_int_equal(ust_arena_release(f.a, (uint64_t)o[i], l[i]), 0);
		for (int i = 1; i < n; i += 2)
			assert_int_equal(ust_arena_release(f.a, (uint64_t)o[i], l[i]), 0);
		n = 0;
		occ = 0;
		s = stats(&f);
		assert_int_equal(s.alloc_bytes, 0);
		assert_int_equal(s.slabs, 0);
		/* Recovered: the whole heap in one piece (warm runs included). */
		o[0] = ust_arena_alloc(f.a, 1 * MiB, NULL);
		assert_int_equal(o[0], (int64_t)f.heap_off);
		assert_int_equal(ust_arena_release(f.a, (uint64_t)o[0], 1 * MiB), 0);
	}
	fx_close(&f);
}

static void test_should_move(void **state)
{
	int64_t o[3][64], n;
	struct ust_arena_stats s;
	struct fx f;

	(void)state;
	fx_open(&f, 16 * MiB, 0, 0, 0);
	for (int sl = 0; sl < 3; sl++)
		for (int i = 0; i < 64; i++)
			o[sl][i] = xalloc(&f, 64);
	assert_int_equal(stats(&f).slabs, 3);
	/* slab 0 keeps 4 objects, slab 1 keeps 54 */
	for (int i = 4; i < 64; i++)
		ust_arena_release(f.a, (uint64_t)o[0][i], 64);
	for (int i = 54; i < 64; i++)
		ust_arena_release(f.a, (uint64_t)o[1][i], 64);
	assert_false(ust_arena_should_move(f.a, (uint64_t)o[1][0], 64));
	assert_false(ust_arena_should_move(f.a, (uint64_t)o[2][0], 64)); /* full */
	assert_false(ust_arena_should_move(f.a, (uint64_t)o[1][0] + 8 * MiB, 64));
	assert_false(ust_arena_should_move(f.a, (uint64_t)o[1][0], 100000));
	assert_true(ust_arena_should_move(f.a, (uint64_t)o[0][0], 64));
	assert_true(ust_arena_should_move(f.a, (uint64_t)o[0][1], 64));
	assert_int_equal(stats(&f).evac_slabs, 1);
	/* The store moves them: the new homes avoid slab 0, which empties. */
	for (int i = 0; i < 4; i++) {
		n = xalloc(&f, 64);
		assert_true(n < o[0][0] || n >= o[0][0] + (int64_t)PG);
		assert_int_equal(ust_arena_release(f.a, (uint64_t)o[0][i], 64), 0);
	}
	s = stats(&f);
	assert_int_equal(s.slabs, 2);
	assert_int_equal(s.evac_slabs, 0);
	assert_int_equal(s.alloc_count, 54 + 64 + 4);
	/* Over half full (33 of 64) is not sparse, whatever room there is. */
	for (int i = 10; i < 51; i++) /* slab 1: 13 used, 51 free */
		ust_arena_release(f.a, (uint64_t)o[1][i], 64);
	for (int i = 33; i < 64; i++)
		ust_arena_release(f.a, (uint64_t)o[2][i], 64);
	assert_false(ust_arena_should_move(f.a, (uint64_t)o[2][0], 64));
	ust_arena_release(f.a, (uint64_t)o[2][32], 64);
	assert_true(ust_arena_should_move(f.a, (uint64_t)o[2][0], 64));
	fx_close(&f);

	/* An evacuating slab is still used rather than failing. */
	fx_open(&f, 2 * PG, 0, 0, 0);
	for (int sl = 0; sl < 2; sl++)
		for (int i = 0; i < 64; i++)
			o[sl][i] = xalloc(&f, 64);
	for (int i = 1; i < 64; i++)
		ust_arena_release(f.a, (uint64_t)o[0][i], 64);
	ust_arena_release(f.a, (uint64_t)o[1][63], 64);
	assert_true(ust_arena_should_move(f.a, (uint64_t)o[0][0], 64));
	xalloc(&f, 64); /* slab 1's last slot */
	n = xalloc(&f, 64); /* heap full: the evacuating slab */
	assert_true(n >= o[0][0] && n < o[0][0] + (int64_t)PG);
	assert_int_equal(stats(&f).evac_slabs, 0);
	fx_close(&f);
}

static void test_invalid_release(void **state)
{
	struct ust_arena_stats s0, s1;
	int64_t sm, r;
	struct fx f;

	(void)state;
	fx_open(&f, 8 * MiB, 1 * MiB, 0, 0);
	sm = xalloc(&f, 100);
	r = xalloc(&f, 50000);
	s0 = stats(&f);
	assert_int_equal(ust_arena_release(f.a, 0, 100), -EINVAL);
	assert_int_equal(ust_arena_release(f.a, f.heap_off + f.heap_len, 100), -EINVAL);
	assert_int_equal(ust_arena_release(f.a, (uint64_t)sm + 8, 100), -EINVAL);
	assert_int_equal(ust_arena_release(f.a, (uint64_t)sm + 112, 100), -EINVAL); /* free slot */
	assert_int_equal(ust_arena_release(f.a, (uint64_t)sm, 20), -EINVAL); /* other class */
	assert_int_equal(ust_arena_release(f.a, (uint64_t)r, 100), -EINVAL);
	assert_int_equal(ust_arena_release(f.a, (uint64_t)r, 70000), -EINVAL);
	assert_int_equal(ust_arena_release(f.a, (uint64_t)r + PG, 40000), -EINVAL);
	assert_int_equal(ust_arena_release(f.a, f.heap_off + f.heap_len - PG, 8 * KiB), -EINVAL);
	s1 = stats(&f);
	assert_memory_equal(&s0, &s1, sizeof(s0));
	assert_int_equal(ust_arena_release(f.a, (uint64_t)sm, 112), 0); /* same class */
	assert_int_equal(ust_arena_release(f.a, (uint64_t)sm, 100), -EINVAL);
	assert_int_equal(ust_arena_release(f.a, (uint64_t)r, 50000), 0);
	assert_int_equal(ust_arena_release(f.a, (uint64_t)r, 50000), -EINVAL);
	fx_close(&f);
}

static void test_bad_config(void **state)
{
	struct ust_arena_cfg cfg = { 0 };
	ust_arena *a = NULL;
	struct fx f;

	(void)state;
	fx_open(&f, 1 * MiB, 0, 0, 0);
	cfg.base = f.base;
	cfg.fd = f.fd;
	cfg.heap_off = 0;
	cfg.heap_len = 1 * MiB;
	assert_int_equal(ust_arena_create(&cfg, &a), -EINVAL); /* 0 = no hazard */
	cfg.heap_off = PG;
	cfg.heap_len = 1 * MiB + 100;
	assert_int_equal(ust_arena_create(&cfg, &a), -EINVAL);
	cfg.heap_len = 2 * MiB; /* past the file */
	assert_int_equal(ust_arena_create(&cfg, &a), -EINVAL);
	cfg.heap_len = 1 * MiB;
	cfg.nhazards = 4;
	cfg.hazards = f.base + 4;
	cfg.hazard_stride = 8;
	assert_int_equal(ust_arena_create(&cfg, &a), -EINVAL);
	cfg.hazards = f.base;
	cfg.hazard_stride = 12;
	assert_int_equal(ust_arena_create(&cfg, &a), -EINVAL);
	cfg.hazard_stride = 8;
	assert_int_equal(ust_arena_create(&cfg, &a), 0);
	ust_arena_destroy(a);
	/* Through the mapping only (MADV_REMOVE) */
	cfg.fd = -1;
	assert_int_equal(ust_arena_create(&cfg, &a), 0);
	{
		int64_t r = ust_arena_alloc(a, 256 * KiB, NULL);
		struct ust_arena_stats s;

		assert_true(r > 0);
		touch(&f, (uint64_t)r, 256 * KiB);
		assert_true(resident(&f) >= (int64_t)(256 * KiB));
		assert_int_equal(ust_arena_release(a, (uint64_t)r, 256 * KiB), 0);
		assert_true(resident(&f) <= PG);
		ust_arena_stats(a, &s);
		assert_int_equal(s.punch_errors, 0);
		assert_int_equal(ust_arena_resident(a), -ENOTSUP);
	}
	ust_arena_destroy(a);
	fx_close(&f);
}

/* ---- randomized model test ---- */

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : def;
}

static uint64_t xs(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

struct live {
	uint64_t off, len, occ, tag;
};

struct prot {
	uint64_t off, occ;
};

struct model {
	struct fx f;
	uint64_t seed, rng, step;
	struct live *lv;
	uint32_t nlv, maxlv;
	uint64_t *bits; /* one bit per 16-byte granule of the heap */
	struct prot *pr;  /* ranges released while a hazard pointed into them */
	uint32_t npr;
	uint64_t class_count[UST_ARENA_NCLASSES];
	uint64_t run_count, occ_total, warm_max, warm_hard;
	unsigned maxlg; /* lengths up to 2^maxlg */
	/* what the run exercised, printed at the end */
	uint64_t n_alloc, n_enomem, n_moved, max_def, max_occ, n_prot;
};

#define MCHECK(m, cond)                                                              \
	do {                                                                         \
		if (!(cond))                                                         \
			fail_msg("%s (seed %" PRIu64 ", step %" PRIu64 ")", #cond,       \
				 (m)->seed, (m)->step);                               \
	} while (0)

/* Mark or clear the granules of [off, off + occ); marking checks they were free. */
static void granules(struct model *m, uint64_t off, uint64_t occ, bool set)
{
	uint64_t g0 = (off - m->f.heap_off) / 16, g1 = g0 + occ / 16;

	for (uint64_t g = g0; g < g1;) {
		uint64_t w = g / 64, b = g % 64, n = 64 - b, mask;

		if (n > g1 - g)
			n = g1 - g;
		mask = (n == 64 ? ~0ull : ((1ull << n) - 1)) << b;
		if (set) {
			MCHECK(m, !(m->bits[w] & mask));
			m->bits[w] |= mask;
		} else {
			MCHECK(m, (m->bits[w] & mask) == mask);
			m->bits[w] &= ~mask;
		}
		g += n;
	}
}

/*
 * Tag a live value at both ends and at every page boundary inside it, so
 * that a punch of any page it spans shows.
 */
static void tag_write(struct model *m, const struct live *l)
{
	char *p = m->f.base + l->off;

	if (l->len >= 16) {
		memcpy(p, &l->tag, 8);
		memcpy(p + l->len - 8, &l->tag, 8);
		for (uint64_t o = (PG - l->off % PG) % PG; o + 16 <= l->len; o += PG)
			memcpy(p + o, &l->tag, 8);
	} else {
		p[l->len - 1] = (char)(l->tag >> 8);
		p[0] = (char)l->tag; /* the same byte when len is 1 */
	}
}

static void tag_check(struct model *m, const struct live *l)
{
	const char *p = m->f.base + l->off;
	uint64_t a, b;

	if (l->len >= 16) {
		memcpy(&a, p, 8);
		memcpy(&b, p + l->len - 8, 8);
		MCHECK(m, a == l->tag && b == l->tag);
		for (uint64_t o = (PG - l->off % PG) % PG; o + 16 <= l->len; o += PG) {
			memcpy(&a, p + o, 8);
			MCHECK(m, a == l->tag);
		}
	} else {
		MCHECK(m, p[0] == (char)l->tag);
		MCHECK(m, l->len == 1 || p[l->len - 1] == (char)(l->tag >> 8));
	}
}

static uint64_t haz_get(struct model *m, uint32_t i)
{
	return __atomic_load_n((volatile uint64_t *)(void *)(m->f.base + (size_t)i * m->f.stride),
			       __ATOMIC_SEQ_CST);
}

/* Is any hazard word now inside [off, off + occ)? */
static bool hazarded(struct model *m, uint64_t off, uint64_t occ)
{
	for (uint32_t i = 0; i < m->f.nhaz; i++)
		if (haz_get(m, i) - off < occ)
			return true;
	return false;
}

/* Sizes from 1 B to 2 MiB, log-uniform so that every range is exercised. */
static size_t rand_len(struct model *m)
{
	unsigned lg = (unsigned)(xs(&m->rng) % m->maxlg); /* 2^0 .. 2^(maxlg-1) */
	uint64_t lo = 1ull << lg, len = lo + xs(&m->rng) % lo;

	return (size_t)(len > 2 * MiB ? 2 * MiB : len);
}

static void model_alloc(struct model *m)
{
	size_t len = rand_len(m), occ = 0;
	int64_t off = ust_arena_alloc(m->f.a, len, &occ);
	struct live *l;

	if (off == -ENOMEM) {
		m->n_enomem++;
		/* Only when the heap is really crowded. */
		MCHECK(m, m->occ_total + ust_arena_size(len) > m->f.heap_len / 2);
		return;
	}
	MCHECK(m, off > 0);
	MCHECK(m, occ == ust_arena_size(len));
	MCHECK(m, (uint64_t)off % (len > UST_ARENA_SMALL_MAX ? PG : 16) == 0);
	MCHECK(m, (uint64_t)off >= m->f.heap_off &&
		  (uint64_t)off + occ <= m->f.heap_off + m->f.heap_len);
	granules(m, (uint64_t)off, occ, true);
	/* Never on a range a hazard still protects. */
	for (uint32_t i = 0; i < m->npr; i++) {
		struct prot *p = &m->pr[i];

		if (hazarded(m, p->off, p->occ))
			MCHECK(m, (uint64_t)off + occ <= p->off || p->off + p->occ <= (uint64_t)off);
	}
	l = &m->lv[m->nlv++];
	l->off = (uint64_t)off;
	l->len = len;
	l->occ = occ;
	l->tag = xs(&m->rng) | 1;
	tag_write(m, l);
	if (len <= UST_ARENA_SMALL_MAX)
		m->class_count[ust_arena_class_of(len)]++;
	else
		m->run_count++;
	m->occ_total += occ;
	m->n_alloc++;
	if (m->occ_total > m->max_occ)
		m->max_occ = m->occ_total;
}

static void model_release(struct model *m, uint32_t i)
{
	struct live l = m->lv[i];

	tag_check(m, &l);
	if (hazarded(m, l.off, l.occ)) {
		m->pr[m->npr].off = l.off;
		m->pr[m->npr].occ = l.occ;
		m->npr++;
		m->n_prot++;
	}
	MCHECK(m, ust_arena_release(m->f.a, l.off, l.len) == 0);
	MCHECK(m, ust_arena_release(m->f.a, l.off, l.len) == -EINVAL);
	granules(m, l.off, l.occ, false);
	m->lv[i] = m->lv[--m->nlv];
	if (l.len <= UST_ARENA_SMALL_MAX)
		m->class_count[ust_arena_class_of(l.len)]--;
	else
		m->run_count--;
	m->occ_total -= l.occ;
}

/* Forget protected ranges no hazard points into any more (bounded list). */
static void prot_gc(struct model *m)
{
	for (uint32_t i = 0; i < m->npr;) {
		if (hazarded(m, m->pr[i].off, m->pr[i].occ))
			i++;
		else
			m->pr[i] = m->pr[--m->npr];
	}
}

static void model_check(struct model *m)
{
	struct ust_arena_stats s;
	uint64_t run_bytes = 0;

	ust_arena_stats(m->f.a, &s);
	MCHECK(m, s.alloc_count == m->nlv);
	MCHECK(m, s.alloc_bytes == m->occ_total);
	MCHECK(m, s.run_count == m->run_count);
	for (unsigned c = 0; c < UST_ARENA_NCLASSES; c++) {
		MCHECK(m, s.class_count[c] == m->class_count[c]);
		MCHECK(m, s.class_bytes[c] == m->class_count[c] * ust_arena_class_size(c));
	}
	for (uint32_t i = 0; i < m->nlv; i++)
		if (m->lv[i].len > UST_ARENA_SMALL_MAX)
			run_bytes += m->lv[i].occ;
	MCHECK(m, s.run_bytes == run_bytes);
	MCHECK(m, s.busy_bytes == 0);
	MCHECK(m, s.resident_bytes + s.cold_bytes == s.heap_bytes);
	MCHECK(m, s.resident_bytes >= s.run_bytes + s.slab_bytes + s.warm_bytes);
	MCHECK(m, s.warm_bytes <= m->warm_hard);
	MCHECK(m, s.deferred_count <= m->f.nhaz);
	if (s.deferred_count > m->max_def)
		m->max_def = s.deferred_count;
	MCHECK(m, s.punch_errors == 0);
	/* Pages the file really holds: only ours (and the hazard page). */
	MCHECK(m, (uint64_t)resident(&m->f) <= s.resident_bytes + PG);
	/* Metadata is bounded by what the live allocations are charged, plus fixed parts. */
	{
		uint64_t meta = 0;

		for (uint32_t i = 0; i < m->nlv; i++)
			meta += ust_arena_charge(m->lv[i].len) - m->lv[i].occ;
		meta += 2 * 80 * (s.warm_runs + s.deferred_count + 1) + 224 * s.slabs;
		meta += 64 * 16 + 8192 + m->f.nhaz * 48;
		MCHECK(m, s.meta_bytes <= meta);
	}
}

static void run_model(uint64_t heap, size_t warm_max, size_t warm_hard, uint32_t nhaz,
		      uint64_t steps, uint32_t maxlv, unsigned maxlg)
{
	struct model m;

	memset(&m, 0, sizeof(m));
	m.seed = env_u64("UTMEM_SEED", (uint64_t)time(NULL) ^ (uint64_t)getpid() << 16);
	m.rng = m.seed ? m.seed : 1;
	printf("arena model: seed=%" PRIu64 " (UTMEM_SEED to replay) heap=%" PRIu64
	       " MiB warm=%zu/%zu KiB hazards=%u steps=%" PRIu64 "\n",
	       m.seed, (uint64_t)(heap / MiB), warm_max / 1024, warm_hard / 1024, nhaz, steps);
	fflush(stdout);
	fx_open_hard(&m.f, heap, warm_max, warm_hard, nhaz, 8);
	m.warm_max = warm_max;
	m.warm_hard = warm_hard > warm_max ? warm_hard : warm_max;
	m.maxlv = maxlv;
	m.maxlg = maxlg;
	m.lv = calloc(maxlv, sizeof(*m.lv));
	m.bits = calloc(heap / 16 / 64, sizeof(*m.bits));
	m.pr = calloc(1024 * 64, sizeof(*m.pr));
	assert_non_null(m.lv);
	assert_non_null(m.bits);
	assert_non_null(m.pr);
	for (m.step = 0; m.step < steps; m.step++) {
		uint64_t r = xs(&m.rng) % 1000;
		/* phases of growing and shrinking, so slabs fill and then thin out */
		uint64_t grow = (m.step / 700) % 2 ? 300 : 700;

		if (r < grow && m.nlv < m.maxlv) {
			model_alloc(&m);
		} else if (r < 940 && m.nlv) {
			model_release(&m, (uint32_t)(xs(&m.rng) % m.nlv));
		} else if (r < 970 && nhaz) {
			/* a reader: a live value, a spot inside one, garbage, or nothing */
			uint32_t w = (uint32_t)(xs(&m.rng) % nhaz);
			uint64_t v = 0, k = xs(&m.rng) % 4;

			if (k < 2 && m.nlv) {
				struct live *l = &m.lv[xs(&m.rng) % m.nlv];

				v = l->off + (k ? xs(&m.rng) % l->occ : 0);
			} else if (k == 2) {
				v = xs(&m.rng);
			}
			haz_set(&m.f, w, v);
		} else if (r < 980) {
			struct ust_arena_stats ps;

			ust_arena_poll(m.f.a);
			ust_arena_stats(m.f.a, &ps);
			MCHECK(&m, ps.warm_bytes <= m.warm_max);
		} else if (r < 985) {
			ust_arena_trim(m.f.a);
		} else if (r < 988) {
			ust_arena_scrub(m.f.a);
		} else if (r < 990) {
			ust_arena_force(m.f.a, 0);
			m.npr = 0; /* forced ranges may be reused */
		} else {
			/* compaction: move values the arena wants moved */
			for (int k = 0; k < 16 && m.nlv; k++) {
				uint32_t i = (uint32_t)(xs(&m.rng) % m.nlv);
				struct live l = m.lv[i];

				if (!ust_arena_should_move(m.f.a, l.off, l.len) || m.nlv >= m.maxlv)
					continue;
				m.n_moved++;
				model_alloc(&m);
				model_release(&m, i);
			}
		}
		prot_gc(&m);
		model_check(&m);
	}
	printf("arena model: %" PRIu64 " allocations (%" PRIu64 " -ENOMEM), %" PRIu64
	       " moved, %" PRIu64 " released under a hazard, at most %" PRIu64
	       " deferred, at most %" PRIu64 " KiB live\n",
	       m.n_alloc, m.n_enomem, m.n_moved, m.n_prot, m.max_def, m.max_occ / 1024);
	while (m.nlv)
		model_release(&m, m.nlv - 1);
	for (uint32_t i = 0; i < nhaz; i++)
		haz_set(&m.f, i, 0);
	MCHECK(&m, ust_arena_poll(m.f.a) == 0);
	ust_arena_trim(m.f.a);
	{
		struct ust_arena_stats s;

		ust_arena_stats(m.f.a, &s);
		MCHECK(&m, s.alloc_count == 0 && s.slabs == 0 && s.warm_bytes == 0);
		MCHECK(&m, s.cold_runs == 1 && s.cold_bytes == heap);
		MCHECK(&m, resident(&m.f) <= PG);
	}
	fx_close(&m.f);
	free(m.lv);
	free(m.bits);
	free(m.pr);
}

static void test_model(void **state)
{
	uint64_t steps = env_u64("UTMEM_ARENA_STEPS", 6000);

	(void)state;
	/* 1 B .. 2 MiB; punch everything, no readers */
	run_model(256 * MiB, 0, 0, 0, steps / 2, 200, 22);
	/* 1 B .. 2 MiB; warm cache (punched by poll beyond 1 MiB) and hazards */
	run_model(256 * MiB, 1 * MiB, 4 * MiB, 8, steps, 200, 22);
	/* slab sizes only, many live: slabs fill, empty and get evacuated */
	run_model(64 * MiB, 1 * MiB, 0, 4, steps, 3000, 10);
}

/* ---- multi-threaded stress ---- */

struct tctx {
	struct fx *f;
	int id;
	uint64_t seed;
	uint64_t ops;
	uint64_t maxlen;  /* lengths log-uniform up to this */
	uint64_t fixlen;  /* or all this long */
	uint32_t maxlv;   /* live allocations at most */
	int fails; /* unexpected ENOMEM */
	int corrupt;
};

static void *stress_thread(void *p)
{
	struct tctx *t = p;
	struct live lv[48];
	uint32_t n = 0;
	uint64_t rng = t->seed;

	for (uint64_t i = 0; i < t->ops; i++) {
		uint64_t r = xs(&rng);

		if ((r % 100 < 55 && n < t->maxlv) || n == 0) {
			unsigned lg = (unsigned)(xs(&rng) % 19);
			size_t len = (size_t)((1ull << lg) + xs(&rng) % (1ull << lg));
			int64_t off;

			if (len > t->maxlen)
				len = (size_t)t->maxlen;
			if (t->fixlen)
				len = (size_t)t->fixlen;
			off = ust_arena_alloc(t->f->a, len, NULL);
			if (off < 0) {
				t->fails++;
				continue;
			}
			lv[n].off = (uint64_t)off;
			lv[n].len = len;
			lv[n].tag = ((uint64_t)t->id << 56) | i;
			memset(t->f->base + off, (int)(lv[n].tag & 0xff), len < 64 ? len : 64);
			if (len >= 16)
				memcpy(t->f->base + off + len - 8, &lv[n].tag, 8);
			n++;
		} else {
			uint32_t k = (uint32_t)(xs(&rng) % n);
			struct live l = lv[k];
			const unsigned char *q = (const unsigned char *)t->f->base + l.off;
			uint64_t e;

			for (size_t j = 0; j < (l.len < 64 ? l.len : 64) && j < l.len - (l.len >= 16 ? 8 : 0); j++)
				if (q[j] != (unsigned char)(l.tag & 0xff))
					t->corrupt++;
			if (l.len >= 16) {
				memcpy(&e, q + l.len - 8, 8);
				if (e != l.tag)
					t->corrupt++;
			}
			/* sometimes with our hazard word on it first */
			if (t->f->nhaz && xs(&rng) % 8 == 0)
				haz_set(t->f, (uint32_t)t->id, l.off);
			if (ust_arena_release(t->f->a, l.off, l.len) != 0)
				t->corrupt++;
			if (t->f->nhaz && xs(&rng) % 2 == 0)
				haz_set(t->f, (uint32_t)t->id, 0);
			lv[k] = lv[--n];
		}
	}
	while (n) {
		n--;
		if (ust_arena_release(t->f->a, lv[n].off, lv[n].len) != 0)
			t->corrupt++;
	}
	if (t->f->nhaz)
		haz_set(t->f, (uint32_t)t->id, 0);
	return NULL;
}

static volatile int stop_reclaimer;

/* Scrub, trim, poll and force concurrently with the workers. */
static void *reclaimer(void *p)
{
	struct fx *f = p;
	unsigned i = 0;

	while (!__atomic_load_n(&stop_reclaimer, __ATOMIC_RELAXED)) {
		switch (i++ % 4) {
		case 0: ust_arena_scrub(f->a); break;
		case 1: ust_arena_trim(f->a); break;
		case 2: ust_arena_poll(f->a); break;
		default: ust_arena_force(f->a, 1000000); break;
		}
		usleep(2000);
	}
	return NULL;
}

static void stress(int nthr, uint64_t heap, size_t warm_max, uint64_t ops,
		   uint64_t maxlen, uint64_t fixlen, uint32_t maxlv)
{
	pthread_t th[4], rt;
	struct tctx t[4];
	struct ust_arena_stats s;
	uint64_t seed = env_u64("UTMEM_SEED", (uint64_t)time(NULL));
	struct fx f;

	printf("arena stress: %d threads, seed=%" PRIu64 " heap=%" PRIu64 " KiB\n",
	       nthr, seed, heap / 1024);
	fflush(stdout);
	fx_open(&f, heap, warm_max, 4, 64);
	stop_reclaimer = 0;
	assert_int_equal(pthread_create(&rt, NULL, reclaimer, &f), 0);
	for (int i = 0; i < nthr; i++) {
		t[i] = (struct tctx){ .f = &f, .id = i, .seed = seed * 31 + (uint64_t)i + 1,
				      .ops = ops, .maxlen = maxlen, .fixlen = fixlen,
				      .maxlv = maxlv };
		assert_int_equal(pthread_create(&th[i], NULL, stress_thread, &t[i]), 0);
	}
	for (int i = 0; i < nthr; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(t[i].corrupt, 0);
		assert_int_equal(t[i].fails, 0); /* the heap always has room */
	}
	__atomic_store_n(&stop_reclaimer, 1, __ATOMIC_RELAXED);
	pthread_join(rt, NULL);
	assert_int_equal(ust_arena_poll(f.a), 0);
	ust_arena_trim(f.a);
	s = stats(&f);
	assert_int_equal(s.alloc_count, 0);
	assert_int_equal(s.slabs, 0);
	assert_int_equal(s.warm_bytes, 0);
	assert_int_equal(s.busy_bytes, 0);
	assert_int_equal(s.cold_runs, 1);
	assert_int_equal(s.punch_errors, 0);
	assert_true(resident(&f) <= PG);
	fx_close(&f);
}

static void test_stress(void **state)
{
	(void)state;
	/* roomy heap: mixed sizes, 4 threads, hazards, a concurrent reclaimer */
	stress(4, 256 * MiB, 2 * MiB, 20000, 512 * KiB, 0, 48);
	/*
	 * Tight heap: 2 threads x 8 runs of 64 KiB, 2 deferred at most, 19
	 * runs of room; every release punches and the reclaimer scrubs, so
	 * allocations often find their room still being punched: they must
	 * wait for it, never fail.
	 */
	stress(2, 19 * 64 * KiB, 0, 20000, 0, 64 * KiB, 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classes),
		cmocka_unit_test(test_slab_layout),
		cmocka_unit_test(test_charge_exact_monotonic),
		cmocka_unit_test(test_alignment_no_overlap),
		cmocka_unit_test(test_coalescing),
		cmocka_unit_test(test_punch_frees),
		cmocka_unit_test(test_warm_cache),
		cmocka_unit_test(test_alloc_resident),
		cmocka_unit_test(test_warm_hard),
		cmocka_unit_test(test_warm_poll),
		cmocka_unit_test(test_hazards),
		cmocka_unit_test(test_hazards_live),
		cmocka_unit_test(test_scrub),
		cmocka_unit_test(test_scrub_slab),
		cmocka_unit_test(test_slot_warm),
		cmocka_unit_test(test_zap_keeps_neighbours),
		cmocka_unit_test(test_zap_spares_pinned),
		cmocka_unit_test(test_release_many),
		cmocka_unit_test(test_copy),
		cmocka_unit_test(test_exhaustion),
		cmocka_unit_test(test_should_move),
		cmocka_unit_test(test_quiet),
		cmocka_unit_test(test_invalid_release),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_stress),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

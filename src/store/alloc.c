/*
 * alloc.c — memory for entries. The default backend is jemalloc: mallocx()
 * through the calling thread's cache (lock-free size classes; a dedicated
 * arena without the cache measured 2x slower per PUT, and destroying a
 * dedicated arena is unsafe while other threads' caches hold its objects),
 * nallocx() to learn an allocation's real size before taking it so the
 * charge is exact, sized sdallocx() to free, and an explicit purge of every
 * arena to hand memory back to the OS. Built with -DUST_ALLOC_LIBC the same interface sits on
 * glibc malloc, for the microbenchmark's comparison only. Linking jemalloc
 * replaces malloc for the whole process, and this file sets its slab sizes
 * (malloc_conf below; see docs/store.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

#ifdef UST_ALLOC_LIBC
#include <malloc.h>

/* glibc: one 8-byte header, 16-byte granules, 32-byte minimum chunk. */
int ust_alloc_init(struct ust_alloc *a, unsigned want)
{
	a->narenas = 0;
	(void)want;
	return 0;
}

void ust_alloc_fini(struct ust_alloc *a)
{
	(void)a;
}

size_t ust_alloc_size(const struct ust_alloc *a, size_t size)
{
	size_t chunk = (size + 8 + 15) & ~(size_t)15;

	(void)a;
	if (size >= 128 * 1024) /* served by mmap: two words, whole pages */
		return (size + 16 + 4095) & ~(size_t)4095;
	return chunk < 32 ? 32 : chunk;
}

void *ust_alloc(struct ust_alloc *a, unsigned slot, size_t size)
{
	(void)a;
	(void)slot;
	return malloc(size);
}

void ust_alloc_free(struct ust_alloc *a, void *p, size_t size)
{
	(void)a;
	(void)size;
	free(p);
}

void ust_alloc_trim(struct ust_alloc *a)
{
	(void)a;
	malloc_trim(0);
}

void ust_alloc_flush(struct ust_alloc *a)
{
	(void)a;
}

/* glibc tells nothing about its bins: nothing is ever judged sparse. */
void ust_alloc_sparse(struct ust_alloc *a, void *const *p, unsigned n, bool *move)
{
	(void)a;
	(void)p;
	memset(move, 0, n * sizeof(*move));
}

void *ust_alloc_move(struct ust_alloc *a, void *p, size_t size)
{
	(void)a;
	(void)p;
	(void)size;
	return NULL;
}

int ust_alloc_usage(struct ust_alloc *a, struct ust_alloc_usage *out)
{
	(void)a;
	memset(out, 0, sizeof(*out));
	return -ENOTSUP;
}

/* glibc has no slabs to report. */
int ust_alloc_bin(const struct ust_alloc *a, size_t size, unsigned *bin)
{
	(void)a;
	(void)size;
	*bin = 0;
	return -ENOTSUP;
}

int ust_alloc_slab(const struct ust_alloc *a, size_t size, unsigned *nregs,
		   size_t *slab_size)
{
	(void)a;
	(void)size;
	*nregs = 0;
	*slab_size = 0;
	return -ENOTSUP;
}

#else
#include <jemalloc/jemalloc.h>

/* Largest jemalloc small size class with 4 KiB pages; above it extents. */
#define UST_SMALL_MAX 14336u
/*
 * A slab used below this fraction (UST_DENSE_NUM / UST_DENSE_DEN) is sparse:
 * compaction moves its regions out so the slab empties and can be purged.
 * Slabs at or above it waste at most 1/8 of their bytes (docs/store.md).
 */
#define UST_DENSE_NUM 7u
#define UST_DENSE_DEN 8u
#define UST_QUERY_MAX 64u

/*
 * jemalloc's run-time options for every program that stores entries with
 * it (utmemd, the tests, the benchmarks: whoever links this file, which
 * ust_store_new() needs). jemalloc reads this string first, then
 * /etc/malloc.conf, then MALLOC_CONF, later settings overriding earlier
 * ones, so an operator's MALLOC_CONF still decides (jemalloc(3)).
 *
 * slab_sizes: larger slabs for the small classes from 4 KiB to 14 KiB. By
 * default jemalloc gives a 4 KiB, 8 KiB or 12 KiB region a slab of its
 * own, and every slab has an extent descriptor (128 B of metadata) that
 * jemalloc never returns to the OS; the other classes here get 2-4
 * regions per slab. After a 1 GiB shrink of 4 KiB values (shrink-bench
 * 1152 1024 4096) RSS stayed 38 MiB over the 128 MiB charge, outside the
 * margin of docs/store.md for good; with these slabs it ends 5 MiB over,
 * and 4-16 MiB lower than before at 5-14 KiB (docs/store.md has the
 * numbers). Each slab is a multiple of its region size, so none has a
 * wasted tail: 16 regions below 8 KiB, 8 from 8 KiB up, 64-112 KiB a slab.
 * A sparse slab is emptied by compaction (moving its regions) like the
 * smaller classes' ones. tests/unit/store/test_alloc checks the geometry.
 */
const char *malloc_conf = "slab_sizes:"
			  "4096-4096:16|"   /* 64 KiB, 16 regions (default 1) */
			  "5120-5120:20|"   /* 80 KiB, 16 (4) */
			  "6144-6144:24|"   /* 96 KiB, 16 (2) */
			  "7168-7168:28|"   /* 112 KiB, 16 (4) */
			  "8192-8192:16|"   /* 64 KiB, 8 (1) */
			  "10240-10240:20|" /* 80 KiB, 8 (2) */
			  "12288-12288:24|" /* 96 KiB, 8 (1) */
			  "14336-14336:28"; /* 112 KiB, 8 (2) */

/*
 * Flags for an allocation of size bytes. Large ones (above the small
 * classes) are asked for page-aligned: by default jemalloc starts a large
 * allocation at a random cache line within an extra page ("cache
 * oblivious"), so a 16 KiB value touched 5 pages and a 1 MiB one 257, and
 * RSS exceeded the charge by up to 25 %. Page alignment turns that off for
 * these allocations only (Debian's jemalloc 5.3 has no run-time switch);
 * the size class, hence nallocx and the charge, is the same. Small sizes
 * keep flags 0: alignment would move them to another class.
 */
static int flags_for(size_t size)
{
	return size > UST_SMALL_MAX ? MALLOCX_ALIGN(4096) : 0;
}

/* jemalloc: nothing to set up; entries use the threads' caches and arenas. */
int ust_alloc_init(struct ust_alloc *a, unsigned want)
{
	a->narenas = 0;
	(void)want;
	return 0;
}

void ust_alloc_fini(struct ust_alloc *a)
{
	(void)a;
}

/* The real size an allocation of size bytes will have (the charge basis). */
size_t ust_alloc_size(const struct ust_alloc *a, size_t size)
{
	(void)a;
	return nallocx(size, flags_for(size));
}

/* Allocate size bytes through the calling thread's cache; NULL on failure. */
void *ust_alloc(struct ust_alloc *a, unsigned slot, size_t size)
{
	(void)a;
	(void)slot;
	return mallocx(size, flags_for(size));
}

/* Free p, allocated with ust_alloc() for exactly size bytes (sized free). */
void ust_alloc_free(struct ust_alloc *a, void *p, size_t size)
{
	(void)a;
	sdallocx(p, size, flags_for(size));
}

/*
 * Give unused pages back to the OS now: flush the calling thread's cache,
 * then purge every arena (dirty and muzzy pages are released with
 * MADV_DONTNEED / munmap, so RSS falls at once).
 */
void ust_alloc_trim(struct ust_alloc *a)
{
	char name[64];

	(void)a;
	mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
	snprintf(name, sizeof(name), "arena.%u.purge", (unsigned)MALLCTL_ARENAS_ALL);
	mallctl(name, NULL, NULL, NULL, 0);
}

/*
 * jemalloc's bin (small size class) for an allocation of size bytes, in
 * *bin. Returns 0, or -ENOENT when size is above the small classes (no
 * slab), -ENOTSUP when jemalloc does not answer.
 */
int ust_alloc_bin(const struct ust_alloc *a, size_t size, unsigned *bin)
{
	size_t want = ust_alloc_size(a, size), len;
	unsigned nbins;
	char name[64];

	len = sizeof(nbins);
	if (mallctl("arenas.nbins", &nbins, &len, NULL, 0) != 0)
		return -ENOTSUP;
	for (unsigned i = 0; i < nbins; i++) {
		size_t bsize;

		snprintf(name, sizeof(name), "arenas.bin.%u.size", i);
		len = sizeof(bsize);
		if (mallctl(name, &bsize, &len, NULL, 0) != 0)
			return -ENOTSUP;
		if (bsize == want) {
			*bin = i;
			return 0;
		}
	}
	return -ENOENT;
}

/*
 * The slab of the size class that an allocation of size bytes gets: regions
 * per slab and bytes per slab (arenas.bin.<i>.nregs, .slab_size). Returns
 * 0 or ust_alloc_bin()'s error. For checking malloc_conf above.
 */
int ust_alloc_slab(const struct ust_alloc *a, size_t size, unsigned *nregs,
		   size_t *slab_size)
{
	unsigned bin;
	uint32_t n;
	char name[64];
	size_t len = sizeof(n);
	int err = ust_alloc_bin(a, size, &bin);

	if (err)
		return err;
	snprintf(name, sizeof(name), "arenas.bin.%u.nregs", bin);
	if (mallctl(name, &n, &len, NULL, 0) != 0)
		return -ENOTSUP;
	*nregs = n;
	snprintf(name, sizeof(name), "arenas.bin.%u.slab_size", bin);
	len = sizeof(*slab_size);
	if (mallctl(name, slab_size, &len, NULL, 0) != 0)
		return -ENOTSUP;
	return 0;
}

/* Hand the calling thread's cached free regions back to their slabs. */
void ust_alloc_flush(struct ust_alloc *a)
{
	(void)a;
	mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
}

/*
 * For n allocations p[i] (n <= 64) set move[i] when p[i] is a region of a
 * jemalloc slab (small size class) holding more than one region and used
 * below 7/8: moving it to a fuller slab (compact.c) helps empty this one.
 * Large allocations and one-region slabs are never sparse: freeing them
 * frees whole pages. Uses experimental.utilization.batch_query (jemalloc
 * 5.2.1+); if that fails, nothing is moved. Lock-free; the answer is a
 * snapshot (other threads allocate and free meanwhile).
 */
void ust_alloc_sparse(struct ust_alloc *a, void *const *p, unsigned n, bool *move)
{
	size_t out[3 * UST_QUERY_MAX];
	size_t outlen = 3 * n * sizeof(size_t);

	(void)a;
	memset(move, 0, n * sizeof(*move));
	if (n == 0 || n > UST_QUERY_MAX)
		return;
	if (mallctl("experimental.utilization.batch_query", out, &outlen, (void *)p,
		    n * sizeof(*p)) != 0)
		return;
	for (unsigned i = 0; i < n; i++) {
		size_t nfree = out[3 * i], nregs = out[3 * i + 1];

		move[i] = nregs > 1 && nfree <= nregs &&
			  (nregs - nfree) * UST_DENSE_DEN < nregs * UST_DENSE_NUM;
	}
}

/*
 * Move the allocation p of size bytes (as given to ust_alloc) to a new
 * place in the same arena, bypassing the thread cache both ways: the bin
 * then serves the oldest non-full slab, so moved regions fill slabs that
 * are kept, and the freed region goes straight back to its slab (not into
 * a cache that the next move would take it from again). Returns the new
 * address, p's bytes copied and p freed; or NULL with p untouched (no
 * memory, or p's arena unknown). The caller relinks under its lock.
 */
void *ust_alloc_move(struct ust_alloc *a, void *p, size_t size)
{
	static _Thread_local size_t mib[2], miblen;
	unsigned arena;
	size_t alen = sizeof(arena);
	void *q;

	(void)a;
	if (!miblen) {
		size_t len = 2;

		if (mallctlnametomib("arenas.lookup", mib, &len) != 0)
			return NULL;
		miblen = len;
	}
	if (mallctlbymib(mib, miblen, &arena, &alen, &p, sizeof(p)) != 0)
		return NULL;
	q = mallocx(size, flags_for(size) | MALLOCX_ARENA(arena) | MALLOCX_TCACHE_NONE);
	if (!q)
		return NULL;
	memcpy(q, p, size);
	sdallocx(p, size, flags_for(size) | MALLOCX_TCACHE_NONE);
	return q;
}

/*
 * The process's heap as jemalloc sees it (stats refreshed first): bytes
 * allocated, in active pages, resident, and held dirty (freed, not yet
 * purged). Returns 0, or -ENOTSUP when jemalloc was built without stats.
 * Costs a stats merge over every arena (tens of microseconds).
 */
int ust_alloc_usage(struct ust_alloc *a, struct ust_alloc_usage *out)
{
	uint64_t epoch = 1;
	size_t len = sizeof(epoch), v, vl = sizeof(v);

	(void)a;
	memset(out, 0, sizeof(*out));
	if (mallctl("epoch", &epoch, &len, &epoch, len) != 0)
		return -ENOTSUP;
	if (mallctl("stats.allocated", &v, &vl, NULL, 0) != 0)
		return -ENOTSUP;
	out->allocated = v;
	mallctl("stats.active", &v, &vl, NULL, 0);
	out->active = v;
	mallctl("stats.resident", &v, &vl, NULL, 0);
	out->resident = v;
	{
		char name[64];
		size_t page = 4096, pl = sizeof(page);

		mallctl("arenas.page", &page, &pl, NULL, 0);
		snprintf(name, sizeof(name), "stats.arenas.%u.pdirty",
			 (unsigned)MALLCTL_ARENAS_ALL);
		if (mallctl(name, &v, &vl, NULL, 0) == 0)
			out->dirty = (uint64_t)v * page;
	}
	return 0;
}
#endif

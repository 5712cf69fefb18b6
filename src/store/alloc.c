/*
 * alloc.c — memory for entries. The default backend is jemalloc: mallocx()
 * through the calling thread's cache (lock-free size classes; a dedicated
 * arena without the cache measured 2x slower per PUT, and destroying a
 * dedicated arena is unsafe while other threads' caches hold its objects),
 * nallocx() to learn an allocation's real size before taking it so the
 * charge is exact, sized sdallocx() to free, and an explicit purge of every
 * arena to hand memory back to the OS. Built with -DUST_ALLOC_LIBC the same interface sits on
 * glibc malloc, for the microbenchmark's comparison only. Linking jemalloc
 * replaces malloc for the whole process (see docs/store.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

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

#else
#include <jemalloc/jemalloc.h>

/* Largest jemalloc small size class with 4 KiB pages; above it extents. */
#define UST_SMALL_MAX 14336u

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
#endif

/*
 * alloc.c — memory for entries. The default backend is jemalloc: the store
 * creates a few arenas of its own (one per group of stripes, so two threads
 * rarely share an arena's locks), allocates with mallocx() bypassing the
 * thread cache (a cached free object would stay resident after a shrink),
 * learns an allocation's real size up front with nallocx() so the charge is
 * exact before any memory is taken, and hands memory back to the OS with
 * "arena.<i>.purge". Built with -DUST_ALLOC_LIBC the same interface sits on
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

static int flags_of(const struct ust_alloc *a, unsigned slot)
{
	return MALLOCX_ARENA(a->arenas[slot % a->narenas]) | MALLOCX_TCACHE_NONE;
}

/* Run "arena.<i>.<verb>"; returns mallctl's result (0 = done). */
static int arena_ctl(unsigned arena, const char *verb)
{
	char name[64];

	snprintf(name, sizeof(name), "arena.%u.%s", arena, verb);
	return mallctl(name, NULL, NULL, NULL, 0);
}

/*
 * Create up to want (1..64) private arenas. Returns 0 or -ENOMEM; on failure
 * the arenas made so far are destroyed.
 */
int ust_alloc_init(struct ust_alloc *a, unsigned want)
{
	if (want < 1)
		want = 1;
	if (want > 64)
		want = 64;
	a->narenas = 0;
	while (a->narenas < want) {
		unsigned ind;
		size_t sz = sizeof(ind);

		if (mallctl("arenas.create", &ind, &sz, NULL, 0) != 0) {
			ust_alloc_fini(a);
			return -ENOMEM;
		}
		a->arenas[a->narenas++] = ind;
	}
	return 0;
}

/* Destroy the arenas; every entry must have been freed already. */
void ust_alloc_fini(struct ust_alloc *a)
{
	for (unsigned i = 0; i < a->narenas; i++)
		arena_ctl(a->arenas[i], "destroy");
	a->narenas = 0;
}

/* The real size an allocation of size bytes will have (the charge basis). */
size_t ust_alloc_size(const struct ust_alloc *a, size_t size)
{
	(void)a;
	return nallocx(size, 0);
}

/* Allocate size bytes in the arena serving stripe slot; NULL on failure. */
void *ust_alloc(struct ust_alloc *a, unsigned slot, size_t size)
{
	return mallocx(size, flags_of(a, slot));
}

/* Free p, allocated with ust_alloc() for exactly size bytes. */
void ust_alloc_free(struct ust_alloc *a, void *p, size_t size)
{
	sdallocx(p, size, MALLOCX_TCACHE_NONE);
	(void)a;
}

/* Give every unused page of the store's arenas back to the OS, now. */
void ust_alloc_trim(struct ust_alloc *a)
{
	for (unsigned i = 0; i < a->narenas; i++)
		arena_ctl(a->arenas[i], "purge");
}
#endif

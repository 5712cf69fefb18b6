/*
 * helpers.h — small helpers shared by the store's unit tests: the documented
 * charge formula computed independently of the store, the process's resident
 * set size, and terse wrappers for PUT/GET with string keys.
 */
#ifndef UTMEM_TEST_STORE_HELPERS_H
#define UTMEM_TEST_STORE_HELPERS_H

#include <errno.h>
#include <jemalloc/jemalloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "store/store.h"

/*
 * docs/store.md: charge = nallocx(24 + klen + vlen) + 8 for values under
 * 4 KiB (inline), nallocx(24 + klen + 8) + nallocx(vlen) + 8 from 4 KiB on
 * (value allocated apart, the entry holds its pointer).
 */
static inline uint64_t charge_of(size_t klen, size_t vlen)
{
	if (vlen >= 4096)
		return nallocx(24 + klen + 8, 0) + nallocx(vlen, 0) + 8;
	return nallocx(24 + klen + vlen, 0) + 8;
}

/*
 * A memfd of size bytes (sparse) mapped shared and read-write, as a value
 * region is: the mapping, with its descriptor in *fd, or NULL.
 */
static inline void *region_memfd(const char *name, uint64_t size, int *fd)
{
	void *base;

	*fd = memfd_create(name, MFD_CLOEXEC);
	if (*fd < 0)
		return NULL;
	if (ftruncate(*fd, (off_t)size) != 0)
		return NULL;
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	return base == MAP_FAILED ? NULL : base;
}

/*
 * Tenant `name` (no limits) with a value region of size bytes on a fresh
 * memfd (rc's other fields as given) and a persistent private pool "p":
 * 0, or -errno with what was made left to ust_store_free.
 */
static inline int region_tenant(ust_store *st, const char *name,
				struct ust_region_cfg *rc, uint64_t size,
				uint32_t *t, uint32_t *p, int *fd, void **base)
{
	struct ust_limits lim = {0, UINT64_MAX, 1};
	int err = ust_tenant_add(st, name, &lim, t);

	if (err)
		return err;
	*base = region_memfd(name, size, fd);
	if (!*base)
		return -ENOMEM;
	rc->base = *base;
	rc->fd = *fd;
	rc->size = size;
	err = ust_region_attach(st, *t, rc);
	return err ? err : ust_pool_open(st, *t, "p", UST_POOL_PERSISTENT,
					 UST_OPEN_CREATE, p);
}

/* Resident set size in bytes, from /proc/self/statm. */
/*
 * Under ThreadSanitizer RSS also holds the shadow of every byte the store
 * ever wrote, which does not go when the store gives pages back: the RSS
 * tests run their cases (for the races) but cannot judge RSS there.
 */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif

static inline uint64_t rss_bytes(void)
{
	unsigned long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%lu %lu", &size, &res) != 2)
			res = 0;
		fclose(f);
	}
	return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

static inline int sput(ust_store *st, uint32_t t, uint32_t p, const char *k,
		       const void *v, size_t vlen)
{
	return ust_put(st, t, p, k, strlen(k), v, vlen);
}

static inline int sget(ust_store *st, uint32_t t, uint32_t p, const char *k,
		       unsigned flags, void *buf, size_t cap, size_t *vlen)
{
	return ust_get_buf(st, t, p, k, strlen(k), flags, buf, cap, vlen);
}

#endif

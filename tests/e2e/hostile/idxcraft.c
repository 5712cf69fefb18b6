/*
 * idxcraft.c — keys crafted against the tenant's own value-region index
 * (docs/security.md: the index is charged beyond its entries' share).
 *
 * The index's hash seed is in the region's header, which every client of
 * the tenant maps, so the tenant can choose keys for it: here 7 keys per
 * sub-table, all 64 of them, whose two bucket choices are 0 (and 1) at
 * every table size up to 128 buckets. Seven keys overflow the 6 slots of
 * two buckets, so each sub-table doubles until the keys part, at 256
 * buckets or so: 448 entries hold about 2.2 MiB of tables, where their
 * share is 35 KiB.
 *
 * idxcraft SOCK put|remove: PUT the keys into the private pool "crafted",
 * or invalidate them; prints "keys N errors E".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_int.h"
#include "hostile.h"
#include "proto/region.h"

#define PER_SUB 7
#define ZERO_BITS 7

/* Out of line: inlined into the search loop, xxhash's reads of the small
 * key buffer trip GCC's array-bounds warning. */
__attribute__((noinline)) static uint64_t key_hash(uint64_t seed, uint32_t pool,
						   const char *k, size_t n)
{
	return uvr_hash(seed, pool, k, n);
}

int cmd_idxcraft(char **argv)
{
	static char keys[UVR_NSUB * PER_SUB][24];
	unsigned per[UVR_NSUB] = {0}, found = 0, errs = 0;
	const uint64_t mask = (1u << ZERO_BITS) - 1;
	int remove = strcmp(argv[1], "remove") == 0;
	utmem_client *c = connect_lib(argv[0]);
	uint32_t pool, id = 0;
	uint64_t seed;
	int err;

	if (utmem_pool_open(c, "crafted", UTMEM_POOL_CREATE, &pool))
		die("pool");
	/* The ring and region come with the first request. */
	(void)utmem_invalidate(c, pool, "warm", 4);
	pthread_mutex_lock(&c->lock);
	/* The pool's id in the daemon, as the one-sided reader hashes it (the
	 * library's table: uclient_resolve_pool is not exported). */
	err = !c->region ? -ENOENT
	      : pool == 0 || pool > c->npools || !c->pools[pool - 1].open ? -EBADF
	      : 0;
	if (!err)
		id = c->pools[pool - 1].server;
	seed = c->region ? c->region->seed : 0;
	pthread_mutex_unlock(&c->lock);
	if (err) {
		fprintf(stderr, "idxcraft: no region or pool id: %s\n", strerror(-err));
		return 2;
	}
	for (uint64_t i = 0; found < UVR_NSUB * PER_SUB; i++) {
		char k[24];
		int n = snprintf(k, sizeof(k), "x%llu", (unsigned long long)i);
		uint64_t h = key_hash(seed, id, k, (size_t)n);

		if (((h >> 8) & mask) || ((h >> 28) & mask) ||
		    per[uvr_sub(h)] == PER_SUB)
			continue;
		per[uvr_sub(h)]++;
		memcpy(keys[found++], k, (size_t)n + 1);
	}
	for (unsigned i = 0; i < found; i++) {
		size_t n = strlen(keys[i]);

		err = remove ? utmem_invalidate(c, pool, keys[i], n)
			     : utmem_put(c, pool, keys[i], n, "v", 1);
		errs += err != 0;
	}
	printf("keys %u errors %u\n", found, errs);
	utmem_close(c);
	return 0;
}

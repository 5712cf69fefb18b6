/*
 * slabcraft.c — a tenant that keeps one small record per slab of its
 * value region (docs/security.md, "Free slots among small records").
 *
 * A record under a page shares its page with its neighbours, so utmemd can
 * give a page back only when every record on it is gone. Each round fills
 * the tenant's quota with records of one size class (consecutive keys take
 * consecutive slots), then removes all but the first of every PER records,
 * where PER is about what a page holds: the charge falls to almost
 * nothing while every page stays resident. The next round uses the freed
 * charge for records of another class, which cannot reuse those free
 * slots. Round after round, utmemd held a page per record while charging
 * the tenant for the records alone, and nothing asked it to pack them.
 *
 * slabcraft SOCK ROUNDS: prints "rounds R records N kept K errors E"
 * (errors: failed requests other than a full quota).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostile.h"

#define KEYLEN 12
#define BATCH 1024u
#define MAX_PER_ROUND 400000u

/* Values whose records ([8 B header][key][value]) fall into different
 * slab classes under a page, one per round. */
static const unsigned vlens[] = {
	44, 76, 100, 140, 170, 200, 236, 300, 364, 430,
	492, 556, 620, 750, 870, 1000, 1260, 1516,
};

static void key_of(char k[KEYLEN + 1], unsigned round, unsigned i)
{
	snprintf(k, KEYLEN + 1, "s%02u:%08u", round % 100, i);
}

int cmd_slabcraft(char **argv)
{
	static char keys[MAX_PER_ROUND][KEYLEN + 1];
	static unsigned char val[2048];
	unsigned rounds = (unsigned)strtoul(argv[1], NULL, 10);
	unsigned long records = 0, kept = 0, errs = 0;
	utmem_client *c = connect_lib(argv[0]);
	utmem_batch *b;
	uint32_t pool;

	if (rounds > sizeof(vlens) / sizeof(vlens[0]))
		rounds = sizeof(vlens) / sizeof(vlens[0]);
	if (utmem_pool_open(c, "sparse", UTMEM_POOL_CREATE, &pool))
		die("pool");
	if (utmem_batch_new(c, &b))
		die("batch");
	memset(val, 's', sizeof(val));
	for (unsigned r = 0; r < rounds; r++) {
		unsigned vlen = vlens[r], rec = 8u + KEYLEN + vlen;
		unsigned per = 4096u / rec, n = 0;
		int full = 0;

		/* Fill until the quota refuses. */
		while (!full && n < MAX_PER_ROUND) {
			unsigned first = n;

			utmem_batch_reset(b);
			for (; n < first + BATCH && n < MAX_PER_ROUND; n++) {
				key_of(keys[n], r, n);
				utmem_batch_put(b, pool, keys[n], KEYLEN, val, vlen);
			}
			if (utmem_batch_exec(b) < 0)
				die("batch put");
			for (unsigned i = 0; i < n - first; i++) {
				ssize_t res = utmem_batch_result(b, i);

				if (res == -EDQUOT || res == -ENOSPC)
					full = 1;
				else if (res < 0)
					errs++;
			}
		}
		records += n;
		/* Keep the first of every per: one record per page. */
		for (unsigned first = 0; first < n; first += BATCH) {
			utmem_batch_reset(b);
			for (unsigned i = first; i < first + BATCH && i < n; i++)
				if (i % per)
					utmem_batch_invalidate(b, pool, keys[i], KEYLEN);
			if (utmem_batch_exec(b) < 0)
				die("batch invalidate");
		}
		kept += (n + per - 1) / per;
	}
	printf("rounds %u records %lu kept %lu errors %lu\n", rounds, records, kept, errs);
	utmem_batch_free(b);
	utmem_close(c);
	return 0;
}

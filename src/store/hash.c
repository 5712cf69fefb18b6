/*
 * hash.c — the key hash. Keys are short byte strings hashed on every
 * operation, so the function reads eight bytes per step and finishes with a
 * strong 64-bit avalanche: the low bits pick the lock stripe, the middle bits
 * the bucket and the top 16 bits become the entry's mismatch tag, so all
 * three must be well mixed.
 */
#include <string.h>

#include "store/internal.h"

/* Final avalanche: every input bit affects every output bit. */
static uint64_t mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

/*
 * Return the 64-bit hash of len bytes at key. Pure function; key may be
 * NULL when len is 0.
 */
uint64_t ust_hash(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = 0x9e3779b97f4a7c15ull ^ (len * 0x100000001b3ull);
	uint64_t w;

	while (len >= 8) {
		memcpy(&w, p, 8);
		h = (h ^ mix64(w)) * 0x87c37b91114253d5ull;
		h = (h << 31) | (h >> 33);
		p += 8;
		len -= 8;
	}
	w = 0;
	if (len)
		memcpy(&w, p, len);
	return mix64(h ^ w ^ (uint64_t)len << 56);
}

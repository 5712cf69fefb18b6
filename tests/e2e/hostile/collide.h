/*
 * collide.h — keys that all share one 64-bit hash under utmem's former,
 * unkeyed key hash (src/store/hash.c before issue 8), as a hostile tenant
 * would compute them: that function was invertible, so for any first
 * 8-byte word the second word that lands on a chosen hash can be solved
 * for. Used by the hostile-tenant suite (against the old and the new
 * daemon) and by the store's hash unit test. Header-only, no dependencies.
 */
#ifndef UTMEM_TEST_COLLIDE_H
#define UTMEM_TEST_COLLIDE_H

#include <stdint.h>
#include <string.h>

#define COLLIDE_KLEN 16u

static inline uint64_t collide_mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

/* Multiplicative inverse of an odd a modulo 2^64 (Newton's iteration). */
static inline uint64_t collide_inv(uint64_t a)
{
	uint64_t x = a;

	for (int i = 0; i < 6; i++)
		x *= 2 - a * x;
	return x;
}

static inline uint64_t collide_unmix64(uint64_t h)
{
	h ^= h >> 33;
	h *= collide_inv(0xc4ceb9fe1a85ec53ull);
	h ^= h >> 33;
	h *= collide_inv(0xff51afd7ed558ccdull);
	h ^= h >> 33;
	return h;
}

static inline uint64_t collide_rotl(uint64_t x, unsigned r)
{
	return (x << r) | (x >> (64 - r));
}

/* The former ust_hash(), verbatim in effect. */
static inline uint64_t collide_old_hash(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = 0x9e3779b97f4a7c15ull ^ (len * 0x100000001b3ull);
	uint64_t w;

	while (len >= 8) {
		memcpy(&w, p, 8);
		h = collide_rotl((h ^ collide_mix64(w)) * 0x87c37b91114253d5ull, 31);
		p += 8;
		len -= 8;
	}
	w = 0;
	if (len)
		memcpy(&w, p, len);
	return collide_mix64(h ^ w ^ (uint64_t)len << 56);
}

/*
 * Write the i-th 16-byte key whose old hash is the same for every i (that
 * of key 0) into key[COLLIDE_KLEN]. Host byte order is little-endian on
 * every machine utmem supports, as the old hash's memcpy assumed.
 */
static inline void collide_key(uint64_t i, unsigned char key[COLLIDE_KLEN])
{
	const uint64_t c = 0x87c37b91114253d5ull;
	uint64_t h0 = 0x9e3779b97f4a7c15ull ^ (COLLIDE_KLEN * 0x100000001b3ull);
	/* Target: the running hash after both words for i = 0, w1 = w2 = 0. */
	uint64_t h1z = collide_rotl((h0 ^ collide_mix64(0)) * c, 31);
	uint64_t target = collide_rotl((h1z ^ collide_mix64(0)) * c, 31);
	uint64_t w1 = i, h1, w2;

	h1 = collide_rotl((h0 ^ collide_mix64(w1)) * c, 31);
	/* rotl(x * c, 31) = target  =>  x = rotr(target, 31) * c^-1 */
	w2 = collide_unmix64((collide_rotl(target, 33) * collide_inv(c)) ^ h1);
	memcpy(key, &w1, 8);
	memcpy(key + 8, &w2, 8);
}

#endif /* UTMEM_TEST_COLLIDE_H */

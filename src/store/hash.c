/*
 * hash.c — the key hash: XXH3 (Debian's libxxhash) keyed with a secret of
 * XXH3_SECRET_DEFAULT_SIZE random bytes drawn once per process, when the
 * first store is created.
 *
 * Keys come from tenants, who are hostile to each other: with a public hash
 * a tenant can compute keys that all land in one chain (the old function
 * was invertible, so 60,000 crafted keys shared one 64-bit hash) and make
 * every operation on that stripe slow for everyone. With a secret unknown
 * to tenants, where a key lands cannot be predicted. The hash is stable for
 * the life of the process (tables rehash from the key, table.c) and differs
 * between processes, which nothing relies on: nothing hashed is persisted.
 * The low bits pick the lock stripe, the middle bits the bucket and the top
 * 16 bits become the entry's mismatch tag; XXH3 mixes all of them.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/random.h>
#include <unistd.h>

#define XXH_INLINE_ALL /* the hash is on every operation: let it inline */
#include <xxhash.h>

#include "store/internal.h"

static unsigned char secret[XXH3_SECRET_DEFAULT_SIZE];
static pthread_once_t secret_once = PTHREAD_ONCE_INIT;
static int secret_err;

/* Fill buf from the kernel's CSPRNG. Returns 0 or -errno. */
static int random_bytes(unsigned char *buf, size_t len)
{
	while (len) {
		ssize_t n = getrandom(buf, len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void draw_secret(void)
{
	secret_err = random_bytes(secret, sizeof(secret));
}

/*
 * Draw the secret (once per process; later calls return the first
 * outcome). Returns 0, or -errno if the kernel gave no random bytes, in
 * which case no store may be created: an unkeyed table is the attack.
 */
int ust_hash_init(void)
{
	pthread_once(&secret_once, draw_secret);
	return secret_err;
}

/*
 * Return the 64-bit keyed hash of len bytes at key. Pure for the life of
 * the process; key may be NULL when len is 0. ust_hash_init() must have
 * succeeded (ust_store_new sees to it).
 */
uint64_t ust_hash(const void *key, size_t len)
{
	return XXH3_64bits_withSecret(key, len, secret, sizeof(secret));
}

/*
 * hello.c — the smallest useful libutmem program: connect to utmemd, open a
 * persistent pool, PUT a value, GET it back, pop it, show that INVALIDATE
 * reports a missing key, and print the tenant's counters.
 *
 *   hello [ADDRESS]     ADDRESS defaults to $UTMEM_ADDR, then
 *                       unix:./run/utmem/utmemd.sock
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utmem.h>

/* Print what failed and why; returns 1 so main can `return fail(...)`. */
static int fail(const char *what, int err)
{
	fprintf(stderr, "hello: %s: %s\n", what, utmem_strerror(err));
	return 1;
}

static int demo(utmem_client *c)
{
	const char key[] = "greeting", val[] = "hello, host memory";
	struct utmem_stats st;
	char buf[64];
	uint32_t pool;
	ssize_t n;
	int err;

	err = utmem_pool_open(c, "hello", UTMEM_POOL_PERSISTENT | UTMEM_POOL_CREATE,
			      &pool);
	if (err)
		return fail("open pool", err);
	err = utmem_put(c, pool, key, strlen(key), val, strlen(val));
	if (err)
		return fail("put", err);
	n = utmem_get(c, pool, key, strlen(key), buf, sizeof(buf), 0);
	if (n < 0)
		return fail("get", (int)n);
	printf("get:  %.*s\n", (int)n, buf);
	n = utmem_get(c, pool, key, strlen(key), buf, sizeof(buf),
		      UTMEM_GET_EXCLUSIVE);
	if (n < 0)
		return fail("pop", (int)n);
	printf("pop:  %.*s\n", (int)n, buf);
	err = utmem_invalidate(c, pool, key, strlen(key));
	printf("invalidate after pop: %s\n", utmem_strerror(err));
	err = utmem_stats(c, 0, &st);
	if (err)
		return fail("stats", err);
	printf("tenant: %" PRIu64 " entries, %" PRIu64 " bytes, %" PRIu64
	       " puts, %" PRIu64 " hits, %" PRIu64 " misses, max %" PRIu64 "\n",
	       st.entries, st.bytes_stored, st.puts, st.hits, st.misses,
	       st.limit_max);
	return 0;
}

int main(int argc, char **argv)
{
	const char *addr = argc > 1 ? argv[1] : getenv("UTMEM_ADDR");
	utmem_client *c;
	int err, rc;

	if (!addr)
		addr = "unix:./run/utmem/utmemd.sock";
	err = utmem_connect(addr, NULL, &c);
	if (err) {
		fprintf(stderr, "hello: connect %s: %s\n", addr, utmem_strerror(err));
		return 1;
	}
	printf("connected to %s (libutmem %s, max value %zu bytes)\n", addr,
	       utmem_version(), utmem_max_value(c));
	rc = demo(c);
	utmem_close(c);
	return rc;
}

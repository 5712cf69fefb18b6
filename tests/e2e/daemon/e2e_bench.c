/*
 * e2e_bench.c — the latency breakdown modes against a real utmemd
 * (t_bench_modes.sh drives it).
 *
 *   e2e_bench off SOCK   utmemd runs without bench_modes: every mode is
 *                        refused at connect (-EOPNOTSUPP), a plain client
 *                        works, and contradictory flags are -EINVAL.
 *   e2e_bench on SOCK    utmemd runs with bench_modes = on: null store
 *                        stores, replaces and charges nothing and answers
 *                        GETs with zeros; no-forward never reaches utmemd
 *                        (its counters do not move); timing splits served,
 *                        posted and one-sided calls into parts that add up.
 * Exits 0 only if every check held, printing both sides of a failed one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e_check.h"
#include "utmem.h"

static int dial(const char *sock, unsigned flags, utmem_client **c)
{
	char addr[512];
	struct utmem_options o = {.flags = flags, .no_reconnect = 1};

	snprintf(addr, sizeof(addr), "unix:%s", sock);
	return utmem_connect(addr, &o, c);
}

static utmem_client *must_dial(const char *sock, unsigned flags)
{
	utmem_client *c = NULL;
	int err = dial(sock, flags, &c);

	if (err) {
		fprintf(stderr, "FAIL connect %s flags 0x%x: %s\n", sock, flags,
			utmem_strerror(err));
		exit(1);
	}
	return c;
}

static uint32_t must_pool(utmem_client *c)
{
	uint32_t p = 0;

	CHECK_EQ("pool open", utmem_pool_open(c, "bm", UTMEM_POOL_CREATE, &p), 0);
	if (failures)
		exit(1);
	return p;
}

static int cmd_off(const char *sock)
{
	static const unsigned modes[] = {
		UTMEM_OPT_NO_FORWARD, UTMEM_OPT_NULL_STORE, UTMEM_OPT_TIMING,
		UTMEM_OPT_NULL_STORE | UTMEM_OPT_TIMING | UTMEM_OPT_NO_FAST_PATH,
	};
	utmem_client *c = NULL;
	struct utmem_timing tm;
	char out[16];

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		CHECK_EQ("mode refused without bench_modes", dial(sock, modes[i], &c),
			 -EOPNOTSUPP);
		CHECK_EQ("no client left", c == NULL, 1);
	}
	CHECK_EQ("no-forward with null store", dial(sock, UTMEM_OPT_NO_FORWARD |
						    UTMEM_OPT_NULL_STORE, &c),
		 -EINVAL);
	/* Without any flag, a client stores and reads as always. */
	c = must_dial(sock, 0);
	uint32_t p = must_pool(c);
	CHECK_EQ("plain put", utmem_put(c, p, "k", 1, "value", 5), 0);
	CHECK_EQ("plain get", utmem_get(c, p, "k", 1, out, sizeof(out), 0), 5);
	CHECK_EQ("plain bytes", memcmp(out, "value", 5), 0);
	CHECK_EQ("timing not asked", utmem_timing(c, &tm), -EINVAL);
	utmem_close(c);
	return failures ? 1 : 0;
}

/* Null store: nothing stored, replaced, charged or counted. */
static void check_null_store(const char *sock, utmem_client *plain, uint32_t p)
{
	utmem_client *n = must_dial(sock, UTMEM_OPT_NULL_STORE);
	uint32_t np = must_pool(n);
	struct utmem_stats before, after;
	unsigned char buf[100], big[4096];
	void *av = NULL;
	size_t alen = 99;

	CHECK_EQ("stats before", utmem_stats(plain, 0, &before), 0);
	CHECK_EQ("null put over k", utmem_put(n, np, "k", 1, "other", 5), 0);
	memset(big, 0xab, sizeof(big));
	for (int i = 0; i < 50; i++) {
		char key[16];

		snprintf(key, sizeof(key), "n%d", i);
		CHECK_EQ("null put", utmem_put(n, np, key, strlen(key), big, sizeof(big)), 0);
	}
	memset(buf, 0xff, sizeof(buf));
	CHECK_EQ("null get k: the buffer's length", utmem_get(n, np, "k", 1, buf,
							       sizeof(buf), 0),
		 (long long)sizeof(buf));
	for (size_t i = 0; i < sizeof(buf); i++)
		if (buf[i]) {
			CHECK_EQ("null get gives zeros", buf[i], 0);
			break;
		}
	CHECK_EQ("null get of a missing key", utmem_get(n, np, "n0", 2, buf,
							 sizeof(buf), 0),
		 (long long)sizeof(buf));
	CHECK_EQ("null get_alloc", utmem_get_alloc(n, np, "k", 1, &av, &alen, 0), 0);
	CHECK_EQ("null get_alloc is empty", alen, 0);
	free(av);
	CHECK_EQ("stats after", utmem_stats(plain, 0, &after), 0);
	CHECK_EQ("entries unchanged", after.entries, before.entries);
	CHECK_EQ("bytes charged unchanged", after.bytes_charged, before.bytes_charged);
	CHECK_EQ("bytes stored unchanged", after.bytes_stored, before.bytes_stored);
	CHECK_EQ("puts not counted", after.puts, before.puts);
	CHECK_EQ("gets not counted", after.gets, before.gets);
	CHECK_EQ("k keeps its value", utmem_get(plain, p, "k", 1, buf, sizeof(buf), 0), 5);
	CHECK_EQ("k's bytes", memcmp(buf, "value", 5), 0);
	CHECK_EQ("n0 never stored", utmem_get(plain, p, "n0", 2, buf, sizeof(buf), 0),
		 -ENOENT);
	utmem_close(n);
}

/* No-forward: answered by the library, utmemd's counters do not move. */
static void check_no_forward(const char *sock, utmem_client *plain, uint32_t p)
{
	utmem_client *f = must_dial(sock, UTMEM_OPT_NO_FORWARD | UTMEM_OPT_TIMING);
	uint32_t fp = must_pool(f);
	struct utmem_stats before, after;
	struct utmem_timing tm;
	unsigned char buf[64];
	void *av = NULL;
	size_t alen = 0;

	CHECK_EQ("stats before", utmem_stats(plain, 0, &before), 0);
	for (int i = 0; i < 100; i++) {
		CHECK_EQ("no-forward put", utmem_put(f, fp, "nf", 2, "x", 1), 0);
		CHECK_EQ("no-forward put path", utmem_timing(f, &tm), 0);
		CHECK_EQ("path none", tm.path, UTMEM_PATH_NONE);
		CHECK_EQ("no-forward get", utmem_get(f, fp, "k", 1, buf, sizeof(buf), 0),
			 -ENOENT);
		CHECK_EQ("no-forward get path", utmem_timing(f, &tm), 0);
		CHECK_EQ("path none", tm.path, UTMEM_PATH_NONE);
		CHECK_EQ("only library time", tm.transport_ns + tm.daemon_ns + tm.store_ns, 0);
	}
	CHECK_EQ("no-forward get_alloc", utmem_get_alloc(f, fp, "k", 1, &av, &alen, 0),
		 -ENOENT);
	CHECK_EQ("stats after", utmem_stats(plain, 0, &after), 0);
	CHECK_EQ("puts unchanged", after.puts, before.puts);
	CHECK_EQ("gets unchanged", after.gets, before.gets);
	CHECK_EQ("hits unchanged", after.hits, before.hits);
	CHECK_EQ("misses unchanged", after.misses, before.misses);
	CHECK_EQ("entries unchanged", after.entries, before.entries);
	CHECK_EQ("nf never stored", utmem_get(plain, p, "nf", 2, buf, sizeof(buf), 0),
		 -ENOENT);
	utmem_close(f);
}

/* Timing: every path gives parts that add up, utmemd's where it served. */
static void check_timing(const char *sock)
{
	const size_t mib = 1u << 20;
	unsigned char *v = malloc(mib), *out = malloc(mib);
	utmem_client *s = must_dial(sock, UTMEM_OPT_TIMING | UTMEM_OPT_SYNC_PUT |
					      UTMEM_OPT_SYNC_GET);
	utmem_client *d = must_dial(sock, UTMEM_OPT_TIMING);
	uint32_t sp = must_pool(s), dp = must_pool(d);
	struct utmem_timing tm;
	unsigned served = 0;

	if (!v || !out)
		exit(1);
	memset(v, 0x5a, mib);
	for (int i = 0; i < 20; i++) {
		size_t len = i % 2 ? mib : 1024;

		CHECK_EQ("served put", utmem_put(s, sp, "t", 1, v, len), 0);
		CHECK_EQ("served put timing", utmem_timing(s, &tm), 0);
		CHECK_EQ("served put path", tm.path == UTMEM_PATH_RING ||
					    tm.path == UTMEM_PATH_SOCKET, 1);
		CHECK_EQ("the store took time", tm.store_ns > 0, 1);
		CHECK_EQ("read once", utmem_timing(s, &tm), -EINVAL);
		CHECK_EQ("served get", utmem_get(s, sp, "t", 1, out, mib, 0), (long long)len);
		CHECK_EQ("served get bytes", memcmp(out, v, len), 0);
		CHECK_EQ("served get timing", utmem_timing(s, &tm), 0);
		CHECK_EQ("served get path", tm.path == UTMEM_PATH_RING ||
					    tm.path == UTMEM_PATH_SOCKET, 1);
		CHECK_EQ("utmemd served it", tm.daemon_ns + tm.store_ns > 0, 1);
		served++;
	}
	/* The default fast path: posted PUTs and one-sided GETs, when this
	 * daemon offers them (it does, with its default ring_size). */
	CHECK_EQ("posted put", utmem_put(d, dp, "p", 1, v, 1024), 0);
	CHECK_EQ("posted put timing", utmem_timing(d, &tm), 0);
	CHECK_EQ("posted", tm.path, UTMEM_PATH_POSTED);
	CHECK_EQ("nothing waited for utmemd", tm.daemon_ns + tm.store_ns, 0);
	CHECK_EQ("get one-sided", utmem_get(d, dp, "p", 1, out, mib, 0), 1024);
	CHECK_EQ("one-sided timing", utmem_timing(d, &tm), 0);
	CHECK_EQ("one-sided", tm.path, UTMEM_PATH_ONE_SIDED);
	CHECK_EQ("no daemon time", tm.daemon_ns + tm.transport_ns, 0);
	printf("timing: %u served PUT/GET pairs, posted and one-sided checked\n", served);
	utmem_close(d);
	utmem_close(s);
	free(v);
	free(out);
}

static int cmd_on(const char *sock)
{
	utmem_client *plain = must_dial(sock, 0);
	uint32_t p = must_pool(plain);

	CHECK_EQ("plain put", utmem_put(plain, p, "k", 1, "value", 5), 0);
	CHECK_EQ("settled", utmem_sync(plain), 0);
	check_null_store(sock, plain, p);
	check_no_forward(sock, plain, p);
	check_timing(sock);
	utmem_close(plain);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "off") == 0)
		return cmd_off(argv[2]);
	if (argc == 3 && strcmp(argv[1], "on") == 0)
		return cmd_on(argv[2]);
	fprintf(stderr, "usage: e2e_bench off|on SOCKET\n");
	return 2;
}

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
 *                        posted and one-sided calls into parts that add up,
 *                        and reports a refused call as itself (path NONE).
 *   e2e_bench raw-off SOCK / raw-on SOCK
 *                        BENCH by hand, as no libutmem sends it: refused
 *                        like an unknown opcode when off (the connection
 *                        stays usable); when on, malformed modes and shapes
 *                        are INVALID and TIMING reports a PING's service.
 * Exits 0 only if every check held, printing both sides of a failed one.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "e2e_check.h"
#include "proto/wire.h"
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
	/* utmem_submit_put stops here too: "stored", no completion to come. */
	CHECK_EQ("no-forward submit_put", utmem_submit_put(f, fp, "nf", 2, "x", 1, 5), 1);
	CHECK_EQ("nothing outstanding", utmem_async_outstanding(f), 0);
	{ /* over the maximum: refused as forwarded, not "stored" */
		size_t big = utmem_max_value(f) + 1;
		void *v = calloc(1, big);

		CHECK_EQ("no-forward put over max", v ? utmem_put(f, fp, "nf", 2, v, big) : -ENOMEM,
			 -EMSGSIZE);
		free(v);
	}
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

static int view_nothing(void *ctx, const void *val, size_t len)
{
	(void)ctx;
	(void)val;
	(void)len;
	return 0;
}

/* A refused call's figures are all the library's: path NONE. */
static void expect_none(const char *what, utmem_client *s)
{
	struct utmem_timing tm;

	CHECK_EQ(what, utmem_timing(s, &tm), 0);
	CHECK_EQ(what, tm.path, UTMEM_PATH_NONE);
	CHECK_EQ(what, tm.transport_ns + tm.daemon_ns + tm.store_ns, 0);
}

/*
 * A call refused before sending (bad argument, bad pool handle) is the
 * last call all the same: utmem_timing() reports it (path NONE), never
 * the figures of the served call before it.
 */
static void check_timing_refused(utmem_client *s, uint32_t sp,
				 const unsigned char *v)
{
	unsigned char buf[16];
	size_t alen = 0;

	CHECK_EQ("served put", utmem_put(s, sp, "t", 1, v, 16), 0);
	CHECK_EQ("empty key put", utmem_put(s, sp, "", 0, v, 16), -EINVAL);
	expect_none("empty key put timing", s);
	CHECK_EQ("served put", utmem_put(s, sp, "t", 1, v, 16), 0);
	CHECK_EQ("NULL value put", utmem_put(s, sp, "t", 1, NULL, 16), -EINVAL);
	expect_none("NULL value put timing", s);
	CHECK_EQ("served get", utmem_get(s, sp, "t", 1, buf, sizeof(buf), 0), 16);
	CHECK_EQ("bad pool get", utmem_get(s, 4242, "t", 1, buf, sizeof(buf), 0),
		 -EBADF);
	expect_none("bad pool get timing", s);
	CHECK_EQ("served get", utmem_get(s, sp, "t", 1, buf, sizeof(buf), 0), 16);
	CHECK_EQ("bad flags get", utmem_get(s, sp, "t", 1, buf, sizeof(buf), 1u << 9),
		 -EINVAL);
	expect_none("bad flags get timing", s);
	CHECK_EQ("served get", utmem_get(s, sp, "t", 1, buf, sizeof(buf), 0), 16);
	CHECK_EQ("NULL out get_alloc", utmem_get_alloc(s, sp, "t", 1, NULL, &alen, 0),
		 -EINVAL);
	expect_none("NULL out get_alloc timing", s);
	CHECK_EQ("served get", utmem_get(s, sp, "t", 1, buf, sizeof(buf), 0), 16);
	CHECK_EQ("exclusive local view",
		 utmem_get_view(s, sp, "t", 1,
				UTMEM_GET_EXCLUSIVE | UTMEM_GET_LOCAL,
				view_nothing, NULL), -EINVAL);
	expect_none("exclusive local view timing", s);
}

/* Wait (5 s at most) for the completion tagged tag, and drop it. */
static void reap_one(utmem_client *c, uint64_t tag)
{
	struct utmem_completion comp;
	struct pollfd p = {.fd = utmem_event_fd(c), .events = POLLIN};
	int n = 0;

	for (int i = 0; i < 50 && n == 0; i++) {
		n = utmem_reap(c, &comp, 1);
		if (n == 0)
			(void)poll(&p, 1, 100);
	}
	CHECK_EQ("a completion reaped", n, 1);
	if (n == 1) {
		CHECK_EQ("its tag", comp.tag, tag);
		free(comp.val);
	}
}

/*
 * Batches are not timed: a GET a batch reads one-sidedly (sending nothing
 * to utmemd) leaves the last timed call's figures as they were, here a
 * posted PUT's, never reported as a one-sided read.
 */
static void check_timing_batch(utmem_client *d, uint32_t dp,
			       const unsigned char *v, unsigned char *out)
{
	struct utmem_timing tm;
	utmem_batch *b = NULL;

	CHECK_EQ("batch new", utmem_batch_new(d, &b), 0);
	if (!b)
		return;
	CHECK_EQ("posted put", utmem_put(d, dp, "p", 1, v, 1024), 0);
	CHECK_EQ("batch get", utmem_batch_get(b, dp, "p", 1, out, 1024, 0), 0);
	CHECK_EQ("batch exec", utmem_batch_exec(b), 1);
	CHECK_EQ("batch get result", utmem_batch_result(b, 0), 1024);
	CHECK_EQ("timing after a batch", utmem_timing(d, &tm), 0);
	CHECK_EQ("still the posted put's", tm.path, UTMEM_PATH_POSTED);
	CHECK_EQ("no read time in it", tm.store_ns, 0);
	utmem_batch_free(b);
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
	/* utmemd keeps the times of a connection's last request only: after
	 * a ping they are the ping's, never reported as the PUT's. */
	CHECK_EQ("served put", utmem_put(s, sp, "t", 1, v, 1024), 0);
	CHECK_EQ("ping", utmem_ping(s), 0);
	CHECK_EQ("timing after a ping", utmem_timing(s, &tm), -ESTALE);
	CHECK_EQ("served get", utmem_get(s, sp, "t", 1, out, mib, 0), 1024);
	CHECK_EQ("timing after a get", utmem_timing(s, &tm), 0);
	/* An asynchronous request goes to utmemd too, and its times replace
	 * the GET's before they are asked for. */
	CHECK_EQ("served get", utmem_get(s, sp, "t", 1, out, mib, 0), 1024);
	CHECK_EQ("submitted get", utmem_submit_get(s, sp, "t", 1, 0, 7), 0);
	CHECK_EQ("timing after a submitted get", utmem_timing(s, &tm), -ESTALE);
	reap_one(s, 7);
	check_timing_refused(s, sp, v);
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
	check_timing_batch(d, dp, v, out);
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

/* ---- BENCH by hand ---- */

static int raw_dial(const char *sock)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 5};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "FAIL raw connect %s\n", sock);
		exit(1);
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static int read_all(int fd, void *p, size_t n)
{
	for (size_t got = 0; got < n;) {
		ssize_t r = read(fd, (char *)p + got, n - got);

		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/*
 * Send one request (op, flags, key, value) and read its reply: returns the
 * reply's status, its value in val (up to 16 bytes) and length in *vlen;
 * -1 if the connection failed.
 */
static int raw_req(int fd, uint8_t op, uint16_t flags, const void *key,
		   uint32_t klen, const void *v, uint32_t vl, uint8_t val[16],
		   uint32_t *vlen)
{
	static uint64_t id = 1;
	struct uwire_limits lim = {UWIRE_KEY_CEILING, UWIRE_VALUE_CEILING};
	struct uwire_hdr h = {.version = UWIRE_VERSION, .opcode = op,
			      .flags = flags, .id = id++, .klen = klen, .vlen = vl};
	uint8_t buf[UWIRE_HDR_SIZE + 64], rh[UWIRE_HDR_SIZE];
	struct uwire_hdr r;

	uwire_hdr_encode(&h, buf);
	memcpy(buf + UWIRE_HDR_SIZE, key, klen);
	memcpy(buf + UWIRE_HDR_SIZE + klen, v, vl);
	if (write(fd, buf, UWIRE_HDR_SIZE + klen + vl) != (ssize_t)(UWIRE_HDR_SIZE + klen + vl) ||
	    read_all(fd, rh, sizeof(rh)) || uwire_hdr_decode(rh, &lim, &r) ||
	    r.id != h.id || r.vlen > 16 || read_all(fd, val, r.vlen))
		return -1;
	*vlen = r.vlen;
	return r.status;
}

static int raw_bench(int fd, uint32_t mode, uint8_t val[16], uint32_t *vlen)
{
	uint8_t m[4];

	uwire_put_u32(m, mode);
	return raw_req(fd, UWIRE_OP_BENCH, 0, "", 0, m, 4, val, vlen);
}

static int cmd_raw(const char *sock, int on)
{
	int fd = raw_dial(sock);
	uint8_t val[16], m[4];
	uint32_t vlen = 0;

	if (!on) {
		CHECK_EQ("BENCH refused as unknown", raw_bench(fd, UWIRE_BENCH_TIMING, val, &vlen),
			 UWIRE_S_OPCODE);
		CHECK_EQ("still usable", raw_req(fd, UWIRE_OP_PING, 0, "", 0, "", 0, val, &vlen),
			 UWIRE_S_OK);
		close(fd);
		return failures ? 1 : 0;
	}
	CHECK_EQ("unknown mode bit", raw_bench(fd, 8, val, &vlen), UWIRE_S_INVALID);
	CHECK_EQ("null store with no-forward", raw_bench(fd, UWIRE_BENCH_NULL_STORE |
							    UWIRE_BENCH_NO_FORWARD, val, &vlen),
		 UWIRE_S_INVALID);
	uwire_put_u32(m, UWIRE_BENCH_TIMING);
	CHECK_EQ("BENCH with a key", raw_req(fd, UWIRE_OP_BENCH, 0, "k", 1, m, 4, val, &vlen),
		 UWIRE_S_INVALID);
	CHECK_EQ("BENCH without its mode", raw_req(fd, UWIRE_OP_BENCH, 0, "", 0, "", 0, val,
						   &vlen),
		 UWIRE_S_INVALID);
	CHECK_EQ("BENCH with a flag", raw_req(fd, UWIRE_OP_BENCH, UWIRE_F_EXCLUSIVE, "", 0, m,
					      4, val, &vlen),
		 UWIRE_S_INVALID);
	CHECK_EQ("timing granted", raw_bench(fd, UWIRE_BENCH_TIMING, val, &vlen), UWIRE_S_OK);
	CHECK_EQ("times record", vlen, UWIRE_BENCH_TIMES_SIZE);
	CHECK_EQ("ping", raw_req(fd, UWIRE_OP_PING, 0, "", 0, "", 0, val, &vlen), UWIRE_S_OK);
	CHECK_EQ("times after ping", raw_bench(fd, UWIRE_BENCH_TIMING, val, &vlen), UWIRE_S_OK);
	CHECK_EQ("the ping was timed", uwire_get_u64(val) > 0, 1);
	CHECK_EQ("no store in a ping", uwire_get_u64(val + 8), 0);
	CHECK_EQ("modes off again", raw_bench(fd, 0, val, &vlen), UWIRE_S_OK);
	close(fd);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "raw-off") == 0)
		return cmd_raw(argv[2], 0);
	if (argc == 3 && strcmp(argv[1], "raw-on") == 0)
		return cmd_raw(argv[2], 1);
	if (argc == 3 && strcmp(argv[1], "off") == 0)
		return cmd_off(argv[2]);
	if (argc == 3 && strcmp(argv[1], "on") == 0)
		return cmd_on(argv[2]);
	fprintf(stderr, "usage: e2e_bench off|on|raw-off|raw-on SOCKET\n");
	return 2;
}

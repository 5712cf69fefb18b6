/*
 * e2e_fast.c — end-to-end checks of libutmem's fast path (the default for
 * unix:PATH: a shared-memory ring, posted PUTs paid from credit, one-sided
 * GETs out of the tenant's value region) against a real utmemd, driven by
 * t_fp_*.sh. docs/design.md "The data path" is what is checked.
 *
 * Subcommands (ADDR is unix:PATH; exit status 0 only if every check held):
 *   sizes ADDR STOPPED CONT
 *       values of every size class from 0 B to max_value (1 MiB and larger
 *       included) checked byte for byte through GET, get_alloc, get_view
 *       and pop; max_value + 1 refused and the key left without a value.
 *       Then it prints STORED and waits for the file STOPPED (the script
 *       has SIGSTOPped utmemd): every stored value must still be read
 *       (one-sided, from the region: utmemd cannot answer) and PUTs must be
 *       posted (they return while utmemd is stopped); it prints POSTED and
 *       waits for CONT (utmemd resumed), then checks the posted values.
 *   order ADDR SEED N
 *       posted PUTs of random sizes, each followed at once on the same
 *       connection by a GET, get_alloc, get_view, pop, INVALIDATE or an
 *       overwrite of the same key; then bursts of N PUTs read back in a
 *       random order the same ways; with and without UTMEM_OPT_LAZY_KICK;
 *       a second connection sees everything after utmem_sync().
 *   credit ADDR MAX
 *       a tenant whose quota is MAX: credit is held while posting and
 *       returned when the client closes (SERVER_INFO tenant_credit_bytes
 *       back to 0); PUTs of one size are refused exactly at the quota
 *       (the last that fits is stored, the next refused with -EDQUOT,
 *       freeing one value lets exactly one more in); a refused PUT leaves
 *       no value. Needs UTMEMCTL and E2E_RUN (the daemon's charged total).
 *   churn ADDR STOPPED
 *       posted PUTs of 256 KiB values (staged) overwriting 16 keys, 1,500
 *       rounds, on a tenant with room for far more: what the connection
 *       holds (tenant_credit_bytes, sampled every 100 PUTs) stays within
 *       one staging budget and two inline windows, and every value reads
 *       back whole. (A replacing PUT is paid by the value it replaces; the
 *       reservation its extent brought must not pile up.) Then the staging
 *       size (connection_stage_bytes) follows 1 MiB values up and 256 KiB
 *       values back down, and with both mixed, the smaller values keep
 *       extents of their size (connection_stage_small_bytes), as many of
 *       the slots as their share of the records (connection_stage_small_slots).
 *       Every PUT is counted once by its path (SERVER_INFO tenant_puts_*),
 *       and slots too small for the values now sent come back (churn_stale:
 *       the driving script stops utmemd after STALE_READY and creates the
 *       flag file STOPPED).
 *   reclaim ADDR FILL_ADDR quota|capacity
 *       a client of ADDR posts, then sits idle holding credit; another
 *       client, of FILL_ADDR, fills a pool until it is refused for the
 *       quota (FILL_ADDR = ADDR) or for the daemon's capacity (another
 *       tenant): utmemd takes the idle one's credit back
 *       (tenant_credit_bytes 0, tenant_credit_reclaimed_bytes counted)
 *       without its posting, the refused PUT then fits, and the idle
 *       client posts on with every value whole and its connection open.
 *   race ADDR SEED SECONDS
 *       writer threads overwrite and invalidate keys of an ephemeral pool
 *       in a daemon too small for them (evictions) while reader threads
 *       read them one-sided; every hit must be a whole value of that key
 *       (its content encodes key, version and length), never torn, never
 *       older than one the same reader saw before.
 *   idle ADDR
 *       with UTMEM_OPT_LAZY_KICK, once everything posted was served,
 *       utmem_flush() at every turn of an idle event loop (what the Redis
 *       module does) must not wake utmemd's workers (INFO worker_wakeups);
 *       a flush after a posted PUT still delivers it. Needs UTMEMCTL and
 *       E2E_RUN.
 * SEED 0 picks one from the clock; the seed is printed first ("seed: N")
 * and replays the run when given back.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "e2e_check.h"
#include "utmem.h"

/* ---- helpers ---- */

static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;

/* Report a failed check from any thread (CHECK_EQ is for the main one). */
#define TFAIL(...)                                                             \
	do {                                                                   \
		pthread_mutex_lock(&fail_lock);                                \
		fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);           \
		fprintf(stderr, __VA_ARGS__);                                  \
		fputc('\n', stderr);                                           \
		failures++;                                                    \
		pthread_mutex_unlock(&fail_lock);                              \
	} while (0)

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* A PRNG stream (splitmix64). */
static uint64_t rnd(uint64_t *s)
{
	*s += 0x9e3779b97f4a7c15ull;
	return mix(*s);
}

static uint64_t rnd_below(uint64_t *s, uint64_t n)
{
	return n ? rnd(s) % n : 0;
}

/* The seed argument: 0 = from the clock. Printed so a run can be replayed. */
static uint64_t take_seed(const char *arg, const char *cmd)
{
	uint64_t seed = strtoull(arg, NULL, 0);

	if (!seed) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		seed = mix((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
			   (uint64_t)getpid());
		seed = seed ? seed : 1;
	}
	printf("seed: %llu (replay: e2e_fast %s ADDR %llu ...)\n",
	       (unsigned long long)seed, cmd, (unsigned long long)seed);
	fflush(stdout);
	return seed;
}

/* n bytes of content determined by (a, b), from byte `from` of it on:
 * little-endian words mix(base + word index). */
static void gen_at(uint8_t *p, size_t n, uint64_t a, uint64_t b, size_t from)
{
	uint64_t base = mix(a * 0x100000001b3ull ^ mix(b));
	size_t i = 0;

	for (; i < n && (from + i) % 8; i++) {
		size_t at = from + i;

		p[i] = (uint8_t)(mix(base + at / 8) >> ((at % 8) * 8));
	}
	for (; i + 8 <= n; i += 8) {
		uint64_t w = mix(base + (from + i) / 8);

		memcpy(p + i, &w, 8);
	}
	for (; i < n; i++) {
		size_t at = from + i;

		p[i] = (uint8_t)(mix(base + at / 8) >> ((at % 8) * 8));
	}
}

static void gen(uint8_t *p, size_t n, uint64_t a, uint64_t b)
{
	gen_at(p, n, a, b, 0);
}

/* Does p hold gen(a, b)'s n bytes? Returns the first bad offset or -1. */
static long gen_check(const uint8_t *p, size_t n, uint64_t a, uint64_t b)
{
	uint8_t chunk[4096];

	for (size_t off = 0; off < n; off += sizeof(chunk)) {
		size_t k = n - off < sizeof(chunk) ? n - off : sizeof(chunk);

		gen_at(chunk, k, a, b, off);
		if (memcmp(chunk, p + off, k) != 0) {
			for (size_t i = 0; i < k; i++)
				if (chunk[i] != p[off + i])
					return (long)(off + i);
		}
	}
	return -1;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		fprintf(stderr, "FAIL out of memory (%zu bytes)\n", n);
		exit(1);
	}
	return p;
}

/* get_view callback: compare the view against gen(a, b) of the expected length. */
struct view_want {
	uint64_t a, b;
	size_t len;
	long bad; /* -1: matched */
	size_t got;
};

static int view_check(void *ctx, const void *val, size_t len)
{
	struct view_want *w = ctx;

	w->got = len;
	w->bad = len == w->len ? gen_check(val, len, w->a, w->b) : 0;
	return 7; /* passed back by utmem_get_view */
}

/* A number of SERVER_INFO ("name:"), or -1. */
static long long server_info_num(utmem_client *c, const char *name)
{
	char buf[1024], *p;
	ssize_t n = utmem_server_info(c, buf, sizeof(buf));

	if (n < 0 || !(p = strstr(buf, name)))
		return -1;
	return strtoll(p + strlen(name), NULL, 10);
}

/* tenant_credit_bytes from SERVER_INFO, or -1. */
static long long credit_bytes(utmem_client *c)
{
	return server_info_num(c, "tenant_credit_bytes:");
}

/* ---- sizes ---- */

static size_t sizes_list(size_t max, size_t *out, size_t cap)
{
	size_t n = 0;

#define ADD(x)                                                                 \
	do {                                                                   \
		size_t x_ = (x);                                               \
		if (x_ <= max && n < cap)                                      \
			out[n++] = x_;                                         \
	} while (0)
	for (size_t s = 0; s <= 64; s++)
		ADD(s);
	/* Every doubling up to 1 MiB at its four size classes and around
	 * them; above (page runs) one size past each power of two. */
	for (size_t p = 64; p <= max / 2 + 1; p *= 2) {
		static const size_t q[4] = {4, 5, 6, 7};

		if (p > (1u << 20)) {
			ADD(p + 1);
			continue;
		}
		for (int i = 0; i < 4; i++) {
			size_t s = p / 4 * q[i];

			ADD(s - 1);
			ADD(s);
			ADD(s + 1);
		}
	}
	/* Records around the staging threshold (16 KiB with the header and a
	 * key of this test's length, 12 bytes) and the largest ring frame
	 * (half of the default 1 MiB ring). */
	for (long d = -2; d <= 2; d++) {
		ADD((size_t)(16384 - 8 - 12 + d));
		ADD((size_t)((1u << 19) - 16 - 12 + d));
	}
	ADD(max);
#undef ADD
	return n;
}

/* One size: PUT, then GET / get_alloc / get_view (and short buffers). */
static void size_check(utmem_client *c, uint32_t p, const char *key, size_t n,
		       uint8_t *val, uint8_t *got)
{
	size_t klen = strlen(key), alen = 0;
	struct view_want w = {n, 7, n, -1, 0};
	void *a = NULL;
	char what[96];

	gen(val, n, n, 7);
	snprintf(what, sizeof(what), "put %zu", n);
	CHECK_EQ(what, utmem_put(c, p, key, klen, val, n), 0);
	snprintf(what, sizeof(what), "get %zu", n);
	CHECK_EQ(what, utmem_get(c, p, key, klen, got, n, 0), (long long)n);
	snprintf(what, sizeof(what), "get %zu: content", n);
	CHECK_EQ(what, gen_check(got, n, n, 7), -1);
	if (n) {
		snprintf(what, sizeof(what), "get %zu into %zu bytes", n, n - 1);
		CHECK_EQ(what, utmem_get(c, p, key, klen, got, n - 1, 0), -ENOBUFS);
	}
	snprintf(what, sizeof(what), "get_view %zu", n);
	CHECK_EQ(what, utmem_get_view(c, p, key, klen, 0, view_check, &w), 7);
	snprintf(what, sizeof(what), "get_view %zu: length", n);
	CHECK_EQ(what, w.got, n);
	snprintf(what, sizeof(what), "get_view %zu: content", n);
	CHECK_EQ(what, w.bad, -1);
	if (n <= (4u << 20)) { /* the same path again, with a malloc: time */
		snprintf(what, sizeof(what), "get_alloc %zu", n);
		CHECK_EQ(what, utmem_get_alloc(c, p, key, klen, &a, &alen, 0), 0);
		CHECK_EQ(what, alen, n);
		CHECK_EQ(what, a ? gen_check(a, alen, n, 7) : 0, -1);
		free(a);
	}
}

static int cmd_sizes(char **argv)
{
	const char *addr = argv[0];
	utmem_client *c = e2e_dial(addr, 0);
	size_t max = utmem_max_value(c), n, *sz = xmalloc(4096 * sizeof(size_t));
	uint8_t *val = xmalloc(max + 1), *got = xmalloc(max + 1);
	char key[32];
	uint32_t p;
	double t0;
	int kept = 0;

	printf("max_value %zu\n", max);
	CHECK_EQ("open", utmem_pool_open(c, "sizes", UTMEM_POOL_CREATE, &p), 0);
	n = sizes_list(max, sz, 4096);
	t0 = e2e_now_s();
	for (size_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "s%011zu", sz[i]);
		size_check(c, p, key, sz[i], val, got);
		/* Keep up to 4 MiB and the largest for the stopped phase; pop
		 * the rest (through utmemd: the request path, checked too). */
		if (sz[i] <= (4u << 20) || sz[i] == max) {
			kept++;
			continue;
		}
		CHECK_EQ("pop", utmem_get(c, p, key, strlen(key), got, sz[i],
					  UTMEM_GET_EXCLUSIVE), (long long)sz[i]);
		CHECK_EQ("pop content", gen_check(got, sz[i], sz[i], 7), -1);
		CHECK_EQ("gone after pop", utmem_get(c, p, key, strlen(key), got, 1, 0),
			 -ENOENT);
	}
	printf("%zu sizes from 0 to %zu checked in %.2f s (%d failures)\n", n, max,
	       e2e_now_s() - t0, failures);
	/* One byte too many: refused before it is sent, the old value gone. */
	CHECK_EQ("old value", utmem_put(c, p, "over", 4, "old", 3), 0);
	CHECK_EQ("max_value + 1 refused", utmem_put(c, p, "over", 4, val, max + 1),
		 -EMSGSIZE);
	CHECK_EQ("no value after the refusal", utmem_get(c, p, "over", 4, got, 8, 0),
		 -ENOENT);
	/* Credit, and staging slots sized for 300 KiB records, for the posted
	 * PUTs of the stopped phase; a round trip makes sure the refill that
	 * follows the service pass happened. */
	for (int i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "warm%d", i);
		gen(val, 300000, 300000, 7);
		CHECK_EQ("warm-up put", utmem_put(c, p, key, strlen(key), val, 300000), 0);
	}
	CHECK_EQ("sync", utmem_sync(c), 0);
	CHECK_EQ("ping", utmem_ping(c), 0);
	/* A second client with a short timeout, its credit in hand: in the
	 * stopped phase its connection is lost with a PUT posted. */
	struct utmem_options so = {.timeout_ms = 300, .no_reconnect = 1};
	utmem_client *lc = NULL;
	uint32_t lp = 0;

	CHECK_EQ("short-timeout client", utmem_connect(addr, &so, &lc), 0);
	CHECK_EQ("its pool", lc ? utmem_pool_open(lc, "sizes", 0, &lp) : -1, 0);
	CHECK_EQ("its credit", lc ? utmem_put(lc, lp, "lost-warm", 9, "w", 1) : -1, 0);
	CHECK_EQ("its sync", lc ? utmem_sync(lc) : -1, 0);
	printf("STORED %d values\n", kept);
	fflush(stdout);
	if (e2e_wait_flag(argv[1]) < 0)
		return 1;
	/*
	 * utmemd is stopped. Reading a value of a private pool needs no
	 * request: every kept value, the largest included, comes out of the
	 * region. A request would wait for its 5 s timeout and fail.
	 */
	t0 = e2e_now_s();
	for (size_t i = 0; i < n; i++) {
		if (sz[i] > (4u << 20) && sz[i] != max)
			continue;
		snprintf(key, sizeof(key), "s%011zu", sz[i]);
		ssize_t r = utmem_get(c, p, key, strlen(key), got, sz[i], 0);
		if (r != (ssize_t)sz[i] || gen_check(got, sz[i], sz[i], 7) != -1) {
			fprintf(stderr, "FAIL one-sided GET of %zu bytes with utmemd stopped: %zd (%s)\n",
				sz[i], r, r < 0 ? utmem_strerror((int)r) : "content");
			failures++;
		}
	}
	printf("%d values read with utmemd stopped in %.3f s\n", kept, e2e_now_s() - t0);
	/* Posted PUTs return while utmemd is stopped: inline and staged. */
	t0 = e2e_now_s();
	gen(val, 100, 100, 8);
	CHECK_EQ("posted inline PUT, utmemd stopped",
		 utmem_put(c, p, "posted-small", 12, val, 100), 0);
	gen(val, 200000, 200000, 8);
	CHECK_EQ("posted staged PUT, utmemd stopped",
		 utmem_put(c, p, "posted-large", 12, val, 200000), 0);
	printf("2 PUTs posted with utmemd stopped in %.3f s\n", e2e_now_s() - t0);
	CHECK_EQ("posted PUTs did not wait for utmemd", e2e_now_s() - t0 < 2.0, 1);
	/* lc posts one more, then loses its connection (a ping times out):
	 * utmem_sync must not call that PUT served, once. */
	if (lc) {
		CHECK_EQ("lc posts, utmemd stopped", utmem_put(lc, lp, "lost-1", 6, "v", 1), 0);
		CHECK_EQ("lc pending", utmem_put_pending(lc, lp, "lost-1", 6), 1);
		CHECK_EQ("lc ping times out", utmem_ping(lc), -ETIMEDOUT);
		CHECK_EQ("lc sync: the posted PUT's outcome unknown", utmem_sync(lc), -ECONNRESET);
		CHECK_EQ("lc sync, said once", utmem_sync(lc), 0);
		utmem_close(lc);
	}
	printf("POSTED\n");
	fflush(stdout);
	if (e2e_wait_flag(argv[2]) < 0)
		return 1;
	CHECK_EQ("posted inline, read back", utmem_get(c, p, "posted-small", 12, got,
						       max, 0), 100);
	CHECK_EQ("posted inline content", gen_check(got, 100, 100, 8), -1);
	CHECK_EQ("posted staged, read back", utmem_get(c, p, "posted-large", 12, got,
						       max, 0), 200000);
	CHECK_EQ("posted staged content", gen_check(got, 200000, 200000, 8), -1);
	utmem_close(c);
	free(sz);
	free(val);
	free(got);
	return failures ? 1 : 0;
}

/* ---- order ---- */

#define ORD_KEYS 512

struct model {
	long long len[ORD_KEYS]; /* -1: no value */
	uint64_t ver[ORD_KEYS];
};

static size_t ord_size(uint64_t *s)
{
	uint64_t r = rnd_below(s, 100);

	if (r < 50)
		return (size_t)rnd_below(s, 200);
	if (r < 75)
		return (size_t)rnd_below(s, 16384);
	if (r < 98)
		return 16384 + (size_t)rnd_below(s, 300000);
	return (1u << 20) + (size_t)rnd_below(s, 1u << 20);
}

static void ord_key(char *k, size_t cap, unsigned id)
{
	snprintf(k, cap, "ord-%05u", id);
}

/* Check (pool, key id) against the model with op (0 GET, 1 get_alloc,
 * 2 get_view, 3 pop, 4 INVALIDATE), updating the model. */
static void ord_check(utmem_client *c, uint32_t p, struct model *m, unsigned id,
		      int op, uint8_t *got, size_t cap, const char *ctx)
{
	char key[32], what[160];
	long long want = m->len[id];
	struct view_want w = {id, m->ver[id], want < 0 ? 0 : (size_t)want, -1, 0};
	void *a = NULL;
	size_t alen = 0;
	long long r;

	ord_key(key, sizeof(key), id);
	snprintf(what, sizeof(what), "%s: key %u op %d (want %lld bytes, version %llu)",
		 ctx, id, op, want, (unsigned long long)m->ver[id]);
	switch (op) {
	case 0:
	case 3:
		r = utmem_get(c, p, key, strlen(key), got, cap,
			      op == 3 ? UTMEM_GET_EXCLUSIVE : 0);
		CHECK_EQ(what, r, want < 0 ? -ENOENT : want);
		if (r >= 0 && r == want)
			CHECK_EQ(what, gen_check(got, (size_t)r, id, m->ver[id]), -1);
		if (op == 3)
			m->len[id] = -1;
		break;
	case 1:
		r = utmem_get_alloc(c, p, key, strlen(key), &a, &alen, 0);
		CHECK_EQ(what, r, want < 0 ? -ENOENT : 0);
		if (!r) {
			CHECK_EQ(what, (long long)alen, want);
			if ((long long)alen == want)
				CHECK_EQ(what, gen_check(a, alen, id, m->ver[id]), -1);
			free(a);
		}
		break;
	case 2:
		r = utmem_get_view(c, p, key, strlen(key), 0, view_check, &w);
		CHECK_EQ(what, r, want < 0 ? -ENOENT : 7);
		if (r == 7) {
			CHECK_EQ(what, (long long)w.got, want);
			CHECK_EQ(what, w.bad, -1);
		}
		break;
	default:
		r = utmem_invalidate(c, p, key, strlen(key));
		CHECK_EQ(what, r, want < 0 ? -ENOENT : 0);
		m->len[id] = -1;
		break;
	}
}

static void ord_put(utmem_client *c, uint32_t p, struct model *m, unsigned id,
		    size_t n, uint8_t *val, const char *ctx)
{
	char key[32], what[96];

	ord_key(key, sizeof(key), id);
	m->ver[id]++;
	gen(val, n, id, m->ver[id]);
	snprintf(what, sizeof(what), "%s: put key %u (%zu bytes)", ctx, id, n);
	CHECK_EQ(what, utmem_put(c, p, key, strlen(key), val, n), 0);
	m->len[id] = (long long)n;
}

static int cmd_order(char **argv)
{
	const char *addr = argv[0];
	uint64_t seed = take_seed(argv[1], "order"), s = seed;
	int n = atoi(argv[2]);
	size_t cap = 4u << 20;
	uint8_t *val = xmalloc(cap), *got = xmalloc(cap);
	static struct model m;

	for (int mode = 0; mode < 2; mode++) {
		unsigned flags = mode ? UTMEM_OPT_LAZY_KICK : 0;
		const char *ctx = mode ? "lazy kick" : "default";
		utmem_client *c = e2e_dial(addr, flags), *c2;
		char pname[16];
		uint32_t p, p2;
		int immediate = 0;

		snprintf(pname, sizeof(pname), "order%d", mode);
		CHECK_EQ("open", utmem_pool_open(c, pname, UTMEM_POOL_CREATE, &p), 0);
		for (unsigned i = 0; i < ORD_KEYS; i++)
			m.len[i] = -1;
		/* Each PUT followed at once by an operation on the same key. */
		for (int i = 0; i < n; i++) {
			unsigned id = (unsigned)rnd_below(&s, ORD_KEYS);
			int op = (int)rnd_below(&s, 6);

			ord_put(c, p, &m, id, ord_size(&s), val, ctx);
			if (op == 5) { /* overwrite, then read */
				ord_put(c, p, &m, id, ord_size(&s), val, ctx);
				op = (int)rnd_below(&s, 4);
			}
			ord_check(c, p, &m, id, op, got, cap, ctx);
			immediate++;
		}
		/* Bursts: many posted PUTs, then every key read back. */
		for (int round = 0; round < 3; round++) {
			unsigned order[ORD_KEYS];

			for (int i = 0; i < n; i++)
				ord_put(c, p, &m, (unsigned)rnd_below(&s, ORD_KEYS),
					ord_size(&s), val, ctx);
			for (unsigned i = 0; i < ORD_KEYS; i++)
				order[i] = i;
			for (unsigned i = ORD_KEYS - 1; i > 0; i--) {
				unsigned j = (unsigned)rnd_below(&s, i + 1), t = order[i];

				order[i] = order[j];
				order[j] = t;
			}
			if (round == 2) {
				/* Another connection sees them once synced. */
				CHECK_EQ("sync", utmem_sync(c), 0);
				c2 = e2e_dial(addr, 0);
				CHECK_EQ("open 2", utmem_pool_open(c2, pname, 0, &p2), 0);
				for (unsigned i = 0; i < ORD_KEYS; i++)
					ord_check(c2, p2, &m, order[i],
						  (int)rnd_below(&s, 3), got, cap,
						  "second connection");
				utmem_close(c2);
			}
			for (unsigned i = 0; i < ORD_KEYS; i++)
				ord_check(c, p, &m, order[i], (int)rnd_below(&s, 5), got,
					  cap, ctx);
		}
		CHECK_EQ("flush", utmem_flush(c), 0);
		printf("%s: %d PUTs each followed by an operation on its key, 3 bursts of %d: %d failures\n",
		       ctx, immediate, n, failures);
		CHECK_EQ("destroy", utmem_pool_destroy(c, p), 0);
		utmem_close(c);
	}
	free(val);
	free(got);
	if (failures)
		printf("replay with seed %llu\n", (unsigned long long)seed);
	return failures ? 1 : 0;
}

/* ---- credit ---- */

/*
 * What `utmemctl --run-dir $E2E_RUN ARGS` prints (UTMEMCTL, E2E_RUN from the
 * script), NUL-terminated in buf; 0, or -1 without them or utmemctl.
 */
static int ctl_output(const char *args, char *buf, size_t cap)
{
	const char *ctl = getenv("UTMEMCTL"), *run = getenv("E2E_RUN");
	char cmd[1024];
	size_t n;
	FILE *f;

	if (!ctl || !run || cap == 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "'%s' --run-dir '%s' %s", ctl, run, args);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, cap - 1, f);
	buf[n] = 0;
	return pclose(f) == 0 ? 0 : -1;
}

/* The daemon's charged total (utmemctl --json stats: entries + pools). */
static long long daemon_charged(void)
{
	char buf[8192], *p;

	if (ctl_output("--json stats", buf, sizeof(buf)) < 0)
		return -1;
	p = strstr(buf, "\"charged\":");
	return p ? strtoll(p + 10, NULL, 10) : -1;
}

/* Wait up to 3 s for tenant_credit_bytes to reach 0; returns the last. */
static long long credit_drained(utmem_client *obs)
{
	long long v = credit_bytes(obs);

	for (int i = 0; i < 300 && v != 0; i++) {
		usleep(10000);
		v = credit_bytes(obs);
	}
	return v;
}

/* Fill with vsize values until refused; checks the edge. */
static void credit_fill(const char *addr, utmem_client *obs, long long max,
			size_t vsize)
{
	utmem_client *c = e2e_dial(addr, 0);
	uint8_t *val = xmalloc(vsize), *got = xmalloc(vsize + 1);
	struct utmem_stats st;
	long long charged, held;
	char key[32], what[128];
	uint32_t p;
	int n = 0, err = 0;

	CHECK_EQ("open", utmem_pool_open(c, "q", UTMEM_POOL_CREATE, &p), 0);
	CHECK_EQ("small value", utmem_put(c, p, "victim", 6, "old", 3), 0);
	for (n = 0; n < 100000; n++) {
		snprintf(key, sizeof(key), "fill%06d", n);
		gen(val, vsize, (uint64_t)n, vsize);
		err = utmem_put(c, p, key, strlen(key), val, vsize);
		if (err)
			break;
		if (n == 3) {
			/* Posting: the connection holds credit now. */
			CHECK_EQ("sync", utmem_sync(c), 0);
			CHECK_EQ("ping", utmem_ping(c), 0);
			held = credit_bytes(obs);
			printf("%zu-byte values: credit held while posting: %lld bytes\n",
			       vsize, held);
			CHECK_EQ("credit held while posting > 0", held > 0, 1);
		}
	}
	snprintf(what, sizeof(what), "%zu-byte PUT #%d refused for the quota", vsize, n);
	CHECK_EQ(what, err, -EDQUOT);
	snprintf(key, sizeof(key), "fill%06d", n);
	CHECK_EQ("refused PUT left no value",
		 utmem_get(c, p, key, strlen(key), got, vsize, 0), -ENOENT);
	held = credit_bytes(obs);
	printf("%zu-byte values: %d stored, the next refused; credit held then: %lld\n",
	       vsize, n, held);
	CHECK_EQ("no credit held after the refusal (given back first)", held, 0);
	/* Exactly at the quota: what is charged leaves less room than one
	 * more value costs (every fill value costs the same; checked below). */
	charged = daemon_charged();
	CHECK_EQ("pool stats", utmem_stats(c, p, &st), 0);
	CHECK_EQ("entries", st.entries, (uint64_t)n + 1);
	printf("%zu-byte values: daemon charged %lld of %lld\n", vsize, charged, max);
	CHECK_EQ("charged within the quota", charged >= 0 && charged <= max, 1);
	/* Every stored value is there, whole. */
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "fill%06d", i);
		if (utmem_get(c, p, key, strlen(key), got, vsize + 1, 0) != (ssize_t)vsize ||
		    gen_check(got, vsize, (uint64_t)i, vsize) != -1) {
			snprintf(what, sizeof(what), "stored value %d of %zu bytes", i, vsize);
			CHECK_EQ(what, 1, 0);
			break;
		}
	}
	/* Free one value: exactly one more of the same size fits again. */
	snprintf(key, sizeof(key), "fill%06d", 0);
	CHECK_EQ("invalidate one", utmem_invalidate(c, p, key, strlen(key)), 0);
	{
		long long before = daemon_charged(), freed;

		snprintf(key, sizeof(key), "fill%06d", n);
		gen(val, vsize, (uint64_t)n, vsize);
		CHECK_EQ("the one that fits again", utmem_put(c, p, key, strlen(key),
							      val, vsize), 0);
		CHECK_EQ("sync", utmem_sync(c), 0);
		freed = daemon_charged() - before; /* one value's charge */
		printf("%zu-byte values: one costs %lld; room left at the refusal %lld\n",
		       vsize, freed, max - charged);
		CHECK_EQ("refused exactly at the quota (room < one value)",
			 max - charged < freed, 1);
		snprintf(key, sizeof(key), "fill%06d", n + 1);
		CHECK_EQ("and the next is refused again",
			 utmem_put(c, p, key, strlen(key), val, vsize), -EDQUOT);
		CHECK_EQ("refused key has no value",
			 utmem_get(c, p, key, strlen(key), got, vsize, 0), -ENOENT);
	}
	/* A refused PUT over an existing value leaves none. */
	CHECK_EQ("victim was stored", utmem_get(c, p, "victim", 6, got, vsize, 0), 3);
	CHECK_EQ("victim overwrite refused", utmem_put(c, p, "victim", 6, val, vsize),
		 -EDQUOT);
	CHECK_EQ("victim left without value", utmem_get(c, p, "victim", 6, got,
							 vsize, 0), -ENOENT);
	CHECK_EQ("flush", utmem_pool_flush(c, p), 0);
	utmem_close(c);
	CHECK_EQ("credit given back on close", credit_drained(obs), 0);
	free(val);
	free(got);
}

static int cmd_credit(char **argv)
{
	const char *addr = argv[0];
	long long max = strtoll(argv[1], NULL, 0);
	utmem_client *obs = e2e_dial(addr, UTMEM_OPT_NO_FAST_PATH), *c;
	uint32_t p;

	/* A client posts, holds credit, and closes without a word. */
	c = e2e_dial(addr, 0);
	CHECK_EQ("open", utmem_pool_open(c, "q", UTMEM_POOL_CREATE, &p), 0);
	for (int i = 0; i < 20; i++) {
		char k[16];

		snprintf(k, sizeof(k), "k%d", i);
		CHECK_EQ("put", utmem_put(c, p, k, strlen(k), "value", 5), 0);
	}
	CHECK_EQ("sync", utmem_sync(c), 0);
	CHECK_EQ("ping", utmem_ping(c), 0);
	printf("credit held by an idle client: %lld bytes\n", credit_bytes(obs));
	CHECK_EQ("an idle posting client holds credit", credit_bytes(obs) > 0, 1);
	utmem_close(c);
	CHECK_EQ("credit back to 0 after close", credit_drained(obs), 0);
	c = e2e_dial(addr, 0);
	CHECK_EQ("open", utmem_pool_open(c, "q", 0, &p), 0);
	CHECK_EQ("flush", utmem_pool_flush(c, p), 0);
	utmem_close(c);
	CHECK_EQ("credit back to 0", credit_drained(obs), 0);
	credit_fill(addr, obs, max, 3000);    /* inline */
	credit_fill(addr, obs, max, 40000);   /* staged */
	credit_fill(addr, obs, max, 100);     /* small */
	utmem_close(obs);
	return failures ? 1 : 0;
}

/* ---- churn ---- */

#define CHURN_KEYS 16
#define CHURN_SIZE (256u << 10)
#define CHURN_ROUNDS 1500
/* credit.c: UD_STAGE_BUDGET (16 MiB) of extents, the inline window
 * (UD_CREDIT_MAX, 4 MiB) and up to one window of slack; 4 MiB to spare. */
#define CHURN_HELD_MAX (28ll << 20)

/* Staging extents of big for 1 MiB values and small for 256 KiB ones. */
static void stage_check(const char *when, long long big, long long small)
{
	printf("staging extents %s: %lld and %lld bytes\n", when, big, small);
	CHECK_EQ("extents that fit 1 MiB values", big > (1ll << 20), 1);
	CHECK_EQ("extents sized for 256 KiB values",
		 small > (long long)CHURN_SIZE && small < (512ll << 10), 1);
}

/*
 * The staging size follows the values down as well as up: 1 MiB values
 * size the connection's extents at a MiB; 256 KiB values put one at a
 * time (each applied before the next, so a slot is always there and none
 * goes inline) must bring it back down (SERVER_INFO connection_stage_bytes
 * on the posting connection). It stayed at 1 MiB, and every smaller PUT
 * paid for a fresh 1 MiB extent.
 */
static void churn_downsize(utmem_client *c, uint32_t p, uint8_t *val)
{
	uint8_t *big = xmalloc(1u << 20);
	long long big_stage, small_stage, nslots, nsmall;
	char key[16];

	for (int n = 0; n < 4; n++) {
		snprintf(key, sizeof(key), "big%d", n);
		gen(big, 1u << 20, (uint64_t)n, 1u << 20);
		CHECK_EQ("1 MiB put", utmem_put(c, p, key, strlen(key), big, 1u << 20), 0);
	}
	CHECK_EQ("sync", utmem_sync(c), 0);
	big_stage = server_info_num(c, "connection_stage_bytes:");
	for (int n = 0; n < 2 * 64; n++) { /* 2x UD_BIG_HISTORY */
		snprintf(key, sizeof(key), "c%02d", n % CHURN_KEYS);
		gen(val, CHURN_SIZE, (uint64_t)n, CHURN_SIZE);
		CHECK_EQ("256 KiB put", utmem_put(c, p, key, strlen(key), val,
						  CHURN_SIZE), 0);
		CHECK_EQ("sync", utmem_sync(c), 0);
	}
	small_stage = server_info_num(c, "connection_stage_bytes:");
	stage_check("after 1 MiB values, then after 256 KiB ones", big_stage,
		    small_stage);
	/* Mixed: one 1 MiB value in four. The extents for the smaller
	 * values keep their size (connection_stage_small_bytes), the others
	 * the larger; with one size for all, each 256 KiB value took an
	 * extent of 1 MiB (128 KiB PUTs at 1.4 k/s beside a 1 MiB writer,
	 * 7.9 k/s with two sizes). */
	for (int n = 0; n < 16; n++) {
		bool large = n % 4 == 0;
		size_t sz = large ? 1u << 20 : CHURN_SIZE;

		snprintf(key, sizeof(key), large ? "big%d" : "c%02d", n % CHURN_KEYS);
		gen(large ? big : val, sz, (uint64_t)n, sz);
		CHECK_EQ("mixed put", utmem_put(c, p, key, strlen(key),
						 large ? big : val, sz), 0);
		CHECK_EQ("sync", utmem_sync(c), 0);
	}
	big_stage = server_info_num(c, "connection_stage_bytes:");
	small_stage = server_info_num(c, "connection_stage_small_bytes:");
	stage_check("mixed 1 MiB and 256 KiB values, larger and smaller",
		    big_stage, small_stage);
	/* Of the last 64 records 60 were 256 KiB: 15 of 16 slots by share,
	 * 14 with two kept for the larger size. Alternating slots gave 8. */
	nslots = server_info_num(c, "connection_stage_slots:");
	nsmall = server_info_num(c, "connection_stage_small_slots:");
	printf("staging slots mixed: %lld, %lld of them for 256 KiB values\n",
	       nslots, nsmall);
	CHECK_EQ("slots kept", nslots, 16);
	CHECK_EQ("slots for the smaller values", nsmall, 14);
	free(big);
}

/* The tenant's PUTs by how they came (SERVER_INFO tenant_puts_*). */
struct put_paths {
	long long staged, posted, replied;
};

static struct put_paths put_paths(utmem_client *c)
{
	return (struct put_paths){server_info_num(c, "tenant_puts_staged:"),
				  server_info_num(c, "tenant_puts_posted_inline:"),
				  server_info_num(c, "tenant_puts_replied:")};
}

/*
 * Staging slots too small for the values a client now sends come back to
 * utmemd once they went unused through 64 PUT_REFs (libutmem's
 * STAGE_STALE_REFS), when no slot that fits is free: after the mixed
 * phase of churn_downsize (14 slots for 256 KiB values, 2 for 1 MiB),
 * 1 MiB values alone, 70 of them one at a time, then 3 at once while
 * utmemd is stopped, so that no slot that fits is free for the third:
 * "STALE_READY" on stdout, then the driving script stops utmemd
 * (freeze_pid), creates the flag file stopped and resumes utmemd 0.3 s
 * later.
 * The client must give the stale slots back (a CREDIT_RETURN: SERVER_INFO
 * tenant_credit_returns) and have every value stored whole. Without the
 * rule it kept the 14 slots it cannot use and posted on through the two.
 */
static void churn_stale(utmem_client *c, utmem_client *obs, uint32_t p,
			const char *stopped)
{
	uint8_t *big = xmalloc(1u << 20), *got = xmalloc((1u << 20) + 1);
	long long returns = server_info_num(obs, "tenant_credit_returns:");
	char key[16];

	for (int n = 0; n < 70; n++) {
		snprintf(key, sizeof(key), "big%d", n % 4);
		gen(big, 1u << 20, (uint64_t)n, 1u << 20);
		CHECK_EQ("1 MiB put", utmem_put(c, p, key, strlen(key), big, 1u << 20), 0);
		CHECK_EQ("sync", utmem_sync(c), 0);
	}
	printf("STALE_READY\n");
	fflush(stdout);
	CHECK_EQ("utmemd stopped", e2e_wait_flag(stopped), 0);
	for (int n = 70; n < 73; n++) {
		snprintf(key, sizeof(key), "big%d", n % 4);
		gen(big, 1u << 20, (uint64_t)n, 1u << 20);
		CHECK_EQ("1 MiB put, utmemd stopped",
			 utmem_put(c, p, key, strlen(key), big, 1u << 20), 0);
	}
	CHECK_EQ("sync", utmem_sync(c), 0);
	returns = server_info_num(obs, "tenant_credit_returns:") - returns;
	printf("stale staging slots: %lld CREDIT_RETURNs\n", returns);
	CHECK_EQ("stale slots given back", returns >= 1, 1);
	for (int n = 69; n < 73; n++) {
		snprintf(key, sizeof(key), "big%d", n % 4);
		if (utmem_get(c, p, key, strlen(key), got, (1u << 20) + 1, 0) != (1 << 20) ||
		    gen_check(got, 1u << 20, (uint64_t)n, 1u << 20) != -1) {
			CHECK_EQ("the last 1 MiB values, whole", 1, 0);
			break;
		}
	}
	free(big);
	free(got);
}

static int cmd_churn(char **argv)
{
	const char *addr = argv[0];
	utmem_client *obs = e2e_dial(addr, UTMEM_OPT_NO_FAST_PATH);
	utmem_client *c = e2e_dial(addr, 0);
	uint8_t *val = xmalloc(CHURN_SIZE), *got = xmalloc(CHURN_SIZE + 1);
	long long held, most = 0;
	struct put_paths before, after;
	char key[16];
	uint32_t p, po;

	CHECK_EQ("open", utmem_pool_open(c, "churn", UTMEM_POOL_CREATE, &p), 0);
	before = put_paths(obs);
	for (int n = 0; n < CHURN_ROUNDS; n++) {
		snprintf(key, sizeof(key), "c%02d", n % CHURN_KEYS);
		gen(val, CHURN_SIZE, (uint64_t)n, CHURN_SIZE);
		if (utmem_put(c, p, key, strlen(key), val, CHURN_SIZE) != 0) {
			CHECK_EQ("put", 1, 0);
			break;
		}
		if (n % 100 == 99) {
			held = credit_bytes(obs);
			if (held > most)
				most = held;
		}
	}
	CHECK_EQ("sync", utmem_sync(c), 0);
	CHECK_EQ("ping", utmem_ping(c), 0);
	held = credit_bytes(obs);
	if (held > most)
		most = held;
	printf("%d posted PUTs of %u bytes over %d keys: credit held at most %lld "
	       "bytes (bound %lld), %lld at the end\n", CHURN_ROUNDS, CHURN_SIZE,
	       CHURN_KEYS, most, CHURN_HELD_MAX, held);
	CHECK_EQ("credit held while posting > 0", held > 0, 1);
	CHECK_EQ("credit held stays bounded", most <= CHURN_HELD_MAX, 1);
	/* Every PUT counted once, by its path; 256 KiB values on the default
	 * path are mostly staged (a few go inline or wait when every staging
	 * slot is in use; a quarter is the floor checked), and a PUT on the
	 * socket alone is replied. */
	after = put_paths(obs);
	printf("paths of %d PUTs: %lld staged, %lld posted inline, %lld replied\n",
	       CHURN_ROUNDS, after.staged - before.staged, after.posted - before.posted,
	       after.replied - before.replied);
	CHECK_EQ("every PUT counted once", after.staged - before.staged +
		 after.posted - before.posted + after.replied - before.replied,
		 CHURN_ROUNDS);
	CHECK_EQ("a quarter or more of the 256 KiB PUTs staged",
		 (after.staged - before.staged) * 4 >= CHURN_ROUNDS, 1);
	CHECK_EQ("open on the socket", utmem_pool_open(obs, "churn", 0, &po), 0);
	CHECK_EQ("socket put", utmem_put(obs, po, "sock", 4, val, 1000), 0);
	before = put_paths(obs);
	CHECK_EQ("a socket PUT is replied", before.replied - after.replied, 1);
	CHECK_EQ("and neither staged nor posted", before.staged - after.staged +
		 before.posted - after.posted, 0);
	for (int n = CHURN_ROUNDS - CHURN_KEYS; n < CHURN_ROUNDS; n++) {
		snprintf(key, sizeof(key), "c%02d", n % CHURN_KEYS);
		if (utmem_get(c, p, key, strlen(key), got, CHURN_SIZE + 1, 0) !=
			    (ssize_t)CHURN_SIZE ||
		    gen_check(got, CHURN_SIZE, (uint64_t)n, CHURN_SIZE) != -1) {
			CHECK_EQ("the last value of each key, whole", 1, 0);
			break;
		}
	}
	churn_downsize(c, p, val);
	churn_stale(c, obs, p, argv[1]);
	CHECK_EQ("flush", utmem_pool_flush(c, p), 0);
	utmem_close(c);
	CHECK_EQ("credit given back on close", credit_drained(obs), 0);
	utmem_close(obs);
	free(val);
	free(got);
	return failures ? 1 : 0;
}

/* ---- reclaim ---- */

/*
 * An idle client's credit comes back without its posting again: it posts
 * (small and staged values), goes idle holding credit; another client of
 * the tenant is refused for the quota (a recall); utmemd must take the
 * idle one's credit back, and the idle client must then post on as if
 * nothing happened (no violation, every value whole).
 */
static int cmd_reclaim(char **argv)
{
	const char *addr = argv[0], *fill_addr = argv[1];
	int want = strcmp(argv[2], "capacity") == 0 ? -ENOSPC : -EDQUOT;
	utmem_client *obs = e2e_dial(addr, UTMEM_OPT_NO_FAST_PATH), *idle, *fill;
	size_t big = 40000;
	uint8_t *val = xmalloc(big), *got = xmalloc(big + 1);
	long long held, taken;
	char key[32];
	uint32_t p, q;
	int err = 0, n;

	idle = e2e_dial(addr, 0);
	CHECK_EQ("open", utmem_pool_open(idle, "q", UTMEM_POOL_CREATE, &p), 0);
	for (int i = 0; i < 8; i++) {
		snprintf(key, sizeof(key), "idle%d", i);
		gen(val, i % 2 ? big : 100, (uint64_t)i, 1);
		CHECK_EQ("put", utmem_put(idle, p, key, strlen(key), val,
					  i % 2 ? big : 100), 0);
	}
	CHECK_EQ("sync", utmem_sync(idle), 0);
	held = credit_bytes(obs);
	printf("credit held by the idle client: %lld bytes\n", held);
	CHECK_EQ("the idle client holds credit", held > 0, 1);
	/* Another client fills the tenant's quota, or the daemon's capacity
	 * from another tenant, until refused: a recall. */
	fill = e2e_dial(fill_addr, UTMEM_OPT_NO_FAST_PATH);
	CHECK_EQ("open", utmem_pool_open(fill, "f", UTMEM_POOL_CREATE, &q), 0);
	for (n = 0; n < 100000 && !err; n++) {
		snprintf(key, sizeof(key), "fill%06d", n);
		err = utmem_put(fill, q, key, strlen(key), val, 3000);
	}
	CHECK_EQ(want == -EDQUOT ? "the filler was refused for the quota"
				 : "the filler was refused for capacity",
		 err, want);
	held = credit_drained(obs);
	taken = server_info_num(obs, "tenant_credit_reclaimed_bytes:");
	printf("after %d PUTs and a refusal: credit held %lld, reclaimed %lld bytes\n",
	       n, held, taken);
	CHECK_EQ("the idle client's credit was taken back", held, 0);
	CHECK_EQ("reclaimed bytes counted", taken > 0, 1);
	/* What the idle client held is room again: the refused PUT fits. */
	CHECK_EQ("the refused PUT fits now",
		 utmem_put(fill, q, key, strlen(key), val, 3000), 0);
	CHECK_EQ("flush", utmem_pool_flush(fill, q), 0);
	utmem_close(fill);
	/* The idle client posts on: no violation, every value whole. */
	for (int i = 0; i < 40; i++) {
		size_t len = i % 2 ? big : 100;

		snprintf(key, sizeof(key), "again%d", i);
		gen(val, len, (uint64_t)i + 100, 2);
		CHECK_EQ("put after the reclaim",
			 utmem_put(idle, p, key, strlen(key), val, len), 0);
	}
	CHECK_EQ("sync", utmem_sync(idle), 0);
	CHECK_EQ("ping: still connected", utmem_ping(idle), 0);
	for (int i = 0; i < 40; i++) {
		size_t len = i % 2 ? big : 100;

		snprintf(key, sizeof(key), "again%d", i);
		CHECK_EQ("value back whole",
			 utmem_get(idle, p, key, strlen(key), got, big + 1, 0) ==
					 (ssize_t)len &&
				 gen_check(got, len, (uint64_t)i + 100, 2) == -1,
			 1);
	}
	held = credit_bytes(obs);
	printf("credit held after posting again: %lld bytes\n", held);
	CHECK_EQ("credit granted again", held > 0, 1);
	utmem_close(idle);
	utmem_close(obs);
	free(val);
	free(got);
	return failures ? 1 : 0;
}

/* ---- race ---- */

#define RACE_KEYS 2000
#define RACE_MAGIC 0x52414345u

struct race {
	const char *addr;
	uint64_t seed;
	double until;
	int nwriters;
	atomic_uint_fast64_t started[RACE_KEYS]; /* highest version put so far */
	atomic_llong puts, reads, hits, misses;
};

struct vhead {
	uint32_t magic, key;
	uint64_t ver;
	uint32_t len, pad;
};

static size_t race_size(uint64_t *s)
{
	uint64_t r = rnd_below(s, 100);

	if (r < 60)
		return sizeof(struct vhead) + (size_t)rnd_below(s, 2048);
	if (r < 95)
		return 2048 + (size_t)rnd_below(s, 62 * 1024);
	return 64 * 1024 + (size_t)rnd_below(s, 192 * 1024);
}

static void race_key(char *k, size_t cap, unsigned id)
{
	snprintf(k, cap, "race-%06u", id);
}

struct race_thread {
	struct race *r;
	int idx;
	pthread_t th;
};

static void *race_writer(void *arg)
{
	struct race_thread *t = arg;
	struct race *r = t->r;
	uint64_t s = r->seed ^ mix((uint64_t)t->idx + 1);
	utmem_client *c = e2e_dial(r->addr, 0);
	uint8_t *val = xmalloc(256 * 1024);
	uint32_t p;
	int err;

	err = utmem_pool_open(c, "race", UTMEM_POOL_CREATE | UTMEM_POOL_EPHEMERAL, &p);
	if (err) {
		TFAIL("writer %d: open: %s", t->idx, utmem_strerror(err));
		return NULL;
	}
	while (e2e_now_s() < r->until) {
		/* Keys are owned by one writer each: versions only grow. */
		unsigned id = (unsigned)(rnd_below(&s, RACE_KEYS / r->nwriters) *
					 (unsigned)r->nwriters + (unsigned)t->idx);
		char key[32];

		race_key(key, sizeof(key), id);
		if (rnd_below(&s, 20) == 0) {
			err = utmem_invalidate(c, p, key, strlen(key));
			if (err && err != -ENOENT)
				TFAIL("writer %d: invalidate: %s", t->idx, utmem_strerror(err));
			continue;
		}
		size_t n = race_size(&s);
		struct vhead h = {RACE_MAGIC, id, atomic_load(&r->started[id]) + 1,
				  (uint32_t)n, 0};

		memcpy(val, &h, sizeof(h));
		gen_at(val + sizeof(h), n - sizeof(h), id, h.ver, 0);
		atomic_store(&r->started[id], h.ver);
		err = utmem_put(c, p, key, strlen(key), val, n);
		if (err)
			TFAIL("writer %d: put %u v%llu (%zu bytes): %s", t->idx, id,
			      (unsigned long long)h.ver, n, utmem_strerror(err));
		atomic_fetch_add(&r->puts, 1);
	}
	utmem_close(c);
	free(val);
	return NULL;
}

/* Check one value read for key id; last = highest version this reader saw. */
static void race_verify(struct race *r, int rd, unsigned id, const uint8_t *v,
			size_t len, uint64_t *last)
{
	struct vhead h;
	long bad;

	if (len < sizeof(h)) {
		TFAIL("reader %d: key %u: %zu bytes, shorter than any value put", rd,
		      id, len);
		return;
	}
	memcpy(&h, v, sizeof(h));
	if (h.magic != RACE_MAGIC || h.key != id || h.len != len) {
		TFAIL("reader %d: key %u: a value of key %u, %u bytes, magic %08x (got %zu bytes): another key's or torn",
		      rd, id, h.key, h.len, h.magic, len);
		return;
	}
	if (h.ver > atomic_load(&r->started[id]) || h.ver < *last) {
		TFAIL("reader %d: key %u: version %llu (highest put %llu, this reader saw %llu before)",
		      rd, id, (unsigned long long)h.ver,
		      (unsigned long long)atomic_load(&r->started[id]),
		      (unsigned long long)*last);
		return;
	}
	*last = h.ver;
	bad = gen_check(v + sizeof(h), len - sizeof(h), id, h.ver);
	if (bad >= 0)
		TFAIL("reader %d: key %u version %llu (%zu bytes): torn at byte %ld",
		      rd, id, (unsigned long long)h.ver, len, bad + (long)sizeof(h));
}

struct race_view {
	struct race *r;
	int rd;
	unsigned id;
	uint64_t *last;
};

static int race_view_fn(void *ctx, const void *val, size_t len)
{
	struct race_view *v = ctx;

	race_verify(v->r, v->rd, v->id, val, len, v->last);
	return 0;
}

static void *race_reader(void *arg)
{
	struct race_thread *t = arg;
	struct race *r = t->r;
	uint64_t s = r->seed ^ mix((uint64_t)t->idx + 1000);
	utmem_client *c = e2e_dial(r->addr, 0);
	uint8_t *buf = xmalloc(256 * 1024);
	uint64_t *last = calloc(RACE_KEYS, sizeof(uint64_t));
	long long reads = 0, hits = 0, misses = 0;
	uint32_t p;
	int err;

	err = utmem_pool_open(c, "race", UTMEM_POOL_CREATE | UTMEM_POOL_EPHEMERAL, &p);
	if (err || !last) {
		TFAIL("reader %d: open: %s", t->idx, utmem_strerror(err));
		return NULL;
	}
	while (e2e_now_s() < r->until) {
		unsigned id = (unsigned)rnd_below(&s, RACE_KEYS);
		char key[32];
		ssize_t n;

		race_key(key, sizeof(key), id);
		reads++;
		if (rnd_below(&s, 2)) {
			n = utmem_get(c, p, key, strlen(key), buf, 256 * 1024, 0);
			if (n >= 0)
				race_verify(r, t->idx, id, buf, (size_t)n, &last[id]);
		} else {
			struct race_view v = {r, t->idx, id, &last[id]};

			n = utmem_get_view(c, p, key, strlen(key), 0, race_view_fn, &v);
		}
		if (n >= 0)
			hits++;
		else if (n == -ENOENT)
			misses++;
		else
			TFAIL("reader %d: get %u: %s", t->idx, id, utmem_strerror((int)n));
	}
	atomic_fetch_add(&r->reads, reads);
	atomic_fetch_add(&r->hits, hits);
	atomic_fetch_add(&r->misses, misses);
	utmem_close(c);
	free(buf);
	free(last);
	return NULL;
}

static int cmd_race(char **argv)
{
	static struct race r;
	struct race_thread w[2], rd[3];
	struct utmem_stats st;
	utmem_client *c;
	uint32_t p;

	r.addr = argv[0];
	r.seed = take_seed(argv[1], "race");
	r.nwriters = 2;
	r.until = e2e_now_s() + atof(argv[2]);
	for (int i = 0; i < 2; i++) {
		w[i] = (struct race_thread){&r, i, 0};
		pthread_create(&w[i].th, NULL, race_writer, &w[i]);
	}
	for (int i = 0; i < 3; i++) {
		rd[i] = (struct race_thread){&r, i, 0};
		pthread_create(&rd[i].th, NULL, race_reader, &rd[i]);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(w[i].th, NULL);
	for (int i = 0; i < 3; i++)
		pthread_join(rd[i].th, NULL);
	c = e2e_dial(r.addr, 0);
	CHECK_EQ("open", utmem_pool_open(c, "race", UTMEM_POOL_EPHEMERAL, &p), 0);
	CHECK_EQ("stats", utmem_stats(c, p, &st), 0);
	printf("race: %lld puts, %lld reads: %lld hits, %lld misses; %llu evictions; %d failures\n",
	       (long long)r.puts, (long long)r.reads, (long long)r.hits,
	       (long long)r.misses, (unsigned long long)st.evictions, failures);
	CHECK_EQ("evictions happened", st.evictions > 0, 1);
	CHECK_EQ("readers hit values", r.hits > 1000, 1);
	utmem_close(c);
	if (failures)
		printf("replay with seed %llu\n", (unsigned long long)r.seed);
	return failures ? 1 : 0;
}

/* ---- idle ---- */

/* A number from utmemctl info (text: "name value" lines), or -1. */
static long long daemon_info(const char *name)
{
	char buf[16384], key[128];
	long long x;

	if (ctl_output("info", buf, sizeof(buf)) < 0)
		return -1;
	for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		if (sscanf(line, "%127s %lld", key, &x) == 2 && strcmp(key, name) == 0)
			return x;
	return -1;
}

static int cmd_idle(char **argv)
{
	utmem_client *c = e2e_dial(argv[0], UTMEM_OPT_LAZY_KICK);
	char got[8];
	ssize_t n;
	long long w0, w1;
	uint32_t p;

	CHECK_EQ("open", utmem_pool_open(c, "idle", UTMEM_POOL_CREATE, &p), 0);
	CHECK_EQ("put", utmem_put(c, p, "k", 1, "before", 6), 0);
	CHECK_EQ("flush", utmem_flush(c), 0);
	CHECK_EQ("sync", utmem_sync(c), 0);
	usleep(200 * 1000); /* the workers go to sleep */
	w0 = daemon_info("worker_wakeups");
	CHECK_EQ("worker_wakeups readable", w0 >= 0, 1);
	for (int i = 0; i < 2000; i++) {
		CHECK_EQ("idle flush", utmem_flush(c), 0);
		usleep(250);
	}
	w1 = daemon_info("worker_wakeups");
	printf("2000 idle flushes woke the workers %lld times\n", w1 - w0);
	/* Before: every flush that found the worker asleep rang it (~2000). */
	CHECK_EQ("idle flushes wake no worker (at most 20 wake-ups)", w1 - w0 <= 20, 1);
	/* A PUT posted after them is still delivered by the next flush. */
	CHECK_EQ("put after", utmem_put(c, p, "k", 1, "after", 5), 0);
	CHECK_EQ("flush after", utmem_flush(c), 0);
	CHECK_EQ("sync after", utmem_sync(c), 0);
	n = utmem_get(c, p, "k", 1, got, sizeof(got), 0);
	CHECK_EQ("value after", n == 5 && memcmp(got, "after", 5) == 0, 1);
	utmem_close(c);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct e2e_cmd cmds[] = {
		{"sizes", 3, cmd_sizes},
		{"order", 3, cmd_order},
		{"credit", 2, cmd_credit},
		{"churn", 2, cmd_churn},
		{"reclaim", 3, cmd_reclaim},
		{"race", 3, cmd_race},
		{"idle", 1, cmd_idle},
	};

	return e2e_dispatch(cmds, sizeof(cmds) / sizeof(cmds[0]), argc, argv,
			    "e2e_fast sizes|order|credit|churn|reclaim|race|idle ARGS");
}

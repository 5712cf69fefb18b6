/*
 * e2e_async.c — end-to-end checks of libutmem's asynchronous requests
 * (utmem_submit_get, utmem_submit_invalidate, utmem_event_fd, utmem_reap)
 * against a real utmemd, driven by t_async.sh.
 *
 * Subcommands (exit status 0 only if every check held):
 *   mix ADDR SEED N
 *       N random steps on a few dozen keys: synchronous PUTs (posted on
 *       the fast path), GETs (one-sided there) and INVALIDATEs mixed with
 *       submitted PUTs (posted, or requests with a completion), GETs,
 *       probes (UTMEM_GET_PROBE), pops and INVALIDATEs, reaped at random
 *       moments.
 *       A model of the store, updated in submission order, predicts every
 *       result: each completion is checked by its tag against what the
 *       model said when it was submitted (value bytes included), every
 *       synchronous GET against the model at once. Completions are waited
 *       for by polling the event descriptor (bounded: a lost wake-up
 *       fails). Then the bound: UTMEM_ASYNC_MAX outstanding, one more is
 *       -EAGAIN.
 *   kill ADDR DIR
 *       puts keys, prints READY and waits for DIR/stopped (the script has
 *       SIGSTOPped utmemd), submits pops and INVALIDATEs that cannot be
 *       answered, prints SUBMITTED and waits for DIR/killed (utmemd
 *       SIGKILLed): every request must complete, through the event
 *       descriptor, with -ECONNRESET; then prints DEAD and waits for
 *       DIR/restarted: a new request works on the new daemon.
 *   refuse ADDR
 *       submitted PUTs beyond the tenant's max (1 MiB): refused with
 *       -EDQUOT through their completion, leaving no value.
 *   bigput ADDR
 *       on a tenant whose max (4 MiB) leaves its credit short of them,
 *       submitted PUTs whose frames exceed half the ring (1.5 MiB, the
 *       default ring being 1 MiB): sent as requests through the ring, while
 *       four submitted GETs of a 1.5 MiB value wait with their replies
 *       (more than utmemd queues before it stops taking requests); a GET
 *       submitted right after the PUT sees its value; a PUT beyond the max
 *       completes with -EDQUOT and leaves no value.
 *   replywait ADDR
 *       four submitted GETs of a 1.5 MiB value left unreaped (utmemd
 *       stops reading the connection while that much waits for us), then
 *       40 posted 64 KiB PUTs and a synchronous GET: each must go through
 *       (the client reads the replies while it waits for room), every
 *       value read back.
 *   stats ADDR
 *       utmem_submit_stats (a pool, the tenant) and
 *       utmem_submit_server_info after posted and submitted PUTs: they
 *       count those PUTs, and say what the synchronous calls say.
 * SEED 0 picks one from the clock; it is printed ("seed: N").
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "e2e_check.h"
#include "utmem.h"

#define NKEYS 48
#define MAXV 70000 /* values up to 68 KiB: some cross the ring's halves */

struct model {
	int has;
	size_t len;
	uint8_t *val;
};

/* What a submitted request must complete with. */
struct expect {
	int used;
	unsigned op;
	int64_t result;
	uint8_t *val; /* copy of the expected value, or NULL */
};

static struct model m[NKEYS];
static struct expect ex[UTMEM_ASYNC_MAX * 2];
static uint64_t rs;

static uint64_t rnd(void)
{
	rs += 0x9e3779b97f4a7c15ull;
	uint64_t x = rs;

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void key_of(unsigned k, char *buf)
{
	snprintf(buf, 32, "key-%u", k);
}

/* Check every completion reaped now; returns how many. */
static int reap_check(utmem_client *c)
{
	struct utmem_completion out[64];
	int n = utmem_reap(c, out, 64);

	if (n < 0) {
		CHECK_EQ("reap", n, 0);
		return 0;
	}
	for (int i = 0; i < n; i++) {
		struct expect *e;

		if (out[i].tag >= sizeof(ex) / sizeof(ex[0]) ||
		    !ex[out[i].tag].used) {
			CHECK_EQ("completion tag known", out[i].tag, -1);
			free(out[i].val);
			continue;
		}
		e = &ex[out[i].tag];
		CHECK_EQ("completion op", out[i].op, e->op);
		CHECK_EQ("completion result", out[i].result, e->result);
		if (e->val && out[i].result == e->result &&
		    (!out[i].val ||
		     memcmp(out[i].val, e->val, (size_t)e->result) != 0))
			CHECK_EQ("completion value bytes match", 0, 1);
		if (!e->val && out[i].val)
			CHECK_EQ("no value on a miss", 1, 0);
		free(out[i].val);
		free(e->val);
		*e = (struct expect){0};
	}
	return n;
}

/* Wait on the event descriptor (bounded) and reap until none is left. */
static void reap_all(utmem_client *c)
{
	int efd = utmem_event_fd(c);

	while (utmem_async_outstanding(c) > 0) {
		struct pollfd p = {.fd = efd, .events = POLLIN};
		int r = poll(&p, 1, 10000);

		if (r <= 0) {
			CHECK_EQ("event fd readable within 10 s", r, 1);
			return;
		}
		reap_check(c);
	}
}

static uint64_t free_tag(void)
{
	for (;;) {
		uint64_t t = rnd() % (sizeof(ex) / sizeof(ex[0]));

		if (!ex[t].used)
			return t;
	}
}

static int do_mix(const char *addr, uint64_t seed, long steps)
{
	utmem_client *c = e2e_dial(addr, 0);
	uint8_t *buf = malloc(MAXV);
	uint32_t pool;
	char key[32];
	int err;

	char pname[32];

	printf("seed: %llu\n", (unsigned long long)seed);
	rs = seed;
	/* A pool of its own: the model starts empty. */
	snprintf(pname, sizeof(pname), "mix-%ld", (long)getpid());
	CHECK_EQ("pool open", utmem_pool_open(c, pname, UTMEM_POOL_CREATE, &pool), 0);
	CHECK_EQ("event fd", utmem_event_fd(c) >= 0, 1);
	for (long s = 0; s < steps && !failures; s++) {
		unsigned k = (unsigned)(rnd() % NKEYS), what = rnd() % 10;
		struct model *mk = &m[k];

		key_of(k, key);
		if (what < 3) { /* PUT */
			size_t len = rnd() % 4 == 0 ? rnd() % MAXV : rnd() % 300;

			mk->val = realloc(mk->val, len ? len : 1);
			for (size_t i = 0; i < len; i++)
				mk->val[i] = (uint8_t)(rnd() >> 8);
			mk->len = len;
			mk->has = 1;
			if (what == 2) { /* submitted: posted (1) or a completion */
				uint64_t t;

				if (utmem_async_outstanding(c) >= UTMEM_ASYNC_MAX)
					reap_all(c);
				t = free_tag();
				ex[t] = (struct expect){.used = 1, .op = UTMEM_OP_PUT};
				err = utmem_submit_put(c, pool, key, strlen(key),
						       mk->val, len, t);
				if (err == 1)
					ex[t].used = 0; /* stored; nothing to reap */
				else
					CHECK_EQ("submit put", err, 0);
			} else {
				CHECK_EQ("put", utmem_put(c, pool, key, strlen(key),
							  mk->val, len), 0);
			}
		} else if (what == 3) { /* synchronous GET */
			ssize_t n = utmem_get(c, pool, key, strlen(key), buf,
					      MAXV, 0);

			CHECK_EQ("sync get", n, mk->has ? (ssize_t)mk->len : -ENOENT);
			if (mk->has && n == (ssize_t)mk->len &&
			    memcmp(buf, mk->val, mk->len))
				CHECK_EQ("sync get bytes", 0, 1);
		} else if (what == 4) { /* synchronous INVALIDATE */
			CHECK_EQ("sync invalidate",
				 utmem_invalidate(c, pool, key, strlen(key)),
				 mk->has ? 0 : -ENOENT);
			mk->has = 0;
		} else if (what < 9) { /* submitted GET / probe / pop / INVALIDATE */
			uint64_t t;
			struct expect *e;

			/* At the bound: reap first (a refused submit would
			 * leave the model ahead of the store). */
			if (utmem_async_outstanding(c) >= UTMEM_ASYNC_MAX)
				reap_all(c);
			t = free_tag();
			e = &ex[t];

			e->used = 1;
			e->result = mk->has ? (int64_t)mk->len : -ENOENT;
			e->val = NULL;
			if (what == 8) {
				e->op = UTMEM_OP_INVALIDATE;
				e->result = mk->has ? 0 : -ENOENT;
				err = utmem_submit_invalidate(c, pool, key,
							      strlen(key), t);
				mk->has = 0;
			} else if (what == 6) { /* is it there? no value back */
				e->op = UTMEM_OP_GET;
				e->result = mk->has ? 0 : -ENOENT;
				err = utmem_submit_get(c, pool, key, strlen(key),
						       UTMEM_GET_PROBE, t);
			} else {
				unsigned fl = what == 7 ? UTMEM_GET_EXCLUSIVE : 0;

				e->op = UTMEM_OP_GET;
				if (mk->has) {
					e->val = malloc(mk->len ? mk->len : 1);
					memcpy(e->val, mk->val, mk->len);
				}
				err = utmem_submit_get(c, pool, key, strlen(key),
						       fl, t);
				if (fl)
					mk->has = 0;
			}
			CHECK_EQ("submit", err, 0);
		} else { /* reap what is there, without waiting */
			reap_check(c);
		}
	}
	reap_all(c);
	/* The bound: UTMEM_ASYNC_MAX outstanding, one more refused. */
	for (unsigned i = 0; i < UTMEM_ASYNC_MAX; i++) {
		ex[i] = (struct expect){.used = 1, .op = UTMEM_OP_GET,
					.result = -ENOENT};
		err = utmem_submit_get(c, pool, "nokey", 5, 0, i);
		if (err) {
			CHECK_EQ("submit within the bound", err, 0);
			break;
		}
	}
	CHECK_EQ("outstanding", utmem_async_outstanding(c), UTMEM_ASYNC_MAX);
	CHECK_EQ("probe and pop together refused",
		 utmem_submit_get(c, pool, "k", 1, UTMEM_GET_PROBE | UTMEM_GET_EXCLUSIVE, 0),
		 -EINVAL);
	CHECK_EQ("one past the bound", utmem_submit_invalidate(c, pool, "k", 1, 0),
		 -EAGAIN);
	reap_all(c);
	CHECK_EQ("outstanding after reaping", utmem_async_outstanding(c), 0);
	/* Nothing left: reap returns 0 and the descriptor stays quiet. */
	{
		struct pollfd p = {.fd = utmem_event_fd(c), .events = POLLIN};

		reap_check(c);
		CHECK_EQ("event fd quiet when idle", poll(&p, 1, 50), 0);
	}
	for (unsigned k = 0; k < NKEYS; k++)
		free(m[k].val);
	free(buf);
	utmem_close(c);
	return failures ? 1 : 0;
}

/*
 * refuse ADDR: on a tenant whose max is 1 MiB, put "old" under four keys,
 * then submit 400 KiB PUTs of them (small enough for the ring's frames):
 * at most two fit, every refusal must complete with -EDQUOT and leave its
 * key without a value, every success (posted, or completed with 0) must
 * read back byte for byte.
 */
static int do_refuse(const char *addr)
{
	static uint8_t big[400 * 1024], got[400 * 1024];
	utmem_client *c = e2e_dial(addr, 0);
	const char *keys[4] = {"ra", "rb", "rc", "rd"};
	int posted[4] = {0, 0, 0, 0}, refused = 0;
	uint32_t pool;

	CHECK_EQ("pool", utmem_pool_open(c, "refuse", UTMEM_POOL_CREATE, &pool), 0);
	for (int i = 0; i < 4; i++)
		CHECK_EQ("put old", utmem_put(c, pool, keys[i], 2, "old", 3), 0);
	for (int i = 0; i < 4; i++) {
		int err;

		memset(big, 'a' + i, sizeof(big));
		ex[i] = (struct expect){.used = 1, .op = UTMEM_OP_PUT};
		err = utmem_submit_put(c, pool, keys[i], 2, big, sizeof(big), i);
		if (err == 1) {
			posted[i] = 1;
			ex[i].used = 0;
		} else {
			CHECK_EQ("submit 400 KiB", err, 0);
		}
	}
	/* Collect the results by hand: refusals are expected here. */
	while (utmem_async_outstanding(c) > 0) {
		struct utmem_completion out[4];
		struct pollfd p = {.fd = utmem_event_fd(c), .events = POLLIN};
		int n;

		if (poll(&p, 1, 10000) != 1) {
			CHECK_EQ("completions within 10 s", 0, 1);
			break;
		}
		n = utmem_reap(c, out, 4);
		for (int j = 0; j < n; j++) {
			unsigned i = (unsigned)out[j].tag;

			CHECK_EQ("put completion op", out[j].op, UTMEM_OP_PUT);
			CHECK_EQ("no value with a put", out[j].val == NULL, 1);
			if (out[j].result == 0)
				posted[i] = 1;
			else if (out[j].result == -EDQUOT)
				refused++;
			else
				CHECK_EQ("put completion result", out[j].result, -EDQUOT);
			ex[i].used = 0;
		}
	}
	CHECK_EQ("at least two of four refused", refused >= 2, 1);
	for (int i = 0; i < 4; i++) {
		ssize_t n = utmem_get(c, pool, keys[i], 2, got, sizeof(got), 0);

		if (posted[i]) {
			memset(big, 'a' + i, sizeof(big));
			CHECK_EQ("stored value read back", n, (ssize_t)sizeof(big));
			CHECK_EQ("stored value bytes", memcmp(got, big, sizeof(big)), 0);
		} else {
			CHECK_EQ("a refused PUT leaves no value", n, -ENOENT);
		}
	}
	printf("refused %d of 4\n", refused);
	utmem_close(c);
	return failures ? 1 : 0;
}

/* The "name:" line of a server text (up to its newline), or "". */
static const char *info_line(const char *text, const char *name, size_t *n)
{
	const char *p = strstr(text, name);

	while (p && p != text && p[-1] != '\n')
		p = strstr(p + 1, name);
	*n = p ? strcspn(p, "\n") : 0;
	return p ? p : "";
}

static int do_stats(const char *addr)
{
	static uint8_t v[100000];
	utmem_client *c = e2e_dial(addr, 0);
	struct utmem_completion out[8];
	struct utmem_stats want, tenant_want;
	const struct utmem_completion *co[3] = {NULL, NULL, NULL};
	char text[4096], key[32];
	uint64_t bytes = 0;
	const char *a, *b;
	size_t an, bn;
	uint32_t pool;
	int got = 0;

	CHECK_EQ("pool", utmem_pool_open(c, "stats", UTMEM_POOL_CREATE, &pool), 0);
	memset(v, 's', sizeof(v));
	for (unsigned i = 0; i < 40; i++) {
		size_t len = (size_t)i * 2477;
		int r;

		snprintf(key, sizeof(key), "st-%u", i);
		if (i % 2) {
			CHECK_EQ("put", utmem_put(c, pool, key, strlen(key), v, len), 0);
		} else {
			r = utmem_submit_put(c, pool, key, strlen(key), v, len, 100 + i);
			CHECK_EQ("submit put", r == 0 || r == 1, 1);
			if (r == 0) { /* a request: reap its completion below */
				ex[100 + i] = (struct expect){.used = 1,
							      .op = UTMEM_OP_PUT};
			}
		}
		bytes += strlen(key) + len; /* bytes_stored counts keys too */
	}
	CHECK_EQ("submit pool stats", utmem_submit_stats(c, pool, 1), 0);
	CHECK_EQ("submit tenant stats", utmem_submit_stats(c, 0, 2), 0);
	CHECK_EQ("submit server info", utmem_submit_server_info(c, 3), 0);
	while (got < 3 && !failures) {
		struct pollfd p = {.fd = utmem_event_fd(c), .events = POLLIN};
		int n;

		if (poll(&p, 1, 10000) != 1) {
			CHECK_EQ("completions within 10 s", 0, 1);
			break;
		}
		n = utmem_reap(c, out + got, (size_t)(8 - got));
		for (int j = got; j < got + n; j++) {
			if (out[j].tag >= 1 && out[j].tag <= 3) {
				co[out[j].tag - 1] = &out[j];
				continue;
			}
			CHECK_EQ("put completion", out[j].op == UTMEM_OP_PUT &&
				 out[j].result == 0 && ex[out[j].tag].used, 1);
			ex[out[j].tag].used = 0;
			out[j] = out[--n + got]; /* drop it, look again */
			j--;
		}
		got += n;
	}
	if (failures || !co[0] || !co[1] || !co[2])
		return 1;
	CHECK_EQ("pool stats op", co[0]->op, UTMEM_OP_STATS);
	CHECK_EQ("pool stats result", co[0]->result, (int64_t)sizeof(want));
	CHECK_EQ("pool entries counted", ((struct utmem_stats *)co[0]->val)->entries, 40);
	CHECK_EQ("pool bytes counted",
		 ((struct utmem_stats *)co[0]->val)->bytes_stored, bytes);
	CHECK_EQ("sync pool stats", utmem_stats(c, pool, &want), 0);
	CHECK_EQ("pool stats as the synchronous call's",
		 memcmp(co[0]->val, &want, sizeof(want)), 0);
	CHECK_EQ("sync tenant stats", utmem_stats(c, 0, &tenant_want), 0);
	CHECK_EQ("tenant stats op", co[1]->op, UTMEM_OP_STATS);
	CHECK_EQ("tenant entries", ((struct utmem_stats *)co[1]->val)->entries,
		 tenant_want.entries);
	CHECK_EQ("tenant max", ((struct utmem_stats *)co[1]->val)->limit_max,
		 tenant_want.limit_max);
	CHECK_EQ("server info op", co[2]->op, UTMEM_OP_SERVER_INFO);
	CHECK_EQ("server info length", co[2]->result,
		 (int64_t)strlen(co[2]->val));
	CHECK_EQ("sync server info", utmem_server_info(c, text, sizeof(text)) > 0, 1);
	a = info_line(co[2]->val, "max_value:", &an);
	b = info_line(text, "max_value:", &bn);
	CHECK_EQ("server info has max_value", an > 0, 1);
	CHECK_EQ("server info as the synchronous call's",
		 an == bn && memcmp(a, b, an) == 0, 1);
	a = info_line(co[2]->val, "tenant:", &an);
	b = info_line(text, "tenant:", &bn);
	CHECK_EQ("server info names the tenant",
		 an > 7 && an == bn && memcmp(a, b, an) == 0, 1);
	for (int j = 0; j < got; j++)
		free(out[j].val);
	printf("pool entries %llu, bytes %llu\n",
	       (unsigned long long)want.entries,
	       (unsigned long long)want.bytes_stored);
	utmem_close(c);
	return failures ? 1 : 0;
}

static int flag(const char *dir, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return e2e_wait_flag(path);
}

static int do_kill(const char *addr, const char *dir)
{
	utmem_client *c = e2e_dial(addr, 0);
	struct utmem_completion out[64];
	int seen[200] = {0}, got = 0, efd;
	uint32_t pool;
	char key[32];

	CHECK_EQ("pool open", utmem_pool_open(c, "a", UTMEM_POOL_CREATE, &pool), 0);
	for (unsigned k = 0; k < 100; k++) {
		key_of(k, key);
		CHECK_EQ("put", utmem_put(c, pool, key, strlen(key), "v", 1), 0);
	}
	CHECK_EQ("sync", utmem_sync(c), 0);
	efd = utmem_event_fd(c);
	printf("READY\n");
	fflush(stdout);
	if (flag(dir, "stopped"))
		return 1;
	for (unsigned k = 0; k < 200; k++) {
		key_of(k % 100, key);
		if (k < 100)
			CHECK_EQ("submit pop",
				 utmem_submit_get(c, pool, key, strlen(key),
						  UTMEM_GET_EXCLUSIVE, k), 0);
		else
			CHECK_EQ("submit invalidate",
				 utmem_submit_invalidate(c, pool, key,
							 strlen(key), k), 0);
	}
	printf("SUBMITTED\n");
	fflush(stdout);
	if (flag(dir, "killed"))
		return 1;
	while (got < 200 && !failures) {
		struct pollfd p = {.fd = efd, .events = POLLIN};
		int n = poll(&p, 1, 10000);

		if (n <= 0) {
			CHECK_EQ("event fd readable after the kill", n, 1);
			break;
		}
		n = utmem_reap(c, out, 64);
		for (int i = 0; i < n; i++) {
			CHECK_EQ("completed once", seen[out[i].tag % 200]++, 0);
			CHECK_EQ("killed daemon: link error", out[i].result,
				 -ECONNRESET);
			CHECK_EQ("no value", out[i].val == NULL, 1);
			free(out[i].val);
		}
		got += n > 0 ? n : 0;
	}
	CHECK_EQ("completions", got, 200);
	CHECK_EQ("outstanding", utmem_async_outstanding(c), 0);
	printf("DEAD\n");
	fflush(stdout);
	if (flag(dir, "restarted"))
		return 1;
	/* The new daemon is empty: a submitted GET reconnects and misses. */
	CHECK_EQ("submit on the new daemon",
		 utmem_submit_get(c, pool, "key-1", 5, 0, 7), 0);
	for (got = 0; got == 0 && !failures;) {
		struct pollfd p = {.fd = efd, .events = POLLIN};

		if (poll(&p, 1, 10000) <= 0) {
			CHECK_EQ("event fd readable on the new daemon", 0, 1);
			break;
		}
		got = utmem_reap(c, out, 64);
	}
	if (got == 1) {
		CHECK_EQ("new daemon tag", out[0].tag, 7);
		CHECK_EQ("new daemon: miss", out[0].result, -ENOENT);
	}
	utmem_close(c);
	return failures ? 1 : 0;
}

/* n bytes of a pattern of seed s. */
static void pattern(uint8_t *v, size_t n, unsigned s)
{
	for (size_t i = 0; i < n; i++)
		v[i] = (uint8_t)(i * 31 + s * 7 + (i >> 12));
}

/*
 * Open pool name, put value b (len bytes) under "b", and submit four GETs
 * of it (tags 0-3) left unreaped: their replies (4 x len) exceed what
 * utmemd queues for a connection before it stops reading its requests.
 */
static uint32_t replies_waiting(utmem_client *c, const char *name,
				const uint8_t *b, size_t len)
{
	uint32_t pool = 0;

	CHECK_EQ("pool", utmem_pool_open(c, name, UTMEM_POOL_CREATE, &pool), 0);
	CHECK_EQ("event fd", utmem_event_fd(c) >= 0, 1);
	CHECK_EQ("put b", utmem_put(c, pool, "b", 1, b, len), 0);
	for (uint64_t t = 0; t < 4; t++) {
		ex[t] = (struct expect){.used = 1, .op = UTMEM_OP_GET,
					.result = (int64_t)len, .val = malloc(len)};
		memcpy(ex[t].val, b, len);
		CHECK_EQ("submit get b", utmem_submit_get(c, pool, "b", 1, 0, t), 0);
	}
	return pool;
}

static int do_bigput(const char *addr)
{
	const size_t big = 1536 * 1024;
	utmem_client *c = e2e_dial(addr, 0);
	uint8_t *a = malloc(big), *b = malloc(big), *huge = malloc(3 * big);
	uint32_t pool;
	int err;

	rs = 1;
	pattern(a, big, 1);
	pattern(b, big, 2);
	pattern(huge, 3 * big, 3);
	pool = replies_waiting(c, "bigput", b, big);
	ex[4] = (struct expect){.used = 1, .op = UTMEM_OP_PUT};
	err = utmem_submit_put(c, pool, "a", 1, a, big, 4);
	CHECK_EQ("submit put a: a request, not posted", err, 0);
	ex[5] = (struct expect){.used = 1, .op = UTMEM_OP_GET,
				.result = (int64_t)big, .val = malloc(big)};
	memcpy(ex[5].val, a, big);
	CHECK_EQ("submit get a", utmem_submit_get(c, pool, "a", 1, 0, 5), 0);
	/* Beyond the max: refused, and the key left empty. */
	CHECK_EQ("put old", utmem_put(c, pool, "h", 1, "old", 3), 0);
	ex[6] = (struct expect){.used = 1, .op = UTMEM_OP_PUT, .result = -EDQUOT};
	CHECK_EQ("submit put huge", utmem_submit_put(c, pool, "h", 1, huge, 3 * big, 6), 0);
	ex[7] = (struct expect){.used = 1, .op = UTMEM_OP_GET, .result = -ENOENT};
	CHECK_EQ("submit get h", utmem_submit_get(c, pool, "h", 1, 0, 7), 0);
	reap_all(c);
	for (int t = 0; t < 8; t++)
		CHECK_EQ("completed", ex[t].used, 0);
	free(a);
	free(b);
	free(huge);
	utmem_close(c);
	if (!failures)
		printf("4 GETs of 1.5 MiB waiting, a 1.5 MiB PUT sent as a request, read back; 4.5 MiB refused\n");
	return failures ? 1 : 0;
}

static int do_replywait(const char *addr)
{
	const size_t big = 1536 * 1024, small = 64 * 1024;
	utmem_client *c = e2e_dial(addr, 0);
	uint8_t *b = malloc(big), *v = malloc(small), *got = malloc(small);
	uint32_t pool;
	char key[32];
	ssize_t n;

	alarm(30); /* a client that spins or waits for good fails, not hangs */
	pattern(b, big, 4);
	pool = replies_waiting(c, "replywait", b, big);
	for (unsigned i = 0; i < 40 && !failures; i++) {
		pattern(v, small, 10 + i);
		snprintf(key, sizeof(key), "p%u", i);
		CHECK_EQ("put while replies wait", utmem_put(c, pool, key, strlen(key), v, small), 0);
	}
	for (unsigned i = 0; i < 40 && !failures; i++) {
		pattern(v, small, 10 + i);
		snprintf(key, sizeof(key), "p%u", i);
		n = utmem_get(c, pool, key, strlen(key), got, small, 0);
		CHECK_EQ("get back", n, (ssize_t)small);
		if (n == (ssize_t)small && memcmp(got, v, small))
			CHECK_EQ("get back bytes", 0, 1);
	}
	reap_all(c);
	for (int t = 0; t < 4; t++)
		CHECK_EQ("completed", ex[t].used, 0);
	free(b);
	free(v);
	free(got);
	utmem_close(c);
	if (!failures)
		printf("6 MiB of replies unread, 40 posted 64 KiB PUTs went through, read back\n");
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	/* Line-buffered: a printed seed survives a crash or a timeout. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 5 && strcmp(argv[1], "mix") == 0) {
		uint64_t seed = strtoull(argv[3], NULL, 10);

		if (seed == 0)
			seed = (uint64_t)time(NULL);
		return do_mix(argv[2], seed, atol(argv[4]));
	}
	if (argc == 4 && strcmp(argv[1], "kill") == 0)
		return do_kill(argv[2], argv[3]);
	if (argc == 3 && strcmp(argv[1], "refuse") == 0)
		return do_refuse(argv[2]);
	if (argc == 3 && strcmp(argv[1], "stats") == 0)
		return do_stats(argv[2]);
	if (argc == 3 && strcmp(argv[1], "bigput") == 0)
		return do_bigput(argv[2]);
	if (argc == 3 && strcmp(argv[1], "replywait") == 0)
		return do_replywait(argv[2]);
	fprintf(stderr, "usage: e2e_async mix ADDR SEED N | kill ADDR DIR | "
		"refuse ADDR | stats ADDR | bigput ADDR | replywait ADDR\n");
	return 2;
}

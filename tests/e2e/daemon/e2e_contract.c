/*
 * e2e_contract.c — end-to-end checks of promises include/utmem.h makes
 * about a client's life against a real utmemd, driven by t_contract.sh.
 *
 * Subcommands (exit status 0 only if every check held):
 *   fork ADDR
 *       a client with values stored (every size class: ring, staged into
 *       the region, 256 KiB) and an asynchronous GET outstanding forks;
 *       parent and child then both use the inherited client at once. The
 *       child's first call drops the inherited connection and connects
 *       anew: the outstanding GET completes in the child with
 *       -ECONNRESET (in the parent with its value), the child reads the
 *       parent's values and stores and reads its own, its event
 *       descriptor keeps its number and works; it closes the client.
 *       Every call of either succeeds and every value reads back whole,
 *       in both, afterwards too. A client with no_reconnect fails in
 *       the child with -ENOTCONN and works on in the parent. A child that
 *       only closes the client leaves the parent's connection as it was.
 *   view ADDR SECONDS
 *       utmem_get_view with a counting fn, on the fast path (one-sided
 *       reads), with UTMEM_OPT_SYNC_GET (through the ring) and on the
 *       socket alone, plain, UTMEM_GET_EXCLUSIVE and UTMEM_GET_LOCAL, for
 *       values of 0 B to 300 KiB (beyond 64 KiB included): a hit calls fn
 *       exactly once with the whole value and returns what fn returned,
 *       whatever it is (-EAGAIN, -ENOENT, -EIO, a positive number); a
 *       miss, a bad handle, bad flags and a LOCAL read that cannot be
 *       one-sided return their error without calling fn. Then, for
 *       SECONDS, a second client overwrites and invalidates keys while
 *       get_view reads them (one-sided reads that meet changing buckets
 *       retry): every success called fn exactly once with a whole value
 *       of that key, every failure never.
 *   conns ADDR
 *       ADDR's tenant has max_conns = 1. While one client is connected,
 *       every further utmem_connect (300 tries, fast path and socket only)
 *       fails with -EDQUOT, never a link error (utmemd answers with a
 *       QUOTA frame and closes, often before the client's HELLO is
 *       sent); the connected client works on; once it is closed, a new
 *       one connects.
 *   reconnect ADDR
 *       ADDR's tenant has max_conns = 1 and utmemd idle_timeout = 1 s: a
 *       client's connection is closed as idle, another client takes the
 *       one place, and every call of the first (each redials) fails
 *       with -EDQUOT, never a link error; once the other is closed, the
 *       first reconnects and finds its pool and value.
 *   backlog ADDR PID
 *       stops utmemd (PID) and fills the socket's accept queue: a connect
 *       with timeout_ms 400 fails after about that long with -ETIMEDOUT,
 *       never at once with -EAGAIN; one with 5 s, utmemd resumed after
 *       300 ms, waits for room and connects.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "e2e_check.h"
#include "utmem.h"

#define NKEYS 24
#define ROUNDS 300

/* Sizes that take every path: inline in the ring, staged, large. */
static size_t key_size(unsigned id)
{
	static const size_t sizes[] = {0, 1, 100, 4000, 20000, 70000, 262144};

	return sizes[id % (sizeof(sizes) / sizeof(sizes[0]))];
}

/* Value of key id, version ver: every byte depends on all three. */
static void fill(uint8_t *p, size_t n, unsigned who, unsigned id, unsigned ver)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31u + (i >> 8) + who * 101u + id * 7u +
				 ver * 13u);
}

static int same(const uint8_t *p, size_t n, unsigned who, unsigned id,
		unsigned ver)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (uint8_t)(i * 31u + (i >> 8) + who * 101u + id * 7u +
				      ver * 13u))
			return 0;
	return 1;
}

static uint8_t buf[262144], got[262144];

/* PUT key (who, id) version ver. */
static void put_key(utmem_client *c, uint32_t p, unsigned who, unsigned id,
		    unsigned ver, const char *ctx)
{
	char k[32];
	size_t n = key_size(id);

	snprintf(k, sizeof(k), "%c%u", "pcq"[who], id);
	fill(buf, n, who, id, ver);
	int rc = utmem_put(c, p, k, strlen(k), buf, n);
	if (rc) {
		fprintf(stderr, "%s: put %s\n", ctx, k);
		CHECK_EQ("utmem_put", rc, 0);
	}
}

/* GET key (who, id): whole and of version ver. */
static void check_key(utmem_client *c, uint32_t p, unsigned who, unsigned id,
		      unsigned ver, const char *ctx)
{
	char k[32];
	size_t n = key_size(id);
	ssize_t rc;

	snprintf(k, sizeof(k), "%c%u", "pcq"[who], id);
	rc = utmem_get(c, p, k, strlen(k), got, sizeof(got), 0);
	if (rc != (ssize_t)n || !same(got, n, who, id, ver)) {
		fprintf(stderr, "%s: get %s (version %u)\n", ctx, k, ver);
		CHECK_EQ("utmem_get length", rc, (ssize_t)n);
		if (rc == (ssize_t)n)
			CHECK_EQ("value whole", 0, 1);
	}
}

/* Reap until the completion tagged tag comes (bounded), via the event fd. */
static int reap_tag(utmem_client *c, uint64_t tag, struct utmem_completion *out)
{
	int ep = utmem_event_fd(c);

	if (ep < 0)
		return ep;
	for (int i = 0; i < 500; i++) {
		struct pollfd pf = {.fd = ep, .events = POLLIN};
		struct utmem_completion cq;
		int n;

		(void)poll(&pf, 1, 10);
		while ((n = utmem_reap(c, &cq, 1)) == 1) {
			if (cq.tag == tag) {
				*out = cq;
				return 0;
			}
			free(cq.val);
		}
		if (n < 0)
			return n;
	}
	return -ETIMEDOUT;
}

/* The child's part: everything through the inherited client c. */
static int fork_child(utmem_client *c, uint32_t p, int ep_parent, int go)
{
	struct utmem_completion cq;
	char ch;
	int ep;

	if (read(go, &ch, 1) != 1)
		return 1;
	/* The parent's outstanding GET is not the child's to receive. */
	CHECK_EQ("child: reap the parent's GET", reap_tag(c, 7, &cq), 0);
	CHECK_EQ("child: its completion", cq.result, -ECONNRESET);
	free(cq.val);
	CHECK_EQ("child: outstanding", utmem_async_outstanding(c), 0);
	ep = utmem_event_fd(c);
	CHECK_EQ("child: event descriptor number", ep, ep_parent);
	for (unsigned r = 0; r < ROUNDS && !failures; r++) {
		unsigned id = r % NKEYS;

		put_key(c, p, 1, id, r, "child");
		check_key(c, p, 1, id, r, "child");
		check_key(c, p, 0, (r * 5u) % NKEYS, 0, "child");
	}
	/* An asynchronous GET of the child's own, woken through its fd. */
	CHECK_EQ("child: submit", utmem_submit_get(c, p, "c3", 2, 0, 8), 0);
	CHECK_EQ("child: reap its GET", reap_tag(c, 8, &cq), 0);
	CHECK_EQ("child: its GET's length", cq.result, (int64_t)key_size(3));
	free(cq.val);
	utmem_close(c);
	return failures ? 1 : 0;
}

static int wait_child(pid_t pid, const char *what)
{
	int st = 0;

	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "FAIL %s: child status %#x\n", what, st);
		failures++;
		return -1;
	}
	return 0;
}

static int cmd_fork(char **argv)
{
	const char *addr = argv[0];
	struct utmem_options nr = {.timeout_ms = 5000, .no_reconnect = 1};
	utmem_client *c = e2e_dial(addr, 0), *c2 = NULL;
	struct utmem_completion cq;
	int go[2], ep;
	uint32_t p;
	pid_t pid;

	CHECK_EQ("pool open", utmem_pool_open(c, "forkp", UTMEM_POOL_CREATE, &p), 0);
	for (unsigned id = 0; id < NKEYS; id++) {
		put_key(c, p, 0, id, 0, "parent");
		put_key(c, p, 1, id, 999, "parent"); /* the child overwrites these */
	}
	CHECK_EQ("sync", utmem_sync(c), 0);
	ep = utmem_event_fd(c);
	CHECK_EQ("submit before fork", utmem_submit_get(c, p, "p2", 2, 0, 7), 0);
	if (failures || pipe(go))
		return 1;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		close(go[1]);
		_exit(fork_child(c, p, ep, go[0]));
	}
	close(go[0]);
	if (write(go[1], "g", 1) != 1)
		return 1;
	/* Both at once: the parent on its own inherited connection. */
	for (unsigned r = 0; r < ROUNDS && !failures; r++) {
		unsigned id = r % NKEYS;

		put_key(c, p, 2, id, r + 1, "parent");
		check_key(c, p, 2, id, r + 1, "parent");
		if (r == ROUNDS / 2) {
			CHECK_EQ("parent: reap its GET", reap_tag(c, 7, &cq), 0);
			CHECK_EQ("parent: its GET's length", cq.result,
				 (int64_t)key_size(2));
			free(cq.val);
		}
	}
	close(go[1]);
	wait_child(pid, "child using the inherited client");
	CHECK_EQ("parent: ping", utmem_ping(c), 0);
	for (unsigned id = 0; id < NKEYS; id++) {
		unsigned last = id;

		while (last + NKEYS < ROUNDS)
			last += NKEYS;
		check_key(c, p, 0, id, 0, "parent after (fixed)");
		check_key(c, p, 2, id, last + 1, "parent after");
		check_key(c, p, 1, id, last, "parent after (child's)");
	}

	/* Without reconnects: the child gets -ENOTCONN, the parent goes on. */
	CHECK_EQ("no_reconnect connect", utmem_connect(addr, &nr, &c2), 0);
	if (!c2)
		return 1;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		failures = 0;
		CHECK_EQ("child: ping, no_reconnect", utmem_ping(c2), -ENOTCONN);
		CHECK_EQ("child: put, no_reconnect",
			 utmem_put(c2, p, "x", 1, "y", 1), -ENOTCONN);
		utmem_close(c2);
		_exit(failures ? 1 : 0);
	}
	wait_child(pid, "no_reconnect child");
	CHECK_EQ("parent: ping, no_reconnect", utmem_ping(c2), 0);
	utmem_close(c2);

	/* A child that only closes: the parent's connection is untouched. */
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		utmem_close(c);
		_exit(0);
	}
	wait_child(pid, "closing child");
	for (unsigned r = 0; r < 50 && !failures; r++) {
		put_key(c, p, 2, r % NKEYS, 5000 + r, "parent after close");
		check_key(c, p, 2, r % NKEYS, 5000 + r, "parent after close");
	}
	CHECK_EQ("parent: ping at the end", utmem_ping(c), 0);
	utmem_close(c);
	if (!failures)
		printf("fork: parent and child both served\n");
	return failures ? 1 : 0;
}

/* ---- view ---- */

/* A counting fn: checks the view against (who, id, ver), returns ret. */
struct counter {
	unsigned calls;
	int ret;
	size_t len;
	unsigned who, id, ver;
	int whole;
};

static int count_fn(void *ctx, const void *val, size_t len)
{
	struct counter *k = ctx;

	k->calls++;
	k->len = len;
	k->whole = len == key_size(k->id) && same(val, len, k->who, k->id, k->ver);
	return k->ret;
}

static const char *const conn_names[] = {"fast path", "SYNC_GET", "socket only"};
static const unsigned conn_flags[] = {0, UTMEM_OPT_SYNC_GET, UTMEM_OPT_NO_FAST_PATH};

/* One get_view of (who, id) expecting rc and `calls` calls of fn. */
static void view_once(utmem_client *c, uint32_t p, unsigned who, unsigned id,
		      unsigned ver, unsigned flags, int ret, int want,
		      unsigned calls, const char *ctx)
{
	struct counter k = {.ret = ret, .who = who, .id = id, .ver = ver};
	char key[32];
	int rc;

	snprintf(key, sizeof(key), "%c%u", "pcq"[who], id);
	rc = utmem_get_view(c, p, key, strlen(key), flags, count_fn, &k);
	if (rc != want || k.calls != calls || (calls && !k.whole)) {
		fprintf(stderr, "%s: get_view %s (%zu B) flags %#x, fn returns %d\n",
			ctx, key, key_size(id), flags, ret);
		CHECK_EQ("get_view", rc, want);
		CHECK_EQ("fn calls", k.calls, calls);
		if (calls && k.calls)
			CHECK_EQ("fn saw the whole value", k.whole, 1);
	}
}

struct writer {
	const char *addr;
	uint32_t pool;
	int stop; /* __atomic: 1 stop, 2 the writer failed */
	int ready; /* __atomic: every key was written once and served */
	unsigned rounds;
};

/* Overwrite and invalidate keys q0..q(NKEYS-1) until told to stop. */
static void *writer_main(void *arg)
{
	struct writer *w = arg;
	utmem_client *c = e2e_dial(w->addr, 0);
	static uint8_t wbuf[262144];
	uint32_t p;

	if (utmem_pool_open(c, "viewp", UTMEM_POOL_CREATE, &p)) {
		fprintf(stderr, "FAIL writer: pool open\n");
		__atomic_store_n(&w->stop, 2, __ATOMIC_RELAXED);
	}
	for (unsigned r = 0; !__atomic_load_n(&w->stop, __ATOMIC_RELAXED); r++) {
		unsigned id = r % NKEYS;
		char key[32];
		size_t n = key_size(id);

		snprintf(key, sizeof(key), "q%u", id);
		if (r % 7 == 3) {
			(void)utmem_invalidate(c, p, key, strlen(key));
			continue;
		}
		/* version = r: the reader accepts any version it can name */
		for (size_t i = 0; i < n; i++)
			wbuf[i] = (uint8_t)(i * 31u + (i >> 8) + 2u * 101u +
					    id * 7u + (r % 256u) * 13u);
		if (n >= 4)
			memcpy(wbuf, &r, 4); /* the version, for the reader */
		(void)utmem_put(c, p, key, strlen(key), wbuf, n);
		w->rounds++;
		if (r == 2 * NKEYS) {
			(void)utmem_sync(c);
			__atomic_store_n(&w->ready, 1, __ATOMIC_RELEASE);
		}
	}
	utmem_close(c);
	return NULL;
}

/* Race reader's fn: the view must be a whole value some version of q<id>. */
struct race_counter {
	unsigned calls, id;
	int whole;
};

static int race_fn(void *ctx, const void *val, size_t len)
{
	struct race_counter *k = ctx;
	const uint8_t *v = val;
	uint32_t r = 0;

	k->calls++;
	k->whole = len == key_size(k->id);
	if (k->whole && len >= 4) {
		memcpy(&r, v, 4);
		for (size_t i = 4; i < len && k->whole; i++)
			k->whole = v[i] == (uint8_t)(i * 31u + (i >> 8) + 2u * 101u +
						    k->id * 7u + (r % 256u) * 13u);
	}
	return 0;
}

static int cmd_view(char **argv)
{
	const char *addr = argv[0];
	double secs = atof(argv[1]), end;
	static const int rets[] = {5, 0, -EAGAIN, -ENOENT, -EIO};

	for (unsigned m = 0; m < 3; m++) {
		utmem_client *c = e2e_dial(addr, conn_flags[m]);
		const char *ctx = conn_names[m];
		unsigned local_ok = m == 0; /* one-sided reads possible */
		uint32_t p;

		CHECK_EQ("pool open", utmem_pool_open(c, "viewp", UTMEM_POOL_CREATE, &p), 0);
		for (unsigned id = 0; id < 7; id++) {
			for (size_t i = 0; i < sizeof(rets) / sizeof(rets[0]); i++) {
				int ret = rets[i];

				put_key(c, p, 0, id, i, ctx);
				view_once(c, p, 0, id, i, 0, ret, ret, 1, ctx);
				view_once(c, p, 0, id, i, UTMEM_GET_LOCAL, ret,
					  local_ok ? ret : -EAGAIN, local_ok, ctx);
				/* a pop: fn sees the value, which is gone after */
				view_once(c, p, 0, id, i, UTMEM_GET_EXCLUSIVE, ret,
					  ret, 1, ctx);
				view_once(c, p, 0, id, i, 0, ret, -ENOENT, 0, ctx);
				view_once(c, p, 0, id, i, UTMEM_GET_LOCAL, ret,
					  local_ok ? -ENOENT : -EAGAIN, 0, ctx);
				view_once(c, p, 0, id, i, UTMEM_GET_EXCLUSIVE, ret,
					  -ENOENT, 0, ctx);
			}
			put_key(c, p, 0, id, 9, ctx);
			view_once(c, p + 100, 0, id, 9, 0, 5, -EBADF, 0, ctx);
			view_once(c, p, 0, id, 9, UTMEM_GET_LOCAL | UTMEM_GET_EXCLUSIVE,
				  5, -EINVAL, 0, ctx);
			view_once(c, p, 0, id, 9, 1u << 7, 5, -EINVAL, 0, ctx);
		}
		utmem_close(c);
	}
	if (failures)
		return 1;

	/* Reads racing a writer: fn once per success, never on failure. */
	for (unsigned m = 0; m < 3; m++) {
		struct writer w = {.addr = addr};
		utmem_client *c = e2e_dial(addr, conn_flags[m]);
		unsigned reads = 0, hits = 0, misses = 0, again = 0;
		pthread_t th;
		uint32_t p;

		CHECK_EQ("pool open", utmem_pool_open(c, "viewp", UTMEM_POOL_CREATE, &p), 0);
		if (pthread_create(&th, NULL, writer_main, &w))
			return 1;
		/* Reads from the start would be misses, fast, before the
		 * writer has connected: wait until every key holds a value. */
		while (!__atomic_load_n(&w.ready, __ATOMIC_ACQUIRE) &&
		       __atomic_load_n(&w.stop, __ATOMIC_RELAXED) != 2)
			usleep(1000);
		end = e2e_now_s() + secs / 3;
		for (unsigned r = 0; e2e_now_s() < end && !failures &&
				    __atomic_load_n(&w.stop, __ATOMIC_RELAXED) != 2; r++) {
			unsigned id = (r * 5u) % NKEYS;
			unsigned flags = r % 5 == 4 ? UTMEM_GET_LOCAL : 0;
			struct race_counter k = {.id = id};
			char key[32];
			int rc;

			snprintf(key, sizeof(key), "q%u", id);
			rc = utmem_get_view(c, p, key, strlen(key), flags, race_fn, &k);
			reads++;
			hits += rc == 0;
			misses += rc == -ENOENT;
			again += rc == -EAGAIN;
			if ((rc == 0 && (k.calls != 1 || !k.whole)) ||
			    (rc != 0 && k.calls != 0) ||
			    (rc != 0 && rc != -ENOENT && rc != -EAGAIN) ||
			    (rc == -EAGAIN && !(flags & UTMEM_GET_LOCAL))) {
				fprintf(stderr, "%s: racing get_view q%u flags %#x: "
					"rc %d, fn called %u times, whole %d\n",
					conn_names[m], id, flags, rc, k.calls, k.whole);
				failures++;
			}
		}
		if (__atomic_load_n(&w.stop, __ATOMIC_RELAXED) == 2)
			failures++;
		__atomic_store_n(&w.stop, 1, __ATOMIC_RELAXED);
		pthread_join(th, NULL);
		printf("%s: %u racing reads (%u hits, %u misses, %u LOCAL "
		       "-EAGAIN), %u writes\n", conn_names[m], reads, hits,
		       misses, again, w.rounds);
		utmem_close(c);
	}
	return failures ? 1 : 0;
}

/* ---- connection limits ---- */

static int cmd_conns(char **argv)
{
	const char *addr = argv[0];
	utmem_client *a = e2e_dial(addr, 0), *b = NULL;
	int hist_ok = 0, other = 0;

	for (unsigned m = 0; m < 2; m++) {
		struct utmem_options o = {
			.timeout_ms = 5000,
			.flags = m ? UTMEM_OPT_NO_FAST_PATH : 0,
		};

		for (int i = 0; i < 300; i++) {
			int rc = utmem_connect(addr, &o, &b);

			if (rc == -EDQUOT) {
				hist_ok++;
				continue;
			}
			if (other++ < 5)
				fprintf(stderr, "FAIL connect beyond max_conns (%s): %s\n",
					m ? "socket only" : "fast path",
					rc ? utmem_strerror(rc) : "connected");
			if (rc == 0)
				utmem_close(b);
			failures++;
		}
	}
	CHECK_EQ("the connected client still served", utmem_ping(a), 0);
	utmem_close(a);
	/* utmemd notices the close before it admits the next connection. */
	for (int i = 0; i < 100 && utmem_connect(addr, NULL, &b) == -EDQUOT; i++)
		usleep(10000);
	CHECK_EQ("connect once the first client closed", b != NULL, 1);
	if (b)
		CHECK_EQ("its ping", utmem_ping(b), 0);
	utmem_close(b);
	if (other)
		fprintf(stderr, "%d of 600 connects failed otherwise\n", other);
	else
		printf("600 connects beyond max_conns: -EDQUOT each\n");
	return failures ? 1 : 0;
}

static int cmd_reconnect(char **argv)
{
	const char *addr = argv[0];
	utmem_client *a = e2e_dial(addr, 0), *b = NULL;
	int other = 0, rc = -1;
	uint32_t p;
	char v[8];

	CHECK_EQ("pool open", utmem_pool_open(a, "recp", UTMEM_POOL_CREATE, &p), 0);
	CHECK_EQ("put", utmem_put(a, p, "k", 1, "value", 5), 0);
	CHECK_EQ("sync", utmem_sync(a), 0);
	/* utmemd closes a's connection after a second idle; then b gets in. */
	usleep(1200000);
	for (int i = 0; i < 300 && (rc = utmem_connect(addr, NULL, &b)) == -EDQUOT; i++)
		usleep(10000);
	CHECK_EQ("the other client connects once a's connection is closed", rc, 0);
	if (rc)
		return 1;
	for (int i = 0; i < 200; i++) {
		rc = i % 2 ? utmem_ping(a)
			   : (int)utmem_get(a, p, "k", 1, v, sizeof(v), 0);
		if (rc != -EDQUOT) {
			if (other++ < 5)
				fprintf(stderr, "FAIL call %d of a client beyond max_conns: "
					"%s\n", i, rc < 0 ? utmem_strerror(rc) : "served");
			failures++;
		}
	}
	CHECK_EQ("the other client served", utmem_ping(b), 0);
	utmem_close(b);
	for (int i = 0; i < 100 && (rc = utmem_ping(a)) == -EDQUOT; i++)
		usleep(10000);
	CHECK_EQ("a reconnects once the other is closed", rc, 0);
	CHECK_EQ("a's value", utmem_get(a, p, "k", 1, v, sizeof(v), 0), 5);
	utmem_close(a);
	if (!failures)
		printf("200 calls that reconnect beyond max_conns: -EDQUOT each\n");
	return failures ? 1 : 0;
}

#define FILL_MAX 8192

/* Raw connections to path until the accept queue is full; how many. */
static int fill_backlog(const char *path, int *fds)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int n = 0;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	while (n < FILL_MAX) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

		if (fd < 0)
			break;
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
			int e = errno;

			close(fd);
			if (e != EAGAIN)
				fprintf(stderr, "FAIL filling the backlog: %s\n",
					strerror(e));
			return e == EAGAIN ? n : -1;
		}
		fds[n++] = fd;
	}
	fprintf(stderr, "FAIL the backlog took %d connections\n", n);
	return -1;
}

struct resume {
	pid_t pid;
	int ms;
};

static void *resume_main(void *arg)
{
	const struct resume *r = arg;

	usleep((useconds_t)r->ms * 1000u);
	kill(r->pid, SIGCONT);
	return NULL;
}

static int cmd_backlog(char **argv)
{
	const char *addr = argv[0], *path = strchr(addr, ':') + 1;
	struct resume res = {.pid = (pid_t)atol(argv[1]), .ms = 300};
	static int fds[FILL_MAX];
	utmem_client *c = NULL;
	double t0, el, el_stopped;
	pthread_t th;
	int n, rc;

	struct rlimit rl;

	/* The accept queue holds 1024 and more: descriptors for them. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* utmemd stays stopped: the connect gives up after its timeout. */
	if (kill(res.pid, SIGSTOP))
		return 1;
	n = fill_backlog(path, fds);
	if (n < 0) {
		kill(res.pid, SIGCONT);
		return 1;
	}
	struct utmem_options o = {.timeout_ms = 400};
	t0 = e2e_now_s();
	rc = utmem_connect(addr, &o, &c);
	el_stopped = e2e_now_s() - t0;
	CHECK_EQ("connect to a full backlog", rc, -ETIMEDOUT);
	if (el_stopped < 0.35 || el_stopped > 3.0) {
		fprintf(stderr, "FAIL it returned after %.3f s (timeout 0.4 s)\n",
			el_stopped);
		failures++;
	}
	if (rc == 0)
		utmem_close(c);
	/* utmemd resumes meanwhile: the connect waits for room, then works. */
	o.timeout_ms = 5000;
	if (pthread_create(&th, NULL, resume_main, &res)) {
		kill(res.pid, SIGCONT);
		return 1;
	}
	c = NULL;
	t0 = e2e_now_s();
	rc = utmem_connect(addr, &o, &c);
	el = e2e_now_s() - t0;
	pthread_join(th, NULL);
	CHECK_EQ("connect while the backlog drains", rc, 0);
	if (c) {
		CHECK_EQ("ping", utmem_ping(c), 0);
		utmem_close(c);
	}
	for (int i = 0; i < n; i++)
		close(fds[i]);
	if (!failures)
		printf("backlog of %d: -ETIMEDOUT after %.2f s (timeout 0.4 s) "
		       "while stopped; connected %.2f s after a resume at 0.3 s\n",
		       n, el_stopped, el);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct e2e_cmd cmds[] = {
		{"fork", 1, cmd_fork},
		{"view", 2, cmd_view},
		{"conns", 1, cmd_conns},
		{"reconnect", 1, cmd_reconnect},
		{"backlog", 2, cmd_backlog},
	};

	return e2e_dispatch(cmds, sizeof(cmds) / sizeof(cmds[0]), argc, argv,
			    "e2e_contract fork ADDR | view ADDR SECONDS | "
			    "conns ADDR | reconnect ADDR | backlog ADDR PID");
}

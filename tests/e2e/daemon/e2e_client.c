/*
 * e2e_client.c — a small libutmem client that the daemon's end-to-end
 * scripts drive: each subcommand runs one scenario against a real utmemd
 * and exits 0 only if every check held, printing both sides of any failed
 * check. Scenarios that need the operator to act in the middle (lower a
 * quota, kill the daemon) print a line and wait for a flag file the script
 * creates, with a bounded wait.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "e2e_check.h"
#include "utmem.h"

static utmem_client *dial(const char *sock)
{
	char addr[512];
	utmem_client *c = NULL;
	int err;

	snprintf(addr, sizeof(addr), "unix:%s", sock);
	err = utmem_connect(addr, NULL, &c);
	if (err) {
		fprintf(stderr, "FAIL connect %s: %s\n", addr, utmem_strerror(err));
		exit(1);
	}
	return c;
}

static void fill(unsigned char *buf, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (unsigned char)(seed * 131u + i * 7u);
}

/* PUT/GET/pop/INVALIDATE/FLUSH/STATS on one pool; persistent pools must keep. */
static void exercise_pool(utmem_client *c, uint32_t p, int persistent)
{
	const size_t big = 4u << 20;
	unsigned char *v = malloc(big), *out = malloc(big);
	char small[8];
	void *av = NULL;
	size_t alen = 0;
	struct utmem_stats st;

	if (!v || !out)
		exit(1);
	fill(v, big, 3);
	CHECK_EQ("put k1", utmem_put(c, p, "k1", 2, "hello", 5), 0);
	CHECK_EQ("get k1", utmem_get(c, p, "k1", 2, out, big, 0), 5);
	CHECK_EQ("get k1 bytes", memcmp(out, "hello", 5), 0);
	CHECK_EQ("put k1 again", utmem_put(c, p, "k1", 2, "world!", 6), 0);
	CHECK_EQ("get k1 new", utmem_get(c, p, "k1", 2, out, big, 0), 6);
	CHECK_EQ("get k1 new bytes", memcmp(out, "world!", 6), 0);
	/* Too small a buffer: -ENOBUFS and the value stays, even for a pop. */
	CHECK_EQ("get small", utmem_get(c, p, "k1", 2, small, 3, UTMEM_GET_EXCLUSIVE),
		 -ENOBUFS);
	CHECK_EQ("still there", utmem_get(c, p, "k1", 2, out, big, 0), 6);
	/* Exclusive get: returns and removes. */
	CHECK_EQ("pop k1", utmem_get(c, p, "k1", 2, out, big, UTMEM_GET_EXCLUSIVE), 6);
	CHECK_EQ("get after pop", utmem_get(c, p, "k1", 2, out, big, 0), -ENOENT);
	/* Empty value, large value, get_alloc. */
	CHECK_EQ("put empty", utmem_put(c, p, "e", 1, "", 0), 0);
	CHECK_EQ("get empty", utmem_get(c, p, "e", 1, out, big, 0), 0);
	CHECK_EQ("put big", utmem_put(c, p, "big", 3, v, big), 0);
	CHECK_EQ("get_alloc big", utmem_get_alloc(c, p, "big", 3, &av, &alen, 0), 0);
	CHECK_EQ("big len", alen, big);
	CHECK_EQ("big bytes", av ? memcmp(av, v, big) : -1, 0);
	free(av);
	CHECK_EQ("invalidate big", utmem_invalidate(c, p, "big", 3), 0);
	CHECK_EQ("invalidate again", utmem_invalidate(c, p, "big", 3), -ENOENT);
	CHECK_EQ("get invalidated", utmem_get(c, p, "big", 3, out, big, 0), -ENOENT);
	/* Pool stats see the entry left ("e"). */
	CHECK_EQ("pool stats", utmem_stats(c, p, &st), 0);
	if (persistent)
		CHECK_EQ("pool entries", st.entries, 1);
	CHECK_EQ("flush", utmem_pool_flush(c, p), 0);
	CHECK_EQ("get after flush", utmem_get(c, p, "e", 1, out, big, 0), -ENOENT);
	free(v);
	free(out);
}

/* Batches: pipelined PUTs and GETs in one exchange. */
static void exercise_batch(utmem_client *c, uint32_t p)
{
	utmem_batch *b = NULL;
	char keys[64][8], bufs[64][16];

	CHECK_EQ("batch new", utmem_batch_new(c, &b), 0);
	if (!b)
		return;
	for (int i = 0; i < 64; i++) {
		snprintf(keys[i], sizeof(keys[i]), "b%d", i);
		utmem_batch_put(b, p, keys[i], strlen(keys[i]), keys[i], strlen(keys[i]));
	}
	CHECK_EQ("batch puts", utmem_batch_exec(b), 64);
	utmem_batch_reset(b);
	for (int i = 0; i < 64; i++)
		utmem_batch_get(b, p, keys[i], strlen(keys[i]), bufs[i], sizeof(bufs[i]), 0);
	CHECK_EQ("batch gets", utmem_batch_exec(b), 64);
	for (int i = 0; i < 64; i++)
		CHECK_EQ("batch get len", utmem_batch_result(b, (size_t)i),
			 (long long)strlen(keys[i]));
	utmem_batch_free(b);
}

/* ops SOCK SHARED_PERSISTENT SHARED_EPHEMERAL */
static int cmd_ops(char **argv)
{
	utmem_client *c = dial(argv[0]);
	unsigned kinds[4] = {
		UTMEM_POOL_PERSISTENT | UTMEM_POOL_CREATE,
		UTMEM_POOL_EPHEMERAL | UTMEM_POOL_CREATE,
		UTMEM_POOL_SHARED | UTMEM_POOL_PERSISTENT,
		UTMEM_POOL_SHARED | UTMEM_POOL_EPHEMERAL,
	};
	const char *names[4] = {"priv-p", "priv-e", argv[1], argv[2]};
	struct utmem_stats st;
	uint32_t p[4], q;

	CHECK_EQ("ping", utmem_ping(c), 0);
	CHECK_EQ("max_key > 0", utmem_max_key(c) > 0, 1);
	for (int i = 0; i < 4; i++) {
		CHECK_EQ(names[i], utmem_pool_open(c, names[i], kinds[i], &p[i]), 0);
		exercise_pool(c, p[i], !(kinds[i] & UTMEM_POOL_EPHEMERAL));
	}
	exercise_batch(c, p[0]);
	/* Reopening by name with another kind is refused; missing without CREATE. */
	CHECK_EQ("open other kind", utmem_pool_open(c, "priv-p", UTMEM_POOL_EPHEMERAL, &q),
		 -EEXIST);
	CHECK_EQ("open missing", utmem_pool_open(c, "nope", 0, &q), -ENOENT);
	CHECK_EQ("open unknown shared", utmem_pool_open(c, "nope", UTMEM_POOL_SHARED, &q),
		 -EACCES);
	CHECK_EQ("tenant stats", utmem_stats(c, 0, &st), 0);
	CHECK_EQ("tenant puts counted", st.puts >= 8, 1);
	CHECK_EQ("destroy", utmem_pool_destroy(c, p[1]), 0);
	CHECK_EQ("use destroyed", utmem_put(c, p[1], "x", 1, "y", 1), -EBADF);
	/* A key above the limit is refused with -EMSGSIZE. */
	{
		size_t n = utmem_max_key(c) + 1;
		char *k = calloc(1, n);
		CHECK_EQ("key too long", utmem_put(c, p[0], k, n, "v", 1), -EMSGSIZE);
		free(k);
	}
	utmem_close(c);
	return failures ? 1 : 0;
}

/* isolate-a SOCK: put a private value and report nothing else. */
static int cmd_put(char **argv)
{
	utmem_client *c = dial(argv[0]);
	uint32_t p;

	CHECK_EQ("open", utmem_pool_open(c, argv[1], UTMEM_POOL_CREATE, &p), 0);
	CHECK_EQ("put", utmem_put(c, p, argv[2], strlen(argv[2]), argv[3], strlen(argv[3])), 0);
	utmem_close(c);
	return failures ? 1 : 0;
}

/*
 * refused SOCK POOL KEY ERR: a PUT of "x" under KEY must fail with -ERR
 * (EROFS, EDQUOT or ENOSPC) and leave the key without a value.
 */
static int cmd_refused(char **argv)
{
	static const struct {
		const char *name;
		int err;
	} errs[] = { { "EROFS", EROFS }, { "EDQUOT", EDQUOT }, { "ENOSPC", ENOSPC } };
	utmem_client *c = dial(argv[0]);
	int want = 0;
	char out[16];
	uint32_t p;

	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		if (strcmp(argv[3], errs[i].name) == 0)
			want = -errs[i].err;
	CHECK_EQ("known errno name", want != 0, 1);
	CHECK_EQ("open", utmem_pool_open(c, argv[1], UTMEM_POOL_CREATE, &p), 0);
	CHECK_EQ("put", utmem_put(c, p, argv[2], strlen(argv[2]), "x", 1), want);
	CHECK_EQ("key left empty", utmem_get(c, p, argv[2], strlen(argv[2]), out, sizeof(out), 0),
		 -ENOENT);
	utmem_close(c);
	return failures ? 1 : 0;
}

/* get SOCK POOL KEY EXPECTED|-: the value must be EXPECTED ("-" = absent). */
static int cmd_get(char **argv)
{
	utmem_client *c = dial(argv[0]);
	char out[256];
	uint32_t p;
	ssize_t n;

	CHECK_EQ("open", utmem_pool_open(c, argv[1], UTMEM_POOL_CREATE, &p), 0);
	n = utmem_get(c, p, argv[2], strlen(argv[2]), out, sizeof(out), 0);
	if (strcmp(argv[3], "-") == 0) {
		CHECK_EQ("absent", n, -ENOENT);
	} else {
		CHECK_EQ("len", n, (long long)strlen(argv[3]));
		CHECK_EQ("bytes", n > 0 ? memcmp(out, argv[3], (size_t)n) : 0, 0);
	}
	utmem_close(c);
	return failures ? 1 : 0;
}

/* open SOCK NAME FLAGS WANT: open a pool (flags: s=shared e=ephemeral c=create). */
static int cmd_open(char **argv)
{
	utmem_client *c = dial(argv[0]);
	unsigned flags = 0;
	uint32_t p;

	for (const char *f = argv[2]; *f; f++)
		flags |= *f == 's' ? UTMEM_POOL_SHARED
			: *f == 'e' ? UTMEM_POOL_EPHEMERAL
			: *f == 'c' ? UTMEM_POOL_CREATE : 0;
	CHECK_EQ(argv[1], utmem_pool_open(c, argv[1], flags, &p), -atoi(argv[3]));
	utmem_close(c);
	return failures ? 1 : 0;
}

/*
 * quota SOCK FLAG: fill 16 x 64 KiB, say READY, wait for the operator to
 * lower the quota, then the next PUTs must fail with -EDQUOT and leave no
 * value (also for an overwrite of an existing key).
 */
static int cmd_quota(char **argv)
{
	utmem_client *c = dial(argv[0]);
	static unsigned char v[65536], out[65536];
	char key[16];
	uint32_t p;

	CHECK_EQ("open", utmem_pool_open(c, "q", UTMEM_POOL_CREATE, &p), 0);
	for (int i = 0; i < 16; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		fill(v, sizeof(v), (unsigned)i);
		CHECK_EQ("fill", utmem_put(c, p, key, strlen(key), v, sizeof(v)), 0);
	}
	printf("READY\n");
	fflush(stdout);
	if (e2e_wait_flag(argv[1]) < 0)
		return 1;
	CHECK_EQ("new key over quota", utmem_put(c, p, "new", 3, v, sizeof(v)), -EDQUOT);
	CHECK_EQ("new key absent", utmem_get(c, p, "new", 3, out, sizeof(out), 0), -ENOENT);
	CHECK_EQ("k0 before", utmem_get(c, p, "k0", 2, out, sizeof(out), 0), 65536);
	/* An overwrite refused by quota leaves the key without a value. */
	CHECK_EQ("grow k0 over quota", utmem_put(c, p, "k0", 2, v, sizeof(v)), -EDQUOT);
	CHECK_EQ("k0 gone", utmem_get(c, p, "k0", 2, out, sizeof(out), 0), -ENOENT);
	CHECK_EQ("k1 kept", utmem_get(c, p, "k1", 2, out, sizeof(out), 0), 65536);
	utmem_close(c);
	return failures ? 1 : 0;
}

/*
 * restart SOCK KILLED RESTARTED: use the daemon, wait until it was killed,
 * expect a clear connection error, wait until it is back, expect success.
 */
static int cmd_restart(char **argv)
{
	utmem_client *c = dial(argv[0]);
	char out[16];
	uint32_t p;
	int err;

	CHECK_EQ("open", utmem_pool_open(c, "r", UTMEM_POOL_CREATE, &p), 0);
	CHECK_EQ("put", utmem_put(c, p, "k", 1, "v", 1), 0);
	printf("READY\n");
	fflush(stdout);
	if (e2e_wait_flag(argv[1]) < 0)
		return 1;
	err = utmem_put(c, p, "k", 1, "v", 1);
	printf("while down: %d (%s)\n", err, utmem_strerror(err));
	CHECK_EQ("error while down", err < 0, 1);
	CHECK_EQ("a connection error", err == -ECONNRESET || err == -ECONNREFUSED ||
		 err == -ENOTCONN || err == -EPIPE, 1);
	if (e2e_wait_flag(argv[2]) < 0)
		return 1;
	/* Back: the client redials and reopens "r" by name. */
	err = utmem_put(c, p, "k", 1, "w", 1);
	for (int i = 0; i < 50 && err < 0; i++) {
		usleep(100000);
		err = utmem_put(c, p, "k", 1, "w", 1);
	}
	CHECK_EQ("put after restart", err, 0);
	CHECK_EQ("get after restart", utmem_get(c, p, "k", 1, out, sizeof(out), 0), 1);
	utmem_close(c);
	return failures ? 1 : 0;
}

/* tcp ADDR TOKEN|- WANT: connect over TCP; WANT 0 = works, else the -errno. */
static int cmd_tcp(char **argv)
{
	struct utmem_options o = {.token = strcmp(argv[1], "-") ? argv[1] : NULL};
	utmem_client *c = NULL;
	char out[16];
	uint32_t p;
	int err = utmem_connect(argv[0], &o, &c);

	if (atoi(argv[2]) != 0) {
		if (!err) /* a lazy client may only learn at its first request */
			err = utmem_ping(c);
		printf("tcp %.32s: %d (%s)\n", argv[1], err, utmem_strerror(err));
		CHECK_EQ("refused", err, -atoi(argv[2]));
		utmem_close(c);
		return failures ? 1 : 0;
	}
	CHECK_EQ("connect", err, 0);
	if (err)
		return 1;
	CHECK_EQ("open", utmem_pool_open(c, "t", UTMEM_POOL_CREATE, &p), 0);
	CHECK_EQ("put", utmem_put(c, p, "k", 1, "tcp", 3), 0);
	CHECK_EQ("get", utmem_get(c, p, "k", 1, out, sizeof(out), 0), 3);
	utmem_close(c);
	return failures ? 1 : 0;
}

/* count SOCK N: N PUTs, N GETs (hits), N GETs of missing keys, on pool "c". */
static int cmd_count(char **argv)
{
	utmem_client *c = dial(argv[0]);
	int n = atoi(argv[1]);
	char key[32], out[32];
	uint32_t p;

	CHECK_EQ("open", utmem_pool_open(c, "c", UTMEM_POOL_CREATE, &p), 0);
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "key%d", i);
		CHECK_EQ("put", utmem_put(c, p, key, strlen(key), "0123456789", 10), 0);
	}
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "key%d", i);
		CHECK_EQ("hit", utmem_get(c, p, key, strlen(key), out, sizeof(out), 0), 10);
		snprintf(key, sizeof(key), "missing%d", i);
		CHECK_EQ("miss", utmem_get(c, p, key, strlen(key), out, sizeof(out), 0),
			 -ENOENT);
	}
	utmem_close(c);
	return failures ? 1 : 0;
}

/* Pool flags for KIND: persistent, ephemeral or shared (persistent). */
static unsigned kind_flags(const char *kind)
{
	if (strcmp(kind, "shared") == 0)
		return UTMEM_POOL_SHARED;
	if (strcmp(kind, "shared-ephemeral") == 0)
		return UTMEM_POOL_SHARED | UTMEM_POOL_EPHEMERAL;
	if (strcmp(kind, "ephemeral") == 0)
		return UTMEM_POOL_EPHEMERAL | UTMEM_POOL_CREATE;
	return UTMEM_POOL_CREATE;
}

/* Value i of fill, fill2 and check: size bytes of 'a' + i % 26. */
static void fill_value(char *val, size_t size, long i)
{
	memset(val, 'a' + (int)(i % 26), size);
}

/*
 * fill SOCK POOL KIND N SIZE PREFIX: PUT N values of SIZE bytes under keys
 * PREFIX0..PREFIX<N-1> in POOL (KIND: persistent, ephemeral, shared); value
 * i is SIZE bytes of 'a' + i % 26. A refused PUT fails.
 * check SOCK POOL KIND N SIZE PREFIX: GET them all back, byte for byte.
 */
static int fill_or_check(char **argv, int check)
{
	utmem_client *c = dial(argv[0]);
	long n = atol(argv[3]);
	size_t size = (size_t)atol(argv[4]);
	char *val = malloc(size ? size : 1), *got = malloc(size + 1), key[80];
	uint32_t p;

	CHECK_EQ("open", utmem_pool_open(c, argv[1], kind_flags(argv[2]), &p), 0);
	for (long i = 0; i < n && !failures; i++) {
		int len = snprintf(key, sizeof(key), "%s%ld", argv[5], i);

		fill_value(val, size, i);
		if (!check) {
			CHECK_EQ("put", utmem_put(c, p, key, (size_t)len, val, size), 0);
			continue;
		}
		CHECK_EQ(key, utmem_get(c, p, key, (size_t)len, got, size + 1, 0),
			 (long long)size);
		CHECK_EQ("value bytes", memcmp(got, val, size), 0);
	}
	free(val);
	free(got);
	utmem_close(c);
	return failures ? 1 : 0;
}

static int cmd_fill(char **argv) { return fill_or_check(argv, 0); }

/* fill SOCK POOL KIND N SIZE: keys k0..k<N-1>. */
static int cmd_fill_k(char **argv)
{
	char *a[6] = {argv[0], argv[1], argv[2], argv[3], argv[4], (char *)"k"};

	return fill_or_check(a, 0);
}
static int cmd_check(char **argv) { return fill_or_check(argv, 1); }

/*
 * fill2 SOCK POOLA POOLB N SIZE: the values of fill (keys k0..k<N-1>) in
 * two persistent pools, turn by turn, so that their records share every
 * slab of the value region.
 */
static int cmd_fill2(char **argv)
{
	utmem_client *c = dial(argv[0]);
	long n = atol(argv[3]);
	size_t size = (size_t)atol(argv[4]);
	char *val = malloc(size ? size : 1), key[32];
	uint32_t p[2];

	CHECK_EQ("open a", utmem_pool_open(c, argv[1], UTMEM_POOL_CREATE, &p[0]), 0);
	CHECK_EQ("open b", utmem_pool_open(c, argv[2], UTMEM_POOL_CREATE, &p[1]), 0);
	for (long i = 0; val && i < n && !failures; i++) {
		int len = snprintf(key, sizeof(key), "k%ld", i);

		fill_value(val, size, i);
		for (int j = 0; j < 2; j++)
			CHECK_EQ("put", utmem_put(c, p[j], key, (size_t)len, val, size), 0);
	}
	free(val);
	utmem_close(c);
	return failures ? 1 : 0;
}

/*
 * read SOCK POOL N STRIDE: GET keys k0, kSTRIDE, k2*STRIDE... below kN of
 * an ephemeral POOL (refreshing their LRU stamps); misses are counted and
 * printed, not failures.
 */
static int cmd_read(char **argv)
{
	utmem_client *c = dial(argv[0]);
	long n = atol(argv[2]), stride = atol(argv[3]), miss = 0;
	char key[32], *buf = malloc(1 << 20);
	uint32_t p;

	CHECK_EQ("open", utmem_pool_open(c, argv[1], UTMEM_POOL_CREATE | UTMEM_POOL_EPHEMERAL,
					 &p), 0);
	for (long i = 0; buf && stride > 0 && i < n && !failures; i += stride) {
		int len = snprintf(key, sizeof(key), "k%ld", i);

		miss += utmem_get(c, p, key, (size_t)len, buf, 1 << 20, 0) < 0;
	}
	printf("read: %ld misses\n", miss);
	free(buf);
	utmem_close(c);
	return failures ? 1 : 0;
}

/* serve SOCK SECONDS: keep doing PUT/GET round trips; fail if any fails. */
static int cmd_serve(char **argv)
{
	utmem_client *c = dial(argv[0]);
	time_t end = time(NULL) + atoi(argv[1]);
	long rounds = 0;
	char out[16];
	uint32_t p;

	CHECK_EQ("open", utmem_pool_open(c, "s", UTMEM_POOL_CREATE, &p), 0);
	while (time(NULL) < end && !failures) {
		CHECK_EQ("put", utmem_put(c, p, "k", 1, "v", 1), 0);
		CHECK_EQ("get", utmem_get(c, p, "k", 1, out, sizeof(out), 0), 1);
		rounds++;
	}
	printf("served %ld rounds\n", rounds);
	utmem_close(c);
	return failures || rounds == 0 ? 1 : 0;
}

/* idle SOCK SECONDS: connect, open a pool, then do nothing for SECONDS. */
static int cmd_idle(char **argv)
{
	utmem_client *c = dial(argv[0]);
	uint32_t p;

	CHECK_EQ("open", utmem_pool_open(c, "idle", UTMEM_POOL_CREATE, &p), 0);
	printf("connected\n");
	fflush(stdout);
	sleep((unsigned)atoi(argv[1]));
	utmem_close(c);
	return failures ? 1 : 0;
}

/*
 * pooltable SOCK: a client holds at most 4096 pool handles. It opens (and
 * creates) 4096 pools; the next new name is refused with -ENOMEM and must
 * not be created on the way (another client cannot open it without
 * CREATE); the names the client holds still open, and after a destroy
 * the slot of that name is the one given back.
 */
static int cmd_pooltable(char **argv)
{
	utmem_client *c = dial(argv[0]), *other = dial(argv[0]);
	uint32_t p, first = 0, again;
	char name[16];
	int err;

	for (unsigned i = 0; i < 4096; i++) {
		snprintf(name, sizeof(name), "t%u", i);
		err = utmem_pool_open(c, name, UTMEM_POOL_CREATE, &p);
		if (err) {
			CHECK_EQ(name, err, 0);
			return 1;
		}
		if (i == 0)
			first = p;
	}
	CHECK_EQ("a 4097th handle", utmem_pool_open(c, "t4096", UTMEM_POOL_CREATE,
						    &p), -ENOMEM);
	CHECK_EQ("... left no pool behind",
		 utmem_pool_open(other, "t4096", 0, &p), -ENOENT);
	CHECK_EQ("a name held opens again", utmem_pool_open(c, "t0", 0, &again), 0);
	CHECK_EQ("... with its handle", again, first);
	CHECK_EQ("the connection still works", utmem_ping(c), 0);
	utmem_close(other);
	utmem_close(c);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct e2e_cmd cmds[] = {
		{"ops", 3, cmd_ops},         {"put", 4, cmd_put},
		{"get", 4, cmd_get},         {"open", 4, cmd_open},
		{"quota", 2, cmd_quota},     {"restart", 3, cmd_restart},
		{"tcp", 3, cmd_tcp},         {"count", 2, cmd_count},
		{"serve", 2, cmd_serve},     {"fill", 6, cmd_fill},
		{"idle", 2, cmd_idle},
		{"fill", 5, cmd_fill_k},     {"check", 6, cmd_check},
		{"refused", 4, cmd_refused}, {"read", 4, cmd_read},
		{"fill2", 5, cmd_fill2},     {"pooltable", 1, cmd_pooltable},
	};

	return e2e_dispatch(cmds, sizeof(cmds) / sizeof(cmds[0]), argc, argv,
			    "e2e_client ops|put|get|open|quota|restart|tcp|count|serve|fill|fill2|check|refused|read|pooltable ARGS");
}

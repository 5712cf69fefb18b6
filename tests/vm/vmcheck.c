/*
 * vmcheck.c — the client the VM tests run inside a guest (linked
 * statically, so the initramfs needs no libraries) and on the host (to
 * check from outside what the guest stored, and the other way round).
 *
 * Subcommands (every one exits 0 only if each of its checks held, and
 * prints both sides of a failed one):
 *   ops ADDR TAG [SHARED]   every operation on every pool kind (shared ones:
 *                           SHARED-sp, SHARED-se; vmops), value sizes
 *                           from 0 B to larger than a ring, a batch; leaves
 *                           values for the host to check (see leave())
 *   put ADDR KIND POOL KEY SIZE SEED     store a patterned value
 *   check ADDR KIND POOL KEY SIZE SEED   GET it and compare (SIZE -1: a miss)
 *   getstr ADDR KIND POOL KEY            print a value (up to 4 KiB) as is
 *   lat ADDR N SIZE         N PUT and N GET round trips of SIZE-byte values;
 *                           prints p50/p99/max in microseconds
 *   scribble PATH SECONDS   map PATH (a BAR's resource2, or the region file)
 *                           and write random bytes all over it (hostile guest)
 *   hold ADDR SECONDS       stay connected, a PING every 10 ms; prints
 *                           "holding" once connected
 *   bellproto SOCK SIZE [block]  connect to a doorbell server as QEMU's
 *                           ivshmem-doorbell does and check every message;
 *                           with "block", then behave as a hostile QEMU:
 *                           make the interrupt eventfd blocking and full,
 *                           attach as a client that takes interrupts, and
 *                           check that a PING is still answered
 *   devhostile DEV          hostile ioctls on the guest module's device:
 *                           bad pointers, lengths and handles, a PUT whose
 *                           value faults half-way (larger than the ring);
 *                           the device keeps serving correct calls
 *   reconnect ADDR FLAG     PUT, print "ready", wait for the file FLAG (the
 *                           script restarts utmemd meanwhile), then retry
 *                           until a PUT and a GET work again (the library
 *                           reconnects; the pool is reopened by name)
 * KIND is pp (persistent private), ep (ephemeral private), sp/se (shared
 * persistent/ephemeral, granted in the daemon's config).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "guest/utmem_dev.h"
#include "guest/vmshm.h"
#include "proto/wire.h"
#include "transport/ring.h"
#include "utmem.h"

static int failures;

#define CHECK_EQ(what, got, want)                                              \
	do {                                                                   \
		long long g_ = (long long)(got), w_ = (long long)(want);       \
		if (g_ != w_) {                                                \
			printf("FAIL %s:%d: %s = %lld (%s), want %lld (%s)\n", \
			       __FILE__, __LINE__, what, g_,                   \
			       g_ < 0 ? utmem_strerror((int)g_) : "", w_,      \
			       w_ < 0 ? utmem_strerror((int)w_) : "");         \
			failures++;                                            \
		}                                                              \
	} while (0)

/* TCG guests are slow: give every request ample time. */
#define TIMEOUT_MS 30000

static utmem_client *dial(const char *addr)
{
	struct utmem_options o = {.timeout_ms = TIMEOUT_MS};
	utmem_client *c = NULL;
	int err = utmem_connect(addr, &o, &c);

	if (err) {
		printf("FAIL connect %s: %s\n", addr, utmem_strerror(err));
		exit(1);
	}
	return c;
}

static void fill(unsigned char *buf, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (unsigned char)(seed * 131u + i * 7u + (i >> 12));
}

static unsigned kind_flags(const char *k)
{
	if (strcmp(k, "pp") == 0)
		return UTMEM_POOL_CREATE;
	if (strcmp(k, "ep") == 0)
		return UTMEM_POOL_CREATE | UTMEM_POOL_EPHEMERAL;
	if (strcmp(k, "sp") == 0)
		return UTMEM_POOL_SHARED;
	if (strcmp(k, "se") == 0)
		return UTMEM_POOL_SHARED | UTMEM_POOL_EPHEMERAL;
	printf("FAIL unknown pool kind %s\n", k);
	exit(2);
}

static uint32_t open_pool(utmem_client *c, const char *kind, const char *name)
{
	uint32_t p = 0;
	int err = utmem_pool_open(c, name, kind_flags(kind), &p);

	if (err) {
		printf("FAIL pool_open %s (%s): %s\n", name, kind,
		       utmem_strerror(err));
		exit(1);
	}
	return p;
}

/* Every operation on one pool. Ephemeral pools may drop entries (never
 * here: the daemon has room), so the same checks hold for every kind. */
static void exercise(utmem_client *c, uint32_t p, const char *what)
{
	unsigned char out[64], small[4];
	struct utmem_stats st;

	printf("  pool %s\n", what);
	CHECK_EQ("put k1", utmem_put(c, p, "k1", 2, "hello", 5), 0);
	CHECK_EQ("get k1", utmem_get(c, p, "k1", 2, out, sizeof(out), 0), 5);
	CHECK_EQ("get k1 bytes", memcmp(out, "hello", 5), 0);
	CHECK_EQ("put k1 again", utmem_put(c, p, "k1", 2, "world!", 6), 0);
	CHECK_EQ("get k1 new", utmem_get(c, p, "k1", 2, out, sizeof(out), 0), 6);
	CHECK_EQ("get k1 new bytes", memcmp(out, "world!", 6), 0);
	CHECK_EQ("pop into a small buffer",
		 utmem_get(c, p, "k1", 2, small, sizeof(small), UTMEM_GET_EXCLUSIVE),
		 -ENOBUFS);
	CHECK_EQ("still there", utmem_get(c, p, "k1", 2, out, sizeof(out), 0), 6);
	CHECK_EQ("pop k1",
		 utmem_get(c, p, "k1", 2, out, sizeof(out), UTMEM_GET_EXCLUSIVE), 6);
	CHECK_EQ("get after pop", utmem_get(c, p, "k1", 2, out, sizeof(out), 0),
		 -ENOENT);
	CHECK_EQ("put k2", utmem_put(c, p, "k2", 2, "x", 1), 0);
	CHECK_EQ("invalidate k2", utmem_invalidate(c, p, "k2", 2), 0);
	CHECK_EQ("invalidate k2 again", utmem_invalidate(c, p, "k2", 2), -ENOENT);
	CHECK_EQ("get k2", utmem_get(c, p, "k2", 2, out, sizeof(out), 0), -ENOENT);
	CHECK_EQ("put k3", utmem_put(c, p, "k3", 2, "abc", 3), 0);
	CHECK_EQ("put k4", utmem_put(c, p, "k4", 2, "defg", 4), 0);
	CHECK_EQ("stats", utmem_stats(c, p, &st), 0);
	CHECK_EQ("stats entries", st.entries, 2);
	CHECK_EQ("flush", utmem_pool_flush(c, p), 0);
	CHECK_EQ("get k3 after flush", utmem_get(c, p, "k3", 2, out, sizeof(out), 0),
		 -ENOENT);
	CHECK_EQ("stats after flush", utmem_stats(c, p, &st), 0);
	CHECK_EQ("entries after flush", st.entries, 0);
}

/* Values from empty to larger than any ring here, byte for byte. */
static void sizes(utmem_client *c, uint32_t p)
{
	static const size_t sz[] = {0, 1, 4095, 65536, 1u << 20, (3u << 20) + 17};
	size_t max = sz[sizeof(sz) / sizeof(sz[0]) - 1];
	unsigned char *v = malloc(max), *out = malloc(max);

	if (!v || !out)
		exit(1);
	for (size_t i = 0; i < sizeof(sz) / sizeof(sz[0]); i++) {
		char key[32];
		int klen = snprintf(key, sizeof(key), "size-%zu", sz[i]);

		fill(v, sz[i], (unsigned)i + 1);
		memset(out, 0xee, sz[i]);
		CHECK_EQ("put size", utmem_put(c, p, key, (size_t)klen, v, sz[i]), 0);
		CHECK_EQ("get size", utmem_get(c, p, key, (size_t)klen, out, max, 0),
			 (long long)sz[i]);
		CHECK_EQ("size bytes", memcmp(out, v, sz[i]), 0);
		CHECK_EQ("pop size",
			 utmem_get(c, p, key, (size_t)klen, out, max,
				   UTMEM_GET_EXCLUSIVE),
			 (long long)sz[i]);
		CHECK_EQ("pop bytes", memcmp(out, v, sz[i]), 0);
	}
	printf("  sizes 0 B .. 3 MiB\n");
	free(v);
	free(out);
}

/* A pipelined batch: 300 PUTs, then 300 GETs. */
static void batch(utmem_client *c, uint32_t p)
{
	enum { N = 300 };
	static char keys[N][16];
	static unsigned char vals[N][100], outs[N][100];
	utmem_batch *b;

	CHECK_EQ("batch new", utmem_batch_new(c, &b), 0);
	for (int i = 0; i < N; i++) {
		int kl = snprintf(keys[i], sizeof(keys[i]), "b%d", i);

		fill(vals[i], sizeof(vals[i]), (unsigned)i);
		utmem_batch_put(b, p, keys[i], (size_t)kl, vals[i], sizeof(vals[i]));
	}
	CHECK_EQ("batch puts", utmem_batch_exec(b), N);
	utmem_batch_reset(b);
	for (int i = 0; i < N; i++)
		utmem_batch_get(b, p, keys[i], strlen(keys[i]), outs[i],
				sizeof(outs[i]), 0);
	CHECK_EQ("batch gets", utmem_batch_exec(b), N);
	for (int i = 0; i < N; i++)
		CHECK_EQ("batch value", memcmp(outs[i], vals[i], sizeof(vals[i])), 0);
	utmem_batch_free(b);
	CHECK_EQ("flush batch pool", utmem_pool_flush(c, p), 0);
	printf("  batch of %d puts and %d gets\n", N, N);
}

/*
 * What the host checks afterwards: a 100 KiB value (seed 42) under
 * "from-guest" in the private persistent pool TAG-pp, and a 333-byte one
 * (seed 11) under TAG in the shared pool vmshared. Before the guest ran,
 * the host stored "from-host" (5000 bytes, seed 7) in TAG-pp and "host"
 * (300 bytes, seed 9) in vmshared; the guest checks those.
 */
static void leave(utmem_client *c, const char *tag)
{
	unsigned char *v = malloc(100 * 1024), *out = malloc(100 * 1024);
	char pool[64];
	uint32_t pp, sp;

	if (!v || !out)
		exit(1);
	snprintf(pool, sizeof(pool), "%s-pp", tag);
	pp = open_pool(c, "pp", pool);
	sp = open_pool(c, "sp", "vmshared");
	fill(v, 100 * 1024, 42);
	CHECK_EQ("leave from-guest", utmem_put(c, pp, "from-guest", 10, v, 100 * 1024), 0);
	fill(v, 333, 11);
	CHECK_EQ("leave shared", utmem_put(c, sp, tag, strlen(tag), v, 333), 0);
	fill(v, 5000, 7);
	CHECK_EQ("host's value", utmem_get(c, pp, "from-host", 9, out, 100 * 1024, 0), 5000);
	CHECK_EQ("host's bytes", memcmp(v, out, 5000), 0);
	fill(v, 300, 9);
	CHECK_EQ("shared from host", utmem_get(c, sp, "host", 4, out, 100 * 1024, 0), 300);
	CHECK_EQ("shared from host bytes", memcmp(out, v, 300), 0);
	free(v);
	free(out);
	printf("  values exchanged with the host\n");
}

static int cmd_ops(char **argv)
{
	utmem_client *c = dial(argv[0]);
	const char *tag = argv[1];
	/* Shared pools are shared: two ops runs at once must not use the
	 * same ones (each flushes and counts its pool). */
	const char *shared = argv[2] ? argv[2] : "vmops";
	static const char *kinds[] = {"pp", "ep", "sp", "se"};
	char name[64];

	CHECK_EQ("ping", utmem_ping(c), 0);
	for (size_t i = 0; i < 4; i++) {
		if (kinds[i][0] == 's')
			snprintf(name, sizeof(name), "%s-%s", shared, kinds[i]);
		else
			snprintf(name, sizeof(name), "%s-ops-%s", tag, kinds[i]);
		exercise(c, open_pool(c, kinds[i], name), name);
	}
	snprintf(name, sizeof(name), "%s-big", tag);
	sizes(c, open_pool(c, "pp", name));
	batch(c, open_pool(c, "pp", name));
	if (strncmp(argv[0], "dev:", 4) == 0 || strncmp(argv[0], "ivshmem:", 8) == 0) {
		/* One request at a time there: async refused, every time (a
		 * submitted PUT was once posted while credit lasted). */
		uint32_t p = open_pool(c, "pp", name);

		for (int i = 0; i < 3; i++)
			CHECK_EQ("submit_put refused", utmem_submit_put(c, p, "a", 1, "v", 1, 7),
				 -EOPNOTSUPP);
		CHECK_EQ("submit_get refused", utmem_submit_get(c, p, "a", 1, 0, 8), -EOPNOTSUPP);
	}
	if (strncmp(argv[0], "dev:", 4) == 0) {
		/* A pool destroyed by another client (dev: takes several at
		 * once; ivshmem: and virtio-serial: one): that request is
		 * -EBADF, as utmemd answers it on a socket, and the link
		 * stays. The module's -EBADF once counted as the device
		 * breaking: the rest of a batch came back -ECONNRESET. */
		utmem_client *other = dial(argv[0]);
		uint32_t p = open_pool(c, "pp", name), gone, q;
		utmem_batch *b;
		char gname[80];

		snprintf(gname, sizeof(gname), "%s-gone", tag);
		gone = open_pool(c, "pp", gname);
		CHECK_EQ("other destroys it", utmem_pool_destroy(other, open_pool(other, "pp", gname)), 0);
		utmem_close(other);
		q = p;
		CHECK_EQ("batch new", utmem_batch_new(c, &b), 0);
		utmem_batch_put(b, gone, "x", 1, "v", 1);
		utmem_batch_put(b, q, "after-gone", 10, "v", 1);
		CHECK_EQ("batch with a destroyed pool", utmem_batch_exec(b), 1);
		CHECK_EQ("destroyed pool's put", utmem_batch_result(b, 0), -EBADF);
		CHECK_EQ("the next put still served", utmem_batch_result(b, 1), 0);
		utmem_batch_free(b);
		CHECK_EQ("link kept", utmem_ping(c), 0);
	}
	leave(c, tag);
	utmem_close(c);
	printf("%s %s: %d failures\n", failures ? "FAIL" : "ok", tag, failures);
	return failures != 0;
}

static int cmd_put_check(char **argv, int check)
{
	utmem_client *c = dial(argv[0]);
	uint32_t p = open_pool(c, argv[1], argv[2]);
	long long size = atoll(argv[4]);
	unsigned seed = (unsigned)atoi(argv[5]);
	size_t n = size > 0 ? (size_t)size : 1;
	unsigned char *v = malloc(n), *out = malloc(n + 1);

	if (!v || !out)
		return 1;
	fill(v, n, seed);
	if (!check) {
		CHECK_EQ("put", utmem_put(c, p, argv[3], strlen(argv[3]), v,
					  (size_t)size), 0);
	} else if (size < 0) {
		CHECK_EQ("miss", utmem_get(c, p, argv[3], strlen(argv[3]), out, n, 0),
			 -ENOENT);
	} else {
		CHECK_EQ("get", utmem_get(c, p, argv[3], strlen(argv[3]), out,
					  n + 1, 0), size);
		CHECK_EQ("bytes", memcmp(out, v, (size_t)size), 0);
	}
	utmem_close(c);
	free(v);
	free(out);
	return failures != 0;
}

static int cmd_getstr(char **argv)
{
	utmem_client *c = dial(argv[0]);
	uint32_t p = open_pool(c, argv[1], argv[2]);
	char out[4096];
	ssize_t n = utmem_get(c, p, argv[3], strlen(argv[3]), out, sizeof(out), 0);

	utmem_close(c);
	if (n < 0) {
		printf("FAIL get %s: %s\n", argv[3], utmem_strerror((int)n));
		return 1;
	}
	fwrite(out, 1, (size_t)n, stdout);
	printf("\n");
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *what, uint64_t *t, size_t n, size_t size)
{
	qsort(t, n, sizeof(*t), cmp_u64);
	printf("lat %s size %zu n %zu p50_us %.1f p99_us %.1f max_us %.1f\n", what,
	       size, n, (double)t[n / 2] / 1e3, (double)t[n * 99 / 100] / 1e3,
	       (double)t[n - 1] / 1e3);
}

static int cmd_lat(char **argv)
{
	utmem_client *c = dial(argv[0]);
	size_t n = (size_t)atol(argv[1]), size = (size_t)atol(argv[2]);
	uint32_t p = open_pool(c, "pp", "vmcheck-lat");
	unsigned char *v = malloc(size ? size : 1), *out = malloc(size ? size : 1);
	uint64_t *tp = calloc(n ? n : 1, sizeof(*tp));
	uint64_t *tg = calloc(n ? n : 1, sizeof(*tg));

	if (!v || !out || !tp || !tg || n == 0)
		return 2;
	fill(v, size, 1);
	for (size_t i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		int err = utmem_put(c, p, "lat", 3, v, size);
		uint64_t t1 = now_ns();
		ssize_t got = utmem_get(c, p, "lat", 3, out, size, 0);

		tg[i] = now_ns() - t1;
		tp[i] = t1 - t0;
		if (err || got != (ssize_t)size) {
			printf("FAIL lat round %zu: put %d get %zd\n", i, err, got);
			return 1;
		}
	}
	report("put", tp, n, size);
	report("get", tg, n, size);
	utmem_close(c);
	return 0;
}

static int cmd_scribble(char **argv)
{
	int fd = open(argv[0], O_RDWR | O_SYNC);
	double secs = atof(argv[1]);
	uint64_t end = now_ns() + (uint64_t)(secs * 1e9), x, writes = 0;
	const char *seed = getenv("VMCHECK_SEED");
	struct stat st;
	uint8_t *m;

	x = (seed ? strtoull(seed, NULL, 10) : now_ns()) | 1;
	printf("scribble seed %llu (replay: VMCHECK_SEED=%llu)\n",
	       (unsigned long long)x, (unsigned long long)x);
	fflush(stdout);

	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < 4096) {
		printf("FAIL scribble: cannot open %s\n", argv[0]);
		return 1;
	}
	m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		printf("FAIL scribble: mmap %s: %s\n", argv[0], strerror(errno));
		return 1;
	}
	while (now_ns() < end) {
		for (int i = 0; i < 4096; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			/* Half the writes hit the header page (indices, flags). */
			size_t off = (x & 1) ? (x >> 8) % 4096
					     : (x >> 8) % (size_t)st.st_size;
			memcpy(m + (off & ~(size_t)7), &x, 8);
			writes++;
		}
	}
	printf("ok scribbled %llu words over %s\n", (unsigned long long)writes,
	       argv[0]);
	return 0;
}

static int cmd_hold(char **argv)
{
	utmem_client *c = dial(argv[0]);
	uint64_t end = now_ns() + (uint64_t)(atof(argv[1]) * 1e9);

	printf("holding\n");
	while (now_ns() < end) {
		CHECK_EQ("ping while holding", utmem_ping(c), 0);
		if (failures)
			break;
		usleep(10000);
	}
	utmem_close(c);
	return failures != 0;
}

static int cmd_reconnect(char **argv)
{
	utmem_client *c = dial(argv[0]);
	uint32_t p = open_pool(c, "pp", "vmcheck-reconnect");
	unsigned char out[16];
	struct stat st;
	int err = -1, i;

	CHECK_EQ("put before", utmem_put(c, p, "k", 1, "before", 6), 0);
	printf("ready\n");
	for (i = 0; i < 3000 && stat(argv[1], &st) != 0; i++)
		usleep(10000);
	/* The first call may see the old daemon's end (-ECONNRESET); the
	 * library reconnects on the next. */
	for (i = 0; i < 200 && err; i++) {
		err = utmem_put(c, p, "k", 1, "after", 5);
		if (err)
			usleep(50000);
	}
	CHECK_EQ("put after the restart", err, 0);
	CHECK_EQ("get after the restart", utmem_get(c, p, "k", 1, out, sizeof(out), 0), 5);
	printf("reconnected after %d tries\n", i);
	utmem_close(c);
	return failures != 0;
}

/* One doorbell-server message: 8 bytes LE, maybe one fd. 0 or -1. */
static int bell_msg(int sock, int64_t *v, int *fd)
{
	uint8_t buf[8];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * 4)];
	} ctl;
	struct iovec iov = {buf, sizeof(buf)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b)};
	ssize_t n = recvmsg(sock, &msg, MSG_WAITALL);
	uint64_t u = 0;

	*fd = -1;
	if (n != 8)
		return -1;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(cm), sizeof(int));
	for (int i = 7; i >= 0; i--)
		u = u << 8 | buf[i];
	*v = (int64_t)u;
	return 0;
}

/*
 * A hostile QEMU: the eventfd utmemd writes to interrupt the guest is made
 * blocking and filled to its maximum, so utmemd's next interrupt write
 * would block forever. Then a client that asks for interrupts (UVM_CAP_IRQ,
 * client_sleeping raised) sends a PING: the reply must still come, since
 * only utmemd's doorbell writer thread may wait on that descriptor.
 */
static void hostile_qemu(int shm, uint64_t size, const int *fds)
{
	uint64_t full = 0xfffffffffffffffeull, nonce = 0x1234567890abcdefull;
	struct uwire_hdr h = {.version = UWIRE_VERSION, .opcode = UWIRE_OP_PING,
			      .id = 77};
	struct uring_map m;
	struct uring_end tx, rx;
	struct uvm_ctl *ctl;
	uint8_t frame[UWIRE_HDR_SIZE];
	uint64_t end;
	int64_t got = 0;

	CHECK_EQ("make it blocking", fcntl(fds[2], F_SETFL, 0), 0);
	CHECK_EQ("fill it", write(fds[2], &full, 8), 8);
	CHECK_EQ("map the region", uring_map_fd(shm, uvm_ring_size(size), &m), 0);
	if (failures)
		return;
	ctl = (struct uvm_ctl *)((uint8_t *)m.shm + UVM_CTL_OFFSET);
	__atomic_store_n(&ctl->attach_caps, UVM_CAP_IRQ | UVM_CAP_BELL, __ATOMIC_RELAXED);
	__atomic_store_n(&ctl->attach_req, nonce, __ATOMIC_RELEASE);
	write(fds[1], &(uint64_t){1}, 8);
	end = now_ns() + 5000000000ull;
	while (__atomic_load_n(&ctl->attach_ack, __ATOMIC_ACQUIRE) != nonce &&
	       now_ns() < end)
		usleep(1000);
	CHECK_EQ("attached", __atomic_load_n(&ctl->attach_ack, __ATOMIC_ACQUIRE) == nonce, 1);
	uring_end_init(&tx, &m, URING_TO_DAEMON);
	uring_end_init(&rx, &m, URING_TO_CLIENT);
	/* Sleep for data as the guest module does: utmemd must kick us. */
	__atomic_store_n(&m.shm->client_sleeping, URING_WANT_DATA, __ATOMIC_SEQ_CST);
	uwire_hdr_encode(&h, frame);
	memcpy(uring_wptr(&tx), frame, sizeof(frame));
	uring_produce(&tx, sizeof(frame));
	write(fds[0], &(uint64_t){1}, 8);
	while ((got = uring_avail(&rx)) < (int64_t)UWIRE_HDR_SIZE && now_ns() < end)
		usleep(1000);
	CHECK_EQ("PING answered with the interrupt eventfd blocked", got, UWIRE_HDR_SIZE);
	/* Stay connected a moment: the script looks at utmemd's threads. */
	printf("blocked\n");
	usleep(1500000);
	uring_unmap(&m);
}

static int cmd_bellproto(char **argv, int block)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int sock = socket(AF_UNIX, SOCK_STREAM, 0), fd, fds[4], shm = -1;
	int64_t v;
	struct stat st;
	uint64_t one = 1;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[0]);
	if (connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		printf("FAIL connect %s: %s\n", argv[0], strerror(errno));
		return 1;
	}
	CHECK_EQ("version msg", bell_msg(sock, &v, &fd), 0);
	CHECK_EQ("version", v, 0);
	CHECK_EQ("version without fd", fd, -1);
	CHECK_EQ("id msg", bell_msg(sock, &v, &fd), 0);
	CHECK_EQ("our id", v, 1);
	CHECK_EQ("shm msg", bell_msg(sock, &v, &fd), 0);
	CHECK_EQ("shm marker", v, -1);
	CHECK_EQ("shm fd", fd >= 0, 1);
	CHECK_EQ("shm fstat", fstat(fd, &st), 0);
	CHECK_EQ("shm size", st.st_size, atoll(argv[1]));
	shm = fd;
	for (int i = 0; i < 4; i++) {
		CHECK_EQ("vector msg", bell_msg(sock, &v, &fds[i]), 0);
		CHECK_EQ("vector peer", v, i < 2 ? 0 : 1);
		CHECK_EQ("vector fd", fds[i] >= 0, 1);
	}
	/* Ring utmemd on both of its vectors, as the device would. */
	CHECK_EQ("ring data", write(fds[0], &one, 8), 8);
	CHECK_EQ("ring ctl", write(fds[1], &one, 8), 8);
	if (block && !failures)
		hostile_qemu(shm, (uint64_t)atoll(argv[1]), fds);
	if (shm >= 0)
		close(shm);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	close(sock);
	printf("%s doorbell protocol\n", failures ? "FAIL" : "ok");
	return failures != 0;
}

/* An ioctl's outcome as -errno or 0. */
static int xioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

static int cmd_devhostile(char **argv)
{
	int fd = open(argv[0], O_RDWR);
	struct utmem_dev_pool po = {.name = (uintptr_t)"hostile", .name_len = 7,
				    .flags = UTMEM_DEV_POOL_CREATE};
	struct utmem_dev_kv kv;
	size_t big = 8u << 20, page = 4096;
	uint8_t *v, out[16];
	uint32_t h;

	if (fd < 0) {
		printf("FAIL open %s: %s\n", argv[0], strerror(errno));
		return 1;
	}
	CHECK_EQ("pool open", xioctl(fd, UTMEM_IOC_POOL_OPEN, &po), 0);
	h = po.pool;
	CHECK_EQ("unknown ioctl", xioctl(fd, _IO('u', 0x7f), NULL), -ENOTTY);
	CHECK_EQ("argument pointer bad", xioctl(fd, UTMEM_IOC_PUT, (void *)16), -EFAULT);
	po.name = 8;
	CHECK_EQ("name pointer bad", xioctl(fd, UTMEM_IOC_POOL_OPEN, &po), -EFAULT);
	po.name = (uintptr_t)"bad/name";
	po.name_len = 8;
	CHECK_EQ("bad pool name", xioctl(fd, UTMEM_IOC_POOL_OPEN, &po), -EINVAL);
	po.name = (uintptr_t)"..";
	po.name_len = 2;
	CHECK_EQ("pool name ..", xioctl(fd, UTMEM_IOC_POOL_OPEN, &po), -EINVAL);
	po.name = (uintptr_t)"a\0b";
	po.name_len = 3;
	CHECK_EQ("NUL in a pool name", xioctl(fd, UTMEM_IOC_POOL_OPEN, &po), -EINVAL);
	po.name_len = 1u << 30;
	CHECK_EQ("huge name length", xioctl(fd, UTMEM_IOC_POOL_OPEN, &po), -EINVAL);
	kv = (struct utmem_dev_kv){.pool = 999, .key = (uintptr_t)"k", .klen = 1};
	CHECK_EQ("unknown handle", xioctl(fd, UTMEM_IOC_INVALIDATE, &kv), -EBADF);
	kv = (struct utmem_dev_kv){.pool = h, .key = (uintptr_t)"k", .klen = 0};
	CHECK_EQ("empty key", xioctl(fd, UTMEM_IOC_INVALIDATE, &kv), -EINVAL);
	kv.klen = 0xffffffffu;
	CHECK_EQ("huge key length", xioctl(fd, UTMEM_IOC_INVALIDATE, &kv), -EINVAL);
	kv.klen = 5000; /* above max_key (1024 here), below the ceiling */
	CHECK_EQ("key longer than max_key", xioctl(fd, UTMEM_IOC_INVALIDATE, &kv), -EMSGSIZE);
	kv = (struct utmem_dev_kv){.pool = h, .key = 12, .klen = 1};
	CHECK_EQ("key pointer bad", xioctl(fd, UTMEM_IOC_INVALIDATE, &kv), -EFAULT);
	kv = (struct utmem_dev_kv){.pool = h, .key = (uintptr_t)"k", .klen = 1,
				   .val = (uintptr_t)"x", .vlen = 1ull << 40};
	CHECK_EQ("huge value length", xioctl(fd, UTMEM_IOC_PUT, &kv), -EMSGSIZE);
	/* A value that faults half-way, after a ring's worth was sent. */
	v = mmap(NULL, big + page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (v == MAP_FAILED)
		return 1;
	memset(v, 7, big);
	munmap(v + big / 2, page);
	kv = (struct utmem_dev_kv){.pool = h, .key = (uintptr_t)"half", .klen = 4,
				   .val = (uintptr_t)v, .vlen = big};
	CHECK_EQ("PUT faulting half-way", xioctl(fd, UTMEM_IOC_PUT, &kv), -EFAULT);
	kv = (struct utmem_dev_kv){.pool = h, .key = (uintptr_t)"half", .klen = 4,
				   .val = (uintptr_t)out, .vlen = sizeof(out)};
	CHECK_EQ("nothing stored from the faulting PUT",
		 xioctl(fd, UTMEM_IOC_GET, &kv), -ENOENT);
	/* A GET into a buffer that faults: EFAULT, and the device stays in sync. */
	kv = (struct utmem_dev_kv){.pool = h, .key = (uintptr_t)"ok", .klen = 2,
				   .val = (uintptr_t)"value", .vlen = 5};
	CHECK_EQ("put ok", xioctl(fd, UTMEM_IOC_PUT, &kv), 0);
	kv.val = 24;
	kv.vlen = 100;
	CHECK_EQ("GET into a bad buffer", xioctl(fd, UTMEM_IOC_GET, &kv), -EFAULT);
	kv.val = (uintptr_t)out;
	kv.vlen = sizeof(out);
	CHECK_EQ("GET after it", xioctl(fd, UTMEM_IOC_GET, &kv), 0);
	CHECK_EQ("GET after it: length", kv.vlen, 5);
	CHECK_EQ("GET after it: bytes", memcmp(out, "value", 5), 0);
	CHECK_EQ("ping", xioctl(fd, UTMEM_IOC_PING, NULL), 0);
	close(fd);
	printf("%s hostile ioctls\n", failures ? "FAIL" : "ok");
	return failures != 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((argc == 4 || argc == 5) && strcmp(argv[1], "ops") == 0)
		return cmd_ops(argv + 2);
	if (argc == 8 && strcmp(argv[1], "put") == 0)
		return cmd_put_check(argv + 2, 0);
	if (argc == 8 && strcmp(argv[1], "check") == 0)
		return cmd_put_check(argv + 2, 1);
	if (argc == 6 && strcmp(argv[1], "getstr") == 0)
		return cmd_getstr(argv + 2);
	if (argc == 5 && strcmp(argv[1], "lat") == 0)
		return cmd_lat(argv + 2);
	if (argc == 4 && strcmp(argv[1], "scribble") == 0)
		return cmd_scribble(argv + 2);
	if ((argc == 4 || argc == 5) && strcmp(argv[1], "bellproto") == 0)
		return cmd_bellproto(argv + 2, argc == 5 && strcmp(argv[4], "block") == 0);
	if (argc == 3 && strcmp(argv[1], "devhostile") == 0)
		return cmd_devhostile(argv + 2);
	if (argc == 4 && strcmp(argv[1], "hold") == 0)
		return cmd_hold(argv + 2);
	if (argc == 4 && strcmp(argv[1], "reconnect") == 0)
		return cmd_reconnect(argv + 2);
	fprintf(stderr,
		"usage: vmcheck ops ADDR TAG [SHARED] | put|check ADDR KIND POOL KEY SIZE SEED |\n"
		"       getstr ADDR KIND POOL KEY |\n"
		"       lat ADDR N SIZE | scribble PATH SECONDS | hold ADDR SECONDS |\n"
		"       reconnect ADDR FLAGFILE | bellproto SOCK SIZE [block] |\n"
		"       devhostile DEV\n");
	return 2;
}

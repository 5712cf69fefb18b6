/*
 * hostile.c — the hostile-tenant suite's client (tests/e2e/hostile): the
 * attacks of issue 8 as a hostile tenant runs them, on raw sockets where
 * libutmem would not cooperate, and the well-behaved tenant whose service
 * each case checks (a latency probe, and a set of acknowledged values that
 * must survive). Each subcommand prints one line of figures ("key value"
 * pairs) that the scripts read and check; a subcommand exits non-zero only
 * when it could not run at all, never to judge the daemon (the scripts do).
 *
 * The flush attacks are in flush.c, the ring attacks in ringhold.c,
 * ringpost.c, ringunread.c, ringhalf.c, ringidle.c and ringliar.c (on the raw ring
 * client the tests share, ../rawring.c); what they share with this file is
 * in hostile.h.
 *
 * Randomness (keys of the collision baseline) comes from a seed printed
 * with the figures and taken from HOSTILE_SEED when set, so a run can be
 * replayed.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "collide.h"
#include "hostile.h"
#include "proto/wire.h"
#include "utmem.h"

uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

unsigned test_slowdown(void)
{
	const char *s = getenv("UTMEM_TEST_SLOWDOWN");
	long v = s ? strtol(s, NULL, 10) : 1;

	return v >= 1 && v <= 1000 ? (unsigned)v : 1;
}

_Noreturn void die(const char *what)
{
	fprintf(stderr, "hostile: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* ---- raw connections ---- */

/* Connect to unix:PATH, tcp:HOST:PORT or a bare path. Returns fd or -1. */
/* tcp: dials bind to this loopback source first, if set (guess rotate). */
static uint32_t dial_src;

int dial(const char *addr)
{
	int fd;

	if (strncmp(addr, "tcp:", 4) == 0) {
		struct sockaddr_in sa = {.sin_family = AF_INET};
		char host[64];
		const char *colon = strrchr(addr + 4, ':');
		int one = 1;

		if (!colon || (size_t)(colon - addr - 4) >= sizeof(host))
			return -1;
		memcpy(host, addr + 4, (size_t)(colon - addr - 4));
		host[colon - addr - 4] = '\0';
		sa.sin_port = htons((uint16_t)atoi(colon + 1));
		if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
			return -1;
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (dial_src) {
			struct sockaddr_in src = {.sin_family = AF_INET,
						  .sin_addr.s_addr = dial_src};

			if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
				close(fd);
				return -1;
			}
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			close(fd);
			return -1;
		}
		return fd;
	} else {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		const char *path = strncmp(addr, "unix:", 5) == 0 ? addr + 5 : addr;

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			close(fd);
			return -1;
		}
		return fd;
	}
}

/* Send all of buf; returns 0, or -1 if the daemon hung up on us. */
static int send_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int send_frame(int fd, unsigned op, unsigned flags, uint64_t id,
		      uint32_t pool, const void *key, uint32_t klen,
		      const void *val, uint32_t vlen)
{
	struct uwire_hdr h = {.version = UWIRE_VERSION, .opcode = (uint8_t)op,
			      .flags = (uint16_t)flags, .id = id, .pool = pool,
			      .klen = klen, .vlen = vlen};
	unsigned char hdr[UWIRE_HDR_SIZE];

	uwire_hdr_encode(&h, hdr);
	if (send_all(fd, hdr, sizeof(hdr)) < 0)
		return -1;
	if (klen && send_all(fd, key, klen) < 0)
		return -1;
	if (vlen && val && send_all(fd, val, vlen) < 0)
		return -1;
	return 0;
}

/* Read exactly len bytes within ms. Returns 0, -1 (EOF/error), -2 (time). */
int recv_all(int fd, void *buf, size_t len, int ms)
{
	unsigned char *p = buf;

	while (len) {
		struct pollfd pfd = {fd, POLLIN, 0};
		ssize_t n;

		if (poll(&pfd, 1, ms) <= 0)
			return -2;
		n = read(fd, p, len);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Read one reply header within ms and skip its value. Returns its status
 * (>= 0), -1 if the connection ended, -2 on timeout. *h gets the header.
 */
int read_reply(int fd, struct uwire_hdr *h, int ms)
{
	struct uwire_limits lim = {UWIRE_KEY_CEILING, UWIRE_VALUE_CEILING};
	unsigned char hdr[UWIRE_HDR_SIZE], junk[65536];
	size_t left;
	int r = recv_all(fd, hdr, sizeof(hdr), ms);

	if (r < 0)
		return r;
	if (uwire_hdr_decode(hdr, &lim, h) < 0)
		return -1;
	left = (size_t)h->klen + h->vlen;
	while (left) {
		size_t n = left < sizeof(junk) ? left : sizeof(junk);

		if (recv_all(fd, junk, n, ms) < 0)
			return -1;
		left -= n;
	}
	return h->status;
}

/* Has the daemon closed fd (EOF or reset) by now? Consumes what is there. */
static int hung_up(int fd)
{
	char buf[65536];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return 1;
		if (n < 0)
			return 0;
	}
}

/*
 * hung_up, waiting up to ms for the daemon to close: it closes right after
 * the reply that says why, and a slow daemon (sanitizers) may not have yet.
 */
int hung_up_within(int fd, int ms)
{
	uint64_t end = now_us() + (uint64_t)ms * 1000u;

	while (!hung_up(fd)) {
		struct pollfd pfd = {fd, POLLIN, 0};
		uint64_t now = now_us();

		if (now >= end)
			return 0;
		(void)poll(&pfd, 1, (int)((end - now) / 1000u) + 1);
	}
	return 1;
}

/* Open (create) a private pool on a raw connection. Returns its id or 0. */
uint32_t raw_pool(int fd, const char *name)
{
	struct uwire_hdr h;

	if (send_frame(fd, UWIRE_OP_POOL_OPEN, UWIRE_F_CREATE, 1, 0, name,
		       (uint32_t)strlen(name), NULL, 0) < 0 ||
	    read_reply(fd, &h, 5000) != 0)
		return 0;
	return h.pool;
}

static void fill(unsigned char *buf, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (unsigned char)(seed * 131u + i * 7u + (i >> 8));
}

/* ---- the well-behaved tenant ---- */

utmem_client *connect_lib(const char *sock)
{
	return connect_lib_flags(sock, 0);
}

utmem_client *connect_lib_flags(const char *sock, unsigned flags)
{
	struct utmem_options o = {.flags = flags};
	char addr[600];
	utmem_client *c = NULL;
	int err;

	snprintf(addr, sizeof(addr), "%s%s", strchr(sock, ':') ? "" : "unix:", sock);
	err = utmem_connect(addr, &o, &c);
	if (err) {
		fprintf(stderr, "hostile: connect %s: %s\n", addr, utmem_strerror(err));
		exit(2);
	}
	return c;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * probe SOCK SECONDS [STOPFILE]: PUT then GET (checked byte for byte) a
 * 1 KiB value, over and over, for SECONDS or until STOPFILE exists (and at
 * least PROBE_MIN_OPS pairs: the 99th percentile of fewer is the maximum,
 * one scheduling hiccup of a loaded machine). Prints ops, errors, the
 * round-trip latency percentiles of the pairs, which pair was slowest and
 * when it ended (wall clock, ms), and then the same percentiles of the
 * pairs' own time: each less the machine's stalls within it (stall.c),
 * with the longest stall. The suite judges utmemd by the own times.
 */
#define PROBE_MIN_OPS 200
#define PROBE_MAX_OPS 2000000u
static int cmd_probe(char **argv, int argc)
{
	utmem_client *c = connect_lib(argv[0]);
	double secs = atof(argv[1]);
	const char *stop = argc > 2 ? argv[2] : NULL;
	/* own[i] holds pair i's start until its own time replaces it */
	static uint64_t lat[PROBE_MAX_OPS], own[PROBE_MAX_OPS];
	unsigned char val[1024], out[1024];
	uint64_t n = 0, i, errs = 0, worst = 0, worst_at = 0, worst_wall = 0;
	uint64_t end = now_us() + (uint64_t)(secs * 1e6);
	unsigned cursor = 0;
	uint32_t pool;
	struct stat sb;
	int err;

	err = utmem_pool_open(c, "probe", UTMEM_POOL_CREATE, &pool);
	if (err) {
		printf("ops 0 errors 1 p50_us 0 p99_us 0 max_us 0 open %d\n", err);
		return 0;
	}
	if (stall_watch_start() < 0)
		die("stall watcher");
	while (now_us() < end && n < PROBE_MAX_OPS) {
		char key[16];
		uint64_t t0 = now_us();
		long got;

		if (stop && n >= PROBE_MIN_OPS && (n & 15) == 0 && stat(stop, &sb) == 0)
			break;
		snprintf(key, sizeof(key), "p%llu", (unsigned long long)(n % 64));
		fill(val, sizeof(val), (unsigned)n);
		err = utmem_put(c, pool, key, strlen(key), val, sizeof(val));
		got = err ? err : utmem_get(c, pool, key, strlen(key), out, sizeof(out), 0);
		if (err || got != (long)sizeof(out) || memcmp(val, out, sizeof(out))) {
			if (errs++ < 5)
				fprintf(stderr, "probe: op %llu: put %d get %ld\n",
					(unsigned long long)n, err, got);
		}
		own[n] = t0;
		lat[n] = now_us() - t0;
		if (lat[n] > worst) {
			struct timespec wt;

			clock_gettime(CLOCK_REALTIME, &wt);
			worst = lat[n];
			worst_at = n;
			worst_wall = (uint64_t)wt.tv_sec * 1000u + (uint64_t)wt.tv_nsec / 1000000u;
		}
		n++;
	}
	stall_watch_stop();
	for (i = 0; i < n; i++)
		own[i] = lat[i] - stall_within(own[i], own[i] + lat[i], &cursor);
	qsort(lat, n, sizeof(lat[0]), cmp_u64);
	qsort(own, n, sizeof(own[0]), cmp_u64);
	printf("ops %llu errors %llu p50_us %llu p99_us %llu max_us %llu max_at %llu "
	       "max_end_ms %llu own_p99_us %llu own_max_us %llu stall_max_us %llu\n",
	       (unsigned long long)n, (unsigned long long)errs,
	       (unsigned long long)(n ? lat[n / 2] : 0),
	       (unsigned long long)(n ? lat[n * 99 / 100] : 0),
	       (unsigned long long)(n ? lat[n - 1] : 0),
	       (unsigned long long)worst_at, (unsigned long long)worst_wall,
	       (unsigned long long)(n ? own[n * 99 / 100] : 0),
	       (unsigned long long)(n ? own[n - 1] : 0),
	       (unsigned long long)stall_longest());
	utmem_close(c);
	return 0;
}

/*
 * ack put|check SOCK POOL N [shared]: PUT N values of 4 KiB (keys a0..),
 * each acknowledged; or GET them back and count the ones missing or wrong.
 */
static int cmd_ack(char **argv, int argc)
{
	int check = strcmp(argv[0], "check") == 0;
	utmem_client *c = connect_lib(argv[1]);
	int n = atoi(argv[3]), bad = 0, err;
	unsigned flags = argc > 4 && strcmp(argv[4], "shared") == 0
				 ? UTMEM_POOL_SHARED : UTMEM_POOL_CREATE;
	unsigned char val[4096], out[4096];
	uint32_t pool;

	err = utmem_pool_open(c, argv[2], flags, &pool);
	if (err) {
		printf("acked 0 lost %d open %s\n", n, utmem_strerror(err));
		return 0;
	}
	for (int i = 0; i < n; i++) {
		char key[16];
		long got;

		snprintf(key, sizeof(key), "a%d", i);
		fill(val, sizeof(val), (unsigned)i + 7u);
		if (!check) {
			err = utmem_put(c, pool, key, strlen(key), val, sizeof(val));
			bad += err != 0;
			continue;
		}
		got = utmem_get(c, pool, key, strlen(key), out, sizeof(out), 0);
		bad += got != (long)sizeof(out) || memcmp(out, val, sizeof(out)) != 0;
	}
	printf("%s %d %s %d\n", check ? "checked" : "acked", n,
	       check ? "lost" : "failed", bad);
	utmem_close(c);
	return 0;
}

/* ---- attacks ---- */

/*
 * unread SOCK CONNS GETS SIZE HOLD: PUT one SIZE-byte value, then CONNS
 * connections each pipeline GETS GETs of it and never read; after HOLD
 * seconds count the connections the daemon closed (and those that could
 * not connect, failed: not counted as closed).
 */
static int cmd_unread(char **argv)
{
	int conns = atoi(argv[1]), gets = atoi(argv[2]);
	uint32_t size = (uint32_t)strtoul(argv[3], NULL, 0);
	double hold = atof(argv[4]);
	int *fds = calloc((size_t)conns, sizeof(int)), ctl, closed = 0, failed = 0;
	unsigned char *v = malloc(size);
	struct uwire_hdr h;
	uint32_t pool;
	int st;

	if (!fds || !v)
		die("malloc");
	ctl = dial(argv[0]);
	if (ctl < 0 || !(pool = raw_pool(ctl, "evil")))
		die("evil pool");
	fill(v, size, 1);
	if (send_frame(ctl, UWIRE_OP_PUT, 0, 2, pool, "big", 3, v, size) < 0)
		die("put");
	st = read_reply(ctl, &h, 20000);
	for (int i = 0; i < conns; i++) {
		fds[i] = dial(argv[0]);
		if (fds[i] < 0) {
			failed++;
			continue;
		}
		for (int g = 0; g < gets; g++)
			if (send_frame(fds[i], UWIRE_OP_GET, 0, (uint64_t)g + 1, pool,
				       "big", 3, NULL, 0) < 0)
				break;
	}
	usleep((useconds_t)(hold * 1e6));
	for (int i = 0; i < conns; i++) {
		if (fds[i] < 0)
			continue;
		closed += hung_up(fds[i]);
		close(fds[i]);
	}
	printf("put_status %d conns %d closed %d failed %d\n", st, conns, closed, failed);
	free(fds);
	free(v);
	close(ctl);
	return 0;
}

/*
 * halfput ADDR CONNS VLEN PERMILLE HOLD [TOKEN]: CONNS connections each
 * send a PUT header announcing VLEN value bytes and PERMILLE/1000 of them,
 * then stall (on TCP, before or after a HELLO with TOKEN). After HOLD
 * seconds: how many were answered at once (status), how many closed, how
 * many could not connect (failed: neither answered nor closed).
 */
static int cmd_halfput(char **argv, int argc)
{
	int conns = atoi(argv[1]);
	uint32_t vlen = (uint32_t)strtoul(argv[2], NULL, 0);
	int permille = atoi(argv[3]);
	double hold = atof(argv[4]);
	const char *token = argc > 5 ? argv[5] : NULL;
	size_t part = (size_t)vlen * (size_t)permille / 1000u;
	unsigned char *v = calloc(1, part + 1);
	int *fds = calloc((size_t)conns, sizeof(int)), answered = 0, closed = 0;
	int failed = 0;
	struct uwire_hdr h;

	if (!v || !fds)
		die("malloc");
	for (int i = 0; i < conns; i++) {
		struct uwire_hdr ph = {.version = UWIRE_VERSION,
				       .opcode = UWIRE_OP_PUT, .id = 9,
				       .pool = 1, .klen = 1, .vlen = vlen};
		unsigned char hdr[UWIRE_HDR_SIZE];

		fds[i] = dial(argv[0]);
		if (fds[i] < 0) {
			failed++;
			continue;
		}
		if (token) {
			send_frame(fds[i], UWIRE_OP_HELLO, 0, 1, 0, token,
				   (uint32_t)strlen(token), NULL, 0);
			read_reply(fds[i], &h, 2000);
		}
		uwire_hdr_encode(&ph, hdr);
		if (send_all(fds[i], hdr, sizeof(hdr)) == 0 &&
		    send_all(fds[i], "k", 1) == 0)
			send_all(fds[i], v, part);
	}
	usleep((useconds_t)(hold * 1e6));
	for (int i = 0; i < conns; i++) {
		struct pollfd pfd = {fds[i], POLLIN, 0};

		if (fds[i] < 0)
			continue;
		if (poll(&pfd, 1, 0) == 1) {
			int st = read_reply(fds[i], &h, 100);

			answered += st >= 0;
			closed += hung_up(fds[i]);
		}
		close(fds[i]);
	}
	printf("conns %d answered %d closed %d failed %d\n", conns, answered, closed,
	       failed);
	free(fds);
	free(v);
	return 0;
}

/*
 * pools SOCK MAX SECONDS: open private pools x0, x1, ... as fast as the
 * daemon answers, until MAX or SECONDS or the first refusal.
 */
static int cmd_pools(char **argv)
{
	int fd = dial(argv[0]), max = atoi(argv[1]), made = 0, refused = 0;
	uint64_t end = now_us() + (uint64_t)(atof(argv[2]) * 1e6);
	struct uwire_hdr h;
	int st = 0;

	if (fd < 0)
		die("dial");
	while (made < max && now_us() < end) {
		char name[32];
		/* 32 requests in flight at a time: the daemon, not the round
		 * trip, sets the pace. */
		int batch = max - made < 32 ? max - made : 32;

		for (int i = 0; i < batch; i++) {
			snprintf(name, sizeof(name), "x%d", made + i);
			send_frame(fd, UWIRE_OP_POOL_OPEN, UWIRE_F_CREATE,
				   (uint64_t)(made + i), 0, name,
				   (uint32_t)strlen(name), NULL, 0);
		}
		for (int i = 0; i < batch; i++) {
			st = read_reply(fd, &h, 10000);
			if (st < 0)
				goto out;
			if (st == 0)
				made++;
			else if (!refused++)
				printf("first_refusal_status %d at %d ", st, made);
		}
		if (refused)
			break;
	}
out:
	printf("made %d refused %d last %d\n", made, refused, st);
	close(fd);
	return 0;
}

/*
 * poolopen SOCK N: open (without creating) an existing pool N times and
 * print the median and 99th percentile latency: what every tenant pays
 * for the daemon's pool lookup.
 */
static int cmd_poolopen(char **argv)
{
	int fd = dial(argv[0]), n = atoi(argv[1]);
	uint64_t *lat = calloc((size_t)n, sizeof(*lat));
	struct uwire_hdr h;
	int errs = 0;

	if (fd < 0 || !lat)
		die("dial");
	raw_pool(fd, "mine");
	for (int i = 0; i < n; i++) {
		uint64_t t0 = now_us();

		send_frame(fd, UWIRE_OP_POOL_OPEN, 0, (uint64_t)i, 0, "mine", 4,
			   NULL, 0);
		errs += read_reply(fd, &h, 10000) != 0;
		lat[i] = now_us() - t0;
	}
	qsort(lat, (size_t)n, sizeof(*lat), cmp_u64);
	printf("opens %d errors %d p50_us %llu p99_us %llu\n", n, errs,
	       (unsigned long long)lat[n / 2], (unsigned long long)lat[n * 99 / 100]);
	free(lat);
	close(fd);
	return 0;
}

/*
 * conns SOCK N HOLD: open N connections (each says HELLO), count those
 * refused at once (a status on id 0) or never answered, keep the rest
 * open and idle for HOLD seconds, then count how many the daemon closed.
 */
static int cmd_conns(char **argv)
{
	int n = atoi(argv[1]), *fds = calloc((size_t)n, sizeof(int));
	int refused = 0, failed = 0, served = 0, closed = 0;
	double hold = atof(argv[2]);
	struct uwire_hdr h;

	if (!fds)
		die("malloc");
	for (int i = 0; i < n; i++) {
		int st;

		fds[i] = dial(argv[0]);
		if (fds[i] < 0) {
			failed++;
			continue;
		}
		send_frame(fds[i], UWIRE_OP_HELLO, 0, 7, 0, NULL, 0, NULL, 0);
		st = read_reply(fds[i], &h, 2000);
		if (st == 0 && h.id == 7) {
			served++;
			continue;
		}
		if (st > 0)
			refused++;
		else
			failed++;
		close(fds[i]);
		fds[i] = -1;
	}
	usleep((useconds_t)(hold * 1e6));
	for (int i = 0; i < n; i++) {
		if (fds[i] < 0)
			continue;
		closed += hung_up(fds[i]);
		close(fds[i]);
	}
	printf("tried %d served %d refused %d failed %d closed_after_hold %d\n", n,
	       served, refused, failed, closed);
	free(fds);
	return 0;
}

/*
 * hold SOCK N SECONDS: open N connections, say nothing, keep them for
 * SECONDS (a background descriptor hog); exits when done.
 */
static int cmd_hold(char **argv)
{
	int n = atoi(argv[1]), got = 0;

	for (int i = 0; i < n; i++)
		got += dial(argv[0]) >= 0;
	printf("held %d\n", got);
	fflush(stdout);
	usleep((useconds_t)(atof(argv[2]) * 1e6));
	return 0;
}

/*
 * shared SOCK POOL: a tenant granted shared POOL tries to flush and to
 * destroy it. Prints both results (errno values, 0 = it worked).
 */
static int cmd_shared(char **argv)
{
	utmem_client *c = connect_lib(argv[0]);
	uint32_t pool;
	int err = utmem_pool_open(c, argv[1], UTMEM_POOL_SHARED, &pool);

	if (err) {
		printf("open %d\n", err);
		return 0;
	}
	printf("open 0 flush %d destroy %d\n", utmem_pool_flush(c, pool),
	       utmem_pool_destroy(c, pool));
	utmem_close(c);
	return 0;
}

/*
 * bigput SOCK SIZE N: the well-behaved tenant PUTs and GETs back N values
 * of SIZE bytes (above the daemon's 16 KiB base buffer, so each needs
 * in-flight room); prints how many failed and the first error.
 */
static int cmd_bigput(char **argv)
{
	utmem_client *c = connect_lib(argv[0]);
	size_t size = strtoul(argv[1], NULL, 0);
	int n = atoi(argv[2]), bad = 0, first = 0;
	unsigned char *v = malloc(size), *out = malloc(size);
	uint32_t pool;

	if (!v || !out || utmem_pool_open(c, "big", UTMEM_POOL_CREATE, &pool))
		die("bigput");
	for (int i = 0; i < n; i++) {
		char key[16];
		long got;
		int err;

		snprintf(key, sizeof(key), "b%d", i);
		fill(v, size, (unsigned)i);
		err = utmem_put(c, pool, key, strlen(key), v, size);
		got = err ? err : utmem_get(c, pool, key, strlen(key), out, size, 0);
		if (err || got != (long)size || memcmp(v, out, size)) {
			bad++;
			if (!first)
				first = err ? err : (int)(got < 0 ? got : -EIO);
		}
	}
	printf("bigputs %d size %zu failed %d first_error %d\n", n, size, bad, first);
	free(v);
	free(out);
	utmem_close(c);
	return 0;
}

/* PUT n keys made by key_of in one pipelined batch; returns microseconds. */
static uint64_t timed_puts(utmem_client *c, uint32_t pool, unsigned n,
			   void (*key_of)(uint64_t, unsigned char *), uint64_t base,
			   int *errs)
{
	unsigned char (*keys)[COLLIDE_KLEN] = malloc((size_t)n * COLLIDE_KLEN);
	utmem_batch *b = NULL;
	uint64_t t0;
	long r;

	if (!keys || utmem_batch_new(c, &b) < 0)
		die("batch");
	for (unsigned i = 0; i < n; i++) {
		key_of(base + i, keys[i]);
		utmem_batch_put(b, pool, keys[i], COLLIDE_KLEN, "v", 1);
	}
	t0 = now_us();
	r = utmem_batch_exec(b);
	t0 = now_us() - t0;
	*errs += r != (long)n;
	utmem_batch_free(b);
	free(keys);
	return t0;
}

static uint64_t seed;

/* A 16-byte key from splitmix64 of the seed and i (the random baseline). */
static void random_key(uint64_t i, unsigned char key[COLLIDE_KLEN])
{
	for (int half = 0; half < 2; half++) {
		uint64_t z = seed + (2 * i + (uint64_t)half + 1) * 0x9e3779b97f4a7c15ull;

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		z ^= z >> 31;
		memcpy(key + 8 * half, &z, 8);
	}
}

/*
 * collide SOCK N: PUT N keys that share one hash under the former unkeyed
 * hash, and N random keys, each as one pipelined batch into a pool of its
 * own, after a warm-up batch (so neither pays the daemon's first faults),
 * three times each, alternating which goes first; print the fastest time
 * of each kind and their ratio.
 */
static int cmd_collide(char **argv)
{
	utmem_client *c = connect_lib(argv[0]);
	unsigned n = (unsigned)atoi(argv[1]);
	uint64_t tc = UINT64_MAX, tr = UINT64_MAX, t;
	uint32_t pc, pr, pw;
	int errs = 0;

	seed = getenv("HOSTILE_SEED") ? strtoull(getenv("HOSTILE_SEED"), NULL, 0)
				      : (uint64_t)time(NULL) ^ (uint64_t)getpid() << 20;
	/* Now, not only with the figures: a run that dies, crashes or is
	 * timed out still names its seed (on stderr, the test's log). */
	fprintf(stderr, "collide: seed 0x%llx (HOSTILE_SEED replays it)\n",
		(unsigned long long)seed);
	if (utmem_pool_open(c, "collide", UTMEM_POOL_CREATE, &pc) ||
	    utmem_pool_open(c, "random", UTMEM_POOL_CREATE, &pr) ||
	    utmem_pool_open(c, "warmup", UTMEM_POOL_CREATE, &pw))
		die("pools");
	timed_puts(c, pw, n, random_key, n, &errs);
	for (int round = 0; round < 3; round++) {
		/* Alternate which kind goes first: noise hits both alike. */
		for (int k = 0; k < 2; k++) {
			if ((k ^ round) & 1) {
				t = timed_puts(c, pr, n, random_key, 0, &errs);
				tr = t < tr ? t : tr;
			} else {
				t = timed_puts(c, pc, n, collide_key, 0, &errs);
				tc = t < tc ? t : tc;
			}
		}
	}
	printf("seed 0x%llx keys %u crafted_us %llu random_us %llu ratio_x100 %llu errors %d\n",
	       (unsigned long long)seed, n, (unsigned long long)tc,
	       (unsigned long long)tr,
	       (unsigned long long)(tr ? tc * 100 / tr : 0), errs);
	utmem_close(c);
	return 0;
}

/*
 * guess ADDR SECONDS [rotate]: guess TCP tokens as fast as possible
 * (rotate: each from another 127.1.x.y source): connect, HELLO
 * with a wrong token, read the answer. A guess was "judged" when the
 * answer echoes our HELLO's id; a connection refused at accept (back-off)
 * is answered on id 0 before anything is read.
 */
static int cmd_guess(char **argv, int argc)
{
	uint64_t end = now_us() + (uint64_t)(atof(argv[1]) * 1e6);
	unsigned judged = 0, refused = 0, other = 0, tries = 0;
	int rotate = argc > 2 && strcmp(argv[2], "rotate") == 0;

	while (now_us() < end) {
		char tok[32];
		struct uwire_hdr h;
		int fd, st;

		/* rotate: each guess from another loopback source address
		 * (127.1.x.y), as a local user can. */
		if (rotate)
			dial_src = htonl(0x7f010000u | (tries & 0xffffu));
		fd = dial(argv[0]);
		tries++;
		if (fd < 0) {
			other++;
			continue;
		}
		snprintf(tok, sizeof(tok), "guess%08u", tries);
		send_frame(fd, UWIRE_OP_HELLO, 0, 4242, 0, tok, (uint32_t)strlen(tok),
			   NULL, 0);
		st = read_reply(fd, &h, 2000);
		if (st == UWIRE_S_AUTH && h.id == 4242)
			judged++;
		else if (st >= 0 && h.id == 0)
			refused++;
		else
			other++;
		close(fd);
	}
	printf("tries %u judged %u refused_at_accept %u other %u\n", tries, judged,
	       refused, other);
	return 0;
}

/*
 * flood SOCK N: N connections, each sends one frame with a bad magic and
 * goes (the daemon logs what it refuses: the log must stay bounded).
 */
static int cmd_flood(char **argv)
{
	int n = atoi(argv[1]), done = 0;

	for (int i = 0; i < n; i++) {
		unsigned char junk[UWIRE_HDR_SIZE];
		struct uwire_hdr h;
		int fd = dial(argv[0]);

		if (fd < 0)
			continue;
		memset(junk, 0x5a, sizeof(junk));
		send_all(fd, junk, sizeof(junk));
		read_reply(fd, &h, 1000);
		close(fd);
		done++;
	}
	printf("connections %d\n", done);
	return 0;
}

/*
 * emptykey SOCK: PUT, GET and INVALIDATE with an empty key on a raw
 * connection; print each status, then whether the connection still serves.
 */
static int cmd_emptykey(char **argv)
{
	int fd = dial(argv[0]);
	uint32_t pool;
	struct uwire_hdr h;
	int put, get, inv, ping;

	if (fd < 0 || !(pool = raw_pool(fd, "ek")))
		die("dial");
	send_frame(fd, UWIRE_OP_PUT, 0, 10, pool, NULL, 0, "value", 5);
	put = read_reply(fd, &h, 5000);
	send_frame(fd, UWIRE_OP_GET, 0, 11, pool, NULL, 0, NULL, 0);
	get = read_reply(fd, &h, 5000);
	send_frame(fd, UWIRE_OP_INVALIDATE, 0, 12, pool, NULL, 0, NULL, 0);
	inv = read_reply(fd, &h, 5000);
	send_frame(fd, UWIRE_OP_PING, 0, 13, 0, NULL, 0, NULL, 0);
	ping = read_reply(fd, &h, 5000);
	printf("put %d get %d invalidate %d ping_after %d\n", put, get, inv, ping);
	close(fd);
	return 0;
}

/*
 * respflag SOCK: requests carrying the RESPONSE flag. (1) a GET of a stored
 * key: must not be served; (2) a "GET" announcing 4 MiB of value (only a
 * response may be that long) with none of it sent: the daemon must answer
 * at the header instead of waiting for 4 MiB to buffer them. Prints the
 * statuses (-1 closed, -2 no answer within 2 s).
 */
static int cmd_respflag(char **argv)
{
	int fd = dial(argv[0]), fd2;
	uint32_t pool;
	struct uwire_hdr h;
	int put, get, big, closed;

	if (fd < 0 || !(pool = raw_pool(fd, "rf")))
		die("dial");
	send_frame(fd, UWIRE_OP_PUT, 0, 20, pool, "k", 1, "secret", 6);
	put = read_reply(fd, &h, 5000);
	send_frame(fd, UWIRE_OP_GET, UWIRE_F_RESPONSE, 21, pool, "k", 1, NULL, 0);
	get = read_reply(fd, &h, 2000);
	if (get == 0 && h.vlen != 6)
		get = -3;
	closed = hung_up_within(fd, 2000);
	close(fd);
	fd2 = dial(argv[0]);
	if (fd2 < 0)
		die("dial");
	send_frame(fd2, UWIRE_OP_GET, UWIRE_F_RESPONSE, 22, pool, "k", 1, NULL,
		   4u << 20);
	big = read_reply(fd2, &h, 2000);
	close(fd2);
	printf("put %d get %d closed %d big %d\n", put, get, closed, big);
	return 0;
}

/*
 * squat PATH SECONDS: a listening socket at PATH (a socket path the
 * operator is about to give a tenant, in a directory the tenant can write)
 * that accepts nobody, its backlog filled, so that a blocking connect() to
 * it waits; held SECONDS. utmemd probes a path before binding it.
 */
static int cmd_squat(char **argv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int lfd, fd, n = 0;

	if (strlen(argv[0]) >= sizeof(sa.sun_path))
		die("path too long");
	strcpy(sa.sun_path, argv[0]);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 0) < 0)
		die("listen");
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			die("socket");
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			if (errno != EAGAIN)
				die("connect");
			close(fd);
			break;
		}
		n++; /* kept open: it holds its place in the backlog */
	}
	printf("squatting backlog %d\n", n);
	sleep((unsigned)atoi(argv[1]));
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int args;
		int (*fn)(char **, int);
	} cmds[] = {
		{"probe", 2, cmd_probe},
		{"ack", 4, cmd_ack},
		{"guess", 2, cmd_guess},
		{"halfput", 5, cmd_halfput},
	};

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		goto usage;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0 && argc - 2 >= cmds[i].args)
			return cmds[i].fn(argv + 2, argc - 2);
#define ONE(n, k, f) if (strcmp(argv[1], n) == 0 && argc - 2 == k) return f(argv + 2)
	ONE("unread", 5, cmd_unread);
	ONE("pools", 3, cmd_pools);
	ONE("poolopen", 2, cmd_poolopen);
	ONE("conns", 3, cmd_conns);
	ONE("hold", 3, cmd_hold);
	ONE("bigput", 3, cmd_bigput);
	ONE("shared", 2, cmd_shared);
	ONE("collide", 2, cmd_collide);
	ONE("flood", 2, cmd_flood);
	ONE("flushrace", 4, cmd_flushrace);
	ONE("flushhup", 2, cmd_flushhup);
	ONE("flushfair", 2, cmd_flushfair);
	ONE("flushpipe", 1, cmd_flushpipe);
	ONE("flushclose", 1, cmd_flushclose);
	ONE("flushreset", 2, cmd_flushreset);
	ONE("bigcopy", 5, cmd_bigcopy);
	ONE("ringdrain", 2, cmd_ringdrain);
	ONE("emptykey", 1, cmd_emptykey);
	ONE("squat", 2, cmd_squat);
	ONE("respflag", 1, cmd_respflag);
	ONE("ringhold", 4, cmd_ringhold);
	ONE("ringpost", 2, cmd_ringpost);
	ONE("ringunread", 4, cmd_ringunread);
	ONE("ringhalf", 4, cmd_ringhalf);
	ONE("ringidle", 2, cmd_ringidle);
	ONE("ringliar", 1, cmd_ringliar);
	ONE("idxcraft", 2, cmd_idxcraft);
	ONE("slabcraft", 2, cmd_slabcraft);
#undef ONE
usage:
	fprintf(stderr, "usage: hostile probe|ack|bigput|unread|halfput|pools|poolopen|conns|hold|shared|collide|guess|flood|flushrace|flushhup|flushfair|flushpipe|flushclose|flushreset|bigcopy|ringdrain|emptykey|squat|respflag|ringhold|ringpost|ringunread|ringhalf|ringidle|ringliar|idxcraft|slabcraft ARGS (see hostile.c)\n");
	return 2;
}

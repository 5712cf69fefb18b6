/*
 * e2e_raw.c — speaks the wire format by hand to a tenant socket, to check
 * what libutmem never sends: truncated and garbage frames, oversized
 * lengths, unknown opcodes, a wrong version, admin opcodes on a tenant
 * socket, deep pipelines, pool ids that belong to another tenant, and a
 * TCP connection's frames before its HELLO. After each hostile case a
 * second, well-behaved connection must still be served.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include "proto/wire.h"

static int failures;

#define EXPECT(cond, ...)                                                      \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "FAIL line %d: ", __LINE__);           \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			failures++;                                            \
		}                                                              \
	} while (0)

static const char *sock_path;

static int dial(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "FAIL connect %s: %s\n", sock_path, strerror(errno));
		exit(1);
	}
	return fd;
}

static void send_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			return; /* the daemon may hang up on us: that is allowed */
		p += n;
		len -= (size_t)n;
	}
}

/* Read exactly len bytes within 5 s. Returns 0, or -1 on EOF/timeout. */
static int recv_all(int fd, void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len) {
		struct pollfd pfd = {fd, POLLIN, 0};
		ssize_t n;
		if (poll(&pfd, 1, 5000) <= 0)
			return -1;
		n = read(fd, p, len);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void frame(int fd, unsigned op, unsigned flags, uint64_t id,
		  uint32_t pool, const void *key, uint32_t klen, const void *val,
		  uint32_t vlen)
{
	struct uwire_hdr h = {.version = UWIRE_VERSION, .opcode = (uint8_t)op,
			      .flags = (uint16_t)flags, .id = id, .pool = pool,
			      .klen = klen, .vlen = vlen};
	unsigned char hdr[UWIRE_HDR_SIZE];

	uwire_hdr_encode(&h, hdr);
	send_all(fd, hdr, sizeof(hdr));
	if (klen)
		send_all(fd, key, klen);
	if (vlen)
		send_all(fd, val, vlen);
}

/*
 * Read one reply; returns its status, -1 if the connection ended first.
 * The value is discarded (up to 1 MiB).
 */
static int reply(int fd, uint64_t *id, uint32_t *pool)
{
	struct uwire_limits lim = {UWIRE_KEY_CEILING, 1u << 20};
	unsigned char hdr[UWIRE_HDR_SIZE];
	static unsigned char val[1u << 20];
	struct uwire_hdr h;

	if (recv_all(fd, hdr, sizeof(hdr)) < 0)
		return -1;
	if (uwire_hdr_decode(hdr, &lim, &h) < 0 || !(h.flags & UWIRE_F_RESPONSE))
		return -2;
	if (h.klen + h.vlen && recv_all(fd, val, h.klen + h.vlen) < 0)
		return -1;
	if (id)
		*id = h.id;
	if (pool)
		*pool = h.pool;
	return h.status;
}

/* After hostile input: the connection ends (EOF) within 5 s. */
static int closed(int fd)
{
	char b[64];
	struct pollfd pfd = {fd, POLLIN, 0};

	if (poll(&pfd, 1, 5000) <= 0)
		return 0;
	return read(fd, b, sizeof(b)) <= 0;
}

/* The well-behaved client: a PING round trip must work. */
static void still_served(int good, const char *after)
{
	static uint64_t id = 1000;
	uint64_t got = 0;
	int st;

	frame(good, UWIRE_OP_PING, 0, ++id, 0, NULL, 0, NULL, 0);
	st = reply(good, &got, NULL);
	EXPECT(st == 0 && got == id, "good client after %s: status %d id %llu", after,
	       st, (unsigned long long)got);
}

static void raw_send_hdr(int fd, unsigned version, unsigned op, uint32_t klen,
			 uint32_t vlen, uint32_t magic_xor)
{
	unsigned char hdr[UWIRE_HDR_SIZE];
	struct uwire_hdr h = {.version = UWIRE_VERSION, .opcode = (uint8_t)op,
			      .id = 77, .klen = klen, .vlen = vlen};

	uwire_hdr_encode(&h, hdr);
	hdr[4] = (unsigned char)version;
	hdr[0] ^= (unsigned char)magic_xor;
	send_all(fd, hdr, sizeof(hdr));
}

static int cmd_malformed(void)
{
	int good = dial(), fd, st;
	unsigned char junk[256];
	uint64_t id;

	still_served(good, "start");

	/* 1. Truncated header, then the client vanishes. */
	fd = dial();
	send_all(fd, "UTMM\x01", 5);
	close(fd);
	still_served(good, "truncated header");

	/* 2. A PUT announcing 1000 value bytes, 10 sent, then gone. */
	fd = dial();
	raw_send_hdr(fd, UWIRE_VERSION, UWIRE_OP_PUT, 1, 1000, 0);
	send_all(fd, "k0123456789", 11);
	close(fd);
	still_served(good, "truncated value");

	/* 3. Key length above the limit: TOOBIG, then closed. */
	fd = dial();
	raw_send_hdr(fd, UWIRE_VERSION, UWIRE_OP_GET, 1u << 20, 0, 0);
	st = reply(fd, &id, NULL);
	EXPECT(st == UWIRE_S_TOOBIG && id == 77, "oversized klen: status %d", st);
	EXPECT(closed(fd), "oversized klen: connection not closed");
	close(fd);
	still_served(good, "oversized klen");

	/* 4. Value length above the ceiling for a PUT. */
	fd = dial();
	raw_send_hdr(fd, UWIRE_VERSION, UWIRE_OP_PUT, 1, 0xfffffff0u, 0);
	st = reply(fd, NULL, NULL);
	EXPECT(st == UWIRE_S_TOOBIG, "oversized vlen: status %d", st);
	EXPECT(closed(fd), "oversized vlen: not closed");
	close(fd);
	still_served(good, "oversized vlen");

	/* 5. Unknown opcode: OPCODE, and the connection stays usable. */
	fd = dial();
	frame(fd, 0x3e, 0, 5, 0, NULL, 0, NULL, 0);
	st = reply(fd, &id, NULL);
	EXPECT(st == UWIRE_S_OPCODE && id == 5, "unknown opcode: status %d", st);
	frame(fd, UWIRE_OP_PING, 0, 6, 0, NULL, 0, NULL, 0);
	st = reply(fd, &id, NULL);
	EXPECT(st == 0 && id == 6, "ping after unknown opcode: status %d", st);

	/* 6. Admin opcodes on a tenant socket: all refused, stream in sync. */
	for (unsigned op = 0x40; op <= 0x7f; op++) {
		frame(fd, op, 0, op, 0, NULL, 0, NULL, 0);
		st = reply(fd, &id, NULL);
		EXPECT(st == UWIRE_S_OPCODE && id == op,
		       "admin opcode 0x%02x on tenant socket: status %d", op, st);
	}
	close(fd);
	still_served(good, "admin opcodes");

	/* 7. Wrong version: VERSION, then closed. */
	fd = dial();
	raw_send_hdr(fd, 9, UWIRE_OP_PING, 0, 0, 0);
	st = reply(fd, NULL, NULL);
	EXPECT(st == UWIRE_S_VERSION, "wrong version: status %d", st);
	EXPECT(closed(fd), "wrong version: not closed");
	close(fd);
	still_served(good, "wrong version");

	/* 8. Garbage bytes (bad magic): PROTO or a plain close. */
	fd = dial();
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 37u + 11u);
	send_all(fd, junk, sizeof(junk));
	st = reply(fd, NULL, NULL);
	EXPECT(st == UWIRE_S_PROTO || st == -1, "garbage: status %d", st);
	EXPECT(closed(fd), "garbage: not closed");
	close(fd);
	still_served(good, "garbage");

	/* 9. A GET carrying a large value is malformed (small requests only). */
	fd = dial();
	raw_send_hdr(fd, UWIRE_VERSION, UWIRE_OP_GET, 1, 8192, 0);
	st = reply(fd, NULL, NULL);
	EXPECT(st == UWIRE_S_TOOBIG || st == UWIRE_S_PROTO, "fat GET: status %d", st);
	close(fd);
	still_served(good, "fat GET");

	/* 10. Bad argument shapes: INVALID, connection kept. */
	fd = dial();
	frame(fd, UWIRE_OP_POOL_OPEN, UWIRE_F_CREATE, 9, 0, NULL, 0, NULL, 0);
	st = reply(fd, NULL, NULL);
	EXPECT(st == UWIRE_S_INVALID, "pool open without a name: status %d", st);
	frame(fd, UWIRE_OP_GET, UWIRE_F_MAXLEN, 10, 1, "k", 1, "ab", 2);
	st = reply(fd, NULL, NULL);
	EXPECT(st == UWIRE_S_INVALID, "MAXLEN with 2 bytes: status %d", st);
	close(fd);
	still_served(good, "bad arguments");
	close(good);
	return failures ? 1 : 0;
}

/* A TCP connection to "[tcp:]A.B.C.D:PORT". */
static int dial_tcp(const char *addr)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	char host[64];
	const char *colon;
	int fd;

	if (strncmp(addr, "tcp:", 4) == 0)
		addr += 4;
	colon = strrchr(addr, ':');
	if (!colon || (size_t)(colon - addr) >= sizeof(host)) {
		fprintf(stderr, "FAIL bad address %s\n", addr);
		exit(2);
	}
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "FAIL connect %s: %s\n", addr, strerror(errno));
		exit(1);
	}
	return fd;
}

/*
 * preauth ADDR: on TCP, before a good HELLO, a connection gets nothing but
 * AUTH and a close (docs/security.md, "TCP"): a request that fails the
 * general argument checks, and a HELLO that cannot carry a token (too long
 * for one, or with a value), included. Each frame is whole in one write,
 * so it is judged as a frame, not by its header alone.
 */
static int cmd_preauth(const char *addr)
{
	static const struct {
		const char *what;
		unsigned op, flags;
		uint32_t klen, vlen;
	} cases[] = {
		{"PUT with an empty key", UWIRE_OP_PUT, 0, 0, 1},
		{"GET with a flag of POOL_OPEN", UWIRE_OP_GET, UWIRE_F_SHARED, 1, 0},
		{"HELLO with a 300-byte token", UWIRE_OP_HELLO, 0, 300, 0},
		{"HELLO with a value", UWIRE_OP_HELLO, 0, 16, 1},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned char buf[UWIRE_HDR_SIZE + 300 + 1] = {0};
		struct uwire_hdr h = {.version = UWIRE_VERSION,
				      .opcode = (uint8_t)cases[i].op,
				      .flags = (uint16_t)cases[i].flags,
				      .id = 40 + i, .klen = cases[i].klen,
				      .vlen = cases[i].vlen};
		int fd = dial_tcp(addr), st;
		uint64_t id = 0;

		memset(buf + UWIRE_HDR_SIZE, 'k', cases[i].klen);
		uwire_hdr_encode(&h, buf);
		send_all(fd, buf, UWIRE_HDR_SIZE + cases[i].klen + cases[i].vlen);
		st = reply(fd, &id, NULL);
		EXPECT(st == UWIRE_S_AUTH && id == 40 + i,
		       "%s before HELLO: status %d id %llu (want AUTH)", cases[i].what,
		       st, (unsigned long long)id);
		EXPECT(closed(fd), "%s before HELLO: connection not closed",
		       cases[i].what);
		close(fd);
	}
	return failures ? 1 : 0;
}

/* pipeline N: N PINGs in one write, N replies in order. */
static int cmd_pipeline(int n)
{
	int fd = dial();
	unsigned char *buf = calloc((size_t)n, UWIRE_HDR_SIZE);
	uint64_t id;

	for (int i = 0; i < n; i++) {
		struct uwire_hdr h = {.version = UWIRE_VERSION,
				      .opcode = UWIRE_OP_PING, .id = (uint64_t)i + 1};
		uwire_hdr_encode(&h, buf + (size_t)i * UWIRE_HDR_SIZE);
	}
	send_all(fd, buf, (size_t)n * UWIRE_HDR_SIZE);
	for (int i = 0; i < n; i++) {
		int st = reply(fd, &id, NULL);
		if (st != 0 || id != (uint64_t)i + 1) {
			EXPECT(0, "pipelined reply %d: status %d id %llu", i, st,
			       (unsigned long long)id);
			break;
		}
	}
	free(buf);
	close(fd);
	return failures ? 1 : 0;
}

/*
 * probe FIRST LAST: as this socket's tenant, try every operation on pool
 * ids FIRST..LAST that belong to someone else: each must be BADPOOL (never
 * a hit, never NOTFOUND, which would say the pool exists).
 */
static int cmd_probe(uint32_t first, uint32_t last)
{
	static const struct { unsigned op, flags; } ops[] = {
		{UWIRE_OP_GET, 0},
		{UWIRE_OP_GET, UWIRE_F_EXCLUSIVE},
		{UWIRE_OP_INVALIDATE, 0},
		{UWIRE_OP_PUT, 0},
		{UWIRE_OP_POOL_FLUSH, 0},
		{UWIRE_OP_POOL_DESTROY, 0},
		{UWIRE_OP_STATS, 0},
	};
	int fd = dial();

	for (uint32_t pool = first; pool <= last; pool++) {
		for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
			int keyed = ops[i].op == UWIRE_OP_GET ||
				    ops[i].op == UWIRE_OP_INVALIDATE ||
				    ops[i].op == UWIRE_OP_PUT;
			int st;
			frame(fd, ops[i].op, ops[i].flags, i, pool, "secret",
			      keyed ? 6 : 0, "x", ops[i].op == UWIRE_OP_PUT ? 1 : 0);
			st = reply(fd, NULL, NULL);
			EXPECT(st == UWIRE_S_BADPOOL, "%s (flags 0x%x) on pool %u: status %d",
			       uwire_op_name(ops[i].op), ops[i].flags, pool, st);
		}
	}
	close(fd);
	return failures ? 1 : 0;
}

static uint32_t open_pool(int fd, const char *name)
{
	uint32_t pool = 0;
	int st;

	frame(fd, UWIRE_OP_POOL_OPEN, UWIRE_F_CREATE, 1, 0, name,
	      (uint32_t)strlen(name), NULL, 0);
	st = reply(fd, NULL, &pool);
	EXPECT(st == 0 && pool != 0, "pool open: status %d", st);
	return pool;
}

/*
 * heavy: a large PUT arriving slowly, and a client that pipelines 64 GETs
 * of 1 MiB without reading (so the daemon must hold back), must not stall
 * a well-behaved client; both complete correctly afterwards.
 */
static int cmd_heavy(void)
{
	const uint32_t big = 8u << 20, mib = 1u << 20;
	unsigned char *v = malloc(big);
	int good = dial(), fd = dial(), st;
	uint32_t pool = open_pool(fd, "heavy");
	uint64_t id;

	if (!v)
		return 1;
	memset(v, 0x5a, big);
	/* Slow PUT: half now, the rest after the good client was served. */
	frame(fd, UWIRE_OP_PUT, 0, 2, pool, "B", 1, NULL, 0);
	{
		unsigned char hdr[UWIRE_HDR_SIZE];
		struct uwire_hdr h = {.version = UWIRE_VERSION, .opcode = UWIRE_OP_PUT,
				      .id = 3, .pool = pool, .klen = 1, .vlen = big};
		uwire_hdr_encode(&h, hdr);
		send_all(fd, hdr, sizeof(hdr));
		send_all(fd, "b", 1);
		send_all(fd, v, big / 2);
		still_served(good, "half of an 8 MiB PUT");
		usleep(200000);
		still_served(good, "a stalled 8 MiB PUT");
		send_all(fd, v + big / 2, big - big / 2);
	}
	st = reply(fd, &id, NULL);
	EXPECT(st == 0 && id == 2, "empty PUT: status %d id %llu", st, (unsigned long long)id);
	st = reply(fd, &id, NULL);
	EXPECT(st == 0 && id == 3, "8 MiB PUT: status %d id %llu", st, (unsigned long long)id);
	/* Backpressure: 1 MiB value, 64 GETs unread. */
	frame(fd, UWIRE_OP_PUT, 0, 4, pool, "m", 1, v, mib);
	st = reply(fd, NULL, NULL);
	EXPECT(st == 0, "1 MiB PUT: status %d", st);
	for (int i = 0; i < 64; i++)
		frame(fd, UWIRE_OP_GET, 0, 100 + (uint64_t)i, pool, "m", 1, NULL, 0);
	usleep(200000);
	still_served(good, "64 MiB of unread replies");
	for (int i = 0; i < 64; i++) {
		st = reply(fd, &id, NULL);
		if (st != 0 || id != 100 + (uint64_t)i) {
			EXPECT(0, "GET %d after backpressure: status %d id %llu", i, st,
			       (unsigned long long)id);
			break;
		}
	}
	free(v);
	close(fd);
	close(good);
	return failures ? 1 : 0;
}

/*
 * budget N SIZE: N connections each start a SIZE-byte PUT and stall. The
 * tenant's in-flight budget must refuse some (NOMEM), and
 * once they are gone a full PUT of SIZE must work again (budget released).
 */
static int cmd_budget(int n, uint32_t size)
{
	int fds[64], refused = 0, st;
	int ctl = dial();
	uint32_t pool = open_pool(ctl, "budget");
	unsigned char *v = calloc(1, size);

	if (n > 64 || !v)
		return 2;
	for (int i = 0; i < n; i++) {
		unsigned char hdr[UWIRE_HDR_SIZE];
		struct uwire_hdr h = {.version = UWIRE_VERSION, .opcode = UWIRE_OP_PUT,
				      .id = 7, .pool = pool, .klen = 1, .vlen = size};
		fds[i] = dial();
		uwire_hdr_encode(&h, hdr);
		send_all(fds[i], hdr, sizeof(hdr));
		send_all(fds[i], "k", 1);
		send_all(fds[i], v, 65536); /* more than the default buffer */
		usleep(20000);
	}
	for (int i = 0; i < n; i++) {
		struct pollfd pfd = {fds[i], POLLIN, 0};
		if (poll(&pfd, 1, 1000) == 1) {
			st = reply(fds[i], NULL, NULL);
			EXPECT(st == UWIRE_S_NOMEM, "over budget: status %d", st);
			refused++;
		}
	}
	EXPECT(refused > 0 && refused < n, "%d of %d stalled PUTs refused", refused, n);
	printf("%d of %d stalled large PUTs refused by the buffer budget\n", refused, n);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	usleep(200000);
	frame(ctl, UWIRE_OP_PUT, 0, 8, pool, "k", 1, v, size);
	st = reply(ctl, NULL, NULL);
	EXPECT(st == 0, "PUT after the stalled ones left: status %d", st);
	free(v);
	close(ctl);
	return failures ? 1 : 0;
}

/*
 * slowread N CHUNK_KIB PAUSE_MS: N GETs of a 1 MiB value pipelined at once,
 * their replies read CHUNK_KIB at a time with PAUSE_MS between: a client
 * that reads slowly but steadily. The daemon pauses the connection with
 * the rest of the GETs in its buffer (whole frames, waiting for it, not
 * for the client); every reply must arrive, the connection must stay.
 */
static int cmd_slowread(int n, size_t chunk, unsigned pause_ms)
{
	const uint32_t mib = 1u << 20;
	unsigned char *v = malloc(mib), *b = malloc(chunk);
	int fd = dial(), st;
	uint32_t pool = open_pool(fd, "slowread");
	uint64_t want = (uint64_t)n * (UWIRE_HDR_SIZE + mib), got = 0;

	if (!v || !b)
		return 2;
	memset(v, 0x3c, mib);
	frame(fd, UWIRE_OP_PUT, 0, 2, pool, "s", 1, v, mib);
	st = reply(fd, NULL, NULL);
	EXPECT(st == 0, "1 MiB PUT: status %d", st);
	for (int i = 0; i < n; i++)
		frame(fd, UWIRE_OP_GET, 0, 100 + (uint64_t)i, pool, "s", 1, NULL, 0);
	while (got < want) {
		ssize_t r = read(fd, b, want - got < chunk ? (size_t)(want - got) : chunk);

		if (r <= 0)
			break;
		got += (uint64_t)r;
		usleep(pause_ms * 1000u);
	}
	EXPECT(got == want, "slow reader: %llu of %llu reply bytes before the connection ended",
	       (unsigned long long)got, (unsigned long long)want);
	printf("read %llu of %llu bytes at %zu KiB per %u ms\n",
	       (unsigned long long)got, (unsigned long long)want, chunk >> 10, pause_ms);
	free(v);
	free(b);
	close(fd);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3) {
		sock_path = argv[2];
		if (strcmp(argv[1], "budget") == 0 && argc == 5)
			return cmd_budget(atoi(argv[3]), (uint32_t)atoi(argv[4]));
		if (strcmp(argv[1], "heavy") == 0 && argc == 3)
			return cmd_heavy();
		if (strcmp(argv[1], "slowread") == 0 && argc == 6)
			return cmd_slowread(atoi(argv[3]), (size_t)atoi(argv[4]) << 10,
					    (unsigned)atoi(argv[5]));
		if (strcmp(argv[1], "malformed") == 0 && argc == 3)
			return cmd_malformed();
		if (strcmp(argv[1], "preauth") == 0 && argc == 3)
			return cmd_preauth(argv[2]);
		if (strcmp(argv[1], "pipeline") == 0 && argc == 4)
			return cmd_pipeline(atoi(argv[3]));
		if (strcmp(argv[1], "probe") == 0 && argc == 5)
			return cmd_probe((uint32_t)atoi(argv[3]), (uint32_t)atoi(argv[4]));
	}
	fprintf(stderr, "usage: e2e_raw malformed|heavy|pipeline N|probe FIRST LAST|"
		"budget N SIZE|slowread N CHUNK_KIB PAUSE_MS SOCK...|preauth TCP_ADDR\n");
	return 2;
}

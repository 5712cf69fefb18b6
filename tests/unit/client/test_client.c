/*
 * test_client.c — libutmem against an in-process fake daemon (fake_server.c).
 *
 * These tests pin down what the library puts on the wire for every call,
 * how it maps every reply status, and how it behaves when the daemon
 * misbehaves: closes mid-reply, never answers, closes while the client is
 * still sending, refuses HELLO. They need no utmemd; the end-to-end tests
 * against the real daemon live with it.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/client_int.h"
#include "fake_server.h"
#include "utmem.h"

static struct uwire_hdr last_hdr(struct fake_server *s)
{
	struct uwire_hdr h;

	pthread_mutex_lock(&s->lock);
	h = s->last;
	pthread_mutex_unlock(&s->lock);
	return h;
}

static int connections(struct fake_server *s)
{
	int n;

	pthread_mutex_lock(&s->lock);
	n = s->connections;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static int64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_addresses_malformed(void **state)
{
	static const char *bad[] = {
		"", "foo", "unix:", "tcp:host", "tcp:host:0", "tcp:host:65536",
		"tcp::80", "tcp:h:8x", "vsock:x:1", "vsock:3", "vsock::5",
		"vsock:3:99999999999", "udp:1.2.3.4:5", "tcp:::1:80",
	};
	struct utmem_options opt = {.timeout_ms = 500};
	char longpath[200];
	utmem_client *c = (utmem_client *)1;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(utmem_connect(bad[i], &opt, &c), -EINVAL);
		assert_null(c);
	}
	assert_int_equal(utmem_connect(NULL, NULL, &c), -EINVAL);
	memset(longpath, 'a', sizeof(longpath));
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(utmem_connect(longpath, &opt, &c), -EINVAL);
	(void)state;
}

static void test_addresses_parse(void **state)
{
	struct uclient_addr a;

	assert_int_equal(uclient_addr_parse("vsock:2:1234", &a), 0);
	assert_int_equal(a.kind, UCLIENT_VSOCK);
	assert_int_equal(a.cid, 2);
	assert_int_equal(a.vport, 1234);
	assert_int_equal(uclient_addr_parse("vsock:0000000000003:4294967295", &a), 0);
	assert_int_equal(a.cid, 3);
	assert_int_equal(a.vport, 4294967295u);
	assert_int_equal(uclient_addr_parse("vsock:3:4294967296", &a), -EINVAL);
	assert_int_equal(uclient_addr_parse("vsock:3:-1", &a), -EINVAL);
	assert_int_equal(uclient_addr_parse("vsock:3:4:5", &a), -EINVAL);
	assert_int_equal(uclient_addr_parse("tcp:[::1]:99", &a), 0);
	assert_string_equal(a.host, "::1");
	assert_string_equal(a.port, "99");
	assert_int_equal(uclient_addr_parse("./run/x.sock", &a), 0);
	assert_int_equal(a.kind, UCLIENT_UNIX);
	assert_string_equal(a.path, "./run/x.sock");
	assert_int_equal(a.ring, 1); /* the fast path by default */
	assert_int_equal(uclient_addr_parse("unix:/run/u.sock", &a), 0);
	assert_int_equal(a.ring, 1);
	assert_int_equal(a.kind, UCLIENT_TCP == a.kind ? -1 : UCLIENT_UNIX);
	assert_int_equal(uclient_addr_parse("tcp:h:1", &a), 0);
	assert_int_equal(a.ring, 0);
	assert_int_equal(uclient_addr_parse("ring:/run/utmem/t.sock", &a), 0);
	assert_int_equal(a.kind, UCLIENT_UNIX);
	assert_int_equal(a.ring, 1);
	assert_string_equal(a.path, "/run/utmem/t.sock");
	assert_int_equal(uclient_addr_parse("ring:", &a), -EINVAL);
	assert_int_equal(uclient_addr_parse("vport:/dev/vport0p1", &a), 0);
	assert_int_equal(a.kind, UCLIENT_VPORT);
	assert_int_equal(a.vport_by_name, 0);
	assert_string_equal(a.path, "/dev/vport0p1");
	assert_int_equal(uclient_addr_parse("virtio-serial:org.utmem.0", &a), 0);
	assert_int_equal(a.kind, UCLIENT_VPORT);
	assert_int_equal(a.vport_by_name, 1);
	assert_string_equal(a.path, "org.utmem.0");
	assert_int_equal(uclient_addr_parse("virtio-serial:a/b", &a), -EINVAL);
	assert_int_equal(uclient_addr_parse("vport:", &a), -EINVAL);
	assert_int_equal(uclient_addr_parse("ivshmem:", &a), 0);
	assert_int_equal(a.kind, UCLIENT_IVSHMEM);
	assert_string_equal(a.path, "");
	assert_int_equal(uclient_addr_parse("ivshmem:/sys/bus/pci/devices/0000:00:10.0", &a), 0);
	assert_int_equal(a.kind, UCLIENT_IVSHMEM);
	assert_string_equal(a.path, "/sys/bus/pci/devices/0000:00:10.0");
	assert_int_equal(uclient_addr_parse("dev:/dev/utmem", &a), 0);
	assert_int_equal(a.kind, UCLIENT_DEV);
	assert_string_equal(a.path, "/dev/utmem");
	assert_int_equal(uclient_addr_parse("dev:", &a), -EINVAL);
	/* The public check says what the parser says, dialling nothing. */
	assert_int_equal(utmem_addr_check("unix:/nonexistent/x.sock"), 0);
	assert_int_equal(utmem_addr_check("tcp:[::1]:80"), 0);
	assert_int_equal(utmem_addr_check("vsock:2:1234"), 0);
	assert_int_equal(utmem_addr_check("nonsense"), -EINVAL);
	assert_int_equal(utmem_addr_check("tcp:h:70000"), -EINVAL);
	assert_int_equal(utmem_addr_check("dev:"), -EINVAL);
	assert_int_equal(utmem_addr_check(NULL), -EINVAL);
	(void)state;
}

/*
 * tcp:HOST:PORT: PORT is 1..65535 in plain decimal digits, nothing wrapped
 * or cut short, and kept canonical (leading zeros once overran a->port);
 * brackets only as a pair around the whole HOST, and around an IPv6
 * address only. An IPv6 address without them is refused: in tcp:::1:80
 * nothing says where the address ends (::1 port 80, or ::1:80 with no
 * port); it was once taken as ::1 port 80.
 */
static void test_addresses_tcp_port(void **state)
{
	static const char *bad[] = {
		"tcp:h:70000", "tcp:h:99999999999", "tcp:h:", "tcp:h:+80",
		"tcp:h:80x", "tcp:h:-1", "tcp:h: 80", "tcp:h:4294967376",
		"tcp:h:0x50", "tcp:[::1:80", "tcp:::1]:80", "tcp:[]:80",
		"tcp:[[::1]]:80", "tcp:h]:80", "tcp:[h:80", "tcp:[::1]",
		"tcp:::1:80", "tcp:fe80::1:80", "tcp:::1", "tcp:::80",
		"tcp:2001:db8::7:7000", "tcp:h:1:80", "tcp:[h]:80",
		"tcp:[127.0.0.1]:80", "tcp:[::1]:", "tcp:[::1]80",
		"tcp:h:000065536",
	};
	static const struct {
		const char *addr, *host, *port;
	} good[] = {
		{"tcp:h:0000000080", "h", "80"},
		{"tcp:h:000000000000000080", "h", "80"}, /* digits, however many */
		{"tcp:h:00065535", "h", "65535"},
		{"tcp:[fe80::1]:1", "fe80::1", "1"},
		{"tcp:[::1]:80", "::1", "80"},
		{"tcp:[2001:db8::7]:7000", "2001:db8::7", "7000"},
		{"tcp:[::ffff:127.0.0.1]:9", "::ffff:127.0.0.1", "9"},
		{"tcp:127.0.0.1:7000", "127.0.0.1", "7000"},
		{"tcp:localhost:7000", "localhost", "7000"},
	};
	struct uclient_addr a;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("%s\n", bad[i]);
		assert_int_equal(uclient_addr_parse(bad[i], &a), -EINVAL);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		print_message("%s\n", good[i].addr);
		assert_int_equal(uclient_addr_parse(good[i].addr, &a), 0);
		assert_int_equal(a.kind, UCLIENT_TCP);
		assert_string_equal(a.host, good[i].host);
		assert_string_equal(a.port, good[i].port);
		assert_int_equal(a.cid, 0);
		assert_int_equal(a.vport, 0);
	}
	(void)state;
}

/* A vport address that names no port fails as "no daemon there", not as a
 * miss, and a path that is not a character device is refused. */
static void test_vport_missing(void **state)
{
	struct utmem_options opt = {.timeout_ms = 500};
	utmem_client *c = NULL;

	assert_int_equal(utmem_connect("virtio-serial:no.such.port", &opt, &c),
			 -ECONNREFUSED);
	assert_null(c);
	assert_int_equal(utmem_connect("vport:/nonexistent/vport9p9", &opt, &c),
			 -ECONNREFUSED);
	assert_int_equal(utmem_connect("vport:/etc/passwd", &opt, &c), -ENOTTY);
	/* No module here: a dev: address is refused, not a miss. */
	assert_int_equal(utmem_connect("dev:/nonexistent/utmem", &opt, &c),
			 -ECONNREFUSED);
	assert_int_equal(utmem_connect("dev:/etc/passwd", &opt, &c), -ENOTTY);
	/* A file holding no region: nothing to attach to. */
	assert_int_equal(utmem_connect("ivshmem:/nonexistent/resource2", &opt, &c),
			 -ECONNREFUSED);
	(void)state;
}

/* No vsock peer exists here: the error must come back, promptly, as-is. */
static void test_vsock_connect_fails_cleanly(void **state)
{
	struct utmem_options opt = {.timeout_ms = 500};
	utmem_client *c = NULL;
	int err = utmem_connect("vsock:2:1234", &opt, &c);

	assert_true(err < 0);
	assert_int_not_equal(err, -EINVAL);
	assert_null(c);
	assert_non_null(utmem_strerror(err));
	(void)state;
}

static void test_connect_missing_socket(void **state)
{
	utmem_client *c = NULL;
	int err = utmem_connect("unix:/nonexistent/utmemd.sock", NULL, &c);

	/* Never -ENOENT: that is a key miss to every caller. */
	assert_int_equal(err, -ECONNREFUSED);
	assert_null(c);
	(void)state;
}

static void test_hello_limits(void **state)
{
	struct fake_fixture *fx = *state;

	assert_int_equal(utmem_max_key(fx->c), 1024);
	assert_int_equal(utmem_max_value(fx->c), 4u << 20);
	assert_string_equal(fx->srv.hello_key, "");
	assert_int_equal(utmem_ping(fx->c), 0);
	assert_int_equal(last_hdr(&fx->srv).opcode, UWIRE_OP_PING);
}

static void test_tcp_token(void **state)
{
	struct fake_server srv = {.token = "s3cret"};
	struct utmem_options opt = {.token = "s3cret", .timeout_ms = 2000};
	utmem_client *c = NULL;

	assert_int_equal(fake_start(&srv, 1), 0);
	assert_int_equal(utmem_connect(srv.addr, &opt, &c), 0);
	assert_int_equal(utmem_ping(c), 0);
	utmem_close(c);
	assert_string_equal(srv.hello_key, "s3cret");
	opt.token = "wrong";
	assert_int_equal(utmem_connect(srv.addr, &opt, &c), -EPERM);
	assert_null(c);
	fake_stop(&srv);
	(void)state;
}

static void test_hello_refused_version(void **state)
{
	struct fake_server srv = {.hello_status = UWIRE_S_VERSION};
	utmem_client *c = NULL;

	assert_int_equal(fake_start(&srv, 0), 0);
	assert_int_equal(utmem_connect(srv.addr, NULL, &c), -EPROTONOSUPPORT);
	pthread_mutex_lock(&srv.lock);
	srv.hello_status = 0;
	srv.hello_version = 2;
	pthread_mutex_unlock(&srv.lock);
	assert_int_equal(utmem_connect(srv.addr, NULL, &c), -EPROTONOSUPPORT);
	assert_null(c);
	fake_stop(&srv);
	(void)state;
}

/* A daemon that accepts but never says HELLO costs one timeout. */
static void test_hello_timeout(void **state)
{
	struct fake_server srv = {.hello_hang = 1};
	struct utmem_options opt = {.timeout_ms = 300};
	utmem_client *c = NULL;
	int64_t t0, dt;

	assert_int_equal(fake_start(&srv, 0), 0);
	t0 = ms_now();
	assert_int_equal(utmem_connect(srv.addr, &opt, &c), -ETIMEDOUT);
	dt = ms_now() - t0;
	assert_null(c);
	assert_true(dt >= 250 && dt < 2000);
	fake_stop(&srv);
	(void)state;
}

static void test_pool_open(void **state)
{
	struct fake_fixture *fx = *state;
	uint32_t h, h2;
	struct uwire_hdr last;

	assert_int_equal(utmem_pool_open(fx->c, "eph", UTMEM_POOL_EPHEMERAL |
					 UTMEM_POOL_CREATE, &h), 0);
	last = last_hdr(&fx->srv);
	assert_int_equal(last.opcode, UWIRE_OP_POOL_OPEN);
	assert_int_equal(last.flags, UWIRE_F_EPHEMERAL | UWIRE_F_CREATE);
	assert_int_equal(last.klen, 3);
	assert_memory_equal(fx->srv.last_key, "eph", 3);
	assert_int_not_equal(h, fx->pool);
	assert_int_equal(utmem_pool_open(fx->c, "eph", UTMEM_POOL_EPHEMERAL, &h2), 0);
	assert_int_equal(h, h2);
	assert_int_equal(utmem_pool_open(fx->c, "nope", 0, &h2), -ENOENT);
	assert_int_equal(utmem_pool_open(fx->c, "", UTMEM_POOL_CREATE, &h2), -EINVAL);
	assert_int_equal(utmem_pool_open(fx->c, "a b", UTMEM_POOL_CREATE, &h2), -EINVAL);
	assert_int_equal(utmem_pool_open(fx->c, ".", UTMEM_POOL_CREATE, &h2), -EINVAL);
	assert_int_equal(utmem_pool_open(fx->c, "..", UTMEM_POOL_CREATE, &h2), -EINVAL);
	assert_int_equal(utmem_pool_open(fx->c, NULL, UTMEM_POOL_CREATE, &h2), -EINVAL);
	assert_int_equal(utmem_pool_open(fx->c, "ok", UTMEM_POOL_CREATE, NULL), -EINVAL);
	assert_int_equal(utmem_pool_open(fx->c, "ok", 1u << 9, &h2), -EINVAL);
	assert_int_equal(utmem_pool_open(fx->c, "shared.x", UTMEM_POOL_SHARED |
					 UTMEM_POOL_CREATE, &h2), 0);
	assert_int_equal(last_hdr(&fx->srv).flags, UWIRE_F_SHARED | UWIRE_F_CREATE);
}

static void test_put_get_encoding(void **state)
{
	struct fake_fixture *fx = *state;
	char buf[100];
	struct uwire_hdr last;

	assert_int_equal(utmem_put(fx->c, fx->pool, "k1", 2, "hello", 5), 0);
	last = last_hdr(&fx->srv);
	assert_int_equal(last.opcode, UWIRE_OP_PUT);
	assert_int_equal(last.klen, 2);
	assert_int_equal(last.vlen, 5);
	assert_int_equal(last.pool % 1000, 1);
	assert_int_equal(last.flags, 0);
	assert_memory_equal(fx->srv.last_val, "hello", 5);

	assert_int_equal(utmem_get(fx->c, fx->pool, "k1", 2, buf, sizeof(buf), 0), 5);
	assert_memory_equal(buf, "hello", 5);
	last = last_hdr(&fx->srv);
	assert_int_equal(last.opcode, UWIRE_OP_GET);
	assert_int_equal(last.flags, UWIRE_F_MAXLEN);
	assert_int_equal(last.vlen, 4);
	assert_int_equal(uwire_get_u32(fx->srv.last_val), sizeof(buf));

	assert_int_equal(utmem_get(fx->c, fx->pool, "k1", 2, buf, 7,
				   UTMEM_GET_EXCLUSIVE), 5);
	last = last_hdr(&fx->srv);
	assert_int_equal(last.flags, UWIRE_F_MAXLEN | UWIRE_F_EXCLUSIVE);
	assert_int_equal(uwire_get_u32(fx->srv.last_val), 7);
	assert_int_equal(utmem_get(fx->c, fx->pool, "k1", 2, buf, 7, 0), -ENOENT);

	assert_int_equal(utmem_put(fx->c, fx->pool, NULL, 0, "x", 1), -EINVAL);
	assert_int_equal(utmem_get(fx->c, fx->pool, "k1", 2, buf, 7, 8), -EINVAL);
	assert_int_equal(utmem_put(fx->c, 999, "k", 1, "x", 1), -EBADF);
	assert_int_equal(utmem_put(fx->c, 0, "k", 1, "x", 1), -EBADF);
}

/* A GET into a short buffer fails with -ENOBUFS and removes nothing. */
static void test_enobufs_keeps_value(void **state)
{
	struct fake_fixture *fx = *state;
	char val[100], buf[100];

	memset(val, 'v', sizeof(val));
	assert_int_equal(utmem_put(fx->c, fx->pool, "big", 3, val, 100), 0);
	assert_int_equal(utmem_get(fx->c, fx->pool, "big", 3, buf, 10,
				   UTMEM_GET_EXCLUSIVE), -ENOBUFS);
	assert_int_equal(utmem_get(fx->c, fx->pool, "big", 3, buf, 100, 0), 100);
	assert_memory_equal(buf, val, 100);
	assert_int_equal(utmem_get(fx->c, fx->pool, "big", 3, NULL, 0, 0), -ENOBUFS);
}

static void test_get_alloc(void **state)
{
	struct fake_fixture *fx = *state;
	void *v = NULL;
	size_t n = 99;

	assert_int_equal(utmem_put(fx->c, fx->pool, "a", 1, "abc", 3), 0);
	assert_int_equal(utmem_get_alloc(fx->c, fx->pool, "a", 1, &v, &n, 0), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(v, "abc", 3);
	free(v);
	assert_int_equal(last_hdr(&fx->srv).flags, 0);
	assert_int_equal(utmem_put(fx->c, fx->pool, "z", 1, NULL, 0), 0);
	v = NULL;
	assert_int_equal(utmem_get_alloc(fx->c, fx->pool, "z", 1, &v, &n,
					 UTMEM_GET_EXCLUSIVE), 0);
	assert_int_equal(n, 0);
	assert_non_null(v);
	free(v);
	assert_int_equal(utmem_get_alloc(fx->c, fx->pool, "z", 1, &v, &n, 0),
			 -ENOENT);
}

static void test_invalidate_flush_destroy(void **state)
{
	struct fake_fixture *fx = *state;
	char buf[8];

	assert_int_equal(utmem_put(fx->c, fx->pool, "a", 1, "1", 1), 0);
	assert_int_equal(utmem_invalidate(fx->c, fx->pool, "a", 1), 0);
	assert_int_equal(last_hdr(&fx->srv).opcode, UWIRE_OP_INVALIDATE);
	assert_int_equal(utmem_invalidate(fx->c, fx->pool, "a", 1), -ENOENT);
	assert_int_equal(utmem_put(fx->c, fx->pool, "b", 1, "2", 1), 0);
	assert_int_equal(utmem_pool_flush(fx->c, fx->pool), 0);
	assert_int_equal(last_hdr(&fx->srv).opcode, UWIRE_OP_POOL_FLUSH);
	assert_int_equal(utmem_get(fx->c, fx->pool, "b", 1, buf, 8, 0), -ENOENT);
	assert_int_equal(utmem_pool_destroy(fx->c, fx->pool), 0);
	assert_int_equal(last_hdr(&fx->srv).opcode, UWIRE_OP_POOL_DESTROY);
	assert_int_equal(utmem_put(fx->c, fx->pool, "b", 1, "2", 1), -EBADF);
	assert_int_equal(utmem_pool_destroy(fx->c, fx->pool), -EBADF);
}

static void test_status_mapping(void **state)
{
	struct fake_fixture *fx = *state;
	char key[32];

	for (unsigned s = 1; s < UWIRE_S_MAX_ + 3; s++) {
		int want = -uwire_status_to_errno(s);
		int n = snprintf(key, sizeof(key), "!status=%u", s);

		assert_int_equal(utmem_put(fx->c, fx->pool, key, (size_t)n, "x", 1),
				 want);
	}
	assert_int_equal(-uwire_status_to_errno(UWIRE_S_QUOTA), -EDQUOT);
	assert_int_equal(-uwire_status_to_errno(UWIRE_S_CAPACITY), -ENOSPC);
	/* The connection is still in sync after every error status. */
	assert_int_equal(utmem_ping(fx->c), 0);
	assert_int_equal(connections(&fx->srv), 1);
}

/* A too-big PUT is refused locally but still removes the old value. */
static void test_put_too_big_invalidates(void **state)
{
	struct fake_fixture *fx = *state;
	size_t big = (4u << 20) + 1;
	char *val = calloc(1, big);
	char buf[4];

	assert_non_null(val);
	assert_int_equal(utmem_put(fx->c, fx->pool, "k", 1, "old", 3), 0);
	assert_int_equal(utmem_put(fx->c, fx->pool, "k", 1, val, big), -EMSGSIZE);
	assert_int_equal(last_hdr(&fx->srv).opcode, UWIRE_OP_INVALIDATE);
	assert_int_equal(utmem_get(fx->c, fx->pool, "k", 1, buf, 4, 0), -ENOENT);
	assert_int_equal(utmem_put(fx->c, fx->pool, "k", 1, val, big), -EMSGSIZE);
	free(val);
	memset(buf, 0, sizeof(buf));
	val = calloc(1, 2000);
	assert_non_null(val);
	assert_int_equal(utmem_put(fx->c, fx->pool, val, 1025, "x", 1), -EMSGSIZE);
	free(val);
}

static void test_stats(void **state)
{
	struct fake_fixture *fx = *state;
	struct utmem_stats st;

	assert_int_equal(utmem_put(fx->c, fx->pool, "a", 1, "12345", 5), 0);
	memset(&st, 0xa5, sizeof(st));
	assert_int_equal(utmem_stats(fx->c, 0, &st), 0);
	for (size_t i = 0; i < sizeof(st.reserved) / sizeof(st.reserved[0]); i++)
		assert_int_equal(st.reserved[i], 0); /* zeroed, for later counters */
	assert_int_equal(last_hdr(&fx->srv).pool, 0);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.bytes_stored, 5);
	assert_int_equal(st.limit_max, 12345);
	assert_int_equal(utmem_stats(fx->c, fx->pool, &st), 0);
	assert_int_equal(last_hdr(&fx->srv).pool % 1000, 1);
	assert_int_equal(utmem_stats(fx->c, 77, &st), -EBADF);
}

/* The text NUL-terminated in buf; a cap with no room for the NUL is
 * -ENOBUFS (buf left empty), a cap of 0 or a NULL buf -EINVAL. */
static void test_server_info(void **state)
{
	struct fake_fixture *fx = *state;
	const size_t len = sizeof(FAKE_SERVER_INFO) - 1;
	char buf[sizeof(FAKE_SERVER_INFO)];

	memset(buf, 'x', sizeof(buf));
	assert_int_equal(utmem_server_info(fx->c, buf, sizeof(buf)), len);
	assert_string_equal(buf, FAKE_SERVER_INFO);
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(utmem_server_info(fx->c, buf, len), -ENOBUFS);
	assert_string_equal(buf, "");
	assert_int_equal(utmem_server_info(fx->c, buf, 1), -ENOBUFS);
	assert_int_equal(utmem_server_info(fx->c, buf, 0), -EINVAL);
	assert_int_equal(utmem_server_info(fx->c, NULL, 16), -EINVAL);
	assert_int_equal(utmem_server_info(NULL, buf, sizeof(buf)), -EINVAL);
}

/*
 * A batch is sent pipelined, but each request the fast path could serve
 * ends the run before it, and one it then declines goes out with what
 * follows it. A GET under UTMEM_OPT_SYNC_GET (NULL_STORE sets it too) is
 * never read one-sidedly, so it must not count as one: else a batch of N
 * such GETs on a ring costs N round trips instead of one. White-box: the
 * fake serves no ring, so the predicate is asked directly.
 */
static void test_fast_candidate_sync_get(void **state)
{
	uint64_t hazard = 0;
	struct uclient_region region = {.hazard = &hazard};
	struct uclient_pool pool = {.name = "p", .open = 1};
	struct utmem_client c = {
		/* only compared with NULL by the predicate */
		.ring = (struct uclient_ring *)&hazard,
		.region = &region,
		.pools = &pool,
		.npools = 1,
	};
	struct uclient_req r;
	char buf[8];

	(void)state;
	uclient_req_get(&r, "k", 1, buf, sizeof(buf), 0);
	assert_true(uclient_fast_candidate(&c, 1, &r)); /* the fast path's GET */
	c.sync_get = 1;
	assert_false(uclient_fast_candidate(&c, 1, &r));
}

#define NBATCH 3000

static void test_batch_many(void **state)
{
	struct fake_fixture *fx = *state;
	static char keys[NBATCH][16], vals[NBATCH][40], bufs[NBATCH][40];
	utmem_batch *b;
	int idx;

	assert_int_equal(utmem_batch_new(fx->c, &b), 0);
	for (int i = 0; i < NBATCH; i++) {
		snprintf(keys[i], sizeof(keys[i]), "key%d", i);
		snprintf(vals[i], sizeof(vals[i]), "value-%d-%0*d", i, i % 20, 0);
		assert_int_equal(utmem_batch_put(b, fx->pool, keys[i],
						 strlen(keys[i]), vals[i],
						 strlen(vals[i])), i);
	}
	assert_int_equal(utmem_batch_exec(b), NBATCH);
	utmem_batch_reset(b);
	for (int i = 0; i < NBATCH; i++)
		utmem_batch_get(b, fx->pool, keys[i], strlen(keys[i]), bufs[i],
				sizeof(bufs[i]), 0);
	idx = utmem_batch_get(b, fx->pool, "missing", 7, bufs[0], 1, 0);
	assert_int_equal(utmem_batch_put(b, 4242, "k", 1, "v", 1), idx + 1);
	assert_int_equal(utmem_batch_invalidate(b, fx->pool, "key0", 4), idx + 2);
	assert_int_equal(utmem_batch_result(b, 0), -EAGAIN);
	assert_int_equal(utmem_batch_exec(b), NBATCH + 1);
	for (int i = 0; i < NBATCH; i++) {
		assert_int_equal(utmem_batch_result(b, (size_t)i), strlen(vals[i]));
		assert_memory_equal(bufs[i], vals[i], strlen(vals[i]));
	}
	assert_int_equal(utmem_batch_result(b, (size_t)idx), -ENOENT);
	assert_int_equal(utmem_batch_result(b, (size_t)idx + 1), -EBADF);
	assert_int_equal(utmem_batch_result(b, (size_t)idx + 2), 0);
	assert_int_equal(utmem_batch_result(b, (size_t)idx + 3), -EINVAL);
	utmem_batch_free(b);
	utmem_batch_free(NULL);
}

/*
 * A refused queue call leaves the batch as it was: nothing queued, nothing
 * sent, and the last exec's results still readable.
 */
static void test_batch_refused_queue(void **state)
{
	struct fake_fixture *fx = *state;
	static char longkey[4096];
	char buf[8];
	utmem_batch *b;
	uint64_t sent;

	assert_true(utmem_max_key(fx->c) < sizeof(longkey));
	memset(longkey, 'k', sizeof(longkey));
	assert_int_equal(utmem_batch_new(fx->c, &b), 0);
	assert_int_equal(utmem_batch_put(b, fx->pool, "k", 1, "v", 1), 0);
	assert_int_equal(utmem_batch_exec(b), 1);
	pthread_mutex_lock(&fx->srv.lock);
	sent = fx->srv.requests;
	pthread_mutex_unlock(&fx->srv.lock);
	assert_int_equal(utmem_batch_put(b, fx->pool, NULL, 1, "v", 1), -EINVAL);
	assert_int_equal(utmem_batch_put(b, fx->pool, "k", 0, "v", 1), -EINVAL);
	assert_int_equal(utmem_batch_put(b, fx->pool, "k", 1, NULL, 1), -EINVAL);
	assert_int_equal(utmem_batch_put(b, fx->pool, longkey,
					 utmem_max_key(fx->c) + 1, "v", 1),
			 -EMSGSIZE);
	assert_int_equal(utmem_batch_get(b, fx->pool, "k", 1, NULL, 1, 0),
			 -EINVAL);
	assert_int_equal(utmem_batch_get(b, fx->pool, "k", 1, buf, sizeof(buf),
					 UTMEM_GET_PROBE), -EINVAL);
	assert_int_equal(utmem_batch_invalidate(b, fx->pool, NULL, 1), -EINVAL);
	assert_int_equal(utmem_batch_result(b, 0), 0);
	assert_int_equal(utmem_batch_result(b, 1), -EINVAL);
	pthread_mutex_lock(&fx->srv.lock);
	assert_int_equal(fx->srv.requests, sent);
	pthread_mutex_unlock(&fx->srv.lock);
	utmem_batch_free(b);
}

/*
 * Executing a batch again sends every request again; when that exec fails
 * before sending (the link is gone), no result of the earlier exec may be
 * reported as this one's. An empty batch touches no connection.
 */
static void test_batch_exec_again(void **state)
{
	struct fake_fixture *fx = *state;
	struct utmem_options opt = {.no_reconnect = 1};
	char buf[8] = "";
	utmem_batch *b, *empty;
	utmem_client *c;
	uint64_t before;
	uint32_t h;

	assert_int_equal(utmem_connect(fx->srv.addr, &opt, &c), 0);
	assert_int_equal(utmem_pool_open(c, "p1", 0, &h), 0);
	assert_int_equal(utmem_batch_new(c, &b), 0);
	assert_int_equal(utmem_batch_new(c, &empty), 0);
	assert_int_equal(utmem_batch_put(b, h, "again", 5, "val", 3), 0);
	assert_int_equal(utmem_batch_get(b, h, "again", 5, buf, sizeof(buf), 0),
			 1);
	assert_int_equal(utmem_batch_exec(b), 2);
	pthread_mutex_lock(&fx->srv.lock);
	before = fx->srv.requests;
	pthread_mutex_unlock(&fx->srv.lock);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(utmem_batch_exec(b), 2);
	pthread_mutex_lock(&fx->srv.lock);
	assert_int_equal(fx->srv.requests - before, 2);
	pthread_mutex_unlock(&fx->srv.lock);
	assert_int_equal(utmem_batch_result(b, 1), 3);
	assert_memory_equal(buf, "val", 3);

	/* The link goes; this client does not reconnect. */
	assert_int_equal(utmem_put(c, h, "!close", 6, "x", 1), -ECONNRESET);
	assert_int_equal(utmem_batch_exec(b), -ENOTCONN);
	assert_int_equal(utmem_batch_result(b, 0), -ECONNRESET);
	assert_int_equal(utmem_batch_result(b, 1), -ECONNRESET);
	assert_int_equal(utmem_batch_exec(empty), 0);
	assert_int_equal(utmem_batch_result(empty, 0), -EINVAL);
	utmem_batch_free(empty);
	utmem_batch_free(b);
	utmem_close(c);
}

/* Megabytes each way in one batch: sending and receiving must interleave. */
static void test_batch_big_values(void **state)
{
	struct fake_fixture *fx = *state;
	enum { N = 12, SZ = 1u << 20 };
	uint8_t *vals = malloc((size_t)N * SZ), *bufs = malloc((size_t)N * SZ);
	char keys[N][8];
	utmem_batch *b;

	assert_non_null(vals);
	assert_non_null(bufs);
	for (size_t i = 0; i < (size_t)N * SZ; i++)
		vals[i] = (uint8_t)(i * 7 + i / SZ);
	assert_int_equal(utmem_batch_new(fx->c, &b), 0);
	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "b%d", i);
		utmem_batch_put(b, fx->pool, keys[i], strlen(keys[i]),
				vals + (size_t)i * SZ, SZ);
		if (i > 0)
			utmem_batch_get(b, fx->pool, keys[i - 1],
					strlen(keys[i - 1]),
					bufs + (size_t)(i - 1) * SZ, SZ, 0);
	}
	assert_int_equal(utmem_batch_exec(b), 2 * N - 1);
	assert_memory_equal(bufs, vals, (size_t)(N - 1) * SZ);
	utmem_batch_free(b);
	free(vals);
	free(bufs);
}

/* The daemon dies mid-reply: -ECONNRESET, then the handle works again. */
static void test_close_mid_reply_reconnects(void **state)
{
	struct fake_fixture *fx = *state;
	char buf[8];

	assert_int_equal(utmem_put(fx->c, fx->pool, "keep", 4, "v1", 2), 0);
	assert_int_equal(utmem_put(fx->c, fx->pool, "!close", 6, "x", 1),
			 -ECONNRESET);
	assert_int_equal(utmem_get(fx->c, fx->pool, "keep", 4, buf, 8, 0), 2);
	assert_memory_equal(buf, "v1", 2);
	assert_int_equal(connections(&fx->srv), 2);
	/* The pool was reopened: its id now carries generation 2. */
	assert_int_equal(last_hdr(&fx->srv).pool, 2001);
	assert_int_equal(utmem_put(fx->c, fx->pool, "!drop", 5, "x", 1),
			 -ECONNRESET);
	assert_int_equal(utmem_ping(fx->c), 0);
	assert_int_equal(connections(&fx->srv), 3);
}

/* An idle connection hung up by the daemon is replaced without an error. */
static void test_idle_hangup_is_transparent(void **state)
{
	struct fake_fixture *fx = *state;
	char buf[8];

	assert_int_equal(utmem_put(fx->c, fx->pool, "keep", 4, "v1", 2), 0);
	fake_kick(&fx->srv);
	usleep(100 * 1000);
	assert_int_equal(utmem_get(fx->c, fx->pool, "keep", 4, buf, 8, 0), 2);
	assert_int_equal(connections(&fx->srv), 2);
	assert_int_equal(last_hdr(&fx->srv).pool, 2001);
}

/*
 * After a reconnect every pool is reopened by name in one pipelined
 * exchange; a pool the daemon no longer has reports -EBADF (a dead
 * handle, not a key miss) when used, the others keep working.
 */
static void test_reconnect_reopens_pools(void **state)
{
	struct fake_fixture *fx = *state;
	struct utmem_options opt = {.timeout_ms = 2000};
	utmem_client *b;
	uint32_t gone_a, gone_b, q;
	char buf[8];

	assert_int_equal(utmem_pool_open(fx->c, "gone", UTMEM_POOL_CREATE, &gone_a), 0);
	assert_int_equal(utmem_connect(fx->srv.addr, &opt, &b), 0);
	assert_int_equal(utmem_pool_open(b, "gone", 0, &gone_b), 0);
	assert_int_equal(utmem_pool_open(b, "p1", 0, &q), 0);
	assert_int_equal(utmem_put(b, q, "x", 1, "y", 1), 0);
	assert_int_equal(utmem_pool_destroy(fx->c, gone_a), 0);
	fake_kick(&fx->srv);
	usleep(100 * 1000);
	assert_int_equal(utmem_get(b, q, "x", 1, buf, sizeof(buf), 0), 1);
	assert_int_equal(utmem_put(b, gone_b, "x", 1, "y", 1), -EBADF);
	assert_int_equal(utmem_get(b, q, "x", 1, buf, sizeof(buf), 0), 1);
	utmem_close(b);
}

static void test_no_reconnect(void **state)
{
	struct fake_fixture *fx = *state;
	struct utmem_options opt = {.no_reconnect = 1};
	utmem_client *c;
	uint32_t h;

	assert_int_equal(utmem_connect(fx->srv.addr, &opt, &c), 0);
	assert_int_equal(utmem_pool_open(c, "p1", 0, &h), 0);
	assert_int_equal(utmem_put(c, h, "!close", 6, "x", 1), -ECONNRESET);
	assert_int_equal(utmem_ping(c), -ENOTCONN);
	utmem_close(c);
}

static void test_timeout_bounded(void **state)
{
	struct fake_fixture *fx = *state;
	struct utmem_options opt = {.timeout_ms = 300};
	utmem_client *c;
	uint32_t h;
	int64_t t0, dt;

	assert_int_equal(utmem_connect(fx->srv.addr, &opt, &c), 0);
	assert_int_equal(utmem_pool_open(c, "p1", 0, &h), 0);
	t0 = ms_now();
	assert_int_equal(utmem_put(c, h, "!hang", 5, "x", 1), -ETIMEDOUT);
	dt = ms_now() - t0;
	assert_true(dt >= 250);
	assert_true(dt < 2000);
	/* The stream was out of sync, so the next call uses a new connection. */
	assert_int_equal(utmem_put(c, h, "after", 5, "x", 1), 0);
	utmem_close(c);
}

/* The daemon closes while a large batch is being sent: no SIGPIPE. */
static void test_peer_closes_while_sending(void **state)
{
	struct fake_fixture *fx = *state;
	enum { N = 8, SZ = 1u << 20 };
	uint8_t *val = calloc(1, SZ);
	utmem_batch *b;
	int rc;

	assert_non_null(val);
	assert_int_equal(utmem_batch_new(fx->c, &b), 0);
	utmem_batch_put(b, fx->pool, "!drop", 5, "x", 1);
	for (int i = 0; i < N; i++)
		utmem_batch_put(b, fx->pool, "k", 1, val, SZ);
	rc = utmem_batch_exec(b);
	assert_true(rc == -EPIPE || rc == -ECONNRESET);
	for (int i = 0; i <= N; i++)
		assert_int_equal(utmem_batch_result(b, (size_t)i), -ECONNRESET);
	rc = utmem_batch_exec(b); /* reconnects, then !drop again */
	assert_true(rc == -EPIPE || rc == -ECONNRESET);
	utmem_batch_free(b);
	assert_int_equal(utmem_ping(fx->c), 0);
	free(val);
}

static void *hammer(void *arg)
{
	struct fake_fixture *fx = arg;
	char key[32], buf[32];
	uintptr_t bad = 0;

	for (int i = 0; i < 300; i++) {
		int n = snprintf(key, sizeof(key), "t%lx-%d",
				 (unsigned long)pthread_self() % 100000, i);

		if (utmem_put(fx->c, fx->pool, key, (size_t)n, key, (size_t)n) ||
		    utmem_get(fx->c, fx->pool, key, (size_t)n, buf, sizeof(buf),
			      UTMEM_GET_EXCLUSIVE) != n ||
		    memcmp(buf, key, (size_t)n) != 0)
			bad++;
	}
	return (void *)bad;
}

static void test_threads_share_client(void **state)
{
	struct fake_fixture *fx = *state;
	pthread_t t[4];

	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, fx), 0);
	for (int i = 0; i < 4; i++) {
		void *bad;

		pthread_join(t[i], &bad);
		assert_null(bad);
	}
}

static void test_strerror_version(void **state)
{
	assert_string_equal(utmem_version(), UTMEM_VERSION_STRING);
	assert_string_equal(utmem_strerror(-EDQUOT), "tenant quota exceeded");
	assert_string_equal(utmem_strerror(-ENOSPC), "host pool capacity exhausted");
	assert_string_equal(utmem_strerror(-EBADF), "bad pool handle");
	assert_string_equal(utmem_strerror(EMSGSIZE),
			    "key or value larger than the daemon accepts");
	assert_string_equal(utmem_strerror(-EINVAL), "Invalid argument");
	assert_string_equal(utmem_strerror(0), "success");
	assert_non_null(utmem_strerror(-99999));
	(void)state;
}

/* Child pid exited with status 0. */
static void assert_child_ok(pid_t pid)
{
	int st = -1;

	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/*
 * fork(): a child's calls on an inherited client go on a connection of
 * its own (the fake sees a second one), never on the parent's, and the
 * child's utmem_close() leaves the parent's hazard word alone: a
 * one-sided read of the parent may be pinning a record right then. The
 * value region is stood in for by a shared page whose first word is the
 * hazard word, set as a reading parent would have it.
 */
static void test_fork_child_leaves_parent(void **state)
{
	struct fake_fixture *fx = *state;
	struct uclient_region *g = calloc(1, sizeof(*g));
	uint64_t *page;
	pid_t pid;

	assert_non_null(g);
	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		    -1, 0);
	assert_true(page != MAP_FAILED);
	g->base = (uint8_t *)page;
	g->size = 4096;
	g->hazard = page;
	__atomic_store_n(page, 4242, __ATOMIC_SEQ_CST);
	fx->c->region = g; /* freed by the parent's utmem_close */
	assert_int_equal(connections(&fx->srv), 1);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int ok = utmem_ping(fx->c) == 0 && utmem_ping(fx->c) == 0;

		utmem_close(fx->c);
		_exit(ok ? 0 : 1);
	}
	assert_child_ok(pid);
	assert_int_equal(__atomic_load_n(page, __ATOMIC_SEQ_CST), 4242);
	assert_int_equal(connections(&fx->srv), 2);
	/* The parent is still on its first connection. */
	assert_int_equal(utmem_ping(fx->c), 0);
	assert_int_equal(connections(&fx->srv), 2);
	__atomic_store_n(page, 0, __ATOMIC_SEQ_CST); /* its read is over */
}

/*
 * fork(): the first call a child makes on an inherited client takes it
 * over, whatever the call and however early it returns. Each case runs
 * in a child of its own: its first call is the one named, and right
 * after it the client must be the child's (no inherited connection
 * left). utmem_reap() on a client that never made an asynchronous
 * request and utmem_submit_get() with UTMEM_ASYNC_MAX outstanding once
 * returned before checking, leaving the parent's socket, event
 * descriptor and requests in the child's hands until some later call.
 */
static int taken_over(const struct utmem_client *c)
{
	return c->forks == uclient_forks;
}

static int first_reap(struct fake_fixture *fx)
{
	return utmem_reap(fx->c, NULL, 0) == 0;
}

static int first_submit_full(struct fake_fixture *fx)
{
	struct utmem_completion *out = calloc(UTMEM_ASYNC_MAX, sizeof(*out));
	int ok = out && utmem_submit_get(fx->c, fx->pool, "k", 1, 0, 0) == -EAGAIN &&
		 taken_over(fx->c) && fx->c->fd < 0;

	/* The parent's requests completed here, each with the link error. */
	ok = ok && utmem_reap(fx->c, out, UTMEM_ASYNC_MAX) == UTMEM_ASYNC_MAX;
	for (unsigned i = 0; ok && i < UTMEM_ASYNC_MAX; i++)
		ok = out[i].result == -ECONNRESET;
	free(out);
	return ok;
}

static int first_outstanding(struct fake_fixture *fx)
{
	return utmem_async_outstanding(fx->c) >= 0;
}

static int first_flush(struct fake_fixture *fx)
{
	return utmem_flush(fx->c) == 0;
}

static int first_sync(struct fake_fixture *fx)
{
	return utmem_sync(fx->c) == 0;
}

static int first_ping(struct fake_fixture *fx)
{
	return utmem_ping(fx->c) == 0;
}

static void fork_first_call(struct fake_fixture *fx,
			    int (*call)(struct fake_fixture *), int then_fd,
			    const char *name)
{
	pid_t pid;

	print_message("first call in the child: %s\n", name);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int ok = call(fx) && taken_over(fx->c);

		/* A call that connects is on a connection of its own; one
		 * that does not has left the inherited one all the same. */
		if (ok && then_fd)
			ok = fx->c->fd >= 0;
		else if (ok)
			ok = fx->c->fd < 0;
		_exit(ok ? 0 : 1);
	}
	assert_child_ok(pid);
}

static void test_fork_first_call_takes_over(void **state)
{
	struct fake_fixture *fx = *state;

	fork_first_call(fx, first_reap, 0, "utmem_reap, no asynchronous state");
	fork_first_call(fx, first_outstanding, 0, "utmem_async_outstanding");
	fork_first_call(fx, first_flush, 0, "utmem_flush");
	fork_first_call(fx, first_sync, 0, "utmem_sync");
	fork_first_call(fx, first_ping, 1, "utmem_ping");
	for (unsigned i = 0; i < UTMEM_ASYNC_MAX; i++)
		assert_int_equal(utmem_submit_get(fx->c, fx->pool, "!hang", 5, 0,
						  i), 0);
	fork_first_call(fx, first_submit_full, 0,
			"utmem_submit_get, UTMEM_ASYNC_MAX outstanding");
	/* The parent's client is as it was: its requests still outstanding. */
	assert_int_equal(utmem_async_outstanding(fx->c), UTMEM_ASYNC_MAX);
	assert_int_equal(utmem_ping(fx->c), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addresses_malformed),
		cmocka_unit_test(test_addresses_parse),
		cmocka_unit_test(test_addresses_tcp_port),
		cmocka_unit_test(test_vport_missing),
		cmocka_unit_test(test_vsock_connect_fails_cleanly),
		cmocka_unit_test(test_connect_missing_socket),
		cmocka_unit_test(test_tcp_token),
		cmocka_unit_test(test_hello_refused_version),
		cmocka_unit_test(test_hello_timeout),
		cmocka_unit_test(test_strerror_version),
		cmocka_unit_test(test_fast_candidate_sync_get),
#define T(f) cmocka_unit_test_setup_teardown(f, fake_fixture_setup, \
					     fake_fixture_teardown)
		T(test_hello_limits),
		T(test_pool_open),
		T(test_put_get_encoding),
		T(test_enobufs_keeps_value),
		T(test_get_alloc),
		T(test_invalidate_flush_destroy),
		T(test_status_mapping),
		T(test_put_too_big_invalidates),
		T(test_stats),
		T(test_server_info),
		T(test_batch_many),
		T(test_batch_refused_queue),
		T(test_batch_exec_again),
		T(test_batch_big_values),
		T(test_close_mid_reply_reconnects),
		T(test_idle_hangup_is_transparent),
		T(test_reconnect_reopens_pools),
		T(test_no_reconnect),
		T(test_timeout_bounded),
		T(test_peer_closes_while_sending),
		T(test_threads_share_client),
		T(test_fork_child_leaves_parent),
		T(test_fork_first_call_takes_over),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

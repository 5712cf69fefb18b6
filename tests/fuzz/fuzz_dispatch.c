/*
 * fuzz_dispatch.c — libFuzzer target for whole request handling: bytes a
 * hostile client sends go through utmemd's real event loop (loop.c, out.c,
 * limits.c), request checks and handlers (tenant_ops.c) into a real store,
 * over a real socket pair, as one worker would serve them.
 *
 * Input: byte 0 picks the connection's kind (a tenant's Unix socket, or
 * TCP before HELLO, whose valid token is "fuzz-token"), byte 1 the
 * client's behaviour (bit i: read the replies after chunk i, or let them
 * pile up), then (u16 length, bytes) chunks, each written to the socket
 * and followed by one pass of the loop. The store is fresh for every input
 * (16 MiB, 1 MiB values, pools charged), with one pool of another tenant
 * and one shared pool granted without the manage right, so cross-tenant
 * and shared paths are reachable.
 *
 * Invariants checked after each input, besides ASan/UBSan's: the loop
 * closes the connection when the client hangs up; then everything it held
 * was given back (the tenant's in-flight charge and connection count are
 * 0), the other tenant's value is intact, and the shared pool still exists.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/daemon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Defined in main.c, which is not linked: what the loop calls of it. */
void ud_on_signal(struct ud_daemon *d)
{
	(void)d;
}

void ud_notify_ready(struct ud_daemon *d)
{
	(void)d;
}

void ud_notify_reloading(void)
{
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN); /* as utmemd's main() does */
	atomic_store(&ud_log_level, UADM_LOG_ERROR); /* quiet */
	return 0;
}

/* Read and drop whatever the daemon sent (non-blocking). */
static void drain(int fd)
{
	char buf[65536];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

/* Write all of p, draining our side whenever the socket is full. */
static void feed(struct ud_loop *l, int fd, const uint8_t *p, size_t n)
{
	int stuck = 0;

	while (n && stuck < 64) {
		ssize_t w = send(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			stuck = 0;
			continue;
		}
		if (w < 0 && errno != EAGAIN)
			return; /* the daemon hung up on us */
		/* Full: let the daemon read, and take its replies. */
		ud_loop_once(l, 0);
		drain(fd);
		stuck++;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct ust_config sc = {.capacity = 16u << 20, .max_key = 1024,
				.max_value = 1u << 20, .shards = 16,
				.flags = UST_CFG_CHARGE_POOLS};
	struct ud_daemon *d = calloc(1, sizeof(*d));
	struct ud_tenant *t = calloc(1, sizeof(*t));
	struct ud_loop l;
	uint32_t other, op, sp, fid;
	int sv[2], tcp, readmask, chunk = 0;
	char val[64];
	size_t vlen = 0;

	assert(d && t);
	if (len < 2 || ust_store_new(&sc, &d->st) != 0)
		goto out_free;
	tcp = data[0] & 1;
	readmask = data[1];
	data += 2;
	len -= 2;
	d->lim.max_key = 1024;
	d->lim.max_value = 1u << 20;
	d->max_unauth = 64;
	pthread_mutex_init(&d->lock, NULL);
	atomic_store(&d->idle_ns, 60000000000ull);
	assert(ust_tenant_add(d->st, "fuzz", &(struct ust_limits){0, 8u << 20, 1},
			      &fid) == 0);
	assert(ust_tenant_set_max_pools(d->st, fid, 16) == 0);
	snprintf(t->name, sizeof(t->name), "fuzz");
	snprintf(t->token, sizeof(t->token), "fuzz-token");
	t->id = fid;
	atomic_store(&t->inflight_max, 2u << 20);
	atomic_store(&t->conn_limit, 4);
	d->tenants = t;
	/* Someone else's pool with a value, and a shared pool. */
	assert(ust_tenant_add(d->st, "other", &(struct ust_limits){0, 1u << 20, 1},
			      &other) == 0);
	assert(ust_pool_open(d->st, other, "p", 0, UST_OPEN_CREATE, &op) == 0);
	assert(ust_put(d->st, other, op, "k", 1, "other's value", 13) == 0);
	assert(ust_shared_pool_create(d->st, "sh", 0, &sp) == 0);
	assert(ust_pool_grant(d->st, sp, fid) == 0);
	assert(ud_loop_init(d, &l, 1) == 0);
	assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	/* As ud_admit would have counted it. */
	if (tcp)
		atomic_fetch_add(&d->unauth, 1);
	else
		atomic_fetch_add(&t->conns, 1);
	assert(ud_conn_start(&l, sv[0], 0, tcp, tcp ? NULL : t) == 0);

	while (len >= 2) {
		size_t n = (size_t)data[0] | (size_t)data[1] << 8;

		data += 2;
		len -= 2;
		if (n > len)
			n = len;
		feed(&l, sv[1], data, n);
		data += n;
		len -= n;
		ud_loop_once(&l, 0);
		if (readmask & (1 << (chunk++ % 8)))
			drain(sv[1]);
		ud_loop_once(&l, 0);
	}
	/* The client leaves: the daemon must close and give everything back. */
	close(sv[1]);
	for (int i = 0; i < 8 && l.nconns; i++)
		ud_loop_once(&l, 0);
	assert(l.nconns == 0);
	ud_loop_fini(&l);
	assert(atomic_load(&t->inflight) == 0);
	assert(atomic_load(&t->conns) == 0);
	assert(atomic_load(&d->unauth) == 0);
	assert(ust_get_buf(d->st, other, op, "k", 1, 0, val, sizeof(val), &vlen) == 0 &&
	       vlen == 13 && memcmp(val, "other's value", 13) == 0);
	assert(ust_pool_flush(d->st, UST_TENANT_ADMIN, sp) == 0);
	ust_store_free(d->st);
	pthread_mutex_destroy(&d->lock);
	ud_authfail_fini(d);
out_free:
	free(t);
	free(d);
	return 0;
}

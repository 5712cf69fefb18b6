/*
 * fuzz_ring.c — libFuzzer target for the shared-memory ring as a hostile
 * client drives it: a real utmemd worker thread (ud_worker_main) serves a
 * ring set up over a real socket pair with RING_SETUP, while this thread,
 * as the client, writes the shared region, concurrently, as the input
 * says: well-formed frames through the ring's own producer, arbitrary
 * bytes anywhere in the region, arbitrary indices and sleep flags,
 * doorbells, reads of the replies, pauses that let the worker run.
 *
 * The region is treated as a byte stream and a header whose fields are
 * named by src/transport/ring.h (struct uring_shm, uring_end_init and the
 * producer/consumer helpers), never by hard-coded offsets, so a change of
 * the header's layout needs at most the setup handshake here to follow.
 * The worker must never crash, hang or touch memory it should not
 * (ASan/UBSan); a bad index must close the connection; when the client
 * leaves, everything the connection held is given back (the tenant's
 * in-flight charge and connection count are 0 again).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "transport/ring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Defined in main.c, which is not linked: what the loops call of it. */
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
	atomic_store(&ud_log_level, UADM_LOG_ERROR);
	return 0;
}

/* The client's view of its ring. */
struct client {
	int sock, bell_daemon, bell_client;
	struct uring_map map;
	struct uring_end tx; /* client -> daemon: we produce */
	struct uring_end rx; /* daemon -> client: we consume */
};

/*
 * RING_SETUP over the socket, as libutmem does it: the reply carries the
 * setup record and, on its first byte, the region's memfd, the daemon's
 * doorbell and ours (and a value region's memfd, closed here). Returns 0.
 */
static int ring_setup(struct client *cl)
{
	uint8_t buf[UWIRE_HDR_SIZE + URING_SETUP_SIZE];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * URING_SETUP_NFDS)];
	} ctl;
	struct uwire_hdr h = {.version = UWIRE_VERSION,
			      .opcode = UWIRE_OP_RING_SETUP, .id = 1};
	struct iovec iov = {buf, sizeof(buf)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b)};
	struct uwire_limits lim = {UWIRE_KEY_CEILING, UWIRE_VALUE_CEILING};
	struct uring_setup setup;
	int fds[URING_SETUP_NFDS], nfds = 0;
	size_t got = 0;

	uwire_hdr_encode(&h, buf);
	if (send(cl->sock, buf, UWIRE_HDR_SIZE, MSG_NOSIGNAL) != UWIRE_HDR_SIZE)
		return -1;
	while (got < sizeof(buf)) {
		ssize_t n;

		iov.iov_base = buf + got;
		iov.iov_len = sizeof(buf) - got;
		msg.msg_controllen = got ? 0 : sizeof(ctl.b);
		n = recvmsg(cl->sock, &msg, MSG_CMSG_CLOEXEC);
		if (n <= 0)
			return -1;
		for (struct cmsghdr *cm = got ? NULL : CMSG_FIRSTHDR(&msg); cm;
		     cm = CMSG_NXTHDR(&msg, cm)) {
			size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < k && nfds < URING_SETUP_NFDS; i++)
				memcpy(&fds[nfds++], CMSG_DATA(cm) + i * sizeof(int),
				       sizeof(int));
		}
		got += (size_t)n;
		if (got >= UWIRE_HDR_SIZE) {
			if (uwire_hdr_decode(buf, &lim, &h) < 0 || h.status)
				return -1;
			if (h.vlen != URING_SETUP_SIZE)
				return -1;
		}
	}
	if (nfds < 3 || uring_setup_decode(buf + UWIRE_HDR_SIZE, URING_SETUP_SIZE,
					   &setup) < 0 ||
	    uring_map_fd(fds[0], setup.size, &cl->map) < 0)
		return -1;
	close(fds[0]);
	for (int i = 3; i < nfds; i++)
		close(fds[i]);
	cl->bell_daemon = fds[1];
	cl->bell_client = fds[2];
	uring_end_init(&cl->tx, &cl->map, URING_TO_DAEMON);
	uring_end_init(&cl->rx, &cl->map, URING_TO_CLIENT);
	return 0;
}

/* Ring the daemon's doorbell (it may be asleep in epoll). */
static void kick(struct client *cl)
{
	uint64_t one = 1;

	if (write(cl->bell_daemon, &one, sizeof(one)) < 0)
		(void)errno;
}

/* Take the input's next n bytes (fewer at its end). */
static const uint8_t *take(const uint8_t **data, size_t *len, size_t n, size_t *got)
{
	const uint8_t *p = *data;

	*got = n < *len ? n : *len;
	*data += *got;
	*len -= *got;
	return p;
}

/* Produce a well-formed frame (op, key and value from the input). */
static void put_frame(struct client *cl, const uint8_t **data, size_t *len)
{
	uint8_t frame[UWIRE_HDR_SIZE + 64 + 256];
	size_t klen, vlen, got;
	const uint8_t *p;
	struct uwire_hdr h = {.version = UWIRE_VERSION};
	int64_t room;

	p = take(data, len, 4, &got);
	if (got < 4)
		return;
	h.opcode = (uint8_t)(1 + p[0] % UWIRE_OP_RING_SETUP);
	h.flags = (uint16_t)(p[1] & 0x7) << 8;
	h.pool = p[2] % 4;
	klen = p[3] % 64;
	vlen = h.opcode == UWIRE_OP_PUT ? (size_t)p[3] : 0;
	p = take(data, len, klen + vlen, &got);
	if (got < klen + vlen)
		return;
	h.klen = (uint32_t)klen;
	h.vlen = (uint32_t)vlen;
	h.id = (uint64_t)(uintptr_t)p;
	uwire_hdr_encode(&h, frame);
	memcpy(frame + UWIRE_HDR_SIZE, p, klen + vlen);
	room = uring_room(&cl->tx);
	if (room < (int64_t)(UWIRE_HDR_SIZE + klen + vlen))
		return;
	memcpy(uring_wptr(&cl->tx), frame, UWIRE_HDR_SIZE + klen + vlen);
	uring_produce(&cl->tx, UWIRE_HDR_SIZE + klen + vlen);
}

/* Consume whatever the daemon wrote to us (skipping it). */
static void take_replies(struct client *cl)
{
	int64_t n = uring_avail(&cl->rx);

	if (n > 0)
		uring_consume(&cl->rx, (uint64_t)n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct ust_config sc = {.capacity = 16u << 20, .max_key = 1024,
				.max_value = 1u << 20, .shards = 16,
				.flags = UST_CFG_CHARGE_POOLS};
	struct ud_daemon *d = calloc(1, sizeof(*d));
	struct ud_tenant *t = calloc(1, sizeof(*t));
	struct ud_loop *l = calloc(1, sizeof(*l));
	struct client cl = {.sock = -1, .bell_daemon = -1, .bell_client = -1};
	struct ud_handoff rec = {-1, 0, NULL};
	uint64_t region;
	uint32_t fid;
	int sv[2];

	assert(d && t && l);
	assert(ust_store_new(&sc, &d->st) == 0);
	d->lim.max_key = 1024;
	d->lim.max_value = 1u << 20;
	d->ring_size = URING_SIZE_MIN;
	d->ring_spin_us = 20;
	d->big_in_limit = 64u << 20;
	pthread_mutex_init(&d->lock, NULL);
	assert(ust_tenant_add(d->st, "fuzz", &(struct ust_limits){0, 8u << 20, 1},
			      &fid) == 0);
	snprintf(t->name, sizeof(t->name), "fuzz");
	t->id = fid;
	atomic_store(&t->inflight_max, 2u << 20);
	atomic_store(&t->conn_limit, 4);
	atomic_fetch_add(&t->conns, 1); /* as ud_admit would have */
	d->tenants = t;
	assert(ud_loop_init(d, l, 1) == 0);
	assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	cl.sock = sv[1];
	/* The worker owns the connection from the start (hand-off pipe). */
	assert(pthread_create(&l->thread, NULL, ud_worker_main, l) == 0);
	rec = (struct ud_handoff){sv[0], 0, t};
	assert(write(l->handoff[1], &rec, sizeof(rec)) == sizeof(rec));
	if (ring_setup(&cl) < 0)
		goto stop;
	region = uring_region_bytes(cl.map.size);

	while (len > 0) {
		size_t got;
		const uint8_t *p = take(&data, &len, 1, &got);
		uint8_t op = p[0];
		uint64_t v = 0;

		switch (op % 8) {
		case 0: /* a well-formed frame, then the doorbell */
			put_frame(&cl, &data, &len);
			kick(&cl);
			break;
		case 1: /* arbitrary bytes anywhere in the region */
			p = take(&data, &len, 3, &got);
			if (got == 3) {
				uint64_t off = ((uint64_t)p[0] << 8 | p[1]) * 37u % region;
				size_t n = p[2] % 16 + 1;

				p = take(&data, &len, n, &got);
				if (off < URING_HDR_SIZE)
					memcpy((uint8_t *)cl.map.shm + off, p,
					       got < URING_HDR_SIZE - off ? got
									  : URING_HDR_SIZE - off);
				else
					memcpy(cl.map.data[(off - URING_HDR_SIZE) / cl.map.size] +
						       (off - URING_HDR_SIZE) % cl.map.size,
					       p, got);
			}
			break;
		case 2: /* an arbitrary tail for the ring the daemon reads */
		case 3: /* an arbitrary head for the ring the daemon writes */
			p = take(&data, &len, 8, &got);
			memcpy(&v, p, got);
			if (op % 8 == 2)
				v = (op & 0x80) ? *cl.tx.tail + v % 256 : v;
			__atomic_store_n(op % 8 == 2 ? cl.tx.tail : cl.rx.head, v,
					 __ATOMIC_RELEASE);
			kick(&cl);
			break;
		case 4: /* read the replies, as a client should */
			take_replies(&cl);
			kick(&cl);
			break;
		case 5: /* the sleeping flags, any value */
			p = take(&data, &len, 2, &got);
			if (got == 2) {
				__atomic_store_n(&cl.map.shm->client_sleeping, p[0], __ATOMIC_RELEASE);
				__atomic_store_n(&cl.map.shm->daemon_sleeping, p[1], __ATOMIC_RELEASE);
			}
			kick(&cl);
			break;
		case 6: /* let the worker run */
			if (op & 0x80)
				usleep(op & 0x3f);
			else
				sched_yield();
			break;
		case 7: { /* a PING on the socket too: both halves at once */
			uint8_t ping[UWIRE_HDR_SIZE];
			struct uwire_hdr h = {.version = UWIRE_VERSION,
					      .opcode = UWIRE_OP_PING, .id = 7};

			uwire_hdr_encode(&h, ping);
			if (send(cl.sock, ping, sizeof(ping), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
				(void)errno;
			break;
		}
		}
	}
stop:
	/* The client leaves; the worker closes both halves, then stops. */
	close(cl.sock);
	if (cl.bell_daemon >= 0)
		close(cl.bell_daemon);
	if (cl.bell_client >= 0)
		close(cl.bell_client);
	if (cl.map.base)
		uring_unmap(&cl.map);
	rec = (struct ud_handoff){-1, 0, NULL};
	assert(write(l->handoff[1], &rec, sizeof(rec)) == sizeof(rec));
	pthread_join(l->thread, NULL);
	ud_loop_fini(l);
	assert(atomic_load(&t->inflight) == 0);
	assert(atomic_load(&t->conns) == 0);
	assert(atomic_load(&d->big_in) == 0);
	ust_store_free(d->st);
	pthread_mutex_destroy(&d->lock);
	free(l);
	free(t);
	free(d);
	return 0;
}

/*
 * rawring.c — a ring client that does not cooperate (rawring.h): the
 * HELLO and RING_SETUP exchange by hand on a unix socket, then frames and
 * indices written straight into the shared memory through the helpers of
 * src/transport/ring.h. It stands alone (its own socket and clock
 * helpers), so that every test executable can take it.
 */
#include "rawring.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Poll interval while waiting on the ring (it has no reply socket). */
#define RAW_POLL_US 50
/* The largest reply value read here: HELLO's and RING_SETUP's fit. */
#define RAW_VAL_MAX 64u

_Static_assert(UWIRE_HELLO_SIZE <= RAW_VAL_MAX && URING_SETUP_SIZE <= RAW_VAL_MAX,
	       "the replies read here fit RAW_VAL_MAX");

/* CLOCK_MONOTONIC in microseconds (the callers' since_us). */
static uint64_t raw_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Connect to the unix socket at PATH or unix:PATH. fd or -1. */
static int raw_dial(const char *sock)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *path = strncmp(sock, "unix:", 5) == 0 ? sock + 5 : sock;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Send a request with no key and no value. 0 or -1. */
static int raw_send(int fd, unsigned op, uint64_t id)
{
	struct uwire_hdr h = {.version = UWIRE_VERSION, .opcode = (uint8_t)op,
			      .id = id};
	uint8_t b[UWIRE_HDR_SIZE];

	uwire_hdr_encode(&h, b);
	return send(fd, b, sizeof(b), MSG_NOSIGNAL) == (ssize_t)sizeof(b) ? 0 : -1;
}

/*
 * Receive one reply within 5 s: its header, its value (at most
 * RAW_VAL_MAX bytes, of which cap are kept in val) and the descriptors
 * riding on it (the first URING_SETUP_NFDS in fds, any more closed).
 */
static int raw_recv(int fd, struct uwire_hdr *h, uint8_t *val, size_t cap,
		    int *fds, int *nfds)
{
	struct uwire_limits lim = {UWIRE_KEY_CEILING, UWIRE_VALUE_CEILING};
	uint8_t b[UWIRE_HDR_SIZE + RAW_VAL_MAX];
	size_t got = 0, need = UWIRE_HDR_SIZE;

	*nfds = 0;
	while (got < need) {
		union {
			struct cmsghdr c;
			char b[CMSG_SPACE(sizeof(int) * URING_SETUP_NFDS)];
		} ctl;
		struct iovec iov = {b + got, need - got};
		struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = ctl.b,
				     .msg_controllen = sizeof(ctl.b)};
		struct pollfd pfd = {fd, POLLIN, 0};
		ssize_t n;

		if (poll(&pfd, 1, 5000) <= 0)
			return -1;
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
		if (n <= 0)
			return -1;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c;
		     c = CMSG_NXTHDR(&msg, c)) {
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < k; i++) {
				int one;

				memcpy(&one, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (*nfds < URING_SETUP_NFDS)
					fds[(*nfds)++] = one;
				else
					close(one);
			}
		}
		got += (size_t)n;
		if (need == UWIRE_HDR_SIZE && got >= UWIRE_HDR_SIZE) {
			if (uwire_hdr_decode(b, &lim, h) < 0 || h->klen ||
			    h->vlen > RAW_VAL_MAX)
				return -1;
			need += h->vlen;
		}
	}
	memcpy(val, b + UWIRE_HDR_SIZE, h->vlen < cap ? h->vlen : cap);
	return 0;
}

/* Close the n descriptors of fds. */
static void close_all(const int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

int rawring_open(const char *sock, struct rawring *r)
{
	struct uwire_hdr h;
	struct uring_setup setup;
	uint8_t val[URING_SETUP_SIZE];
	int fds[URING_SETUP_NFDS], nfds = 0, st;

	memset(r, 0, sizeof(*r));
	r->bell = r->pipe = r->region_fd = -1;
	r->fd = raw_dial(sock);
	if (r->fd < 0)
		return -1;
	/* A connection over the tenant's limit is answered on id 0 at accept
	 * and closed: our HELLO may find it gone, its refusal is still there. */
	(void)raw_send(r->fd, UWIRE_OP_HELLO, 1);
	if (raw_recv(r->fd, &h, val, 0, fds, &nfds) < 0)
		goto fail;
	close_all(fds, nfds);
	st = h.status;
	if (st)
		goto refused;
	if (raw_send(r->fd, UWIRE_OP_RING_SETUP, 2) < 0 ||
	    raw_recv(r->fd, &h, val, sizeof(val), fds, &nfds) < 0)
		goto fail;
	st = h.status;
	if (st) {
		close_all(fds, nfds);
		return st; /* the socket stays usable */
	}
	if (uring_setup_decode(val, h.vlen, &setup) < 0 ||
	    nfds != 3 + !!(setup.flags & URING_SETUP_LIVE) + !!setup.region_size ||
	    uring_map_fd(fds[0], setup.size, &r->m) < 0) {
		close_all(fds, nfds);
		goto fail;
	}
	close(fds[0]);
	if (setup.flags & URING_SETUP_LIVE)
		close(fds[3]); /* the liveness page: not needed here */
	r->bell = fds[1];
	r->pipe = fds[2];
	if (setup.region_size) {
		r->region_fd = fds[nfds - 1];
		r->region_size = setup.region_size;
	}
	uring_end_init(&r->tx, &r->m, URING_TO_DAEMON);
	uring_end_init(&r->rx, &r->m, URING_TO_CLIENT);
	return 0;
refused:
	close(r->fd);
	r->fd = -1;
	return st;
fail:
	close(r->fd);
	r->fd = -1;
	return -1;
}

void rawring_close(struct rawring *r)
{
	if (r->m.base)
		uring_unmap(&r->m);
	if (r->bell >= 0)
		close(r->bell);
	if (r->pipe >= 0)
		close(r->pipe);
	if (r->region_fd >= 0)
		close(r->region_fd);
	if (r->fd >= 0)
		close(r->fd);
	memset(r, 0, sizeof(*r));
	r->fd = r->bell = r->pipe = r->region_fd = -1;
}

void rawring_kick(struct rawring *r)
{
	uint64_t one = 1;

	if (write(r->bell, &one, sizeof(one)) < 0)
		perror("rawring: kick");
}

void rawring_poke(struct rawring *r, uint64_t at, const void *p, size_t n,
		  uint64_t tail)
{
	/* The data area is mapped twice: any run up to its size is contiguous. */
	memcpy(r->m.data[URING_TO_DAEMON] + (at & (r->m.size - 1)), p, n);
	__atomic_store_n(&r->m.shm->ring[URING_TO_DAEMON].tail, tail,
			 __ATOMIC_RELEASE);
	rawring_kick(r);
}

int rawring_write(struct rawring *r, const void *p, size_t n, int ms)
{
	const uint8_t *b = p;
	uint64_t end = raw_now_us() + (uint64_t)ms * 1000u;

	while (n) {
		int64_t room = uring_room(&r->tx);
		size_t k = n;

		if (room < 0)
			return -1;
		if ((uint64_t)room < k)
			k = (size_t)room;
		if (k == 0) {
			if (raw_now_us() >= end)
				return -1;
			rawring_kick(r);
			usleep(RAW_POLL_US);
			continue;
		}
		memcpy(uring_wptr(&r->tx), b, k);
		uring_produce(&r->tx, k);
		b += k;
		n -= k;
	}
	rawring_kick(r);
	return 0;
}

int rawring_part(struct rawring *r, unsigned op, unsigned flags, uint64_t id,
		 uint32_t pool, const void *key, uint32_t klen,
		 const void *val, uint32_t vlen, uint32_t part, int ms)
{
	struct uwire_hdr h = {.version = UWIRE_VERSION, .opcode = (uint8_t)op,
			      .flags = (uint16_t)flags, .id = id, .pool = pool,
			      .klen = klen, .vlen = vlen};
	uint8_t hdr[UWIRE_HDR_SIZE];

	uwire_hdr_encode(&h, hdr);
	r->sent++;
	if (rawring_write(r, hdr, sizeof(hdr), ms) < 0 ||
	    (klen && rawring_write(r, key, klen, ms) < 0) ||
	    (part && val && rawring_write(r, val, part, ms) < 0))
		return -1;
	return 0;
}

int rawring_frame(struct rawring *r, unsigned op, unsigned flags, uint64_t id,
		  uint32_t pool, const void *key, uint32_t klen,
		  const void *val, uint32_t vlen)
{
	return rawring_part(r, op, flags, id, pool, key, klen, val, vlen, vlen,
			    5000);
}

int rawring_reply(struct rawring *r, struct uwire_hdr *h, int ms)
{
	struct uwire_limits lim = {UWIRE_KEY_CEILING, UWIRE_VALUE_CEILING};
	uint8_t b[UWIRE_HDR_SIZE];
	uint64_t end = raw_now_us() + (uint64_t)ms * 1000u;
	int64_t avail;

	while ((avail = uring_avail(&r->rx)) < (int64_t)sizeof(b)) {
		if (avail < 0 || raw_now_us() >= end)
			return -1;
		usleep(RAW_POLL_US);
	}
	memcpy(b, uring_rptr(&r->rx), sizeof(b));
	uring_consume(&r->rx, sizeof(b));
	if (uwire_hdr_decode(b, &lim, h) < 0 || h->klen || h->vlen)
		return -1;
	return h->status;
}

int rawring_peek(struct rawring *r, uint64_t off, struct uwire_hdr *h)
{
	struct uwire_limits lim = {UWIRE_KEY_CEILING, UWIRE_VALUE_CEILING};
	int64_t avail = uring_avail(&r->rx);

	/* The data area is mapped twice: any run up to its size is contiguous. */
	if (avail < 0 || off + UWIRE_HDR_SIZE > (uint64_t)avail)
		return -1;
	return uwire_hdr_decode(uring_rptr(&r->rx) + off, &lim, h) < 0 ? -1 : 0;
}

int64_t rawring_pending(struct rawring *r)
{
	return uring_avail(&r->rx);
}

uint64_t rawring_taken(struct rawring *r)
{
	return __atomic_load_n(r->tx.head, __ATOMIC_ACQUIRE);
}

int rawring_applied(struct rawring *r, uint64_t n, int ms)
{
	uint64_t end = raw_now_us() + (uint64_t)ms * 1000u;

	while (__atomic_load_n(&r->m.shm->applied, __ATOMIC_ACQUIRE) < n) {
		if (raw_now_us() >= end)
			return -1;
		rawring_kick(r);
		usleep(RAW_POLL_US);
	}
	return 0;
}

uint64_t rawring_credit(struct rawring *r)
{
	return __atomic_load_n(&r->m.shm->credit, __ATOMIC_ACQUIRE);
}

void rawring_slot(struct rawring *r, unsigned i, uint64_t *off, uint64_t *len,
		  uint32_t *gen)
{
	struct uring_stage *s = &r->m.shm->stage[i];

	/* utmemd writes off and len, then gen (release): gen first. */
	*gen = __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE);
	*off = __atomic_load_n(&s->off, __ATOMIC_RELAXED);
	*len = __atomic_load_n(&s->len, __ATOMIC_RELAXED);
}

/* Has the peer of fd hung up by now? Drains what is waiting there. */
static int hung_up(int fd)
{
	char buf[4096];
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		;
	return n == 0 || (errno != EAGAIN && errno != EINTR);
}

int rawring_closed(struct rawring *r, int ms)
{
	uint64_t end = raw_now_us() + (uint64_t)ms * 1000u;
	struct pollfd pfd = {r->fd, POLLIN, 0};

	/* utmemd closes right after what it says, and may be slow at it. */
	while (!hung_up(r->fd)) {
		uint64_t now = raw_now_us();

		if (now >= end)
			return 0;
		(void)poll(&pfd, 1, (int)((end - now) / 1000u) + 1);
	}
	return 1;
}

int rawring_wait_closed(struct rawring *r, int n, const uint64_t *since_us,
			int64_t *ms_to_close, int ms)
{
	uint64_t end = raw_now_us() + (uint64_t)ms * 1000u;
	int left = 0, closed = 0;

	for (int i = 0; i < n; i++) {
		ms_to_close[i] = -1;
		left += r[i].fd >= 0;
	}
	while (left && raw_now_us() < end) {
		for (int i = 0; i < n; i++) {
			if (r[i].fd < 0 || ms_to_close[i] >= 0 || !rawring_closed(&r[i], 0))
				continue;
			ms_to_close[i] = (int64_t)(raw_now_us() - since_us[i]) / 1000;
			left--;
			closed++;
		}
		usleep(10000);
	}
	return closed;
}

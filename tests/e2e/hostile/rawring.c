/*
 * rawring.c — a ring client that does not cooperate (rawring.h): the
 * RING_SETUP exchange by hand, then frames and indices written straight
 * into the shared memory through the helpers of src/transport/ring.h.
 */
#include "rawring.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hostile.h"

/* Poll interval while waiting on the ring (it has no reply socket). */
#define RAW_POLL_US 50

/*
 * Receive the RING_SETUP reply: its header, its value (the setup record,
 * at most cap bytes) and the descriptors riding on its first byte.
 */
static int recv_setup(int fd, struct uwire_hdr *h, uint8_t *val, size_t cap,
		      int *fds, int *nfds)
{
	struct uwire_limits lim = {UWIRE_KEY_CEILING, UWIRE_VALUE_CEILING};
	uint8_t b[UWIRE_HDR_SIZE + URING_SETUP_SIZE];
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
		if (got == UWIRE_HDR_SIZE && need == UWIRE_HDR_SIZE) {
			if (uwire_hdr_decode(b, &lim, h) < 0 || h->vlen > URING_SETUP_SIZE)
				return -1;
			need += h->vlen;
		}
	}
	memcpy(val, b + UWIRE_HDR_SIZE, h->vlen < cap ? h->vlen : cap);
	return 0;
}

int rawring_open(const char *sock, struct rawring *r)
{
	struct uwire_hdr h;
	struct uring_setup setup;
	uint8_t val[URING_SETUP_SIZE];
	int fds[URING_SETUP_NFDS], nfds = 0, st;

	memset(r, 0, sizeof(*r));
	r->bell = r->pipe = r->region_fd = -1;
	r->fd = dial(sock);
	if (r->fd < 0)
		return -1;
	/* A connection over the tenant's limit is answered on id 0 at accept
	 * and closed: our HELLO may find it gone, its refusal is still there. */
	(void)send_frame(r->fd, UWIRE_OP_HELLO, 0, 1, 0, NULL, 0, NULL, 0);
	st = read_reply(r->fd, &h, 5000);
	if (st < 0)
		goto fail;
	if (st)
		goto refused;
	if (send_frame(r->fd, UWIRE_OP_RING_SETUP, 0, 2, 0, NULL, 0, NULL, 0) < 0 ||
	    recv_setup(r->fd, &h, val, sizeof(val), fds, &nfds) < 0)
		goto fail;
	st = h.status;
	if (st) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		return st; /* the socket stays usable */
	}
	if (uring_setup_decode(val, h.vlen, &setup) < 0 ||
	    nfds != 3 + !!(setup.flags & URING_SETUP_LIVE) + !!setup.region_size ||
	    uring_map_fd(fds[0], setup.size, &r->m) < 0) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
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

	(void)!write(r->bell, &one, sizeof(one));
}

int rawring_write(struct rawring *r, const void *p, size_t n, int ms)
{
	const uint8_t *b = p;
	uint64_t end = now_us() + (uint64_t)ms * 1000u;

	while (n) {
		int64_t room = uring_room(&r->tx);
		size_t k = n;

		if (room < 0)
			return -1;
		if ((uint64_t)room < k)
			k = (size_t)room;
		if (k == 0) {
			if (now_us() >= end)
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
	uint64_t end = now_us() + (uint64_t)ms * 1000u;
	int64_t avail;

	while ((avail = uring_avail(&r->rx)) < (int64_t)sizeof(b)) {
		if (avail < 0 || now_us() >= end)
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
	uint64_t end = now_us() + (uint64_t)ms * 1000u;

	while (__atomic_load_n(&r->m.shm->applied, __ATOMIC_ACQUIRE) < n) {
		if (now_us() >= end)
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

int rawring_closed(struct rawring *r, int ms)
{
	return hung_up_within(r->fd, ms);
}

int rawring_wait_closed(struct rawring *r, int n, const uint64_t *since_us,
			int64_t *ms_to_close, int ms)
{
	uint64_t end = now_us() + (uint64_t)ms * 1000u;
	int left = 0, closed = 0;

	for (int i = 0; i < n; i++) {
		ms_to_close[i] = -1;
		left += r[i].fd >= 0;
	}
	while (left && now_us() < end) {
		for (int i = 0; i < n; i++) {
			if (r[i].fd < 0 || ms_to_close[i] >= 0 || !rawring_closed(&r[i], 0))
				continue;
			ms_to_close[i] = (int64_t)(now_us() - since_us[i]) / 1000;
			left--;
			closed++;
		}
		usleep(10000);
	}
	return closed;
}

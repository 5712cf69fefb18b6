/*
 * ring.c — libutmem's side of the shared-memory ring, set up on every
 * `unix:PATH` connection unless the fast path is turned off
 * (UTMEM_FAST_PATH=0, UTMEM_OPT_NO_FAST_PATH); `ring:PATH` is an alias.
 *
 * After HELLO on the Unix socket the client sends RING_SETUP and receives,
 * with the reply (SCM_RIGHTS), a sealed memfd, the daemon's doorbell (an
 * eventfd we write), the read end of our own doorbell (a pipe the daemon
 * writes), and the liveness page and the tenant's value region when the
 * daemon offers them (3 to 5 descriptors).
 * It maps the ring (src/transport/ring.h) and from then on sends request
 * frames into ring 0 and reads replies from ring 1; the socket stays open,
 * for frames larger than half a ring and so that either side learns at
 * once when the other is gone.
 *
 * Waiting for a reply spins for a short, adaptive time (the daemon usually
 * answers in a microsecond or two while it polls), then sleeps in poll() on
 * the doorbell AND the socket, bounded by the request timeout: a daemon
 * that dies while we wait shows as a hang-up on the socket, never a hang.
 * The spin bound is UTMEM_RING_SPIN_US from the environment (default 50,
 * 0 = never spin). After a wait shorter than the bound the next spin is
 * full; after a longer one it halves (down to 1/16), so a slow daemon
 * (large values) costs little wasted CPU on a small machine.
 */
#include "client/client_int.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "transport/ring.h"
#include "transport/spin.h"

#define BEAT_STALL_NS 4000u /* daemon heartbeat still this long: stop spinning */

struct uclient_ring {
	struct uring_map map;
	struct uring_end tx; /* ring 0: requests, we produce */
	struct uring_end rx; /* ring 1: replies, we consume */
	int bell_daemon;     /* we write it to wake the daemon */
	int bell_client;     /* the daemon writes it to wake us */
	struct uspin spin;   /* the adaptive window (transport/spin.h) */
	struct uclient_ring_vm vm; /* set for a VM's ring (no socket, no fds) */
	uint64_t flushed;    /* tx.pos at the last uclient_ring_flush */
};

/* The spin bound from UTMEM_RING_SPIN_US, in nanoseconds. */
static uint64_t spin_cap(void)
{
	const char *s = getenv("UTMEM_RING_SPIN_US");
	char *end;
	unsigned long v;

	if (!s || !*s)
		return (uint64_t)URING_DEFAULT_SPIN_US * 1000u;
	v = strtoul(s, &end, 10);
	if (*end || v > USPIN_CAP_MAX_US)
		return (uint64_t)URING_DEFAULT_SPIN_US * 1000u;
	return (uint64_t)v * 1000u;
}

void uclient_ring_free(struct utmem_client *c)
{
	struct uclient_ring *r = c->ring;

	if (c->live) {
		munmap((void *)c->live, 4096);
		c->live = NULL;
	}
	if (!r)
		return;
	if (r->vm.release) {
		r->vm.release(r->vm.arg, &r->map);
	} else {
		uring_unmap(&r->map);
		close(r->bell_daemon);
		close(r->bell_client);
	}
	free(r);
	c->ring = NULL;
}

size_t uclient_ring_max_frame(const struct utmem_client *c)
{
	if (c->ring && c->ring->vm.release)
		return SIZE_MAX; /* no socket: everything streams through */
	return c->ring ? (size_t)(c->ring->map.size / 2) : 0;
}

uint64_t uclient_ring_credit(struct utmem_client *c)
{
	return __atomic_load_n(&c->ring->map.shm->credit, __ATOMIC_ACQUIRE);
}

unsigned uclient_ring_closed(struct utmem_client *c)
{
	return c->ring ? __atomic_load_n(&c->ring->map.shm->closed, __ATOMIC_ACQUIRE)
		       : 0;
}

/* Sequentially consistent: the load half of the posting handshake
 * (uclient_ring_posting, and credit.c in utmemd). */
uint64_t uclient_ring_recall(struct utmem_client *c)
{
	return __atomic_load_n(&c->ring->map.shm->recall, __ATOMIC_SEQ_CST);
}

uint32_t uclient_ring_pools_gen(struct utmem_client *c)
{
	return c->ring ? __atomic_load_n(&c->ring->map.shm->pools_gen, __ATOMIC_ACQUIRE)
		       : 0;
}

void uclient_ring_posting(struct utmem_client *c, int busy)
{
	uint32_t *w = &c->ring->map.shm->posting;

	if (busy)
		__atomic_store_n(w, URING_POSTING_BUSY, __ATOMIC_SEQ_CST);
	else
		__atomic_store_n(w, URING_POSTING_IDLE, __ATOMIC_RELEASE);
}

void uclient_ring_report_reads(struct utmem_client *c, uint32_t pool, int hit)
{
	struct uclient_post *p = &c->post;
	struct uring_reads *r;
	unsigned i;

	if (!c->ring)
		return;
	/* A slot per pool, taken on first use; the last one is shared. */
	for (i = 0; i < URING_READ_POOLS - 1; i++)
		if (p->rd_pool[i] == pool || p->rd_pool[i] == 0)
			break;
	r = &c->ring->map.shm->rd[i];
	if (p->rd_pool[i] != pool && i < URING_READ_POOLS - 1) {
		p->rd_pool[i] = pool;
		__atomic_store_n(&r->pool, pool, __ATOMIC_RELAXED);
	}
	p->rd_reads[i]++;
	p->rd_hits[i] += hit != 0;
	__atomic_store_n(&r->reads, p->rd_reads[i], __ATOMIC_RELAXED);
	__atomic_store_n(&r->hits, p->rd_hits[i], __ATOMIC_RELAXED);
}

uint64_t uclient_ring_applied(struct utmem_client *c)
{
	return __atomic_load_n(&c->ring->map.shm->applied, __ATOMIC_ACQUIRE);
}

int uclient_ring_stage(struct utmem_client *c, unsigned i, uint64_t *off,
		       uint64_t *len, uint32_t *gen)
{
	const struct uring_stage *s = &c->ring->map.shm->stage[i];

	/* Generation first (acquire): the extent utmemd wrote before it. */
	*gen = __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE);
	*off = __atomic_load_n(&s->off, __ATOMIC_RELAXED);
	*len = __atomic_load_n(&s->len, __ATOMIC_RELAXED);
	return 0;
}

uint32_t uclient_ring_stages_held(struct utmem_client *c,
				  const uint32_t *used_gen)
{
	uint32_t mask = 0;

	for (unsigned i = 0; i < URING_STAGES; i++) {
		uint64_t off, len;
		uint32_t gen;

		uclient_ring_stage(c, i, &off, &len, &gen);
		if (len && gen != used_gen[i])
			mask |= 1u << i;
	}
	return mask;
}

/* Wake the daemon if its worker sleeps (it may wait for input or room). */
static void kick_daemon(struct uclient_ring *r, uint32_t what)
{
	uint64_t one = 1;

	if (!uring_need_kick(&r->map.shm->daemon_sleeping, what))
		return;
	if (r->vm.release) {
		if (r->vm.kick)
			r->vm.kick(r->vm.arg, what);
		return;
	}
	if (write(r->bell_daemon, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, the daemon wakes anyway. */
	}
}

ssize_t uclient_ring_send(struct utmem_client *c, const struct iovec *iov,
			  size_t iovcnt)
{
	struct uclient_ring *r = c->ring;
	int64_t room = uring_room(&r->tx);
	uint8_t *w;
	size_t done = 0;

	if (room < 0)
		return -EPROTO;
	if (room == 0)
		return -EAGAIN;
	w = uring_wptr(&r->tx);
	for (size_t i = 0; i < iovcnt && done < (size_t)room; i++) {
		size_t n = iov[i].iov_len;

		if (n > (size_t)room - done)
			n = (size_t)room - done;
		if (n == 0)
			continue; /* an empty value may have no address */
		memcpy(w + done, iov[i].iov_base, n);
		done += n;
	}
	uring_produce(&r->tx, done);
	kick_daemon(r, URING_WANT_DATA);
	return (ssize_t)done;
}

static int wait_for(struct utmem_client *c, unsigned want, uint64_t target,
		    int timeout_ms);

int uclient_ring_post(struct utmem_client *c, const struct iovec *iov,
		      size_t iovcnt)
{
	struct uclient_ring *r = c->ring;
	size_t total = 0, done = 0;
	int64_t room;
	uint8_t *w;

	for (size_t i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (total > r->map.size)
		return -EMSGSIZE;
	/* A whole frame at once, so nothing of it waits behind a full ring:
	 * sleep until that much room is free (utmemd rings us as it frees
	 * room), reading the replies of requests in flight meanwhile. */
	while ((room = uring_room(&r->tx)) >= 0 && (uint64_t)room < total) {
		int err;

		kick_daemon(r, URING_WANT_DATA);
		err = wait_for(c, URING_WANT_ROOM, total, c->timeout_ms);
		if (err)
			return err;
	}
	if (room < 0)
		return -EPROTO;
	w = uring_wptr(&r->tx);
	for (size_t i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len == 0)
			continue; /* an empty value may have no address */
		memcpy(w + done, iov[i].iov_base, iov[i].iov_len);
		done += iov[i].iov_len;
	}
	uring_produce(&r->tx, total);
	c->post.sent++;
	if (!c->lazy_kick)
		kick_daemon(r, URING_WANT_DATA);
	return 0;
}

/*
 * Wake the daemon for what was posted since the last flush, and only then:
 * a worker that went to sleep after serving everything needs no doorbell,
 * and an idle client flushing at every turn of its event loop (the Redis
 * module) would otherwise wake it at every turn for nothing. Correct
 * because a worker checks for input after announcing that it sleeps: what
 * was produced before our last flush was seen, or its doorbell rung then.
 */
void uclient_ring_flush(struct utmem_client *c)
{
	struct uclient_ring *r = c->ring;

	if (!r || r->tx.pos == r->flushed)
		return;
	r->flushed = r->tx.pos;
	kick_daemon(r, URING_WANT_DATA);
}

int uclient_ring_bell_fd(const struct utmem_client *c)
{
	return c->ring && !c->ring->vm.release ? c->ring->bell_client : -1;
}

void uclient_ring_arm(struct utmem_client *c)
{
	if (c->ring && !c->ring->vm.release)
		uring_sleep_prepare(&c->ring->map.shm->client_sleeping,
				    URING_WANT_DATA);
}

void uclient_ring_disarm(struct utmem_client *c)
{
	if (c->ring && !c->ring->vm.release)
		uring_sleep_cancel(&c->ring->map.shm->client_sleeping);
}

int uclient_ring_drain_bell(struct utmem_client *c)
{
	char drain[64];
	ssize_t n;

	if (uclient_ring_bell_fd(c) < 0)
		return 0;
	while ((n = read(c->ring->bell_client, drain, sizeof(drain))) > 0)
		;
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
}

ssize_t uclient_ring_recv(struct utmem_client *c, void *dst, size_t len)
{
	struct uclient_ring *r = c->ring;
	int64_t avail = uring_avail(&r->rx);
	size_t n = len;

	if (avail < 0)
		return -EPROTO;
	if ((uint64_t)avail < n)
		n = (size_t)avail;
	if (n == 0)
		return 0;
	memcpy(dst, uring_rptr(&r->rx), n);
	uring_consume(&r->rx, n);
	kick_daemon(r, URING_WANT_ROOM);
	return (ssize_t)n;
}

int uclient_ring_rx_ready(struct utmem_client *c)
{
	int64_t avail = uring_avail(&c->ring->rx);

	return avail < 0 ? -EPROTO : avail > 0;
}

/*
 * 1 if what we wait for is there (URING_WANT_DATA: reply bytes;
 * URING_WANT_ROOM: room in the request ring, at least target bytes if
 * target is not 0; URING_WANT_APPLIED: utmemd's
 * `applied` count at least target), 0 if not, -EPROTO for a broken ring.
 */
static int ready(struct uclient_ring *r, unsigned want, uint64_t target)
{
	int64_t v;

	if (want & URING_WANT_DATA) {
		v = uring_avail(&r->rx);
		if (v != 0)
			return v < 0 ? -EPROTO : 1;
	}
	if (want & URING_WANT_ROOM) {
		v = uring_room(&r->tx);
		if (v < 0)
			return -EPROTO;
		/* target: the room needed (a whole frame), 0 for any */
		if (v != 0 && (uint64_t)v >= target)
			return 1;
	}
	if ((want & URING_WANT_APPLIED) &&
	    __atomic_load_n(&r->map.shm->applied, __ATOMIC_ACQUIRE) >= target)
		return 1;
	return 0;
}

/*
 * The socket woke us while the ring is in use: the daemon hung up (or sent
 * bytes it never should). Returns the error to report.
 */
static int socket_event(int fd, short rev)
{
	uint8_t b;
	ssize_t n;

	if (rev & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL))
		return -ECONNRESET;
	n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		return -ECONNRESET;
	return n > 0 ? -EPROTO : 0;
}

/*
 * Spin for the adaptive window from t0, but only while the daemon's
 * heartbeat moves: a daemon that is asleep or preempted answers no sooner
 * for being spun on. Returns like ready().
 */
static int spin(struct uclient_ring *r, unsigned want, uint64_t target,
		uint64_t t0)
{
	uint64_t beat, seen_at = t0, now = t0, prev;
	uint64_t window = uspin_window(&r->spin, t0);
	int rc = ready(r, want, target);

	if (rc || window == 0)
		return rc;
	beat = uring_beat_load(r->map.shm);
	do {
		uspin_relax();
		rc = ready(r, want, target);
		if (rc)
			return rc;
		prev = now;
		now = umono_ns();
		/* Lost the CPU mid-spin, and not to the daemon answering us:
		 * sleep instead for a while (spin.h). */
		if (!ready(r, want, target) &&
		    uspin_preempted(&r->spin, now, now - prev))
			break;
		if (uring_beat_load(r->map.shm) != beat) {
			beat = uring_beat_load(r->map.shm);
			seen_at = now;
		} else if (now - seen_at > BEAT_STALL_NS) {
			break;
		}
	} while (now - t0 < window);
	return 0;
}

/* A VM ring waits by the owner's sleep (polling), never on descriptors. */
static int vm_wait(struct uclient_ring *r, unsigned want, uint64_t target,
		   uint64_t deadline)
{
	for (unsigned round = 0;; round++) {
		int rc = ready(r, want, target);

		if (rc)
			return rc < 0 ? rc : 0;
		if (umono_ns() >= deadline)
			return -ETIMEDOUT;
		rc = r->vm.sleep(r->vm.arg, round);
		if (rc)
			return rc;
	}
}

/*
 * The daemon closed the connection: the error for it, -ECONNRESET unless
 * the ring header says the operator removed the tenant.
 */
static int closed_error(struct uclient_ring *r)
{
	unsigned why = __atomic_load_n(&r->map.shm->closed, __ATOMIC_ACQUIRE);

	return why == UWIRE_S_REVOKED ? -uwire_status_to_errno(why) : -ECONNRESET;
}

/*
 * Wait until what `want` names is there (see ready()): spin for the
 * adaptive window while the daemon's heartbeat moves, then sleep in poll()
 * on the doorbell and the socket with our sleeping flag saying what we wait
 * for. Returns 0, -ETIMEDOUT, -ECONNRESET or -EPROTO.
 */
static int wait_for_once(struct utmem_client *c, unsigned want,
			 uint64_t target, int timeout_ms);

/*
 * Wait for room or for requests to be applied while asynchronous requests
 * are in flight: utmemd stops taking requests while too many of their
 * replies wait unread, so read them (kept as completions) whenever they
 * arrive, until what we wait for happens.
 */
static int wait_reading(struct utmem_client *c, unsigned want, uint64_t target,
			int timeout_ms)
{
	uint64_t deadline = umono_ns() + (uint64_t)timeout_ms * 1000000u;

	for (;;) {
		int rc = ready(c->ring, want, target), left;

		if (rc)
			return rc < 0 ? rc : 0;
		rc = uclient_async_take_arrived(c); /* 1: some in flight */
		if (rc < 0)
			return rc;
		left = uspin_ms_left(deadline);
		if (!left)
			return -ETIMEDOUT;
		rc = wait_for_once(c, rc ? want | URING_WANT_DATA : want, target,
				   left);
		if (rc)
			return rc;
	}
}

/*
 * wait_for_once() (reading replies meanwhile when waiting for anything but
 * them), then, with asynchronous requests outstanding, re-arm the wake-up
 * for their replies (the wait may have taken it).
 */
static int wait_for(struct utmem_client *c, unsigned want, uint64_t target,
		    int timeout_ms)
{
	int rc = (want & URING_WANT_DATA) || c->ring->vm.release
			 ? wait_for_once(c, want, target, timeout_ms)
			 : wait_reading(c, want, target, timeout_ms);

	if (c->async)
		uclient_async_note(c);
	return rc;
}

static int wait_for_once(struct utmem_client *c, unsigned want,
			 uint64_t target, int timeout_ms)
{
	struct uclient_ring *r = c->ring;
	uint64_t t0 = umono_ns(), deadline;
	int rc = spin(r, want, target, t0);

	if (rc) {
		uint64_t now = umono_ns();

		uspin_adapt(&r->spin, now, now - t0);
		return rc < 0 ? rc : 0;
	}
	deadline = t0 + (uint64_t)timeout_ms * 1000000u;
	if (r->vm.release) {
		rc = vm_wait(r, want, target, deadline);
		if (rc == 0) {
			uint64_t now = umono_ns();

			uspin_adapt(&r->spin, now, now - t0);
		}
		return rc;
	}
	for (;;) {
		struct pollfd p[2] = {
			{.fd = r->bell_client, .events = POLLIN},
			{.fd = c->fd, .events = POLLIN | POLLRDHUP},
		};
		char drain[64];
		int n, left;

		uring_sleep_prepare(&r->map.shm->client_sleeping, want);
		rc = ready(r, want, target);
		if (rc) {
			uring_sleep_cancel(&r->map.shm->client_sleeping);
			break;
		}
		left = uspin_ms_left(deadline);
		n = left ? poll(p, 2, left) : 0;
		uring_sleep_cancel(&r->map.shm->client_sleeping);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0 && (p[0].revents & POLLIN) &&
		    read(r->bell_client, drain, sizeof(drain)) < 0 &&
		    errno != EAGAIN && errno != EINTR)
			return -errno;
		if (n > 0 && (p[0].revents & (POLLHUP | POLLERR)))
			return closed_error(r); /* the daemon closed its end */
		rc = ready(r, want, target);
		if (rc)
			break;
		if (n > 0 && p[1].revents) {
			rc = socket_event(c->fd, p[1].revents);
			if (rc)
				return rc == -ECONNRESET ? closed_error(r) : rc;
		}
		if (n == 0 && umono_ns() >= deadline)
			return -ETIMEDOUT;
	}
	if (rc < 0)
		return rc;
	{
		uint64_t now = umono_ns();

		uspin_adapt(&r->spin, now, now - t0);
	}
	return 0;
}

int uclient_ring_wait(struct utmem_client *c, int want_room, int timeout_ms)
{
	return wait_for(c, URING_WANT_DATA | (want_room ? URING_WANT_ROOM : 0), 0,
			timeout_ms);
}

int uclient_ring_wait_applied(struct utmem_client *c, uint64_t target,
			      int timeout_ms)
{
	/* With lazy kicks the daemon may not know there is work yet. */
	kick_daemon(c->ring, URING_WANT_DATA);
	return wait_for(c, URING_WANT_APPLIED, target, timeout_ms);
}

/* Send the whole small frame buf on the socket within the timeout. */
static int send_all(struct utmem_client *c, const uint8_t *buf, size_t len)
{
	while (len) {
		struct iovec iov = {(void *)buf, len};
		ssize_t n = uclient_send_some(c->fd, &iov, 1);
		short rev;
		int err;

		if (n == -EAGAIN) {
			err = uclient_wait(c->fd, POLLOUT, c->timeout_ms, &rev);
			if (err)
				return err;
			continue;
		}
		if (n < 0)
			return (int)n;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Keep received descriptors in fds[] (up to URING_SETUP_NFDS); close extras. */
static void take_fds(struct msghdr *msg, int *fds, int *nfds)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm;
	     cm = CMSG_NXTHDR(msg, cm)) {
		size_t cnt;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		cnt = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < cnt; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (*nfds < URING_SETUP_NFDS)
				fds[(*nfds)++] = fd;
			else
				close(fd);
		}
	}
}

/*
 * Receive exactly len bytes of the setup reply with recvmsg, collecting
 * the descriptors that ride on it. Returns 0 or -errno.
 */
static int recv_with_fds(struct utmem_client *c, uint8_t *buf, size_t len,
			 int *fds, int *nfds)
{
	size_t got = 0;

	while (got < len) {
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int) * (URING_SETUP_NFDS + 1))];
		} ctl;
		struct iovec iov = {buf + got, len - got};
		struct msghdr msg = {
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = ctl.b,
			.msg_controllen = sizeof(ctl.b),
		};
		ssize_t n = recvmsg(c->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		short rev;
		int err;

		if (n > 0) {
			take_fds(&msg, fds, nfds);
			got += (size_t)n;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		err = uclient_wait(c->fd, POLLIN, c->timeout_ms, &rev);
		if (err)
			return err;
	}
	return 0;
}

/*
 * Map the tenant's value region (fd, size bytes announced) and check its
 * header: the daemon wrote it, but nothing in it is used before it is
 * checked against the mapping. Returns 0 or -errno (-EPROTO: malformed).
 */
static int region_adopt(struct utmem_client *c, int fd, uint64_t size,
			uint32_t hazard)
{
	struct uclient_region *g;
	const struct uvr_hdr *h;
	struct stat st;
	void *base;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (size < UVR_PAGE || (uint64_t)st.st_size < size || size > SIZE_MAX)
		return -EPROTO;
	base = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		return -errno;
	h = base;
	if (h->magic != UVR_MAGIC || h->layout != UVR_LAYOUT || h->size != size ||
	    h->nsub != UVR_NSUB || h->heap_off > size || h->dir_off > size ||
	    h->haz_off > size ||
	    size - h->dir_off < (uint64_t)UVR_NSUB * sizeof(struct uvr_dir) ||
	    size - h->haz_off < (uint64_t)h->nhaz * sizeof(struct uvr_hazard) ||
	    (h->dir_off | h->haz_off) & (UVR_LINE - 1) ||
	    (hazard != URING_NO_HAZARD && hazard >= h->nhaz))
		goto proto;
	g = calloc(1, sizeof(*g));
	if (!g) {
		munmap(base, (size_t)size);
		return -ENOMEM;
	}
	g->base = base;
	g->size = size;
	g->heap_off = h->heap_off;
	g->seed = h->seed;
	g->dir = (const struct uvr_dir *)((uint8_t *)base + h->dir_off);
	g->hazard = hazard == URING_NO_HAZARD
			    ? NULL
			    : &((struct uvr_hazard *)((uint8_t *)base + h->haz_off))[hazard].off;
	c->region = g;
	return 0;
proto:
	munmap(base, (size_t)size);
	return -EPROTO;
}

void uclient_region_free(struct utmem_client *c)
{
	struct uclient_region *g = c->region;

	if (!g)
		return;
	if (g->hazard)
		uvr_hazard_clear(g->hazard);
	munmap(g->base, (size_t)g->size);
	free(g);
	c->region = NULL;
}

/* Map the received ring and take ownership of the doorbells. */
static int ring_adopt(struct utmem_client *c, uint64_t size, const int *fds)
{
	struct uclient_ring *r;
	struct stat st;
	int err;

	/* A region shorter than announced would fault on access. */
	if (fstat(fds[0], &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size < uring_region_bytes(size))
		return -EPROTO;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	err = uring_map_fd(fds[0], size, &r->map);
	if (err) {
		free(r);
		return err;
	}
	uring_end_init(&r->tx, &r->map, URING_TO_DAEMON);
	uring_end_init(&r->rx, &r->map, URING_TO_CLIENT);
	r->bell_daemon = fds[1];
	r->bell_client = fds[2];
	uspin_init(&r->spin, spin_cap());
	c->ring = r;
	return 0;
}

int uclient_ring_adopt_vm(struct utmem_client *c, const struct uring_map *m,
			  const struct uclient_ring_vm *vm)
{
	struct uclient_ring *r = calloc(1, sizeof(*r));
	struct uring_map copy = *m;

	if (!r) {
		vm->release(vm->arg, &copy);
		return -ENOMEM;
	}
	r->map = *m;
	r->vm = *vm;
	r->bell_daemon = r->bell_client = -1;
	uring_end_init(&r->tx, &r->map, URING_TO_DAEMON);
	uring_end_init(&r->rx, &r->map, URING_TO_CLIENT);
	uspin_init(&r->spin, spin_cap());
	c->ring = r;
	return 0;
}

void *uclient_ring_vm_arg(const struct utmem_client *c)
{
	return c->ring && c->ring->vm.release ? c->ring->vm.arg : NULL;
}

int uclient_ring_setup(struct utmem_client *c)
{
	uint8_t req[UWIRE_HDR_SIZE], rep[UWIRE_HDR_SIZE + URING_SETUP_SIZE];
	struct uwire_hdr h = {
		.version = UWIRE_VERSION,
		.opcode = UWIRE_OP_RING_SETUP,
		.id = c->next_id++,
	};
	int fds[URING_SETUP_NFDS], nfds = 0, err;
	struct uring_setup setup;

	/* Descriptors arrive with the reply's first byte: nothing may be
	 * buffered ahead of it. */
	if (c->rb.end != c->rb.start)
		return -EPROTO;
	uwire_hdr_encode(&h, req);
	err = send_all(c, req, sizeof(req));
	if (!err)
		err = recv_with_fds(c, rep, UWIRE_HDR_SIZE, fds, &nfds);
	if (err)
		goto out;
	err = uwire_hdr_decode(rep, &c->rx_lim, &h) ? -EPROTO : 0;
	if (!err && (h.opcode != UWIRE_OP_RING_SETUP || h.klen ||
		     !(h.flags & UWIRE_F_RESPONSE) ||
		     h.vlen > URING_SETUP_SIZE))
		err = -EPROTO;
	if (!err && h.vlen)
		err = recv_with_fds(c, rep + UWIRE_HDR_SIZE, h.vlen, fds, &nfds);
	if (err)
		goto out;
	/*
	 * Refused (rings off, or the daemon out of budget): the socket works
	 * as it is, so the client stays on it rather than failing.
	 */
	if (h.status != UWIRE_S_OK) {
		err = -EOPNOTSUPP;
		goto out;
	}
	/* Another layout (a utmemd older or newer than this library):
	 * -EPROTONOSUPPORT tells the caller to stay on the socket. */
	if (uring_setup_decode(rep + UWIRE_HDR_SIZE, h.vlen, &setup)) {
		err = -EPROTONOSUPPORT;
		goto out;
	}
	if (nfds != 3 + !!(setup.flags & URING_SETUP_LIVE) + !!setup.region_size) {
		err = -EPROTO;
		goto out;
	}
	if (setup.region_size) {
		err = region_adopt(c, fds[nfds - 1], setup.region_size, setup.hazard);
		if (err)
			goto out;
		close(fds[--nfds]);
	}
	if (setup.flags & URING_SETUP_LIVE) {
		/* Read-only: the page is sealed against writable mappings. */
		void *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fds[3], 0);

		if (p == MAP_FAILED) {
			err = -errno;
			uclient_region_free(c);
			goto out;
		}
		c->live = p;
		close(fds[--nfds]);
	}
	err = ring_adopt(c, setup.size, fds);
	if (!err) {
		close(fds[0]); /* the mapping keeps the region */
		c->post.credit_ok = 1; /* a local ring: credit, staging, recall */
		uclient_ring_posting(c, 0); /* we take part in reclaims */
		return 0;
	}
	uclient_region_free(c);
	if (c->live) {
		munmap((void *)c->live, 4096);
		c->live = NULL;
	}
out:
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	return err;
}

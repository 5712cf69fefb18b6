/*
 * async.c — asynchronous requests: utmem_submit_get(),
 * utmem_submit_invalidate(), utmem_submit_stats(),
 * utmem_submit_server_info(), utmem_event_fd(), utmem_reap() (and
 * utmem_submit_put()'s request, client.c).
 *
 * A request is sent at once through the client's channel (the ring when
 * there is one, after the PUTs posted before it; else the socket) with an
 * id that has UCLIENT_ASYNC_ID set and names its slot here, and nobody
 * waits for the reply. Replies are read by whoever reads the channel next:
 * utmem_reap(), or a synchronous call, whose reply loop (exec.c) hands a
 * reply with such an id to uclient_async_reply(), which keeps it as the
 * slot's completion. A connection that goes (uclient_disconnect) completes
 * every request in flight with -ECONNRESET; none is ever sent twice.
 *
 * Waking the caller: utmem_event_fd() is an epoll descriptor of ours that
 * watches the connection's socket (replies, or a hang-up), the ring's
 * client doorbell (utmemd writes it after a reply when our sleeping flag
 * asks for data; the flag is raised again after every reap and every wait
 * of a synchronous call) and an eventfd we write ourselves when
 * completions or reply bytes are already waiting where the kernel cannot
 * see them (taken by a synchronous call, or in the read buffer). The
 * epoll descriptor stays the same across reconnects: each new connection's
 * descriptors are added to it (a closed descriptor leaves it by itself).
 */
#include "client/client_int.h"
#include "transport/ring.h"
#include "transport/spin.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define SLOT_BITS 10 /* UTMEM_ASYNC_MAX == 1 << SLOT_BITS */
#define SEQ_MASK ((1ull << (63 - SLOT_BITS)) - 1)

_Static_assert(UTMEM_ASYNC_MAX == 1u << SLOT_BITS, "slot bits");

enum { SLOT_FREE, SLOT_SENT, SLOT_DONE };

struct slot {
	uint64_t id;   /* the wire id while SENT */
	uint64_t tag;
	uint8_t op;    /* UWIRE_OP_GET, _INVALIDATE, _PUT, _STATS or
			  _SERVER_INFO */
	uint8_t state; /* SLOT_* */
	uint8_t probe; /* a GET with UTMEM_GET_PROBE (MAXLEN 0) */
	uint32_t pool; /* the server's pool id it names */
	int64_t result;
	void *val;
};

struct uclient_async {
	struct slot slot[UTMEM_ASYNC_MAX];
	uint16_t free_list[UTMEM_ASYNC_MAX]; /* a stack of free slots */
	unsigned nfree;
	uint16_t done[UTMEM_ASYNC_MAX]; /* completed slots, oldest first */
	unsigned done_head, ndone;
	unsigned inflight;  /* SENT slots */
	uint64_t seq;       /* for ids: a reply to a reused slot's old id
			       is never mistaken for the new one */
	int epfd, sig;      /* the event descriptor and our own eventfd */
	int sig_set;        /* sig was written and not read since */
	uint64_t reg_gen;   /* conn_gen whose descriptors epfd watches */
};

static struct uclient_async *async_new(void)
{
	struct uclient_async *a = calloc(1, sizeof(*a));
	struct epoll_event ev = {.events = EPOLLIN};

	if (!a)
		return NULL;
	a->epfd = epoll_create1(EPOLL_CLOEXEC);
	a->sig = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (a->epfd < 0 || a->sig < 0 ||
	    epoll_ctl(a->epfd, EPOLL_CTL_ADD, a->sig, &ev) < 0) {
		if (a->epfd >= 0)
			close(a->epfd);
		if (a->sig >= 0)
			close(a->sig);
		free(a);
		return NULL;
	}
	for (unsigned i = 0; i < UTMEM_ASYNC_MAX; i++)
		a->free_list[i] = (uint16_t)(UTMEM_ASYNC_MAX - 1 - i);
	a->nfree = UTMEM_ASYNC_MAX;
	a->reg_gen = UINT64_MAX;
	return a;
}

void uclient_async_free(struct utmem_client *c)
{
	struct uclient_async *a = c->async;

	if (!a)
		return;
	for (unsigned i = 0; i < UTMEM_ASYNC_MAX; i++)
		free(a->slot[i].val);
	close(a->epfd);
	close(a->sig);
	free(a);
	c->async = NULL;
}

static void signal_self(struct uclient_async *a);

int uclient_async_forked(struct utmem_client *c)
{
	struct uclient_async *a = c->async;
	struct epoll_event ev = {.events = EPOLLIN};
	int ep, sig;

	if (!a)
		return 0;
	ep = epoll_create1(EPOLL_CLOEXEC);
	sig = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	/* The caller keeps the descriptor's number: the new epoll goes there
	 * (dup3 drops only our reference to the parent's instance). */
	if (ep < 0 || sig < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, sig, &ev) < 0 ||
	    dup3(ep, a->epfd, O_CLOEXEC) < 0) {
		int err = -errno;

		if (ep >= 0)
			close(ep);
		if (sig >= 0)
			close(sig);
		return err;
	}
	close(ep);
	close(a->sig);
	a->sig = sig;
	a->sig_set = 0;
	a->reg_gen = UINT64_MAX; /* watch the next connection's descriptors */
	if (a->ndone)
		signal_self(a); /* completions inherited, still to reap */
	return 0;
}

/* Make the event descriptor readable (once until the next reap). */
static void signal_self(struct uclient_async *a)
{
	uint64_t one = 1;

	if (a->sig_set)
		return;
	if (write(a->sig, &one, sizeof(one)) == sizeof(one))
		a->sig_set = 1;
}

static void clear_self(struct uclient_async *a)
{
	uint64_t v;

	if (read(a->sig, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing was written */
	}
	a->sig_set = 0;
}

/* Slot i is settled with res (and val): queue it for reaping. */
static void complete(struct uclient_async *a, unsigned i, int64_t res,
		     void *val)
{
	struct slot *s = &a->slot[i];

	s->state = SLOT_DONE;
	s->result = res;
	s->val = val;
	a->inflight--;
	a->done[(a->done_head + a->ndone) % UTMEM_ASYNC_MAX] = (uint16_t)i;
	a->ndone++;
	signal_self(a);
}

void uclient_async_fail(struct utmem_client *c, int err)
{
	struct uclient_async *a = c->async;

	for (unsigned i = 0; a && a->inflight && i < UTMEM_ASYNC_MAX; i++)
		if (a->slot[i].state == SLOT_SENT)
			complete(a, i, err, NULL);
}

/* A STATS reply's record into a malloc()ed struct utmem_stats. */
static int reply_stats(struct utmem_client *c, uint32_t vlen, int64_t *res,
		       void **val)
{
	uint8_t rec[UWIRE_STATS_SIZE];
	struct utmem_stats *st;
	int err;

	if (vlen != sizeof(rec)) { /* as utmem_stats() says it */
		*res = -EPROTO;
		return uclient_skip(c, vlen);
	}
	err = uclient_read_exact(c, rec, sizeof(rec));
	if (err)
		return err;
	st = malloc(sizeof(*st));
	if (!st) {
		*res = -ENOMEM;
		return 0;
	}
	uclient_stats_decode(rec, st);
	*res = (int64_t)sizeof(*st);
	*val = st;
	return 0;
}

/* A SERVER_INFO reply's text, NUL-terminated, malloc()ed. */
static int reply_text(struct utmem_client *c, uint32_t vlen, int64_t *res,
		      void **val)
{
	char *text;
	int err;

	if (vlen >= UTMEM_SERVER_INFO_MAX) { /* room for the NUL, as the
						synchronous call's cap */
		*res = -ENOBUFS;
		return uclient_skip(c, vlen);
	}
	text = malloc((size_t)vlen + 1);
	if (!text) {
		*res = -ENOMEM;
		return uclient_skip(c, vlen);
	}
	err = uclient_read_exact(c, text, vlen);
	if (err) {
		free(text);
		return err;
	}
	text[vlen] = '\0';
	*res = vlen;
	*val = text;
	return 0;
}

int uclient_async_reply(struct utmem_client *c, const struct uwire_hdr *h)
{
	struct uclient_async *a = c->async;
	unsigned i = (unsigned)(h->id & (UTMEM_ASYNC_MAX - 1));
	struct slot *s = &a->slot[i];
	void *val = NULL;
	int64_t res;
	int err;

	/* Only a reply to a request of ours in flight, of its kind. */
	if (s->state != SLOT_SENT || s->id != h->id || h->opcode != s->op)
		return h->status ? -uwire_status_to_errno(h->status) : -EPROTO;
	err = uclient_skip(c, h->klen); /* replies carry no key today */
	if (err)
		return err;
	if (s->probe) {
		/* MAXLEN 0: NOBUFS says a value is there, OK an empty one. */
		res = h->status == UWIRE_S_OK || h->status == UWIRE_S_NOBUFS
			      ? 0 : -uwire_status_to_errno(h->status);
		err = uclient_skip(c, h->vlen);
	} else if (h->status != UWIRE_S_OK) {
		res = -uwire_status_to_errno(h->status);
		if (h->status == UWIRE_S_BADPOOL)
			uclient_pool_refused(c, s->pool);
		err = uclient_skip(c, h->vlen);
	} else if (s->op == UWIRE_OP_GET) {
		/* vlen was checked against max_value by the decoder. */
		val = malloc(h->vlen ? h->vlen : 1);
		if (!val) {
			res = -ENOMEM;
			err = uclient_skip(c, h->vlen);
		} else {
			res = h->vlen;
			err = uclient_read_exact(c, val, h->vlen);
		}
	} else if (s->op == UWIRE_OP_STATS) {
		err = reply_stats(c, h->vlen, &res, &val);
	} else if (s->op == UWIRE_OP_SERVER_INFO) {
		err = reply_text(c, h->vlen, &res, &val);
	} else {
		res = 0;
		err = uclient_skip(c, h->vlen);
	}
	if (err) {
		free(val);
		return err;
	}
	complete(a, i, res, val);
	return 0;
}

/* Replies may be waiting where no descriptor shows them. */
static int bytes_hidden(struct utmem_client *c)
{
	if (c->rb.end != c->rb.start)
		return 1;
	return c->ring && uclient_ring_rx_ready(c) != 0;
}

void uclient_async_note(struct utmem_client *c)
{
	struct uclient_async *a = c->async;

	if (!a)
		return;
	if (a->inflight == 0 && c->fd >= 0)
		uclient_ring_disarm(c); /* no wake-ups for sync replies */
	if (a->inflight && c->fd >= 0) {
		/* Raise the flag, then look (the flag's store is fenced):
		 * a reply written after the look rings the doorbell. */
		uclient_ring_arm(c);
		if (bytes_hidden(c))
			signal_self(a);
	}
	if (a->ndone)
		signal_self(a);
}

int uclient_async_drain(struct utmem_client *c)
{
	struct uclient_async *a = c->async;
	int err = 0;

	if (!c->ring || !a)
		return 0;
	c->via_ring = 1;
	while (!err && a->inflight) {
		long none = 0;

		err = uclient_read_reply(c, NULL, 0, 0, &none);
	}
	c->via_ring = 0;
	return err;
}

/* Watch the current connection's descriptors (once per connection). */
static void watch_conn(struct utmem_client *c)
{
	struct uclient_async *a = c->async;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP};
	int bell = uclient_ring_bell_fd(c);

	if (c->fd < 0 || a->reg_gen == c->conn_gen)
		return;
	/* The previous connection's descriptors were closed: they left the
	 * set by themselves. A number reused since is added afresh. */
	if (epoll_ctl(a->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0 && errno == EEXIST)
		(void)epoll_ctl(a->epfd, EPOLL_CTL_MOD, c->fd, &ev);
	ev.events = EPOLLIN;
	if (bell >= 0 && epoll_ctl(a->epfd, EPOLL_CTL_ADD, bell, &ev) < 0 &&
	    errno == EEXIST)
		(void)epoll_ctl(a->epfd, EPOLL_CTL_MOD, bell, &ev);
	a->reg_gen = c->conn_gen;
}

/* Create the state on first use (lock held). Returns 0 or -errno. */
static int async_get(struct utmem_client *c)
{
	if (c->async)
		return 0;
	c->async = async_new();
	return c->async ? 0 : -ENOMEM;
}

/* Step iov[*pos..n) past sent bytes. */
static void iov_advance(struct iovec *iov, size_t n, size_t *pos, size_t sent)
{
	while (sent && *pos < n) {
		if (sent < iov[*pos].iov_len) {
			iov[*pos].iov_base = (uint8_t *)iov[*pos].iov_base + sent;
			iov[*pos].iov_len -= sent;
			sent = 0;
		} else {
			sent -= iov[*pos].iov_len;
			(*pos)++;
		}
	}
	while (*pos < n && iov[*pos].iov_len == 0)
		(*pos)++;
}

static int read_arrived(struct utmem_client *c);

/*
 * Send the whole frame through the connection's channel, as it takes it:
 * the socket, or the ring for a frame too large to be posted whole (over
 * half of it), which keeps its place among the requests before and after
 * it (utmemd assembles it in the connection's input buffer, charged at its
 * header as a socket's frame). Replies that arrive while the channel is
 * full are read and kept as completions: utmemd stops reading a
 * connection whose replies wait unread, and would never take the rest of
 * this frame. Bounded by the timeout in all. Returns 0, or -errno with the
 * frame perhaps half sent (the caller disconnects).
 */
static int send_reading(struct utmem_client *c, struct iovec *iov, size_t n)
{
	uint64_t deadline = uclient_now() + (uint64_t)c->timeout_ms * 1000000u;
	size_t pos = 0;

	while (pos < n) {
		ssize_t sent = c->ring ? uclient_ring_send(c, iov + pos, n - pos)
				       : uclient_stream_send(c, iov + pos, n - pos);
		short rev;
		int err, left;

		if (sent == -EAGAIN) {
			left = uspin_ms_left(deadline);
			if (!left)
				return -ETIMEDOUT;
			err = read_arrived(c);
			if (!err)
				err = c->ring ? uclient_ring_wait(c, 1, left)
					      : uclient_wait(c->fd, POLLOUT | POLLIN,
							     left, &rev);
			if (err)
				return err;
			continue;
		}
		if (sent < 0)
			return (int)sent;
		iov_advance(iov, n, &pos, (size_t)sent);
	}
	if (c->ring)
		c->post.sent++; /* a frame through the ring, as uclient_ring_post */
	return 0;
}

/*
 * Send one request on the connection (lock held): op with flags, key and
 * what the frame carries after it (a PUT's value, a GET's MAXLEN). Its
 * completion is tagged with tag. Returns 0 or -errno (nothing sent).
 */
int uclient_async_submit(struct utmem_client *c, uint32_t handle, uint8_t op,
			 uint16_t flags, const void *key, size_t klen,
			 const void *val, size_t vlen, uint64_t tag)
{
	struct uclient_async *a;
	uint8_t hdr[UWIRE_HDR_SIZE];
	struct uwire_hdr h = {
		.version = UWIRE_VERSION,
		.opcode = op,
		.flags = flags,
		.klen = (uint32_t)klen,
		.vlen = (uint32_t)vlen,
	};
	struct iovec iov[3] = {{hdr, sizeof(hdr)}, {(void *)key, klen},
			       {(void *)val, vlen}};
	size_t niov = vlen ? 3 : 2; /* no {NULL, 0} for memcpy */
	unsigned i;
	int err;

	err = uclient_async_offered(c);
	if (err)
		return err;
	err = async_get(c);
	if (err)
		return err;
	a = c->async;
	if (a->nfree == 0)
		return -EAGAIN;
	err = uclient_ensure(c);
	if (!err) /* STATS may ask about the tenant (0); SERVER_INFO is 0 */
		err = uclient_resolve_pool(c, handle,
					   op == UWIRE_OP_STATS ||
					   op == UWIRE_OP_SERVER_INFO, &h.pool);
	if (err)
		return err;
	watch_conn(c);
	i = a->free_list[--a->nfree];
	a->seq = (a->seq + 1) & SEQ_MASK;
	h.id = UCLIENT_ASYNC_ID | (a->seq << SLOT_BITS) | i;
	uwire_hdr_encode(&h, hdr);
	a->slot[i] = (struct slot){.id = h.id, .tag = tag, .op = op,
				   .state = SLOT_SENT, .pool = h.pool,
				   .probe = op == UWIRE_OP_GET && (flags & UWIRE_F_MAXLEN)};
	a->inflight++;
	if (c->ring) {
		err = sizeof(hdr) + klen + vlen > uclient_ring_max_frame(c)
			      ? send_reading(c, iov, niov)
			      : uclient_ring_post(c, iov, niov);
		if (!err) {
			/* one-sided reads of the key wait for it */
			uclient_post_note(c, h.pool, key, klen);
			uclient_ring_flush(c); /* even with lazy kicks */
		}
	} else {
		err = send_reading(c, iov, niov);
	}
	if (err) {
		/* Not sent (or not wholly): no completion for it. */
		a->slot[i].state = SLOT_FREE;
		a->inflight--;
		a->free_list[a->nfree++] = (uint16_t)i;
		uclient_disconnect(c);
		return err;
	}
	/* Its id is not one of next_id's, yet it is a request utmemd served
	 * on the connection, whose times (UTMEM_OPT_TIMING) replace those of
	 * the last timed call: count it, so utmem_timing() says -ESTALE. */
	c->next_id++;
	uclient_async_note(c);
	return 0;
}

int utmem_submit_get(utmem_client *c, uint32_t pool, const void *key,
		     size_t klen, unsigned flags, uint64_t tag)
{
	static const uint8_t maxlen0[4];
	int err;

	/* A pop that returns nothing would lose the value: no PROBE with it. */
	if (!c || (flags & ~(UTMEM_GET_EXCLUSIVE | UTMEM_GET_PROBE)) ||
	    (flags & UTMEM_GET_EXCLUSIVE && flags & UTMEM_GET_PROBE))
		return -EINVAL;
	err = uclient_check_key(c, key, klen);
	if (err)
		return err;
	err = uclient_lock(c);
	if (err)
		return err;
	if (flags & UTMEM_GET_PROBE) /* MAXLEN 0: no value comes back */
		err = uclient_async_submit(c, pool, UWIRE_OP_GET, UWIRE_F_MAXLEN,
					   key, klen, maxlen0, sizeof(maxlen0), tag);
	else
		err = uclient_async_submit(c, pool, UWIRE_OP_GET,
					   (flags & UTMEM_GET_EXCLUSIVE) ? UWIRE_F_EXCLUSIVE : 0,
					   key, klen, NULL, 0, tag);
	uclient_unlock(c);
	return err;
}

int utmem_submit_invalidate(utmem_client *c, uint32_t pool, const void *key,
			    size_t klen, uint64_t tag)
{
	int err;

	if (!c)
		return -EINVAL;
	err = uclient_check_key(c, key, klen);
	if (err)
		return err;
	err = uclient_lock(c);
	if (err)
		return err;
	err = uclient_async_submit(c, pool, UWIRE_OP_INVALIDATE, 0, key, klen,
				   NULL, 0, tag);
	uclient_unlock(c);
	return err;
}

int utmem_submit_stats(utmem_client *c, uint32_t pool, uint64_t tag)
{
	int err;

	if (!c)
		return -EINVAL;
	err = uclient_lock(c);
	if (err)
		return err;
	err = uclient_async_submit(c, pool, UWIRE_OP_STATS, 0, NULL, 0, NULL,
				   0, tag);
	uclient_unlock(c);
	return err;
}

int utmem_submit_server_info(utmem_client *c, uint64_t tag)
{
	int err;

	if (!c)
		return -EINVAL;
	err = uclient_lock(c);
	if (err)
		return err;
	err = uclient_async_submit(c, 0, UWIRE_OP_SERVER_INFO, 0, NULL, 0,
				   NULL, 0, tag);
	uclient_unlock(c);
	return err;
}

int utmem_event_fd(utmem_client *c)
{
	int err;

	if (!c)
		return -EINVAL;
	err = uclient_lock(c);
	if (err)
		return err;
	err = async_get(c);
	if (!err)
		watch_conn(c);
	uclient_unlock(c);
	return err ? err : c->async->epfd;
}

/*
 * Has the connection of a ring gone? The socket hung up, the doorbell's
 * other end closed, or the daemon's liveness word says it died.
 */
static int ring_conn_gone(struct utmem_client *c)
{
	struct pollfd p = {.fd = c->fd, .events = POLLIN | POLLRDHUP};
	uint8_t b;

	if (uclient_ring_drain_bell(c))
		return 1;
	if (c->live && !uring_live(c->live))
		return 1;
	if (uclient_ring_closed(c))
		return 1;
	if (poll(&p, 1, 0) <= 0)
		return 0;
	if (p.revents & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL))
		return 1;
	return recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* A reply has begun to arrive on the socket (or it hung up). */
static int socket_ready(struct utmem_client *c)
{
	struct pollfd p = {.fd = c->fd, .events = POLLIN};

	return poll(&p, 1, 0) > 0 && p.revents;
}

/* Read every reply that has arrived (lock held). Returns 0 or -errno. */
static int read_arrived(struct utmem_client *c)
{
	struct uclient_async *a = c->async;
	int gone = c->ring && ring_conn_gone(c), err = 0;

	/* Replies that made it before a hang-up are still read. */
	c->via_ring = c->ring != NULL;
	while (!err && a->inflight) {
		long none = 0;

		if (!bytes_hidden(c) && (c->ring || !socket_ready(c)))
			break;
		err = uclient_read_reply(c, NULL, 0, 0, &none);
	}
	c->via_ring = 0;
	if (!err && gone && a->inflight)
		err = -ECONNRESET;
	return err;
}

int uclient_async_take_arrived(struct utmem_client *c)
{
	int err;

	if (!c->async || !c->async->inflight)
		return 0;
	err = read_arrived(c);
	return err ? err : 1;
}

static unsigned public_op(uint8_t op)
{
	switch (op) {
	case UWIRE_OP_GET:
		return UTMEM_OP_GET;
	case UWIRE_OP_PUT:
		return UTMEM_OP_PUT;
	case UWIRE_OP_STATS:
		return UTMEM_OP_STATS;
	case UWIRE_OP_SERVER_INFO:
		return UTMEM_OP_SERVER_INFO;
	default:
		return UTMEM_OP_INVALIDATE;
	}
}

int utmem_reap(utmem_client *c, struct utmem_completion *out, size_t n)
{
	struct uclient_async *a;
	size_t got = 0;
	int err;

	if (!c || (!out && n))
		return -EINVAL;
	err = uclient_lock(c);
	if (err)
		return err;
	a = c->async;
	if (!a)
		goto out;
	clear_self(a);
	if (c->fd >= 0 && a->inflight && read_arrived(c))
		uclient_disconnect(c); /* completes the rest with the error */
	else if (c->fd >= 0 && c->ring)
		(void)uclient_ring_drain_bell(c); /* a stale wake-up */
	while (got < n && a->ndone) {
		unsigned i = a->done[a->done_head];
		struct slot *s = &a->slot[i];

		a->done_head = (a->done_head + 1) % UTMEM_ASYNC_MAX;
		a->ndone--;
		out[got++] = (struct utmem_completion){
			.tag = s->tag,
			.result = s->result,
			.val = s->val,
			.op = public_op(s->op),
		};
		*s = (struct slot){.state = SLOT_FREE};
		a->free_list[a->nfree++] = (uint16_t)i;
	}
	uclient_async_note(c); /* re-arm, or wake again for what is left */
out:
	uclient_unlock(c);
	return (int)got;
}

int utmem_async_outstanding(utmem_client *c)
{
	int n;

	if (!c)
		return -EINVAL;
	n = uclient_lock(c);
	if (n)
		return n;
	n = c->async ? (int)(UTMEM_ASYNC_MAX - c->async->nfree) : 0;
	uclient_unlock(c);
	return n;
}

/*
 * exec.c — running requests pipelined on one connection.
 *
 * uclient_exec() is the only place requests are sent and replies read, for a
 * single call as for a batch of thousands. It gives request i the id base+i,
 * sends every frame with vectored writes that point at the caller's keys and
 * values (no copy; on a shared-memory ring, one copy into the ring), and
 * reads replies as they come, matching each by id, so
 * it does not depend on the daemon answering in order. Sending and reading
 * are interleaved through poll(): a daemon that answers while it still
 * receives (the normal case) cannot deadlock against a client that is still
 * sending, whatever the sizes in each direction.
 */
#include "client/client_int.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

/* The frames still to send, as an iovec array consumed from `pos`. */
struct uclient_tx {
	struct iovec *iov;
	size_t n, pos;
	struct iovec small[6];
};

static void tx_add(struct uclient_tx *tx, const void *p, size_t len)
{
	if (len == 0)
		return;
	tx->iov[tx->n].iov_base = (void *)p;
	tx->iov[tx->n].iov_len = len;
	tx->n++;
}

/* Encode r's header with id and queue header, key and value. */
static void tx_add_req(struct uclient_tx *tx, struct uclient_req *r,
		       uint64_t id)
{
	const void *val = (r->flags & UWIRE_F_MAXLEN) ? r->maxlen : r->val;
	struct uwire_hdr h = {
		.version = UWIRE_VERSION,
		.opcode = r->op,
		.flags = r->flags,
		.id = id,
		.pool = r->pool,
		.klen = r->klen,
		.vlen = r->vlen,
	};

	uwire_hdr_encode(&h, r->hdr);
	tx_add(tx, r->hdr, UWIRE_HDR_SIZE);
	tx_add(tx, r->key, r->klen);
	tx_add(tx, val, r->vlen);
}

/*
 * Build the send list for every request not already done. Returns the
 * number of replies to wait for, or -ENOMEM. tx->iov may be heap memory:
 * release it with tx_free().
 */
static long tx_build(struct uclient_tx *tx, struct uclient_req *r, size_t n,
		     uint64_t base)
{
	long live = 0;

	for (size_t i = 0; i < n; i++)
		live += !r[i].done;
	tx->n = tx->pos = 0;
	tx->iov = tx->small;
	if ((size_t)live * 3 > sizeof(tx->small) / sizeof(tx->small[0])) {
		tx->iov = calloc((size_t)live * 3, sizeof(*tx->iov));
		if (!tx->iov)
			return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		if (!r[i].done)
			tx_add_req(tx, &r[i], base + i);
	return live;
}

static void tx_free(struct uclient_tx *tx)
{
	if (tx->iov != tx->small)
		free(tx->iov);
}

/* Send what the socket takes now and advance. Returns 0 or -errno. */
static int tx_push(struct utmem_client *c, struct uclient_tx *tx)
{
	ssize_t sent = c->via_ring
			       ? uclient_ring_send(c, tx->iov + tx->pos, tx->n - tx->pos)
			       : uclient_stream_send(c, tx->iov + tx->pos,
						     tx->n - tx->pos);
	size_t left;

	if (sent == -EAGAIN)
		return 0;
	if (sent < 0)
		return (int)sent;
	left = (size_t)sent;
	while (left > 0 && tx->pos < tx->n) {
		struct iovec *v = &tx->iov[tx->pos];

		if (left < v->iov_len) {
			v->iov_base = (uint8_t *)v->iov_base + left;
			v->iov_len -= left;
			break;
		}
		left -= v->iov_len;
		tx->pos++;
	}
	return 0;
}

/*
 * Consume the value of a reply to r according to r->rx and set r->result.
 * Returns 0, or -errno when the connection failed (stream out of sync).
 */
static int take_value(struct utmem_client *c, struct uclient_req *r,
		      const struct uwire_hdr *h)
{
	void *p;
	int err;

	if (h->status != UWIRE_S_OK) {
		r->result = -uwire_status_to_errno(h->status);
		if (h->status == UWIRE_S_BADPOOL)
			uclient_pool_refused(c, r->pool);
		return uclient_skip(c, h->vlen);
	}
	switch (r->rx) {
	case UCLIENT_RX_BUF:
		if (h->vlen > r->cap)
			break;
		r->result = h->vlen;
		return uclient_read_exact(c, r->buf, h->vlen);
	case UCLIENT_RX_RECORD:
		if (h->vlen != r->cap)
			break;
		return uclient_read_exact(c, r->buf, h->vlen);
	case UCLIENT_RX_ALLOC:
		p = malloc(h->vlen ? h->vlen : 1);
		if (!p)
			break;
		err = uclient_read_exact(c, p, h->vlen);
		if (err) {
			free(p);
			return err;
		}
		*r->out = p;
		r->result = h->vlen;
		return 0;
	case UCLIENT_RX_NONE:
		break;
	}
	/* The value is not wanted or does not fit: say why and drop it. */
	if (r->rx == UCLIENT_RX_BUF)
		r->result = -ENOBUFS;
	else if (r->rx == UCLIENT_RX_RECORD)
		r->result = -EPROTO;
	else if (r->rx == UCLIENT_RX_ALLOC)
		r->result = -ENOMEM;
	return uclient_skip(c, h->vlen);
}

/*
 * Read one reply and settle the request it answers (or, for an id with
 * UCLIENT_ASYNC_ID, the asynchronous request). Returns 0 or -errno
 * for a connection-level failure: the stream broke, the reply is malformed
 * or answers nothing we asked, or the daemon refused the connection as a
 * whole (a status on an id it could not read, as after a version mismatch).
 */
int uclient_read_reply(struct utmem_client *c, struct uclient_req *r, size_t n,
		       uint64_t base, long *waiting)
{
	uint8_t raw[UWIRE_HDR_SIZE];
	struct uwire_hdr h;
	struct uclient_req *req;
	uint64_t idx;
	int err;

	err = uclient_read_exact(c, raw, sizeof(raw));
	if (err)
		return err;
	err = uwire_hdr_decode(raw, &c->rx_lim, &h);
	if (err == -UWIRE_S_VERSION)
		return -EPROTONOSUPPORT;
	if (err || !(h.flags & UWIRE_F_RESPONSE))
		return -EPROTO;
	/* The reply of an asynchronous request: kept as its completion. */
	if ((h.id & UCLIENT_ASYNC_ID) && c->async)
		return uclient_async_reply(c, &h);
	idx = h.id - base;
	if (h.id < base || idx >= n || r[idx].done)
		return h.status ? -uwire_status_to_errno(h.status) : -EPROTO;
	req = &r[idx];
	if (h.opcode != req->op)
		return -EPROTO;
	/* Replies carry no key today; skip one so a newer daemon stays usable. */
	err = uclient_skip(c, h.klen);
	if (!err)
		err = take_value(c, req, &h);
	if (err)
		return err;
	if (req->force && (req->result >= 0 || req->result == -ENOENT))
		req->result = req->force;
	req->reply_pool = h.pool;
	req->done = 1;
	(*waiting)--;
	return 0;
}

/*
 * Wait until reply bytes can be read (or, while requests are unsent, until
 * more can be sent). Returns 1 when a reply can be read, 0 to go round and
 * send, or -errno.
 */
static int wait_channel(struct utmem_client *c, int tx_pending)
{
	short rev = 0;
	int err;

	/* Buffered reply bytes are invisible to poll(): use them first. */
	if (c->rb.end != c->rb.start)
		return 1;
	if (c->via_ring) {
		err = uclient_ring_rx_ready(c);
		if (err)
			return err;
		err = uclient_ring_wait(c, tx_pending, c->timeout_ms);
		if (err)
			return err;
		return uclient_ring_rx_ready(c);
	}
	err = uclient_wait(c->fd, POLLIN | (tx_pending ? POLLOUT : 0),
			   c->timeout_ms, &rev);
	if (err)
		return err;
	return (rev & (POLLIN | POLLHUP | POLLERR)) != 0;
}

/*
 * Sending failed with -EPIPE or -ECONNRESET: the daemon closed the
 * connection, and may have said why first, in a frame with a status
 * (docs/protocol.md section 5): a connection it refuses at accept, the
 * tenant's connection limit reached, is answered so before it reads
 * anything, often before our HELLO is sent. Read what arrived before the
 * close: a reply settles its request, and a refusal's status is the error
 * to report rather than the broken pipe. Returns that error, or err.
 */
static int send_failed(struct utmem_client *c, struct uclient_req *r,
		       size_t n, uint64_t base, long *waiting, int err)
{
	if (c->via_ring || (err != -EPIPE && err != -ECONNRESET))
		return err;
	while (*waiting > 0) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		int rc;

		if (c->rb.end == c->rb.start &&
		    (poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN)))
			break;
		rc = uclient_read_reply(c, r, n, base, waiting);
		if (rc)
			return rc == -ECONNRESET || rc == -EPIPE ? err : rc;
	}
	return err;
}

/*
 * Pump the connection until every reply is in. Sends are tried before any
 * wait (the channel usually has room), so a single request on a socket
 * costs one sendmsg, one poll and one recv, and on a ring no system call
 * at all while the daemon is polling. Returns 0 or -errno.
 */
static int pump(struct utmem_client *c, struct uclient_tx *tx,
		struct uclient_req *r, size_t n, uint64_t base, long waiting)
{
	int err;

	while (waiting > 0) {
		if (tx->pos < tx->n) {
			err = tx_push(c, tx);
			if (err)
				return send_failed(c, r, n, base, &waiting, err);
		}
		err = wait_channel(c, tx->pos < tx->n);
		if (err < 0)
			return err;
		if (err == 0)
			continue; /* room to send only */
		err = uclient_read_reply(c, r, n, base, &waiting);
		if (err)
			return err;
	}
	return 0;
}

/*
 * The channel for a set of requests: the ring when there is one and every
 * frame fits in half of it, else the socket. One exec uses one channel;
 * between execs only posted requests can be in flight, all on the ring, and
 * an exec on the socket waits until they were served: requests on the two
 * channels never overtake each other.
 */
static int pick_ring(const struct utmem_client *c, const struct uclient_req *r,
		     size_t n)
{
	size_t max;

	if (!c->ring)
		return 0;
	max = uclient_ring_max_frame(c);
	for (size_t i = 0; i < n; i++) {
		if (!r[i].done &&
		    (size_t)UWIRE_HDR_SIZE + r[i].klen + r[i].vlen > max)
			return 0;
	}
	return 1;
}

/*
 * Send every request of r[0..n) not already done and settle each with its
 * reply. The caller holds c->lock and c is connected. Returns 0, or -errno
 * when the connection failed: then c is disconnected and every request not
 * answered has result -ECONNRESET.
 */
int uclient_exec(struct utmem_client *c, struct uclient_req *r, size_t n)
{
	uint64_t base = c->next_id;
	struct uclient_tx tx;
	long waiting;
	int err;

	/* The guest module's device: one ioctl per request (dev.c). */
	if (c->addr.kind == UCLIENT_DEV)
		return uclient_dev_exec(c, r, n);
	c->next_id += n;
	waiting = tx_build(&tx, r, n, base);
	if (waiting < 0)
		return (int)waiting;
	c->via_ring = pick_ring(c, r, n);
	if (c->via_ring) {
		c->post.sent += (uint64_t)waiting; /* frames through the ring */
		err = 0;
	} else {
		/* A frame too big for the ring must not overtake posted ones;
		 * nor may replies of asynchronous requests on the ring be
		 * left in the read buffer the socket's replies go through. */
		err = uclient_post_settle(c, 0, NULL, 0);
		if (!err && c->async)
			err = uclient_async_drain(c);
	}
	if (!err) {
		/* UTMEM_OPT_TIMING: the request is handed to the channel now
		 * (bench.c); the pump returns with every reply in. */
		uint64_t t0 = (c->flags & UTMEM_OPT_TIMING) ? uclient_now() : 0;
		unsigned path = c->via_ring ? UTMEM_PATH_RING : UTMEM_PATH_SOCKET;

		err = pump(c, &tx, r, n, base, waiting);
		if (!err)
			uclient_tm_mark(c, path, t0);
	}
	c->via_ring = 0;
	tx_free(&tx);
	if (!err) {
		if (c->async)
			uclient_async_note(c);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (!r[i].done) {
			r[i].result = -ECONNRESET;
			r[i].done = 1;
		}
	}
	uclient_disconnect(c);
	return err;
}

ssize_t uclient_exec_one(struct utmem_client *c, struct uclient_req *r)
{
	int err = uclient_exec(c, r, 1);

	return err ? err : r->result;
}

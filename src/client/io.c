/*
 * io.c — moving bytes on a non-blocking socket with bounded waits.
 *
 * Every wait is a poll() of at most the client's timeout, restarted only by
 * progress, so a daemon that stops answering costs a caller one timeout and
 * never a hang. Reads go through a small per-connection buffer so that many
 * small replies cost few system calls, while a large value is received
 * straight into the caller's memory. Sends use MSG_NOSIGNAL: a daemon that
 * went away must not kill the host program with SIGPIPE.
 * Reads come from the channel the running exec uses: the socket, or the
 * shared-memory ring (ring.c) when c->via_ring is set.
 */
#include "client/client_int.h"
#include "proto/clock.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
	return (int64_t)(umono_ns() / 1000000u);
}

/*
 * Wait until fd has one of events or an error condition, for at most
 * timeout_ms (signals do not extend the wait). Returns 0 with *revents set,
 * -ETIMEDOUT, or -errno from poll().
 */
int uclient_wait(int fd, short events, int timeout_ms, short *revents)
{
	int64_t deadline = now_ms() + timeout_ms;
	struct pollfd p = {.fd = fd, .events = events};

	for (;;) {
		int64_t left = deadline - now_ms();
		int rc;

		if (left < 0)
			left = 0;
		rc = poll(&p, 1, (int)left);
		if (rc > 0) {
			*revents = p.revents;
			return 0;
		}
		if (rc == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/*
 * Send as much of iov as the socket takes now, without blocking. Returns
 * the byte count (> 0), -EAGAIN when nothing could be sent, or -errno.
 */
ssize_t uclient_send_some(int fd, const struct iovec *iov, size_t iovcnt)
{
	struct msghdr msg = {
		.msg_iov = (struct iovec *)iov,
		.msg_iovlen = iovcnt > IOV_MAX ? IOV_MAX : iovcnt,
	};

	for (;;) {
		ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n >= 0)
			return n;
		if (errno == EWOULDBLOCK)
			return -EAGAIN;
		if (errno != EINTR)
			return -errno;
	}
}

ssize_t uclient_stream_send(struct utmem_client *c, const struct iovec *iov,
			    size_t iovcnt)
{
	if (c->addr.kind == UCLIENT_VPORT)
		return uclient_vport_send(c, iov, iovcnt);
	return uclient_send_some(c->fd, iov, iovcnt);
}

/*
 * Receive up to len bytes into dst, waiting for at least one. Returns the
 * count, -ECONNRESET at end of stream, -ETIMEDOUT, or -errno.
 */
static ssize_t recv_some(struct utmem_client *c, void *dst, size_t len)
{
	int fd = c->fd;

	while (c->via_ring) {
		ssize_t n = uclient_ring_recv(c, dst, len);
		int err;

		if (n != 0)
			return n;
		err = uclient_ring_wait(c, 0, c->timeout_ms);
		if (err)
			return err;
	}
	for (;;) {
		/* A virtio-serial port is a character device: read(), not recv(). */
		ssize_t n = c->addr.kind == UCLIENT_VPORT
				    ? read(fd, dst, len)
				    : recv(fd, dst, len, MSG_DONTWAIT);
		short rev;
		int err;

		if (n > 0)
			return n;
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK)
			return -errno;
		err = uclient_wait(fd, POLLIN, c->timeout_ms, &rev);
		if (err)
			return err;
	}
}

/* Hand out up to n buffered bytes. Returns how many were copied. */
static size_t take_buffered(struct uclient_rbuf *rb, void *dst, size_t n)
{
	size_t avail = rb->end - rb->start;

	if (n > avail)
		n = avail;
	if (dst && n)
		memcpy(dst, rb->data + rb->start, n);
	rb->start += n;
	if (rb->start == rb->end)
		rb->start = rb->end = 0;
	return n;
}

/* Refill an empty buffer with whatever has arrived (at least one byte). */
static int refill(struct utmem_client *c)
{
	struct uclient_rbuf *rb = &c->rb;
	ssize_t n = recv_some(c, rb->data, rb->cap);

	if (n < 0)
		return (int)n;
	rb->start = 0;
	rb->end = (size_t)n;
	return 0;
}

/*
 * Read exactly n bytes into dst (dst NULL: discard them). Large remainders
 * bypass the buffer. Returns 0 or -errno; on error the stream is out of
 * sync and the caller must drop the connection.
 */
static int read_or_skip(struct utmem_client *c, uint8_t *dst, size_t n)
{
	struct uclient_rbuf *rb = &c->rb;
	size_t got = take_buffered(rb, dst, n);

	while (got < n) {
		size_t want = n - got;
		int err;

		if (dst && want >= rb->cap / 2) {
			ssize_t r = recv_some(c, dst + got, want);

			if (r < 0)
				return (int)r;
			got += (size_t)r;
			continue;
		}
		err = refill(c);
		if (err)
			return err;
		got += take_buffered(rb, dst ? dst + got : NULL, want);
	}
	return 0;
}

int uclient_read_exact(struct utmem_client *c, void *dst, size_t n)
{
	return read_or_skip(c, dst, n);
}

int uclient_skip(struct utmem_client *c, size_t n)
{
	return read_or_skip(c, NULL, n);
}

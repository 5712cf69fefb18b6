/*
 * addr.c — libutmem's addresses: parsing `unix:PATH` (a tenant's socket,
 * plus the fast path — ring and value region — that client.c sets up when
 * the daemon offers it; `ring:PATH` is the same), `tcp:HOST:PORT` and
 * `vsock:CID:PORT`, and dialing them with a bounded connect.
 *
 * Parsing is strict and allocation-free so a malformed address is reported
 * as -EINVAL before any socket exists. Sockets are created non-blocking and
 * close-on-exec; the rest of the library relies on non-blocking descriptors
 * to bound every wait with poll().
 */
#include "client/client_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/vm_sockets.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * Parse a decimal u32 that is the whole of s[0..len): digits only, as
 * many leading zeros as given. 0 or -EINVAL.
 */
static int parse_u32(const char *s, size_t len, uint32_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > UINT32_MAX) /* stops before v can wrap */
			return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

static int parse_unix(const char *path, struct uclient_addr *a)
{
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(a->path))
		return -EINVAL;
	a->kind = UCLIENT_UNIX;
	memcpy(a->path, path, len + 1);
	return 0;
}

/* A tenant's Unix socket, with the fast path where the daemon offers it. */
static int parse_local(const char *path, struct uclient_addr *a)
{
	int err = parse_unix(path, a);

	a->ring = err == 0;
	return err;
}

/*
 * HOST:PORT, where HOST is a name or an IPv4 address (no ':'), or an IPv6
 * address in brackets ([::1]), and PORT is 1..65535 in decimal digits
 * alone (no sign, no space). An IPv6 address without brackets is
 * refused: nothing would say where it ends (is ::1:80 the address ::1 and
 * port 80, or the address ::1:80 with its port missing?). Brackets hold
 * an IPv6 address only, so the two forms never overlap. PORT is kept as
 * its canonical digits, so leading zeros cannot make it longer than
 * a->port.
 */
static int parse_tcp(const char *s, struct uclient_addr *a)
{
	const char *colon = strrchr(s, ':');
	const char *host = s;
	size_t hlen;
	uint32_t port;
	int bracketed;

	if (!colon || parse_u32(colon + 1, strlen(colon + 1), &port) ||
	    port == 0 || port > 65535)
		return -EINVAL;
	hlen = (size_t)(colon - s);
	bracketed = hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']';
	if (bracketed) {
		host++;
		hlen -= 2;
	}
	/* A bracket left over is one unmatched, or one inside HOST; a ':'
	 * is an IPv6 address's, and only brackets may hold one. */
	if (hlen == 0 || hlen >= sizeof(a->host) || memchr(host, '/', hlen) ||
	    memchr(host, '[', hlen) || memchr(host, ']', hlen) ||
	    (memchr(host, ':', hlen) != NULL) != bracketed)
		return -EINVAL;
	a->kind = UCLIENT_TCP;
	memcpy(a->host, host, hlen);
	a->host[hlen] = '\0';
	snprintf(a->port, sizeof(a->port), "%u", (unsigned)port);
	return 0;
}

static int parse_vsock(const char *s, struct uclient_addr *a)
{
	const char *colon = strchr(s, ':');

	if (!colon || parse_u32(s, (size_t)(colon - s), &a->cid) ||
	    parse_u32(colon + 1, strlen(colon + 1), &a->vport))
		return -EINVAL;
	a->kind = UCLIENT_VSOCK;
	return 0;
}

/*
 * Parse an address string into *a. Returns 0 or -EINVAL; *a is zeroed
 * first and meaningful only on success.
 */
int uclient_addr_parse(const char *s, struct uclient_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (!s)
		return -EINVAL;
	if (strncmp(s, "unix:", 5) == 0)
		return parse_local(s + 5, a);
	if (strncmp(s, "tcp:", 4) == 0)
		return parse_tcp(s + 4, a);
	if (strncmp(s, "vsock:", 6) == 0)
		return parse_vsock(s + 6, a);
	if (strncmp(s, "vport:", 6) == 0 || strncmp(s, "virtio-serial:", 14) == 0) {
		int by_name = s[1] == 'i';
		int err = parse_unix(s + (by_name ? 14 : 6), a);

		a->kind = err ? UCLIENT_NONE : UCLIENT_VPORT;
		a->vport_by_name = by_name && !err;
		if (!err && by_name && strchr(a->path, '/'))
			return -EINVAL; /* a name, not a path */
		return err;
	}
	if (strncmp(s, "dev:", 4) == 0) {
		int err = parse_unix(s + 4, a);

		a->kind = err ? UCLIENT_NONE : UCLIENT_DEV;
		return err;
	}
	if (strncmp(s, "ivshmem:", 8) == 0) {
		/* ivshmem: alone finds the device; else a path to it. */
		int err = s[8] ? parse_unix(s + 8, a) : 0;

		a->kind = err ? UCLIENT_NONE : UCLIENT_IVSHMEM;
		return err;
	}
	if (strncmp(s, "ring:", 5) == 0)
		return parse_local(s + 5, a); /* the old name of the same thing */
	if (strchr(s, '/'))
		return parse_local(s, a);
	return -EINVAL;
}

/*
 * Connect fd to sa, waiting at most timeout_ms for a connect in progress.
 * Returns 0 or -errno (-ETIMEDOUT when the wait ran out).
 */
static int connect_bounded(int fd, const struct sockaddr *sa, socklen_t len,
			   int timeout_ms)
{
	int soerr = 0;
	socklen_t slen = sizeof(soerr);
	short rev;
	int err;

	if (connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -errno;
	err = uclient_wait(fd, POLLOUT, timeout_ms, &rev);
	if (err)
		return err;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &slen) < 0)
		return -errno;
	return soerr ? -soerr : 0;
}

static int new_socket(int domain)
{
	int fd = socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	return fd < 0 ? -errno : fd;
}

/*
 * A Unix socket's connect fails with EAGAIN, not "in progress", while the
 * listener's accept queue is full (utmemd busy, or stopped): try again
 * with growing naps (0.5 ms to 20 ms) until it takes the connection or
 * timeout_ms runs out (-ETIMEDOUT), as a blocking connect would wait.
 */
static int connect_unix(int fd, const struct sockaddr_un *sun, int timeout_ms)
{
	uint64_t deadline = uclient_now() + (uint64_t)timeout_ms * 1000000u;
	useconds_t nap = 500;

	for (;;) {
		int err = connect_bounded(fd, (const struct sockaddr *)sun,
					  sizeof(*sun), timeout_ms);
		uint64_t now;

		if (err != -EAGAIN)
			return err;
		now = uclient_now();
		if (now >= deadline)
			return -ETIMEDOUT;
		if ((uint64_t)nap * 1000u > deadline - now)
			nap = (useconds_t)((deadline - now) / 1000u) + 1;
		usleep(nap);
		if (nap < 20000)
			nap *= 2;
	}
}

static int dial_unix(const struct uclient_addr *a, int timeout_ms)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = new_socket(AF_UNIX);
	int err;

	if (fd < 0)
		return fd;
	memcpy(sun.sun_path, a->path, strlen(a->path) + 1);
	err = connect_unix(fd, &sun, timeout_ms);
	if (err) {
		close(fd);
		/*
		 * A missing socket file means no daemon is listening there.
		 * Say so as a refused connection: -ENOENT is this library's
		 * "miss", and a caller must never read "daemon down" as
		 * "no such key".
		 */
		return err == -ENOENT ? -ECONNREFUSED : err;
	}
	return fd;
}

static int dial_vsock(const struct uclient_addr *a, int timeout_ms)
{
	struct sockaddr_vm svm = {
		.svm_family = AF_VSOCK,
		.svm_cid = a->cid,
		.svm_port = a->vport,
	};
	int fd = new_socket(AF_VSOCK);
	int err;

	if (fd < 0)
		return fd;
	err = connect_bounded(fd, (struct sockaddr *)&svm, sizeof(svm),
			      timeout_ms);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

/* Map a getaddrinfo() failure to an errno value. */
static int gai_errno(int rc)
{
	switch (rc) {
	case EAI_SYSTEM: return errno ? errno : EIO;
	case EAI_MEMORY: return ENOMEM;
	case EAI_AGAIN: return EAGAIN;
	default: return EHOSTUNREACH;
	}
}

/* Try each resolved address in turn; the last error is returned. */
static int dial_tcp(const struct uclient_addr *a, int timeout_ms)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICSERV,
	};
	struct addrinfo *res, *ai;
	int one = 1;
	int err = -EHOSTUNREACH;
	int rc = getaddrinfo(a->host, a->port, &hints, &res);

	if (rc)
		return -gai_errno(rc);
	for (ai = res; ai; ai = ai->ai_next) {
		int fd = new_socket(ai->ai_family);

		if (fd < 0) {
			err = fd;
			continue;
		}
		err = connect_bounded(fd, ai->ai_addr, ai->ai_addrlen,
				      timeout_ms);
		if (!err) {
			/* Requests are small and latency-bound. */
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				   sizeof(one));
			freeaddrinfo(res);
			return fd;
		}
		close(fd);
	}
	freeaddrinfo(res);
	return err;
}

/*
 * Open a connected, non-blocking socket to a. Returns the descriptor (owned
 * by the caller) or -errno.
 */
int uclient_dial(const struct uclient_addr *a, int timeout_ms)
{
	switch (a->kind) {
	case UCLIENT_UNIX: return dial_unix(a, timeout_ms);
	case UCLIENT_TCP: return dial_tcp(a, timeout_ms);
	case UCLIENT_VSOCK: return dial_vsock(a, timeout_ms);
	case UCLIENT_VPORT: return uclient_vport_open(a);
	case UCLIENT_IVSHMEM: return uclient_ivshmem_open(a);
	case UCLIENT_DEV: return uclient_dev_open(a);
	default: return -ENOTCONN;
	}
}

/*
 * vport.c — libutmem inside a VM guest over virtio-serial (`vport:PATH`,
 * `virtio-serial:NAME`).
 *
 * The host end of a virtserialport is a QEMU chardev socket connected to a
 * tenant's Unix socket of utmemd, so the port carries exactly the socket
 * framing (docs/protocol.md section 1) and the tenant is whichever socket
 * QEMU was told to connect to. Two things differ from a socket, and this
 * file handles both:
 *
 * - The host connection outlives the guest process. Closing and reopening
 *   the port does not reconnect QEMU to utmemd, so a new process may find
 *   replies to a dead predecessor's requests still in the stream. After
 *   opening the port we therefore send a PING whose id is a fresh random
 *   64-bit nonce and discard everything before its exact reply
 *   (uclient_vport_sync).
 * - A write to the port is delivered to the host whole only up to 32 KiB
 *   per write() call (virtio_console's buffer). Each frame is therefore
 *   written with its own write() calls, a frame of up to 32 KiB with
 *   exactly one, so a process killed between two writes never leaves half
 *   a small frame behind. Larger frames (big PUTs) cannot be atomic; a
 *   process killed in the middle of one leaves the host stream mid-frame
 *   (docs/vm.md, "virtio-serial" says what then happens).
 *
 * Character devices take read()/write(), not recv()/sendmsg(): io.c calls
 * uclient_vport_send() and read() for a client of this kind.
 */
#include "client/client_int.h"
#include "proto/clock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define VPORT_WRITE_MAX (32u * 1024u) /* one virtio_console buffer */
#define VPORT_SYSFS "/sys/class/virtio-ports"
#define SYNC_SCAN_MAX (256u << 20)    /* stale bytes we are willing to skip */

/*
 * Find the port device named `name` (the virtserialport's name= property)
 * through sysfs: /sys/class/virtio-ports/vportNpM/name. Writes "/dev/vportNpM"
 * into path. Returns 0, -ENOENT or -ENAMETOOLONG.
 */
static int resolve_name(const char *name, char *path, size_t len)
{
	DIR *d = opendir(VPORT_SYSFS);
	struct dirent *e;
	int err = -ENOENT;

	if (!d)
		return -ENOENT;
	while ((e = readdir(d)) != NULL) {
		char file[512], got[256];
		size_t n;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), VPORT_SYSFS "/%s/name", e->d_name);
		f = fopen(file, "re");
		if (!f)
			continue;
		n = fread(got, 1, sizeof(got) - 1, f);
		fclose(f);
		got[n] = '\0';
		if (n && got[n - 1] == '\n')
			got[n - 1] = '\0';
		if (strcmp(got, name) != 0)
			continue;
		n = (size_t)snprintf(path, len, "/dev/%s", e->d_name);
		err = n < len ? 0 : -ENAMETOOLONG;
		break;
	}
	closedir(d);
	return err;
}

int uclient_vport_open(const struct uclient_addr *a)
{
	char byname[sizeof(a->path)];
	const char *path = a->path;
	struct stat st;
	int fd, err;

	if (a->vport_by_name) {
		err = resolve_name(a->path, byname, sizeof(byname));
		if (err)
			return err == -ENOENT ? -ECONNREFUSED : err;
		path = byname;
	}
	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		/* -ENOENT would read as a key miss to a caller. */
		return errno == ENOENT ? -ECONNREFUSED : -errno;
	if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode)) {
		close(fd);
		return -ENOTTY;
	}
	return fd;
}

/*
 * Copy up to n bytes from the front of iov[0..iovcnt) (skipping `skip`
 * bytes first) into dst. Returns the count copied.
 */
static size_t gather(uint8_t *dst, size_t n, const struct iovec *iov,
		     size_t iovcnt, size_t skip)
{
	size_t got = 0;

	for (size_t i = 0; i < iovcnt && got < n; i++) {
		size_t len = iov[i].iov_len;
		const uint8_t *p = iov[i].iov_base;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		p += skip;
		len -= skip;
		skip = 0;
		if (len > n - got)
			len = n - got;
		memcpy(dst + got, p, len);
		got += len;
	}
	return got;
}

ssize_t uclient_vport_send(struct utmem_client *c, const struct iovec *iov,
			   size_t iovcnt)
{
	size_t total = 0, avail = 0;

	for (size_t i = 0; i < iovcnt; i++)
		avail += iov[i].iov_len;
	while (total < avail) {
		size_t chunk;
		ssize_t n;

		if (c->vport_left == 0) {
			/* A frame starts here: its header is ours and whole. */
			uint8_t hdr[UWIRE_HDR_SIZE];

			if (gather(hdr, sizeof(hdr), iov, iovcnt, total) !=
			    sizeof(hdr))
				return total ? (ssize_t)total : -EPROTO;
			c->vport_left = (size_t)UWIRE_HDR_SIZE +
					uwire_get_u32(hdr + 24) +
					uwire_get_u32(hdr + 28);
		}
		chunk = c->vport_left < VPORT_WRITE_MAX ? c->vport_left
							: VPORT_WRITE_MAX;
		if (chunk > avail - total)
			chunk = avail - total;
		gather(c->vport_buf, chunk, iov, iovcnt, total);
		n = write(c->fd, c->vport_buf, chunk);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			/* The host end is gone (QEMU unplugged the port). */
			return total ? (ssize_t)total : -ECONNRESET;
		}
		c->vport_left -= (size_t)n;
		total += (size_t)n;
	}
	return total ? (ssize_t)total : -EAGAIN;
}

static uint64_t now_ms(void)
{
	return umono_ns() / 1000000u;
}

/* Write all of buf (a small frame: one write) within the deadline. */
static int write_frame(struct utmem_client *c, const uint8_t *buf, size_t len,
		       uint64_t deadline)
{
	struct iovec iov = {(void *)buf, len};

	for (;;) {
		ssize_t n = uclient_vport_send(c, &iov, 1);
		uint64_t now = now_ms();
		short rev;
		int err;

		if (n == (ssize_t)len)
			return 0;
		if (n >= 0 || n != -EAGAIN)
			return n < 0 ? (int)n : -EIO;
		if (now >= deadline)
			return -ETIMEDOUT;
		err = uclient_wait(c->fd, POLLOUT, (int)(deadline - now), &rev);
		if (err)
			return err;
		if (rev & (POLLHUP | POLLERR))
			return -ECONNRESET;
	}
}

int uclient_vport_sync(struct utmem_client *c)
{
	uint8_t want[UWIRE_HDR_SIZE], req[UWIRE_HDR_SIZE];
	uint8_t buf[4096 + UWIRE_HDR_SIZE];
	uint64_t nonce, deadline = now_ms() + (uint64_t)c->timeout_ms;
	struct uwire_hdr h = {.version = UWIRE_VERSION, .opcode = UWIRE_OP_PING};
	size_t have = 0, scanned = 0;
	int err;

	if (getrandom(&nonce, sizeof(nonce), 0) != sizeof(nonce))
		return -EIO;
	c->vport_left = 0;
	h.id = nonce;
	uwire_hdr_encode(&h, req);
	h.flags = UWIRE_F_RESPONSE;
	uwire_hdr_encode(&h, want);
	err = write_frame(c, req, sizeof(req), deadline);
	if (err)
		return err;
	/* Keep the last 31 bytes between reads: the reply may straddle two. */
	while (scanned < SYNC_SCAN_MAX) {
		ssize_t n = read(c->fd, buf + have, sizeof(buf) - have);
		uint64_t now;
		short rev;

		if (n > 0) {
			have += (size_t)n;
			scanned += (size_t)n;
			for (size_t i = 0; i + sizeof(want) <= have; i++) {
				if (memcmp(buf + i, want, sizeof(want)) != 0)
					continue;
				/* Bytes after our reply belong to nobody. */
				return i + sizeof(want) == have ? 0 : -EPROTO;
			}
			if (have >= sizeof(want)) {
				memmove(buf, buf + have - (sizeof(want) - 1),
					sizeof(want) - 1);
				have = sizeof(want) - 1;
			}
			continue;
		}
		if (n == 0)
			return -ECONNRESET; /* no host connection */
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		now = now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		err = uclient_wait(c->fd, POLLIN, (int)(deadline - now), &rev);
		if (err)
			return err;
	}
	return -EPROTO;
}

int uclient_vport_idle_dead(struct utmem_client *c)
{
	struct pollfd p = {.fd = c->fd, .events = POLLIN};

	/* The port reports a missing host end as POLLHUP. */
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL));
}

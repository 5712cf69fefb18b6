/*
 * net.c — utmemd's listening sockets.
 *
 * A Unix socket path left behind by a crashed daemon must not stop a
 * restart, but a live daemon's socket must never be stolen: before
 * unlinking an existing path we try to connect to it, and only a refused
 * connection proves it stale.
 */
#include "daemon/daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define BACKLOG 1024

/*
 * Return 0 if path is free (absent, or a stale socket now removed), else
 * -EADDRINUSE (a daemon answers) or another -errno, with msg set.
 */
static int claim_path(const struct sockaddr_un *sa, char *msg, size_t msglen)
{
	struct stat sb;
	int fd, rc, err;

	if (lstat(sa->sun_path, &sb) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(sb.st_mode)) {
		snprintf(msg, msglen, "%s exists and is not a socket", sa->sun_path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	err = errno;
	close(fd);
	if (rc == 0) {
		snprintf(msg, msglen,
			 "socket %s is in use (is another utmemd running with this run directory?)",
			 sa->sun_path);
		return -EADDRINUSE;
	}
	if (err != ECONNREFUSED && err != ENOENT) {
		snprintf(msg, msglen, "cannot check %s: %s", sa->sun_path,
			 strerror(err));
		return -err;
	}
	if (unlink(sa->sun_path) < 0 && errno != ENOENT) {
		snprintf(msg, msglen, "cannot remove stale socket %s: %s",
			 sa->sun_path, strerror(errno));
		return -errno;
	}
	return 0;
}

int ud_listen_unix(const char *path, unsigned mode, uid_t uid, gid_t gid,
		   char *msg, size_t msglen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	mode_t old;
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(msg, msglen, "socket path too long (max %zu bytes): %s",
			 sizeof(sa.sun_path) - 1, path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	err = claim_path(&sa, msg, msglen);
	if (err) {
		if (!*msg)
			snprintf(msg, msglen, "cannot use %s: %s", path, strerror(-err));
		return err;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	/* Create the file with no access, then open it up: no window in which
	 * the admin socket is reachable by others. */
	old = umask(0777);
	err = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (err < 0)
		goto fail_fd;
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && chown(path, uid, gid) < 0) {
		err = errno;
		unlink(path);
		close(fd);
		snprintf(msg, msglen, "cannot give %s to owner %d group %d: %s", path,
			 uid == (uid_t)-1 ? -1 : (int)uid,
			 gid == (gid_t)-1 ? -1 : (int)gid, strerror(err));
		return -err;
	}
	if (chmod(path, mode) < 0 || listen(fd, BACKLOG) < 0) {
		err = errno;
		unlink(path);
		close(fd);
		errno = err;
		goto fail;
	}
	return fd;
fail_fd:
	err = errno;
	close(fd);
	errno = err;
fail:
	snprintf(msg, msglen, "cannot listen on %s: %s", path, strerror(errno));
	return -errno;
}

int ud_listen_tcp(const char *host, uint16_t port, char *msg, size_t msglen)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int one = 1, fd, err;

	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		snprintf(msg, msglen, "bad TCP address %s", host);
		return -EINVAL;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, BACKLOG) < 0) {
		err = errno;
		close(fd);
		errno = err;
		goto fail;
	}
	return fd;
fail:
	snprintf(msg, msglen, "cannot listen on tcp %s:%u: %s", host,
		 (unsigned)port, strerror(errno));
	return -errno;
}

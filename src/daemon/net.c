/*
 * net.c — utmemd's listening sockets.
 *
 * A Unix socket path left behind by a crashed daemon must not stop a
 * restart, but a live daemon's socket must never be stolen: before
 * unlinking an existing path we try to connect to it, and only a refused
 * connection proves it stale. A socket file appears only once it listens
 * (ud_listen_unix).
 */
#include "daemon/daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
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
	/*
	 * Never a blocking connect: the path may be in a directory a tenant
	 * writes, and a listener that accepts nobody, its backlog full,
	 * would hold the main loop. A Unix connect completes at once or,
	 * backlog full, fails with EAGAIN: a live server either way.
	 */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	err = errno;
	close(fd);
	if (rc == 0 || err == EAGAIN) {
		snprintf(msg, msglen,
			 "socket %s is in use: a live server is listening on it",
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

/*
 * Give the socket file at name its owner and mode through a handle on the
 * name's own inode, never by path: the directory may be the tenant's, and
 * a symlink swapped in would give utmemd's chown and chmod (as root) to
 * its target. Whatever is there must be a socket, not followed, and with
 * id, that very socket. (uid_t)-1 / (gid_t)-1 leave owner / group. On
 * success *got (if not NULL) names the inode. Returns 0, -EEXIST when
 * something else is there now, or -errno of the step that failed (*step
 * says which: "chown" or "chmod").
 */
static int set_perms(const char *name, const struct ud_sockid *id,
		     unsigned mode, uid_t uid, gid_t gid, struct ud_sockid *got,
		     const char **step)
{
	char self[32];
	struct stat sb;
	int pfd, err = 0;

	*step = "open";
	pfd = open(name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	if (fstat(pfd, &sb) < 0 || !S_ISSOCK(sb.st_mode) ||
	    (id && (sb.st_dev != id->dev || sb.st_ino != id->ino))) {
		close(pfd);
		return -EEXIST;
	}
	*step = "chown";
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
	    fchownat(pfd, "", uid, gid, AT_EMPTY_PATH) < 0)
		err = -errno;
	/* fchmod() on an O_PATH handle is EBADF; its /proc name is the inode. */
	if (!err) {
		*step = "chmod";
		snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
		if (chmod(self, mode) < 0)
			err = -errno;
	}
	close(pfd);
	if (!err && got)
		*got = (struct ud_sockid){sb.st_dev, sb.st_ino};
	return err;
}

int ud_socket_perms(const char *path, const struct ud_sockid *id,
		    unsigned mode, uid_t uid, gid_t gid, char *msg, size_t msglen)
{
	const char *step;
	int err = set_perms(path, id, mode, uid, gid, NULL, &step);

	if (err == -EEXIST || err == -ENOENT)
		snprintf(msg, msglen, "%s is no longer utmemd's socket", path);
	else if (err)
		snprintf(msg, msglen, "cannot %s %s: %s", step, path, strerror(-err));
	return err;
}

/*
 * Bind fd at sa's name with no access for anyone, give it its owner and
 * mode, make it listen; *id names its inode. Returns 0, or -errno with the
 * name unlinked again (messages name path, the socket the operator asked
 * for).
 */
static int bind_listen(int fd, const struct sockaddr_un *sa, const char *path,
		       unsigned mode, uid_t uid, gid_t gid, struct ud_sockid *id,
		       char *msg, size_t msglen)
{
	const char *step;
	mode_t old;
	int rc, err;

	/* Create the file with no access, then open it up: no window in which
	 * the admin socket is reachable by others. */
	old = umask(0777);
	rc = bind(fd, (const struct sockaddr *)sa, sizeof(*sa));
	umask(old);
	if (rc < 0)
		return -errno;
	err = set_perms(sa->sun_path, NULL, mode, uid, gid, id, &step);
	if (err == -EEXIST) {
		/* Not ours to unlink: someone else's name now. */
		snprintf(msg, msglen, "%s: the socket just bound was replaced by another file",
			 path);
		return err;
	}
	if (err && strcmp(step, "open") == 0) {
		snprintf(msg, msglen, "%s: the socket just bound is gone: %s", path,
			 strerror(-err));
		return err;
	}
	if (err && strcmp(step, "chown") == 0)
		snprintf(msg, msglen, "cannot give %s to owner %d group %d: %s",
			 path, uid == (uid_t)-1 ? -1 : (int)uid,
			 gid == (gid_t)-1 ? -1 : (int)gid, strerror(-err));
	if (!err && listen(fd, BACKLOG) < 0)
		err = -errno;
	if (err)
		unlink(sa->sun_path);
	return err;
}

/*
 * The socket file appears at path only once it listens, so that a client
 * that sees it can connect at once (bound in place, the file exists from
 * bind() on and a client racing the daemon's start is refused): it is
 * bound under a temporary name beside path ("PATH.PID.tmp"), made to
 * listen, then hard-linked to path and the temporary name removed. link()
 * fails with EEXIST where rename() would replace, so a daemon that claimed
 * path in the meantime keeps it. A path too long for the temporary name
 * is bound in place.
 */
int ud_listen_unix(const char *path, unsigned mode, uid_t uid, gid_t gid,
		   struct ud_sockid *id, char *msg, size_t msglen)
{
	struct ud_sockid own;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct sockaddr_un tmp = {.sun_family = AF_UNIX};
	bool in_place;
	int fd, err, n;

	if (msglen)
		msg[0] = '\0';
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(msg, msglen, "socket path too long (max %zu bytes): %s",
			 sizeof(sa.sun_path) - 1, path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	n = snprintf(tmp.sun_path, sizeof(tmp.sun_path), "%s.%ld.tmp", path,
		     (long)getpid());
	in_place = n < 0 || (size_t)n >= sizeof(tmp.sun_path);
	err = claim_path(&sa, msg, msglen);
	if (err) {
		if (!*msg)
			snprintf(msg, msglen, "cannot use %s: %s", path, strerror(-err));
		return err;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		goto fail;
	}
	if (in_place) {
		err = bind_listen(fd, &sa, path, mode, uid, gid, id ? id : &own,
				  msg, msglen);
		if (err)
			goto fail_fd;
		return fd;
	}
	/* A temporary name of our pid is left only by a dead daemon's crash. */
	(void)unlink(tmp.sun_path);
	/* Linked to path below: the same inode under its final name. */
	err = bind_listen(fd, &tmp, path, mode, uid, gid, id ? id : &own, msg,
			  msglen);
	if (err)
		goto fail_fd;
	if (link(tmp.sun_path, path) < 0) {
		err = -errno;
		unlink(tmp.sun_path);
		if (err == -EEXIST) {
			snprintf(msg, msglen,
				 "socket %s appeared while utmemd was binding it: "
				 "another server has just claimed it",
				 path);
			err = -EADDRINUSE;
		}
		goto fail_fd;
	}
	if (unlink(tmp.sun_path) < 0) {
		err = -errno;
		unlink(path);
		goto fail_fd;
	}
	return fd;
fail_fd:
	close(fd);
fail:
	if (!*msg)
		snprintf(msg, msglen, "cannot listen on %s: %s", path,
			 strerror(-err));
	return err;
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

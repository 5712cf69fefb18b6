/*
 * ctl_io.c — utmemctl's side of the admin socket: connecting (with a
 * message that says what is wrong: no daemon, a stale socket, no
 * permission), one request and its reply at a time, and printing error
 * replies and the change reports that admin requests answer with.
 */
#include "ctl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define REPLY_MAX (64u << 20) /* bound on a listing reply */

int ctl_json_errors;

int usage_error(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "utmemctl: %s\n(see utmemctl help)\n", msg);
	if (ctl_json_errors) {
		printf("{\"ok\":false,\"status\":\"USAGE\",\"error\":");
		json_str(msg);
		printf("}\n");
	}
	return EXIT_USAGE;
}

/* Print an error: on stderr, and with --json also as {"ok":false,...} on stdout. */
static void report_error(struct ctl *c, const char *status, const char *msg,
			 size_t len)
{
	fprintf(stderr, "utmemctl: %.*s\n", (int)len, msg);
	if (c->json) {
		printf("{\"ok\":false,\"status\":");
		json_str(status);
		printf(",\"error\":");
		json_strn(msg, len);
		printf("}\n");
	}
}

__attribute__((format(printf, 3, 4)))
static void report_errorf(struct ctl *c, const char *status, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	report_error(c, status, buf, strnlen(buf, sizeof(buf)));
}

/* Say why the admin socket cannot be reached, as precisely as we can. */
static void explain_connect(struct ctl *c, const char *path, int err)
{
	struct stat sb;

	switch (err) {
	case ENOENT:
		if (stat(c->run_dir, &sb) < 0)
			report_errorf(c, "UNAVAILABLE",
				      "no run directory %s: is utmemd running? (use --run-dir or UTMEM_RUN_DIR)",
				      c->run_dir);
		else
			report_errorf(c, "UNAVAILABLE",
				      "no admin socket %s: utmemd is not running with this run directory (use --run-dir or UTMEM_RUN_DIR)",
				      path);
		break;
	case ECONNREFUSED:
		report_errorf(c, "UNAVAILABLE",
			      "%s exists but no utmemd answers on it (utmemd stopped without removing it?)",
			      path);
		break;
	case EACCES:
	case EPERM:
		report_errorf(c, "ACCESS",
			      "permission denied on %s: the admin socket is for root and utmemd's own user",
			      path);
		break;
	case ENOTDIR:
		report_errorf(c, "UNAVAILABLE", "%s is not a directory", c->run_dir);
		break;
	default:
		report_errorf(c, "UNAVAILABLE", "cannot connect to %s: %s", path,
			      strerror(err));
	}
}

static int ctl_connect(struct ctl *c)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/admin.sock",
			 c->run_dir);

	if (n < 0 || (size_t)n >= sizeof(sa.sun_path)) {
		report_errorf(c, "INVALID", "run directory path too long: %s", c->run_dir);
		return -ENAMETOOLONG;
	}
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;
		explain_connect(c, sa.sun_path, err);
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
		return -err;
	}
	return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The short name of a status for JSON ("NOTEMPTY"). */
static const char *status_tag(unsigned st)
{
	static const char *const tags[] = {
		"OK", "NOTFOUND", "INVALID", "BADPOOL", "ACCESS", "TOOBIG",
		"QUOTA", "CAPACITY", "NOMEM", "PROTO", "VERSION", "OPCODE",
		"AUTH", "EXISTS", "SHUTDOWN", "INTERNAL", "NOBUFS", "REVOKED",
		"NOTEMPTY",
	};
	return st < sizeof(tags) / sizeof(tags[0]) ? tags[st] : "ERROR";
}

int ctl_request(struct ctl *c, unsigned op, const struct uadm_wbuf *w, int quiet)
{
	struct uwire_hdr h = {.version = UWIRE_VERSION, .opcode = (uint8_t)op,
			      .id = ++c->next_id, .vlen = w ? (uint32_t)w->len : 0};
	struct uwire_limits lim = {UWIRE_KEY_CEILING, REPLY_MAX};
	uint8_t hdr[UWIRE_HDR_SIZE];
	int err;

	if (w && w->err)
		return w->err;
	if (c->fd < 0 && (err = ctl_connect(c)) < 0)
		return err;
	uwire_hdr_encode(&h, hdr);
	err = write_all(c->fd, hdr, sizeof(hdr));
	if (!err && h.vlen)
		err = write_all(c->fd, w->data, w->len);
	if (!err)
		err = read_all(c->fd, hdr, sizeof(hdr));
	if (!err && uwire_hdr_decode(hdr, &lim, &h) < 0)
		err = -EPROTO;
	if (!err && (h.id != c->next_id || h.klen))
		err = -EPROTO;
	if (!err) {
		free(c->reply);
		c->reply = malloc(h.vlen ? h.vlen : 1);
		c->reply_len = h.vlen;
		err = c->reply ? read_all(c->fd, c->reply, h.vlen) : -ENOMEM;
	}
	if (err) {
		report_errorf(c, "UNAVAILABLE", "talking to utmemd: %s%s", strerror(-err),
			      err == -ECONNRESET ? " (utmemd closed the connection)" : "");
		return err;
	}
	if (h.status != UWIRE_S_OK && !quiet) {
		if (h.status == UWIRE_S_OPCODE && !c->reply_len)
			report_errorf(c, status_tag(h.status),
				      "this utmemd does not know %s (older than this utmemctl?)",
				      uadm_op_name(op));
		else if (c->reply_len)
			report_error(c, status_tag(h.status), (const char *)c->reply,
				     c->reply_len);
		else
			report_errorf(c, status_tag(h.status), "%s failed: %s",
				      uadm_op_name(op), uwire_status_name(h.status));
	}
	return h.status;
}

int ctl_change(struct ctl *c, unsigned op, struct uadm_wbuf *w)
{
	int st = ctl_request(c, op, w, 0);
	size_t i = 0;

	if (w)
		uadm_wbuf_free(w);
	if (st != 0)
		return 1;
	if (c->json)
		printf("{\"ok\":true,\"changes\":[");
	while (i < c->reply_len) {
		const uint8_t *nl = memchr(c->reply + i, '\n', c->reply_len - i);
		size_t end = nl ? (size_t)(nl - c->reply) : c->reply_len;
		if (c->json) {
			if (i)
				putchar(',');
			json_strn((const char *)c->reply + i, end - i);
		} else {
			printf("%.*s\n", (int)(end - i), (const char *)c->reply + i);
		}
		i = end + 1;
	}
	if (c->json)
		printf("]}\n");
	return 0;
}

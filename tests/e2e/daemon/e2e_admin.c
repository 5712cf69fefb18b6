/*
 * e2e_admin.c — sends one admin request to utmemd's admin socket without
 * utmemctl's own checks, to show that the daemon applies the same
 * validation by itself (the admin protocol is the third way a setting
 * arrives, after the config file and utmemctl). Prints the reply's status
 * name and its text, exits 0 if the status was OK, 1 otherwise.
 *
 *   e2e_admin SOCK capacity BYTES              CAPACITY_SET (old record)
 *   e2e_admin SOCK set SECTION KEY VALUE       CONFIG_SET, no flags
 *   e2e_admin SOCK add NAME KEY VALUE          CONFIG_SET with CREATE
 *   e2e_admin SOCK raw OPCODE HEX              any opcode, value in hex
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto/admin.h"
#include "proto/wire.h"

static int read_all(int fd, void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int exchange(const char *sock, unsigned op, const struct uadm_wbuf *w)
{
	struct uwire_hdr h = {.version = UWIRE_VERSION, .opcode = (uint8_t)op,
			      .id = 1, .vlen = (uint32_t)w->len};
	struct uwire_limits lim = {UWIRE_KEY_CEILING, 1u << 24};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	unsigned char hdr[UWIRE_HDR_SIZE];
	char *val;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "connect %s: %s\n", sock, strerror(errno));
		return 1;
	}
	uwire_hdr_encode(&h, hdr);
	if (write(fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr) ||
	    (w->len && write(fd, w->data, w->len) != (ssize_t)w->len) ||
	    read_all(fd, hdr, sizeof(hdr)) < 0 || uwire_hdr_decode(hdr, &lim, &h) < 0) {
		fprintf(stderr, "exchange failed\n");
		return 1;
	}
	val = calloc(1, h.vlen + 1);
	if (!val || read_all(fd, val, h.vlen) < 0) {
		free(val);
		fprintf(stderr, "reply value lost\n");
		return 1;
	}
	printf("%s: %s\n", uwire_status_name(h.status), val);
	free(val);
	close(fd);
	return h.status == UWIRE_S_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct uadm_wbuf w;
	char sec[UADM_SECTION_MAX + 1];
	unsigned op;
	int rc;

	uadm_wbuf_init(&w);
	if (argc == 4 && strcmp(argv[2], "capacity") == 0) {
		uadm_w_u64(&w, strtoull(argv[3], NULL, 10));
		op = UADM_OP_CAPACITY_SET;
	} else if (argc >= 6 && argc % 2 == 0 &&
		   (strcmp(argv[2], "set") == 0 || strcmp(argv[2], "add") == 0)) {
		int add = argv[2][0] == 'a';
		snprintf(sec, sizeof(sec), add ? "tenant %s" : "%s", argv[3]);
		uadm_w_u32(&w, add ? UADM_F_CREATE : 0);
		uadm_w_str(&w, sec, UADM_SECTION_MAX);
		uadm_w_u32(&w, (uint32_t)(argc - 4) / 2);
		for (int i = 4; i < argc; i += 2) {
			uadm_w_str(&w, argv[i], UADM_KEY_MAX);
			uadm_w_str(&w, argv[i + 1], UADM_VALUE_MAX);
		}
		op = UADM_OP_CONFIG_SET;
	} else if (argc == 5 && strcmp(argv[2], "raw") == 0) {
		const char *hex = argv[4];
		op = (unsigned)strtoul(argv[3], NULL, 0);
		for (size_t i = 0; hex[i] && hex[i + 1]; i += 2) {
			unsigned b;
			sscanf(hex + i, "%2x", &b);
			uint8_t byte = (uint8_t)b;
			uadm_w_raw(&w, &byte, 1);
		}
	} else {
		fprintf(stderr, "usage: e2e_admin SOCK capacity BYTES | set SECTION KEY VALUE... | add NAME KEY VALUE... | raw OP HEX\n");
		uadm_wbuf_free(&w);
		return 2;
	}
	rc = exchange(argv[1], op, &w);
	uadm_wbuf_free(&w);
	return rc;
}

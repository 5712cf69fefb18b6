/*
 * ringhold.c — the hostile suite's ring-hoarding attack (t_ringabuse.sh):
 * a tenant opens as many connections with a shared-memory ring as utmemd
 * lets it, keeps them, and makes utmemd touch every page of every ring.
 * Each ring (4 KiB + 2 x ring_size) is charged to the tenant's in-flight
 * budget, so past it RING_SETUP is refused (NOMEM) and the connection goes
 * on over its socket, as libutmem does; past the tenant's connection limit
 * (its descriptor share, divided by 3 with rings on) the connection itself
 * is refused. A subcommand of hostile.c (hostile.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hostile.h"
#include "rawring.h"
#include "utmem.h"

/* Pings per batch while touching a ring: a quarter of it each way. */
#define TOUCH_DIV 4
/* How often every held connection is pinged (idle_timeout is 3 s). */
#define HOLD_PING_US 200000

struct hold {
	const char *sock;
	struct rawring *rr;  /* every raw connection, ring or not */
	int n;
	int rings, nomem, socket_ok, refused, other;
	utmem_client **lc;   /* libutmem clients (they fall back) */
	int nlib, lib_ok, lib_err;
};

/* One raw connection that asks for a ring; count what utmemd said. */
static void one_raw(struct hold *h)
{
	struct rawring *r = &h->rr[h->n];
	struct uwire_hdr rh;
	int st = rawring_open(h->sock, r);

	h->n++;
	if (st == 0) {
		h->rings++;
	} else if (st == UWIRE_S_NOMEM) {
		/* The ring was refused: the connection goes on as a socket. */
		h->nomem++;
		if (send_frame(r->fd, UWIRE_OP_PING, 0, 3, 0, NULL, 0, NULL, 0) == 0 &&
		    read_reply(r->fd, &rh, 5000) == 0 && rh.id == 3)
			h->socket_ok++;
	} else if (st == UWIRE_S_QUOTA) {
		h->refused++;
	} else {
		h->other++;
	}
}

/* A libutmem client: connects (its ring refused, it stays on the
 * socket), then a PUT and a GET checked byte for byte. */
static void one_lib(struct hold *h)
{
	char addr[600], val[1024], out[1024];
	utmem_client *c = NULL;
	uint32_t pool;
	int err;

	snprintf(addr, sizeof(addr), "unix:%s", h->sock);
	memset(val, 'a' + h->nlib, sizeof(val));
	err = utmem_connect(addr, NULL, &c);
	if (!err)
		err = utmem_pool_open(c, "fallback", UTMEM_POOL_CREATE, &pool);
	if (!err)
		err = utmem_put(c, pool, "f", 1, val, sizeof(val));
	if (!err && (utmem_get(c, pool, "f", 1, out, sizeof(out), 0) != (long)sizeof(out) ||
		     memcmp(val, out, sizeof(out))))
		err = -EIO;
	if (err) {
		if (!h->lib_err)
			h->lib_err = err;
		if (c)
			utmem_close(c);
		return;
	}
	h->lc[h->nlib++] = c;
	h->lib_ok++;
}

/* n pings through ring r, every reply checked. 0 or -1. */
static int ring_pings(struct rawring *r, unsigned n)
{
	static uint8_t frames[(URING_DEFAULT_SIZE / TOUCH_DIV)];
	struct uwire_hdr h = {.version = UWIRE_VERSION, .opcode = UWIRE_OP_PING}, rh;
	unsigned max = (unsigned)(r->m.size / TOUCH_DIV / UWIRE_HDR_SIZE);

	if (max > sizeof(frames) / UWIRE_HDR_SIZE)
		max = sizeof(frames) / UWIRE_HDR_SIZE;
	while (n) {
		unsigned k = n < max ? n : max;

		for (unsigned i = 0; i < k; i++) {
			h.id = 100 + i;
			uwire_hdr_encode(&h, frames + (size_t)i * UWIRE_HDR_SIZE);
		}
		r->sent += k;
		if (rawring_write(r, frames, (size_t)k * UWIRE_HDR_SIZE, 5000) < 0)
			return -1;
		for (unsigned i = 0; i < k; i++)
			if (rawring_reply(r, &rh, 5000) != 0 || rh.id != 100 + i)
				return -1;
		n -= k;
	}
	return 0;
}

/* Ping every held connection once; returns how many answered. */
static int ping_all(struct hold *h)
{
	int alive = 0;

	for (int i = 0; i < h->n; i++) {
		struct rawring *r = &h->rr[i];
		struct uwire_hdr rh;

		if (r->m.base)
			alive += ring_pings(r, 1) == 0;
		else if (r->fd >= 0)
			alive += send_frame(r->fd, UWIRE_OP_PING, 0, 4, 0, NULL, 0,
					    NULL, 0) == 0 &&
				 read_reply(r->fd, &rh, 5000) == 0;
	}
	for (int i = 0; i < h->nlib; i++)
		alive += utmem_ping(h->lc[i]) == 0;
	return alive;
}

/*
 * ringhold SOCK TRIES LIBS HOLD: raw connections that each ask for a ring,
 * until two rings were refused; then LIBS libutmem clients (which must
 * fall back to the socket and work); then raw connections again until
 * three are refused at accept (TRIES in all at most). Streams 2 x the
 * ring's size of pings through every ring (utmemd reads and writes every
 * page of it), prints a "ready" line, keeps every connection busy for
 * HOLD seconds (a ping each 200 ms), and prints the counts.
 */
int cmd_ringhold(char **argv)
{
	struct hold h = {.sock = argv[0]};
	int tries = atoi(argv[1]), libs = atoi(argv[2]), kept = 0, touched = 0;
	uint64_t end, ring_bytes = 0;

	h.rr = calloc((size_t)tries + 1, sizeof(*h.rr));
	h.lc = calloc((size_t)libs + 1, sizeof(*h.lc));
	if (!h.rr || !h.lc)
		die("malloc");
	while (h.n < tries && h.nomem < 2 && !h.refused)
		one_raw(&h);
	for (int i = 0; i < libs; i++)
		one_lib(&h);
	while (h.n < tries && h.refused < 3)
		one_raw(&h);
	for (int i = 0; i < h.n; i++) {
		struct rawring *r = &h.rr[i];

		if (!r->m.base)
			continue;
		ring_bytes = uring_region_bytes(r->m.size);
		touched += ring_pings(r, (unsigned)(2 * r->m.size / UWIRE_HDR_SIZE)) == 0;
	}
	printf("ready rings %d\n", h.rings);
	end = now_us() + (uint64_t)(atof(argv[3]) * 1e6);
	do {
		kept = ping_all(&h);
		if (now_us() < end)
			usleep(HOLD_PING_US);
	} while (now_us() < end);
	printf("tries %d rings %d ring_bytes %llu touched %d ring_nomem %d socket_ok %d "
	       "lib_ok %d lib_error %d admitted %d refused %d other %d kept %d\n",
	       h.n, h.rings, (unsigned long long)ring_bytes, touched, h.nomem,
	       h.socket_ok, h.lib_ok, h.lib_err, h.rings + h.nomem + h.lib_ok,
	       h.refused, h.other, kept);
	for (int i = 0; i < h.n; i++)
		rawring_close(&h.rr[i]);
	for (int i = 0; i < h.nlib; i++)
		utmem_close(h.lc[i]);
	free(h.rr);
	free(h.lc);
	return 0;
}

/*
 * ringliar.c — the hostile suite's attack on credit reclaims
 * (t_ringliar.sh; docs/protocol.md section 10, "Reclaim"): a raw ring
 * client takes credit, says in the ring header that it is idle (`posting`
 * IDLE) and keeps saying so. Its own tenant is then refused for the quota
 * on a plain connection, a recall: utmemd takes the idle client's credit
 * back. The client ignores the recall and posts a PUT paid from the credit
 * it no longer has. utmemd must answer PROTO, close the ring, store
 * nothing of the PUT, and hold no credit for the tenant afterwards.
 * A subcommand of hostile.c (hostile.h).
 *
 *   ringliar SOCK    prints one line of "name value" figures
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hostile.h"
#include "rawring.h"

#define FILL_VLEN (1u << 20) /* the quota is filled with these */
#define WAIT_MS 3000

/* A number of SERVER_INFO ("name:") on a plain libutmem connection, or -1. */
static long long info_num(utmem_client *c, const char *name)
{
	char buf[1024], *p;

	if (utmem_server_info(c, buf, sizeof(buf)) < 0 || !(p = strstr(buf, name)))
		return -1;
	return strtoll(p + strlen(name), NULL, 10);
}

/* tenant_credit_bytes once it is 0, or its last value after WAIT_MS. */
static long long credit_drained(utmem_client *c)
{
	uint64_t end = now_us() + WAIT_MS * 1000u;
	long long v;

	while ((v = info_num(c, "tenant_credit_bytes:")) != 0 && now_us() < end)
		usleep(10000);
	return v;
}

int cmd_ringliar(char **argv)
{
	const char *sock = argv[0];
	char addr[600];
	struct utmem_options o = {.timeout_ms = 5000, .flags = UTMEM_OPT_NO_FAST_PATH};
	utmem_client *obs = NULL;
	struct rawring r;
	struct uwire_hdr h;
	static uint8_t val[FILL_VLEN];
	long long held0, reclaimed, held_after, held_end;
	uint64_t credit;
	uint32_t pool;
	int ctl, st = 0, fills = 0, proto = 0, closed = 0, stored = -1;

	snprintf(addr, sizeof(addr), "%s%s", strchr(sock, ':') ? "" : "unix:", sock);
	if (utmem_connect(addr, &o, &obs) != 0)
		die("connect (observer)");
	if (rawring_open(sock, &r) != 0)
		die("ring");
	/* Credit is granted after the ring's first service pass. */
	if (rawring_frame(&r, UWIRE_OP_PING, 0, 1, 0, NULL, 0, NULL, 0) < 0 ||
	    rawring_reply(&r, &h, 5000) != 0 || rawring_applied(&r, 1, 5000) < 0)
		die("ping through the ring");
	credit = rawring_credit(&r);
	__atomic_store_n(&r.m.shm->posting, URING_POSTING_IDLE, __ATOMIC_SEQ_CST);
	held0 = info_num(obs, "tenant_credit_bytes:");

	/* A plain connection of the same tenant fills the quota: refused. */
	ctl = dial(sock);
	if (ctl < 0 || !(pool = raw_pool(ctl, "liar")))
		die("plain connection");
	memset(val, 0x5a, sizeof(val));
	for (fills = 0; fills < 1000; fills++) {
		char key[32];

		snprintf(key, sizeof(key), "fill%d", fills);
		if (send_frame(ctl, UWIRE_OP_PUT, 0, 100u + (unsigned)fills, pool, key,
			       (uint32_t)strlen(key), val, FILL_VLEN) < 0)
			die("fill");
		st = read_reply(ctl, &h, 5000);
		if (st != 0)
			break;
	}
	/* The recall: the idle liar's credit is taken back by its worker. */
	held_after = credit_drained(obs);
	reclaimed = info_num(obs, "tenant_credit_reclaimed_bytes:");

	/* The lie: still "idle", it posts from the credit it was granted. */
	if (rawring_frame(&r, UWIRE_OP_PUT, UWIRE_F_POSTED, 77, pool, "liar", 4, val,
			  1024) < 0)
		die("posted PUT");
	proto = rawring_reply(&r, &h, WAIT_MS) == UWIRE_S_PROTO && h.id == 77;
	closed = rawring_closed(&r, WAIT_MS);
	rawring_close(&r);
	if (send_frame(ctl, UWIRE_OP_GET, 0, 99, pool, "liar", 4, NULL, 0) == 0)
		stored = read_reply(ctl, &h, 5000) != UWIRE_S_NOTFOUND;
	held_end = credit_drained(obs);
	printf("credit %llu held_before %lld fills %d refused_status %d held_after_recall %lld "
	       "reclaimed %lld proto %d closed %d stored %d held_end %lld\n",
	       (unsigned long long)credit, held0, fills, st, held_after, reclaimed,
	       proto, closed, stored, held_end);
	close(ctl);
	utmem_close(obs);
	return 0;
}

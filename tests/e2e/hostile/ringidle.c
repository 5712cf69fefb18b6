/*
 * ringidle.c — idle ring connections (t_ringidle.sh): the attacker opens
 * as many ring connections as its in-flight budget allows and does
 * nothing with them. A socket with a ring is idle only while its ring is
 * too, and both are closed after idle_timeout (the in-flight charge of
 * the rings given back). A subcommand of hostile.c.
 */
#include <stdio.h>
#include <stdlib.h>

#include "hostile.h"
#include "rawring.h"

#define CLOSE_MS 12000 /* how long to watch for the closes */

/*
 * ringidle SOCK TRIES: open ring connections until RING_SETUP is refused
 * (that connection is closed at once) or TRIES; keep the rings without a
 * request; print how long after its setup each was closed.
 */
int cmd_ringidle(char **argv)
{
	int tries = atoi(argv[1]), rings = 0, nomem = 0, other = 0, closed;
	struct rawring *rr = calloc((size_t)tries + 1, sizeof(*rr));
	uint64_t *since = calloc((size_t)tries + 1, sizeof(*since));
	int64_t *closed_ms = calloc((size_t)tries + 1, sizeof(*closed_ms));
	int64_t cmin = -1, cmax = -1;

	if (!rr || !since || !closed_ms)
		die("malloc");
	while (rings < tries) {
		int st = rawring_open(argv[0], &rr[rings]);

		if (st == 0) {
			since[rings++] = now_us();
			continue;
		}
		rawring_close(&rr[rings]);
		if (st == UWIRE_S_NOMEM)
			nomem++;
		else
			other++;
		break;
	}
	closed = rawring_wait_closed(rr, rings, since, closed_ms, CLOSE_MS);
	for (int i = 0; i < rings; i++) {
		int64_t t = closed_ms[i];

		if (t < 0)
			continue;
		cmin = cmin < 0 || t < cmin ? t : cmin;
		cmax = t > cmax ? t : cmax;
	}
	printf("rings %d ring_nomem %d other %d closed %d close_min_ms %lld "
	       "close_max_ms %lld\n",
	       rings, nomem, other, closed, (long long)cmin, (long long)cmax);
	for (int i = 0; i < rings; i++)
		rawring_close(&rr[i]);
	free(rr);
	free(since);
	free(closed_ms);
	return 0;
}

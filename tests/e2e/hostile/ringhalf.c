/*
 * ringhalf.c — half-sent frames, through rings (t_ringidle.sh): on each
 * of several ring connections the attacker announces a large PUT in the
 * request ring, writes only part of it and stalls. utmemd charges each
 * frame's announced size to the tenant's in-flight budget at its header
 * (a frame that does not fit beside the rings and the other frames is
 * answered NOMEM and its connection closed at once), and must close the
 * stalled connections after frame_timeout. A subcommand of hostile.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostile.h"
#include "rawring.h"

#define WRITE_MS 1000  /* a ring whose frame was refused takes no more */
#define CLOSE_MS 12000 /* how long to watch for the closes */

/*
 * ringhalf SOCK RINGS VLEN PERMILLE: open RINGS rings, then on each
 * announce a PUT of VLEN value bytes and write PERMILLE/1000 of them.
 * Counts the frames written in full (stalled) and those answered at once
 * (refused, with the status), and how long after its header each ring
 * was closed.
 */
int cmd_ringhalf(char **argv)
{
	int rings = atoi(argv[1]), setup_failed = 0, written = 0, refused = 0;
	uint32_t vlen = (uint32_t)strtoul(argv[2], NULL, 0);
	uint32_t part = (uint32_t)((uint64_t)vlen * (uint64_t)atoi(argv[3]) / 1000u);
	struct rawring *rr = calloc((size_t)rings + 1, sizeof(*rr));
	uint64_t *since = calloc((size_t)rings + 1, sizeof(*since));
	int64_t *closed_ms = calloc((size_t)rings + 1, sizeof(*closed_ms));
	int *answered = calloc((size_t)rings + 1, sizeof(*answered));
	uint8_t *v = calloc(1, (size_t)part + 1);
	int64_t smin = -1, smax = -1, rmax = -1;
	int refused_status = -1, closed;

	if (!rr || !since || !closed_ms || !answered || !v)
		die("malloc");
	for (int i = 0; i < rings; i++)
		if (rawring_open(argv[0], &rr[i]) != 0) {
			setup_failed++;
			rawring_close(&rr[i]);
		}
	for (int i = 0; i < rings; i++) {
		struct uwire_hdr h;

		if (rr[i].fd < 0)
			continue;
		since[i] = now_us();
		if (rawring_part(&rr[i], UWIRE_OP_PUT, 0, 9, 1, "k", 1, v, vlen, part,
				 WRITE_MS) == 0)
			written++;
		/* Refused at its header: the answer is in the reply ring. */
		if (rawring_reply(&rr[i], &h, 50) >= 0 && h.id == 9) {
			answered[i] = 1;
			refused++;
			refused_status = h.status;
		}
	}
	closed = rawring_wait_closed(rr, rings, since, closed_ms, CLOSE_MS);
	for (int i = 0; i < rings; i++) {
		int64_t t = closed_ms[i];

		if (rr[i].fd < 0 || t < 0)
			continue;
		if (answered[i]) {
			rmax = t > rmax ? t : rmax;
			continue;
		}
		smin = smin < 0 || t < smin ? t : smin;
		smax = t > smax ? t : smax;
	}
	printf("rings %d setup_failed %d vlen %u sent %u written %d refused %d "
	       "refused_status %d closed %d stalled_close_min_ms %lld "
	       "stalled_close_max_ms %lld refused_close_max_ms %lld\n",
	       rings, setup_failed, vlen, part, written, refused, refused_status,
	       closed, (long long)smin, (long long)smax, (long long)rmax);
	for (int i = 0; i < rings; i++)
		rawring_close(&rr[i]);
	free(rr);
	free(since);
	free(closed_ms);
	free(answered);
	free(v);
	return 0;
}

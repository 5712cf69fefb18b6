/*
 * ringunread.c — replies never read, through rings (t_ringidle.sh): the
 * attacker stores a few large values, then posts many GETs of them on
 * several ring connections and never advances its reply head. utmemd may
 * fill each reply ring, then hold a backlog of at most about one reply
 * beyond OUT_HIGH per connection (it pauses the connection: no more
 * requests taken; the first GET is posted alone, so a paused ring holds
 * none in its input buffer), all of it charged to the tenant's in-flight
 * budget * (GETs that do not fit are answered NOMEM), and must close the
 * connections once their replies went untaken for client_timeout (or,
 * with nothing pending, idle for idle_timeout). A subcommand of hostile.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hostile.h"
#include "rawring.h"

#define NVALS 2          /* large values, GET in turn */
#define SMALL_VLEN 1024u /* a value whose GET fits what the rings leave */
#define SETTLE_US 1000000u /* utmemd has served what it will by then */
#define CLOSE_MS 12000   /* how long to watch for the closes */

/* One ring's reply ring, walked without taking anything. */
struct seen {
	unsigned ok, nomem, other; /* replies begun in the ring, by status */
	uint64_t first_vlen;       /* the value length of the first one */
};

static void walk(struct rawring *r, struct seen *s)
{
	struct uwire_hdr h;
	uint64_t off = 0;

	memset(s, 0, sizeof(*s));
	while (rawring_peek(r, off, &h) == 0) {
		if (!s->ok && !s->nomem && !s->other)
			s->first_vlen = h.vlen;
		if (h.status == UWIRE_S_OK)
			s->ok++;
		else if (h.status == UWIRE_S_NOMEM)
			s->nomem++;
		else
			s->other++;
		off += UWIRE_HDR_SIZE + (uint64_t)h.klen + h.vlen;
	}
}

/* GET key on the plain connection fd: its status (value skipped), or -1. */
static int plain_get(int fd, uint32_t pool, const char *key)
{
	struct uwire_hdr h;

	if (send_frame(fd, UWIRE_OP_GET, 0, 7, pool, key, (uint32_t)strlen(key),
		       NULL, 0) < 0)
		return -1;
	return read_reply(fd, &h, 10000);
}

/*
 * ringunread SOCK RINGS GETS VLEN: PUT NVALS values of VLEN bytes (and a
 * small one), open RINGS rings, post GETS GETs of the large values on each
 * and never take a reply. After SETTLE_US: what each reply ring holds and
 * how many request bytes utmemd took; a large and a small GET on the plain
 * connection meanwhile; how long until each ring was closed; a large GET
 * again once they are.
 */
int cmd_ringunread(char **argv)
{
	int rings = atoi(argv[1]), gets = atoi(argv[2]), fd, setup_failed = 0;
	uint32_t vlen = (uint32_t)strtoul(argv[3], NULL, 0), pool, klen = 4;
	struct rawring *rr = calloc((size_t)rings + 1, sizeof(*rr));
	uint64_t *since = calloc((size_t)rings + 1, sizeof(*since));
	int64_t *closed_ms = calloc((size_t)rings + 1, sizeof(*closed_ms));
	uint8_t *v = malloc(vlen), *frames = malloc((size_t)gets * (UWIRE_HDR_SIZE + 4u));
	int put_failed = 0, write_failed = 0, big_during, small_during, big_after;
	unsigned ok_rings = 0, nomem_rings = 0, full = 0, bad = 0, closed;
	uint64_t paused_taken_max = 0, nomem_taken_min = UINT64_MAX;
	int64_t pmin = -1, pmax = -1, nmin = -1, nmax = -1;
	struct uwire_hdr ph;

	if (!rr || !since || !closed_ms || !v || !frames)
		die("malloc");
	fd = dial(argv[0]);
	if (fd < 0 || !(pool = raw_pool(fd, "ringunread")))
		die("evil pool");
	for (int i = 0; i < NVALS; i++) {
		char key[8];

		snprintf(key, sizeof(key), "big%d", i);
		memset(v, 'A' + i, vlen);
		put_failed += send_frame(fd, UWIRE_OP_PUT, 0, 2, pool, key, klen, v,
					 vlen) < 0 || read_reply(fd, &ph, 20000) != 0;
	}
	put_failed += send_frame(fd, UWIRE_OP_PUT, 0, 3, pool, "tiny", 4, v,
				 SMALL_VLEN) < 0 || read_reply(fd, &ph, 10000) != 0;
	for (int i = 0; i < gets; i++) {
		struct uwire_hdr h = {.version = UWIRE_VERSION, .opcode = UWIRE_OP_GET,
				      .id = (uint64_t)i + 1, .pool = pool, .klen = klen};
		uint8_t *f = frames + (size_t)i * (UWIRE_HDR_SIZE + klen);
		char key[8];

		snprintf(key, sizeof(key), "big%d", i % NVALS);
		uwire_hdr_encode(&h, f);
		memcpy(f + UWIRE_HDR_SIZE, key, klen);
	}
	for (int i = 0; i < rings; i++)
		if (rawring_open(argv[0], &rr[i]) != 0) {
			setup_failed++;
			rawring_close(&rr[i]);
		}
	/*
	 * The first GET alone, until its reply is in the ring: a ring that
	 * pauses then holds no request in its input buffer, so only its
	 * untaken replies (client_timeout) can close it. Then the rest.
	 */
	for (int i = 0; i < rings; i++) {
		size_t one = UWIRE_HDR_SIZE + klen;
		uint64_t end;

		if (rr[i].fd < 0)
			continue;
		since[i] = now_us();
		end = since[i] + 5000000u;
		rr[i].sent += (uint64_t)gets;
		if (rawring_write(&rr[i], frames, one, 5000) < 0) {
			write_failed++;
			continue;
		}
		while (rawring_pending(&rr[i]) == 0 && now_us() < end)
			usleep(1000);
		write_failed += rawring_write(&rr[i], frames + one,
					      (size_t)(gets - 1) * one, 5000) < 0;
	}
	usleep(SETTLE_US);
	for (int i = 0; i < rings; i++) {
		struct seen s;
		uint64_t taken = rawring_taken(&rr[i]);

		if (rr[i].fd < 0)
			continue;
		walk(&rr[i], &s);
		if (s.ok == 1 && s.first_vlen == vlen && !s.nomem && !s.other) {
			/* Began one large reply, then paused. */
			ok_rings++;
			full += rawring_pending(&rr[i]) == (int64_t)rr[i].m.size;
			if (taken > paused_taken_max)
				paused_taken_max = taken;
		} else if (!s.ok && s.nomem == (unsigned)gets && !s.other) {
			nomem_rings++;
			if (taken < nomem_taken_min)
				nomem_taken_min = taken;
		} else {
			bad++;
			fprintf(stderr, "ring %d: ok %u nomem %u other %u first_vlen %llu taken %llu\n",
			       i, s.ok, s.nomem, s.other,
			       (unsigned long long)s.first_vlen,
			       (unsigned long long)taken);
		}
	}
	big_during = plain_get(fd, pool, "big0");
	small_during = plain_get(fd, pool, "tiny");
	close(fd);
	closed = (unsigned)rawring_wait_closed(rr, rings, since, closed_ms, CLOSE_MS);
	for (int i = 0; i < rings; i++) {
		struct seen s;
		int64_t t = closed_ms[i];

		if (rr[i].fd < 0 || t < 0)
			continue;
		walk(&rr[i], &s);
		if (s.ok) {
			pmin = pmin < 0 || t < pmin ? t : pmin;
			pmax = t > pmax ? t : pmax;
		} else {
			nmin = nmin < 0 || t < nmin ? t : nmin;
			nmax = t > nmax ? t : nmax;
		}
	}
	fd = dial(argv[0]);
	big_after = fd < 0 ? -1 : plain_get(fd, pool, "big0");
	printf("rings %d setup_failed %d put_failed %d write_failed %d gets %d "
	       "ok_rings %u full_rings %u nomem_rings %u bad_rings %u ring_bytes %llu "
	       "paused_taken_max %llu nomem_taken_min %llu big_during %d small_during %d "
	       "closed %u paused_close_min_ms %lld paused_close_max_ms %lld "
	       "nomem_close_min_ms %lld nomem_close_max_ms %lld big_after %d\n",
	       rings, setup_failed, put_failed, write_failed, gets, ok_rings, full,
	       nomem_rings, bad,
	       (unsigned long long)(rings && rr[0].m.base ? rr[0].m.size : 0),
	       (unsigned long long)paused_taken_max,
	       (unsigned long long)(nomem_rings ? nomem_taken_min : 0), big_during,
	       small_during, closed, (long long)pmin, (long long)pmax, (long long)nmin,
	       (long long)nmax, big_after);
	if (fd >= 0)
		close(fd);
	for (int i = 0; i < rings; i++)
		rawring_close(&rr[i]);
	free(rr);
	free(since);
	free(closed_ms);
	free(v);
	free(frames);
	return 0;
}

/*
 * flush.c — the hostile-tenant suite's flush attacks (t_flush.sh): a
 * tenant's POOL_FLUSH and POOL_DESTROY run on utmemd's bulk thread, and
 * nothing about them may stall another tenant: its pings and evicting PUTs
 * during the flushes (flushrace), its own flush behind a queue of the
 * attacker's (flushfair), the worker while a parked client hangs up
 * or a ring that lies while its socket is parked (flushhup), a flush left
 * in a ring whose socket closed (ringdrain);
 * and requests pipelined, closed or reset behind a flush are served in
 * order (flushpipe, flushclose, flushreset). Subcommands of
 * hostile.c, which has the raw-connection helpers (hostile.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hostile.h"
#include "proto/wire.h"
#include "rawring.h"
#include "utmem.h"

/* ---- flushrace: a tenant's flush must not stop the others' service ---- */

struct flusher {
	utmem_client *c;
	uint32_t pool;
	int err;
	atomic_int done;
};

static void *flush_thread(void *arg)
{
	struct flusher *f = arg;

	f->err = utmem_pool_flush(f->c, f->pool);
	atomic_store(&f->done, 1);
	return NULL;
}

/*
 * Put 8-byte values into pool (keys from *next on): n of them (a refusal
 * is fatal), or with n 0 until the quota refuses one. Returns how many
 * were stored.
 */
static uint64_t fill_values(utmem_client *c, uint32_t pool, uint64_t *next,
			    uint64_t n)
{
	static unsigned char keys[1024][16];
	uint64_t stored = 0, cap = n ? n : 50000000u;
	utmem_batch *b = NULL;
	int full = 0;

	if (utmem_batch_new(c, &b) < 0)
		die("batch");
	while (!full && stored < cap) {
		unsigned k = cap - stored < 1024 ? (unsigned)(cap - stored) : 1024;

		utmem_batch_reset(b);
		for (unsigned i = 0; i < k; i++) {
			snprintf((char *)keys[i], sizeof(keys[i]), "f%llu",
				 (unsigned long long)(*next)++);
			utmem_batch_put(b, pool, keys[i], strlen((char *)keys[i]),
					"01234567", 8);
		}
		if (utmem_batch_exec(b) < 0)
			die("fill");
		for (unsigned i = 0; i < k; i++) {
			if (utmem_batch_result(b, i) >= 0)
				stored++;
			else if (n)
				die("fill: refused");
			else
				full = 1;
		}
	}
	utmem_batch_free(b);
	return stored;
}

/* What the good tenant does while the attacker's flush runs. */
struct during {
	utmem_client *good;
	uint32_t lru;   /* flushrace put: its ephemeral pool, kept at the quota */
	uint64_t gkey;  /* flushrace put: the next new key */
	uint64_t worst; /* flushrace put: the slowest PUT (us) */
};

static int during_ping(struct during *d)
{
	return utmem_ping(d->good);
}

/* PUT a new 1 KiB value: at the quota, it must evict. */
static int during_put(struct during *d)
{
	static char val[1024];
	uint64_t t0 = now_us();
	char key[32];
	int err;

	memset(val, 'g', sizeof(val));
	snprintf(key, sizeof(key), "g%llu", (unsigned long long)d->gkey++);
	err = utmem_put(d->good, d->lru, key, strlen(key), val, sizeof(val));
	t0 = now_us() - t0;
	d->worst = t0 > d->worst ? t0 : d->worst;
	return err;
}

struct flush_rounds {
	unsigned rounds, errs;
	uint64_t values, fmin, fmax, opmin; /* opmin: fewest ops in one flush */
};

/*
 * The attacker fills a private pool with small values up to its quota and
 * flushes it (from a thread), over and over for seconds; during each flush
 * the good tenant runs op again and again, and we count the ops answered
 * while the flush was outstanding.
 */
static void flush_rounds(utmem_client *evil, double seconds,
			 int (*op)(struct during *), struct during *d,
			 struct flush_rounds *r)
{
	uint64_t end = now_us() + (uint64_t)(seconds * 1e6), next = 0;
	uint32_t pool;

	*r = (struct flush_rounds){.fmin = UINT64_MAX, .opmin = UINT64_MAX};
	if (utmem_pool_open(evil, "flushme", UTMEM_POOL_CREATE, &pool))
		die("flush: pool");
	do {
		struct flusher f = {.c = evil, .pool = pool};
		uint64_t ops = 0, t0;
		pthread_t th;

		r->values = fill_values(evil, pool, &next, 0);
		t0 = now_us();
		if (pthread_create(&th, NULL, flush_thread, &f))
			die("flush: thread");
		while (!atomic_load(&f.done)) {
			int err = op(d);

			if (!atomic_load(&f.done))
				ops += err == 0;
			r->errs += err != 0;
		}
		pthread_join(th, NULL);
		t0 = now_us() - t0;
		r->errs += f.err != 0;
		r->fmin = t0 < r->fmin ? t0 : r->fmin;
		r->fmax = t0 > r->fmax ? t0 : r->fmax;
		r->opmin = ops < r->opmin ? ops : r->opmin;
		r->rounds++;
	} while (now_us() < end);
}

/*
 * flushrace EVIL GOOD SECONDS ping|put: during each of the attacker's
 * flushes the good tenant runs one operation again and again:
 *  - ping: a worker that runs the flush itself answers at most the one or
 *    two pings it read before the flush; one that hands it to the bulk
 *    thread answers them all;
 *  - put: new 1 KiB values into an ephemeral pool kept at its quota, so
 *    every PUT must evict, which takes the store's management lock
 *    (src/store/evict.c); a flush that held that lock while it dropped the
 *    attacker's pool stopped each of those PUTs for the whole flush.
 * Prints rounds, values per flush, the shortest and longest flush, the
 * fewest operations answered during one flush, and the slowest PUT.
 */
int cmd_flushrace(char **argv)
{
	utmem_client *evil = connect_lib(argv[0]);
	struct during d = {.good = connect_lib(argv[1])};
	int put = strcmp(argv[3], "put") == 0;
	struct flush_rounds r;

	if (put) {
		if (utmem_pool_open(d.good, "lru",
				    UTMEM_POOL_CREATE | UTMEM_POOL_EPHEMERAL, &d.lru))
			die("flushrace: pool");
		/* Past the quota (24 MiB): from here on every new key evicts. */
		for (unsigned i = 0; i < 40000; i++)
			if (during_put(&d))
				die("flushrace: fill");
		d.worst = 0;
	}
	flush_rounds(evil, atof(argv[2]), put ? during_put : during_ping, &d, &r);
	printf("rounds %u values %llu flush_us_min %llu flush_us_max %llu ops_min %llu put_worst_us %llu errors %u\n",
	       r.rounds, (unsigned long long)r.values, (unsigned long long)r.fmin,
	       (unsigned long long)r.fmax, (unsigned long long)r.opmin,
	       (unsigned long long)d.worst, r.errs);
	utmem_close(evil);
	utmem_close(d.good);
	return 0;
}

/*
 * flushhup EVIL hup|open|liar|quiet: three times, fill a pool to the
 * quota, send its POOL_FLUSH on a raw connection, then flush again through
 * libutmem (queued behind the first on the bulk thread, so it returns once
 * both are done). Prints the time from the raw flushes to their second
 * replies, summed.
 *  - hup: the raw connection is closed right after its flush is sent, open
 *    (the control) only after. The closed one stays parked until its job
 *    is back, and its hang-up must not make the worker's epoll_wait return
 *    again and again meanwhile (t_flush.sh compares the workers' wake-ups).
 *  - liar: the raw connection is a ring's socket, and once the socket is
 *    parked the ring publishes an impossible tail: the ring is closed with
 *    its socket once the job is back, and meanwhile must not read as work
 *    to its worker (it spun for the whole flush; t_ringdrain.sh counts its
 *    warnings). quiet (the control): the ring stays quiet.
 */
int cmd_flushhup(char **argv)
{
	utmem_client *evil = connect_lib(argv[0]);
	const char *mode = argv[1];
	int hup = strcmp(mode, "hup") == 0, liar = strcmp(mode, "liar") == 0;
	int ring = liar || strcmp(mode, "quiet") == 0;
	uint64_t next = 0, flush_us = 0;
	uint32_t pool;

	if (utmem_pool_open(evil, "hup", UTMEM_POOL_CREATE, &pool))
		die("flushhup: pool");
	for (int round = 0; round < 3; round++) {
		static const char junk[16] = "not a frame....";
		struct rawring r = {.fd = -1};
		uint32_t wire_pool = 0;
		uint64_t t0;
		int fd;

		fill_values(evil, pool, &next, 0);
		fd = ring ? (rawring_open(argv[0], &r) == 0 ? r.fd : -1) : dial(argv[0]);
		if (fd < 0 || !(wire_pool = raw_pool(fd, "hup")))
			die("flushhup: raw connection");
		t0 = now_us();
		send_frame(fd, UWIRE_OP_POOL_FLUSH, 0, 99, wire_pool, NULL, 0, NULL, 0);
		if (hup)
			close(fd);
		if (ring)
			usleep(2000); /* the socket reads it and parks */
		if (liar)
			rawring_poke(&r, 0, junk, sizeof(junk), 1ull << 40);
		if (utmem_pool_flush(evil, pool))
			die("flushhup: flush");
		flush_us += now_us() - t0;
		if (ring)
			rawring_close(&r);
		else if (!hup)
			close(fd);
	}
	printf("flush_us %llu\n", (unsigned long long)flush_us);
	utmem_close(evil);
	return 0;
}

/*
 * flushfair EVIL GOOD: the attacker fills six private pools with 70 000
 * small values each and sends a POOL_FLUSH of each on a connection of its
 * own, all at once; right after, the good tenant flushes its small pool.
 * The bulk thread runs one job at a time: served in arrival order, the
 * good tenant's flush waited for all six; with tenants taking turns, for
 * the one running and at most one more. Prints the time from the
 * attacker's flushes to their last reply and the good tenant's wait.
 */
int cmd_flushfair(char **argv)
{
	utmem_client *evil = connect_lib(argv[0]), *good = connect_lib(argv[1]);
	uint64_t next = 0, t0, good_us, all_us = 0;
	uint32_t gpool, wire[6];
	int fd[6];

	if (utmem_pool_open(good, "fairgood", UTMEM_POOL_CREATE, &gpool) ||
	    utmem_put(good, gpool, "g", 1, "v", 1))
		die("flushfair: good pool");
	for (int i = 0; i < 6; i++) {
		char name[16];
		uint32_t pool;

		snprintf(name, sizeof(name), "fair%d", i);
		if (utmem_pool_open(evil, name, UTMEM_POOL_CREATE, &pool))
			die("flushfair: pool");
		fill_values(evil, pool, &next, 70000);
		fd[i] = dial(argv[0]);
		if (fd[i] < 0 || !(wire[i] = raw_pool(fd[i], name)))
			die("flushfair: raw connection");
	}
	t0 = now_us();
	for (int i = 0; i < 6; i++)
		send_frame(fd[i], UWIRE_OP_POOL_FLUSH, 0, 50 + (uint64_t)i, wire[i],
			   NULL, 0, NULL, 0);
	usleep(2000); /* the attacker's jobs are queued first */
	good_us = now_us();
	if (utmem_pool_flush(good, gpool))
		die("flushfair: good flush");
	good_us = now_us() - good_us;
	for (int i = 0; i < 6; i++) {
		struct uwire_hdr h;

		if (read_reply(fd[i], &h, 20000) != 0)
			die("flushfair: attacker's flush reply");
		close(fd[i]);
	}
	all_us = now_us() - t0;
	printf("evil_flushes_us %llu good_flush_us %llu\n",
	       (unsigned long long)all_us, (unsigned long long)good_us);
	utmem_close(evil);
	utmem_close(good);
	return 0;
}

/*
 * flushpipe SOCK: on one raw connection, without waiting: PUT k=old, 20000
 * PUTs, POOL_FLUSH, PUT k=new, GET k, GET f7. The frames after the flush
 * arrive while the bulk thread runs it: they must be served after it, in
 * order. Prints how many replies came in request order, the flush's
 * status, and whether GET k saw "new" and GET f7 a miss.
 */
int cmd_flushpipe(char **argv)
{
	int fd = dial(argv[0]);
	uint32_t pool = raw_pool(fd, "pipe");
	uint64_t id = 10, last;
	unsigned in_order = 0, total = 0;
	int flush_status = -1, get_new = 0, f7_gone = 0;
	struct uwire_hdr h;

	if (!pool)
		die("flushpipe: pool");
	send_frame(fd, UWIRE_OP_PUT, 0, id++, pool, "k", 1, "old", 3);
	for (int i = 0; i < 20000; i++) {
		char key[16];

		snprintf(key, sizeof(key), "f%d", i);
		send_frame(fd, UWIRE_OP_PUT, 0, id++, pool, key,
			   (uint32_t)strlen(key), "12345678", 8);
	}
	send_frame(fd, UWIRE_OP_POOL_FLUSH, 0, id++, pool, NULL, 0, NULL, 0);
	send_frame(fd, UWIRE_OP_PUT, 0, id++, pool, "k", 1, "new", 3);
	send_frame(fd, UWIRE_OP_GET, 0, id++, pool, "k", 1, NULL, 0);
	send_frame(fd, UWIRE_OP_GET, 0, id++, pool, "f7", 2, NULL, 0);
	last = id;
	for (uint64_t want = 10; want < last; want++) {
		unsigned char hdr[UWIRE_HDR_SIZE], val[8];
		struct uwire_limits lim = {UWIRE_KEY_CEILING, UWIRE_VALUE_CEILING};
		int st;

		if (want == last - 2) { /* GET k: read its value */
			if (recv_all(fd, hdr, sizeof(hdr), 10000) < 0 ||
			    uwire_hdr_decode(hdr, &lim, &h) < 0 || h.klen ||
			    h.vlen > sizeof(val) ||
			    recv_all(fd, val, h.vlen, 10000) < 0)
				break;
			get_new = h.status == 0 && h.vlen == 3 && !memcmp(val, "new", 3);
		} else if ((st = read_reply(fd, &h, 10000)) < 0) {
			break;
		}
		total++;
		in_order += h.id == want;
		if (want == last - 4)
			flush_status = h.status;
		if (want == last - 1)
			f7_gone = h.status == UWIRE_S_NOTFOUND;
	}
	printf("replies %u in_order %u flush_status %d get_new %d f7_gone %d\n",
	       total, in_order, flush_status, get_new, f7_gone);
	close(fd);
	return 0;
}

/*
 * flushclose SOCK: fill a pool with 100000 values, then send POOL_FLUSH
 * and PUT after=1 and close at once, while the bulk thread runs the
 * flush. The PUT was sent before the close, so it must take effect; a
 * second connection looks for it. Prints whether it is there.
 */
int cmd_flushclose(char **argv)
{
	int fd = dial(argv[0]), fd2;
	uint32_t pool = raw_pool(fd, "closing");
	struct uwire_hdr h;
	uint64_t id = 10;
	int present = 0, last = -3;

	if (!pool)
		die("flushclose: pool");
	for (int i = 0; i < 100000; i++) {
		char key[16];

		snprintf(key, sizeof(key), "c%d", i);
		send_frame(fd, UWIRE_OP_PUT, 0, id++, pool, key,
			   (uint32_t)strlen(key), "12345678", 8);
		if (i % 1000 == 999) /* keep the replies drained */
			for (int j = 0; j < 1000; j++)
				if (read_reply(fd, &h, 10000) < 0)
					die("flushclose: fill");
	}
	send_frame(fd, UWIRE_OP_POOL_FLUSH, 0, id++, pool, NULL, 0, NULL, 0);
	send_frame(fd, UWIRE_OP_PUT, 0, id++, pool, "after", 5, "1", 1);
	close(fd);
	fd2 = dial(argv[0]);
	pool = raw_pool(fd2, "closing");
	for (int tries = 0; pool && tries < 500 && !present; tries++) {
		send_frame(fd2, UWIRE_OP_GET, 0, id++, pool, "after", 5, NULL, 0);
		last = read_reply(fd2, &h, 10000);
		present = last == 0;
		if (!present)
			usleep(10000);
	}
	printf("after_present %d\n", present);
	if (!present)
		fprintf(stderr, "flushclose: last GET status %d\n", last);
	close(fd2);
	return 0;
}

/* Ping through good for us microseconds; the slowest ping (us), and in
 * *pings how many there were. */
static uint64_t ping_for(utmem_client *good, uint64_t us, uint64_t *pings)
{
	uint64_t end = now_us() + us, worst = 0;

	while (now_us() < end) {
		uint64_t t = now_us();

		if (utmem_ping(good))
			die("ping");
		t = now_us() - t;
		worst = t > worst ? t : worst;
		++*pings;
	}
	return worst;
}

/*
 * flushreset EVIL GOOD: the attacker fills its pool to its quota and
 * flushes it once (the flush's time, D), fills it again, sends a GET and
 * POOL_FLUSH on a raw connection and resets that connection at once.
 * The good tenant then pings for 3 D: a worker that waited for the job of
 * the connection it closes stalls every ping for about D. Prints D and the
 * slowest ping.
 */
int cmd_flushreset(char **argv)
{
	utmem_client *evil = connect_lib(argv[0]), *good = connect_lib(argv[1]);
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	uint64_t next = 0, t0, d, worst, pings = 0;
	uint32_t pool, raw;
	int fd;

	if (utmem_pool_open(evil, "flushme", UTMEM_POOL_CREATE, &pool))
		die("flushreset: pool");
	(void)fill_values(evil, pool, &next, 0);
	t0 = now_us();
	if (utmem_pool_flush(evil, pool))
		die("flushreset: flush");
	d = now_us() - t0;
	(void)fill_values(evil, pool, &next, 0);
	fd = dial(argv[0]);
	raw = raw_pool(fd, "flushme");
	if (!raw || utmem_ping(good))
		die("flushreset: raw pool");
	/* A GET whose reply stays unread: closing a Unix socket with unread
	 * data resets it (the daemon sees an error, not just a hang-up). */
	send_frame(fd, UWIRE_OP_GET, 0, 98, raw, "f1", 2, NULL, 0);
	send_frame(fd, UWIRE_OP_POOL_FLUSH, 0, 99, raw, NULL, 0, NULL, 0);
	usleep(2000); /* let the worker read both: the flush is under way */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	worst = ping_for(good, 3 * d, &pings);
	printf("flush_us %llu pings %llu worst_ping_us %llu\n",
	       (unsigned long long)d, (unsigned long long)pings,
	       (unsigned long long)worst);
	utmem_close(evil);
	utmem_close(good);
	return 0;
}

/*
 * ringdrain EVIL GOOD: a flush left in a ring when its socket closes.
 * utmemd serves what a ring still holds after its client hung up (posted
 * requests take effect); a POOL_FLUSH among them used to run right there,
 * on the worker, for the whole pool. The attacker fills its pool to its
 * quota and flushes it once through libutmem (the flush's time, D), fills
 * it again, then on a raw ring: a 6 MiB GET whose reply it never reads
 * (the ring connection pauses, backlog above OUT_HIGH), a PING (taken, not
 * served), a POOL_FLUSH (left in the ring), and it closes the socket. The
 * good tenant then pings for 3 D. Prints D, the slowest ping and the
 * pool's entries once the flush went through (it must: it was sent).
 */
int cmd_ringdrain(char **argv)
{
	static char big[6 << 20];
	utmem_client *evil = connect_lib(argv[0]), *good = connect_lib(argv[1]);
	uint64_t next = 0, t0, d, worst, pings = 0;
	struct utmem_stats s = {0};
	uint32_t pool, bigpool, raw, rawbig;
	struct uwire_hdr h;
	struct rawring r;

	if (utmem_pool_open(evil, "flushme", UTMEM_POOL_CREATE, &pool) ||
	    utmem_pool_open(evil, "big", UTMEM_POOL_CREATE, &bigpool))
		die("ringdrain: pools");
	memset(big, 'b', sizeof(big));
	if (utmem_put(evil, bigpool, "big", 3, big, sizeof(big)))
		die("ringdrain: 6 MiB put");
	(void)fill_values(evil, pool, &next, 0);
	t0 = now_us();
	if (utmem_pool_flush(evil, pool))
		die("ringdrain: flush");
	d = now_us() - t0;
	(void)fill_values(evil, pool, &next, 0);
	if (rawring_open(argv[0], &r) != 0)
		die("ringdrain: ring");
	if (rawring_frame(&r, UWIRE_OP_POOL_OPEN, 0, 1, 0, "flushme", 7, NULL, 0) ||
	    rawring_reply(&r, &h, 5000) != 0)
		die("ringdrain: raw pool");
	raw = h.pool;
	if (rawring_frame(&r, UWIRE_OP_POOL_OPEN, 0, 2, 0, "big", 3, NULL, 0) ||
	    rawring_reply(&r, &h, 5000) != 0)
		die("ringdrain: raw big");
	rawbig = h.pool;
	if (rawring_frame(&r, UWIRE_OP_GET, 0, 3, rawbig, "big", 3, NULL, 0))
		die("ringdrain: get");
	usleep(100000); /* the reply fills the ring; the rest is backlog */
	if (rawring_frame(&r, UWIRE_OP_PING, 0, 4, 0, NULL, 0, NULL, 0))
		die("ringdrain: ping");
	usleep(100000); /* taken into the connection's input, which pauses */
	if (rawring_frame(&r, UWIRE_OP_POOL_FLUSH, 0, 5, raw, NULL, 0, NULL, 0))
		die("ringdrain: flush frame");
	usleep(50000);
	close(r.fd); /* utmemd drains the ring: the flush runs now */
	r.fd = -1;
	worst = ping_for(good, 3 * d, &pings);
	for (int i = 0; i < 500; i++) { /* 5 s for the flush to go through */
		if (utmem_stats(evil, pool, &s))
			die("ringdrain: stats");
		if (!s.entries)
			break;
		usleep(10000);
	}
	printf("flush_us %llu pings %llu worst_ping_us %llu entries_after %llu\n",
	       (unsigned long long)d, (unsigned long long)pings,
	       (unsigned long long)worst, (unsigned long long)s.entries);
	rawring_close(&r);
	utmem_close(evil);
	utmem_close(good);
	return 0;
}

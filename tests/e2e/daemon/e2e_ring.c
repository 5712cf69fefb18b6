/*
 * e2e_ring.c — end-to-end checks of the shared-memory ring transport
 * (`ring:PATH`) against a real utmemd, driven by t_ring*.sh.
 *
 * Subcommands:
 *   ops ADDR               every operation through the ring
 *   sizes ADDR             values of 0 B, 1 KiB, 1 MiB, 4 MiB and 20 MiB
 *                          (larger than the test's ring: socket fallback for
 *                          the PUT, the GET reply streams through the ring)
 *   batch ADDR N           batches of N puts, gets, pops, invalidates
 *   restart ADDR STOPPED BACK
 *                          a request waits on a stopped daemon that is then
 *                          killed: a bounded connection error; after the
 *                          restart the client reconnects with a new ring
 *   hostile SOCK ADDR      a raw client scribbles on its ring (bad indices,
 *                          garbage headers, oversized lengths, concurrent
 *                          noise, doorbells made blocking and filled);
 *                          after each, the daemon still serves a
 *                          well-behaved ring client on ADDR
 *   scribble SOCK MIB      pages written at the region's far end are
 *                          punched again
 *   tenant-scribble EVIL_SOCK GOOD_SOCK SEED
 *                          tenant evil writes random bytes over its value
 *                          region while posting and reading; its shared
 *                          values, tenant good's values and service, and
 *                          utmemd's view of evil's entries are unharmed
 *                          (what evil may change: at cmd_tenant_scribble)
 *   pin SOCK DIR           a tenant (max 8 MiB) pins a freed 6 MiB record
 *                          with its hazard words: it stays charged while
 *                          pinned (another 6 MiB PUT is refused), until the
 *                          words are cleared, or until the grace (1 s) is
 *                          over; steps handshake with t_fp_pin.sh in DIR
 *   slabrec SOCK           16 KiB values (a record of 16 KiB + key) are
 *                          packed into slabs, charged under 17 KiB each,
 *                          not five pages; one staged the way libutmem
 *                          staged it before (PUT_REF from 16 KiB) is
 *                          stored, read back whole and charged the same
 *   topup SOCK             credit comes back in steps: posted PUTs that
 *                          spend an eighth of the connection's window and
 *                          more are topped up to the whole window when
 *                          applied, less than an eighth is not (a writer
 *                          out of credit waits a step, not its backlog)
 *   pending ADDR DIR       a PUT posted while utmemd is stopped stays
 *                          pending for utmem_put_pending() after the ring
 *                          header's pools_gen moves (utmemd says a pool
 *                          may be gone: the handle is reopened before its
 *                          next use, yet the PUT is still in the ring);
 *                          a submitted PUT sent as a request is pending
 *                          for the key and for "any key" alike; steps
 *                          handshake with t_fp_pending.sh in DIR
 * hostile, scribble, tenant-scribble, pin, slabrec and topup take their ring, and the
 * tenant's value region, from the raw ring client the tests share
 * (../rawring.c).
 * Exit status 0 only if every check held.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proto/region.h"
#include "proto/wire.h"
#include "rawring.h"
#include "transport/ring.h"
#include "e2e_check.h"
#include "utmem.h"

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 131u + seed * 7u + (i >> 12));
}

/* ---- ops ---- */

static int cmd_ops(char **argv)
{
	utmem_client *c = e2e_dial(argv[0], 0);
	struct utmem_stats st;
	char buf[64];
	void *v = NULL;
	size_t vlen = 0;
	uint32_t p, e;

	CHECK_EQ("ping", utmem_ping(c), 0);
	CHECK_EQ("open", utmem_pool_open(c, "ring-p", UTMEM_POOL_CREATE, &p), 0);
	CHECK_EQ("open eph", utmem_pool_open(c, "ring-e", UTMEM_POOL_CREATE |
					     UTMEM_POOL_EPHEMERAL, &e), 0);
	CHECK_EQ("put", utmem_put(c, p, "k1", 2, "value1", 6), 0);
	CHECK_EQ("get", utmem_get(c, p, "k1", 2, buf, sizeof(buf), 0), 6);
	CHECK_EQ("bytes", memcmp(buf, "value1", 6), 0);
	CHECK_EQ("get small buf", utmem_get(c, p, "k1", 2, buf, 3, 0), -ENOBUFS);
	CHECK_EQ("get alloc", utmem_get_alloc(c, p, "k1", 2, &v, &vlen, 0), 0);
	CHECK_EQ("alloc len", vlen, 6);
	free(v);
	CHECK_EQ("miss", utmem_get(c, p, "nope", 4, buf, sizeof(buf), 0), -ENOENT);
	CHECK_EQ("pop", utmem_get(c, p, "k1", 2, buf, sizeof(buf),
				  UTMEM_GET_EXCLUSIVE), 6);
	CHECK_EQ("gone after pop", utmem_get(c, p, "k1", 2, buf, sizeof(buf), 0),
		 -ENOENT);
	CHECK_EQ("put2", utmem_put(c, p, "k2", 2, "", 0), 0);
	CHECK_EQ("get empty", utmem_get(c, p, "k2", 2, buf, sizeof(buf), 0), 0);
	CHECK_EQ("invalidate", utmem_invalidate(c, p, "k2", 2), 0);
	CHECK_EQ("invalidate miss", utmem_invalidate(c, p, "k2", 2), -ENOENT);
	CHECK_EQ("put eph", utmem_put(c, e, "x", 1, "y", 1), 0);
	CHECK_EQ("pool stats", utmem_stats(c, e, &st), 0);
	CHECK_EQ("pool entries", st.entries, 1);
	CHECK_EQ("tenant stats", utmem_stats(c, 0, &st), 0);
	CHECK_EQ("tenant puts >= 3", st.puts >= 3, 1);
	CHECK_EQ("flush", utmem_pool_flush(c, e), 0);
	CHECK_EQ("flushed", utmem_get(c, e, "x", 1, buf, sizeof(buf), 0), -ENOENT);
	CHECK_EQ("destroy", utmem_pool_destroy(c, e), 0);
	CHECK_EQ("destroyed handle", utmem_put(c, e, "x", 1, "y", 1), -EBADF);
	CHECK_EQ("bad pool", utmem_put(c, 999, "x", 1, "y", 1), -EBADF);
	CHECK_EQ("too big", utmem_put(c, p, "big", 3, buf,
				      utmem_max_value(c) + 1), -EMSGSIZE);
	utmem_close(c);
	return failures ? 1 : 0;
}

/* ---- sizes ---- */

static void one_size(utmem_client *c, uint32_t p, size_t n)
{
	uint8_t *val = malloc(n ? n : 1), *got = malloc(n + 1);
	void *a = NULL;
	size_t alen = 0;
	char key[32];

	if (!val || !got) {
		fprintf(stderr, "FAIL out of memory\n");
		exit(1);
	}
	snprintf(key, sizeof(key), "size-%zu", n);
	fill(val, n, (unsigned)n);
	CHECK_EQ(key, utmem_put(c, p, key, strlen(key), val, n), 0);
	memset(got, 0, n + 1);
	CHECK_EQ("get", utmem_get(c, p, key, strlen(key), got, n + 1, 0),
		 (long long)n);
	CHECK_EQ("bytes", memcmp(got, val, n), 0);
	CHECK_EQ("get alloc", utmem_get_alloc(c, p, key, strlen(key), &a, &alen, 0), 0);
	CHECK_EQ("alloc len", alen, n);
	CHECK_EQ("alloc bytes", a ? memcmp(a, val, n) : -1, 0);
	free(a);
	if (n) {
		CHECK_EQ("short buffer", utmem_get(c, p, key, strlen(key), got,
						   n - 1, UTMEM_GET_EXCLUSIVE),
			 -ENOBUFS);
	}
	CHECK_EQ("pop", utmem_get(c, p, key, strlen(key), got, n,
				  UTMEM_GET_EXCLUSIVE), (long long)n);
	CHECK_EQ("pop bytes", memcmp(got, val, n), 0);
	free(val);
	free(got);
}

static int cmd_sizes(char **argv)
{
	static const size_t sizes[] = {0, 1024, 1u << 20, 4u << 20, 20u << 20};
	utmem_client *c = e2e_dial(argv[0], 0);
	uint32_t p;

	CHECK_EQ("open", utmem_pool_open(c, "sizes", UTMEM_POOL_CREATE, &p), 0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		one_size(c, p, sizes[i]);
	/* Small after large: the channels stay in sync. */
	one_size(c, p, 1024);
	utmem_close(c);
	return failures ? 1 : 0;
}

/* ---- batch ---- */

static int cmd_batch(char **argv)
{
	utmem_client *c = e2e_dial(argv[0], 0);
	int n = atoi(argv[1]);
	utmem_batch *b;
	char (*keys)[24] = calloc((size_t)n, sizeof(*keys));
	uint8_t (*vals)[100] = calloc((size_t)n, sizeof(*vals));
	uint8_t (*outs)[100] = calloc((size_t)n, sizeof(*outs));
	uint32_t p;

	if (!keys || !vals || !outs || n <= 0)
		return 1;
	CHECK_EQ("open", utmem_pool_open(c, "batch", UTMEM_POOL_CREATE, &p), 0);
	CHECK_EQ("batch new", utmem_batch_new(c, &b), 0);
	for (int i = 0; i < n; i++) {
		snprintf(keys[i], sizeof(keys[i]), "b%07d", i);
		fill(vals[i], sizeof(vals[i]), (unsigned)i);
		utmem_batch_put(b, p, keys[i], strlen(keys[i]), vals[i],
				(size_t)(i % 100));
	}
	CHECK_EQ("puts", utmem_batch_exec(b), n);
	utmem_batch_reset(b);
	for (int i = 0; i < n; i++)
		utmem_batch_get(b, p, keys[i], strlen(keys[i]), outs[i],
				sizeof(outs[i]), (i & 1) ? UTMEM_GET_EXCLUSIVE : 0);
	CHECK_EQ("gets", utmem_batch_exec(b), n);
	for (int i = 0; i < n; i++) {
		if (utmem_batch_result(b, (size_t)i) != i % 100 ||
		    memcmp(outs[i], vals[i], (size_t)(i % 100))) {
			CHECK_EQ("get result", utmem_batch_result(b, (size_t)i), i % 100);
			break;
		}
	}
	utmem_batch_reset(b);
	for (int i = 0; i < n; i++)
		utmem_batch_invalidate(b, p, keys[i], strlen(keys[i]));
	/* Odd keys were popped: only the even ones are there to remove. */
	CHECK_EQ("invalidates", utmem_batch_exec(b), (n + 1) / 2);
	/* Order within one batch, whichever path each request takes (posted
	 * PUT, one-sided GET, served INVALIDATE and POP): for every key
	 * PUT v1, GET, INVALIDATE, GET, PUT v2, POP, GET. */
	utmem_batch_reset(b);
	for (int i = 0; i < n && i < 500; i++) {
		const char *k = keys[i];
		size_t kl = strlen(k);

		utmem_batch_put(b, p, k, kl, vals[i], 50);
		utmem_batch_get(b, p, k, kl, outs[i], sizeof(outs[i]), 0);
		utmem_batch_invalidate(b, p, k, kl);
		utmem_batch_get(b, p, k, kl, outs[i], sizeof(outs[i]), 0);
		utmem_batch_put(b, p, k, kl, vals[(i + 1) % n], 60);
		utmem_batch_get(b, p, k, kl, outs[i], sizeof(outs[i]),
				UTMEM_GET_EXCLUSIVE);
		utmem_batch_get(b, p, k, kl, outs[i], sizeof(outs[i]), 0);
	}
	utmem_batch_exec(b);
	for (int i = 0; i < n && i < 500; i++) {
		static const ssize_t want[7] = {0, 50, 0, -ENOENT, 0, 60, -ENOENT};

		for (int j = 0; j < 7; j++)
			if (utmem_batch_result(b, (size_t)(i * 7 + j)) != want[j]) {
				CHECK_EQ("ordered batch result",
					 utmem_batch_result(b, (size_t)(i * 7 + j)),
					 want[j]);
				i = n;
				break;
			}
	}
	CHECK_EQ("popped value", memcmp(outs[0], vals[1 % n], 60), 0);
	utmem_batch_free(b);
	free(keys);
	free(vals);
	free(outs);
	utmem_close(c);
	return failures ? 1 : 0;
}

/* ---- restart ---- */

static int cmd_restart(char **argv)
{
	utmem_client *c = e2e_dial(argv[0], 0);
	char out[16];
	double t0, dt;
	uint32_t p;
	int err;

	CHECK_EQ("open", utmem_pool_open(c, "r", UTMEM_POOL_CREATE, &p), 0);
	CHECK_EQ("put", utmem_put(c, p, "k", 1, "v", 1), 0);
	printf("READY\n");
	fflush(stdout);
	if (e2e_wait_flag(argv[1]) < 0) /* the daemon is stopped (SIGSTOP) */
		return 1;
	/* A pop must reach the daemon (a plain GET would be read one-sided
	 * from the value region, which a stopped daemon leaves readable). */
	t0 = e2e_now_s();
	err = (int)utmem_get(c, p, "k", 1, out, sizeof(out), UTMEM_GET_EXCLUSIVE);
	dt = e2e_now_s() - t0;
	printf("while down: %d (%s) after %.3f s\n", err, utmem_strerror(err), dt);
	fflush(stdout);
	CHECK_EQ("a connection error", err == -ECONNRESET || err == -EPIPE ||
		 err == -ECONNREFUSED, 1);
	CHECK_EQ("bounded by the timeout", dt < 5.0, 1);
	if (e2e_wait_flag(argv[2]) < 0) /* a new daemon is up */
		return 1;
	/* The dead daemon's region must not answer: the new one has nothing. */
	err = (int)utmem_get(c, p, "k", 1, out, sizeof(out), 0);
	for (int i = 0; i < 50 && err != -ENOENT && err != 1; i++) {
		usleep(100000);
		err = (int)utmem_get(c, p, "k", 1, out, sizeof(out), 0);
	}
	CHECK_EQ("get after restart: a miss, not the dead daemon's value", err,
		 -ENOENT);
	err = utmem_put(c, p, "k", 1, "w", 1);
	for (int i = 0; i < 50 && err < 0; i++) {
		usleep(100000);
		err = utmem_put(c, p, "k", 1, "w", 1);
	}
	CHECK_EQ("put after restart", err, 0);
	CHECK_EQ("get after restart", utmem_get(c, p, "k", 1, out, sizeof(out), 0), 1);
	CHECK_EQ("value", out[0], 'w');
	utmem_close(c);
	return failures ? 1 : 0;
}

/* ---- hostile ---- */

/* A well-behaved ring client still gets served. */
static void still_serves(const char *addr, const char *what)
{
	utmem_client *c = e2e_dial(addr, 0);
	char out[16];
	uint32_t p;

	CHECK_EQ(what, utmem_pool_open(c, "good", UTMEM_POOL_CREATE, &p), 0);
	CHECK_EQ(what, utmem_put(c, p, "g", 1, "ok", 2), 0);
	CHECK_EQ(what, utmem_get(c, p, "g", 1, out, sizeof(out), 0), 2);
	utmem_close(c);
}

struct noise {
	struct rawring *r;
	int stop; /* atomic: set by the main thread */
};

/* Scribble random bytes over the whole region, indices included. */
static void *noise_main(void *arg)
{
	struct noise *n = arg;
	uint8_t *base = (uint8_t *)n->r->m.shm;
	uint64_t x = 88172645463325252ull;

	while (!__atomic_load_n(&n->stop, __ATOMIC_RELAXED)) {
		for (int i = 0; i < 1000; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			size_t off = x % URING_HDR_SIZE;
			if (i & 1)
				base[off] = (uint8_t)(x >> 32);
			else
				n->r->m.data[x & 1][(x >> 8) % n->r->m.size] =
					(uint8_t)x;
		}
		rawring_kick(n->r);
	}
	return NULL;
}

static int cmd_hostile(char **argv)
{
	const char *sock = argv[0], *addr = argv[1];
	struct uwire_hdr h;
	uint8_t b[UWIRE_HDR_SIZE];
	struct rawring r;
	int i;

	/* 1. tail beyond the ring's size */
	if (rawring_open(sock, &r))
		return fprintf(stderr, "FAIL raw ring setup\n"), 1;
	rawring_poke(&r, 0, "x", 1, r.m.size + 1);
	CHECK_EQ("tail > size: closed", rawring_closed(&r, 5000), 1);
	rawring_close(&r);
	still_serves(addr, "after tail > size");

	/* 2. tail moving backwards */
	if (rawring_open(sock, &r))
		return fprintf(stderr, "FAIL raw ring setup\n"), 1;
	h = (struct uwire_hdr){.version = UWIRE_VERSION, .opcode = UWIRE_OP_PING, .id = 9};
	uwire_hdr_encode(&h, b);
	rawring_poke(&r, 0, b, 16, 16); /* half a header: the daemon waits */
	/* Once the daemon has taken those bytes (head 16), tail 8 is backwards. */
	for (i = 0; i < 500 && rawring_taken(&r) != 16; i++)
		usleep(10000);
	CHECK_EQ("daemon took the half header", rawring_taken(&r), 16);
	rawring_poke(&r, 16, b, 0, 8);
	CHECK_EQ("tail backwards: closed", rawring_closed(&r, 5000), 1);
	rawring_close(&r);
	still_serves(addr, "after tail backwards");

	/* 3. garbage header */
	if (rawring_open(sock, &r))
		return fprintf(stderr, "FAIL raw ring setup\n"), 1;
	memset(b, 0xa5, sizeof(b));
	rawring_poke(&r, 0, b, sizeof(b), sizeof(b));
	CHECK_EQ("garbage header: closed", rawring_closed(&r, 5000), 1);
	rawring_close(&r);
	still_serves(addr, "after garbage header");

	/* 4. oversized lengths (klen and vlen at their maximum) */
	if (rawring_open(sock, &r))
		return fprintf(stderr, "FAIL raw ring setup\n"), 1;
	h = (struct uwire_hdr){.version = UWIRE_VERSION, .opcode = UWIRE_OP_PUT,
			       .id = 3, .pool = 1, .klen = 0xffffffffu,
			       .vlen = 0xffffffffu};
	uwire_hdr_encode(&h, b);
	rawring_poke(&r, 0, b, sizeof(b), sizeof(b));
	CHECK_EQ("oversized: closed", rawring_closed(&r, 5000), 1);
	rawring_close(&r);
	still_serves(addr, "after oversized lengths");

	/* 5. a large frame announced, never sent, then the client leaves */
	if (rawring_open(sock, &r))
		return fprintf(stderr, "FAIL raw ring setup\n"), 1;
	h = (struct uwire_hdr){.version = UWIRE_VERSION, .opcode = UWIRE_OP_PUT,
			       .id = 4, .pool = 1, .klen = 1, .vlen = 32u << 20};
	uwire_hdr_encode(&h, b);
	rawring_poke(&r, 0, b, sizeof(b), sizeof(b));
	usleep(50000);
	rawring_close(&r);
	still_serves(addr, "after a half-sent large frame");

	/* 6. impossible head on the reply ring while replies are due */
	if (rawring_open(sock, &r))
		return fprintf(stderr, "FAIL raw ring setup\n"), 1;
	__atomic_store_n(&r.m.shm->ring[URING_TO_CLIENT].head, 1ull << 40,
			 __ATOMIC_RELEASE);
	h = (struct uwire_hdr){.version = UWIRE_VERSION, .opcode = UWIRE_OP_PING, .id = 5};
	uwire_hdr_encode(&h, b);
	rawring_poke(&r, 0, b, sizeof(b), sizeof(b));
	CHECK_EQ("bad head: closed", rawring_closed(&r, 5000), 1);
	rawring_close(&r);
	still_serves(addr, "after a bad head");

	/* 7. a thread scribbles over the whole region while we send pings */
	for (i = 0; i < 3; i++) {
		struct noise n = {.r = &r};
		pthread_t th;
		uint64_t tail = 0;

		if (rawring_open(sock, &r))
			return fprintf(stderr, "FAIL raw ring setup\n"), 1;
		pthread_create(&th, NULL, noise_main, &n);
		h = (struct uwire_hdr){.version = UWIRE_VERSION,
				       .opcode = UWIRE_OP_PING};
		for (int k = 0; k < 2000; k++) {
			h.id = (uint64_t)k;
			uwire_hdr_encode(&h, b);
			rawring_poke(&r, tail, b, sizeof(b), tail + sizeof(b));
			tail += sizeof(b);
		}
		usleep(100000);
		__atomic_store_n(&n.stop, 1, __ATOMIC_RELAXED);
		pthread_join(th, NULL);
		rawring_close(&r);
		still_serves(addr, "after concurrent scribbling");
	}
	/*
	 * 8. doorbells made blocking and filled (regression: a client whose
	 * doorbell shared the daemon's open file description could clear
	 * O_NONBLOCK and saturate it, so the worker's wake-up write blocked
	 * for good). Two such rings, as many as the test daemon's workers;
	 * the client sleeping flag raised all the time so every reply rings.
	 */
	{
		struct rawring rr[2];
		uint64_t tail[2] = {0, 0};

		for (int k = 0; k < 2; k++) {
			uint64_t max = 0xfffffffffffffffeull;
			int fl;

			if (rawring_open(sock, &rr[k]))
				return fprintf(stderr, "FAIL raw ring setup\n"), 1;
			fl = fcntl(rr[k].pipe, F_GETFL);
			fcntl(rr[k].pipe, F_SETFL, fl & ~O_NONBLOCK);
			fl = fcntl(rr[k].bell, F_GETFL);
			fcntl(rr[k].bell, F_SETFL, fl & ~O_NONBLOCK);
			/* Saturate both: the daemon's eventfd, and the
			 * client's doorbell where it is an eventfd too
			 * (the old design; a pipe's read end refuses). */
			if (write(rr[k].bell, &max, sizeof(max)) < 0)
				perror("fill doorbell");
			(void)!write(rr[k].pipe, &max, sizeof(max));
		}
		h = (struct uwire_hdr){.version = UWIRE_VERSION,
				       .opcode = UWIRE_OP_PING};
		for (int n = 0; n < 20000; n++) {
			struct rawring *x = &rr[n & 1];
			uint64_t *t = &tail[n & 1];

			__atomic_store_n(&x->m.shm->client_sleeping,
					 URING_WANT_DATA, __ATOMIC_SEQ_CST);
			if (*t - __atomic_load_n(&x->m.shm->ring[URING_TO_DAEMON].head,
						  __ATOMIC_ACQUIRE) + sizeof(b) > x->m.size)
				continue; /* request ring full: the daemon stopped reading */
			h.id = (uint64_t)n;
			uwire_hdr_encode(&h, b);
			memcpy(x->m.data[URING_TO_DAEMON] + (*t & (x->m.size - 1)), b,
			       sizeof(b));
			*t += sizeof(b);
			__atomic_store_n(&x->m.shm->ring[URING_TO_DAEMON].tail, *t,
					 __ATOMIC_RELEASE);
		}
		usleep(200000);
		still_serves(addr, "with two rings' doorbells blocking and full");
		rawring_close(&rr[0]);
		rawring_close(&rr[1]);
		still_serves(addr, "after the blocked-doorbell rings left");
	}
	printf("hostile: %d failures\n", failures);
	return failures ? 1 : 0;
}

/*
 * scribble SOCK MIB: map the tenant's value region as any of its clients
 * may, write MIB MiB at its far end (free heap: no allocation lives there)
 * and wait 3 s while utmemd should punch them again. Prints the region
 * file's allocated MiB right after writing and at the end, and exits 0 if
 * it fell below half the written amount.
 */
static int cmd_scribble(char **argv)
{
	uint64_t mib = strtoull(argv[1], NULL, 0), len = mib << 20;
	struct rawring r;
	struct stat st;
	uint8_t *p;
	uint64_t after, end;

	if (rawring_open(argv[0], &r) || r.region_fd < 0 || len > r.region_size / 2) {
		fprintf(stderr, "scribble: no region (or too small)\n");
		return 1;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, r.region_fd,
		 (off_t)(r.region_size - len));
	if (p == MAP_FAILED) {
		perror("mmap region");
		return 1;
	}
	memset(p, 0x5a, len);
	fstat(r.region_fd, &st);
	after = (uint64_t)st.st_blocks * 512;
	munmap(p, len);
	sleep(3);
	fstat(r.region_fd, &st);
	end = (uint64_t)st.st_blocks * 512;
	printf("scribbled %llu MiB: region file %llu MiB after writing, %llu MiB 3 s later\n",
	       (unsigned long long)mib, (unsigned long long)(after >> 20),
	       (unsigned long long)(end >> 20));
	rawring_close(&r);
	/* utmemd may punch while we write: only the end state counts. */
	return end < len / 2 ? 0 : 1;
}

/* ---- tenant-scribble ---- */

/*
 * A tenant scribbling on its own shared memory (its value region, mapped
 * from a raw ring connection as the hostile case does, while its libutmem
 * client posts and reads). What it CAN do, by design (docs/design.md "Two
 * shared regions per local tenant"), and so what this case allows:
 *   - change the bytes of its own private-pool values at any time: a staged
 *     record before utmemd adopts it (the extent becomes the stored value,
 *     never copied), or any stored value in the region afterwards. utmemd
 *     keeps keys, lengths, pools and the accounting privately, so such a
 *     value keeps its key and its length and is served, changed, by utmemd
 *     too (pop);
 *   - make its own one-sided reads wrong (a miss, a retry through utmemd,
 *     changed bytes) by writing the index, directory or hazard words;
 *   - pin its own records with hazard words (they are freed after the
 *     grace period; charged to itself meanwhile).
 * What it can NOT do, and this case checks each:
 *   - change a shared-pool value (those live in utmemd's own memory), its
 *     own included, as anyone reads them;
 *   - change, hide or corrupt another tenant's values, or stop utmemd
 *     serving that tenant while it scribbles;
 *   - change what utmemd knows of its own entries: every key it put is
 *     still there with its length, pops and the charged bytes add up, and
 *     values it puts once it stops are stored exactly;
 *   - take utmemd down (the script also checks a clean SIGTERM exit).
 * The region's first page (its header) is spared while the client works;
 * it is scribbled last, on its own (see there).
 */
struct scrib {
	uint8_t *base;
	uint64_t size, heap_off;
	int fd;
	uint64_t seed;
	int stop; /* atomic: set by the main thread */
	long writes;
};

static uint64_t xs64(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Write random runs of bytes into the region's resident data (values,
 * staging extents, index) and into its hazard table and directory. */
static void *scrib_main(void *arg)
{
	struct scrib *sc = arg;
	uint64_t s = sc->seed | 1, rng[256][2];
	int nr = 0;
	double next = 0;

	while (!__atomic_load_n(&sc->stop, __ATOMIC_RELAXED)) {
		uint64_t off, len, lo, hi;

		if (e2e_now_s() >= next) {
			off_t at = (off_t)UVR_PAGE;

			nr = 0;
			while (nr < 256) {
				off_t d = lseek(sc->fd, at, SEEK_DATA), e;

				if (d < 0)
					break;
				e = lseek(sc->fd, d, SEEK_HOLE);
				if (e <= d)
					break;
				rng[nr][0] = (uint64_t)d;
				rng[nr][1] = (uint64_t)e;
				nr++;
				at = e;
			}
			next = e2e_now_s() + 0.02;
		}
		if (nr == 0 || xs64(&s) % 8 == 0) {
			lo = UVR_PAGE; /* hazard words, directory, up to the heap */
			hi = sc->heap_off;
		} else {
			int i = (int)(xs64(&s) % (uint64_t)nr);

			lo = rng[i][0] < UVR_PAGE ? UVR_PAGE : rng[i][0];
			hi = rng[i][1];
		}
		if (hi <= lo)
			continue;
		off = lo + xs64(&s) % (hi - lo);
		len = 1 + xs64(&s) % 512;
		if (len > hi - off)
			len = hi - off;
		for (uint64_t k = 0; k < len; k++)
			sc->base[off + k] = (uint8_t)xs64(&s);
		if (++sc->writes % 256 == 0)
			usleep(50);
	}
	return NULL;
}

static void scrib_fill(uint8_t *p, size_t n, unsigned key, unsigned tag)
{
	uint64_t s = ((uint64_t)key << 32 | tag) * 0x9e3779b97f4a7c15ull | 1;

	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)xs64(&s);
}

static size_t scrib_size(uint64_t *s)
{
	uint64_t r = xs64(s) % 4;

	if (r < 2)
		return (size_t)(xs64(s) % 2000);
	return 16384 + (size_t)(xs64(s) % 200000);
}

/* The good tenant keeps working during the scribbling; all checked. */
struct good_run {
	utmem_client *c;
	uint32_t p;
	int stop; /* atomic: set by the main thread */
	int rounds, fails;
};

/* A failed check of the good thread (counted apart, added after join). */
static void good_fail(struct good_run *g, const char *what, long long got,
		      long long want)
{
	fprintf(stderr, "FAIL good tenant during the scribbling: %s = %lld, want %lld\n",
		what, got, want);
	g->fails++;
}

static void *good_main(void *arg)
{
	struct good_run *g = arg;
	uint8_t *v = malloc(256 * 1024), *o = malloc(256 * 1024);
	uint64_t s = 77;

	while (!__atomic_load_n(&g->stop, __ATOMIC_RELAXED) && v && o) {
		char key[32];
		size_t n = scrib_size(&s);
		unsigned id = (unsigned)(xs64(&s) % 100);
		long long r;

		snprintf(key, sizeof(key), "gl-%u", id);
		scrib_fill(v, n, id + 5000, (unsigned)g->rounds);
		r = utmem_put(g->c, g->p, key, strlen(key), v, n);
		if (r)
			good_fail(g, "put", r, 0);
		r = utmem_get(g->c, g->p, key, strlen(key), o, 256 * 1024, 0);
		if (r != (long long)n)
			good_fail(g, "get", r, (long long)n);
		else if (memcmp(o, v, n))
			good_fail(g, "content differs", 1, 0);
		g->rounds++;
	}
	free(v);
	free(o);
	return NULL;
}

#define SCRIB_N 150

static int cmd_tenant_scribble(char **argv)
{
	const char *evil_sock = argv[0];
	char evil_addr[512], good_addr[512];
	utmem_client *good, *evil, *c3;
	uint32_t gp, gs, ep, es, p3;
	size_t gsz[SCRIB_N], gssz[SCRIB_N], esz[SCRIB_N * 20], essz[SCRIB_N];
	uint8_t *v = malloc(256 * 1024), *o = malloc(256 * 1024);
	uint64_t s = strtoull(argv[2], NULL, 0), rsize;
	struct utmem_stats st;
	struct scrib sc = {0};
	struct good_run gr;
	struct rawring r;
	pthread_t th, gth;
	double t0, worst = 0;
	int ne = 0, changed = 0;
	char key[32];

	if (!s) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		s = ((uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec) *
			    0x9e3779b97f4a7c15ull | 1;
	}
	printf("seed: %llu (replay: e2e_ring tenant-scribble ... %llu)\n",
	       (unsigned long long)s, (unsigned long long)s);
	sc.seed = s;
	snprintf(evil_addr, sizeof(evil_addr), "unix:%s", evil_sock);
	snprintf(good_addr, sizeof(good_addr), "unix:%s", argv[1]);
	good = e2e_dial(good_addr, 0);
	evil = e2e_dial(evil_addr, 0);
	CHECK_EQ("good: open", utmem_pool_open(good, "gp", UTMEM_POOL_CREATE, &gp), 0);
	CHECK_EQ("good: open shared", utmem_pool_open(good, "common", UTMEM_POOL_SHARED, &gs), 0);
	CHECK_EQ("evil: open", utmem_pool_open(evil, "ep", UTMEM_POOL_CREATE, &ep), 0);
	CHECK_EQ("evil: open shared", utmem_pool_open(evil, "common", UTMEM_POOL_SHARED, &es), 0);
	for (unsigned i = 0; i < SCRIB_N; i++) {
		gsz[i] = scrib_size(&s);
		snprintf(key, sizeof(key), "g-%u", i);
		scrib_fill(v, gsz[i], i, 1);
		CHECK_EQ("good: put", utmem_put(good, gp, key, strlen(key), v, gsz[i]), 0);
		gssz[i] = scrib_size(&s);
		snprintf(key, sizeof(key), "gs-%u", i);
		scrib_fill(v, gssz[i], i, 2);
		CHECK_EQ("good: put shared", utmem_put(good, gs, key, strlen(key), v, gssz[i]), 0);
		esz[ne] = scrib_size(&s);
		snprintf(key, sizeof(key), "e-%d", ne);
		scrib_fill(v, esz[ne], (unsigned)ne, 3);
		CHECK_EQ("evil: put", utmem_put(evil, ep, key, strlen(key), v, esz[ne]), 0);
		ne++;
		essz[i] = scrib_size(&s);
		snprintf(key, sizeof(key), "es-%u", i);
		scrib_fill(v, essz[i], i, 4);
		CHECK_EQ("evil: put shared", utmem_put(evil, es, key, strlen(key), v, essz[i]), 0);
	}
	CHECK_EQ("good: sync", utmem_sync(good), 0);
	CHECK_EQ("evil: sync", utmem_sync(evil), 0);

	/* Evil maps its value region itself and scribbles on it while its
	 * client goes on posting (staged and inline) and reading. */
	if (rawring_open(evil_sock, &r) || r.region_fd < 0)
		return fprintf(stderr, "FAIL raw ring setup with a region\n"), 1;
	rsize = r.region_size;
	sc.base = mmap(NULL, rsize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
		       r.region_fd, 0);
	if (sc.base == MAP_FAILED)
		return fprintf(stderr, "FAIL map the region: %s\n", strerror(errno)), 1;
	sc.fd = r.region_fd;
	sc.size = rsize;
	sc.heap_off = ((struct uvr_hdr *)sc.base)->heap_off;
	CHECK_EQ("region header sane", sc.heap_off > UVR_PAGE && sc.heap_off < rsize, 1);
	gr = (struct good_run){.c = good, .p = gp};
	pthread_create(&gth, NULL, good_main, &gr);
	pthread_create(&th, NULL, scrib_main, &sc);
	t0 = e2e_now_s();
	while (e2e_now_s() - t0 < 2.0 && ne < SCRIB_N * 20) {
		double t1 = e2e_now_s(), dt;
		unsigned id = (unsigned)(xs64(&s) % (uint64_t)ne);

		esz[ne] = scrib_size(&s);
		snprintf(key, sizeof(key), "e-%d", ne);
		scrib_fill(v, esz[ne], (unsigned)ne, 3);
		CHECK_EQ("evil: put while scribbling",
			 utmem_put(evil, ep, key, strlen(key), v, esz[ne]), 0);
		ne++;
		/* Its own one-sided reads: any answer, but an answer. */
		snprintf(key, sizeof(key), "e-%u", id);
		(void)utmem_get(evil, ep, key, strlen(key), o, 256 * 1024, 0);
		dt = e2e_now_s() - t1;
		worst = dt > worst ? dt : worst;
	}
	__atomic_store_n(&sc.stop, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&gr.stop, 1, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	pthread_join(gth, NULL);
	failures += gr.fails;
	printf("scribbled %ld runs of bytes in %.1f s; evil put %d values (slowest put+get %.3f s); good did %d rounds meanwhile\n",
	       sc.writes, e2e_now_s() - t0, ne - SCRIB_N, worst, gr.rounds);
	CHECK_EQ("evil's own operations answered in bounded time", worst < 6.0, 1);
	CHECK_EQ("good was served during the scribbling", gr.rounds > 10, 1);

	/* Good's values, private and shared, and evil's shared ones: exact. */
	for (unsigned i = 0; i < SCRIB_N; i++) {
		snprintf(key, sizeof(key), "g-%u", i);
		scrib_fill(v, gsz[i], i, 1);
		if (utmem_get(good, gp, key, strlen(key), o, 256 * 1024, 0) != (ssize_t)gsz[i] ||
		    memcmp(o, v, gsz[i]))
			CHECK_EQ("good's private value intact", i, -1);
		for (int who = 0; who < 2; who++) {
			utmem_client *c = who ? evil : good;
			uint32_t pool = who ? es : gs;

			snprintf(key, sizeof(key), "gs-%u", i);
			scrib_fill(v, gssz[i], i, 2);
			if (utmem_get(c, pool, key, strlen(key), o, 256 * 1024, 0) !=
				    (ssize_t)gssz[i] || memcmp(o, v, gssz[i]))
				CHECK_EQ("good's shared value intact", i, -1);
			snprintf(key, sizeof(key), "es-%u", i);
			scrib_fill(v, essz[i], i, 4);
			if (utmem_get(c, pool, key, strlen(key), o, 256 * 1024, 0) !=
				    (ssize_t)essz[i] || memcmp(o, v, essz[i]))
				CHECK_EQ("evil's shared value intact", i, -1);
		}
	}
	/* Evil's own entries: all there with their lengths (utmemd's view);
	 * the bytes may be what evil wrote over them. */
	CHECK_EQ("evil: pool stats", utmem_stats(evil, ep, &st), 0);
	CHECK_EQ("evil: every value it put is an entry", st.entries, (uint64_t)ne);
	for (int i = 0; i < ne; i++) {
		ssize_t got;

		snprintf(key, sizeof(key), "e-%d", i);
		got = utmem_get(evil, ep, key, strlen(key), o, 256 * 1024,
				UTMEM_GET_EXCLUSIVE);
		if (got != (ssize_t)esz[i]) {
			fprintf(stderr, "FAIL evil's pop of %s: %zd, want its length %zu\n",
				key, got, esz[i]);
			failures++;
			continue;
		}
		scrib_fill(v, esz[i], (unsigned)i, 3);
		changed += memcmp(o, v, esz[i]) != 0;
	}
	printf("evil's own values changed by its scribbling: %d of %d (allowed)\n",
	       changed, ne);
	CHECK_EQ("evil: pool stats after the pops", utmem_stats(evil, ep, &st), 0);
	CHECK_EQ("evil: no entry left", st.entries, 0);
	CHECK_EQ("evil: nothing charged for them", st.bytes_charged, 0);
	/* Once it stops, what it puts is stored exactly (checked by utmemd's
	 * answer: its own index may still be scribbled). */
	for (int i = 0; i < 20; i++) {
		size_t n = i % 2 ? 100000 + (size_t)i : 100 + (size_t)i;

		snprintf(key, sizeof(key), "fresh-%d", i);
		scrib_fill(v, n, (unsigned)i, 9);
		CHECK_EQ("evil: fresh put", utmem_put(evil, ep, key, strlen(key), v, n), 0);
		CHECK_EQ("evil: fresh pop", utmem_get(evil, ep, key, strlen(key), o,
						      256 * 1024, UTMEM_GET_EXCLUSIVE),
			 (long long)n);
		CHECK_EQ("evil: fresh value exact", memcmp(o, v, n), 0);
	}
	/* A new connection of good is served as ever. */
	c3 = e2e_dial(good_addr, 0);
	CHECK_EQ("good: new connection", utmem_pool_open(c3, "gp", 0, &p3), 0);
	scrib_fill(v, 50000, 1, 11);
	CHECK_EQ("good: new put", utmem_put(c3, p3, "new", 3, v, 50000), 0);
	CHECK_EQ("good: new get", utmem_get(c3, p3, "new", 3, o, 256 * 1024, 0), 50000);
	CHECK_EQ("good: new content", memcmp(o, v, 50000), 0);
	utmem_close(c3);
	/*
	 * The header page too (the case above spares it). Clients check it
	 * only when they map the region: evil's connected client goes on, and
	 * good is not concerned. A NEW connection of evil then fails with
	 * -EPROTO in this version (libutmem refuses the malformed region
	 * instead of going on without it): evil locked out only itself, so
	 * this is reported, not failed.
	 */
	memset(sc.base, 0x5a, sizeof(struct uvr_hdr));
	scrib_fill(v, 100000, 1, 12);
	CHECK_EQ("evil, header scribbled: put", utmem_put(evil, ep, "h", 1, v, 100000), 0);
	CHECK_EQ("evil, header scribbled: pop", utmem_get(evil, ep, "h", 1, o, 256 * 1024,
							  UTMEM_GET_EXCLUSIVE), 100000);
	CHECK_EQ("evil, header scribbled: content", memcmp(o, v, 100000), 0);
	{
		utmem_client *c4 = NULL;
		struct utmem_options op = {.timeout_ms = 5000};
		int err = utmem_connect(evil_addr, &op, &c4);

		printf("note: a new connection of evil after it scribbled its region header: %s\n",
		       err ? utmem_strerror(err) : "connected");
		utmem_close(c4);
	}
	c3 = e2e_dial(good_addr, 0);
	CHECK_EQ("good after evil's header: open", utmem_pool_open(c3, "gp", 0, &p3), 0);
	CHECK_EQ("good after evil's header: get", utmem_get(c3, p3, "new", 3, o,
							     256 * 1024, 0), 50000);
	scrib_fill(v, 50000, 1, 11);
	CHECK_EQ("good after evil's header: content", memcmp(o, v, 50000), 0);
	utmem_close(c3);
	munmap(sc.base, rsize);
	rawring_close(&r); /* and the region's descriptor */
	utmem_close(evil);
	utmem_close(good);
	free(v);
	free(o);
	printf("scribble: %d failures\n", failures);
	return failures ? 1 : 0;
}

/* ---- pin ---- */

#define PIN_VAL (6u << 20)

/*
 * Wait (10 s at most) until the script creates flag file DIR/NAME (it
 * checked what it had to) or DIR/ALT if given: 0 (name), 1 (alt), or -1
 * (said).
 */
static int pin_wait_either(const char *dir, const char *name, const char *alt)
{
	char path[512], apath[512] = "";

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (alt)
		snprintf(apath, sizeof(apath), "%s/%s", dir, alt);
	for (int i = 0; i < 1000; i++) {
		if (access(path, F_OK) == 0)
			return 0;
		if (alt && access(apath, F_OK) == 0)
			return 1;
		usleep(10000);
	}
	fprintf(stderr, "FAIL no %s within 10 s\n", path);
	return -1;
}

static int pin_wait(const char *dir, const char *name)
{
	return pin_wait_either(dir, name, NULL);
}

/* CLOCK_REALTIME in ms: the driving script compares it with `date +%s%3N`. */
static long long pin_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The region offset of the first copy of marker in the region's data. */
static int64_t pin_find(int fd, const uint8_t *base, uint64_t from,
			const char *marker, size_t n)
{
	off_t at = (off_t)from;

	for (;;) {
		off_t d = lseek(fd, at, SEEK_DATA), e;
		const void *hit;

		if (d < 0)
			return -1;
		e = lseek(fd, d, SEEK_HOLE);
		if (e <= d)
			return -1;
		hit = memmem(base + d, (size_t)(e - d), marker, n);
		if (hit)
			return (const uint8_t *)hit - base;
		at = e;
	}
}

/* Point every hazard word of the region at off (0: clear them). */
static void pin_words(uint8_t *base, const struct uvr_hdr *h, uint64_t off)
{
	for (uint32_t i = 0; i < h->nhaz; i++)
		__atomic_store_n((uint64_t *)(base + h->haz_off + (uint64_t)i * UVR_LINE),
				 off, __ATOMIC_SEQ_CST);
}

/*
 * Pin key's record (a PIN_VAL value whose first 16 bytes are marker) with
 * every hazard word, then free it: INVALIDATE. Returns 0, or -1 (said).
 */
static int pin_and_free(utmem_client *c, uint32_t p, const char *key,
			const char *marker, struct rawring *r, uint8_t *base,
			const struct uvr_hdr *h)
{
	int64_t at;

	CHECK_EQ("sync", utmem_sync(c), 0);
	at = pin_find(r->region_fd, base, h->heap_off, marker, 16);
	CHECK_EQ("the record found in the region", at > 0, 1);
	if (at <= 0)
		return -1;
	pin_words(base, h, (uint64_t)at);
	CHECK_EQ("invalidate the pinned key", utmem_invalidate(c, p, key, strlen(key)), 0);
	return 0;
}

/* PUT key (a fresh PIN_VAL value with marker at its start), synchronously. */
static int pin_put(utmem_client *c, uint32_t p, const char *key, uint8_t *v,
		   const char *marker)
{
	memset(v, key[4], PIN_VAL);
	memcpy(v, marker, strlen(marker));
	return utmem_put(c, p, key, strlen(key), v, PIN_VAL);
}

/* Retry a PUT every 20 ms until it is stored; ms it took, or -1 after 5 s. */
static long pin_until_stored(utmem_client *c, uint32_t p, const char *key,
			     uint8_t *v, const char *marker)
{
	double t0 = e2e_now_s();
	int r;

	while ((r = pin_put(c, p, key, v, marker)) == -EDQUOT) {
		if (e2e_now_s() - t0 > 5)
			return -1;
		usleep(20000);
	}
	CHECK_EQ("PUT once the pin is gone", r, 0);
	return (long)((e2e_now_s() - t0) * 1000);
}

static int cmd_pin(char **argv)
{
	char addr[512];
	uint8_t *v = malloc(PIN_VAL), *base;
	utmem_client *c;
	struct uvr_hdr h;
	struct rawring r;
	uint32_t p;
	long ms;

	snprintf(addr, sizeof(addr), "unix:%s", argv[0]);
	c = e2e_dial(addr, 0);
	CHECK_EQ("open", utmem_pool_open(c, "pins", UTMEM_POOL_CREATE, &p), 0);
	if (!v || rawring_open(argv[0], &r) || r.region_fd < 0)
		return fprintf(stderr, "FAIL raw ring setup with a region\n"), 1;
	base = mmap(NULL, r.region_size, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_NORESERVE, r.region_fd, 0);
	if (base == MAP_FAILED)
		return fprintf(stderr, "FAIL map the region: %s\n", strerror(errno)), 1;
	memcpy(&h, base, sizeof(h));

	/*
	 * 1. Pinned: still charged, so a second 6 MiB does not fit 8 MiB.
	 * The script must read INFO within the grace (1 s) of the free; when
	 * a loaded machine made it late (flag lateN, the pin taken back by
	 * then), the same is done again with a fresh record.
	 */
	for (int attempt = 1;; attempt++) {
		char late[16];
		int w;

		CHECK_EQ("put pin-a", pin_put(c, p, "pin-a", v, "<<pin-a marker>>"), 0);
		if (pin_and_free(c, p, "pin-a", "<<pin-a marker>>", &r, base, &h))
			return 1;
		printf("PINNED %d %lld\n", attempt, pin_wall_ms());
		fflush(stdout);
		CHECK_EQ("a PUT beyond what is left beside the pinned record",
			 pin_put(c, p, "pin-b", v, "<<pin-b marker>>"), -EDQUOT);
		snprintf(late, sizeof(late), "late%d", attempt);
		w = pin_wait_either(argv[1], "checked1", late);
		if (w < 0)
			return 1;
		if (w == 0)
			break;
		pin_words(base, &h, 0);
		if (pin_until_stored(c, p, "pin-b", v, "<<pin-b marker>>") < 0 ||
		    utmem_invalidate(c, p, "pin-b", 5) != 0)
			return fprintf(stderr, "FAIL the late pin not given back\n"), 1;
	}

	/* 2. Words cleared: the maintenance thread frees and uncharges it. */
	pin_words(base, &h, 0);
	ms = pin_until_stored(c, p, "pin-b", v, "<<pin-b marker>>");
	CHECK_EQ("stored within 5 s of clearing the words", ms >= 0, 1);
	printf("RELEASED %ld\n", ms);
	fflush(stdout);
	if (pin_wait(argv[1], "checked2"))
		return 1;

	/* 3. Kept pinned: taken back after the grace, uncharged then. */
	if (pin_and_free(c, p, "pin-b", "<<pin-b marker>>", &r, base, &h))
		return 1;
	ms = pin_until_stored(c, p, "pin-c", v, "<<pin-c marker>>");
	CHECK_EQ("stored within 5 s though still pinned (the grace)", ms >= 0, 1);
	CHECK_EQ("not before most of the grace (1 s) was over", ms >= 700, 1);
	printf("FORCED %ld\n", ms);
	pin_words(base, &h, 0);
	munmap(base, r.region_size);
	rawring_close(&r);
	utmem_close(c);
	free(v);
	return failures ? 1 : 0;
}

/* ---- slabrec ---- */

#define SLAB_VAL 16384u
#define SLAB_N 64
#define SLAB_MAX_CHARGE (17u * 1024u) /* five pages + metadata before */

/* Pool p's charge per entry, or 0 on error. */
static uint64_t slab_per_entry(utmem_client *c, uint32_t p)
{
	struct utmem_stats s;

	if (utmem_stats(c, p, &s) < 0 || !s.entries)
		return 0;
	return s.bytes_charged / s.entries;
}

/* Every value of pool p, keys "k%03d" 0..n-1, is whole (seeds 1..n). */
static void slab_check_all(utmem_client *c, uint32_t p, int n, uint8_t *want,
			   uint8_t *got)
{
	for (int i = 0; i < n; i++) {
		char key[16];
		ssize_t m;

		snprintf(key, sizeof(key), "k%03d", i);
		fill(want, SLAB_VAL, (unsigned)i + 1);
		m = utmem_get(c, p, key, strlen(key), got, SLAB_VAL, 0);
		CHECK_EQ("16 KiB value read back at its size", m, (ssize_t)SLAB_VAL);
		CHECK_EQ("16 KiB value read back whole",
			 m == (ssize_t)SLAB_VAL && memcmp(got, want, SLAB_VAL) == 0, 1);
	}
}

static int cmd_slabrec(char **argv)
{
	uint8_t *want = malloc(20000), *got = malloc(20000), *base;
	uint64_t off = 0, len = 0, per;
	uint32_t p, rp, gen = 0;
	struct uwire_ref ref;
	struct uwire_hdr h;
	struct rawring r;
	char addr[512];
	uint8_t v[UWIRE_REF_SIZE];
	utmem_client *c;
	int slot = -1;

	snprintf(addr, sizeof(addr), "unix:%s", argv[0]);
	c = e2e_dial(addr, 0);
	if (!want || !got)
		return fprintf(stderr, "FAIL out of memory\n"), 1;
	CHECK_EQ("open", utmem_pool_open(c, "slabs", UTMEM_POOL_CREATE, &p), 0);
	/* 1. Through libutmem: inline records, one slab class. */
	for (int i = 0; i < SLAB_N; i++) {
		char key[16];

		snprintf(key, sizeof(key), "k%03d", i);
		fill(want, SLAB_VAL, (unsigned)i + 1);
		CHECK_EQ("put 16 KiB", utmem_put(c, p, key, strlen(key), want, SLAB_VAL), 0);
	}
	slab_check_all(c, p, SLAB_N, want, got);
	per = slab_per_entry(c, p);
	printf("PER_ENTRY %llu\n", (unsigned long long)per);
	CHECK_EQ("a 16 KiB value is charged under 17 KiB", per > SLAB_VAL && per < SLAB_MAX_CHARGE, 1);

	/* 2. Staged from 16 KiB, as libutmem did before: a raw ring client
	 * learns a staging size from a 20,000-byte PUT, then writes a 16 KiB
	 * record into a slot and names it. */
	if (rawring_open(argv[0], &r) || r.region_fd < 0)
		return fprintf(stderr, "FAIL raw ring setup with a region\n"), 1;
	base = mmap(NULL, r.region_size, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_NORESERVE, r.region_fd, 0);
	if (base == MAP_FAILED)
		return fprintf(stderr, "FAIL map the region: %s\n", strerror(errno)), 1;
	CHECK_EQ("open the pool on the raw ring",
		 rawring_frame(&r, UWIRE_OP_POOL_OPEN, UWIRE_F_CREATE, 3, 0, "slabs", 5, NULL, 0), 0);
	CHECK_EQ("pool opened", rawring_reply(&r, &h, 5000), 0);
	rp = h.pool;
	fill(want, 20000, 99);
	CHECK_EQ("teaching PUT", rawring_frame(&r, UWIRE_OP_PUT, 0, 1, rp, "teach", 5, want, 20000), 0);
	CHECK_EQ("teaching PUT answered OK", rawring_reply(&r, &h, 5000), 0);
	CHECK_EQ("teaching PUT served", rawring_applied(&r, r.sent, 5000), 0);
	for (int ms = 0; ms < 2000 && slot < 0; ms += 10) {
		for (unsigned i = 0; i < URING_STAGES && slot < 0; i++) {
			rawring_slot(&r, i, &off, &len, &gen);
			if (len >= UVR_REC_HDR + 4 + SLAB_VAL && off + len <= r.region_size)
				slot = (int)i;
		}
		if (slot < 0)
			usleep(10000);
	}
	CHECK_EQ("a staging slot granted", slot >= 0, 1);
	if (slot < 0)
		return 1;
	fill(want, SLAB_VAL, SLAB_N + 1);
	uvr_rec_write(base + off, "k064", 4, want, SLAB_VAL);
	ref = (struct uwire_ref){.slot = (uint32_t)slot, .gen = gen, .vlen = SLAB_VAL};
	uwire_ref_encode(&ref, v);
	/* PUT_REF is posted: no answer unless it fails (then the ring is
	 * closed); served is enough. */
	CHECK_EQ("PUT_REF of a 16 KiB record", rawring_frame(&r, UWIRE_OP_PUT_REF, 0, 2, rp,
							     "k064", 4, v, sizeof(v)), 0);
	CHECK_EQ("PUT_REF of a 16 KiB record served", rawring_applied(&r, r.sent, 5000), 0);
	CHECK_EQ("the ring still open after it", rawring_closed(&r, 0), 0);
	/* The extent is the client's again only in the sense that it may
	 * scribble there; the stored value must not follow. */
	memset(base + off + UVR_REC_HDR + 4, 0x5a, SLAB_VAL);
	CHECK_EQ("drop the teaching value", utmem_invalidate(c, p, "teach", 5), 0);
	slab_check_all(c, p, SLAB_N + 1, want, got);
	per = slab_per_entry(c, p);
	printf("PER_ENTRY_STAGED %llu\n", (unsigned long long)per);
	CHECK_EQ("the staged 16 KiB value is charged as a slab object too",
		 per > SLAB_VAL && per < SLAB_MAX_CHARGE, 1);
	munmap(base, r.region_size);
	rawring_close(&r);
	utmem_close(c);
	free(want);
	free(got);
	return failures ? 1 : 0;
}

/* ---- topup ---- */

#define TOPUP_VAL 1024u

/* Post PUTs of TOPUP_VAL bytes until at least `bytes` of credit is spent;
 * returns what was spent, or 0 if a post failed. */
static uint64_t topup_spend(struct rawring *r, uint32_t pool, uint64_t bytes,
			    unsigned *n)
{
	static uint8_t val[TOPUP_VAL];
	uint64_t bound = uvr_put_bound(8, TOPUP_VAL), spent = 0;

	while (spent < bytes) {
		char key[9];

		snprintf(key, sizeof(key), "t%07u", (*n)++ % 10000000u);
		if (rawring_frame(r, UWIRE_OP_PUT, UWIRE_F_POSTED, 100 + *n, pool,
				  key, 8, val, sizeof(val)) != 0)
			return 0;
		spent += bound;
	}
	return rawring_applied(r, r->sent, 5000) == 0 ? spent : 0;
}

static int cmd_topup(char **argv)
{
	uint64_t bound = uvr_put_bound(8, TOPUP_VAL), c0, c1, c2, window, spent;
	struct uwire_hdr h;
	struct rawring r;
	unsigned n = 0;

	if (rawring_open(argv[0], &r))
		return fprintf(stderr, "FAIL raw ring setup\n"), 1;
	CHECK_EQ("open a pool on the raw ring",
		 rawring_frame(&r, UWIRE_OP_POOL_OPEN, UWIRE_F_CREATE, 1, 0, "topup", 5, NULL, 0), 0);
	CHECK_EQ("pool opened", rawring_reply(&r, &h, 5000), 0);
	/* The grant of the setup is the whole window (the tenant's room is
	 * far more than 4 window's worth). */
	window = rawring_credit(&r);
	printf("WINDOW %llu\n", (unsigned long long)window);
	CHECK_EQ("a window granted at setup", window >= (64u << 10), 1);
	if (failures)
		return 1;
	/* Less than an eighth spent: not topped up yet. */
	spent = topup_spend(&r, h.pool, window / 8 - 2 * bound, &n);
	CHECK_EQ("posted PUTs under an eighth applied", spent != 0, 1);
	c0 = rawring_credit(&r);
	CHECK_EQ("under an eighth spent: no top-up", c0, window);
	/* Past an eighth: back to the whole window once applied. */
	spent += topup_spend(&r, h.pool, 3 * bound, &n);
	c1 = rawring_credit(&r);
	printf("SPENT %llu CREDIT %llu\n", (unsigned long long)spent,
	       (unsigned long long)c1);
	/* A service pass may have applied the last PUT after the one that
	 * topped up: what is left unspent is within a step of the window. */
	CHECK_EQ("past an eighth spent: topped up", c1 > c0, 1);
	CHECK_EQ("unspent within an eighth of the window",
		 c1 - spent > window - window / 8 && c1 - spent <= window, 1);
	/* And again, well before half of it is spent (the rule before
	 * topped up only then: a writer that ran out waited for half a
	 * window of PUTs to apply). */
	spent += topup_spend(&r, h.pool, window / 8 + bound, &n);
	c2 = rawring_credit(&r);
	CHECK_EQ("the next eighth topped up too",
		 c2 > c1 && c2 - spent > window - window / 8 && c2 - spent <= window, 1);
	CHECK_EQ("the ring still open", rawring_closed(&r, 0), 0);
	rawring_close(&r);
	return failures ? 1 : 0;
}

/* ---- pending ---- */

/*
 * The header page of this process's ring, found as the memfd utmemd named
 * "utmem-ring" mapped from offset 0 (the data areas come after it). NULL
 * if there is none.
 */
static struct uring_shm *own_ring_header(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	struct uring_shm *shm = NULL;
	char line[512];

	if (!f)
		return NULL;
	while (!shm && fgets(line, sizeof(line), f)) {
		unsigned long start, off;

		if (strstr(line, "/memfd:utmem-ring") &&
		    sscanf(line, "%lx-%*x %*s %lx", &start, &off) == 2 && off == 0)
			shm = (struct uring_shm *)start;
	}
	fclose(f);
	return shm;
}

/* A view fn for a read that must not get as far as calling it. */
static int no_view(void *ctx, const void *val, size_t len)
{
	(void)ctx;
	(void)val;
	(void)len;
	return 0;
}

static int cmd_pending(char **argv)
{
	utmem_client *c = e2e_dial(argv[0], 0), *s;
	/* c's ring, found while it is the only one */
	struct uring_shm *shm = own_ring_header();
	struct utmem_completion comp;
	char path[512], out[4];
	uint32_t p, sp;
	int n = 0;

	CHECK_EQ("a ring mapped", shm != NULL, 1);
	if (failures)
		return 1;
	/* SYNC_PUT: a submitted PUT is sent through the ring as a request */
	s = e2e_dial(argv[0], UTMEM_OPT_SYNC_PUT);
	CHECK_EQ("open", utmem_pool_open(c, "pend", UTMEM_POOL_CREATE, &p), 0);
	CHECK_EQ("open s", utmem_pool_open(s, "pend", 0, &sp), 0);
	CHECK_EQ("put", utmem_put(c, p, "w", 1, "x", 1), 0);
	CHECK_EQ("sync", utmem_sync(c), 0);
	printf("READY\n");
	fflush(stdout);
	snprintf(path, sizeof(path), "%s/stopped", argv[1]);
	if (e2e_wait_flag(path) < 0) /* utmemd is stopped (SIGSTOP) */
		return 1;
	CHECK_EQ("put posted", utmem_put(c, p, "k", 1, "v", 1), 0);
	CHECK_EQ("pending while utmemd is stopped",
		 utmem_put_pending(c, p, "k", 1), 1);
	/* What utmemd does when another pool of the tenant is destroyed
	 * (it cannot now: it is stopped, and so the PUT is not applied). */
	__atomic_add_fetch(&shm->pools_gen, 1, __ATOMIC_RELEASE);
	CHECK_EQ("still pending once pools_gen moved",
		 utmem_put_pending(c, p, "k", 1), 1);
	CHECK_EQ("any PUT pending", utmem_put_pending(c, p, NULL, 0), 1);
	CHECK_EQ("a local view does not wait",
		 utmem_get_view(c, p, "k", 1, UTMEM_GET_LOCAL, no_view, NULL),
		 -EAGAIN);
	/* A submitted PUT sent through the ring, not applied: a read of its
	 * key waits for it, so both forms of the question say so. */
	CHECK_EQ("submitted put", utmem_submit_put(s, sp, "s", 1, "t", 1, 9), 0);
	CHECK_EQ("submitted put pending", utmem_put_pending(s, sp, "s", 1), 1);
	CHECK_EQ("a PUT of any key pending", utmem_put_pending(s, sp, NULL, 0), 1);
	printf("CHECKED\n");
	fflush(stdout);
	snprintf(path, sizeof(path), "%s/resumed", argv[1]);
	if (e2e_wait_flag(path) < 0) /* utmemd runs again (SIGCONT) */
		return 1;
	for (int i = 0; i < 500 && n == 0; i++) {
		n = utmem_reap(s, &comp, 1);
		if (n == 0)
			usleep(10000);
	}
	CHECK_EQ("submitted put completed", n == 1 && comp.tag == 9 &&
		 comp.result == 0, 1);
	CHECK_EQ("nothing pending once served", utmem_put_pending(s, sp, NULL, 0), 0);
	utmem_close(s);
	CHECK_EQ("sync after resume", utmem_sync(c), 0);
	CHECK_EQ("applied now", utmem_put_pending(c, p, "k", 1), 0);
	CHECK_EQ("get (the pool reopened)",
		 utmem_get(c, p, "k", 1, out, sizeof(out), 0), 1);
	CHECK_EQ("value", out[0], 'v');
	utmem_close(c);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct e2e_cmd cmds[] = {
		{"ops", 1, cmd_ops},
		{"sizes", 1, cmd_sizes},
		{"batch", 2, cmd_batch},
		{"restart", 3, cmd_restart},
		{"hostile", 2, cmd_hostile},
		{"scribble", 2, cmd_scribble},
		{"tenant-scribble", 3, cmd_tenant_scribble},
		{"pin", 2, cmd_pin},
		{"slabrec", 1, cmd_slabrec},
		{"topup", 1, cmd_topup},
		{"pending", 2, cmd_pending},
	};

	return e2e_dispatch(cmds, sizeof(cmds) / sizeof(cmds[0]), argc, argv,
			    "e2e_ring ops|sizes|batch|restart|hostile|scribble|"
			    "tenant-scribble|pin|slabrec|topup|pending ARGS");
}

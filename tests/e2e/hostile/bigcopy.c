/*
 * bigcopy.c — the hostile-tenant suite's large-GET attack (t_bigcopy.sh):
 * a GET's value is copied into its reply under the key's stripe lock, and
 * every pool whose id falls in the same pool group shares those stripes,
 * another tenant's too. A copy that page-faults (into a fresh reply
 * segment: a value larger than a worker's segment cache, 16 MiB, gets one
 * each time; or out of value-region pages the client wrote and utmemd
 * never touched) held the lock for 30-400 ms; utmemd now faults both in
 * before it takes the lock (tenant_ops.c, op_get). Subcommand of
 * hostile.c.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hostile.h"
#include "utmem.h"

#define BIG_KEYS 3
/* A good GET this slow (its own time) counts as stalled: above the copy of
 * 64 MiB itself, which stays under the lock (4-19 ms on the development
 * VM, two cores shared with the clients), below a copy that faults its
 * pages in (200-400 ms). Times UTMEM_TEST_SLOWDOWN: under TSan, whose
 * memcpy checks every byte, the copy alone took over 50 ms. */
#define SLOW_US 50000u

static atomic_int big_stop;
static atomic_ullong big_gets;
static utmem_client *big_evil;
static uint32_t big_pool;
static size_t big_len;

/* GET the attacker's large values in turn, as fast as it can. */
static void *big_attacker(void *arg)
{
	unsigned char *out = malloc(big_len);

	(void)arg;
	if (!out)
		die("bigcopy: buffer");
	for (unsigned i = 0; !atomic_load(&big_stop); i++) {
		char k[4] = {'B', (char)('0' + i % BIG_KEYS), 0};
		long got = utmem_get(big_evil, big_pool, k, 2, out, big_len, 0);

		if (got != (long)big_len || out[big_len - 1] != (unsigned char)k[1])
			die("bigcopy: evil get");
		atomic_fetch_add(&big_gets, 1);
	}
	free(out);
	return NULL;
}

/*
 * bigcopy EVIL GOOD SECONDS same|other MIB: the attacker stores BIG_KEYS
 * values of MIB MiB in a pool in the good tenant's pool group, or (the
 * control) in another, and GETs them in turn; the good tenant GETs small
 * values of its pool meanwhile. Both on the socket. Prints the good
 * tenant's GETs, how many took SLOW_US or more of their own time (less the
 * machine's stalls, stall.c), the slowest, and the attacker's GETs.
 */
int cmd_bigcopy(char **argv)
{
	static uint64_t lat[4000000], own[4000000];
	utmem_client *good = connect_lib_flags(argv[1], UTMEM_OPT_NO_FAST_PATH);
	int same = strcmp(argv[3], "same") == 0;
	uint64_t end, n = 0, slow = 0, worst = 0;
	uint32_t gpool, gsid, pools[8];
	unsigned cursor = 0;
	pthread_t th;
	int fd;

	unsigned char *v;

	big_len = (size_t)atoi(argv[4]) << 20;
	big_evil = connect_lib_flags(argv[0], UTMEM_OPT_NO_FAST_PATH);
	if (utmem_pool_open(good, "g", UTMEM_POOL_CREATE, &gpool))
		die("bigcopy: good pool");
	for (int i = 0; i < 64; i++) {
		char k[8];

		snprintf(k, sizeof(k), "g%d", i);
		if (utmem_put(good, gpool, k, strlen(k), "good-value", 10))
			die("bigcopy: good put");
	}
	fd = dial(argv[1]);
	gsid = raw_pool(fd, "g");
	close(fd);
	/* A pool's group is its id modulo the groups (at most 4, a power of
	 * two: src/store/store.c): ids equal modulo 4 share stripes. */
	big_pool = 0;
	for (int i = 0; i < 8 && !big_pool; i++) {
		char nm[8];
		uint32_t sid;

		snprintf(nm, sizeof(nm), "e%d", i);
		if (utmem_pool_open(big_evil, nm, UTMEM_POOL_CREATE, &pools[i]))
			die("bigcopy: evil pool");
		fd = dial(argv[0]);
		sid = raw_pool(fd, nm);
		close(fd);
		if (!sid || !gsid)
			die("bigcopy: raw pool ids");
		if (((sid & 3) == (gsid & 3)) == same)
			big_pool = pools[i];
	}
	if (!big_pool)
		die("bigcopy: no pool in the wanted group");
	if (!big_len || !(v = malloc(big_len)))
		die("bigcopy: value");
	for (int i = 0; i < BIG_KEYS; i++) {
		char k[4] = {'B', (char)('0' + i), 0};

		memset(v, k[1], big_len);
		if (utmem_put(big_evil, big_pool, k, 2, v, big_len))
			die("bigcopy: evil put");
	}
	free(v);
	if (stall_watch_start() < 0)
		die("bigcopy: stall watcher");
	if (pthread_create(&th, NULL, big_attacker, NULL))
		die("bigcopy: thread");
	end = now_us() + (uint64_t)atoi(argv[2]) * 1000000u;
	while (now_us() < end && n < 4000000) {
		char k[8], b[16];
		uint64_t t0 = now_us();

		snprintf(k, sizeof(k), "g%llu", (unsigned long long)(n % 64));
		if (utmem_get(good, gpool, k, strlen(k), b, sizeof(b), 0) != 10)
			die("bigcopy: good get");
		own[n] = t0;
		lat[n] = now_us() - t0;
		n++;
	}
	atomic_store(&big_stop, 1);
	pthread_join(th, NULL);
	stall_watch_stop();
	for (uint64_t i = 0; i < n; i++) {
		own[i] = lat[i] - stall_within(own[i], own[i] + lat[i], &cursor);
		slow += own[i] >= (uint64_t)SLOW_US * test_slowdown();
		worst = own[i] > worst ? own[i] : worst;
	}
	for (int i = 0; i < BIG_KEYS; i++) { /* room for the next run */
		char k[4] = {'B', (char)('0' + i), 0};

		if (utmem_invalidate(big_evil, big_pool, k, 2))
			die("bigcopy: evil invalidate");
	}
	printf("gets %llu slow %llu own_max_us %llu evil_gets %llu\n",
	       (unsigned long long)n, (unsigned long long)slow,
	       (unsigned long long)worst, (unsigned long long)atomic_load(&big_gets));
	utmem_close(big_evil);
	utmem_close(good);
	return 0;
}

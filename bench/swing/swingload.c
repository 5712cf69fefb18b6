/*
 * swingload.c — one tenant of the swinging-demand experiment (issue 10,
 * bench/swing/README.md): an application whose data set swings sharply
 * between a low and a high size on a fixed schedule, served at a fixed
 * offered rate, in one of two homes for its data:
 *
 *   --mode mem    every item in the process's own memory (a large anonymous
 *                 mapping); the memory cgroup it runs in decides what stays
 *                 resident, what is swapped and whether it is OOM-killed.
 *                 This is the balloon baseline's tenant.
 *   --mode utmem  a small local cache of --local-mib (CLOCK eviction) and
 *                 everything colder in utmemd, one persistent pool per
 *                 segment of --seg-mib; an item lives in exactly one place
 *                 (evicting PUTs it, a miss pops it with an exclusive GET).
 *
 * Two threads. The loader makes the data set follow the schedule's demand:
 * when it rises it creates new items at --grow-mib-s (an ingest, the sharp
 * part of the swing); when it falls the server stops using the items
 * beyond it at once and the loader gives their memory back (madvise, or
 * pool flushes of whole segments). The server does --rate operations per
 * second over the items that exist: with probability --hot-p an item of the
 * first --hot-f of them, else any; a --write-p share modify the item. Every
 * item carries its number and a version, checked on every read, so a lost
 * or stale item is counted, never silently served.
 *
 * Each --interval it appends a line to --out: time since the experiment's
 * epoch, demand, items present, operations done, p50/p99/max service time
 * of an operation (what a swap-in or a round trip to utmemd costs it),
 * local and remote accesses, PUTs refused by utmemd, corrupt reads, major
 * page faults (swap-ins), RSS, and the p99 response time counted from each
 * operation's scheduled start (so stalls and queueing count; a backlog
 * older than 100 ms is dropped and counted as missed).
 *
 * The schedule is a square wave: demand is --high-mib while
 * ((t + --phase-s) mod --period-s) < --duty * --period-s, else --low-mib,
 * with t counted from --epoch (CLOCK_REALTIME seconds, shared by every
 * tenant and the balloon so they agree on the phase); before the epoch (the
 * warm-up) every tenant is low (schedule.h).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "hist.h"
#include "schedule.h"
#include "utmem.h"

#define MiB (1024ull * 1024ull)
#define NSEC 1000000000ull
#define MAX_BACKLOG_NS (100ull * 1000000ull)
#define LOAD_CHUNK 16u /* items created per loader step (one PUT batch) */

enum { ST_ABSENT = 0, ST_REMOTE = 1, ST_LOCAL = 2 };

struct opts {
	int utmem;
	const char *addr;
	size_t vsize;
	uint64_t seg_mib, low_mib, high_mib, local_mib;
	double period_s, duty, phase_s, epoch;
	double hot_p, hot_f, write_p;
	double rate, grow_mib_s, duration_s, interval_s;
	const char *out;
};

/* Item header: which item, and how often it was written. */
struct item_hdr {
	uint64_t id;
	uint64_t version;
};

static struct opts o = {
	.addr = NULL, .vsize = 16384, .seg_mib = 32, .low_mib = 256, .high_mib = 1024,
	.local_mib = 192, .period_s = 60, .duty = 1.0 / 3, .phase_s = 0, .hot_p = 0.9,
	.hot_f = 0.1, .write_p = 0.1, .rate = 20000, .grow_mib_s = 512, .duration_s = 60,
	.interval_s = 0.5,
};

static uint64_t nitems, seg_items, nlocal;
static _Atomic uint64_t populated; /* items [0, populated) exist */
static _Atomic uint64_t target;    /* items the schedule wants */
static atomic_bool stop;
static pthread_mutex_t resize = PTHREAD_MUTEX_INITIALIZER;

/* mem mode */
static unsigned char *region;
/* utmem mode */
static _Atomic uint8_t *state;  /* per item */
static uint64_t *version;       /* per item: what a read must find */
static int32_t *item_slot;      /* per item: local slot or -1 */
static int64_t *slot_item;      /* per slot: item or -1 */
static uint8_t *slot_ref;
static unsigned char *slots;
static uint64_t clock_hand;
static utmem_client *srv_c, *load_c;
static uint32_t *srv_pool, *load_pool; /* per segment, 0 = not opened */

/* counters (server thread, except the loader's) */
static uint64_t n_local, n_remote, n_put_refused, n_corrupt, n_missed, n_recreated;
static _Atomic uint64_t n_load_refused, n_loaded;

static uint64_t now_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * NSEC + (uint64_t)ts.tv_nsec;
}

/* Seconds since the experiment's epoch (wall clock, shared). */
static double exp_time(void)
{
	return (double)now_ns(CLOCK_REALTIME) / 1e9 - o.epoch;
}

static uint64_t demand_items(double t)
{
	uint64_t mib = swing_high(t, o.phase_s, o.period_s, o.duty) ? o.high_mib : o.low_mib;
	uint64_t n = mib * MiB / o.vsize;

	n -= n % seg_items;
	return n > nitems ? nitems : n;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void fill_item(unsigned char *p, uint64_t id, uint64_t ver)
{
	struct item_hdr h = { id, ver };

	memcpy(p, &h, sizeof(h));
	memset(p + sizeof(h), (int)(id + ver), o.vsize - sizeof(h));
}

/* Is p item id at version ver? (header and one byte of the body) */
static bool check_item(const unsigned char *p, uint64_t id, uint64_t ver)
{
	struct item_hdr h;

	memcpy(&h, p, sizeof(h));
	return h.id == id && h.version == ver &&
	       p[o.vsize - 1] == (unsigned char)(id + ver);
}

/* ---- utmem mode: pools, the local cache ---- */

static uint32_t pool_of(utmem_client *c, uint32_t *tab, uint64_t seg)
{
	char name[32];

	if (!tab[seg]) {
		snprintf(name, sizeof(name), "seg%" PRIu64, seg);
		if (utmem_pool_open(c, name, UTMEM_POOL_CREATE, &tab[seg]) < 0) {
			fprintf(stderr, "swingload: cannot open pool %s\n", name);
			exit(1);
		}
	}
	return tab[seg];
}

/* A free local slot, evicting the CLOCK victim to utmem if needed. */
static int64_t take_slot(void)
{
	for (;;) {
		uint64_t s = clock_hand;
		int64_t v;
		int err;

		clock_hand = (clock_hand + 1) % nlocal;
		v = slot_item[s];
		if (v < 0)
			return (int64_t)s;
		if (slot_ref[s]) {
			slot_ref[s] = 0;
			continue;
		}
		err = utmem_put(srv_c, pool_of(srv_c, srv_pool, (uint64_t)v / seg_items), &v,
				sizeof(v), slots + s * o.vsize, o.vsize);
		if (err == 0) {
			atomic_store(&state[v], ST_REMOTE);
		} else {
			/* refused (capacity/quota): the item is lost */
			n_put_refused++;
			atomic_store(&state[v], ST_ABSENT);
		}
		item_slot[v] = -1;
		slot_item[s] = -1;
		return (int64_t)s;
	}
}

/* Bring item i into the local cache; returns its bytes. */
static unsigned char *local_item(uint64_t i)
{
	uint8_t st = atomic_load(&state[i]);
	int64_t s;

	if (st == ST_LOCAL) {
		n_local++;
		s = item_slot[i];
		slot_ref[s] = 1;
		return slots + (uint64_t)s * o.vsize;
	}
	s = take_slot();
	slot_item[s] = (int64_t)i;
	item_slot[i] = (int32_t)s;
	slot_ref[s] = 1;
	if (st == ST_REMOTE) {
		ssize_t n = utmem_get(srv_c, pool_of(srv_c, srv_pool, i / seg_items), &i,
				      sizeof(i), slots + (uint64_t)s * o.vsize, o.vsize,
				      UTMEM_GET_EXCLUSIVE);
		n_remote++;
		if (n != (ssize_t)o.vsize)
			st = ST_ABSENT; /* lost in utmemd: recreate */
	}
	if (st == ST_ABSENT) {
		n_recreated++;
		fill_item(slots + (uint64_t)s * o.vsize, i, version[i]);
	}
	atomic_store(&state[i], ST_LOCAL);
	return slots + (uint64_t)s * o.vsize;
}

/* Server side of dropping items [from, to): free their local slots. */
static void drop_local(uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i < to; i++) {
		if (item_slot[i] >= 0) {
			slot_item[item_slot[i]] = -1;
			item_slot[i] = -1;
		}
		atomic_store(&state[i], ST_ABSENT);
		version[i] = 0;
	}
}

/* Loader side: give the memory of items [from, to) back (whole segments). */
static void drop_memory(uint64_t from, uint64_t to)
{
	if (!o.utmem) {
		madvise(region + from * o.vsize, (to - from) * o.vsize, MADV_DONTNEED);
		return;
	}
	for (uint64_t seg = from / seg_items; seg < (to + seg_items - 1) / seg_items; seg++)
		utmem_pool_flush(load_c, pool_of(load_c, load_pool, seg));
}

/* Items dropped by the server whose memory the loader has yet to free. */
static uint64_t drop_from, drop_to; /* under resize */

/* ---- the loader ---- */

/*
 * Create items up to the target at --grow-mib-s: in place (mem) or PUT to
 * utmemd in batches of LOAD_CHUNK (utmem), publishing each chunk with
 * `populated`. Holds `resize` per chunk so the server's drops never cross a
 * chunk being created.
 */
static void *loader(void *arg)
{
	unsigned char *buf = malloc(LOAD_CHUNK * o.vsize);
	uint64_t t0 = now_ns(CLOCK_MONOTONIC), bytes = 0, keys[LOAD_CHUNK];
	utmem_batch *b = NULL;

	(void)arg;
	if (!buf || (o.utmem && utmem_batch_new(load_c, &b) < 0)) {
		fprintf(stderr, "swingload: loader setup failed\n");
		exit(1);
	}
	while (!atomic_load(&stop)) {
		uint64_t p, t, n, due, df, dt;

		pthread_mutex_lock(&resize);
		df = drop_from, dt = drop_to;
		drop_from = drop_to = 0;
		if (dt > df) { /* free what was dropped before creating anything */
			drop_memory(df, dt);
			pthread_mutex_unlock(&resize);
			continue;
		}
		p = atomic_load(&populated);
		t = atomic_load(&target);
		n = t > p ? (t - p < LOAD_CHUNK ? t - p : LOAD_CHUNK) : 0;
		if (n && !o.utmem) {
			for (uint64_t k = 0; k < n; k++)
				fill_item(region + (p + k) * o.vsize, p + k, 0);
		} else if (n) {
			utmem_batch_reset(b);
			for (uint64_t k = 0; k < n; k++) {
				keys[k] = p + k;
				version[p + k] = 0;
				fill_item(buf + k * o.vsize, keys[k], 0);
				utmem_batch_put(b, pool_of(load_c, load_pool, keys[k] / seg_items),
						&keys[k], sizeof(keys[k]), buf + k * o.vsize, o.vsize);
			}
			utmem_batch_exec(b);
			for (uint64_t k = 0; k < n; k++) {
				bool ok = utmem_batch_result(b, k) >= 0;

				atomic_store(&state[p + k], ok ? ST_REMOTE : ST_ABSENT);
				if (!ok)
					atomic_fetch_add(&n_load_refused, 1);
			}
		}
		if (n) {
			atomic_store(&populated, p + n);
			atomic_fetch_add(&n_loaded, n);
		}
		pthread_mutex_unlock(&resize);
		if (!n) {
			t0 = now_ns(CLOCK_MONOTONIC);
			bytes = 0;
			usleep(1000);
			continue;
		}
		bytes += n * o.vsize;
		due = t0 + (uint64_t)((double)bytes / (o.grow_mib_s * MiB) * 1e9);
		while (!atomic_load(&stop) && now_ns(CLOCK_MONOTONIC) < due)
			usleep(200);
	}
	utmem_batch_free(b);
	free(buf);
	return NULL;
}

/* ---- the server ---- */

/* Follow the schedule: raise the loader's target, or drop items now. */
static void follow_schedule(double t)
{
	uint64_t want = demand_items(t), p;

	if (want >= atomic_load(&target)) {
		atomic_store(&target, want);
		return;
	}
	pthread_mutex_lock(&resize);
	atomic_store(&target, want);
	p = atomic_load(&populated);
	if (want < p) {
		/* Stop using them now; the loader frees their memory (madvise or
		 * pool flushes), so the server does not stall on it. */
		if (o.utmem)
			drop_local(want, p);
		else
			memset(version + want, 0, (p - want) * sizeof(*version));
		drop_from = drop_to > drop_from ? (want < drop_from ? want : drop_from) : want;
		drop_to = p > drop_to ? p : drop_to;
		atomic_store(&populated, want);
	}
	pthread_mutex_unlock(&resize);
}

/* One operation on item i: read and check it, maybe write it. */
static void operate(uint64_t i, bool write)
{
	unsigned char *p;

	if (o.utmem) {
		p = local_item(i);
	} else {
		p = region + i * o.vsize;
		n_local++;
	}
	if (!check_item(p, i, version[i]))
		n_corrupt++;
	if (write) {
		version[i]++;
		fill_item(p, i, version[i]);
	}
}

static uint64_t majflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)ru.ru_majflt;
}

static uint64_t rss_bytes(void)
{
	unsigned long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%lu %lu", &size, &res) != 2)
			res = 0;
		fclose(f);
	}
	return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void on_term(int sig)
{
	(void)sig;
	atomic_store(&stop, true);
}

static void serve(FILE *out)
{
	uint64_t seed = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull | 1;
	uint64_t step = (uint64_t)(1e9 / o.rate), next = now_ns(CLOCK_MONOTONIC);
	uint64_t end = next + (uint64_t)(o.duration_s * 1e9);
	uint64_t ival = (uint64_t)(o.interval_s * 1e9), mark = next + ival;
	uint64_t ops = 0, last_flt = majflt(), last_sched = 0;
	uint64_t l0 = 0, r0 = 0, pr0 = 0, c0 = 0, m0 = 0, rc0 = 0, lr0 = 0;
	struct ub_hist *h = calloc(1, sizeof(*h)), *rt = calloc(1, sizeof(*rt));

	if (!h || !rt)
		exit(1);
	ub_hist_reset(h);
	ub_hist_reset(rt);
	fprintf(out, "# t demand_mib present_mib ops p50_us p99_us max_us local remote "
		     "put_refused load_refused corrupt missed recreated majflt rss_mib "
		     "resp_p99_us\n");
	while (!atomic_load(&stop)) {
		uint64_t now = now_ns(CLOCK_MONOTONIC), p;

		if (now >= end)
			break;
		if (now >= mark || now - last_sched >= 10000000ull) {
			last_sched = now;
			follow_schedule(exp_time());
		}
		if (now >= mark) {
			uint64_t f = majflt();

			fprintf(out, "%.2f %.0f %.0f %" PRIu64 " %.1f %.1f %.1f %" PRIu64 " %" PRIu64
				" %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
				" %.1f %.1f\n",
				exp_time(), (double)atomic_load(&target) * o.vsize / MiB,
				(double)atomic_load(&populated) * o.vsize / MiB, ops,
				ub_hist_quantile(h, 0.5) / 1e3, ub_hist_quantile(h, 0.99) / 1e3,
				(double)h->max / 1e3, n_local - l0, n_remote - r0,
				n_put_refused - pr0, atomic_load(&n_load_refused) - lr0,
				n_corrupt - c0, n_missed - m0, n_recreated - rc0, f - last_flt,
				(double)rss_bytes() / MiB, ub_hist_quantile(rt, 0.99) / 1e3);
			fflush(out);
			ub_hist_reset(h);
			ub_hist_reset(rt);
			ops = 0;
			l0 = n_local, r0 = n_remote, pr0 = n_put_refused, c0 = n_corrupt;
			m0 = n_missed, rc0 = n_recreated, lr0 = atomic_load(&n_load_refused);
			last_flt = f;
			mark += ival;
		}
		if (now < next) { /* ahead of the offered rate */
			if (next - now > 50000) {
				struct timespec ts = { (time_t)(next / NSEC), (long)(next % NSEC) };

				clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
			}
			continue;
		}
		if (now - next > MAX_BACKLOG_NS) { /* give up on a stalled backlog */
			uint64_t skip = (now - next - MAX_BACKLOG_NS) / step;

			n_missed += skip;
			next += skip * step;
		}
		p = atomic_load(&populated);
		now = now_ns(CLOCK_MONOTONIC);
		if (p) {
			uint64_t r = rnd(&seed), hot = (uint64_t)((double)p * o.hot_f);
			bool is_hot = (double)(r & 0xffff) / 65536.0 < o.hot_p && hot;
			uint64_t i = (r >> 20) % (is_hot ? hot : p);
			bool write = (double)((r >> 16) & 0xf) / 16.0 < o.write_p;

			operate(i, write);
		}
		{
			uint64_t done = now_ns(CLOCK_MONOTONIC);

			ub_hist_record(h, done - now);   /* service time */
			ub_hist_record(rt, done - next); /* from the scheduled start */
		}
		ops++;
		next += step;
	}
	free(h);
	free(rt);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: swingload --mode mem|utmem [--addr ring:SOCK] --epoch SECONDS --out FILE\n"
		"  [--value B] [--seg-mib N] [--low-mib N] [--high-mib N] [--local-mib N]\n"
		"  [--period-s S] [--duty F] [--phase-s S] [--hot-p P] [--hot-f F]\n"
		"  [--write-p P] [--rate OPS] [--grow-mib-s R] [--duration-s S] [--interval-s S]\n");
	exit(2);
}

static void parse(int argc, char **argv)
{
	static const struct option opts[] = {
		{"mode", 1, 0, 'm'}, {"addr", 1, 0, 'a'}, {"value", 1, 0, 'v'},
		{"seg-mib", 1, 0, 'S'}, {"low-mib", 1, 0, 'l'}, {"high-mib", 1, 0, 'h'},
		{"local-mib", 1, 0, 'L'}, {"period-s", 1, 0, 'P'}, {"duty", 1, 0, 'd'},
		{"phase-s", 1, 0, 'p'}, {"epoch", 1, 0, 'e'}, {"hot-p", 1, 0, 'H'},
		{"hot-f", 1, 0, 'F'}, {"write-p", 1, 0, 'w'}, {"rate", 1, 0, 'r'},
		{"grow-mib-s", 1, 0, 'g'}, {"duration-s", 1, 0, 'D'}, {"interval-s", 1, 0, 'i'},
		{"out", 1, 0, 'o'}, {0, 0, 0, 0},
	};
	int c, mode = -1;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm': mode = strcmp(optarg, "utmem") == 0 ? 1 : strcmp(optarg, "mem") == 0 ? 0 : -1; break;
		case 'a': o.addr = optarg; break;
		case 'v': o.vsize = strtoull(optarg, NULL, 10); break;
		case 'S': o.seg_mib = strtoull(optarg, NULL, 10); break;
		case 'l': o.low_mib = strtoull(optarg, NULL, 10); break;
		case 'h': o.high_mib = strtoull(optarg, NULL, 10); break;
		case 'L': o.local_mib = strtoull(optarg, NULL, 10); break;
		case 'P': o.period_s = atof(optarg); break;
		case 'd': o.duty = atof(optarg); break;
		case 'p': o.phase_s = atof(optarg); break;
		case 'e': o.epoch = atof(optarg); break;
		case 'H': o.hot_p = atof(optarg); break;
		case 'F': o.hot_f = atof(optarg); break;
		case 'w': o.write_p = atof(optarg); break;
		case 'r': o.rate = atof(optarg); break;
		case 'g': o.grow_mib_s = atof(optarg); break;
		case 'D': o.duration_s = atof(optarg); break;
		case 'i': o.interval_s = atof(optarg); break;
		case 'o': o.out = optarg; break;
		default: usage();
		}
	}
	if (mode < 0 || !o.out || o.epoch <= 0 || o.vsize < sizeof(struct item_hdr) + 1 ||
	    o.rate <= 0 || o.period_s <= 0 || o.high_mib < o.low_mib || !o.seg_mib ||
	    (mode == 1 && !o.addr))
		usage();
	o.utmem = mode;
}

int main(int argc, char **argv)
{
	pthread_t th;
	FILE *out;

	parse(argc, argv);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	nitems = o.high_mib * MiB / o.vsize;
	seg_items = o.seg_mib * MiB / o.vsize;
	if (!seg_items)
		seg_items = 1;
	version = calloc(nitems, sizeof(*version));
	out = fopen(o.out, "w");
	if (!version || !out) {
		fprintf(stderr, "swingload: setup failed\n");
		return 1;
	}
	if (o.utmem) {
		uint64_t nseg = (nitems + seg_items - 1) / seg_items;
		int err = utmem_connect(o.addr, NULL, &srv_c);

		if (!err)
			err = utmem_connect(o.addr, NULL, &load_c);
		if (err) {
			fprintf(stderr, "swingload: connect %s: %s\n", o.addr, utmem_strerror(err));
			return 1;
		}
		nlocal = o.local_mib * MiB / o.vsize;
		state = calloc(nitems, sizeof(*state));
		item_slot = malloc(nitems * sizeof(*item_slot));
		slot_item = malloc(nlocal * sizeof(*slot_item));
		slot_ref = calloc(nlocal, 1);
		slots = malloc(nlocal * o.vsize);
		srv_pool = calloc(nseg, sizeof(*srv_pool));
		load_pool = calloc(nseg, sizeof(*load_pool));
		if (!state || !item_slot || !slot_item || !slot_ref || !slots || !srv_pool ||
		    !load_pool || !nlocal) {
			fprintf(stderr, "swingload: out of memory\n");
			return 1;
		}
		memset(item_slot, 0xff, nitems * sizeof(*item_slot));
		memset(slot_item, 0xff, nlocal * sizeof(*slot_item));
		memset(slots, 0, nlocal * o.vsize); /* the local cache is resident */
		/* a previous run's pools, if any, start empty */
		for (uint64_t seg = 0; seg < nseg; seg++)
			utmem_pool_flush(srv_c, pool_of(srv_c, srv_pool, seg));
	} else {
		region = mmap(NULL, nitems * o.vsize, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (region == MAP_FAILED) {
			fprintf(stderr, "swingload: mmap: %s\n", strerror(errno));
			return 1;
		}
	}
	atomic_store(&target, demand_items(exp_time()));
	if (pthread_create(&th, NULL, loader, NULL) != 0)
		return 1;
	serve(out);
	atomic_store(&stop, true);
	pthread_join(th, NULL);
	fprintf(out, "# end: loaded %" PRIu64 " items, load refused %" PRIu64 ", put refused %"
		     PRIu64 ", corrupt %" PRIu64 ", missed %" PRIu64 ", recreated %" PRIu64 "\n",
		atomic_load(&n_loaded), atomic_load(&n_load_refused), n_put_refused, n_corrupt,
		n_missed, n_recreated);
	fclose(out);
	utmem_close(srv_c);
	utmem_close(load_c);
	return n_corrupt ? 3 : 0;
}

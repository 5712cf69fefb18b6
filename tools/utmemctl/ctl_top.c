/*
 * ctl_top.c — `utmemctl top`: a live per-tenant view. Every interval it
 * asks for STATS (and INFO for memory and connections) and prints each
 * tenant's rates since the previous sample — operations, hit ratio,
 * evictions and refused PUTs per second — with what it holds against its
 * limits, busiest first. On a terminal the screen is redrawn; otherwise (or
 * with --json, one object per line) each sample is appended, so the output
 * can be logged or piped.
 */
#include "ctl.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TOP_MAX_TENANTS 4096u

struct sample {
	struct uadm_capacity cap;
	struct uadm_tenant *t;
	uint32_t n;
	char rss[32], conns[32];
	double at; /* seconds, CLOCK_MONOTONIC */
};

static volatile sig_atomic_t top_stop;

static void on_int(int sig)
{
	(void)sig;
	top_stop = 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Take one sample. Returns 0 or -1 (message printed). */
static int take(struct ctl *c, struct sample *s)
{
	struct uadm_rbuf r;
	uint32_t n;

	if (ctl_request(c, UADM_OP_STATS, NULL, 0) != 0)
		return -1;
	s->at = now_s();
	uadm_rbuf_init(&r, c->reply, c->reply_len);
	uadm_r_capacity(&r, &s->cap);
	n = uadm_r_u32(&r);
	if (n > TOP_MAX_TENANTS)
		n = TOP_MAX_TENANTS;
	s->t = calloc(n ? n : 1, sizeof(*s->t));
	if (!s->t)
		return -1;
	for (s->n = 0; s->n < n && !r.err; s->n++)
		uadm_r_tenant(&r, &s->t[s->n]);
	if (r.err) {
		fprintf(stderr, "utmemctl: malformed reply from utmemd\n");
		return -1;
	}
	snprintf(s->rss, sizeof(s->rss), "?");
	snprintf(s->conns, sizeof(s->conns), "?");
	if (ctl_request(c, UADM_OP_INFO, NULL, 1) == 0) {
		uadm_rbuf_init(&r, c->reply, c->reply_len);
		n = uadm_r_u32(&r);
		for (uint32_t i = 0; i < n && !r.err; i++) {
			char key[UADM_KEY_MAX + 1], val[UADM_VALUE_MAX + 1];
			uadm_r_str(&r, key, UADM_KEY_MAX);
			uadm_r_str(&r, val, UADM_VALUE_MAX);
			if (strcmp(key, "rss_bytes") == 0)
				human(strtoull(val, NULL, 10), s->rss);
			else if (strcmp(key, "connections") == 0)
				snprintf(s->conns, sizeof(s->conns), "%llu",
					 strtoull(val, NULL, 10));
		}
	}
	return 0;
}

struct row {
	const struct uadm_tenant *t;
	double ops, gets, hitpct, evict, refused;
};

static int by_ops(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->ops != y->ops)
		return x->ops < y->ops ? 1 : -1;
	return strcmp(x->t->name, y->t->name);
}

/* Rates of cur against prev (a tenant new since prev starts from zero). */
static struct row *rows(const struct sample *prev, const struct sample *cur)
{
	struct row *rw = calloc(cur->n ? cur->n : 1, sizeof(*rw));
	double dt = cur->at - prev->at;

	if (!rw)
		return NULL;
	if (dt <= 0)
		dt = 1;
	for (uint32_t i = 0; i < cur->n; i++) {
		const struct uadm_counters *a = &cur->t[i].st, *p = NULL;
		static const struct uadm_counters zero;
		for (uint32_t k = 0; k < prev->n; k++)
			if (prev->t[k].id == cur->t[i].id)
				p = &prev->t[k].st;
		if (!p)
			p = &zero;
		rw[i].t = &cur->t[i];
		rw[i].ops = (double)((a->puts + a->gets + a->invalidates) -
				     (p->puts + p->gets + p->invalidates)) / dt;
		rw[i].gets = (double)(a->gets - p->gets) / dt;
		rw[i].hitpct = a->gets > p->gets
				       ? 100.0 * (double)(a->hits - p->hits) /
						 (double)(a->gets - p->gets)
				       : 0.0;
		rw[i].evict = (double)(a->evictions - p->evictions) / dt;
		rw[i].refused = (double)(a->refused_puts - p->refused_puts) / dt;
	}
	qsort(rw, cur->n, sizeof(*rw), by_ops);
	return rw;
}

static void print_sample(struct ctl *c, const struct sample *s,
			 const struct row *rw, double interval, int tty)
{
	char a[32], b[32], d[32];
	time_t now = time(NULL);
	struct tm tm;
	char stamp[32];

	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
	if (c->json) {
		printf("{\"time\":%lld,\"capacity\":%llu,\"charged\":%llu,\"tenants\":[",
		       (long long)now, (unsigned long long)s->cap.capacity,
		       (unsigned long long)s->cap.charged);
		for (uint32_t i = 0; i < s->n; i++)
			printf("%s{\"name\":\"%s\",\"ops_per_s\":%.1f,\"gets_per_s\":%.1f,"
			       "\"hit_pct\":%.1f,\"evictions_per_s\":%.1f,"
			       "\"refused_per_s\":%.1f,\"entries\":%llu,\"charged\":%llu,"
			       "\"min\":%llu,\"max\":%llu}",
			       i ? "," : "", rw[i].t->name, rw[i].ops, rw[i].gets,
			       rw[i].hitpct, rw[i].evict, rw[i].refused,
			       (unsigned long long)rw[i].t->st.entries,
			       (unsigned long long)rw[i].t->st.bytes_charged,
			       (unsigned long long)rw[i].t->min,
			       (unsigned long long)rw[i].t->max);
		printf("]}\n");
		fflush(stdout);
		return;
	}
	if (tty)
		fputs("\033[H\033[2J", stdout);
	printf("utmemd %s  capacity %s  charged %s  reserved %s  rss %s  %u tenant%s  %s connections  (every %.1fs)\n\n",
	       stamp, human(s->cap.capacity, a), human(s->cap.charged, b),
	       human(s->cap.reserved, d), s->rss, s->n, UADM_PLURAL(s->n),
	       s->conns, interval);
	printf("%-16s %10s %10s %6s %9s %9s %10s %9s %9s %9s\n", "TENANT", "OPS/S",
	       "GETS/S", "HIT%", "EVICT/S", "REFUSED/S", "ENTRIES", "CHARGED", "MIN",
	       "MAX");
	for (uint32_t i = 0; i < s->n; i++)
		printf("%-16s %10.1f %10.1f %6.1f %9.1f %9.1f %10llu %9s %9s %9s\n",
		       rw[i].t->name, rw[i].ops, rw[i].gets, rw[i].hitpct,
		       rw[i].evict, rw[i].refused,
		       (unsigned long long)rw[i].t->st.entries,
		       human(rw[i].t->st.bytes_charged, a), human(rw[i].t->min, b),
		       human(rw[i].t->max, d));
	if (!tty)
		putchar('\n');
	fflush(stdout);
}

int ctl_top(struct ctl *c, double interval, long count)
{
	struct sample prev = {0}, cur = {0};
	int tty = isatty(STDOUT_FILENO) && !c->json;
	struct sigaction sa = {.sa_handler = on_int};
	int rc = 0;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (take(c, &prev) < 0)
		return 1;
	for (long i = 0; !top_stop && (count <= 0 || i < count); i++) {
		struct timespec ts = {(time_t)interval,
				      (long)((interval - (double)(time_t)interval) * 1e9)};
		struct row *rw;
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !top_stop)
			;
		if (top_stop)
			break;
		if (take(c, &cur) < 0) {
			rc = 1;
			break;
		}
		rw = rows(&prev, &cur);
		if (rw)
			print_sample(c, &cur, rw, interval, tty);
		free(rw);
		free(prev.t);
		prev = cur;
		cur.t = NULL;
	}
	free(prev.t);
	free(cur.t);
	return rc;
}

/*
 * metrics.c — the Prometheus endpoint: `metrics = PORT` (127.0.0.1) or
 * `HOST:PORT` serves GET /metrics in the text exposition format (version
 * 0.0.4): server gauges, per-tenant and per-pool counters and gauges from
 * the store, each tenant's open connections, and per tenant and operation
 * a histogram of the time utmemd spends serving a request. Off by default.
 *
 * It runs in a thread of its own with its own epoll, so a scrape never
 * delays the main loop or a worker, and it is built for a hostile peer:
 * non-blocking sockets, at most MX_CONNS connections (more are closed at
 * once), at most MX_REQ bytes of request (else 431), a deadline of
 * MX_DEADLINE_MS for the whole exchange (else closed), one request per
 * connection, nothing but GET /metrics (404 elsewhere, 405 for other
 * methods, 400 for anything unparsable). It reads the store (thread-safe)
 * and the tenant table under d->lock; never d->cfg, which the main thread
 * replaces.
 *
 * The latency histograms are written by workers, each into its own slot of
 * a tenant's array (single writer: relaxed load and store, no lock prefix
 * on the request path), and summed here. Timing costs two clock reads per
 * request and only happens while the endpoint is configured.
 */
#include "daemon/daemon.h"
#include "daemon/controller.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define MX_CONNS 8
/* Listener, epoll set, stop eventfd and the connections: limits.c keeps
 * them out of the tenants' descriptor shares. */
_Static_assert(MX_CONNS + 3 <= UD_METRICS_FDS, "UD_METRICS_FDS too small");
#define MX_REQ 4096
#define MX_DEADLINE_MS 3000
#define MX_BODY_MAX (64u << 20)

/* Upper bounds of the latency buckets, in nanoseconds (+Inf is implied). */
static const uint64_t bucket_ns[UD_HIST_BUCKETS] = {
	2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 10000000,
};
static const char *const bucket_le[UD_HIST_BUCKETS] = {
	"2.5e-06", "5e-06", "1e-05", "2.5e-05", "5e-05", "0.0001", "0.00025",
	"0.0005", "0.001", "0.0025", "0.01",
};
static const char *const op_names[UD_HIST_OPS] = {"put", "get", "invalidate", "other"};

struct mconn {
	int fd;
	uint64_t deadline_ns;
	char req[MX_REQ];
	size_t len;
	struct uadm_wbuf out;
	size_t sent;
	int draining; /* answered: discard input until EOF (no RST eats the answer) */
};

struct ud_metrics {
	struct ud_daemon *d;
	int lfd, efd, epfd;
	pthread_t thread;
	int running;
	struct mconn conns[MX_CONNS];
};

/* ---- recording (workers) ---- */

static unsigned op_class(unsigned opcode)
{
	switch (opcode) {
	case UWIRE_OP_PUT: return 0;
	case UWIRE_OP_GET: return 1;
	case UWIRE_OP_INVALIDATE: return 2;
	default: return 3;
	}
}

/* Single writer per slot: a relaxed load and store, no locked instruction. */
static inline void bump(atomic_uint_least64_t *x, uint64_t by)
{
	atomic_store_explicit(x, atomic_load_explicit(x, memory_order_relaxed) + by,
			      memory_order_relaxed);
}

void ud_metrics_observe(struct ud_tenant *t, unsigned worker, unsigned opcode,
			uint64_t ns)
{
	struct ud_hist *h;
	unsigned op = op_class(opcode), b;

	if (!t || !t->hist || worker >= t->nhist)
		return;
	h = &t->hist[worker];
	for (b = 0; b < UD_HIST_BUCKETS && ns > bucket_ns[b]; b++)
		;
	bump(&h->bucket[op][b], 1); /* b == UD_HIST_BUCKETS: only +Inf */
	bump(&h->sum_ns[op], ns);
	bump(&h->count[op], 1);
}

int ud_tenant_hist_alloc(struct ud_daemon *d, struct ud_tenant *t)
{
	/* Slot i for loop i (ud_loop_vm_index: the last is the tenant's
	 * own VM thread's). */
	size_t n = (size_t)ud_loop_vm_index(d) + 1;

	/* Each slot on cache lines of its own: workers never share one. */
	t->hist = aligned_alloc(_Alignof(struct ud_hist), n * sizeof(*t->hist));
	if (!t->hist)
		return -ENOMEM;
	memset(t->hist, 0, n * sizeof(*t->hist));
	t->nhist = (unsigned)n;
	return 0;
}

/* ---- the exposition ---- */

__attribute__((format(printf, 2, 3)))
static void out(struct uadm_wbuf *w, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		uadm_w_raw(w, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* A label value as the text format wants it: \\ \" \n escaped. */
static const char *lv(const char *s, char buf[160])
{
	size_t o = 0;

	for (; *s && o + 3 < 160; s++) {
		if (*s == '\\' || *s == '"') {
			buf[o++] = '\\';
			buf[o++] = *s;
		} else if (*s == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else {
			buf[o++] = *s;
		}
	}
	buf[o] = '\0';
	return buf;
}

static void head(struct uadm_wbuf *w, const char *name, const char *type,
		 const char *help)
{
	out(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The counters every tenant and pool has, as one family per counter. */
struct family {
	const char *suffix, *type, *help;
	size_t off; /* in struct ust_stats */
};

static const struct family stat_families[] = {
	{"entries", "gauge", "Entries stored.", offsetof(struct ust_stats, entries)},
	{"stored_bytes", "gauge", "Key and value bytes stored, as clients gave them.",
	 offsetof(struct ust_stats, bytes_stored)},
	{"charged_bytes", "gauge", "Bytes charged: allocations and metadata.",
	 offsetof(struct ust_stats, bytes_charged)},
	{"puts_total", "counter", "PUT requests.", offsetof(struct ust_stats, puts)},
	{"gets_total", "counter", "GET requests.", offsetof(struct ust_stats, gets)},
	{"hits_total", "counter", "GETs that found their key.", offsetof(struct ust_stats, hits)},
	{"misses_total", "counter", "GETs that did not.", offsetof(struct ust_stats, misses)},
	{"invalidates_total", "counter", "INVALIDATE requests.",
	 offsetof(struct ust_stats, invalidates)},
	{"evictions_total", "counter", "Entries evicted to make room.",
	 offsetof(struct ust_stats, evictions)},
	{"refused_puts_total", "counter", "PUTs refused (quota, capacity, size).",
	 offsetof(struct ust_stats, refused_puts)},
};

static uint64_t stat_of(const struct ust_stats *s, size_t off)
{
	return *(const uint64_t *)((const char *)s + off);
}

static const char *tenant_name(const struct ust_tenant_info *ti, int n, uint32_t id)
{
	for (int i = 0; i < n; i++)
		if (ti[i].id == id)
			return ti[i].name;
	return "";
}

static void server_metrics(struct ud_daemon *d, struct uadm_wbuf *w)
{
	struct ust_store_info si;

	ust_store_info(d->st, &si);
	head(w, "utmem_info", "gauge", "Version of utmemd (always 1).");
	out(w, "utmem_info{version=\"%s\"} 1\n", UD_VERSION);
	head(w, "utmem_uptime_seconds", "gauge", "Seconds since utmemd started.");
	out(w, "utmem_uptime_seconds %llu\n",
	    (unsigned long long)((umono_ns() - d->started_ns) / 1000000000ull));
	head(w, "utmem_capacity_bytes", "gauge", "Host memory the store may charge in all.");
	out(w, "utmem_capacity_bytes %llu\n", (unsigned long long)si.capacity);
	head(w, "utmem_charged_bytes", "gauge", "Bytes charged to all tenants.");
	out(w, "utmem_charged_bytes %llu\n", (unsigned long long)si.charged);
	head(w, "utmem_pinned_bytes", "gauge",
	     "Freed records that hazard words pin, charged to their tenants.");
	out(w, "utmem_pinned_bytes %llu\n", (unsigned long long)si.pinned);
	head(w, "utmem_index_held_bytes", "gauge",
	     "What value-region indexes cost beyond their entries' share, charged to their tenants.");
	out(w, "utmem_index_held_bytes %llu\n", (unsigned long long)si.index_held);
	head(w, "utmem_region_slack_bytes", "gauge",
	     "Free slots among live records in value-region slabs under a page: resident, not charged.");
	out(w, "utmem_region_slack_bytes %llu\n", (unsigned long long)si.region_slack);
	head(w, "utmem_reserved_bytes", "gauge", "Sum of the tenants' min.");
	out(w, "utmem_reserved_bytes %llu\n", (unsigned long long)si.reserved);
	head(w, "utmem_resident_bytes", "gauge", "utmemd's resident set (RSS).");
	out(w, "utmem_resident_bytes %llu\n", (unsigned long long)ud_rss_bytes());
	head(w, "utmem_region_resident_bytes", "gauge",
	     "Pages of the tenants' value regions in memory, mapped by utmemd or not.");
	out(w, "utmem_region_resident_bytes %llu\n",
	    (unsigned long long)ud_region_resident_bytes(d));
	head(w, "utmem_tenants", "gauge", "Tenants.");
	out(w, "utmem_tenants %u\n", si.tenants);
	head(w, "utmem_pools", "gauge", "Pools, private and shared.");
	out(w, "utmem_pools %u\n", si.pools);
}

/*
 * The host controller's and background compaction's figures (controller.c,
 * the numeric items of INFO), one gauge or counter each: utmem_controller_*,
 * utmem_compaction_*, utmem_purges_total and utmem_region_scrubbed_bytes_total;
 * sizes keep their _bytes suffix. Each says what it counts, in what unit.
 */
static const struct ctl_family {
	const char *key; /* the INFO item */
	int counter;
	const char *help;
} ctl_families[] = {
	{"controller_ceiling_bytes", 0, "The capacity setting: the most the controller may set, in bytes."},
	{"controller_capacity_bytes", 0, "The capacity the controller has in force, in bytes."},
	{"controller_floor_bytes", 0, "The controller never sets the capacity below this, in bytes."},
	{"controller_reserve_bytes", 0, "Memory the controller keeps free for the host, in bytes."},
	{"controller_available_bytes", 0,
	 "Memory the host (or cgroup) could give at the last sample, in bytes."},
	{"controller_stall_pct", 0,
	 "Share of time tasks stalled on memory between the last two samples, in percent."},
	{"controller_shrinks", 1, "Times the controller lowered the capacity."},
	{"controller_grows", 1, "Times the controller raised the capacity."},
	{"controller_shrunk_bytes", 1, "Bytes the controller's shrinks took off the capacity."},
	{"controller_grown_bytes", 1, "Bytes the controller's growth added to the capacity."},
	{"controller_pressure_samples", 1, "Samples that found memory pressure."},
	{"controller_floor_hits", 1, "Times a shrink stopped at the floor."},
	{"controller_sample_errors", 1,
	 "Samples whose memory figures could not be read (capacity left as it was)."},
	{"controller_last_change_ms_ago", 0,
	 "Seconds since the controller last changed the capacity (absent: never)."},
	{"compaction_runs", 1, "Compaction passes of the maintenance thread."},
	{"purges", 1, "Times the maintenance thread gave freed pages back to the OS."},
	{"region_scrubbed_bytes", 1,
	 "Bytes tenants wrote outside their allocations in their value regions, punched."},
	{"compaction_moved", 1, "Entries compaction moved."},
	{"compaction_moved_bytes", 1, "Bytes compaction moved."},
	{"compaction_ms", 1, "Seconds the maintenance thread spent compacting."},
};

static void controller_metrics(struct ud_daemon *d, struct uadm_wbuf *w)
{
	struct ud_info_item it[40];
	size_t n = 0;

	ud_ctl_info(d, it, sizeof(it) / sizeof(it[0]), &n);
	for (size_t i = 0; i < n; i++) {
		const char *type = "gauge";
		const char *help = "Host controller / background compaction (docs/operations.md).";
		char name[96], *end;
		double v = strtod(it[i].value, &end);
		int scaled = 1;

		if (end == it[i].value || *end) /* not a number: mode, reasons, shares */
			continue;
		for (size_t c = 0; c < sizeof(ctl_families) / sizeof(ctl_families[0]); c++) {
			if (strcmp(it[i].key, ctl_families[c].key) == 0) {
				type = ctl_families[c].counter ? "counter" : "gauge";
				help = ctl_families[c].help;
				break;
			}
		}
		if (strcmp(it[i].key, "compaction_ms") == 0) { /* base unit */
			snprintf(name, sizeof(name), "utmem_compaction_seconds_total");
			v /= 1000.0;
		} else if (strstr(it[i].key, "_ms_ago")) {
			snprintf(name, sizeof(name), "utmem_controller_last_change_seconds_ago");
			v /= 1000.0;
		} else {
			snprintf(name, sizeof(name), "utmem_%s%s", it[i].key,
				 type[0] == 'c' ? "_total" : "");
			scaled = 0;
		}
		head(w, name, type, help);
		/* Unscaled figures as INFO has them: a byte count past ten
		 * digits (available memory, bytes shrunk in all) stays exact,
		 * where %.10g would round it. */
		if (scaled)
			out(w, "%s %.10g\n", name, v);
		else
			out(w, "%s %s\n", name, it[i].value);
	}
}

/* How each tenant's PUTs arrived (enum ud_put_stat). Caller holds d->lock. */
static void put_stat_metrics(struct uadm_wbuf *w, struct ud_daemon *d, char *lb)
{
	static const char *const fam[UD_NPUT_STATS][2] = {
		[UD_PUT_STAGED] = {"utmem_tenant_puts_staged_total",
				   "PUTs whose value the client wrote into a staging extent (adopted, no copy)."},
		[UD_PUT_POSTED] = {"utmem_tenant_puts_posted_inline_total",
				   "PUTs posted with the value in the frame (utmemd copies it)."},
		[UD_PUT_REPLIED] = {"utmem_tenant_puts_replied_total",
				    "PUTs the client waited for (no credit, no ring, or the socket)."},
		[UD_CREDIT_RETURNS] = {"utmem_tenant_credit_returns_total",
				       "Times the tenant's connections gave back credit and staging slots."},
	};

	for (unsigned f = 0; f < UD_NPUT_STATS; f++) {
		head(w, fam[f][0], "counter", fam[f][1]);
		for (struct ud_tenant *t = d->tenants; t; t = t->next)
			out(w, "%s{tenant=\"%s\"} %llu\n", fam[f][0], lv(t->name, lb),
			    (unsigned long long)atomic_load(&t->put_stats[f]));
	}
}

static void tenant_metrics(struct ud_daemon *d, struct uadm_wbuf *w,
			   const struct ust_tenant_info *ti, int n)
{
	char name[96], lb[160];

	for (size_t f = 0; f < sizeof(stat_families) / sizeof(stat_families[0]); f++) {
		snprintf(name, sizeof(name), "utmem_tenant_%s", stat_families[f].suffix);
		head(w, name, stat_families[f].type, stat_families[f].help);
		for (int i = 0; i < n; i++)
			out(w, "%s{tenant=\"%s\"} %llu\n", name, lv(ti[i].name, lb),
			    (unsigned long long)stat_of(&ti[i].stats, stat_families[f].off));
	}
	head(w, "utmem_tenant_min_bytes", "gauge", "Bytes reserved for the tenant (min).");
	for (int i = 0; i < n; i++)
		out(w, "utmem_tenant_min_bytes{tenant=\"%s\"} %llu\n", lv(ti[i].name, lb),
		    (unsigned long long)ti[i].limits.min);
	head(w, "utmem_tenant_max_bytes", "gauge", "The tenant's cap (max).");
	for (int i = 0; i < n; i++)
		out(w, "utmem_tenant_max_bytes{tenant=\"%s\"} %llu\n", lv(ti[i].name, lb),
		    (unsigned long long)ti[i].limits.max);
	head(w, "utmem_tenant_weight", "gauge", "The tenant's share of memory above every min.");
	for (int i = 0; i < n; i++)
		out(w, "utmem_tenant_weight{tenant=\"%s\"} %u\n", lv(ti[i].name, lb),
		    ti[i].limits.weight);
	head(w, "utmem_tenant_freeable_bytes", "gauge",
	     "Ephemeral bytes a shrink could take from the tenant now.");
	for (int i = 0; i < n; i++)
		out(w, "utmem_tenant_freeable_bytes{tenant=\"%s\"} %llu\n", lv(ti[i].name, lb),
		    (unsigned long long)ti[i].freeable);
	head(w, "utmem_tenant_frozen", "gauge", "1 while the tenant is frozen (PUTs refused).");
	for (int i = 0; i < n; i++)
		out(w, "utmem_tenant_frozen{tenant=\"%s\"} %d\n", lv(ti[i].name, lb),
		    ti[i].frozen ? 1 : 0);
	head(w, "utmem_tenant_connections", "gauge", "Open client connections of the tenant.");
	pthread_mutex_lock(&d->lock);
	for (struct ud_tenant *t = d->tenants; t; t = t->next)
		out(w, "utmem_tenant_connections{tenant=\"%s\"} %u\n", lv(t->name, lb),
		    atomic_load(&t->conns));
	head(w, "utmem_tenant_credit_bytes", "gauge",
	     "Quota the tenant's ring connections hold reserved for posted PUTs (in its charge).");
	for (struct ud_tenant *t = d->tenants; t; t = t->next)
		out(w, "utmem_tenant_credit_bytes{tenant=\"%s\"} %llu\n", lv(t->name, lb),
		    (unsigned long long)atomic_load(&t->credit_held));
	head(w, "utmem_tenant_credit_reclaimed_bytes_total", "counter",
	     "Credit taken back from the tenant's connections idle after a recall.");
	for (struct ud_tenant *t = d->tenants; t; t = t->next)
		out(w, "utmem_tenant_credit_reclaimed_bytes_total{tenant=\"%s\"} %llu\n",
		    lv(t->name, lb), (unsigned long long)atomic_load(&t->credit_reclaimed));
	put_stat_metrics(w, d, lb);
	pthread_mutex_unlock(&d->lock);
}

static void pool_metrics(struct uadm_wbuf *w, const struct ust_pool_info *pi,
			 int np, const struct ust_tenant_info *ti, int nt)
{
	char name[96], a[160], b[160];

	for (size_t f = 0; f < sizeof(stat_families) / sizeof(stat_families[0]); f++) {
		snprintf(name, sizeof(name), "utmem_pool_%s", stat_families[f].suffix);
		head(w, name, stat_families[f].type, stat_families[f].help);
		for (int i = 0; i < np; i++) {
			int shared = (pi[i].kind & UST_POOL_SHARED) != 0;
			out(w, "%s{tenant=\"%s\",pool=\"%s\",kind=\"%s\",shared=\"%s\"} %llu\n",
			    name, shared ? "" : lv(tenant_name(ti, nt, pi[i].owner), a),
			    lv(pi[i].name, b),
			    pi[i].kind & UST_POOL_EPHEMERAL ? "ephemeral" : "persistent",
			    shared ? "true" : "false",
			    (unsigned long long)stat_of(&pi[i].stats, stat_families[f].off));
		}
	}
}

/* One tenant's histograms, summed over the workers' slots. */
struct hist_sum {
	uint64_t bucket[UD_HIST_OPS][UD_HIST_BUCKETS + 1];
	uint64_t sum_ns[UD_HIST_OPS];
	uint64_t count[UD_HIST_OPS];
};

static void hist_sum(const struct ud_tenant *t, struct hist_sum *s)
{
	memset(s, 0, sizeof(*s));
	for (unsigned k = 0; k < t->nhist; k++) {
		const struct ud_hist *h = &t->hist[k];
		for (unsigned op = 0; op < UD_HIST_OPS; op++) {
			for (unsigned b = 0; b <= UD_HIST_BUCKETS; b++)
				s->bucket[op][b] += atomic_load_explicit(&h->bucket[op][b],
									 memory_order_relaxed);
			s->sum_ns[op] += atomic_load_explicit(&h->sum_ns[op], memory_order_relaxed);
			s->count[op] += atomic_load_explicit(&h->count[op], memory_order_relaxed);
		}
	}
}

static void latency_metrics(struct ud_daemon *d, struct uadm_wbuf *w)
{
	struct hist_sum s;
	char lb[160];

	head(w, "utmem_request_duration_seconds", "histogram",
	     "Time utmemd spent serving a request, from the decoded frame to the queued reply.");
	pthread_mutex_lock(&d->lock);
	for (struct ud_tenant *t = d->tenants; t; t = t->next) {
		if (!t->hist)
			continue;
		hist_sum(t, &s);
		lv(t->name, lb);
		for (unsigned op = 0; op < UD_HIST_OPS; op++) {
			uint64_t cum = 0, count = s.count[op];
			for (unsigned b = 0; b < UD_HIST_BUCKETS; b++) {
				cum += s.bucket[op][b];
				/* Workers write count last: never more in a bucket than in all. */
				if (cum > count)
					cum = count;
				out(w, "utmem_request_duration_seconds_bucket{tenant=\"%s\",op=\"%s\",le=\"%s\"} %llu\n",
				    lb, op_names[op], bucket_le[b], (unsigned long long)cum);
			}
			out(w, "utmem_request_duration_seconds_bucket{tenant=\"%s\",op=\"%s\",le=\"+Inf\"} %llu\n",
			    lb, op_names[op], (unsigned long long)count);
			out(w, "utmem_request_duration_seconds_sum{tenant=\"%s\",op=\"%s\"} %.9f\n",
			    lb, op_names[op], (double)s.sum_ns[op] / 1e9);
			out(w, "utmem_request_duration_seconds_count{tenant=\"%s\",op=\"%s\"} %llu\n",
			    lb, op_names[op], (unsigned long long)count);
		}
	}
	pthread_mutex_unlock(&d->lock);
}

int ud_metrics_render(struct ud_daemon *d, struct uadm_wbuf *w)
{
	struct ust_tenant_info *ti = NULL;
	struct ust_pool_info *pi = NULL;
	int nt = ud_list_tenants(d, &ti), np = ud_list_pools(d, &pi);

	if (nt < 0 || np < 0) {
		free(ti);
		free(pi);
		return nt < 0 ? nt : np;
	}
	server_metrics(d, w);
	controller_metrics(d, w);
	head(w, "utmem_connections", "gauge", "Open client connections, all tenants.");
	pthread_mutex_lock(&d->lock);
	{
		unsigned c = 0;
		for (int pass = 0; pass < 2; pass++)
			for (struct ud_tenant *t = pass ? d->retired : d->tenants; t; t = t->next)
				c += atomic_load(&t->conns);
		out(w, "utmem_connections %u\n", c);
	}
	pthread_mutex_unlock(&d->lock);
	tenant_metrics(d, w, ti, nt);
	pool_metrics(w, pi, np, ti, nt);
	latency_metrics(d, w);
	free(ti);
	free(pi);
	return w->err;
}

/* ---- HTTP ---- */

static void respond(struct mconn *m, int code, const char *reason,
		    const struct uadm_wbuf *body, const char *ctype)
{
	char h[256];
	int n = snprintf(h, sizeof(h),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 code, reason, ctype, body ? body->len : strlen(reason) + 1);

	uadm_wbuf_free(&m->out);
	uadm_w_raw(&m->out, h, (size_t)n);
	if (body)
		uadm_w_raw(&m->out, body->data, body->len);
	else {
		uadm_w_raw(&m->out, reason, strlen(reason));
		uadm_w_raw(&m->out, "\n", 1);
	}
	m->sent = 0;
}

/* A whole request head is in m->req: answer it. */
static void serve(struct ud_metrics *mx, struct mconn *m)
{
	char method[8], path[256], version[16];
	struct uadm_wbuf body;
	char *q;

	m->req[m->len] = '\0';
	if (memchr(m->req, '\0', m->len) ||
	    sscanf(m->req, "%7s %255s %15s", method, path, version) != 3 ||
	    strncmp(version, "HTTP/1.", 7) != 0) {
		respond(m, 400, "Bad Request", NULL, "text/plain");
		return;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		respond(m, 405, "Method Not Allowed", NULL, "text/plain");
		return;
	}
	q = strchr(path, '?');
	if (q)
		*q = '\0';
	if (strcmp(path, "/metrics") != 0) {
		respond(m, 404, "Not Found", NULL, "text/plain");
		return;
	}
	uadm_wbuf_init(&body);
	if (ud_metrics_render(mx->d, &body) < 0 || body.len > MX_BODY_MAX) {
		uadm_wbuf_free(&body);
		respond(m, 500, "Internal Server Error", NULL, "text/plain");
		return;
	}
	respond(m, 200, "OK", &body, "text/plain; version=0.0.4; charset=utf-8");
	if (strcmp(method, "HEAD") == 0)
		m->out.len -= body.len;
	uadm_wbuf_free(&body);
}

static void mconn_close(struct ud_metrics *mx, struct mconn *m)
{
	epoll_ctl(mx->epfd, EPOLL_CTL_DEL, m->fd, NULL);
	close(m->fd);
	m->fd = -1;
	uadm_wbuf_free(&m->out);
}

static void on_accept(struct ud_metrics *mx)
{
	for (int k = 0; k < 16; k++) {
		int fd = accept4(mx->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct mconn *m = NULL;
		struct epoll_event ev = {.events = EPOLLIN};

		if (fd < 0)
			return;
		for (int i = 0; i < MX_CONNS && !m; i++)
			if (mx->conns[i].fd < 0)
				m = &mx->conns[i];
		if (!m) {
			/* Full: a scraper retries; a flood gets nothing held. */
			close(fd);
			continue;
		}
		m->fd = fd;
		m->len = 0;
		m->sent = 0;
		m->draining = 0;
		uadm_wbuf_init(&m->out);
		m->deadline_ns = umono_ns() + (uint64_t)MX_DEADLINE_MS * 1000000u;
		ev.data.ptr = m;
		if (epoll_ctl(mx->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
			mconn_close(mx, m);
	}
}

static void on_conn(struct ud_metrics *mx, struct mconn *m, uint32_t events)
{
	if (m->draining) {
		char junk[4096];
		ssize_t n;
		while ((n = read(m->fd, junk, sizeof(junk))) > 0)
			;
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			mconn_close(mx, m);
		return;
	}
	if (!m->out.len) {
		ssize_t n = read(m->fd, m->req + m->len, MX_REQ - 1 - m->len);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			mconn_close(mx, m);
			return;
		}
		if (n > 0)
			m->len += (size_t)n;
		m->req[m->len] = '\0';
		/* memmem: a NUL byte in the request must not hide its end. */
		if (memmem(m->req, m->len, "\r\n\r\n", 4) || memmem(m->req, m->len, "\n\n", 2)) {
			serve(mx, m);
		} else if (m->len >= MX_REQ - 1) {
			respond(m, 431, "Request Header Fields Too Large", NULL, "text/plain");
		} else {
			return;
		}
		if (m->out.err) {
			mconn_close(mx, m);
			return;
		}
		struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = m};
		epoll_ctl(mx->epfd, EPOLL_CTL_MOD, m->fd, &ev);
		events |= EPOLLOUT;
	}
	if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
		while (m->sent < m->out.len) {
			ssize_t n = send(m->fd, m->out.data + m->sent, m->out.len - m->sent,
					 MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					return;
				break;
			}
			m->sent += (size_t)n;
		}
		/*
		 * Closing with unread input would send a reset that can
		 * destroy the answer in flight (a 431 to a peer still
		 * sending): half-close, then discard until its EOF or the
		 * deadline.
		 */
		shutdown(m->fd, SHUT_WR);
		m->draining = 1;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = m};
		if (epoll_ctl(mx->epfd, EPOLL_CTL_MOD, m->fd, &ev) < 0)
			mconn_close(mx, m);
	}
}

static void *metrics_main(void *arg)
{
	struct ud_metrics *mx = arg;
	struct epoll_event ev[MX_CONNS + 2];

	for (;;) {
		uint64_t now = umono_ns(), next = UINT64_MAX;
		int timeout = -1, n;

		for (int i = 0; i < MX_CONNS; i++) {
			struct mconn *m = &mx->conns[i];
			if (m->fd < 0)
				continue;
			if (m->deadline_ns <= now)
				mconn_close(mx, m); /* slow or silent peer */
			else if (m->deadline_ns < next)
				next = m->deadline_ns;
		}
		if (next != UINT64_MAX)
			timeout = (int)((next - now) / 1000000u) + 1;
		n = epoll_wait(mx->epfd, ev, MX_CONNS + 2, timeout);
		for (int i = 0; i < n; i++) {
			void *p = ev[i].data.ptr;
			if (p == &mx->efd) {
				for (int k = 0; k < MX_CONNS; k++)
					if (mx->conns[k].fd >= 0)
						mconn_close(mx, &mx->conns[k]);
				return NULL;
			}
			if (p == &mx->lfd)
				on_accept(mx);
			else if (((struct mconn *)p)->fd >= 0)
				on_conn(mx, p, ev[i].events);
		}
	}
}

int ud_metrics_listen(struct ud_daemon *d, char *msg, size_t msglen)
{
	struct ud_metrics *mx;
	struct epoll_event ev = {.events = EPOLLIN};
	int fd;

	if (!d->cfg.metrics_on)
		return 0;
	if (strncmp(d->cfg.metrics_host, "127.", 4) != 0)
		ud_warn("metrics on %s are reachable from other hosts", d->cfg.metrics_host);
	fd = ud_listen_tcp(d->cfg.metrics_host, d->cfg.metrics_port, msg, msglen);
	if (fd < 0)
		return fd;
	mx = calloc(1, sizeof(*mx));
	if (!mx) {
		close(fd);
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	mx->d = d;
	mx->lfd = fd;
	for (int i = 0; i < MX_CONNS; i++)
		mx->conns[i].fd = -1;
	mx->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	mx->epfd = epoll_create1(EPOLL_CLOEXEC);
	ev.data.ptr = &mx->lfd;
	if (mx->efd < 0 || mx->epfd < 0 ||
	    epoll_ctl(mx->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ||
	    (ev.data.ptr = &mx->efd, epoll_ctl(mx->epfd, EPOLL_CTL_ADD, mx->efd, &ev) < 0)) {
		snprintf(msg, msglen, "metrics: %s", strerror(errno));
		d->metrics = mx;
		ud_metrics_stop(d);
		return -EIO;
	}
	d->metrics = mx;
	d->metrics_on = 1;
	return 0;
}

uint16_t ud_metrics_port(struct ud_daemon *d)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	if (!d->metrics || getsockname(d->metrics->lfd, (struct sockaddr *)&sa, &len) < 0)
		return 0;
	return ntohs(sa.sin_port);
}

int ud_metrics_start(struct ud_daemon *d, char *msg, size_t msglen)
{
	int err;

	if (!d->metrics)
		return 0;
	err = pthread_create(&d->metrics->thread, NULL, metrics_main, d->metrics);
	if (err) {
		snprintf(msg, msglen, "cannot start the metrics thread: %s", strerror(err));
		return -err;
	}
	pthread_setname_np(d->metrics->thread, "utmemd-metrics");
	d->metrics->running = 1;
	return 0;
}

void ud_metrics_stop(struct ud_daemon *d)
{
	struct ud_metrics *mx = d->metrics;
	uint64_t one = 1;

	if (!mx)
		return;
	if (mx->running) {
		if (write(mx->efd, &one, sizeof(one)) != (ssize_t)sizeof(one))
			ud_warn("metrics: cannot stop the thread: %s", strerror(errno));
		else
			pthread_join(mx->thread, NULL);
	}
	if (mx->epfd >= 0)
		close(mx->epfd);
	if (mx->efd >= 0)
		close(mx->efd);
	close(mx->lfd);
	free(mx);
	d->metrics = NULL;
}

/*
 * breakdown.c — utmem-bench --breakdown: the latency breakdown of the
 * thesis's Table 3.2 for utmem's own data path.
 *
 * Each cell repeats one request (one key, one value, as the thesis did) on
 * a connection opened with one mode, and reads utmem_timing() after every
 * call, so each sample splits into library, transport, daemon and store
 * (include/utmem.h says what each part holds). The modes:
 *
 *   fast        the default: PUTs posted (library + hand-over only),
 *               GETs one-sided (no utmemd at all)
 *   served      UTMEM_OPT_SYNC_PUT | SYNC_GET: every request waits for
 *               utmemd, through the ring (or the socket when a frame is
 *               over half the ring)
 *   socket      UTMEM_OPT_NO_FAST_PATH: the Unix socket only
 *   null-store  UTMEM_OPT_NULL_STORE: utmemd answers without the store
 *   no-forward  UTMEM_OPT_NO_FORWARD: the library answers by itself
 *
 * so the modes also give the thesis's cumulative layers: no-forward =
 * library, null-store = library + transport + daemon, served = all four.
 * The daemon must run with bench_modes = on. Quantiles are exact (sorted
 * samples); p50s of the parts do not add up to the p50 of the total.
 */
#include "breakdown.h"
#include "report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <utmem.h>

enum { L_LIB, L_TRANSPORT, L_DAEMON, L_STORE, L_TOTAL, L_N };
static const char *const layer_name[L_N] = {
	"library", "transport", "daemon", "store", "total",
};

struct bd_mode {
	const char *name;
	unsigned flags;
};
static const struct bd_mode modes[] = {
	{"fast", UTMEM_OPT_TIMING},
	{"served", UTMEM_OPT_TIMING | UTMEM_OPT_SYNC_PUT | UTMEM_OPT_SYNC_GET},
	{"socket", UTMEM_OPT_TIMING | UTMEM_OPT_NO_FAST_PATH},
	{"null-store", UTMEM_OPT_TIMING | UTMEM_OPT_NULL_STORE},
	{"no-forward", UTMEM_OPT_TIMING | UTMEM_OPT_NO_FORWARD},
};
#define NMODES (sizeof(modes) / sizeof(modes[0]))

static const size_t sizes[] = {1024, 1024 * 1024};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static const char *const path_name[] = {
	"library", "posted", "one-sided", "ring", "socket",
};
#define NPATHS (sizeof(path_name) / sizeof(path_name[0]))

/* One cell's samples (ns) and what it saw. */
struct bd_cell {
	uint64_t *s[L_N];
	size_t n;
	uint64_t paths[NPATHS];
	uint64_t errors;
	char first_error[128];
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The q-quantile of sorted v[0..n) (nearest rank), in microseconds. */
static double quantile_us(const uint64_t *v, size_t n, double q)
{
	size_t rank;

	if (n == 0)
		return 0.0;
	rank = (size_t)(q * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return (double)v[rank - 1] / 1000.0;
}

static int connect_mode(const struct ub_opts *o, unsigned flags,
			utmem_client **c, uint32_t *pool)
{
	struct utmem_options uo = {.token = o->token, .timeout_ms = o->timeout_ms,
				   .no_reconnect = 1, .flags = flags};
	int err = utmem_connect(o->addr, &uo, c);

	if (err == -EOPNOTSUPP) {
		fprintf(stderr, "utmem-bench: %s refuses the benchmark modes: start "
			"utmemd with bench_modes = on (a benchmarking aid, "
			"docs/evaluation.md)\n", o->addr);
		return err;
	}
	if (err) {
		fprintf(stderr, "utmem-bench: connect to %s: %s\n", o->addr,
			utmem_strerror(err));
		return err;
	}
	err = utmem_pool_open(*c, o->pool, UTMEM_POOL_CREATE, pool);
	if (err) {
		fprintf(stderr, "utmem-bench: open pool '%s': %s\n", o->pool,
			utmem_strerror(err));
		utmem_close(*c);
		*c = NULL;
	}
	return err;
}

/*
 * One call of the cell's operation; returns 0 when it gave what the mode
 * promises (no-forward GETs miss, null-store GETs return the buffer's
 * length of zeros), else the error for the tally.
 */
static int one_call(utmem_client *c, uint32_t pool, int get, const char *key,
		    unsigned char *val, unsigned char *buf, size_t size,
		    const struct bd_mode *m)
{
	ssize_t r;

	if (!get)
		return utmem_put(c, pool, key, strlen(key), val, size);
	r = utmem_get(c, pool, key, strlen(key), buf, size, 0);
	if (m->flags & UTMEM_OPT_NO_FORWARD)
		return r == -ENOENT ? 0 : r < 0 ? (int)r : -EPROTO;
	if (r < 0)
		return (int)r;
	return (size_t)r == size ? 0 : -EPROTO;
}

/* Run one cell: warm-up, then n timed calls. 0, or -errno (connection). */
static int run_cell(const struct ub_opts *o, const struct bd_mode *m, int get,
		    size_t size, unsigned char *val, unsigned char *buf,
		    uint64_t n, struct bd_cell *cell)
{
	uint64_t warm = n / 10 < 10 ? 10 : n / 10;
	struct utmem_timing t;
	utmem_client *c = NULL;
	uint32_t pool;
	char key[32];
	int err;

	snprintf(key, sizeof(key), "breakdown:%zu", size);
	err = connect_mode(o, m->flags, &c, &pool);
	if (err)
		return err;
	for (uint64_t i = 0; i < warm + n; i++) {
		err = one_call(c, pool, get, key, val, buf, size, m);
		if (err) {
			if (!cell->errors++)
				snprintf(cell->first_error, sizeof(cell->first_error),
					 "%s %s %zu: %s", m->name, get ? "GET" : "PUT",
					 size, utmem_strerror(err));
			if (err == -ECONNRESET || err == -ENOTCONN || err == -EPIPE ||
			    err == -ETIMEDOUT)
				break;
			continue;
		}
		err = utmem_timing(c, &t);
		if (err || i < warm)
			continue;
		cell->s[L_LIB][cell->n] = t.library_ns;
		cell->s[L_TRANSPORT][cell->n] = t.transport_ns;
		cell->s[L_DAEMON][cell->n] = t.daemon_ns;
		cell->s[L_STORE][cell->n] = t.store_ns;
		cell->s[L_TOTAL][cell->n] = t.library_ns + t.transport_ns +
					    t.daemon_ns + t.store_ns;
		cell->paths[t.path < NPATHS ? t.path : 0]++;
		cell->n++;
	}
	/* Posted PUTs are served after the call returned: let utmemd catch
	 * up before the next cell, so it does not pay for this one's. */
	(void)utmem_sync(c);
	utmem_close(c);
	return 0;
}

/* "posted" or "socket 500 ring 500": the paths the samples took. */
static void paths_text(const struct bd_cell *cell, char *out, size_t len)
{
	size_t used = 0, kinds = 0;

	out[0] = '\0';
	for (size_t p = 0; p < NPATHS; p++)
		kinds += cell->paths[p] != 0;
	for (size_t p = 0; p < NPATHS && used < len; p++) {
		if (!cell->paths[p])
			continue;
		if (kinds == 1)
			used += (size_t)snprintf(out + used, len - used, "%s", path_name[p]);
		else
			used += (size_t)snprintf(out + used, len - used, "%s%s:%" PRIu64,
						 used ? "," : "", path_name[p],
						 cell->paths[p]);
	}
	if (!kinds)
		snprintf(out, len, "-");
}

static void print_cell(FILE *f, const struct ub_opts *o, size_t size, int get,
		       const struct bd_mode *m, struct bd_cell *cell)
{
	double p50[L_N], p99[L_N];
	char paths[96];

	for (int l = 0; l < L_N; l++) {
		qsort(cell->s[l], cell->n, sizeof(uint64_t), cmp_u64);
		p50[l] = quantile_us(cell->s[l], cell->n, 0.50);
		p99[l] = quantile_us(cell->s[l], cell->n, 0.99);
	}
	paths_text(cell, paths, sizeof(paths));
	if (o->json) {
		fprintf(f, "{\"size\":%zu,\"op\":\"%s\",\"mode\":\"%s\",\"path\":\"%s\","
			"\"n\":%zu,\"errors\":%" PRIu64, size, get ? "get" : "put",
			m->name, paths, cell->n, cell->errors);
		for (int l = 0; l < L_N; l++)
			fprintf(f, ",\"%s_p50_us\":%.3f,\"%s_p99_us\":%.3f",
				layer_name[l], p50[l], layer_name[l], p99[l]);
		fputs(",\"label\":", f);
		ub_json_str(f, o->label);
		fputs(",\"first_error\":", f);
		ub_json_str(f, cell->first_error);
		fputs("}\n", f);
		return;
	}
	fprintf(f, "%-5s %-4s %-10s %-18s", size >= 1048576 ? "1M" : "1K",
		get ? "GET" : "PUT", m->name, paths);
	for (int l = 0; l < L_N; l++)
		fprintf(f, " %8.2f /%8.2f", p50[l], p99[l]);
	if (cell->errors)
		fprintf(f, "  errors %" PRIu64 " (%s)", cell->errors, cell->first_error);
	fputc('\n', f);
}

/* Store the value GET cells read, once per size, with a plain client. */
static int seed_value(const struct ub_opts *o, size_t size, unsigned char *val)
{
	utmem_client *c = NULL;
	uint32_t pool;
	char key[32];
	int err;

	snprintf(key, sizeof(key), "breakdown:%zu", size);
	err = connect_mode(o, UTMEM_OPT_SYNC_PUT, &c, &pool);
	if (err)
		return err;
	err = utmem_put(c, pool, key, strlen(key), val, size);
	if (err)
		fprintf(stderr, "utmem-bench: PUT of the %zu-byte value: %s\n", size,
			utmem_strerror(err));
	utmem_close(c);
	return err;
}

int ub_breakdown(const struct ub_opts *o, FILE *out)
{
	uint64_t n = o->requests ? o->requests : 1000;
	size_t big = sizes[NSIZES - 1];
	unsigned char *val = malloc(big), *buf = malloc(big);
	struct bd_cell cell;
	int rc = 1, oom = !val || !buf;

	memset(&cell, 0, sizeof(cell));
	for (int l = 0; l < L_N; l++) {
		cell.s[l] = calloc(n, sizeof(uint64_t));
		oom |= !cell.s[l];
	}
	if (oom) {
		fputs("utmem-bench: out of memory\n", stderr);
		goto out;
	}
	for (size_t i = 0; i < big; i++)
		val[i] = (unsigned char)(i * 7u + 1u);
	if (!o->json) {
		fprintf(out, "utmem-bench --breakdown: %s, %" PRIu64 " timed requests "
			"per cell after %" PRIu64 " untimed, one key; p50 / p99 in "
			"microseconds\n", o->addr, n, n / 10 < 10 ? 10 : n / 10);
		fprintf(out, "%-5s %-4s %-10s %-18s %18s %18s %18s %18s %18s\n", "size",
			"op", "mode", "path", "library", "transport", "daemon", "store",
			"total");
	}
	for (size_t si = 0; si < NSIZES; si++) {
		if (seed_value(o, sizes[si], val))
			goto out;
		for (int get = 0; get < 2; get++) {
			for (size_t mi = 0; mi < NMODES; mi++) {
				uint64_t *keep[L_N];

				memcpy(keep, cell.s, sizeof(keep));
				memset(&cell, 0, sizeof(cell));
				memcpy(cell.s, keep, sizeof(keep));
				/* A PUT replaces the seeded value with the same bytes. */
				if (run_cell(o, &modes[mi], get, sizes[si], val, buf, n,
					     &cell))
					goto out;
				print_cell(out, o, sizes[si], get, &modes[mi], &cell);
				fflush(out);
			}
		}
	}
	rc = 0;
out:
	for (int l = 0; l < L_N; l++)
		free(cell.s[l]);
	free(val);
	free(buf);
	return rc;
}

/*
 * info.c — the server view: what utmemctl info, the metrics endpoint and
 * the logs say about utmemd as a whole (version, uptime, connections,
 * memory: RSS against what the store charges). Main thread only (it reads
 * the running configuration).
 */
#include "daemon/daemon.h"
#include "daemon/controller.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uint64_t ud_rss_bytes(void)
{
	char buf[128];
	unsigned long long size, rss;
	ssize_t n;
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	if (sscanf(buf, "%llu %llu", &size, &rss) != 2)
		return 0;
	return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

int ud_list_tenants(struct ud_daemon *d, struct ust_tenant_info **ti)
{
	int n, cap = 0;

	*ti = NULL;
	for (;;) {
		n = ust_tenant_list(d->st, *ti, (size_t)cap);
		if (n < 0 || n <= cap)
			break;
		free(*ti);
		cap = n + 4;
		*ti = calloc((size_t)cap, sizeof(**ti));
		if (!*ti)
			return -ENOMEM;
	}
	if (n < 0) {
		free(*ti);
		*ti = NULL;
	}
	return n;
}

int ud_list_pools(struct ud_daemon *d, struct ust_pool_info **pi)
{
	int n, cap = 0;

	*pi = NULL;
	for (;;) {
		n = ust_pool_list(d->st, UST_TENANT_ADMIN, *pi, (size_t)cap);
		if (n < 0 || n <= cap)
			break;
		free(*pi);
		cap = n + 4;
		*pi = calloc((size_t)cap, sizeof(**pi));
		if (!*pi)
			return -ENOMEM;
	}
	if (n < 0) {
		free(*pi);
		*pi = NULL;
	}
	return n;
}

unsigned ud_connections(struct ud_daemon *d)
{
	unsigned n = 0;

	for (int pass = 0; pass < 2; pass++)
		for (struct ud_tenant *t = pass ? d->retired : d->tenants; t; t = t->next)
			n += atomic_load(&t->conns);
	return n;
}

/* Returns from epoll_wait of every worker: far above the request rate,
 * a worker spins. */
static uint64_t worker_wakeups(struct ud_daemon *d)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < d->nworkers; i++)
		n += atomic_load_explicit(&d->workers[i].wakeups, memory_order_relaxed);
	return n;
}

/* Spins the workers skipped because the host had more runnable threads
 * than cores (ring_wait.c). */
static uint64_t worker_spin_crowded(struct ud_daemon *d)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < d->nworkers; i++)
		n += atomic_load_explicit(&d->workers[i].spin_crowded, memory_order_relaxed);
	return n;
}

__attribute__((format(printf, 4, 5)))
static void item(struct ud_info_item *out, size_t cap, size_t *n,
		 const char *fmt, ...)
{
	va_list ap;

	if (*n >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(out[*n].value, sizeof(out[*n].value), fmt, ap);
	va_end(ap);
	(*n)++;
}

#define ITEM(k, ...) do { if (n < cap) out[n].key = (k); item(out, cap, &n, __VA_ARGS__); } while (0)

size_t ud_server_info(struct ud_daemon *d, struct ud_info_item *out, size_t cap)
{
	struct ust_store_info si;
	struct ud_bulk_stats bs;
	struct passwd *pw = getpwuid(geteuid());
	uint64_t rss = ud_rss_bytes();
	uint64_t up = (umono_ns() - d->started_ns) / 1000000000ull;
	size_t n = 0;

	ust_store_info(d->st, &si);
	ITEM("version", "%s", UD_VERSION);
	ITEM("pid", "%d", (int)getpid());
	ITEM("uptime_seconds", "%llu", (unsigned long long)up);
	ITEM("user", "%s", pw ? pw->pw_name : "?");
	ITEM("config_file", "%s", d->cfg.path[0] ? d->cfg.path : "(embedded default)");
	ITEM("config_unsaved", "%s", d->cfg_unsaved ? "yes" : "no");
	ITEM("run_dir", "%s", d->cfg.run_dir);
	ITEM("workers", "%u", d->nworkers);
	ITEM("tenants", "%u", si.tenants);
	ITEM("pools", "%u", si.pools);
	ITEM("connections", "%u", ud_connections(d));
	ITEM("capacity_bytes", "%llu", (unsigned long long)si.capacity);
	ITEM("charged_bytes", "%llu", (unsigned long long)si.charged);
	ITEM("pinned_bytes", "%llu", (unsigned long long)si.pinned);
	ITEM("index_held_bytes", "%llu", (unsigned long long)si.index_held);
	ITEM("region_slack_bytes", "%llu", (unsigned long long)si.region_slack);
	ITEM("reserved_bytes", "%llu", (unsigned long long)si.reserved);
	ITEM("stored_bytes", "%llu", (unsigned long long)si.stats.bytes_stored);
	ITEM("entries", "%llu", (unsigned long long)si.stats.entries);
	ITEM("rss_bytes", "%llu", (unsigned long long)rss);
	ITEM("region_resident_bytes", "%llu",
	     (unsigned long long)ud_region_resident_bytes(d));
	ITEM("overhead_bound_bytes", "%llu",
	     (unsigned long long)ud_overhead_bound(d));
	/* As Redis's mem_fragmentation_ratio: resident memory per byte charged. */
	ITEM("fragmentation_ratio", "%.2f", si.charged ? (double)rss / (double)si.charged : 0.0);
	ITEM("max_key", "%zu", (size_t)d->lim.max_key);
	ITEM("max_value", "%zu", (size_t)d->lim.max_value);
	ITEM("ring_size", "%llu", (unsigned long long)d->ring_size);
	ITEM("posted_refused", "%llu",
	     (unsigned long long)atomic_load(&d->posted_refused));
	ud_bulk_info(d, &bs);
	ITEM("bulk_thread", "%s", bs.on ? "on" : "off");
	ITEM("bulk_queued", "%u", bs.queued);
	ITEM("bulk_running", "%u", bs.running);
	ITEM("bulk_jobs", "%llu", (unsigned long long)bs.jobs);
	ITEM("bulk_max_ms", "%.1f", (double)bs.max_ns / 1e6);
	ITEM("worker_wakeups", "%llu", (unsigned long long)worker_wakeups(d));
	ITEM("worker_spin_crowded", "%llu", (unsigned long long)worker_spin_crowded(d));
	ITEM("worker_slice_ns", "%llu",
	     (unsigned long long)atomic_load_explicit(&d->worker_slice_ns, memory_order_relaxed));
	ITEM("log_level", "%s", uadm_log_level_name(atomic_load(&ud_log_level)));
	ud_ctl_info(d, out, cap, &n);
	{ /* where the file is, as run_dir is: absolute */
		char pp[sizeof(d->cfg.run_dir) + sizeof(d->cfg.persist)];

		ITEM("persist", "%s", !d->cfg.persist[0] ? "off"
				      : ud_persist_path(d, pp, sizeof(pp)) ? d->cfg.persist : pp);
	}
	if (d->last_save_ns)
		ITEM("last_save_seconds_ago", "%llu",
		     (unsigned long long)((umono_ns() - d->last_save_ns) / 1000000000ull));
	if (d->metrics)
		ITEM("metrics", "http://%s:%u/metrics", d->cfg.metrics_host,
		     (unsigned)ud_metrics_port(d));
	else
		ITEM("metrics", "off");
	return n;
}

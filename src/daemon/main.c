/*
 * main.c — utmemd: command line, startup, signals and shutdown.
 *
 * Startup either fully succeeds (every socket listening, workers running,
 * one "how to connect" line per socket printed on stdout) or fails with one
 * line on stderr and a non-zero exit, leaving no socket behind. Signals are
 * blocked in every thread and read from a signalfd by the main loop, so no
 * work happens in a signal handler: SIGTERM/SIGINT stop the daemon (sockets
 * unlinked, pending replies flushed within a grace period, exit 0), SIGHUP
 * re-reads the configuration file.
 */
#include "daemon/daemon.h"
#include "daemon/controller.h"
#include "proto/clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#define MAIN_GRACE_MS 2000

static void usage(FILE *f)
{
	fprintf(f,
		"usage: utmemd [-c FILE] [--run-dir DIR] [--check-config]\n"
		"\n"
		"Run the utmem daemon in the foreground.\n"
		"  -c, --config FILE   read settings, tenants and pools from FILE (INI)\n"
		"  -r, --run-dir DIR   directory for sockets (default ./run/utmem,\n"
		"                      or run_dir from FILE)\n"
		"  -t, --check-config  check FILE (or the default) and exit\n"
		"  -h, --help          this text;  -V, --version: print the version\n"
		"Without -c, one tenant 'default' listens on DIR/utmemd.sock, the\n"
		"admin socket is DIR/admin.sock and capacity is 25%% of memory.\n"
		"Signals: TERM/INT stop cleanly, HUP reloads FILE. See docs/operations.md.\n");
}

/* mkdir -p with mode 0755 for every created level. Returns 0 or -errno. */
static int make_dirs(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * The config file's path made absolute against the directory utmemd was
 * started in (ud_run_file, links not resolved: a reload reads what the
 * link names then): INFO shows it, and config save compares paths with
 * it. Left as given when it would not fit.
 */
static void absolute_config_path(struct ud_cfg *cfg)
{
	char *abs = cfg->path[0] ? ud_run_file(".", cfg->path) : NULL;

	if (abs && strlen(abs) < sizeof(cfg->path))
		memcpy(cfg->path, abs, strlen(abs) + 1);
	free(abs);
}

/* Create the run directory, make it absolute, and check we can write there. */
static int prepare_run_dir(struct ud_cfg *cfg)
{
	char abs[PATH_MAX];
	struct stat sb;
	int err;

	if (stat(cfg->run_dir, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "utmemd: run directory %s exists and is not a directory\n",
			cfg->run_dir);
		return -ENOTDIR;
	}
	err = make_dirs(cfg->run_dir);
	if (err) {
		fprintf(stderr, "utmemd: cannot create run directory %s: %s\n",
			cfg->run_dir, strerror(-err));
		return err;
	}
	if (!realpath(cfg->run_dir, abs) || access(abs, W_OK | X_OK) < 0) {
		fprintf(stderr, "utmemd: run directory %s is not writable: %s\n",
			cfg->run_dir, strerror(errno));
		return -errno;
	}
	snprintf(cfg->run_dir, sizeof(cfg->run_dir), "%s", abs);
	return 0;
}

/* Many clients mean many sockets: take the hard limit on descriptors. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int setup_signals(struct ud_daemon *d)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -EINVAL;
	d->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->sigfd < 0)
		return -errno;
	d->sig_src = UD_SRC_SIGNAL;
	return ud_loop_watch(&d->main, d->sigfd, EPOLLIN, &d->sig_src);
}

/*
 * Tell systemd (Type=notify; $NOTIFY_SOCKET) that every socket listens and
 * the workers run. sd_notify() does nothing without $NOTIFY_SOCKET.
 */
void ud_notify_ready(struct ud_daemon *d)
{
	struct ust_store_info si;

	ust_store_info(d->st, &si);
	unsigned conns = ud_connections(d);

	sd_notifyf(0, "READY=1\nSTATUS=%u tenant%s, %u connection%s, %llu of %llu bytes charged\nMAINPID=%d",
		   si.tenants, UADM_PLURAL(si.tenants), conns, UADM_PLURAL(conns),
		   (unsigned long long)si.charged,
		   (unsigned long long)si.capacity, (int)getpid());
}

void ud_notify_reloading(void)
{
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
		   (unsigned long long)(umono_ns() / 1000));
}

/*
 * SIGHUP: the file is the operator's word, so it is applied even where it
 * drops data (tenants no longer listed); what went is logged line by line.
 */
static void on_sighup(struct ud_daemon *d)
{
	struct uadm_wbuf rep;
	int err;

	if (!d->cfg.path[0]) {
		ud_info("SIGHUP: utmemd runs without a config file (-c): nothing to reload");
		return;
	}
	uadm_wbuf_init(&rep);
	/* Evictions and a removed tenant's entries (seconds for millions of
	 * small values) go to the bulk thread, as an operator's do: this
	 * loop accepts every tenant's new connections. */
	d->store_later = 1;
	err = ud_reload(d, UADM_F_FORCE, &rep);
	d->store_later = 0;
	ud_store_later(d);
	if (err < 0) {
		const char *why = rep.err ? "out of memory" : (const char *)rep.data;
		size_t n = rep.err ? strlen(why) : rep.len, k;

		while (n && why[n - 1] == '\n')
			n--;
		/* Its last line says why; the changes before it (part way
		 * applied) were logged one by one. One log line, one event. */
		for (k = n; k && why[k - 1] != '\n'; k--)
			;
		ud_err("SIGHUP: reload failed, %s: %.*s",
		       d->cfg_stopped ? "part of the file applied (logged above)"
				      : "nothing changed",
		       (int)(n - k), why + k);
	}
	uadm_wbuf_free(&rep);
}

void ud_on_signal(struct ud_daemon *d)
{
	struct signalfd_siginfo si;

	while (read(d->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			on_sighup(d);
		} else {
			ud_info("signal %d: shutting down", (int)si.ssi_signo);
			d->stop = 1;
		}
	}
}

static int open_admin_and_tcp(struct ud_daemon *d, char *msg, size_t msglen)
{
	int fd;

	if (ud_socket_too_long("admin socket", d->cfg.run_dir, "admin.sock",
			       msg, msglen))
		return -ENAMETOOLONG;
	snprintf(d->admin_path, sizeof(d->admin_path), "%s/admin.sock",
		 d->cfg.run_dir);
	fd = ud_listen_unix(d->admin_path, 0600, (uid_t)-1, (gid_t)-1, NULL, msg,
			    msglen);
	if (fd == -EADDRINUSE) {
		size_t n = strlen(msg);

		/* Only here does the hint hold: tenants' sockets may be anywhere. */
		snprintf(msg + n, msglen - n,
			 " (is another utmemd running with run directory %.512s?)",
			 d->cfg.run_dir);
	}
	if (fd < 0)
		return fd;
	if (!ud_listener_new(d, fd, UD_LIS_ADMIN, d->admin_path)) {
		close(fd);
		unlink(d->admin_path);
		snprintf(msg, msglen, "cannot watch the admin socket");
		return -ENOMEM;
	}
	if (!d->cfg.tcp_on)
		return 0;
	if (strncmp(d->cfg.tcp_host, "127.", 4) != 0)
		ud_warn("TCP on %s is reachable from other hosts and not encrypted",
			d->cfg.tcp_host);
	fd = ud_listen_tcp(d->cfg.tcp_host, d->cfg.tcp_port, msg, msglen);
	if (fd < 0)
		return fd;
	if (!ud_listener_new(d, fd, UD_LIS_TCP, NULL)) {
		close(fd);
		snprintf(msg, msglen, "cannot watch the TCP socket");
		return -ENOMEM;
	}
	return 0;
}

/* The "how to connect" lines, one per socket, on stdout. */
static void print_banner(struct ud_daemon *d)
{
	struct ud_listener *lis;

	printf("utmemd %s: capacity %llu bytes (%.1f GiB), %u workers, run dir %s\n",
	       UD_VERSION, (unsigned long long)d->cfg.capacity,
	       (double)d->cfg.capacity / (1u << 30), d->nworkers, d->cfg.run_dir);
	for (struct ud_tenant *t = d->tenants; t; t = t->next)
		printf("tenant %s: unix:%s\n", t->name, t->socket);
	for (lis = d->listeners; lis; lis = lis->next) {
		if (lis->kind == UD_LIS_TCP) {
			struct sockaddr_in sa;
			socklen_t len = sizeof(sa);
			getsockname(lis->fd, (struct sockaddr *)&sa, &len);
			printf("tcp: tcp:%s:%u (token required)\n", d->cfg.tcp_host,
			       (unsigned)ntohs(sa.sin_port));
		}
		if (lis->kind == UD_LIS_VSOCK)
			printf("vsock: vsock:2:%u from a guest (tenant by CID)\n",
			       d->cfg.vsock_port);
	}
	if (d->metrics)
		printf("metrics: http://%s:%u/metrics\n", d->cfg.metrics_host,
		       (unsigned)ud_metrics_port(d));
	printf("admin: %s (try: utmemctl --run-dir %s stats)\n", d->admin_path,
	       d->cfg.run_dir);
	fflush(stdout);
}

static void close_listeners(struct ud_daemon *d)
{
	while (d->listeners)
		ud_listener_close(d, d->listeners);
	ud_free_dead_listeners(d);
}

static int start_workers(struct ud_daemon *d, char *msg, size_t msglen)
{
	d->workers = calloc(d->cfg.workers, sizeof(*d->workers));
	if (!d->workers) {
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	for (unsigned i = 0; i < d->cfg.workers; i++) {
		int err = ud_loop_init(d, &d->workers[i], i + 1);
		if (!err)
			err = -pthread_create(&d->workers[i].thread, NULL,
					      ud_worker_main, &d->workers[i]);
		if (!err) {
			char name[16]; /* what top -H and /proc/PID/task/T/comm show */

			snprintf(name, sizeof(name), "utmemd-w%u", i % 10000000u);
			pthread_setname_np(d->workers[i].thread, name);
		}
		if (err) {
			ud_loop_fini(&d->workers[i]);
			snprintf(msg, msglen, "cannot start worker %u: %s", i,
				 strerror(-err));
			return err;
		}
		d->nworkers++;
	}
	return 0;
}

static long now_ms(void)
{
	return (long)(umono_ns() / 1000000u);
}

/* Stop workers (they flush and close their clients), then the main loop. */
static void stop_all(struct ud_daemon *d)
{
	struct ud_handoff stop = {-1, 0, NULL};
	long deadline = now_ms() + MAIN_GRACE_MS;

	ud_metrics_stop(d);
	close_listeners(d);
	ud_vm_stop_all(d);
	for (unsigned i = 0; i < d->nworkers; i++)
		if (write(d->workers[i].handoff[1], &stop, sizeof(stop)) < 0)
			ud_warn("cannot stop worker %u: %s", i + 1, strerror(errno));
	ud_loop_begin_stop(&d->main);
	while (d->main.nconns && now_ms() < deadline)
		ud_loop_once(&d->main, 50);
	for (unsigned i = 0; i < d->nworkers; i++) {
		pthread_join(d->workers[i].thread, NULL);
		ud_loop_fini(&d->workers[i]);
	}
	ud_bulk_stop(d); /* every connection, parked or not, is gone */
	ud_bulk_reap_daemon(&d->main); /* a SIGHUP's job that ended last */
}

static void daemon_free(struct ud_daemon *d)
{
	struct ud_tenant *t, *next;

	close_listeners(d);
	ud_loop_fini(&d->main);
	ud_bulk_stop(d);
	ud_ctl_stop(d); /* the controller uses the store */
	/* The store writes into value regions while it frees: before unmap. */
	ust_store_free(d->st);
	d->st = NULL;
	free(d->owed_pools); /* taken after every change; never left, but */
	free(d->dying_pools);
	ud_names_free(&d->tenant_names);
	for (int pass = 0; pass < 2; pass++) {
		for (t = pass ? d->retired : d->tenants; t; t = next) {
			next = t->next;
			free(t->hist);
			ud_region_destroy(t);
			free(t);
		}
	}
	free(d->workers);
	if (d->sigfd >= 0)
		close(d->sigfd);
	if (d->spare_fd >= 0)
		close(d->spare_fd);
	ud_limits_fini(d);
	if (d->live_fd >= 0)
		close(d->live_fd); /* the page dies with us; clients see that */
	if (d->loadavg_fd >= 0)
		close(d->loadavg_fd);
	ud_cfg_free(&d->cfg);
	pthread_mutex_destroy(&d->lock);
}

/*
 * user = NAME: once every socket of the configuration is bound, become that
 * user (its group and supplementary groups too), so a tenant's bug or a
 * flaw in utmemd reaches no more than that user can. The run directory and
 * the admin socket are given to it first: it must create and remove
 * sockets there later, and utmemctl run as that user must reach utmemd.
 * Sockets added at runtime can then only be given to that user and its
 * groups. Returns 0 or -errno with msg set.
 */
static int drop_privileges(struct ud_daemon *d, char *msg, size_t msglen)
{
	const char *name = d->cfg.user;
	struct passwd *pw;

	if (!name[0])
		return 0;
	pw = getpwnam(name);
	if (!pw) {
		snprintf(msg, msglen, "user '%s': no such user", name);
		return -ENOENT;
	}
	if (geteuid() != 0) {
		if (pw->pw_uid == geteuid())
			return 0;
		snprintf(msg, msglen,
			 "user = %s: utmemd must be started as root to switch users (it runs as uid %d)",
			 name, (int)geteuid());
		return -EPERM;
	}
	if (chown(d->cfg.run_dir, pw->pw_uid, pw->pw_gid) < 0 ||
	    chown(d->admin_path, pw->pw_uid, pw->pw_gid) < 0) {
		snprintf(msg, msglen, "user = %s: cannot give %.512s to it: %s", name,
			 d->cfg.run_dir, strerror(errno));
		return -errno;
	}
	if (initgroups(name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		snprintf(msg, msglen, "user = %s: cannot switch to it: %s", name,
			 strerror(errno));
		return -errno;
	}
	/* Make sure there is no way back. */
	if (pw->pw_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		snprintf(msg, msglen, "user = %s: root privileges were not dropped", name);
		return -EPERM;
	}
	return 0;
}

/* Everything between a loaded config and a running daemon. */
static int start(struct ud_daemon *d, char *msg, size_t msglen)
{
	struct ust_config sc = {
		.capacity = d->cfg.capacity,
		.max_key = d->cfg.max_key,
		.max_value = d->cfg.max_value,
		/* Compaction runs in the maintenance thread (controller.c), so
		 * shrinking and flushing return once evicted and purged; tenants
		 * pay for their pools. */
		.flags = UST_CFG_COMPACT_DEFER | UST_CFG_CHARGE_POOLS,
		.trimmed = ud_ctl_trimmed, /* purge at once, not at its next look */
		.trimmed_arg = d,
	};
	int err;

	err = ust_store_new(&sc, &d->st);
	if (err) {
		snprintf(msg, msglen, "cannot create the store: %s", strerror(-err));
		return err;
	}
	d->lim.max_key = (uint32_t)ust_max_key(d->st);
	d->lim.max_value = (uint32_t)ust_max_value(d->st);
	d->big_in_limit = d->cfg.capacity;
	if (d->big_in_limit < 4 * (size_t)d->lim.max_value)
		d->big_in_limit = 4 * (size_t)d->lim.max_value;
	err = ud_limits_init(d);
	if (err) {
		snprintf(msg, msglen, "cannot set up limits: %s", strerror(-err));
		return err;
	}
	d->started_ns = umono_ns();
	d->boot = d->cfg;
	d->boot.tenants = NULL;
	d->boot.pools = NULL;
	d->boot.ntenants = d->boot.npools = 0;
	d->boot.tenants_cap = d->boot.pools_cap = 0;
	/* Workers read these, never d->cfg, which a reload replaces. */
	d->ring_size = d->cfg.ring_size;
	d->ring_spin_us = d->cfg.ring_spin_us;
	d->worker_slice_us = d->cfg.worker_slice_us;
	d->loadavg_fd = d->ring_spin_us ? open("/proc/loadavg", O_RDONLY | O_CLOEXEC) : -1;
	d->ncpu = ud_cpus();
	d->bench_modes = d->cfg.bench_modes != 0;
	if (d->bench_modes)
		ud_warn("bench_modes = on: tenants may ask for the latency breakdown "
			"modes (null store, timing); a benchmarking aid, not for production");
	if (d->ring_size)
		(void)ud_live_init(d); /* optional: clients fall back to the socket */
	err = ud_loop_init(d, &d->main, 0);
	if (!err)
		d->main.bulk_ok = 1; /* the operator's flushes go to the bulk thread */
	if (!err)
		err = setup_signals(d);
	if (err) {
		snprintf(msg, msglen, "cannot set up the main loop: %s", strerror(-err));
		return err;
	}
	err = open_admin_and_tcp(d, msg, msglen);
	if (!err)
		err = ud_metrics_listen(d, msg, msglen);
	if (!err)
		err = ud_vsock_listen(d, msg, msglen);
	if (!err)
		err = ud_apply_cfg(d, &d->cfg, 0, NULL, msg, msglen);
	if (!err)
		err = ud_persist_restore(d, msg, msglen);
	if (!err)
		err = drop_privileges(d, msg, msglen);
	if (!err && (err = ud_bulk_start(d)) < 0) {
		ud_warn("cannot start the bulk thread (%s): pool flushes run on the workers",
			strerror(-err));
		err = 0;
	}
	if (!err)
		err = start_workers(d, msg, msglen);
	if (!err)
		err = ud_ctl_start(d, msg, msglen);
	if (!err)
		err = ud_metrics_start(d, msg, msglen);
	return err;
}

struct args {
	const char *config;
	const char *run_dir;
	int check;
};

/* Returns 0 to go on, 1 to exit 0 (help), 2 for a usage error. */
static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"run-dir", required_argument, NULL, 'r'},
		{"check-config", no_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int o;

	while ((o = getopt_long(argc, argv, "c:r:thV", opts, NULL)) != -1) {
		switch (o) {
		case 'c': a->config = optarg; break;
		case 'r': a->run_dir = optarg; break;
		case 't': a->check = 1; break;
		case 'h': usage(stdout); return 1;
		case 'V': printf("utmemd %s\n", UD_VERSION); return 1;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "utmemd: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	return 0;
}

/*
 * With persist = FILE, save the persistent pools once every worker has
 * stopped (nothing changes them any more). Returns the exit status: 1 if
 * the save failed, so a service manager notices the loss.
 */
static int save_on_stop(struct ud_daemon *d)
{
	struct uadm_wbuf rep;
	size_t n;
	int err;

	if (!d->cfg.persist[0])
		return 0;
	uadm_wbuf_init(&rep);
	err = ud_persist_save(d, &rep);
	n = rep.len;
	while (n && rep.data[n - 1] == '\n')
		n--;
	ud_log(err ? UADM_LOG_ERROR : UADM_LOG_INFO, "%.*s", (int)n,
	       rep.err ? "out of memory" : (const char *)rep.data);
	uadm_wbuf_free(&rep);
	return err ? 1 : 0;
}

int main(int argc, char **argv)
{
	static struct ud_daemon d;
	struct args a = {0};
	char msg[1024] = "";
	int err, rc;

	err = parse_args(argc, argv, &a);
	if (err)
		return err == 1 ? 0 : 2;
	setvbuf(stderr, NULL, _IONBF, 0);
	ud_log_setup();
	err = a.config ? ud_cfg_load(&d.cfg, a.config, a.run_dir, msg, sizeof(msg))
		       : ud_cfg_default(&d.cfg, a.run_dir);
	if (!err && !a.config) {
		int line;
		err = ud_cfg_check(&d.cfg, &line, msg, sizeof(msg));
	}
	if (err) {
		fprintf(stderr, "utmemd: %s\n", msg[0] ? msg : strerror(-err));
		return 1;
	}
	if (a.check) {
		printf("%s: ok (%zu tenant%s, %zu shared pool%s, capacity %llu bytes)\n",
		       a.config ? a.config : "embedded default", d.cfg.ntenants,
		       UADM_PLURAL(d.cfg.ntenants), d.cfg.npools,
		       UADM_PLURAL(d.cfg.npools), (unsigned long long)d.cfg.capacity);
		ud_cfg_free(&d.cfg);
		return 0;
	}
	atomic_store(&ud_log_level, d.cfg.log_level);
	d.sigfd = -1;
	d.live_fd = -1;
	atomic_init(&d.ctl_bell, -1);
	d.loadavg_fd = -1;
	d.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	raise_fd_limit();
	d.main.epfd = -1;
	d.main.handoff[0] = d.main.handoff[1] = -1;
	pthread_mutex_init(&d.lock, NULL);
	if (prepare_run_dir(&d.cfg) < 0) {
		ud_cfg_free(&d.cfg);
		return 1;
	}
	absolute_config_path(&d.cfg);
	/* Startup reports through the banner or one error line, nothing else. */
	atomic_store(&ud_log_level, d.cfg.log_level < UADM_LOG_WARN ? d.cfg.log_level : UADM_LOG_WARN);
	err = start(&d, msg, sizeof(msg));
	atomic_store(&ud_log_level, d.cfg.log_level);
	if (err) {
		fprintf(stderr, "utmemd: %s\n", msg[0] ? msg : strerror(-err));
		stop_all(&d);
		daemon_free(&d);
		return 1;
	}
	print_banner(&d);
	ud_info("ready (pid %d)", (int)getpid());
	ud_notify_ready(&d);
	while (!d.stop)
		if (ud_loop_once(&d.main, -1) < 0)
			break;
	sd_notify(0, "STOPPING=1");
	stop_all(&d);
	rc = save_on_stop(&d);
	daemon_free(&d);
	ud_info("stopped");
	return rc;
}

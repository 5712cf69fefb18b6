/*
 * controller.c — the maintenance thread and, in it, the host controller
 * (controller.h has the overview; the law is ctl_policy.c, the readers
 * hostmem.c, the rules for operators docs/operations.md).
 *
 * The thread sleeps in poll(2) on an eventfd (stop, or the operator moved
 * the ceiling) and, when the kernel offers it, a PSI trigger on memory
 * pressure (100 ms of stall within 1 s), so a burst of pressure wakes it at
 * once instead of at the next sample. Each wake-up it:
 *   1. compacts the store when a trim happened since the last look or,
 *      once a second, when the heap is fragmented (ust_compact_wanted), in
 *      steps of UD_CTL_COMPACT_STEP entries, then purges;
 *   2. with the controller on and a sample due: reads the host, asks the
 *      law for a capacity, applies it with ust_set_capacity() (which evicts
 *      by the victim rule and purges), logs the change with its reason and
 *      the tenants' shares, and counts it for INFO.
 * Locking: ctl->lock guards the law's state, the ceiling and the figures
 * INFO reads; it is never held across ust_set_capacity() for long (the
 * store has its own locks) except to keep a ceiling change and a decision
 * from crossing.
 */
#include "daemon/controller.h"
#include "daemon/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define UD_CTL_COMPACT_STEP 8192u       /* entries per ust_compact() call */
#define UD_CTL_COMPACT_STEPS 4u         /* calls between two looks at the host */
#define UD_CTL_MAINT_NS 1000000000ull   /* fragmentation check without a trim */
#define UD_CTL_IDLE_MS 20               /* poll timeout when only maintaining */
#define UD_CTL_QUIET_NS 100000000ull    /* no trim this long: start compacting */
#define UD_CTL_PSI_TRIGGER "some 100000 1000000"
#define MiB (1024ull * 1024ull)

struct ud_ctl {
	struct ud_daemon *d;
	pthread_t thread;
	int started;
	int wake_fd;
	int psi_fd;                /* PSI trigger, -1 if none */
	atomic_bool stop;
	/* Serializes decisions with their application and with ceiling
	 * changes; held across ust_set_capacity(). Taken before lock. */
	pthread_mutex_t apply_lock;
	pthread_mutex_t lock;
	enum ud_ctl_mode mode;
	char cgroup[4096];
	char psi_path[4096 + 32];
	struct ud_hm_paths paths;
	uint64_t interval_ns;
	uint64_t cfg_reserve, cfg_floor, cfg_grow; /* 0 = automatic */
	/* Under lock from here on. */
	struct ud_ctl_tune tune;
	struct ud_ctl_state st;
	uint64_t ceiling;
	uint64_t total;            /* the host's (or cgroup's) memory, last seen */
	uint64_t next_sample_ns;
	uint64_t psi_prev_us, psi_prev_ns;
	bool psi_fired;
	struct ud_ctl_sample last;
	enum ud_ctl_why last_why;
	uint64_t last_change_ns, last_from, last_to;
	uint64_t shrinks, grows, shrunk, grown, pressure_events, floor_hits;
	uint64_t sample_errors;
	char shares[256];
	/* maintenance (the thread's own; no lock) */
	uint64_t trims_seen, next_frag_ns;
	bool compacting;
	uint64_t trims_last, trim_last_ns, trim_first_ns; /* debouncing trims */
	uint64_t pass_start_ns;    /* when the last compaction pass began */
	_Atomic uint64_t purges;      /* read by INFO */
	_Atomic uint64_t scrubbed;    /* bytes tenants faulted in outside their
					 allocations in their regions, punched */
	struct ust_compact_info pass; /* the pass under way */
	struct ud_ctl_maint {
		uint64_t runs, moved, moved_bytes, entries_seen, ns;
	} maint;
};

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* ---- maintenance ---- */

/* A tenant wrote outside its allocations in its value region: those pages
 * were punched (ust_regions_poll); say who, and count them. */
static void region_scrubbed(void *arg, uint32_t tenant, uint64_t bytes)
{
	struct ud_ctl *ctl = arg;
	struct ust_tenant_info ti;

	atomic_fetch_add(&ctl->scrubbed, bytes);
	if (ust_tenant_info(ctl->d->st, tenant, &ti) < 0)
		snprintf(ti.name, sizeof(ti.name), "#%u", tenant);
	ud_warn_rl("tenant '%s': %llu bytes written outside its allocations in "
		   "its value region were punched (not charged; a client "
		   "scribbling on shared memory)", ti.name,
		   (unsigned long long)bytes);
}

/*
 * Start a compaction pass when a trim happened (a shrink, flush or
 * destroy) or, once a second, the heap is found fragmented; go on with a
 * started one for UD_CTL_COMPACT_STEPS steps; purge when it completes.
 * Returns true while a pass is under way (the loop then does not sleep,
 * but samples the host between steps). What it did goes into ctl->maint.
 */
static bool maintain(struct ud_ctl *ctl, uint64_t now)
{
	ust_store *st = ctl->d->st;
	uint64_t trims = ust_trim_count(st);
	struct ust_compact_info ci = {0};
	int done = 0;

	/* Value regions: warm caches back to size, hazards past their grace
	 * (cheap when there is nothing to do; punches happen here). */
	ust_regions_poll(st, region_scrubbed, ctl);
	if (trims != ctl->trims_last) {
		/* A shrink, flush or destroy freed memory: give the pages back
		 * now, here rather than in the thread that freed them (a worker
		 * serving other connections, or the admin thread). */
		ust_purge(st);
		atomic_fetch_add(&ctl->purges, 1);
		if (ctl->trims_last == ctl->trims_seen) /* first of a burst */
			ctl->trim_first_ns = now;
		ctl->trims_last = trims;
		ctl->trim_last_ns = now;
	}
	if (ust_shrinking(st))
		return false; /* a pass started goes on after the shrink */
	if (!ctl->compacting) {
		if (trims != ctl->trims_seen) {
			/* The first trim in UD_CTL_MAINT_NS starts a pass at
			 * once (a shrink's survivors packed 100 ms sooner); a
			 * burst of flushes after it trims once each: compact
			 * when it has been quiet for UD_CTL_QUIET_NS (at most
			 * 1 s late). */
			if (now - ctl->pass_start_ns < UD_CTL_MAINT_NS &&
			    now - ctl->trim_last_ns < UD_CTL_QUIET_NS &&
			    now - ctl->trim_first_ns < UD_CTL_MAINT_NS)
				return false; /* look again in UD_CTL_IDLE_MS */
		} else if (now < ctl->next_frag_ns) {
			return false;
		}
		ctl->trims_seen = trims;
		ctl->next_frag_ns = now + UD_CTL_MAINT_NS;
		if (!ust_compact_wanted(st))
			return false;
		ctl->compacting = true;
		ctl->pass_start_ns = now;
		memset(&ctl->pass, 0, sizeof(ctl->pass));
	}
	/* Steps until one moved something (at most ~8 MiB, ust_compact): the
	 * value regions' poll at the top of the next call then gives back
	 * what the moves freed before more moves fault more pages in (a 16
	 * KiB shrink's pass held 70 MiB above the store's margin without). */
	for (unsigned i = 0; i < UD_CTL_COMPACT_STEPS && !done && !ci.bytes_moved &&
			     !atomic_load(&ctl->stop); i++)
		done = ust_compact(st, UD_CTL_COMPACT_STEP, &ci);
	ctl->pass.entries_seen += ci.entries_seen;
	ctl->pass.moved += ci.moved;
	ctl->pass.bytes_moved += ci.bytes_moved;
	ctl->pass.ns += ci.ns;
	pthread_mutex_lock(&ctl->lock);
	ctl->maint.moved += ci.moved;
	ctl->maint.moved_bytes += ci.bytes_moved;
	ctl->maint.entries_seen += ci.entries_seen;
	ctl->maint.ns += ci.ns;
	ctl->maint.runs += done;
	pthread_mutex_unlock(&ctl->lock);
	if (!done)
		return !atomic_load(&ctl->stop);
	ctl->compacting = false;
	ust_purge(st);
	atomic_fetch_add(&ctl->purges, 1);
	ud_debug("maintenance: compaction pass: %llu entries seen, %llu moved (%llu bytes), %.1f ms",
		 (unsigned long long)ctl->pass.entries_seen, (unsigned long long)ctl->pass.moved,
		 (unsigned long long)ctl->pass.bytes_moved, (double)ctl->pass.ns / 1e6);
	return false;
}

/* ---- sampling ---- */

/* Resolve the automatic tunables against what the host has. Under lock. */
static void tune(struct ud_ctl *ctl, uint64_t total)
{
	struct ud_ctl_tune *t = &ctl->tune;

	t->reserve = ctl->cfg_reserve ? ctl->cfg_reserve : max64(64 * MiB, total / 20);
	t->band = max64(16 * MiB, t->reserve / 2);
	t->grow_rate = ctl->cfg_grow ? ctl->cfg_grow : max64(16 * MiB, ctl->ceiling / 64);
	t->grow_gap_ns = 1000000000ull;
	t->hold_ns = 5000000000ull;
	t->settle_ns = max64(2 * ctl->interval_ns, 200000000ull);
	/* The memory of a 1.3 GiB flush showed in A within 1-1.5 s on the
	 * evaluation VM (the maintenance thread punches it in 20 ms polls). */
	t->release_ns = max64(t->settle_ns, 2000000000ull);
	t->psi_pct = 1000;      /* 10 % of the time stalled on memory */
	t->psi_step_pct = 500;  /* give back 5 % of the charge */
	t->psi_step_min = 16 * MiB;
}

/*
 * Fill s with the host and the store now. Returns 0, or -errno when the
 * host could not be read (the controller then keeps the capacity).
 */
static int sample(struct ud_ctl *ctl, struct ud_ctl_sample *s, uint64_t now)
{
	uint64_t charged, reserved, cap, avail = 0, total = 0, psi;
	int err = 0;

	memset(s, 0, sizeof(*s));
	s->now_ns = now;
	ust_totals(ctl->d->st, &charged, &reserved, &cap);
	s->charged = charged;
	if (ctl->mode == UD_CTL_HOST) {
		err = ud_hm_meminfo(&ctl->paths, &avail, &total);
		s->have_avail = !err;
	} else if (ctl->mode == UD_CTL_CGROUP) {
		uint64_t limit, usage, cache;

		err = ud_hm_cgroup(&ctl->paths, &limit, &usage, &cache);
		if (!err && limit == UINT64_MAX) /* no limit: the host is the limit */
			err = ud_hm_meminfo(&ctl->paths, &avail, &total);
		else if (!err) {
			total = limit;
			avail = limit > usage ? limit - usage + cache : cache;
		}
		s->have_avail = !err;
	}
	s->avail = avail;
	if (ud_hm_psi_total(ctl->psi_path, &psi) == 0) {
		if (ctl->psi_prev_ns && now > ctl->psi_prev_ns && psi >= ctl->psi_prev_us) {
			uint64_t dt_us = (now - ctl->psi_prev_ns) / 1000;

			s->stall_pct = dt_us ? (uint32_t)min64(10000, (psi - ctl->psi_prev_us) *
								10000 / dt_us)
					     : 0;
		}
		ctl->psi_prev_us = psi;
		ctl->psi_prev_ns = now;
	} else if (ctl->mode == UD_CTL_PSI) {
		err = -ENOENT;
	}
	pthread_mutex_lock(&ctl->lock);
	if (total && total != UINT64_MAX)
		ctl->total = total;
	tune(ctl, ctl->total);
	s->pressure = ctl->psi_fired || s->stall_pct >= ctl->tune.psi_pct;
	ctl->psi_fired = false;
	s->ceiling = ctl->ceiling;
	s->floor = min64(max64(ctl->cfg_floor ? ctl->cfg_floor : reserved, UD_CAPACITY_MIN),
			 s->ceiling);
	pthread_mutex_unlock(&ctl->lock);
	return err;
}

/* "a=1.0G b=300M" for the log and INFO; caller holds ctl->lock. */
static void format_shares(struct ud_ctl *ctl, uint64_t capacity)
{
	struct ust_tenant_info *ti = NULL;
	struct ud_ctl_tenant *sh = NULL;
	size_t len = 0;
	int n = ust_tenant_list(ctl->d->st, NULL, 0);

	ctl->shares[0] = '\0';
	if (n <= 0)
		return;
	ti = calloc((size_t)n, sizeof(*ti));
	sh = calloc((size_t)n, sizeof(*sh));
	if (ti && sh)
		n = ust_tenant_list(ctl->d->st, ti, (size_t)n) < n ? 0 : n;
	for (int i = 0; ti && sh && i < n; i++)
		sh[i] = (struct ud_ctl_tenant){ ti[i].limits.min, ti[i].limits.max,
						ti[i].limits.weight, 0 };
	if (ti && sh)
		ud_ctl_shares(sh, (size_t)n, capacity);
	for (int i = 0; ti && sh && i < n && len + 1 < sizeof(ctl->shares); i++) {
		char h[32];
		int w = snprintf(ctl->shares + len, sizeof(ctl->shares) - len, "%s%s=%s",
				 i ? " " : "", ti[i].name, ud_human(sh[i].share, h));

		if (w < 0 || (size_t)w >= sizeof(ctl->shares) - len) {
			ctl->shares[len] = '\0';
			break;
		}
		len += (size_t)w;
	}
	free(ti);
	free(sh);
}

/* One sample, one decision, applied and recorded. */
static void control(struct ud_ctl *ctl, uint64_t now)
{
	struct ud_ctl_sample s;
	enum ud_ctl_why why;
	uint64_t from, to;
	char a[32], b[32], c[32], r[32], u[32];

	if (sample(ctl, &s, now) < 0) {
		pthread_mutex_lock(&ctl->lock);
		ctl->sample_errors++;
		pthread_mutex_unlock(&ctl->lock);
		ud_warn_rl("controller: cannot read the %s's memory figures: "
			   "capacity left as it is",
			   ctl->mode == UD_CTL_CGROUP ? "cgroup" : "host");
		return;
	}
	pthread_mutex_lock(&ctl->apply_lock);
	pthread_mutex_lock(&ctl->lock);
	s.ceiling = ctl->ceiling; /* a ceiling change may have come meanwhile */
	s.floor = min64(s.floor, s.ceiling);
	from = ctl->st.capacity;
	to = ud_ctl_decide(&ctl->tune, &ctl->st, &s, &why);
	ctl->last = s;
	if (s.pressure)
		ctl->pressure_events++;
	if (why == UD_CTL_AT_FLOOR && ctl->last_why != UD_CTL_AT_FLOOR) {
		ctl->floor_hits++;
		ud_warn("controller: %s (capacity %s, floor %s, available %s, reserve %s)",
			ud_ctl_why_name(why), ud_human(from, a), ud_human(s.floor, b),
			ud_human(s.avail, c), ud_human(ctl->tune.reserve, r));
	}
	if (to == from) {
		if (why == UD_CTL_AT_FLOOR || ctl->last_why == UD_CTL_AT_FLOOR)
			ctl->last_why = why;
		pthread_mutex_unlock(&ctl->lock);
		pthread_mutex_unlock(&ctl->apply_lock);
		return;
	}
	if (to < from) {
		ctl->shrinks++;
		ctl->shrunk += from - to;
	} else {
		ctl->grows++;
		ctl->grown += to - from;
	}
	ctl->last_why = why;
	ctl->last_change_ns = now;
	ctl->last_from = from;
	ctl->last_to = to;
	pthread_mutex_unlock(&ctl->lock);
	/* Under apply_lock, so that a ceiling change cannot slip in between;
	 * INFO (which takes lock only) is not held up by the evictions. */
	ust_set_capacity(ctl->d->st, to);
	if (to < from)
		ud_recall_for_capacity(ctl->d); /* credit held idle is room too */
	pthread_mutex_lock(&ctl->lock);
	format_shares(ctl, to);
	ud_info("controller: capacity %s -> %s (%s; available %s, reserve %s, charged %s, "
		"stall %u.%02u%%); shares %s",
		ud_human(from, a), ud_human(to, b), ud_ctl_why_name(why),
		s.have_avail ? ud_human(s.avail, c) : "-", ud_human(ctl->tune.reserve, r),
		ud_human(s.charged, u), s.stall_pct / 100, s.stall_pct % 100, ctl->shares);
	pthread_mutex_unlock(&ctl->lock);
	pthread_mutex_unlock(&ctl->apply_lock);
}

/* ---- the thread ---- */

static uint64_t now_ns(void)
{
	return umono_ns();
}

static void *ctl_main(void *arg)
{
	struct ud_ctl *ctl = arg;

	bool busy = false;

	while (!atomic_load(&ctl->stop)) {
		struct pollfd pf[2] = {
			{ .fd = ctl->wake_fd, .events = POLLIN },
			{ .fd = ctl->psi_fd, .events = POLLPRI },
		};
		uint64_t now = now_ns(), wait_ms = busy ? 0 : UD_CTL_IDLE_MS;
		uint64_t v;

		if (ctl->mode != UD_CTL_OFF) {
			uint64_t next;

			pthread_mutex_lock(&ctl->lock);
			next = ctl->next_sample_ns;
			pthread_mutex_unlock(&ctl->lock);
			wait_ms = next > now ? min64(wait_ms, (next - now) / 1000000 + 1) : 0;
		}
		if (poll(pf, ctl->psi_fd >= 0 ? 2 : 1, (int)wait_ms) > 0) {
			if (pf[0].revents & POLLIN)
				(void)!read(ctl->wake_fd, &v, sizeof(v));
			if (ctl->psi_fd >= 0 && (pf[1].revents & (POLLPRI | POLLERR))) {
				pthread_mutex_lock(&ctl->lock);
				ctl->psi_fired = true;
				ctl->next_sample_ns = 0; /* sample now */
				pthread_mutex_unlock(&ctl->lock);
			}
		}
		if (atomic_load(&ctl->stop))
			break;
		now = now_ns();
		if (ctl->mode != UD_CTL_OFF) {
			bool due;

			pthread_mutex_lock(&ctl->lock);
			due = now >= ctl->next_sample_ns;
			if (due)
				ctl->next_sample_ns = now + ctl->interval_ns;
			pthread_mutex_unlock(&ctl->lock);
			if (due)
				control(ctl, now);
		}
		busy = maintain(ctl, now_ns());
	}
	return NULL;
}

/* Arm a PSI trigger on path; -1 when the kernel or permissions say no. */
static int psi_trigger(const char *path)
{
	int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (write(fd, UD_CTL_PSI_TRIGGER, strlen(UD_CTL_PSI_TRIGGER) + 1) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int ud_ctl_start(struct ud_daemon *d, char *msg, size_t msglen)
{
	struct ud_ctl *ctl = calloc(1, sizeof(*ctl));
	const struct ud_cfg *cfg = &d->cfg;
	uint64_t cap = 0;
	int err;

	if (!ctl) {
		snprintf(msg, msglen, "controller: out of memory");
		return -ENOMEM;
	}
	ctl->d = d;
	ctl->psi_fd = -1;
	pthread_mutex_init(&ctl->lock, NULL);
	pthread_mutex_init(&ctl->apply_lock, NULL);
	if (ud_ctl_parse_mode(cfg->controller, &ctl->mode, ctl->cgroup,
			      sizeof(ctl->cgroup)) < 0) {
		snprintf(msg, msglen, "controller '%s': expected off, host, psi or cgroup:PATH",
			 cfg->controller);
		free(ctl);
		return -EINVAL;
	}
	ctl->paths.meminfo = "/proc/meminfo";
	ctl->paths.cgroup = ctl->mode == UD_CTL_CGROUP ? ctl->cgroup : NULL;
	if (getenv("UTMEMD_TEST_MEMINFO")) /* e2e tests feed the host's figures */
		ctl->paths.meminfo = getenv("UTMEMD_TEST_MEMINFO");
	snprintf(ctl->psi_path, sizeof(ctl->psi_path), "%s", "/proc/pressure/memory");
	if (ctl->mode == UD_CTL_CGROUP) {
		char p[4096 + 32];

		snprintf(p, sizeof(p), "%s/memory.pressure", ctl->cgroup);
		if (access(p, R_OK) == 0)
			snprintf(ctl->psi_path, sizeof(ctl->psi_path), "%s", p);
	}
	if (ctl->mode == UD_CTL_CGROUP) {
		uint64_t limit, usage, cache;

		/* A path that is no memory cgroup would fail every sample
		 * for good: refuse it now, naming it. */
		err = ud_hm_cgroup(&ctl->paths, &limit, &usage, &cache);
		if (err) {
			snprintf(msg, msglen, "controller cgroup:%s: cannot read its "
				 "memory limit and usage: %s", ctl->cgroup, strerror(-err));
			free(ctl);
			return err;
		}
	}
	if (getenv("UTMEMD_TEST_PSI"))
		snprintf(ctl->psi_path, sizeof(ctl->psi_path), "%s", getenv("UTMEMD_TEST_PSI"));
	ctl->interval_ns = (uint64_t)cfg->controller_interval_ms * 1000000ull;
	ctl->cfg_reserve = cfg->controller_reserve;
	ctl->cfg_floor = cfg->controller_floor;
	ctl->cfg_grow = cfg->controller_grow;
	ust_totals(d->st, NULL, NULL, &cap);
	ctl->ceiling = cap;
	ctl->st.capacity = cap;
	ctl->total = ud_phys_mem();
	tune(ctl, ctl->total);
	ctl->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ctl->wake_fd < 0) {
		err = -errno;
		snprintf(msg, msglen, "controller: eventfd: %s", strerror(errno));
		free(ctl);
		return err;
	}
	if (ctl->mode != UD_CTL_OFF && !getenv("UTMEMD_TEST_PSI"))
		ctl->psi_fd = psi_trigger(ctl->psi_path);
	d->ctl = ctl;
	err = -pthread_create(&ctl->thread, NULL, ctl_main, ctl);
	if (err) {
		snprintf(msg, msglen, "controller: cannot start its thread: %s", strerror(-err));
		d->ctl = NULL;
		close(ctl->wake_fd);
		if (ctl->psi_fd >= 0)
			close(ctl->psi_fd);
		free(ctl);
		return err;
	}
	ctl->started = 1;
	pthread_setname_np(ctl->thread, "utmemd-ctl");
	atomic_store_explicit(&d->ctl_bell, ctl->wake_fd, memory_order_release);
	if (ctl->mode != UD_CTL_OFF) {
		char a[32], b[32], c[32];
		uint64_t grow;

		/* The thread runs: it re-tunes under the lock. */
		pthread_mutex_lock(&ctl->lock);
		grow = ctl->tune.grow_rate;
		pthread_mutex_unlock(&ctl->lock);
		ud_info("controller: on (%s%s%s), every %llu ms; reserve %s, growth %s/s, "
			"floor %s; pressure trigger %s",
			ctl->mode == UD_CTL_HOST ? "host MemAvailable" :
			ctl->mode == UD_CTL_PSI ? "memory pressure" : "cgroup ",
			ctl->mode == UD_CTL_CGROUP ? ctl->cgroup : "",
			ctl->mode == UD_CTL_PSI ? "" : " and memory pressure",
			(unsigned long long)(ctl->interval_ns / 1000000),
			ctl->cfg_reserve ? ud_human(ctl->cfg_reserve, a) : "5% of memory",
			ud_human(grow, b),
			ctl->cfg_floor ? ud_human(ctl->cfg_floor, c) : "the tenants' mins",
			ctl->psi_fd >= 0 ? "armed" : "not available (sampling only)");
	}
	return 0;
}

void ud_ctl_stop(struct ud_daemon *d)
{
	struct ud_ctl *ctl = d->ctl;
	uint64_t one = 1;

	if (!ctl)
		return;
	atomic_store(&d->ctl_bell, -1);
	atomic_store(&ctl->stop, true);
	(void)!write(ctl->wake_fd, &one, sizeof(one));
	if (ctl->started)
		pthread_join(ctl->thread, NULL);
	close(ctl->wake_fd);
	if (ctl->psi_fd >= 0)
		close(ctl->psi_fd);
	pthread_mutex_destroy(&ctl->lock);
	pthread_mutex_destroy(&ctl->apply_lock);
	d->ctl = NULL;
	free(ctl);
}

void ud_ctl_trimmed(void *arg)
{
	struct ud_daemon *d = arg;
	int fd = atomic_load_explicit(&d->ctl_bell, memory_order_acquire);
	uint64_t one = 1;

	if (fd >= 0)
		(void)!write(fd, &one, sizeof(one)); /* EAGAIN: it wakes anyway */
}

int ud_ctl_set_ceiling(struct ud_daemon *d, uint64_t capacity)
{
	struct ud_ctl *ctl = d->ctl;
	/* An operator's change: the eviction goes to the bulk thread. */
	unsigned later = d->store_later ? UST_SHRINK_LATER : 0;
	uint64_t one = 1;
	int err = 0;

	if (!ctl || ctl->mode == UD_CTL_OFF) {
		if (ctl) {
			pthread_mutex_lock(&ctl->lock);
			ctl->ceiling = ctl->st.capacity = capacity;
			pthread_mutex_unlock(&ctl->lock);
		}
		return ust_set_capacity_ex(d->st, capacity, later);
	}
	pthread_mutex_lock(&ctl->apply_lock);
	pthread_mutex_lock(&ctl->lock);
	ctl->ceiling = capacity;
	if (ctl->st.capacity > capacity) {
		char a[32], b[32];

		ud_info("controller: capacity %s -> %s (%s)", ud_human(ctl->st.capacity, a),
			ud_human(capacity, b), ud_ctl_why_name(UD_CTL_SHRINK_CEILING));
		ctl->shrinks++;
		ctl->shrunk += ctl->st.capacity - capacity;
		ctl->last_why = UD_CTL_SHRINK_CEILING;
		ctl->last_change_ns = umono_ns();
		ctl->last_from = ctl->st.capacity;
		ctl->last_to = capacity;
		ctl->st.capacity = capacity;
		pthread_mutex_unlock(&ctl->lock);
		err = ust_set_capacity_ex(d->st, capacity, later);
		pthread_mutex_lock(&ctl->lock);
	}
	tune(ctl, ctl->total);
	ctl->next_sample_ns = 0;
	pthread_mutex_unlock(&ctl->lock);
	pthread_mutex_unlock(&ctl->apply_lock);
	(void)!write(ctl->wake_fd, &one, sizeof(one));
	return err;
}

#define ITEM(k, ...)                                                          \
	do {                                                                  \
		if (*n < cap) {                                               \
			out[*n].key = (k);                                    \
			snprintf(out[*n].value, sizeof(out[*n].value), __VA_ARGS__); \
			(*n)++;                                               \
		}                                                             \
	} while (0)

void ud_ctl_info(struct ud_daemon *d, struct ud_info_item *out, size_t cap, size_t *n)
{
	static const char *const modes[] = { "off", "host", "cgroup", "psi" };
	struct ud_ctl *ctl = d->ctl;
	uint64_t now = umono_ns();

	if (!ctl)
		return;
	pthread_mutex_lock(&ctl->lock);
	ITEM("controller", "%s%s%.200s", modes[ctl->mode], ctl->mode == UD_CTL_CGROUP ? ":" : "",
	     ctl->mode == UD_CTL_CGROUP ? ctl->cgroup : "");
	if (ctl->mode != UD_CTL_OFF) {
		ITEM("controller_ceiling_bytes", "%llu", (unsigned long long)ctl->ceiling);
		ITEM("controller_capacity_bytes", "%llu", (unsigned long long)ctl->st.capacity);
		ITEM("controller_floor_bytes", "%llu", (unsigned long long)ctl->last.floor);
		ITEM("controller_reserve_bytes", "%llu", (unsigned long long)ctl->tune.reserve);
		ITEM("controller_available_bytes", "%llu", (unsigned long long)ctl->last.avail);
		ITEM("controller_stall_pct", "%u.%02u", ctl->last.stall_pct / 100,
		     ctl->last.stall_pct % 100);
		ITEM("controller_shrinks", "%llu", (unsigned long long)ctl->shrinks);
		ITEM("controller_grows", "%llu", (unsigned long long)ctl->grows);
		ITEM("controller_shrunk_bytes", "%llu", (unsigned long long)ctl->shrunk);
		ITEM("controller_grown_bytes", "%llu", (unsigned long long)ctl->grown);
		ITEM("controller_pressure_samples", "%llu", (unsigned long long)ctl->pressure_events);
		ITEM("controller_floor_hits", "%llu", (unsigned long long)ctl->floor_hits);
		ITEM("controller_sample_errors", "%llu", (unsigned long long)ctl->sample_errors);
		ITEM("controller_last_change", "%s", ctl->last_change_ns ? ud_ctl_why_name(ctl->last_why)
									 : "none");
		if (ctl->last_change_ns) /* "-" before the first: not 0 */
			ITEM("controller_last_change_ms_ago", "%llu",
			     (unsigned long long)((now - ctl->last_change_ns) / 1000000));
		else
			ITEM("controller_last_change_ms_ago", "-");
		ITEM("controller_shares", "%s", ctl->shares[0] ? ctl->shares : "-");
	}
	ITEM("compaction_runs", "%llu", (unsigned long long)ctl->maint.runs);
	ITEM("purges", "%llu", (unsigned long long)atomic_load(&ctl->purges));
	ITEM("region_scrubbed_bytes", "%llu",
	     (unsigned long long)atomic_load(&ctl->scrubbed));
	ITEM("compaction_moved", "%llu", (unsigned long long)ctl->maint.moved);
	ITEM("compaction_moved_bytes", "%llu", (unsigned long long)ctl->maint.moved_bytes);
	ITEM("compaction_ms", "%.1f", (double)ctl->maint.ns / 1e6);
	pthread_mutex_unlock(&ctl->lock);
}

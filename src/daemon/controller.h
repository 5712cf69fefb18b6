/*
 * controller.h — utmemd's host controller and maintenance thread (issue 10).
 *
 * The controller makes the store's capacity follow the host: it samples how
 * much memory the host has to spare (MemAvailable, a memory cgroup's limit
 * and usage, or memory pressure stall information) and moves the capacity
 * between a floor and the operator's capacity (the ceiling): down at once
 * when the host runs short, back up slowly when memory is free again. The
 * store turns a lower capacity into evictions by its victim rule, which is
 * what recomputes the tenants' shares (min + weight-proportional part of
 * the rest, capped at max); the controller computes those shares too, to
 * log and report them. The control law, its hysteresis, rate limits and
 * floor are in docs/operations.md ("Host controller").
 *
 * The same thread does the store's maintenance whether the controller is on
 * or off: after every shrink, flush or destroy it purges the freed pages at
 * once and, once such trims stop coming, compacts in bounded steps and
 * purges again (utmemd creates its store with UST_CFG_COMPACT_DEFER, so the
 * thread that shrank or flushed returns as soon as the entries are gone).
 *
 * Layers, so each can be tested alone:
 *   - the law (ctl_policy.c): pure functions of numbers;
 *   - the readers (hostmem.c): /proc/meminfo, /proc/pressure/memory and a
 *     cgroup's files, under paths a test may point elsewhere;
 *   - the thread (controller.c): sampling, applying, logging, statistics.
 * Names carry the prefix ud_ctl_ (thread, law) and ud_hm_ (readers).
 */
#ifndef UTMEM_DAEMON_CONTROLLER_H
#define UTMEM_DAEMON_CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- what the controller follows ---- */

enum ud_ctl_mode {
	UD_CTL_OFF = 0,
	UD_CTL_HOST,   /* MemAvailable, plus memory pressure as a fast alarm */
	UD_CTL_CGROUP, /* a memory cgroup's limit and usage, plus pressure */
	UD_CTL_PSI,    /* memory pressure only (no level to aim at) */
};

/*
 * Parse the `controller` setting: off, host, psi or cgroup:PATH (an
 * absolute directory). Sets *mode and copies PATH to path (pathlen bytes).
 * Returns 0 or -EINVAL.
 */
int ud_ctl_parse_mode(const char *text, enum ud_ctl_mode *mode, char *path,
		      size_t pathlen);

/* ---- the law (ctl_policy.c) ---- */

/* Tunables, resolved (no zero "auto" values left). */
struct ud_ctl_tune {
	uint64_t reserve;     /* R: memory the host keeps free, bytes */
	uint64_t band;        /* H: hysteresis band below the target, bytes */
	uint64_t grow_rate;   /* bytes per second the capacity may grow */
	uint64_t grow_gap_ns; /* at most one growth step this often */
	uint64_t hold_ns;     /* no growth this long after a shrink */
	uint64_t settle_ns;   /* no second level-driven shrink before this */
	uint64_t release_ns;  /* nor this long after the charge fell by H */
	uint32_t psi_pct;     /* stall share (percent x 100) that counts as pressure */
	uint32_t psi_step_pct;/* shrink by this share of the charge on pressure (x 100) */
	uint64_t psi_step_min;/* ... and at least this many bytes */
};

/* One sample of the host and the store. */
struct ud_ctl_sample {
	uint64_t now_ns;
	bool have_avail;      /* avail is meaningful (host, cgroup modes) */
	uint64_t avail;       /* A: memory the host could give, bytes */
	bool pressure;        /* stall share above psi_pct since the last sample */
	uint32_t stall_pct;   /* that share, percent x 100 (for the record) */
	uint64_t charged;     /* U: what the store charges now */
	uint64_t ceiling;     /* the operator's capacity */
	uint64_t floor;       /* never below this (<= ceiling) */
};

/* What the law remembers between samples. */
struct ud_ctl_state {
	uint64_t capacity;      /* C: applied now */
	uint64_t last_shrink_ns;
	uint64_t last_grow_ns;
	uint64_t hold_until_ns;
	uint64_t charged;         /* U at the previous sample */
	uint64_t last_release_ns; /* when U last fell by more than H */
};

enum ud_ctl_why {
	UD_CTL_KEEP = 0,
	UD_CTL_SHRINK_LEVEL,    /* A fell below R: target U + A - R */
	UD_CTL_SHRINK_PSI,      /* memory pressure */
	UD_CTL_SHRINK_CEILING,  /* the operator lowered the capacity */
	UD_CTL_GROW,            /* A above R + H for long enough */
	UD_CTL_AT_FLOOR,        /* would shrink, but the floor stops it */
};

/* A word for the log and the statistics. */
const char *ud_ctl_why_name(enum ud_ctl_why why);

/*
 * The capacity to apply after sample s (may equal st->capacity), and why.
 * Updates st (capacity and timestamps) when it changes. Pure.
 *
 *   target T = U + A - R      (what the store may hold with R left free)
 *   shrink when C > T:        C = max(floor, T - H/2), at once
 *   shrink on pressure:       C = max(floor, min(C, U) - max(step% U, step_min))
 *   grow when C < T - H:      C += min(grow_rate * dt, T - H/2 - C),
 *                             at most once per grow_gap, not within hold
 *                             after a shrink that evicted (new C < U;
 *                             dt capped at 1 s)
 *   a second level shrink waits settle (the last one's memory may not
 *   show in A yet), and any level shrink waits release after U fell by
 *   more than H between two samples (a flush's or a removal's freed
 *   memory goes back to the host over a second or so: until then it is
 *   in neither U nor A), unless A < R/2
 *   always:                   floor <= C <= ceiling
 */
uint64_t ud_ctl_decide(const struct ud_ctl_tune *t, struct ud_ctl_state *st,
		       const struct ud_ctl_sample *s, enum ud_ctl_why *why);

/* One tenant as the share computation sees it. */
struct ud_ctl_tenant {
	uint64_t min, max;
	uint32_t weight;
	uint64_t share; /* out */
};

/*
 * Each tenant's share of capacity: its min, plus the rest of the capacity
 * above all mins split by weight, no tenant above its max (what a capped
 * tenant cannot take is split among the others again). If the mins exceed
 * the capacity they are scaled down alike. Pure.
 */
void ud_ctl_shares(struct ud_ctl_tenant *t, size_t n, uint64_t capacity);

/* ---- the readers (hostmem.c) ---- */

/* Where the readers look; tests point them at files of their own. */
struct ud_hm_paths {
	const char *meminfo;   /* /proc/meminfo */
	const char *psi;       /* /proc/pressure/memory */
	const char *cgroup;    /* a cgroup directory (v1 or v2 files), or NULL */
};

/* MemAvailable and MemTotal in bytes. Returns 0 or -errno. */
int ud_hm_meminfo(const struct ud_hm_paths *p, uint64_t *avail, uint64_t *total);
/*
 * The cgroup's limit, usage and reclaimable page cache (inactive file
 * pages), v2 (memory.max, memory.current, memory.stat "inactive_file") or
 * v1 (memory.limit_in_bytes, memory.usage_in_bytes, memory.stat
 * "total_inactive_file"). A limit of "max" or above 2^62 reads as
 * UINT64_MAX. Returns 0 or -errno.
 */
int ud_hm_cgroup(const struct ud_hm_paths *p, uint64_t *limit, uint64_t *usage,
		 uint64_t *cache);
/*
 * The "some" total stall time in microseconds from a PSI file (the
 * cgroup's memory.pressure when it has one, else /proc/pressure/memory).
 * Returns 0 or -errno (-ENOENT: no PSI on this kernel).
 */
int ud_hm_psi_total(const char *path, uint64_t *total_us);

/* ---- the thread (controller.c) ---- */

struct ud_daemon;
struct ud_info_item;

/*
 * Start the maintenance thread, and the controller in it when the
 * configuration turns it on. Returns 0 or -errno with a reason in msg.
 */
int ud_ctl_start(struct ud_daemon *d, char *msg, size_t msglen);
/* Stop and join the thread (idempotent). Every thread that may call into
 * the store (workers, bulk thread) has stopped before. */
void ud_ctl_stop(struct ud_daemon *d);
/*
 * The store's trimmed hook (ust_config; arg is the daemon): a shrink, flush
 * or destroy just freed memory, so wake the maintenance thread to give it
 * back now instead of at its next 20 ms look. Any thread; no lock.
 */
void ud_ctl_trimmed(void *arg);
/*
 * The operator's capacity changed (config, reload, utmemctl): with the
 * controller on it is the ceiling, applied at once when lower than the
 * capacity in force, reached by growing when higher; with it off the store
 * gets it directly. Returns what ust_set_capacity returns.
 */
int ud_ctl_set_ceiling(struct ud_daemon *d, uint64_t capacity);
/* Append the controller's INFO items (key/value) at out[*n..cap). */
void ud_ctl_info(struct ud_daemon *d, struct ud_info_item *out, size_t cap, size_t *n);

#endif /* UTMEM_DAEMON_CONTROLLER_H */

/*
 * config.h — utmemd's configuration records and the one table of settings
 * that parses, checks and prints every key, whoever gives it: the config
 * file (config.c), the admin protocol (admin_cfg.c) and utmemctl, which
 * links the same table (settings.c) to check a value before it sends it.
 *
 * A setting is one entry of ud_settings[] (settings.c): its key, its
 * section (scope), where it lives in the section's record, how its text is
 * parsed and printed, its bounds and flags. Adding a setting is adding a
 * field to a record below and one entry to that table; the config file,
 * `utmemctl config get/set/save`, `utmemctl tenant add/set --KEY VALUE` and
 * the writer that saves runtime changes back to the file all follow.
 * Checks that involve more than one value (the tenants' reserved minimums
 * against the capacity, unique sockets and tokens, pools naming tenants that
 * exist) are in ud_cfg_check(), which every path runs before anything is
 * applied.
 */
#ifndef UTMEM_DAEMON_CONFIG_H
#define UTMEM_DAEMON_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "proto/admin.h"
#include "store/store.h"

#define UD_PATH_MAX 108 /* sizeof(sun_path) */
#define UD_TOKEN_MAX UADM_TOKEN_MAX
#define UD_ACCT_MAX 32  /* a user or group name */
/* The smallest capacity an operator may set: below it nothing useful fits. */
#define UD_CAPACITY_MIN (64u << 10)

/* The sections of a config file, and the records they fill. */
enum ud_scope {
	UD_SCOPE_MAIN,   /* [utmemd]      struct ud_cfg */
	UD_SCOPE_TENANT, /* [tenant NAME] struct ud_cfg_tenant */
	UD_SCOPE_POOL,   /* [pool NAME]   struct ud_cfg_pool */
	UD_SCOPE_N_,
};

struct ud_cfg_tenant {
	char name[UST_NAME_MAX + 1];
	uint64_t given;           /* bit i: the scope's setting i was given */
	uint64_t min, max;        /* max is resolved to the capacity if not given */
	uint32_t weight;
	char socket[UD_PATH_MAX]; /* "" = <name>.sock (default tenant: utmemd.sock) */
	char token[UD_TOKEN_MAX + 1];
	unsigned mode;            /* socket file mode */
	char owner[UD_ACCT_MAX + 1]; /* socket owner, "" = utmemd's user */
	char group[UD_ACCT_MAX + 1]; /* socket group, "" = utmemd's group */
	uid_t uid;                /* owner resolved, (uid_t)-1 if "" */
	gid_t gid;                /* group resolved, (gid_t)-1 if "" */
	/* Per-tenant limits (limits.c); 0 = not given, the default applies. */
	uint64_t inflight;        /* bytes held for it in flight (buffers, replies) */
	unsigned max_conns;       /* open connections */
	unsigned max_pools;       /* private pools */
	/* A VM tenant's ivshmem region (ivshmem.c, docs/vm.md); "" = none. */
	char ivshmem[2 * UD_PATH_MAX];      /* the region file */
	uint64_t ivshmem_size;              /* bytes, a power of two */
	char ivshmem_doorbell[UD_PATH_MAX]; /* doorbell server socket, "" = none */
	unsigned vsock_cid;                 /* its guest's vsock CID, 0 = none */
	int line;                 /* of the section header in the file, 0 if none */
};

#define UD_IVSHMEM_DEFAULT_SIZE (4u << 20)

struct ud_cfg_pool {
	char name[UST_NAME_MAX + 1];
	uint64_t given;
	unsigned kind;            /* UST_POOL_EPHEMERAL or 0; SHARED implied */
	char (*tenants)[UST_NAME_MAX + 1];
	size_t ntenants;          /* right after tenants (a name list, settings.c) */
	/* Tenants that may also flush and destroy it (each one in tenants). */
	char (*managers)[UST_NAME_MAX + 1];
	size_t nmanagers;         /* right after managers */
	int line;
	int tenants_line;         /* where "tenants =" was given */
	int managers_line;        /* where "manage =" was given */
};

struct ud_cfg {
	char path[4096];          /* the file read, "" for the embedded default */
	uint64_t given;
	uint64_t capacity;
	unsigned capacity_pct;    /* capacity given as N% of memory (0: a size) */
	size_t max_key, max_value;
	unsigned workers;
	char run_dir[4096];       /* made absolute at startup */
	char file_run_dir[4096];  /* run_dir as the file gave it (for saving) */
	int tcp_on;
	char tcp_host[64];
	uint16_t tcp_port;
	uint64_t ring_size;       /* bytes of each shared-memory ring, 0 = off */
	unsigned ring_spin_us;    /* worker polls rings this long before sleeping */
	unsigned worker_slice_us; /* serving threads' scheduler slice, 0 = default */
	unsigned vsock_port;      /* AF_VSOCK listener (vsock.c), 0 = off */
	/* Connection timeouts in seconds (limits.c; 0 = never where allowed). */
	unsigned idle_timeout;    /* nothing asked, nothing pending */
	unsigned client_timeout;  /* replies pending, none taken by the client */
	unsigned frame_timeout;   /* a frame begun and not finished */
	unsigned auth_timeout;    /* TCP connection without a good HELLO */
	unsigned max_unauth;      /* TCP connections not authenticated yet */
	int log_level;
	int metrics_on;           /* Prometheus endpoint (metrics.c) */
	unsigned bench_modes;     /* 1: tenants may ask for the latency
				     breakdown modes (BENCH); never in production */
	char metrics_host[64];
	uint16_t metrics_port;
	char user[UD_ACCT_MAX + 1]; /* drop to this user after binding, "" = stay */
	char persist[4096];       /* file of saved persistent pools, "" = off */
	/* Host controller (controller.c); restart to change. */
	char controller[4096 + 8];   /* off, host, psi or cgroup:PATH */
	unsigned controller_interval_ms; /* default 20 */
	uint64_t controller_reserve; /* 0 = 5% of the host (or cgroup), >= 64M */
	uint64_t controller_floor;   /* 0 = the tenants' mins */
	uint64_t controller_grow;    /* bytes/s; 0 = 1/64 of the capacity, >= 16M */
	struct ud_cfg_tenant *tenants;
	size_t ntenants;
	struct ud_cfg_pool *pools;
	size_t npools;
	size_t tenants_cap, pools_cap; /* room in tenants and pools (config.c) */
};

/* ---- the settings table (settings.c) ---- */

/* ud_setting.flags */
#define UD_SF_RESTART (1u << 0)  /* a running utmemd keeps its value until restart */
#define UD_SF_REQUIRED (1u << 1) /* must be given in its section */
#define UD_SF_SECRET (1u << 2)   /* never sent or logged: CONFIG_GET masks it */
#define UD_SF_CREATE (1u << 3)   /* may be given when the section is created,
				    not changed later (a tenant's socket) */
#define UD_SF_RUNPATH (1u << 5)  /* a path, relative ones in the run
				    directory: change reports show the
				    file (ud_run_file) */
#define UD_SF_DERIVED (1u << 4)  /* not given, utmemd uses a value it works
				    out (admin_cfg.c unset_value): config get
				    and change reports show that, not 0 */

struct ud_setting;
/* Parse text into the field; 0, or -EINVAL with "KEY 'TEXT': ..." in msg. */
typedef int (*ud_parse_fn)(const struct ud_setting *s, void *field,
			   const char *text, char *msg, size_t msglen);
/* Print the field as parse accepts it. */
typedef void (*ud_format_fn)(const struct ud_setting *s, const void *field,
			     char *out, size_t outlen);

struct ud_setting {
	const char *key;
	enum ud_scope scope;
	size_t off;         /* of the field in the scope's record */
	size_t size;        /* of the field */
	ud_parse_fn parse;
	ud_format_fn format;
	uint64_t lo, hi;    /* bounds, for the parsers that take them */
	unsigned flags;     /* UD_SF_* */
	const char *help;   /* one line for utmemctl and the documentation */
};

extern const struct ud_setting ud_settings[];
extern const size_t ud_nsettings;

/* "utmemd", "tenant", "pool". */
const char *ud_scope_name(enum ud_scope scope);
/* The setting KEY of a scope (dashes match underscores), or NULL. */
const struct ud_setting *ud_setting_find(enum ud_scope scope, const char *key);
/*
 * keys[i] names the same setting as one of keys[0..i-1] (dashes match
 * underscores): that setting, else NULL. A key given twice is refused
 * alike in a file, by utmemctl and by utmemd's CONFIG_SET.
 */
const struct ud_setting *ud_setting_repeated(enum ud_scope scope,
					     const char *const *keys, size_t i);
/* Decimal digits only (no sign, blank or base prefix), in [lo, hi]: 0 or -EINVAL. */
int ud_parse_uint(const char *s, unsigned long long lo, unsigned long long hi,
		  unsigned long long *out);
/* Index of s among its scope's settings: its bit in a record's `given`. */
unsigned ud_setting_bit(const struct ud_setting *s);
/* The record's `given` mask for a record of s's scope. */
uint64_t *ud_setting_given(enum ud_scope scope, void *rec);
/*
 * Parse text into rec (a record of the key's scope) and mark it given.
 * Returns 0; -ENOENT for an unknown key (msg names the known ones);
 * -EINVAL for a bad value (msg: "KEY 'TEXT': expected ...").
 */
int ud_setting_parse(enum ud_scope scope, void *rec, const char *key,
		     const char *text, char *msg, size_t msglen);
/* Print rec's value of s into out. */
void ud_setting_format(const struct ud_setting *s, const void *rec, char *out,
		       size_t outlen);
/* The value of a setting in rec is its default (not given)? */
int ud_setting_is_given(const struct ud_setting *s, const void *rec);
/* A one-line list of a scope's keys, for messages. */
void ud_setting_keys(enum ud_scope scope, char *out, size_t outlen);

/* A size for people: 512M, 1.5G, 1000 (bytes). */
const char *ud_human(uint64_t v, char buf[32]);
/* Physical memory in bytes (0 if unknown). */
uint64_t ud_phys_mem(void);
/* CPUs online, at least 1 (the default worker count, at most 64; the
 * workers' spin, ring_wait.c). */
unsigned ud_cpus(void);

/* The serving threads' scheduler slice (sched.c): the default, and the
 * range the kernel accepts for a thread's own slice (0 = don't ask). */
#define UD_DEFAULT_SLICE_US 100u
#define UD_MIN_SLICE_US 100u
#define UD_MAX_SLICE_US 100000u
/* Names follow proto/name.h (UNAME_RULE), as the store requires. */
int ud_valid_name(const char *s);

/* ---- configuration records (config.c, settings.c) ---- */

/*
 * Fill cfg with the embedded default (one tenant "default"); run_dir may be
 * NULL for ./run/utmem. Returns 0 or -ENOMEM.
 */
int ud_cfg_default(struct ud_cfg *cfg, const char *run_dir);
/* cfg's defaults with no tenant; run_dir NULL = ./run/utmem. */
void ud_cfg_init(struct ud_cfg *cfg, const char *run_dir);
/* A record with its defaults (weight 1, mode 0660, no owner). */
void ud_cfg_tenant_init(struct ud_cfg_tenant *t, const char *name);
void ud_cfg_pool_init(struct ud_cfg_pool *p, const char *name);

/*
 * Read an INI file into cfg (which it initialises). run_dir overrides the
 * file's run_dir when not NULL. Runs ud_cfg_check(). Returns 0, or -EINVAL
 * with one line naming file:line and the problem in msg (msglen bytes).
 */
int ud_cfg_load(struct ud_cfg *cfg, const char *path, const char *run_dir,
		char *msg, size_t msglen);
void ud_cfg_free(struct ud_cfg *cfg);
/* Deep copy. Returns 0 or -ENOMEM (dst is then empty). */
int ud_cfg_copy(struct ud_cfg *dst, const struct ud_cfg *src);
/* Deep copy of a pool record. Returns 0 or -ENOMEM (dst then holds no list). */
int ud_cfg_pool_copy(struct ud_cfg_pool *dst, const struct ud_cfg_pool *src);

/*
 * The checks across values, shared by every path: resolves each tenant's
 * max that was not given to the capacity; refuses reserved minimums adding
 * up past the capacity, min > max, shared sockets or tokens, a socket path
 * too long (the admin socket's included), a pool without kind or naming an
 * unknown tenant. Returns 0, or -EINVAL with the message
 * in msg and the offending record's file line in *line (0 if none).
 */
int ud_cfg_check(struct ud_cfg *cfg, int *line, char *msg, size_t msglen);

/*
 * Whether a socket utmemd binds, name in directory dir (name as is when it
 * starts with '/'), has a path too long for sun_path (UD_PATH_MAX - 1
 * bytes): -ENAMETOOLONG with "WHAT path too long (N bytes, at most M):
 * PATH" in msg (the path's head and tail when it is long: the directory
 * and the file name are what to fix), else 0. One message for the admin
 * socket and every tenant's, at check and at start.
 */
/*
 * The file a path setting names (a socket, a region file): a relative name
 * is in the run directory, a relative run directory in the working
 * directory; "//" and "/./" collapsed, ".." kept. malloc'ed, or NULL when
 * out of memory.
 */
char *ud_run_file(const char *run_dir, const char *name);
int ud_socket_too_long(const char *what, const char *dir, const char *name,
		       char *msg, size_t msglen);
/* A tenant's socket as the config names it (relative to the run directory
 * or not): its socket setting, or NAME.sock (utmemd.sock for "default"). */
void ud_socket_name(const struct ud_cfg_tenant *t, char *out, size_t outlen);

/* Add a tenant or pool record (defaults filled); NULL on -ENOMEM. */
struct ud_cfg_tenant *ud_cfg_add_tenant(struct ud_cfg *cfg, const char *name);
struct ud_cfg_pool *ud_cfg_add_pool(struct ud_cfg *cfg, const char *name);
struct ud_cfg_tenant *ud_cfg_find_tenant(const struct ud_cfg *cfg, const char *name);
/*
 * For a loop that looks up many names in cfg: *m maps cfg's tenants by name
 * (one pass), and ud_cfg_tenant_in finds one through it; cfg must not gain
 * or lose a tenant meanwhile. Out of memory, *m stays empty and the lookups
 * search cfg instead. Free *m with ud_names_free().
 */
struct ud_names;
void ud_cfg_index(const struct ud_cfg *cfg, struct ud_names *m);
const struct ud_cfg_tenant *ud_cfg_tenant_in(const struct ud_cfg *cfg,
					     const struct ud_names *m,
					     const char *name);
struct ud_cfg_pool *ud_cfg_find_pool(const struct ud_cfg *cfg, const char *name);
/* Drop a tenant's record and its name from every pool's list. */
void ud_cfg_remove_tenant(struct ud_cfg *cfg, const char *name);

/*
 * Write cfg as an INI file that ud_cfg_load reads back to the same
 * settings: every value that was given (in the file or at runtime), in
 * table order. Returns 0 or -errno.
 */
int ud_cfg_write(const struct ud_cfg *cfg, FILE *f);

#endif /* UTMEM_DAEMON_CONFIG_H */

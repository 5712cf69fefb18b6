/*
 * daemon.h — utmemd's internal interfaces: configuration, logging, the
 * tenant table and its listeners, the event loops and their connections,
 * and the request dispatchers. Names carry the prefix ud_.
 *
 * Threads: the main thread runs loop 0, which owns every listening socket,
 * the signalfd and the admin connections; it accepts tenant connections and
 * hands each to one of the worker loops (1..n) round-robin through that
 * loop's hand-off pipe. A connection then lives on one loop only and needs no
 * locking; the store is thread-safe on its own. The tenant table is changed
 * only by the main thread, under ud_daemon.lock, which workers take only to
 * look up a TCP token.
 */
#ifndef UTMEM_DAEMON_H
#define UTMEM_DAEMON_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

#include "proto/admin.h"
#include "proto/clock.h"
#include "proto/wire.h"
#include "store/store.h"
#include "transport/ring.h"
#include "transport/spin.h"
#include "daemon/config.h"
#include "daemon/names.h"


/* ---- logging (log.c) ---- */

extern atomic_int ud_log_level; /* enum uadm_log_level */
/*
 * Choose the line format from what stderr is (terminal, journal, file).
 * Call once at startup, before any thread logs.
 */
void ud_log_setup(void);
void ud_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define ud_err(...) ud_log(UADM_LOG_ERROR, __VA_ARGS__)
#define ud_warn(...) ud_log(UADM_LOG_WARN, __VA_ARGS__)
#define ud_info(...) ud_log(UADM_LOG_INFO, __VA_ARGS__)
#define ud_debug(...) ud_log(UADM_LOG_DEBUG, __VA_ARGS__)

/* Rate-limited logging (log.c): per call site, UD_RL_BURST lines per window. */
#define UD_RL_BURST 10u
#define UD_RL_WINDOW_S 10u
struct ud_ratelimit {
	atomic_uint_least64_t start; /* window start, monotonic s + 1 */
	atomic_uint count, dropped;
};
void ud_log_rl(struct ud_ratelimit *rl, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define ud_log_limited(level, ...)                                             \
	do {                                                                   \
		static struct ud_ratelimit ud_rl_;                             \
		ud_log_rl(&ud_rl_, (level), __VA_ARGS__);                      \
	} while (0)
#define ud_warn_rl(...) ud_log_limited(UADM_LOG_WARN, __VA_ARGS__)
#define ud_info_rl(...) ud_log_limited(UADM_LOG_INFO, __VA_ARGS__)

/* ---- configuration: config.h (records, settings table, reader, writer) ---- */

/* ---- event sources ---- */

enum ud_src_kind { UD_SRC_LISTENER, UD_SRC_CONN, UD_SRC_SIGNAL, UD_SRC_HANDOFF };

enum ud_lis_kind { UD_LIS_TENANT, UD_LIS_ADMIN, UD_LIS_TCP, UD_LIS_VSOCK };

struct ud_tenant;

struct ud_listener {
	enum ud_src_kind src; /* UD_SRC_LISTENER; first member */
	enum ud_lis_kind kind;
	int fd;
	char path[UD_PATH_MAX]; /* Unix socket path to unlink, "" for TCP */
	struct ud_tenant *tenant; /* UD_LIS_TENANT */
	struct ud_listener *next;
};

/*
 * A tenant as the daemon knows it. Records are never freed before exit (a
 * removed one is marked gone and kept on a retired list), so a connection's
 * pointer stays valid without reference counting.
 */
/*
 * Latency histograms of one tenant as seen by one loop (metrics.c): per
 * operation class (put, get, invalidate, other), UD_HIST_BUCKETS bounded
 * buckets and one past the last, the sum and the count. Only that loop
 * writes its slot.
 */
#define UD_HIST_OPS 4
#define UD_HIST_BUCKETS 11
struct ud_hist {
	_Alignas(64) atomic_uint_least64_t bucket[UD_HIST_OPS][UD_HIST_BUCKETS + 1];
	atomic_uint_least64_t sum_ns[UD_HIST_OPS];
	atomic_uint_least64_t count[UD_HIST_OPS];
};

/* A socket file's inode: which file utmemd bound, wherever its name. */
struct ud_sockid {
	dev_t dev;
	ino_t ino;
};

/*
 * How a tenant's PUTs arrived (struct ud_tenant.put_stats; tenant_ops.c
 * counts, SERVER_INFO and the metrics show): staged (PUT_REF: the client
 * wrote the value into a staging extent, adopted without a copy), posted
 * inline (the value in the frame, copied by utmemd; no reply), replied
 * (the client waited for the outcome: no credit, no ring, or the socket);
 * and its connections' CREDIT_RETURNs.
 */
enum ud_put_stat {
	UD_PUT_STAGED,
	UD_PUT_POSTED,
	UD_PUT_REPLIED,
	UD_CREDIT_RETURNS,
	UD_NPUT_STATS
};

struct ud_tenant {
	char name[UST_NAME_MAX + 1];
	uint32_t id;
	/* Its value region (region.c): a sealed memfd mapped here and passed
	 * to its fast-path clients; fd -1 when it has none. */
	int region_fd;
	uint8_t *region_base;
	uint64_t region_size;
	/* Its ring connections' credit (credit.c), for recalls and stats. */
	pthread_mutex_t creg_lock;
	struct ud_credit *creg;
	_Atomic uint64_t credit_held; /* bytes they hold reserved, in all */
	_Atomic uint64_t credit_reclaimed; /* bytes taken back from idle ones */
	_Atomic uint64_t put_stats[UD_NPUT_STATS]; /* enum ud_put_stat */
	char socket[UD_PATH_MAX];
	struct ud_sockid sock_id; /* the file utmemd bound at socket */
	char token[UD_TOKEN_MAX + 1];
	unsigned mode; /* the socket's, as applied (ud_socket_perms) */
	uid_t uid;     /* owner and group as configured, -1: utmemd's */
	gid_t gid;
	uint32_t vsock_cid; /* its connections over vsock come from this CID, 0 = none */
	atomic_int gone;
	atomic_uint conns; /* open client connections (a ring counts with its socket) */
	struct ud_hist *hist; /* one slot per loop (metrics.c) */
	unsigned nhist;
	struct ud_listener *lis;
	struct ud_tenant *next;
	struct ud_tenant *owed_next; /* in d->owed (control.c) */
	/*
	 * What it makes the daemon hold, and the bounds (limits.c): bytes in
	 * flight (input beyond a connection's base buffer, queued replies
	 * beyond its base segments) and open connections. Workers charge
	 * them with atomics; the main thread sets the limits.
	 */
	atomic_uint_least64_t inflight, inflight_max;
	atomic_uint conn_limit;
	unsigned max_conns; /* configured (0 = default); conn_limit = its share */
	/* Its record as created: what runs of the settings given only at
	 * creation (UD_SF_CREATE), which a reload may change in the file. */
	struct ud_cfg_tenant made;
	uint64_t bulk_turn; /* bulk.c: when its last job began (bulk lock) */
};

struct ud_loop;

/*
 * One piece of a connection's output: bytes [head, len) of data are still to
 * be sent. Recycled through the connection (ospare) and the loop (seg_cache).
 */
struct ud_seg {
	struct ud_seg *next;
	size_t head, len, cap;
	uint8_t data[];
};

/* One client connection; owned by exactly one loop. */
/*
 * A request run by the bulk thread (bulk.c) while its connection is parked.
 * state, next while queued: under the bulk lock; next once done: under the
 * loop's bulk_lock; the rest is the worker's.
 */
enum ud_bulk_state { UD_BULK_IDLE, UD_BULK_QUEUED, UD_BULK_DONE };
struct ud_daemon;
struct ud_bulk_job {
	struct ud_bulk_job *next;
	struct ud_conn *conn;  /* whose it is (its tenant); NULL: the daemon's own */
	struct ud_loop *loop;  /* the loop it returns to (conn's, or the main loop) */
	struct uwire_hdr hdr;  /* the request: opcode, pool, id for the reply */
	uint32_t st_tenant;    /* the store call: who asks (UST_TENANT_ADMIN), */
	uint32_t st_pool;      /* which pool, */
	int destroy;           /* and destroy it (else flush) */
	int err;               /* the store's result */
	enum ud_bulk_state state;
	/* An operator's job: replies itself on the loop's thread (and frees
	 * ctx); NULL: a tenant's, answered with the status alone. */
	void (*done)(struct ud_conn *c, struct ud_bulk_job *j);
	void *ctx;
	/* An operator's job other than a flush or destroy: what it runs. */
	int (*run)(struct ud_daemon *d, struct ud_bulk_job *j);
};

struct ud_conn {
	enum ud_src_kind src; /* UD_SRC_CONN; first member */
	int fd;
	struct ud_loop *loop;
	struct ud_tenant *tenant; /* NULL: admin, or TCP before HELLO */
	unsigned admin : 1, tcp : 1, closing : 1, paused : 1, dead : 1;
	/* counted: holds a place in tenant->conns (admin: in d->admin_conns;
	 * unauth: TCP before HELLO, in d->unauth). starved: paused until its
	 * backlog drains, its tenant's in-flight budget having no room for one
	 * more reply (limits.c). */
	unsigned counted : 1, unauth : 1, starved : 1;
	/* parked: its request `bulk` runs on the bulk thread (bulk.c); it is
	 * also paused, and resumes only once the job is back. */
	unsigned parked : 1;
	/* closed while it or its peer was parked: closed for good when the
	 * job comes back (ud_bulk_reap); it is unwatched meanwhile */
	unsigned close_pending : 1;
	/* a socket out of the epoll set (loop.c, conn_unwatch): paused and its
	 * client hung up, or close_pending */
	unsigned unwatched : 1;
	struct ud_bulk_job bulk;
	uint64_t drained; /* a ring whose socket closed: bytes ud_ring_drain took */
	uint32_t events;          /* current epoll interest */
	uint8_t *in;
	size_t in_len, in_cap, in_need;
	/* Pending replies: a FIFO of segments (loop.c). Small replies share a
	 * segment; a large one gets its own, sized to it, so nothing written is
	 * ever copied again to make room. */
	struct ud_seg *oq, *oq_tail;
	struct ud_seg *ospare; /* a drained small segment kept for reuse */
	size_t out_bytes;      /* bytes queued, not yet handed on */
	size_t out_held;       /* capacity of its segments, queued or spare */
	size_t charged;        /* bytes charged to its tenant's inflight */
	/* Timestamps (ns, the loop's clock) for the timeouts (loop.c). */
	uint64_t born_ns, active_ns, frame_ns, stall_ns;
	struct ud_conn *prev, *next;
	/* Shared-memory ring (ring.c): a ring connection has `ring` set and its
	 * fd is the doorbell eventfd; `peer` links it with the socket connection
	 * that set it up, and closing either closes both. */
	struct ud_ring *ring;
	struct ud_conn *peer;
	struct ud_conn *rnext; /* the loop's ring connections */
	struct ud_credit *credit; /* ring connections: credit and staging */
	struct ud_conn *dnext; /* the loop's closed connections, freed later */
	/* Benchmark modes (bench.c): UWIRE_BENCH_* granted to this connection
	 * (0 unless utmemd runs with bench_modes = on and the client asked),
	 * and the timing of its last request (service, store; ns). */
	uint32_t bench;
	uint64_t bench_ns, bench_store_ns, bench_store_acc;
};

/* An event loop: the main one (index 0) or a worker. */
struct ud_loop {
	unsigned index;
	int epfd;
	int handoff[2];    /* workers: pipe of struct ud_handoff records */
	enum ud_src_kind handoff_src;
	pthread_t thread;
	struct ud_conn *conns;
	unsigned nconns;
	struct ud_conn *rings;   /* ring connections, polled while spinning */
	struct ud_conn *dead;    /* closed, freed after the event batch */
	uint64_t ring_last_ns;   /* last time a ring had work */
	struct uspin ring_spin;  /* the adaptive spin window (transport/spin.h) */
	int ring_idle;            /* rings found idle since the last work */
	int crowded;              /* more runnable threads than cores (ring_wait.c) */
	uint64_t crowd_next_ns;   /* when to look at /proc/loadavg again */
	uint64_t crowd_skip_until;/* crowded and a spin found nothing: no spin */
	int spun;                 /* spun since the last ring work */
	uint64_t ring_beat;       /* heartbeat published to the rings */
	/* Drained large output segments kept for reuse (bounded, see loop.c),
	 * so steady large GETs do not fault fresh memory in every round. */
	struct ud_seg *seg_cache;
	size_t seg_cache_bytes;
	size_t seg_largest;       /* largest segment recycled since idle */
	/* Jobs the bulk thread finished for this loop's connections. */
	pthread_mutex_t bulk_lock;
	int bulk_lock_ok;         /* initialized (ud_loop_fini destroys it) */
	int bulk_ok;              /* a worker: jobs may go to the bulk thread */
	struct ud_bulk_job *bulk_done;
	uint64_t now_ns;          /* clock at the last wake-up (timestamps) */
	_Atomic uint64_t wakeups; /* epoll_wait returns (INFO worker_wakeups) */
	_Atomic uint64_t spin_crowded; /* spins skipped or cut short: host
					  crowded (ring_wait.c) */
	uint64_t next_sweep_ns;   /* next timeout sweep (loop.c) */
	_Atomic int reclaim_due;  /* a connection's credit to take back */
	uint64_t reclaim_next_ns; /* not before (a reclaim waiting, credit.c) */
	int stopping;
	struct ud_daemon *d;
};

/* What the main loop sends a worker: a new connection, or fd -1 = stop;
 * what the bulk thread sends: UD_HANDOFF_BULK = jobs finished. */
#define UD_HANDOFF_BULK (-2)
/* ... and what a recall sends: some connection's credit is to be taken
 * back (credit.c, ud_credit_reclaim_due). */
#define UD_HANDOFF_RECLAIM (-3)
#define UD_RECLAIM_RETRY_MS 10 /* a reclaim that must wait looks again */
struct ud_handoff {
	int fd;
	int tcp;
	struct ud_tenant *tenant;
};

struct ud_daemon {
	struct ud_cfg cfg;    /* the running configuration (admin_cfg.c) */
	struct ud_cfg boot;   /* [utmemd] values at startup (no tenants, pools) */
	ust_store *st;
	struct uwire_limits lim;
	pthread_mutex_t lock; /* tenant table */
	struct ud_tenant *tenants;
	struct ud_names tenant_names; /* name -> tenant of d->tenants (main loop) */
	_Atomic uint64_t recall_cap_ns; /* last ud_recall_for_capacity */
	struct ud_tenant *retired;
	struct ud_listener *listeners;
	struct ud_listener *dead_listeners; /* closed, freed after the event batch */
	struct ud_loop main;
	struct ud_loop *workers;
	unsigned nworkers;
	_Atomic uint64_t posted_refused; /* posted PUTs the store refused after
					    the client went on (INFO) */
	unsigned next_worker;
	int sigfd;
	enum ud_src_kind sig_src;
	int stop;
	char admin_path[UD_PATH_MAX];
	/* Bytes in frame-sized input buffers (big PUTs in transit), all loops;
	 * bounded so many half-sent large frames cannot exhaust the host. */
	atomic_size_t big_in;
	int spare_fd; /* kept free for shedding connections at EMFILE */
	size_t big_in_limit;
	/* Limits (limits.c): descriptors tenants may share, TCP connections
	 * not yet authenticated, admin connections; timeouts in ns. */
	unsigned fd_limit;      /* RLIMIT_NOFILE after raising it */
	atomic_uint unauth;
	unsigned admin_conns;   /* main thread only */
	atomic_uint_least64_t idle_ns, client_ns, frame_ns, auth_ns;
	unsigned max_unauth;
	struct ud_authfail *authfail; /* failed TCP HELLOs by source (backoff.c) */
	uint64_t ring_size;    /* cfg.ring_size at startup (0 = no rings) */
	int live_fd;           /* the liveness page (region.c), or -1 */
	void *live;
	unsigned ring_spin_us; /* cfg.ring_spin_us at startup */
	unsigned worker_slice_us; /* cfg.worker_slice_us at startup */
	_Atomic uint64_t worker_slice_ns; /* what the kernel granted (sched.c) */
	atomic_int slice_told;  /* its outcome was logged */
	int loadavg_fd;        /* /proc/loadavg for the workers' spin, or -1 */
	unsigned ncpu;         /* CPUs online (ud_cpus) */
	struct ud_vm *vms;     /* VM tenants served over ivshmem (ivshmem.c) */
	uint64_t started_ns;   /* CLOCK_MONOTONIC at startup (uptime) */
	struct ud_metrics *metrics; /* the Prometheus endpoint, NULL if off */
	uint64_t last_save_ns;  /* persistence: last successful save (0: none) */
	int metrics_on;        /* workers time requests (set before they start) */
	int bench_modes;       /* cfg.bench_modes at startup: BENCH allowed */
	int cfg_unsaved;       /* runtime changes not written to cfg.path */
	int cfg_stopped;       /* the last ud_cfg_commit failed part way applied */
	struct ud_ctl *ctl;    /* maintenance thread and host controller (controller.c) */
	/* Its wake-up eventfd while it runs, else -1: the store's trimmed
	 * hook (ud_ctl_trimmed) rings it from any thread. */
	_Atomic int ctl_bell;
	struct ud_bulk *bulk;  /* the bulk thread (bulk.c), NULL: run inline */
	/* Main loop only, set around an operator's configuration change: the
	 * store work that grows with the data is left to the bulk thread
	 * (ud_admin_reply_cfg): a capacity or max lowered below what is held
	 * is only set (the store's UST_SHRINK_LATER), and a removed tenant's
	 * entries are dropped there (owed). */
	int store_later;
	struct ud_tenant *owed; /* removed, store removal not done yet */
	uint32_t *owed_pools;   /* shared pools a reload removed, not destroyed yet */
	size_t nowed_pools;
	/* Those handed to a bulk job and not done: their names are still
	 * taken, so a reload that lists one again must wait (EBUSY). */
	uint32_t *dying_pools;
	size_t ndying_pools;
};

/* ---- sockets (net.c) ---- */

/*
 * Create a listening Unix socket at path with the given file mode, owner
 * and group ((uid_t)-1 / (gid_t)-1: leave as created), after
 * checking that no live daemon answers there (a stale socket is replaced);
 * *id (if not NULL) gets its inode. Returns the fd or -errno with a
 * one-line reason in msg.
 */
int ud_listen_unix(const char *path, unsigned mode, uid_t uid, gid_t gid,
		   struct ud_sockid *id, char *msg, size_t msglen);
/*
 * Give the socket file utmemd bound at path (inode id) a new mode, owner
 * and group (as for ud_listen_unix), never following a link nor touching
 * another file put there since. Returns 0 or -errno with a reason in msg.
 */
int ud_socket_perms(const char *path, const struct ud_sockid *id,
		    unsigned mode, uid_t uid, gid_t gid, char *msg, size_t msglen);
/*
 * The owner (or group) id to give a file whose configured one goes from
 * was to now ((unsigned)-1: utmemd's, self): -1 (leave it) if neither is
 * set, else the id it should have.
 */
static inline unsigned ud_owner_now(unsigned was, unsigned now, unsigned self)
{
	if (now != (unsigned)-1)
		return now;
	return was == (unsigned)-1 ? (unsigned)-1 : self;
}
/* Listen on host:port (IPv4). Returns the fd or -errno, reason in msg. */
int ud_listen_tcp(const char *host, uint16_t port, char *msg, size_t msglen);

/* ---- loops and connections (loop.c) ---- */

/* Loop indexes: 0 the main loop, 1..workers the workers, then each VM
 * tenant's own thread (ivshmem.c); a tenant's latency histograms have a
 * slot for each (metrics.c). */
static inline unsigned ud_loop_vm_index(const struct ud_daemon *d)
{
	return d->boot.workers + 1;
}
int ud_loop_init(struct ud_daemon *d, struct ud_loop *l, unsigned index);
void ud_loop_fini(struct ud_loop *l);
/* Add a source to a loop's epoll set. Returns 0 or -errno. */
int ud_loop_watch(struct ud_loop *l, int fd, uint32_t events, void *src);
/* Start serving fd on loop l. Returns 0 or -errno (fd is closed then). */
int ud_conn_start(struct ud_loop *l, int fd, int admin, int tcp,
		  struct ud_tenant *t);
/* Run one loop until it has stopped and drained. */
void *ud_worker_main(void *arg);
/* One pass of epoll_wait and event handling on l (timeout in ms). */
int ud_loop_once(struct ud_loop *l, int timeout_ms);
/* Stop reading and close connections once their output is flushed. */
void ud_loop_begin_stop(struct ud_loop *l);

/* Serve a paused connection again if it may resume (its bulk job back). */
void ud_conn_resume(struct ud_conn *c);

/* ---- the bulk thread (bulk.c) ---- */

int ud_bulk_start(struct ud_daemon *d);
/* Join the thread; every parked connection must be settled or closed. */
void ud_bulk_stop(struct ud_daemon *d);
/*
 * Run c's POOL_FLUSH or POOL_DESTROY request h on the bulk thread (c is
 * parked; the reply comes with ud_bulk_reap), or here when there is no
 * thread, c's loop reads no hand-off pipe or c is being closed.
 */
void ud_bulk_submit(struct ud_conn *c, const struct uwire_hdr *h);
/*
 * The same for an operator's flush or destroy (admin connection c,
 * request h) of the store's pool: done(c, job) replies once it ran, on
 * c's loop (the main loop), and frees ctx.
 */
void ud_bulk_submit_admin(struct ud_conn *c, const struct uwire_hdr *h,
			  uint32_t pool, int destroy,
			  void (*done)(struct ud_conn *, struct ud_bulk_job *),
			  void *ctx);
/* The same for other operator's work: run(d, job) on the bulk thread. */
void ud_bulk_submit_admin_run(struct ud_conn *c, const struct uwire_hdr *h,
			      int (*run)(struct ud_daemon *, struct ud_bulk_job *),
			      void (*done)(struct ud_conn *, struct ud_bulk_job *),
			      void *ctx);
/*
 * A job of the daemon's own, with no connection behind it (a SIGHUP's
 * evictions): j (run, done, ctx set; it outlives the call) runs on the
 * bulk thread, or here without one, and done(NULL, j) is called on the
 * main loop when it is finished, also at shutdown.
 */
void ud_bulk_submit_daemon(struct ud_daemon *d, struct ud_bulk_job *j);
/* After ud_bulk_stop: finish the daemon's own jobs still on l's list. */
void ud_bulk_reap_daemon(struct ud_loop *l);
/*
 * Answer an operator's configuration change (status err, text rep): at
 * once, or, when it left limits below what is held (d->store_later), once
 * the bulk thread has evicted down to them, with what was evicted; the
 * main loop goes on meanwhile (admin_ops.c).
 */
void ud_admin_reply_cfg(struct ud_conn *c, const struct uwire_hdr *h, int err,
			struct uadm_wbuf *rep);
/*
 * After a SIGHUP's reload made with store_later: the evictions and the
 * removed tenants' entries it left go to the bulk thread as a job of the
 * daemon's own, whose end is logged (admin_ops.c).
 */
void ud_store_later(struct ud_daemon *d);
/* Reply to and resume l's connections whose jobs finished (l's thread). */
void ud_bulk_reap(struct ud_loop *l);
/* c is closing: wait for its job, if any, and reply (c's loop thread). */
void ud_bulk_settle(struct ud_conn *c);
struct ud_bulk_stats {
	int on;
	unsigned queued, running;
	uint64_t jobs, max_ns, total_ns;
};
void ud_bulk_info(struct ud_daemon *d, struct ud_bulk_stats *s);

/* ---- pending replies (out.c) ---- */

/* Reply helpers used by the dispatchers. They never fail visibly: on
 * allocation failure the connection is marked closing. */
uint8_t *ud_reply_begin(struct ud_conn *c, const struct uwire_hdr *req,
			unsigned status, uint32_t pool, size_t vlen);
void ud_reply(struct ud_conn *c, const struct uwire_hdr *req, unsigned status,
	      uint32_t pool, const void *val, size_t vlen);
/* Reserve room for a reply of n bytes (header included), so the next
 * ud_reply_begin of that size cannot fail. Returns 0 or -ENOMEM. */
int ud_out_reserve(struct ud_conn *c, size_t n);
/*
 * ud_out_reserve, then fault the room's pages in now (populated, then
 * written a byte a page): for a large reply about to be copied under a
 * store lock, which must then only write warm memory. Returns 0 or
 * -ENOMEM.
 */
int ud_out_prepare(struct ud_conn *c, size_t n);
/* Would ud_out_reserve(c, n) find room already written once (the tail,
 * the spare, or a drained segment in the loop's cache)? */
bool ud_out_warm(const struct ud_conn *c, size_t n);
/* Queue n raw bytes of output. Returns 0 or -ENOMEM. */
int ud_out_append(struct ud_conn *c, const void *buf, size_t n);
/*
 * Mark n bytes from the front of c's output as handed on, recycling the
 * segments drained. n must not exceed ud_backlog(c).
 */
void ud_out_consume(struct ud_conn *c, size_t n);
/* Drop the loop's cached output segments (idle). */
void ud_seg_cache_trim(struct ud_loop *l);
/* Free every output segment of c (the connection goes away). */
void ud_out_free(struct ud_conn *c);
/* Bytes of replies not yet handed to the client. */
size_t ud_backlog(const struct ud_conn *c);
/* Serve every complete frame in c->in (loop.c). */
void ud_conn_process(struct ud_conn *c);
/*
 * Grow c->in to c->in_need within the daemon-wide budget. Returns 0, or
 * -ENOMEM after answering NOMEM and marking c closing.
 */
int ud_in_grow_or_refuse(struct ud_conn *c);
/*
 * Close c and its ring peer: unlink them, close their descriptors, and
 * queue the memory for ud_loop_free_dead(), so an event of the current
 * batch that still points at one finds it marked dead instead of freed.
 */
void ud_conn_close(struct ud_conn *c);
void ud_loop_free_dead(struct ud_loop *l);
/*
 * Create a connection record for fd on l, linked into the loop but not yet
 * watched by epoll. Returns it, or NULL (out of memory; fd untouched).
 */
struct ud_conn *ud_conn_new(struct ud_loop *l, int fd, struct ud_tenant *t);

/* ---- shared-memory rings (ring.c) ---- */

/* Answer RING_SETUP on a tenant socket connection: create, map, pass fds. */
void ud_ring_setup(struct ud_conn *c, const struct uwire_frame *f);
/*
 * Move bytes both ways on ring connection c and serve its frames. Returns
 * 1 if anything moved, 0 if idle, -1 if c was closed (do not touch it).
 */
int ud_ring_service(struct ud_conn *c);
/* Serve every ring of l once. Returns 1 if any had work. */
int ud_ring_pass(struct ud_loop *l);
/* Does any ring of l have work (input, or room for pending output)? */
int ud_ring_ready(struct ud_loop *l);
/* Has c's client nothing unserved: no request bytes in the ring or in the
 * input buffer, no paused output? */
bool ud_ring_quiet(struct ud_conn *c);
/* Publish the worker's heartbeat to every ring of l (it is running). */
void ud_ring_beat(struct ud_loop *l);
/* Raise (on = 1) or lower the daemon-sleeping flag of every ring of l. */
void ud_ring_arm(struct ud_loop *l, int on);
/*
 * The client of ring connection c has gone (its socket closed): serve the
 * complete requests still in the ring (posted PUTs it was told were
 * accepted), dropping their replies; twice the ring's size in all.
 * Returns 1 when a flush or destroy parked c on the bulk thread (c->peer
 * is the socket again: the caller closes both when the job is back, and
 * the drain resumes then), 0 when done.
 */
int ud_ring_drain(struct ud_conn *c);
/* A doorbell event on ring connection c. */
void ud_ring_event(struct ud_conn *c);
/*
 * A ring connection with no socket peer: a VM's ivshmem region
 * (ivshmem.c). Instead of the socket's eventfd/pipe doorbells, `kick` wakes
 * the client (called only when its sleeping flag asks for what was just
 * published), and `release` unmaps the region when the ring is freed (in
 * place of uring_unmap). Both run on the loop's thread.
 */
struct uring_map;
struct ud_ring_owner {
	void (*kick)(void *arg, uint32_t what);
	void (*release)(void *arg, struct uring_map *m);
	void *arg;
};
/*
 * Serve the ring mapped at m (ring indices at 0: a fresh session) as a
 * connection of tenant t on loop l, from l's thread. fd is watched
 * edge-triggered for wake-ups and closed with the connection. Takes fd and
 * the mapping in every case (on failure they are released at once).
 * Returns 0 and sets *out, or -errno.
 */
int ud_ring_attach(struct ud_loop *l, struct ud_tenant *t, int fd,
		   const struct uring_map *m, const struct ud_ring_owner *o,
		   struct ud_conn **out);
/* Release a ring's mapping, doorbell and budget (called by conn_free). */
void ud_ring_free(struct ud_conn *c);
/* A ring of l had work now: adapt the worker's spin window (ring_wait.c). */
void ud_ring_worked(struct ud_loop *l);
/*
 * How long the worker's next epoll_wait may block (ring_wait.c): spin over
 * the rings within the adaptive window, or arm every ring's sleeping flag
 * and return block_ms (*armed = 1: lower them after waking), or return
 * UD_RING_READY when a ring has work to serve before epoll.
 */
#define UD_RING_READY (-2)
#define UD_RING_EPOLL_EVERY 64 /* ring passes between two epoll checks, at most */
int ud_ring_wait_timeout(struct ud_loop *l, int block_ms, int *armed);

/* ---- the serving threads' scheduling (sched.c) ---- */

int ud_sched_slice(unsigned us, uint64_t *got_ns);
void ud_sched_serving_thread(struct ud_daemon *d);
/* Add one to a counter that only the calling thread writes (a worker's
 * wakeups, spin_crowded): no locked instruction; INFO reads it. */
static inline void ud_count1(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* ---- benchmark modes (bench.c) ---- */

/* The BENCH request (refused unless bench_modes = on). */
void ud_bench_op(struct ud_conn *c, const struct uwire_frame *f);
/* A null-store GET's reply: maxlen zero bytes (UINT64_MAX: none). */
void ud_bench_null_get(struct ud_conn *c, const struct uwire_hdr *h,
		       uint64_t maxlen);
/* Keep the timing of a request just served (c->bench has TIMING). */
void ud_bench_record(struct ud_conn *c, uint8_t opcode, uint64_t ns);

/* ---- VM tenants over ivshmem (ivshmem.c, docs/vm.md) ---- */

struct ud_vm;
/*
 * Serve every tenant of cfg that has `ivshmem = PATH` (each with a thread
 * of its own), and stop serving those whose tenant is gone or has none.
 * Main thread, after the tenants are applied. Returns 0 or -errno with a
 * one-line reason in msg.
 */
int ud_vm_apply(struct ud_daemon *d, const struct ud_cfg *cfg, char *msg,
		size_t msglen);
/* Stop every VM thread and release the regions (shutdown). */
void ud_vm_stop_all(struct ud_daemon *d);
/* VM tenants served now (each holds up to UD_VM_FDS descriptors). */
unsigned ud_vm_count(const struct ud_daemon *d);

/* ---- vsock (vsock.c) ---- */

/* Listen on cfg.vsock_port if set. Returns 0 or -errno, reason in msg. */
int ud_vsock_listen(struct ud_daemon *d, char *msg, size_t msglen);
/* The tenant whose vsock_cid is cid, or NULL. Main thread. */
struct ud_tenant *ud_vsock_tenant(struct ud_daemon *d, uint32_t cid);
/* A connection accepted on vsock: its tenant, or NULL (fd then closed). */
struct ud_tenant *ud_vsock_accepted(struct ud_daemon *d, int fd);

/* ---- per-tenant limits and admission (limits.c) ---- */

/* Descriptors kept back for the daemon itself and the admin socket. */
#define UD_FD_RESERVE 64u
/*
 * At most what one VM tenant holds (ivshmem.c, ivshmem_bell.c): its region
 * file, its thread's epoll sets, stop and session eventfds and hand-off
 * pipe, the doorbell listener, QEMU's connection, UVM_NVECTORS interrupt
 * eventfds each way and the kick eventfd (14), rounded up.
 */
#define UD_VM_FDS 16u
/* The metrics endpoint (metrics.c): listener, epoll set, stop eventfd and
 * its connections. */
#define UD_METRICS_FDS 12u
#define UD_ADMIN_MAX 16u      /* admin connections at once */
/* Bytes a TCP connection may send before its HELLO is accepted. */
#define UD_PREAUTH_MAX (UWIRE_HDR_SIZE + UD_TOKEN_MAX)
/* Per-tenant defaults when the configuration gives none. */
#define UD_DEFAULT_MAX_CONNS 256u
#define UD_DEFAULT_MAX_POOLS 256u
/* A connection's base buffers, never charged: 16 KiB in, 2 x 16 KiB out. */
#define UD_IN_BASE (16u * 1024u)
#define UD_OUT_BASE (16u * 1024u)
#define UD_OUT_ALLOW (2u * UD_OUT_BASE)

/*
 * Read RLIMIT_NOFILE (raised to the hard limit before) and set up the
 * failed-HELLO table. Returns 0 or -ENOMEM. ud_limits_fini frees.
 */
int ud_limits_init(struct ud_daemon *d);
void ud_limits_fini(struct ud_daemon *d);
/* Limits a tenant gets from its config record (defaults filled in). */
uint64_t ud_tenant_inflight_max(const struct ud_daemon *d,
				const struct ud_cfg_tenant *ct);
/*
 * Apply ct's limits to t (and the store's max_pools). The caller then
 * recomputes every tenant's share of descriptors once (ud_limits_refresh),
 * not once per tenant. Main thread. Returns 0 or -errno.
 */
int ud_tenant_limits_apply(struct ud_daemon *d, struct ud_tenant *t,
			   const struct ud_cfg_tenant *ct);
/* Recompute every live tenant's connection limit (its descriptor share). */
void ud_limits_refresh(struct ud_daemon *d);
/* Take the timeouts and pre-auth cap from cfg (start and reload). */
void ud_limits_from_cfg(struct ud_daemon *d, const struct ud_cfg *cfg);
/*
 * Admit a new connection fd accepted on lis (main thread): count it
 * against its tenant (or the pre-auth TCP cap, or the admin cap). Returns
 * 0, or a refusal: the connection is answered with a refusal frame and
 * closed here, and a rate-limited warning names the limit.
 */
int ud_admit(struct ud_daemon *d, const struct ud_listener *lis, int fd);
/*
 * Admit fd as a connection of tenant t (a tenant socket, or vsock once the
 * peer's CID named t). Returns 0 or -EDQUOT (refused and closed, as ud_admit).
 */
int ud_admit_to(struct ud_daemon *d, struct ud_tenant *t, int fd);
/* Undo ud_admit for a connection that was never started. */
void ud_unadmit(struct ud_daemon *d, const struct ud_listener *lis);
/* The same, knowing only what the hand-off record says (workers). */
void ud_unadmit_raw(struct ud_daemon *d, int admin, int tcp, struct ud_tenant *t);
/* The IPv4 source of a TCP connection, network order (0 if not IPv4). */
uint32_t ud_peer_ipv4(int fd);
/*
 * May paused c serve again? Its backlog is below low, and a connection
 * starved of in-flight budget waits until its backlog is gone (loop.c).
 */
int ud_conn_may_resume(const struct ud_conn *c, size_t low);
/*
 * A TCP connection proved to be tenant t: move it from the pre-auth count
 * to t's. Returns 0 or -EDQUOT (t is at its limit: refuse it).
 */
int ud_admit_tenant(struct ud_conn *c, struct ud_tenant *t);
/* Give back c's place (conn_free). */
void ud_conn_release(struct ud_conn *c);
/*
 * Charge n more bytes held for c to its tenant's in-flight budget. Admin
 * connections are not charged; a TCP connection before HELLO may hold
 * nothing beyond its base buffers. Returns 0 or -ENOMEM.
 */
int ud_hold(struct ud_conn *c, size_t n);
/* Give back n bytes charged by ud_hold. */
void ud_unhold(struct ud_conn *c, size_t n);
/* The bound on RSS above capacity that the limits imply (docs/security.md;
 * INFO overhead_bound_bytes). Main thread. */
uint64_t ud_overhead_bound(struct ud_daemon *d);

/* ---- failed TCP HELLOs by source address (backoff.c) ---- */

int ud_authfail_init(struct ud_daemon *d);
void ud_authfail_fini(struct ud_daemon *d);
/* Is addr (IPv4, network order) in its back-off time now? Main thread. */
int ud_authfail_blocked(struct ud_daemon *d, uint32_t addr);
/* Record a failed HELLO from addr (any thread). */
void ud_authfail_record(struct ud_daemon *d, uint32_t addr);

/* ---- value regions (region.c) ---- */

/* Freed pages a tenant's value region may keep resident, uncharged, until
 * the maintenance thread's next poll (region.c, REGION_WARM_HARD). */
#define UD_REGION_WARM_HARD (256u << 20)

/*
 * Give tenant t a value region (a sealed memfd of d's region size, mapped
 * here, attached to the store). Returns 0, or -errno (the tenant then has
 * none and its clients use the request path: not fatal).
 */
int ud_region_create(struct ud_daemon *d, struct ud_tenant *t);
/* Unmap and close t's region after the store let go of it. */
void ud_region_destroy(struct ud_tenant *t);
/* Bytes of the live tenants' value regions in memory (their files'
 * blocks): what utmemd holds there, whether it maps those pages or not
 * (its RSS counts only those it maps; it unmaps spans before punching,
 * and a staged value is written by the client alone). Takes d->lock. */
uint64_t ud_region_resident_bytes(struct ud_daemon *d);
/* Create the liveness page, held by the calling thread (the main one). */
int ud_live_init(struct ud_daemon *d);

/* ---- credit and staging extents of a ring connection (credit.c) ---- */

/* Staged records a connection's extent sizes are learnt from: long enough
 * that one large value in ten is nearly always among them (0.9^64 < 0.2 %),
 * which 8 was not (a 1 MiB writer beside eight 128 KiB ones left half the
 * windows without a large record, and the extents kept changing size). */
#define UD_BIG_HISTORY 64
struct ud_stage {
	uint64_t off, len, charge;
	uint32_t gen;
};
struct ud_credit {
	struct ud_credit *rprev, *rnext; /* the tenant's registry (creg) */
	struct ud_tenant *tenant;
	struct ud_loop *loop;    /* the worker serving the connection */
	_Atomic int reclaim;     /* recalled: take back what it still holds */
	unsigned reclaim_tries;  /* passes that found it busy or unserved */
	struct uring_shm *shm;   /* the ring header grants are published in */
	uint64_t recall;         /* last value published in shm->recall */
	struct uring_reads rd[URING_READ_POOLS]; /* client-reported, folded in */
	uint64_t granted;        /* credit granted, total bytes */
	uint64_t spent;          /* bounds of posted requests received */
	uint64_t res;            /* bytes reserved in the store for them */
	uint64_t applied;        /* request frames served */
	int want;                /* a refill is due */
	uint64_t stage_size;     /* page run size of new staging extents */
	uint64_t stage_small;    /* of the smaller values' extents when sizes
				  * are mixed, else stage_size */
	unsigned stage_nsmall;   /* of the recent records, how many fit those */
	uint64_t big[UD_BIG_HISTORY]; /* recent large records (bytes) */
	unsigned nbig;
	struct ud_stage stage[URING_STAGES];
	uint32_t hazard;         /* hazard word, or URING_NO_HAZARD */
	uint64_t posted_failed;  /* posted requests the store refused */
};

struct uwire_ref;
int ud_credit_init(struct ud_conn *c, struct uring_shm *shm, uint32_t hazard);
/*
 * Ask every ring connection of t to give its credit back before posting
 * again (limits lowered, or a PUT refused for room). Any thread.
 */
void ud_tenant_recall(struct ud_tenant *t);
/*
 * A pool t's clients may use was destroyed: bump pools_gen in each of its
 * ring connections (they reopen their pools by name before the next use)
 * and recall their credit. Any thread.
 */
void ud_tenant_pools_gone(struct ud_tenant *t);
/* Recall ring connection c's credit alone (a posted request of it was
 * refused), with pools_gone also telling it to reopen its pools. */
void ud_conn_recall(struct ud_conn *c, bool pools_gone);
/* Fold the one-sided reads t's clients reported into the store's stats. */
void ud_tenant_fold_reads(struct ud_daemon *d, struct ud_tenant *t);
/* t was removed: tell its fast-path clients, which may never ask. */
void ud_tenant_revoke(struct ud_tenant *t);
/* The same for every tenant (capacity changed; admin stats). */
void ud_recall_all(struct ud_daemon *d);
/*
 * A PUT was refused for the daemon's capacity, or the controller lowered
 * it: recall every tenant whose connections hold credit, at most once per
 * 100 ms (credit.c).
 */
void ud_recall_for_capacity(struct ud_daemon *d);
void ud_fold_reads_all(struct ud_daemon *d);
void ud_credit_free(struct ud_conn *c);
/* Spend bound bytes of c's credit. Returns 0, or -EPROTO (overspent). */
int ud_credit_spend(struct ud_conn *c, uint64_t bound);
/* Would ud_credit_spend(c, bound) succeed now? (No credit: no.) */
bool ud_credit_covers(const struct ud_conn *c, uint64_t bound);
/* A TCP connection sent something before a good HELLO (tenant_ops.c):
 * answer h AUTH and close it, why in the debug log (docs/security.md,
 * "TCP"). */
void ud_unauth_refuse(struct ud_conn *c, const struct uwire_hdr *h, const char *why);
/* c broke the posting rules (tenant_ops.c): warn with what, answer h
 * PROTO, close the connection. */
void ud_posted_violation(struct ud_conn *c, const struct uwire_hdr *h,
			 const char *what);
/*
 * CREDIT_RETURN: give back what is unspent of the grants up to `upto` and
 * the staging slots in mask. Returns 0, or -EPROTO (upto never granted).
 */
int ud_credit_return(struct ud_conn *c, uint32_t mask, uint64_t upto);
/*
 * A record of rec bytes came, inline or staged, on c's ring or on the
 * socket of a connection that has one: staging extents should fit it. On
 * the socket (a frame too large for the ring) the ring is refilled at
 * once, so the client's next PUT of that size is staged and posted.
 */
void ud_credit_note_record(struct ud_conn *c, uint64_t rec);
/* The two sizes of the staging extents c's ring is refilled with, how many
 * slots it keeps filled and how many of them get the smaller size (all 0
 * without a ring or before a record of staging size). */
void ud_credit_stage_sizes(struct ud_conn *c, uint64_t *size, uint64_t *small,
			   unsigned *nslots, unsigned *nsmall);
/*
 * PUT_REF: take the staging extent ref names (its reservation moves to the
 * connection's). Returns 0 with *off and *len set, or -EPROTO (not held).
 */
int ud_credit_take_stage(struct ud_conn *c, const struct uwire_ref *ref,
			 uint64_t klen, uint64_t *off, uint64_t *len);
void ud_credit_refill(struct ud_conn *c);
/*
 * If a recall asked for it and its time has come, take back the credit of
 * l's recalled connections whose clients are not posting; those that must
 * wait are looked at again UD_RECLAIM_RETRY_MS later (credit.c). l's
 * worker, after its ring pass.
 */
void ud_credit_reclaim_due(struct ud_loop *l);

/* ---- request dispatch (tenant_ops.c, admin_ops.c) ---- */

void ud_dispatch_tenant(struct ud_conn *c, const struct uwire_frame *f);
void ud_dispatch_admin(struct ud_conn *c, const struct uwire_frame *f);
unsigned ud_status(int err);
/* Find a shared pool by name. Returns 0 and sets *id, or -ENOENT. */
int ud_shared_pool_id(struct ud_daemon *d, const char *name, uint32_t *id);
/* Handle the signalfd becoming readable (main loop). */
void ud_on_signal(struct ud_daemon *d);

/* ---- tenant table and control plane (control.c) ---- */

/* How far ud_apply_cfg() got, in the order it goes. */
enum ud_apply_stage {
	UD_APPLY_NEW,      /* creating the tenants the config adds */
	UD_APPLY_CAPACITY, /* setting the capacity */
	UD_APPLY_TENANTS,  /* updating cfg->tenants[index]; those before it are done */
	UD_APPLY_POOLS,    /* creating and granting cfg->pools[index]; likewise */
	UD_APPLY_VMS,      /* serving the VM tenants' ivshmem regions */
	UD_APPLY_DONE,
};
struct ud_apply_at {
	enum ud_apply_stage stage;
	size_t index;
};

/*
 * Apply a configuration: add tenants (and their sockets) that are missing,
 * set capacity, remove tenants no longer present (when remove_missing),
 * update every tenant (its socket's mode and owner first, then its limits),
 * the timeouts and the log level, create and grant shared pools, serve the
 * VM tenants. Main thread only. Returns 0 or -errno with a one-line reason
 * in msg; *at (may be NULL) tells where it stopped. A failure while
 * creating the new tenants changes nothing; a later one leaves what came
 * before it applied (ud_apply_took).
 */
int ud_apply_cfg(struct ud_daemon *d, const struct ud_cfg *cfg,
		 int remove_missing, struct ud_apply_at *at, char *msg,
		 size_t msglen);
/* What of it took effect when it stopped (apply_live.c). Had
 * ud_apply_cfg(), stopped at *at, done record rec (cfg->tenants[rec]
 * or cfg->pools[rec]) of stage? */
bool ud_apply_passed(const struct ud_apply_at *at, enum ud_apply_stage stage,
		     size_t rec);
/*
 * Did setting s of record rec (its index in the config's tenants or pools;
 * 0 for the main section) take effect, ud_apply_cfg() having stopped at
 * *at? The settings it applies on the way (capacity; the timeouts,
 * max_unauth and log_level after the tenants) and the records before the
 * one it stopped at did; the other main settings only with the whole
 * config. Settings that take a restart count as taken (reported as such).
 */
bool ud_apply_took(const struct ud_setting *s, const struct ud_apply_at *at,
		   size_t rec);
/*
 * The configuration in effect after ud_apply_cfg() turned old into next
 * and stopped at *at: next's records and settings where they took effect
 * (ud_apply_took), old's elsewhere; what next leaves out stays unless it
 * was removed on the way. Into *live (freed with ud_cfg_free); 0 or -ENOMEM.
 */
int ud_apply_live(const struct ud_cfg *old, const struct ud_cfg *next,
		  int remove_missing, const struct ud_apply_at *at,
		  struct ud_cfg *live);
/*
 * Re-read d->cfg.path and make it the running configuration (admin_cfg.c).
 * flags: UADM_F_FORCE to go on when tenants with data would be removed or
 * data evicted. Returns 0 with the changes made in *rep, or -errno with the
 * reason in *rep (-ENOTEMPTY: data would be dropped). rep is a text buffer
 * the caller frees with uadm_wbuf_free.
 */
int ud_reload(struct ud_daemon *d, unsigned flags, struct uadm_wbuf *rep);
/*
 * Make next (already through ud_cfg_check) the running configuration: refuse
 * (-ENOTEMPTY, what would be lost in *rep) unless UADM_F_FORCE if it would
 * drop stored data; else apply it, describe every change in *rep (also
 * logged) and take ownership of next. remove_missing: remove running tenants
 * next does not list. Returns 0 or -errno (next is freed either way).
 */
int ud_cfg_commit(struct ud_daemon *d, struct ud_cfg *next, int remove_missing,
		  unsigned flags, struct uadm_wbuf *rep);
/*
 * Change one section of the running configuration ("utmemd", "tenant NAME",
 * "pool NAME") by n key = value pairs, as CONFIG_SET does (UADM_F_CREATE
 * creates the tenant or pool, UADM_F_FORCE allows dropping data). Returns 0
 * or -errno; the changes, or the reason, in rep.
 */
int ud_cfg_set(struct ud_daemon *d, const char *section, unsigned flags,
	       size_t n, const char *const *keys, const char *const *values,
	       struct uadm_wbuf *rep);
/* Append printf-style text to a reply being built. */
void ud_text(struct uadm_wbuf *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Admin requests about the configuration (admin_cfg.c). */
void ud_op_config_get(struct ud_conn *c, const struct uwire_frame *f);
void ud_op_config_set(struct ud_conn *c, const struct uwire_frame *f);
void ud_op_config_save(struct ud_conn *c, const struct uwire_frame *f);
/* Send a reply whose value is w's text (status st), and free w. */
void ud_reply_text(struct ud_conn *c, const struct uwire_hdr *h, unsigned st,
		   struct uadm_wbuf *w);
/* Add one tenant with its socket. Returns 0 or -errno, reason in msg. */
int ud_tenant_create(struct ud_daemon *d, const struct ud_cfg_tenant *ct,
		     char *msg, size_t msglen);
int ud_tenant_destroy(struct ud_daemon *d, struct ud_tenant *t);
struct ud_tenant *ud_tenant_by_name(struct ud_daemon *d, const char *name);
/* Constant-time token match over all tenants; NULL if none. Takes lock. */
struct ud_tenant *ud_tenant_by_token(struct ud_daemon *d, const uint8_t *tok,
				     size_t len);
/* Is tenant among those pl lets flush and destroy it ("manage")? */
int ud_cfg_pool_manages(const struct ud_cfg_pool *pl, const char *tenant);
/* Is tenant among those pl is granted to ("tenants")? */
int ud_cfg_pool_grants(const struct ud_cfg_pool *pl, const char *tenant);
/* Resolve a relative socket path against the run directory. */
int ud_socket_path(const struct ud_daemon *d, const struct ud_cfg_tenant *ct,
		   char *out, size_t outlen);
/* Watch listening socket fd (main loop) as a listener of this kind, path
 * its Unix socket's (NULL: none). NULL when out of memory; fd is the
 * caller's to close then. */
struct ud_listener *ud_listener_new(struct ud_daemon *d, int fd,
				    enum ud_lis_kind kind, const char *path);
/* Close a listener, unlink its socket and defer freeing it. */
void ud_listener_close(struct ud_daemon *d, struct ud_listener *lis);
void ud_free_dead_listeners(struct ud_daemon *d);
/* Accept on a listener (main loop). */
void ud_accept(struct ud_daemon *d, struct ud_listener *lis);

/* ---- service manager (main.c): sd_notify(3) state, no-ops without systemd ---- */

/* READY=1 with a STATUS line. */
void ud_notify_ready(struct ud_daemon *d);
/* RELOADING=1 (and MONOTONIC_USEC) before a reload. */
void ud_notify_reloading(void);

/* ---- persistence (persist.c) ---- */

/*
 * Save every persistent pool to the persist file (main thread). Returns 0
 * or -errno (-ENOENT: persistence off); what was done, or why not, in rep.
 */
int ud_persist_save(struct ud_daemon *d, struct uadm_wbuf *rep);
/* The persist path, made absolute against the run directory: 0, or
 * -ENAMETOOLONG when it does not fit in len. */
int ud_persist_path(const struct ud_daemon *d, char *out, size_t len);
/*
 * At startup, before clients are served: restore the persist file, all of
 * it or nothing. Returns 0 (also when off or when there is no file yet) or
 * -errno with one line in msg.
 */
int ud_persist_restore(struct ud_daemon *d, char *msg, size_t msglen);

/* ---- the Prometheus endpoint (metrics.c) ---- */

struct ud_metrics;
/* Bind the endpoint if configured (before privileges are dropped). 0 or -errno, msg set. */
int ud_metrics_listen(struct ud_daemon *d, char *msg, size_t msglen);
/* Start its thread. 0 or -errno, msg set. */
int ud_metrics_start(struct ud_daemon *d, char *msg, size_t msglen);
/* Stop the thread and close everything. Safe if never started. */
void ud_metrics_stop(struct ud_daemon *d);
/* The port the endpoint listens on (0 if off). */
uint16_t ud_metrics_port(struct ud_daemon *d);
/* Allocate t's histogram slots. 0 or -ENOMEM. */
int ud_tenant_hist_alloc(struct ud_daemon *d, struct ud_tenant *t);
/* A request of opcode took ns on loop `worker` for tenant t. */
void ud_metrics_observe(struct ud_tenant *t, unsigned worker, unsigned opcode,
			uint64_t ns);
/* The whole exposition into w. Returns 0 or -errno. Any thread. */
int ud_metrics_render(struct ud_daemon *d, struct uadm_wbuf *w);

/* ---- the server view (info.c) ---- */

#define UD_VERSION "0.1.0"

struct ud_info_item {
	const char *key;
	char value[256];
};
/* Fill up to cap items describing the server. Returns how many. Main thread. */
size_t ud_server_info(struct ud_daemon *d, struct ud_info_item *out, size_t cap);
/* This process's resident set in bytes (0 if unknown). */
uint64_t ud_rss_bytes(void);
/*
 * Every tenant / every pool (as the operator sees them), into a new array
 * the caller frees. Return how many, or -errno (*out NULL). Any thread.
 */
int ud_list_tenants(struct ud_daemon *d, struct ust_tenant_info **out);
int ud_list_pools(struct ud_daemon *d, struct ust_pool_info **out);
/* Open tenant connections, all tenants (removed ones included). */
unsigned ud_connections(struct ud_daemon *d);

#endif /* UTMEM_DAEMON_H */

/*
 * client_int.h — libutmem's internals, shared by its source files only.
 *
 * The library is layered: addr.c turns an address string into a connected
 * socket, io.c moves bytes with timeouts (buffered reads, vectored
 * non-blocking writes), exec.c runs a set of requests pipelined on one
 * connection and matches replies by id, client.c holds the connection, the
 * pool table and the public single-request calls, batch.c the public batch
 * calls. Every internal non-static name starts with `uclient_`.
 */
#ifndef UTMEM_CLIENT_INT_H
#define UTMEM_CLIENT_INT_H

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>

#include "proto/name.h"
#include "proto/region.h"
#include "proto/wire.h"
#include "transport/ring.h"
#include "utmem.h"

#define UCLIENT_DEFAULT_TIMEOUT_MS 5000
#define UCLIENT_POOL_NAME_MAX UNAME_MAX
#define UCLIENT_MAX_POOLS 4096      /* handles per client */
#define UCLIENT_MAX_BATCH (1u << 20) /* operations per batch */
#define UCLIENT_RBUF_SIZE (64u * 1024u)

/* ---- addresses (addr.c) ---- */

enum uclient_kind {
	UCLIENT_NONE = 0, /* an attached descriptor: no address to redial */
	UCLIENT_UNIX,
	UCLIENT_TCP,
	UCLIENT_VSOCK,
	UCLIENT_VPORT,   /* a virtio-serial port device in a guest (vport.c) */
	UCLIENT_IVSHMEM, /* an ivshmem BAR in a guest, or a region file (ivshmem.c) */
	UCLIENT_DEV,     /* the guest module's /dev/utmem (dev.c) */
};

struct uclient_addr {
	enum uclient_kind kind;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char host[256];
	char port[8];
	uint32_t cid, vport;
	int ring; /* ring:PATH: a Unix socket plus a shared-memory ring */
	int vport_by_name; /* virtio-serial:NAME: path holds the port's name */
};

int uclient_addr_parse(const char *s, struct uclient_addr *a);
int uclient_dial(const struct uclient_addr *a, int timeout_ms);

/* ---- byte moving (io.c) ---- */

/* Read buffer of one connection: bytes [start, end) are received, unread. */
struct uclient_rbuf {
	uint8_t *data;
	size_t start, end, cap;
};

int uclient_wait(int fd, short events, int timeout_ms, short *revents);
ssize_t uclient_send_some(int fd, const struct iovec *iov, size_t iovcnt);
struct utmem_client;
/*
 * Send as much of iov as the connection takes now, on whatever kind of
 * stream c has (a socket, or a virtio-serial port). Returns the byte count,
 * -EAGAIN or -errno.
 */
ssize_t uclient_stream_send(struct utmem_client *c, const struct iovec *iov,
			    size_t iovcnt);
/*
 * Read exactly n reply bytes into dst, or skip them, from the channel the
 * running exec uses (the socket, or the ring when c->via_ring). Returns 0
 * or -errno; on error the stream is out of sync.
 */
int uclient_read_exact(struct utmem_client *c, void *dst, size_t n);
int uclient_skip(struct utmem_client *c, size_t n);

/* ---- the client ---- */

/* A pool handle's state: handle h is pools[h - 1]. */
struct uclient_pool {
	char name[UCLIENT_POOL_NAME_MAX + 1];
	uint16_t wflags;   /* UWIRE_F_EPHEMERAL/SHARED/CREATE for POOL_OPEN */
	uint32_t server;   /* the daemon's id on the current connection */
	int open;          /* 0 once destroyed by this client */
	int stale;         /* 1: reopen by name before use (new connection) */
};

/* Posted requests of a connection with a ring (post.c). */
#define UCLIENT_PEND_SLOTS 4096u
struct uclient_post {
	uint64_t spent;          /* credit spent by posted requests */
	uint64_t returned;       /* spent as of our last CREDIT_RETURN */
	uint64_t sent;           /* request frames sent through the ring */
	uint64_t last;           /* sequence number of the last posted one */
	uint64_t noted;          /* ... of the last asynchronous request sent
				    through the ring (uclient_post_note) */
	int credit_ok;           /* utmemd grants credit on this ring */
	uint32_t used_gen[URING_STAGES];   /* per staging slot: the generation last used */
	uint64_t refs;           /* PUT_REFs posted */
	uint32_t seen_gen[URING_STAGES];   /* per staging slot: the generation seen last */
	uint64_t seen_at[URING_STAGES];    /* ... and refs when it was first seen */
	uint64_t seen_recall;    /* the daemon's recall count last acted on */
	uint32_t seen_pools_gen; /* the ring header's pools_gen last acted on */
	/* one-sided GETs per pool, reported in the ring header */
	uint32_t rd_pool[URING_READ_POOLS];
	uint64_t rd_reads[URING_READ_POOLS], rd_hits[URING_READ_POOLS];
	/* per hash slot of (pool, key): sequence number of the last posted
	 * request there, to know when a one-sided read must wait */
	uint64_t pend[UCLIENT_PEND_SLOTS];
	/* staging extents written lately: cold ones get streaming stores */
	struct uvr_reuse reuse;
};

/*
 * Clock readings of the running (or last) timed call, UTMEM_OPT_TIMING
 * (bench.c): entry and exit of the public call, the hand-over to the
 * channel and the whole reply in (send, recv), and the time of a
 * one-sided read (side_ns).
 */
struct uclient_tm {
	uint64_t entry, exit, send, recv, side_ns;
	unsigned path; /* UTMEM_PATH_* */
	int running;   /* a timed call is under way: exec marks only then */
	int valid;     /* a timed call completed */
	uint64_t gen;  /* RING/SOCKET: the connection it was served on */
	uint64_t id;   /* ... and c->next_id after it: utmemd keeps the
			  times of a connection's last request only */
};

struct utmem_client {
	pthread_mutex_t lock; /* serializes every call on this client:
				 taken through uclient_lock() only */
	struct uclient_addr addr;
	char *token;
	size_t token_len;
	int timeout_ms;
	int no_reconnect;

	int fd; /* -1 while disconnected */
	struct uclient_rbuf rb;
	uint64_t next_id;
	struct uwire_limits rx_lim; /* what a reply may carry */
	uint32_t max_key, max_value, tenant_id;

	/* virtio-serial (vport.c): bytes of the frame being written still to
	 * go, and the buffer that makes each write one whole piece. */
	size_t vport_left;
	uint8_t *vport_buf;

	struct uclient_ring *ring; /* NULL: socket only */
	struct uclient_region *region; /* the tenant's value region, or NULL */
	struct uclient_post post;  /* reset with each new ring */
	const uint32_t *live;      /* the daemon's liveness word, or NULL */
	unsigned flags;            /* UTMEM_OPT_* */
	int no_post;               /* never post PUTs (UTMEM_OPT_SYNC_PUT) */
	int posts_lost;            /* a connection dropped with posted PUTs
				      unserved: the next utmem_sync says so */
	int lazy_kick;             /* posted requests ring no doorbell */
	int via_ring;              /* the running exec uses the ring */
	int sync_get;              /* GETs ask utmemd (UTMEM_OPT_SYNC_GET) */
	int no_forward;            /* PUT/GET answered here (benchmark mode) */
	uint32_t bench;            /* UWIRE_BENCH_* asked of utmemd, or 0 */
	struct uclient_tm tm;      /* UTMEM_OPT_TIMING */

	struct uclient_pool *pools;
	size_t npools;

	uint64_t conn_gen;            /* bumped with each new connection */
	struct uclient_async *async;  /* asynchronous requests, or NULL */
	uint64_t forks;               /* uclient_forks when this process
					 took the client over */
};

/* What to do with a successful reply's value. */
enum uclient_rx {
	UCLIENT_RX_NONE,   /* expect none (skip any) */
	UCLIENT_RX_BUF,    /* into buf, at most cap bytes, else -ENOBUFS */
	UCLIENT_RX_ALLOC,  /* into a malloc()ed buffer stored in *out */
	UCLIENT_RX_RECORD, /* exactly cap bytes into buf, else -EPROTO */
};

/*
 * One request and, after uclient_exec(), its outcome. The caller fills the
 * first block; uclient_exec() fills the rest. A request whose `done` is set
 * before exec is not sent (its result is already known).
 */
struct uclient_req {
	uint8_t op;
	uint16_t flags;
	uint32_t pool;     /* server pool id */
	const void *key;
	uint32_t klen;
	const void *val;
	uint32_t vlen;
	enum uclient_rx rx;
	void *buf;
	size_t cap;
	void **out;        /* RX_ALLOC */
	ssize_t force;     /* if nonzero: the result when the request succeeds */

	uint8_t hdr[UWIRE_HDR_SIZE];
	uint8_t maxlen[4]; /* GET with F_MAXLEN: the value sent */
	int done;
	ssize_t result;    /* 0, a value length, or -errno */
	uint32_t reply_pool;
};

int uclient_exec(struct utmem_client *c, struct uclient_req *r, size_t n);
/* uclient_exec() of the one request r: its result (0, a value length or
 * the -errno of its reply's status), or the connection's -errno. */
ssize_t uclient_exec_one(struct utmem_client *c, struct uclient_req *r);

/*
 * Read one reply from the channel in use and settle the request of
 * r[0..n) (ids base..) or the asynchronous request it answers. Returns 0
 * or -errno (the stream is then out of sync). exec.c.
 */
int uclient_read_reply(struct utmem_client *c, struct uclient_req *r, size_t n,
		       uint64_t base, long *waiting);

/* ---- asynchronous requests (async.c) ---- */

/* Ids of asynchronous requests have this bit; exec's ids never do. */
#define UCLIENT_ASYNC_ID (1ull << 63)
struct uclient_async;
/* Settle the asynchronous request that h answers (its key and value still
 * to read from the channel). Returns 0 or -errno (stream out of sync). */
int uclient_async_reply(struct utmem_client *c, const struct uwire_hdr *h);
/* The connection is going: complete every request in flight with err. */
void uclient_async_fail(struct utmem_client *c, int err);
/*
 * After a wait or an exchange on the connection: with requests
 * outstanding, ask utmemd again to ring our doorbell for replies, and make
 * the event descriptor readable if replies or completions are already
 * waiting (a synchronous call may have taken the wake-up meant for them).
 */
void uclient_async_note(struct utmem_client *c);
/* Before an exchange on the socket of a ring connection: read the replies
 * of every request in flight on the ring first. Returns 0 or -errno. */
int uclient_async_drain(struct utmem_client *c);
/*
 * Read the replies that have arrived for requests in flight (lock held, no
 * synchronous request outstanding) and keep them as completions. Returns
 * 1 if any request is in flight, 0 if none, or -errno.
 */
int uclient_async_take_arrived(struct utmem_client *c);
/* Free everything (utmem_close). */
void uclient_async_free(struct utmem_client *c);
/*
 * In a child after fork(): put a new epoll instance of our own under the
 * event descriptor's number and a new eventfd in place of the shared ones
 * (the parent's, which we never write or change). Returns 0 or -errno.
 */
int uclient_async_forked(struct utmem_client *c);
/* Are asynchronous requests offered on c's transport? 0 or -EOPNOTSUPP
 * (dev: and ivshmem: carry one request at a time). */
static inline int uclient_async_offered(const struct utmem_client *c)
{
	return c->addr.kind == UCLIENT_DEV || c->addr.kind == UCLIENT_IVSHMEM
		       ? -EOPNOTSUPP : 0;
}

/*
 * Send one asynchronous request (lock held): op, flags, key and what the
 * frame carries after the key (a PUT's value, a GET's MAXLEN); its
 * completion carries tag. Returns 0 or -errno (nothing sent).
 */
int uclient_async_submit(struct utmem_client *c, uint32_t handle, uint8_t op,
			 uint16_t flags, const void *key, size_t klen,
			 const void *val, size_t vlen, uint64_t tag);
/* A STATS reply's record (UWIRE_STATS_SIZE bytes) as the public struct. */
void uclient_stats_decode(const uint8_t *rec, struct utmem_stats *out);

/*
 * Serve r (pool resolved, handle h) on the fast path if it can be: a PUT
 * posted, a non-exclusive GET into a buffer read one-sidedly. Returns 1
 * (r done, its result set), 0 (send it to utmemd), or -errno (connection
 * failed). Lock held.
 */
int uclient_fast_req(struct utmem_client *c, uint32_t h, struct uclient_req *r);

/* Could uclient_fast_req() serve r (it may still decline)? No side effects. */
int uclient_fast_candidate(const struct utmem_client *c, uint32_t h,
			   const struct uclient_req *r);
void uclient_disconnect(struct utmem_client *c);
/* Connect c if it is not (lock held, taken through uclient_lock(), which
 * has already dealt with fork()). Returns 0 or -errno. */
int uclient_ensure(struct utmem_client *c);

/*
 * fork() (client.c): every child process bumps uclient_forks (a
 * pthread_atfork handler registered by the first client made), so a
 * client whose `forks` differs was inherited from a parent. Its
 * connection, ring, value region, doorbells and event descriptors are
 * then shared with that parent: uclient_forked() drops them without
 * writing to any of them (no hazard word cleared, no frame sent, no
 * doorbell rung, no epoll registration changed), gives the client an
 * event descriptor of its own under the same number, and leaves it
 * disconnected, to reconnect as after a lost connection. Returns 0, or
 * -errno if no new event descriptor could be made (the client is then
 * still the parent's: the call fails and the next one tries again).
 */
/* hidden: read directly, not through the GOT, on every call */
extern __attribute__((visibility("hidden"))) uint64_t uclient_forks;
int uclient_forked(struct utmem_client *c);

/* Was c inherited through fork() and not yet taken over? One relaxed
 * load and a compare. */
static inline int uclient_inherited(const struct utmem_client *c)
{
	return __builtin_expect(c->forks != __atomic_load_n(&uclient_forks,
							    __ATOMIC_RELAXED), 0);
}

/*
 * The one way into a client for every public call that takes its lock
 * (and so may touch its connection): lock c and, in a child after
 * fork(), first take the client over (uclient_forked()). Returns 0 with
 * the lock held, or -errno with it released. Nothing else in the
 * library takes c->lock (the client-lock-entry test checks it); leave
 * with uclient_unlock(). utmem_close() alone compares uclient_inherited()
 * itself: it frees the client whatever the outcome.
 */
static inline int uclient_lock(struct utmem_client *c)
{
	int err;

	pthread_mutex_lock(&c->lock);
	if (!uclient_inherited(c))
		return 0;
	err = uclient_forked(c);
	if (err)
		pthread_mutex_unlock(&c->lock);
	return err;
}

static inline void uclient_unlock(struct utmem_client *c)
{
	pthread_mutex_unlock(&c->lock);
}
/*
 * utmemd answered BADPOOL for server pool id server (0: none): the pool
 * is gone (an operator destroyed it). Its handles are reopened by name
 * before their next use, as on a new connection: a pool opened with
 * UTMEM_POOL_CREATE is made again, another one's handle then gives -EBADF.
 */
void uclient_pool_refused(struct utmem_client *c, uint32_t server);
int uclient_resolve_pool(struct utmem_client *c, uint32_t handle,
			 int allow_tenant, uint32_t *server);
void uclient_req_get(struct uclient_req *r, const void *key, size_t klen,
		     void *buf, size_t cap, unsigned flags);
int uclient_req_put(const struct utmem_client *c, struct uclient_req *r,
		    const void *key, size_t klen, const void *val, size_t vlen);
int uclient_check_key(const struct utmem_client *c, const void *key,
		      size_t klen);

/* ---- benchmark modes and timing (bench.c) ---- */

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t uclient_now(void);
/*
 * A timed public call: its entry time is read first thing (0 without
 * UTMEM_OPT_TIMING; flags never change after connect, so no lock), and
 * kept in c->tm once the lock is held, so threads sharing a client never
 * write c->tm at once. uclient_tm_end() runs with the lock held too.
 */
uint64_t uclient_tm_entry(const struct utmem_client *c);
void uclient_tm_begin(struct utmem_client *c, uint64_t entry);
void uclient_tm_end(struct utmem_client *c);
/*
 * A timed call that ended before handing anything to a channel (an
 * argument error, a pool handle refused, no connection): it is the last
 * call all the same, with path NONE and only library time, so its
 * predecessor's figures cannot be read as its own. Takes and releases
 * the lock (not held on entry). Returns err.
 */
int uclient_tm_none(struct utmem_client *c, uint64_t entry, int err);
/* The request was handed to a channel at `send`, fully answered now. */
void uclient_tm_mark(struct utmem_client *c, unsigned path, uint64_t send);
/*
 * Ask utmemd for this connection's benchmark modes (c->bench) on a fresh
 * connection. Returns 0 (none asked, or granted), -EOPNOTSUPP (utmemd
 * refuses: bench_modes is off there, or it predates BENCH) or -errno.
 */
int uclient_bench_hello(struct utmem_client *c);

/* ---- one-sided reads of the value region (sget.c) ---- */

/* The tenant's value region as this client maps it. */
struct uclient_region {
	uint8_t *base;
	uint64_t size;
	uint64_t heap_off;
	uint64_t seed;
	const struct uvr_dir *dir;
	uint64_t *hazard; /* our hazard word; NULL: no one-sided reads */
};

/* Receives a value in place; what it returns (< 0 = error) is passed on. */
typedef int (*uclient_view_fn)(void *ctx, const void *val, size_t len);

/*
 * Find (pool, key) in the region's index and hand the value to fn while it
 * is pinned by our hazard word (fn must not keep the pointer). Returns 0
 * (hit: fn was called), -ENOENT (authoritative miss), -EAGAIN (could not
 * get a stable view: ask utmemd), or fn's negative result. fn is called
 * at most once; a caller whose fn may itself return -ENOENT or -EAGAIN
 * tells them apart by noting the call in ctx (utmem_get_view does).
 */
int uclient_sget(struct uclient_region *r, uint32_t pool, const void *key,
		 size_t klen, uclient_view_fn fn, void *ctx);

/* ---- posted PUTs (post.c) ---- */

/*
 * Post a PUT on the ring if credit covers it (through a staging extent for
 * a record that big in a region_pool, else inline). Returns 0 (posted: the
 * PUT will take effect, in order, with no reply), -EAGAIN (not covered:
 * send it synchronously; what credit was left has been given back), or
 * -errno (the connection failed).
 */
int uclient_post_put(struct utmem_client *c, uint32_t pool, int region_pool,
		     const void *key, size_t klen, const void *val, size_t vlen);
/*
 * The request just put into the ring (an asynchronous pop or INVALIDATE,
 * answered later) touches (pool, key): one-sided reads of the key wait
 * until utmemd has applied it, as they wait for posted PUTs.
 */
void uclient_post_note(struct utmem_client *c, uint32_t pool, const void *key,
		       size_t klen);
/*
 * Wait until the posted requests on (pool, key) — or, with key NULL, every
 * posted request — were served. Returns 0 or -errno.
 */
int uclient_post_settle(struct utmem_client *c, uint32_t pool, const void *key,
			size_t klen);
/* Is a request posted (or an asynchronous one noted) on (pool, key)
 * (NULL: any) not served yet? */
int uclient_post_pending(struct utmem_client *c, uint32_t pool,
			 const void *key, size_t klen);

/* ---- the shared-memory ring (ring.c) ---- */

/*
 * Ask the daemon for a ring on the fresh connection (after HELLO) and map
 * it. Returns 0, -EOPNOTSUPP if the daemon refuses (rings off, no budget:
 * the client stays on the socket), or -errno (the connection is unusable).
 */
int uclient_ring_setup(struct utmem_client *c);
void uclient_ring_free(struct utmem_client *c);
/* Unmap the value region (clearing our hazard word first). */
void uclient_region_free(struct utmem_client *c);
/* Largest request frame sent through the ring; larger ones use the socket. */
size_t uclient_ring_max_frame(const struct utmem_client *c);
/* What utmemd published in the ring header (layout 2). */
uint64_t uclient_ring_credit(struct utmem_client *c);
uint64_t uclient_ring_recall(struct utmem_client *c);
/* The ring header's pools_gen (0 without a ring). */
uint32_t uclient_ring_pools_gen(struct utmem_client *c);
/* Tell utmemd whether we may be spending credit now (ring.h `posting`). */
void uclient_ring_posting(struct utmem_client *c, int busy);
/* Why utmemd closed the ring's connection (a wire status), or 0. */
unsigned uclient_ring_closed(struct utmem_client *c);
/* Report one-sided reads in the ring header (utmemd adds them to stats). */
void uclient_ring_report_reads(struct utmem_client *c, uint32_t pool, int hit);
uint64_t uclient_ring_applied(struct utmem_client *c);
int uclient_ring_stage(struct utmem_client *c, unsigned i, uint64_t *off,
		       uint64_t *len, uint32_t *gen);
/* Slots holding an extent whose generation differs from used_gen[]. */
uint32_t uclient_ring_stages_held(struct utmem_client *c,
				  const uint32_t *used_gen);
/*
 * Put one whole frame into the request ring (waiting for room), count it
 * and ring the daemon's doorbell unless kicks are lazy. Returns 0 or -errno.
 */
int uclient_ring_post(struct utmem_client *c, const struct iovec *iov,
		      size_t iovcnt);
/* Ring the daemon's doorbell if it sleeps (lazy kicks: utmem_flush). */
void uclient_ring_flush(struct utmem_client *c);
/*
 * Asynchronous requests (async.c): our doorbell's descriptor (-1 for a VM
 * ring); raise our sleeping flag for reply data, so that utmemd rings the
 * doorbell when it next writes a reply (disarm: lower it again); empty the
 * doorbell, returning 1 if
 * the daemon closed its end (it is gone), else 0.
 */
int uclient_ring_bell_fd(const struct utmem_client *c);
void uclient_ring_arm(struct utmem_client *c);
void uclient_ring_disarm(struct utmem_client *c);
int uclient_ring_drain_bell(struct utmem_client *c);
/* Wait until utmemd has served `target` request frames. */
int uclient_ring_wait_applied(struct utmem_client *c, uint64_t target,
			      int timeout_ms);
/* Copy as much of iov as fits. Returns bytes, -EAGAIN (full) or -EPROTO. */
ssize_t uclient_ring_send(struct utmem_client *c, const struct iovec *iov,
			  size_t iovcnt);
/* Copy up to len reply bytes. Returns bytes (0: none yet) or -EPROTO. */
ssize_t uclient_ring_recv(struct utmem_client *c, void *dst, size_t len);
/* Reply bytes are waiting in the ring (1), none (0), or -EPROTO. */
int uclient_ring_rx_ready(struct utmem_client *c);
/*
 * A ring with no socket and no eventfds: a VM guest's ivshmem BAR
 * (ivshmem.c). Every frame then goes through the ring, whatever its size,
 * and the owner says how to wake the daemon and how to wait:
 *   kick     wake the daemon (its sleeping flag asked for `what`); may be NULL
 *   sleep    wait a little (round: waits since this wait began); 0 to look
 *            again, or -errno when the session is gone
 *   release  the ring is freed: unmap m and free arg
 */
struct uring_map;
struct uclient_ring_vm {
	void (*kick)(void *arg, uint32_t what);
	int (*sleep)(void *arg, unsigned round);
	void (*release)(void *arg, struct uring_map *m);
	void *arg;
};
/* Serve c through the ring mapped at m (positions 0). Takes m and the
 * owner's arg in every case. Returns 0 or -ENOMEM. */
int uclient_ring_adopt_vm(struct utmem_client *c, const struct uring_map *m,
			  const struct uclient_ring_vm *vm);
/* The owner's arg of c's VM ring, or NULL. */
void *uclient_ring_vm_arg(const struct utmem_client *c);
/*
 * Wait until reply bytes arrive (or, with want_room, until the request ring
 * has room): spin briefly, then sleep on the doorbell and the socket.
 * Returns 0, -ETIMEDOUT, -ECONNRESET (daemon gone) or -EPROTO.
 */
int uclient_ring_wait(struct utmem_client *c, int want_room, int timeout_ms);

/* ---- virtio-serial in a guest (vport.c) ---- */

/* Open the port of a (vport_by_name: look it up in sysfs). fd or -errno. */
int uclient_vport_open(const struct uclient_addr *a);
/*
 * Skip whatever a previous process left in the stream: PING with a random
 * id and discard everything up to its reply. Returns 0 or -errno.
 */
int uclient_vport_sync(struct utmem_client *c);
/* Write iov, each frame with its own write() calls. Like uclient_stream_send. */
ssize_t uclient_vport_send(struct utmem_client *c, const struct iovec *iov,
			   size_t iovcnt);
/* The idle port reports its host end gone (1) or not (0). */
int uclient_vport_idle_dead(struct utmem_client *c);

/* ---- an ivshmem BAR in a guest (ivshmem.c) ---- */

/* Open and lock the BAR (or region file) of a. fd or -errno. */
int uclient_ivshmem_open(const struct uclient_addr *a);
/* Attach a session on the opened c->fd and adopt its ring. 0 or -errno. */
int uclient_ivshmem_attach(struct utmem_client *c);
/* The session is no longer ours (another attach, a new daemon). */
int uclient_ivshmem_idle_dead(struct utmem_client *c);

/* ---- the guest module's device (dev.c) ---- */

/* Open the device of a. fd or -errno. */
int uclient_dev_open(const struct uclient_addr *a);
/* uclient_exec() for a device: each request is one ioctl. */
int uclient_dev_exec(struct utmem_client *c, struct uclient_req *r, size_t n);

/*
 * For tests and the fuzzer: a client on an already connected descriptor,
 * which it owns from then on. It does HELLO and never reconnects.
 */
int uclient_attach_fd(int fd, int timeout_ms, utmem_client **out);

#endif /* UTMEM_CLIENT_INT_H */

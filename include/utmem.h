/*
 * utmem.h — libutmem, the client library of utmem (Userspace Transcendent
 * Memory).
 *
 * A program connects to the host's utmemd, opens pools by name and kind, and
 * PUTs, GETs and INVALIDATEs values of any size up to the daemon's limit.
 * The tenant it acts as is decided by how it connected (which socket, which
 * token), never by anything it claims.
 *
 * Return convention: every function returning int or ssize_t returns 0 (or a
 * count or a length) on success and a negative errno value on failure;
 * utmem_strerror() describes any such value.
 *
 * Errors with a utmem meaning, each with a text of its own from
 * utmem_strerror() (test_errors.c holds this list and errors.c together):
 *   -ENOENT      GET/INVALIDATE miss; pool name unknown (open without CREATE)
 *   -EBADF       pool handle unknown, destroyed, or not this tenant's
 *   -EACCES      shared pool not granted to this tenant by the operator;
 *                utmem_pool_flush/destroy of a shared pool the operator
 *                granted without `manage`; or, from a connect, the socket's
 *                owner, group or mode does not admit this user
 *   -EKEYREVOKED the operator removed this tenant (its socket is gone)
 *   -EEXIST      pool exists with another kind
 *   -EMSGSIZE    key or value longer than the daemon accepts
 *   -EDQUOT      this tenant's quota would be exceeded (PUT refused; no value
 *                is left under the key); utmem_pool_open: the tenant's
 *                private-pool limit (max_pools) or the charge for pool
 *                metadata is reached; or, from a connect (the first, or
 *                the reconnect of any call), the tenant's connection limit
 *                (max_conns) is reached
 *   -ENOSPC      the host pool's capacity would be exceeded (same)
 *   -ENOBUFS     GET: the value is longer than the buffer (nothing
 *                removed); utmem_server_info: the text is longer than cap
 *                allows (a SERVER_INFO completion: than
 *                UTMEM_SERVER_INFO_MAX allows, its NUL included)
 *   -EROFS       PUT refused because the operator froze this tenant for
 *                maintenance (no value is left under the key); GET and
 *                INVALIDATE are still served
 *   -EPERM       TCP token refused
 *   -ENOMEM      memory ran out: this library's, or utmemd's (status
 *                NOMEM: it could not allocate, or a request frame does not
 *                fit the tenant's in-flight budget, after which it closes
 *                the connection)
 *   -E2BIG       a batch would pass 2^20 operations
 *   -EOPNOTSUPP  not offered: utmemd does not know the request (an older
 *                utmemd's utmem_server_info) or refuses a benchmark mode
 *                (utmem_connect, see UTMEM_OPT_NO_FORWARD); asynchronous
 *                requests on dev: and ivshmem: addresses, and
 *                utmem_server_info on dev: (the guest module has no
 *                request for it)
 *   -ESHUTDOWN   utmemd answered that it is stopping (status SHUTDOWN)
 *   -EIO         utmemd's internal error (status INTERNAL); in a VM guest,
 *                a virtio-serial port that would not take a whole frame
 *   -ECONNRESET, -ECONNREFUSED, -ENOTCONN, -ETIMEDOUT, -EPIPE
 *                the daemon went away (a missing Unix socket file is
 *                -ECONNREFUSED, never -ENOENT, so "daemon down" cannot be
 *                mistaken for a miss; nor can a pool lost in a restart,
 *                which is -EBADF) or did not answer in time; -ENOTCONN
 *                also when no_reconnect keeps the client from redialing.
 *                The next call reconnects and reopens the client's pools
 *                by name.
 *                The outcome of a request that failed this way is unknown
 *                (a PUT may or may not have been applied): INVALIDATE the
 *                key once reconnected if that matters. A connection the
 *                daemon closed while the client was idle (a restart) is
 *                noticed before sending and replaced without an error.
 *   -EPROTO, -EPROTONOSUPPORT
 *                the daemon sent something this library does not
 *                understand (a status it does not know included), or
 *                speaks another protocol version
 *
 * Other errors keep their usual meaning and the C library's text:
 *   -EINVAL      an argument the call refuses (each call says which: a
 *                NULL pointer, unknown flags, an empty key, a malformed
 *                address, unknown options), or one utmemd refuses (status
 *                INVALID)
 *   -EAGAIN      UTMEM_ASYNC_MAX asynchronous requests outstanding;
 *                utmem_get_view with UTMEM_GET_LOCAL that could not read
 *                the value region; utmem_batch_result before the exec
 *   -EMFILE, -ENFILE
 *                no descriptor left (a connect; a child's first call after
 *                fork(), below)
 *   from utmem_connect, and from any call that reconnects, whatever the
 *                transport's system calls report when utmemd cannot be
 *                reached: socket(2) and connect(2) (-ENOTDIR,
 *                -EAFNOSUPPORT where there is no vsock, -ENETUNREACH, ...),
 *                a TCP HOST that does not resolve (-EHOSTUNREACH; -EAGAIN
 *                for a temporary failure of the resolver), and in a VM
 *                guest the device's open(2) and ioctl(2) (-ENOTTY: not a
 *                utmem device or port; -ENODEV: no ivshmem device holds a
 *                utmem region, or, as -ENXIO, the device went away;
 *                -EBUSY: another process holds the region)
 * utmem_get_view() passes fn's result on, whatever it is. The statuses of
 * docs/protocol.md section 6 come back as the errno values listed there;
 * NOTEMPTY is the admin socket's and never reaches a tenant.
 *
 * Thread safety: a utmem_client may be shared by threads; calls on one client
 * are serialized by an internal mutex held for the whole call (including a
 * whole batch), so requests of different threads never interleave on the
 * connection. For parallelism, use one client per thread. A utmem_batch
 * belongs to one thread at a time. The library never raises SIGPIPE.
 *
 * fork(): a child may go on using a client (and its batches) inherited
 * from its parent. Its first call on the client that gets past its
 * argument checks (utmem_close() included; any such call, whatever it
 * returns, but utmem_max_key(), utmem_max_value(), the batch calls that
 * queue or read results and the exec of an empty batch, which touch
 * nothing shared) drops the inherited connection without writing to
 * anything it shares with the parent (the socket, the ring, the value
 * region, the event descriptor), so the parent's use of the client is
 * unaffected, and then behaves as after a lost connection: it reconnects
 * as a new connection of the same tenant and reopens the pools by name
 * (with no_reconnect it fails with -ENOTCONN). Asynchronous requests outstanding at the fork
 * stay the parent's: in the child each completes with -ECONNRESET; the
 * event descriptor keeps its number but is the child's own. PUTs the
 * parent posted before the fork are seen by the child once utmemd has
 * served them (call utmem_sync() before fork() to be sure of it).
 * fork() while another thread is inside a call on the client leaves that
 * client unusable in the child (its lock stays held there). Should the
 * child have no descriptor left for its own event descriptor, that first
 * call fails with -EMFILE, -ENFILE or -ENOMEM (the next tries again),
 * but for utmem_flush(), which returns 0 (nothing was posted in the
 * child), and utmem_close(), which frees the client all the same.
 *
 * Keys are 1..utmem_max_key() bytes (an empty key is -EINVAL); values are
 * 0..utmem_max_value() bytes. The wire protocol is docs/protocol.md.
 *
 * ABI: same major version = ABI compatible. Symbols are versioned UTMEM_0.
 */
#ifndef UTMEM_H
#define UTMEM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UTMEM_VERSION_MAJOR 0
#define UTMEM_VERSION_MINOR 1
#define UTMEM_VERSION_PATCH 0
#define UTMEM_VERSION_STRING "0.1.0"

#if defined(UTMEM_BUILDING) && defined(__GNUC__)
#define UTMEM_API __attribute__((visibility("default")))
#else
#define UTMEM_API
#endif

typedef struct utmem_client utmem_client;
typedef struct utmem_batch utmem_batch;

/* Pool kind and open flags for utmem_pool_open(). */
#define UTMEM_POOL_PERSISTENT 0u        /* a successful PUT is kept until removed */
#define UTMEM_POOL_EPHEMERAL (1u << 0)  /* the host may drop entries any time */
#define UTMEM_POOL_SHARED (1u << 1)     /* a pool the operator shares */
#define UTMEM_POOL_CREATE (1u << 2)     /* create a private pool if missing */

/* GET flags. */
#define UTMEM_GET_EXCLUSIVE (1u << 0)   /* pop: return and remove in one step */
#define UTMEM_GET_LOCAL (1u << 1)       /* utmem_get_view only: answer from a
					   one-sided read of the value region
					   or fail with -EAGAIN, never ask
					   utmemd (see utmem_get_view) */
#define UTMEM_GET_PROBE (1u << 2)       /* utmem_submit_get only: ask whether
					   the key holds a value, without the
					   value (see utmem_submit_get) */

struct utmem_options {
	const char *token; /* TCP: the tenant's token (required there) */
	int timeout_ms;    /* connect timeout (a unix: connect waits this
			      long for room in a full accept queue), and
			      how long a request may make no progress (no
			      byte sent or received) before it fails with
			      -ETIMEDOUT; 0 = 5000 */
	int no_reconnect;  /* 1: fail with -ENOTCONN instead of reconnecting */
	unsigned flags;    /* UTMEM_OPT_* */
	unsigned reserved[7]; /* must be 0: room for options to come */
};

/* utmem_options.flags */
#define UTMEM_OPT_NO_FAST_PATH (1u << 0) /* socket only: no ring, no region */
#define UTMEM_OPT_SYNC_PUT (1u << 1)     /* every PUT waits for its reply */
#define UTMEM_OPT_LAZY_KICK (1u << 2)    /* posted PUTs do not wake utmemd
					    (a system call when it sleeps);
					    call utmem_flush() when done */
#define UTMEM_OPT_SYNC_GET (1u << 3)     /* every GET asks utmemd (no
					    one-sided read of the region) */
/*
 * Benchmarking aids: the latency breakdown modes (utmem-bench --breakdown,
 * docs/evaluation.md). Each needs a utmemd started with `bench_modes = on`
 * and is asked for per connection; against any other utmemd
 * utmem_connect() fails with -EOPNOTSUPP, so a program built with one of
 * them cannot run against a production daemon unnoticed.
 *   NO_FORWARD  utmem_put/utmem_get/utmem_get_alloc/utmem_get_view and
 *               utmem_submit_put are answered by the library where it
 *               would hand the request to the transport: PUT 0
 *               (utmem_submit_put 1, no completion; nothing stored; a
 *               value over the maximum -EMSGSIZE, as forwarded, without
 *               dropping the old value), GET -ENOENT.
 *               Other calls (pool open, stats, batches, the other
 *               asynchronous requests) are forwarded.
 *   NULL_STORE  utmemd answers PUTs without storing anything (the key's
 *               old value, if any, stays) and GETs with as many zero
 *               bytes as the buffer holds (utmem_get_alloc: none),
 *               without reading the store; implies SYNC_PUT and SYNC_GET.
 *               Not with NO_FORWARD (-EINVAL).
 *   TIMING      time every PUT and GET call; utmem_timing() reads the
 *               last one's breakdown.
 */
#define UTMEM_OPT_NO_FORWARD (1u << 4)
#define UTMEM_OPT_NULL_STORE (1u << 5)
#define UTMEM_OPT_TIMING (1u << 6)

/*
 * Counters of this tenant (pool 0) or of one pool, as the daemon keeps them.
 * reserved is zeroed by this library; a later minor version may put new
 * counters there (the struct's size changes only with the soname).
 */
struct utmem_stats {
	uint64_t entries, bytes_stored, bytes_charged;
	uint64_t puts, gets, hits, misses, invalidates, evictions, refused_puts;
	uint64_t limit_max, limit_min; /* tenant figures only */
	uint64_t reserved[4];
};

/* The path a timed call took (struct utmem_timing.path). */
#define UTMEM_PATH_NONE 0      /* answered by the library (NO_FORWARD, or an
				  error before anything was sent: a bad
				  argument or pool handle, no connection) */
#define UTMEM_PATH_POSTED 1    /* PUT posted to the ring, not waited for */
#define UTMEM_PATH_ONE_SIDED 2 /* GET read from the value region */
#define UTMEM_PATH_RING 3      /* request and reply through the ring */
#define UTMEM_PATH_SOCKET 4    /* request and reply through the socket */

/*
 * Where the last timed call spent its time, in nanoseconds; the four parts
 * add up to the call's duration:
 *   library    the call minus what follows (arguments, the lock, the
 *              connection check, pool lookup, waiting for credit)
 *   transport  RING/SOCKET: from handing the request to the channel to
 *              having its whole reply, minus utmemd's service time
 *              (copies in and out, wake-ups, system calls); POSTED: the
 *              hand-over (the value's copy into shared memory)
 *   daemon     utmemd's service time minus the store's (parsing is done:
 *              dispatch, checks, the reply queued)
 *   store      RING/SOCKET: inside utmemd's store call (allocation, the
 *              copy, the index; for a GET the copy into the reply);
 *              ONE_SIDED: the library's read of the index and the copy
 *              out of the value region
 */
struct utmem_timing {
	uint64_t library_ns, transport_ns, daemon_ns, store_ns;
	unsigned path;        /* UTMEM_PATH_* */
	unsigned reserved[3];
};

/* Version of the library actually loaded, e.g. "0.1.0". */
UTMEM_API const char *utmem_version(void);

/*
 * Describe a negative errno value returned by this library (a positive one
 * is taken as its negation). Any int is accepted: one that is no errno
 * value gives "unknown error N". The text is constant or this thread's
 * own, valid until the thread calls utmem_strerror() again; never free it.
 */
UTMEM_API const char *utmem_strerror(int err);

/*
 * Connect to utmemd. addr is one of
 *   unix:PATH            a tenant's Unix socket (or just PATH: an address
 *                        with none of the prefixes here and a '/' in
 *                        it), with the fast path when utmemd offers it: a
 *                        shared-memory ring for requests (no system calls
 *                        while both sides are busy) and the tenant's value
 *                        region, so that PUTs are posted without waiting
 *                        and GETs read values without asking utmemd
 *                        (docs/protocol.md sections 9 and 10); where it
 *                        is not offered, the socket alone.
 *                        Env UTMEM_RING_SPIN_US bounds the client's spin
 *                        (default 50, 0 = never spin)
 *                        UTMEM_FAST_PATH=0 in the environment (or the
 *                        option UTMEM_OPT_NO_FAST_PATH) keeps to the socket
 *   ring:PATH            the same as unix:PATH (kept for old configs)
 *   tcp:HOST:PORT        needs opt->token; HOST a name or an IPv4
 *                        address (tcp:127.0.0.1:7000), or an IPv6 address
 *                        in brackets (tcp:[::1]:7000), up to 255 bytes;
 *                        an IPv6 address without them (tcp:::1:7000) is
 *                        refused, as nothing would say where it ends,
 *                        and brackets around anything else too; PORT
 *                        1..65535 in decimal digits only
 *   vsock:CID:PORT       from a VM guest; CID and PORT in decimal digits,
 *                        each at most 4294967295
 *   vport:PATH           from a VM guest: a virtio-serial port device (e.g.
 *                        /dev/vport0p1) whose host end QEMU connects to a
 *                        tenant's Unix socket; one process at a time
 *   virtio-serial:NAME   the same, the port found by its name= in sysfs
 *                        (NAME has no '/')
 *   ivshmem:[PATH]       from a VM guest, no guest kernel code: the tenant's
 *                        ivshmem BAR mapped through sysfs (PATH: the PCI
 *                        device directory or its resource2; none: the
 *                        first ivshmem device holding a utmem region)
 *   dev:PATH             from a VM guest with the utmem module loaded:
 *                        its device, e.g. dev:/dev/utmem (one ioctl per
 *                        request; the module talks to utmemd over ivshmem)
 * A PATH or NAME is 1..107 bytes (what a Unix socket address holds).
 * opt may be NULL. Returns 0 and sets *out, or -errno (-EINVAL for a
 * malformed address or a token over 64 KiB, the connect error, -EPERM for
 * a refused token: utmemd holds tokens of 8..255 bytes,
 * -EDQUOT when the tenant's connection limit is reached, -ETIMEDOUT when
 * utmemd did not take the connection, or answer it, within timeout_ms).
 */
UTMEM_API int utmem_connect(const char *addr, const struct utmem_options *opt,
			    utmem_client **out);

/*
 * Is addr written as utmem_connect() takes it (the forms above)? Nothing is
 * dialled, resolved or opened: a program can check a configured address
 * before it needs the connection. Returns 0 or -EINVAL.
 */
UTMEM_API int utmem_addr_check(const char *addr);

/* Close the connection and free the client. Accepts NULL. */
UTMEM_API void utmem_close(utmem_client *c);

/* The daemon's limits, learned at connect time. */
UTMEM_API size_t utmem_max_key(const utmem_client *c);
UTMEM_API size_t utmem_max_value(const utmem_client *c);

/*
 * Open a pool by name (1..63 bytes of [A-Za-z0-9._-], not "." or "..") and
 * kind. Sets *pool to a handle valid for this client; it survives
 * reconnects (the client reopens the pool by name); opening the same name
 * and kind again gives the same handle. A client holds at most 4096
 * handles: a new name past them is -ENOMEM, refused before anything is
 * sent (nothing is created). Returns 0 or -errno (-EINVAL for a NULL
 * pointer, a name outside those rules, or flags other than the
 * UTMEM_POOL_* above).
 */
UTMEM_API int utmem_pool_open(utmem_client *c, const char *name, unsigned flags,
			      uint32_t *pool);

/* Drop every entry of a pool / destroy it (the handle becomes invalid). */
UTMEM_API int utmem_pool_flush(utmem_client *c, uint32_t pool);
UTMEM_API int utmem_pool_destroy(utmem_client *c, uint32_t pool);

/*
 * PUT: store a copy of val under key, replacing any old value atomically.
 * If utmemd refuses it (quota, capacity, frozen, too large) the key has no
 * value afterwards (a value above utmem_max_value() is not sent: the key is
 * invalidated and -EMSGSIZE returned). A call refused for its arguments
 * (-EINVAL: a NULL value with a length, an empty key; -EBADF: a handle
 * this client never had) sends nothing and changes nothing; one that
 * fails on the link has an unknown outcome (the list at the top).
 *
 * On the fast path a PUT is usually *posted*: its charge was reserved
 * beforehand (credit utmemd grants the connection), so it cannot be
 * refused, and 0 is returned once it is handed over, before utmemd has
 * served it. Later requests of this client (GET, pop, INVALIDATE, one-sided
 * reads included) see it; other clients see it once served (utmem_sync()
 * waits for that). A posted PUT is lost only if utmemd dies first, which
 * loses every stored value anyway. When credit does not cover a PUT it is
 * sent synchronously and refused exactly at the quota. The value is copied
 * once: into the tenant's value region, where it stays as the stored
 * value, or into the ring (values under 16 KiB).
 */
UTMEM_API int utmem_put(utmem_client *c, uint32_t pool, const void *key,
			size_t klen, const void *val, size_t vlen);

/*
 * GET into buf. Returns the value's length (>= 0) on a hit, -ENOENT on a
 * miss, -ENOBUFS if the value is longer than cap (nothing is removed, even
 * with UTMEM_GET_EXCLUSIVE; call utmem_get_alloc instead).
 */
UTMEM_API ssize_t utmem_get(utmem_client *c, uint32_t pool, const void *key,
			    size_t klen, void *buf, size_t cap, unsigned flags);

/*
 * GET into a buffer allocated with malloc(); the caller frees it with free().
 * On success *val and *vlen are set (a 0-length value gives a non-NULL *val).
 */
UTMEM_API int utmem_get_alloc(utmem_client *c, uint32_t pool, const void *key,
			      size_t klen, void **val, size_t *vlen,
			      unsigned flags);

/*
 * GET without a copy: calls fn(ctx, val, len) once on a hit, with the value
 * where it lies (in the tenant's value region on the fast path). The view
 * is valid only during fn, and fn must not call into this client. Returns
 * fn's result on a hit, whatever it is (a negative one, -EAGAIN and
 * -ENOENT included, is passed on as it is; fn is never called again for
 * it), -ENOENT on a miss, or -errno; fn is called exactly once on a hit
 * and never otherwise. With UTMEM_GET_EXCLUSIVE (or off the fast path)
 * the value is first received into a temporary buffer.
 *
 * With UTMEM_GET_LOCAL the call never waits for utmemd: where a one-sided
 * read is not possible (no value region: socket only, TCP, vsock; a
 * shared pool; UTMEM_OPT_SYNC_GET), would first need utmemd (the
 * connection is down and must be dialled again, a pool handle reopened,
 * or a PUT of this client on the same key is posted and not applied yet:
 * a read without the flag waits for it) or gets no stable view this time,
 * it returns -EAGAIN without calling fn and the caller asks utmemd some
 * other way (a batch, an asynchronous request, which come after the
 * posted PUT). Not with UTMEM_GET_EXCLUSIVE (-EINVAL).
 */
typedef int (*utmem_view_fn)(void *ctx, const void *val, size_t len);
UTMEM_API int utmem_get_view(utmem_client *c, uint32_t pool, const void *key,
			     size_t klen, unsigned flags, utmem_view_fn fn,
			     void *ctx);

/*
 * With UTMEM_OPT_LAZY_KICK: wake utmemd for the PUTs posted since the last
 * flush (one system call if its worker sleeps, none if it is busy or
 * nothing was posted: cheap enough for every turn of an event loop).
 * Returns 0.
 */
UTMEM_API int utmem_flush(utmem_client *c);

/*
 * Wait until every PUT this client posted was served. Returns 0, or -errno:
 * a link error while waiting, or -ECONNRESET once after a connection was
 * lost (by any call) with posted PUTs utmemd had not yet served: each may
 * or may not be stored (its key holds the posted value or what it held
 * before). A later utmem_sync is about the PUTs posted since.
 */
UTMEM_API int utmem_sync(utmem_client *c);

/*
 * Whether a PUT of key in pool that this client posted is not applied by
 * utmemd yet (key NULL, klen 0: a PUT of any key in any pool): 1 or 0,
 * never waiting, never dialling. A read of such a key waits for the PUT,
 * and one with UTMEM_GET_LOCAL returns -EAGAIN instead, so a caller that
 * must not wait (an event loop reading many keys, e.g. the Redis module's
 * TMEM.MGET) asks this first for each key and takes another way (an
 * asynchronous request, which comes after the PUT) where it says 1. May
 * say 1 for a key whose PUT is applied (keys share slots), never 0 for
 * one whose PUT is not; 0 where the connection is down (nothing of it is
 * pending; a read dials again). Returns -EINVAL for a NULL key with a
 * length, or an empty one, -EMSGSIZE for a key longer than
 * utmem_max_key(), -EBADF for a bad pool handle (pool is not looked at
 * with a NULL key).
 */
UTMEM_API int utmem_put_pending(utmem_client *c, uint32_t pool,
				const void *key, size_t klen);

/* INVALIDATE one key: 0 if it was there, -ENOENT if not. */
UTMEM_API int utmem_invalidate(utmem_client *c, uint32_t pool, const void *key,
			       size_t klen);

/* Counters: pool = 0 for this tenant, or a pool handle. */
UTMEM_API int utmem_stats(utmem_client *c, uint32_t pool,
			  struct utmem_stats *out);

/*
 * What utmemd tells a tenant about itself: "key:value" lines (version,
 * uptime_seconds, workers, max_key, max_value, ring_size, persist, tenant,
 * tenant_connections, tenant_credit_bytes: quota its connections hold
 * reserved for posted PUTs, tenant_credit_reclaimed_bytes: what utmemd
 * took back from connections idle after a recall, connection_stage_bytes
 * and connection_stage_small_bytes: the two sizes of this connection's
 * staging extents, connection_stage_slots and connection_stage_small_slots:
 * how many it keeps and how many of them have the smaller size,
 * tenant_puts_staged, tenant_puts_posted_inline and tenant_puts_replied:
 * the tenant's PUTs by how they came, tenant_credit_returns: credit and
 * staging slots its connections gave back; docs/operations.md), one per
 * line; a newer utmemd may add keys, so parse by name. NUL-terminated in buf.
 * Returns the text's length, -EINVAL for a NULL buf or a cap of 0 (no
 * room even for the NUL; nothing is asked), -ENOBUFS if cap is too small
 * (buf holds ""), or -errno (-EOPNOTSUPP from an older utmemd).
 */
UTMEM_API ssize_t utmem_server_info(utmem_client *c, char *buf, size_t cap);

/*
 * The breakdown of this client's last utmem_put or utmem_get* call
 * (UTMEM_OPT_TIMING; batches are not timed), whatever it returned: one
 * refused before sending anything (-EINVAL, -EMSGSIZE for a key, -EBADF,
 * a failed connect) has path NONE, never the figures of the call before
 * it. For RING and SOCKET it asks utmemd for its times (one untimed
 * round trip). Each call's figures are read once. Returns 0, -EINVAL
 * without TIMING or when no timed call is unread, -ENOTCONN if the
 * connection was lost since (even if a later call reconnected), -ESTALE
 * if another request (a ping, a batch, a posted PUT, a submitted one, ...)
 * went to utmemd on the connection since (utmemd keeps the times of the
 * last request only), or -errno.
 */
UTMEM_API int utmem_timing(utmem_client *c, struct utmem_timing *out);

/* Round trip with no effect; useful for health checks. */
UTMEM_API int utmem_ping(utmem_client *c);

/*
 * Batches: queue many requests, send them in one go (pipelined on the
 * connection), and collect each result. A batch keeps pointers, not
 * copies: memory passed to it (keys, values, GET buffers) must stay valid
 * until its last utmem_batch_exec() returns, for an exec again reads and
 * writes all of it again (until utmem_batch_reset() or utmem_batch_free()).
 * The client must outlive the batch's queue and exec calls, which use it;
 * utmem_batch_free() and utmem_batch_reset() do not.
 */
UTMEM_API int utmem_batch_new(utmem_client *c, utmem_batch **out);
UTMEM_API void utmem_batch_free(utmem_batch *b); /* accepts NULL */
UTMEM_API void utmem_batch_reset(utmem_batch *b); /* empty it for reuse */

/*
 * Queue an operation; returns its index in the batch, or -errno (-EINVAL
 * for a NULL key, an empty key, a NULL value or buffer with a nonzero
 * length, or GET flags other than UTMEM_GET_EXCLUSIVE; -EMSGSIZE for a key
 * too long, -E2BIG past 2^20 operations). A refused operation is not queued and changes nothing: the
 * results of the last exec stay readable. A PUT of a value too long is
 * queued and reports -EMSGSIZE (it removes the key's old value, as
 * utmem_put does). GETs in a batch always go into a buffer.
 */
UTMEM_API int utmem_batch_put(utmem_batch *b, uint32_t pool, const void *key,
			      size_t klen, const void *val, size_t vlen);
UTMEM_API int utmem_batch_get(utmem_batch *b, uint32_t pool, const void *key,
			      size_t klen, void *buf, size_t cap,
			      unsigned flags);
UTMEM_API int utmem_batch_invalidate(utmem_batch *b, uint32_t pool,
				     const void *key, size_t klen);

/*
 * Send every queued request and wait for every reply. Returns the number of
 * operations that succeeded, or -errno if the connection failed (then no
 * result is known for the ones not yet answered: they report -ECONNRESET).
 * A batch may be executed again: every request is sent again (a pop pops
 * again) and its results replace those of the earlier exec, none of which
 * remain, even when this exec fails before sending. An empty batch returns
 * 0 without touching the connection.
 */
UTMEM_API int utmem_batch_exec(utmem_batch *b);

/*
 * Result of operation i after exec: 0 (PUT, INVALIDATE) or the value length
 * (GET), or -errno as the single-request call would have returned; -EAGAIN
 * before exec, -EINVAL for an index out of range.
 */
UTMEM_API ssize_t utmem_batch_result(const utmem_batch *b, size_t i);

/*
 * Asynchronous requests: send a GET, pop or INVALIDATE without waiting for
 * its reply, and collect the outcome later, for event loops that must not
 * block (the Redis module uses them for TMEM.POP and TMEM.DEL).
 *
 * A request goes through the same channel as every other request of the
 * client, after the PUTs it posted before, so it sees them; it is always
 * answered by utmemd (no one-sided read: use utmem_get_view for that).
 * The key is copied when the request is sent, so it need not outlive the
 * call. Synchronous calls may be made while requests are outstanding: a
 * reply they meet for an outstanding request is kept as its completion.
 *
 * At most UTMEM_ASYNC_MAX requests per client may be outstanding (sent and
 * not yet reaped); one more is refused with -EAGAIN. Each request completes
 * exactly once: with its reply, or, when the connection breaks (utmemd
 * died or restarted, a synchronous call failed with a link error, the
 * stream broke), with -ECONNRESET; its effect is then unknown (a pop may
 * have removed the value) and the library never sends it again. The
 * library puts no deadline on a request (utmemd serves them in order):
 * a caller that wants one keeps it itself, and utmem_close() discards what
 * is still outstanding. Not on dev: and ivshmem: addresses (-EOPNOTSUPP).
 */
#define UTMEM_ASYNC_MAX 1024

/* utmem_completion.op */
#define UTMEM_OP_GET 1u        /* utmem_submit_get (a pop with EXCLUSIVE) */
#define UTMEM_OP_INVALIDATE 2u /* utmem_submit_invalidate */
#define UTMEM_OP_PUT 3u        /* utmem_submit_put */
#define UTMEM_OP_STATS 4u      /* utmem_submit_stats */
#define UTMEM_OP_SERVER_INFO 5u /* utmem_submit_server_info */

struct utmem_completion {
	uint64_t tag;     /* the caller's tag, as submitted */
	int64_t result;   /* GET: the value's length; a PROBE GET and
			     INVALIDATE: 0 (it was there); PUT: 0 (stored);
			     STATS: sizeof(struct utmem_stats); SERVER_INFO:
			     the text's length; or -errno as the synchronous
			     call would return it (-ENOENT miss, -EDQUOT
			     refused, -ECONNRESET link lost) */
	void *val;        /* malloc()ed, the caller free()s it: a GET hit's
			     value (non-NULL even when empty), STATS's
			     struct utmem_stats, SERVER_INFO's NUL-terminated
			     text; else NULL */
	unsigned op;      /* UTMEM_OP_* */
	unsigned reserved[5]; /* 0: room for what later versions report */
};

/*
 * Send a GET of key (flags: UTMEM_GET_EXCLUSIVE for a pop;
 * UTMEM_GET_PROBE to learn only whether the key holds a value: utmemd
 * sends no value back, the completion's result is 0 and val NULL when it
 * does; not with EXCLUSIVE, -EINVAL) or an INVALIDATE, tagged with tag,
 * and return without waiting for the reply.
 * Returns 0 (sent: exactly one completion will carry tag), -EAGAIN
 * (UTMEM_ASYNC_MAX outstanding: reap first), -EINVAL, -EMSGSIZE (key too
 * long), -EBADF (pool handle), -EOPNOTSUPP, or a link error (nothing was
 * sent: no completion will come). Connects first if needed. Blocks only
 * while the channel has no room for the request, bounded by timeout_ms.
 */
UTMEM_API int utmem_submit_get(utmem_client *c, uint32_t pool, const void *key,
			       size_t klen, unsigned flags, uint64_t tag);
UTMEM_API int utmem_submit_invalidate(utmem_client *c, uint32_t pool,
				      const void *key, size_t klen,
				      uint64_t tag);

/*
 * PUT without waiting for utmemd. Where the connection's credit covers it
 * the PUT is posted, as utmem_put() would post it, and 1 is returned: it
 * is stored (its outcome cannot turn into a failure), and no completion
 * will come. Otherwise it is sent as a request and 0 is returned: exactly
 * one completion will carry tag (result 0, or -errno as utmem_put() would
 * return it; a refused PUT leaves no value under key). The value is
 * copied before the call returns (a frame larger than half the ring is
 * streamed through it as utmemd takes it in, replies that arrive
 * meanwhile kept as completions). Other returns send nothing: -EAGAIN
 * (UTMEM_ASYNC_MAX outstanding), -EMSGSIZE (above max_value: use
 * utmem_put(), which also removes the key's old value), -EINVAL, -EBADF,
 * -EOPNOTSUPP, or a link error. Blocks only while the channel has no
 * room, bounded by timeout_ms.
 */
UTMEM_API int utmem_submit_put(utmem_client *c, uint32_t pool, const void *key,
			       size_t klen, const void *val, size_t vlen,
			       uint64_t tag);

/*
 * utmem_stats() and utmem_server_info() without waiting for utmemd, for
 * event loops that report utmemd's counters (the Redis module's
 * TMEM.INFO). pool is 0 for the tenant's counters, or a pool handle.
 * The completion's val holds the answer (see struct utmem_completion);
 * a server text of UTMEM_SERVER_INFO_MAX bytes or more (it must fit in
 * that many with its NUL, as in utmem_server_info() with that cap)
 * completes with -ENOBUFS. Returns as utmem_submit_get() does (no key: no
 * -EMSGSIZE).
 */
#define UTMEM_SERVER_INFO_MAX 65536
UTMEM_API int utmem_submit_stats(utmem_client *c, uint32_t pool, uint64_t tag);
UTMEM_API int utmem_submit_server_info(utmem_client *c, uint64_t tag);

/*
 * A descriptor that polls readable when completions may be ready to reap
 * or the connection broke (which completes every outstanding request).
 * It is an epoll descriptor owned by the client, the same for the
 * client's whole life, across reconnects; wait on it with poll, select or
 * epoll, never read it, never close it. Readiness is a hint: utmem_reap()
 * may find nothing (then wait again). Returns the descriptor or -errno.
 */
UTMEM_API int utmem_event_fd(utmem_client *c);

/*
 * Move up to n completions into out[] and return how many (0 if none is
 * ready). Never waits for utmemd: it reads the replies that have arrived
 * (one whose first bytes arrived is read whole, bounded by timeout_ms) and
 * notices a broken connection. Before returning it asks to be woken up
 * (the event descriptor) for the replies still to come. Returns the count
 * or -EINVAL (in a child after fork(), also the first call's error, see
 * "fork()" above).
 */
UTMEM_API int utmem_reap(utmem_client *c, struct utmem_completion *out,
			 size_t n);

/* Requests submitted and not yet reaped (0..UTMEM_ASYNC_MAX), or -EINVAL. */
UTMEM_API int utmem_async_outstanding(utmem_client *c);

#ifdef __cplusplus
}
#endif

#endif /* UTMEM_H */

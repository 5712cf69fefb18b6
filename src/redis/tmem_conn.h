/*
 * tmem_conn.h — the Redis module's link to utmemd: configuration, the one
 * libutmem client, its pool, the module's own counters, and the mapping of
 * libutmem errors to Redis error replies.
 *
 * Redis runs every module command on its main thread, so this state is
 * touched by one thread only and needs no lock. Every call into libutmem is
 * bounded by the configured timeout, so a dead or stuck utmemd costs a
 * command at most about twice timeout_ms (one attempt plus one retry after a
 * broken connection) and never hangs Redis. Connecting and closing are not
 * among those calls: they are done by the module's own thread
 * (tmem_dial.c), so a stopped utmemd or a full accept queue never holds up
 * Redis's thread for them; a command waits TCONN_DIAL_WAIT_MS at most for
 * a connection and otherwise answers UNAVAILABLE (-EINPROGRESS here).
 *
 * The client is opened with no_reconnect: when the link breaks, this module
 * drops the client and dials a new one itself. Dialing is then the only
 * place a socket error can come from, so a missing socket file (ENOENT from
 * connect) can never be mistaken for a missing key (ENOENT from GET).
 */
#ifndef UTMEM_REDIS_TMEM_CONN_H
#define UTMEM_REDIS_TMEM_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/admin.h"
#include "proto/name.h"
#include "rm_api.h"
#include "utmem.h"

#define TCONN_ADDR_MAX 512
#define TCONN_POOL_MAX UNAME_MAX /* as utmem_pool_open() accepts */
#define TCONN_DEFAULT_TIMEOUT_MS 1000
#define TCONN_MAX_TIMEOUT_MS 600000
/* How long the command that asks for a dial waits for it (at most
 * timeout_ms; not at all while utmemd is known not to answer). */
#define TCONN_DIAL_WAIT_MS 100

/* What the module was loaded with. */
struct tconn_cfg {
	char addr[TCONN_ADDR_MAX + 1];
	char pool[TCONN_POOL_MAX + 1];
	char token[UADM_TOKEN_MAX + 1];  /* empty: none */
	unsigned pool_flags;             /* UTMEM_POOL_* kind bits */
	int timeout_ms;
};

/* The module's own counters, shown by TMEM.INFO. */
struct tconn_counters {
	uint64_t commands;         /* TMEM.* commands run (INFO excluded) */
	uint64_t errors;           /* error replies of any kind */
	uint64_t connects;         /* successful connect + pool open */
	uint64_t connect_failures; /* failed attempts to connect or open */
	uint64_t retries;          /* operations retried after a broken link */
	uint64_t unavailable;      /* replies -UNAVAILABLE */
	uint64_t timeouts;         /* replies -TIMEOUT */
	uint64_t refused_quota;    /* PUTs refused: tenant quota */
	uint64_t refused_capacity; /* PUTs refused: host capacity */
	uint64_t refused_toobig;   /* keys or values over the daemon's limit */
	uint64_t puts, put_bytes;  /* values stored (successful PUTs) */
	uint64_t gets, hits, misses, get_bytes;
	uint64_t dels;             /* keys removed */
	uint64_t local_views;      /* EXISTS/MGET served from views */
	uint64_t batch_views;      /* EXISTS/MGET in batches (no region) */
	/* POP/DEL answered off Redis's thread (tmem_block.c) */
	uint64_t async_blocked;    /* commands that blocked their client */
	uint64_t async_done;       /* of those, unblocked with their result */
	uint64_t async_timeouts;   /* of those, timed out first */
	uint64_t async_sync;       /* POP/DEL/MGET run synchronously instead
				      (MULTI, Lua, no event-loop API, bound) */
	uint64_t async_inflight;   /* requests to utmemd outstanding now */
};

/* What a size error was about, for the wording of -TOOBIG. */
enum tconn_what { TCONN_NONE, TCONN_KEY, TCONN_VALUE };

struct tconn {
	struct tconn_cfg cfg;
	utmem_client *c;     /* NULL until the first successful connect */
	utmem_batch *batch;  /* reusable batch on c */
	uint32_t pool;       /* handle of cfg.pool on c */
	int linked;          /* the last exchange with utmemd succeeded */
	int lazy_kick;       /* posted PUTs wake utmemd from tconn_flush(),
				called before Redis's event loop sleeps */
	struct tconn_counters n;

	int dialing;         /* a dial was asked of tmem_dial.c, not taken yet */
	const char *dial_op; /* the command that asked for it, for last_err */
	int64_t dial_timed_out_ms; /* when the last dial timed out, or 0 */

	int drop_err;        /* why the client is being dropped (tmem_block.c) */
	int connect_err;     /* errno of the last failed dial, or 0 */
	int failed_dialing;  /* the error being replied came from dialing */
	char last_err[160];  /* "op: what", for TMEM.INFO; empty if none */
	int64_t last_err_ms; /* CLOCK_MONOTONIC ms of last_err */

	char server[1024];   /* utmemd's SERVER_INFO at the last connect, or "" */
	int64_t server_ms;   /* CLOCK_MONOTONIC ms when it was read */

	void *buf;           /* GET scratch buffer, reused across commands */
	size_t buf_cap;
	size_t size_hint;    /* largest value recently read, for MGET slots */
};

/* The module's single connection state. */
extern struct tconn tconn_state;

/* An operation run by tconn_call(); returns >= 0 or -errno from libutmem. */
typedef ssize_t (*tconn_op_fn)(struct tconn *t, void *arg);

/*
 * Have a connection to cfg.addr with cfg.pool open. Without one, take the
 * dial that came in, or ask tmem_dial.c for one and wait for it up to
 * TCONN_DIAL_WAIT_MS (not at all while a dial is under way, or within
 * timeout_ms of one that timed out). Returns 0; -EINPROGRESS while the
 * dial goes on; or the dial's error, the state left unconnected and the
 * error recorded so the next command dials again: -ENOTCONN (the socket's
 * own errno, e.g. ENOENT or ECONNREFUSED, is kept in connect_err for the
 * message), -ETIMEDOUT, -EPERM, or what opening the pool said.
 */
int tconn_ready(struct tconn *t, const char *opname);

/*
 * Before Redis's event loop sleeps: take a dial's result that came in
 * (the link is logged as up or failing without waiting for a command).
 * Cheap when no dial was asked.
 */
void tconn_poll(struct tconn *t);

/*
 * Run op on a ready connection. A broken connection (reset, pipe, not
 * connected) gets exactly one more attempt on a freshly dialed connection,
 * a vanished pool handle one more after reopening the pool by name; a
 * timeout is not retried, so the time spent stays bounded. After a link
 * error the client is dropped, so the next command dials again. Returns
 * op's result or the connect error. Records errors for TMEM.INFO.
 */
ssize_t tconn_call(struct tconn *t, const char *opname, tconn_op_fn op,
		   void *arg);

/*
 * Like tconn_call(), without the second attempt: for an operation that
 * must not run twice (an exclusive GET whose answer was lost with the
 * connection may already have removed the value).
 */
ssize_t tconn_call_once(struct tconn *t, const char *opname, tconn_op_fn op,
			void *arg);

/* Errors that mean "the link to utmemd is not working right now". */
int tconn_is_link_error(int err);

/*
 * The link failed with err outside tconn_call() (an asynchronous request
 * timed out): record it, drop the client (requests still outstanding
 * complete with err) and log the loss. The next command dials again.
 */
void tconn_lost(struct tconn *t, const char *opname, int err);

/*
 * Start the thread that dials and closes (tmem_dial.c). Returns 0, or
 * -errno after logging that connecting waits on Redis's thread instead.
 */
int tconn_start(struct tconn *t);

/* Close the client, stop the thread (waiting for a dial under way) and
 * free every buffer. Safe on a closed state. */
void tconn_shutdown(struct tconn *t);

/*
 * Whether posted PUTs wake utmemd once per turn of Redis's event loop, from
 * tconn_flush(), instead of once each (an eventfd write whenever utmemd's
 * worker sleeps): only where a before-sleep hook calls tconn_flush(). A
 * client connected (or being dialed) with the other setting is dropped,
 * so that the next command dials with this one.
 */
void tconn_set_lazy_kick(struct tconn *t, int on);

/* Wake utmemd for the PUTs posted since the last call (no-op when none or
 * when not connected). Never blocks. */
void tconn_flush(struct tconn *t);

/*
 * Reply to ctx with the Redis error for libutmem error err (negative):
 * -QUOTA, -CAPACITY, -TOOBIG, -UNAVAILABLE, -TIMEOUT, -NOPERM, -NOMEM or
 * -ERR, counting it. suffix, if not NULL, is appended in parentheses.
 * Returns RM_OK.
 */
int tconn_reply_error(RedisModuleCtx *ctx, struct tconn *t, int err,
		      enum tconn_what what, const char *suffix);

/*
 * Make the GET scratch buffer at least `need` bytes (kept up to a bound so
 * an idle Redis does not hold a huge buffer). Returns 0 or -ENOMEM; on
 * failure the old buffer is kept.
 */
int tconn_buf_reserve(struct tconn *t, size_t need);

/* Note a value length just read, for sizing later MGET slots. */
void tconn_note_size(struct tconn *t, size_t len);

/* Human name of the configured pool kind ("persistent", "ephemeral"). */
const char *tconn_kind_name(const struct tconn_cfg *cfg);

/* Monotonic clock in milliseconds. */
int64_t tconn_now_ms(void);

#endif /* UTMEM_REDIS_TMEM_CONN_H */

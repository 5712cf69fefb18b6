/*
 * client.c — a libutmem client: its connection, its pool table and the
 * public single-request calls.
 *
 * A pool handle is an index into this client's own table of (name, kind,
 * server id), never the daemon's id, so handles survive a reconnect: when a
 * call finds the connection gone it redials, says HELLO again and reopens
 * every pool by name (with CREATE if it was first opened with it). A call
 * that meets a broken connection returns that error and leaves the client
 * disconnected; the next call reconnects (unless no_reconnect is set).
 *
 * Locking: every public call takes c->lock for its whole duration, so one
 * client may be shared by threads and requests never interleave on the
 * socket, and takes it through uclient_lock(), which also takes over a
 * client inherited through fork(). Functions named uclient_* expect the
 * caller to hold it.
 */
#include "client/client_int.h"
#include "proto/name.h"
#include "transport/ring.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- fork() (client_int.h) ---- */

uint64_t uclient_forks;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static int fork_registered;

/* In the child, before fork() returns there: only this thread runs. */
static void fork_child(void)
{
	__atomic_store_n(&uclient_forks, uclient_forks + 1, __ATOMIC_RELAXED);
}

static void fork_register_once(void)
{
	fork_registered = pthread_atfork(NULL, NULL, fork_child) == 0;
}

int uclient_forked(struct utmem_client *c)
{
	int err = uclient_async_forked(c);

	if (err)
		return err;
	/* The hazard word is the parent's, maybe pinning a value it reads
	 * right now: unmapped, never cleared. The rest of the disconnect
	 * only unmaps and closes this process's references. */
	if (c->region)
		c->region->hazard = NULL;
	uclient_disconnect(c);
	c->posts_lost = 0; /* the parent's posts, on its live connection */
	c->forks = __atomic_load_n(&uclient_forks, __ATOMIC_RELAXED);
	return 0;
}

/* Drop the connection (if any). Pools must be reopened on the next one. */
void uclient_disconnect(struct utmem_client *c)
{
	/* Requests in flight will get no reply now: each completes with
	 * the link error, and is never sent again. */
	if (c->async)
		uclient_async_fail(c, -ECONNRESET);
	/* Posted PUTs utmemd had not served: their outcome is unknown now. */
	if (c->ring && c->post.last && uclient_ring_applied(c) < c->post.last)
		c->posts_lost = 1;
	uclient_ring_free(c);
	uclient_region_free(c);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->vport_left = 0;
	c->rb.start = c->rb.end = 0;
	for (size_t i = 0; i < c->npools; i++)
		c->pools[i].stale = 1;
}

/* Send HELLO on the fresh connection and take the daemon's limits. */
static int hello(struct utmem_client *c)
{
	uint8_t rec[UWIRE_HELLO_SIZE];
	struct uwire_hello h;
	struct uclient_req r = {
		.op = UWIRE_OP_HELLO,
		.key = c->token,
		.klen = (uint32_t)c->token_len,
		.rx = UCLIENT_RX_RECORD,
		.buf = rec,
		.cap = sizeof(rec),
	};
	int err = (int)uclient_exec_one(c, &r);

	/*
	 * The token is all a HELLO carries, so utmemd refusing its length
	 * (INVALID past the 255 bytes it holds, TOOBIG past max_key) refuses
	 * the token: -EPERM, as a wrong token of a valid length is, never an
	 * argument or size error the caller would look for elsewhere.
	 */
	if (c->token_len && (err == -EINVAL || err == -EMSGSIZE))
		err = -EPERM;
	if (err)
		return err;
	uwire_hello_decode(rec, sizeof(rec), &h);
	if (h.version != UWIRE_VERSION)
		return -EPROTONOSUPPORT;
	if (h.max_key == 0 || h.max_key > UWIRE_KEY_CEILING ||
	    h.max_value > UWIRE_VALUE_CEILING)
		return -EPROTO;
	__atomic_store_n(&c->max_key, h.max_key, __ATOMIC_RELAXED);
	__atomic_store_n(&c->max_value, h.max_value, __ATOMIC_RELAXED);
	c->tenant_id = h.tenant_id;
	c->rx_lim.max_value = h.max_value;
	return 0;
}

/* Fill r as the POOL_OPEN of p by its name and kind. */
static void pool_open_req(struct uclient_req *r, const struct uclient_pool *p)
{
	*r = (struct uclient_req){
		.op = UWIRE_OP_POOL_OPEN,
		.flags = p->wflags,
		.key = p->name,
		.klen = (uint32_t)strlen(p->name),
	};
}

/* POOL_OPEN one pool by name on the current connection. */
static int reopen(struct utmem_client *c, struct uclient_pool *p)
{
	struct uclient_req r;
	int err;

	pool_open_req(&r, p);
	err = (int)uclient_exec_one(c, &r);
	if (err)
		return err;
	p->server = r.reply_pool;
	p->stale = 0;
	return 0;
}

/*
 * Between calls nothing is in flight, so an idle connection that reports
 * end of stream or an error has been closed by the other side (typically a
 * daemon restart). Finding that out before sending lets the call reconnect
 * at once instead of failing on a request that could never reach a daemon.
 * Unexpected bytes are left for the request path, which rejects a reply it
 * did not ask for. Costs one poll() per call.
 */
static int idle_conn_dead(struct utmem_client *c)
{
	struct pollfd p = {.fd = c->fd, .events = POLLIN | POLLRDHUP};
	uint8_t byte;
	ssize_t n;

	if (c->addr.kind == UCLIENT_VPORT)
		return c->rb.end == c->rb.start && uclient_vport_idle_dead(c);
	if (c->addr.kind == UCLIENT_IVSHMEM)
		return uclient_ivshmem_idle_dead(c);
	if (c->addr.kind == UCLIENT_DEV)
		return 0; /* the module keeps its session with utmemd itself */
	if (c->rb.end != c->rb.start || poll(&p, 1, 0) <= 0)
		return 0;
	n = recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
}

/*
 * Reopen every open pool by name on a new connection, all requests
 * pipelined in one exchange. A pool the daemon refuses stays stale and
 * reports why when it is next used. Returns 0, or -errno if the connection
 * failed.
 */
static int reopen_all(struct utmem_client *c)
{
	struct uclient_req *r;
	int err;

	if (c->npools == 0)
		return 0;
	r = calloc(c->npools, sizeof(*r));
	if (!r)
		return 0; /* each pool is reopened on its next use instead */
	for (size_t i = 0; i < c->npools; i++) {
		pool_open_req(&r[i], &c->pools[i]);
		r[i].done = !c->pools[i].open;
	}
	err = uclient_exec(c, r, c->npools);
	for (size_t i = 0; !err && i < c->npools; i++) {
		if (c->pools[i].open && r[i].result == 0) {
			c->pools[i].server = r[i].reply_pool;
			c->pools[i].stale = 0;
		}
	}
	free(r);
	return err;
}

/*
 * Make sure c is connected, redialing if it is not or if the connection
 * was found dead while idle: dial, HELLO, set up the shared-memory ring for a
 * ring: address, reopen the pools. Only a
 * connection failure fails this call. Returns 0 or -errno.
 */
int uclient_ensure(struct utmem_client *c)
{
	int fd, err;

	/* With a liveness page, one load says whether the daemon is still
	 * there (a restart, even by SIGKILL, shows at once) and one more
	 * whether it closed this connection; without one, a poll() of the idle
	 * socket. A tenant removed by the operator is reported once. */
	if (c->fd >= 0 && c->live) {
		unsigned closed = uclient_ring_closed(c);

		if (uring_live(c->live) && !closed)
			return 0;
		if (closed == UWIRE_S_REVOKED) {
			uclient_disconnect(c);
			return -uwire_status_to_errno(closed);
		}
	} else if (c->fd >= 0 && !idle_conn_dead(c)) {
		return 0;
	}
	uclient_disconnect(c);
	if (c->no_reconnect)
		return -ENOTCONN;
dial:
	fd = uclient_dial(&c->addr, c->timeout_ms);
	if (fd < 0)
		return fd;
	c->fd = fd;
	c->rx_lim.max_key = UWIRE_KEY_CEILING;
	c->rx_lim.max_value = UWIRE_VALUE_CEILING;
	err = 0;
	if (c->addr.kind == UCLIENT_VPORT) {
		/* The port's host connection may carry a dead process's replies. */
		if (!c->vport_buf)
			c->vport_buf = malloc(32u * 1024u);
		err = c->vport_buf ? uclient_vport_sync(c) : -ENOMEM;
	}
	/* A VM's ring is its only channel: attach it before anything is sent. */
	if (!err && c->addr.kind == UCLIENT_IVSHMEM)
		err = uclient_ivshmem_attach(c);
	if (!err)
		err = hello(c);
	/* Benchmark modes are asked for on every new connection (bench.c). */
	if (!err)
		err = uclient_bench_hello(c);
	/* A daemon without rings (ring_size off) serves ring: on the socket. */
	if (!err && c->addr.ring) {
		memset(&c->post, 0, sizeof(c->post));
		err = uclient_ring_setup(c);
		if (err == -EOPNOTSUPP)
			err = 0;
		if (err == -EPROTONOSUPPORT) {
			/* A ring of another layout: this daemon set it up, so
			 * dial again and never ask it for one (the socket
			 * serves everything). */
			c->addr.ring = 0;
			uclient_disconnect(c);
			goto dial;
		}
	}
	if (!err)
		err = reopen_all(c);
	if (err)
		uclient_disconnect(c);
	else
		c->conn_gen++; /* async.c watches the new descriptors */
	return err;
}

/* Has utmemd said a pool of ours may be gone (ring.h, pools_gen)? Then
 * every handle reopens by name before its next use. */
static void pools_gen_check(struct utmem_client *c)
{
	uint32_t gen = uclient_ring_pools_gen(c);

	if (gen == c->post.seen_pools_gen)
		return;
	c->post.seen_pools_gen = gen;
	for (size_t i = 0; i < c->npools; i++)
		c->pools[i].stale = 1;
}

/* The connection is up, as far as a load or two can tell: no dial. */
static int conn_up(struct utmem_client *c)
{
	return c->fd >= 0 &&
	       !(c->live && (!uring_live(c->live) || uclient_ring_closed(c)));
}

/* The connection is up and handle h needs nothing before a one-sided
 * read: no dial, no reopen (UTMEM_GET_LOCAL, which never waits). */
static int local_ready(struct utmem_client *c, uint32_t h)
{
	if (!conn_up(c))
		return 0;
	pools_gen_check(c);
	return h == 0 || h > c->npools || !c->pools[h - 1].stale;
}

void uclient_pool_refused(struct utmem_client *c, uint32_t server)
{
	for (size_t i = 0; server && i < c->npools; i++)
		if (c->pools[i].open && c->pools[i].server == server)
			c->pools[i].stale = 1;
}

/*
 * Translate a handle into the daemon's pool id, reopening the pool first if
 * the connection is new. Handle 0 means "the tenant" where allow_tenant.
 * Returns 0 or -errno (-EBADF for a handle this client never gave out).
 */
int uclient_resolve_pool(struct utmem_client *c, uint32_t handle,
			 int allow_tenant, uint32_t *server)
{
	struct uclient_pool *p;
	int err;

	if (handle == 0 && allow_tenant) {
		*server = 0;
		return 0;
	}
	pools_gen_check(c);
	if (handle == 0 || handle > c->npools || !c->pools[handle - 1].open)
		return -EBADF;
	p = &c->pools[handle - 1];
	if (p->stale) {
		/*
		 * The daemon lost the pool (it restarted, and the pool was
		 * opened without CREATE). The handle no longer names a pool:
		 * -EBADF, never -ENOENT, which callers read as a key miss.
		 */
		err = reopen(c, p);
		if (err)
			return err == -ENOENT ? -EBADF : err;
	}
	*server = p->server;
	return 0;
}

static struct utmem_client *client_new(int timeout_ms)
{
	struct utmem_client *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	(void)pthread_once(&fork_once, fork_register_once);
	c->forks = __atomic_load_n(&uclient_forks, __ATOMIC_RELAXED);
	c->rb.cap = UCLIENT_RBUF_SIZE;
	c->rb.data = malloc(c->rb.cap);
	if (!fork_registered || !c->rb.data ||
	    pthread_mutex_init(&c->lock, NULL)) {
		free(c->rb.data);
		free(c);
		return NULL;
	}
	c->fd = -1;
	c->next_id = 1;
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : UCLIENT_DEFAULT_TIMEOUT_MS;
	return c;
}

static int set_token(struct utmem_client *c, const char *token)
{
	size_t len = token ? strlen(token) : 0;

	if (len > UWIRE_KEY_CEILING)
		return -EINVAL;
	if (!token)
		return 0;
	c->token = strdup(token);
	if (!c->token)
		return -ENOMEM;
	c->token_len = len;
	return 0;
}

/* UTMEM_FAST_PATH=0 (or off, no) in the environment: socket only. */
static int fast_path_off(void)
{
	const char *v = getenv("UTMEM_FAST_PATH");

	return v && (!strcmp(v, "0") || !strcasecmp(v, "off") ||
		     !strcasecmp(v, "no"));
}

/* The UWIRE_BENCH_* modes that UTMEM_OPT_* flags ask utmemd for. */
static uint32_t bench_mode(unsigned flags)
{
	uint32_t m = 0;

	if (flags & UTMEM_OPT_NULL_STORE)
		m |= UWIRE_BENCH_NULL_STORE;
	if (flags & UTMEM_OPT_NO_FORWARD)
		m |= UWIRE_BENCH_NO_FORWARD;
	if (flags & UTMEM_OPT_TIMING)
		m |= UWIRE_BENCH_TIMING;
	return m;
}

int utmem_addr_check(const char *addr)
{
	struct uclient_addr a;

	return uclient_addr_parse(addr, &a) < 0 ? -EINVAL : 0;
}

int utmem_connect(const char *addr, const struct utmem_options *opt,
		  utmem_client **out)
{
	struct utmem_options none = {0};
	struct utmem_client *c;
	int err;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!opt)
		opt = &none;
	if (opt->timeout_ms < 0 ||
	    (opt->flags & ~(UTMEM_OPT_NO_FAST_PATH | UTMEM_OPT_SYNC_PUT |
			    UTMEM_OPT_LAZY_KICK | UTMEM_OPT_SYNC_GET |
			    UTMEM_OPT_NO_FORWARD | UTMEM_OPT_NULL_STORE |
			    UTMEM_OPT_TIMING)))
		return -EINVAL;
	if ((opt->flags & UTMEM_OPT_NO_FORWARD) &&
	    (opt->flags & UTMEM_OPT_NULL_STORE))
		return -EINVAL;
	for (size_t i = 0; i < sizeof(opt->reserved) / sizeof(opt->reserved[0]); i++)
		if (opt->reserved[i])
			return -EINVAL;
	c = client_new(opt->timeout_ms);
	if (!c)
		return -ENOMEM;
	c->flags = opt->flags;
	c->no_post = (opt->flags & UTMEM_OPT_SYNC_PUT) != 0;
	c->lazy_kick = (opt->flags & UTMEM_OPT_LAZY_KICK) != 0;
	c->sync_get = (opt->flags & UTMEM_OPT_SYNC_GET) != 0;
	c->no_forward = (opt->flags & UTMEM_OPT_NO_FORWARD) != 0;
	c->bench = bench_mode(opt->flags);
	if (opt->flags & UTMEM_OPT_NULL_STORE)
		c->no_post = c->sync_get = 1; /* every PUT and GET reaches utmemd */
	err = uclient_addr_parse(addr, &c->addr);
	if (!err && ((opt->flags & UTMEM_OPT_NO_FAST_PATH) || fast_path_off()))
		c->addr.ring = 0;
	if (!err)
		err = set_token(c, opt->token);
	if (!err)
		err = uclient_ensure(c);
	if (err) {
		utmem_close(c);
		return err;
	}
	c->no_reconnect = opt->no_reconnect != 0;
	*out = c;
	return 0;
}

int uclient_attach_fd(int fd, int timeout_ms, utmem_client **out)
{
	struct utmem_client *c = client_new(timeout_ms);
	int err;

	*out = NULL;
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	c->fd = fd;
	c->no_reconnect = 1;
	c->rx_lim.max_key = UWIRE_KEY_CEILING;
	c->rx_lim.max_value = UWIRE_VALUE_CEILING;
	err = hello(c);
	if (err) {
		utmem_close(c);
		return err;
	}
	*out = c;
	return 0;
}

void utmem_close(utmem_client *c)
{
	int inherited;

	if (!c)
		return;
	/* Inherited through fork(): drop the parent's connection without
	 * writing to it; failing that (no descriptor for a new event fd),
	 * free the asynchronous state, whose close()s are only ours, and
	 * never clear the parent's hazard word. */
	inherited = uclient_inherited(c);
	if (inherited && uclient_forked(c)) {
		uclient_async_free(c);
		if (c->region)
			c->region->hazard = NULL;
	}
	/* Posted PUTs were reported stored: see them served before leaving
	 * (utmemd also serves what is left in the ring of a client that
	 * vanished, but waiting here makes it visible to others at once). */
	if (!inherited && c->fd >= 0 && c->ring)
		(void)uclient_post_settle(c, 0, NULL, 0);
	uclient_disconnect(c);
	uclient_async_free(c);
	pthread_mutex_destroy(&c->lock);
	free(c->rb.data);
	free(c->vport_buf);
	free(c->token);
	free(c->pools);
	free(c);
}

size_t utmem_max_key(const utmem_client *c)
{
	return c ? __atomic_load_n(&c->max_key, __ATOMIC_RELAXED) : 0;
}

size_t utmem_max_value(const utmem_client *c)
{
	return c ? __atomic_load_n(&c->max_value, __ATOMIC_RELAXED) : 0;
}

/* ---- pools ---- */

static uint16_t pool_wflags(unsigned flags)
{
	uint16_t w = 0;

	if (flags & UTMEM_POOL_EPHEMERAL)
		w |= UWIRE_F_EPHEMERAL;
	if (flags & UTMEM_POOL_SHARED)
		w |= UWIRE_F_SHARED;
	if (flags & UTMEM_POOL_CREATE)
		w |= UWIRE_F_CREATE;
	return w;
}

/*
 * The table slot for (name, kind): an existing one (open or destroyed), so
 * reopening a name gives back its handle, or room for a new one, just past
 * the table (c->pools[c->npools], not counted until the caller takes it).
 * NULL on -ENOMEM or when the table is full.
 */
static struct uclient_pool *pool_slot(struct utmem_client *c, const char *name,
				      uint16_t kind)
{
	struct uclient_pool *p;

	for (size_t i = 0; i < c->npools; i++) {
		p = &c->pools[i];
		if (strcmp(p->name, name) == 0 &&
		    (p->wflags & ~UWIRE_F_CREATE) == kind)
			return p;
	}
	if (c->npools >= UCLIENT_MAX_POOLS)
		return NULL;
	p = realloc(c->pools, (c->npools + 1) * sizeof(*p));
	if (!p)
		return NULL;
	c->pools = p;
	return &c->pools[c->npools];
}

int utmem_pool_open(utmem_client *c, const char *name, unsigned flags,
		    uint32_t *pool)
{
	const unsigned known = UTMEM_POOL_EPHEMERAL | UTMEM_POOL_SHARED |
			       UTMEM_POOL_CREATE;
	uint16_t w = pool_wflags(flags);
	struct uclient_pool *p, tmp;
	int err;

	if (!c || !pool || !uname_ok(name) || (flags & ~known))
		return -EINVAL;
	err = uclient_lock(c);
	if (err)
		return err;
	err = uclient_ensure(c);
	if (err)
		goto out_unlock;
	/*
	 * Room in the table first: refused after the open, a CREATE would
	 * leave a pool made that this client holds no handle of. The slot is
	 * taken only once the open succeeded, so a refused open leaves none.
	 */
	p = pool_slot(c, name, w & ~UWIRE_F_CREATE);
	if (!p) {
		err = -ENOMEM;
		goto out_unlock;
	}
	memset(&tmp, 0, sizeof(tmp));
	memcpy(tmp.name, name, strlen(name) + 1);
	tmp.wflags = w;
	err = reopen(c, &tmp);
	if (err)
		goto out_unlock;
	if (p == &c->pools[c->npools]) {
		memset(p, 0, sizeof(*p));
		memcpy(p->name, name, strlen(name) + 1);
		p->wflags = w & ~UWIRE_F_CREATE;
		c->npools++;
	}
	p->wflags |= w;
	p->server = tmp.server;
	p->open = 1;
	p->stale = 0;
	*pool = (uint32_t)(p - c->pools) + 1;
out_unlock:
	uclient_unlock(c);
	return err;
}

/*
 * Take c's lock and get it connected with pool handle h resolved (0 = the
 * tenant where allow_tenant). Returns 0 (lock held) or -errno (lock
 * released).
 */
static int enter_as(struct utmem_client *c, uint32_t h, int allow_tenant,
		    int local, uint32_t *server)
{
	int err = uclient_lock(c);

	if (err)
		return err;
	/* UTMEM_GET_LOCAL never waits: no dial, no pool to reopen. */
	if (local)
		err = local_ready(c, h) ? 0 : -EAGAIN;
	else
		err = uclient_ensure(c);
	if (!err)
		err = uclient_resolve_pool(c, h, allow_tenant, server);
	if (err)
		uclient_unlock(c);
	return err;
}

static int enter(struct utmem_client *c, uint32_t h, int allow_tenant,
		 uint32_t *server)
{
	return enter_as(c, h, allow_tenant, 0, server);
}

/*
 * Run one request on pool handle `pool` (0 = tenant where allow_tenant),
 * connecting first if needed. Returns the request's result or -errno.
 */
static ssize_t run_one(struct utmem_client *c, uint32_t pool, int allow_tenant,
		       struct uclient_req *r)
{
	ssize_t rc = enter(c, pool, allow_tenant, &r->pool);

	if (rc)
		return rc;
	rc = uclient_exec_one(c, r);
	uclient_unlock(c);
	return rc;
}

/*
 * FLUSH or DESTROY a pool. A destroyed handle is closed under the same
 * hold of the lock as the request: released in between, another thread's
 * utmem_pool_open() of the same name (which gets the same slot back) could
 * run there and have the handle it was just given closed under it.
 */
static int pool_op(utmem_client *c, uint32_t pool, uint8_t op)
{
	struct uclient_req r = {.op = op};
	int err;

	if (!c)
		return -EINVAL;
	err = enter(c, pool, 0, &r.pool);
	if (err)
		return err;
	err = (int)uclient_exec_one(c, &r);
	if (err == 0 && op == UWIRE_OP_POOL_DESTROY) {
		c->pools[pool - 1].open = 0;
		c->pools[pool - 1].wflags &= (uint16_t)~UWIRE_F_CREATE;
	}
	uclient_unlock(c);
	return err;
}

int utmem_pool_flush(utmem_client *c, uint32_t pool)
{
	return pool_op(c, pool, UWIRE_OP_POOL_FLUSH);
}

int utmem_pool_destroy(utmem_client *c, uint32_t pool)
{
	return pool_op(c, pool, UWIRE_OP_POOL_DESTROY);
}

/* ---- data operations ---- */

/* A key must be 1..max_key bytes. Returns 0, -EINVAL or -EMSGSIZE. */
int uclient_check_key(const struct utmem_client *c, const void *key,
		      size_t klen)
{
	if (!key || klen == 0)
		return -EINVAL;
	if (klen > __atomic_load_n(&c->max_key, __ATOMIC_RELAXED))
		return -EMSGSIZE;
	return 0;
}

/*
 * Fill r as a PUT. A value above the daemon's limit is not sent: r becomes
 * an INVALIDATE of the key whose success is reported as -EMSGSIZE, which
 * keeps the promise that a failed PUT leaves no old value behind.
 * Returns 0 or -errno for an argument that cannot be sent at all.
 */
int uclient_req_put(const struct utmem_client *c, struct uclient_req *r,
		    const void *key, size_t klen, const void *val, size_t vlen)
{
	int err = uclient_check_key(c, key, klen);

	if (err)
		return err;
	if (!val && vlen)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	r->key = key;
	r->klen = (uint32_t)klen;
	if (vlen > __atomic_load_n(&c->max_value, __ATOMIC_RELAXED)) {
		r->op = UWIRE_OP_INVALIDATE;
		r->force = -EMSGSIZE;
		return 0;
	}
	r->op = UWIRE_OP_PUT;
	r->val = val;
	r->vlen = (uint32_t)vlen;
	return 0;
}

/*
 * Fill r as a GET into buf[0..cap): the daemon is told the maximum length,
 * so an exclusive GET of a longer value removes nothing.
 */
void uclient_req_get(struct uclient_req *r, const void *key, size_t klen,
		     void *buf, size_t cap, unsigned flags)
{
	memset(r, 0, sizeof(*r));
	r->op = UWIRE_OP_GET;
	r->flags = UWIRE_F_MAXLEN;
	if (flags & UTMEM_GET_EXCLUSIVE)
		r->flags |= UWIRE_F_EXCLUSIVE;
	r->key = key;
	r->klen = (uint32_t)klen;
	r->vlen = sizeof(r->maxlen);
	uwire_put_u32(r->maxlen, cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap);
	r->rx = UCLIENT_RX_BUF;
	r->buf = buf;
	r->cap = cap;
}

/* May values of pool handle h be read from, and staged into, the region? */
static int region_pool(const struct utmem_client *c, uint32_t h)
{
	return c->region && !(c->pools[h - 1].wflags & UWIRE_F_SHARED);
}

/*
 * enter() for a timed call (utmem_put, utmem_get*) that began at t_entry
 * and whose argument checks gave err. Returns 0 (lock held, the call's
 * timing begun) or -errno (lock released; the call is timed as answered
 * by the library).
 */
static int enter_timed_as(struct utmem_client *c, uint32_t h, uint64_t t_entry,
			  int err, int local, uint32_t *server)
{
	if (!err)
		err = enter_as(c, h, 0, local, server);
	if (err)
		return uclient_tm_none(c, t_entry, err);
	uclient_tm_begin(c, t_entry);
	return 0;
}

static int enter_timed(struct utmem_client *c, uint32_t h, uint64_t t_entry,
		       int err, uint32_t *server)
{
	return enter_timed_as(c, h, t_entry, err, 0, server);
}

/* Leave a call entered with enter_timed(); returns its result rc. */
static ssize_t leave_timed(struct utmem_client *c, ssize_t rc)
{
	uclient_tm_end(c);
	uclient_unlock(c);
	return rc;
}

/*
 * What a PUT r of handle h (server's pool) can do without a reply (lock
 * held): nothing at all in no-forward mode, else a post where credit
 * covers it. Returns 0 (done), -EAGAIN (it must go as a request), or a
 * link error (disconnected).
 */
static int put_no_reply(struct utmem_client *c, uint32_t h, uint32_t server,
			const struct uclient_req *r)
{
	uint64_t t0;
	int err;

	if (c->no_forward) {
		c->tm.path = UTMEM_PATH_NONE; /* benchmark mode: stop here */
		return r->force; /* a too-long value: -EMSGSIZE as forwarded */
	}
	if (r->op != UWIRE_OP_PUT || c->no_post)
		return -EAGAIN;
	t0 = (c->flags & UTMEM_OPT_TIMING) ? uclient_now() : 0;
	err = uclient_post_put(c, server, region_pool(c, h), r->key, r->klen,
			       r->val, r->vlen);
	if (err == 0)
		uclient_tm_mark(c, UTMEM_PATH_POSTED, t0);
	else if (err != -EAGAIN)
		uclient_disconnect(c);
	return err;
}

int utmem_put(utmem_client *c, uint32_t pool, const void *key, size_t klen,
	      const void *val, size_t vlen)
{
	uint64_t t_entry;
	struct uclient_req r;
	uint32_t server;
	int err;

	if (!c)
		return -EINVAL;
	t_entry = uclient_tm_entry(c);
	err = enter_timed(c, pool, t_entry,
			  uclient_req_put(c, &r, key, klen, val, vlen), &server);
	if (err)
		return err;
	err = put_no_reply(c, pool, server, &r);
	if (err == -EAGAIN) {
		r.pool = server;
		err = (int)uclient_exec_one(c, &r);
	}
	return (int)leave_timed(c, err);
}

int utmem_submit_put(utmem_client *c, uint32_t pool, const void *key,
		     size_t klen, const void *val, size_t vlen, uint64_t tag)
{
	struct uclient_req r;
	uint32_t server;
	int err;

	if (!c)
		return -EINVAL;
	err = uclient_req_put(c, &r, key, klen, val, vlen);
	if (err)
		return err;
	if (r.op != UWIRE_OP_PUT)
		return -EMSGSIZE; /* nothing sent; utmem_put also drops the old value */
	err = uclient_async_offered(c); /* refused always, not when credit ends */
	if (err)
		return err;
	err = enter(c, pool, 0, &server);
	if (err)
		return err;
	err = put_no_reply(c, pool, server, &r);
	if (err == 0)
		err = 1; /* stored: no completion to wait for */
	else if (err == -EAGAIN)
		err = uclient_async_submit(c, pool, UWIRE_OP_PUT, 0, key, klen,
					   val, vlen, tag);
	uclient_unlock(c);
	return err;
}

/*
 * A one-sided read of (pool, key) for handle h (lock held): waits for this
 * client's posted requests on the key first. Returns 0 (fn called),
 * -ENOENT, -EAGAIN (ask utmemd), or -errno.
 */
static int one_sided(struct utmem_client *c, uint32_t h, uint32_t server,
		     const void *key, size_t klen, unsigned flags,
		     uclient_view_fn fn, void *ctx)
{
	uint64_t t0;
	int err;

	if ((flags & UTMEM_GET_EXCLUSIVE) || c->sync_get || !region_pool(c, h) ||
	    !c->region->hazard)
		return -EAGAIN;
	/* A PUT of the key posted and not applied yet: wait for it, or
	 * with UTMEM_GET_LOCAL (which never waits) let the caller ask. */
	if ((flags & UTMEM_GET_LOCAL) && uclient_post_pending(c, server, key, klen))
		return -EAGAIN;
	err = uclient_post_settle(c, server, key, klen);
	if (err) {
		uclient_disconnect(c);
		return err;
	}
	t0 = (c->flags & UTMEM_OPT_TIMING) ? uclient_now() : 0;
	err = uclient_sget(c->region, server, key, klen, fn, ctx);
	/* Only a timed call's own read: a batch's (not timed) must leave the
	 * last timed call's figures as they were, as uclient_tm_mark does. */
	if (err != -EAGAIN && (c->flags & UTMEM_OPT_TIMING) && c->tm.running) {
		c->tm.side_ns = uclient_now() - t0;
		c->tm.path = UTMEM_PATH_ONE_SIDED;
	}
	/*
	 * A miss that comes from the operator removing the tenant is that
	 * error, not a miss: utmemd flags the connection before it drops the
	 * entries, so a reader that saw them gone sees the flag too.
	 */
	if (err == -ENOENT && uclient_ring_closed(c) == UWIRE_S_REVOKED) {
		uclient_disconnect(c);
		return -uwire_status_to_errno(UWIRE_S_REVOKED);
	}
	if (err == 0 || err == -ENOENT || err == -ENOBUFS)
		uclient_ring_report_reads(c, server, err != -ENOENT);
	return err;
}

/*
 * UTMEM_OPT_NO_FORWARD (a benchmark mode): the call ends here, where the
 * request would be handed to a channel. Returns 1 then (lock held).
 */
static int not_forwarded(struct utmem_client *c)
{
	if (!c->no_forward)
		return 0;
	c->tm.path = UTMEM_PATH_NONE;
	return 1;
}

struct into_buf {
	void *buf;
	size_t cap, len;
};

static int copy_into(void *ctx, const void *val, size_t len)
{
	struct into_buf *b = ctx;

	b->len = len;
	if (len > b->cap)
		return -ENOBUFS; /* nothing removed: a one-sided read never does */
	if (len)
		memcpy(b->buf, val, len);
	return 0;
}

int uclient_fast_candidate(const struct utmem_client *c, uint32_t h,
			   const struct uclient_req *r)
{
	if (!c->ring || r->done)
		return 0;
	if (r->op == UWIRE_OP_PUT)
		return !r->force && c->post.credit_ok && !c->no_post;
	/* As one_sided() would read it: a GET it always declines (SYNC_GET)
	 * would break a batch's pipelined run for nothing. */
	return r->op == UWIRE_OP_GET && r->rx == UCLIENT_RX_BUF &&
	       !(r->flags & UWIRE_F_EXCLUSIVE) && !c->sync_get &&
	       region_pool(c, h) && c->region->hazard;
}

int uclient_fast_req(struct utmem_client *c, uint32_t h, struct uclient_req *r)
{
	int err;

	if (!uclient_fast_candidate(c, h, r))
		return 0;
	if (r->op == UWIRE_OP_PUT) {
		err = uclient_post_put(c, r->pool, region_pool(c, h), r->key,
				       r->klen, r->val, r->vlen);
		if (err == -EAGAIN)
			return 0;
		if (err) {
			uclient_disconnect(c);
			return err;
		}
		r->result = 0;
	} else {
		struct into_buf b = {r->buf, r->cap, 0};

		err = one_sided(c, h, r->pool, r->key, r->klen, 0, copy_into, &b);
		if (err == -EAGAIN)
			return 0;
		if (err && err != -ENOENT && err != -ENOBUFS)
			return err;
		r->result = err ? err : (ssize_t)b.len;
	}
	r->done = 1;
	return 1;
}

ssize_t utmem_get(utmem_client *c, uint32_t pool, const void *key, size_t klen,
		  void *buf, size_t cap, unsigned flags)
{
	uint64_t t_entry;
	struct into_buf b = {buf, cap, 0};
	struct uclient_req r;
	uint32_t server;
	ssize_t rc;
	int err;

	if (!c)
		return -EINVAL;
	t_entry = uclient_tm_entry(c);
	err = enter_timed(c, pool, t_entry,
			  (!buf && cap) || (flags & ~UTMEM_GET_EXCLUSIVE)
				  ? -EINVAL : uclient_check_key(c, key, klen),
			  &server);
	if (err)
		return err;
	rc = not_forwarded(c) ? -ENOENT
			      : one_sided(c, pool, server, key, klen, flags,
					  copy_into, &b);
	if (rc == 0)
		rc = (ssize_t)b.len;
	if (rc == -EAGAIN) {
		uclient_req_get(&r, key, klen, buf, cap, flags);
		r.pool = server;
		rc = uclient_exec_one(c, &r);
	}
	return leave_timed(c, rc);
}

struct into_alloc {
	void *p;
	size_t len;
};

static int copy_alloc(void *ctx, const void *val, size_t len)
{
	struct into_alloc *a = ctx;

	a->p = malloc(len ? len : 1);
	if (!a->p)
		return -ENOMEM;
	if (len)
		memcpy(a->p, val, len);
	a->len = len;
	return 0;
}

/* GET into a malloc()ed buffer, one-sided or from utmemd (lock held). */
static int get_alloc_locked(utmem_client *c, uint32_t pool, uint32_t server,
			    const void *key, size_t klen, unsigned flags,
			    void **val, size_t *vlen)
{
	struct into_alloc a = {NULL, 0};
	struct uclient_req r = {
		.op = UWIRE_OP_GET,
		.key = key,
		.klen = (uint32_t)klen,
		.rx = UCLIENT_RX_ALLOC,
		.out = &a.p,
		.pool = server,
	};
	int err = one_sided(c, pool, server, key, klen, flags, copy_alloc, &a);

	if (err == -EAGAIN) {
		ssize_t rc;

		if (flags & UTMEM_GET_EXCLUSIVE)
			r.flags |= UWIRE_F_EXCLUSIVE;
		rc = uclient_exec_one(c, &r);
		err = rc < 0 ? (int)rc : 0;
		a.len = err ? 0 : (size_t)rc;
	}
	if (err)
		return err;
	*val = a.p;
	*vlen = a.len;
	return 0;
}

int utmem_get_alloc(utmem_client *c, uint32_t pool, const void *key,
		    size_t klen, void **val, size_t *vlen, unsigned flags)
{
	uint64_t t_entry;
	uint32_t server;
	int err;

	if (!c)
		return -EINVAL;
	t_entry = uclient_tm_entry(c);
	err = enter_timed(c, pool, t_entry,
			  !val || !vlen || (flags & ~UTMEM_GET_EXCLUSIVE)
				  ? -EINVAL : uclient_check_key(c, key, klen),
			  &server);
	if (err)
		return err;
	err = not_forwarded(c) ? -ENOENT
			       : get_alloc_locked(c, pool, server, key, klen,
						  flags, val, vlen);
	return (int)leave_timed(c, err);
}

/*
 * fn and its result, for a one-sided read: whether fn was called is noted
 * here, for fn's own result may be any value, -EAGAIN and -ENOENT
 * included, which the read returns as it would its own.
 */
struct view_call {
	utmem_view_fn fn;
	void *ctx;
	int rc;
	int called;
};

static int view_call(void *ctx, const void *val, size_t len)
{
	struct view_call *v = ctx;

	v->called = 1;
	v->rc = v->fn(v->ctx, val, len);
	return v->rc;
}

int utmem_get_view(utmem_client *c, uint32_t pool, const void *key,
		   size_t klen, unsigned flags, utmem_view_fn fn, void *ctx)
{
	struct view_call vc = {fn, ctx, 0, 0};
	uint64_t t_entry;
	uint32_t server;
	size_t len;
	void *p;
	int err;

	if (!c)
		return -EINVAL;
	t_entry = uclient_tm_entry(c);
	err = enter_timed_as(c, pool, t_entry,
			     !fn || (flags & ~(UTMEM_GET_EXCLUSIVE | UTMEM_GET_LOCAL)) ||
					     (flags & UTMEM_GET_EXCLUSIVE &&
					      flags & UTMEM_GET_LOCAL)
				     ? -EINVAL : uclient_check_key(c, key, klen),
			     (flags & UTMEM_GET_LOCAL) != 0, &server);
	if (err)
		return err;
	if (not_forwarded(c))
		return (int)leave_timed(c, -ENOENT);
	err = one_sided(c, pool, server, key, klen, flags, view_call, &vc);
	if (vc.called) {
		err = vc.rc; /* fn's result, whatever it is: fn is called once */
	} else if (err == -EAGAIN && !(flags & UTMEM_GET_LOCAL)) {
		err = get_alloc_locked(c, pool, server, key, klen, flags, &p, &len);
		if (!err) {
			err = fn(ctx, p, len);
			free(p);
		}
	}
	return (int)leave_timed(c, err);
}

int utmem_flush(utmem_client *c)
{
	if (!c)
		return -EINVAL;
	if (uclient_lock(c))
		return 0; /* nothing was posted in this process */
	if (c->fd >= 0)
		uclient_ring_flush(c);
	uclient_unlock(c);
	return 0;
}

int utmem_sync(utmem_client *c)
{
	int err;

	if (!c)
		return -EINVAL;
	err = uclient_lock(c);
	if (err)
		return err;
	if (c->posts_lost) {
		err = -ECONNRESET; /* said once, as an fsync reports a lost write */
	} else if (c->fd >= 0 && c->ring) {
		err = uclient_post_settle(c, 0, NULL, 0);
		if (err)
			uclient_disconnect(c);
	}
	c->posts_lost = 0;
	uclient_unlock(c);
	return err;
}

int utmem_put_pending(utmem_client *c, uint32_t pool, const void *key,
		      size_t klen)
{
	int err;

	if (!c || (key == NULL && klen != 0))
		return -EINVAL;
	err = uclient_lock(c);
	if (err)
		return err;
	/* Checked as utmem_get_view checks them, nothing dialled or reopened:
	 * a connection that is down holds nothing posted. A handle marked
	 * stale on this connection (pools_gen moved) still holds the pool id
	 * its posted PUTs went to: they are asked about all the same, as a
	 * read of the key would reopen the pool and then wait for them. */
	if (key)
		err = uclient_check_key(c, key, klen);
	if (!err && key &&
	    (pool == 0 || pool > c->npools || !c->pools[pool - 1].open))
		err = -EBADF;
	if (!err && conn_up(c))
		err = uclient_post_pending(c, key ? c->pools[pool - 1].server : 0,
					   key, klen);
	uclient_unlock(c);
	return err;
}

int utmem_invalidate(utmem_client *c, uint32_t pool, const void *key,
		     size_t klen)
{
	struct uclient_req r = {
		.op = UWIRE_OP_INVALIDATE,
		.key = key,
		.klen = (uint32_t)klen,
	};
	int err;

	if (!c)
		return -EINVAL;
	err = uclient_check_key(c, key, klen);
	if (err)
		return err;
	return (int)run_one(c, pool, 0, &r);
}

void uclient_stats_decode(const uint8_t *rec, struct utmem_stats *out)
{
	struct uwire_stats s;

	uwire_stats_decode(rec, UWIRE_STATS_SIZE, &s);
	*out = (struct utmem_stats){
		.entries = s.entries,
		.bytes_stored = s.bytes_stored,
		.bytes_charged = s.bytes_charged,
		.puts = s.puts,
		.gets = s.gets,
		.hits = s.hits,
		.misses = s.misses,
		.invalidates = s.invalidates,
		.evictions = s.evictions,
		.refused_puts = s.refused_puts,
		.limit_max = s.limit_max,
		.limit_min = s.limit_min,
	};
}

int utmem_stats(utmem_client *c, uint32_t pool, struct utmem_stats *out)
{
	uint8_t rec[UWIRE_STATS_SIZE];
	struct uclient_req r = {
		.op = UWIRE_OP_STATS,
		.rx = UCLIENT_RX_RECORD,
		.buf = rec,
		.cap = sizeof(rec),
	};
	ssize_t rc;

	if (!c || !out)
		return -EINVAL;
	rc = run_one(c, pool, 1, &r);
	if (rc < 0)
		return (int)rc;
	uclient_stats_decode(rec, out);
	return 0;
}

ssize_t utmem_server_info(utmem_client *c, char *buf, size_t cap)
{
	struct uclient_req r = {
		.op = UWIRE_OP_SERVER_INFO,
		.rx = UCLIENT_RX_BUF,
		.buf = buf,
		.cap = cap ? cap - 1 : 0,
	};
	ssize_t n;

	if (!c || !buf || cap < 1)
		return -EINVAL;
	n = run_one(c, 0, 1, &r);
	buf[n >= 0 ? (size_t)n : 0] = '\0';
	return n;
}

int utmem_ping(utmem_client *c)
{
	struct uclient_req r = {.op = UWIRE_OP_PING};

	if (!c)
		return -EINVAL;
	return (int)run_one(c, 0, 1, &r);
}

/*
 * loop.c — utmemd's event loops and connections: non-blocking sockets,
 * level-triggered epoll, one read and one writev per connection per wakeup.
 *
 * Input: a connection reads into its buffer and serves every complete frame
 * in it (pipelining); the header is validated by uwire_parse against the
 * limits before anything is allocated, and a frame larger than the default
 * buffer (a big PUT) grows it to exactly that frame's size, shrinking back
 * afterwards. Output: replies are queued in segments (out.c) and flushed
 * with one writev over them after the batch. When the socket is full the
 * connection waits for EPOLLOUT, and once its backlog passes OUT_HIGH it
 * stops serving and reading (backpressure) until the client drains it.
 * Nothing here blocks, so a large value in transit never stalls other
 * clients of the loop, and the small-request path allocates nothing.
 *
 * Hostile clients (docs/security.md): the daemon parses frames as requests
 * only (a RESPONSE flag is a protocol error) and checks each request's
 * arguments before its handler; everything a connection holds beyond its
 * base buffers is charged to its tenant (limits.c), a reply that does not
 * fit the tenant's budget stops the connection until its own backlog is
 * gone ("starved"), and every worker sweeps its connections once a second
 * for the timeouts: idle, replies left untaken (client_timeout), a frame
 * left unfinished (frame_timeout), a TCP client without a good HELLO
 * (auth_timeout).
 *
 * Shared-memory ring connections (ring.c) live in the same lists with the
 * same buffers; only their byte moving differs. A worker that has rings
 * polls them for a bounded, adaptive time before it sleeps in epoll
 * (ud_ring_wait_timeout in ring_wait.c), and closing a connection closes its ring peer,
 * the memory being freed only after the event batch (ud_loop_free_dead).
 */
#include "daemon/daemon.h"
#include "proto/region.h"
#include "proto/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#define IN_DEFAULT (16u * 1024u)
#define SEG_IDLE_MS 1000         /* a worker idle this long drops its cache */
#define FLUSH_IOV 64
#define OUT_HIGH (4u << 20)      /* backlog that pauses a connection */
#define OUT_LOW (OUT_HIGH / 2)   /* backlog that resumes it */
#define STOP_GRACE_MS 2000
#define MAX_EVENTS 64
#define SWEEP_MS 1000            /* timeouts are checked this often */
/* Room for any reply but a GET's value: a status, HELLO or STATS record. */
#define SMALL_REPLY (UWIRE_HDR_SIZE + UWIRE_STATS_SIZE)


int ud_loop_init(struct ud_daemon *d, struct ud_loop *l, unsigned index)
{
	memset(l, 0, sizeof(*l));
	l->index = index;
	l->d = d;
	pthread_mutex_init(&l->bulk_lock, NULL);
	l->bulk_lock_ok = 1;
	l->handoff[0] = l->handoff[1] = -1;
	l->handoff_src = UD_SRC_HANDOFF;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		return -errno;
	/* Workers take connections and finished jobs through it; the main
	 * loop the operator's finished jobs (bulk.c). */
	if (pipe2(l->handoff, O_NONBLOCK | O_CLOEXEC) < 0)
		return -errno;
	return ud_loop_watch(l, l->handoff[0], EPOLLIN, &l->handoff_src);
}

static void conn_free(struct ud_conn *c)
{
	if (c->ring)
		ud_ring_free(c);
	ud_conn_release(c); /* its place and its charge (limits.c) */
	free(c->in);
	ud_out_free(c);
	free(c);
}

/* Close every connection at once (end of the grace period) and the loop. */
void ud_loop_fini(struct ud_loop *l)
{
	struct ud_conn *c, *next;

	for (c = l->conns; c; c = next) {
		next = c->next;
		ud_bulk_settle(c); /* the bulk thread may still hold its job */
		close(c->fd);
		conn_free(c);
	}
	l->conns = NULL;
	l->rings = NULL;
	l->nconns = 0;
	ud_loop_free_dead(l);
	ud_seg_cache_trim(l);
	if (l->epfd >= 0)
		close(l->epfd);
	for (int i = 0; i < 2; i++)
		if (l->handoff[i] >= 0)
			close(l->handoff[i]);
	if (l->bulk_lock_ok)
		pthread_mutex_destroy(&l->bulk_lock);
	l->bulk_lock_ok = 0;
	l->epfd = l->handoff[0] = l->handoff[1] = -1;
}

int ud_loop_watch(struct ud_loop *l, int fd, uint32_t events, void *src)
{
	struct epoll_event ev = {.events = events, .data.ptr = src};

	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* Unlink c from its loop's lists and close its descriptor; keep memory. */
static void conn_detach(struct ud_conn *c)
{
	struct ud_loop *l = c->loop;

	if (c->prev)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->ring) {
		struct ud_conn **pp = &l->rings;
		while (*pp && *pp != c)
			pp = &(*pp)->rnext;
		if (*pp)
			*pp = c->rnext;
	}
	/*
	 * Unregister before closing: a doorbell eventfd was passed to the
	 * client, whose copy keeps the file (and so its epoll registration)
	 * alive after our close; a later event would name freed memory.
	 */
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	l->nconns--;
	ud_conn_release(c); /* free its place at once (limits.c) */
	close(c->fd);
	ud_debug("connection fd %d closed", c->fd);
	c->dead = 1;
	c->dnext = l->dead;
	l->dead = c;
}

/*
 * Take socket c out of the epoll set until conn_update puts it back: for a
 * connection that waits for nothing from its client (parked, or closed
 * while parked), whose hang-up epoll would report at every wait whatever
 * the interest.
 */
static void conn_unwatch(struct ud_conn *c)
{
	if (c->unwatched || c->ring)
		return;
	epoll_ctl(c->loop->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	c->unwatched = 1;
	c->events = 0;
}

/* Mark c to be closed once unparked; it is no longer watched. */
static void close_later(struct ud_conn *c)
{
	conn_unwatch(c);
	c->close_pending = 1;
}

/*
 * Close c and its peer. Memory is freed by ud_loop_free_dead() after the
 * event batch: the peer may have an event later in the same batch, and the
 * dispatcher skips records marked dead.
 */
void ud_conn_close(struct ud_conn *c)
{
	struct ud_conn *peer = c->peer;

	if (c->dead)
		return;
	/*
	 * A request of it (or of its peer) is on the bulk thread: close it
	 * when the job comes back (ud_bulk_reap). The job lives in the
	 * connection, and waiting for it here would hold this worker, and
	 * every tenant it serves, for the rest of a flush.
	 */
	if (c->parked || (peer && !peer->dead && peer->parked)) {
		close_later(c);
		if (peer && !peer->dead)
			close_later(peer);
		return;
	}
	/*
	 * Requests a client posted before it went away still take effect. A
	 * flush or destroy among them goes to the bulk thread like any other
	 * (run here, it would hold this worker for the whole pool): both
	 * sides then close when it comes back, and the drain goes on from
	 * there, within the bytes it had left (ud_ring_drain).
	 */
	if (!c->ring && peer && !peer->dead && peer->ring && ud_ring_drain(peer)) {
		close_later(c);
		close_later(peer);
		return;
	}
	conn_detach(c);
	if (peer && !peer->dead) {
		peer->peer = NULL;
		conn_detach(peer);
	}
	c->peer = NULL;
}

static void conn_close(struct ud_conn *c)
{
	ud_conn_close(c);
}

void ud_loop_free_dead(struct ud_loop *l)
{
	struct ud_conn *c, *next;

	for (c = l->dead; c; c = next) {
		next = c->dnext;
		conn_free(c);
	}
	l->dead = NULL;
}

struct ud_conn *ud_conn_new(struct ud_loop *l, int fd, struct ud_tenant *t)
{
	struct ud_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->in = malloc(IN_DEFAULT);
	if (!c->in) {
		free(c);
		return NULL;
	}
	c->src = UD_SRC_CONN;
	c->fd = fd;
	c->loop = l;
	c->tenant = t;
	c->in_cap = IN_DEFAULT;
	c->in_need = UWIRE_HDR_SIZE;
	c->born_ns = c->active_ns = l->now_ns ? l->now_ns : umono_ns();
	c->next = l->conns;
	if (l->conns)
		l->conns->prev = c;
	l->conns = c;
	l->nconns++;
	return c;
}

int ud_conn_start(struct ud_loop *l, int fd, int admin, int tcp,
		  struct ud_tenant *t)
{
	struct ud_conn *c = ud_conn_new(l, fd, t);
	int err = -ENOMEM;

	if (!c)
		goto err_fd;
	c->admin = admin != 0;
	c->tcp = tcp != 0;
	/* ud_admit took its place: a tenant's, the admin's or a pre-auth one. */
	c->unauth = c->tcp && !t;
	c->counted = !c->unauth;
	c->events = EPOLLIN;
	err = ud_loop_watch(l, fd, c->events, c);
	if (err) {
		/* The descriptor is closed with the record. */
		conn_close(c);
		ud_warn("dropping a new connection: %s", strerror(-err));
		return err;
	}
	return 0;
err_fd:
	close(fd);
	ud_unadmit_raw(l->d, admin, tcp, t);
	ud_warn_rl("dropping a new connection: %s", strerror(-err));
	return err;
}

int ud_conn_may_resume(const struct ud_conn *c, size_t low)
{
	size_t b = ud_backlog(c);

	return c->paused && !c->parked && !c->closing && b < low &&
	       (!c->starved || b == 0);
}


static size_t backlog(const struct ud_conn *c)
{
	return ud_backlog(c);
}

/*
 * Write as much pending output as the socket takes, up to FLUSH_IOV
 * segments per writev. Returns 0, or -1 if the connection failed (the
 * caller closes it).
 */
static int conn_flush(struct ud_conn *c)
{
	struct iovec iov[FLUSH_IOV];

	while (backlog(c)) {
		struct ud_seg *s = c->oq;
		int cnt = 0;
		ssize_t n;

		for (; s && cnt < FLUSH_IOV; s = s->next) {
			if (s->len == s->head)
				continue;
			iov[cnt].iov_base = s->data + s->head;
			iov[cnt].iov_len = s->len - s->head;
			cnt++;
		}
		n = writev(c->fd, iov, cnt);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			ud_debug("write on fd %d: %s", c->fd, strerror(errno));
			return -1;
		}
		ud_out_consume(c, (size_t)n);
	}
	return 0;
}

/* A header that cannot be trusted: answer with its status and hang up. */
static void proto_error(struct ud_conn *c, const struct uwire_hdr *h, int status)
{
	ud_info_rl("fd %d: %s in request (opcode 0x%02x, klen %u, vlen %u); closing",
		   c->fd, uwire_status_name((unsigned)status), h->opcode, h->klen,
		   h->vlen);
	ud_reply(c, h, (unsigned)status, 0, NULL, 0);
	c->closing = 1;
}

/*
 * Move the unread tail to the front, give back an oversized buffer and its
 * charge, and note when an unfinished frame began (frame_timeout): only
 * when the buffer ends in one (partial). Whole frames left there while the
 * connection is paused wait for us, not for the client, whose own
 * deadline is client_timeout.
 */
static void in_compact(struct ud_conn *c, size_t pos, bool partial)
{
	if (pos) {
		memmove(c->in, c->in + pos, c->in_len - pos);
		c->in_len -= pos;
	}
	if (!c->in_len || !partial)
		c->frame_ns = 0;
	else if (pos || !c->frame_ns)
		c->frame_ns = c->loop->now_ns;
	if (c->in_cap > IN_DEFAULT && c->in_len <= IN_DEFAULT &&
	    c->in_need <= IN_DEFAULT) {
		uint8_t *p = realloc(c->in, IN_DEFAULT);
		if (p) {
			ud_unhold(c, c->in_cap - IN_DEFAULT);
			c->in = p;
			c->in_cap = IN_DEFAULT;
		}
	}
}

/*
 * Checks of a whole request before its handler runs, for tenant
 * connections. Returns 1 to serve f, 0 when it was answered here (the
 * connection stays usable unless marked closing).
 */
static int request_ok(struct ud_conn *c, const struct uwire_frame *f)
{
	int st = uwire_request_check(&f->hdr);

	if (st < 0 && c->unauth) {
		ud_unauth_refuse(c, &f->hdr, "malformed request before HELLO");
		return 0;
	}
	if (st < 0) {
		ud_debug("fd %d: %s %s refused: invalid argument", c->fd,
			 uwire_op_name(f->hdr.opcode),
			 f->hdr.klen ? "request" : "request with an empty key");
		ud_reply(c, &f->hdr, (unsigned)-st, 0, NULL, 0);
		return 0;
	}
	return 1;
}

/*
 * Serve every complete frame in the input buffer, unless output is backed
 * up or the tenant's in-flight budget has no room for one more reply.
 */
void ud_conn_process(struct ud_conn *c)
{
	struct ud_daemon *d = c->loop->d;
	struct uwire_frame f;
	size_t pos = 0, need;
	bool partial = false;
	long r;

	if (c->parked || (c->starved && backlog(c)))
		return; /* its bulk job, or its own replies to drain */
	c->starved = 0;
	while (!c->closing && !c->parked) {
		if (backlog(c) >= OUT_HIGH) {
			ud_debug("fd %d: %zu bytes of replies unread; pausing",
				 c->fd, backlog(c));
			c->paused = 1;
			break;
		}
		r = uwire_parse_request(c->in + pos, c->in_len - pos, &d->lim, &f,
					&need);
		if (r == 0) {
			partial = true; /* waiting for the rest of a frame */
			c->in_need = need;
			/* Before HELLO a TCP client may send one small frame. */
			if (c->unauth && need > UD_PREAUTH_MAX && c->in_len - pos >=
			    UWIRE_HDR_SIZE)
				ud_unauth_refuse(c, &f.hdr, "frame too large before HELLO");
			break;
		}
		if (r < 0) {
			proto_error(c, &f.hdr, (int)-r);
			break;
		}
		/*
		 * Room for this frame's reply first: a frame is never served
		 * unless its answer can be queued. A tenant whose budget is
		 * spent waits, this connection only, until its own replies
		 * are taken (then its base segments are free again).
		 */
		if (!c->admin && ud_out_reserve(c, SMALL_REPLY) < 0) {
			ud_debug("fd %d: tenant's in-flight budget spent; waiting for %zu bytes of replies to drain",
				 c->fd, backlog(c));
			c->paused = c->starved = 1;
			break;
		}
		c->active_ns = c->loop->now_ns;
		if (c->admin)
			ud_dispatch_admin(c, &f);
		else if (request_ok(c, &f))
			ud_dispatch_tenant(c, &f);
		pos += (size_t)r;
		c->in_need = UWIRE_HDR_SIZE;
	}
	in_compact(c, pos, partial);
}

/*
 * Grow the input buffer to exactly the announced frame size, charging the
 * growth to the tenant's in-flight budget at once (the whole frame is
 * reserved at its header, so a frame is never left half-buffered for want
 * of room). Returns the buffer, or NULL (budget or memory exhausted;
 * nothing changed).
 */
static uint8_t *in_grow(struct ud_conn *c)
{
	size_t old = c->in_cap > IN_DEFAULT ? c->in_cap - IN_DEFAULT : 0;
	size_t add = c->in_need - IN_DEFAULT - old;
	uint8_t *p;

	if (ud_hold(c, add) < 0)
		return NULL;
	p = realloc(c->in, c->in_need);
	if (!p) {
		ud_unhold(c, add);
		return NULL;
	}
	c->in = p;
	c->in_cap = c->in_need;
	return p;
}

/*
 * A posted PUT whose frame does not fit the input buffer, beyond the
 * connection's credit: it breaks the posting rules whatever follows, so
 * it is refused at its header (PROTO, the connection closed), before the
 * whole frame is received and charged. Every frame before it was served
 * (one buffer, in order), so the credit is what serving it would see.
 */
static int posted_over_credit(struct ud_conn *c, const struct uwire_hdr *h)
{
	if (!c->credit || h->opcode != UWIRE_OP_PUT || !(h->flags & UWIRE_F_POSTED) ||
	    ud_credit_covers(c, uvr_put_bound(h->klen, h->vlen)))
		return 0;
	ud_posted_violation(c, h, "posted PUT beyond its credit (refused at its header)");
	return 1;
}

int ud_in_grow_or_refuse(struct ud_conn *c)
{
	struct uwire_hdr h;
	struct uwire_limits big = {UWIRE_KEY_CEILING, UWIRE_VALUE_CEILING};

	if (c->in_need <= c->in_cap)
		return 0;
	uwire_hdr_decode(c->in, &big, &h);
	if (posted_over_credit(c, &h))
		return -EPROTO;
	if (in_grow(c))
		return 0;
	if (c->tenant)
		ud_warn_rl("tenant '%s' (fd %d): a %zu-byte frame does not fit its in-flight budget (%llu of %llu bytes held); refused",
			   c->tenant->name, c->fd, c->in_need,
			   (unsigned long long)atomic_load(&c->tenant->inflight),
			   (unsigned long long)atomic_load(&c->tenant->inflight_max));
	ud_reply(c, &h, c->unauth ? UWIRE_S_AUTH : UWIRE_S_NOMEM, 0, NULL, 0);
	c->closing = 1;
	return -ENOMEM;
}

/*
 * One read into the buffer (grown to the announced frame size if needed).
 * Returns 0, or -1 if the connection is dead.
 */
static int conn_read(struct ud_conn *c)
{
	ssize_t n;

	if (ud_in_grow_or_refuse(c) < 0)
		return 0;
	if (c->in_len == c->in_cap)
		return 0;
	n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
	if (n == 0) {
		/* The peer is done sending: flush what it asked for, then close. */
		if (c->in_len)
			ud_debug("fd %d: peer left mid-frame (%zu bytes)", c->fd,
				 c->in_len);
		c->closing = 1;
		return 0;
	}
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	c->in_len += (size_t)n;
	c->active_ns = c->loop->now_ns;
	ud_conn_process(c);
	return 0;
}

/*
 * Bring c's epoll interest in line with its state, resuming a paused
 * connection whose backlog has drained. Returns 0, or -1 if c was closed.
 */
static int conn_update(struct ud_conn *c)
{
	uint32_t want = 0;

	if (c->close_pending)
		return -1; /* closed when its job comes back */
	if (c->ring) {
		/* A doorbell eventfd: its interest never changes. */
		if (c->closing && !backlog(c)) {
			conn_close(c);
			return -1;
		}
		return 0;
	}
	while (ud_conn_may_resume(c, OUT_LOW)) {
		c->paused = 0;
		ud_conn_process(c);
		if (conn_flush(c) < 0) {
			conn_close(c);
			return -1;
		}
	}
	if (c->closing && !backlog(c)) {
		conn_close(c);
		return -1;
	}
	if (!c->closing && !c->paused && !c->loop->stopping)
		want |= EPOLLIN;
	if (backlog(c))
		want |= EPOLLOUT;
	if (c->unwatched) {
		struct epoll_event ev = {.events = want, .data.ptr = c};

		if (!want)
			return 0;
		if (epoll_ctl(c->loop->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
			conn_close(c);
			return -1;
		}
		c->unwatched = 0;
		c->events = want;
		return 0;
	}
	if (want != c->events) {
		struct epoll_event ev = {.events = want, .data.ptr = c};
		if (epoll_ctl(c->loop->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
			conn_close(c);
			return -1;
		}
		c->events = want;
	}
	return 0;
}

static void conn_event(struct ud_conn *c, uint32_t ev)
{
	if (c->ring) {
		ud_ring_event(c);
		return;
	}
	if (ev & EPOLLERR)
		goto dead;
	if ((ev & EPOLLOUT) && conn_flush(c) < 0)
		goto dead;
	if (ev & (EPOLLIN | EPOLLHUP)) {
		/* A hang-up is reported whatever the interest: while c is
		 * paused with nothing to write (parked behind a flush), stop
		 * watching it until it resumes, or every wait would return. */
		if ((ev & EPOLLHUP) && c->paused && !c->closing && !backlog(c)) {
			conn_unwatch(c);
			return;
		}
		if (c->closing || c->paused)
			goto update;
		if (conn_read(c) < 0)
			goto dead;
		if (conn_flush(c) < 0)
			goto dead;
	}
update:
	conn_update(c);
	return;
dead:
	conn_close(c);
}

void ud_conn_resume(struct ud_conn *c)
{
	if (c->dead)
		return;
	if (c->ring) {
		ud_ring_event(c); /* replies out, buffered frames served */
		return;
	}
	if (!ud_conn_may_resume(c, OUT_LOW)) {
		conn_update(c);
		return;
	}
	/* Serve what came in while parked before writing the reply: a client
	 * that sent more and closed must still have it served, and the write
	 * to its closed socket would close the connection first. */
	c->paused = 0;
	ud_conn_process(c);
	conn_event(c, EPOLLIN); /* read, serve, then write */
}

/*
 * Mark the loop stopping. Connections are swept (closed once flushed) after
 * the current event batch, never in the middle of it, so no later event of
 * the batch can point at a freed connection.
 */
void ud_loop_begin_stop(struct ud_loop *l)
{
	l->stopping = 1;
}

static void stop_sweep(struct ud_loop *l)
{
	struct ud_conn *c, *next;

	for (c = l->conns; c; c = next) {
		next = c->next;
		if (c->dead)
			continue;
		c->closing = 1;
		conn_update(c);
	}
}

/* Take new connections (or the stop order) from the main loop, and
 * finished jobs from the bulk thread. */
static void handoff_read(struct ud_loop *l)
{
	struct ud_handoff rec[32];
	ssize_t n;

	while ((n = read(l->handoff[0], rec, sizeof(rec))) > 0) {
		for (size_t i = 0; i < (size_t)n / sizeof(rec[0]); i++) {
			if (rec[i].fd == UD_HANDOFF_BULK) {
				ud_bulk_reap(l);
			} else if (rec[i].fd == UD_HANDOFF_RECLAIM) {
				/* reclaim_due is set: the worker looks */
			} else if (rec[i].fd < 0) {
				ud_loop_begin_stop(l);
			} else if (l->stopping) {
				close(rec[i].fd);
				ud_unadmit_raw(l->d, 0, rec[i].tcp, rec[i].tenant);
			} else
				ud_conn_start(l, rec[i].fd, 0, rec[i].tcp,
					      rec[i].tenant);
		}
	}
}

int ud_loop_once(struct ud_loop *l, int timeout_ms)
{
	struct epoll_event ev[MAX_EVENTS];
	int n = epoll_wait(l->epfd, ev, MAX_EVENTS, timeout_ms);

	l->now_ns = umono_ns(); /* one clock read per batch, for timestamps */
	ud_count1(&l->wakeups);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		enum ud_src_kind *src = ev[i].data.ptr;
		switch (*src) {
		case UD_SRC_CONN:
			if (((struct ud_conn *)src)->dead)
				break;
			conn_event((struct ud_conn *)src, ev[i].events);
			break;
		case UD_SRC_LISTENER:
			ud_accept(l->d, (struct ud_listener *)src);
			break;
		case UD_SRC_SIGNAL:
			ud_on_signal(l->d);
			break;
		case UD_SRC_HANDOFF:
			handoff_read(l);
			break;
		}
	}
	if (l->stopping)
		stop_sweep(l);
	ud_loop_free_dead(l);
	if (l->index == 0)
		ud_free_dead_listeners(l->d);
	return n;
}

static long now_ms(void)
{
	return (long)(umono_ns() / 1000000u);
}

/* Why c should be closed now, or NULL. See loop.c's header. */
static const char *overdue(const struct ud_conn *c, uint64_t now)
{
	struct ud_daemon *d = c->loop->d;
	uint64_t idle = atomic_load_explicit(&d->idle_ns, memory_order_relaxed);
	uint64_t client = atomic_load_explicit(&d->client_ns, memory_order_relaxed);
	uint64_t frame = atomic_load_explicit(&d->frame_ns, memory_order_relaxed);
	uint64_t auth = atomic_load_explicit(&d->auth_ns, memory_order_relaxed);
	uint64_t active = c->active_ns;

	if (c->unauth && now - c->born_ns > auth)
		return "no HELLO within auth_timeout";
	if (c->parked || c->close_pending || (c->peer && c->peer->parked))
		return NULL; /* waiting for the bulk thread, not for the client */
	if (client && backlog(c) && now - c->stall_ns > client)
		return "its replies went untaken for client_timeout";
	if (frame && c->in_len && c->frame_ns && now - c->frame_ns > frame)
		return "a frame stayed unfinished for frame_timeout";
	if (!idle || c->ring || c->in_len || backlog(c))
		return NULL;
	/* A socket with a ring is idle only while its ring is too. */
	if (c->peer) {
		if (c->peer->in_len || backlog(c->peer))
			return NULL;
		if (c->peer->active_ns > active)
			active = c->peer->active_ns;
	}
	return now - active > idle ? "idle for idle_timeout" : NULL;
}

/* Close the connections of l whose time is up (once per SWEEP_MS). */
static void timeout_sweep(struct ud_loop *l)
{
	struct ud_conn *c, *next;
	uint64_t now = umono_ns();

	l->now_ns = now;
	if (now < l->next_sweep_ns)
		return;
	l->next_sweep_ns = now + SWEEP_MS * 1000000ull;
	for (c = l->conns; c; c = next) {
		const char *why;

		next = c->next;
		if (c->dead || !(why = overdue(c, now)))
			continue;
		ud_info_rl("%s%s%s (fd %d): %s; closing the connection",
			   c->tenant ? "tenant '" : "TCP client",
			   c->tenant ? c->tenant->name : "",
			   c->tenant ? "'" : "", c->fd, why);
		/* The peer (ring or socket) goes too: never next in the list
		 * after it is freed, since memory waits for the batch end. */
		ud_conn_close(c);
	}
}

/*
 * A worker: serve until told to stop, then give connections STOP_GRACE_MS
 * to take their last replies before closing the rest. A worker with ring
 * connections spins over them before sleeping (ud_ring_wait_timeout,
 * ring_wait.c).
 */
void *ud_worker_main(void *arg)
{
	struct ud_loop *l = arg;
	long deadline = 0;
	unsigned skipped = 0;

	ud_sched_serving_thread(l->d);
	uspin_init(&l->ring_spin, (uint64_t)l->d->ring_spin_us * 1000u);
	l->bulk_ok = 1; /* this thread reads the hand-off pipe (bulk.c) */
	for (;;) {
		int block = -1, armed = 0, timeout, n;

		if (l->stopping) {
			if (!deadline)
				deadline = now_ms() + STOP_GRACE_MS;
			if (l->nconns == 0 || now_ms() >= deadline)
				break;
			block = 50;
		}
		if (block < 0 && l->seg_cache)
			block = SEG_IDLE_MS; /* wake up to drop the cache */
		if (l->nconns && (block < 0 || block > SWEEP_MS))
			block = SWEEP_MS; /* wake up for the timeouts */
		if (l->reclaim_due && (block < 0 || block > UD_RECLAIM_RETRY_MS))
			block = UD_RECLAIM_RETRY_MS; /* credit to take back */
		if (l->rings)
			block = ud_ring_wait_timeout(l, block, &armed);
		if (block == UD_RING_READY && ++skipped < UD_RING_EPOLL_EVERY) {
			/* Straight to the ring: no system call on the fast path. */
		} else {
			skipped = 0;
			timeout = block == UD_RING_READY ? 0 : block;
			n = ud_loop_once(l, timeout);
			if (n < 0)
				break;
			if (n == 0 && timeout == SEG_IDLE_MS)
				ud_seg_cache_trim(l);
		}
		if (armed)
			ud_ring_arm(l, 0);
		if (l->rings && ud_ring_pass(l))
			ud_ring_worked(l);
		/* After the pass, so what the clients sent before is served. */
		ud_credit_reclaim_due(l);
		if (!l->stopping)
			timeout_sweep(l);
		ud_loop_free_dead(l);
	}
	return NULL;
}

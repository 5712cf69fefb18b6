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
 * stops serving and reading (backpressure) until the client drains it. Nothing here blocks,
 * so a large value in transit never stalls other clients of the loop, and
 * the small-request path allocates nothing.
 *
 * Shared-memory ring connections (ring.c) live in the same lists with the
 * same buffers; only their byte moving differs. A worker that has rings
 * polls them for a bounded, adaptive time before it sleeps in epoll
 * (ud_ring_wait_timeout in ring_wait.c), and closing a connection closes its ring peer,
 * the memory being freed only after the event batch (ud_loop_free_dead).
 */
#include "daemon/daemon.h"

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


int ud_loop_init(struct ud_daemon *d, struct ud_loop *l, unsigned index)
{
	memset(l, 0, sizeof(*l));
	l->index = index;
	l->d = d;
	l->handoff[0] = l->handoff[1] = -1;
	l->handoff_src = UD_SRC_HANDOFF;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		return -errno;
	if (index == 0)
		return 0;
	if (pipe2(l->handoff, O_NONBLOCK | O_CLOEXEC) < 0)
		return -errno;
	return ud_loop_watch(l, l->handoff[0], EPOLLIN, &l->handoff_src);
}

static void conn_free(struct ud_conn *c)
{
	if (c->ring)
		ud_ring_free(c);
	if (c->in_cap > IN_DEFAULT)
		atomic_fetch_sub(&c->loop->d->big_in, c->in_cap);
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
	if (c->counted)
		atomic_fetch_sub_explicit(&c->tenant->conns, 1, memory_order_relaxed);
	close(c->fd);
	ud_debug("connection fd %d closed", c->fd);
	c->dead = 1;
	c->dnext = l->dead;
	l->dead = c;
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
	if (t) {
		atomic_fetch_add_explicit(&t->conns, 1, memory_order_relaxed);
		c->counted = 1;
	}
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
	ud_warn("dropping a new connection: %s", strerror(-err));
	return err;
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
	ud_info("fd %d: %s in request (opcode 0x%02x, klen %u, vlen %u); closing",
		c->fd, uwire_status_name((unsigned)status), h->opcode, h->klen,
		h->vlen);
	ud_reply(c, h, (unsigned)status, 0, NULL, 0);
	c->closing = 1;
}

/* Move the unread tail to the front, and give back an oversized buffer. */
static void in_compact(struct ud_conn *c, size_t pos)
{
	if (pos) {
		memmove(c->in, c->in + pos, c->in_len - pos);
		c->in_len -= pos;
	}
	if (c->in_cap > IN_DEFAULT && c->in_len <= IN_DEFAULT &&
	    c->in_need <= IN_DEFAULT) {
		uint8_t *p = realloc(c->in, IN_DEFAULT);
		if (p) {
			atomic_fetch_sub(&c->loop->d->big_in, c->in_cap);
			c->in = p;
			c->in_cap = IN_DEFAULT;
		}
	}
}

/* Serve every complete frame in the input buffer, unless output is backed up. */
void ud_conn_process(struct ud_conn *c)
{
	struct ud_daemon *d = c->loop->d;
	struct uwire_frame f;
	size_t pos = 0, need;
	long r;

	while (!c->closing) {
		if (backlog(c) >= OUT_HIGH) {
			ud_debug("fd %d: %zu bytes of replies unread; pausing",
				 c->fd, backlog(c));
			c->paused = 1;
			break;
		}
		r = uwire_parse(c->in + pos, c->in_len - pos, &d->lim, &f, &need);
		if (r == 0) {
			c->in_need = need;
			break;
		}
		if (r < 0) {
			proto_error(c, &f.hdr, (int)-r);
			break;
		}
		if (c->admin)
			ud_dispatch_admin(c, &f);
		else
			ud_dispatch_tenant(c, &f);
		pos += (size_t)r;
		c->in_need = UWIRE_HDR_SIZE;
	}
	in_compact(c, pos);
}

/*
 * Grow the input buffer to exactly the announced frame size, within the
 * daemon-wide budget for such buffers. Returns the buffer, or NULL (budget
 * or memory exhausted; nothing changed).
 */
static uint8_t *in_grow(struct ud_conn *c)
{
	struct ud_daemon *d = c->loop->d;
	size_t old = c->in_cap > IN_DEFAULT ? c->in_cap : 0;
	size_t add = c->in_need - old;
	uint8_t *p;

	if (atomic_fetch_add(&d->big_in, add) + add > d->big_in_limit) {
		atomic_fetch_sub(&d->big_in, add);
		return NULL;
	}
	p = realloc(c->in, c->in_need);
	if (!p) {
		atomic_fetch_sub(&d->big_in, add);
		return NULL;
	}
	c->in = p;
	c->in_cap = c->in_need;
	return p;
}

int ud_in_grow_or_refuse(struct ud_conn *c)
{
	struct uwire_hdr h;
	struct uwire_limits big = {UWIRE_KEY_CEILING, UWIRE_VALUE_CEILING};

	if (c->in_need <= c->in_cap || in_grow(c))
		return 0;
	uwire_hdr_decode(c->in, &big, &h);
	ud_warn("fd %d: no memory for a %zu-byte frame", c->fd, c->in_need);
	ud_reply(c, &h, UWIRE_S_NOMEM, 0, NULL, 0);
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

	if (c->ring) {
		/* A doorbell eventfd: its interest never changes. */
		if (c->closing && !backlog(c)) {
			conn_close(c);
			return -1;
		}
		return 0;
	}
	while (c->paused && !c->closing && backlog(c) < OUT_LOW) {
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

/* Take new connections (or the stop order) from the main loop. */
static void handoff_read(struct ud_loop *l)
{
	struct ud_handoff rec[32];
	ssize_t n;

	while ((n = read(l->handoff[0], rec, sizeof(rec))) > 0) {
		for (size_t i = 0; i < (size_t)n / sizeof(rec[0]); i++) {
			if (rec[i].fd < 0)
				ud_loop_begin_stop(l);
			else if (l->stopping)
				close(rec[i].fd);
			else
				ud_conn_start(l, rec[i].fd, 0, rec[i].tcp,
					      rec[i].tenant);
		}
	}
}

int ud_loop_once(struct ud_loop *l, int timeout_ms)
{
	struct epoll_event ev[MAX_EVENTS];
	int n = epoll_wait(l->epfd, ev, MAX_EVENTS, timeout_ms);

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
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

uint64_t ud_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
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

	uspin_init(&l->ring_spin, (uint64_t)l->d->ring_spin_us * 1000u);
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
		ud_loop_free_dead(l);
	}
	return NULL;
}

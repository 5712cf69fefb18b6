/*
 * ring.c — utmemd's side of the shared-memory ring transport
 * (docs/protocol.md, "Shared-memory ring"; layout in src/transport/ring.h).
 *
 * A tenant connected on a Unix socket asks for a ring with RING_SETUP. We
 * create a sealed memfd (it can be neither shrunk nor grown, so a client can
 * never make our mapping fault with SIGBUS), map it, create our doorbell (an
 * eventfd) and the client's (a pipe: the client gets the read end, the write
 * end and its flags stay ours), and pass the memfd and the two doorbells
 * with the reply, then the liveness page and the tenant's value region when
 * there are some (3 to 5 descriptors). The ring's memory is charged to the
 * tenant's in-flight budget while it lives. The ring then becomes a
 * connection of its own on the same worker loop: its fd is our doorbell,
 * its input and output buffers are the same private buffers a socket
 * connection has, and the request handlers are exactly the socket ones. The
 * two connections are peers: closing either (the client hung up, a
 * protocol error, a hostile index) closes both.
 *
 * The ring memory is hostile: the client can write anything into it at any
 * moment. So we never read back an index we own (private copies in struct
 * uring_end), we check every index the client publishes (uring_avail,
 * uring_room: monotonic and within the ring), and we copy request bytes
 * into the private input buffer before parsing them, so the frame that is
 * validated is the frame that is served. A bad index closes the connection;
 * nothing the client writes there can crash the daemon or touch another
 * client.
 */
#include "daemon/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/region.h"
#include "transport/ring.h"

#define RING_OUT_LOW (2u << 20)      /* backlog that resumes a paused ring */
#define RING_ROUNDS 4                /* input refills per service, for fairness */

struct ud_ring {
	struct uring_map map;
	struct uring_end rx; /* client -> daemon: we consume */
	struct uring_end tx; /* daemon -> client: we produce */
	int kick_fd;         /* the client's doorbell */
	struct ud_ring_owner owner; /* set for a ring with no socket */
};

void ud_ring_free(struct ud_conn *c)
{
	struct ud_ring *r = c->ring;

	if (!r)
		return;
	ud_credit_free(c);
	if (r->owner.release) {
		r->owner.release(r->owner.arg, &r->map);
	} else {
		/* A client serving itself from shared memory learns of the
		 * close here (the pages outlive our mapping while it maps
		 * them). */
		if (!__atomic_load_n(&r->map.shm->closed, __ATOMIC_RELAXED))
			__atomic_store_n(&r->map.shm->closed, URING_CLOSED,
					 __ATOMIC_RELEASE);
		uring_unmap(&r->map);
	}
	if (r->kick_fd >= 0)
		close(r->kick_fd);
	free(r);
	c->ring = NULL;
}

/*
 * Wake the client if it sleeps (it may wait for replies or for room). The
 * doorbell is our end of a pipe: its flags are ours alone, so the write
 * never blocks; a full pipe (EAGAIN) means a wake-up is pending anyway.
 */
static void kick_client(struct ud_ring *r, uint32_t what)
{
	char one = 1;

	if (!uring_need_kick(&r->map.shm->client_sleeping, what))
		return;
	if (r->owner.kick)
		r->owner.kick(r->owner.arg, what);
	else if (write(r->kick_fd, &one, 1) < 0 && errno != EAGAIN)
		ud_debug("ring doorbell: %s", strerror(errno));
}

/*
 * Copy pending replies into the to-client ring. Returns 1 if bytes moved,
 * 0 if not (no backlog, or no room), -1 for an impossible client head.
 */
static int ring_flush(struct ud_conn *c)
{
	struct ud_ring *r = c->ring;
	size_t moved = 0;

	while (ud_backlog(c)) {
		int64_t room = uring_room(&r->tx);
		struct ud_seg *s = c->oq;
		size_t n;

		while (s->head == s->len)
			s = s->next; /* an empty reserved segment */
		n = s->len - s->head;

		if (room < 0)
			return -1;
		if ((uint64_t)room < n)
			n = (size_t)room;
		if (n == 0)
			break;
		memcpy(uring_wptr(&r->tx), s->data + s->head, n);
		uring_produce(&r->tx, n);
		ud_out_consume(c, n);
		moved += n;
	}
	if (moved)
		kick_client(r, URING_WANT_DATA);
	return moved != 0;
}

/*
 * Copy request bytes from the to-daemon ring into the private input
 * buffer (grown to a large frame's size first). Returns the byte count,
 * 0 if none, -1 for an impossible client tail.
 */
static int64_t ring_fill(struct ud_conn *c)
{
	struct ud_ring *r = c->ring;
	int64_t avail;
	size_t n;

	if (ud_in_grow_or_refuse(c) < 0)
		return 0;
	avail = uring_avail(&r->rx);
	if (avail < 0)
		return -1;
	n = c->in_cap - c->in_len;
	if ((uint64_t)avail < n)
		n = (size_t)avail;
	if (n == 0)
		return 0;
	memcpy(c->in + c->in_len, uring_rptr(&r->rx), n);
	uring_consume(&r->rx, n);
	c->in_len += n;
	kick_client(r, URING_WANT_ROOM);
	return (int64_t)n;
}

/*
 * After serving: top the connection's credit and staging extents up, then
 * publish how many request frames were served (a client waiting for its
 * posted requests to apply is woken). In that order, so a client that
 * sees its requests applied also sees the refill they earned (and waits
 * for it rather than giving its credit back).
 */
static void after_service(struct ud_conn *c)
{
	struct ud_credit *k = c->credit;

	if (!k)
		return;
	ud_credit_refill(c);
	if (__atomic_load_n(&k->shm->applied, __ATOMIC_RELAXED) != k->applied) {
		__atomic_store_n(&k->shm->applied, k->applied, __ATOMIC_RELEASE);
		kick_client(c->ring, URING_WANT_APPLIED);
	}
}

int ud_ring_service(struct ud_conn *c)
{
	int moved = 0, n;

	/* Closed while it or its socket was parked: nothing more is served
	 * until the job is back and the close drains it (ud_conn_close). */
	if (c->close_pending)
		return 0;
	n = ring_flush(c);
	if (n < 0)
		goto hostile;
	moved |= n;
	while (ud_conn_may_resume(c, RING_OUT_LOW)) {
		c->paused = 0;
		ud_conn_process(c);
		n = ring_flush(c);
		if (n < 0)
			goto hostile;
		moved = 1;
	}
	for (int round = 0; round < RING_ROUNDS && !c->closing && !c->paused;
	     round++) {
		int64_t got = ring_fill(c);

		if (got < 0)
			goto hostile;
		if (got == 0)
			break;
		moved = 1;
		ud_conn_process(c);
		if (ring_flush(c) < 0)
			goto hostile;
	}
	if (moved)
		after_service(c);
	if (c->closing && !ud_backlog(c)) {
		ud_conn_close(c);
		return -1;
	}
	return moved;
hostile:
	ud_warn_rl("ring of tenant '%s' (fd %d): impossible index in shared memory; closing the connection",
		c->tenant ? c->tenant->name : "?", c->fd);
	ud_conn_close(c);
	return -1;
}

int ud_ring_drain(struct ud_conn *c)
{
	struct ud_conn *sock = c->peer;
	/* The client can still write the ring after closing its socket: the
	 * whole drain, however often a bulk job interrupts it, takes at most
	 * twice the ring's size. */
	uint64_t budget = c->ring->map.size * 2;

	c->peer = NULL; /* nothing of it may close the socket side now */
	for (;;) {
		int64_t got;

		if (ud_backlog(c))
			ud_out_consume(c, ud_backlog(c)); /* nobody reads replies */
		c->paused = 0;
		ud_conn_process(c); /* what a bulk job left in c->in first */
		if (c->parked) {
			c->peer = sock; /* closed together when the job is back */
			return 1;
		}
		if (c->closing || c->dead || c->drained >= budget)
			break;
		got = ring_fill(c);
		if (got <= 0)
			break;
		c->drained += (uint64_t)got;
	}
	if (ud_backlog(c))
		ud_out_consume(c, ud_backlog(c));
	return 0;
}

void ud_ring_event(struct ud_conn *c)
{
	/* The doorbell is edge-triggered and never drained (ring_create). */
	struct ud_loop *l = c->loop;

	if (ud_ring_service(c) > 0)
		ud_ring_worked(l);
}

int ud_ring_pass(struct ud_loop *l)
{
	struct ud_conn *c, *next;
	int any = 0;

	ud_ring_beat(l);
	for (c = l->rings; c; c = next) {
		next = c->rnext;
		if (ud_ring_service(c) > 0)
			any = 1;
	}
	return any;
}

int ud_ring_ready(struct ud_loop *l)
{
	for (struct ud_conn *c = l->rings; c; c = c->rnext) {
		struct ud_ring *r = c->ring;

		/* A ring closed while parked waits for its job, and may
		 * publish anything meanwhile (an impossible index reads as
		 * work here forever): it never keeps the worker awake. */
		if (c->close_pending)
			continue;
		if (!c->closing && !c->paused && uring_avail(&r->rx) != 0)
			return 1;
		if (ud_backlog(c) && uring_room(&r->tx) != 0)
			return 1;
	}
	return 0;
}

bool ud_ring_quiet(struct ud_conn *c)
{
	return c->ring && !c->paused && c->in_len == 0 &&
	       uring_avail(&c->ring->rx) == 0;
}

void ud_ring_beat(struct ud_loop *l)
{
	l->ring_beat++;
	for (struct ud_conn *c = l->rings; c; c = c->rnext)
		uring_beat(c->ring->map.shm, l->ring_beat);
}

void ud_ring_arm(struct ud_loop *l, int on)
{
	for (struct ud_conn *c = l->rings; c; c = c->rnext) {
		if (on)
			uring_sleep_prepare(&c->ring->map.shm->daemon_sleeping,
					    URING_WANT_DATA |
					    (ud_backlog(c) ? URING_WANT_ROOM : 0));
		else
			uring_sleep_cancel(&c->ring->map.shm->daemon_sleeping);
	}
}

int ud_ring_attach(struct ud_loop *l, struct ud_tenant *t, int fd,
		   const struct uring_map *m, const struct ud_ring_owner *o,
		   struct ud_conn **out)
{
	struct ud_ring *r = calloc(1, sizeof(*r));
	struct uring_map copy = *m;
	struct ud_conn *rc = NULL;
	int err;

	if (!r) {
		o->release(o->arg, &copy);
		close(fd);
		return -ENOMEM;
	}
	r->map = *m;
	r->kick_fd = -1;
	r->owner = *o;
	uring_end_init(&r->rx, &r->map, URING_TO_DAEMON);
	uring_end_init(&r->tx, &r->map, URING_TO_CLIENT);
	rc = ud_conn_new(l, fd, t);
	if (!rc) {
		o->release(o->arg, &r->map);
		free(r);
		close(fd);
		return -ENOMEM;
	}
	/* From here closing rc releases the mapping and fd (ud_ring_free). */
	rc->ring = r;
	rc->rnext = l->rings;
	l->rings = rc;
	rc->events = EPOLLIN | EPOLLET;
	err = ud_loop_watch(l, fd, EPOLLIN | EPOLLET, rc);
	if (err) {
		ud_conn_close(rc);
		return err;
	}
	*out = rc;
	return 0;
}

/*
 * Create the sealed region, map it and open the doorbells. On success
 * *memfd is the region's descriptor and *client_bell the read end of the
 * client's doorbell pipe (the caller passes and closes both), and the ring
 * connection is linked as c's peer. Returns 0 or -errno.
 */
static int ring_create(struct ud_conn *c, uint64_t size, int *memfd,
		       int *client_bell)
{
	struct ud_loop *l = c->loop;
	uint64_t bytes = uring_region_bytes(size);
	struct ud_ring *r;
	struct ud_conn *rc;
	int fd, bell, pipefd[2] = {-1, -1}, err;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->kick_fd = -1;
	fd = memfd_create("utmem-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		goto fail_errno;
	if (ftruncate(fd, (off_t)bytes) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto fail_fd;
	err = uring_map_fd(fd, size, &r->map);
	if (err) {
		errno = -err;
		goto fail_fd;
	}
	r->map.shm->magic = URING_MAGIC;
	r->map.shm->layout = URING_LAYOUT;
	r->map.shm->size = size;
	uring_end_init(&r->rx, &r->map, URING_TO_DAEMON);
	uring_end_init(&r->tx, &r->map, URING_TO_CLIENT);
	/*
	 * The client's doorbell is a pipe, not an eventfd: a passed eventfd
	 * shares its open file description, so a client could clear its
	 * O_NONBLOCK and fill its counter, and our write would block the
	 * worker. The client gets only the read end; the write end's flags
	 * are ours.
	 */
	if (pipe2(pipefd, O_NONBLOCK | O_CLOEXEC) < 0)
		goto fail_map;
	r->kick_fd = pipefd[1];
	bell = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (bell < 0)
		goto fail_map;
	rc = ud_conn_new(l, bell, c->tenant);
	if (!rc) {
		close(bell);
		errno = ENOMEM;
		goto fail_map;
	}
	*client_bell = pipefd[0];
	/* From here the ring belongs to rc: closing rc releases it. */
	rc->ring = r;
	rc->rnext = l->rings;
	l->rings = rc;
	/* The ring's memory is its tenant's: charged to its in-flight
	 * budget (limits.c) while the connection lives, so no tenant's rings
	 * can keep another's from getting one. */
	if (ud_hold(rc, bytes) < 0) {
		ud_conn_close(rc);
		close(fd);
		close(pipefd[0]);
		return -ENOMEM;
	}
	rc->peer = c;
	c->peer = rc;
	rc->bench = c->bench; /* benchmark modes asked for on the socket */
	/*
	 * Edge-triggered: every doorbell write is a new edge, so the counter
	 * never needs draining (a read per wake-up saved); the indices, not
	 * the counter, say what is to do.
	 */
	rc->events = EPOLLIN | EPOLLET;
	err = ud_loop_watch(l, bell, EPOLLIN | EPOLLET, rc);
	if (err) {
		close(fd);
		close(pipefd[0]);
		c->peer = NULL;
		rc->peer = NULL;
		ud_conn_close(rc);
		return err;
	}
	*memfd = fd;
	return 0;
fail_map:
	uring_unmap(&r->map);
fail_fd:
	err = errno;
	close(fd);
	errno = err;
fail_errno:
	err = -errno;
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	free(r);
	return err;
}

/*
 * Send the RING_SETUP reply with the three descriptors attached to its
 * first byte. The output buffer is empty (checked by the caller), so the
 * reply is next in the stream; whatever the socket does not take now is
 * queued like any reply. Returns 0 or -errno.
 */
static int send_setup(struct ud_conn *c, const struct uwire_hdr *req,
		      const struct uring_setup *setup, const int *fds, int nfds)
{
	uint8_t buf[UWIRE_HDR_SIZE + URING_SETUP_SIZE];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * URING_SETUP_NFDS)];
	} ctl;
	struct uwire_hdr h = {
		.version = UWIRE_VERSION,
		.opcode = req->opcode,
		.flags = UWIRE_F_RESPONSE,
		.id = req->id,
		.vlen = URING_SETUP_SIZE,
	};
	struct iovec iov = {buf, sizeof(buf)};
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctl.b,
		.msg_controllen = sizeof(ctl.b),
	};
	struct cmsghdr *cm;
	ssize_t n;

	uwire_hdr_encode(&h, buf);
	uring_setup_encode(setup, buf + UWIRE_HDR_SIZE);
	memset(&ctl, 0, sizeof(ctl));
	msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	do
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	if ((size_t)n < sizeof(buf)) {
		size_t rest = sizeof(buf) - (size_t)n;

		if (ud_out_append(c, buf + n, rest) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* Is fd a Unix socket? Only there can descriptors be passed: a vsock
 * connection is handed to workers as a local one, but has no SCM_RIGHTS. */
static int unix_socket(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	return getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
	       ss.ss_family == AF_UNIX;
}

void ud_ring_setup(struct ud_conn *c, const struct uwire_frame *f)
{
	struct ud_daemon *d = c->loop->d;
	struct uring_setup setup = {.size = d->ring_size, .hazard = URING_NO_HAZARD};
	uint64_t size = d->ring_size;
	int fds[URING_SETUP_NFDS], memfd = -1, client_bell = -1, nfds = 3, err;

	/* Rings are for local tenants on Unix sockets, one per connection. */
	if (c->tcp || c->admin || c->ring || c->peer || size == 0 ||
	    !unix_socket(c->fd)) {
		ud_reply(c, &f->hdr, UWIRE_S_OPCODE, 0, NULL, 0);
		return;
	}
	/* Descriptors ride on the reply's first byte: it must come next. */
	if (f->hdr.klen || f->hdr.vlen || ud_backlog(c)) {
		ud_reply(c, &f->hdr, UWIRE_S_INVALID, 0, NULL, 0);
		return;
	}
	err = ring_create(c, size, &memfd, &client_bell);
	if (err) {
		ud_warn_rl("tenant '%s': cannot set up a shared-memory ring: %s",
			c->tenant->name, strerror(-err));
		ud_reply(c, &f->hdr, ud_status(err == -ENOMEM ? err : -EIO), 0,
			 NULL, 0);
		return;
	}
	fds[0] = memfd;
	fds[1] = c->peer->fd;
	fds[2] = client_bell;
	if (d->live_fd >= 0) {
		setup.flags |= URING_SETUP_LIVE;
		fds[nfds++] = d->live_fd;
	}
	if (c->tenant->region_fd >= 0) {
		/* A hazard word for one-sided reads, if one is free; without
		 * it the client asks utmemd for values. */
		if (ust_region_hazard_get(d->st, c->tenant->id, &setup.hazard) < 0)
			setup.hazard = URING_NO_HAZARD;
		setup.region_size = c->tenant->region_size;
		fds[nfds++] = c->tenant->region_fd;
	}
	err = ud_credit_init(c->peer, c->peer->ring->map.shm, setup.hazard);
	if (err) {
		if (setup.hazard != URING_NO_HAZARD)
			ust_region_hazard_put(d->st, c->tenant->id, setup.hazard);
		close(memfd);
		close(client_bell);
		struct ud_conn *rc = c->peer;

		ud_reply(c, &f->hdr, UWIRE_S_NOMEM, 0, NULL, 0);
		c->peer = NULL;
		rc->peer = NULL;
		ud_conn_close(rc);
		return;
	}
	err = send_setup(c, &f->hdr, &setup, fds, nfds);
	close(memfd);
	close(client_bell);
	if (err) {
		ud_info_rl("fd %d: cannot send the ring: %s; closing", c->fd,
			strerror(-err));
		/* Closing c closes its ring peer too, once c is flushed. */
		c->closing = 1;
		return;
	}
	ud_debug("fd %d: tenant '%s' uses a shared-memory ring (%llu bytes each way)",
		c->fd, c->tenant->name, (unsigned long long)size);
}

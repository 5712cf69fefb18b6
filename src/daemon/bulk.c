/*
 * bulk.c — tenant requests whose work grows with the data they touch
 * (POOL_FLUSH and POOL_DESTROY: one removal per value) run on one "bulk"
 * thread, not on the worker that received them.
 *
 * A worker serves many connections of many tenants. Flushing a pool of a
 * million small values takes the store about half a second; run inline, it
 * would stop every other connection of that worker for as long, so one
 * tenant could stall the others at will. Instead the worker parks the
 * requesting connection (it serves nothing more of it: order on the
 * connection holds), queues the job here and goes on with its other
 * connections. The bulk thread runs jobs one at a time and hands each back
 * to its worker (a record in the worker's hand-off pipe), which sends the
 * reply and serves the connection again. Tenants take turns: the next job
 * is the oldest of the tenant whose last job began longest ago (pick), so
 * a tenant that queued a flush on each of its connections delays another
 * tenant's flush by one job, not by all of its own.
 *
 * The job lives in the connection (struct ud_conn.bulk): nothing is
 * allocated, and a tenant can have at most one job per connection, so its
 * jobs are bounded by its connection limit. While parked the connection
 * is not read (a hang-up is seen once it resumes, after what it sent
 * before is served; meanwhile its socket is not watched, loop.c) and no
 * timeout applies to it. A connection closed
 * while its job is queued or running (its client reset it, or hung up
 * the ring's socket) stays, unwatched, until the job comes back, and is
 * closed then: the request takes effect, as any request a client sent
 * before it went away, the connection's memory outlives the job, and the
 * worker never waits for it. What the ring still holds is then drained,
 * and a flush or destroy in it parks the ring again (ud_ring_drain; the
 * whole drain is bounded in bytes). Only when the worker stops for good
 * does it wait for its connections' jobs (ud_bulk_settle in
 * ud_loop_fini).
 *
 * The operator's POOL_FLUSH and POOL_DESTROY (admin_ops.c) run here too,
 * and so do the evictions of an operator's lowered capacity or max and
 * the dropping of a removed tenant's entries (ud_admin_reply_cfg), for the
 * same reason on the main loop, which accepts every tenant's new
 * connections: the admin connection is parked, the operator takes turns as
 * a tenant of its own, and the job comes back through the main loop's
 * hand-off pipe, where its done() callback replies. A SIGHUP's evictions
 * and removals are the same work with nobody to answer: a job of the
 * daemon's own (ud_bulk_submit_daemon), in the operator's turn, whose
 * done() logs what was evicted.
 *
 * Without the thread (it could not start; the fuzzers that drive the
 * dispatcher in-process) a job runs inline, as before.
 */
#include "daemon/daemon.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ud_bulk {
	struct ud_daemon *d;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t work; /* a job was queued, or stop */
	pthread_cond_t done; /* a job finished (for ud_bulk_settle) */
	struct ud_bulk_job *head, *tail; /* queued, in arrival order */
	int stop;
	uint64_t turns; /* jobs begun: each tenant's bulk_turn is one of them */
	uint64_t admin_turn; /* the operator's, as a tenant of its own */
	/* INFO (under lock) */
	unsigned queued, running;
	uint64_t jobs, max_ns, total_ns;
};

/* Run job j's store operation. */
static int job_run(struct ud_daemon *d, struct ud_bulk_job *j)
{
	if (j->run)
		return j->run(d, j);
	if (!j->destroy)
		return ust_pool_flush(d->st, j->st_tenant, j->st_pool);
	return ust_pool_destroy(d->st, j->st_tenant, j->st_pool);
}

/* Where the turn of j's tenant (or of the operator, whose the daemon's
 * own jobs are too) is kept. */
static uint64_t *turn_of(struct ud_bulk *b, const struct ud_bulk_job *j)
{
	return j->conn && j->conn->tenant ? &j->conn->tenant->bulk_turn : &b->admin_turn;
}

/* Hand finished job j to its worker: list it and ring the hand-off pipe
 * once per batch (a record is already on its way while the list is not
 * empty). */
static void job_return(struct ud_loop *l, struct ud_bulk_job *j)
{
	struct ud_handoff rec = {UD_HANDOFF_BULK, 0, NULL};
	int ring;

	pthread_mutex_lock(&l->bulk_lock);
	ring = l->bulk_done == NULL;
	j->next = l->bulk_done;
	l->bulk_done = j;
	pthread_mutex_unlock(&l->bulk_lock);
	if (ring && write(l->handoff[1], &rec, sizeof(rec)) < 0)
		ud_warn_rl("bulk: cannot wake worker %u: %s", l->index,
			   strerror(errno));
}

/*
 * Take the next job off the queue (lock held, queue not empty): the oldest
 * one of the tenant whose last job began longest ago (a tenant that never
 * had one first). One pass over the queue, which holds at most one job
 * per connection; jobs take milliseconds.
 */
static struct ud_bulk_job *pick(struct ud_bulk *b)
{
	struct ud_bulk_job **best = &b->head, *j, *prev = NULL, *best_prev = NULL;

	for (struct ud_bulk_job **pp = &b->head; (j = *pp); pp = &j->next) {
		if (*turn_of(b, j) < *turn_of(b, *best)) {
			best = pp;
			best_prev = prev;
		}
		prev = j;
	}
	j = *best;
	*best = j->next;
	if (b->tail == j)
		b->tail = best_prev;
	*turn_of(b, j) = ++b->turns;
	return j;
}

static void *bulk_main(void *arg)
{
	struct ud_bulk *b = arg;

	pthread_mutex_lock(&b->lock);
	for (;;) {
		struct ud_bulk_job *j;
		uint64_t t0, ns;

		if (!b->head) {
			if (b->stop)
				break;
			pthread_cond_wait(&b->work, &b->lock);
			continue;
		}
		j = pick(b);
		b->queued--;
		b->running++;
		pthread_mutex_unlock(&b->lock);
		t0 = umono_ns();
		j->err = job_run(b->d, j);
		ns = umono_ns() - t0;
		pthread_mutex_lock(&b->lock);
		b->running--;
		b->jobs++;
		b->total_ns += ns;
		if (ns > b->max_ns)
			b->max_ns = ns;
		j->state = UD_BULK_DONE;
		pthread_cond_broadcast(&b->done);
		/* Under b->lock, so a settling closer sees the job either not
		 * done yet or already on the worker's list. */
		job_return(j->loop, j);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

int ud_bulk_start(struct ud_daemon *d)
{
	struct ud_bulk *b = calloc(1, sizeof(*b));
	int err;

	if (!b)
		return -ENOMEM;
	b->d = d;
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->work, NULL);
	pthread_cond_init(&b->done, NULL);
	err = -pthread_create(&b->thread, NULL, bulk_main, b);
	if (err) {
		pthread_cond_destroy(&b->done);
		pthread_cond_destroy(&b->work);
		pthread_mutex_destroy(&b->lock);
		free(b);
		return err;
	}
	pthread_setname_np(b->thread, "utmemd-bulk");
	d->bulk = b;
	return 0;
}

void ud_bulk_stop(struct ud_daemon *d)
{
	struct ud_bulk *b = d->bulk;

	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	b->stop = 1;
	pthread_cond_signal(&b->work);
	pthread_mutex_unlock(&b->lock);
	pthread_join(b->thread, NULL);
	pthread_cond_destroy(&b->done);
	pthread_cond_destroy(&b->work);
	pthread_mutex_destroy(&b->lock);
	free(b);
	d->bulk = NULL;
}

/* Reply to the job's request and serve its connection again. */
static void job_finish(struct ud_conn *c)
{
	struct ud_bulk_job *j = &c->bulk;

	j->state = UD_BULK_IDLE;
	c->parked = 0;
	if (j->done) {
		void (*done)(struct ud_conn *, struct ud_bulk_job *) = j->done;

		j->done = NULL;
		done(c, j);
		return;
	}
	ud_reply(c, &j->hdr, ud_status(j->err), j->hdr.pool, NULL, 0);
}

static void submit(struct ud_conn *c);

/* Append j to the queue and wake the thread. */
static void enqueue(struct ud_bulk *b, struct ud_bulk_job *j)
{
	j->state = UD_BULK_QUEUED;
	pthread_mutex_lock(&b->lock);
	if (b->tail)
		b->tail->next = j;
	else
		b->head = j;
	b->tail = j;
	b->queued++;
	pthread_cond_signal(&b->work);
	pthread_mutex_unlock(&b->lock);
}

/* Fill c's job: the store call (who, which pool, destroy or flush) or
 * run, then done (NULL: a tenant's, answered with the status). */
static void queue(struct ud_conn *c, const struct uwire_hdr *h, uint32_t st_tenant,
		  uint32_t pool, int destroy,
		  int (*run)(struct ud_daemon *, struct ud_bulk_job *),
		  void (*done)(struct ud_conn *, struct ud_bulk_job *), void *ctx)
{
	struct ud_bulk_job *j = &c->bulk;

	j->hdr = *h;
	j->st_tenant = st_tenant;
	j->st_pool = pool;
	j->destroy = destroy;
	j->run = run;
	j->done = done;
	j->ctx = ctx;
	submit(c);
}

void ud_bulk_submit(struct ud_conn *c, const struct uwire_hdr *h)
{
	/* c->tenant->id is fixed once authenticated */
	queue(c, h, c->tenant->id, h->pool, h->opcode == UWIRE_OP_POOL_DESTROY,
	      NULL, NULL, NULL);
}

void ud_bulk_submit_admin(struct ud_conn *c, const struct uwire_hdr *h,
			  uint32_t pool, int destroy,
			  void (*done)(struct ud_conn *, struct ud_bulk_job *),
			  void *ctx)
{
	queue(c, h, UST_TENANT_ADMIN, pool, destroy, NULL, done, ctx);
}

void ud_bulk_submit_admin_run(struct ud_conn *c, const struct uwire_hdr *h,
			      int (*run)(struct ud_daemon *, struct ud_bulk_job *),
			      void (*done)(struct ud_conn *, struct ud_bulk_job *),
			      void *ctx)
{
	queue(c, h, UST_TENANT_ADMIN, 0, 0, run, done, ctx);
}

/* Queue c's job, or run it here (see ud_bulk_submit). */
static void submit(struct ud_conn *c)
{
	struct ud_daemon *d = c->loop->d;
	struct ud_bulk *b = d->bulk;
	struct ud_bulk_job *j = &c->bulk;

	j->conn = c;
	j->loop = c->loop;
	j->next = NULL;
	/* No thread, or a loop that reads no hand-off pipe (a VM's thread):
	 * run it here. A ring drained after its socket closed parks like any
	 * other connection (ud_ring_drain): its memory stays until the job
	 * is back. */
	if (!b || !c->loop->bulk_ok) {
		j->err = job_run(d, j);
		job_finish(c);
		return;
	}
	c->parked = 1;
	c->paused = 1; /* no input served, no epoll interest, ring not polled */
	enqueue(b, j);
}

/* A daemon's own job is done: its done() frees it. */
static void own_finish(struct ud_bulk_job *j)
{
	j->state = UD_BULK_IDLE;
	j->done(NULL, j);
}

void ud_bulk_submit_daemon(struct ud_daemon *d, struct ud_bulk_job *j)
{
	struct ud_bulk *b = d->bulk;

	j->conn = NULL;
	j->loop = &d->main;
	j->next = NULL;
	if (!b) {
		j->err = j->run(d, j);
		own_finish(j);
		return;
	}
	enqueue(b, j);
}

/* Unlink job j from loop l's finished list. */
static void done_unlink(struct ud_loop *l, struct ud_bulk_job *j)
{
	pthread_mutex_lock(&l->bulk_lock);
	for (struct ud_bulk_job **pp = &l->bulk_done; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	pthread_mutex_unlock(&l->bulk_lock);
}

void ud_bulk_settle(struct ud_conn *c)
{
	struct ud_bulk *b = c->loop->d->bulk;
	struct ud_bulk_job *j = &c->bulk;

	if (!c->parked)
		return;
	/* Without the thread (stopped: it ran every queued job first), the
	 * job is done and waits in the loop's list. */
	if (b) {
		pthread_mutex_lock(&b->lock);
		while (j->state != UD_BULK_DONE)
			pthread_cond_wait(&b->done, &b->lock);
		pthread_mutex_unlock(&b->lock);
	}
	done_unlink(c->loop, j);
	job_finish(c);
}

void ud_bulk_reap(struct ud_loop *l)
{
	struct ud_bulk_job *j, *next;

	pthread_mutex_lock(&l->bulk_lock);
	j = l->bulk_done;
	l->bulk_done = NULL;
	pthread_mutex_unlock(&l->bulk_lock);
	for (; j; j = next) {
		struct ud_conn *c = j->conn;

		next = j->next;
		if (!c) {
			own_finish(j);
			continue;
		}
		job_finish(c);
		if (c->close_pending || (c->peer && c->peer->close_pending)) {
			/* Its client went meanwhile: close it now, from the
			 * socket's side, so that its ring's posted requests
			 * are served first (ud_conn_close). */
			ud_conn_close(c->ring && c->peer ? c->peer : c);
			continue;
		}
		ud_conn_resume(c);
	}
}

void ud_bulk_reap_daemon(struct ud_loop *l)
{
	struct ud_bulk_job **pp, *j, *mine = NULL;

	pthread_mutex_lock(&l->bulk_lock);
	for (pp = &l->bulk_done; (j = *pp);) {
		if (j->conn) {
			pp = &j->next;
			continue;
		}
		*pp = j->next;
		j->next = mine;
		mine = j;
	}
	pthread_mutex_unlock(&l->bulk_lock);
	for (; mine; mine = j) {
		j = mine->next;
		own_finish(mine);
	}
}

void ud_bulk_info(struct ud_daemon *d, struct ud_bulk_stats *s)
{
	struct ud_bulk *b = d->bulk;

	memset(s, 0, sizeof(*s));
	if (!b)
		return;
	s->on = 1;
	pthread_mutex_lock(&b->lock);
	s->queued = b->queued;
	s->running = b->running;
	s->jobs = b->jobs;
	s->max_ns = b->max_ns;
	s->total_ns = b->total_ns;
	pthread_mutex_unlock(&b->lock);
}

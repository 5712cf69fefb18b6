/*
 * tmem_dial.c — the module's one thread for connecting to utmemd and
 * closing connections (tmem_dial.h).
 *
 * Redis's thread and this one share the state below under one lock; each
 * wait of the thread on utmemd is made without it. The lock is held by
 * Redis's thread only to hand a request over or take a result, and a dial
 * is asked for only while the module has no connection, so the path of a
 * command on a live connection never takes it.
 */
#include "tmem_dial.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>

/* Closes waiting for the thread; more (never seen: each comes from a
 * dial, and dials wait for the closes) are done on the caller's thread. */
#define TDIAL_CLOSE_MAX 8

static struct {
	pthread_mutex_t lock;
	pthread_cond_t work;  /* to the thread: something to do, or quit */
	pthread_cond_t done;  /* to Redis's thread: a dial's result is in */
	pthread_t thread;
	int inited;           /* lock and conditions exist */
	int running;          /* the thread exists */
	int quit;
	int asked;            /* a dial was asked for and not taken yet */
	int dialing;          /* the thread is dialing now */
	int ready;            /* its result is in res */
	struct tconn_cfg cfg; /* what to dial */
	unsigned flags;
	struct tdial_result res;
	utmem_client *closing[TDIAL_CLOSE_MAX];
	int nclosing;
} td;

/* Connect, open the pool, make the batch, read SERVER_INFO: all may wait
 * up to cfg->timeout_ms on utmemd. */
static void tdial_run(const struct tconn_cfg *cfg, unsigned flags,
		      struct tdial_result *res)
{
	struct utmem_options opt = {
		.token = cfg->token[0] ? cfg->token : NULL,
		.timeout_ms = cfg->timeout_ms,
		.no_reconnect = 1, /* tconn_call() redials, see tmem_conn.h */
		.flags = flags,
	};

	memset(res, 0, sizeof(*res));
	res->flags = flags;
	res->err = utmem_connect(cfg->addr, &opt, &res->c);
	if (res->err < 0) {
		res->in_connect = 1;
		res->c = NULL;
		return;
	}
	res->err = utmem_pool_open(res->c, cfg->pool,
				   cfg->pool_flags | UTMEM_POOL_CREATE, &res->pool);
	if (res->err == -ENOENT)
		res->err = -EBADF; /* cannot happen with CREATE; never a "miss" */
	if (res->err == 0)
		res->err = utmem_batch_new(res->c, &res->batch);
	if (res->err < 0) {
		utmem_close(res->c); /* nothing posted on it: no wait */
		res->c = NULL;
		return;
	}
	/* For INFO, which must not wait for utmemd: what it said now. */
	if (utmem_server_info(res->c, res->server, sizeof(res->server)) < 0)
		res->server[0] = '\0';
}

static void *tdial_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&td.lock);
	for (;;) {
		if (td.nclosing > 0) {
			utmem_client *c = td.closing[0];

			td.nclosing--;
			memmove(td.closing, td.closing + 1,
				(size_t)td.nclosing * sizeof(td.closing[0]));
			pthread_mutex_unlock(&td.lock);
			utmem_close(c);
			pthread_mutex_lock(&td.lock);
			continue;
		}
		if (td.quit)
			break;
		if (td.asked && !td.ready) {
			struct tconn_cfg cfg = td.cfg;
			unsigned flags = td.flags;
			struct tdial_result res;

			td.dialing = 1;
			pthread_mutex_unlock(&td.lock);
			tdial_run(&cfg, flags, &res);
			pthread_mutex_lock(&td.lock);
			td.dialing = 0;
			td.res = res;
			td.ready = 1;
			pthread_cond_broadcast(&td.done);
			continue;
		}
		pthread_cond_wait(&td.work, &td.lock);
	}
	pthread_mutex_unlock(&td.lock);
	return NULL;
}

int tdial_start(void)
{
	pthread_condattr_t ca;
	sigset_t all, old;
	int err;

	memset(&td, 0, sizeof(td));
	if (pthread_mutex_init(&td.lock, NULL) != 0)
		return -ENOMEM;
	/* Waits are timed on the monotonic clock, as tconn_now_ms(). */
	if (pthread_condattr_init(&ca) != 0) {
		pthread_mutex_destroy(&td.lock);
		return -ENOMEM;
	}
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&td.work, &ca);
	pthread_cond_init(&td.done, &ca);
	pthread_condattr_destroy(&ca);
	td.inited = 1;
	/* Signals are Redis's business: the thread takes none. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = pthread_create(&td.thread, NULL, tdial_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0)
		return -err;
	td.running = 1;
	return 0;
}

void tdial_stop(void)
{
	if (!td.inited)
		return;
	if (td.running) {
		pthread_mutex_lock(&td.lock);
		td.quit = 1;
		pthread_cond_signal(&td.work);
		pthread_mutex_unlock(&td.lock);
		pthread_join(td.thread, NULL);
	}
	while (td.nclosing > 0)
		utmem_close(td.closing[--td.nclosing]);
	if (td.ready) {
		utmem_batch_free(td.res.batch);
		utmem_close(td.res.c);
	}
	pthread_cond_destroy(&td.work);
	pthread_cond_destroy(&td.done);
	pthread_mutex_destroy(&td.lock);
	memset(&td, 0, sizeof(td));
}

int tdial_request(const struct tconn_cfg *cfg, unsigned flags)
{
	if (!td.inited)
		return 0;
	pthread_mutex_lock(&td.lock);
	if (td.asked) {
		pthread_mutex_unlock(&td.lock);
		return 0;
	}
	td.asked = 1;
	td.cfg = *cfg;
	td.flags = flags;
	if (td.running)
		pthread_cond_signal(&td.work);
	pthread_mutex_unlock(&td.lock);
	if (!td.running) {
		tdial_run(cfg, flags, &td.res);
		td.ready = 1;
	}
	return 1;
}

int tdial_take(struct tdial_result *res, int wait_ms)
{
	struct timespec until;
	int took = 0;

	if (!td.inited)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += wait_ms / 1000;
	until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&td.lock);
	while (wait_ms > 0 && td.asked && !td.ready &&
	       pthread_cond_timedwait(&td.done, &td.lock, &until) == 0)
		;
	if (td.ready) {
		*res = td.res;
		td.ready = 0;
		td.asked = 0;
		took = 1;
	}
	pthread_mutex_unlock(&td.lock);
	return took;
}

void tdial_close(utmem_client *c)
{
	if (c == NULL)
		return;
	if (td.running) {
		pthread_mutex_lock(&td.lock);
		if (td.nclosing < TDIAL_CLOSE_MAX) {
			td.closing[td.nclosing++] = c;
			pthread_cond_signal(&td.work);
			c = NULL;
		}
		pthread_mutex_unlock(&td.lock);
	}
	utmem_close(c); /* no thread, or its queue full: here */
}

/*
 * control.c — the tenant table, its sockets, accepting connections, and
 * applying a configuration (at start, on SIGHUP and on the admin RELOAD).
 *
 * Only the main thread runs this code. A tenant's identity is the socket it
 * was accepted on, so adding a tenant creates its socket at once and
 * removing it closes and unlinks the socket, marks the record gone (its
 * open connections are refused from their next request) and keeps the
 * record until exit, so workers never see freed memory.
 */
#include "daemon/daemon.h"
#include "daemon/controller.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

struct ud_tenant *ud_tenant_by_name(struct ud_daemon *d, const char *name)
{
	return ud_names_get(&d->tenant_names, name);
}

/*
 * Does given (len bytes, len <= UD_TOKEN_MAX) equal the configured token
 * tok? Constant time: every one of the UD_TOKEN_MAX + 1 bytes of tok's
 * array is read and compared whatever the inputs, with no branch or early
 * exit on their contents, so the time says nothing about a prefix, nor
 * about the token's length. An empty token matches nothing.
 */
static int token_eq(const char tok[UD_TOKEN_MAX + 1], const uint8_t *given,
		    size_t len)
{
	uint8_t g[UD_TOKEN_MAX + 1] = {0};
	volatile unsigned diff = 0;
	unsigned ended = 0, n = 0;

	if (len > UD_TOKEN_MAX)
		return 0; /* longer than any token: says nothing about tok */
	memcpy(g, given, len); /* its time depends on the client's input only */
	for (size_t i = 0; i <= UD_TOKEN_MAX; i++) {
		unsigned t = (unsigned char)tok[i];

		ended |= 0u - (unsigned)(t == 0); /* 0 or all ones from tok's end */
		n += 1u & ~ended;
		diff |= (t & ~ended) ^ g[i];
	}
	diff |= n ^ (unsigned)len;
	return (diff | (0u - (unsigned)(n == 0))) == 0;
}

struct ud_tenant *ud_tenant_by_token(struct ud_daemon *d, const uint8_t *tok,
				     size_t len)
{
	struct ud_tenant *found = NULL;

	pthread_mutex_lock(&d->lock);
	for (struct ud_tenant *t = d->tenants; t; t = t->next)
		if (token_eq(t->token, tok, len) && !found)
			found = t;
	pthread_mutex_unlock(&d->lock);
	return found;
}

int ud_socket_path(const struct ud_daemon *d, const struct ud_cfg_tenant *ct,
		   char *out, size_t outlen)
{
	char p[UD_PATH_MAX + 8];
	int n;

	ud_socket_name(ct, p, sizeof(p));
	if (p[0] == '/')
		n = snprintf(out, outlen, "%s", p);
	else
		n = snprintf(out, outlen, "%s/%s", d->cfg.run_dir, p);
	return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

struct ud_listener *ud_listener_new(struct ud_daemon *d, int fd,
				    enum ud_lis_kind kind, const char *path)
{
	struct ud_listener *lis = calloc(1, sizeof(*lis));

	if (!lis)
		return NULL;
	lis->src = UD_SRC_LISTENER;
	lis->kind = kind;
	lis->fd = fd;
	snprintf(lis->path, sizeof(lis->path), "%s", path ? path : "");
	if (ud_loop_watch(&d->main, fd, EPOLLIN, lis) < 0) {
		free(lis);
		return NULL;
	}
	lis->next = d->listeners;
	d->listeners = lis;
	return lis;
}

void ud_listener_close(struct ud_daemon *d, struct ud_listener *lis)
{
	struct ud_listener **pp;

	for (pp = &d->listeners; *pp; pp = &(*pp)->next) {
		if (*pp == lis) {
			*pp = lis->next;
			break;
		}
	}
	epoll_ctl(d->main.epfd, EPOLL_CTL_DEL, lis->fd, NULL);
	close(lis->fd);
	lis->fd = -1;
	if (lis->path[0])
		unlink(lis->path);
	lis->next = d->dead_listeners;
	d->dead_listeners = lis;
}

/* Freed only between event batches: a batch may still hold a pointer. */
void ud_free_dead_listeners(struct ud_daemon *d)
{
	while (d->dead_listeners) {
		struct ud_listener *next = d->dead_listeners->next;
		free(d->dead_listeners);
		d->dead_listeners = next;
	}
}

/* Was a tenant of this name removed from the daemon (main loop)? */
static bool retired_named(struct ud_daemon *d, const char *name)
{
	for (struct ud_tenant *t = d->retired; t; t = t->next)
		if (strcmp(t->name, name) == 0)
			return true;
	return false;
}

int ud_tenant_create(struct ud_daemon *d, const struct ud_cfg_tenant *ct,
		     char *msg, size_t msglen)
{
	struct ust_limits lim = {ct->min, ct->max, ct->weight};
	char path[UD_PATH_MAX];
	struct ud_tenant *t;
	int fd, err;

	if (ud_tenant_by_name(d, ct->name)) {
		snprintf(msg, msglen, "tenant '%s' exists", ct->name);
		return -EEXIST;
	}
	if (ud_socket_path(d, ct, path, sizeof(path)) < 0) {
		char what[96], name[UD_PATH_MAX + 8];

		snprintf(what, sizeof(what), "tenant '%s': socket", ct->name);
		ud_socket_name(ct, name, sizeof(name));
		ud_socket_too_long(what, d->cfg.run_dir, name, msg, msglen);
		return -ENAMETOOLONG;
	}
	if (strcmp(path, d->admin_path) == 0) {
		snprintf(msg, msglen, "tenant '%s': %s is utmemd's admin socket",
			 ct->name, path);
		return -EEXIST;
	}
	for (t = d->tenants; t; t = t->next) {
		if (strcmp(t->socket, path) == 0) {
			snprintf(msg, msglen, "tenant '%s': socket %s is used by '%s'",
				 ct->name, path, t->name);
			return -EEXIST;
		}
		if (ct->token[0] && strcmp(t->token, ct->token) == 0) {
			snprintf(msg, msglen, "tenant '%s': token already used by '%s'",
				 ct->name, t->name);
			return -EEXIST;
		}
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	if (ud_tenant_hist_alloc(d, t) < 0) {
		free(t);
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	snprintf(t->name, sizeof(t->name), "%s", ct->name);
	t->made = *ct;
	snprintf(t->socket, sizeof(t->socket), "%s", path);
	snprintf(t->token, sizeof(t->token), "%s", ct->token);
	t->mode = ct->mode;
	t->uid = ct->uid;
	t->gid = ct->gid;
	t->vsock_cid = ct->vsock_cid;
	t->region_fd = -1;
	pthread_mutex_init(&t->creg_lock, NULL);
	err = ust_tenant_add(d->st, ct->name, &lim, &t->id);
	if (err == -EEXIST && retired_named(d, ct->name)) {
		/* Removed from the daemon, its entries still being dropped on
		 * the bulk thread (an operator's removal, admin_ops.c). */
		snprintf(msg, msglen, "tenant '%s' is still being removed (its entries are being dropped): add it again once that removal has returned",
			 ct->name);
		err = -EBUSY;
		goto err_tenant;
	}
	if (err) {
		snprintf(msg, msglen, "tenant '%s': %s", ct->name,
			 err == -EINVAL ? "invalid name or limits" : strerror(-err));
		goto err_tenant;
	}
	/* Without one its clients use the request path: not fatal. */
	(void)ud_region_create(d, t);
	fd = ud_listen_unix(path, ct->mode, ct->uid, ct->gid, &t->sock_id, msg,
			    msglen);
	if (fd < 0) {
		err = fd;
		goto err_store;
	}
	t->lis = ud_listener_new(d, fd, UD_LIS_TENANT, path);
	if (!t->lis) {
		close(fd);
		unlink(path);
		snprintf(msg, msglen, "out of memory");
		err = -ENOMEM;
		goto err_store;
	}
	t->lis->tenant = t;
	if (ud_names_put(&d->tenant_names, t->name, t, NULL) < 0) {
		ud_listener_close(d, t->lis);
		snprintf(msg, msglen, "out of memory");
		err = -ENOMEM;
		goto err_store;
	}
	pthread_mutex_lock(&d->lock);
	t->next = d->tenants;
	d->tenants = t;
	pthread_mutex_unlock(&d->lock);
	ud_debug("tenant '%s' (id %u) listening on unix:%s", t->name, t->id, path);
	return 0;
err_store:
	ust_tenant_remove(d->st, t->id);
	ud_region_destroy(t);
err_tenant:
	free(t->hist);
	free(t);
	return err;
}

int ud_tenant_destroy(struct ud_daemon *d, struct ud_tenant *t)
{
	struct ud_tenant **pp;
	int err;

	pthread_mutex_lock(&d->lock);
	for (pp = &d->tenants; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	pthread_mutex_unlock(&d->lock);
	ud_names_del(&d->tenant_names, t->name);
	atomic_store_explicit(&t->gone, 1, memory_order_release);
	ud_tenant_revoke(t);
	if (t->lis)
		ud_listener_close(d, t->lis);
	t->lis = NULL;
	if (d->store_later) {
		/*
		 * An operator's removal: dropping its entries (seconds for
		 * millions) goes to the bulk thread (ud_admin_reply_cfg). Until
		 * then the tenant stays in the store, its entries charged and
		 * its name taken; its connections are revoked already.
		 */
		t->owed_next = d->owed;
		d->owed = t;
		err = 0;
	} else {
		err = ust_tenant_remove(d->st, t->id);
		ud_region_destroy(t);
	}
	t->next = d->retired;
	d->retired = t;
	ud_debug("tenant '%s' removed", t->name);
	return err;
}

/* Log who connected (debug level): Unix peers by SO_PEERCRED. */
static void log_peer(int fd, const struct ud_listener *lis)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (atomic_load_explicit(&ud_log_level, memory_order_relaxed) < UADM_LOG_DEBUG)
		return;
	if (lis->kind == UD_LIS_TCP || lis->kind == UD_LIS_VSOCK) {
		ud_debug("fd %d: %s connection", fd,
			 lis->kind == UD_LIS_TCP ? "TCP" : "vsock");
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		cr.pid = 0, cr.uid = (uid_t)-1;
	ud_debug("fd %d: %s connection from pid %d uid %d", fd,
		lis->kind == UD_LIS_ADMIN ? "admin" : lis->tenant->name,
		(int)cr.pid, (int)cr.uid);
}

/*
 * Give a tenant connection to a worker: a known tenant's connections all go
 * to its home worker (its id modulo the workers), the others (TCP, whose
 * tenant is known only after HELLO) round-robin. A tenant's posted PUTs all
 * allocate in its one value region and index: spread over two workers,
 * four connections' 1 KiB PUTs spent most of their time waking each other
 * on the region's locks (0.55-0.59 M PUT/s against 1.31-1.50 M on one
 * worker, on the 2-core evaluation VM), and more cores would make it
 * worse. The cost is that one tenant's socket requests use one core;
 * tenants spread over the workers. A tenant's flush does not hold the
 * worker it shares with others (bulk.c).
 */
static void hand_off(struct ud_daemon *d, int fd, int tcp, struct ud_tenant *t)
{
	struct ud_loop *w = t ? &d->workers[t->id % d->nworkers]
			      : &d->workers[d->next_worker++ % d->nworkers];
	struct ud_handoff rec = {fd, tcp, t};

	if (write(w->handoff[1], &rec, sizeof(rec)) != (ssize_t)sizeof(rec)) {
		ud_warn_rl("worker %u is not taking connections; dropping fd %d",
			   w->index, fd);
		close(fd);
		ud_unadmit_raw(d, 0, tcp, t);
	}
}

/*
 * Out of file descriptors: a level-triggered listener would wake us forever.
 * Free the spare descriptor kept for this, accept the waiting connection
 * and close it at once (the client sees a clean close), then re-arm.
 */
static void shed_connection(struct ud_daemon *d, struct ud_listener *lis)
{
	int fd;

	ud_warn_rl("out of file descriptors: refusing a connection");
	if (d->spare_fd >= 0)
		close(d->spare_fd);
	fd = accept(lis->fd, NULL, NULL);
	if (fd >= 0)
		close(fd);
	d->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void ud_accept(struct ud_daemon *d, struct ud_listener *lis)
{
	for (int i = 0; i < 64 && lis->fd >= 0; i++) {
		int fd = accept4(lis->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				shed_connection(d, lis);
			else if (errno != EAGAIN && errno != EINTR)
				ud_warn("accept: %s", strerror(errno));
			return;
		}
		log_peer(fd, lis);
		/* Per-tenant, pre-auth and admin limits (limits.c). */
		if (ud_admit(d, lis, fd) < 0)
			continue;
		if (lis->kind == UD_LIS_ADMIN) {
			ud_conn_start(&d->main, fd, 1, 0, NULL);
		} else if (lis->kind == UD_LIS_VSOCK) {
			/* The tenant is the peer's CID (vsock.c). */
			struct ud_tenant *t = ud_vsock_accepted(d, fd);

			if (t && ud_admit_to(d, t, fd) == 0)
				hand_off(d, fd, 0, t);
		} else {
			if (lis->kind == UD_LIS_TCP) {
				int one = 1;
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
					   sizeof(one));
			}
			hand_off(d, fd, lis->kind == UD_LIS_TCP, lis->tenant);
		}
	}
}

int ud_cfg_pool_manages(const struct ud_cfg_pool *pl, const char *tenant)
{
	for (size_t i = 0; i < pl->nmanagers; i++)
		if (strcmp(pl->managers[i], tenant) == 0)
			return 1;
	return 0;
}

int ud_cfg_pool_grants(const struct ud_cfg_pool *pl, const char *tenant)
{
	for (size_t i = 0; i < pl->ntenants; i++)
		if (strcmp(pl->tenants[i], tenant) == 0)
			return 1;
	return 0;
}

/* Create the shared pools a config declares and grant them. */
static int apply_pools(struct ud_daemon *d, const struct ud_cfg *cfg,
		       struct ud_apply_at *at, char *msg, size_t msglen)
{
	for (size_t i = 0; i < cfg->npools; i++) {
		const struct ud_cfg_pool *pl = &cfg->pools[i];
		uint32_t id;
		int err;

		at->index = i;
		err = ust_shared_pool_create(d->st, pl->name, pl->kind, &id);
		if (err == -EEXIST) /* from an earlier apply: reuse it */
			err = ud_shared_pool_id(d, pl->name, &id);
		/* Unless an earlier reload removed it and its drop still runs. */
		for (size_t k = 0; !err && k < d->ndying_pools; k++)
			if (d->dying_pools[k] == id)
				err = -EBUSY;
		if (err) {
			snprintf(msg, msglen, "pool '%s': %s", pl->name,
				 err == -EBUSY ? "an earlier reload's destroy of it still runs; reload again"
					       : strerror(-err));
			return err;
		}
		/* Grants and rights exactly as the config says ("tenants",
		 * "manage"); a tenant no longer listed loses the pool. */
		for (struct ud_tenant *t = d->tenants; t; t = t->next) {
			if (!ud_cfg_pool_grants(pl, t->name)) {
				ust_pool_revoke(d->st, id, t->id);
				continue;
			}
			err = ust_pool_grant_rights(d->st, id, t->id,
						    ud_cfg_pool_manages(pl, t->name)
							    ? UST_GRANT_MANAGE : 0);
			if (err && err != -EEXIST) {
				snprintf(msg, msglen, "pool '%s': grant to '%s': %s",
					 pl->name, t->name, strerror(-err));
				return err;
			}
		}
	}
	return 0;
}

/*
 * Update a tenant that exists in both the daemon and the new config. Who
 * may connect goes first: it is the step the host can refuse (the socket
 * replaced, chown refused), and then nothing of the tenant has changed.
 */
static int update_tenant(struct ud_daemon *d, struct ud_tenant *t,
			 const struct ud_cfg_tenant *ct, char *msg, size_t msglen)
{
	struct ust_limits lim = {ct->min, ct->max, ct->weight};
	char path[UD_PATH_MAX];
	int err;

	if (ud_socket_path(d, ct, path, sizeof(path)) == 0 &&
	    strcmp(path, t->socket) != 0)
		ud_warn("tenant '%s': socket change to %s takes a restart", t->name,
			path);
	/* Who may connect: applied now, to the file utmemd bound. */
	if (ct->mode != t->mode || ct->uid != t->uid || ct->gid != t->gid) {
		char m[UD_PATH_MAX + 64];

		err = ud_socket_perms(t->socket, &t->sock_id, ct->mode,
				      ud_owner_now(t->uid, ct->uid, geteuid()),
				      (gid_t)ud_owner_now(t->gid, ct->gid, getegid()),
				      m, sizeof(m));
		if (err) {
			snprintf(msg, msglen, "tenant '%s': %s", t->name, m);
			return err;
		}
		t->mode = ct->mode;
		t->uid = ct->uid;
		t->gid = ct->gid;
	}
	err = ust_tenant_set_ex(d->st, t->id, &lim,
				d->store_later ? UST_SHRINK_LATER : 0);
	if (err) {
		snprintf(msg, msglen, "tenant '%s': %s", t->name, strerror(-err));
		return err;
	}
	ud_tenant_recall(t);
	pthread_mutex_lock(&d->lock);
	snprintf(t->token, sizeof(t->token), "%s", ct->token);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

int ud_apply_cfg(struct ud_daemon *d, const struct ud_cfg *cfg,
		 int remove_missing, struct ud_apply_at *at, char *msg,
		 size_t msglen)
{
	struct ud_apply_at here;
	struct ud_tenant *t, *next;
	size_t created = 0;
	int err;

	if (!at)
		at = &here;
	*at = (struct ud_apply_at){UD_APPLY_NEW, 0};

	/*
	 * New tenants first: creating one is what fails in practice (its
	 * socket), and then the tenants this call created are removed again
	 * and nothing else has changed yet.
	 */
	for (size_t i = 0; i < cfg->ntenants; i++) {
		const struct ud_cfg_tenant *ct = &cfg->tenants[i];
		if (ud_tenant_by_name(d, ct->name))
			continue;
		err = ud_tenant_create(d, ct, msg, msglen);
		if (err) {
			struct ud_names cur;

			ud_cfg_index(&d->cfg, &cur);
			for (size_t k = 0; k < i && created; k++) {
				t = ud_tenant_by_name(d, cfg->tenants[k].name);
				if (t && !ud_cfg_tenant_in(&d->cfg, &cur, t->name)) {
					ud_tenant_destroy(d, t);
					created--;
				}
			}
			ud_names_free(&cur);
			return err;
		}
		created++;
	}
	at->stage = UD_APPLY_CAPACITY;
	err = ud_ctl_set_ceiling(d, cfg->capacity);
	if (err) {
		snprintf(msg, msglen, "capacity: %s", strerror(-err));
		return err;
	}
	ud_recall_all(d);
	if (remove_missing) {
		struct ud_names want;

		ud_cfg_index(cfg, &want);
		for (t = d->tenants; t; t = next) {
			next = t->next;
			if (!ud_cfg_tenant_in(cfg, &want, t->name))
				ud_tenant_destroy(d, t);
		}
		ud_names_free(&want);
	}
	at->stage = UD_APPLY_TENANTS;
	for (size_t i = 0; i < cfg->ntenants; i++) {
		const struct ud_cfg_tenant *ct = &cfg->tenants[i];

		at->index = i;
		t = ud_tenant_by_name(d, ct->name);
		err = t ? update_tenant(d, t, ct, msg, msglen)
			: ud_tenant_create(d, ct, msg, msglen);
		if (err)
			return err;
		/* Its limits (limits.c): in flight, connections, pools. */
		t = ud_tenant_by_name(d, ct->name);
		if (t)
			ud_tenant_limits_apply(d, t, ct);
	}
	ud_limits_from_cfg(d, cfg);
	ud_limits_refresh(d); /* a tenant removed or added: new shares */
	/* Only a change of log_level itself (or a reload, ud_reload) undoes
	 * `utmemctl log-level`: not every tenant set or pool create. At start
	 * (cfg is d->cfg) the level main() held at warn is the file's again. */
	if (cfg->log_level != d->cfg.log_level || cfg == &d->cfg)
		atomic_store(&ud_log_level, cfg->log_level);
	*at = (struct ud_apply_at){UD_APPLY_POOLS, 0};
	err = apply_pools(d, cfg, at, msg, msglen);
	if (err)
		return err;
	*at = (struct ud_apply_at){UD_APPLY_VMS, 0};
	err = ud_vm_apply(d, cfg, msg, msglen);
	if (!err)
		at->stage = UD_APPLY_DONE;
	return err;
}

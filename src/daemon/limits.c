/*
 * limits.c — what a tenant may make utmemd hold, and who is let in
 * (docs/security.md).
 *
 * Every byte a connection holds beyond its fixed base buffers (16 KiB of
 * input, 32 KiB of output segments) is charged to its tenant's in-flight
 * budget: a large frame being received (its announced size, at its header),
 * queued replies, a ring's private buffers. A tenant cannot exceed its
 * budget, so a tenant that never reads its replies or never finishes its
 * frames spends its own budget, never another tenant's. Connections are
 * counted per tenant against the smaller of its max_conns and its share of
 * the descriptors the daemon may use (RLIMIT_NOFILE less a reserve for the
 * daemon itself and the admin socket), so no tenant can exhaust the
 * descriptors others and the operator need. TCP connections not yet
 * authenticated belong to no tenant: they are capped in number
 * (max_unauth), in input (one HELLO) and in time (auth_timeout).
 *
 * Threads: limits and shares are set by the main thread; connections are
 * admitted by the main thread and charged and released by the worker that
 * serves them, all through atomics, so no lock is taken on the data path.
 */
#include "daemon/daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* Extra in-flight room on top of one full-size frame each way. */
#define INFLIGHT_SLACK (16u << 20)
/* What a connection record with its base buffers costs (overhead bound). */
#define CONN_BASE (UD_IN_BASE + UD_OUT_ALLOW + 1024u)
/* The reply cache of each worker (out.c). */
#define SEG_CACHE_BOUND (16u << 20)
/* Code, stacks, the store's fixed tables, allocator metadata. */
#define FIXED_BASE (48u << 20)

int ud_limits_init(struct ud_daemon *d)
{
	struct rlimit rl;

	d->fd_limit = 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		d->fd_limit = rl.rlim_cur > UINT_MAX ? UINT_MAX : (unsigned)rl.rlim_cur;
	return ud_authfail_init(d);
}

void ud_limits_fini(struct ud_daemon *d)
{
	ud_authfail_fini(d);
}

uint64_t ud_tenant_inflight_max(const struct ud_daemon *d,
				const struct ud_cfg_tenant *ct)
{
	uint64_t frame = (uint64_t)UWIRE_HDR_SIZE + d->lim.max_key + d->lim.max_value;

	if (ct->inflight)
		return ct->inflight;
	return 2 * frame + INFLIGHT_SLACK;
}

/*
 * Descriptors tenants' connections may use in all: the limit less what the
 * daemon keeps for itself (stdio, epoll sets, hand-off pipes, signalfd,
 * the spare, listeners, rings being set up), for admin connections, for
 * TCP connections not yet authenticated, for each VM tenant's thread and
 * for the metrics endpoint. Main thread.
 */
static unsigned tenant_fds(const struct ud_daemon *d, unsigned ntenants)
{
	uint64_t keep = UD_FD_RESERVE + UD_ADMIN_MAX + 3ull * d->boot.workers +
			ntenants + (d->boot.tcp_on ? d->max_unauth + 1ull : 0) +
			(uint64_t)UD_VM_FDS * ud_vm_count(d) +
			(d->metrics ? UD_METRICS_FDS : 0);

	return d->fd_limit > keep ? (unsigned)(d->fd_limit - keep) : 0;
}

void ud_limits_refresh(struct ud_daemon *d)
{
	unsigned n = 0, share, per_conn = d->ring_size ? 3 : 1;
	struct ud_tenant *t;

	for (t = d->tenants; t; t = t->next)
		n++;
	if (!n)
		return;
	/* A socket connection with a ring holds three descriptors. */
	share = tenant_fds(d, n) / n / per_conn;
	if (share < 1)
		share = 1;
	for (t = d->tenants; t; t = t->next) {
		unsigned want = t->max_conns ? t->max_conns : UD_DEFAULT_MAX_CONNS;

		atomic_store(&t->conn_limit, want < share ? want : share);
	}
}

int ud_tenant_limits_apply(struct ud_daemon *d, struct ud_tenant *t,
			   const struct ud_cfg_tenant *ct)
{
	atomic_store(&t->inflight_max, ud_tenant_inflight_max(d, ct));
	t->max_conns = ct->max_conns;
	return ust_tenant_set_max_pools(d->st, t->id,
					ct->max_pools ? ct->max_pools
						      : UD_DEFAULT_MAX_POOLS);
}

void ud_limits_from_cfg(struct ud_daemon *d, const struct ud_cfg *cfg)
{
	const uint64_t s = 1000000000ull;

	atomic_store(&d->idle_ns, cfg->idle_timeout * s);
	atomic_store(&d->client_ns, cfg->client_timeout * s);
	atomic_store(&d->frame_ns, cfg->frame_timeout * s);
	atomic_store(&d->auth_ns, cfg->auth_timeout * s);
	d->max_unauth = cfg->max_unauth;
}

/*
 * Answer a connection we will not serve with one reply frame (id 0, the
 * opcode of HELLO, the given status), then close it. The socket is new,
 * so its send buffer takes the 32 bytes at once; we never wait for it.
 * libutmem reports the status as the error of the call that connected.
 */
static void refuse(int fd, unsigned status)
{
	uint8_t buf[UWIRE_HDR_SIZE];
	struct uwire_hdr h = {
		.version = UWIRE_VERSION,
		.opcode = UWIRE_OP_HELLO,
		.flags = UWIRE_F_RESPONSE,
		.status = (uint16_t)status,
	};

	uwire_hdr_encode(&h, buf);
	if (send(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		ud_debug("fd %d: refusal not sent: %s", fd, strerror(errno));
	close(fd);
}

uint32_t ud_peer_ipv4(int fd)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	if (getpeername(fd, (struct sockaddr *)&sa, &len) < 0 ||
	    sa.sin_family != AF_INET)
		return 0;
	return sa.sin_addr.s_addr;
}

/* Take one place below limit in *count. Returns 0 or -EDQUOT. */
static int take(atomic_uint *count, unsigned limit)
{
	if (atomic_fetch_add(count, 1) >= limit) {
		atomic_fetch_sub(count, 1);
		return -EDQUOT;
	}
	return 0;
}

int ud_admit(struct ud_daemon *d, const struct ud_listener *lis, int fd)
{
	struct ud_tenant *t = lis->tenant;
	char ip[INET_ADDRSTRLEN];
	uint32_t addr;

	switch (lis->kind) {
	case UD_LIS_ADMIN:
		if (d->admin_conns >= UD_ADMIN_MAX) {
			ud_warn_rl("admin socket: %u connections open; refusing another",
				   d->admin_conns);
			refuse(fd, UWIRE_S_QUOTA);
			return -EDQUOT;
		}
		d->admin_conns++;
		return 0;
	case UD_LIS_TENANT:
		return ud_admit_to(d, t, fd);
	case UD_LIS_VSOCK:
		return 0; /* the tenant is known from the peer: ud_admit_to */
	case UD_LIS_TCP:
		addr = ud_peer_ipv4(fd);
		if (ud_authfail_blocked(d, addr)) {
			inet_ntop(AF_INET, &addr, ip, sizeof(ip));
			ud_warn_rl("TCP: %s is backing off after failed HELLOs; refusing it",
				   ip);
			refuse(fd, UWIRE_S_AUTH);
			return -EPERM;
		}
		if (take(&d->unauth, d->max_unauth) < 0) {
			ud_warn_rl("TCP: %u connections wait for HELLO (max_unauth); refusing another",
				   d->max_unauth);
			refuse(fd, UWIRE_S_QUOTA);
			return -EDQUOT;
		}
		return 0;
	}
	return 0;
}

int ud_admit_to(struct ud_daemon *d, struct ud_tenant *t, int fd)
{
	(void)d;
	if (take(&t->conns, atomic_load(&t->conn_limit)) < 0) {
		ud_warn_rl("tenant '%s': connection limit %u reached; refusing a connection",
			   t->name, atomic_load(&t->conn_limit));
		refuse(fd, UWIRE_S_QUOTA);
		return -EDQUOT;
	}
	return 0;
}

void ud_unadmit_raw(struct ud_daemon *d, int admin, int tcp, struct ud_tenant *t)
{
	if (admin)
		d->admin_conns--;
	else if (tcp)
		atomic_fetch_sub(&d->unauth, 1);
	else if (t)
		atomic_fetch_sub(&t->conns, 1);
}

void ud_unadmit(struct ud_daemon *d, const struct ud_listener *lis)
{
	ud_unadmit_raw(d, lis->kind == UD_LIS_ADMIN, lis->kind == UD_LIS_TCP,
		       lis->tenant);
}

int ud_admit_tenant(struct ud_conn *c, struct ud_tenant *t)
{
	if (take(&t->conns, atomic_load(&t->conn_limit)) < 0) {
		ud_warn_rl("tenant '%s': connection limit %u reached; refusing a TCP connection",
			   t->name, atomic_load(&t->conn_limit));
		return -EDQUOT;
	}
	if (c->unauth)
		atomic_fetch_sub(&c->loop->d->unauth, 1);
	c->unauth = 0;
	c->counted = 1;
	c->tenant = t;
	return 0;
}

void ud_conn_release(struct ud_conn *c)
{
	struct ud_daemon *d = c->loop->d;

	ud_unhold(c, c->charged);
	if (c->unauth)
		atomic_fetch_sub(&d->unauth, 1);
	else if (c->counted && c->admin)
		d->admin_conns--;
	else if (c->counted && c->tenant)
		atomic_fetch_sub(&c->tenant->conns, 1);
	c->unauth = c->counted = 0;
}

int ud_hold(struct ud_conn *c, size_t n)
{
	struct ud_tenant *t = c->tenant;
	uint64_t max;

	if (!n)
		return 0;
	if (!t)
		return c->admin ? 0 : -ENOMEM;
	max = atomic_load_explicit(&t->inflight_max, memory_order_relaxed);
	if (atomic_fetch_add_explicit(&t->inflight, n, memory_order_relaxed) + n > max) {
		atomic_fetch_sub_explicit(&t->inflight, n, memory_order_relaxed);
		return -ENOMEM;
	}
	c->charged += n;
	return 0;
}

void ud_unhold(struct ud_conn *c, size_t n)
{
	if (!n || !c->tenant)
		return;
	if (n > c->charged)
		n = c->charged; /* never give back more than was taken */
	atomic_fetch_sub_explicit(&c->tenant->inflight, n, memory_order_relaxed);
	c->charged -= n;
}

uint64_t ud_overhead_bound(struct ud_daemon *d)
{
	/* The VM regions as configured now (their budget, big_in_limit,
	 * bounds them further). */
	uint64_t sum = FIXED_BASE + (uint64_t)d->boot.workers * SEG_CACHE_BOUND +
		       (uint64_t)UD_ADMIN_MAX * CONN_BASE + atomic_load(&d->big_in);
	unsigned per_conn = d->ring_size ? 2 : 1;

	if (d->boot.tcp_on)
		sum += (uint64_t)d->max_unauth * CONN_BASE;
	for (struct ud_tenant *t = d->tenants; t; t = t->next)
		sum += atomic_load(&t->inflight_max) +
		       (uint64_t)atomic_load(&t->conn_limit) * per_conn * CONN_BASE +
		       (t->region_fd >= 0 ? UD_REGION_WARM_HARD +
						    UST_REGION_INDEX_FREE : 0);
	return sum;
}

/*
 * admin_ops.c — serving the admin protocol (docs/protocol-admin.md) on the
 * main thread, which alone changes the tenant table and the listeners.
 *
 * Admin connections come only from the admin socket (mode 0600). Requests
 * are decoded with admin.c's strict readers; errors are answered with a
 * status and a one-line message so utmemctl can say exactly what failed.
 * Only admin opcodes, HELLO and PING are served here.
 */
#include "daemon/daemon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Answer an error with a formatted message as the value. */
__attribute__((format(printf, 4, 5)))
static void reply_err(struct ud_conn *c, const struct uwire_hdr *h,
		      unsigned status, const char *fmt, ...)
{
	char msg[UADM_MSG_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	ud_reply(c, h, status, 0, msg, (size_t)n);
}

/* Send w's bytes as an OK reply, or NOMEM if building it failed. */
static void reply_wbuf(struct ud_conn *c, const struct uwire_hdr *h,
		       struct uadm_wbuf *w)
{
	if (w->err)
		reply_err(c, h, UWIRE_S_NOMEM, "out of memory");
	else
		ud_reply(c, h, UWIRE_S_OK, 0, w->data, w->len);
	uadm_wbuf_free(w);
}

static void copy_counters(const struct ust_stats *s, struct uadm_counters *o)
{
	o->entries = s->entries;
	o->bytes_stored = s->bytes_stored;
	o->bytes_charged = s->bytes_charged;
	o->puts = s->puts;
	o->gets = s->gets;
	o->hits = s->hits;
	o->misses = s->misses;
	o->invalidates = s->invalidates;
	o->evictions = s->evictions;
	o->refused_puts = s->refused_puts;
}

/* Append "u32 n, n tenant records". Returns 0 or -errno. */
static int put_tenants(struct ud_daemon *d, struct uadm_wbuf *w)
{
	struct ust_tenant_info *ti = NULL;
	int n = 0, cap = 0;

	for (;;) {
		n = ust_tenant_list(d->st, ti, (size_t)cap);
		if (n < 0 || n <= cap)
			break;
		free(ti);
		cap = n + 4;
		ti = calloc((size_t)cap, sizeof(*ti));
		if (!ti)
			return -ENOMEM;
	}
	if (n < 0) {
		free(ti);
		return n;
	}
	uadm_w_u32(w, (uint32_t)n);
	for (int i = 0; i < n; i++) {
		struct uadm_tenant t = {.id = ti[i].id,
					.weight = ti[i].limits.weight,
					.min = ti[i].limits.min,
					.max = ti[i].limits.max};
		struct ud_tenant *dt = ud_tenant_by_name(d, ti[i].name);
		copy_counters(&ti[i].stats, &t.st);
		snprintf(t.name, sizeof(t.name), "%s", ti[i].name);
		snprintf(t.socket, sizeof(t.socket), "%s", dt ? dt->socket : "");
		uadm_w_tenant(w, &t);
	}
	free(ti);
	return 0;
}

/* Every pool, as the operator sees them. Caller frees *out. */
static int list_pools(struct ud_daemon *d, struct ust_pool_info **out)
{
	struct ust_pool_info *pi = NULL;
	int n, cap = 0;

	for (;;) {
		n = ust_pool_list(d->st, UST_TENANT_ADMIN, pi, (size_t)cap);
		if (n < 0 || n <= cap)
			break;
		free(pi);
		cap = n + 4;
		pi = calloc((size_t)cap, sizeof(*pi));
		if (!pi)
			return -ENOMEM;
	}
	if (n < 0) {
		free(pi);
		return n;
	}
	*out = pi;
	return n;
}

static int put_pools(struct ud_daemon *d, struct uadm_wbuf *w)
{
	struct ust_pool_info *pi = NULL;
	int n = list_pools(d, &pi);

	if (n < 0)
		return n;
	uadm_w_u32(w, (uint32_t)n);
	for (int i = 0; i < n; i++) {
		struct uadm_pool p = {.id = pi[i].id, .owner = pi[i].owner,
				      .kind = pi[i].kind};
		copy_counters(&pi[i].stats, &p.st);
		snprintf(p.name, sizeof(p.name), "%s", pi[i].name);
		uadm_w_pool(w, &p);
	}
	free(pi);
	return 0;
}

static void put_capacity(struct ud_daemon *d, struct uadm_wbuf *w)
{
	struct ust_store_info si;
	struct uadm_capacity cap;

	ust_store_info(d->st, &si);
	cap.capacity = si.capacity;
	cap.charged = si.charged;
	cap.reserved = si.reserved;
	cap.tenants = si.tenants;
	cap.pools = si.pools;
	uadm_w_capacity(w, &cap);
}

/* TENANT_LIST, POOL_LIST, CAPACITY_GET, STATS: replies built from the store. */
static void op_list(struct ud_conn *c, const struct uwire_hdr *h)
{
	struct ud_daemon *d = c->loop->d;
	struct uadm_wbuf w;
	int err = 0;

	uadm_wbuf_init(&w);
	if (h->opcode == UADM_OP_CAPACITY_GET || h->opcode == UADM_OP_STATS)
		put_capacity(d, &w);
	if (h->opcode == UADM_OP_TENANT_LIST || h->opcode == UADM_OP_STATS)
		err = put_tenants(d, &w);
	if (!err && (h->opcode == UADM_OP_POOL_LIST || h->opcode == UADM_OP_STATS))
		err = put_pools(d, &w);
	if (err) {
		uadm_wbuf_free(&w);
		reply_err(c, h, ud_status(err), "listing failed: %s", strerror(-err));
		return;
	}
	reply_wbuf(c, h, &w);
}

static void reply_u32(struct ud_conn *c, const struct uwire_hdr *h, uint32_t v)
{
	uint8_t b[4];

	uwire_put_u32(b, v);
	ud_reply(c, h, UWIRE_S_OK, 0, b, 4);
}

static void op_tenant_add(struct ud_conn *c, const struct uwire_hdr *h,
			  const struct uadm_tenant_req *req)
{
	struct ud_daemon *d = c->loop->d;
	struct ud_cfg_tenant ct = {.weight = 1, .mode = 0660,
				   .max = d->cfg.capacity};
	char msg[UADM_MSG_MAX] = "";
	struct ud_tenant *t;
	int err;

	snprintf(ct.name, sizeof(ct.name), "%s", req->name);
	snprintf(ct.socket, sizeof(ct.socket), "%s", req->socket);
	snprintf(ct.token, sizeof(ct.token), "%s", req->token);
	if (req->mask & UADM_SET_MIN)
		ct.min = req->min;
	if (req->mask & UADM_SET_MAX)
		ct.max = req->max;
	if (req->mask & UADM_SET_WEIGHT)
		ct.weight = req->weight;
	ct.set = req->mask;
	if (ct.weight == 0 || ct.min > ct.max) {
		reply_err(c, h, UWIRE_S_INVALID,
			  "tenant '%s': weight must be >= 1 and min <= max", ct.name);
		return;
	}
	err = ud_tenant_create(d, &ct, msg, sizeof(msg));
	if (err) {
		reply_err(c, h, ud_status(err), "%s", msg);
		return;
	}
	t = ud_tenant_by_name(d, ct.name);
	reply_u32(c, h, t ? t->id : 0);
}

static void op_tenant_set(struct ud_conn *c, const struct uwire_hdr *h,
			  const struct uadm_tenant_req *req)
{
	struct ud_daemon *d = c->loop->d;
	struct ud_tenant *t = ud_tenant_by_name(d, req->name);
	struct ust_tenant_info ti;
	int err;

	if (!t) {
		reply_err(c, h, UWIRE_S_NOTFOUND, "no tenant named '%s'", req->name);
		return;
	}
	err = ust_tenant_info(d->st, t->id, &ti);
	if (!err) {
		if (req->mask & UADM_SET_MIN)
			ti.limits.min = req->min;
		if (req->mask & UADM_SET_MAX)
			ti.limits.max = req->max;
		if (req->mask & UADM_SET_WEIGHT)
			ti.limits.weight = req->weight;
		if (ti.limits.weight == 0 || ti.limits.min > ti.limits.max)
			err = -EINVAL;
	}
	if (!err)
		err = ust_tenant_set(d->st, t->id, &ti.limits);
	if (err) {
		reply_err(c, h, ud_status(err), "tenant '%s': %s", req->name,
			  err == -EINVAL ? "weight must be >= 1 and min <= max"
					 : strerror(-err));
		return;
	}
	ud_info("tenant '%s' limits: min %llu max %llu weight %u", req->name,
		(unsigned long long)ti.limits.min,
		(unsigned long long)ti.limits.max, ti.limits.weight);
	ud_reply(c, h, UWIRE_S_OK, 0, NULL, 0);
}

static void op_tenant(struct ud_conn *c, const struct uwire_frame *f)
{
	struct uadm_tenant_req req;
	struct uadm_rbuf r;

	uadm_rbuf_init(&r, f->value, f->hdr.vlen);
	uadm_r_tenant_req(&r, &req);
	if (uadm_r_end(&r) < 0) {
		reply_err(c, &f->hdr, UWIRE_S_INVALID, "malformed tenant record");
		return;
	}
	if (f->hdr.opcode == UADM_OP_TENANT_ADD)
		op_tenant_add(c, &f->hdr, &req);
	else
		op_tenant_set(c, &f->hdr, &req);
}

static void op_tenant_remove(struct ud_conn *c, const struct uwire_frame *f)
{
	struct ud_daemon *d = c->loop->d;
	char name[UADM_NAME_MAX + 1];
	struct uadm_rbuf r;
	struct ud_tenant *t;
	int err;

	uadm_rbuf_init(&r, f->value, f->hdr.vlen);
	uadm_r_str(&r, name, UADM_NAME_MAX);
	if (uadm_r_end(&r) < 0) {
		reply_err(c, &f->hdr, UWIRE_S_INVALID, "malformed name");
		return;
	}
	t = ud_tenant_by_name(d, name);
	if (!t) {
		reply_err(c, &f->hdr, UWIRE_S_NOTFOUND, "no tenant named '%s'", name);
		return;
	}
	err = ud_tenant_destroy(d, t);
	if (err)
		reply_err(c, &f->hdr, ud_status(err), "removing '%s': %s", name,
			  strerror(-err));
	else
		ud_reply(c, &f->hdr, UWIRE_S_OK, 0, NULL, 0);
}

static void op_capacity_set(struct ud_conn *c, const struct uwire_frame *f)
{
	struct ud_daemon *d = c->loop->d;
	struct uadm_rbuf r;
	uint64_t cap;
	int err;

	uadm_rbuf_init(&r, f->value, f->hdr.vlen);
	cap = uadm_r_u64(&r);
	if (uadm_r_end(&r) < 0) {
		reply_err(c, &f->hdr, UWIRE_S_INVALID, "malformed capacity");
		return;
	}
	err = ust_set_capacity(d->st, cap);
	if (err) {
		reply_err(c, &f->hdr, ud_status(err), "capacity: %s", strerror(-err));
		return;
	}
	d->cfg.capacity = cap;
	ud_info("capacity set to %llu bytes", (unsigned long long)cap);
	ud_reply(c, &f->hdr, UWIRE_S_OK, 0, NULL, 0);
}

static void op_pool_create(struct ud_conn *c, const struct uwire_frame *f)
{
	struct ud_daemon *d = c->loop->d;
	char name[UADM_NAME_MAX + 1];
	struct uadm_rbuf r;
	uint32_t kind, id = 0;
	int err;

	uadm_rbuf_init(&r, f->value, f->hdr.vlen);
	kind = uadm_r_u32(&r);
	uadm_r_str(&r, name, UADM_NAME_MAX);
	if (uadm_r_end(&r) < 0 || (kind & ~(UADM_KIND_EPHEMERAL | UADM_KIND_SHARED))) {
		reply_err(c, &f->hdr, UWIRE_S_INVALID, "malformed pool record");
		return;
	}
	err = ust_shared_pool_create(d->st, name, kind & UADM_KIND_EPHEMERAL, &id);
	if (err) {
		reply_err(c, &f->hdr, ud_status(err), "pool '%s': %s", name,
			  err == -EEXIST ? "a pool of that name exists" : strerror(-err));
		return;
	}
	ud_info("shared pool '%s' created (id %u)", name, id);
	reply_u32(c, &f->hdr, id);
}

int ud_shared_pool_id(struct ud_daemon *d, const char *name, uint32_t *id)
{
	struct ust_pool_info *pi = NULL;
	int n = list_pools(d, &pi), err = -ENOENT;

	for (int i = 0; i < n; i++) {
		if ((pi[i].kind & UST_POOL_SHARED) && strcmp(pi[i].name, name) == 0) {
			*id = pi[i].id;
			err = 0;
			break;
		}
	}
	free(pi);
	return n < 0 ? n : err;
}

static void op_pool_grant(struct ud_conn *c, const struct uwire_frame *f)
{
	struct ud_daemon *d = c->loop->d;
	char pool[UADM_NAME_MAX + 1], tenant[UADM_NAME_MAX + 1];
	struct uadm_rbuf r;
	struct ud_tenant *t;
	uint32_t id;
	int err;

	uadm_rbuf_init(&r, f->value, f->hdr.vlen);
	uadm_r_str(&r, pool, UADM_NAME_MAX);
	uadm_r_str(&r, tenant, UADM_NAME_MAX);
	if (uadm_r_end(&r) < 0) {
		reply_err(c, &f->hdr, UWIRE_S_INVALID, "malformed grant record");
		return;
	}
	t = ud_tenant_by_name(d, tenant);
	if (!t) {
		reply_err(c, &f->hdr, UWIRE_S_NOTFOUND, "no tenant named '%s'", tenant);
		return;
	}
	if (ud_shared_pool_id(d, pool, &id) < 0) {
		reply_err(c, &f->hdr, UWIRE_S_NOTFOUND, "no shared pool named '%s'", pool);
		return;
	}
	err = ust_pool_grant(d->st, id, t->id);
	if (err && err != -EEXIST) {
		reply_err(c, &f->hdr, ud_status(err), "grant: %s", strerror(-err));
		return;
	}
	ud_info("shared pool '%s' granted to tenant '%s'", pool, tenant);
	ud_reply(c, &f->hdr, UWIRE_S_OK, 0, NULL, 0);
}

static void op_reload(struct ud_conn *c, const struct uwire_frame *f)
{
	char msg[UADM_MSG_MAX] = "";
	int err = ud_reload(c->loop->d, msg, sizeof(msg));

	if (err)
		reply_err(c, &f->hdr, ud_status(err), "%s", msg);
	else
		ud_reply(c, &f->hdr, UWIRE_S_OK, 0, NULL, 0);
}

static void op_log_level(struct ud_conn *c, const struct uwire_frame *f)
{
	struct uadm_rbuf r;
	uint32_t lvl;

	uadm_rbuf_init(&r, f->value, f->hdr.vlen);
	lvl = uadm_r_u32(&r);
	if (uadm_r_end(&r) < 0 || lvl > UADM_LOG_DEBUG) {
		reply_err(c, &f->hdr, UWIRE_S_INVALID, "bad log level");
		return;
	}
	atomic_store(&ud_log_level, (int)lvl);
	ud_info("log level set to %s", uadm_log_level_name((int)lvl));
	ud_reply(c, &f->hdr, UWIRE_S_OK, 0, NULL, 0);
}

void ud_dispatch_admin(struct ud_conn *c, const struct uwire_frame *f)
{
	const struct uwire_hdr *h = &f->hdr;

	if (h->opcode == UWIRE_OP_HELLO || h->opcode == UWIRE_OP_PING) {
		struct uwire_hello hello = {UWIRE_VERSION, c->loop->d->lim.max_key,
					    c->loop->d->lim.max_value, 0};
		uint8_t *p;
		if (h->opcode == UWIRE_OP_PING) {
			ud_reply(c, h, UWIRE_S_OK, 0, NULL, 0);
			return;
		}
		p = ud_reply_begin(c, h, UWIRE_S_OK, 0, UWIRE_HELLO_SIZE);
		if (p)
			uwire_hello_encode(&hello, p);
		return;
	}
	if (!uadm_op_name(h->opcode)) {
		reply_err(c, h, UWIRE_S_OPCODE, "opcode 0x%02x is not an admin operation",
			  h->opcode);
		return;
	}
	if (h->klen) {
		reply_err(c, h, UWIRE_S_INVALID, "admin requests carry no key");
		return;
	}
	ud_debug("admin %s", uadm_op_name(h->opcode));
	switch (h->opcode) {
	case UADM_OP_TENANT_LIST:
	case UADM_OP_POOL_LIST:
	case UADM_OP_CAPACITY_GET:
	case UADM_OP_STATS:
		op_list(c, h);
		break;
	case UADM_OP_TENANT_ADD:
	case UADM_OP_TENANT_SET:
		op_tenant(c, f);
		break;
	case UADM_OP_TENANT_REMOVE:
		op_tenant_remove(c, f);
		break;
	case UADM_OP_CAPACITY_SET:
		op_capacity_set(c, f);
		break;
	case UADM_OP_POOL_CREATE_SHARED:
		op_pool_create(c, f);
		break;
	case UADM_OP_POOL_GRANT:
		op_pool_grant(c, f);
		break;
	case UADM_OP_RELOAD:
		op_reload(c, f);
		break;
	case UADM_OP_LOG_LEVEL:
		op_log_level(c, f);
		break;
	}
}

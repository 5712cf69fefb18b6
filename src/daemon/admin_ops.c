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

	ud_fold_reads_all(d); /* one-sided GETs the clients reported */
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
		t.freeable = ti[i].freeable;
		t.flags = ti[i].frozen ? UADM_TENANT_FROZEN : 0;
		uadm_w_tenant(w, &t);
	}
	free(ti);
	return 0;
}

static int put_pools(struct ud_daemon *d, struct uadm_wbuf *w)
{
	struct ust_pool_info *pi = NULL;
	int n = ud_list_pools(d, &pi);

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

	if (h->vlen) { /* the value is empty: decoding is strict */
		reply_err(c, h, UWIRE_S_INVALID, "%s takes no arguments",
			  uadm_op_name(h->opcode));
		return;
	}
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

/*
 * An operator lowered a capacity or a max below what is held, or removed
 * a tenant: the limits are set (PUTs meanwhile make room for themselves
 * only) and the tenant is gone from the daemon, but the eviction and the
 * dropping of the removed tenant's entries, seconds for millions of small
 * values, run on the bulk thread, and the operator's connection waits for
 * them, parked; the main loop, which accepts every tenant's connections
 * and serves the admin socket, goes on.
 */
struct store_job {
	struct uadm_wbuf rep;
	int err;
	uint64_t evictions, charged, t0;
	struct ud_tenant *owed; /* removed tenants whose entries go first */
	uint32_t *pools;        /* removed shared pools, destroyed with them */
	size_t npools;
	struct ud_bulk_job job; /* a SIGHUP's (the daemon's own job) */
};

/* Drop the owed tenants' entries and regions (ud_tenant_destroy's part
 * that was left) and the owed shared pools, then evict down to the limits. */
static void store_work(struct ud_daemon *d, struct ud_tenant *owed,
		       const uint32_t *pools, size_t npools)
{
	for (size_t i = 0; i < npools; i++) {
		int err = ust_pool_destroy(d->st, UST_TENANT_ADMIN, pools[i]);

		if (err)
			ud_warn("shared pool %u: destroying it: %s", pools[i],
				strerror(-err));
	}
	for (struct ud_tenant *t = owed; t; t = t->owed_next) {
		int err = ust_tenant_remove(d->st, t->id);

		if (err)
			ud_warn("tenant '%s': removing its entries: %s", t->name,
				strerror(-err));
		ud_region_destroy(t);
	}
	if (ust_over_limits(d->st))
		ust_shrink_now(d->st);
}

/* The shared pools job s destroys are in flight until it is done. */
static void dying_add(struct ud_daemon *d, const uint32_t *ids, size_t n)
{
	uint32_t *p;

	if (!n)
		return;
	p = realloc(d->dying_pools, (d->ndying_pools + n) * sizeof(*p));
	if (!p)
		return; /* only a reload's early EBUSY is lost */
	memcpy(p + d->ndying_pools, ids, n * sizeof(*p));
	d->dying_pools = p;
	d->ndying_pools += n;
}

static void dying_done(struct ud_daemon *d, const uint32_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < d->ndying_pools; k++)
			if (d->dying_pools[k] == ids[i]) {
				d->dying_pools[k] = d->dying_pools[--d->ndying_pools];
				break;
			}
}

/*
 * What a configuration change left for later (d->owed, limits exceeded) as
 * a new job, or NULL: nothing left, or no memory for a job, and then it was
 * done here.
 */
static struct store_job *store_job_take(struct ud_daemon *d)
{
	struct ud_tenant *owed = d->owed;
	uint32_t *pools = d->owed_pools;
	size_t npools = d->nowed_pools;
	struct ust_store_info si;
	struct store_job *s;

	d->owed = NULL;
	d->owed_pools = NULL;
	d->nowed_pools = 0;
	if (!owed && !npools && !ust_over_limits(d->st))
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s) {
		store_work(d, owed, pools, npools); /* here, then */
		free(pools);
		return NULL;
	}
	ust_store_info(d->st, &si);
	s->owed = owed;
	s->pools = pools;
	s->npools = npools;
	dying_add(d, pools, npools);
	s->evictions = si.stats.evictions;
	s->charged = si.charged;
	s->t0 = umono_ns();
	return s;
}

static int store_job_run(struct ud_daemon *d, struct ud_bulk_job *j)
{
	struct store_job *s = j->ctx;

	store_work(d, s->owed, s->pools, s->npools);
	return 0;
}

/* Log what job s evicted, and add it to its reply text. */
static void store_job_report(struct ud_daemon *d, struct store_job *s)
{
	struct ust_store_info si;
	char a[32], b[32];

	ust_store_info(d->st, &si);
	if (si.stats.evictions > s->evictions) {
		/* The line a commit that evicted at once prints (admin_cfg.c). */
		ud_text(&s->rep, "evicted %llu entries to fit (charged %s -> %s)\n",
			(unsigned long long)(si.stats.evictions - s->evictions),
			ud_human(s->charged, a), ud_human(si.charged, b));
		ud_info("evicted %llu entries to fit the lowered limits (charged %s -> %s) in %llu ms",
			(unsigned long long)(si.stats.evictions - s->evictions), a, b,
			(unsigned long long)((umono_ns() - s->t0) / 1000000));
	}
}

static void store_job_done(struct ud_conn *c, struct ud_bulk_job *j)
{
	struct store_job *s = j->ctx;

	store_job_report(c->loop->d, s);
	ud_reply_text(c, &j->hdr, ud_status(s->err), &s->rep);
	dying_done(c->loop->d, s->pools, s->npools);
	free(s->pools);
	free(s);
}

/* A SIGHUP's job: nobody to answer; the log says what went. */
static void store_job_logged(struct ud_conn *c, struct ud_bulk_job *j)
{
	struct store_job *s = j->ctx;

	(void)c;
	store_job_report(j->loop->d, s);
	uadm_wbuf_free(&s->rep);
	dying_done(j->loop->d, s->pools, s->npools);
	free(s->pools);
	free(s);
}

void ud_store_later(struct ud_daemon *d)
{
	struct store_job *s = store_job_take(d);

	if (!s)
		return;
	uadm_wbuf_init(&s->rep);
	s->job.run = store_job_run;
	s->job.done = store_job_logged;
	s->job.ctx = s;
	ud_bulk_submit_daemon(d, &s->job);
}

void ud_admin_reply_cfg(struct ud_conn *c, const struct uwire_hdr *h, int err,
			struct uadm_wbuf *rep)
{
	struct store_job *s = store_job_take(c->loop->d);

	if (!s) {
		ud_reply_text(c, h, ud_status(err), rep);
		return;
	}
	s->rep = *rep;
	memset(rep, 0, sizeof(*rep));
	s->err = err;
	ud_bulk_submit_admin_run(c, h, store_job_run, store_job_done, s);
}

/* Run a change through ud_cfg_set and answer with its text. */
static void reply_set(struct ud_conn *c, const struct uwire_hdr *h,
		      const char *section, unsigned flags, size_t n,
		      const char *const *keys, const char *const *vals)
{
	struct ud_daemon *d = c->loop->d;
	struct uadm_wbuf rep;
	int err;

	uadm_wbuf_init(&rep);
	d->store_later = 1;
	err = ud_cfg_set(d, section, flags, n, keys, vals, &rep);
	d->store_later = 0;
	ud_admin_reply_cfg(c, h, err, &rep);
}

/*
 * TENANT_ADD / TENANT_SET, kept for older utmemctl: the record becomes
 * key = value pairs and takes the CONFIG_SET path, so it is checked by the
 * same table as the config file. TENANT_ADD still answers the new id.
 */
static void op_tenant_req(struct ud_conn *c, const struct uwire_hdr *h,
			  const struct uadm_tenant_req *req)
{
	struct ud_daemon *d = c->loop->d;
	char sec[UADM_SECTION_MAX + 1], mn[32], mx[32], wt[16];
	const char *keys[5], *vals[5];
	struct uadm_wbuf rep;
	struct ud_tenant *t;
	size_t n = 0;
	int add = h->opcode == UADM_OP_TENANT_ADD, err;

	snprintf(sec, sizeof(sec), "tenant %s", req->name);
	snprintf(mn, sizeof(mn), "%llu", (unsigned long long)req->min);
	snprintf(mx, sizeof(mx), "%llu", (unsigned long long)req->max);
	snprintf(wt, sizeof(wt), "%u", req->weight);
	if (req->mask & UADM_SET_MIN)
		keys[n] = "min", vals[n++] = mn;
	if (req->mask & UADM_SET_MAX)
		keys[n] = "max", vals[n++] = mx;
	if (req->mask & UADM_SET_WEIGHT)
		keys[n] = "weight", vals[n++] = wt;
	if (add && req->socket[0])
		keys[n] = "socket", vals[n++] = req->socket;
	if (add && req->token[0])
		keys[n] = "token", vals[n++] = req->token;
	if (!add) {
		reply_set(c, h, sec, 0, n, keys, vals);
		return;
	}
	uadm_wbuf_init(&rep);
	err = ud_cfg_set(d, sec, UADM_F_CREATE, n, keys, vals, &rep);
	t = err ? NULL : ud_tenant_by_name(d, req->name);
	if (!t) {
		ud_reply_text(c, h, ud_status(err ? err : -EIO), &rep);
		return;
	}
	uadm_wbuf_free(&rep);
	reply_u32(c, h, t->id);
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
	op_tenant_req(c, &f->hdr, &req);
}

/* Read an optional trailing u32 of flags (older utmemctl sends none). */
static uint32_t opt_flags(struct uadm_rbuf *r)
{
	if (r->err || r->len - r->off != 4)
		return 0;
	return uadm_r_u32(r);
}

/*
 * TENANT_REMOVE: str name [u32 flags]. A tenant holding entries or
 * connections is removed only with UADM_F_FORCE; the reply says what went.
 */
static void op_tenant_remove(struct ud_conn *c, const struct uwire_frame *f)
{
	struct ud_daemon *d = c->loop->d;
	char name[UADM_NAME_MAX + 1];
	struct uadm_wbuf rep;
	struct uadm_rbuf r;
	struct ud_cfg next;
	uint32_t flags;
	int err;

	uadm_rbuf_init(&r, f->value, f->hdr.vlen);
	uadm_r_str(&r, name, UADM_NAME_MAX);
	flags = opt_flags(&r);
	if (uadm_r_end(&r) < 0 || (flags & ~UADM_F_ALL_)) {
		reply_err(c, &f->hdr, UWIRE_S_INVALID, "malformed TENANT_REMOVE record");
		return;
	}
	if (!ud_tenant_by_name(d, name)) {
		reply_err(c, &f->hdr, UWIRE_S_NOTFOUND, "no tenant named '%s'", name);
		return;
	}
	if (ud_cfg_copy(&next, &d->cfg) < 0) {
		reply_err(c, &f->hdr, UWIRE_S_NOMEM, "out of memory");
		return;
	}
	ud_cfg_remove_tenant(&next, name);
	uadm_wbuf_init(&rep);
	d->store_later = 1;
	err = ud_cfg_commit(d, &next, 1, flags, &rep);
	d->store_later = 0;
	if (!err)
		d->cfg_unsaved = 1;
	ud_admin_reply_cfg(c, &f->hdr, err, &rep);
}

/*
 * TENANT_FREEZE: u32 frozen (0 or 1), str(63) name. Freezing refuses the
 * tenant's PUTs (status FROZEN) and serves its GETs and INVALIDATEs; the
 * state is not in the config file, so a restart thaws.
 */
static void op_tenant_freeze(struct ud_conn *c, const struct uwire_frame *f)
{
	struct ud_daemon *d = c->loop->d;
	char name[UADM_NAME_MAX + 1];
	struct uadm_wbuf rep;
	struct uadm_rbuf r;
	struct ud_tenant *t;
	const char *what;
	uint32_t frozen;
	int err;

	uadm_rbuf_init(&r, f->value, f->hdr.vlen);
	frozen = uadm_r_u32(&r);
	uadm_r_str(&r, name, UADM_NAME_MAX);
	if (uadm_r_end(&r) < 0 || frozen > 1) {
		reply_err(c, &f->hdr, UWIRE_S_INVALID, "malformed freeze request");
		return;
	}
	t = ud_tenant_by_name(d, name);
	err = t ? ust_tenant_freeze(d->st, t->id, frozen != 0) : -ENOENT;
	if (!err && frozen)
		ud_tenant_recall(t); /* posted PUTs go synchronous: refused */
	if (err) {
		reply_err(c, &f->hdr, ud_status(err), "no tenant named '%s'", name);
		return;
	}
	/* The line printed is the line logged, as for every change. */
	what = frozen ? "frozen: PUTs refused, GETs and INVALIDATEs served" : "thawed";
	ud_info("tenant '%s' %s", name, what);
	uadm_wbuf_init(&rep);
	ud_text(&rep, "tenant '%s' %s\n", name, what);
	ud_reply_text(c, &f->hdr, UWIRE_S_OK, &rep);
}

static void op_capacity_set(struct ud_conn *c, const struct uwire_frame *f)
{
	const char *key = "capacity";
	const char *val;
	char num[32];
	struct uadm_rbuf r;
	uint64_t cap;

	uadm_rbuf_init(&r, f->value, f->hdr.vlen);
	cap = uadm_r_u64(&r);
	if (uadm_r_end(&r) < 0) {
		reply_err(c, &f->hdr, UWIRE_S_INVALID, "malformed capacity");
		return;
	}
	snprintf(num, sizeof(num), "%llu", (unsigned long long)cap);
	val = num;
	reply_set(c, &f->hdr, "utmemd", 0, 1, &key, &val);
}

static void op_pool_create(struct ud_conn *c, const struct uwire_frame *f)
{
	struct ud_daemon *d = c->loop->d;
	char name[UADM_NAME_MAX + 1], sec[UADM_SECTION_MAX + 1];
	const char *key = "kind", *val;
	struct uadm_wbuf rep;
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
	val = kind & UADM_KIND_EPHEMERAL ? "ephemeral" : "persistent";
	snprintf(sec, sizeof(sec), "pool %s", name);
	uadm_wbuf_init(&rep);
	err = ud_cfg_set(d, sec, UADM_F_CREATE, 1, &key, &val, &rep);
	if (!err && ud_shared_pool_id(d, name, &id) < 0)
		err = -EIO;
	if (err) {
		ud_reply_text(c, &f->hdr, ud_status(err), &rep);
		return;
	}
	uadm_wbuf_free(&rep);
	reply_u32(c, &f->hdr, id);
}

int ud_shared_pool_id(struct ud_daemon *d, const char *name, uint32_t *id)
{
	struct ust_pool_info *pi = NULL;
	int n = ud_list_pools(d, &pi), err = -ENOENT;

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

/*
 * POOL_GRANT: the pool's tenants list in the running config gains one; with
 * UADM_GRANT_MANAGE (an optional trailing u32) its manage list too.
 */
static void op_pool_grant(struct ud_conn *c, const struct uwire_frame *f)
{
	struct ud_daemon *d = c->loop->d;
	char pool[UADM_NAME_MAX + 1], tenant[UADM_NAME_MAX + 1];
	char sec[UADM_SECTION_MAX + 1], list[UADM_VALUE_MAX + 1];
	char mlist[UADM_VALUE_MAX + 1];
	const char *keys[2] = {"tenants", "manage"}, *vals[2] = {list, mlist};
	const struct ud_cfg_pool *pl;
	struct uadm_rbuf r;
	uint32_t grant = 0;
	int granted = 0;
	size_t len;

	uadm_rbuf_init(&r, f->value, f->hdr.vlen);
	uadm_r_str(&r, pool, UADM_NAME_MAX);
	uadm_r_str(&r, tenant, UADM_NAME_MAX);
	if (r.off + 4 == r.len)
		grant = uadm_r_u32(&r);
	if (uadm_r_end(&r) < 0 || (grant & ~UADM_GRANT_MANAGE)) {
		reply_err(c, &f->hdr, UWIRE_S_INVALID, "malformed grant record");
		return;
	}
	if (!ud_tenant_by_name(d, tenant)) {
		reply_err(c, &f->hdr, UWIRE_S_NOTFOUND, "no tenant named '%s'", tenant);
		return;
	}
	pl = ud_cfg_find_pool(&d->cfg, pool);
	if (!pl) {
		reply_err(c, &f->hdr, UWIRE_S_NOTFOUND, "no shared pool named '%s'", pool);
		return;
	}
	ud_setting_format(ud_setting_find(UD_SCOPE_POOL, "tenants"), pl, list,
			  sizeof(list));
	ud_setting_format(ud_setting_find(UD_SCOPE_POOL, "manage"), pl, mlist,
			  sizeof(mlist));
	granted = ud_cfg_pool_grants(pl, tenant);
	if (granted && (!(grant & UADM_GRANT_MANAGE) ||
			ud_cfg_pool_manages(pl, tenant))) {
		reply_err(c, &f->hdr, UWIRE_S_OK, "pool '%s' is already granted to '%s'",
			  pool, tenant);
		return;
	}
	if (!granted) {
		len = strlen(list);
		snprintf(list + len, sizeof(list) - len, "%s%s", len ? ", " : "", tenant);
	}
	if (grant & UADM_GRANT_MANAGE) {
		len = strlen(mlist);
		snprintf(mlist + len, sizeof(mlist) - len, "%s%s", len ? ", " : "",
			 tenant);
	}
	snprintf(sec, sizeof(sec), "pool %s", pool);
	reply_set(c, &f->hdr, sec, 0, grant & UADM_GRANT_MANAGE ? 2 : 1, keys, vals);
}

static void op_reload(struct ud_conn *c, const struct uwire_frame *f)
{
	struct uadm_wbuf rep;
	struct uadm_rbuf r;
	uint32_t flags;
	int err;

	uadm_rbuf_init(&r, f->value, f->hdr.vlen);
	flags = opt_flags(&r);
	if (uadm_r_end(&r) < 0 || (flags & ~UADM_F_ALL_)) {
		reply_err(c, &f->hdr, UWIRE_S_INVALID, "malformed RELOAD record");
		return;
	}
	uadm_wbuf_init(&rep);
	c->loop->d->store_later = 1;
	err = ud_reload(c->loop->d, flags, &rep);
	c->loop->d->store_later = 0;
	ud_admin_reply_cfg(c, &f->hdr, err, &rep);
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
	/* The line utmemctl prints (the reply carries no text). */
	ud_info("log level: %s (until the next restart, reload or log_level change)",
		uadm_log_level_name((int)lvl));
	ud_reply(c, &f->hdr, UWIRE_S_OK, 0, NULL, 0);
}

/* What the reply to a POOL_FLUSH / POOL_DESTROY needs once it ran. */
struct pool_drop {
	char pool[UADM_NAME_MAX + 1], tenant[UADM_NAME_MAX + 1];
	uint64_t entries, bytes;
};

/* The pool went (or not, err): reply, log, and forget a destroyed shared
 * pool's configuration. On the main loop, when the bulk thread is done. */
static void pool_drop_done(struct ud_conn *c, struct ud_bulk_job *j)
{
	struct ud_daemon *d = c->loop->d;
	struct pool_drop *pd = j->ctx;
	const char *t = pd->tenant[0] ? pd->tenant : NULL;
	struct uadm_wbuf rep;
	char a[32];

	uadm_wbuf_init(&rep);
	if (j->err) {
		ud_text(&rep, "pool '%s': %s", pd->pool, strerror(-j->err));
	} else {
		ud_text(&rep, "pool '%s'%s%s %s: dropped %llu entries (%s)\n", pd->pool,
			t ? " of tenant " : "", t ? t : "",
			j->destroy ? "destroyed" : "flushed",
			(unsigned long long)pd->entries, ud_human(pd->bytes, a));
		ud_info("pool '%s'%s%s %s by the operator: dropped %llu entries (%s)",
			pd->pool, t ? " of tenant " : "", t ? t : "",
			j->destroy ? "destroyed" : "flushed",
			(unsigned long long)pd->entries, ud_human(pd->bytes, a));
		/* Clients posting PUTs to it would have them refused unseen
		 * (each answered OK): told, they reopen their pools by name
		 * before the next use (a pool opened with CREATE is made
		 * again). */
		for (struct ud_tenant *x = d->tenants; j->destroy && x; x = x->next)
			if (!t || strcmp(x->name, t) == 0)
				ud_tenant_pools_gone(x);
		if (j->destroy && !t && ud_cfg_find_pool(&d->cfg, pd->pool)) {
			struct ud_cfg_pool *cp = ud_cfg_find_pool(&d->cfg, pd->pool);
			size_t i = (size_t)(cp - d->cfg.pools);
			free(cp->tenants);
			memmove(cp, cp + 1, (d->cfg.npools - i - 1) * sizeof(*cp));
			d->cfg.npools--;
			d->cfg_unsaved = 1;
		}
	}
	free(pd);
	ud_reply_text(c, &j->hdr, ud_status(j->err), &rep);
}

/*
 * POOL_FLUSH / POOL_DESTROY: u32 flags, str pool, str tenant ("" = the
 * shared pool of that name). A pool holding entries is dropped only with
 * UADM_F_FORCE; the reply says what went. Destroying a shared pool also
 * takes it out of the running configuration. The drop itself runs on the
 * bulk thread, in turn with the tenants' flushes: a large pool takes
 * seconds, and this loop accepts every tenant's new connections.
 */
static void op_pool_drop(struct ud_conn *c, const struct uwire_frame *f)
{
	struct ud_daemon *d = c->loop->d;
	char pool[UADM_NAME_MAX + 1], tenant[UADM_NAME_MAX + 1], a[32];
	int destroy = f->hdr.opcode == UADM_OP_POOL_DESTROY;
	struct ust_pool_info *pi = NULL, *p = NULL;
	struct ud_tenant *t = NULL;
	struct pool_drop *pd;
	struct uadm_wbuf rep;
	struct uadm_rbuf r;
	uint32_t flags, id;
	int n;

	uadm_rbuf_init(&r, f->value, f->hdr.vlen);
	flags = uadm_r_u32(&r);
	uadm_r_str(&r, pool, UADM_NAME_MAX);
	uadm_r_str(&r, tenant, UADM_NAME_MAX);
	if (uadm_r_end(&r) < 0 || (flags & ~UADM_F_ALL_)) {
		reply_err(c, &f->hdr, UWIRE_S_INVALID, "malformed pool record");
		return;
	}
	if (tenant[0] && !(t = ud_tenant_by_name(d, tenant))) {
		reply_err(c, &f->hdr, UWIRE_S_NOTFOUND, "no tenant named '%s'", tenant);
		return;
	}
	n = ud_list_pools(d, &pi);
	for (int i = 0; i < n && !p; i++) {
		int shared = (pi[i].kind & UST_POOL_SHARED) != 0;
		if (strcmp(pi[i].name, pool) == 0 &&
		    (t ? !shared && pi[i].owner == t->id : shared))
			p = &pi[i];
	}
	if (!p) {
		free(pi);
		if (t)
			reply_err(c, &f->hdr, UWIRE_S_NOTFOUND,
				  "tenant '%s' has no pool named '%s'", tenant, pool);
		else
			reply_err(c, &f->hdr, UWIRE_S_NOTFOUND,
				  "no shared pool named '%s' (a tenant's own pool: give its tenant)",
				  pool);
		return;
	}
	uadm_wbuf_init(&rep);
	if (p->stats.entries && !(flags & UADM_F_FORCE)) {
		ud_text(&rep, "pool '%s'%s%s holds %llu entries (%s): repeat with --force to drop them",
			pool, t ? " of tenant " : "", t ? tenant : "",
			(unsigned long long)p->stats.entries,
			ud_human(p->stats.bytes_stored, a));
		free(pi);
		ud_reply_text(c, &f->hdr, UWIRE_S_NOTEMPTY, &rep);
		return;
	}
	pd = calloc(1, sizeof(*pd));
	if (!pd) {
		free(pi);
		reply_err(c, &f->hdr, UWIRE_S_NOMEM, "out of memory");
		return;
	}
	snprintf(pd->pool, sizeof(pd->pool), "%s", pool);
	snprintf(pd->tenant, sizeof(pd->tenant), "%s", t ? tenant : "");
	pd->entries = p->stats.entries;
	pd->bytes = p->stats.bytes_stored;
	id = p->id;
	free(pi);
	ud_bulk_submit_admin(c, &f->hdr, id, destroy, pool_drop_done, pd);
}

/* SAVE: write the persistent pools to the persist file now. */
static void op_save(struct ud_conn *c, const struct uwire_frame *f)
{
	struct uadm_wbuf rep;
	int err;

	if (f->hdr.vlen) {
		reply_err(c, &f->hdr, UWIRE_S_INVALID, "SAVE takes no arguments");
		return;
	}
	uadm_wbuf_init(&rep);
	err = ud_persist_save(c->loop->d, &rep);
	if (!err) {
		size_t n = rep.len;
		while (n && rep.data[n - 1] == '\n')
			n--;
		ud_info("%.*s", (int)n, (const char *)rep.data);
	}
	ud_reply_text(c, &f->hdr, ud_status(err), &rep);
}

/* INFO: u32 n, n (str key, str value) — the server view of info.c. */
static void op_info(struct ud_conn *c, const struct uwire_frame *f)
{
	struct ud_info_item items[96];
	struct uadm_wbuf w;
	size_t n;

	if (f->hdr.vlen) {
		reply_err(c, &f->hdr, UWIRE_S_INVALID, "INFO takes no arguments");
		return;
	}
	n = ud_server_info(c->loop->d, items, sizeof(items) / sizeof(items[0]));
	uadm_wbuf_init(&w);
	uadm_w_u32(&w, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		uadm_w_str(&w, items[i].key, UADM_KEY_MAX);
		uadm_w_str(&w, items[i].value, UADM_VALUE_MAX);
	}
	reply_wbuf(c, &f->hdr, &w);
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
	case UADM_OP_CONFIG_GET:
		ud_op_config_get(c, f);
		break;
	case UADM_OP_CONFIG_SET:
		ud_op_config_set(c, f);
		break;
	case UADM_OP_CONFIG_SAVE:
		ud_op_config_save(c, f);
		break;
	case UADM_OP_POOL_FLUSH:
	case UADM_OP_POOL_DESTROY:
		op_pool_drop(c, f);
		break;
	case UADM_OP_INFO:
		op_info(c, f);
		break;
	case UADM_OP_SAVE:
		op_save(c, f);
		break;
	case UADM_OP_TENANT_FREEZE:
		op_tenant_freeze(c, f);
		break;
	}
}

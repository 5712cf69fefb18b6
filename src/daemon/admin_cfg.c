/*
 * admin_cfg.c — changing the running configuration: the admin requests
 * CONFIG_GET, CONFIG_SET and CONFIG_SAVE, reload (SIGHUP and RELOAD), and the
 * one path every change takes, ud_cfg_commit().
 *
 * d->cfg is the running configuration: every tenant and shared pool the
 * daemon serves is in it, whether it came from the file or from utmemctl,
 * so `config save` can write it back and a reload can compare against it;
 * after a change that stopped part way, what of it took effect
 * (ud_apply_live).
 * A change is made on a copy: values are parsed by the settings table (the
 * code the config file uses), the copy goes through ud_cfg_check(), then
 * ud_cfg_commit() refuses it if it would drop stored data without
 * UADM_F_FORCE, applies it, and describes each change in one line (the
 * admin reply, and the log). Settings that take a restart are recorded (so
 * `config save` keeps them) and reported as waiting for the restart; the
 * running daemon reads them only at startup. Main thread only.
 */
#include "daemon/daemon.h"
#include "proto/name.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CFG_SET_MAX_PAIRS 64u

void ud_text(struct uadm_wbuf *w, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	if (w->len + (size_t)n > UADM_TEXT_MAX - 64) {
		static const char cut[] = "... (more changes; see the log)\n";
		if (w->len + sizeof(cut) <= UADM_TEXT_MAX)
			uadm_w_raw(w, cut, sizeof(cut) - 1);
		return;
	}
	uadm_w_raw(w, buf, (size_t)n);
}

void ud_reply_text(struct ud_conn *c, const struct uwire_hdr *h, unsigned st,
		   struct uadm_wbuf *w)
{
	size_t n = w->len;

	if (w->err) {
		static const char oom[] = "out of memory";
		ud_reply(c, h, UWIRE_S_NOMEM, 0, oom, sizeof(oom) - 1);
	} else {
		while (n && w->data[n - 1] == '\n')
			n--;
		ud_reply(c, h, st, 0, w->data, n > UADM_TEXT_MAX ? UADM_TEXT_MAX : n);
	}
	uadm_wbuf_free(w);
}

/* Log every line of a report at info level. */
static void log_lines(const struct uadm_wbuf *w)
{
	size_t i = 0;

	while (!w->err && i < w->len) {
		const uint8_t *nl = memchr(w->data + i, '\n', w->len - i);
		size_t end = nl ? (size_t)(nl - w->data) : w->len;
		ud_info("%.*s", (int)(end - i), (const char *)w->data + i);
		i = end + 1;
	}
}

/* ---- what a change would drop ---- */

/* Bytes charged in ephemeral pools: the most a shrink could evict. */
static uint64_t ephemeral_charged(struct ud_daemon *d, uint32_t owner, int all)
{
	struct ust_pool_info *pi = NULL;
	uint64_t sum = 0;
	int n, cap = 0;

	for (;;) {
		n = ust_pool_list(d->st, UST_TENANT_ADMIN, pi, (size_t)cap);
		if (n < 0 || n <= cap)
			break;
		free(pi);
		cap = n + 4;
		pi = calloc((size_t)cap, sizeof(*pi));
		if (!pi)
			return UINT64_MAX;
	}
	for (int i = 0; i < n; i++) {
		if (!(pi[i].kind & UST_POOL_EPHEMERAL))
			continue;
		/* A shared pool's entries may be any grantee's: count them. */
		if (all || pi[i].owner == owner || (pi[i].kind & UST_POOL_SHARED))
			sum += pi[i].stats.bytes_charged;
	}
	free(pi);
	return sum;
}

/* A shared pool the store has and next does not list. */
static int missing_pool(const struct ust_pool_info *p, const struct ud_cfg *next)
{
	return (p->kind & UST_POOL_SHARED) && !ud_cfg_find_pool(next, p->name);
}

/* Append to loss one line per thing next would drop. */

static void describe_loss(struct ud_daemon *d, const struct ud_cfg *next,
			  int remove_missing, struct uadm_wbuf *loss)
{
	struct ust_store_info si;
	struct ust_pool_info *pi;
	struct ud_names want;
	char a[32], b[32], e[32];
	uint64_t eph;
	int n;

	ust_store_info(d->st, &si);
	if (next->capacity < si.charged &&
	    (eph = ephemeral_charged(d, 0, 1)) > 0)
		ud_text(loss, "capacity %s is below the %s charged now: up to %s of ephemeral entries would be evicted\n",
			ud_human(next->capacity, a), ud_human(si.charged, b),
			ud_human(si.charged - next->capacity < eph
					 ? si.charged - next->capacity : eph, e));
	ud_cfg_index(next, &want);
	for (struct ud_tenant *t = d->tenants; t; t = t->next) {
		const struct ud_cfg_tenant *ct = ud_cfg_tenant_in(next, &want, t->name);
		unsigned conns = atomic_load(&t->conns);
		struct ust_tenant_info ti;

		if (ust_tenant_info(d->st, t->id, &ti) < 0)
			continue;
		if (!ct) {
			if (remove_missing && (ti.stats.entries || conns))
				ud_text(loss, "tenant '%s' would be removed with its %llu entries (%s) and %u open connection%s\n",
					t->name, (unsigned long long)ti.stats.entries,
					ud_human(ti.stats.bytes_stored, a), conns,
					conns == 1 ? "" : "s");
			continue;
		}
		if (ct->max < ti.stats.bytes_charged &&
		    (eph = ephemeral_charged(d, t->id, 0)) > 0)
			ud_text(loss, "tenant '%s': max %s is below its %s charged: up to %s of its ephemeral entries would be evicted\n",
				t->name, ud_human(ct->max, a),
				ud_human(ti.stats.bytes_charged, b),
				ud_human(ti.stats.bytes_charged - ct->max < eph
						 ? ti.stats.bytes_charged - ct->max : eph, e));
	}
	ud_names_free(&want);
	if (!remove_missing)
		return;
	pi = NULL;
	n = ud_list_pools(d, &pi);
	for (int i = 0; i < n; i++)
		if (missing_pool(&pi[i], next) && pi[i].stats.entries)
			ud_text(loss, "shared pool '%s' would be destroyed with its %llu entries (%s)\n",
				pi[i].name, (unsigned long long)pi[i].stats.entries,
				ud_human(pi[i].stats.bytes_stored, a));
	free(pi);
}

/* ---- what a change did ---- */

struct tenant_snap {
	char name[UST_NAME_MAX + 1];
	uint32_t id;
	unsigned conns;
	struct ust_stats st;
};

/* Counters of every running tenant, before a change. Caller frees. */
static struct tenant_snap *snapshot(struct ud_daemon *d, size_t *n)
{
	struct tenant_snap *s;
	size_t k = 0;

	*n = 0;
	for (struct ud_tenant *t = d->tenants; t; t = t->next)
		k++;
	s = calloc(k ? k : 1, sizeof(*s));
	if (!s)
		return NULL;
	for (struct ud_tenant *t = d->tenants; t; t = t->next) {
		struct ust_tenant_info ti;
		if (ust_tenant_info(d->st, t->id, &ti) < 0)
			continue;
		snprintf(s[*n].name, sizeof(s[*n].name), "%s", t->name);
		s[*n].id = t->id;
		s[*n].conns = atomic_load(&t->conns);
		s[*n].st = ti.stats;
		(*n)++;
	}
	return s;
}

/*
 * The line of a restart setting (UD_SF_RESTART) that changed from old to
 * new: against what runs (boot), not the value configured since, which
 * may itself be waiting for the restart.
 */
static void report_value(const struct ud_daemon *d, const struct ud_setting *s,
			 const void *rec, char *out, size_t outlen);

static void diff_restart(const struct ud_daemon *d, const struct ud_setting *s,
			 const char *what, const void *boot, const char *old,
			 const char *new, struct uadm_wbuf *rep)
{
	char run[UADM_VALUE_MAX + 1];

	report_value(d, s, boot, run, sizeof(run));
	if (strcmp(run, new) == 0)
		ud_text(rep, "%s%s: %s (as running; the pending %s is dropped)\n", what,
			s->key, new[0] ? new : "(none)", old[0] ? old : "(none)");
	else
		ud_text(rep, "%s%s: %s -> %s (takes a restart)\n", what, s->key,
			run[0] ? run : "(none)", new[0] ? new : "(none)");
}

static void unset_value(const struct ud_daemon *d, const struct ud_setting *s,
			const void *rec, char *out, size_t outlen);

/*
 * A value as a change reports it: a tenant's limit not given is the one
 * utmemd applies (as config get shows it), not the 0 that stands for it
 * in the record and that the key itself refuses ("max_conns: 0 -> 8");
 * a path the file it names, so that two spellings of one file compare
 * equal and a default socket is not "(none)".
 */
static void report_value(const struct ud_daemon *d, const struct ud_setting *s,
			 const void *rec, char *out, size_t outlen)
{
	char *file;

	if ((s->flags & UD_SF_DERIVED) && !ud_setting_is_given(s, rec))
		unset_value(d, s, rec, out, outlen);
	else
		ud_setting_format(s, rec, out, outlen);
	if (!(s->flags & UD_SF_RUNPATH) || !out[0])
		return;
	file = ud_run_file(d->cfg.run_dir, out);
	if (file)
		snprintf(out, outlen, "%s", file);
	free(file);
}

/* One line per setting of a record whose value differs and that took
 * effect (at, rec: ud_apply_took); boot: the record as running, for the
 * settings that take a restart (the main one) or are given at creation (a
 * tenant's, as it was made), else NULL. */
static void diff_record(const struct ud_daemon *d, enum ud_scope scope,
			const char *what, const void *old, const void *new,
			const void *boot, const struct ud_apply_at *at, size_t rec,
			struct uadm_wbuf *rep)
{
	char a[UADM_VALUE_MAX + 1], b[UADM_VALUE_MAX + 1];

	for (size_t i = 0; i < ud_nsettings; i++) {
		const struct ud_setting *s = &ud_settings[i];
		if (s->scope != scope || !ud_apply_took(s, at, rec))
			continue;
		/* A default that follows another value (a tenant's max without
		 * its own) is not a change the operator made. */
		if (!ud_setting_is_given(s, old) && !ud_setting_is_given(s, new))
			continue;
		report_value(d, s, old, a, sizeof(a));
		report_value(d, s, new, b, sizeof(b));
		if (strcmp(a, b) == 0)
			continue;
		if (s->flags & UD_SF_SECRET)
			ud_text(rep, "%s%s changed\n", what, s->key);
		else if ((s->flags & (UD_SF_RESTART | UD_SF_CREATE)) && boot)
			diff_restart(d, s, what, boot, a, b, rep);
		else
			ud_text(rep, "%s%s: %s -> %s%s\n", what, s->key, a[0] ? a : "(none)",
				b[0] ? b : "(none)",
				s->flags & (UD_SF_RESTART | UD_SF_CREATE)
					? " (takes a restart)" : "");
	}
}

/*
 * What changing old into next did, ud_apply_cfg() having stopped at *at
 * (UD_APPLY_DONE: it did all of it): only what took effect is listed.
 */
static void describe_changes(struct ud_daemon *d, const struct ud_cfg *old,
			     const struct ud_cfg *next, const struct ud_apply_at *at,
			     const struct tenant_snap *snap, size_t nsnap,
			     uint64_t evicted_before, uint64_t charged_before,
			     struct uadm_wbuf *rep)
{
	struct ust_store_info si;
	struct ud_names in_old, in_next;
	char what[UST_NAME_MAX + 32], a[32], b[32];

	ud_cfg_index(old, &in_old);
	ud_cfg_index(next, &in_next);
	diff_record(d, UD_SCOPE_MAIN, "", old, next, &d->boot, at, 0, rep);
	for (size_t i = 0; i < nsnap; i++) {
		/* Tenants go (remove_missing) before the first update. */
		if (at->stage < UD_APPLY_TENANTS ||
		    ud_cfg_tenant_in(next, &in_next, snap[i].name))
			continue;
		ud_text(rep, "tenant '%s' removed: dropped %llu entries (%s), closed %u connection%s\n",
			snap[i].name, (unsigned long long)snap[i].st.entries,
			ud_human(snap[i].st.bytes_stored, a), snap[i].conns,
			snap[i].conns == 1 ? "" : "s");
	}
	for (size_t i = 0; i < next->ntenants; i++) {
		const struct ud_cfg_tenant *nt = &next->tenants[i];
		const struct ud_cfg_tenant *ot = ud_cfg_tenant_in(old, &in_old, nt->name);
		struct ud_tenant *t = ud_tenant_by_name(d, nt->name);
		if (!ot) {
			ud_text(rep, "tenant '%s' added (id %u): unix:%s\n", nt->name,
				t ? t->id : 0, t ? t->socket : "?");
			continue;
		}
		snprintf(what, sizeof(what), "tenant '%s': ", nt->name);
		/* Its creation settings against what it was made with. */
		diff_record(d, UD_SCOPE_TENANT, what, ot, nt, t ? &t->made : NULL,
			    at, i, rep);
	}
	ud_names_free(&in_old);
	ud_names_free(&in_next);
	for (size_t i = 0; i < next->npools; i++) {
		const struct ud_cfg_pool *np = &next->pools[i];
		const struct ud_cfg_pool *op = ud_cfg_find_pool(old, np->name);
		char list[UADM_VALUE_MAX + 1];
		if (!op && !ud_apply_passed(at, UD_APPLY_POOLS, i))
			continue; /* not created */
		if (!op) {
			ud_setting_format(ud_setting_find(UD_SCOPE_POOL, "tenants"), np,
					  list, sizeof(list));
			ud_text(rep, "shared pool '%s' created (%s) for: %s\n", np->name,
				np->kind & UST_POOL_EPHEMERAL ? "ephemeral" : "persistent",
				list[0] ? list : "(no tenant yet)");
			continue;
		}
		snprintf(what, sizeof(what), "pool '%s': ", np->name);
		diff_record(d, UD_SCOPE_POOL, what, op, np, NULL, at, i, rep);
	}
	ust_store_info(d->st, &si);
	if (si.stats.evictions > evicted_before)
		ud_text(rep, "evicted %llu entries to fit (charged %s -> %s)\n",
			(unsigned long long)(si.stats.evictions - evicted_before),
			ud_human(charged_before, a), ud_human(si.charged, b));
}

/*
 * A reload makes the shared pools those of the file, as it does the
 * tenants: a pool it no longer lists (taken out of the file, or created at
 * runtime and not saved) is destroyed with its entries (describe_loss
 * asked for --force first if it held any). Its grants go at once; with
 * store_later the entries are dropped on the bulk thread (d->owed_pools),
 * else here.
 */
static void drop_missing_pools(struct ud_daemon *d, const struct ud_cfg *next,
			       struct uadm_wbuf *rep)
{
	struct ust_pool_info *pi = NULL;
	int n = ud_list_pools(d, &pi);
	char a[32];

	if (n < 0)
		ud_text(rep, "shared pools not in the file: cannot list them (%s): kept\n",
			strerror(-n));
	for (int i = 0; i < n; i++) {
		uint32_t *o;

		if (!missing_pool(&pi[i], next))
			continue;
		for (struct ud_tenant *t = d->tenants; t; t = t->next)
			ust_pool_revoke(d->st, pi[i].id, t->id);
		o = d->store_later ? realloc(d->owed_pools,
					     (d->nowed_pools + 1) * sizeof(*o))
				   : NULL;
		if (o) {
			d->owed_pools = o;
			o[d->nowed_pools++] = pi[i].id;
		} else {
			ust_pool_destroy(d->st, UST_TENANT_ADMIN, pi[i].id);
		}
		ud_text(rep, "shared pool '%s' destroyed: dropped %llu entries (%s)\n",
			pi[i].name, (unsigned long long)pi[i].stats.entries,
			ud_human(pi[i].stats.bytes_stored, a));
	}
	free(pi);
}

/*
 * After ud_apply_cfg() failed: was it while creating next's new tenants?
 * Then it removed the ones it had created and changed nothing else; a
 * later failure leaves every new tenant in place.
 */
static int failed_creating(struct ud_daemon *d, const struct ud_cfg *next)
{
	struct ud_names cur;
	int new = 0;

	ud_cfg_index(&d->cfg, &cur);
	for (size_t i = 0; i < next->ntenants; i++) {
		if (ud_cfg_tenant_in(&d->cfg, &cur, next->tenants[i].name))
			continue;
		if (ud_tenant_by_name(d, next->tenants[i].name)) {
			new = 0;
			break;
		}
		new = 1;
	}
	ud_names_free(&cur);
	return new;
}

int ud_cfg_commit(struct ud_daemon *d, struct ud_cfg *next, int remove_missing,
		  unsigned flags, struct uadm_wbuf *rep)
{
	struct uadm_wbuf loss;
	struct ust_store_info si;
	struct tenant_snap *snap;
	struct ud_apply_at at;
	size_t nsnap = 0;
	char msg[UADM_MSG_MAX] = "";
	size_t len0 = rep->len;
	int err;

	d->cfg_stopped = 0;
	uadm_wbuf_init(&loss);
	describe_loss(d, next, remove_missing, &loss);
	if (loss.len && !(flags & UADM_F_FORCE)) {
		uadm_w_raw(rep, loss.data, loss.len);
		ud_text(rep, "nothing changed: repeat with --force to drop this data\n");
		uadm_wbuf_free(&loss);
		ud_cfg_free(next);
		return -ENOTEMPTY;
	}
	uadm_wbuf_free(&loss);
	snap = snapshot(d, &nsnap);
	ust_store_info(d->st, &si);
	err = ud_apply_cfg(d, next, remove_missing, &at, msg, sizeof(msg));
	if (err && failed_creating(d, next)) {
		/* Failed creating a tenant: nothing was changed (ud_apply_cfg). */
		free(snap);
		ud_text(rep, "%s\n", msg);
		ud_cfg_free(next);
		return err;
	}
	if (snap)
		describe_changes(d, &d->cfg, next, &at, snap, nsnap,
				 si.stats.evictions, si.charged, rep);
	free(snap);
	if (!err && remove_missing)
		drop_missing_pools(d, next, rep);
	if (err) {
		struct ud_cfg live;

		/* Part of next was applied: say what, then why it stopped; the
		 * running configuration is what took effect, so that the next
		 * reload lists only the rest. */
		ud_text(rep, "stopped: %s\n", msg);
		log_lines(rep);
		d->cfg_stopped = 1;
		if (ud_apply_live(&d->cfg, next, remove_missing, &at, &live) == 0) {
			ud_cfg_free(&d->cfg);
			d->cfg = live;
		}
		ud_cfg_free(next);
		return err;
	}
	if (rep->len == len0)
		ud_text(rep, "no changes\n");
	else {
		struct uadm_wbuf part = {.data = rep->data + len0, .len = rep->len - len0};
		log_lines(&part);
	}
	ud_cfg_free(&d->cfg);
	d->cfg = *next;
	memset(next, 0, sizeof(*next));
	return 0;
}

/* ---- reload ---- */

int ud_reload(struct ud_daemon *d, unsigned flags, struct uadm_wbuf *rep)
{
	char msg[UADM_MSG_MAX];
	struct ud_cfg next;
	int err;

	d->cfg_stopped = 0;
	if (!d->cfg.path[0]) {
		ud_text(rep, "utmemd runs on its embedded default (no -c FILE): nothing to reload\n");
		return -ENOENT;
	}
	ud_notify_reloading();
	err = ud_cfg_load(&next, d->cfg.path, d->cfg.run_dir, msg, sizeof(msg));
	if (err) {
		ud_text(rep, "%s\n", msg);
		ud_notify_ready(d);
		return err;
	}
	err = ud_cfg_commit(d, &next, 1, flags, rep);
	if (!err) {
		d->cfg_unsaved = 0;
		/* The file's level, whatever `utmemctl log-level` set. */
		atomic_store(&ud_log_level, d->cfg.log_level);
		ud_info("configuration %s reloaded", d->cfg.path);
	}
	ud_notify_ready(d);
	return err;
}

/* ---- CONFIG_GET ---- */

/*
 * What an unset key stands for, shown commented out by config get. The
 * record holds 0 or "" for "the default", often a value the key itself
 * refuses (inflight = 0, max_conns = 0): show what utmemd uses instead,
 * so that uncommenting the line changes nothing.
 */
static void unset_value(const struct ud_daemon *d, const struct ud_setting *s,
			const void *rec, char *out, size_t outlen)
{
	struct ud_cfg_tenant t;

	if (s->scope == UD_SCOPE_MAIN && strcmp(s->key, "run_dir") == 0) {
		snprintf(out, outlen, "%s", d->cfg.run_dir); /* --run-dir's, or the file's */
		return;
	}
	if (s->scope != UD_SCOPE_TENANT)
		return;
	t = *(const struct ud_cfg_tenant *)rec;
	if (strcmp(s->key, "inflight") == 0)
		t.inflight = ud_tenant_inflight_max(d, &t);
	else if (strcmp(s->key, "max_conns") == 0)
		t.max_conns = UD_DEFAULT_MAX_CONNS;
	else if (strcmp(s->key, "max_pools") == 0)
		t.max_pools = UD_DEFAULT_MAX_POOLS;
	else if (strcmp(s->key, "socket") == 0) /* VM tenants have one too */
		ud_socket_path(d, &t, t.socket, sizeof(t.socket));
	else if ((strcmp(s->key, "vsock_cid") == 0 && !t.vsock_cid) ||
		 (strcmp(s->key, "ivshmem_size") == 0 && !t.ivshmem[0])) {
		out[0] = '\0'; /* not a VM tenant: 0 is no value these take */
		return;
	} else
		return;
	ud_setting_format(s, &t, out, outlen);
}

/*
 * Whether the value of s, a setting given only at creation (UD_SF_CREATE),
 * in rec (the record of section name) is not the one running: a reload
 * changed it in the file, and it takes effect when the section is created
 * again, at the next restart.
 */
static bool create_pending(struct ud_daemon *d, const struct ud_setting *s,
			   const char *name, const void *rec)
{
	char want[UADM_VALUE_MAX + 1], run[UADM_VALUE_MAX + 1];
	struct ust_pool_info info;
	struct ud_cfg_pool p;
	struct ud_tenant *t;
	uint32_t id;

	ud_setting_format(s, rec, want, sizeof(want));
	if (s->scope == UD_SCOPE_TENANT) {
		if (!(t = ud_tenant_by_name(d, name)))
			return false; /* not created (yet): nothing runs */
		ud_setting_format(s, &t->made, run, sizeof(run));
	} else if (s->scope == UD_SCOPE_POOL) {
		if (ud_shared_pool_id(d, name, &id) < 0 ||
		    ust_pool_info(d->st, UST_TENANT_ADMIN, id, &info) < 0)
			return false;
		p = *(const struct ud_cfg_pool *)rec;
		p.kind = info.kind & UST_POOL_EPHEMERAL;
		ud_setting_format(s, &p, run, sizeof(run));
	} else {
		return false;
	}
	return strcmp(want, run) != 0;
}

static void put_section(struct ud_daemon *d, struct uadm_wbuf *w,
			enum ud_scope scope, const char *name, const void *rec,
			const struct ud_cfg *boot, uint32_t *n)
{
	struct uadm_setting st;
	char running[UADM_VALUE_MAX + 1];

	for (size_t i = 0; i < ud_nsettings; i++) {
		const struct ud_setting *s = &ud_settings[i];
		if (s->scope != scope)
			continue;
		memset(&st, 0, sizeof(st));
		if (scope == UD_SCOPE_MAIN)
			snprintf(st.section, sizeof(st.section), "utmemd");
		else
			snprintf(st.section, sizeof(st.section), "%s %s",
				 ud_scope_name(scope), name);
		snprintf(st.key, sizeof(st.key), "%s", s->key);
		ud_setting_format(s, rec, st.value, sizeof(st.value));
		if (ud_setting_is_given(s, rec))
			st.flags |= UADM_SETTING_GIVEN;
		if (s->flags & UD_SF_RESTART) {
			st.flags |= UADM_SETTING_RESTART;
			ud_setting_format(s, boot, running, sizeof(running));
			if (strcmp(running, st.value) != 0)
				st.flags |= UADM_SETTING_PENDING;
		}
		if ((s->flags & UD_SF_CREATE) && create_pending(d, s, name, rec))
			st.flags |= UADM_SETTING_RESTART | UADM_SETTING_PENDING;
		if (!(st.flags & UADM_SETTING_GIVEN) && !(s->flags & UD_SF_SECRET))
			unset_value(d, s, rec, st.value, sizeof(st.value));
		/* A secret never leaves utmemd, in any output format: the
		 * reply says only whether one is set. */
		if (s->flags & UD_SF_SECRET) {
			st.flags |= UADM_SETTING_SECRET;
			if (st.value[0])
				snprintf(st.value, sizeof(st.value), "%s", UADM_SECRET_MASK);
		}
		uadm_w_setting(w, &st);
		(*n)++;
	}
}

/* "utmemd", "tenant NAME" or "pool NAME"; "" means every section. */
static int parse_section(const char *sec, enum ud_scope *scope, const char **name)
{
	*name = "";
	if (strcmp(sec, "utmemd") == 0) {
		*scope = UD_SCOPE_MAIN;
		return 0;
	}
	if (strncmp(sec, "tenant ", 7) == 0) {
		*scope = UD_SCOPE_TENANT;
		*name = sec + 7;
	} else if (strncmp(sec, "pool ", 5) == 0) {
		*scope = UD_SCOPE_POOL;
		*name = sec + 5;
	} else {
		return -EINVAL;
	}
	return ud_valid_name(*name) ? 0 : -EINVAL;
}

void ud_op_config_get(struct ud_conn *c, const struct uwire_frame *f)
{
	struct ud_daemon *d = c->loop->d;
	char sec[UADM_SECTION_MAX + 1];
	struct uadm_wbuf w, err;
	struct uadm_rbuf r;
	enum ud_scope scope = UD_SCOPE_MAIN;
	const char *name = "";
	size_t count_at;
	uint32_t n = 0;

	uadm_rbuf_init(&r, f->value, f->hdr.vlen);
	uadm_r_str(&r, sec, UADM_SECTION_MAX);
	uadm_wbuf_init(&err);
	if (uadm_r_end(&r) < 0 || (sec[0] && parse_section(sec, &scope, &name) < 0)) {
		ud_text(&err, "bad section '%s': expected utmemd, tenant NAME or pool NAME", sec);
		ud_reply_text(c, &f->hdr, UWIRE_S_INVALID, &err);
		return;
	}
	uadm_wbuf_init(&w);
	count_at = w.len;
	uadm_w_u32(&w, 0);
	if (!sec[0] || scope == UD_SCOPE_MAIN)
		put_section(d, &w, UD_SCOPE_MAIN, "", &d->cfg, &d->boot, &n);
	for (size_t i = 0; i < d->cfg.ntenants; i++)
		if (!sec[0] || (scope == UD_SCOPE_TENANT && strcmp(name, d->cfg.tenants[i].name) == 0))
			put_section(d, &w, UD_SCOPE_TENANT, d->cfg.tenants[i].name,
				    &d->cfg.tenants[i], &d->boot, &n);
	for (size_t i = 0; i < d->cfg.npools; i++)
		if (!sec[0] || (scope == UD_SCOPE_POOL && strcmp(name, d->cfg.pools[i].name) == 0))
			put_section(d, &w, UD_SCOPE_POOL, d->cfg.pools[i].name,
				    &d->cfg.pools[i], &d->boot, &n);
	if (sec[0] && n == 0) {
		uadm_wbuf_free(&w);
		ud_text(&err, "no %s named '%s'", ud_scope_name(scope), name);
		ud_reply_text(c, &f->hdr, UWIRE_S_NOTFOUND, &err);
		return;
	}
	uadm_wbuf_free(&err);
	if (!w.err)
		uwire_put_u32(w.data + count_at, n);
	if (w.err) {
		uadm_wbuf_free(&w);
		ud_reply(c, &f->hdr, UWIRE_S_NOMEM, 0, NULL, 0);
		return;
	}
	ud_reply(c, &f->hdr, UWIRE_S_OK, 0, w.data, w.len);
	uadm_wbuf_free(&w);
}

/* ---- CONFIG_SET ---- */

int ud_cfg_set(struct ud_daemon *d, const char *section, unsigned flags,
	       size_t n, const char *const *keys, const char *const *values,
	       struct uadm_wbuf *rep)
{
	char msg[UADM_MSG_MAX];
	struct ud_cfg next;
	enum ud_scope scope;
	const char *name;
	void *rec = NULL;
	int created = 0, line, err;

	if (parse_section(section, &scope, &name) < 0) {
		ud_text(rep, "bad section '%s': expected utmemd, tenant NAME or pool NAME (NAME: " UNAME_RULE ")\n",
			section);
		return -EINVAL;
	}
	if (ud_cfg_copy(&next, &d->cfg) < 0) {
		ud_text(rep, "out of memory\n");
		return -ENOMEM;
	}
	if (scope == UD_SCOPE_MAIN) {
		rec = &next;
	} else if (scope == UD_SCOPE_TENANT) {
		rec = ud_cfg_find_tenant(&next, name);
		if (!rec && (flags & UADM_F_CREATE)) {
			rec = ud_cfg_add_tenant(&next, name);
			created = 1;
		}
	} else {
		rec = ud_cfg_find_pool(&next, name);
		if (!rec && (flags & UADM_F_CREATE)) {
			rec = ud_cfg_add_pool(&next, name);
			created = 1;
		}
	}
	err = 0;
	if (!rec && (flags & UADM_F_CREATE) && scope != UD_SCOPE_MAIN) {
		ud_text(rep, "out of memory\n");
		err = -ENOMEM;
	} else if (!rec) {
		ud_text(rep, "no %s named '%s'\n", scope == UD_SCOPE_POOL ? "shared pool" : "tenant", name);
		err = -ENOENT;
	} else if ((flags & UADM_F_CREATE) && !created) {
		ud_text(rep, scope == UD_SCOPE_MAIN ? "[utmemd] always exists\n"
						    : "%s '%s' exists\n",
			ud_scope_name(scope), name);
		err = scope == UD_SCOPE_MAIN ? -EINVAL : -EEXIST;
	}
	for (size_t i = 0; !err && i < n; i++) {
		const struct ud_setting *s = ud_setting_find(scope, keys[i]);
		const struct ud_setting *twice = ud_setting_repeated(scope, keys, i);

		/* As in a file: a key given twice is a mistake, not "the last". */
		if (twice) {
			ud_text(rep, "'%s' given twice\n", twice->key);
			err = -EINVAL;
			break;
		}
		if (s && (s->flags & UD_SF_CREATE) && !created) {
			/* What utmemctl calls it: tenant remove/add, pool destroy/create. */
			ud_text(rep, "%s '%s': '%s' is set when it is created; %s it again to change it\n",
				ud_scope_name(scope), name, s->key,
				scope == UD_SCOPE_POOL ? "destroy and create" : "remove and add");
			err = -EINVAL;
			break;
		}
		err = ud_setting_parse(scope, rec, keys[i], values[i], msg, sizeof(msg));
		if (err) {
			ud_text(rep, "%s\n", msg);
			err = -EINVAL;
		}
	}
	/* The run directory in use stays; only what a saved file says changes. */
	memcpy(next.run_dir, d->cfg.run_dir, sizeof(next.run_dir));
	if (!err && ud_cfg_check(&next, &line, msg, sizeof(msg)) < 0) {
		ud_text(rep, "%s\n", msg);
		err = -EINVAL;
	}
	if (err) {
		ud_cfg_free(&next);
		return err;
	}
	err = ud_cfg_commit(d, &next, 0, flags, rep);
	if (!err)
		d->cfg_unsaved = 1;
	return err;
}

void ud_op_config_set(struct ud_conn *c, const struct uwire_frame *f)
{
	struct ud_daemon *d = c->loop->d;
	char sec[UADM_SECTION_MAX + 1];
	char (*keys)[UADM_KEY_MAX + 1] = NULL;
	char (*vals)[UADM_VALUE_MAX + 1] = NULL;
	const char *kp[CFG_SET_MAX_PAIRS], *vp[CFG_SET_MAX_PAIRS];
	struct uadm_wbuf rep;
	struct uadm_rbuf r;
	uint32_t flags, n;
	int err;

	uadm_wbuf_init(&rep);
	uadm_rbuf_init(&r, f->value, f->hdr.vlen);
	flags = uadm_r_u32(&r);
	uadm_r_str(&r, sec, UADM_SECTION_MAX);
	n = uadm_r_u32(&r);
	if (r.err || n > CFG_SET_MAX_PAIRS || (flags & ~UADM_F_ALL_)) {
		ud_text(&rep, "malformed CONFIG_SET record");
		ud_reply_text(c, &f->hdr, UWIRE_S_INVALID, &rep);
		return;
	}
	keys = calloc(n ? n : 1, sizeof(*keys));
	vals = calloc(n ? n : 1, sizeof(*vals));
	if (!keys || !vals) {
		free(keys);
		free(vals);
		ud_text(&rep, "out of memory");
		ud_reply_text(c, &f->hdr, UWIRE_S_NOMEM, &rep);
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		uadm_r_str(&r, keys[i], UADM_KEY_MAX);
		uadm_r_str(&r, vals[i], UADM_VALUE_MAX);
		kp[i] = keys[i];
		vp[i] = vals[i];
	}
	if (uadm_r_end(&r) < 0) {
		ud_text(&rep, "malformed CONFIG_SET record");
		err = -EINVAL;
	} else {
		d->store_later = 1;
		err = ud_cfg_set(d, sec, flags, n, kp, vp, &rep);
		d->store_later = 0;
	}
	free(keys);
	free(vals);
	ud_admin_reply_cfg(c, &f->hdr, err, &rep);
}

/* ---- CONFIG_SAVE ---- */

/*
 * Write d->cfg to path: a temporary file next to it, read back and checked
 * with the same reader utmemd starts with, then renamed over path; the
 * previous file is kept as path.bak. Returns 0 or -errno, text in rep.
 */
static int save_to(struct ud_daemon *d, const char *path, struct uadm_wbuf *rep)
{
	char tmp[4200], bak[4200], msg[UADM_MSG_MAX];
	struct ud_cfg back;
	struct stat sb;
	mode_t mode = 0600;
	FILE *f;
	int fd, err;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid()) >= (int)sizeof(tmp) ||
	    snprintf(bak, sizeof(bak), "%s.bak", path) >= (int)sizeof(bak)) {
		ud_text(rep, "path too long: %s\n", path);
		return -ENAMETOOLONG;
	}
	if (stat(path, &sb) == 0) {
		if (!S_ISREG(sb.st_mode)) {
			ud_text(rep, "%s is not a regular file\n", path);
			return -EINVAL;
		}
		mode = sb.st_mode & 0777;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0) {
		err = -errno;
		ud_text(rep, "cannot write %s: %s\n", tmp, strerror(-err));
		return err;
	}
	f = fdopen(fd, "w");
	if (!f) {
		err = -errno;
		close(fd);
		unlink(tmp);
		ud_text(rep, "cannot write %s: %s\n", tmp, strerror(-err));
		return err;
	}
	err = ud_cfg_write(&d->cfg, f);
	if (!err && fsync(fileno(f)) < 0)
		err = -errno;
	if (fclose(f) != 0 && !err)
		err = -errno;
	if (err) {
		unlink(tmp);
		ud_text(rep, "cannot write %s: %s\n", tmp, strerror(-err));
		return err;
	}
	/* What utmemd would read at the next start must be what runs now. */
	err = ud_cfg_load(&back, tmp, NULL, msg, sizeof(msg));
	if (err) {
		unlink(tmp);
		ud_text(rep, "the file written does not read back (nothing saved): %s\n", msg);
		return -EIO;
	}
	ud_cfg_free(&back);
	unlink(bak);
	if (link(path, bak) < 0 && errno != ENOENT) {
		err = -errno;
		unlink(tmp);
		ud_text(rep, "cannot keep the previous file as %s: %s\n", bak, strerror(-err));
		return err;
	}
	if (rename(tmp, path) < 0) {
		err = -errno;
		unlink(tmp);
		ud_text(rep, "cannot replace %s: %s\n", path, strerror(-err));
		return err;
	}
	ud_text(rep, "wrote %s (%zu tenant%s, %zu shared pool%s)%s\n", path,
		d->cfg.ntenants, UADM_PLURAL(d->cfg.ntenants), d->cfg.npools,
		UADM_PLURAL(d->cfg.npools),
		access(bak, F_OK) == 0 ? "; the previous file is kept as .bak" : "");
	return 0;
}

void ud_op_config_save(struct ud_conn *c, const struct uwire_frame *f)
{
	struct ud_daemon *d = c->loop->d;
	char path[UADM_VALUE_MAX + 1];
	struct uadm_wbuf rep;
	struct uadm_rbuf r;
	int err;

	uadm_wbuf_init(&rep);
	uadm_rbuf_init(&r, f->value, f->hdr.vlen);
	uadm_r_str(&r, path, UADM_VALUE_MAX);
	if (uadm_r_end(&r) < 0) {
		ud_text(&rep, "malformed CONFIG_SAVE record");
		ud_reply_text(c, &f->hdr, UWIRE_S_INVALID, &rep);
		return;
	}
	if (!path[0] && !d->cfg.path[0]) {
		ud_text(&rep, "utmemd was started without -c FILE: give a path to save to");
		ud_reply_text(c, &f->hdr, UWIRE_S_NOTFOUND, &rep);
		return;
	}
	if (path[0] && (path[0] != '/' || strlen(path) >= sizeof(d->cfg.path))) {
		ud_text(&rep, "'%s': give an absolute path (at most %zu bytes)", path,
			sizeof(d->cfg.path) - 1);
		ud_reply_text(c, &f->hdr, UWIRE_S_INVALID, &rep);
		return;
	}
	if (!path[0])
		snprintf(path, sizeof(path), "%s", d->cfg.path);
	err = save_to(d, path, &rep);
	if (!err) {
		if (!d->cfg.path[0]) {
			/* From now on, reload and SIGHUP read the file just written. */
			memcpy(d->cfg.path, path, strlen(path) + 1);
			ud_text(&rep, "utmemd now reloads from %s\n", path);
		}
		if (strcmp(path, d->cfg.path) == 0)
			d->cfg_unsaved = 0;
		log_lines(&rep);
	}
	ud_reply_text(c, &f->hdr, ud_status(err), &rep);
}

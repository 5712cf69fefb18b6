/*
 * persist.c — keeping persistent pools across a restart (`persist = FILE`,
 * off by default): utmemd saves every persistent pool, private and shared,
 * on SIGTERM and when asked (utmemctl save), and restores them at start,
 * before any client is served. Ephemeral pools are not saved: the host may
 * drop them at any time anyway.
 *
 * The file (little-endian, docs/operations.md "Persistence"):
 *
 *   header  "UTMEMPS1", u32 version (1), u32 flags (0), u64 unix time, u64 0
 *   POOL    u8 1, u8 kind (0 persistent private, 2 shared), u16 tlen,
 *           u16 nlen, owner tenant (private; "" shared), pool name
 *   ENTRY   u8 2, u16 tlen, u16 klen, u32 vlen, tenant charged ("" = the
 *           pool's owner), key, value; belongs to the last POOL
 *   END     u8 3, u64 pools, u64 entries, u64 value bytes
 *   trailer u64 XXH3-64 of every byte before it
 *
 * Saving writes FILE.tmpPID, fsyncs it and renames it over FILE, so a crash
 * mid-save leaves the previous file. Restoring is never partial: a first
 * pass reads the whole file and checks its structure, every bound (names,
 * key and value lengths against this utmemd's limits), that every tenant
 * and shared pool it names is configured, the counts and the checksum;
 * only then a second pass puts the entries into the store, re-hashing as it
 * goes. If that pass fails (the file changed, a quota or the capacity is
 * too small) every pool it touched is emptied again (private ones it
 * created are destroyed) and utmemd does not start. A corrupt or truncated
 * file is refused with what is wrong and where; it is never overwritten by
 * a failed start.
 *
 * Save reads the store one lock stripe at a time into memory and writes
 * between stripes, so no file I/O happens under a store lock. A save while
 * clients write is consistent per entry, not across entries; the save at
 * SIGTERM runs after the workers stopped. Main thread only.
 */
#include "daemon/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define PS_MAGIC "UTMEMPS1"
#define PS_VERSION 1u
#define PS_HEADER 32u
#define PS_FLUSH (1u << 20) /* write the buffer out past this, between stripes */

enum { PS_POOL = 1, PS_ENTRY = 2, PS_END = 3 };

/* ---- saving ---- */

struct ps_writer {
	int fd;
	XXH3_state_t *h;
	uint8_t *buf;
	size_t len, cap;
	int err;
	uint64_t entries, bytes, pools;
	/* tenant id -> name, for entries of shared pools */
	const struct ust_tenant_info *ti;
	int nt;
	uint32_t owner; /* the current pool's owner (0: shared) */
};

static void w_bytes(struct ps_writer *w, const void *p, size_t n)
{
	if (w->err)
		return;
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : (1u << 16);
		uint8_t *b;
		while (cap < w->len + n)
			cap *= 2;
		b = realloc(w->buf, cap);
		if (!b) {
			w->err = -ENOMEM;
			return;
		}
		w->buf = b;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void w_u8(struct ps_writer *w, uint8_t v) { w_bytes(w, &v, 1); }

static void w_u16(struct ps_writer *w, uint16_t v)
{
	uint8_t b[2];
	uwire_put_u16(b, v);
	w_bytes(w, b, 2);
}

static void w_u32(struct ps_writer *w, uint32_t v)
{
	uint8_t b[4];
	uwire_put_u32(b, v);
	w_bytes(w, b, 4);
}

static void w_u64(struct ps_writer *w, uint64_t v)
{
	uint8_t b[8];
	uwire_put_u64(b, v);
	w_bytes(w, b, 8);
}

/* Hash and write out what is buffered. Never called under a store lock. */
static void w_flush(struct ps_writer *w)
{
	size_t off = 0;

	if (w->err || !w->len)
		return;
	XXH3_64bits_update(w->h, w->buf, w->len);
	while (off < w->len) {
		ssize_t n = write(w->fd, w->buf + off, w->len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			w->err = -errno;
			return;
		}
		off += (size_t)n;
	}
	w->len = 0;
}

static const char *name_of(const struct ps_writer *w, uint32_t id)
{
	for (int i = 0; i < w->nt; i++)
		if (w->ti[i].id == id)
			return w->ti[i].name;
	return NULL;
}

/* Store visitor: one ENTRY record into memory (the stripe is locked). */
static int save_entry(void *ctx, uint32_t tenant, const void *key, size_t klen,
		      const void *val, size_t vlen)
{
	struct ps_writer *w = ctx;
	const char *t = "";

	if (w->owner == 0) {
		t = name_of(w, tenant);
		if (!t)
			return 0; /* its tenant is being removed: so is the entry */
	}
	w_u8(w, PS_ENTRY);
	w_u16(w, (uint16_t)strlen(t));
	w_u16(w, (uint16_t)klen);
	w_u32(w, (uint32_t)vlen);
	w_bytes(w, t, strlen(t));
	w_bytes(w, key, klen);
	w_bytes(w, val, vlen);
	w->entries++;
	w->bytes += vlen;
	return w->err;
}

static int save_pool(struct ud_daemon *d, struct ps_writer *w,
		     const struct ust_pool_info *p)
{
	int shared = (p->kind & UST_POOL_SHARED) != 0;
	const char *owner = shared ? "" : name_of(w, p->owner);

	if (!owner)
		return 0;
	w->owner = shared ? 0 : p->owner;
	w_u8(w, PS_POOL);
	w_u8(w, shared ? 2 : 0);
	w_u16(w, (uint16_t)strlen(owner));
	w_u16(w, (uint16_t)strlen(p->name));
	w_bytes(w, owner, strlen(owner));
	w_bytes(w, p->name, strlen(p->name));
	w->pools++;
	for (unsigned s = 0; s < ust_stripes(d->st) && !w->err; s++) {
		int err = ust_pool_visit(d->st, p->id, s, save_entry, w);
		if (err == -EBADF) /* destroyed meanwhile: its entries are gone */
			break;
		if (err < 0 && !w->err)
			w->err = err;
		if (w->len >= PS_FLUSH)
			w_flush(w);
	}
	return w->err;
}

int ud_persist_path(const struct ud_daemon *d, char *out, size_t len)
{
	int n = d->cfg.persist[0] == '/'
			? snprintf(out, len, "%s", d->cfg.persist)
			: snprintf(out, len, "%s/%s", d->cfg.run_dir, d->cfg.persist);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* fsync the directory holding path, so the rename is on disk. */
static void sync_dir(const char *path)
{
	char dir[4200];
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

int ud_persist_save(struct ud_daemon *d, struct uadm_wbuf *rep)
{
	struct ps_writer w = {.fd = -1};
	struct ust_tenant_info *ti = NULL;
	struct ust_pool_info *pi = NULL;
	char path[4200], tmp[4300], a[32];
	uint64_t t0 = umono_ns(), sum;
	int np = 0, nt = 0, err;

	if (!d->cfg.persist[0]) {
		ud_text(rep, "persistence is off (set persist = FILE)\n");
		return -ENOENT;
	}
	if (ud_persist_path(d, path, sizeof(path)) < 0) {
		ud_text(rep, "persist path too long\n");
		return -ENAMETOOLONG;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());
	nt = ud_list_tenants(d, &ti);
	np = ud_list_pools(d, &pi);
	w.h = XXH3_createState();
	if (nt < 0 || np < 0 || !w.h || XXH3_64bits_reset(w.h) == XXH_ERROR) {
		err = -ENOMEM;
		ud_text(rep, "saving: out of memory\n");
		goto out;
	}
	w.ti = ti;
	w.nt = nt;
	w.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (w.fd < 0) {
		err = -errno;
		ud_text(rep, "cannot write %s: %s\n", tmp, strerror(-err));
		goto out;
	}
	w_bytes(&w, PS_MAGIC, 8);
	w_u32(&w, PS_VERSION);
	w_u32(&w, 0);
	w_u64(&w, (uint64_t)time(NULL));
	w_u64(&w, 0);
	for (int i = 0; i < np && !w.err; i++)
		if (!(pi[i].kind & UST_POOL_EPHEMERAL))
			save_pool(d, &w, &pi[i]);
	w_u8(&w, PS_END);
	w_u64(&w, w.pools);
	w_u64(&w, w.entries);
	w_u64(&w, w.bytes);
	w_flush(&w);
	if (!w.err) {
		uint8_t b[8];
		sum = XXH3_64bits_digest(w.h);
		uwire_put_u64(b, sum);
		if (write(w.fd, b, 8) != 8)
			w.err = -EIO;
	}
	if (!w.err && fsync(w.fd) < 0)
		w.err = -errno;
	if (close(w.fd) < 0 && !w.err)
		w.err = -errno;
	w.fd = -1;
	err = w.err;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err) {
		unlink(tmp);
		ud_text(rep, "saving to %s failed: %s (the previous file, if any, is kept)\n",
			path, strerror(-err));
		goto out;
	}
	sync_dir(path);
	d->last_save_ns = umono_ns();
	ud_text(rep, "saved %llu persistent pools, %llu entries (%s of values) to %s in %llu ms\n",
		(unsigned long long)w.pools, (unsigned long long)w.entries,
		ud_human(w.bytes, a), path,
		(unsigned long long)((umono_ns() - t0) / 1000000u));
out:
	if (w.fd >= 0) {
		close(w.fd);
		unlink(tmp);
	}
	if (w.h)
		XXH3_freeState(w.h);
	free(w.buf);
	free(ti);
	free(pi);
	return err;
}

/* ---- restoring ---- */

struct ps_reader {
	FILE *f;
	XXH3_state_t *h;
	uint64_t off;  /* bytes read and checked so far */
	uint64_t size; /* of the file */
	int truncated;
};

/* Read exactly n bytes, hashed. Returns 0, or -1 at a short read. */
static int r_bytes(struct ps_reader *r, void *p, size_t n)
{
	if (n && fread(p, 1, n, r->f) != n) {
		r->truncated = 1;
		return -1;
	}
	XXH3_64bits_update(r->h, p, n);
	r->off += n;
	return 0;
}

static int r_u8(struct ps_reader *r, uint8_t *v) { return r_bytes(r, v, 1); }

static int r_u16(struct ps_reader *r, uint16_t *v)
{
	uint8_t b[2];
	if (r_bytes(r, b, 2) < 0)
		return -1;
	*v = uwire_get_u16(b);
	return 0;
}

static int r_u32(struct ps_reader *r, uint32_t *v)
{
	uint8_t b[4];
	if (r_bytes(r, b, 4) < 0)
		return -1;
	*v = uwire_get_u32(b);
	return 0;
}

static int r_u64(struct ps_reader *r, uint64_t *v)
{
	uint8_t b[8];
	if (r_bytes(r, b, 8) < 0)
		return -1;
	*v = uwire_get_u64(b);
	return 0;
}

/* A name field of n bytes (0..63, [A-Za-z0-9._-]; "" allowed if empty_ok). */
static int r_name(struct ps_reader *r, uint16_t n, char out[UST_NAME_MAX + 1],
		  int empty_ok)
{
	if (n > UST_NAME_MAX || (!n && !empty_ok))
		return -2;
	if (r_bytes(r, out, n) < 0)
		return -1;
	out[n] = '\0';
	return n && !ud_valid_name(out) ? -2 : 0;
}

/* What one pass does with the records it reads. */
struct ps_pass {
	struct ud_daemon *d;
	int apply;           /* 0: check only; 1: put into the store */
	char *msg;
	size_t msglen;
	/* current pool */
	char owner[UST_NAME_MAX + 1], pool[UST_NAME_MAX + 1];
	int shared, in_pool;
	uint32_t pool_id, owner_id;
	/* totals */
	uint64_t pools, entries, bytes;
	/* pass 2: pools it touched, to empty again on failure */
	uint32_t *touched;
	uint8_t *created;
	size_t ntouched, cap;
	uint8_t *val;
	size_t valcap;
};

static int fail_at(struct ps_pass *p, struct ps_reader *r, const char *what)
{
	if (r->truncated)
		snprintf(p->msg, p->msglen, "truncated at byte %llu: %s (from byte %llu) is cut",
			 (unsigned long long)r->size, what, (unsigned long long)r->off);
	else
		snprintf(p->msg, p->msglen, "corrupt at byte %llu: %s",
			 (unsigned long long)r->off, what);
	return -EINVAL;
}

static int remember(struct ps_pass *p, uint32_t id, int created)
{
	if (p->ntouched == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 16;
		uint32_t *t = realloc(p->touched, cap * sizeof(*t));
		uint8_t *c;
		if (!t)
			return -ENOMEM;
		p->touched = t;
		c = realloc(p->created, cap);
		if (!c)
			return -ENOMEM;
		p->created = c;
		p->cap = cap;
	}
	p->touched[p->ntouched] = id;
	p->created[p->ntouched++] = (uint8_t)created;
	return 0;
}

static int pool_record(struct ps_pass *p, struct ps_reader *r)
{
	struct ud_daemon *d = p->d;
	const struct ud_cfg_pool *cp;
	uint8_t kind;
	uint16_t tl, nl;
	int e;

	if (r_u8(r, &kind) < 0 || r_u16(r, &tl) < 0 || r_u16(r, &nl) < 0)
		return fail_at(p, r, "pool record");
	if (kind != 0 && kind != 2)
		return fail_at(p, r, "pool kind is not persistent");
	p->shared = kind == 2;
	if ((e = r_name(r, tl, p->owner, p->shared)) < 0 ||
	    (p->shared && tl) || (e = r_name(r, nl, p->pool, 0)) < 0)
		return fail_at(p, r, e == -1 ? "pool record" : "bad tenant or pool name");
	p->in_pool = 1;
	p->pools++;
	if (p->shared) {
		cp = ud_cfg_find_pool(&d->cfg, p->pool);
		if (!cp || (cp->kind & UST_POOL_EPHEMERAL)) {
			snprintf(p->msg, p->msglen,
				 "it holds shared pool '%s', which the configuration does not have as a persistent pool",
				 p->pool);
			return -ENOENT;
		}
		p->owner_id = 0;
	} else {
		struct ud_tenant *t = ud_tenant_by_name(d, p->owner);
		if (!t) {
			snprintf(p->msg, p->msglen,
				 "it holds pool '%s' of tenant '%s', which the configuration does not have",
				 p->pool, p->owner);
			return -ENOENT;
		}
		p->owner_id = t->id;
	}
	if (!p->apply)
		return 0;
	if (p->shared) {
		e = ud_shared_pool_id(d, p->pool, &p->pool_id);
		if (!e)
			e = remember(p, p->pool_id, 0);
	} else {
		/* A pool this pass creates is destroyed again on failure;
		 * one that existed before is only emptied. */
		int existed = ust_pool_open(d->st, p->owner_id, p->pool,
					    UST_POOL_PERSISTENT, 0, &p->pool_id) == 0;
		e = existed ? 0
			    : ust_pool_open(d->st, p->owner_id, p->pool,
					    UST_POOL_PERSISTENT, UST_OPEN_CREATE,
					    &p->pool_id);
		if (!e)
			e = remember(p, p->pool_id, !existed);
	}
	if (e) {
		snprintf(p->msg, p->msglen, "pool '%s': %s", p->pool, strerror(-e));
		return e;
	}
	return 0;
}

static int entry_record(struct ps_pass *p, struct ps_reader *r)
{
	struct ud_daemon *d = p->d;
	char tname[UST_NAME_MAX + 1];
	uint8_t key[UINT16_MAX + 1]; /* kl is a u16 */
	uint16_t tl, kl;
	uint32_t vl, tid;
	int e;

	if (!p->in_pool)
		return fail_at(p, r, "an entry before any pool");
	if (r_u16(r, &tl) < 0 || r_u16(r, &kl) < 0 || r_u32(r, &vl) < 0)
		return fail_at(p, r, "entry record");
	if ((e = r_name(r, tl, tname, 1)) < 0)
		return fail_at(p, r, e == -1 ? "entry record" : "bad tenant name");
	if (kl > d->lim.max_key || vl > d->lim.max_value) {
		snprintf(p->msg, p->msglen,
			 "an entry of pool '%s' has a %u-byte key and a %u-byte value: this utmemd takes at most %u and %u (max_key, max_value)",
			 p->pool, (unsigned)kl, (unsigned)vl, (unsigned)d->lim.max_key,
			 (unsigned)d->lim.max_value);
		return -EMSGSIZE;
	}
	if (vl > p->valcap) {
		uint8_t *v = realloc(p->val, vl);
		if (!v) {
			snprintf(p->msg, p->msglen, "out of memory");
			return -ENOMEM;
		}
		p->val = v;
		p->valcap = vl;
	}
	if (r_bytes(r, key, kl) < 0 || r_bytes(r, p->val, vl) < 0)
		return fail_at(p, r, "entry data");
	if (p->shared && !tl)
		return fail_at(p, r, "an entry of a shared pool without its tenant");
	if (!p->shared && tl)
		return fail_at(p, r, "an entry of a private pool naming a tenant");
	tid = p->owner_id;
	if (tl) {
		struct ud_tenant *t = ud_tenant_by_name(d, tname);
		const struct ud_cfg_pool *cp = ud_cfg_find_pool(&d->cfg, p->pool);
		int granted = 0;
		for (size_t i = 0; cp && i < cp->ntenants; i++)
			granted |= strcmp(cp->tenants[i], tname) == 0;
		if (!t || !granted) {
			snprintf(p->msg, p->msglen,
				 "it holds entries of tenant '%s' in shared pool '%s', which the configuration does not grant",
				 tname, p->pool);
			return -ENOENT;
		}
		tid = t->id;
	}
	p->entries++;
	p->bytes += vl;
	if (!p->apply)
		return 0;
	e = ust_put(d->st, tid, p->pool_id, key, kl, p->val, vl);
	if (e) {
		snprintf(p->msg, p->msglen, "entry %llu (pool '%s'): %s",
			 (unsigned long long)p->entries, p->pool,
			 e == -EDQUOT ? "the tenant's max is too small for what was saved"
			 : e == -ENOSPC ? "the capacity is too small for what was saved"
					: strerror(-e));
		return e;
	}
	return 0;
}

/* One pass over the file. Returns 0 or -errno with p->msg set. */
static int read_pass(struct ps_pass *p, const char *path)
{
	struct ps_reader r = {0};
	uint8_t hdr[PS_HEADER], type, trail[8];
	struct stat sb;
	uint64_t n[3];
	uint32_t version;
	int err = 0, c;

	r.f = fopen(path, "re");
	if (!r.f) {
		snprintf(p->msg, p->msglen, "cannot open: %s", strerror(errno));
		return -errno;
	}
	if (fstat(fileno(r.f), &sb) < 0 || !S_ISREG(sb.st_mode)) {
		fclose(r.f);
		snprintf(p->msg, p->msglen, "not a regular file");
		return -EINVAL;
	}
	r.size = (uint64_t)sb.st_size;
	r.h = XXH3_createState();
	if (!r.h || XXH3_64bits_reset(r.h) == XXH_ERROR) {
		fclose(r.f);
		XXH3_freeState(r.h);
		snprintf(p->msg, p->msglen, "out of memory");
		return -ENOMEM;
	}
	if (r_bytes(&r, hdr, PS_HEADER) < 0 || memcmp(hdr, PS_MAGIC, 8) != 0) {
		snprintf(p->msg, p->msglen, "not a utmem pool file (no %s header)", PS_MAGIC);
		err = -EINVAL;
		goto out;
	}
	version = uwire_get_u32(hdr + 8);
	if (version != PS_VERSION) {
		snprintf(p->msg, p->msglen, "format version %u; this utmemd reads version %u",
			 version, PS_VERSION);
		err = -EINVAL;
		goto out;
	}
	for (;;) {
		if (r_u8(&r, &type) < 0) {
			err = fail_at(p, &r, "the file ends before its END record; a record");
			goto out;
		}
		if (type == PS_POOL)
			err = pool_record(p, &r);
		else if (type == PS_ENTRY)
			err = entry_record(p, &r);
		else if (type == PS_END)
			break;
		else
			err = fail_at(p, &r, "unknown record type");
		if (err)
			goto out;
	}
	if (r_u64(&r, &n[0]) < 0 || r_u64(&r, &n[1]) < 0 || r_u64(&r, &n[2]) < 0) {
		err = fail_at(p, &r, "END record");
		goto out;
	}
	if (n[0] != p->pools || n[1] != p->entries || n[2] != p->bytes) {
		err = fail_at(p, &r, "the END record's counts do not match the records");
		goto out;
	}
	if (fread(trail, 1, 8, r.f) != 8) {
		r.truncated = 1;
		err = fail_at(p, &r, "the checksum");
		goto out;
	}
	if (uwire_get_u64(trail) != XXH3_64bits_digest(r.h)) {
		snprintf(p->msg, p->msglen, "checksum mismatch: the file is corrupt");
		err = -EINVAL;
		goto out;
	}
	if ((c = fgetc(r.f)) != EOF) {
		snprintf(p->msg, p->msglen, "corrupt: bytes after the checksum");
		err = -EINVAL;
	}
out:
	XXH3_freeState(r.h);
	fclose(r.f);
	return err;
}

/* Undo pass 2: empty every pool it touched, destroy the ones it created. */
static void roll_back(struct ps_pass *p)
{
	for (size_t i = 0; i < p->ntouched; i++) {
		if (p->created[i])
			ust_pool_destroy(p->d->st, UST_TENANT_ADMIN, p->touched[i]);
		else
			ust_pool_flush(p->d->st, UST_TENANT_ADMIN, p->touched[i]);
	}
}

int ud_persist_restore(struct ud_daemon *d, char *msg, size_t msglen)
{
	struct ps_pass chk = {.d = d, .apply = 0}, app = {.d = d, .apply = 1};
	char path[4200], why[512] = "", a[32];
	uint64_t t0 = umono_ns();
	struct stat sb;
	int err;

	if (!d->cfg.persist[0]) {
		ud_info("persistence is off: persistent pools start empty (persist = FILE keeps them across restarts)");
		return 0;
	}
	if (ud_persist_path(d, path, sizeof(path)) < 0) {
		snprintf(msg, msglen, "persist path too long");
		return -ENAMETOOLONG;
	}
	if (stat(path, &sb) < 0 && errno == ENOENT) {
		ud_info("no saved pools at %s yet: persistent pools start empty", path);
		return 0;
	}
	chk.msg = app.msg = why;
	chk.msglen = app.msglen = sizeof(why);
	err = read_pass(&chk, path);
	if (!err) {
		err = read_pass(&app, path);
		if (err)
			roll_back(&app);
	}
	free(app.touched);
	free(app.created);
	free(app.val);
	free(chk.val);
	if (err) {
		snprintf(msg, msglen,
			 "%s: %s; nothing was restored (move the file away to start without it)",
			 path, why);
		return err;
	}
	ud_info("restored %llu persistent pools, %llu entries (%s of values) from %s in %llu ms",
		(unsigned long long)app.pools, (unsigned long long)app.entries,
		ud_human(app.bytes, a), path,
		(unsigned long long)((umono_ns() - t0) / 1000000u));
	return 0;
}

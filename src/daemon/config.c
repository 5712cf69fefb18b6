/*
 * config.c — utmemd's configuration records: the embedded default, the
 * strict INI reader, the checks across values, and the writer that saves a
 * running configuration back to a file (docs/operations.md has the
 * reference, docs/utmemd.example.ini an example). Every key is parsed by the
 * settings table (settings.c), the same code the admin protocol and
 * utmemctl use.
 *
 * The reader is line by line (parse_line): "[section]", "key = value"
 * (or "key: value"), comments from ';' or '#' at the start of a line or
 * ';' after a blank, blank lines; leading blanks never continue a line.
 * Lines are up to UD_CFG_LINE_MAX bytes, enough for the longest value a
 * setting takes, so a saved config always reads back. Every problem stops
 * the parse with one message "FILE:LINE: what is wrong".
 */
#include "daemon/daemon.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/names.h"
#include "proto/name.h"
#include "transport/ring.h"

#define DEFAULT_RUN_DIR "./run/utmem"
#define DEFAULT_MAX_KEY 1024u
#define DEFAULT_MAX_VALUE (64u << 20)
#define DEFAULT_MODE 0660u
/* Connection timeouts in seconds and the pre-auth TCP cap (security.md). */
#define DEFAULT_IDLE_TIMEOUT 600u
#define DEFAULT_CLIENT_TIMEOUT 60u
#define DEFAULT_FRAME_TIMEOUT 30u
#define DEFAULT_AUTH_TIMEOUT 5u
#define DEFAULT_MAX_UNAUTH 64u

struct parse {
	struct ud_cfg *cfg;
	const char *path;
	FILE *f;
	int line;
	int failed;
	char *msg;
	size_t msglen;
	enum ud_scope sec;
	int in_section;
	int seen_main;
	/* The sections seen: their names (owned copies) -> their lines. */
	struct ud_names tenants, pools;
};

/*
 * Note section NAME of p's file at this line; 1 if it came before (*first
 * gets that line), 0, or -ENOMEM.
 */
static int section_seen(struct parse *p, struct ud_names *m, const char *name,
			int *first)
{
	char *key = strdup(name);
	void *old;
	int r;

	if (!key)
		return -ENOMEM;
	r = ud_names_put(m, key, (void *)(intptr_t)p->line, &old);
	if (r != 0)
		free(key);
	if (r == 1)
		*first = (int)(intptr_t)old;
	return r;
}

static void sections_free(struct ud_names *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free((char *)m->slot[i].key);
	ud_names_free(m);
}

unsigned ud_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 65536 ? 65536 : (unsigned)n;
}

void ud_cfg_init(struct ud_cfg *cfg, const char *run_dir)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->capacity = ud_phys_mem() / 4;
	cfg->capacity_pct = 25;
	cfg->max_key = DEFAULT_MAX_KEY;
	cfg->max_value = DEFAULT_MAX_VALUE;
	cfg->workers = ud_cpus();
	if (cfg->workers > 64)
		cfg->workers = 64;
	snprintf(cfg->run_dir, sizeof(cfg->run_dir), "%s",
		 run_dir ? run_dir : DEFAULT_RUN_DIR);
	snprintf(cfg->tcp_host, sizeof(cfg->tcp_host), "127.0.0.1");
	cfg->log_level = UADM_LOG_INFO;
	cfg->ring_size = URING_DEFAULT_SIZE;
	cfg->ring_spin_us = URING_DEFAULT_SPIN_US;
	cfg->worker_slice_us = UD_DEFAULT_SLICE_US;
	snprintf(cfg->controller, sizeof(cfg->controller), "off");
	cfg->controller_interval_ms = 20;
	cfg->idle_timeout = DEFAULT_IDLE_TIMEOUT;
	cfg->client_timeout = DEFAULT_CLIENT_TIMEOUT;
	cfg->frame_timeout = DEFAULT_FRAME_TIMEOUT;
	cfg->auth_timeout = DEFAULT_AUTH_TIMEOUT;
	cfg->max_unauth = DEFAULT_MAX_UNAUTH;
}

void ud_cfg_tenant_init(struct ud_cfg_tenant *t, const char *name)
{
	size_t n = strnlen(name, UST_NAME_MAX);

	memset(t, 0, sizeof(*t));
	memcpy(t->name, name, n);
	t->weight = 1;
	t->mode = DEFAULT_MODE;
	t->uid = (uid_t)-1;
	t->gid = (gid_t)-1;
}

void ud_cfg_pool_init(struct ud_cfg_pool *p, const char *name)
{
	size_t n = strnlen(name, UST_NAME_MAX);

	memset(p, 0, sizeof(*p));
	memcpy(p->name, name, n);
}

/*
 * arr (n elements of size, room for *cap) with room for one more, doubling
 * *cap when full: a file of thousands of tenants is not copied once per
 * section. NULL when out of memory (arr is then unchanged).
 */
static void *room(void *arr, size_t *cap, size_t n, size_t size)
{
	size_t ncap = *cap ? 2 * *cap : 8;
	void *p;

	if (n < *cap)
		return arr;
	if (ncap > SIZE_MAX / size || !(p = realloc(arr, ncap * size)))
		return NULL;
	*cap = ncap;
	return p;
}

struct ud_cfg_tenant *ud_cfg_add_tenant(struct ud_cfg *cfg, const char *name)
{
	struct ud_cfg_tenant *t;

	t = room(cfg->tenants, &cfg->tenants_cap, cfg->ntenants, sizeof(*t));
	if (!t)
		return NULL;
	cfg->tenants = t;
	t = &cfg->tenants[cfg->ntenants++];
	ud_cfg_tenant_init(t, name);
	return t;
}

struct ud_cfg_pool *ud_cfg_add_pool(struct ud_cfg *cfg, const char *name)
{
	struct ud_cfg_pool *p;

	p = room(cfg->pools, &cfg->pools_cap, cfg->npools, sizeof(*p));
	if (!p)
		return NULL;
	cfg->pools = p;
	p = &cfg->pools[cfg->npools++];
	ud_cfg_pool_init(p, name);
	return p;
}

struct ud_cfg_tenant *ud_cfg_find_tenant(const struct ud_cfg *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->ntenants; i++)
		if (strcmp(cfg->tenants[i].name, name) == 0)
			return &cfg->tenants[i];
	return NULL;
}

void ud_cfg_index(const struct ud_cfg *cfg, struct ud_names *m)
{
	*m = (struct ud_names)UD_NAMES_INIT;
	for (size_t i = 0; i < cfg->ntenants; i++) {
		if (ud_names_put(m, cfg->tenants[i].name,
				 (void *)&cfg->tenants[i], NULL) < 0) {
			ud_names_free(m);
			return;
		}
	}
}

const struct ud_cfg_tenant *ud_cfg_tenant_in(const struct ud_cfg *cfg,
					     const struct ud_names *m,
					     const char *name)
{
	if (m->n < cfg->ntenants) /* no map: out of memory */
		return ud_cfg_find_tenant(cfg, name);
	return ud_names_get(m, name);
}

struct ud_cfg_pool *ud_cfg_find_pool(const struct ud_cfg *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->npools; i++)
		if (strcmp(cfg->pools[i].name, name) == 0)
			return &cfg->pools[i];
	return NULL;
}

static void names_remove(char (*list)[UST_NAME_MAX + 1], size_t *n, const char *name)
{
	for (size_t k = 0; k < *n; k++) {
		if (strcmp(list[k], name) == 0) {
			memmove(list[k], list[k + 1], (*n - k - 1) * sizeof(list[0]));
			(*n)--;
			return;
		}
	}
}

void ud_cfg_remove_tenant(struct ud_cfg *cfg, const char *name)
{
	struct ud_cfg_tenant *t = ud_cfg_find_tenant(cfg, name);

	if (t) {
		size_t i = (size_t)(t - cfg->tenants);
		memmove(t, t + 1, (cfg->ntenants - i - 1) * sizeof(*t));
		cfg->ntenants--;
	}
	for (size_t i = 0; i < cfg->npools; i++) {
		struct ud_cfg_pool *p = &cfg->pools[i];
		names_remove(p->tenants, &p->ntenants, name);
		names_remove(p->managers, &p->nmanagers, name);
	}
}

int ud_cfg_default(struct ud_cfg *cfg, const char *run_dir)
{
	ud_cfg_init(cfg, run_dir);
	if (!ud_cfg_add_tenant(cfg, "default"))
		return -ENOMEM;
	cfg->tenants[0].max = cfg->capacity;
	return 0;
}

void ud_cfg_free(struct ud_cfg *cfg)
{
	for (size_t i = 0; i < cfg->npools; i++) {
		free(cfg->pools[i].tenants);
		free(cfg->pools[i].managers);
	}
	free(cfg->pools);
	free(cfg->tenants);
	cfg->pools = NULL;
	cfg->tenants = NULL;
	cfg->npools = cfg->ntenants = 0;
	cfg->pools_cap = cfg->tenants_cap = 0;
}

static char (*names_dup(char (*src)[UST_NAME_MAX + 1], size_t n))[UST_NAME_MAX + 1]
{
	char (*d)[UST_NAME_MAX + 1] = malloc(n * sizeof(*d));

	if (d)
		memcpy(d, src, n * sizeof(*d));
	return d;
}

int ud_cfg_pool_copy(struct ud_cfg_pool *dst, const struct ud_cfg_pool *src)
{
	*dst = *src;
	dst->tenants = NULL;
	dst->managers = NULL;
	if ((src->ntenants && !(dst->tenants = names_dup(src->tenants, src->ntenants))) ||
	    (src->nmanagers && !(dst->managers = names_dup(src->managers, src->nmanagers)))) {
		free(dst->tenants);
		dst->tenants = NULL;
		dst->ntenants = dst->nmanagers = 0;
		return -ENOMEM;
	}
	return 0;
}

int ud_cfg_copy(struct ud_cfg *dst, const struct ud_cfg *src)
{
	*dst = *src;
	dst->tenants = NULL;
	dst->pools = NULL;
	dst->ntenants = dst->npools = 0;
	dst->tenants_cap = src->ntenants;
	dst->pools_cap = src->npools;
	if (src->ntenants) {
		dst->tenants = malloc(src->ntenants * sizeof(*dst->tenants));
		if (!dst->tenants)
			goto err;
		memcpy(dst->tenants, src->tenants, src->ntenants * sizeof(*dst->tenants));
		dst->ntenants = src->ntenants;
	}
	if (src->npools) {
		dst->pools = calloc(src->npools, sizeof(*dst->pools));
		if (!dst->pools)
			goto err;
		for (size_t i = 0; i < src->npools; i++) {
			if (ud_cfg_pool_copy(&dst->pools[i], &src->pools[i]) < 0)
				goto err;
			dst->npools = i + 1;
		}
	}
	return 0;
err:
	ud_cfg_free(dst);
	return -ENOMEM;
}

/* ---- checks across values ---- */

void ud_socket_name(const struct ud_cfg_tenant *t, char *out, size_t outlen)
{
	if (t->socket[0])
		snprintf(out, outlen, "%s", t->socket);
	else
		snprintf(out, outlen, "%s.sock",
			 strcmp(t->name, "default") == 0 ? "utmemd" : t->name);
}

/*
 * The file a socket name stands for, as ud_socket_path() resolves it (a
 * relative name is in the run directory; a relative run directory is in
 * the working directory), with "//" and "/./" collapsed, so that "x.sock",
 * "./x.sock" and "RUN//x.sock" compare equal. ".." is kept: through a
 * symbolic link it need not undo the name before it. A malloc'ed string,
 * or NULL when out of memory.
 */
char *ud_run_file(const char *run_dir, const char *name)
{
	char cwd[4096] = "";
	size_t cap, n = 0;
	char *raw, *out, *save = NULL;
	int len, abs;

	if (name[0] != '/' && run_dir[0] != '/' && !getcwd(cwd, sizeof(cwd)))
		cwd[0] = '\0'; /* compared as given then */
	len = name[0] == '/' ? asprintf(&raw, "%s", name)
	      : cwd[0]	     ? asprintf(&raw, "%s/%s/%s", cwd, run_dir, name)
			     : asprintf(&raw, "%s/%s", run_dir, name);
	if (len < 0)
		return NULL;
	abs = raw[0] == '/';
	cap = (size_t)len + 2;
	out = malloc(cap);
	if (!out) {
		free(raw);
		return NULL;
	}
	for (char *seg = strtok_r(raw, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
		if (strcmp(seg, ".") == 0)
			continue;
		n += (size_t)snprintf(out + n, cap - n, "%s%s",
				      n || abs ? "/" : "", seg);
	}
	if (n == 0)
		snprintf(out, cap, "%s", abs ? "/" : ".");
	free(raw);
	return out;
}

/*
 * Is the socket name, in run directory dir, too long for sun_path? Measured
 * as utmemd will bind it (ud_socket_path: RUN_DIR/NAME, the name as
 * written), where a relative dir (the default ./run/utmem, or --run-dir r)
 * has been made absolute first: it counts from the working directory.
 */
int ud_socket_too_long(const char *what, const char *dir, const char *name,
		       char *msg, size_t msglen)
{
	char *abs = name[0] == '/' || dir[0] == '/' ? NULL : ud_run_file(dir, ".");
	char full[2 * UD_PATH_MAX + 4096];
	size_t n;

	if (name[0] == '/')
		snprintf(full, sizeof(full), "%s", name);
	else
		snprintf(full, sizeof(full), "%s/%s", abs ? abs : dir, name);
	free(abs);
	n = strlen(full);
	if (n < UD_PATH_MAX)
		return 0;
	if (n <= 120)
		snprintf(msg, msglen, "%s path too long (%zu bytes, at most %d): %s",
			 what, n, UD_PATH_MAX - 1, full);
	else
		snprintf(msg, msglen, "%s path too long (%zu bytes, at most %d): %.56s...%s",
			 what, n, UD_PATH_MAX - 1, full,
			 full + strlen(full) - 56);
	return -ENAMETOOLONG;
}

/*
 * dup[i] = the first j < i with keys[j] equal to keys[i], or SIZE_MAX (also
 * for a NULL or empty key). One pass through a map: a config of thousands of
 * tenants is checked at every reload and `tenant set`, on the main loop.
 */
static int first_dups(size_t n, const char *const *keys, size_t *dup)
{
	struct ud_names m = UD_NAMES_INIT;
	int err = 0;

	for (size_t i = 0; i < n; i++) {
		void *first;
		int r;

		dup[i] = SIZE_MAX;
		if (!keys[i] || !keys[i][0])
			continue;
		r = ud_names_put(&m, keys[i], (void *)(uintptr_t)i, &first);
		if (r < 0) {
			err = r;
			break;
		}
		if (r == 1)
			dup[i] = (size_t)(uintptr_t)first;
	}
	ud_names_free(&m);
	return err;
}

/* What ud_cfg_check compares across tenants: for each, the first earlier
 * tenant with the same socket, token, vsock CID or ivshmem file. */
struct cfg_dups {
	size_t *socket, *token, *cid, *ivshmem;
	char (*sockname)[UD_PATH_MAX + 8];
	char **sockfile; /* ud_run_file() of each sockname */
	char **shmfile;  /* ud_run_file() of each ivshmem, NULL for none */
	char **bellfile; /* ud_run_file() of each ivshmem_doorbell, NULL for none */
	char *admin;     /* ud_run_file() of the admin socket */
	/* Every file utmemd makes, in one list: [0] the admin socket, then
	 * n sockets, n region files, n doorbell sockets (FILE_*); file[k]:
	 * the first earlier entry naming the same file, or SIZE_MAX. */
	size_t *file;
	size_t n;
};

enum { FILE_SOCKET = 1, FILE_REGION, FILE_BELL };

/* Entry k of cfg_dups.file: its kind (0: the admin socket) and tenant. */
static unsigned file_kind(const struct cfg_dups *x, size_t k, size_t *tenant)
{
	if (k == 0)
		return 0;
	*tenant = (k - 1) % x->n;
	return (unsigned)((k - 1) / x->n) + FILE_SOCKET;
}

/* What entry k of cfg_dups.file is, in words. */
static void file_what(const struct ud_cfg *cfg, const struct cfg_dups *x, size_t k,
		      char *out, size_t outlen)
{
	static const char *const kinds[] = {"", "socket", "ivshmem region",
					    "ivshmem_doorbell"};
	size_t i = 0;
	unsigned kind = file_kind(x, k, &i);

	if (kind == 0)
		snprintf(out, outlen, "utmemd's admin socket");
	else
		snprintf(out, outlen, "tenant '%s''s %s", cfg->tenants[i].name, kinds[kind]);
}

static void dups_free(struct cfg_dups *x)
{
	for (size_t i = 0; x->sockfile && i < x->n; i++)
		free(x->sockfile[i]);
	for (size_t i = 0; x->shmfile && i < x->n; i++)
		free(x->shmfile[i]);
	for (size_t i = 0; x->bellfile && i < x->n; i++)
		free(x->bellfile[i]);
	free(x->sockfile);
	free(x->shmfile);
	free(x->bellfile);
	free(x->file);
	free(x->admin);
	free(x->socket);
	free(x->token);
	free(x->cid);
	free(x->ivshmem);
	free(x->sockname);
}

static int dups_find(const struct ud_cfg *cfg, struct cfg_dups *x)
{
	size_t n = cfg->ntenants ? cfg->ntenants : 1;
	const char **keys = calloc(n, sizeof(*keys)), **files;
	char (*cids)[12] = calloc(n, sizeof(*cids));
	int err = -ENOMEM;

	x->socket = calloc(n, sizeof(size_t));
	x->token = calloc(n, sizeof(size_t));
	x->cid = calloc(n, sizeof(size_t));
	x->ivshmem = calloc(n, sizeof(size_t));
	x->sockname = calloc(n, sizeof(*x->sockname));
	x->sockfile = calloc(n, sizeof(*x->sockfile));
	x->shmfile = calloc(n, sizeof(*x->shmfile));
	x->bellfile = calloc(n, sizeof(*x->bellfile));
	x->file = calloc(1 + 3 * n, sizeof(size_t));
	files = calloc(1 + 3 * n, sizeof(*files));
	x->admin = ud_run_file(cfg->run_dir, "admin.sock");
	if (!keys || !cids || !x->socket || !x->token || !x->cid ||
	    !x->ivshmem || !x->sockname || !x->sockfile || !x->shmfile ||
	    !x->bellfile || !x->file || !files || !x->admin)
		goto out;
	x->n = cfg->ntenants;
	for (size_t i = 0; i < cfg->ntenants; i++)
		keys[i] = cfg->tenants[i].token;
	if ((err = first_dups(cfg->ntenants, keys, x->token)))
		goto out;
	for (size_t i = 0; i < cfg->ntenants; i++) {
		keys[i] = cids[i];
		if (cfg->tenants[i].vsock_cid)
			snprintf(cids[i], sizeof(cids[i]), "%u", cfg->tenants[i].vsock_cid);
	}
	if ((err = first_dups(cfg->ntenants, keys, x->cid)))
		goto out;
	/* Every file utmemd makes, as ud_socket_path() and vm_start()
	 * resolve them (relative: in the run directory), in one list: two
	 * spellings of one file are one file, which two tenants' sockets or
	 * VM threads would both take, or a region or doorbell would be sized
	 * or bound over. */
	err = -ENOMEM;
	files[0] = x->admin;
	for (size_t i = 0; i < cfg->ntenants; i++) {
		const struct ud_cfg_tenant *t = &cfg->tenants[i];

		ud_socket_name(t, x->sockname[i], sizeof(x->sockname[i]));
		if (!(x->sockfile[i] = ud_run_file(cfg->run_dir, x->sockname[i])) ||
		    (t->ivshmem[0] && !(x->shmfile[i] = ud_run_file(cfg->run_dir, t->ivshmem))) ||
		    (t->ivshmem_doorbell[0] &&
		     !(x->bellfile[i] = ud_run_file(cfg->run_dir, t->ivshmem_doorbell))))
			goto out;
		files[1 + i] = x->sockfile[i];
		files[1 + x->n + i] = x->shmfile[i];
		files[1 + 2 * x->n + i] = x->bellfile[i];
	}
	if ((err = first_dups(1 + 3 * x->n, files, x->file)))
		goto out;
	/* Of those, a socket's earlier socket and a region's earlier region
	 * (the admin socket and clashes of two kinds are judged apart). */
	for (size_t i = 0; i < x->n; i++) {
		size_t js = x->file[1 + i], jr = x->file[1 + x->n + i];

		x->socket[i] = js != SIZE_MAX && js >= 1 ? js - 1 : SIZE_MAX;
		x->ivshmem[i] = jr != SIZE_MAX && jr >= 1 + x->n && jr < 1 + 2 * x->n
					? jr - 1 - x->n : SIZE_MAX;
	}
out:
	free(keys);
	free(files);
	free(cids);
	return err;
}

/*
 * A VM tenant's settings (docs/vm.md): a vsock CID names one tenant; the
 * ivshmem size defaults to UD_IVSHMEM_DEFAULT_SIZE and must be a power of
 * two (a PCI BAR's size); the size and the doorbell need a region; no two
 * tenants share a region file, and neither a region nor a doorbell is a
 * file utmemd makes for anything else. Returns 0, or -EINVAL with msg.
 */
static int check_vm(struct ud_cfg *cfg, size_t i, const struct cfg_dups *x,
		    char *msg, size_t msglen)
{
	struct ud_cfg_tenant *t = &cfg->tenants[i];

	/* A vsock CID names one tenant (vsock.c). */
	if (x->cid[i] != SIZE_MAX) {
		snprintf(msg, msglen, "tenant '%s': vsock_cid %u already used by '%s'",
			 t->name, t->vsock_cid, cfg->tenants[x->cid[i]].name);
		return -EINVAL;
	}

	if (!t->ivshmem[0]) {
		if (t->ivshmem_size || t->ivshmem_doorbell[0]) {
			snprintf(msg, msglen, "tenant '%s': ivshmem_size and ivshmem_doorbell need 'ivshmem = PATH'",
				 t->name);
			return -EINVAL;
		}
		return 0;
	}
	if (!t->ivshmem_size)
		t->ivshmem_size = UD_IVSHMEM_DEFAULT_SIZE;
	if (t->ivshmem_size & (t->ivshmem_size - 1)) {
		snprintf(msg, msglen, "tenant '%s': ivshmem_size must be a power of two",
			 t->name);
		return -EINVAL;
	}
	if (x->ivshmem[i] != SIZE_MAX) {
		const struct ud_cfg_tenant *o = &cfg->tenants[x->ivshmem[i]];

		/* Spelt alike, or two spellings of one file. */
		if (strcmp(t->ivshmem, o->ivshmem) == 0)
			snprintf(msg, msglen, "tenant '%s': ivshmem '%s' already used by '%s'",
				 t->name, t->ivshmem, o->name);
		else
			snprintf(msg, msglen, "tenant '%s': ivshmem '%s' already used by '%s' as ivshmem '%s' (both are %.200s)",
				 t->name, t->ivshmem, o->name, o->ivshmem,
				 x->shmfile[i]);
		return -EINVAL;
	}
	/* The region or doorbell is a file utmemd makes for something else. */
	for (unsigned kind = FILE_REGION; kind <= FILE_BELL; kind++) {
		size_t k = 1 + (kind - FILE_SOCKET) * x->n + i, j = x->file[k];
		char other[UST_NAME_MAX + 48];

		if (j == SIZE_MAX)
			continue;
		file_what(cfg, x, j, other, sizeof(other));
		snprintf(msg, msglen, "tenant '%s': %s '%s' is also %s (%.200s)", t->name,
			 kind == FILE_REGION ? "ivshmem" : "ivshmem_doorbell",
			 kind == FILE_REGION ? t->ivshmem : t->ivshmem_doorbell, other,
			 kind == FILE_REGION ? x->shmfile[i] : x->bellfile[i]);
		return -EINVAL;
	}
	return 0;
}

/* The tenants' own checks, in the order of the file. */
static int check_tenants(struct ud_cfg *cfg, const struct cfg_dups *x, int *line,
			 char *msg, size_t msglen)
{
	const struct ud_setting *smax = ud_setting_find(UD_SCOPE_TENANT, "max");
	uint64_t reserved = 0;
	char a[32], b[32], c[32], what[96];

	for (size_t i = 0; i < cfg->ntenants; i++) {
		struct ud_cfg_tenant *t = &cfg->tenants[i];
		size_t j;

		*line = t->line;
		if (!ud_setting_is_given(smax, t))
			t->max = cfg->capacity;
		if (t->min > t->max) {
			snprintf(msg, msglen, "tenant '%s': min is larger than max (%s > %s%s)",
				 t->name, ud_human(t->min, a), ud_human(t->max, b),
				 ud_setting_is_given(smax, t) ? "" : ", the capacity");
			return -EINVAL;
		}
		if (__builtin_add_overflow(reserved, t->min, &reserved) ||
		    reserved > cfg->capacity) {
			snprintf(msg, msglen,
				 "tenant '%s': min %s brings the tenants' reserved total to %s, more than the capacity %s",
				 t->name, ud_human(t->min, a), ud_human(reserved, b),
				 ud_human(cfg->capacity, c));
			return -EINVAL;
		}
		if (check_vm(cfg, i, x, msg, msglen))
			return -EINVAL;
		snprintf(what, sizeof(what), "tenant '%s': socket", t->name);
		if (ud_socket_too_long(what, cfg->run_dir, x->sockname[i], msg,
				       msglen))
			return -EINVAL;
		if (strcmp(x->sockfile[i], x->admin) == 0) {
			snprintf(msg, msglen, "tenant '%s': socket '%s' is utmemd's admin socket (%.200s)",
				 t->name, x->sockname[i], x->admin);
			return -EINVAL;
		}
		/* The first earlier tenant that shares either; the socket
		 * first where one tenant shares both. */
		j = x->socket[i] < x->token[i] ? x->socket[i] : x->token[i];
		if (j != SIZE_MAX && j == x->socket[i]) {
			/* Spelt alike, or two spellings of one file. */
			if (strcmp(x->sockname[i], x->sockname[j]) == 0)
				snprintf(msg, msglen, "tenant '%s': socket '%s' already used by '%s'",
					 t->name, x->sockname[i], cfg->tenants[j].name);
			else
				snprintf(msg, msglen, "tenant '%s': socket '%s' already used by '%s' as socket '%s' (both are %.200s)",
					 t->name, x->sockname[i], cfg->tenants[j].name,
					 x->sockname[j], x->sockfile[i]);
			return -EINVAL;
		}
		/* Both named, in the order of the file: the later one need
		 * not be the one that changed (`tenant set a --token` with
		 * b's, b after a, once read "tenant 'b': token already used
		 * by 'a'"). */
		if (j != SIZE_MAX) {
			snprintf(msg, msglen, "tenants '%s' and '%s' have the same token (a token names one tenant)",
				 cfg->tenants[j].name, t->name);
			return -EINVAL;
		}
	}
	return 0;
}

static int check_pools(struct ud_cfg *cfg, int *line, char *msg, size_t msglen)
{
	struct ud_names names = UD_NAMES_INIT;
	int err = 0;

	for (size_t i = 0; i < cfg->ntenants && !err; i++)
		err = ud_names_put(&names, cfg->tenants[i].name, &cfg->tenants[i], NULL);
	if (err < 0) {
		snprintf(msg, msglen, "out of memory");
		goto out;
	}
	err = 0;
	for (size_t i = 0; i < cfg->npools; i++) {
		struct ud_cfg_pool *pl = &cfg->pools[i];
		*line = pl->line;
		for (size_t k = 0; k < ud_nsettings; k++) {
			const struct ud_setting *s = &ud_settings[k];
			if (s->scope == UD_SCOPE_POOL && (s->flags & UD_SF_REQUIRED) &&
			    !ud_setting_is_given(s, pl)) {
				snprintf(msg, msglen, "pool '%s': '%s' is required (%s)",
					 pl->name, s->key, s->help);
				err = -EINVAL;
				goto out;
			}
		}
		if (pl->tenants_line)
			*line = pl->tenants_line;
		for (size_t k = 0; k < pl->ntenants; k++) {
			if (!ud_names_get(&names, pl->tenants[k])) {
				snprintf(msg, msglen, "pool '%s': no tenant named '%s'",
					 pl->name, pl->tenants[k]);
				err = -EINVAL;
				goto out;
			}
		}
		if (pl->managers_line)
			*line = pl->managers_line;
		for (size_t k = 0; k < pl->nmanagers; k++) {
			size_t j;
			for (j = 0; j < pl->ntenants; j++)
				if (strcmp(pl->tenants[j], pl->managers[k]) == 0)
					break;
			if (j == pl->ntenants) {
				snprintf(msg, msglen, "pool '%s': manage: '%s' is not in its tenants",
					 pl->name, pl->managers[k]);
				err = -EINVAL;
				goto out;
			}
		}
	}
out:
	ud_names_free(&names);
	return err;
}

int ud_cfg_check(struct ud_cfg *cfg, int *line, char *msg, size_t msglen)
{
	struct cfg_dups x = {0};
	int err;

	*line = 0;
	if (ud_socket_too_long("admin socket", cfg->run_dir, "admin.sock", msg,
			       msglen))
		return -EINVAL;
	err = dups_find(cfg, &x);
	if (err)
		snprintf(msg, msglen, "out of memory");
	else
		err = check_tenants(cfg, &x, line, msg, msglen);
	dups_free(&x);
	if (!err)
		err = check_pools(cfg, line, msg, msglen);
	if (!err)
		*line = 0;
	return err;
}

/* ---- the INI reader ---- */

/* Record the first error as "FILE:LINE: message" and make parsing stop. */
__attribute__((format(printf, 2, 3)))
static int fail(struct parse *p, const char *fmt, ...)
{
	char m[512];
	va_list ap;

	if (p->failed)
		return 0;
	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	if (p->line > 0)
		snprintf(p->msg, p->msglen, "%s:%d: %s", p->path, p->line, m);
	else
		snprintf(p->msg, p->msglen, "%s: %s", p->path, m);
	p->failed = 1;
	return 0;
}

/* The record the current section fills. */
static void *section_rec(struct parse *p)
{
	switch (p->sec) {
	case UD_SCOPE_MAIN: return p->cfg;
	case UD_SCOPE_TENANT: return &p->cfg->tenants[p->cfg->ntenants - 1];
	default: return &p->cfg->pools[p->cfg->npools - 1];
	}
}

/* One "name = value" line: 1, or 0 after fail(). */
static int handler(struct parse *p, const char *name, const char *value)
{
	const struct ud_setting *s;
	char m[512];
	void *rec;

	if (!p->in_section)
		return fail(p, "'%s' outside any section", name);
	rec = section_rec(p);
	s = ud_setting_find(p->sec, name);
	if (s && ud_setting_is_given(s, rec))
		return fail(p, "'%s' given twice in this section", name);
	if (ud_setting_parse(p->sec, rec, name, value, m, sizeof(m)) < 0)
		return fail(p, "%s", m);
	if (p->sec == UD_SCOPE_POOL && strcmp(s->key, "tenants") == 0)
		((struct ud_cfg_pool *)rec)->tenants_line = p->line;
	if (p->sec == UD_SCOPE_POOL && strcmp(s->key, "manage") == 0)
		((struct ud_cfg_pool *)rec)->managers_line = p->line;
	return 1;
}

/* A new section header: check its kind and name and start its record. */
static int open_section(struct parse *p, const char *sec)
{
	struct ud_cfg *cfg = p->cfg;
	const char *arg;

	if (strcmp(sec, "utmemd") == 0) {
		if (p->seen_main)
			return fail(p, "[utmemd] given twice");
		p->seen_main = 1;
		p->sec = UD_SCOPE_MAIN;
		p->in_section = 1;
		return 1;
	}
	if (strncmp(sec, "tenant ", 7) == 0) {
		struct ud_cfg_tenant *t;
		int first, r;

		arg = sec + 7;
		if (!ud_valid_name(arg))
			return fail(p, "tenant name '%s': use " UNAME_RULE, arg);
		r = section_seen(p, &p->tenants, arg, &first);
		if (r == 1)
			return fail(p, "duplicate tenant '%s' (first at line %d)", arg, first);
		t = r < 0 ? NULL : ud_cfg_add_tenant(cfg, arg);
		if (!t)
			return fail(p, "out of memory");
		t->line = p->line;
		p->sec = UD_SCOPE_TENANT;
		p->in_section = 1;
		return 1;
	}
	if (strncmp(sec, "pool ", 5) == 0) {
		struct ud_cfg_pool *pl;
		int first, r;

		arg = sec + 5;
		if (!ud_valid_name(arg))
			return fail(p, "pool name '%s': use " UNAME_RULE, arg);
		r = section_seen(p, &p->pools, arg, &first);
		if (r == 1)
			return fail(p, "duplicate pool '%s'", arg);
		pl = r < 0 ? NULL : ud_cfg_add_pool(cfg, arg);
		if (!pl)
			return fail(p, "out of memory");
		pl->line = p->line;
		p->sec = UD_SCOPE_POOL;
		p->in_section = 1;
		return 1;
	}
	return fail(p, "unknown section [%s] (expected [utmemd], [tenant NAME] or [pool NAME])",
		    sec);
}

/* Longest line of a config file: the longest value (a 4095-byte path)
 * with its key, blanks and a comment. */
#define UD_CFG_LINE_MAX 8192

/*
 * Read the next line into buf (UD_CFG_LINE_MAX + 1 bytes, NUL-terminated,
 * without its newline): 1, 0 at the end of the file, or -1 after fail().
 */
static int read_line(struct parse *p, char *buf)
{
	size_t n = 0;
	int c;

	p->line++; /* the line being read, for fail() */
	while ((c = getc(p->f)) != EOF && c != '\n') {
		if (c == '\0' || n == UD_CFG_LINE_MAX) {
			if (c == '\0')
				fail(p, "a NUL byte in the line");
			else
				fail(p, "line longer than %d bytes", UD_CFG_LINE_MAX);
			return -1;
		}
		buf[n++] = (char)c;
	}
	if (c == EOF && n == 0) {
		p->line--;
		return 0;
	}
	buf[n] = '\0';
	return 1;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* One line, its leading blanks already gone: 1 to go on, 0 after fail(). */
static int parse_line(struct parse *p, char *s)
{
	char *end, *val;

	if (*s == '\0' || *s == ';' || *s == '#')
		return 1;
	if (*s == '[') {
		end = strchr(s, ']');
		if (!end)
			return fail(p, "section header without ']'");
		/* Only a comment may follow: "[tenant a] max = 1G" must not lose the key. */
		for (char *t = end + 1; *t && *t != ';' && *t != '#'; t++)
			if (!isspace((unsigned char)*t))
				/* Not echoed: it may be "token = ..." */
				return fail(p, "text after the section header (a key goes on its own line)");
		*end = '\0';
		return open_section(p, s + 1);
	}
	end = s + strcspn(s, "=:");
	if (*end == '\0')
		return fail(p, "syntax error (expected key = value or [section])");
	*end = '\0';
	val = end + 1;
	/* A comment after the value starts with ';' after a blank. */
	for (char *t = val; *t; t++)
		if (*t == ';' && t > val && isspace((unsigned char)t[-1])) {
			*t = '\0';
			break;
		}
	s = trim(s);
	if (*s == '\0')
		return fail(p, "syntax error (a value without a key)");
	return handler(p, s, trim(val));
}

static void parse_file(struct parse *p)
{
	char *buf = malloc(UD_CFG_LINE_MAX + 1);
	int r;

	if (!buf) {
		fail(p, "out of memory");
		return;
	}
	while (!p->failed && (r = read_line(p, buf)) > 0) {
		char *s = buf;

		/* Editors on some systems start a UTF-8 file with a byte-order mark. */
		if (p->line == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
			s += 3;
		parse_line(p, trim(s));
	}
	free(buf);
}

int ud_cfg_load(struct ud_cfg *cfg, const char *path, const char *run_dir,
		char *msg, size_t msglen)
{
	struct parse p = {.cfg = cfg, .path = path, .msg = msg, .msglen = msglen};
	struct stat sb;

	ud_cfg_init(cfg, NULL);
	cfg->capacity_pct = 25;
	snprintf(cfg->path, sizeof(cfg->path), "%s", path);
	p.f = fopen(path, "r");
	if (!p.f) {
		snprintf(msg, msglen, "%s: cannot open: %s", path, strerror(errno));
		return -EINVAL;
	}
	if (fstat(fileno(p.f), &sb) == 0 && !S_ISREG(sb.st_mode)) {
		fclose(p.f);
		snprintf(msg, msglen, "%s: not a regular file (%s)", path,
			 S_ISDIR(sb.st_mode) ? "a directory" : "a special file");
		return -EINVAL;
	}
	parse_file(&p);
	sections_free(&p.tenants);
	sections_free(&p.pools);
	if (!p.failed && ferror(p.f)) {
		p.line = 0;
		fail(&p, "cannot read: %s", strerror(errno));
	}
	fclose(p.f);
	/* --run-dir before the checks: they compare sockets in it. */
	if (run_dir)
		snprintf(cfg->run_dir, sizeof(cfg->run_dir), "%s", run_dir);
	if (!p.failed) {
		char m[512];
		if (ud_cfg_check(cfg, &p.line, m, sizeof(m)) < 0)
			fail(&p, "%s", m);
	}
	if (p.failed) {
		ud_cfg_free(cfg);
		return -EINVAL;
	}
	return 0;
}

/* ---- the writer ---- */

/* Write the given settings of one record. Returns 0 or -EINVAL (unsavable value). */
static int write_keys(FILE *f, enum ud_scope scope, const void *rec)
{
	char v[8192];

	for (size_t i = 0; i < ud_nsettings; i++) {
		const struct ud_setting *s = &ud_settings[i];
		if (s->scope != scope || !ud_setting_is_given(s, rec))
			continue;
		ud_setting_format(s, rec, v, sizeof(v));
		fprintf(f, "%s = %s\n", s->key, v);
	}
	return 0;
}

int ud_cfg_write(const struct ud_cfg *cfg, FILE *f)
{
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(f, "; utmemd configuration, saved by utmemd at %s\n"
		   "; (utmemctl config save). Only settings that were given are\n"
		   "; written; the others take their defaults (docs/operations.md).\n",
		stamp);
	fprintf(f, "\n[utmemd]\n");
	write_keys(f, UD_SCOPE_MAIN, cfg);
	for (size_t i = 0; i < cfg->ntenants; i++) {
		fprintf(f, "\n[tenant %s]\n", cfg->tenants[i].name);
		write_keys(f, UD_SCOPE_TENANT, &cfg->tenants[i]);
	}
	for (size_t i = 0; i < cfg->npools; i++) {
		fprintf(f, "\n[pool %s]\n", cfg->pools[i].name);
		write_keys(f, UD_SCOPE_POOL, &cfg->pools[i]);
	}
	fflush(f);
	return ferror(f) ? -EIO : 0;
}

/*
 * config.c — utmemd's configuration: the embedded default and the strict
 * INI reader (docs/operations.md has the reference, docs/utmemd.example.ini
 * an example).
 *
 * inih parses key = value lines; a small line reader in front of it counts
 * lines and sees every section header, which inih alone does not report, so
 * unknown or duplicate sections are caught at their own line. Every problem
 * stops the parse with one message "FILE:LINE: what is wrong".
 */
#include "daemon/daemon.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

enum sec { SEC_NONE, SEC_MAIN, SEC_TENANT, SEC_POOL };

struct parse {
	struct ud_cfg *cfg;
	const char *path;
	FILE *f;
	int line;
	int failed;
	char *msg;
	size_t msglen;
	enum sec sec;
	int seen_main;
	int cap_set;
	unsigned keys; /* keys seen in the current section, by bit */
};

/* Physical memory in bytes (0 if unknown). */
static uint64_t phys_mem(void)
{
	long pages = sysconf(_SC_PHYS_PAGES);
	long psize = sysconf(_SC_PAGESIZE);

	if (pages <= 0 || psize <= 0)
		return 0;
	return (uint64_t)pages * (uint64_t)psize;
}

static unsigned ncores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
}

/* Names are 1..63 bytes of [A-Za-z0-9._-], as the store requires. */
static int valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > UST_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return 0;
	return 1;
}

static void cfg_init(struct ud_cfg *cfg, const char *run_dir)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->capacity = phys_mem() / 4;
	cfg->max_key = DEFAULT_MAX_KEY;
	cfg->max_value = DEFAULT_MAX_VALUE;
	cfg->workers = ncores();
	snprintf(cfg->run_dir, sizeof(cfg->run_dir), "%s",
		 run_dir ? run_dir : DEFAULT_RUN_DIR);
	cfg->tcp_on = 0;
	snprintf(cfg->tcp_host, sizeof(cfg->tcp_host), "127.0.0.1");
	cfg->log_level = UADM_LOG_INFO;
	cfg->ring_size = URING_DEFAULT_SIZE;
	cfg->ring_spin_us = URING_DEFAULT_SPIN_US;
	cfg->idle_timeout = DEFAULT_IDLE_TIMEOUT;
	cfg->client_timeout = DEFAULT_CLIENT_TIMEOUT;
	cfg->frame_timeout = DEFAULT_FRAME_TIMEOUT;
	cfg->auth_timeout = DEFAULT_AUTH_TIMEOUT;
	cfg->max_unauth = DEFAULT_MAX_UNAUTH;
}

/* Copy a name already checked by valid_name() (so at most UST_NAME_MAX). */
static void copy_name(char dst[UST_NAME_MAX + 1], const char *src)
{
	size_t n = strnlen(src, UST_NAME_MAX);

	memcpy(dst, src, n);
	dst[n] = 0;
}

/* Append a zeroed tenant; NULL on allocation failure. */
static struct ud_cfg_tenant *add_tenant(struct ud_cfg *cfg)
{
	struct ud_cfg_tenant *t;

	t = realloc(cfg->tenants, (cfg->ntenants + 1) * sizeof(*t));
	if (!t)
		return NULL;
	cfg->tenants = t;
	t = &cfg->tenants[cfg->ntenants++];
	memset(t, 0, sizeof(*t));
	t->weight = 1;
	t->mode = DEFAULT_MODE;
	return t;
}

int ud_cfg_default(struct ud_cfg *cfg, const char *run_dir)
{
	struct ud_cfg_tenant *t;

	cfg_init(cfg, run_dir);
	t = add_tenant(cfg);
	if (!t)
		return -ENOMEM;
	snprintf(t->name, sizeof(t->name), "default");
	t->min = 0;
	t->max = cfg->capacity;
	t->weight = 1;
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
}

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
	snprintf(p->msg, p->msglen, "%s:%d: %s", p->path, p->line, m);
	p->failed = 1;
	return 0;
}

/* Parse an unsigned integer in [lo, hi]; returns 0 or -EINVAL. */
static int parse_uint(const char *s, unsigned long long lo,
		      unsigned long long hi, int base, unsigned long long *out)
{
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, base);
	if (errno || *end || *out < lo || *out > hi)
		return -EINVAL;
	return 0;
}

/* Capacity: a size, or N% of physical memory. */
static int parse_capacity(struct parse *p, const char *v)
{
	size_t n = strlen(v);
	unsigned long long pct;

	if (n > 1 && v[n - 1] == '%') {
		char num[32];
		if (n - 1 >= sizeof(num))
			return fail(p, "capacity '%s': bad percentage", v);
		memcpy(num, v, n - 1);
		num[n - 1] = '\0';
		if (parse_uint(num, 1, 100, 10, &pct))
			return fail(p, "capacity '%s': percentage must be 1%%..100%%", v);
		p->cfg->capacity = phys_mem() / 100 * pct;
	} else if (uadm_parse_size(v, &p->cfg->capacity)) {
		return fail(p, "capacity '%s': expected a size like 512M, 4G or 25%%", v);
	}
	p->cap_set = 1;
	return 1;
}

/* tcp = off | PORT | HOST:PORT (IPv4; default host 127.0.0.1). */
static int parse_tcp(struct parse *p, const char *v)
{
	struct ud_cfg *cfg = p->cfg;
	const char *colon = strrchr(v, ':');
	unsigned long long port;
	struct in_addr a;

	if (strcmp(v, "off") == 0 || strcmp(v, "no") == 0) {
		cfg->tcp_on = 0;
		return 1;
	}
	if (colon) {
		size_t hl = (size_t)(colon - v);
		if (hl == 0 || hl >= sizeof(cfg->tcp_host))
			return fail(p, "tcp '%s': expected off, PORT or ADDRESS:PORT", v);
		memcpy(cfg->tcp_host, v, hl);
		cfg->tcp_host[hl] = '\0';
		if (inet_pton(AF_INET, cfg->tcp_host, &a) != 1)
			return fail(p, "tcp '%s': '%s' is not an IPv4 address", v,
				    cfg->tcp_host);
		v = colon + 1;
	}
	if (parse_uint(v, 0, 65535, 10, &port))
		return fail(p, "tcp: bad port '%s' (0..65535)", v);
	cfg->tcp_port = (uint16_t)port;
	cfg->tcp_on = 1;
	return 1;
}

/* Mark key bit; refuse a key given twice in one section. */
static int once(struct parse *p, unsigned bit, const char *name)
{
	if (p->keys & bit)
		return fail(p, "'%s' given twice in this section", name);
	p->keys |= bit;
	return 1;
}

static int main_key(struct parse *p, const char *name, const char *v)
{
	struct ud_cfg *cfg = p->cfg;
	unsigned long long n;
	uint64_t sz;
	int lvl;

	static const char *const keys[] = {"capacity", "max_key", "max_value",
					   "workers", "run_dir", "tcp",
					   "log_level", "ring_size",
					   "ring_spin_us", "idle_timeout",
					   "client_timeout", "frame_timeout",
					   "auth_timeout", "max_unauth"};
	for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(name, keys[i]) == 0 && !once(p, 1u << i, name))
			return 0;
	if (strcmp(name, "capacity") == 0)
		return parse_capacity(p, v);
	if (strcmp(name, "max_key") == 0) {
		if (uadm_parse_size(v, &sz) || sz < 1 || sz > UWIRE_KEY_CEILING)
			return fail(p, "max_key '%s': expected 1..%u bytes", v,
				    UWIRE_KEY_CEILING);
		cfg->max_key = (size_t)sz;
		return 1;
	}
	if (strcmp(name, "max_value") == 0) {
		if (uadm_parse_size(v, &sz) || sz < 1 || sz > UWIRE_VALUE_CEILING)
			return fail(p, "max_value '%s': expected 1 byte..1G", v);
		cfg->max_value = (size_t)sz;
		return 1;
	}
	if (strcmp(name, "workers") == 0) {
		if (parse_uint(v, 1, 256, 10, &n))
			return fail(p, "workers '%s': expected 1..256", v);
		cfg->workers = (unsigned)n;
		return 1;
	}
	if (strcmp(name, "run_dir") == 0) {
		if (!*v || strlen(v) >= sizeof(cfg->run_dir) - 64)
			return fail(p, "run_dir: empty or too long");
		snprintf(cfg->run_dir, sizeof(cfg->run_dir), "%s", v);
		return 1;
	}
	if (strcmp(name, "tcp") == 0)
		return parse_tcp(p, v);
	if (strcmp(name, "log_level") == 0) {
		lvl = uadm_log_level_parse(v);
		if (lvl < 0)
			return fail(p, "log_level '%s': expected error, warn, info or debug", v);
		cfg->log_level = lvl;
		return 1;
	}
	if (strcmp(name, "ring_size") == 0) {
		if (strcmp(v, "off") == 0 || strcmp(v, "0") == 0) {
			cfg->ring_size = 0;
			return 1;
		}
		if (uadm_parse_size(v, &sz) || !uring_size_ok(sz))
			return fail(p, "ring_size '%s': expected off or a power of two from 64K to 1G", v);
		cfg->ring_size = sz;
		return 1;
	}
	if (strcmp(name, "ring_spin_us") == 0) {
		if (parse_uint(v, 0, 100000, 10, &n))
			return fail(p, "ring_spin_us '%s': expected 0..100000 microseconds", v);
		cfg->ring_spin_us = (unsigned)n;
		return 1;
	}
	if (strcmp(name, "idle_timeout") == 0 ||
	    strcmp(name, "client_timeout") == 0 ||
	    strcmp(name, "frame_timeout") == 0) {
		if (parse_uint(v, 0, 86400, 10, &n))
			return fail(p, "%s '%s': expected 0..86400 seconds (0 = never)",
				    name, v);
		*(name[0] == 'i' ? &cfg->idle_timeout
		  : name[0] == 'c' ? &cfg->client_timeout : &cfg->frame_timeout) =
			(unsigned)n;
		return 1;
	}
	if (strcmp(name, "auth_timeout") == 0) {
		if (parse_uint(v, 1, 3600, 10, &n))
			return fail(p, "auth_timeout '%s': expected 1..3600 seconds", v);
		cfg->auth_timeout = (unsigned)n;
		return 1;
	}
	if (strcmp(name, "max_unauth") == 0) {
		if (parse_uint(v, 1, 100000, 10, &n))
			return fail(p, "max_unauth '%s': expected 1..100000", v);
		cfg->max_unauth = (unsigned)n;
		return 1;
	}
	return fail(p, "unknown key '%s' in [utmemd]", name);
}

static int tenant_key(struct parse *p, const char *name, const char *v)
{
	struct ud_cfg_tenant *t = &p->cfg->tenants[p->cfg->ntenants - 1];
	unsigned long long n;

	static const char *const keys[] = {"min", "max", "weight", "socket",
					   "token", "mode", "inflight",
					   "max_conns", "max_pools"};
	for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(name, keys[i]) == 0 && !once(p, 1u << i, name))
			return 0;
	if (strcmp(name, "min") == 0 || strcmp(name, "max") == 0) {
		int is_min = name[1] == 'i';
		if (uadm_parse_size(v, is_min ? &t->min : &t->max))
			return fail(p, "%s '%s': expected a size like 64K, 512M or 4G",
				    name, v);
		t->set |= is_min ? UADM_SET_MIN : UADM_SET_MAX;
		return 1;
	}
	if (strcmp(name, "weight") == 0) {
		if (parse_uint(v, 1, 1000000, 10, &n))
			return fail(p, "weight '%s': expected 1..1000000", v);
		t->weight = (uint32_t)n;
		t->set |= UADM_SET_WEIGHT;
		return 1;
	}
	if (strcmp(name, "socket") == 0) {
		if (!*v || strlen(v) >= sizeof(t->socket))
			return fail(p, "socket: empty or longer than %zu bytes",
				    sizeof(t->socket) - 1);
		snprintf(t->socket, sizeof(t->socket), "%s", v);
		return 1;
	}
	if (strcmp(name, "token") == 0) {
		if (strlen(v) < 8 || strlen(v) > UD_TOKEN_MAX)
			return fail(p, "token: must be 8..%u bytes", UD_TOKEN_MAX);
		snprintf(t->token, sizeof(t->token), "%s", v);
		return 1;
	}
	if (strcmp(name, "mode") == 0) {
		if (parse_uint(v, 0, 0777, 8, &n))
			return fail(p, "mode '%s': expected an octal file mode like 0660", v);
		t->mode = (unsigned)n;
		return 1;
	}
	if (strcmp(name, "inflight") == 0) {
		uint64_t sz;
		if (uadm_parse_size(v, &sz) || sz < (64u << 10) || sz > (1ull << 40))
			return fail(p, "inflight '%s': expected a size from 64K to 1T", v);
		t->inflight = sz;
		return 1;
	}
	if (strcmp(name, "max_conns") == 0 || strcmp(name, "max_pools") == 0) {
		if (parse_uint(v, 1, 1000000, 10, &n))
			return fail(p, "%s '%s': expected 1..1000000", name, v);
		*(name[4] == 'c' ? &t->max_conns : &t->max_pools) = (unsigned)n;
		return 1;
	}
	return fail(p, "unknown key '%s' in [tenant %s]", name, t->name);
}

/*
 * tenants = a,b,c (or manage = ...): names separated by commas and optional
 * blanks, appended to *list / *n.
 */
static int name_list(struct parse *p, char (**list)[UST_NAME_MAX + 1],
		     size_t *n, const char *key, const char *v)
{
	char buf[INI_MAX_LINE + 1];
	char *save = NULL;

	snprintf(buf, sizeof(buf), "%s", v);
	for (char *tok = strtok_r(buf, ", \t", &save); tok;
	     tok = strtok_r(NULL, ", \t", &save)) {
		char (*nt)[UST_NAME_MAX + 1];
		if (!valid_name(tok))
			return fail(p, "%s: '%s' is not a valid tenant name", key, tok);
		nt = realloc(*list, (*n + 1) * sizeof(*nt));
		if (!nt)
			return fail(p, "out of memory");
		*list = nt;
		snprintf(nt[(*n)++], UST_NAME_MAX + 1, "%s", tok);
	}
	return 1;
}

static int pool_key(struct parse *p, const char *name, const char *v)
{
	struct ud_cfg_pool *pl = &p->cfg->pools[p->cfg->npools - 1];

	if (strcmp(name, "kind") == 0) {
		if (!once(p, 1, name))
			return 0;
		if (strcmp(v, "persistent") == 0)
			pl->kind = 0;
		else if (strcmp(v, "ephemeral") == 0)
			pl->kind = UST_POOL_EPHEMERAL;
		else
			return fail(p, "kind '%s': expected persistent or ephemeral", v);
		pl->has_kind = 1;
		return 1;
	}
	if (strcmp(name, "tenants") == 0) {
		pl->tenants_line = p->line;
		return once(p, 2, name) &&
		       name_list(p, &pl->tenants, &pl->ntenants, name, v);
	}
	if (strcmp(name, "manage") == 0) {
		pl->managers_line = p->line;
		return once(p, 4, name) &&
		       name_list(p, &pl->managers, &pl->nmanagers, name, v);
	}
	return fail(p, "unknown key '%s' in [pool %s]", name, pl->name);
}

static int handler(void *user, const char *section, const char *name,
		   const char *value)
{
	struct parse *p = user;

	(void)section;
	if (p->failed)
		return 0;
	switch (p->sec) {
	case SEC_MAIN: return main_key(p, name, value);
	case SEC_TENANT: return tenant_key(p, name, value);
	case SEC_POOL: return pool_key(p, name, value);
	default: return fail(p, "'%s' outside any section", name);
	}
}

/* A new section header: check its kind and name and start its record. */
static int open_section(struct parse *p, const char *sec)
{
	struct ud_cfg *cfg = p->cfg;
	const char *arg;

	p->keys = 0;
	if (strcmp(sec, "utmemd") == 0) {
		if (p->seen_main)
			return fail(p, "[utmemd] given twice");
		p->seen_main = 1;
		p->sec = SEC_MAIN;
		return 1;
	}
	if (strncmp(sec, "tenant ", 7) == 0) {
		struct ud_cfg_tenant *t;
		arg = sec + 7;
		if (!valid_name(arg))
			return fail(p, "tenant name '%s': use 1..63 of A-Z a-z 0-9 . _ -", arg);
		for (size_t i = 0; i < cfg->ntenants; i++)
			if (strcmp(cfg->tenants[i].name, arg) == 0)
				return fail(p, "duplicate tenant '%s' (first at line %d)",
					    arg, cfg->tenants[i].line);
		t = add_tenant(cfg);
		if (!t)
			return fail(p, "out of memory");
		copy_name(t->name, arg);
		t->line = p->line;
		p->sec = SEC_TENANT;
		return 1;
	}
	if (strncmp(sec, "pool ", 5) == 0) {
		struct ud_cfg_pool *pl;
		arg = sec + 5;
		if (!valid_name(arg))
			return fail(p, "pool name '%s': use 1..63 of A-Z a-z 0-9 . _ -", arg);
		for (size_t i = 0; i < cfg->npools; i++)
			if (strcmp(cfg->pools[i].name, arg) == 0)
				return fail(p, "duplicate pool '%s'", arg);
		pl = realloc(cfg->pools, (cfg->npools + 1) * sizeof(*pl));
		if (!pl)
			return fail(p, "out of memory");
		cfg->pools = pl;
		pl = &cfg->pools[cfg->npools++];
		memset(pl, 0, sizeof(*pl));
		copy_name(pl->name, arg);
		pl->line = p->line;
		p->sec = SEC_POOL;
		return 1;
	}
	return fail(p, "unknown section [%s] (expected [utmemd], [tenant NAME] or [pool NAME])",
		    sec);
}

/*
 * inih's line source. Besides returning the line it counts it and handles
 * section headers here, where the line number is known; returning NULL ends
 * the parse at the first error.
 */
static char *reader(char *str, int num, void *stream)
{
	struct parse *p = stream;
	char name[INI_MAX_LINE];
	char *s, *end;
	size_t n;

	if (p->failed || !fgets(str, num, p->f))
		return NULL;
	p->line++;
	n = strlen(str);
	if (n == (size_t)num - 1 && str[n - 1] != '\n' && !feof(p->f)) {
		fail(p, "line longer than %d bytes", num - 2);
		return NULL;
	}
	for (s = str; isspace((unsigned char)*s); s++)
		;
	if (*s != '[')
		return str;
	end = strchr(s, ']');
	if (!end) {
		fail(p, "section header without ']'");
		return NULL;
	}
	n = (size_t)(end - s - 1);
	memcpy(name, s + 1, n);
	name[n] = '\0';
	if (!open_section(p, name))
		return NULL;
	return str;
}

/* Checks that need the whole file: references, limits, uniqueness. */
static int validate(struct parse *p)
{
	struct ud_cfg *cfg = p->cfg;

	for (size_t i = 0; i < cfg->ntenants; i++) {
		struct ud_cfg_tenant *t = &cfg->tenants[i];
		p->line = t->line;
		if (!(t->set & UADM_SET_MAX))
			t->max = cfg->capacity;
		if (t->min > t->max)
			return fail(p, "tenant '%s': min is larger than max", t->name);
		for (size_t j = 0; j < i; j++) {
			const struct ud_cfg_tenant *o = &cfg->tenants[j];
			if (t->socket[0] && strcmp(t->socket, o->socket) == 0)
				return fail(p, "tenant '%s': socket '%s' already used by '%s'",
					    t->name, t->socket, o->name);
			if (t->token[0] && strcmp(t->token, o->token) == 0)
				return fail(p, "tenant '%s': token already used by '%s'",
					    t->name, o->name);
		}
	}
	for (size_t i = 0; i < cfg->npools; i++) {
		struct ud_cfg_pool *pl = &cfg->pools[i];
		p->line = pl->line;
		if (!pl->has_kind)
			return fail(p, "pool '%s': 'kind' (persistent or ephemeral) is required",
				    pl->name);
		p->line = pl->tenants_line;
		for (size_t k = 0; k < pl->ntenants; k++) {
			size_t j;
			for (j = 0; j < cfg->ntenants; j++)
				if (strcmp(cfg->tenants[j].name, pl->tenants[k]) == 0)
					break;
			if (j == cfg->ntenants)
				return fail(p, "pool '%s': no tenant named '%s'",
					    pl->name, pl->tenants[k]);
		}
		p->line = pl->managers_line;
		for (size_t k = 0; k < pl->nmanagers; k++) {
			size_t j;
			for (j = 0; j < pl->ntenants; j++)
				if (strcmp(pl->tenants[j], pl->managers[k]) == 0)
					break;
			if (j == pl->ntenants)
				return fail(p, "pool '%s': manage: '%s' is not in its tenants",
					    pl->name, pl->managers[k]);
		}
	}
	return 1;
}

int ud_cfg_load(struct ud_cfg *cfg, const char *path, const char *run_dir,
		char *msg, size_t msglen)
{
	struct parse p = {.cfg = cfg, .path = path, .msg = msg, .msglen = msglen};
	int line;

	cfg_init(cfg, NULL);
	snprintf(cfg->path, sizeof(cfg->path), "%s", path);
	p.f = fopen(path, "r");
	if (!p.f) {
		snprintf(msg, msglen, "%s: cannot open: %s", path, strerror(errno));
		return -EINVAL;
	}
	line = ini_parse_stream(reader, &p, handler, &p);
	fclose(p.f);
	if (!p.failed && line != 0) {
		p.line = line;
		fail(&p, line < 0 ? "cannot read" : "syntax error (expected key = value or [section])");
	}
	if (!p.failed)
		validate(&p);
	if (p.failed) {
		ud_cfg_free(cfg);
		return -EINVAL;
	}
	if (run_dir)
		snprintf(cfg->run_dir, sizeof(cfg->run_dir), "%s", run_dir);
	return 0;
}

/*
 * settings.c — the table of every utmemd setting and the parsers and
 * printers it uses (config.h explains the scheme).
 *
 * This file is linked by utmemd, by utmemctl (so it refuses a bad value
 * before connecting, with the same words the daemon and the config file
 * use) and by the unit tests. It depends on nothing of the running daemon.
 *
 * Messages name the key and the text given, then what was expected:
 * "max_value '5X': expected a size from 1 to 1G (K, M, G, T suffixes)".
 * Secret values (tokens) are never echoed.
 */
#include "daemon/config.h"
#include "daemon/controller.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "proto/name.h"
#include "proto/wire.h"
#include "transport/ring.h"

uint64_t ud_phys_mem(void)
{
	long pages = sysconf(_SC_PHYS_PAGES);
	long psize = sysconf(_SC_PAGESIZE);

	if (pages <= 0 || psize <= 0)
		return 0;
	return (uint64_t)pages * (uint64_t)psize;
}

const char *ud_human(uint64_t v, char buf[32])
{
	static const char units[] = "KMGTPE";
	double d = (double)v;
	int u = -1;

	if (v == UINT64_MAX)
		return "unlimited";
	while (d >= 1024.0 && u < 5) {
		d /= 1024.0;
		u++;
	}
	if (u < 0)
		snprintf(buf, 32, "%lluB", (unsigned long long)v);
	else if (d == (double)(uint64_t)d)
		snprintf(buf, 32, "%llu%c", (unsigned long long)d, units[u]);
	else
		snprintf(buf, 32, "%.1f%c", d, units[u]);
	return buf;
}

int ud_valid_name(const char *s)
{
	return uname_ok(s);
}

__attribute__((format(printf, 3, 4)))
static int bad(char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static void *field(const struct ud_setting *s, void *rec)
{
	return (char *)rec + s->off;
}

static const void *cfield(const struct ud_setting *s, const void *rec)
{
	return (const char *)rec + s->off;
}

/* Unsigned fields of any width: the table says how wide. */
static void store_uint(const struct ud_setting *s, void *rec, uint64_t v)
{
	void *p = field(s, rec);

	switch (s->size) {
	case 1: *(uint8_t *)p = (uint8_t)v; break;
	case 2: *(uint16_t *)p = (uint16_t)v; break;
	case 4: *(uint32_t *)p = (uint32_t)v; break;
	default: *(uint64_t *)p = v; break;
	}
}

static uint64_t load_uint(const struct ud_setting *s, const void *rec)
{
	const void *p = cfield(s, rec);

	switch (s->size) {
	case 1: return *(const uint8_t *)p;
	case 2: return *(const uint16_t *)p;
	case 4: return *(const uint32_t *)p;
	default: return *(const uint64_t *)p;
	}
}

/* A size as parse_size reads it back: 512M, 4G, 1000 (bytes). */
static void size_text(uint64_t v, char *out, size_t outlen)
{
	static const char units[] = "KMGT";
	int u = -1;

	while (v && (v & 1023) == 0 && u < 3) {
		v >>= 10;
		u++;
	}
	if (u < 0)
		snprintf(out, outlen, "%llu", (unsigned long long)v);
	else
		snprintf(out, outlen, "%llu%c", (unsigned long long)v, units[u]);
}

/* Decimal digits only, in [lo, hi]: the rule of uadm_parse_uint, which the
 * Redis module reads its numbers by too. */
static int parse_num(const char *s, unsigned long long lo, unsigned long long hi,
		     unsigned long long *out)
{
	uint64_t v;
	int err = uadm_parse_uint(s, strlen(s), lo, hi, &v);

	if (!err)
		*out = v;
	return err;
}

/* Octal digits only, at most 0777: a file mode. */
static int parse_mode(const char *s, unsigned long long *out)
{
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 8);
	return errno || *end || *out > 0777 ? -EINVAL : 0;
}

/* ---- parsers and printers ---- */

static int p_size(const struct ud_setting *s, void *rec, const char *v,
		  char *msg, size_t msglen)
{
	char lo[32], hi[32];
	uint64_t n;

	if (uadm_parse_size(v, &n) == 0 && n >= s->lo && (!s->hi || n <= s->hi)) {
		store_uint(s, rec, n);
		return 0;
	}
	if (!s->lo && !s->hi)
		return bad(msg, msglen, "%s '%s': expected a size like 64K, 512M or 4G",
			   s->key, v);
	size_text(s->lo, lo, sizeof(lo));
	size_text(s->hi, hi, sizeof(hi));
	return bad(msg, msglen, "%s '%s': expected a size from %s to %s (K, M, G, T suffixes)",
		   s->key, v, lo, hi);
}

static void f_size(const struct ud_setting *s, const void *rec, char *out,
		   size_t outlen)
{
	size_text(load_uint(s, rec), out, outlen);
}

static int p_uint(const struct ud_setting *s, void *rec, const char *v,
		  char *msg, size_t msglen)
{
	unsigned long long n;

	if (parse_num(v, s->lo, s->hi, &n))
		return bad(msg, msglen, "%s '%s': expected %llu..%llu", s->key, v,
			   (unsigned long long)s->lo, (unsigned long long)s->hi);
	store_uint(s, rec, n);
	return 0;
}

static void f_uint(const struct ud_setting *s, const void *rec, char *out,
		   size_t outlen)
{
	snprintf(out, outlen, "%llu", (unsigned long long)load_uint(s, rec));
}

/* 0 (off) or lo..hi: a bound below which the kernel would not go. */
static int p_zero_or(const struct ud_setting *s, void *rec, const char *v,
		     char *msg, size_t msglen)
{
	unsigned long long n;

	if (parse_num(v, 0, s->hi, &n) || (n && n < s->lo))
		return bad(msg, msglen, "%s '%s': expected 0 or %llu..%llu", s->key, v,
			   (unsigned long long)s->lo, (unsigned long long)s->hi);
	store_uint(s, rec, n);
	return 0;
}

#define f_zero_or f_uint

static int p_mode(const struct ud_setting *s, void *rec, const char *v,
		  char *msg, size_t msglen)
{
	unsigned long long n;

	if (parse_mode(v, &n))
		return bad(msg, msglen, "%s '%s': expected an octal file mode like 0660",
			   s->key, v);
	store_uint(s, rec, n);
	return 0;
}

static void f_mode(const struct ud_setting *s, const void *rec, char *out,
		   size_t outlen)
{
	snprintf(out, outlen, "0%03llo", (unsigned long long)load_uint(s, rec));
}

/* off | on (also 0/1, no/yes, false/true). */
static int p_onoff(const struct ud_setting *s, void *rec, const char *v,
		   char *msg, size_t msglen)
{
	static const char *const words[][2] = {
		{"off", "on"}, {"0", "1"}, {"no", "yes"}, {"false", "true"},
	};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		for (unsigned b = 0; b < 2; b++) {
			if (strcmp(v, words[i][b]) == 0) {
				store_uint(s, rec, b);
				return 0;
			}
		}
	}
	return bad(msg, msglen, "%s '%s': expected off or on", s->key, v);
}

static void f_onoff(const struct ud_setting *s, const void *rec, char *out,
		    size_t outlen)
{
	snprintf(out, outlen, "%s", load_uint(s, rec) ? "on" : "off");
}

/*
 * A duration in milliseconds: digits with ms, s, m or h (bare digits are
 * seconds), within [lo, hi] milliseconds.
 */
static int p_duration(const struct ud_setting *s, void *rec, const char *v,
		      char *msg, size_t msglen)
{
	unsigned long long n, mul = 1000;
	char *end;

	if (!isdigit((unsigned char)*v))
		goto err;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno)
		goto err;
	if (strcmp(end, "ms") == 0)
		mul = 1;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		mul = 60000;
	else if (strcmp(end, "h") == 0)
		mul = 3600000;
	else if (*end && strcmp(end, "s") != 0)
		goto err;
	if (n > UINT64_MAX / mul || n * mul < s->lo || n * mul > s->hi)
		goto err;
	store_uint(s, rec, n * mul);
	return 0;
err:
	return bad(msg, msglen, "%s '%s': expected a duration from %llums to %llus, like 20ms, 500ms or 2s (bare digits: seconds)",
		   s->key, v, (unsigned long long)s->lo,
		   (unsigned long long)s->hi / 1000);
}

static void f_duration(const struct ud_setting *s, const void *rec, char *out,
		       size_t outlen)
{
	uint64_t ms = load_uint(s, rec);

	if (ms % 1000)
		snprintf(out, outlen, "%llums", (unsigned long long)ms);
	else
		snprintf(out, outlen, "%llus", (unsigned long long)ms / 1000);
}

/* A string of lo..hi bytes (hi < the field's size), no control characters. */
static int p_str(const struct ud_setting *s, void *rec, const char *v,
		 char *msg, size_t msglen)
{
	size_t n = strlen(v);
	int secret = s->flags & UD_SF_SECRET;
	const char *fault;

	if (n < s->lo || n > s->hi || n >= s->size)
		return secret ? bad(msg, msglen, "%s: expected %llu..%llu bytes, got %zu",
				    s->key, (unsigned long long)s->lo,
				    (unsigned long long)s->hi, n)
			      : bad(msg, msglen, "%s '%s': expected %llu..%llu bytes",
				    s->key, v, (unsigned long long)s->lo,
				    (unsigned long long)s->hi);
	/* What a config file could not hold: the value must survive
	 * `utmemctl config save` and a reload unchanged. */
	fault = uadm_text_fault(v, n);
	if (fault)
		return bad(msg, msglen, "%s: %s", s->key, fault);
	memcpy(field(s, rec), v, n + 1);
	return 0;
}

/* A tenant's token: the rule the Redis module checks token= with too
 * (uadm_token_check). Never echoed. */
_Static_assert(sizeof(((struct ud_cfg_tenant *)0)->token) > UADM_TOKEN_MAX,
	       "the longest token fits its field");
static int p_token(const struct ud_setting *s, void *rec, const char *v,
		   char *msg, size_t msglen)
{
	size_t n = strlen(v);
	const char *why;
	int err = uadm_token_check(v, n, &why);

	if (err == -ERANGE)
		return bad(msg, msglen, "%s: %s, got %zu", s->key, why, n);
	if (err)
		return bad(msg, msglen, "%s: %s", s->key, why);
	memcpy(field(s, rec), v, n + 1);
	return 0;
}

#define f_token f_str

static void f_str(const struct ud_setting *s, const void *rec, char *out,
		  size_t outlen)
{
	snprintf(out, outlen, "%s", (const char *)cfield(s, rec));
}

static int p_level(const struct ud_setting *s, void *rec, const char *v,
		   char *msg, size_t msglen)
{
	int lvl = uadm_log_level_parse(v);

	if (lvl < 0)
		return bad(msg, msglen, "%s '%s': expected error, warn, info or debug",
			   s->key, v);
	*(int *)field(s, rec) = lvl;
	return 0;
}

static void f_level(const struct ud_setting *s, const void *rec, char *out,
		    size_t outlen)
{
	snprintf(out, outlen, "%s", uadm_log_level_name(*(const int *)cfield(s, rec)));
}

/* capacity: a size, or N% of physical memory; never past physical memory. */
static int p_capacity(const struct ud_setting *s, void *rec, const char *v,
		      char *msg, size_t msglen)
{
	struct ud_cfg *cfg = rec;
	uint64_t phys = ud_phys_mem(), cap;
	unsigned long long pct = 0;
	size_t n = strlen(v);
	char a[32], b[32];

	if (n > 1 && v[n - 1] == '%') {
		char num[32];
		if (n - 1 >= sizeof(num))
			return bad(msg, msglen, "%s '%s': bad percentage", s->key, v);
		memcpy(num, v, n - 1);
		num[n - 1] = '\0';
		if (parse_num(num, 1, 100, &pct))
			return bad(msg, msglen, "%s '%s': percentage must be 1%%..100%%",
				   s->key, v);
		/* Exact, and without overflow: 25% is the default's phys / 4. */
		cap = phys / 100 * pct + phys % 100 * pct / 100;
	} else if (uadm_parse_size(v, &cap)) {
		return bad(msg, msglen, "%s '%s': expected a size like 512M, 4G or 25%%",
			   s->key, v);
	}
	size_text(UD_CAPACITY_MIN, a, sizeof(a));
	if (cap < UD_CAPACITY_MIN)
		return bad(msg, msglen, "%s '%s': below the smallest capacity, %s",
			   s->key, v, a);
	if (phys && cap > phys) {
		snprintf(b, sizeof(b), "%.1fG", (double)phys / (1u << 30));
		return bad(msg, msglen, "%s '%s': more than this host's memory (%s)",
			   s->key, v, b);
	}
	cfg->capacity = cap;
	cfg->capacity_pct = (unsigned)pct;
	return 0;
}

static void f_capacity(const struct ud_setting *s, const void *rec, char *out,
		       size_t outlen)
{
	const struct ud_cfg *cfg = rec;

	if (cfg->capacity_pct)
		snprintf(out, outlen, "%u%%", cfg->capacity_pct);
	else
		size_text(cfg->capacity, out, outlen);
}

/*
 * off | PORT | HOST:PORT (IPv4; default host 127.0.0.1) into on, host (64
 * bytes) and port. Returns 0 or -EINVAL with msg set.
 */
static int parse_listen(const struct ud_setting *s, const char *v, int *on,
			char *hostout, uint16_t *portout, char *msg, size_t msglen)
{
	const char *colon = strrchr(v, ':');
	char host[64] = "127.0.0.1";
	unsigned long long port;
	struct in_addr a;

	if (strcmp(v, "off") == 0 || strcmp(v, "no") == 0) {
		*on = 0;
		return 0;
	}
	if (colon) {
		size_t hl = (size_t)(colon - v);
		if (hl == 0 || hl >= sizeof(host))
			return bad(msg, msglen, "%s '%s': expected off, PORT or ADDRESS:PORT",
				   s->key, v);
		memcpy(host, v, hl);
		host[hl] = '\0';
		if (inet_pton(AF_INET, host, &a) != 1)
			return bad(msg, msglen, "%s '%s': '%s' is not an IPv4 address",
				   s->key, v, host);
		v = colon + 1;
	}
	if (parse_num(v, 0, 65535, &port))
		return bad(msg, msglen, "%s: bad port '%s' (0..65535)", s->key, v);
	memcpy(hostout, host, sizeof(host));
	*portout = (uint16_t)port;
	*on = 1;
	return 0;
}

/* tcp = off | PORT | HOST:PORT */
static int p_tcp(const struct ud_setting *s, void *rec, const char *v,
		 char *msg, size_t msglen)
{
	struct ud_cfg *cfg = rec;

	return parse_listen(s, v, &cfg->tcp_on, cfg->tcp_host, &cfg->tcp_port, msg,
			    msglen);
}

static void f_tcp(const struct ud_setting *s, const void *rec, char *out,
		  size_t outlen)
{
	const struct ud_cfg *cfg = rec;

	if (!cfg->tcp_on)
		snprintf(out, outlen, "off");
	else
		snprintf(out, outlen, "%s:%u", cfg->tcp_host, (unsigned)cfg->tcp_port);
}

/* metrics = off | PORT | HOST:PORT, like tcp. */
static int p_metrics(const struct ud_setting *s, void *rec, const char *v,
		     char *msg, size_t msglen)
{
	struct ud_cfg *cfg = rec;

	return parse_listen(s, v, &cfg->metrics_on, cfg->metrics_host,
			    &cfg->metrics_port, msg, msglen);
}

static void f_metrics(const struct ud_setting *s, const void *rec, char *out,
		      size_t outlen)
{
	const struct ud_cfg *cfg = rec;

	if (!cfg->metrics_on)
		snprintf(out, outlen, "off");
	else
		snprintf(out, outlen, "%s:%u", cfg->metrics_host,
			 (unsigned)cfg->metrics_port);
}

static int p_ring_size(const struct ud_setting *s, void *rec, const char *v,
		       char *msg, size_t msglen)
{
	uint64_t sz;

	if (strcmp(v, "off") == 0 || strcmp(v, "0") == 0) {
		store_uint(s, rec, 0);
		return 0;
	}
	if (uadm_parse_size(v, &sz) || !uring_size_ok(sz))
		return bad(msg, msglen, "%s '%s': expected off or a power of two from 64K to 1G",
			   s->key, v);
	store_uint(s, rec, sz);
	return 0;
}

static void f_ring_size(const struct ud_setting *s, const void *rec, char *out,
			size_t outlen)
{
	if (load_uint(s, rec) == 0)
		snprintf(out, outlen, "off");
	else
		f_size(s, rec, out, outlen);
}

/* run_dir: kept as given (for saving) and as used (made absolute later). */
static int p_run_dir(const struct ud_setting *s, void *rec, const char *v,
		     char *msg, size_t msglen)
{
	struct ud_cfg *cfg = rec;
	int err = p_str(s, rec, v, msg, msglen);

	if (!err)
		snprintf(cfg->run_dir, sizeof(cfg->run_dir), "%s", v);
	return err;
}

/* A user that must exist now: utmemd switches to it after binding. */
static int p_user(const struct ud_setting *s, void *rec, const char *v,
		  char *msg, size_t msglen)
{
	if (strlen(v) > UD_ACCT_MAX || !getpwnam(v))
		return bad(msg, msglen, "%s '%s': no such user", s->key, v);
	return p_str(s, rec, v, msg, msglen);
}

/* Numeric ids or names; resolve into the id that follows the text field. */
static int p_owner(const struct ud_setting *s, void *rec, const char *v,
		   char *msg, size_t msglen)
{
	struct ud_cfg_tenant *t = rec;
	unsigned long long id;
	struct passwd *pw;

	if (!*v) {
		t->owner[0] = '\0';
		t->uid = (uid_t)-1;
		return 0;
	}
	if (parse_num(v, 0, 0x7fffffff, &id) == 0) {
		t->uid = (uid_t)id;
	} else {
		pw = strlen(v) <= UD_ACCT_MAX ? getpwnam(v) : NULL;
		if (!pw)
			return bad(msg, msglen, "%s '%s': no such user", s->key, v);
		t->uid = pw->pw_uid;
	}
	snprintf(t->owner, sizeof(t->owner), "%s", v);
	return 0;
}

static int p_group(const struct ud_setting *s, void *rec, const char *v,
		   char *msg, size_t msglen)
{
	struct ud_cfg_tenant *t = rec;
	unsigned long long id;
	struct group *gr;

	if (!*v) {
		t->group[0] = '\0';
		t->gid = (gid_t)-1;
		return 0;
	}
	if (parse_num(v, 0, 0x7fffffff, &id) == 0) {
		t->gid = (gid_t)id;
	} else {
		gr = strlen(v) <= UD_ACCT_MAX ? getgrnam(v) : NULL;
		if (!gr)
			return bad(msg, msglen, "%s '%s': no such group", s->key, v);
		t->gid = gr->gr_gid;
	}
	snprintf(t->group, sizeof(t->group), "%s", v);
	return 0;
}

static int p_kind(const struct ud_setting *s, void *rec, const char *v,
		  char *msg, size_t msglen)
{
	struct ud_cfg_pool *p = rec;

	if (strcmp(v, "persistent") == 0)
		p->kind = 0;
	else if (strcmp(v, "ephemeral") == 0)
		p->kind = UST_POOL_EPHEMERAL;
	else
		return bad(msg, msglen, "%s '%s': expected persistent or ephemeral",
			   s->key, v);
	return 0;
}

static void f_kind(const struct ud_setting *s, const void *rec, char *out,
		   size_t outlen)
{
	const struct ud_cfg_pool *p = rec;

	snprintf(out, outlen, "%s", p->kind & UST_POOL_EPHEMERAL ? "ephemeral" : "persistent");
}

/*
 * A list of tenant names (tenants = a, b, c): names separated by commas and
 * blanks, replacing the list. The field is the list pointer; its count, a
 * size_t, follows it in the record (checked below for each list).
 */
typedef char ud_name_t[UST_NAME_MAX + 1];
_Static_assert(offsetof(struct ud_cfg_pool, ntenants) ==
		       offsetof(struct ud_cfg_pool, tenants) + sizeof(ud_name_t *),
	       "a name list's count follows its pointer");
_Static_assert(offsetof(struct ud_cfg_pool, nmanagers) ==
		       offsetof(struct ud_cfg_pool, managers) + sizeof(ud_name_t *),
	       "a name list's count follows its pointer");

static int p_names(const struct ud_setting *s, void *rec, const char *v,
		   char *msg, size_t msglen)
{
	ud_name_t **plist = field(s, rec);
	size_t *pn = (size_t *)((char *)plist + sizeof(ud_name_t *));
	ud_name_t *list = NULL;
	size_t n = 0;
	char *buf = strdup(v), *save = NULL;

	if (!buf)
		return bad(msg, msglen, "out of memory");
	for (char *tok = strtok_r(buf, ", \t", &save); tok;
	     tok = strtok_r(NULL, ", \t", &save)) {
		ud_name_t *nl;
		if (!ud_valid_name(tok)) {
			bad(msg, msglen, "%s: '%s' is not a valid tenant name", s->key, tok);
			goto err;
		}
		for (size_t i = 0; i < n; i++) {
			if (strcmp(list[i], tok) == 0) {
				bad(msg, msglen, "%s: '%s' given twice", s->key, tok);
				goto err;
			}
		}
		nl = realloc(list, (n + 1) * sizeof(*nl));
		if (!nl) {
			bad(msg, msglen, "out of memory");
			goto err;
		}
		list = nl;
		snprintf(list[n++], UST_NAME_MAX + 1, "%s", tok);
	}
	free(buf);
	free(*plist);
	*plist = list;
	*pn = n;
	return 0;
err:
	free(buf);
	free(list);
	return -EINVAL;
}

static void f_names(const struct ud_setting *s, const void *rec, char *out,
		    size_t outlen)
{
	ud_name_t *const *plist = cfield(s, rec);
	const size_t *pn = (const size_t *)((const char *)plist + sizeof(ud_name_t *));
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < *pn && len < outlen; i++) {
		int n = snprintf(out + len, outlen - len, "%s%s", i ? ", " : "",
				 (*plist)[i]);
		if (n < 0)
			break;
		len += (size_t)n;
	}
}

/* Seconds: digits, optionally with s, m (or min) or h; within [lo, hi]. */
static int p_seconds(const struct ud_setting *s, void *rec, const char *v,
		     char *msg, size_t msglen)
{
	unsigned long long n, mul = 1;
	char *end;

	if (!isdigit((unsigned char)*v))
		goto err;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno)
		goto err;
	if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		mul = 60;
	else if (strcmp(end, "h") == 0)
		mul = 3600;
	else if (*end && strcmp(end, "s") != 0)
		goto err;
	if (n > UINT64_MAX / mul || n * mul < s->lo || n * mul > s->hi)
		goto err;
	store_uint(s, rec, n * mul);
	return 0;
err:
	return bad(msg, msglen, "%s '%s': expected %llu..%llu seconds (or with m, h: 10m, 1h)%s",
		   s->key, v, (unsigned long long)s->lo, (unsigned long long)s->hi,
		   s->lo ? "" : "; 0 = never");
}

static void f_seconds(const struct ud_setting *s, const void *rec, char *out,
		      size_t outlen)
{
	f_uint(s, rec, out, outlen);
}

/* controller = off | host | psi | cgroup:PATH (ud_ctl_parse_mode). */
static int p_controller(const struct ud_setting *s, void *rec, const char *v,
			char *msg, size_t msglen)
{
	enum ud_ctl_mode mode;
	char path[4096];

	if (strlen(v) >= s->size || ud_ctl_parse_mode(v, &mode, path, sizeof(path)) < 0)
		return bad(msg, msglen, "%s '%s': expected off, host, psi or cgroup:PATH "
			   "(an absolute memory cgroup directory)", s->key, v);
	return p_str(s, rec, v, msg, msglen);
}

#define f_controller f_str

/* ---- the table ---- */

#define REC_MAIN struct ud_cfg
#define REC_TENANT struct ud_cfg_tenant
#define REC_POOL struct ud_cfg_pool
#define FIELD(rec, f) offsetof(rec, f), sizeof(((rec *)0)->f)

/* SCOPE is MAIN, TENANT or POOL; the parser/printer pair is named by KIND. */
#define S(SCOPE, key, f, KIND, lo, hi, flags, help)                              \
	{key, UD_SCOPE_##SCOPE, FIELD(REC_##SCOPE, f), p_##KIND, f_##KIND, lo, hi, \
	 flags, help}

/* Printers shared by kinds that parse differently. */
#define f_user f_str
#define f_owner f_str
#define f_group f_str
#define f_path f_str
#define p_path p_str
#define f_run_dir f_str

/*
 * Every setting. Order is the order `utmemctl config get` and a saved file
 * use. lo/hi: bounds in the setting's unit (bytes, count, milliseconds,
 * string length).
 */
const struct ud_setting ud_settings[] = {
	/* [utmemd] */
	S(MAIN, "capacity", capacity, capacity, 0, 0, 0,
	  "host memory for all tenants: a size or 1%..100% of physical memory"),
	S(MAIN, "max_key", max_key, size, 1, UST_KEY_MAX, UD_SF_RESTART,
	  "longest key in bytes"),
	S(MAIN, "max_value", max_value, size, 1, UWIRE_VALUE_CEILING, UD_SF_RESTART,
	  "longest value in bytes"),
	S(MAIN, "workers", workers, uint, 1, 256, UD_SF_RESTART,
	  "event-loop threads (default: one per core)"),
	S(MAIN, "run_dir", file_run_dir, run_dir, 1, 4096 - 64, UD_SF_RESTART,
	  "directory for the sockets (--run-dir wins)"),
	S(MAIN, "tcp", tcp_on, tcp, 0, 0, UD_SF_RESTART,
	  "TCP listener: off, PORT (127.0.0.1) or IPv4:PORT"),
	S(MAIN, "log_level", log_level, level, 0, 0, 0,
	  "error, warn, info or debug"),
	S(MAIN, "metrics", metrics_on, metrics, 0, 0, UD_SF_RESTART,
	  "Prometheus endpoint: off, PORT (127.0.0.1) or IPv4:PORT"),
	S(MAIN, "ring_size", ring_size, ring_size, 0, 0, UD_SF_RESTART,
	  "bytes of each direction of a shared-memory ring, or off"),
	S(MAIN, "ring_spin_us", ring_spin_us, uint, 0, 100000, UD_SF_RESTART,
	  "microseconds a worker polls its rings before sleeping"),
	S(MAIN, "worker_slice_us", worker_slice_us, zero_or, UD_MIN_SLICE_US, UD_MAX_SLICE_US,
	  UD_SF_RESTART, "scheduler slice of the serving threads (0: the kernel's default)"),
	S(MAIN, "bench_modes", bench_modes, onoff, 0, 0, UD_SF_RESTART,
	  "benchmarking aid: tenants may ask for no-forward, null-store and timing"),
	S(MAIN, "vsock", vsock_port, uint, 0, 0xfffffffeu, UD_SF_RESTART,
	  "AF_VSOCK port for VM guests, tenants by CID (0 = off; docs/vm.md)"),
	S(MAIN, "user", user, user, 1, UD_ACCT_MAX, UD_SF_RESTART,
	  "run as this user once the sockets are bound (utmemd started as root)"),
	S(MAIN, "persist", persist, path, 1, 4095, 0,
	  "file keeping persistent pools across restarts (relative: to run_dir)"),
	S(MAIN, "idle_timeout", idle_timeout, seconds, 0, 86400, 0,
	  "close a connection idle this long (nothing asked, nothing pending)"),
	S(MAIN, "client_timeout", client_timeout, seconds, 0, 86400, 0,
	  "close a connection whose replies go untaken this long"),
	S(MAIN, "frame_timeout", frame_timeout, seconds, 0, 86400, 0,
	  "close a connection that leaves a frame unfinished this long"),
	S(MAIN, "auth_timeout", auth_timeout, seconds, 1, 3600, 0,
	  "close a TCP connection without a good HELLO after this long"),
	S(MAIN, "max_unauth", max_unauth, uint, 1, 100000, 0,
	  "TCP connections not authenticated yet, at most"),
	S(MAIN, "controller", controller, controller, 1, 4096 + 7, UD_SF_RESTART,
	  "host controller: off, host (MemAvailable), psi, or cgroup:PATH"),
	S(MAIN, "controller_interval", controller_interval_ms, duration, 10, 10000,
	  UD_SF_RESTART, "how often the controller samples the host"),
	S(MAIN, "controller_reserve", controller_reserve, size, 0, 0, UD_SF_RESTART,
	  "memory the controller keeps free for the host (0: 5%, at least 64M)"),
	S(MAIN, "controller_floor", controller_floor, size, 0, 0, UD_SF_RESTART,
	  "the controller never sets the capacity below this (0: the tenants' mins)"),
	S(MAIN, "controller_grow", controller_grow, size, 0, 0, UD_SF_RESTART,
	  "bytes per second the capacity may grow back (0: capacity/64, at least 16M)"),

	/* [tenant NAME] */
	S(TENANT, "min", min, size, 0, 0, 0,
	  "bytes reserved: never evicted to make room for others"),
	S(TENANT, "max", max, size, 0, 0, 0,
	  "cap on what it may store (default: the capacity)"),
	S(TENANT, "weight", weight, uint, 1, 1000000, 0,
	  "share of the memory above every min"),
	S(TENANT, "socket", socket, path, 1, UD_PATH_MAX - 1,
	  UD_SF_CREATE | UD_SF_DERIVED | UD_SF_RUNPATH,
	  "socket path, relative to the run directory (default NAME.sock)"),
	S(TENANT, "mode", mode, mode, 0, 0777, 0,
	  "socket file mode (octal)"),
	S(TENANT, "owner", owner, owner, 0, UD_ACCT_MAX, 0,
	  "socket owner: a user name or uid"),
	S(TENANT, "group", group, group, 0, UD_ACCT_MAX, 0,
	  "socket group: a group name or gid"),
	S(TENANT, "token", token, token, UADM_TOKEN_MIN, UADM_TOKEN_MAX, UD_SF_SECRET,
	  "TCP token, 8..255 bytes, unique"),
	S(TENANT, "inflight", inflight, size, 64u << 10, 1ull << 40, UD_SF_DERIVED,
	  "bytes utmemd may hold for it in flight (buffers, queued replies)"),
	S(TENANT, "max_conns", max_conns, uint, 1, 1000000, UD_SF_DERIVED,
	  "open connections, at most"),
	S(TENANT, "max_pools", max_pools, uint, 1, 1000000, UD_SF_DERIVED,
	  "private pools, at most"),
	S(TENANT, "ivshmem", ivshmem, path, 1, 2 * UD_PATH_MAX - 1,
	  UD_SF_CREATE | UD_SF_RUNPATH,
	  "VM tenant: region file a QEMU ivshmem device maps (docs/vm.md)"),
	S(TENANT, "ivshmem_size", ivshmem_size, size, 256u << 10, 1u << 30,
	  UD_SF_CREATE, "bytes of its ivshmem region, a power of two (default 4M)"),
	S(TENANT, "ivshmem_doorbell", ivshmem_doorbell, path, 1, UD_PATH_MAX - 1,
	  UD_SF_CREATE | UD_SF_RUNPATH,
	  "socket of its ivshmem-doorbell server (QEMU's chardev)"),
	S(TENANT, "vsock_cid", vsock_cid, uint, 1, 0xfffffffeu, UD_SF_CREATE,
	  "VM tenant: the vsock CID its connections come from (docs/vm.md)"),

	/* [pool NAME] */
	S(POOL, "kind", kind, kind, 0, 0, UD_SF_REQUIRED | UD_SF_CREATE,
	  "persistent or ephemeral"),
	S(POOL, "tenants", tenants, names, 0, 0, 0,
	  "tenants allowed to open it, separated by commas"),
	S(POOL, "manage", managers, names, 0, 0, 0,
	  "tenants (among those allowed) that may also flush and destroy it"),
};
const size_t ud_nsettings = sizeof(ud_settings) / sizeof(ud_settings[0]);

/* ---- lookups ---- */

const char *ud_scope_name(enum ud_scope scope)
{
	static const char *const names[] = {"utmemd", "tenant", "pool"};

	return scope < UD_SCOPE_N_ ? names[scope] : "?";
}

/* Key comparison where '-' and '_' are the same (utmemctl --max-conns). */
static int key_eq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		char x = *a == '-' ? '_' : *a, y = *b == '-' ? '_' : *b;
		if (x != y)
			return 0;
	}
	return *a == *b;
}

const struct ud_setting *ud_setting_find(enum ud_scope scope, const char *key)
{
	for (size_t i = 0; i < ud_nsettings; i++)
		if (ud_settings[i].scope == scope && key_eq(ud_settings[i].key, key))
			return &ud_settings[i];
	return NULL;
}

const struct ud_setting *ud_setting_repeated(enum ud_scope scope,
					     const char *const *keys, size_t i)
{
	const struct ud_setting *s = ud_setting_find(scope, keys[i]);

	for (size_t k = 0; s && k < i; k++)
		if (ud_setting_find(scope, keys[k]) == s)
			return s;
	return NULL;
}

int ud_parse_uint(const char *s, unsigned long long lo, unsigned long long hi,
		  unsigned long long *out)
{
	return parse_num(s, lo, hi, out);
}

unsigned ud_setting_bit(const struct ud_setting *s)
{
	unsigned bit = 0;

	for (const struct ud_setting *p = ud_settings; p < s; p++)
		if (p->scope == s->scope)
			bit++;
	return bit;
}

uint64_t *ud_setting_given(enum ud_scope scope, void *rec)
{
	switch (scope) {
	case UD_SCOPE_MAIN: return &((struct ud_cfg *)rec)->given;
	case UD_SCOPE_TENANT: return &((struct ud_cfg_tenant *)rec)->given;
	default: return &((struct ud_cfg_pool *)rec)->given;
	}
}

int ud_setting_is_given(const struct ud_setting *s, const void *rec)
{
	return (*ud_setting_given(s->scope, (void *)rec) >> ud_setting_bit(s)) & 1;
}

void ud_setting_keys(enum ud_scope scope, char *out, size_t outlen)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < ud_nsettings && len < outlen; i++) {
		int n;
		if (ud_settings[i].scope != scope)
			continue;
		n = snprintf(out + len, outlen - len, "%s%s", len ? ", " : "",
			     ud_settings[i].key);
		if (n < 0)
			break;
		len += (size_t)n;
	}
}

int ud_setting_parse(enum ud_scope scope, void *rec, const char *key,
		     const char *text, char *msg, size_t msglen)
{
	const struct ud_setting *s = ud_setting_find(scope, key);
	char keys[512];
	int err;

	if (!s) {
		ud_setting_keys(scope, keys, sizeof(keys));
		snprintf(msg, msglen, "unknown key '%s' in [%s%s] (known: %s)", key,
			 ud_scope_name(scope), scope == UD_SCOPE_MAIN ? "" : " NAME",
			 keys);
		return -ENOENT;
	}
	err = s->parse(s, rec, text, msg, msglen);
	if (err)
		return err;
	*ud_setting_given(scope, rec) |= 1ull << ud_setting_bit(s);
	return 0;
}

void ud_setting_format(const struct ud_setting *s, const void *rec, char *out,
		       size_t outlen)
{
	s->format(s, rec, out, outlen);
}

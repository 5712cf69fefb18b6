/*
 * ctl_show.c — printing what utmemd reports: tenants, pools, capacity and
 * counters (listings), the server view (info) and the running
 * configuration (config get), as aligned text for people or, with --json,
 * one JSON object on one line.
 */
#include "ctl.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

const char *human(uint64_t v, char buf[32])
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
		snprintf(buf, 32, "%llu", (unsigned long long)v);
	else
		snprintf(buf, 32, "%.1f%c", d, units[u]);
	return buf;
}

/* Bytes of the well-formed UTF-8 sequence of 2..4 bytes at s (n left),
 * or 0: no overlong form, no surrogate, nothing above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
	uint32_t cp = s[0] & (0x3f >> (len - 1));

	if (s[0] < 0xc2 || s[0] > 0xf4 || n < len)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[k] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

void json_strn(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;

	putchar('"');
	for (size_t i = 0; i < n && u[i]; i++) {
		unsigned char ch = u[i];
		size_t len;

		if (ch == '"' || ch == '\\') {
			printf("\\%c", ch);
		} else if (ch < 0x20) {
			printf("\\u%04x", ch);
		} else if (ch < 0x80) {
			putchar(ch);
		} else if ((len = utf8_seq(u + i, strnlen(s + i, n - i))) != 0) {
			fwrite(u + i, 1, len, stdout);
			i += len - 1;
		} else {
			/* Not UTF-8 (a path may be any bytes): JSON cannot
			 * carry it, so the replacement character stands in. */
			fputs("\\ufffd", stdout);
		}
	}
	putchar('"');
}

void json_str(const char *s)
{
	json_strn(s, strlen(s));
}

static uint64_t ops_of(const struct uadm_counters *s)
{
	return s->puts + s->gets + s->invalidates;
}

static void json_counters(const struct uadm_counters *s)
{
	printf("\"ops\":%llu,\"puts\":%llu,\"gets\":%llu,\"hits\":%llu,"
	       "\"misses\":%llu,\"invalidates\":%llu,\"evictions\":%llu,"
	       "\"refused_puts\":%llu,\"entries\":%llu,\"bytes_stored\":%llu,"
	       "\"bytes_charged\":%llu",
	       (unsigned long long)ops_of(s), (unsigned long long)s->puts,
	       (unsigned long long)s->gets, (unsigned long long)s->hits,
	       (unsigned long long)s->misses, (unsigned long long)s->invalidates,
	       (unsigned long long)s->evictions,
	       (unsigned long long)s->refused_puts, (unsigned long long)s->entries,
	       (unsigned long long)s->bytes_stored,
	       (unsigned long long)s->bytes_charged);
}

static void human_counters(const struct uadm_counters *s)
{
	char a[32], b[32];

	printf(" %10llu %10llu %10llu %9llu %9llu %9s %9s\n",
	       (unsigned long long)ops_of(s), (unsigned long long)s->hits,
	       (unsigned long long)s->misses, (unsigned long long)s->evictions,
	       (unsigned long long)s->entries, human(s->bytes_stored, a),
	       human(s->bytes_charged, b));
}

static const char *kind_name(uint32_t kind)
{
	return kind & UADM_KIND_EPHEMERAL ? "ephemeral" : "persistent";
}

static void print_tenant(const struct ctl *c, const struct uadm_tenant *t,
			 int first, int with_stats)
{
	char a[32], b[32];

	if (c->json) {
		printf("%s{\"name\":\"%s\",\"id\":%u,\"min\":%llu,\"max\":%llu,"
		       "\"weight\":%u,\"socket\":", first ? "" : ",", t->name, t->id,
		       (unsigned long long)t->min, (unsigned long long)t->max,
		       t->weight);
		json_str(t->socket);
		printf(",\"freeable\":%llu,\"frozen\":%s", (unsigned long long)t->freeable,
		       t->flags & UADM_TENANT_FROZEN ? "true" : "false");
		if (with_stats) {
			putchar(',');
			json_counters(&t->st);
		}
		putchar('}');
		return;
	}
	printf("%-16s %4u %9s %9s %6u", t->name, t->id, human(t->min, a),
	       human(t->max, b), t->weight);
	if (with_stats)
		human_counters(&t->st);
	else
		printf("  %s%s\n", t->socket,
		       t->flags & UADM_TENANT_FROZEN ? "  (frozen)" : "");
}

static void print_pool(const struct ctl *c, const struct uadm_pool *p,
		       int first, int with_stats)
{
	int shared = (p->kind & UADM_KIND_SHARED) != 0;

	if (c->json) {
		printf("%s{\"name\":\"%s\",\"id\":%u,\"owner\":%u,\"kind\":\"%s\","
		       "\"shared\":%s", first ? "" : ",", p->name, p->id, p->owner,
		       kind_name(p->kind), shared ? "true" : "false");
		if (with_stats) {
			putchar(',');
			json_counters(&p->st);
		}
		putchar('}');
		return;
	}
	printf("%-16s %4u %5u %-10s %-7s", p->name, p->id, p->owner,
	       kind_name(p->kind), shared ? "shared" : "private");
	if (with_stats)
		human_counters(&p->st);
	else
		putchar('\n');
}

static const char tenant_stats_head[] =
	"TENANT             ID       MIN       MAX WEIGHT        OPS       HITS"
	"     MISSES EVICTIONS   ENTRIES    STORED   CHARGED\n";
static const char pool_stats_head[] =
	"POOL               ID OWNER KIND       SHARING        OPS       HITS"
	"     MISSES EVICTIONS   ENTRIES    STORED   CHARGED\n";

/* Print "u32 n, n tenants". Returns 0 or -EPROTO. */
static int show_tenants(struct ctl *c, struct uadm_rbuf *r, int with_stats)
{
	uint32_t n = uadm_r_u32(r);

	if (c->json)
		printf("\"tenants\":[");
	else
		fputs(with_stats ? tenant_stats_head
				 : "TENANT             ID       MIN       MAX WEIGHT  SOCKET\n",
		      stdout);
	for (uint32_t i = 0; i < n && !r->err; i++) {
		struct uadm_tenant t;
		uadm_r_tenant(r, &t);
		if (!r->err)
			print_tenant(c, &t, i == 0, with_stats);
	}
	if (c->json)
		printf("]");
	return r->err;
}

static int show_pools(struct ctl *c, struct uadm_rbuf *r, int with_stats)
{
	uint32_t n = uadm_r_u32(r);

	if (c->json)
		printf("\"pools\":[");
	else
		fputs(with_stats ? pool_stats_head
				 : "POOL               ID OWNER KIND       SHARING\n",
		      stdout);
	for (uint32_t i = 0; i < n && !r->err; i++) {
		struct uadm_pool p;
		uadm_r_pool(r, &p);
		if (!r->err)
			print_pool(c, &p, i == 0, with_stats);
	}
	if (c->json)
		printf("]");
	return r->err;
}

/* The capacity line; counts: with the numbers of tenants and pools in
 * JSON too (stats lists them instead, as "tenants" and "pools"). */
static void show_capacity(struct ctl *c, const struct uadm_capacity *cap, int counts)
{
	char a[32], b[32], d[32];

	if (c->json) {
		printf("\"capacity\":%llu,\"charged\":%llu,\"reserved\":%llu",
		       (unsigned long long)cap->capacity,
		       (unsigned long long)cap->charged,
		       (unsigned long long)cap->reserved);
		if (counts)
			printf(",\"tenants\":%u,\"pools\":%u", cap->tenants, cap->pools);
		return;
	}
	printf("capacity %s (%llu bytes), charged %s, reserved %s, %u tenant%s, %u pool%s\n",
	       human(cap->capacity, a), (unsigned long long)cap->capacity,
	       human(cap->charged, b), human(cap->reserved, d), cap->tenants,
	       UADM_PLURAL(cap->tenants), cap->pools, UADM_PLURAL(cap->pools));
}

int ctl_listing(struct ctl *c, unsigned op)
{
	struct uadm_capacity cap;
	struct uadm_rbuf r;
	int st = ctl_request(c, op, NULL, 0);

	if (st)
		return 1;
	uadm_rbuf_init(&r, c->reply, c->reply_len);
	if (c->json)
		putchar('{');
	if (op == UADM_OP_CAPACITY_GET || op == UADM_OP_STATS) {
		uadm_r_capacity(&r, &cap);
		if (!r.err)
			show_capacity(c, &cap, op == UADM_OP_CAPACITY_GET);
		if (op == UADM_OP_STATS)
			fputs(c->json ? "," : "\n", stdout);
	}
	if (op == UADM_OP_TENANT_LIST || op == UADM_OP_STATS)
		show_tenants(c, &r, op == UADM_OP_STATS);
	if (op == UADM_OP_STATS)
		fputs(c->json ? "," : "\n", stdout);
	if (op == UADM_OP_POOL_LIST || op == UADM_OP_STATS)
		show_pools(c, &r, op == UADM_OP_STATS);
	if (c->json)
		puts("}");
	if (uadm_r_end(&r) < 0) {
		fprintf(stderr, "utmemctl: malformed reply from utmemd\n");
		return 1;
	}
	return 0;
}

/* A JSON number as is (digits, one dot), anything else as a string. */
static void json_value(const char *v)
{
	size_t n = strlen(v), dots = 0, i;

	for (i = 0; i < n; i++) {
		if (v[i] == '.')
			dots++;
		else if (!isdigit((unsigned char)v[i]))
			break;
	}
	if (n && i == n && dots <= 1 && v[0] != '.' && v[n - 1] != '.' &&
	    (v[0] != '0' || n == 1 || v[1] == '.'))
		fputs(v, stdout);
	else
		json_str(v);
}

int ctl_info(struct ctl *c)
{
	struct uadm_rbuf r;
	uint32_t n;
	int st = ctl_request(c, UADM_OP_INFO, NULL, 0);

	if (st)
		return 1;
	uadm_rbuf_init(&r, c->reply, c->reply_len);
	n = uadm_r_u32(&r);
	if (c->json)
		putchar('{');
	for (uint32_t i = 0; i < n && !r.err; i++) {
		char key[UADM_KEY_MAX + 1], val[UADM_VALUE_MAX + 1];
		uadm_r_str(&r, key, UADM_KEY_MAX);
		uadm_r_str(&r, val, UADM_VALUE_MAX);
		if (r.err)
			break;
		if (c->json) {
			printf("%s\"%s\":", i ? "," : "", key);
			json_value(val);
		} else {
			printf("%-22s %s\n", key, val);
		}
	}
	if (c->json)
		puts("}");
	if (uadm_r_end(&r) < 0) {
		fprintf(stderr, "utmemctl: malformed reply from utmemd\n");
		return 1;
	}
	return 0;
}

int ctl_config_get(struct ctl *c, const char *section)
{
	struct uadm_wbuf w;
	struct uadm_rbuf r;
	struct uadm_setting *s = malloc(sizeof(*s));
	char last[UADM_SECTION_MAX + 1] = "";
	uint32_t n;
	int st;

	if (!s)
		return 1;
	uadm_wbuf_init(&w);
	uadm_w_str(&w, section, UADM_SECTION_MAX);
	st = ctl_request(c, UADM_OP_CONFIG_GET, &w, 0);
	uadm_wbuf_free(&w);
	if (st) {
		free(s);
		return 1;
	}
	uadm_rbuf_init(&r, c->reply, c->reply_len);
	n = uadm_r_u32(&r);
	if (c->json)
		putchar('[');
	for (uint32_t i = 0; i < n && !r.err; i++) {
		uadm_r_setting(&r, s);
		if (r.err)
			break;
		if (c->json) {
			printf("%s{\"section\":", i ? "," : "");
			json_str(s->section);
			printf(",\"key\":");
			json_str(s->key);
			printf(",\"value\":");
			json_str(s->value);
			printf(",\"given\":%s,\"restart\":%s,\"pending\":%s}",
			       s->flags & UADM_SETTING_GIVEN ? "true" : "false",
			       s->flags & UADM_SETTING_RESTART ? "true" : "false",
			       s->flags & UADM_SETTING_PENDING ? "true" : "false");
			continue;
		}
		if (strcmp(last, s->section) != 0) {
			printf("%s[%s]\n", i ? "\n" : "", s->section);
			snprintf(last, sizeof(last), "%s", s->section);
		}
		/* Defaults are shown commented out, as in an INI file. */
		printf("%s%s = %s%s\n", s->flags & UADM_SETTING_GIVEN ? "" : "; ",
		       s->key, s->value,
		       s->flags & UADM_SETTING_PENDING ? "    ; takes effect at the next restart" : "");
	}
	if (c->json)
		puts("]");
	free(s);
	if (uadm_r_end(&r) < 0) {
		fprintf(stderr, "utmemctl: malformed reply from utmemd\n");
		return 1;
	}
	return 0;
}

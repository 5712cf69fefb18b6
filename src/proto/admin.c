/*
 * admin.c — encoding and strict decoding of admin protocol records
 * (docs/protocol-admin.md), plus the value rules that utmemd's config,
 * utmemctl's command line and the Redis module's arguments share, so that
 * "512M", "0005" or a token mean the same thing (or are refused alike)
 * wherever they are given.
 *
 * Every multi-byte field goes through wire.c's little-endian helpers; every
 * read is bounds-checked by the cursor, which latches -EPROTO on the first
 * overrun so decoders need no per-field checks.
 */
#include "proto/admin.h"
#include "proto/wire.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void uadm_wbuf_init(struct uadm_wbuf *w)
{
	memset(w, 0, sizeof(*w));
}

void uadm_wbuf_free(struct uadm_wbuf *w)
{
	free(w->data);
	uadm_wbuf_init(w);
}

/*
 * Make room for n more bytes and return where they go, or NULL (err set) on
 * allocation failure or an earlier error.
 */
static uint8_t *wbuf_room(struct uadm_wbuf *w, size_t n)
{
	size_t want;
	uint8_t *p;

	if (w->err)
		return NULL;
	if (__builtin_add_overflow(w->len, n, &want)) {
		w->err = -ENOMEM;
		return NULL;
	}
	if (want > w->cap) {
		size_t cap = w->cap ? w->cap : 256;
		while (cap < want)
			cap *= 2;
		p = realloc(w->data, cap);
		if (!p) {
			w->err = -ENOMEM;
			return NULL;
		}
		w->data = p;
		w->cap = cap;
	}
	p = w->data + w->len;
	w->len = want;
	return p;
}

void uadm_w_u32(struct uadm_wbuf *w, uint32_t v)
{
	uint8_t *p = wbuf_room(w, 4);
	if (p)
		uwire_put_u32(p, v);
}

void uadm_w_u64(struct uadm_wbuf *w, uint64_t v)
{
	uint8_t *p = wbuf_room(w, 8);
	if (p)
		uwire_put_u64(p, v);
}

/* Strings longer than max are cut at max: encoders never emit what decoders refuse. */
void uadm_w_str(struct uadm_wbuf *w, const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	uint8_t *p = wbuf_room(w, 2 + n);

	if (!p)
		return;
	uwire_put_u16(p, (uint16_t)n);
	memcpy(p + 2, s, n);
}

void uadm_w_raw(struct uadm_wbuf *w, const void *p, size_t n)
{
	uint8_t *d = n ? wbuf_room(w, n) : NULL;

	if (d)
		memcpy(d, p, n);
}

void uadm_rbuf_init(struct uadm_rbuf *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->err = 0;
}

/* Consume n bytes and return where they start, or NULL (err latched). */
static const uint8_t *rbuf_take(struct uadm_rbuf *r, size_t n)
{
	const uint8_t *p;

	if (r->err || r->len - r->off < n) {
		r->err = -EPROTO;
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

uint32_t uadm_r_u32(struct uadm_rbuf *r)
{
	const uint8_t *p = rbuf_take(r, 4);
	return p ? uwire_get_u32(p) : 0;
}

uint64_t uadm_r_u64(struct uadm_rbuf *r)
{
	const uint8_t *p = rbuf_take(r, 8);
	return p ? uwire_get_u64(p) : 0;
}

/* A string with a NUL byte inside is refused: names are C strings later. */
void uadm_r_str(struct uadm_rbuf *r, char *out, size_t max)
{
	const uint8_t *p = rbuf_take(r, 2);
	size_t n;

	out[0] = '\0';
	if (!p)
		return;
	n = uwire_get_u16(p);
	if (n > max) {
		r->err = -EPROTO;
		return;
	}
	p = rbuf_take(r, n);
	if (!p)
		return;
	if (memchr(p, '\0', n)) {
		r->err = -EPROTO;
		return;
	}
	memcpy(out, p, n);
	out[n] = '\0';
}

int uadm_r_end(const struct uadm_rbuf *r)
{
	if (r->err)
		return r->err;
	return r->off == r->len ? 0 : -EPROTO;
}

static void w_counters(struct uadm_wbuf *w, const struct uadm_counters *c)
{
	const uint64_t v[10] = {c->entries, c->bytes_stored, c->bytes_charged,
				c->puts, c->gets, c->hits, c->misses,
				c->invalidates, c->evictions, c->refused_puts};
	for (int i = 0; i < 10; i++)
		uadm_w_u64(w, v[i]);
}

static void r_counters(struct uadm_rbuf *r, struct uadm_counters *c)
{
	uint64_t *v[10] = {&c->entries, &c->bytes_stored, &c->bytes_charged,
			   &c->puts, &c->gets, &c->hits, &c->misses,
			   &c->invalidates, &c->evictions, &c->refused_puts};
	for (int i = 0; i < 10; i++)
		*v[i] = uadm_r_u64(r);
}

void uadm_w_tenant_req(struct uadm_wbuf *w, const struct uadm_tenant_req *t)
{
	uadm_w_u32(w, t->mask);
	uadm_w_u32(w, t->weight);
	uadm_w_u64(w, t->min);
	uadm_w_u64(w, t->max);
	uadm_w_str(w, t->name, UADM_NAME_MAX);
	uadm_w_str(w, t->socket, UADM_PATH_MAX);
	uadm_w_str(w, t->token, UADM_TOKEN_MAX);
}

void uadm_r_tenant_req(struct uadm_rbuf *r, struct uadm_tenant_req *t)
{
	t->mask = uadm_r_u32(r);
	t->weight = uadm_r_u32(r);
	t->min = uadm_r_u64(r);
	t->max = uadm_r_u64(r);
	uadm_r_str(r, t->name, UADM_NAME_MAX);
	uadm_r_str(r, t->socket, UADM_PATH_MAX);
	uadm_r_str(r, t->token, UADM_TOKEN_MAX);
	if (t->mask & ~UADM_SET_ALL_)
		r->err = -EPROTO;
}

void uadm_w_tenant(struct uadm_wbuf *w, const struct uadm_tenant *t)
{
	uadm_w_u32(w, t->id);
	uadm_w_u32(w, t->weight);
	uadm_w_u64(w, t->min);
	uadm_w_u64(w, t->max);
	w_counters(w, &t->st);
	uadm_w_str(w, t->name, UADM_NAME_MAX);
	uadm_w_str(w, t->socket, UADM_PATH_MAX);
	uadm_w_u64(w, t->freeable);
	uadm_w_u32(w, t->flags);
}

void uadm_r_tenant(struct uadm_rbuf *r, struct uadm_tenant *t)
{
	t->id = uadm_r_u32(r);
	t->weight = uadm_r_u32(r);
	t->min = uadm_r_u64(r);
	t->max = uadm_r_u64(r);
	r_counters(r, &t->st);
	uadm_r_str(r, t->name, UADM_NAME_MAX);
	uadm_r_str(r, t->socket, UADM_PATH_MAX);
	t->freeable = uadm_r_u64(r);
	t->flags = uadm_r_u32(r);
}

void uadm_w_pool(struct uadm_wbuf *w, const struct uadm_pool *p)
{
	uadm_w_u32(w, p->id);
	uadm_w_u32(w, p->owner);
	uadm_w_u32(w, p->kind);
	w_counters(w, &p->st);
	uadm_w_str(w, p->name, UADM_NAME_MAX);
}

void uadm_r_pool(struct uadm_rbuf *r, struct uadm_pool *p)
{
	p->id = uadm_r_u32(r);
	p->owner = uadm_r_u32(r);
	p->kind = uadm_r_u32(r);
	r_counters(r, &p->st);
	uadm_r_str(r, p->name, UADM_NAME_MAX);
}

void uadm_w_capacity(struct uadm_wbuf *w, const struct uadm_capacity *c)
{
	uadm_w_u64(w, c->capacity);
	uadm_w_u64(w, c->charged);
	uadm_w_u64(w, c->reserved);
	uadm_w_u32(w, c->tenants);
	uadm_w_u32(w, c->pools);
}

void uadm_r_capacity(struct uadm_rbuf *r, struct uadm_capacity *c)
{
	c->capacity = uadm_r_u64(r);
	c->charged = uadm_r_u64(r);
	c->reserved = uadm_r_u64(r);
	c->tenants = uadm_r_u32(r);
	c->pools = uadm_r_u32(r);
}

void uadm_w_setting(struct uadm_wbuf *w, const struct uadm_setting *s)
{
	uadm_w_str(w, s->section, UADM_SECTION_MAX);
	uadm_w_str(w, s->key, UADM_KEY_MAX);
	uadm_w_str(w, s->value, UADM_VALUE_MAX);
	uadm_w_u32(w, s->flags);
}

void uadm_r_setting(struct uadm_rbuf *r, struct uadm_setting *s)
{
	uadm_r_str(r, s->section, UADM_SECTION_MAX);
	uadm_r_str(r, s->key, UADM_KEY_MAX);
	uadm_r_str(r, s->value, UADM_VALUE_MAX);
	s->flags = uadm_r_u32(r);
}

/* Shift for a unit letter, or -1 if c is not one. */
static int unit_shift(char c)
{
	switch (tolower((unsigned char)c)) {
	case 'k': return 10;
	case 'm': return 20;
	case 'g': return 30;
	case 't': return 40;
	default: return -1;
	}
}

int uadm_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;
	int shift = 0;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end && (shift = unit_shift(*end)) >= 0) {
		end++;
		if (strcasecmp(end, "ib") == 0)
			end += 2;
	} else {
		shift = 0;
	}
	if (strcasecmp(end, "b") == 0)
		end++;
	if (*end)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

int uadm_parse_uint(const char *s, size_t n, uint64_t lo, uint64_t hi,
		    uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned char)s[i] - (unsigned)'0';

		if (d > 9 || d > hi || v > (hi - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	if (v < lo)
		return -EINVAL;
	*out = v;
	return 0;
}

const char *uadm_text_fault(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return "control characters are not allowed";
		if (c == ';' && i > 0 && isspace((unsigned char)s[i - 1]))
			return "' ;' would start a comment in the config file";
	}
	if (n && (isspace((unsigned char)s[0]) || isspace((unsigned char)s[n - 1])))
		return "leading or trailing blanks are not allowed";
	return NULL;
}

_Static_assert(UADM_TOKEN_MIN == 8 && UADM_TOKEN_MAX == 255,
	       "uadm_token_check() words the bounds");

int uadm_token_check(const char *s, size_t n, const char **why)
{
	if (n < UADM_TOKEN_MIN || n > UADM_TOKEN_MAX) {
		*why = "expected 8..255 bytes";
		return -ERANGE;
	}
	*why = uadm_text_fault(s, n);
	return *why ? -EINVAL : 0;
}

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int uadm_log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return i;
	if (strcasecmp(s, "warning") == 0)
		return UADM_LOG_WARN;
	return -EINVAL;
}

const char *uadm_log_level_name(int level)
{
	return level >= 0 && level < 4 ? level_names[level] : "unknown";
}

const char *uadm_op_name(unsigned opcode)
{
	static const char *const names[] = {
		"TENANT_LIST", "TENANT_ADD", "TENANT_REMOVE", "TENANT_SET",
		"CAPACITY_GET", "CAPACITY_SET", "POOL_LIST",
		"POOL_CREATE_SHARED", "POOL_GRANT", "STATS", "RELOAD",
		"LOG_LEVEL", "CONFIG_GET", "CONFIG_SET", "CONFIG_SAVE",
		"POOL_FLUSH", "POOL_DESTROY", "INFO", "SAVE", "TENANT_FREEZE",
	};
	if (opcode < UADM_OP_TENANT_LIST || opcode > UADM_OP_MAX_)
		return NULL;
	return names[opcode - UADM_OP_TENANT_LIST];
}

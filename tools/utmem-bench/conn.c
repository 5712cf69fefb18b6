/*
 * conn.c — what every target shares about one connection: key slots, GET
 * buffers, the value pattern, judging a GET's answer and keeping the first
 * error message for the report.
 */
#include "conn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Above this much GET buffer per connection, slots share one buffer. */
#define UB_BUFS_SHARED_ABOVE ((size_t)256 << 20)

const char *ub_key(struct ub_conn *c, unsigned slot, uint32_t k)
{
	char *p = c->keys + (size_t)slot * UB_KEY_SLOT;

	k += c->o->key_offset;
	/* Eight digits always: offset + keyspace is capped at 10^8. */
	memcpy(p, "key:", 4);
	for (int i = 11; i >= 4; i--) {
		p[i] = (char)('0' + k % 10u);
		k /= 10u;
	}
	p[UB_KEY_LEN] = '\0';
	return p;
}

void ub_judge_get(struct ub_conn *c, uint32_t k, const void *buf, size_t len,
		  struct ub_tally *t)
{
	if (len != c->o->value_size) {
		ub_conn_error(c, "GET key %u: %zu bytes, expected %zu", k, len,
			      c->o->value_size);
		t->err++;
		return;
	}
	if (c->o->verify && memcmp(buf, ub_value(c, k), len) != 0) {
		ub_conn_error(c, "GET key %u: content differs from what was PUT", k);
		t->err++;
		return;
	}
	t->ok++;
	t->bytes += len;
}

/* Format into c->errmsg (truncating). */
__attribute__((format(printf, 2, 0)))
static void ub_vset(struct ub_conn *c, const char *fmt, va_list ap)
{
	vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
}

void ub_conn_error(struct ub_conn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->errmsg[0])
		return;
	va_start(ap, fmt);
	ub_vset(c, fmt, ap);
	va_end(ap);
}

void ub_conn_fail(struct ub_conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ub_vset(c, fmt, ap);
	va_end(ap);
}

const unsigned char *ub_pattern_new(size_t value_size)
{
	unsigned char *p = malloc(value_size + UB_PATTERN_SPREAD);
	uint32_t x = 2463534242u;

	if (!p)
		return NULL;
	/* xorshift32 bytes: incompressible, and different for every offset. */
	for (size_t i = 0; i < value_size + UB_PATTERN_SPREAD; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)x;
	}
	return p;
}

int ub_conn_init(struct ub_conn *c, const struct ub_opts *o, unsigned id,
		 const unsigned char *pattern)
{
	size_t need;

	memset(c, 0, sizeof(*c));
	c->o = o;
	c->id = id;
	c->pattern = pattern;
	c->keys = calloc(o->pipeline, UB_KEY_SLOT);
	if (!c->keys)
		return -ENOMEM;
	c->buf_stride = o->value_size ? o->value_size : 1;
	c->nbufs = o->pipeline;
	need = (size_t)o->pipeline * c->buf_stride;
	if (need > UB_BUFS_SHARED_ABOVE && !o->verify) {
		/* Nothing reads them unless --verify: one buffer serves all. */
		c->nbufs = 1;
		need = c->buf_stride;
	}
	c->bufs = malloc(need);
	if (!c->bufs) {
		free(c->keys);
		c->keys = NULL;
		return -ENOMEM;
	}
	/* Fault the pages in before anything is timed. */
	memset(c->bufs, 0, need);
	return 0;
}

void ub_conn_release(struct ub_conn *c)
{
	free(c->keys);
	free(c->bufs);
	c->keys = NULL;
	c->bufs = NULL;
}

/*
 * wire.c — encoding and strict decoding of utmem frames (docs/protocol.md).
 *
 * Byte order is little-endian whatever the host; loads and stores go through
 * byte-wise helpers so nothing depends on alignment or struct layout. The
 * decoder is the daemon's first line of defence: it rejects anything that is
 * not exactly a frame this version defines before a byte is allocated.
 */
#include "proto/wire.h"

#include <errno.h>

/* Byte offsets of the header fields on the wire. */
enum {
	OFF_MAGIC = 0,
	OFF_VERSION = 4,
	OFF_OPCODE = 5,
	OFF_FLAGS = 6,
	OFF_ID = 8,
	OFF_POOL = 16,
	OFF_STATUS = 20,
	OFF_RESERVED = 22,
	OFF_KLEN = 24,
	OFF_VLEN = 28,
};
_Static_assert(OFF_VLEN + 4 == UWIRE_HDR_SIZE, "header is 32 bytes");

void uwire_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

void uwire_put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void uwire_put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint16_t uwire_get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

uint32_t uwire_get_u32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

uint64_t uwire_get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

void uwire_hdr_encode(const struct uwire_hdr *h, uint8_t out[UWIRE_HDR_SIZE])
{
	uwire_put_u32(out + OFF_MAGIC, UWIRE_MAGIC);
	out[OFF_VERSION] = h->version;
	out[OFF_OPCODE] = h->opcode;
	uwire_put_u16(out + OFF_FLAGS, h->flags);
	uwire_put_u64(out + OFF_ID, h->id);
	uwire_put_u32(out + OFF_POOL, h->pool);
	uwire_put_u16(out + OFF_STATUS, h->status);
	uwire_put_u16(out + OFF_RESERVED, 0);
	uwire_put_u32(out + OFF_KLEN, h->klen);
	uwire_put_u32(out + OFF_VLEN, h->vlen);
}

/*
 * Check lengths of a decoded header. Requests other than PUT are small by
 * definition, so their value length is held to UWIRE_SMALL_VALUE_MAX whatever
 * the configured value limit: a GET cannot make the daemon buffer 64 MiB.
 */
static int check_lengths(const struct uwire_hdr *h,
			 const struct uwire_limits *lim)
{
	int request = !(h->flags & UWIRE_F_RESPONSE);

	if (h->klen > lim->max_key || h->klen > UWIRE_KEY_CEILING)
		return -UWIRE_S_TOOBIG;
	if (h->vlen > lim->max_value || h->vlen > UWIRE_VALUE_CEILING)
		return -UWIRE_S_TOOBIG;
	if (request && h->opcode != UWIRE_OP_PUT &&
	    h->vlen > UWIRE_SMALL_VALUE_MAX)
		return -UWIRE_S_TOOBIG;
	if (request && h->status != 0)
		return -UWIRE_S_PROTO;
	return 0;
}

int uwire_hdr_decode(const uint8_t in[UWIRE_HDR_SIZE],
		     const struct uwire_limits *lim, struct uwire_hdr *h)
{
	h->version = in[OFF_VERSION];
	h->opcode = in[OFF_OPCODE];
	h->flags = uwire_get_u16(in + OFF_FLAGS);
	h->id = uwire_get_u64(in + OFF_ID);
	h->pool = uwire_get_u32(in + OFF_POOL);
	h->status = uwire_get_u16(in + OFF_STATUS);
	h->klen = uwire_get_u32(in + OFF_KLEN);
	h->vlen = uwire_get_u32(in + OFF_VLEN);

	if (uwire_get_u32(in + OFF_MAGIC) != UWIRE_MAGIC)
		return -UWIRE_S_PROTO;
	if (h->version != UWIRE_VERSION)
		return -UWIRE_S_VERSION;
	if (uwire_get_u16(in + OFF_RESERVED) != 0 || (h->flags & ~UWIRE_F_ALL_))
		return -UWIRE_S_PROTO;
	return check_lengths(h, lim);
}

size_t uwire_frame_size(const struct uwire_hdr *h)
{
	size_t n = UWIRE_HDR_SIZE;

	if (__builtin_add_overflow(n, (size_t)h->klen, &n) ||
	    __builtin_add_overflow(n, (size_t)h->vlen, &n))
		return 0;
	return n;
}

long uwire_parse(const uint8_t *buf, size_t len, const struct uwire_limits *lim,
		 struct uwire_frame *f, size_t *need)
{
	size_t total;
	int err;

	*need = UWIRE_HDR_SIZE;
	if (len < UWIRE_HDR_SIZE)
		return 0;
	err = uwire_hdr_decode(buf, lim, &f->hdr);
	if (err)
		return err;
	total = uwire_frame_size(&f->hdr);
	if (total == 0 || total > (size_t)0x7fffffff)
		return -UWIRE_S_TOOBIG;
	*need = total;
	if (len < total)
		return 0;
	f->key = buf + UWIRE_HDR_SIZE;
	f->value = f->key + f->hdr.klen;
	return (long)total;
}

long uwire_parse_request(const uint8_t *buf, size_t len,
			 const struct uwire_limits *lim, struct uwire_frame *f,
			 size_t *need)
{
	long r;

	if (len >= UWIRE_HDR_SIZE &&
	    (uwire_get_u16(buf + OFF_FLAGS) & UWIRE_F_RESPONSE)) {
		*need = UWIRE_HDR_SIZE;
		r = uwire_hdr_decode(buf, lim, &f->hdr);
		/* A worse fault of the header (magic, version) is named first. */
		return r == -UWIRE_S_VERSION ? r : -UWIRE_S_PROTO;
	}
	return uwire_parse(buf, len, lim, f, need);
}

int uwire_request_check(const struct uwire_hdr *h)
{
	uint16_t allowed = 0;

	switch (h->opcode) {
	case UWIRE_OP_PUT:
		if (h->klen == 0)
			return -UWIRE_S_INVALID;
		allowed = UWIRE_F_POSTED;
		break;
	case UWIRE_OP_INVALIDATE:
	case UWIRE_OP_PUT_REF:
		if (h->klen == 0)
			return -UWIRE_S_INVALID;
		break;
	case UWIRE_OP_CREDIT_RETURN:
	case UWIRE_OP_BENCH:
		break;
	case UWIRE_OP_GET:
		if (h->klen == 0)
			return -UWIRE_S_INVALID;
		allowed = UWIRE_F_EXCLUSIVE | UWIRE_F_MAXLEN;
		break;
	case UWIRE_OP_POOL_OPEN:
		allowed = UWIRE_F_CREATE | UWIRE_F_EPHEMERAL | UWIRE_F_SHARED;
		break;
	default:
		if (h->opcode == 0 || h->opcode > UWIRE_OP_BENCH)
			return 0; /* unknown or admin: the dispatcher answers */
		break;
	}
	/* Bits 8-15 mean something only for the opcode that defines them. */
	if (h->flags & 0xff00u & ~allowed)
		return -UWIRE_S_INVALID;
	return 0;
}

void uwire_hello_encode(const struct uwire_hello *h, uint8_t out[UWIRE_HELLO_SIZE])
{
	uwire_put_u32(out, h->version);
	uwire_put_u32(out + 4, h->max_key);
	uwire_put_u32(out + 8, h->max_value);
	uwire_put_u32(out + 12, h->tenant_id);
}

int uwire_hello_decode(const uint8_t *in, size_t len, struct uwire_hello *h)
{
	if (len != UWIRE_HELLO_SIZE)
		return -UWIRE_S_PROTO;
	h->version = uwire_get_u32(in);
	h->max_key = uwire_get_u32(in + 4);
	h->max_value = uwire_get_u32(in + 8);
	h->tenant_id = uwire_get_u32(in + 12);
	return 0;
}

/* The stats record is the struct's u64 fields in declaration order. */
static uint64_t *stats_field(struct uwire_stats *s, int i)
{
	uint64_t *fields[] = {
		&s->entries, &s->bytes_stored, &s->bytes_charged, &s->puts,
		&s->gets, &s->hits, &s->misses, &s->invalidates,
		&s->evictions, &s->refused_puts, &s->limit_max, &s->limit_min,
	};
	_Static_assert(sizeof(fields) / sizeof(fields[0]) * 8 == UWIRE_STATS_SIZE,
		       "every stats field is on the wire");
	return fields[i];
}

void uwire_stats_encode(const struct uwire_stats *s, uint8_t out[UWIRE_STATS_SIZE])
{
	struct uwire_stats copy = *s;

	for (int i = 0; i < (int)(UWIRE_STATS_SIZE / 8); i++)
		uwire_put_u64(out + 8 * i, *stats_field(&copy, i));
}

int uwire_stats_decode(const uint8_t *in, size_t len, struct uwire_stats *s)
{
	if (len != UWIRE_STATS_SIZE)
		return -UWIRE_S_PROTO;
	for (int i = 0; i < (int)(UWIRE_STATS_SIZE / 8); i++)
		*stats_field(s, i) = uwire_get_u64(in + 8 * i);
	return 0;
}

static const struct {
	int err;
	const char *name;
} status_table[UWIRE_S_MAX_] = {
	[UWIRE_S_OK] = {0, "ok"},
	[UWIRE_S_NOTFOUND] = {ENOENT, "not found"},
	[UWIRE_S_INVALID] = {EINVAL, "invalid argument"},
	[UWIRE_S_BADPOOL] = {EBADF, "bad pool"},
	[UWIRE_S_ACCESS] = {EACCES, "access denied"},
	[UWIRE_S_TOOBIG] = {EMSGSIZE, "too big"},
	[UWIRE_S_QUOTA] = {EDQUOT, "tenant quota exceeded"},
	[UWIRE_S_CAPACITY] = {ENOSPC, "host capacity exhausted"},
	[UWIRE_S_NOMEM] = {ENOMEM, "out of memory"},
	[UWIRE_S_PROTO] = {EPROTO, "protocol error"},
	[UWIRE_S_VERSION] = {EPROTONOSUPPORT, "unsupported version"},
	[UWIRE_S_OPCODE] = {EOPNOTSUPP, "unknown or forbidden opcode"},
	[UWIRE_S_AUTH] = {EPERM, "not authenticated"},
	[UWIRE_S_EXISTS] = {EEXIST, "exists"},
	[UWIRE_S_SHUTDOWN] = {ESHUTDOWN, "daemon shutting down"},
	[UWIRE_S_INTERNAL] = {EIO, "internal error"},
	[UWIRE_S_NOBUFS] = {ENOBUFS, "buffer too small"},
	[UWIRE_S_REVOKED] = {EKEYREVOKED, "tenant removed by the operator"},
	[UWIRE_S_NOTEMPTY] = {ENOTEMPTY, "would drop stored data (needs force)"},
	[UWIRE_S_FROZEN] = {EROFS, "tenant frozen"},
};

int uwire_status_to_errno(unsigned status)
{
	if (status >= UWIRE_S_MAX_)
		return EPROTO;
	return status_table[status].err;
}

unsigned uwire_errno_to_status(int err)
{
	if (err < 0)
		err = -err;
	for (unsigned s = 0; s < UWIRE_S_MAX_; s++)
		if (status_table[s].err == err)
			return s;
	return UWIRE_S_INTERNAL;
}

const char *uwire_status_name(unsigned status)
{
	if (status >= UWIRE_S_MAX_)
		return "unknown status";
	return status_table[status].name;
}

const char *uwire_op_name(unsigned opcode)
{
	switch (opcode) {
	case UWIRE_OP_HELLO: return "HELLO";
	case UWIRE_OP_PING: return "PING";
	case UWIRE_OP_POOL_OPEN: return "POOL_OPEN";
	case UWIRE_OP_POOL_DESTROY: return "POOL_DESTROY";
	case UWIRE_OP_POOL_FLUSH: return "POOL_FLUSH";
	case UWIRE_OP_PUT: return "PUT";
	case UWIRE_OP_GET: return "GET";
	case UWIRE_OP_INVALIDATE: return "INVALIDATE";
	case UWIRE_OP_STATS: return "STATS";
	case UWIRE_OP_RING_SETUP: return "RING_SETUP";
	case UWIRE_OP_SERVER_INFO: return "SERVER_INFO";
	case UWIRE_OP_PUT_REF: return "PUT_REF";
	case UWIRE_OP_CREDIT_RETURN: return "CREDIT_RETURN";
	case UWIRE_OP_BENCH: return "BENCH";
	default: return opcode >= UWIRE_OP_ADMIN_MIN_ &&
			opcode <= UWIRE_OP_ADMIN_MAX_ ? "ADMIN" : "UNKNOWN";
	}
}

void uwire_ref_encode(const struct uwire_ref *r, uint8_t out[UWIRE_REF_SIZE])
{
	uwire_put_u32(out, r->slot);
	uwire_put_u32(out + 4, r->gen);
	uwire_put_u32(out + 8, r->vlen);
	uwire_put_u32(out + 12, 0);
}

int uwire_ref_decode(const uint8_t in[UWIRE_REF_SIZE], struct uwire_ref *r)
{
	r->slot = uwire_get_u32(in);
	r->gen = uwire_get_u32(in + 4);
	r->vlen = uwire_get_u32(in + 8);
	return uwire_get_u32(in + 12) ? -EPROTO : 0;
}

/*
 * wire.h — the utmem wire format, shared by utmemd and libutmem.
 *
 * Every request and every response is one frame: a fixed 32-byte header in
 * little-endian byte order, then `klen` key bytes, then `vlen` value bytes.
 * No pointers, no implicit padding, nothing whose meaning depends on the
 * stream: the same records can sit in a shared-memory ring unchanged. The
 * specification, with every opcode's key/value/pool usage, is
 * docs/protocol.md; this header and wire.c are its only implementation.
 *
 * Decoding is strict: the magic, version, reserved bits and every length are
 * checked against the receiver's limits, with overflow-safe arithmetic,
 * before the caller allocates anything.
 */
#ifndef UTMEM_WIRE_H
#define UTMEM_WIRE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UWIRE_MAGIC 0x4d4d5455u /* "UTMM" as bytes on the wire */
#define UWIRE_VERSION 1u
#define UWIRE_HDR_SIZE 32u

/* Hard ceilings: no configuration may exceed them. */
#define UWIRE_KEY_CEILING (64u * 1024u)
#define UWIRE_VALUE_CEILING (1024u * 1024u * 1024u)

/*
 * Requests other than PUT carry at most this many value bytes (a GET's
 * maximum length, an admin record), so a receiver never buffers more than a
 * header, a key and this for them.
 */
#define UWIRE_SMALL_VALUE_MAX 4096u

/* Opcodes. 0x01-0x3f: tenant operations; 0x40-0x7f: admin socket only. */
enum uwire_op {
	UWIRE_OP_HELLO = 0x01,      /* key: token (TCP) or empty; reply value: uwire_hello */
	UWIRE_OP_PING = 0x02,       /* nothing; reply nothing */
	UWIRE_OP_POOL_OPEN = 0x03,  /* key: pool name; flags: kind/create; reply pool */
	UWIRE_OP_POOL_DESTROY = 0x04,
	UWIRE_OP_POOL_FLUSH = 0x05,
	UWIRE_OP_PUT = 0x06,        /* pool, key, value */
	UWIRE_OP_GET = 0x07,        /* pool, key [, u32 max length if F_MAXLEN]; reply value */
	UWIRE_OP_INVALIDATE = 0x08, /* pool, key */
	UWIRE_OP_STATS = 0x09,      /* pool 0: this tenant; else that pool; reply uwire_stats */
	UWIRE_OP_RING_SETUP = 0x0a, /* Unix socket: nothing; reply value + fds: shared-memory ring */
	UWIRE_OP_SERVER_INFO = 0x0b, /* nothing; reply value: "key:value" lines about utmemd */
	UWIRE_OP_PUT_REF = 0x0c,    /* ring: pool, key, value uwire_ref: adopt a staging extent; posted */
	UWIRE_OP_CREDIT_RETURN = 0x0d, /* ring: value: u32 slot mask, u32 0, u64 grant total; posted */
	UWIRE_OP_BENCH = 0x0e,      /* value: u32 UWIRE_BENCH_* mode; reply uwire_bench_times
				       (only where utmemd has bench_modes = on) */
	UWIRE_OP_TENANT_MAX_ = 0x3f,
	UWIRE_OP_ADMIN_MIN_ = 0x40, /* admin opcodes: see admin.h */
	UWIRE_OP_ADMIN_MAX_ = 0x7f,
};

/* Header flags. Bits 0-7 general, 8-15 opcode-specific. */
#define UWIRE_F_RESPONSE (1u << 0)  /* set on every response */
#define UWIRE_F_POSTED (1u << 8)    /* PUT (ring): no reply; paid from credit */
#define UWIRE_F_EXCLUSIVE (1u << 8) /* GET: pop (return and remove) */
#define UWIRE_F_MAXLEN (1u << 9)    /* GET: value is a u32 maximum length */
#define UWIRE_F_CREATE (1u << 8)    /* POOL_OPEN: create if missing */
#define UWIRE_F_EPHEMERAL (1u << 9) /* POOL_OPEN: ephemeral (else persistent) */
#define UWIRE_F_SHARED (1u << 10)   /* POOL_OPEN: shared pool (granted by operator) */
#define UWIRE_F_ALL_ ((uint16_t)0xff01u)

/* Response statuses. Their own enum; each side maps them to errno. */
enum uwire_status {
	UWIRE_S_OK = 0,
	UWIRE_S_NOTFOUND = 1,   /* GET/INVALIDATE miss, unknown name */
	UWIRE_S_INVALID = 2,    /* malformed argument */
	UWIRE_S_BADPOOL = 3,    /* pool id unknown, destroyed or not yours */
	UWIRE_S_ACCESS = 4,     /* shared pool not granted */
	UWIRE_S_TOOBIG = 5,     /* key or value above the configured limit */
	UWIRE_S_QUOTA = 6,      /* tenant's max would be exceeded */
	UWIRE_S_CAPACITY = 7,   /* host capacity would be exceeded */
	UWIRE_S_NOMEM = 8,      /* allocation failed */
	UWIRE_S_PROTO = 9,      /* malformed frame */
	UWIRE_S_VERSION = 10,   /* unsupported protocol version */
	UWIRE_S_OPCODE = 11,    /* unknown opcode, or not allowed on this socket */
	UWIRE_S_AUTH = 12,      /* HELLO missing or token wrong */
	UWIRE_S_EXISTS = 13,    /* name in use / pool of another kind */
	UWIRE_S_SHUTDOWN = 14,  /* daemon stopping */
	UWIRE_S_INTERNAL = 15,
	UWIRE_S_NOBUFS = 16,    /* GET with F_MAXLEN: value longer; nothing removed */
	UWIRE_S_REVOKED = 17,   /* the operator removed this connection's tenant */
	UWIRE_S_NOTEMPTY = 18,  /* admin: would drop stored data; repeat with force */
	UWIRE_S_FROZEN = 19,    /* PUT by a frozen tenant (maintenance); key left empty */
	UWIRE_S_MAX_
};

/* The decoded header. Field order here is not the wire order; see wire.c. */
struct uwire_hdr {
	uint8_t version;
	uint8_t opcode;
	uint16_t flags;
	uint64_t id;     /* request id, echoed in the response */
	uint32_t pool;
	uint16_t status; /* 0 in requests */
	uint32_t klen;
	uint32_t vlen;
};

struct uwire_limits {
	uint32_t max_key;
	uint32_t max_value;
};

/*
 * PUT_REF value: 16 bytes, little-endian: u32 staging slot, u32 its
 * generation, u32 value length, u32 0. The record [u32 klen][u32 0][key]
 * [value] was written by the client at the start of the slot's extent.
 */
struct uwire_ref {
	uint32_t slot;
	uint32_t gen;
	uint32_t vlen;
};
#define UWIRE_REF_SIZE 16u
/* CREDIT_RETURN value: u32 staging slots given back, u32 0, u64 the grant
 * total up to which unspent credit is given back. */
#define UWIRE_RETURN_SIZE 16u
void uwire_ref_encode(const struct uwire_ref *r, uint8_t out[UWIRE_REF_SIZE]);
/* Returns 0, or -EPROTO if the reserved word is not 0. */
int uwire_ref_decode(const uint8_t in[UWIRE_REF_SIZE], struct uwire_ref *r);

/*
 * BENCH (docs/protocol.md, "Benchmark modes"): a connection's latency
 * breakdown modes, refused (OPCODE) unless utmemd runs with bench_modes =
 * on. Request value: u32 mode, little-endian. Reply value: two u64s, the
 * daemon's service time and, within it, the store's, of the last request
 * this connection (or its ring peer) sent before this BENCH.
 */
#define UWIRE_BENCH_NULL_STORE (1u << 0) /* PUT/GET answered without the store */
#define UWIRE_BENCH_TIMING (1u << 1)     /* time each request (BENCH reads it) */
#define UWIRE_BENCH_NO_FORWARD (1u << 2) /* the client answers itself: consent only */
#define UWIRE_BENCH_ALL_ 0x7u
#define UWIRE_BENCH_MODE_SIZE 4u
#define UWIRE_BENCH_TIMES_SIZE 16u

/* HELLO reply value: 16 bytes, little-endian u32s. */
struct uwire_hello {
	uint32_t version;   /* server protocol version */
	uint32_t max_key;
	uint32_t max_value;
	uint32_t tenant_id;
};
#define UWIRE_HELLO_SIZE 16u

/* STATS reply value: 12 little-endian u64s, in this order. */
struct uwire_stats {
	uint64_t entries, bytes_stored, bytes_charged;
	uint64_t puts, gets, hits, misses, invalidates, evictions, refused_puts;
	uint64_t limit_max; /* tenant's max (pool stats: 0) */
	uint64_t limit_min; /* tenant's min (pool stats: 0) */
};
#define UWIRE_STATS_SIZE (12u * 8u)

/* Little-endian loads and stores for payload records. */
void uwire_put_u16(uint8_t *p, uint16_t v);
void uwire_put_u32(uint8_t *p, uint32_t v);
void uwire_put_u64(uint8_t *p, uint64_t v);
uint16_t uwire_get_u16(const uint8_t *p);
uint32_t uwire_get_u32(const uint8_t *p);
uint64_t uwire_get_u64(const uint8_t *p);

/* Write h as 32 header bytes. The magic is added here. */
void uwire_hdr_encode(const struct uwire_hdr *h, uint8_t out[UWIRE_HDR_SIZE]);

/*
 * Decode and validate 32 header bytes against lim. Returns 0, or a negative
 * enum uwire_status: -UWIRE_S_PROTO (bad magic, reserved bits, lengths that
 * are impossible for the opcode), -UWIRE_S_VERSION, -UWIRE_S_TOOBIG (a length
 * above lim). On error *h is still filled as far as it could be read, so the
 * caller can answer with the request's id. Opcodes are not checked here
 * (a receiver answers an unknown one with UWIRE_S_OPCODE and stays in sync).
 */
int uwire_hdr_decode(const uint8_t in[UWIRE_HDR_SIZE],
		     const struct uwire_limits *lim, struct uwire_hdr *h);

/* Total frame size klen + vlen + header, or 0 if it overflows size_t. */
size_t uwire_frame_size(const struct uwire_hdr *h);

/*
 * One complete frame found in a byte buffer: header and pointers into that
 * buffer for key and value (valid while the buffer is).
 */
struct uwire_frame {
	struct uwire_hdr hdr;
	const uint8_t *key;
	const uint8_t *value;
};

/*
 * Look for one frame at the start of buf. Returns its total size (> 0) and
 * fills *f when it is complete, 0 when more bytes are needed (with
 * *need set to the total frame size once the header is known, else to the
 * header size), or a negative enum uwire_status when the header is invalid.
 */
long uwire_parse(const uint8_t *buf, size_t len, const struct uwire_limits *lim,
		 struct uwire_frame *f, size_t *need);

/*
 * uwire_parse for a receiver of requests (the daemon): a frame whose
 * header carries RESPONSE is refused with -UWIRE_S_PROTO as soon as the
 * header is in, so every length is checked by the request rules (the
 * small-value limit of non-PUT requests included) before anything is
 * buffered.
 */
long uwire_parse_request(const uint8_t *buf, size_t len,
			 const struct uwire_limits *lim, struct uwire_frame *f,
			 size_t *need);

/*
 * Argument rules every tenant request must meet whatever its handler
 * (docs/protocol.md section 5): PUT, GET and INVALIDATE carry a key of at
 * least one byte; an opcode-specific flag bit is set only on the opcode
 * that defines it. Returns 0 or -UWIRE_S_INVALID (the frame is answered
 * INVALID and the connection stays usable). Unknown opcodes pass: they are
 * answered OPCODE.
 */
int uwire_request_check(const struct uwire_hdr *h);

void uwire_hello_encode(const struct uwire_hello *h, uint8_t out[UWIRE_HELLO_SIZE]);
int uwire_hello_decode(const uint8_t *in, size_t len, struct uwire_hello *h);
void uwire_stats_encode(const struct uwire_stats *s, uint8_t out[UWIRE_STATS_SIZE]);
int uwire_stats_decode(const uint8_t *in, size_t len, struct uwire_stats *s);

/* Map statuses and errno values both ways (errno values are positive). */
int uwire_status_to_errno(unsigned status);
unsigned uwire_errno_to_status(int err);
const char *uwire_status_name(unsigned status);
const char *uwire_op_name(unsigned opcode);

#ifdef __cplusplus
}
#endif

#endif /* UTMEM_WIRE_H */

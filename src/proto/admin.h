/*
 * admin.h — the utmem admin protocol, spoken on utmemd's root-only admin
 * socket by utmemctl.
 *
 * Frames are exactly those of wire.h (32-byte header, key, value); the admin
 * opcodes are 0x40-0x7f, which tenant sockets refuse. Every admin request
 * has an empty key and carries its arguments in the value as an explicit
 * little-endian record; names and paths are length-prefixed byte strings
 * (u16 length, then the bytes, no NUL). Replies carry their record in the
 * value; listing replies may exceed UWIRE_SMALL_VALUE_MAX. An error reply
 * may carry a human-readable message as its value. The specification is
 * docs/protocol-admin.md; this header and admin.c are its only
 * implementation, shared by utmemd and utmemctl, so both sides always agree
 * on every record.
 *
 * Decoding is strict: a record must be exactly as long as its fields, names
 * must fit their bounds, and anything else is -EPROTO.
 */
#ifndef UTMEM_ADMIN_H
#define UTMEM_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum uadm_op {
	UADM_OP_TENANT_LIST = 0x40,        /* -> u32 n, n tenant records */
	UADM_OP_TENANT_ADD = 0x41,         /* tenant_req -> u32 id */
	UADM_OP_TENANT_REMOVE = 0x42,      /* name */
	UADM_OP_TENANT_SET = 0x43,         /* tenant_req (mask says which) */
	UADM_OP_CAPACITY_GET = 0x44,       /* -> capacity record */
	UADM_OP_CAPACITY_SET = 0x45,       /* u64 bytes */
	UADM_OP_POOL_LIST = 0x46,          /* -> u32 n, n pool records */
	UADM_OP_POOL_CREATE_SHARED = 0x47, /* u32 kind, name -> u32 id */
	UADM_OP_POOL_GRANT = 0x48,         /* pool name, tenant name [, u32 UADM_GRANT_*] */
	UADM_OP_STATS = 0x49,              /* -> capacity, tenants, pools */
	UADM_OP_RELOAD = 0x4a,             /* nothing */
	UADM_OP_LOG_LEVEL = 0x4b,          /* u32 level */
	UADM_OP_CONFIG_GET = 0x4c,         /* str section ("" all) -> u32 n, n settings */
	UADM_OP_CONFIG_SET = 0x4d,         /* u32 flags, str section, u32 n, n (key, value) -> msg */
	UADM_OP_CONFIG_SAVE = 0x4e,        /* str path ("" = the -c file) -> msg */
	UADM_OP_POOL_FLUSH = 0x4f,         /* u32 flags, str pool, str tenant -> msg */
	UADM_OP_POOL_DESTROY = 0x50,       /* u32 flags, str pool, str tenant -> msg */
	UADM_OP_INFO = 0x51,               /* -> u32 n, n (str key, str value) */
	UADM_OP_SAVE = 0x52,               /* persistence: save now -> msg */
	UADM_OP_TENANT_FREEZE = 0x53,      /* u32 frozen (0 thaw, 1 freeze), name */
	UADM_OP_MAX_ = 0x53,
};

/* Bounds of the strings inside records (bytes, no NUL). */
#define UADM_NAME_MAX 63u
#define UADM_PATH_MAX 107u /* a Unix socket path */
#define UADM_TOKEN_MAX 255u
#define UADM_TOKEN_MIN 8u  /* a tenant's token: 8..255 bytes */
#define UADM_MSG_MAX 512u  /* error message in an error reply */
#define UADM_SECTION_MAX 80u /* "utmemd", "tenant NAME", "pool NAME" */
#define UADM_KEY_MAX 63u     /* a setting's key */
#define UADM_VALUE_MAX 8191u /* a setting's value as text */
#define UADM_TEXT_MAX 65535u /* a reply message (several lines) */

/* Request flags of CONFIG_SET, TENANT_REMOVE, RELOAD, POOL_FLUSH/DESTROY. */
#define UADM_F_CREATE (1u << 0) /* CONFIG_SET: create the tenant or pool */
#define UADM_F_FORCE (1u << 1)  /* go on even if stored data would be dropped */
#define UADM_F_ALL_ 0x3u

/* Flags of a setting in a CONFIG_GET reply. */
#define UADM_SETTING_GIVEN (1u << 0)   /* given (file or runtime), not a default */
#define UADM_SETTING_RESTART (1u << 1) /* changes only with a restart */
#define UADM_SETTING_SECRET (1u << 2)  /* a token: sent as UADM_SECRET_MASK when set */
#define UADM_SECRET_MASK "********"   /* a secret's value in every reply */
#define UADM_SETTING_PENDING (1u << 3) /* differs from the value running (restart) */

/* tenant_req.mask: which optional fields are set. */
#define UADM_SET_MIN (1u << 0)
#define UADM_SET_MAX (1u << 1)
#define UADM_SET_WEIGHT (1u << 2)
#define UADM_SET_ALL_ 0x7u

/* POOL_GRANT's optional trailing u32: the grantee may also flush/destroy. */
#define UADM_GRANT_MANAGE (1u << 0)

/* Pool kind bits, as in the store: bit 0 ephemeral, bit 1 shared. */
#define UADM_KIND_EPHEMERAL (1u << 0)
#define UADM_KIND_SHARED (1u << 1)

enum uadm_log_level {
	UADM_LOG_ERROR = 0,
	UADM_LOG_WARN = 1,
	UADM_LOG_INFO = 2,
	UADM_LOG_DEBUG = 3,
};

/* The counters every tenant and pool record carries: 10 u64s, this order. */
struct uadm_counters {
	uint64_t entries, bytes_stored, bytes_charged;
	uint64_t puts, gets, hits, misses, invalidates, evictions, refused_puts;
};
#define UADM_COUNTERS_SIZE (10u * 8u)

/* TENANT_ADD / TENANT_SET request. */
struct uadm_tenant_req {
	uint32_t mask;   /* UADM_SET_* */
	uint32_t weight;
	uint64_t min;
	uint64_t max;
	char name[UADM_NAME_MAX + 1];
	char socket[UADM_PATH_MAX + 1]; /* ADD: "" = <name>.sock in the run dir */
	char token[UADM_TOKEN_MAX + 1]; /* ADD: TCP token, "" = none */
};

/* uadm_tenant.flags */
#define UADM_TENANT_FROZEN (1u << 0) /* PUTs refused (TENANT_FREEZE) */

/* One tenant as listed (TENANT_LIST, STATS). */
struct uadm_tenant {
	uint32_t id;
	uint32_t weight;
	uint64_t min;
	uint64_t max;
	struct uadm_counters st;
	char name[UADM_NAME_MAX + 1];
	char socket[UADM_PATH_MAX + 1];
	uint64_t freeable; /* ephemeral bytes a shrink could take now */
	uint32_t flags;    /* UADM_TENANT_* */
};

/* One pool as listed (POOL_LIST, STATS). */
struct uadm_pool {
	uint32_t id;
	uint32_t owner; /* tenant id; 0 = shared (operator's) */
	uint32_t kind;  /* UADM_KIND_* */
	struct uadm_counters st;
	char name[UADM_NAME_MAX + 1];
};

/* CAPACITY_GET reply, and the head of the STATS reply. */
struct uadm_capacity {
	uint64_t capacity;
	uint64_t charged;
	uint64_t reserved;
	uint32_t tenants;
	uint32_t pools;
};
#define UADM_CAPACITY_SIZE 32u

/*
 * A growable output buffer for encoding. Functions that append to it never
 * fail visibly: on allocation failure they set err (-ENOMEM) and later
 * appends do nothing, so a caller checks err once at the end.
 */
struct uadm_wbuf {
	uint8_t *data;
	size_t len;
	size_t cap;
	int err;
};

/* A cursor over a received record; err becomes -EPROTO on any overrun. */
struct uadm_rbuf {
	const uint8_t *p;
	size_t len;
	size_t off;
	int err;
};

void uadm_wbuf_init(struct uadm_wbuf *w);
void uadm_wbuf_free(struct uadm_wbuf *w);
void uadm_rbuf_init(struct uadm_rbuf *r, const void *p, size_t len);

/* Primitive appends and reads (little-endian; strings length-prefixed). */
void uadm_w_u32(struct uadm_wbuf *w, uint32_t v);
void uadm_w_u64(struct uadm_wbuf *w, uint64_t v);
void uadm_w_str(struct uadm_wbuf *w, const char *s, size_t max);
/* Append n raw bytes (a reply's text). */
void uadm_w_raw(struct uadm_wbuf *w, const void *p, size_t n);
uint32_t uadm_r_u32(struct uadm_rbuf *r);
uint64_t uadm_r_u64(struct uadm_rbuf *r);
/* Read a string of at most max bytes into out (max + 1 bytes, NUL added). */
void uadm_r_str(struct uadm_rbuf *r, char *out, size_t max);
/* 0 if every byte was consumed and nothing overran, else -EPROTO. */
int uadm_r_end(const struct uadm_rbuf *r);

/* One setting as CONFIG_GET lists it. */
struct uadm_setting {
	char section[UADM_SECTION_MAX + 1];
	char key[UADM_KEY_MAX + 1];
	char value[UADM_VALUE_MAX + 1];
	uint32_t flags; /* UADM_SETTING_* */
};

/* Records. Encoders append; decoders read one record at the cursor. */
void uadm_w_tenant_req(struct uadm_wbuf *w, const struct uadm_tenant_req *t);
void uadm_r_tenant_req(struct uadm_rbuf *r, struct uadm_tenant_req *t);
void uadm_w_tenant(struct uadm_wbuf *w, const struct uadm_tenant *t);
void uadm_r_tenant(struct uadm_rbuf *r, struct uadm_tenant *t);
void uadm_w_pool(struct uadm_wbuf *w, const struct uadm_pool *p);
void uadm_r_pool(struct uadm_rbuf *r, struct uadm_pool *p);
void uadm_w_capacity(struct uadm_wbuf *w, const struct uadm_capacity *c);
void uadm_r_capacity(struct uadm_rbuf *r, struct uadm_capacity *c);
void uadm_w_setting(struct uadm_wbuf *w, const struct uadm_setting *s);
void uadm_r_setting(struct uadm_rbuf *r, struct uadm_setting *s);

/*
 * Parse a size: digits with an optional K/M/G/T suffix (powers of 1024,
 * optionally followed by "B" or "iB"; case-insensitive). Returns 0 and sets
 * *out, or -EINVAL (syntax) / -ERANGE (overflow).
 */
int uadm_parse_size(const char *s, uint64_t *out);

/*
 * Parse the n bytes at s as a decimal number in [lo, hi]: digits only (no
 * sign, blank or base prefix; leading zeros are read, "0005" is 5),
 * checked against hi as each digit is read, so that no number of digits
 * can wrap. This is how utmemd's settings read a number; the Redis
 * module's arguments are read with it. Returns 0 and sets *out, or
 * -EINVAL.
 */
int uadm_parse_uint(const char *s, size_t n, uint64_t lo, uint64_t hi,
		    uint64_t *out);

/*
 * Could the n bytes at s be a setting's value in utmemd's config file, and
 * read back unchanged from it after `utmemctl config save`? Not with a
 * control character (a NUL included), a blank before ';' (the file's
 * reader starts a comment there) or a leading or trailing blank (it strips
 * them). Returns NULL, or what is wrong in words that never quote s.
 */
const char *uadm_text_fault(const char *s, size_t n);

/*
 * Could a tenant hold the n bytes at s as its token (utmemd's "token"
 * setting)? UADM_TOKEN_MIN..UADM_TOKEN_MAX bytes that uadm_text_fault()
 * accepts. Returns 0, -ERANGE for a length out of bounds or -EINVAL for
 * a byte that cannot be, with *why set to what is wrong in words that
 * never quote the token. utmemd's settings and the Redis module's token=
 * are both checked here.
 */
int uadm_token_check(const char *s, size_t n, const char **why);

/* Log level names: "error", "warn", "info", "debug". -EINVAL if unknown. */
int uadm_log_level_parse(const char *s);
const char *uadm_log_level_name(int level);

/* "TENANT_LIST" etc., or NULL for an opcode that is not an admin op. */
const char *uadm_op_name(unsigned opcode);

#ifdef __cplusplus
}
#endif

/* "s" after a count other than one: "%zu tenant%s", n, UADM_PLURAL(n);
 * for utmemd's messages and utmemctl's alike. */
#define UADM_PLURAL(n) ((n) == 1 ? "" : "s")

#endif /* UTMEM_ADMIN_H */

/*
 * gen_seeds.c — writes the seed corpus of the fuzz targets (tests/fuzz/
 * corpus/) from the wire module itself, so the seeds stay valid frames if
 * the format changes: `gen_seeds DIR` creates DIR/fuzz_wire/,
 * DIR/fuzz_client/, DIR/fuzz_dispatch/ and DIR/fuzz_ring/ files. The client seed is a
 * complete, well-formed conversation in the order fuzz_client.c makes its
 * calls; the dispatch seeds are conversations of a tenant with utmemd in
 * fuzz_dispatch.c's format (kind, read mask, length-prefixed chunks), the
 * ring seeds op bytes of fuzz_ring.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proto/wire.h"

struct out {
	uint8_t buf[65536];
	size_t len;
};

static void frame(struct out *o, uint8_t op, uint16_t flags, uint64_t id,
		  uint32_t pool, uint16_t status, const void *key, uint32_t klen,
		  const void *val, uint32_t vlen)
{
	struct uwire_hdr h = {UWIRE_VERSION, op, flags, id, pool, status,
			      klen, vlen};

	uwire_hdr_encode(&h, o->buf + o->len);
	o->len += UWIRE_HDR_SIZE;
	memcpy(o->buf + o->len, key, klen);
	o->len += klen;
	memcpy(o->buf + o->len, val, vlen);
	o->len += vlen;
}

static void reply(struct out *o, uint8_t op, uint64_t id, uint32_t pool,
		  uint16_t status, const void *val, uint32_t vlen)
{
	frame(o, op, UWIRE_F_RESPONSE, id, pool, status, NULL, 0, val, vlen);
}

static int save(const char *dir, const char *sub, const char *name,
		const struct out *o)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	if (mkdir(path, 0755) && errno != EEXIST)
		return -1;
	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	f = fopen(path, "wb");
	if (!f || fwrite(o->buf, 1, o->len, f) != o->len) {
		if (f)
			fclose(f);
		return -1;
	}
	return fclose(f);
}

static int client_seed(const char *dir)
{
	struct out o = {.len = 0};
	uint8_t rec[UWIRE_STATS_SIZE];
	struct uwire_hello h = {UWIRE_VERSION, 1024, 1u << 20, 3};
	struct uwire_stats st = {.entries = 1, .bytes_stored = 5};

	uwire_hello_encode(&h, rec);
	reply(&o, UWIRE_OP_HELLO, 1, 0, 0, rec, UWIRE_HELLO_SIZE);
	reply(&o, UWIRE_OP_POOL_OPEN, 2, 7, 0, NULL, 0);
	reply(&o, UWIRE_OP_PUT, 3, 0, 0, NULL, 0);
	reply(&o, UWIRE_OP_GET, 4, 0, 0, "value", 5);
	reply(&o, UWIRE_OP_GET, 5, 0, 0, "value", 5);
	uwire_stats_encode(&st, rec);
	reply(&o, UWIRE_OP_STATS, 6, 0, 0, rec, UWIRE_STATS_SIZE);
	reply(&o, UWIRE_OP_INVALIDATE, 7, 0, UWIRE_S_NOTFOUND, NULL, 0);
	reply(&o, UWIRE_OP_GET, 9, 0, 0, "1", 1); /* batch, out of order */
	reply(&o, UWIRE_OP_PUT, 8, 0, 0, NULL, 0);
	reply(&o, UWIRE_OP_INVALIDATE, 10, 0, UWIRE_S_NOTFOUND, NULL, 0);
	reply(&o, UWIRE_OP_PING, 11, 0, 0, NULL, 0);
	return save(dir, "fuzz_client", "conversation", &o);
}

static int wire_seeds(const char *dir)
{
	struct out o = {.len = 2, .buf = {4, 16}};
	uint8_t max[4];

	frame(&o, UWIRE_OP_PUT, 0, 1, 7, 0, "key", 3, "value", 5);
	uwire_put_u32(max, 100);
	frame(&o, UWIRE_OP_GET, UWIRE_F_MAXLEN | UWIRE_F_EXCLUSIVE, 2, 7, 0,
	      "key", 3, max, 4);
	frame(&o, UWIRE_OP_GET, UWIRE_F_RESPONSE, 2, 0, UWIRE_S_NOBUFS,
	      NULL, 0, NULL, 0);
	frame(&o, UWIRE_OP_POOL_OPEN, UWIRE_F_CREATE | UWIRE_F_EPHEMERAL, 3, 0,
	      0, "pool", 4, NULL, 0);
	if (save(dir, "fuzz_wire", "requests", &o))
		return -1;
	o.len = 2;
	frame(&o, UWIRE_OP_HELLO, 0, 1, 0, 0, "token", 5, NULL, 0);
	o.len -= 5; /* truncated: the parser must ask for more */
	return save(dir, "fuzz_wire", "truncated", &o);
}

/* A dispatch seed: kind (0 Unix, 1 TCP), read mask, then chunks. */
static void dseed_start(struct out *o, uint8_t kind, uint8_t mask)
{
	o->len = 0;
	o->buf[o->len++] = kind;
	o->buf[o->len++] = mask;
}

/* Append one request frame as a chunk of its own. */
static void dreq(struct out *o, uint8_t op, uint16_t flags, uint32_t pool,
		 const void *key, uint32_t klen, const void *val, uint32_t vlen)
{
	static uint64_t id = 1;
	size_t at = o->len;

	o->len += 2;
	frame(o, op, flags, id++, pool, 0, key, klen, val, vlen);
	o->buf[at] = (uint8_t)((o->len - at - 2) & 0xff);
	o->buf[at + 1] = (uint8_t)((o->len - at - 2) >> 8);
}

/*
 * Conversations for fuzz_dispatch. Pool ids as fuzz_dispatch.c creates
 * them: 1 another tenant's, 2 the shared "sh", 3 the first one opened.
 */
static int dispatch_seeds(const char *dir)
{
	static const char big[40000];
	struct out o;
	uint8_t maxlen[4];
	int err = 0;

	uwire_put_u32(maxlen, 2);
	dseed_start(&o, 0, 0xff);
	dreq(&o, UWIRE_OP_HELLO, 0, 0, NULL, 0, NULL, 0);
	dreq(&o, UWIRE_OP_POOL_OPEN, UWIRE_F_CREATE, 0, "a", 1, NULL, 0);
	dreq(&o, UWIRE_OP_PUT, 0, 3, "k", 1, "value", 5);
	dreq(&o, UWIRE_OP_GET, 0, 3, "k", 1, NULL, 0);
	dreq(&o, UWIRE_OP_GET, UWIRE_F_MAXLEN | UWIRE_F_EXCLUSIVE, 3, "k", 1, maxlen, 4);
	dreq(&o, UWIRE_OP_GET, UWIRE_F_EXCLUSIVE, 3, "k", 1, NULL, 0);
	dreq(&o, UWIRE_OP_INVALIDATE, 0, 3, "k", 1, NULL, 0);
	dreq(&o, UWIRE_OP_STATS, 0, 0, NULL, 0, NULL, 0);
	dreq(&o, UWIRE_OP_STATS, 0, 3, NULL, 0, NULL, 0);
	dreq(&o, UWIRE_OP_POOL_OPEN, UWIRE_F_SHARED, 0, "sh", 2, NULL, 0);
	dreq(&o, UWIRE_OP_PUT, 0, 2, "s", 1, "shared", 6);
	dreq(&o, UWIRE_OP_POOL_FLUSH, 0, 2, NULL, 0, NULL, 0);
	dreq(&o, UWIRE_OP_POOL_DESTROY, 0, 2, NULL, 0, NULL, 0);
	dreq(&o, UWIRE_OP_POOL_FLUSH, 0, 3, NULL, 0, NULL, 0);
	dreq(&o, UWIRE_OP_POOL_DESTROY, 0, 3, NULL, 0, NULL, 0);
	dreq(&o, UWIRE_OP_PING, 0, 0, NULL, 0, NULL, 0);
	err |= save(dir, "fuzz_dispatch", "ops", &o);

	dseed_start(&o, 0, 0);
	dreq(&o, UWIRE_OP_POOL_OPEN, UWIRE_F_CREATE | UWIRE_F_EPHEMERAL, 0, "e", 1,
	     NULL, 0);
	for (int i = 0; i < 200; i++)
		dreq(&o, UWIRE_OP_PING, 0, 0, NULL, 0, NULL, 0);
	for (int i = 0; i < 40; i++)
		dreq(&o, UWIRE_OP_GET, 0, 3, "missing", 7, NULL, 0);
	err |= save(dir, "fuzz_dispatch", "pipeline-unread", &o);

	dseed_start(&o, 1, 0xff);
	dreq(&o, UWIRE_OP_HELLO, 0, 0, "fuzz-token", 10, NULL, 0);
	dreq(&o, UWIRE_OP_POOL_OPEN, UWIRE_F_CREATE, 0, "t", 1, NULL, 0);
	dreq(&o, UWIRE_OP_PUT, 0, 3, "k", 1, "v", 1);
	dreq(&o, UWIRE_OP_GET, 0, 3, "k", 1, NULL, 0);
	err |= save(dir, "fuzz_dispatch", "tcp-hello", &o);

	dseed_start(&o, 1, 0xff);
	dreq(&o, UWIRE_OP_PUT, 0, 3, "k", 1, "v", 1);
	err |= save(dir, "fuzz_dispatch", "tcp-before-hello", &o);

	dseed_start(&o, 0, 0x55);
	dreq(&o, UWIRE_OP_POOL_OPEN, UWIRE_F_CREATE, 0, "b", 1, NULL, 0);
	dreq(&o, UWIRE_OP_PUT, 0, 3, "big", 3, big, sizeof(big));
	dreq(&o, UWIRE_OP_GET, 0, 3, "big", 3, NULL, 0);
	dreq(&o, UWIRE_OP_GET, 0, 3, "big", 3, NULL, 0);
	err |= save(dir, "fuzz_dispatch", "large", &o);

	dseed_start(&o, 0, 0xff);
	dreq(&o, UWIRE_OP_GET, 0, 1, "k", 1, NULL, 0);
	dreq(&o, UWIRE_OP_PUT, 0, 1, "k", 1, "mine", 4);
	dreq(&o, UWIRE_OP_POOL_FLUSH, 0, 1, NULL, 0, NULL, 0);
	dreq(&o, UWIRE_OP_GET, UWIRE_F_RESPONSE, 1, "k", 1, NULL, 0);
	err |= save(dir, "fuzz_dispatch", "cross-and-response", &o);

	dseed_start(&o, 0, 0xff);
	dreq(&o, UWIRE_OP_POOL_OPEN, UWIRE_F_CREATE, 0, "z", 1, NULL, 0);
	dreq(&o, UWIRE_OP_PUT, 0, 3, NULL, 0, "v", 1);
	dreq(&o, UWIRE_OP_PUT, UWIRE_F_EXCLUSIVE, 3, "k", 1, "v", 1);
	dreq(&o, 0x41, 0, 0, NULL, 0, NULL, 0); /* an admin opcode */
	dreq(&o, UWIRE_OP_RING_SETUP, 0, 0, NULL, 0, NULL, 0);
	err |= save(dir, "fuzz_dispatch", "refusals", &o);
	return err;
}

/* Save raw bytes as one seed. */
static int save_raw(const char *dir, const char *sub, const char *name,
		    const void *p, size_t n)
{
	struct out o;

	memcpy(o.buf, p, n);
	o.len = n;
	return save(dir, sub, name, &o);
}

/*
 * Seeds for fuzz_ring (its op bytes, see fuzz_ring.c): open a pool, PUT,
 * read the replies, GET; and a hostile variant that scribbles on the
 * region and sets a wild tail.
 */
static int ring_seeds(const char *dir)
{
	static const uint8_t ops[] = {
		0, 2, 1, 0, 1, 'a',           /* POOL_OPEN create "a" */
		4,                            /* take the replies */
		0, 5, 0, 3, 3, 'k', 'e', 'y', 'v', 'a', 'l', /* PUT */
		0x86,                         /* let the worker run */
		4,
		0, 6, 0, 3, 3, 'k', 'e', 'y', /* GET */
		0x8e, 4,
		7, 4,                         /* a PING on the socket */
	};
	static const uint8_t hostile[] = {
		0, 1, 0, 0, 0,                /* PING */
		1, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, /* scribble in the header */
		2, 0, 0, 0, 0, 0, 0, 0, 0x80, /* tail far ahead */
		5, 1, 1,                      /* both sleeping flags */
		0x86, 4,
	};

	return save_raw(dir, "fuzz_ring", "ops", ops, sizeof(ops)) |
	       save_raw(dir, "fuzz_ring", "hostile", hostile, sizeof(hostile));
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	if (client_seed(argv[1]) || wire_seeds(argv[1]) || dispatch_seeds(argv[1]) ||
	    ring_seeds(argv[1])) {
		perror("gen_seeds");
		return 1;
	}
	return 0;
}

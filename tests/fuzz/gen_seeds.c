/*
 * gen_seeds.c — writes the seed corpus of the fuzz targets (tests/fuzz/
 * corpus/) from the wire module itself, so the seeds stay valid frames if
 * the format changes: `gen_seeds DIR` creates DIR/fuzz_wire/ and
 * DIR/fuzz_client/ files. The client seed is a complete, well-formed
 * conversation in the order fuzz_client.c makes its calls.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proto/wire.h"

struct out {
	uint8_t buf[4096];
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

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	if (client_seed(argv[1]) || wire_seeds(argv[1])) {
		perror("gen_seeds");
		return 1;
	}
	return 0;
}

/*
 * test_wire.c — the wire module (src/proto/wire.c) against its
 * specification, docs/protocol.md: the header's exact bytes, every
 * rejection the strict decoder owes the daemon, incremental parsing one
 * byte at a time, size arithmetic at the edges, and the status/errno maps.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/wire.h"

static const struct uwire_limits lim = {.max_key = 1024, .max_value = 1u << 20};

static struct uwire_hdr sample(void)
{
	return (struct uwire_hdr){
		.version = UWIRE_VERSION,
		.opcode = UWIRE_OP_PUT,
		.flags = 0,
		.id = 0x0102030405060708ull,
		.pool = 0xa1b2c3d4u,
		.klen = 3,
		.vlen = 5,
	};
}

/* Encode h, let the test poke at the bytes, decode with lim. */
static int decode_after(struct uwire_hdr h, int off, uint8_t byte,
			struct uwire_hdr *out)
{
	uint8_t raw[UWIRE_HDR_SIZE];

	uwire_hdr_encode(&h, raw);
	if (off >= 0)
		raw[off] = byte;
	return uwire_hdr_decode(raw, &lim, out);
}

static void test_layout_bytes(void **state)
{
	struct uwire_hdr h = sample();
	uint8_t raw[UWIRE_HDR_SIZE];
	const uint8_t want[UWIRE_HDR_SIZE] = {
		'U', 'T', 'M', 'M', 1, UWIRE_OP_PUT, 0x00, 0x01,
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
		0xd4, 0xc3, 0xb2, 0xa1, 0x00, 0x00, 0x00, 0x00,
		0x03, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00,
	};

	h.flags = UWIRE_F_EXCLUSIVE;
	uwire_hdr_encode(&h, raw);
	assert_memory_equal(raw, want, sizeof(want));
	(void)state;
}

static void test_roundtrip(void **state)
{
	static const uint16_t flags[] = {0, UWIRE_F_RESPONSE, UWIRE_F_EXCLUSIVE |
					 UWIRE_F_MAXLEN, UWIRE_F_ALL_};

	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		struct uwire_hdr h = sample(), d;

		h.flags = flags[i];
		h.status = (h.flags & UWIRE_F_RESPONSE) ? UWIRE_S_NOBUFS : 0;
		h.id = ~0ull - i;
		assert_int_equal(decode_after(h, -1, 0, &d), 0);
		assert_int_equal(d.version, h.version);
		assert_int_equal(d.opcode, h.opcode);
		assert_int_equal(d.flags, h.flags);
		assert_true(d.id == h.id);
		assert_int_equal(d.pool, h.pool);
		assert_int_equal(d.status, h.status);
		assert_int_equal(d.klen, h.klen);
		assert_int_equal(d.vlen, h.vlen);
	}
	(void)state;
}

static void test_rejections(void **state)
{
	struct uwire_hdr h = sample(), d;

	/* Magic, version, reserved bytes. */
	assert_int_equal(decode_after(h, 0, 'X', &d), -UWIRE_S_PROTO);
	assert_int_equal(decode_after(h, 3, 0, &d), -UWIRE_S_PROTO);
	assert_int_equal(decode_after(h, 4, 2, &d), -UWIRE_S_VERSION);
	assert_int_equal(decode_after(h, 4, 0, &d), -UWIRE_S_VERSION);
	assert_true(d.id == h.id); /* still filled, to answer by id */
	assert_int_equal(decode_after(h, 22, 1, &d), -UWIRE_S_PROTO);
	assert_int_equal(decode_after(h, 23, 0x80, &d), -UWIRE_S_PROTO);
	/* Unknown flags: bits 1-7 and 11-15. */
	for (int bit = 1; bit < 16; bit++) {
		int known = (1u << bit) & UWIRE_F_ALL_;

		h = sample();
		h.flags = (uint16_t)(1u << bit);
		assert_int_equal(decode_after(h, -1, 0, &d),
				 known ? 0 : -UWIRE_S_PROTO);
	}
	/* A status in a request. */
	h = sample();
	h.status = UWIRE_S_NOTFOUND;
	assert_int_equal(decode_after(h, -1, 0, &d), -UWIRE_S_PROTO);
	(void)state;
}

static void test_length_limits(void **state)
{
	struct uwire_limits huge = {UINT32_MAX, UINT32_MAX};
	uint8_t raw[UWIRE_HDR_SIZE];
	struct uwire_hdr h = sample(), d;

	h.klen = lim.max_key;
	h.vlen = lim.max_value;
	assert_int_equal(decode_after(h, -1, 0, &d), 0);
	h.klen = lim.max_key + 1;
	assert_int_equal(decode_after(h, -1, 0, &d), -UWIRE_S_TOOBIG);
	h.klen = 1;
	h.vlen = lim.max_value + 1;
	assert_int_equal(decode_after(h, -1, 0, &d), -UWIRE_S_TOOBIG);
	/* The ceilings hold whatever the configured limits say. */
	h.vlen = 0;
	h.klen = UWIRE_KEY_CEILING + 1;
	uwire_hdr_encode(&h, raw);
	assert_int_equal(uwire_hdr_decode(raw, &huge, &d), -UWIRE_S_TOOBIG);
	h.klen = 1;
	h.vlen = UWIRE_VALUE_CEILING + 1;
	uwire_hdr_encode(&h, raw);
	assert_int_equal(uwire_hdr_decode(raw, &huge, &d), -UWIRE_S_TOOBIG);
	/* Requests other than PUT carry a small value only; replies do not. */
	h = sample();
	h.opcode = UWIRE_OP_GET;
	h.vlen = UWIRE_SMALL_VALUE_MAX;
	assert_int_equal(decode_after(h, -1, 0, &d), 0);
	h.vlen = UWIRE_SMALL_VALUE_MAX + 1;
	assert_int_equal(decode_after(h, -1, 0, &d), -UWIRE_S_TOOBIG);
	h.opcode = 0x44; /* admin requests too */
	assert_int_equal(decode_after(h, -1, 0, &d), -UWIRE_S_TOOBIG);
	h.opcode = UWIRE_OP_GET;
	h.flags = UWIRE_F_RESPONSE;
	assert_int_equal(decode_after(h, -1, 0, &d), 0);
	h.opcode = UWIRE_OP_PUT;
	h.flags = 0;
	assert_int_equal(decode_after(h, -1, 0, &d), 0);
	(void)state;
}

static void test_frame_size_overflow(void **state)
{
	struct uwire_hdr h = {.klen = UINT32_MAX, .vlen = UINT32_MAX};
	size_t n = uwire_frame_size(&h);

	if (sizeof(size_t) > 4)
		assert_true(n == (size_t)UINT32_MAX * 2 + UWIRE_HDR_SIZE);
	else
		assert_int_equal(n, 0);
	h.klen = 3;
	h.vlen = 5;
	assert_int_equal(uwire_frame_size(&h), UWIRE_HDR_SIZE + 8);
	(void)state;
}

/* Feed a frame one byte at a time: 0 until complete, with `need` right. */
static void test_parse_incremental(void **state)
{
	uint8_t buf[UWIRE_HDR_SIZE + 8 + UWIRE_HDR_SIZE];
	struct uwire_hdr h = sample();
	struct uwire_frame f;
	size_t total = UWIRE_HDR_SIZE + 8, need;

	uwire_hdr_encode(&h, buf);
	memcpy(buf + UWIRE_HDR_SIZE, "keyvalue", 8);
	uwire_hdr_encode(&h, buf + total); /* a second frame behind it */
	for (size_t len = 0; len < total; len++) {
		need = 12345;
		assert_int_equal(uwire_parse(buf, len, &lim, &f, &need), 0);
		assert_int_equal(need, len < UWIRE_HDR_SIZE ? UWIRE_HDR_SIZE : total);
	}
	for (size_t len = total; len <= sizeof(buf); len++) {
		assert_int_equal(uwire_parse(buf, len, &lim, &f, &need),
				 (long)total);
		assert_ptr_equal(f.key, buf + UWIRE_HDR_SIZE);
		assert_ptr_equal(f.value, buf + UWIRE_HDR_SIZE + 3);
		assert_memory_equal(f.value, "value", 5);
		assert_true(f.hdr.id == h.id);
	}
	/* A bad header is reported as soon as 32 bytes are in. */
	buf[0] = 0;
	assert_int_equal(uwire_parse(buf, UWIRE_HDR_SIZE - 1, &lim, &f, &need), 0);
	assert_int_equal(uwire_parse(buf, UWIRE_HDR_SIZE, &lim, &f, &need),
			 -UWIRE_S_PROTO);
	(void)state;
}

static void test_status_errno(void **state)
{
	for (unsigned s = 0; s < UWIRE_S_MAX_; s++) {
		int e = uwire_status_to_errno(s);

		assert_true(s == 0 ? e == 0 : e > 0);
		assert_int_equal(uwire_errno_to_status(e), s);
		assert_int_equal(uwire_errno_to_status(-e), s);
		assert_non_null(uwire_status_name(s));
	}
	assert_int_equal(uwire_status_to_errno(UWIRE_S_QUOTA), EDQUOT);
	assert_int_equal(uwire_status_to_errno(UWIRE_S_CAPACITY), ENOSPC);
	assert_int_equal(uwire_status_to_errno(UWIRE_S_NOBUFS), ENOBUFS);
	assert_int_equal(uwire_status_to_errno(UWIRE_S_MAX_), EPROTO);
	assert_int_equal(uwire_status_to_errno(0xffff), EPROTO);
	assert_int_equal(uwire_errno_to_status(EXDEV), UWIRE_S_INTERNAL);
	assert_string_equal(uwire_status_name(999), "unknown status");
	assert_string_equal(uwire_op_name(UWIRE_OP_GET), "GET");
	assert_string_equal(uwire_op_name(0x50), "ADMIN");
	assert_string_equal(uwire_op_name(0x3e), "UNKNOWN");
	(void)state;
}

static void test_records(void **state)
{
	struct uwire_hello h = {1, 2, 3, 0xdeadbeefu}, h2;
	struct uwire_stats s, s2;
	uint8_t raw[UWIRE_STATS_SIZE];
	uint64_t *f = &s.entries;

	uwire_hello_encode(&h, raw);
	assert_int_equal(raw[12], 0xef);
	assert_int_equal(uwire_hello_decode(raw, UWIRE_HELLO_SIZE, &h2), 0);
	assert_memory_equal(&h, &h2, sizeof(h));
	assert_int_equal(uwire_hello_decode(raw, UWIRE_HELLO_SIZE - 1, &h2),
			 -UWIRE_S_PROTO);
	for (int i = 0; i < 12; i++)
		f[i] = 0x1111111111111111ull * (uint64_t)(i + 1);
	uwire_stats_encode(&s, raw);
	assert_int_equal(raw[8 * 11], 0xcc); /* limit_min last */
	assert_int_equal(uwire_stats_decode(raw, sizeof(raw), &s2), 0);
	assert_memory_equal(&s, &s2, sizeof(s));
	assert_int_equal(uwire_stats_decode(raw, sizeof(raw) + 1, &s2),
			 -UWIRE_S_PROTO);
	(void)state;
}

static void test_le_helpers(void **state)
{
	uint8_t b[8];

	uwire_put_u16(b, 0x1234);
	assert_int_equal(b[0], 0x34);
	assert_int_equal(uwire_get_u16(b), 0x1234);
	uwire_put_u32(b, 0x89abcdefu);
	assert_int_equal(b[0], 0xef);
	assert_int_equal(b[3], 0x89);
	assert_int_equal(uwire_get_u32(b), 0x89abcdefu);
	uwire_put_u64(b, 0x0123456789abcdefull);
	assert_int_equal(b[7], 0x01);
	assert_true(uwire_get_u64(b) == 0x0123456789abcdefull);
	(void)state;
}

/*
 * docs/protocol.md section 5: a daemon parses requests only. A header with
 * RESPONSE is refused as soon as it is in, before its lengths can buy a
 * large buffer (a "response" GET is not held to the 4 KiB small-value
 * rule); requests need a key where they name one, and opcode flags only on
 * their own opcode.
 */
static void test_request_rules(void **state)
{
	uint8_t raw[UWIRE_HDR_SIZE];
	struct uwire_hdr h = sample();
	struct uwire_frame f;
	size_t need = 0;

	(void)state;
	h.opcode = UWIRE_OP_GET;
	h.flags = UWIRE_F_RESPONSE;
	h.vlen = 1u << 20; /* allowed to a response, never to a GET request */
	uwire_hdr_encode(&h, raw);
	assert_int_equal(uwire_parse(raw, sizeof(raw), &lim, &f, &need), 0);
	assert_int_equal(need, UWIRE_HDR_SIZE + h.klen + h.vlen);
	assert_int_equal(uwire_parse_request(raw, sizeof(raw), &lim, &f, &need),
			 -UWIRE_S_PROTO);
	assert_int_equal(need, UWIRE_HDR_SIZE);
	assert_true(f.hdr.id == h.id); /* the id is there for the reply */
	/* Fewer than 32 bytes: nothing judged yet. */
	assert_int_equal(uwire_parse_request(raw, 31, &lim, &f, &need), 0);
	/* Without RESPONSE the same frame is a request held to 4 KiB. */
	h.flags = 0;
	uwire_hdr_encode(&h, raw);
	assert_int_equal(uwire_parse_request(raw, sizeof(raw), &lim, &f, &need),
			 -UWIRE_S_TOOBIG);

	/* Empty keys: refused where the opcode names a key. */
	h = sample();
	h.klen = 0;
	for (unsigned op = UWIRE_OP_PUT; op <= UWIRE_OP_INVALIDATE; op++) {
		h.opcode = (uint8_t)op;
		assert_int_equal(uwire_request_check(&h), -UWIRE_S_INVALID);
	}
	h.opcode = UWIRE_OP_PING;
	assert_int_equal(uwire_request_check(&h), 0);
	h.opcode = UWIRE_OP_PUT;
	h.klen = 1;
	assert_int_equal(uwire_request_check(&h), 0);
	/* Opcode flags only where defined (bit 8 of a PUT is POSTED). */
	h.flags = UWIRE_F_POSTED;
	assert_int_equal(uwire_request_check(&h), 0);
	h.flags = UWIRE_F_MAXLEN;
	assert_int_equal(uwire_request_check(&h), -UWIRE_S_INVALID);
	h.flags = UWIRE_F_EXCLUSIVE;
	h.opcode = UWIRE_OP_INVALIDATE;
	assert_int_equal(uwire_request_check(&h), -UWIRE_S_INVALID);
	h.opcode = UWIRE_OP_GET;
	assert_int_equal(uwire_request_check(&h), 0);
	h.flags = UWIRE_F_EXCLUSIVE | UWIRE_F_MAXLEN;
	assert_int_equal(uwire_request_check(&h), 0);
	h.flags = UWIRE_F_SHARED;
	assert_int_equal(uwire_request_check(&h), -UWIRE_S_INVALID);
	h.opcode = UWIRE_OP_POOL_OPEN;
	h.flags = UWIRE_F_CREATE | UWIRE_F_EPHEMERAL | UWIRE_F_SHARED;
	assert_int_equal(uwire_request_check(&h), 0);
	h.opcode = UWIRE_OP_HELLO;
	assert_int_equal(uwire_request_check(&h), -UWIRE_S_INVALID);
	/* BENCH (the benchmark modes) defines no flag bit. */
	h.opcode = UWIRE_OP_BENCH;
	assert_int_equal(uwire_request_check(&h), -UWIRE_S_INVALID);
	h.flags = 0;
	assert_int_equal(uwire_request_check(&h), 0);
	assert_string_equal(uwire_op_name(UWIRE_OP_BENCH), "BENCH");
	/* Unknown and admin opcodes are the dispatcher's to answer (OPCODE),
	 * 0x00 below the first opcode as much as those above the last. */
	h.flags = UWIRE_F_SHARED;
	h.opcode = 0x3e;
	assert_int_equal(uwire_request_check(&h), 0);
	h.opcode = 0x00;
	assert_int_equal(uwire_request_check(&h), 0);
	h.opcode = 0x41;
	assert_int_equal(uwire_request_check(&h), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_bytes),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_length_limits),
		cmocka_unit_test(test_frame_size_overflow),
		cmocka_unit_test(test_parse_incremental),
		cmocka_unit_test(test_status_errno),
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_le_helpers),
		cmocka_unit_test(test_request_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

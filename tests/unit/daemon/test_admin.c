/*
 * test_admin.c — unit tests of the admin protocol records (src/proto/admin.c):
 * every record survives a round trip, decoding refuses truncated, padded,
 * oversized and NUL-carrying input, and the size and log-level parsers
 * utmemd and utmemctl share accept exactly what the docs promise.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "proto/admin.h"
#include "proto/wire.h"

static void test_tenant_req_roundtrip(void **state)
{
	struct uadm_tenant_req in = {.mask = UADM_SET_MIN | UADM_SET_WEIGHT,
				     .weight = 7, .min = 1u << 20,
				     .max = UINT64_MAX, .name = "web",
				     .socket = "/run/x.sock", .token = "tok"};
	struct uadm_tenant_req out;
	struct uadm_wbuf w;
	struct uadm_rbuf r;

	(void)state;
	uadm_wbuf_init(&w);
	uadm_w_tenant_req(&w, &in);
	assert_int_equal(w.err, 0);
	assert_int_equal(w.len, 4 + 4 + 8 + 8 + 2 + 3 + 2 + 11 + 2 + 3);
	uadm_rbuf_init(&r, w.data, w.len);
	uadm_r_tenant_req(&r, &out);
	assert_int_equal(uadm_r_end(&r), 0);
	assert_int_equal(out.mask, in.mask);
	assert_int_equal(out.weight, 7);
	assert_true(out.min == in.min && out.max == in.max);
	assert_string_equal(out.name, "web");
	assert_string_equal(out.socket, "/run/x.sock");
	assert_string_equal(out.token, "tok");
	/* Every truncation is refused. */
	for (size_t n = 0; n < w.len; n++) {
		uadm_rbuf_init(&r, w.data, n);
		uadm_r_tenant_req(&r, &out);
		assert_int_equal(uadm_r_end(&r), -EPROTO);
	}
	uadm_wbuf_free(&w);
}

static void test_bad_mask_and_trailing(void **state)
{
	struct uadm_tenant_req in = {.mask = 0x8, .name = "a"};
	struct uadm_tenant_req out;
	struct uadm_wbuf w;
	struct uadm_rbuf r;

	(void)state;
	uadm_wbuf_init(&w);
	uadm_w_tenant_req(&w, &in);
	uadm_rbuf_init(&r, w.data, w.len);
	uadm_r_tenant_req(&r, &out);
	assert_int_equal(uadm_r_end(&r), -EPROTO);
	uadm_wbuf_free(&w);

	uadm_wbuf_init(&w);
	uadm_w_u64(&w, 5);
	uadm_w_u32(&w, 0); /* trailing junk */
	uadm_rbuf_init(&r, w.data, w.len);
	assert_int_equal(uadm_r_u64(&r), 5);
	assert_int_equal(uadm_r_end(&r), -EPROTO);
	uadm_wbuf_free(&w);
}

static void test_strings(void **state)
{
	uint8_t buf[80];
	char out[UADM_NAME_MAX + 1];
	struct uadm_rbuf r;

	(void)state;
	/* Longer than the bound. */
	uwire_put_u16(buf, 64);
	memset(buf + 2, 'a', 64);
	uadm_rbuf_init(&r, buf, 66);
	uadm_r_str(&r, out, UADM_NAME_MAX);
	assert_int_equal(uadm_r_end(&r), -EPROTO);
	/* A NUL inside. */
	uwire_put_u16(buf, 3);
	memcpy(buf + 2, "a\0b", 3);
	uadm_rbuf_init(&r, buf, 5);
	uadm_r_str(&r, out, UADM_NAME_MAX);
	assert_int_equal(uadm_r_end(&r), -EPROTO);
	/* Exactly 63 bytes is fine. */
	uwire_put_u16(buf, 63);
	memset(buf + 2, 'z', 63);
	uadm_rbuf_init(&r, buf, 65);
	uadm_r_str(&r, out, UADM_NAME_MAX);
	assert_int_equal(uadm_r_end(&r), 0);
	assert_int_equal(strlen(out), 63);
}

static void test_listing_roundtrip(void **state)
{
	struct uadm_capacity c = {1u << 30, 4096, 1u << 20, 2, 3}, c2;
	struct uadm_tenant t = {.id = 1, .weight = 2, .min = 3, .max = 4,
				.st = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
				.name = "default", .socket = "/s",
				.freeable = 1234, .flags = UADM_TENANT_FROZEN}, t2;
	struct uadm_pool p = {.id = 9, .owner = 0, .kind = UADM_KIND_SHARED,
			      .st = {10, 9, 8, 7, 6, 5, 4, 3, 2, 1},
			      .name = "shared"}, p2;
	struct uadm_wbuf w;
	struct uadm_rbuf r;

	(void)state;
	uadm_wbuf_init(&w);
	uadm_w_capacity(&w, &c);
	assert_int_equal(w.len, UADM_CAPACITY_SIZE);
	uadm_w_tenant(&w, &t);
	uadm_w_pool(&w, &p);
	uadm_rbuf_init(&r, w.data, w.len);
	uadm_r_capacity(&r, &c2);
	uadm_r_tenant(&r, &t2);
	uadm_r_pool(&r, &p2);
	assert_int_equal(uadm_r_end(&r), 0);
	assert_memory_equal(&c, &c2, sizeof(c));
	assert_int_equal(t2.st.refused_puts, 10);
	assert_int_equal(t2.st.entries, 1);
	assert_string_equal(t2.name, "default");
	assert_string_equal(t2.socket, "/s");
	assert_int_equal(t2.freeable, 1234);
	assert_int_equal(t2.flags, UADM_TENANT_FROZEN);
	assert_int_equal(p2.id, 9);
	assert_int_equal(p2.kind, UADM_KIND_SHARED);
	assert_int_equal(p2.st.entries, 10);
	assert_string_equal(p2.name, "shared");
	uadm_wbuf_free(&w);
}

static void test_parse_size(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(uadm_parse_size("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(uadm_parse_size("64K", &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(uadm_parse_size("512m", &v), 0);
	assert_int_equal(v, 512u << 20);
	assert_int_equal(uadm_parse_size("4G", &v), 0);
	assert_true(v == 4ull << 30);
	assert_int_equal(uadm_parse_size("2GiB", &v), 0);
	assert_true(v == 2ull << 30);
	assert_int_equal(uadm_parse_size("100B", &v), 0);
	assert_int_equal(v, 100);
	assert_int_equal(uadm_parse_size("1T", &v), 0);
	assert_true(v == 1ull << 40);
	assert_int_equal(uadm_parse_size("", &v), -EINVAL);
	assert_int_equal(uadm_parse_size("-1", &v), -EINVAL);
	assert_int_equal(uadm_parse_size("12Q", &v), -EINVAL);
	assert_int_equal(uadm_parse_size("1 G", &v), -EINVAL);
	assert_int_equal(uadm_parse_size("25%", &v), -EINVAL);
	assert_int_equal(uadm_parse_size("99999999999999999999", &v), -ERANGE);
	assert_int_equal(uadm_parse_size("17179869184G", &v), -ERANGE);
}

static void test_log_levels_and_names(void **state)
{
	(void)state;
	assert_int_equal(uadm_log_level_parse("debug"), UADM_LOG_DEBUG);
	assert_int_equal(uadm_log_level_parse("WARN"), UADM_LOG_WARN);
	assert_int_equal(uadm_log_level_parse("warning"), UADM_LOG_WARN);
	assert_int_equal(uadm_log_level_parse("loud"), -EINVAL);
	assert_string_equal(uadm_log_level_name(UADM_LOG_INFO), "info");
	assert_string_equal(uadm_op_name(UADM_OP_STATS), "STATS");
	assert_string_equal(uadm_op_name(UADM_OP_LOG_LEVEL), "LOG_LEVEL");
	assert_null(uadm_op_name(UWIRE_OP_PUT));
	assert_string_equal(uadm_op_name(UADM_OP_CONFIG_SET), "CONFIG_SET");
	assert_string_equal(uadm_op_name(UADM_OP_TENANT_FREEZE), "TENANT_FREEZE");
	assert_null(uadm_op_name(UADM_OP_MAX_ + 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tenant_req_roundtrip),
		cmocka_unit_test(test_bad_mask_and_trailing),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_listing_roundtrip),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_log_levels_and_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

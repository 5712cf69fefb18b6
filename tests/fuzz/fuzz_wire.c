/*
 * fuzz_wire.c — libFuzzer target for the frame decoder, the daemon's first
 * line of defence against tenants.
 *
 * The input is a byte stream cut into frames as a receiver would cut it.
 * The first two bytes choose the receiver's limits, so small and large
 * configurations are both explored. Invariants checked on every frame:
 * nothing is consumed beyond the input, accepted lengths respect the limits
 * and the ceilings, key and value point inside the input, re-encoding an
 * accepted header gives back the exact bytes, and `need` only ever asks for
 * a frame size the limits allow; read as requests (uwire_parse_request),
 * no frame carrying RESPONSE is ever accepted.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void check_frame(const uint8_t *p, size_t left, long n,
			const struct uwire_frame *f,
			const struct uwire_limits *lim)
{
	uint8_t again[UWIRE_HDR_SIZE];

	assert((size_t)n <= left);
	assert((size_t)n == uwire_frame_size(&f->hdr));
	assert(f->hdr.klen <= lim->max_key && f->hdr.klen <= UWIRE_KEY_CEILING);
	assert(f->hdr.vlen <= lim->max_value &&
	       f->hdr.vlen <= UWIRE_VALUE_CEILING);
	if (!(f->hdr.flags & UWIRE_F_RESPONSE)) {
		assert(f->hdr.status == 0);
		assert(f->hdr.opcode == UWIRE_OP_PUT ||
		       f->hdr.vlen <= UWIRE_SMALL_VALUE_MAX);
	}
	assert(f->key == p + UWIRE_HDR_SIZE);
	assert(f->value + f->hdr.vlen == p + n);
	uwire_hdr_encode(&f->hdr, again);
	assert(memcmp(again, p, UWIRE_HDR_SIZE) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct uwire_limits lim = {UWIRE_KEY_CEILING, 64u << 20};
	struct uwire_frame f;
	struct uwire_hello hello;
	struct uwire_stats stats;
	size_t off = 0;

	if (len >= 2) {
		lim.max_key = 1u + data[0] * 256u;
		lim.max_value = (uint32_t)data[1] << 16;
		data += 2;
		len -= 2;
	}
	while (off < len) {
		size_t need = 0;
		long n = uwire_parse(data + off, len - off, &lim, &f, &need);

		if (n < 0) {
			assert(-n > 0 && -n < UWIRE_S_MAX_);
			assert(uwire_status_to_errno((unsigned)-n) > 0);
			break;
		}
		if (n == 0) {
			assert(need > len - off);
			assert(need <= (size_t)UWIRE_HDR_SIZE + UWIRE_KEY_CEILING +
					       UWIRE_VALUE_CEILING);
			break;
		}
		check_frame(data + off, len - off, n, &f, &lim);
		uwire_hello_decode(f.value, f.hdr.vlen, &hello);
		uwire_stats_decode(f.value, f.hdr.vlen, &stats);
		(void)uwire_op_name(f.hdr.opcode);
		off += (size_t)n;
	}
	/*
	 * The same stream as a daemon reads it (requests only): no frame with
	 * RESPONSE gets through, so every accepted one was held to the
	 * request rules, and a need is never above what a request may be.
	 */
	for (off = 0; off < len;) {
		size_t need = 0;
		long n = uwire_parse_request(data + off, len - off, &lim, &f, &need);

		if (n <= 0) {
			if (n == 0 && len - off >= UWIRE_HDR_SIZE)
				assert(!(f.hdr.flags & UWIRE_F_RESPONSE));
			break;
		}
		assert(!(f.hdr.flags & UWIRE_F_RESPONSE));
		check_frame(data + off, len - off, n, &f, &lim);
		(void)uwire_request_check(&f.hdr);
		off += (size_t)n;
	}
	return 0;
}

/*
 * bench.c — the latency breakdown modes (the thesis's Table 3.2), a
 * benchmarking aid that is off unless the operator starts utmemd with
 * `bench_modes = on` and a client asks for it on its own connection (the
 * BENCH request, docs/protocol.md "Benchmark modes").
 *
 * Null store: a synchronous PUT is answered OK without reaching the store
 * (nothing is stored, replaced, charged or counted), and a GET is answered
 * with as many zero bytes as its MAXLEN asks for (at most max_value),
 * without looking at the store, so the reply still crosses the transport
 * at full size. Posted requests (PUT with POSTED, PUT_REF) are served
 * normally: their charge was reserved as credit, and serving them keeps
 * that accounting exact (libutmem never posts on such a connection).
 *
 * Timing: every request of the connection is timed from dispatch to the
 * reply queued (the daemon's service time) and, inside it, the store call;
 * the next BENCH request reads the pair. The figures are the tenant's own
 * requests' times, nothing of another tenant.
 *
 * A tenant gains nothing from either: null store holds no memory and
 * touches no entry; everything else (quota, isolation, limits) is the
 * normal path. What it can do is make utmemd send max_value bytes per GET
 * without storing any, which is why the whole thing is off by default.
 */
#include "daemon/daemon.h"

#include <string.h>

/*
 * BENCH: grant the modes in the request's value to this connection (and
 * its ring peer) and reply with the timing of the previous request.
 * Refused with OPCODE, exactly like an unknown opcode, unless bench_modes
 * is on: a production utmemd looks like one that never heard of it.
 */
void ud_bench_op(struct ud_conn *c, const struct uwire_frame *f)
{
	const uint32_t both = UWIRE_BENCH_NULL_STORE | UWIRE_BENCH_NO_FORWARD;
	uint8_t *p;
	uint32_t mode;

	if (!c->loop->d->bench_modes) {
		ud_debug("fd %d: BENCH refused (bench_modes = off)", c->fd);
		ud_reply(c, &f->hdr, UWIRE_S_OPCODE, 0, NULL, 0);
		return;
	}
	mode = f->hdr.vlen == UWIRE_BENCH_MODE_SIZE ? uwire_get_u32(f->value) : 0;
	if (f->hdr.klen || f->hdr.pool || f->hdr.vlen != UWIRE_BENCH_MODE_SIZE ||
	    f->hdr.flags || (mode & ~UWIRE_BENCH_ALL_) || (mode & both) == both) {
		ud_reply(c, &f->hdr, UWIRE_S_INVALID, 0, NULL, 0);
		return;
	}
	if (mode != c->bench)
		ud_info_rl("tenant '%s' (fd %d): benchmark modes%s%s%s%s", c->tenant->name,
			c->fd, mode ? "" : " off",
			mode & UWIRE_BENCH_NULL_STORE ? " null-store" : "",
			mode & UWIRE_BENCH_NO_FORWARD ? " no-forward" : "",
			mode & UWIRE_BENCH_TIMING ? " timing" : "");
	c->bench = mode;
	if (c->peer)
		c->peer->bench = mode;
	p = ud_reply_begin(c, &f->hdr, UWIRE_S_OK, 0, UWIRE_BENCH_TIMES_SIZE);
	if (p) {
		uwire_put_u64(p, c->bench_ns);
		uwire_put_u64(p + 8, c->bench_store_ns);
	}
}

/*
 * Null-store GET: MAXLEN zero bytes (capped at max_value), or an empty
 * value without MAXLEN. The reply is reserved like any GET's, so the
 * connection's output limits hold.
 */
void ud_bench_null_get(struct ud_conn *c, const struct uwire_hdr *h,
		       uint64_t maxlen)
{
	uint64_t len = maxlen == UINT64_MAX ? 0 : maxlen;
	uint8_t *p;

	if (len > c->loop->d->lim.max_value)
		len = c->loop->d->lim.max_value;
	if (ud_out_reserve(c, UWIRE_HDR_SIZE + (size_t)len) < 0) {
		ud_reply(c, h, UWIRE_S_NOMEM, 0, NULL, 0);
		return;
	}
	p = ud_reply_begin(c, h, UWIRE_S_OK, h->pool, (size_t)len);
	if (p && len)
		memset(p, 0, (size_t)len);
}

/* Record the timing of one request served on c (and its ring peer). */
void ud_bench_record(struct ud_conn *c, uint8_t opcode, uint64_t ns)
{
	if (opcode == UWIRE_OP_BENCH || opcode == UWIRE_OP_CREDIT_RETURN)
		return;
	c->bench_ns = ns;
	c->bench_store_ns = c->bench_store_acc;
	if (c->peer) {
		c->peer->bench_ns = ns;
		c->peer->bench_store_ns = c->bench_store_acc;
	}
}

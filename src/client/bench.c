/*
 * bench.c — libutmem's side of the latency breakdown (the thesis's
 * Table 3.2): asking utmemd for the benchmark modes, and timing calls.
 *
 * The modes are benchmarking aids, never defaults: each is an option flag
 * of utmem_connect() and needs a utmemd started with `bench_modes = on`,
 * which the library asks on every new connection (BENCH). Timing reads the
 * monotonic clock at four points of a call (entry, hand-over to the
 * channel, whole reply in, exit) and, for a request utmemd served, asks it
 * afterwards for its service and store times of that request, so a call
 * splits into library, transport, daemon and store without subtracting one
 * run's figures from another's.
 */
#include "client/client_int.h"
#include "transport/spin.h"

#include <errno.h>
#include <string.h>

uint64_t uclient_now(void)
{
	return umono_ns(); /* one clock for the library's waits and stamps */
}

uint64_t uclient_tm_entry(const struct utmem_client *c)
{
	return (c->flags & UTMEM_OPT_TIMING) ? uclient_now() : 0;
}

void uclient_tm_begin(struct utmem_client *c, uint64_t entry)
{
	if (!(c->flags & UTMEM_OPT_TIMING))
		return;
	memset(&c->tm, 0, sizeof(c->tm));
	c->tm.running = 1;
	c->tm.entry = entry;
}

void uclient_tm_end(struct utmem_client *c)
{
	if (!(c->flags & UTMEM_OPT_TIMING))
		return;
	c->tm.exit = uclient_now();
	c->tm.running = 0;
	c->tm.valid = 1;
}

int uclient_tm_none(struct utmem_client *c, uint64_t entry, int err)
{
	if (!(c->flags & UTMEM_OPT_TIMING) || uclient_lock(c))
		return err;
	uclient_tm_begin(c, entry);
	uclient_tm_end(c); /* path stays UTMEM_PATH_NONE */
	uclient_unlock(c);
	return err;
}

void uclient_tm_mark(struct utmem_client *c, unsigned path, uint64_t send)
{
	if (!(c->flags & UTMEM_OPT_TIMING) || !c->tm.running)
		return; /* a batch, or utmem_timing's own exchange */
	c->tm.path = path;
	c->tm.send = send;
	c->tm.recv = uclient_now();
	c->tm.gen = c->conn_gen;
	c->tm.id = c->next_id;
}

/*
 * One BENCH exchange: ask for c->bench, read utmemd's times of the request
 * before. Returns 0 or -errno (-EOPNOTSUPP: refused).
 */
static int bench_exchange(struct utmem_client *c, uint64_t *svc, uint64_t *st)
{
	uint8_t mode[UWIRE_BENCH_MODE_SIZE], rec[UWIRE_BENCH_TIMES_SIZE];
	struct uclient_req r = {
		.op = UWIRE_OP_BENCH,
		.val = mode,
		.vlen = sizeof(mode),
		.rx = UCLIENT_RX_RECORD,
		.buf = rec,
		.cap = sizeof(rec),
	};
	int err;

	uwire_put_u32(mode, c->bench);
	err = (int)uclient_exec_one(c, &r);
	if (err)
		return err;
	*svc = uwire_get_u64(rec);
	*st = uwire_get_u64(rec + 8);
	return 0;
}

int uclient_bench_hello(struct utmem_client *c)
{
	uint64_t svc, st;

	if (!c->bench)
		return 0;
	return bench_exchange(c, &svc, &st);
}

/* a - b, or 0 if the clock readings of two processes disagree. */
static uint64_t sub0(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

int utmem_timing(utmem_client *c, struct utmem_timing *out)
{
	struct uclient_tm tm;
	uint64_t svc = 0, st = 0, total, wire;
	int err = 0;

	if (!c || !out || !(c->flags & UTMEM_OPT_TIMING))
		return -EINVAL;
	/* In a child after fork(): the connection (and utmemd's times) go. */
	err = uclient_lock(c);
	if (err)
		return err;
	tm = c->tm; /* the BENCH exchange below is itself timed by exec */
	if (!tm.valid) {
		uclient_unlock(c);
		return -EINVAL;
	}
	if (tm.path != UTMEM_PATH_RING && tm.path != UTMEM_PATH_SOCKET) {
		/* the library's own times: nothing to ask utmemd */
	} else if (c->fd < 0 || c->conn_gen != tm.gen) {
		err = -ENOTCONN; /* utmemd's times went with the connection */
	} else if (c->next_id != tm.id) {
		err = -ESTALE; /* a later request's times replaced them */
	} else {
		err = bench_exchange(c, &svc, &st);
		if (err && err != -EOPNOTSUPP && err != -EINVAL)
			uclient_disconnect(c);
	}
	c->tm.valid = 0; /* each call's figures are read once */
	uclient_unlock(c);
	if (err)
		return err;
	memset(out, 0, sizeof(*out));
	out->path = tm.path;
	total = sub0(tm.exit, tm.entry);
	switch (tm.path) {
	case UTMEM_PATH_RING:
	case UTMEM_PATH_SOCKET:
		wire = sub0(tm.recv, tm.send);
		if (svc > wire)
			svc = wire; /* cannot exceed the round trip it was in */
		if (st > svc)
			st = svc;
		out->store_ns = st;
		out->daemon_ns = svc - st;
		out->transport_ns = wire - svc;
		out->library_ns = sub0(total, wire);
		break;
	case UTMEM_PATH_POSTED:
		out->transport_ns = sub0(tm.recv, tm.send);
		out->library_ns = sub0(total, out->transport_ns);
		break;
	case UTMEM_PATH_ONE_SIDED:
		out->store_ns = tm.side_ns;
		out->library_ns = sub0(total, tm.side_ns);
		break;
	default:
		out->library_ns = total;
		break;
	}
	return 0;
}

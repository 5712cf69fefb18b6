/*
 * tenant_ops.c — serving tenant requests (opcodes 0x01-0x3f) on a worker.
 *
 * The tenant is the one whose socket (or TCP token) the connection came
 * through; nothing in a request can name another. Each handler checks the
 * argument shapes docs/protocol.md gives for its opcode, calls the store,
 * and appends exactly one reply to the connection's output. Admin opcodes
 * are refused here whatever the connection, so a tenant can never reach the
 * control plane.
 */
#include "daemon/daemon.h"

#include <errno.h>
#include <string.h>

#include "proto/region.h"

/* Store errno to wire status (the table in wire.c, named here for clarity). */
unsigned ud_status(int err)
{
	switch (err < 0 ? -err : err) {
	case 0: return UWIRE_S_OK;
	case EDQUOT: return UWIRE_S_QUOTA;
	case ENOSPC: return UWIRE_S_CAPACITY;
	case EMSGSIZE: return UWIRE_S_TOOBIG;
	case EBADF: return UWIRE_S_BADPOOL;
	case ENOENT: return UWIRE_S_NOTFOUND;
	case EACCES: return UWIRE_S_ACCESS;
	case EEXIST: return UWIRE_S_EXISTS;
	case ENOMEM: return UWIRE_S_NOMEM;
	case ENOBUFS: return UWIRE_S_NOBUFS;
	case EROFS: return UWIRE_S_FROZEN;
	case EINVAL: return UWIRE_S_INVALID;
	case ENOTEMPTY: return UWIRE_S_NOTEMPTY;
	case EKEYREVOKED: return UWIRE_S_REVOKED;
	default: return UWIRE_S_INTERNAL;
	}
}

static void reply_status(struct ud_conn *c, const struct uwire_hdr *h, int err)
{
	ud_reply(c, h, ud_status(err), 0, NULL, 0);
}

static void op_hello(struct ud_conn *c, const struct uwire_frame *f)
{
	struct ud_daemon *d = c->loop->d;
	struct uwire_hello hello = {
		.version = UWIRE_VERSION,
		.max_key = d->lim.max_key,
		.max_value = d->lim.max_value,
	};
	uint8_t *p;

	if (f->hdr.vlen || f->hdr.klen > UD_TOKEN_MAX) {
		if (c->tcp && !c->tenant) {
			/* No token has that shape: not counted as a guess
			 * (backoff.c). */
			ud_unauth_refuse(c, &f->hdr, "TCP HELLO that cannot carry a token");
			return;
		}
		reply_status(c, &f->hdr, -EINVAL);
		return;
	}
	if (c->tcp && !c->tenant) {
		struct ud_tenant *t = ud_tenant_by_token(d, f->key, f->hdr.klen);

		if (!t) {
			/* Its source backs off (backoff.c): no line-rate guessing. */
			ud_authfail_record(d, ud_peer_ipv4(c->fd));
			ud_info_rl("fd %d: TCP HELLO with a wrong token; closing", c->fd);
			ud_reply(c, &f->hdr, UWIRE_S_AUTH, 0, NULL, 0);
			c->closing = 1;
			return;
		}
		if (ud_admit_tenant(c, t) < 0) {
			ud_reply(c, &f->hdr, UWIRE_S_QUOTA, 0, NULL, 0);
			c->closing = 1;
			return;
		}
		ud_debug("fd %d: TCP client authenticated as tenant '%s'", c->fd,
			 c->tenant->name);
	}
	hello.tenant_id = c->tenant ? c->tenant->id : 0;
	p = ud_reply_begin(c, &f->hdr, UWIRE_S_OK, 0, UWIRE_HELLO_SIZE);
	if (p)
		uwire_hello_encode(&hello, p);
}

/* Pool names arrive as key bytes; the store wants a C string. */
static int key_name(const struct uwire_frame *f, char out[UST_NAME_MAX + 1])
{
	if (f->hdr.klen == 0 || f->hdr.klen > UST_NAME_MAX ||
	    memchr(f->key, '\0', f->hdr.klen))
		return -EINVAL;
	memcpy(out, f->key, f->hdr.klen);
	out[f->hdr.klen] = '\0';
	return 0;
}

static void op_pool_open(struct ud_conn *c, const struct uwire_frame *f)
{
	struct ud_daemon *d = c->loop->d;
	char name[UST_NAME_MAX + 1];
	unsigned kind = 0, flags = 0;
	uint32_t pool = 0;
	int err;

	if (f->hdr.vlen || key_name(f, name) < 0) {
		reply_status(c, &f->hdr, -EINVAL);
		return;
	}
	if (f->hdr.flags & UWIRE_F_EPHEMERAL)
		kind |= UST_POOL_EPHEMERAL;
	if (f->hdr.flags & UWIRE_F_SHARED)
		kind |= UST_POOL_SHARED;
	if (f->hdr.flags & UWIRE_F_CREATE)
		flags |= UST_OPEN_CREATE;
	err = ust_pool_open(d->st, c->tenant->id, name, kind, flags, &pool);
	ud_reply(c, &f->hdr, ud_status(err), err ? 0 : pool, NULL, 0);
}

/*
 * A GET reply of this many bytes or more that would need a fresh output
 * segment has it reserved and faulted in before the copy, and the value's
 * pages mapped in, outside the store's stripe lock: a fresh 64 MiB segment
 * faults 16,384 pages, and a value the client staged in its value region
 * may not be mapped in utmemd yet (together 200-300 ms on the development
 * VM), and every operation on that stripe, any tenant's, would wait for
 * them. Only the copy is left under the lock. A reply that finds a warm
 * segment (steady GETs of one size reuse the worker's cache) goes straight
 * on: preparing it anyway cost 128 KiB GETs on the socket ~11 %.
 */
#define GET_PREPARE_MIN (64u << 10)
/* Attempts at a GET whose value keeps growing between the preparation and
 * the copy (another connection overwriting it); then it is answered
 * NOMEM rather than faulted in under the lock. */
#define GET_TRIES 4

/* What a GET's sink needs: the connection and the request it answers. */
struct get_ctx {
	struct ud_conn *c;
	const struct uwire_hdr *req;
	uint64_t maxlen;
	size_t ready; /* reply bytes prepared (ud_out_prepare) */
	size_t want;  /* -EAGAIN: reply bytes to prepare */
	const void *src; /* -EAGAIN: the value, to map in (it may go) */
};

/*
 * Store sink, under the stripe lock: append the reply header and the value
 * straight into the output buffer (one copy, no intermediate buffer). A
 * value longer than the client's F_MAXLEN returns -ENOBUFS so the store
 * removes nothing; a large one whose reply is not prepared yet returns
 * -EAGAIN (op_get prepares it, and asks again).
 */
static int get_sink(void *arg, const void *val, size_t len)
{
	struct get_ctx *g = arg;
	size_t n = UWIRE_HDR_SIZE + len;
	uint8_t *p;

	if (len > g->maxlen)
		return -ENOBUFS;
	if (n >= GET_PREPARE_MIN && n > g->ready && !ud_out_warm(g->c, n)) {
		g->want = n;
		g->src = val;
		return -EAGAIN;
	}
	if (ud_out_reserve(g->c, n) < 0)
		return -ENOMEM;
	p = ud_reply_begin(g->c, g->req, UWIRE_S_OK, g->req->pool, len);
	if (p && len)
		memcpy(p, val, len);
	return 0;
}

static void op_get(struct ud_conn *c, const struct uwire_frame *f)
{
	struct ud_daemon *d = c->loop->d;
	struct get_ctx g = {.c = c, .req = &f->hdr, .maxlen = UINT64_MAX};
	unsigned flags = 0;
	uint64_t t0;
	int err;

	if (f->hdr.flags & UWIRE_F_MAXLEN) {
		if (f->hdr.vlen != 4) {
			reply_status(c, &f->hdr, -EINVAL);
			return;
		}
		g.maxlen = uwire_get_u32(f->value);
	} else if (f->hdr.vlen) {
		reply_status(c, &f->hdr, -EINVAL);
		return;
	}
	if (f->hdr.flags & UWIRE_F_EXCLUSIVE)
		flags |= UST_GET_EXCLUSIVE;
	if (c->bench & UWIRE_BENCH_NULL_STORE) {
		ud_bench_null_get(c, &f->hdr, g.maxlen);
		return;
	}
	t0 = c->bench & UWIRE_BENCH_TIMING ? umono_ns() : 0;
	for (int tries = 1;; tries++) {
		err = ust_get(d->st, c->tenant->id, f->hdr.pool, f->key,
			      f->hdr.klen, flags, get_sink, &g);
		if (err != -EAGAIN)
			break;
		if (tries == GET_TRIES || ud_out_prepare(c, g.want) < 0) {
			err = -ENOMEM;
			break;
		}
		ust_prefault_value(d->st, c->tenant->id, g.src, g.want - UWIRE_HDR_SIZE);
		g.ready = g.want;
	}
	if (c->bench & UWIRE_BENCH_TIMING)
		c->bench_store_acc += umono_ns() - t0;
	if (err)
		reply_status(c, &f->hdr, err);
}

static void counters_to_wire(const struct ust_stats *s, struct uwire_stats *w)
{
	w->entries = s->entries;
	w->bytes_stored = s->bytes_stored;
	w->bytes_charged = s->bytes_charged;
	w->puts = s->puts;
	w->gets = s->gets;
	w->hits = s->hits;
	w->misses = s->misses;
	w->invalidates = s->invalidates;
	w->evictions = s->evictions;
	w->refused_puts = s->refused_puts;
}

static void op_stats(struct ud_conn *c, const struct uwire_frame *f)
{
	struct ud_daemon *d = c->loop->d;
	struct uwire_stats w = {0};
	int err;
	uint8_t *p;

	if (f->hdr.klen || f->hdr.vlen) {
		reply_status(c, &f->hdr, -EINVAL);
		return;
	}
	if (f->hdr.pool == 0) {
		struct ust_tenant_info ti;

		ud_tenant_fold_reads(d, c->tenant);
		err = ust_tenant_info(d->st, c->tenant->id, &ti);
		if (!err) {
			counters_to_wire(&ti.stats, &w);
			w.limit_max = ti.limits.max;
			w.limit_min = ti.limits.min;
		}
	} else {
		struct ust_pool_info pi;
		err = ust_pool_info(d->st, c->tenant->id, f->hdr.pool, &pi);
		if (!err)
			counters_to_wire(&pi.stats, &w);
	}
	if (err) {
		reply_status(c, &f->hdr, err);
		return;
	}
	p = ud_reply_begin(c, &f->hdr, UWIRE_S_OK, f->hdr.pool, UWIRE_STATS_SIZE);
	if (p)
		uwire_stats_encode(&w, p);
}

/*
 * SERVER_INFO: what a tenant may know of the daemon serving it, as
 * "key:value" lines (the Redis module's INFO shows them): the version,
 * uptime, its limits and this tenant's own connections and the quota they
 * hold reserved as credit and staging extents (what posting may still
 * spend; 0 once they have given it back or closed), the sizes of this
 * connection's staging extents and how many of each it keeps, no other
 * tenant's and nothing of the
 * host. Workers read only what is fixed at startup.
 */
static void op_server_info(struct ud_conn *c, const struct uwire_frame *f)
{
	struct ud_daemon *d = c->loop->d;
	uint64_t stage, small;
	unsigned nslots, nsmall;
	char text[768];
	int n;

	if (f->hdr.klen || f->hdr.vlen) {
		reply_status(c, &f->hdr, -EINVAL);
		return;
	}
	ud_credit_stage_sizes(c, &stage, &small, &nslots, &nsmall);
	n = snprintf(text, sizeof(text),
		     "version:%s\nuptime_seconds:%llu\nworkers:%u\nmax_key:%u\n"
		     "max_value:%u\nring_size:%llu\npersist:%s\ntenant:%s\n"
		     "tenant_connections:%u\ntenant_credit_bytes:%llu\n"
		     "tenant_credit_reclaimed_bytes:%llu\nconnection_stage_bytes:%llu\n"
		     "connection_stage_small_bytes:%llu\nconnection_stage_slots:%u\n"
		     "connection_stage_small_slots:%u\ntenant_puts_staged:%llu\n"
		     "tenant_puts_posted_inline:%llu\ntenant_puts_replied:%llu\n"
		     "tenant_credit_returns:%llu\n",
		     UD_VERSION,
		     (unsigned long long)((umono_ns() - d->started_ns) / 1000000000ull),
		     d->nworkers, d->lim.max_key, d->lim.max_value,
		     (unsigned long long)d->ring_size, d->boot.persist[0] ? "on" : "off",
		     c->tenant->name, atomic_load(&c->tenant->conns),
		     (unsigned long long)atomic_load(&c->tenant->credit_held),
		     (unsigned long long)atomic_load(&c->tenant->credit_reclaimed),
		     (unsigned long long)stage, (unsigned long long)small, nslots,
		     nsmall,
		     (unsigned long long)atomic_load(&c->tenant->put_stats[UD_PUT_STAGED]),
		     (unsigned long long)atomic_load(&c->tenant->put_stats[UD_PUT_POSTED]),
		     (unsigned long long)atomic_load(&c->tenant->put_stats[UD_PUT_REPLIED]),
		     (unsigned long long)atomic_load(&c->tenant->put_stats[UD_CREDIT_RETURNS]));
	ud_reply(c, &f->hdr, UWIRE_S_OK, 0, text,
		 n < 0 ? 0 : (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1);
}

/* Requests that take only a pool id. */
static void op_pool_only(struct ud_conn *c, const struct uwire_frame *f)
{
	if (f->hdr.klen || f->hdr.vlen) {
		reply_status(c, &f->hdr, -EINVAL);
		return;
	}
	/* FLUSH and DESTROY: one removal per value, so on the bulk thread,
	 * not this worker (bulk.c); the reply comes when it is done. */
	ud_bulk_submit(c, &f->hdr);
}

void ud_unauth_refuse(struct ud_conn *c, const struct uwire_hdr *h, const char *why)
{
	ud_debug("fd %d: %s; closing", c->fd, why);
	ud_reply(c, h, UWIRE_S_AUTH, 0, NULL, 0);
	c->closing = 1;
}

/*
 * A ring client broke the posting rules (credit overspent, a staging slot
 * it does not hold, a malformed posted request): it cannot be trusted to
 * keep the stream in order any more. Close its connection.
 */
void ud_posted_violation(struct ud_conn *c, const struct uwire_hdr *h,
			 const char *what)
{
	ud_warn_rl("tenant '%s' (fd %d): %s; closing the connection",
		  c->tenant->name, c->fd, what);
	ud_reply(c, h, UWIRE_S_PROTO, 0, NULL, 0);
	c->closing = 1;
}

/*
 * A posted request the store refused: nobody waits for a reply. Credit
 * paid for its room (a freeze does not refuse it: ops.c), so this is a
 * race with the operator (its pool destroyed while the PUT was in the
 * ring) or memory for the index running out: the value is not stored,
 * and the operator sees it counted (INFO posted_refused) and logged. The connection's
 * credit is recalled, so that its next PUT waits for its answer; for a
 * pool that is gone the client is also told to reopen its pools
 * (pools_gen): else every later posted PUT to it would be answered OK to
 * its caller and none stored.
 */
static void posted_failed(struct ud_conn *c, const struct uwire_hdr *h, int err)
{
	c->credit->posted_failed++;
	atomic_fetch_add(&c->loop->d->posted_refused, 1);
	ud_warn_rl("tenant '%s' (fd %d): posted %s refused after the client "
		   "went on (not stored): %s", c->tenant->name, c->fd,
		   uwire_op_name(h->opcode), strerror(-err));
	ud_conn_recall(c, err == -EBADF);
}

/*
 * Count one PUT by the path it came (enum ud_put_stat). A tenant's
 * connections share its home worker, except over TCP, so the line is
 * rarely contended; relaxed, as any counter.
 */
static void count_put(struct ud_conn *c, enum ud_put_stat s)
{
	atomic_fetch_add_explicit(&c->tenant->put_stats[s], 1, memory_order_relaxed);
}

/* A posted PUT, paid from the connection's reservation. */
static void put_reserved(struct ud_conn *c, const struct uwire_frame *f,
			 struct ust_put_src *src)
{
	struct ud_daemon *d = c->loop->d;
	struct ud_credit *k = c->credit;
	uint64_t before = k->res;
	int err;

	src->reserved = &k->res;
	err = ust_put_ex(d->st, c->tenant->id, f->hdr.pool, f->key, f->hdr.klen, src);
	/* What the entry took is charged as an entry now, no longer held. */
	atomic_fetch_sub(&c->tenant->credit_held, before - k->res);
	if (err)
		posted_failed(c, &f->hdr, err);
}

/*
 * PUT: synchronous (a reply), or posted (no reply, paid from the
 * connection's credit, so the store cannot refuse it for room). Inline
 * records big enough for staging teach the connection's staging size.
 */
static void op_put(struct ud_conn *c, const struct uwire_frame *f)
{
	struct ud_daemon *d = c->loop->d;
	const struct uwire_hdr *h = &f->hdr;
	struct ust_put_src src = {.val = f->value, .vlen = h->vlen, .stage_off = -1};
	uint64_t t0;
	int err;

	ud_credit_note_record(c, uvr_rec_size(h->klen, h->vlen));
	if (h->flags & UWIRE_F_POSTED) {
		if (!c->credit) {
			reply_status(c, h, -EINVAL); /* posting needs a ring */
			return;
		}
		if (ud_credit_spend(c, uvr_put_bound(h->klen, h->vlen)) < 0) {
			ud_posted_violation(c, h, "posted PUT beyond its credit");
			return;
		}
		count_put(c, UD_PUT_POSTED);
		put_reserved(c, f, &src);
		return;
	}
	count_put(c, UD_PUT_REPLIED);
	if (c->bench & UWIRE_BENCH_NULL_STORE) {
		ud_reply(c, h, UWIRE_S_OK, h->pool, NULL, 0); /* stores nothing */
		return;
	}
	t0 = c->bench & UWIRE_BENCH_TIMING ? umono_ns() : 0;
	err = ust_put_ex(d->st, c->tenant->id, h->pool, f->key, h->klen, &src);
	if (c->bench & UWIRE_BENCH_TIMING)
		c->bench_store_acc += umono_ns() - t0;
	if (!err && c->credit)
		c->credit->want = 1; /* room again: credit may be worth granting */
	/* Refused for room while connections hold credit: ask for it back
	 * (for the daemon's capacity: every tenant's may be what is missing). */
	if ((err == -EDQUOT || err == -ENOSPC) &&
	    atomic_load(&c->tenant->credit_held))
		ud_tenant_recall(c->tenant);
	if (err == -ENOSPC)
		ud_recall_for_capacity(d);
	ud_reply(c, h, ud_status(err), h->pool, NULL, 0);
}

/* PUT_REF: adopt a staging extent the client wrote a record into. Posted. */
static void op_put_ref(struct ud_conn *c, const struct uwire_frame *f)
{
	struct ud_daemon *d = c->loop->d;
	const struct uwire_hdr *h = &f->hdr;
	struct ust_put_src src = {.stage_off = -1};
	struct uwire_ref ref;
	uint64_t off, len;

	if (!c->credit || h->vlen != UWIRE_REF_SIZE ||
	    uwire_ref_decode(f->value, &ref) < 0 || h->klen == 0 ||
	    ref.vlen > d->lim.max_value) {
		ud_posted_violation(c, h, "malformed PUT_REF");
		return;
	}
	if (ud_credit_spend(c, uvr_ref_bound(h->klen)) < 0) {
		ud_posted_violation(c, h, "PUT_REF beyond its credit");
		return;
	}
	if (ud_credit_take_stage(c, &ref, h->klen, &off, &len) < 0) {
		ud_posted_violation(c, h, "PUT_REF names a staging slot it does not hold");
		return;
	}
	count_put(c, UD_PUT_STAGED);
	src.vlen = ref.vlen;
	src.stage_off = (int64_t)off;
	src.stage_len = (size_t)len;
	/* Staged records teach the staging size too: else, once slots were
	 * sized for larger values, smaller ones went on into the oversized
	 * extents (the client takes the smallest that fits) and the size
	 * never came down — each 128 KiB PUT then paid for a fresh 1 MiB
	 * extent, 10x slower after one burst of 1 MiB values. */
	ud_credit_note_record(c, uvr_rec_size(h->klen, ref.vlen));
	put_reserved(c, f, &src);
}

/* CREDIT_RETURN: the client gives back its unspent credit and some slots. */
static void op_credit_return(struct ud_conn *c, const struct uwire_frame *f)
{
	if (!c->credit || f->hdr.klen || f->hdr.vlen != UWIRE_RETURN_SIZE ||
	    uwire_get_u32(f->value + 4) ||
	    ud_credit_return(c, uwire_get_u32(f->value),
			     uwire_get_u64(f->value + 8)) < 0)
		ud_posted_violation(c, &f->hdr, "malformed CREDIT_RETURN");
	else
		count_put(c, UD_CREDIT_RETURNS);
}


static void dispatch(struct ud_conn *c, const struct uwire_frame *f);

/*
 * Serve one request; with the metrics endpoint on, time it for the
 * tenant's latency histogram (two clock reads, metrics.c).
 */
void ud_dispatch_tenant(struct ud_conn *c, const struct uwire_frame *f)
{
	uint64_t t0;

	if (!c->loop->d->metrics_on && !(c->bench & UWIRE_BENCH_TIMING)) {
		dispatch(c, f);
		return;
	}
	c->bench_store_acc = 0;
	t0 = umono_ns();
	dispatch(c, f);
	t0 = umono_ns() - t0;
	if (c->loop->d->metrics_on)
		ud_metrics_observe(c->tenant, c->loop->index, f->hdr.opcode, t0);
	if (c->bench & UWIRE_BENCH_TIMING)
		ud_bench_record(c, f->hdr.opcode, t0);
}

static void dispatch(struct ud_conn *c, const struct uwire_frame *f)
{
	struct ud_daemon *d = c->loop->d;
	const struct uwire_hdr *h = &f->hdr;
	int err;

	if (h->opcode == UWIRE_OP_HELLO) {
		op_hello(c, f);
		return;
	}
	if (!c->tenant) {
		ud_unauth_refuse(c, h, "TCP request before HELLO");
		return;
	}
	if (c->credit)
		c->credit->applied++; /* served once this returns */
	if (atomic_load_explicit(&c->tenant->gone, memory_order_acquire)) {
		ud_reply(c, h, UWIRE_S_REVOKED, 0, NULL, 0);
		c->closing = 1;
		return;
	}
	switch (h->opcode) {
	case UWIRE_OP_PING:
		reply_status(c, h, h->klen || h->vlen ? -EINVAL : 0);
		break;
	case UWIRE_OP_POOL_OPEN:
		op_pool_open(c, f);
		break;
	case UWIRE_OP_POOL_DESTROY:
	case UWIRE_OP_POOL_FLUSH:
		op_pool_only(c, f);
		break;
	case UWIRE_OP_PUT:
		op_put(c, f);
		break;
	case UWIRE_OP_PUT_REF:
		op_put_ref(c, f);
		break;
	case UWIRE_OP_CREDIT_RETURN:
		op_credit_return(c, f);
		break;
	case UWIRE_OP_GET:
		op_get(c, f);
		break;
	case UWIRE_OP_INVALIDATE:
		err = h->vlen ? -EINVAL
			      : ust_invalidate(d->st, c->tenant->id, h->pool,
					       f->key, h->klen);
		ud_reply(c, h, ud_status(err), h->pool, NULL, 0);
		break;
	case UWIRE_OP_STATS:
		op_stats(c, f);
		break;
	case UWIRE_OP_RING_SETUP:
		ud_ring_setup(c, f);
		break;
	case UWIRE_OP_SERVER_INFO:
		op_server_info(c, f);
		break;
	case UWIRE_OP_BENCH:
		ud_bench_op(c, f);
		break;
	default:
		/* Unknown, and every admin opcode: the frame was consumed, so
		 * the stream stays in sync and the client may go on. */
		ud_debug("fd %d: opcode 0x%02x refused on a tenant socket",
			 c->fd, h->opcode);
		ud_reply(c, h, UWIRE_S_OPCODE, 0, NULL, 0);
		break;
	}
}

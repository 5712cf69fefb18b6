/*
 * ringpost.c — the hostile suite's posting attacks (t_ringabuse.sh): a
 * ring client breaks the posting rules of docs/protocol.md section 10 by
 * hand, one way per connection, over and over: posts beyond the credit
 * utmemd granted, gives back more than it was granted, names staging
 * slots it does not hold, holds no more, or already used, announces a
 * posted PUT far beyond its credit and sends only its start, and scribbles
 * impossible indices on its ring while it has posted requests, credit,
 * staging extents and a half-received frame.
 * utmemd must close each such connection (answering PROTO where a rule of
 * posting was broken), store nothing of the broken requests, and give the
 * credit and extents back. A subcommand of hostile.c (hostile.h).
 *
 * The order of the attacks is drawn from a seed printed with the figures
 * (HOSTILE_SEED replays it); every block of NKIND rounds runs each once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "hostile.h"
#include "proto/region.h"
#include "rawring.h"

#define TEACH_VLEN 20000u   /* a record above UVR_STAGE_MIN: staging is granted */
#define POSTED_VLEN 1024u   /* the legitimate posted PUTs of the index attack */
#define NPOSTED 4
#define HALF_VLEN (2u << 20) /* the frame left half-sent by the index attack */
#define HEAD_VLEN (6u << 20) /* the posted PUT announced beyond credit */
#define WAIT_MS 3000         /* for an answer or a close that must come */
#define CAP_US 15000000u     /* rounds may overrun SECONDS by this much */

enum kind {
	K_OVERSPENT,  /* all credit given back, then a posted PUT */
	K_OVERFRAME,  /* one posted PUT whose bound is just above the credit */
	K_NOSLOT,     /* PUT_REF on a connection never granted a slot */
	K_WRONGGEN,   /* PUT_REF naming a held slot with another generation */
	K_RELEASED,   /* PUT_REF naming a slot just given back */
	K_TWICE,      /* two PUT_REFs of one extent: the second is not held */
	K_SHORT,      /* PUT_REF whose record does not fit its extent */
	K_REFCREDIT,  /* a valid PUT_REF after all credit was given back */
	K_BADRETURN,  /* CREDIT_RETURN of more than was ever granted */
	K_INDEX,      /* impossible indices while posting */
	K_HEADONLY,   /* a posted PUT beyond credit, only its first bytes sent:
			 refused at its header, not after its frame */
	NKIND
};

static const char *const kind_name[NKIND] = {
	"overspent", "overframe", "noslot", "wronggen", "released",
	"twice", "short", "refcredit", "badreturn", "index", "headonly",
};

struct post {
	const char *sock;
	int ctl;               /* a plain connection: GET, STATS, SERVER_INFO */
	uint64_t ctl_id;
	uint32_t pool;
	uint8_t *region;       /* the tenant's value region, mapped once */
	uint64_t region_size;
	uint8_t *val;          /* value bytes of any frame */
	uint64_t rng;
	uint64_t round;
	/* figures */
	unsigned done[NKIND];
	unsigned refused, proto, proto_expected, not_closed, stored_bad;
	unsigned nocredit, noslot, setup_failed, legit_bad;
	uint64_t over_by_max;
	int legit_ref, legit_post, taught;
};

static uint64_t next_rand(struct post *p)
{
	uint64_t z = (p->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void pattern(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed * 29u + i * 13u + (i >> 9));
}

/*
 * One request on the plain connection; its value (at most cap bytes) in
 * out, its length in *vlen. Returns the status, or -1.
 */
static int ctl_once(struct post *p, unsigned op, uint32_t pool, const char *key,
		    uint8_t *out, size_t cap, uint32_t *vlen)
{
	struct uwire_limits lim = {UWIRE_KEY_CEILING, UWIRE_VALUE_CEILING};
	uint8_t hdr[UWIRE_HDR_SIZE], junk[4096];
	uint64_t id = ++p->ctl_id;
	struct uwire_hdr h;
	size_t left, got = 0;

	if (send_frame(p->ctl, op, 0, id, pool, key, key ? (uint32_t)strlen(key) : 0,
		       NULL, 0) < 0 ||
	    recv_all(p->ctl, hdr, sizeof(hdr), 5000) < 0 ||
	    uwire_hdr_decode(hdr, &lim, &h) < 0 || h.id != id)
		return -1;
	left = (size_t)h.klen + h.vlen;
	while (left) {
		size_t n = left < sizeof(junk) ? left : sizeof(junk);

		if (recv_all(p->ctl, junk, n, 5000) < 0)
			return -1;
		if (out && got < cap)
			memcpy(out + got, junk, n < cap - got ? n : cap - got);
		got += n;
		left -= n;
	}
	if (vlen)
		*vlen = h.vlen;
	return h.status;
}

/* (Re)open the plain connection and the attack's pool on it. */
static int ctl_open(struct post *p)
{
	if (p->ctl >= 0)
		close(p->ctl);
	p->ctl = dial(p->sock);
	if (p->ctl < 0)
		return -1;
	p->pool = raw_pool(p->ctl, "ringpost"); /* the same pool again */
	return p->pool ? 0 : -1;
}

/*
 * ctl_once, again on a new connection if that one was lost: when utmemd
 * fails to close a broken ring, each round waits seconds for it, and the
 * plain connection may meanwhile be closed for idle_timeout.
 */
static int ctl_call(struct post *p, unsigned op, uint32_t pool, const char *key,
		    uint8_t *out, size_t cap, uint32_t *vlen)
{
	int st = ctl_once(p, op, pool, key, out, cap, vlen);

	if (st >= 0 || ctl_open(p) < 0)
		return st;
	return ctl_once(p, op, pool ? p->pool : 0, key, out, cap, vlen);
}

/* Is the value of key exactly n bytes of pattern(seed)? */
static int value_is(struct post *p, const char *key, size_t n, unsigned seed)
{
	static uint8_t want[TEACH_VLEN], got[TEACH_VLEN];
	uint32_t vlen = 0;

	if (n > sizeof(want) ||
	    ctl_call(p, UWIRE_OP_GET, p->pool, key, got, sizeof(got), &vlen) != 0)
		return 0;
	pattern(want, n, seed);
	return vlen == n && memcmp(want, got, n) == 0;
}

/* Write the record [klen][0][key][value] at off, as much as fits len. */
static void put_record(struct post *p, uint64_t off, uint64_t len,
		       const char *key, uint32_t vlen, unsigned seed)
{
	uint32_t klen = (uint32_t)strlen(key);
	uint64_t rec = uvr_rec_size(klen, vlen);
	uint8_t *d;

	if (off > p->region_size || len > p->region_size - off)
		return; /* not inside the region: do not fault */
	if (rec > len)
		rec = len;
	d = p->region + off;
	if (rec < UVR_REC_HDR + klen)
		return;
	uwire_put_u32(d, klen);
	uwire_put_u32(d + 4, 0);
	memcpy(d + UVR_REC_HDR, key, klen);
	pattern(d + UVR_REC_HDR + klen, (size_t)(rec - UVR_REC_HDR - klen), seed);
}

static int ref_frame(struct rawring *r, uint64_t id, uint32_t pool, const char *key,
		     uint32_t slot, uint32_t gen, uint32_t vlen)
{
	struct uwire_ref ref = {.slot = slot, .gen = gen, .vlen = vlen};
	uint8_t v[UWIRE_REF_SIZE];

	uwire_ref_encode(&ref, v);
	return rawring_frame(r, UWIRE_OP_PUT_REF, 0, id, pool, key,
			     (uint32_t)strlen(key), v, sizeof(v));
}

static int return_frame(struct rawring *r, uint64_t id, uint32_t mask, uint64_t upto)
{
	uint8_t v[UWIRE_RETURN_SIZE];

	uwire_put_u32(v, mask);
	uwire_put_u32(v + 4, 0);
	uwire_put_u64(v + 8, upto);
	return rawring_frame(r, UWIRE_OP_CREDIT_RETURN, 0, id, 0, NULL, 0, v, sizeof(v));
}

/*
 * A synchronous PUT of a record above UVR_STAGE_MIN teaches the connection
 * its staging size; once it is served, pick one slot utmemd filled.
 * Returns the slot, or -1 (none granted).
 */
static int teach(struct post *p, struct rawring *r, uint64_t *off, uint64_t *len,
		 uint32_t *gen)
{
	struct uwire_hdr h;
	unsigned held[URING_STAGES], n = 0;

	pattern(p->val, TEACH_VLEN, 1);
	if (rawring_frame(r, UWIRE_OP_PUT, 0, 11, p->pool, "teach", 5, p->val,
			  TEACH_VLEN) < 0 ||
	    rawring_reply(r, &h, 5000) != 0 || rawring_applied(r, r->sent, 5000) < 0)
		return -1;
	p->taught = 1;
	for (unsigned i = 0; i < URING_STAGES; i++) {
		rawring_slot(r, i, off, len, gen);
		if (*len)
			held[n++] = i;
	}
	if (!n)
		return -1;
	n = held[next_rand(p) % n];
	rawring_slot(r, n, off, len, gen);
	return (int)n;
}

/* The header and key of a posted PUT of vlen bytes; the value is the
 * caller's to send (or not). */
static int posted_start(struct rawring *r, uint64_t id, uint32_t pool,
			const char *key, uint32_t klen, uint32_t vlen)
{
	struct uwire_hdr h = {.version = UWIRE_VERSION, .opcode = UWIRE_OP_PUT,
			      .flags = UWIRE_F_POSTED, .id = id, .pool = pool,
			      .klen = klen, .vlen = vlen};
	uint8_t hdr[UWIRE_HDR_SIZE];

	uwire_hdr_encode(&h, hdr);
	r->sent++;
	if (rawring_write(r, hdr, sizeof(hdr), 5000) < 0 ||
	    rawring_write(r, key, klen, 5000) < 0)
		return -1;
	return 0;
}

/* The smallest value length whose posted PUT the credit c does not cover. */
static uint32_t just_over(uint64_t klen, uint64_t c)
{
	uint64_t lo = 0, hi = c;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (uvr_put_bound(klen, mid) > c)
			hi = mid;
		else
			lo = mid + 1;
	}
	return (uint32_t)lo;
}

/* Scribble impossible indices on r while it holds a half-received frame. */
static int index_attack(struct post *p, struct rawring *r, const char *bad)
{
	uint64_t pos, x;
	unsigned v = (unsigned)(next_rand(p) % 3);

	for (int i = 0; i < NPOSTED; i++) {
		char key[32];

		snprintf(key, sizeof(key), "legit-post-%d", i);
		pattern(p->val, POSTED_VLEN, 40u + (unsigned)i);
		if (rawring_frame(r, UWIRE_OP_PUT, UWIRE_F_POSTED, 30u + (unsigned)i,
				  p->pool, key, (uint32_t)strlen(key), p->val,
				  POSTED_VLEN) < 0)
			return -1;
	}
	if (rawring_applied(r, r->sent, 5000) < 0)
		return -1;
	p->legit_post = 1;
	if (v == 2) {
		/* The reply ring's head far ahead while a reply is due. */
		__atomic_store_n(&r->m.shm->ring[URING_TO_CLIENT].head,
				 next_rand(p) | (1ull << 62), __ATOMIC_RELEASE);
		return rawring_frame(r, UWIRE_OP_PING, 0, 34, 0, NULL, 0, NULL, 0);
	}
	/* A PUT announcing 2 MiB (utmemd charges it at its header), 64 KiB
	 * of it sent and taken in. A request, not posted: a posted one
	 * beyond the credit is refused at its header (K_HEADONLY). */
	{
		struct uwire_hdr h = {.version = UWIRE_VERSION, .opcode = UWIRE_OP_PUT,
				      .flags = 0, .id = 35,
				      .pool = p->pool, .klen = (uint32_t)strlen(bad),
				      .vlen = HALF_VLEN};
		uint8_t hdr[UWIRE_HDR_SIZE];

		uwire_hdr_encode(&h, hdr);
		if (rawring_write(r, hdr, sizeof(hdr), 5000) < 0 ||
		    rawring_write(r, bad, h.klen, 5000) < 0 ||
		    rawring_write(r, p->val, 64u << 10, 5000) < 0)
			return -1;
	}
	pos = r->tx.pos;
	for (int i = 0; i < 100000 &&
	     __atomic_load_n(r->tx.head, __ATOMIC_ACQUIRE) != pos; i++)
		usleep(50);
	if (v == 0) {
		/* A tail more than the ring's size ahead. */
		do
			x = next_rand(p);
		while (x - pos <= r->m.size);
	} else {
		/* A tail behind what utmemd has already taken. */
		x = pos - 1 - next_rand(p) % 4096;
	}
	__atomic_store_n(r->tx.tail, x, __ATOMIC_RELEASE);
	rawring_kick(r);
	return 0;
}

/*
 * Run one attack of kind k on ring r, whose credit is c. Returns the id of
 * the request utmemd must answer PROTO, 0 if it must close the connection
 * without an answer, or -1 if the attack could not be set up.
 */
static int64_t attack(struct post *p, struct rawring *r, enum kind k, uint64_t c,
		      const char *bad)
{
	uint32_t bk = (uint32_t)strlen(bad), gen, vlen;
	uint64_t off, len;
	int slot;

	switch (k) {
	case K_OVERSPENT:
		if (return_frame(r, 0, 0, c) < 0 ||
		    rawring_frame(r, UWIRE_OP_PUT, UWIRE_F_POSTED, 21, p->pool, bad, bk,
				  p->val, POSTED_VLEN) < 0)
			return -1;
		return 21;
	case K_OVERFRAME:
		vlen = just_over(bk, c);
		if (uvr_put_bound(bk, vlen) - c > p->over_by_max)
			p->over_by_max = uvr_put_bound(bk, vlen) - c;
		pattern(p->val, vlen, 2);
		if (posted_start(r, 22, p->pool, bad, bk, vlen) < 0)
			return -1;
		/* A frame larger than utmemd's input buffer is refused at its
		 * header, and the rest is never read: do not wait for room. */
		(void)rawring_write(r, p->val, vlen, 50);
		return 22;
	case K_NOSLOT:
		slot = (int)(next_rand(p) % (URING_STAGES + 2));
		if (ref_frame(r, 23, p->pool, bad,
			      slot == URING_STAGES + 1 ? 0xffffffffu : (uint32_t)slot,
			      (uint32_t)next_rand(p), TEACH_VLEN) < 0)
			return -1;
		return 23;
	case K_BADRETURN:
		/* utmemd answers a broken CREDIT_RETURN with its id. */
		if (return_frame(r, 36, 0, c + 1 + next_rand(p) % (1u << 20)) < 0)
			return -1;
		return 36;
	case K_HEADONLY:
		/* 6 MiB announced, 4 KiB sent; frame_timeout is 2 s, WAIT_MS
		 * 3 s: PROTO must come at the header, not after a timeout. */
		if (uvr_put_bound(bk, HEAD_VLEN) <= c)
			return -1; /* the credit covers it: nothing broken */
		if (posted_start(r, 36, p->pool, bad, bk, HEAD_VLEN) < 0 ||
		    rawring_write(r, p->val, 4096, 5000) < 0)
			return -1;
		return 36;
	case K_INDEX:
		if (teach(p, r, &off, &len, &gen) < 0) {
			p->noslot++;
			return -1;
		}
		return index_attack(p, r, bad) < 0 ? -1 : 0;
	default:
		break;
	}
	slot = teach(p, r, &off, &len, &gen);
	if (slot < 0) {
		p->noslot++;
		return -1;
	}
	vlen = (uint32_t)(len - UVR_REC_HDR - bk); /* fills the extent */
	switch (k) {
	case K_WRONGGEN:
		put_record(p, off, len, bad, vlen, 3);
		if (ref_frame(r, 24, p->pool, bad, (uint32_t)slot,
			      gen + 1u + (uint32_t)(next_rand(p) % 0xffffu), vlen) < 0)
			return -1;
		return 24;
	case K_RELEASED:
		put_record(p, off, len, bad, vlen, 3);
		if (return_frame(r, 0, 1u << slot, 0) < 0 ||
		    ref_frame(r, 25, p->pool, bad, (uint32_t)slot, gen, vlen) < 0)
			return -1;
		return 25;
	case K_TWICE:
		/* The first adopts the extent (a legitimate, charged entry). */
		vlen = (uint32_t)(len - UVR_REC_HDR - 9);
		vlen = vlen > TEACH_VLEN ? TEACH_VLEN : vlen;
		put_record(p, off, len, "legit-ref", vlen, 5);
		if (ref_frame(r, 26, p->pool, "legit-ref", (uint32_t)slot, gen, vlen) < 0 ||
		    ref_frame(r, 27, p->pool, bad, (uint32_t)slot, gen, vlen) < 0)
			return -1;
		p->legit_ref = (int)vlen;
		return 27;
	case K_SHORT:
		vlen += 1u + (uint32_t)(next_rand(p) % UVR_PAGE);
		put_record(p, off, len, bad, vlen, 3);
		if (ref_frame(r, 28, p->pool, bad, (uint32_t)slot, gen, vlen) < 0)
			return -1;
		return 28;
	case K_REFCREDIT:
		put_record(p, off, len, bad, vlen, 3);
		if (return_frame(r, 0, 0, rawring_credit(r)) < 0 ||
		    ref_frame(r, 29, p->pool, bad, (uint32_t)slot, gen, vlen) < 0)
			return -1;
		return 29;
	default:
		return -1;
	}
}

/* Map the tenant's value region the first time a ring passes it. */
static void map_region(struct post *p, struct rawring *r)
{
	void *m;

	if (p->region || r->region_fd < 0)
		return;
	m = mmap(NULL, r->region_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 r->region_fd, 0);
	if (m == MAP_FAILED)
		die("mmap region");
	p->region = m;
	p->region_size = r->region_size;
}

/* One round: a fresh ring, one attack of kind k, then the checks. */
static void round_of(struct post *p, enum kind k)
{
	struct rawring r;
	struct uwire_hdr h;
	char bad[32];
	int64_t expect;
	uint64_t c;

	snprintf(bad, sizeof(bad), "bad-%llu", (unsigned long long)p->round++);
	if (rawring_open(p->sock, &r) != 0) {
		p->setup_failed++;
		rawring_close(&r);
		return;
	}
	map_region(p, &r);
	/* Credit is granted after the ring's first service pass, published
	 * before `applied` says that pass is over. */
	if (rawring_frame(&r, UWIRE_OP_PING, 0, 10, 0, NULL, 0, NULL, 0) < 0 ||
	    rawring_reply(&r, &h, 5000) != 0 || rawring_applied(&r, 1, 5000) < 0) {
		p->setup_failed++;
		rawring_close(&r);
		return;
	}
	c = rawring_credit(&r);
	if (!c)
		p->nocredit++;
	expect = attack(p, &r, k, c, bad);
	if (expect < 0) {
		rawring_close(&r);
		return;
	}
	p->done[k]++;
	if (expect) {
		p->proto_expected++;
		/* Replies before it (the teaching PUT's was read) would be a bug
		 * too: none of the requests sent since has one. */
		if (rawring_reply(&r, &h, WAIT_MS) == UWIRE_S_PROTO &&
		    h.id == (uint64_t)expect)
			p->proto++;
	}
	if (rawring_closed(&r, WAIT_MS))
		p->refused++;
	else
		p->not_closed++;
	rawring_close(&r);
	if (ctl_call(p, UWIRE_OP_GET, p->pool, bad, NULL, 0, NULL) != UWIRE_S_NOTFOUND)
		p->stored_bad++;
}

/* Wait until the tenant holds no credit and only ctl is open; report. */
static void settle(struct post *p, unsigned long long *credit, unsigned long long *conns)
{
	uint64_t end = now_us() + 5000000u;
	char text[513];

	do {
		uint32_t n = 0;
		const char *s;

		memset(text, 0, sizeof(text));
		if (ctl_call(p, UWIRE_OP_SERVER_INFO, 0, NULL, (uint8_t *)text,
			     sizeof(text) - 1, &n) != 0)
			break;
		s = strstr(text, "tenant_credit_bytes:");
		*credit = s ? strtoull(s + 20, NULL, 10) : ~0ull;
		s = strstr(text, "tenant_connections:");
		*conns = s ? strtoull(s + 19, NULL, 10) : ~0ull;
		if (!*credit && *conns == 1)
			return;
		usleep(20000);
	} while (now_us() < end);
}

/*
 * ringpost SOCK SECONDS: rounds of the attacks above, each on a new ring,
 * in blocks of NKIND (each kind once, in an order drawn from the seed),
 * until SECONDS have passed. Then the legitimate values must be intact,
 * the pool must hold exactly them, and once every ring is closed the
 * tenant must hold no credit.
 */
int cmd_ringpost(char **argv)
{
	struct post p = {.sock = argv[0]};
	uint64_t seed, end = now_us() + (uint64_t)(atof(argv[1]) * 1e6);
	unsigned long long credit = ~0ull, conns = ~0ull;
	uint8_t sv[UWIRE_STATS_SIZE];
	struct uwire_stats st = {0};
	unsigned expected, rounds = 0;
	uint32_t n = 0;

	seed = getenv("HOSTILE_SEED") ? strtoull(getenv("HOSTILE_SEED"), NULL, 0)
				      : (uint64_t)time(NULL) ^ (uint64_t)getpid() << 20;
	/* Now, not only with the figures: a run that dies, crashes or is
	 * timed out still names its seed (on stderr, the test's log). */
	fprintf(stderr, "ringpost: seed 0x%llx (HOSTILE_SEED replays it)\n",
		(unsigned long long)seed);
	p.rng = seed;
	p.val = malloc(8u << 20);
	p.ctl = -1;
	if (!p.val || ctl_open(&p) < 0)
		die("ringpost setup");
	p.ctl_id = 100;
	do {
		enum kind order[NKIND];

		for (int i = 0; i < NKIND; i++)
			order[i] = (enum kind)i;
		for (int i = NKIND - 1; i > 0; i--) {
			int j = (int)(next_rand(&p) % (uint64_t)(i + 1));
			enum kind t = order[i];

			order[i] = order[j];
			order[j] = t;
		}
		/* A utmemd that leaves broken rings open costs seconds a
		 * round: give up the block rather than the test's time. */
		for (int i = 0; i < NKIND && now_us() < end + CAP_US; i++, rounds++)
			round_of(&p, order[i]);
	} while (now_us() < end);
	if (p.taught && !value_is(&p, "teach", TEACH_VLEN, 1))
		p.legit_bad++;
	if (p.legit_ref && !value_is(&p, "legit-ref", (size_t)p.legit_ref, 5))
		p.legit_bad++;
	for (int i = 0; p.legit_post && i < NPOSTED; i++) {
		char key[32];

		snprintf(key, sizeof(key), "legit-post-%d", i);
		p.legit_bad += !value_is(&p, key, POSTED_VLEN, 40u + (unsigned)i);
	}
	expected = (unsigned)p.taught + !!p.legit_ref + (p.legit_post ? NPOSTED : 0);
	if (ctl_call(&p, UWIRE_OP_STATS, p.pool, NULL, sv, sizeof(sv), &n) != 0 ||
	    uwire_stats_decode(sv, n, &st) < 0)
		st.entries = ~0ull;
	settle(&p, &credit, &conns);
	printf("seed 0x%llx rounds %u refused %u proto %u proto_expected %u "
	       "not_closed %u stored_bad %u nocredit %u no_staging %u setup_failed %u "
	       "legit_bad %u entries %llu expected_entries %u over_by_max %llu "
	       "credit_after %llu conns_after %llu",
	       (unsigned long long)seed, rounds, p.refused, p.proto, p.proto_expected,
	       p.not_closed, p.stored_bad, p.nocredit, p.noslot, p.setup_failed,
	       p.legit_bad, (unsigned long long)st.entries, expected,
	       (unsigned long long)p.over_by_max, credit, conns);
	for (int i = 0; i < NKIND; i++)
		printf(" %s %u", kind_name[i], p.done[i]);
	printf("\n");
	if (p.region)
		munmap(p.region, p.region_size);
	close(p.ctl);
	free(p.val);
	return 0;
}

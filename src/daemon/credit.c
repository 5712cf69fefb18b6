/*
 * credit.c — what a ring connection may post without waiting: its credit
 * (quota reserved in advance for posted PUTs) and its staging extents (page
 * runs of the tenant's value region, reserved the same way, into which the
 * client writes a record that PUT_REF then adopts). docs/protocol.md
 * section 10 specifies both; docs/design.md says why.
 *
 * Everything here is kept privately and only published to the ring header
 * (uring_shm.credit, uring_shm.stage[]); nothing is read back from shared
 * memory. A client that spends more credit than it was granted, names a
 * slot it does not hold or a generation it was not given is hostile: the
 * caller closes its connection.
 *
 * Sizes: all the connections of a tenant together hold at most a quarter
 * of what the tenant could still be charged (its room, counting what they
 * hold), so credit held by idle connections never keeps much of a quota
 * from the others; within that, a connection's inline window is at most
 * UD_CREDIT_MAX and its staging extents, sized after the records it
 * actually sends (the largest of the last few big ones), at most
 * UD_STAGE_BUDGET in all. When the tenant's limits are lowered, or a PUT of
 * it is refused for room, every connection is asked to give its credit
 * back (shm->recall) and does so before it posts again.
 *
 * A connection that does not post again would keep it for good, so its
 * worker takes it back (reclaim(), from ud_credit_reclaim_due): once the client says it is not
 * posting (shm->posting IDLE, read after the worker bumped shm->recall:
 * store, then load, on both sides, sequentially consistent) and every
 * frame it produced was served, nothing paid from the credit is on its way
 * and the client sees the recall before it spends again, giving back
 * (CREDIT_RETURN) what utmemd already took. A client that never marks
 * itself (posting 0) keeps the old rule. Nothing of this trusts the word:
 * a client that lies only loses its own credit, or overspends and is
 * closed as before.
 */
#include "daemon/daemon.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/region.h"
#include "transport/ring.h"

#define UD_CREDIT_MAX (4u << 20)    /* inline credit window, bytes */
#define UD_CREDIT_MIN (64u << 10)   /* not worth granting less */
#define UD_STAGE_BUDGET (16u << 20) /* staging extents per connection */
#define UD_STAGE_SLOTS_MIN 2u
#define UD_RECLAIM_TRIES 100u       /* passes (UD_RECLAIM_RETRY_MS apart) */
/* A tenant refused for capacity recalls the others at most this often:
 * each recall costs a posting client one synchronous PUT. */
#define UD_RECALL_CAP_NS 100000000u

static uint64_t page_up(uint64_t n)
{
	return (n + UVR_PAGE - 1) & ~(uint64_t)(UVR_PAGE - 1);
}

int ud_credit_init(struct ud_conn *c, struct uring_shm *shm, uint32_t hazard)
{
	struct ud_credit *k = calloc(1, sizeof(*k));
	struct ud_tenant *t = c->tenant;

	if (!k)
		return -ENOMEM;
	k->shm = shm;
	k->hazard = hazard;
	k->want = 1;
	k->tenant = t;
	k->loop = c->loop;
	pthread_mutex_lock(&t->creg_lock);
	k->rnext = t->creg;
	if (t->creg)
		t->creg->rprev = k;
	t->creg = k;
	pthread_mutex_unlock(&t->creg_lock);
	c->credit = k;
	return 0;
}

/* Reserve / release bytes for k, counted in its tenant's credit_held. */
static int hold(struct ud_daemon *d, struct ud_credit *k, uint64_t n)
{
	int err = ust_reserve(d->st, k->tenant->id, n);

	if (!err)
		atomic_fetch_add(&k->tenant->credit_held, n);
	return err;
}

static void unhold(struct ud_daemon *d, struct ud_credit *k, uint64_t n)
{
	ust_unreserve(d->st, k->tenant->id, n);
	atomic_fetch_sub(&k->tenant->credit_held, n);
}

/* Reservation k holds that no request it may still post can spend. */
static uint64_t slack(const struct ud_credit *k)
{
	uint64_t out = k->granted - k->spent;

	return k->res > out ? k->res - out : 0;
}

/* Release k's slack beyond keep bytes. */
static void release_slack(struct ud_daemon *d, struct ud_credit *k, uint64_t keep)
{
	uint64_t extra = slack(k);

	if (extra > keep) {
		unhold(d, k, extra - keep);
		k->res -= extra - keep;
	}
}

/*
 * Bytes k may take on now: a quarter of what the tenant could still be
 * charged, counting what its connections hold, less what they hold.
 */
static uint64_t share(struct ud_daemon *d, struct ud_credit *k)
{
	uint64_t held = atomic_load(&k->tenant->credit_held);
	uint64_t all = (ust_tenant_room(d->st, k->tenant->id) + held) / 4;

	return all > held ? all - held : 0;
}

/* Wake l to take back credit (once until it looks: reclaim_due). */
static void reclaim_wake(struct ud_loop *l)
{
	struct ud_handoff rec = {UD_HANDOFF_RECLAIM, 0, NULL};

	if (atomic_exchange(&l->reclaim_due, 1))
		return;
	if (write(l->handoff[1], &rec, sizeof(rec)) < 0) {
		/* EAGAIN: the pipe is full, the worker wakes anyway. */
	}
}

/* Bump k's recall (creg_lock held), sequentially consistent: the store
 * half of the handshake with the client's `posting` (top of file). */
static void recall_one(struct ud_credit *k)
{
	__atomic_store_n(&k->shm->recall, ++k->recall, __ATOMIC_SEQ_CST);
}

/*
 * Ask k's client for its credit back before it posts again (creg_lock
 * held), and with pools_gone also to reopen its pools by name: one it may
 * use is gone (ring.h, pools_gen), published before the recall it reads.
 */
static void recall_conn(struct ud_credit *k, bool pools_gone)
{
	if (pools_gone)
		__atomic_add_fetch(&k->shm->pools_gen, 1, __ATOMIC_RELEASE);
	recall_one(k);
	atomic_store(&k->reclaim, 1);
	reclaim_wake(k->loop);
}

void ud_conn_recall(struct ud_conn *c, bool pools_gone)
{
	pthread_mutex_lock(&c->tenant->creg_lock);
	recall_conn(c->credit, pools_gone);
	pthread_mutex_unlock(&c->tenant->creg_lock);
}

static void recall_tenant(struct ud_tenant *t, bool pools_gone)
{
	pthread_mutex_lock(&t->creg_lock);
	for (struct ud_credit *k = t->creg; k; k = k->rnext)
		recall_conn(k, pools_gone);
	pthread_mutex_unlock(&t->creg_lock);
}

void ud_tenant_pools_gone(struct ud_tenant *t)
{
	recall_tenant(t, true);
}

void ud_tenant_recall(struct ud_tenant *t)
{
	recall_tenant(t, false);
}

/*
 * Fold k's client-reported one-sided reads into the store's counters
 * (creg_lock held). The client's own numbers about itself: taken only as
 * they grow, with hits <= reads, for pools the store says are its own.
 */
static void fold(struct ud_daemon *d, struct ud_credit *k)
{
	for (unsigned i = 0; i < URING_READ_POOLS; i++) {
		struct uring_reads *seen = &k->rd[i];
		uint32_t pool = __atomic_load_n(&k->shm->rd[i].pool, __ATOMIC_RELAXED);
		uint64_t r = __atomic_load_n(&k->shm->rd[i].reads, __ATOMIC_RELAXED);
		uint64_t h = __atomic_load_n(&k->shm->rd[i].hits, __ATOMIC_RELAXED);

		if (seen->pool && pool != seen->pool)
			continue; /* a slot's pool never changes */
		if (r < seen->reads || h < seen->hits ||
		    h - seen->hits > r - seen->reads || r == seen->reads)
			continue;
		ust_pool_add_reads(d->st, k->tenant->id, pool, r - seen->reads,
				   h - seen->hits);
		seen->pool = pool;
		seen->reads = r;
		seen->hits = h;
	}
}

void ud_tenant_revoke(struct ud_tenant *t)
{
	pthread_mutex_lock(&t->creg_lock);
	for (struct ud_credit *k = t->creg; k; k = k->rnext)
		__atomic_store_n(&k->shm->closed, UWIRE_S_REVOKED, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&t->creg_lock);
}

/* Recall every tenant, or only those whose connections hold credit. */
static void recall_tenants(struct ud_daemon *d, bool only_holding)
{
	pthread_mutex_lock(&d->lock);
	for (struct ud_tenant *t = d->tenants; t; t = t->next)
		if (!only_holding || atomic_load(&t->credit_held))
			ud_tenant_recall(t);
	pthread_mutex_unlock(&d->lock);
}

void ud_recall_all(struct ud_daemon *d)
{
	recall_tenants(d, false);
}

void ud_recall_for_capacity(struct ud_daemon *d)
{
	uint64_t now = umono_ns(), last = atomic_load(&d->recall_cap_ns);

	if (now - last < UD_RECALL_CAP_NS ||
	    !atomic_compare_exchange_strong(&d->recall_cap_ns, &last, now))
		return;
	recall_tenants(d, true);
}

void ud_fold_reads_all(struct ud_daemon *d)
{
	pthread_mutex_lock(&d->lock);
	for (struct ud_tenant *t = d->tenants; t; t = t->next)
		ud_tenant_fold_reads(d, t);
	pthread_mutex_unlock(&d->lock);
}

void ud_tenant_fold_reads(struct ud_daemon *d, struct ud_tenant *t)
{
	pthread_mutex_lock(&t->creg_lock);
	for (struct ud_credit *k = t->creg; k; k = k->rnext)
		fold(d, k);
	pthread_mutex_unlock(&t->creg_lock);
}

/* Publish a slot: extent first, then its generation (release). */
static void stage_publish(struct ud_credit *k, unsigned i)
{
	struct uring_stage *s = &k->shm->stage[i];

	__atomic_store_n(&s->off, k->stage[i].off, __ATOMIC_RELAXED);
	__atomic_store_n(&s->len, k->stage[i].len, __ATOMIC_RELAXED);
	__atomic_store_n(&s->gen, k->stage[i].gen, __ATOMIC_RELEASE);
}

/* Give slot i's extent back (unused). */
static void stage_drop(struct ud_daemon *d, struct ud_conn *c, unsigned i)
{
	struct ud_credit *k = c->credit;
	struct ud_stage *s = &k->stage[i];

	if (!s->len)
		return;
	ust_stage_free(d->st, c->tenant->id, s->off, s->len, s->charge);
	atomic_fetch_sub(&k->tenant->credit_held, s->charge);
	s->off = s->len = s->charge = 0;
	s->gen++;
	stage_publish(k, i);
}

void ud_credit_free(struct ud_conn *c)
{
	struct ud_daemon *d = c->loop->d;
	struct ud_credit *k = c->credit;

	if (!k)
		return;
	for (unsigned i = 0; i < URING_STAGES; i++)
		stage_drop(d, c, i);
	if (k->res)
		unhold(d, k, k->res);
	if (k->hazard != URING_NO_HAZARD)
		ust_region_hazard_put(d->st, c->tenant->id, k->hazard);
	pthread_mutex_lock(&k->tenant->creg_lock);
	fold(d, k);
	if (k->rprev)
		k->rprev->rnext = k->rnext;
	else
		k->tenant->creg = k->rnext;
	if (k->rnext)
		k->rnext->rprev = k->rprev;
	pthread_mutex_unlock(&k->tenant->creg_lock);
	free(k);
	c->credit = NULL;
}

bool ud_credit_covers(const struct ud_conn *c, uint64_t bound)
{
	const struct ud_credit *k = c->credit;

	return k && bound <= k->granted - k->spent;
}

int ud_credit_spend(struct ud_conn *c, uint64_t bound)
{
	struct ud_credit *k = c->credit;

	if (!ud_credit_covers(c, bound))
		return -EPROTO;
	k->spent += bound;
	k->want = 1;
	return 0;
}

int ud_credit_return(struct ud_conn *c, uint32_t mask, uint64_t upto)
{
	struct ud_daemon *d = c->loop->d;
	struct ud_credit *k = c->credit;

	if (!k || upto > k->granted)
		return -EPROTO;
	/*
	 * Every earlier posted request was served (one ring, in order): what
	 * of the grants up to `upto` is not spent now never will be. Grants
	 * made after the client read `upto` stay its own, still reserved.
	 */
	if (k->spent < upto)
		k->spent = upto;
	release_slack(d, k, 0);
	for (unsigned i = 0; i < URING_STAGES; i++)
		if (mask & (1u << i))
			stage_drop(d, c, i);
	k->want = 0;
	/* It answered a recall itself (or gave back for a PUT of its own):
	 * nothing left to take back. A recall made after it read `recall`
	 * is answered when it posts again; if it never does, what a refill
	 * gives it in between stays with it, as before reclaims. */
	atomic_store(&k->reclaim, 0);
	return 0;
}

/* Does k hold anything: unspent credit, reservation slack or extents? */
static bool holds(const struct ud_credit *k)
{
	if (k->res || k->granted != k->spent)
		return true;
	for (unsigned i = 0; i < URING_STAGES; i++)
		if (k->stage[i].len)
			return true;
	return false;
}

/*
 * Take back what a recalled connection still holds, if its client is idle
 * (top of file). Its worker only. Returns 1 to be tried again later (the
 * client is posting, or frames of it wait to be served), else 0.
 */
static int reclaim(struct ud_conn *c)
{
	struct ud_credit *k = c->credit;
	uint64_t taken;
	uint32_t state;

	if (!k)
		return 0;
	if (!atomic_load(&k->reclaim)) {
		k->reclaim_tries = 0;
		return 0;
	}
	state = __atomic_load_n(&k->shm->posting, __ATOMIC_RELAXED);
	if (c->closing || !holds(k) ||
	    (state != URING_POSTING_IDLE && state != URING_POSTING_BUSY)) {
		atomic_store(&k->reclaim, 0); /* nothing to take, or no say */
		return 0;
	}
	if (++k->reclaim_tries > UD_RECLAIM_TRIES) {
		/* Busy or unserved all along: it gives back when it posts. */
		atomic_store(&k->reclaim, 0);
		return 0;
	}
	if (!ud_ring_quiet(c))
		return 1;
	/* Our own bump, so the handshake needs nothing of the other thread's. */
	pthread_mutex_lock(&k->tenant->creg_lock);
	recall_one(k);
	pthread_mutex_unlock(&k->tenant->creg_lock);
	if (__atomic_load_n(&k->shm->posting, __ATOMIC_SEQ_CST) != URING_POSTING_IDLE ||
	    !ud_ring_quiet(c))
		return 1; /* it will see the recall; or serve what it sent first */
	/* As if it gave back all it was granted and every slot it holds. */
	taken = k->res;
	for (unsigned i = 0; i < URING_STAGES; i++)
		taken += k->stage[i].charge;
	ud_credit_return(c, URING_STAGES_ALL, k->granted);
	atomic_fetch_add(&k->tenant->credit_reclaimed, taken);
	return 0;
}

void ud_credit_reclaim_due(struct ud_loop *l)
{
	int again = 0;

	if (!atomic_load(&l->reclaim_due) || umono_ns() < l->reclaim_next_ns)
		return;
	atomic_store(&l->reclaim_due, 0);
	for (struct ud_conn *c = l->rings; c; c = c->rnext)
		again |= reclaim(c);
	if (again) { /* each look bumps the client's recall: not too often */
		l->reclaim_next_ns = umono_ns() + UD_RECLAIM_RETRY_MS * 1000000ull;
		atomic_store(&l->reclaim_due, 1);
	}
}

/* c's ring connection: c, or its peer when c is the socket (same worker). */
static struct ud_conn *ring_conn(struct ud_conn *c)
{
	return c->credit ? c : c->peer;
}

/* Recent staged records k's extent sizes are learnt from. */
static unsigned history_len(const struct ud_credit *k)
{
	return k->nbig < UD_BIG_HISTORY ? k->nbig : UD_BIG_HISTORY;
}

/* Of n slots, how many get the smaller size: its share of the recent
 * records, rounded, and when the sizes differ at least one of each (two
 * of each from 4 slots on: a slot in use waits for its refill). */
static unsigned small_slots(const struct ud_credit *k, unsigned n, unsigned nrec)
{
	unsigned ns, least = n >= 4 ? 2 : 1;

	if (k->stage_small == k->stage_size)
		return n;
	ns = (n * k->stage_nsmall + nrec / 2) / nrec;
	if (ns < least)
		ns = least;
	if (ns > n - least)
		ns = n - least;
	return ns;
}

/*
 * How many staging slots k keeps filled (*nslots) and how many of them,
 * the first ones, get the smaller size (*nsmall): as many as the budget
 * holds at the recent records' average size (2 .. URING_STAGES), then
 * fewer while the split's extents would add up to more than the budget
 * (the split gives the larger size more than its share of few slots).
 */
static void stage_split(const struct ud_credit *k, unsigned *nslots,
			unsigned *nsmall)
{
	unsigned nrec = history_len(k) ? history_len(k) : 1, n, ns;
	uint64_t avg = (k->stage_small * k->stage_nsmall +
			k->stage_size * (nrec - k->stage_nsmall)) / nrec;
	uint64_t fit = UD_STAGE_BUDGET / (avg ? avg : 1);

	n = fit < UD_STAGE_SLOTS_MIN ? UD_STAGE_SLOTS_MIN :
	    fit > URING_STAGES ? URING_STAGES : (unsigned)fit;
	for (;;) {
		ns = small_slots(k, n, nrec);
		if (n <= UD_STAGE_SLOTS_MIN ||
		    ns * k->stage_small + (n - ns) * k->stage_size <= UD_STAGE_BUDGET)
			break;
		n--;
	}
	*nslots = n;
	*nsmall = ns;
}

void ud_credit_stage_sizes(struct ud_conn *c, uint64_t *size, uint64_t *small,
			   unsigned *nslots, unsigned *nsmall)
{
	struct ud_conn *rc = ring_conn(c);
	const struct ud_credit *k = rc ? rc->credit : NULL;

	*size = k ? k->stage_size : 0;
	*small = k ? k->stage_small : 0;
	*nslots = *nsmall = 0;
	if (k && k->stage_size)
		stage_split(k, nslots, nsmall);
}

void ud_credit_note_record(struct ud_conn *c, uint64_t rec)
{
	/* The socket side teaches its ring (same worker): with a 1 MiB ring,
	 * 1 MiB values never reach the ring to teach it themselves. */
	struct ud_conn *rc = ring_conn(c);
	struct ud_credit *k = rc ? rc->credit : NULL;
	uint64_t want = page_up(rec), max = 0, min = UINT64_MAX, small = 0;
	unsigned n, nsmall = 0;

	if (!k || rec < UVR_STAGE_MIN || !rc->tenant)
		return;
	k->big[k->nbig++ % UD_BIG_HISTORY] = want;
	n = history_len(k);
	for (unsigned i = 0; i < n; i++) {
		if (k->big[i] > max)
			max = k->big[i];
		if (k->big[i] < min)
			min = k->big[i];
	}
	/* Sizes far apart (a few large values among smaller ones): the
	 * values within twice the smallest get extents of their largest, in
	 * proportion to how many they are, so that they do not each take,
	 * and shrink, an extent sized for the largest (stages_fill). */
	for (unsigned i = 0; i < n; i++)
		if (k->big[i] <= 2 * min) {
			nsmall++;
			if (k->big[i] > small)
				small = k->big[i];
		}
	k->stage_size = max;
	k->stage_small = small < max ? small : max;
	k->stage_nsmall = small < max ? nsmall : n;
	k->want = 1;
	if (rc != c)
		ud_credit_refill(rc);
}

int ud_credit_take_stage(struct ud_conn *c, const struct uwire_ref *ref,
			 uint64_t klen, uint64_t *off, uint64_t *len)
{
	struct ud_credit *k = c->credit;
	struct ud_stage *s;

	if (!k || ref->slot >= URING_STAGES)
		return -EPROTO;
	s = &k->stage[ref->slot];
	if (!s->len || s->gen != ref->gen ||
	    uvr_rec_size(klen, ref->vlen) > s->len)
		return -EPROTO;
	*off = s->off;
	*len = s->len;
	/* The extent's reservation now pays for the entry (with credit);
	 * spent by ust_put_ex() from k->res, so no longer held. */
	k->res += s->charge;
	s->off = s->len = s->charge = 0;
	k->want = 1;
	/* The generation moves on when the slot is refilled; until then the
	 * published slot still names this (now adopted) extent with the old
	 * generation, which the client knows it has used. */
	return 0;
}

/*
 * Fill k's empty staging slots, within its share of the tenant's room.
 * Reservation slack pays for an extent first: a posted PUT that replaces a
 * value of its own size is paid by the old value's charge, so the extent's
 * reservation it brought (k->res, ud_credit_take_stage) is left over whole.
 */
static void stages_fill(struct ud_daemon *d, struct ud_conn *c)
{
	struct ud_credit *k = c->credit;
	unsigned nslots, nsmall, held = 0;

	stage_split(k, &nslots, &nsmall);
	for (unsigned i = 0; i < URING_STAGES; i++)
		held += k->stage[i].len != 0;
	for (unsigned i = 0; i < nslots && held < nslots; i++) {
		struct ud_stage *s = &k->stage[i];
		/* The first nsmall slots the smaller size, the rest the larger. */
		uint64_t size = i < nsmall ? k->stage_small : k->stage_size;
		uint64_t charge;
		bool prepaid;

		if (s->len)
			continue;
		charge = ust_stage_charge(size);
		prepaid = slack(k) >= charge;
		if ((!prepaid && charge > share(d, k)) ||
		    ust_stage_alloc(d->st, c->tenant->id, size, prepaid,
				    &s->off, &s->charge) < 0)
			break;
		if (prepaid)
			k->res -= s->charge; /* moves to the extent: still held */
		else
			atomic_fetch_add(&k->tenant->credit_held, s->charge);
		s->len = size;
		s->gen++;
		stage_publish(k, i);
		held++;
	}
}

/*
 * Top the connection up, if it asked for it (it posted since its last
 * CREDIT_RETURN): the inline window back to its size, and every empty
 * staging slot, within its share of the tenant's room. Then give back the
 * slack beyond one window: without that, a stream of posted PUTs replacing
 * values of their size left each extent's reservation behind, and the
 * connection's hold grew by a value per PUT until its share ran out and
 * the client fell back to a synchronous PUT to give it all back (every
 * ~1,250 PUTs at 1 MiB). Called after a ring service pass.
 */
void ud_credit_refill(struct ud_conn *c)
{
	struct ud_daemon *d = c->loop->d;
	struct ud_credit *k = c->credit;
	uint64_t avail, window, out, add, need;

	if (!k || !k->want || !c->tenant || c->closing)
		return;
	k->want = 0;
	avail = share(d, k);
	window = avail / 2 < UD_CREDIT_MAX ? avail / 2 : UD_CREDIT_MAX;
	out = k->granted - k->spent;
	if (window >= UD_CREDIT_MIN && out <= window - window / UVR_CREDIT_STEP) {
		add = window - out;
		/* Reservation slack (charges below their bounds) pays first. */
		need = add > slack(k) ? add - slack(k) : 0;
		if (!need || hold(d, k, need) == 0) {
			k->res += need;
			k->granted += add;
			__atomic_store_n(&k->shm->credit, k->granted, __ATOMIC_RELEASE);
		}
	}
	if (k->stage_size)
		stages_fill(d, c);
	release_slack(d, k, window);
}

/*
 * compact.c — giving memory back at every value size. Evicting, flushing or
 * destroying frees entries wherever they lie, so after a shrink the
 * survivors are spread thinly over the allocator's memory. Two costs follow:
 *
 *  - Small values: a slab (e.g. 4 KiB of 64 B regions) stays resident as
 *    long as one region is in use, and purging returns only wholly free
 *    pages. Measured: 256 MiB of 64 B values with every 8th one recently
 *    read, shrunk to 32 MiB: charge 32 MiB, RSS still 259 MiB after purge.
 *  - Page-sized values (4 KiB up): every free page is purged, but each run
 *    of free pages costs one madvise() and its TLB shootdown; with every
 *    8th 4 KiB value kept, purging 220 MiB took 0.27-2.2 s on the shared
 *    2-core VM, far from "RSS follows within 100 ms".
 *
 * A compaction pass walks every pool's table stripe by stripe under that
 * stripe's lock (at most UST_HOLD entries per hold, so a PUT waits
 * microseconds) in two phases:
 *
 *  0. Each allocation in a small-class slab used below 7/8 (alloc.c asks
 *     jemalloc's experimental.utilization.batch_query) is moved: new
 *     allocation of the same size, copy, relink, free the old. jemalloc
 *     serves the oldest non-full slab first, so moved regions fill the
 *     slabs that stay and the sparse ones empty. Meanwhile it counts, per
 *     2 MiB block of addresses, the pages used by page-sized allocations
 *     of up to 32 KiB (the census; larger ones cost more to move than
 *     their free runs cost to purge, see packable()).
 *  1. Only if the census found at least UST_PAGE_MIN such allocations in
 *     blocks used below half, and at least UST_DIRTY_MIN of freed pages
 *     still wait for the purge: those are moved. New extents come from the
 *     oldest, lowest free ones, so the survivors pack together and the
 *     free pages form long runs that purge in a few calls. (Once purged,
 *     scattered free pages cost nothing, so a caller that purges before
 *     compacting, like utmemd, skips this phase.)
 *
 * A moved entry keeps its charge, stamp and place in its chain; nothing
 * outside the stripe lock holds an entry's address, so nobody sees the old
 * one. The walk also halves bucket arrays that fell below half load, which
 * otherwise keep their peak size until the table empties.
 *
 * An entry's allocations are listed by one function (pieces_of) and
 * judged and moved by two (judge, move_piece), so a second home for
 * values (issue 7's per-tenant arena, with its own "should this move"
 * hint) adds a case to each.
 */
#include <stdlib.h>
#include <time.h>

#include "store/internal.h"
#include "proto/clock.h"

#define UST_HOLD 512u   /* entries looked at per stripe-lock hold */
#define UST_BATCH 32u   /* entries whose allocations are queried together */
#define UST_GATHER 256u /* most entries gathered for one batch (long chain) */
#define UST_PAGE 4096u
#define UST_BLOCK_SHIFT 21 /* census blocks of 2 MiB */
#define UST_PAGE_MIN 32u   /* page allocations in sparse blocks worth phase 1 */
#define UST_FRAG_MIN (4u << 20)
#define UST_DIRTY_MIN (16u << 20) /* freed, unpurged bytes worth phase 1 */
#define UST_PACK_MAX (32u << 10)  /* larger allocations are not packed */
/* A call with a budget also ends once it moved this much (see store.h). */
#define UST_STEP_BYTES (8u << 20)

/* One allocation of an entry that the walk may move. */
struct ust_piece {
	void *p;
	size_t size;   /* as given to the allocator */
	size_t usable; /* the allocator's size for it */
	bool value;    /* the entry's value kept apart, else the entry itself */
	struct ust_region *g; /* a record in this tenant region's arena */
};


/*
 * Is an allocation of this size worth packing in phase 1? Each one left
 * among free pages costs the purge one more madvise() and TLB shootdown
 * (about 0.1 ms of CPU each on the loaded 2-vCPU VM), each one moved costs
 * its copy and the new pages' faults (about 3 ms per MiB). Measured with
 * shrink-bench (256 MiB shrink, every 8th value kept, CPU time): 16 KiB
 * values 44 ms compaction + 10 ms purge packed, 257 ms purge unpacked;
 * 128 KiB values 97 + 9 ms packed, 63 ms unpacked. So up to 32 KiB.
 */
static bool packable(size_t usable)
{
	return usable >= UST_PAGE && usable <= UST_PACK_MAX;
}

/* ---- census: pages used per 2 MiB block (phase 0 counts, phase 1 reads) */

static size_t slot_of(const struct ust_census *c, uint64_t key)
{
	return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 20) & (c->cap - 1);
}

/* Double the table (or create it). Returns false when out of memory. */
static bool census_grow(struct ust_census *c)
{
	struct ust_census n = { .cap = c->cap ? 2 * c->cap : 1024 };

	n.block = calloc(n.cap, sizeof(*n.block));
	n.pages = calloc(n.cap, sizeof(*n.pages));
	n.pieces = calloc(n.cap, sizeof(*n.pieces));
	if (!n.block || !n.pages || !n.pieces) {
		free(n.block);
		free(n.pages);
		free(n.pieces);
		return false;
	}
	for (size_t i = 0; i < c->cap; i++) {
		size_t j;

		if (!c->block[i])
			continue;
		for (j = slot_of(&n, c->block[i]); n.block[j]; j = (j + 1) & (n.cap - 1))
			;
		n.block[j] = c->block[i];
		n.pages[j] = c->pages[i];
		n.pieces[j] = c->pieces[i];
	}
	n.n = c->n;
	free(c->block);
	free(c->pages);
	free(c->pieces);
	*c = n;
	return true;
}

/* The slot of p's block, added when add; SIZE_MAX if absent or no memory. */
static size_t census_find(struct ust_census *c, const void *p, bool add)
{
	uint64_t key = ((uint64_t)(uintptr_t)p >> UST_BLOCK_SHIFT) + 1;
	size_t j;

	if (add && (c->n + 1) * 2 > c->cap && !census_grow(c))
		return SIZE_MAX;
	if (!c->cap)
		return SIZE_MAX;
	for (j = slot_of(c, key); c->block[j]; j = (j + 1) & (c->cap - 1))
		if (c->block[j] == key)
			return j;
	if (!add)
		return SIZE_MAX;
	c->block[j] = key;
	c->n++;
	return j;
}

/* Count a page-sized allocation of usable bytes at p (phase 0). */
static void census_add(struct ust_census *c, const void *p, size_t usable)
{
	size_t j = census_find(c, p, true);

	if (j == SIZE_MAX)
		return;
	c->pages[j] += (uint32_t)((usable + UST_PAGE - 1) / UST_PAGE);
	c->pieces[j]++;
}

/* Is p's block used below half (phase 1)? */
static bool census_sparse(struct ust_census *c, const void *p)
{
	size_t j = census_find(c, p, false);

	return j != SIZE_MAX &&
	       c->pages[j] < ((1u << UST_BLOCK_SHIFT) / UST_PAGE) / 2;
}

/* Page allocations in sparse blocks: is phase 1 worth a walk? */
static uint64_t census_movable(const struct ust_census *c)
{
	uint64_t n = 0;

	for (size_t i = 0; i < c->cap; i++)
		if (c->block[i] && c->pages[i] < ((1u << UST_BLOCK_SHIFT) / UST_PAGE) / 2)
			n += c->pieces[i];
	return n;
}

static void census_clear(struct ust_census *c)
{
	free(c->block);
	free(c->pages);
	free(c->pieces);
	memset(c, 0, sizeof(*c));
}

/* ---- the walk */

/*
 * The allocations of e, at most two: the entry, and its value when kept
 * apart. Returns how many.
 */
static unsigned pieces_of(const ust_store *st, struct ust_entry *e, struct ust_piece *out)
{
	size_t head = ust_entry_head_size(e);
	unsigned n = 0;

	out[n++] = (struct ust_piece){ e, head, ust_alloc_size(&st->alloc, head), false, NULL };
	/* A value in the tenant's region is a record in its arena. */
	if (ust_in_region(e)) {
		struct ust_tenant *t = st->tenants[e->tenant];
		size_t rec = (size_t)uvr_rec_size(e->klen, ust_vlen(e));

		if (t && t->region)
			out[n++] = (struct ust_piece){ ust_entry_ptr(e), rec,
						       ust_arena_size(rec), true,
						       t->region };
		return n;
	}
	if (ust_split(e->vlenf))
		out[n++] = (struct ust_piece){ ust_entry_value(e), e->vlenf,
					       ust_alloc_size(&st->alloc, e->vlenf), true, NULL };
	return n;
}

/*
 * Move piece pc of the entry at *link. Returns the bytes moved (0: left
 * where it is) and updates pc->p. The entry may have a new address
 * afterwards (*link is updated). Caller holds the stripe lock.
 */
/*
 * Move a record of pool `pool` in its region's arena to a fresh allocation
 * (the arena avoids the slabs it evacuates): copy, point the index and the
 * entry at the copy, release the old one (reused only once no hazard word
 * names it). Returns the new address or NULL. Caller holds the stripe.
 */
static void *move_record(ust_store *st, struct ust_piece *pc,
			 struct ust_entry *e, uint32_t pool)
{
	struct ust_region *g = pc->g;
	struct ust_tenant *t = ust_tenant_get(st, e->tenant);
	uint64_t old = (uint64_t)((uint8_t *)pc->p - g->base);
	int64_t off = ust_arena_alloc(g->arena, pc->size, NULL);

	if (off < 0)
		return NULL;
	ust_arena_copy(g->arena, (uint64_t)off, old, pc->size);
	if (ust_sindex_replace(&g->idx, ust_region_hash(g, pool, e->data, e->klen),
			       old, (uint64_t)off, ust_vlen(e)) < 0) {
		ust_region_release(st, g, t, (uint64_t)off, pc->size);
		return NULL;
	}
	ust_region_release(st, g, t, old, pc->size);
	return g->base + off;
}

static size_t move_piece(ust_store *st, struct ust_entry **link, struct ust_piece *pc,
			 uint32_t pool)
{
	void *q = pc->g ? move_record(st, pc, *link, pool)
			: ust_alloc_move(&st->alloc, pc->p, pc->size);
	struct ust_entry *e = *link;

	if (!q)
		return 0;
	if (pc->value)
		memcpy(e->data + e->klen, &q, sizeof(q));
	else
		*link = q;
	pc->p = q;
	return pc->size;
}

/* A batch of gathered entries and their pieces, in chain order. */
struct batch {
	struct ust_entry *ent[UST_GATHER];
	unsigned first[UST_GATHER + 1]; /* ent[i]'s pieces: first[i]..first[i+1] */
	struct ust_piece pc[2 * UST_GATHER];
	void *ptr[2 * UST_GATHER];
	bool move[2 * UST_GATHER];
	unsigned n, npc;
};

/*
 * Gather entries of sub from bucket b on, whole chains, until at least
 * max entries or the end of the table. Returns the bucket after the last
 * one gathered.
 */
static uint32_t gather(const ust_store *st, struct ust_sub *sub, uint32_t b,
		       unsigned max, struct batch *bt)
{
	bt->n = bt->npc = 0;
	for (; b <= sub->mask && bt->n < max; b++) {
		for (struct ust_entry *e = sub->buckets[b]; e && bt->n < UST_GATHER; e = e->next) {
			bt->ent[bt->n] = e;
			bt->first[bt->n++] = bt->npc;
			bt->npc += pieces_of(st, e, &bt->pc[bt->npc]);
		}
	}
	bt->first[bt->n] = bt->npc;
	return b;
}

/*
 * Decide which pieces of the batch move. Phase 0: those in sparse slabs
 * (the allocator is asked about small ones, 64 at a time). Phase 1: page
 * allocations in blocks the census found used below half.
 */
static void judge(ust_store *st, unsigned phase, struct batch *bt)
{
	unsigned m = 0;

	memset(bt->move, 0, bt->npc * sizeof(bt->move[0]));
	if (phase == 1) {
		for (unsigned k = 0; k < bt->npc; k++)
			bt->move[k] = !bt->pc[k].g && packable(bt->pc[k].usable) &&
				      census_sparse(&st->census, bt->pc[k].p);
		return;
	}
	/* jemalloc is asked about its own allocations only: a region record
	 * stands in with its entry (the answer is replaced below). */
	for (unsigned k = 0; k < bt->npc; k++)
		bt->ptr[k] = bt->pc[k].g ? bt->pc[k - 1].p : bt->pc[k].p;
	for (unsigned k = 0; k < bt->npc; k += m) {
		m = bt->npc - k < 64 ? bt->npc - k : 64;
		ust_alloc_sparse(&st->alloc, &bt->ptr[k], m, &bt->move[k]);
	}
	/* Region records: the arena's own hint (jemalloc's said nothing of
	 * them: their addresses are not its). */
	for (unsigned k = 0; k < bt->npc; k++) {
		struct ust_piece *pc = &bt->pc[k];

		if (pc->g)
			bt->move[k] = ust_arena_should_move(
				pc->g->arena, (uint64_t)((uint8_t *)pc->p - pc->g->base),
				pc->size);
	}
}

/*
 * Move the pieces judged movable, walking the chains of buckets [b0, b1)
 * again in the same order (nothing changed them: the lock is held), so that
 * each entry's link is at hand. Adds to ci.
 */
static void apply(ust_store *st, struct ust_sub *sub, uint32_t pool, uint32_t b0,
		  uint32_t b1, struct batch *bt, struct ust_compact_info *ci)
{
	unsigned i = 0;

	for (uint32_t b = b0; b < b1 && i < bt->n; b++) {
		for (struct ust_entry **pp = &sub->buckets[b]; *pp && i < bt->n; pp = &(*pp)->next) {
			if (*pp != bt->ent[i])
				continue; /* past UST_GATHER in a long chain: not gathered */
			/* The value first: moving the entry afterwards copies its new
			 * pointer along. */
			for (unsigned k = bt->first[i + 1]; k-- > bt->first[i];) {
				size_t n = bt->move[k] ? move_piece(st, pp, &bt->pc[k], pool) : 0;

				ci->moved += n != 0;
				ci->region_moved += n != 0 && bt->pc[k].g;
				ci->bytes_moved += n;
			}
			i++;
		}
	}
}

/*
 * Compact sub from bucket *bucket on, looking at about max entries; *bucket
 * is left at the next bucket to visit (past the mask when the table is
 * done). Returns the entries looked at. Caller holds the stripe lock.
 */
static unsigned walk_sub(ust_store *st, struct ust_sub *sub, uint32_t pool,
			 uint32_t *bucket, unsigned max, unsigned phase,
			 struct ust_compact_info *ci)
{
	struct batch bt; /* ~20 KiB of stack */
	unsigned seen = 0;
	uint32_t b = *bucket;

	if (b == 0 && phase == 0 && ust_sub_shrink(sub))
		ci->tables_shrunk++;
	while (b <= sub->mask && seen < max) {
		uint32_t next = gather(st, sub, b, max - seen < UST_BATCH ? max - seen : UST_BATCH, &bt);

		judge(st, phase, &bt);
		apply(st, sub, pool, b, next, &bt, ci);
		if (phase == 0)
			for (unsigned k = 0; k < bt.npc; k++)
				if (packable(bt.pc[k].usable))
					census_add(&st->census, bt.pc[k].p, bt.pc[k].usable);
		seen += bt.n;
		b = next;
	}
	*bucket = b;
	ci->entries_seen += seen;
	return seen;
}

/*
 * The next pool from c->pool on with a table in stripe c->s, or NULL when
 * the stripe has no more. Caller holds that stripe's lock.
 */
static struct ust_pool *next_pool(ust_store *st, struct ust_compact_cursor *c)
{
	for (; c->pool < st->next_pool; c->pool++, c->bucket = 0) {
		struct ust_pool *p = st->pools[c->pool];

		if (p && ust_stripe_used(st, c->pool, c->s) && p->sub[c->s].buckets)
			return p;
	}
	return NULL;
}

static void info_add(struct ust_compact_info *to, const struct ust_compact_info *d)
{
	to->entries_seen += d->entries_seen;
	to->moved += d->moved;
	to->region_moved += d->region_moved;
	to->bytes_moved += d->bytes_moved;
	to->tables_shrunk += d->tables_shrunk;
	to->passes += d->passes;
	to->ns += d->ns;
}

/*
 * The cursor reached the end of the store: go on to phase 1 when the
 * census says it pays, else finish the pass. Returns 1 when the pass is
 * complete. Caller holds st->compact_lock.
 */
static int end_of_walk(ust_store *st, struct ust_compact_cursor *c,
		       struct ust_compact_info *ci)
{
	struct ust_alloc_usage u;

	/* Packing pages only makes the next purge cheaper: worth it while
	 * enough freed pages wait to be purged. */
	if (c->phase == 0 && census_movable(&st->census) >= UST_PAGE_MIN &&
	    ust_alloc_usage(&st->alloc, &u) == 0 && u.dirty >= UST_DIRTY_MIN) {
		*c = (struct ust_compact_cursor){ .pool = 1, .phase = 1, .pass = c->pass,
						  .region_moved = c->region_moved };
		return 0;
	}
	census_clear(&st->census);
	ci->passes++;
	atomic_store_explicit(&st->walk_charged,
			      atomic_load_explicit(&st->charged, memory_order_relaxed),
			      memory_order_relaxed);
	/* Slack a pass could not touch (slabs fuller than should_move
	 * takes) does not ask for another; after a pass that moved records,
	 * what is left (freed while it walked) may. */
	atomic_store_explicit(&st->walk_excess,
			      c->region_moved ? 0 : ust_regions_slack(st),
			      memory_order_relaxed);
	*c = (struct ust_compact_cursor){ .pool = 1, .pass = c->pass + 1 };
	return 1;
}

/* See store.h. Takes st->compact_lock, then stripe locks one at a time. */
int ust_compact(ust_store *st, uint64_t budget, struct ust_compact_info *out)
{
	struct ust_compact_info ci = { 0 };
	uint64_t t0 = umono_ns(), seen = 0, moved;
	struct ust_compact_cursor *c;
	int done = 0;

	pthread_mutex_lock(&st->compact_lock);
	c = &st->ccur;
	while (!done && (!budget || (seen < budget && ci.bytes_moved < UST_STEP_BYTES))) {
		uint64_t left = budget ? budget - seen : UST_HOLD;
		pthread_mutex_t *lk;
		struct ust_pool *p;

		if (c->s >= st->nstripes) {
			done = end_of_walk(st, c, &ci);
			continue;
		}
		if (c->pool == 0)
			c->pool = 1;
		lk = &st->stripes[c->s].lock;
		pthread_mutex_lock(lk);
		p = next_pool(st, c);
		if (!p) {
			pthread_mutex_unlock(lk);
			c->s++;
			c->pool = 1;
			c->bucket = 0;
			continue;
		}
		moved = ci.region_moved;
		seen += walk_sub(st, &p->sub[c->s], p->id, &c->bucket,
				 left < UST_HOLD ? (unsigned)left : UST_HOLD, c->phase, &ci);
		c->region_moved += ci.region_moved - moved;
		if (!p->sub[c->s].buckets || c->bucket > p->sub[c->s].mask) {
			c->pool++;
			c->bucket = 0;
		}
		pthread_mutex_unlock(lk);
	}
	ci.ns = umono_ns() - t0;
	info_add(&st->ctotal, &ci);
	pthread_mutex_unlock(&st->compact_lock);
	if (out)
		info_add(out, &ci);
	return done;
}

void ust_compact_totals(ust_store *st, struct ust_compact_info *out)
{
	pthread_mutex_lock(&st->compact_lock);
	*out = st->ctotal;
	pthread_mutex_unlock(&st->compact_lock);
}

int ust_heap_info(ust_store *st, struct ust_heap_info *out)
{
	struct ust_alloc_usage u;
	int err = ust_alloc_usage(&st->alloc, &u);

	out->allocated = u.allocated;
	out->active = u.active;
	out->resident = u.resident;
	out->dirty = u.dirty;
	return err;
}

/* See store.h. Lock-free apart from the allocator's stats refresh. */
bool ust_compact_wanted(ust_store *st)
{
	uint64_t ch = atomic_load_explicit(&st->charged, memory_order_relaxed);
	uint64_t last = atomic_load_explicit(&st->walk_charged, memory_order_relaxed);
	struct ust_alloc_usage u;

	if (ust_shrinking(st))
		return false; /* after it: what a pass would move, it may evict */
	if (last > ch + last / 4)
		return true;
	if (atomic_load_explicit(&st->region_excess, memory_order_relaxed) >
	    atomic_load_explicit(&st->walk_excess, memory_order_relaxed) + UST_REGION_SLACK_FREE)
		return true;
	if (ust_alloc_usage(&st->alloc, &u) != 0 || u.active < u.allocated)
		return false;
	return u.active - u.allocated > UST_FRAG_MIN + u.allocated / 8;
}

/*
 * Remember the charge before a shrink evicts or a flush or destroy drops
 * entries, so that ust_compact_wanted() sees how much went (the tables it
 * leaves oversized, the pages and region slabs scattered by it). Any
 * thread: the largest charge noted stays.
 */
void ust_compact_note(ust_store *st)
{
	uint64_t ch = atomic_load_explicit(&st->charged, memory_order_relaxed);
	uint64_t last = atomic_load_explicit(&st->walk_charged, memory_order_relaxed);

	while (ch > last &&
	       !atomic_compare_exchange_weak_explicit(&st->walk_charged, &last, ch,
						      memory_order_relaxed,
						      memory_order_relaxed))
		;
}

/* Free the census; called by ust_store_free. */
void ust_compact_fini(ust_store *st)
{
	census_clear(&st->census);
}

/*
 * arena_hazard.c — the hazard protocol with one-sided readers, and the
 * ranges it defers.
 *
 * A client reading a value publishes its offset in its hazard word (a
 * seq_cst store), then checks the daemon-written index still points there,
 * then copies. The store unlinks an entry from the index and only then
 * releases its extent; release issues a seq_cst fence and scans every
 * hazard word. Either the scan sees the reader's hazard (the range is
 * deferred), or the reader's re-check runs after the unlink and sees the
 * entry gone (it never copies). So a range is reused or punched only when
 * no reader that saw it in the index can still be copying from it.
 *
 * The words are written by clients and so hold anything: they are read
 * with relaxed atomic loads and used only as numbers to compare, never
 * as a pointer or a length. A range [off, off + len) is hazarded if any
 * word h satisfies off <= h < off + len. The deferred list holds at most
 * nhazards ranges: when it is full, every deferred range is retried against
 * one fresh snapshot before another is added; the ranges still deferred
 * then each contain a value of that snapshot and are pairwise disjoint
 * (they are distinct freed allocations), so with the new one (hazarded in
 * the same snapshot) there are at most as many as there are words. A client that never clears a word delays at most one range
 * per word, and ust_arena_force() takes those back after an age.
 *
 * Callers hold the arena lock, except for ar_haz_hit().
 */
#include <stdlib.h>

#include "store/arena_int.h"
#include "proto/clock.h"

static uint64_t haz_word(const ust_arena *a, uint32_t i)
{
	const volatile uint64_t *p =
		(const volatile uint64_t *)(const volatile void *)(a->haz + (size_t)i * a->haz_stride);

	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

void ust_arena_hazards_live(ust_arena *a, uint32_t n)
{
	atomic_store(&a->haz_live, n < a->nhaz ? n : a->nhaz);
}

/*
 * The words to look at: those handed out. Each sits on its own cache line,
 * so a release scanning all 256 words of a region cost more than the rest
 * of a small PUT; a tenant has a few connections.
 */
static uint32_t haz_count(const ust_arena *a)
{
	return atomic_load(&a->haz_live);
}

/*
 * Does any hazard word fall in [off, off + len)? The caller has issued the
 * seq_cst fence after the range was unlinked. No lock needed: O(words
 * handed out).
 */
bool ar_haz_hit(const ust_arena *a, uint64_t off, uint64_t len)
{
	uint32_t n = haz_count(a);

	for (uint32_t i = 0; i < n; i++)
		if (haz_word(a, i) - off < len)
			return true;
	return false;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t p = *(const uint64_t *)x, q = *(const uint64_t *)y;

	return (p > q) - (p < q);
}

/* Fence, read every word once into a->snap, sort. Returns how many (non-zero). */
static uint32_t snapshot(ust_arena *a)
{
	uint32_t n = 0;

	uint32_t live;

	atomic_thread_fence(memory_order_seq_cst);
	live = haz_count(a);
	for (uint32_t i = 0; i < live; i++) {
		uint64_t h = haz_word(a, i);

		if (h)
			a->snap[n++] = h;
	}
	qsort(a->snap, n, sizeof(*a->snap), cmp_u64);
	return n;
}

/* Does the sorted snapshot of n words hold a value in [off, off + len)? */
static bool snap_hit(const ust_arena *a, uint32_t n, uint64_t off, uint64_t len)
{
	uint32_t lo = 0, hi = n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (a->snap[mid] < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && a->snap[lo] - off < len;
}

/*
 * Make a freed range reusable now: a slab slot goes back to its slab, a
 * page run to the warm cache (if warm_ok) or to batch for punching.
 */
void ar_free_now(ust_arena *a, const struct deferred *d, bool warm_ok,
		 struct run **batch)
{
	if (d->small)
		ar_slab_free(a, d->r, d->off, batch);
	else
		ar_run_free(a, d->r, warm_ok, batch);
}

/* Drop deferred entry i (order does not matter). */
static void def_remove(ust_arena *a, uint32_t i)
{
	a->def_bytes -= a->def[i].len;
	atomic_fetch_sub(&a->def_delta, (int64_t)a->def[i].len);
	a->def[i] = a->def[--a->ndef];
}

/* Free every deferred range the snapshot of n words does not hazard. */
static void retry_with(ust_arena *a, uint32_t n, struct run **batch)
{
	for (uint32_t i = 0; i < a->ndef;) {
		struct deferred d = a->def[i];

		if (snap_hit(a, n, d.off, d.len)) {
			i++;
			continue;
		}
		def_remove(a, i);
		ar_free_now(a, &d, true, batch);
	}
}

/* Retry every deferred range against a fresh snapshot. */
void ar_retry(ust_arena *a, struct run **batch)
{
	if (!a->ndef)
		return; /* the common case, every poll of every region: no clock */
	a->last_retry = umono_ns();
	retry_with(a, snapshot(a), batch);
}

/*
 * d was found hazarded by the scan of its release: defer it. Only when the
 * list is full is everything retried against a fresh snapshot first (and d
 * freed now if that snapshot does not hazard it): a snapshot sorts every
 * word, and a client that keeps pointing its words at values being
 * released must not make each release pay that. After the retry the list
 * has room (see the top of this file); should it ever not, d is freed
 * rather than the list grown without bound.
 */
void ar_defer(ust_arena *a, const struct deferred *d, struct run **batch)
{
	if (a->ndef >= a->nhaz) {
		uint32_t n = snapshot(a);

		a->last_retry = umono_ns();
		retry_with(a, n, batch);
		if (!snap_hit(a, n, d->off, d->len) || a->ndef >= a->nhaz) {
			ar_free_now(a, d, true, batch);
			return;
		}
	}
	if (!d->small)
		d->r->state = RUN_DEFER;
	a->def[a->ndef++] = *d;
	a->def_gen++;
	a->def_bytes += d->len;
	atomic_fetch_add(&a->def_delta, (int64_t)d->len);
}

/*
 * Take back every range deferred at least age_ns ago, hazarded or not:
 * page runs are punched (not kept warm), slab slots go back to their slab.
 * Returns the bytes taken back.
 */
uint64_t ar_force(ust_arena *a, uint64_t age_ns, struct run **batch)
{
	uint64_t now, bytes = 0;

	if (!a->ndef)
		return 0;
	now = umono_ns();

	for (uint32_t i = 0; i < a->ndef;) {
		struct deferred d = a->def[i];

		if (now - d.stamp < age_ns) {
			i++;
			continue;
		}
		def_remove(a, i);
		ar_free_now(a, &d, false, batch);
		bytes += d.len;
	}
	a->forced_bytes += bytes;
	return bytes;
}

/* Is off (a slab slot) on the deferred list? O(deferred), usually empty. */
bool ar_is_deferred(const ust_arena *a, uint64_t off)
{
	for (uint32_t i = 0; i < a->ndef; i++)
		if (a->def[i].off == off)
			return true;
	return false;
}

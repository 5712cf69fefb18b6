/*
 * arena_run.c — page runs: the address-ordered list of run descriptors that
 * tiles the heap, the size-segregated free bins (cold = punched, warm =
 * kept faulted in), coalescing, the warm cache with its LRU eviction, and
 * punching.
 *
 * Why punching happens outside the lock: on this machine class (a VM),
 * punching a 128 KiB run takes about 1.4 ms and a first write to it another
 * 0.7 ms (bench/micro/arena-bench), far longer than any allocation. A run
 * to be punched is therefore taken out of every free structure (RUN_BUSY),
 * collected in a "batch" list while the lock is held, punched after the
 * lock is dropped (ar_batch_punch), and only then made cold and coalesced.
 * Nothing can allocate a busy run, so a punch never hits a live value; an
 * allocation that finds no room while punches are in flight waits for them
 * (a->punched) instead of failing, for one chunk of a batch at most (a
 * batch is punched in address order, neighbours as one range, and made
 * cold every AR_PUNCH_CHUNK bytes).
 *
 * Placement: warm runs first (best fit within the smallest fitting bin,
 * most recently freed first), else cold runs (same rule); a larger run is
 * split and its front part used. Warm runs merge with warm neighbours and
 * cold with cold, never across: a merged run would be part faulted in, part
 * not, and the accounting of resident pages would be lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "store/arena_int.h"
#include "proto/clock.h"


/* A zeroed descriptor, or NULL when malloc fails. Lock held. */
struct run *ar_desc_new(ust_arena *a)
{
	struct run *r = calloc(1, sizeof(*r));

	if (r)
		a->nruns_desc++;
	return r;
}

void ar_desc_free(ust_arena *a, struct run *r)
{
	a->nruns_desc--;
	free(r);
}

/* ---- free bins ---- */

/* Bin of a run of n >= 1 pages: 1, 2, 3, then four bins per doubling. */
static unsigned bin_of(uint32_t n)
{
	unsigned fl, sl;

	if (n < 4)
		return n - 1;
	fl = 31u - (unsigned)__builtin_clz(n);
	sl = (n >> (fl - 2)) & 3u;
	return 3u + (fl - 2) * 4u + sl;
}

static void bins_insert(struct bins *b, struct run *r)
{
	unsigned i = bin_of(r->npages);

	r->bucket = (uint8_t)i;
	r->prev = NULL;
	r->next = b->head[i];
	if (r->next)
		r->next->prev = r;
	b->head[i] = r;
	b->nonempty[i / 64] |= 1ull << (i % 64);
}

void ar_bins_remove(struct bins *b, struct run *r)
{
	unsigned i = r->bucket;

	if (r->prev)
		r->prev->next = r->next;
	else
		b->head[i] = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	if (!b->head[i])
		b->nonempty[i / 64] &= ~(1ull << (i % 64));
}

/* First non-empty bin at or after i, or AR_NBINS. */
static unsigned next_nonempty(const struct bins *b, unsigned i)
{
	while (i < AR_NBINS) {
		uint64_t w = b->nonempty[i / 64] & (~0ull << (i % 64));

		if (w)
			return (i & ~63u) + (unsigned)__builtin_ctzll(w);
		i = (i & ~63u) + 64;
	}
	return AR_NBINS;
}

/*
 * A free run of at least n pages, or NULL: the best fit among the first
 * AR_FIT_SCAN runs of n's own bin (newest first), else the newest run of
 * the next non-empty bin (all of whose runs are larger than n), else the
 * best fit in the rest of n's bin. O(1) apart from the bounded scans.
 */
static struct run *bins_find(const struct bins *b, uint32_t n)
{
	unsigned i = bin_of(n), j, k = 0;
	struct run *r, *best = NULL;

	for (r = b->head[i]; r && k < AR_FIT_SCAN; r = r->next, k++) {
		if (r->npages == n)
			return r;
		if (r->npages > n && (!best || r->npages < best->npages))
			best = r;
	}
	if (best)
		return best;
	j = next_nonempty(b, i + 1);
	if (j < AR_NBINS)
		return b->head[j];
	for (; r; r = r->next)
		if (r->npages >= n && (!best || r->npages < best->npages))
			best = r;
	return best;
}

/* ---- address list and warm LRU ---- */

static void addr_insert_before(ust_arena *a, struct run *pos, struct run *r)
{
	r->anext = pos;
	r->aprev = pos->aprev;
	if (pos->aprev)
		pos->aprev->anext = r;
	else
		a->first = r;
	pos->aprev = r;
}

static void addr_remove(ust_arena *a, struct run *r)
{
	if (r->aprev)
		r->aprev->anext = r->anext;
	else
		a->first = r->anext;
	if (r->anext)
		r->anext->aprev = r->aprev;
}

static void lru_push(ust_arena *a, struct run *r)
{
	r->u.w.stamp = a->warm_idle_ns ? umono_ns() : 0; /* freed at */
	r->u.w.lprev = NULL;
	r->u.w.lnext = a->lru_head;
	if (a->lru_head)
		a->lru_head->u.w.lprev = r;
	else
		a->lru_tail = r;
	a->lru_head = r;
}

static void lru_remove(ust_arena *a, struct run *r)
{
	if (r->u.w.lprev)
		r->u.w.lprev->u.w.lnext = r->u.w.lnext;
	else
		a->lru_head = r->u.w.lnext;
	if (r->u.w.lnext)
		r->u.w.lnext->u.w.lprev = r->u.w.lprev;
	else
		a->lru_tail = r->u.w.lprev;
}

/* Take a warm run out of the warm cache (bins and LRU). */
static void warm_unlink(ust_arena *a, struct run *r)
{
	ar_bins_remove(&a->warm, r);
	lru_remove(a, r);
	a->warm_pages -= r->npages;
	a->nwarm--;
}

/* left absorbs its address neighbour right (both out of every list). */
static void merge(ust_arena *a, struct run *left, struct run *right)
{
	left->npages += right->npages;
	addr_remove(a, right);
	ar_desc_free(a, right);
}

/* Queue r for punching: out of every free structure, not allocatable. */
void ar_to_busy(ust_arena *a, struct run *r, struct run **batch)
{
	r->state = RUN_BUSY;
	a->busy_pages += r->npages;
	r->prev = NULL;
	r->next = *batch;
	*batch = r;
}

/*
 * A busy run's pages are punched: make it cold and coalesce it with cold
 * neighbours. Returns the (possibly merged) run. Lock held.
 */
struct run *ar_make_cold(ust_arena *a, struct run *r)
{
	struct run *n;

	a->busy_pages -= r->npages;
	r->state = RUN_COLD;
	a->cold_pages += r->npages;
	a->ncold++;
	n = r->aprev;
	if (n && n->state == RUN_COLD) {
		ar_bins_remove(&a->cold, n);
		merge(a, n, r);
		a->ncold--;
		r = n;
	}
	n = r->anext;
	if (n && n->state == RUN_COLD) {
		ar_bins_remove(&a->cold, n);
		merge(a, r, n);
		a->ncold--;
	}
	bins_insert(&a->cold, r);
	return r;
}

/* Insert a run known to be punched and not adjacent to another cold run. */
void ar_cold_insert(ust_arena *a, struct run *r)
{
	r->state = RUN_COLD;
	a->cold_pages += r->npages;
	a->ncold++;
	bins_insert(&a->cold, r);
}

/* Punch [off, off + len) of the region. 0 or -errno (counted). No lock needed. */
int ar_punch_range(ust_arena *a, uint64_t off, uint64_t len)
{
	int rc;

	if (a->fd >= 0)
		rc = fallocate(a->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       (off_t)off, (off_t)len);
	else
		rc = madvise(a->base + off, len, MADV_REMOVE);
	if (rc < 0) {
		rc = -errno;
		atomic_fetch_add_explicit(&a->punch_errors, 1, memory_order_relaxed);
	}
	return rc;
}

/*
 * Unmap [off, off + len) from the arena's own view of the region (a
 * MAP_SHARED mapping of fd: the pages stay in the file, live records
 * included, and fault back in when touched). Only where punches go
 * through fd; with MADV_REMOVE on base the punch is the unmapping.
 */
void ar_zap(ust_arena *a, uint64_t off, uint64_t len)
{
	if (a->fd >= 0)
		(void)madvise(a->base + off, len, MADV_DONTNEED);
}

/* Does a pinned span (ust_arena_pin) overlap pages [lo, hi)? No lock. */
bool ar_pinned(const ust_arena *a, uint32_t lo, uint32_t hi)
{
	uint32_t used = atomic_load_explicit(&a->pins_hi, memory_order_acquire);

	for (unsigned i = 0; i < used; i++) {
		uint64_t p = atomic_load_explicit(&a->pins[i], memory_order_relaxed);
		uint32_t start = (uint32_t)(p >> 32), n = (uint32_t)p;

		if (n && start < hi && lo < start + n)
			return true;
	}
	return false;
}

/* Merge two lists sorted by start into one (linked by next). */
static struct run *merge_sorted(struct run *x, struct run *y)
{
	struct run head = {0}, *t = &head;

	while (x && y) {
		if (x->start < y->start) {
			t->next = x;
			x = x->next;
		} else {
			t->next = y;
			y = y->next;
		}
		t = t->next;
	}
	t->next = x ? x : y;
	return head.next;
}

/*
 * Sort a batch by start (bottom-up merge sort of the list: O(n log n), no
 * allocation). Runs freed together are often neighbours (a flushed pool's
 * values were allocated one after the other), and sorted they are punched
 * as one range each.
 */
static struct run *sort_batch(struct run *b)
{
	struct run *part[32] = {0};
	unsigned i;

	while (b) {
		struct run *one = b;

		b = b->next;
		one->next = NULL;
		for (i = 0; i < 31 && part[i]; i++) {
			one = merge_sorted(part[i], one);
			part[i] = NULL;
		}
		part[i] = one;
	}
	for (i = 0; i < 32; i++)
		b = merge_sorted(part[i], b);
	return b;
}

/*
 * Make the runs [from, to) of a sorted batch cold and wake allocations
 * waiting for room. Takes the lock.
 */
static void release_punched(ust_arena *a, struct run *from, struct run *to,
			    uint64_t calls, uint64_t bytes)
{
	pthread_mutex_lock(&a->lock);
	while (from != to) {
		struct run *next = from->next;

		from->next = NULL;
		ar_make_cold(a, from);
		from = next;
	}
	a->punches += calls;
	a->punched_bytes += bytes;
	if (a->waiters)
		pthread_cond_broadcast(&a->punched);
	pthread_mutex_unlock(&a->lock);
}

/* The end of the range that starts at run r of a sorted batch (r and the
 * runs right after it that continue it): *hi its end page; returns the run
 * after it. */
static struct run *range_end(struct run *r, uint32_t *hi)
{
	*hi = r->start + r->npages;
	for (r = r->next; r && r->start == *hi; r = r->next)
		*hi += r->npages;
	return r;
}

/*
 * Punch every run of batch (linked by next) and make them cold. Called
 * WITHOUT the lock. Adjacent runs of the batch are punched with one call,
 * and the runs punched so far are made cold every AR_PUNCH_CHUNK bytes, so
 * that an allocation waiting for room (ar_run_take) waits for one chunk,
 * not for a whole flushed pool.
 *
 * A punch of pages utmemd has mapped costs a TLB flush of its own (it
 * zaps them from every mapping of the file): on a VM, 10-70 us per call,
 * far more than freeing the pages. Ranges closer than AR_ZAP_GAP are
 * therefore grouped, and each group's whole span is first unmapped from
 * the arena's view with one ar_zap() (one flush); the punches that follow
 * find nothing of utmemd's left to unmap. The live records between the
 * ranges stay in the file and fault back in when next touched. A span
 * never covers a pinned one (the shared index): unmapped, every index
 * update after it faulted a page back in (a 1 KiB shrink's evictions
 * took 2.5 s instead of 1.9).
 */
void ar_batch_punch(ust_arena *a, struct run *batch)
{
	uint64_t calls = 0, bytes = 0;
	uint32_t zapped = 0; /* end page of the span last unmapped */
	struct run *done;

	if (!batch)
		return;
	/* Busy runs are ours alone: nothing merges or frees them meanwhile. */
	batch = sort_batch(batch);
	done = batch;
	for (struct run *r = batch; r;) {
		uint32_t lo = r->start, hi;
		struct run *n = range_end(r, &hi);

		if (lo >= zapped) {
			uint32_t ghi = hi;
			unsigned k = 1;

			for (struct run *m = n; m && (uint64_t)(m->start - ghi) * AR_P <= AR_ZAP_GAP &&
						(uint64_t)(ghi - lo) * AR_P < AR_ZAP_SPAN &&
						!ar_pinned(a, ghi, m->start); k++)
				m = range_end(m, &ghi);
			if (k > 1) {
				ar_zap(a, ar_off(a, lo), (uint64_t)(ghi - lo) * AR_P);
				zapped = ghi;
			}
		}
		(void)ar_punch_range(a, ar_off(a, lo), (uint64_t)(hi - lo) * AR_P);
		calls++;
		bytes += (uint64_t)(hi - lo) * AR_P;
		r = n;
		if (bytes >= AR_PUNCH_CHUNK || !r) {
			release_punched(a, done, r, calls, bytes);
			done = r;
			calls = bytes = 0;
		}
	}
}

/*
 * Evict warm runs, oldest first, until the cache holds at most limit bytes;
 * with idle_ns, only runs that lay in the cache at least that long, so it
 * stops at the oldest one still in use. Lock held.
 */
void ar_warm_fit(ust_arena *a, uint64_t limit, uint64_t idle_ns,
		 struct run **batch)
{
	uint64_t now = 0;

	while ((uint64_t)a->warm_pages * AR_P > limit) {
		struct run *t = a->lru_tail;

		if (idle_ns && !now)
			now = umono_ns(); /* only with something to evict */
		if (idle_ns && now - t->u.w.stamp < idle_ns)
			break;
		warm_unlink(a, t);
		ar_to_busy(a, t, batch);
	}
}

/* Move the whole warm cache to batch for punching. Lock held. */
void ar_warm_drain(ust_arena *a, struct run **batch)
{
	while (a->lru_tail) {
		struct run *t = a->lru_tail;

		warm_unlink(a, t);
		ar_to_busy(a, t, batch);
	}
}

static bool fits_warm(const ust_arena *a, const struct run *x, const struct run *y)
{
	return ((uint64_t)x->npages + y->npages) * AR_P <= a->warm_max;
}

/*
 * r (out of the map and every list, its allocation stats already removed)
 * becomes free: into the warm cache if warm_ok and it fits, else queued in
 * batch for punching; the cache is then brought down to warm_hard (its
 * oldest runs queued, a chunk at a time). Never allocates. Lock held.
 */
void ar_run_free(ust_arena *a, struct run *r, bool warm_ok, struct run **batch)
{
	struct run *n;

	if (!warm_ok || (uint64_t)r->npages * AR_P > a->warm_hard) {
		ar_to_busy(a, r, batch);
		return;
	}
	r->state = RUN_WARM;
	/*
	 * Merge with warm neighbours only while the result fits the cache:
	 * a merged run is evicted whole, and runs freed in address order would
	 * otherwise keep growing one run until all of it is punched at once.
	 */
	n = r->aprev;
	if (n && n->state == RUN_WARM && fits_warm(a, n, r)) {
		warm_unlink(a, n);
		merge(a, n, r);
		r = n;
	}
	n = r->anext;
	if (n && n->state == RUN_WARM && fits_warm(a, r, n)) {
		warm_unlink(a, n);
		merge(a, r, n);
	}
	bins_insert(&a->warm, r);
	lru_push(a, r);
	a->warm_pages += r->npages;
	a->nwarm++;
	/* Over warm_hard (above warm_max: the poll's job outran), queue a
	 * chunk's worth, not one run: sorted together, neighbours are punched
	 * as one range and close ones share one TLB flush (ar_batch_punch);
	 * one run at a time, a shrink's evictor paid a flush per record. */
	if ((uint64_t)a->warm_pages * AR_P > a->warm_hard) {
		uint64_t room = a->warm_hard - a->warm_max;

		ar_warm_fit(a, a->warm_hard - (room < AR_PUNCH_CHUNK ? room : AR_PUNCH_CHUNK),
			    0, batch);
	}
}

/*
 * Split the front npages off free run r (in bins b): returns the new front
 * descriptor, r keeps the rest (and its LRU position if warm). NULL when no
 * descriptor can be allocated (r unchanged).
 */
static struct run *split_front(ust_arena *a, struct bins *b, struct run *r,
			       uint32_t npages)
{
	struct run *d = ar_desc_new(a);

	if (!d)
		return NULL;
	ar_bins_remove(b, r);
	d->state = r->state; /* warm or cold, as ar_run_take() promises */
	d->start = r->start;
	d->npages = npages;
	r->start += npages;
	r->npages -= npages;
	addr_insert_before(a, r, d);
	bins_insert(b, r);
	return d;
}

/*
 * Cut allocated run r down to its first npages (< r->npages): the tail gets
 * a descriptor of its own, right after r in address order, and is freed
 * like any run (warm cache or punch). Returns 0, or -ENOMEM when no
 * descriptor can be allocated (r unchanged). Lock held.
 */
int ar_run_cut(ust_arena *a, struct run *r, uint32_t npages, struct run **batch)
{
	struct run *t = ar_desc_new(a);

	if (!t)
		return -ENOMEM;
	t->start = r->start + npages;
	t->npages = r->npages - npages;
	r->npages = npages;
	t->aprev = r;
	t->anext = r->anext;
	if (r->anext)
		r->anext->aprev = t;
	r->anext = t;
	t->prev = t->next = NULL;
	a->run_pages -= t->npages;
	ar_run_free(a, t, true, batch);
	return 0;
}

/*
 * Unlock, punch batch, relock: lets an allocation that found no room get
 * the runs its own call just queued. Lock held on entry and exit.
 */
static void flush_locked(ust_arena *a, struct run **batch)
{
	struct run *b = *batch;

	*batch = NULL;
	pthread_mutex_unlock(&a->lock);
	ar_batch_punch(a, b);
	pthread_mutex_lock(&a->lock);
}

/*
 * A run of exactly npages pages taken out of the free structures (state
 * still COLD or WARM: the caller sets it), or NULL for -ENOMEM. When
 * nothing fits, it first gets room that is on its way: the caller's own
 * batch, punches in flight elsewhere (waits for them), deferred ranges
 * (retried again whenever a range was deferred since the last retry: while
 * this call punched with the lock dropped, another thread may have taken
 * the room the retry freed and deferred ranges of its own), and last the
 * warm cache (punched, so that its runs coalesce with the cold ones around
 * them). Lock held; may drop it while waiting.
 */
struct run *ar_run_take(ust_arena *a, uint32_t npages, struct run **batch)
{
	bool retried = false, drained = false;
	uint64_t gen = 0;

	for (;;) {
		struct run *r = bins_find(&a->warm, npages);
		struct bins *b = &a->warm;

		if (!r) {
			r = bins_find(&a->cold, npages);
			b = &a->cold;
		}
		if (r) {
			if (r->npages > npages) {
				r = split_front(a, b, r, npages);
				if (!r)
					return NULL;
			} else if (b == &a->warm) {
				warm_unlink(a, r);
				return r;
			} else {
				ar_bins_remove(b, r);
				a->ncold--;
			}
			if (b == &a->warm)
				a->warm_pages -= npages;
			else
				a->cold_pages -= npages;
			return r;
		}
		if (*batch) {
			flush_locked(a, batch);
		} else if (a->busy_pages) {
			a->waiters++;
			pthread_cond_wait(&a->punched, &a->lock);
			a->waiters--;
		} else if (a->ndef && (!retried || a->def_gen != gen)) {
			retried = true;
			gen = a->def_gen;
			ar_retry(a, batch);
		} else if (a->warm_pages && !drained) {
			/* warm runs split the cold space: punch them, coalesce, retry */
			drained = true;
			ar_warm_drain(a, batch);
		} else {
			return NULL;
		}
	}
}

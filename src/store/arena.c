/*
 * arena.c — the arena's public entry points (arena.h): configuration,
 * allocation and release, the charge formula, the reclaim calls (poll,
 * force, trim, scrub) and statistics. The mechanisms live in arena_run.c
 * (page runs, warm cache, punching), arena_slab.c (size classes, slabs),
 * arena_hazard.c (hazards, deferred ranges) and arena_map.c.
 *
 * Locking: one mutex per arena around the metadata. The expensive steps run
 * outside it: the hazard scan of a release (the range is not reachable by
 * anyone until it is put back, so the scan need not be atomic with it) and
 * every punch (ar_batch_punch). Metadata allocations (descriptors, map
 * growth) happen under it, on the allocation path; release allocates only
 * to shrink the map and ignores a failure, so it cannot fail for lack of
 * memory.
 *
 * The charge. ust_arena_charge(len) = ust_arena_size(len) + metadata, where
 * the metadata of a page-run allocation is AR_ALLOC_META = 224 bytes: its
 * own descriptor (80), one free-run descriptor (80: cold runs are
 * coalesced, so there is at most one more of them than there are other
 * runs), and its map entry (the map stays at least 1/4 full: at most 4
 * slots of 16 bytes). A slab object is charged its slab's AR_ALLOC_META
 * divided by the objects per slab, rounded up (1 B for 16-byte objects,
 * 56 B for 4 and 5 KiB ones). Not charged per allocation (fixed per arena, in
 * stats.meta_bytes): the arena itself, the map's minimum 64 slots, the
 * deferred list and hazard snapshot (48 B per hazard word), descriptors of
 * warm, deferred and in-flight runs (at most warm_hard / 4 KiB +
 * nhazards + those being punched), and the metadata of slabs beyond their
 * objects' share when they are partly empty (bounded by the number of
 * slabs, which compaction keeps down).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/arena_int.h"
#include "proto/clock.h"

#define AR_DESC_COST 80u
#define AR_MAP_COST (4u * (unsigned)sizeof(struct amap_slot))
#define AR_ALLOC_META (2u * AR_DESC_COST + AR_MAP_COST)

_Static_assert(sizeof(struct run) == AR_DESC_COST, "run descriptor is charged as 80 bytes");
_Static_assert(sizeof(struct amap_slot) == 16, "map slot is charged as 16 bytes");

size_t ust_arena_class_size(unsigned i)
{
	return i < UST_ARENA_NCLASSES ? ar_cls(i)->size : 0;
}

unsigned ust_arena_class_of(size_t len)
{
	return ar_cls_of(len);
}

/* Pages of a page-run allocation of len > UST_ARENA_SMALL_MAX. */
static uint64_t pages_of(size_t len)
{
	return ((uint64_t)len + AR_P - 1) / AR_P;
}

size_t ust_arena_size(size_t len)
{
	if (!len)
		len = 1;
	if (len <= UST_ARENA_SMALL_MAX)
		return ar_cls(ar_cls_of(len))->size;
	return (size_t)(pages_of(len) * AR_P);
}

uint64_t ust_arena_charge(size_t len)
{
	if (!len)
		len = 1;
	if (len <= UST_ARENA_SMALL_MAX) {
		const struct cls *k = ar_cls(ar_cls_of(len));

		return k->size + (AR_ALLOC_META + k->nobjs - 1u) / k->nobjs;
	}
	return pages_of(len) * AR_P + AR_ALLOC_META;
}

/*
 * The arena's lock is taken for every allocation and release of a tenant's
 * region, by every worker serving one of its connections; it is held for a
 * few hundred nanoseconds. An adaptive mutex spins that long before it
 * sleeps: with two workers applying one tenant's posted PUTs, the plain
 * mutex's futex sleeps and wakes were most of their time. Returns 0 or an
 * errno value.
 */
static int ar_mutex_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t at;
	int rc = pthread_mutexattr_init(&at);

	if (rc)
		return rc;
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
	(void)pthread_mutexattr_settype(&at, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
	rc = pthread_mutex_init(m, &at);
	pthread_mutexattr_destroy(&at);
	return rc;
}

int ust_arena_create(const struct ust_arena_cfg *cfg, ust_arena **out)
{
	uint64_t pages;
	ust_arena *a;
	struct run *r;
	int rc;

	*out = NULL;
	if (sysconf(_SC_PAGESIZE) != AR_P)
		return -ENOTSUP;
	if (!cfg || !cfg->heap_off || cfg->heap_off % AR_P || !cfg->heap_len ||
	    cfg->heap_len % AR_P || cfg->heap_off + cfg->heap_len < cfg->heap_off)
		return -EINVAL;
	pages = cfg->heap_len / AR_P;
	if (pages > UINT32_MAX)
		return -EINVAL;
	if (cfg->fd < 0 && (!cfg->base || (uintptr_t)cfg->base % AR_P))
		return -EINVAL;
	if (cfg->nhazards && (!cfg->hazards || (uintptr_t)cfg->hazards % 8 ||
			      cfg->hazard_stride < 8 || cfg->hazard_stride % 8))
		return -EINVAL;
	if (cfg->fd >= 0) {
		struct stat st;

		if (fstat(cfg->fd, &st) < 0)
			return -errno;
		if ((uint64_t)st.st_size < cfg->heap_off + cfg->heap_len)
			return -EINVAL;
	}

	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->base = cfg->base;
	a->fd = cfg->fd;
	a->heap_off = cfg->heap_off;
	a->heap_pages = (uint32_t)pages;
	a->warm_max = cfg->warm_max;
	a->warm_hard = cfg->warm_hard > cfg->warm_max ? cfg->warm_hard : cfg->warm_max;
	/* warm_poll within [warm_max, warm_hard]; 0 = warm_hard */
	a->warm_poll = cfg->warm_poll ? cfg->warm_poll : a->warm_hard;
	if (a->warm_poll > a->warm_hard)
		a->warm_poll = a->warm_hard;
	if (a->warm_poll < a->warm_max)
		a->warm_poll = a->warm_max;
	a->warm_idle_ns = cfg->warm_idle_ns;
	a->slack_free = cfg->slack_free;
	a->haz = cfg->nhazards ? (const volatile char *)cfg->hazards : NULL;
	a->nhaz = cfg->nhazards;
	atomic_init(&a->haz_live, a->nhaz);
	a->haz_stride = cfg->hazard_stride;
	rc = -ENOMEM;
	if (ar_mutex_init(&a->lock))
		goto fail_free;
	if (pthread_cond_init(&a->punched, NULL))
		goto fail_mutex;
	if (ar_map_init(&a->map) < 0)
		goto fail_cond;
	if (a->nhaz) {
		a->def = calloc(a->nhaz, sizeof(*a->def));
		a->snap = calloc(a->nhaz, sizeof(*a->snap));
		if (!a->def || !a->snap)
			goto fail_map;
	}
	r = ar_desc_new(a);
	if (!r)
		goto fail_map;
	r->npages = a->heap_pages;
	a->first = r;
	/* The heap is assumed free: make sure it holds no pages. */
	rc = ar_punch_range(a, a->heap_off, cfg->heap_len);
	if (rc < 0) {
		ar_desc_free(a, r);
		goto fail_map;
	}
	ar_cold_insert(a, r);
	*out = a;
	return 0;

fail_map:
	free(a->def);
	free(a->snap);
	ar_map_fini(&a->map);
fail_cond:
	pthread_cond_destroy(&a->punched);
fail_mutex:
	pthread_mutex_destroy(&a->lock);
fail_free:
	free(a);
	return rc;
}

void ust_arena_destroy(ust_arena *a)
{
	struct run *r;

	if (!a)
		return;
	r = a->first;
	while (r) {
		struct run *n = r->anext;

		free(r);
		r = n;
	}
	ar_map_fini(&a->map);
	free(a->def);
	free(a->snap);
	pthread_cond_destroy(&a->punched);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

/* Retry deferred ranges if any and none was retried for AR_RETRY_NS. */
static void maybe_retry(ust_arena *a, struct run **batch)
{
	if (a->ndef && umono_ns() - a->last_retry >= AR_RETRY_NS)
		ar_retry(a, batch);
}

/* A page-run allocation of npages, or -ENOMEM. Lock held (may be dropped). */
static int64_t run_alloc(ust_arena *a, uint32_t npages, struct run **batch,
			 bool *resident)
{
	struct run *r = ar_run_take(a, npages, batch);

	if (!r)
		return -ENOMEM;
	/* ar_run_take may drop the lock, so reserve the map slot only now. */
	if (ar_map_reserve(&a->map, 1) < 0) {
		ar_run_free(a, r, false, batch);
		return -ENOMEM;
	}
	*resident = r->state == RUN_WARM; /* its free state, before ALLOC */
	r->state = RUN_ALLOC;
	r->prev = r->next = NULL;
	ar_map_put(&a->map, r->start, r);
	a->run_count++;
	a->run_pages += npages;
	return (int64_t)ar_off(a, r->start);
}

int64_t ust_arena_alloc_resident(ust_arena *a, size_t len, bool *resident)
{
	struct run *batch = NULL, *fresh = NULL;
	uint64_t map_off = 0, map_len = 0;
	int64_t off;

	*resident = false;
	if (!len)
		len = 1;
	if (len > (uint64_t)a->heap_pages * AR_P)
		return -ENOMEM;
	pthread_mutex_lock(&a->lock);
	maybe_retry(a, &batch);
	if (len <= UST_ARENA_SMALL_MAX) {
		off = ar_slab_alloc(a, ar_cls_of(len), &batch, &fresh);
		/* A new slab of objects a page or larger: mapped in whole
		 * below, one call instead of a fault per page as its objects
		 * are first written (it lives: it holds the object returned). */
		if (off >= 0 && fresh && ar_cls(fresh->cls)->size >= AR_P) {
			map_off = ar_off(a, fresh->start);
			map_len = (uint64_t)ar_cls(fresh->cls)->pages * AR_P;
		}
	} else {
		off = run_alloc(a, (uint32_t)pages_of(len), &batch, resident);
	}
	pthread_mutex_unlock(&a->lock);
	ar_batch_punch(a, batch);
	if (map_len) {
		ust_arena_map_in(a, map_off, map_len);
		*resident = true;
	}
	return off;
}

int64_t ust_arena_alloc(ust_arena *a, size_t len, size_t *occupied)
{
	bool resident;
	int64_t off = ust_arena_alloc_resident(a, len, &resident);

	if (off >= 0 && occupied)
		*occupied = ust_arena_size(len);
	return off;
}

void ust_arena_prefetch(ust_arena *a, uint64_t off, size_t len)
{
	if (off < a->heap_off)
		return;
	if (len && len <= UST_ARENA_SMALL_MAX)
		ar_slab_prefetch(a, off, ar_cls_of(len));
	else
		ar_map_prefetch(&a->map, (uint32_t)((off - a->heap_off) / AR_P));
}

/* Is (off, len) a range release could take? Fills d's offset and size. */
static bool release_ok(const ust_arena *a, uint64_t off, size_t len, struct deferred *d)
{
	uint64_t heap_end = a->heap_off + (uint64_t)a->heap_pages * AR_P;

	if (!len)
		len = 1;
	*d = (struct deferred){ .off = off, .small = len <= UST_ARENA_SMALL_MAX };
	d->len = ust_arena_size(len);
	return off >= a->heap_off && off < heap_end && d->len <= heap_end - off &&
	       off % (d->small ? UST_ARENA_ALIGN : AR_P) == 0;
}

/*
 * Free the checked range d (its hazard test done: hit) into batch, or
 * -EINVAL if it is not a live allocation (nothing changes). Lock held.
 */
static int release_locked(ust_arena *a, struct deferred *d, size_t len, bool hit,
			  struct run **batch)
{
	atomic_store_explicit(&a->quiet, false, memory_order_relaxed);
	if (d->small) {
		unsigned c = ar_cls_of(len ? len : 1);

		d->r = ar_slab_find(a, d->off, c);
		if (!d->r || !ar_slab_taken(d->r, a, d->off) ||
		    (a->ndef && ar_is_deferred(a, d->off)))
			return -EINVAL;
		a->class_count[c]--;
	} else {
		uint32_t pg = (uint32_t)((d->off - a->heap_off) / AR_P);

		d->r = ar_map_get(&a->map, pg);
		if (!d->r || d->r->state != RUN_ALLOC || d->r->npages != d->len / AR_P)
			return -EINVAL;
		ar_map_del(&a->map, pg);
		ar_map_shrink(&a->map);
		a->run_count--;
		a->run_pages -= d->r->npages;
	}
	if (hit) {
		d->stamp = umono_ns();
		ar_defer(a, d, batch);
	} else {
		ar_free_now(a, d, true, batch);
	}
	return 0;
}

int ust_arena_release(ust_arena *a, uint64_t off, size_t len)
{
	struct run *batch = NULL;
	struct deferred d;
	bool hit;
	int err;

	if (!release_ok(a, off, len, &d))
		return -EINVAL;
	/* Pairs with the reader's seq_cst hazard store (arena_hazard.c). */
	atomic_thread_fence(memory_order_seq_cst);
	hit = a->nhaz && ar_haz_hit(a, off, d.len);

	pthread_mutex_lock(&a->lock);
	err = release_locked(a, &d, len, hit, &batch);
	if (!err && !hit)
		maybe_retry(a, &batch);
	pthread_mutex_unlock(&a->lock);
	ar_batch_punch(a, batch);
	return err;
}

/* Fetch the descriptor of the run or slab holding (off, len) ahead: its
 * map slot, fetched ahead before, is read (a miss otherwise), the
 * descriptor it names is not. Lock held. */
static void ar_desc_prefetch(ust_arena *a, uint64_t off, size_t len)
{
	const struct run *r;
	uint64_t i = 0, pg;

	if (off < a->heap_off)
		return;
	if (len && len <= UST_ARENA_SMALL_MAX)
		pg = ar_slab_first_page(a, off, ar_cls_of(len), &i);
	else
		pg = (off - a->heap_off) / AR_P;
	if (pg == UINT64_MAX || pg >= a->heap_pages)
		return;
	r = ar_map_get(&a->map, (uint32_t)pg);
	if (r) {
		__builtin_prefetch(r, 1);
		__builtin_prefetch((const char *)r + sizeof(*r) - 1, 1);
	}
}

/* Stages of ust_arena_release_many's look-ahead: map slots this far on,
 * the descriptors they name half as far. */
#define RELEASE_AHEAD 4u

/* ust_arena_release_many() of n <= 64 ranges. */
static unsigned release_chunk(ust_arena *a, const uint64_t *off, const size_t *len,
			      unsigned n)
{
	struct run *batch = NULL;
	unsigned bad = 0;
	uint64_t hits = 0; /* bit i: range i is under a hazard */

	atomic_thread_fence(memory_order_seq_cst); /* as in ust_arena_release */
	for (unsigned i = 0; i < n; i++) {
		struct deferred d;

		if (a->nhaz && release_ok(a, off[i], len[i], &d) &&
		    ar_haz_hit(a, off[i], d.len))
			hits |= 1ull << i;
	}
	pthread_mutex_lock(&a->lock);
	for (unsigned i = 0; i < n && i < RELEASE_AHEAD; i++)
		ust_arena_prefetch(a, off[i], len[i]);
	for (unsigned i = 0; i < n; i++) {
		struct deferred d;

		if (i + RELEASE_AHEAD < n)
			ust_arena_prefetch(a, off[i + RELEASE_AHEAD], len[i + RELEASE_AHEAD]);
		if (i + RELEASE_AHEAD / 2 < n)
			ar_desc_prefetch(a, off[i + RELEASE_AHEAD / 2], len[i + RELEASE_AHEAD / 2]);
		if (!release_ok(a, off[i], len[i], &d) ||
		    release_locked(a, &d, len[i], (hits >> i) & 1, &batch))
			bad++;
	}
	maybe_retry(a, &batch);
	pthread_mutex_unlock(&a->lock);
	ar_batch_punch(a, batch);
	return bad;
}

unsigned ust_arena_release_many(ust_arena *a, const uint64_t *off, const size_t *len,
				unsigned n)
{
	unsigned bad = 0;

	for (unsigned i = 0; i < n; i += 64)
		bad += release_chunk(a, off + i, len + i, n - i < 64 ? n - i : 64);
	return bad;
}

int ust_arena_shrink(ust_arena *a, uint64_t off, size_t old_len, size_t new_len)
{
	uint64_t heap_end = a->heap_off + (uint64_t)a->heap_pages * AR_P;
	struct run *batch = NULL, *r;
	uint32_t pg;
	int err = 0;

	if (old_len <= UST_ARENA_SMALL_MAX || new_len <= UST_ARENA_SMALL_MAX ||
	    new_len > old_len || off < a->heap_off || off >= heap_end ||
	    (off - a->heap_off) % AR_P)
		return -EINVAL;
	if (pages_of(new_len) == pages_of(old_len))
		return 0;
	pg = (uint32_t)((off - a->heap_off) / AR_P);
	pthread_mutex_lock(&a->lock);
	atomic_store_explicit(&a->quiet, false, memory_order_relaxed);
	r = ar_map_get(&a->map, pg);
	if (!r || r->state != RUN_ALLOC || r->npages != pages_of(old_len))
		err = -EINVAL;
	else
		err = ar_run_cut(a, r, (uint32_t)pages_of(new_len), &batch);
	pthread_mutex_unlock(&a->lock);
	ar_batch_punch(a, batch);
	return err;
}

bool ust_arena_should_move(ust_arena *a, uint64_t off, size_t len)
{
	uint64_t heap_end = a->heap_off + (uint64_t)a->heap_pages * AR_P;
	struct run *s;
	bool yes = false;

	if (!len)
		len = 1;
	if (len > UST_ARENA_SMALL_MAX || off < a->heap_off || off >= heap_end ||
	    off % UST_ARENA_ALIGN)
		return false;
	pthread_mutex_lock(&a->lock);
	s = ar_slab_find(a, off, ar_cls_of(len));
	if (s && ar_slab_taken(s, a, off))
		yes = ar_slab_should_move(a, s);
	pthread_mutex_unlock(&a->lock);
	return yes;
}

void ust_arena_slack(ust_arena *a, uint64_t *slack, uint64_t *taken)
{
	uint64_t slab = atomic_load_explicit(&a->small_slab_bytes, memory_order_relaxed);
	uint64_t used = atomic_load_explicit(&a->small_taken_bytes, memory_order_relaxed);

	/* Two loads, not one snapshot: clamp a slab counted before its object. */
	*slack = slab > used ? slab - used : 0;
	*taken = used;
}

uint64_t ust_arena_poll(ust_arena *a)
{
	struct run *batch = NULL;
	uint64_t left;

	pthread_mutex_lock(&a->lock);
	ar_retry(a, &batch);
	ar_warm_fit(a, a->warm_poll, 0, &batch);
	ar_warm_fit(a, a->warm_max, a->warm_idle_ns, &batch);
	if (a->slot_warm > a->warm_max)
		(void)ar_slabs_scrub(a, true, a->warm_max / 2, &batch);
	left = a->def_bytes;
	atomic_store_explicit(&a->quiet,
			      !a->ndef && a->warm_pages * AR_P <= a->warm_max &&
				      a->slot_warm <= a->warm_max,
			      memory_order_relaxed);
	pthread_mutex_unlock(&a->lock);
	ar_batch_punch(a, batch);
	return left;
}

bool ust_arena_quiet(ust_arena *a)
{
	return atomic_load_explicit(&a->quiet, memory_order_relaxed);
}

uint64_t ust_arena_force(ust_arena *a, uint64_t age_ns)
{
	struct run *batch = NULL;
	uint64_t bytes;

	pthread_mutex_lock(&a->lock);
	bytes = ar_force(a, age_ns, &batch);
	pthread_mutex_unlock(&a->lock);
	ar_batch_punch(a, batch);
	return bytes;
}

/* Bytes of the runs in a batch. */
static uint64_t batch_bytes(const struct run *b)
{
	uint64_t n = 0;

	for (; b; b = b->next)
		n += (uint64_t)b->npages * AR_P;
	return n;
}

uint64_t ust_arena_trim(ust_arena *a)
{
	struct run *batch = NULL;
	uint64_t bytes;

	pthread_mutex_lock(&a->lock);
	ar_retry(a, &batch);
	ar_warm_drain(a, &batch);
	bytes = ar_slabs_scrub(a, true, 0, &batch);
	bytes += batch_bytes(batch);
	pthread_mutex_unlock(&a->lock);
	ar_batch_punch(a, batch);
	return bytes;
}

/*
 * Punch the cold runs again, one at a time and outside the lock, walking
 * the address list with a page cursor: a run punched is made cold again
 * and may merge with a neighbour not yet scrubbed, whose part past the
 * cursor is then punched next. Only one run is out of reach of
 * allocations at a time (they wait for it rather than fail). Then every
 * page of a slab that only free slots overlap (ar_slab_scrub).
 */
uint64_t ust_arena_scrub(ust_arena *a)
{
	uint64_t bytes = ust_arena_trim(a);
	struct run *r, *one, *batch = NULL;
	uint32_t cursor = 0;

	pthread_mutex_lock(&a->lock);
	r = a->first;
	while (r) {
		uint32_t lo, hi = r->start + r->npages;

		if (r->state != RUN_COLD || hi <= cursor) {
			r = r->anext;
			continue;
		}
		lo = r->start > cursor ? r->start : cursor;
		ar_bins_remove(&a->cold, r);
		a->ncold--;
		a->cold_pages -= r->npages;
		one = NULL;
		ar_to_busy(a, r, &one);
		pthread_mutex_unlock(&a->lock);
		(void)ar_punch_range(a, ar_off(a, lo), (uint64_t)(hi - lo) * AR_P);
		pthread_mutex_lock(&a->lock);
		a->punches++;
		a->punched_bytes += (uint64_t)(hi - lo) * AR_P;
		bytes += (uint64_t)(hi - lo) * AR_P;
		cursor = hi;
		r->next = NULL;
		r = ar_make_cold(a, r);
		if (a->waiters)
			pthread_cond_broadcast(&a->punched);
	}
	/* Then the free pages inside slabs. */
	bytes += ar_slabs_scrub(a, false, 0, &batch);
	pthread_mutex_unlock(&a->lock);
	ar_batch_punch(a, batch);
	return bytes;
}

int64_t ust_arena_deferred_take(ust_arena *a)
{
	return atomic_exchange(&a->def_delta, 0);
}

bool ust_arena_deferred_changed(ust_arena *a)
{
	return atomic_load_explicit(&a->def_delta, memory_order_relaxed) != 0;
}

void ust_arena_stats(ust_arena *a, struct ust_arena_stats *o)
{
	uint64_t taken;

	memset(o, 0, sizeof(*o));
	pthread_mutex_lock(&a->lock);
	o->heap_bytes = (uint64_t)a->heap_pages * AR_P;
	for (unsigned c = 0; c < UST_ARENA_NCLASSES; c++) {
		o->class_count[c] = a->class_count[c];
		o->class_bytes[c] = a->class_count[c] * ar_cls(c)->size;
		o->alloc_count += o->class_count[c];
		o->alloc_bytes += o->class_bytes[c];
	}
	o->run_count = a->run_count;
	o->run_bytes = a->run_pages * AR_P;
	o->alloc_count += o->run_count;
	o->alloc_bytes += o->run_bytes;
	o->slabs = a->slabs;
	o->slab_bytes = a->slab_pages * AR_P;
	o->evac_slabs = a->evac_slabs;
	o->resident_bytes = ((uint64_t)a->heap_pages - a->cold_pages) * AR_P;
	o->warm_bytes = a->warm_pages * AR_P;
	o->warm_slot_bytes = a->slot_warm;
	ust_arena_slack(a, &o->slack_bytes, &taken);
	o->warm_runs = a->nwarm;
	o->deferred_bytes = a->def_bytes;
	o->deferred_count = a->ndef;
	o->cold_runs = a->ncold;
	o->cold_bytes = a->cold_pages * AR_P;
	o->busy_bytes = a->busy_pages * AR_P;
	o->meta_bytes = sizeof(*a) + a->nruns_desc * sizeof(struct run) +
			ar_map_bytes(&a->map) +
			(uint64_t)a->nhaz * (sizeof(*a->def) + sizeof(*a->snap));
	o->punches = a->punches;
	o->punched_bytes = a->punched_bytes;
	o->forced_bytes = a->forced_bytes;
	pthread_mutex_unlock(&a->lock);
	o->punch_errors = atomic_load_explicit(&a->punch_errors, memory_order_relaxed);
}

int64_t ust_arena_resident(ust_arena *a)
{
	struct stat st;

	if (a->fd < 0)
		return -ENOTSUP;
	if (fstat(a->fd, &st) < 0)
		return -errno;
	return (int64_t)st.st_blocks * 512;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

void ust_arena_map_in(ust_arena *a, uint64_t off, uint64_t len)
{
	uint64_t start = off & ~(uint64_t)(AR_P - 1);
	uint64_t end = (off + len + AR_P - 1) & ~(uint64_t)(AR_P - 1);

	(void)madvise(a->base + start, end - start, MADV_POPULATE_WRITE);
}

void ust_arena_copy(ust_arena *a, uint64_t dst, uint64_t src, size_t len)
{
	loff_t in = (loff_t)src, out = (loff_t)dst;
	size_t done = 0;

	while (a->fd >= 0 && len >= AR_COPY_FILE_MIN && done < len) {
		ssize_t n = copy_file_range(a->fd, &in, a->fd, &out, len - done, 0);

		if (n <= 0)
			break;
		done += (size_t)n;
	}
	if (done < len)
		memcpy(a->base + dst + done, a->base + src + done, len - done);
}

/* [off, off + len) as pinned-span word: first heap page << 32 | pages. */
static uint64_t pin_word(const ust_arena *a, uint64_t off, uint64_t len)
{
	uint64_t lo = (off - a->heap_off) / AR_P;
	uint64_t hi = (off - a->heap_off + len + AR_P - 1) / AR_P;

	return lo << 32 | (hi - lo);
}

int ust_arena_pin(ust_arena *a, uint64_t off, uint64_t len)
{
	uint64_t w;
	int err = -ENOSPC;

	if (off < a->heap_off || !len ||
	    len > (uint64_t)a->heap_pages * AR_P - (off - a->heap_off))
		return -EINVAL;
	w = pin_word(a, off, len);
	pthread_mutex_lock(&a->lock);
	for (unsigned i = 0; i < AR_PINS; i++) {
		if (!atomic_load_explicit(&a->pins[i], memory_order_relaxed)) {
			atomic_store_explicit(&a->pins[i], w, memory_order_relaxed);
			if (i >= atomic_load_explicit(&a->pins_hi, memory_order_relaxed))
				atomic_store_explicit(&a->pins_hi, i + 1, memory_order_release);
			err = 0;
			break;
		}
	}
	pthread_mutex_unlock(&a->lock);
	return err;
}

void ust_arena_unpin(ust_arena *a, uint64_t off, uint64_t len)
{
	uint64_t w;

	if (off < a->heap_off || !len ||
	    len > (uint64_t)a->heap_pages * AR_P - (off - a->heap_off))
		return;
	w = pin_word(a, off, len);
	pthread_mutex_lock(&a->lock);
	for (unsigned i = 0; i < AR_PINS; i++) {
		if (atomic_load_explicit(&a->pins[i], memory_order_relaxed) == w) {
			atomic_store_explicit(&a->pins[i], 0, memory_order_relaxed);
			break;
		}
	}
	pthread_mutex_unlock(&a->lock);
}

void ust_arena_populate(ust_arena *a, uint64_t off, uint64_t len)
{
	uint64_t start = off & ~(uint64_t)(AR_P - 1);
	uint64_t end = (off + len + AR_P - 1) & ~(uint64_t)(AR_P - 1);

	if (a->fd < 0) {
		ust_arena_map_in(a, off, len); /* no file: mapping is allocating */
		return;
	}
	(void)fallocate(a->fd, FALLOC_FL_KEEP_SIZE, (off_t)start,
			(off_t)(end - start));
}

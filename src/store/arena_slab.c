/*
 * arena_slab.c — size classes and slabs for requests up to
 * UST_ARENA_SMALL_MAX bytes.
 *
 * Classes: 16-byte steps up to 128 B (waste under 13 %), then four per
 * doubling (160, 192, 224, 256, 320, ...; waste under 25 %), up to 16 KiB,
 * plus one class 64 bytes above each of 512 B, 1, 2, 4, 8 and 16 KiB.
 * Those are for utmemd's records ([8-byte header][key][value],
 * src/proto/region.h): values are very often a power of two (1 KiB in the
 * Redis benchmarks, a 4 KiB page in tmem, 16 KiB items), and header + key
 * push them just past a class, into the next one a quarter higher (a 4 KiB
 * value with a 16-byte key took 5120 bytes, 24 % more; in class 4160 it
 * takes 1 %). Slabs go up to 16 KiB + 64 because of the same bound: as a
 * page run, a 16 KiB value with its key took five pages, 25 % more.
 *
 * A class's slab is the smallest run of 1..16 pages holding at least four
 * objects whose tail waste is at most 1/64 of it (else the least wasteful
 * such run): e.g. 1 page for 16 B (256 objects), 4 pages for 4096 (4),
 * 16 for 4160 (15). At least four, because a slab's descriptor and map
 * entry (224 B, arena.c) are charged to its objects in equal shares: a
 * 1-object slab charged a 4 KiB page 224 B, a 4-object one 56 B. Where no
 * run of 16 pages holds four (16448 only), the same rule looks at runs of
 * up to AR_SLAB_MAXPAGES pages: 53 pages for 13 objects.
 *
 * A slab is a page run in state RUN_SLAB with a bitmap of taken slots
 * (live or deferred) in its descriptor. Partial slabs of a class sit in
 * four lists by fullness and an allocation takes the fullest one first, so
 * that free slots concentrate in few slabs; those slabs empty out, and an
 * empty slab's pages go back at once (warm cache or punch, arena_run.c).
 * should_move() flags a slab at most half full (three quarters while the
 * free bytes of the slabs under a page outweigh slack_free and half their
 * objects' bytes) whose objects fit in
 * the other partial slabs of the class as "evacuating": allocations avoid
 * it (unless nothing else has room), so the store moving its objects
 * empties it. Callers hold the arena lock.
 */
#include <errno.h>

#include "store/arena_int.h"

/*
 * { size, slab pages, objects per slab } by the rules above, written out so
 * that the allocation path and the pure charge read constants.
 * tests/unit/store/test_arena.c recomputes the layout rule independently
 * (through the charge, which depends on the objects per slab).
 */
const struct cls ar_cls_tab[UST_ARENA_NCLASSES] = {
	{ 16, 1, 256 }, { 32, 1, 128 }, { 48, 1, 85 }, { 64, 1, 64 },
	{ 80, 1, 51 }, { 96, 1, 42 }, { 112, 1, 36 }, { 128, 1, 32 },
	{ 160, 2, 51 }, { 192, 1, 21 }, { 224, 1, 18 }, { 256, 1, 16 },
	{ 320, 3, 38 }, { 384, 2, 21 }, { 448, 1, 9 }, { 512, 1, 8 },
	{ 576, 1, 7 }, { 640, 3, 19 }, { 768, 3, 16 }, { 896, 2, 9 },
	{ 1024, 1, 4 }, { 1088, 4, 15 }, { 1280, 5, 16 }, { 1536, 3, 8 },
	{ 1792, 4, 9 }, { 2048, 2, 4 }, { 2112, 11, 21 }, { 2560, 5, 8 },
	{ 3072, 3, 4 }, { 3584, 7, 8 }, { 4096, 4, 4 }, { 4160, 16, 15 },
	{ 5120, 5, 4 }, { 6144, 6, 4 }, { 7168, 7, 4 }, { 8192, 8, 4 },
	{ 8256, 15, 7 }, { 10240, 10, 4 }, { 12288, 12, 4 }, { 14336, 14, 4 },
	{ 16384, 16, 4 }, { 16448, 53, 13 },
};

/*
 * Class of 1 <= len <= UST_ARENA_SMALL_MAX. Pure arithmetic: the 16-byte
 * steps, then the four classes of len's doubling (base, 2 * base], shifted
 * by the "power of two + 64" classes below them, unless len is one of
 * those (base < len <= base + 64 for base 512 .. 16384; of the doubling
 * above 16 KiB only that class is a slab).
 */
unsigned ar_cls_of(size_t len)
{
	unsigned lg, below, p64;
	size_t base, k;

	if (len <= 128)
		return len ? (unsigned)((len + 15) / 16 - 1) : 0;
	lg = 63u - (unsigned)__builtin_clzll((unsigned long long)(len - 1));
	base = (size_t)1 << lg;
	p64 = lg >= 9 && lg <= 14;     /* this doubling has a +64 class */
	below = lg < 9 ? 0 : lg - 9;   /* +64 classes of lower doublings */
	if (p64 && len <= base + 64)
		return 8u + (lg - 7) * 4u + below;
	k = (len - base + base / 4 - 1) / (base / 4);
	return 8u + (lg - 7) * 4u + (unsigned)(k - 1) + below + p64;
}

/* ---- per-class slab lists ---- */

/* The fullness list of a slab of class k with nfree free slots. */
static unsigned bucket_for(const struct cls *k, uint32_t nfree)
{
	return (unsigned)((k->nobjs - nfree) * AR_NBUCKETS / k->nobjs);
}

static unsigned bucket_of(const struct run *s, const struct cls *k)
{
	return bucket_for(k, s->nfree);
}

static bool partial(const struct run *s, const struct cls *k)
{
	return s->nfree && s->nfree < k->nobjs;
}

static struct run **list_of(ust_arena *a, struct run *s, const struct cls *k)
{
	struct cslabs *cs = &a->cs[s->cls];

	if (s->evac)
		return &cs->evac;
	s->bucket = (uint8_t)bucket_of(s, k);
	return &cs->bucket[s->bucket];
}

/* Put a slab in the list its fullness and flag call for (none if full/empty). */
static void slab_list(ust_arena *a, struct run *s)
{
	const struct cls *k = ar_cls(s->cls);
	struct run **head;

	if (!partial(s, k))
		return;
	head = list_of(a, s, k);
	s->prev = NULL;
	s->next = *head;
	if (s->next)
		s->next->prev = s;
	*head = s;
	if (!s->evac)
		a->cs[s->cls].free_slots += s->nfree;
}

/* Take a slab out of its list (no-op if it is in none). */
static void slab_unlist(ust_arena *a, struct run *s)
{
	const struct cls *k = ar_cls(s->cls);
	struct cslabs *cs = &a->cs[s->cls];
	struct run **head;

	if (!partial(s, k))
		return;
	head = s->evac ? &cs->evac : &cs->bucket[s->bucket];
	if (s->prev)
		s->prev->next = s->next;
	else
		*head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	if (!s->evac)
		cs->free_slots -= s->nfree;
}

static void set_evac(ust_arena *a, struct run *s, bool on)
{
	slab_unlist(a, s);
	s->evac = on;
	if (on)
		a->evac_slabs++;
	else
		a->evac_slabs--;
	slab_list(a, s);
}

/* s's free slots no longer count as unpunched (looked at, or s emptied). */
static void slots_cool(ust_arena *a, struct run *s)
{
	a->slot_warm -= (uint64_t)s->nwarm * ar_cls(s->cls)->size;
	s->nwarm = 0;
}

/* An emptied slab leaves the map and the counts (its run is freed next). */
static void slab_gone(ust_arena *a, struct run *s)
{
	const struct cls *k = ar_cls(s->cls);

	ar_map_del(&a->map, s->start);
	ar_map_shrink(&a->map);
	a->slabs--;
	a->slab_pages -= k->pages;
	if (!ar_page_class(s->cls))
		ar_count(&a->small_slab_bytes, -(int64_t)k->pages * AR_P);
}

/* A new slab of class c, or NULL (-ENOMEM). Not in any list yet. */
static struct run *slab_new(ust_arena *a, unsigned c, struct run **batch)
{
	const struct cls *k = ar_cls(c);
	struct run *s = ar_run_take(a, k->pages, batch);

	if (!s)
		return NULL;
	/* ar_run_take may drop the lock, so reserve the map slot only now. */
	if (ar_map_reserve(&a->map, 1) < 0) {
		ar_run_free(a, s, false, batch);
		return NULL;
	}
	s->state = RUN_SLAB;
	s->cls = (uint8_t)c;
	s->evac = 0;
	s->nfree = k->nobjs;
	s->hint = 0;
	s->nwarm = 0;
	s->prev = s->next = NULL;
	/* Slots past nobjs are marked taken so the search never finds them. */
	for (unsigned w = 0; w < AR_SLAB_MAXOBJ / 64; w++) {
		unsigned lo = w * 64;

		if (k->nobjs >= lo + 64)
			s->u.bits[w] = 0;
		else if (k->nobjs <= lo)
			s->u.bits[w] = ~0ull;
		else
			s->u.bits[w] = ~0ull << (k->nobjs - lo);
	}
	ar_map_put(&a->map, s->start, s);
	a->slabs++;
	a->slab_pages += k->pages;
	if (!ar_page_class(c))
		ar_count(&a->small_slab_bytes, (int64_t)k->pages * AR_P);
	return s;
}

/* A free slot of s (which has one), searching from its hint. */
static unsigned slot_take(struct run *s)
{
	unsigned w0 = s->hint / 64;

	for (unsigned n = 0; n < AR_SLAB_MAXOBJ / 64; n++) {
		unsigned w = (w0 + n) % (AR_SLAB_MAXOBJ / 64);
		uint64_t free_bits = ~s->u.bits[w];

		if (free_bits) {
			unsigned i = w * 64 + (unsigned)__builtin_ctzll(free_bits);

			s->u.bits[w] |= 1ull << (i % 64);
			s->nfree--;
			s->hint = (uint8_t)i;
			return i;
		}
	}
	return AR_SLAB_MAXOBJ; /* unreachable: nfree > 0 */
}

/*
 * Allocate one object of class c: from the fullest partial slab that is not
 * being evacuated, else an evacuating one (which stops being evacuated),
 * else a new slab (then *fresh is set to it, else NULL). Returns its region
 * offset or -ENOMEM. Lock held (may be dropped while a new slab's run is
 * found).
 */
int64_t ar_slab_alloc(ust_arena *a, unsigned c, struct run **batch,
		      struct run **fresh)
{
	const struct cls *k = ar_cls(c);
	struct cslabs *cs = &a->cs[c];
	struct run *s = NULL;
	unsigned slot;

	for (unsigned b = AR_NBUCKETS; b-- > 0 && !s;)
		s = cs->bucket[b];
	if (!s && cs->evac) {
		s = cs->evac;
		set_evac(a, s, false);
	}
	*fresh = NULL;
	if (!s) {
		s = slab_new(a, c, batch);
		if (!s)
			return -ENOMEM;
		*fresh = s;
	}
	slab_unlist(a, s);
	slot = slot_take(s);
	if (s->nwarm) { /* most likely the slot freed last (the hint) */
		s->nwarm--;
		a->slot_warm -= k->size;
	}
	slab_list(a, s);
	a->class_count[c]++;
	if (!ar_page_class(c))
		ar_count(&a->small_taken_bytes, (int64_t)k->size);
	return (int64_t)(ar_off(a, s->start) + (uint64_t)slot * k->size);
}

/*
 * The first page, from off's on down, where a slab of class k holding a
 * slot at off (heap-relative) could start, or UINT64_MAX; *i is that
 * slot's index there (search on from *i + 1). A slab starts on a page and
 * holds its slots at multiples of k->size from there, so its start is off
 * - i * size for the slot index i, on a page boundary: one candidate in
 * most classes (a map probe each), where probing every page back cost up
 * to 53 (16448 B records) and was a third of evicting 4 KiB values.
 */
static uint64_t slab_start(const struct cls *k, uint64_t rel, uint64_t *i)
{
	if (k->pages == 1)
		return *i == 0 ? rel / AR_P : UINT64_MAX;
	for (; *i < k->nobjs && *i * k->size <= rel; ++*i)
		if ((rel - *i * k->size) % AR_P == 0)
			return (rel - *i * k->size) / AR_P;
	return UINT64_MAX;
}

/* The slab of class c holding a slot that starts at off, or NULL. */
struct run *ar_slab_find(ust_arena *a, uint64_t off, unsigned c)
{
	const struct cls *k = ar_cls(c);
	uint64_t rel = off - a->heap_off, pg;

	for (uint64_t i = 0; (pg = slab_start(k, rel, &i)) != UINT64_MAX; i++) {
		struct run *s = ar_map_get(&a->map, (uint32_t)pg);

		if (s && s->state == RUN_SLAB && s->cls == c)
			return s; /* off is slot i of it, i < nobjs */
	}
	return NULL;
}

uint64_t ar_slab_first_page(const ust_arena *a, uint64_t off, unsigned c, uint64_t *i)
{
	return slab_start(ar_cls(c), off - a->heap_off, i);
}

void ar_slab_prefetch(ust_arena *a, uint64_t off, unsigned c)
{
	uint64_t i = 0, pg = slab_start(ar_cls(c), off - a->heap_off, &i);

	if (pg != UINT64_MAX)
		ar_map_prefetch(&a->map, (uint32_t)pg);
}

/* Is the slot at off in slab s taken (live or deferred)? */
bool ar_slab_taken(const struct run *s, const ust_arena *a, uint64_t off)
{
	unsigned i = (unsigned)((off - ar_off(a, s->start)) / ar_cls(s->cls)->size);

	return (s->u.bits[i / 64] >> (i % 64)) & 1;
}

/*
 * Give the slot at off back to slab s (no stats: the caller did them). An
 * emptied slab leaves the map and its run is freed (warm cache or batch).
 */
void ar_slab_free(ust_arena *a, struct run *s, uint64_t off, struct run **batch)
{
	const struct cls *k = ar_cls(s->cls);
	unsigned i = (unsigned)((off - ar_off(a, s->start)) / k->size);
	/* A partial slab that stays in the same list keeps its place: relisting
	 * it touched its neighbours' and the head's descriptors, three cache
	 * misses per free when a shrink frees records all over the region. */
	bool stay = partial(s, k) && !s->evac && s->nfree + 1u < k->nobjs &&
		    bucket_for(k, s->nfree + 1u) == s->bucket;

	if (!stay)
		slab_unlist(a, s);
	s->u.bits[i / 64] &= ~(1ull << (i % 64));
	s->nfree++;
	s->hint = (uint8_t)i;
	if (!ar_page_class(s->cls))
		ar_count(&a->small_taken_bytes, -(int64_t)k->size);
	if (s->nfree < k->nobjs) {
		if (ar_page_class(s->cls)) {
			s->nwarm++;
			a->slot_warm += k->size;
		}
		if (stay)
			a->cs[s->cls].free_slots++;
		else
			slab_list(a, s);
		return;
	}
	slots_cool(a, s);
	if (s->evac) {
		s->evac = 0;
		a->evac_slabs--;
	}
	slab_gone(a, s);
	ar_run_free(a, s, true, batch);
}

/*
 * Do the slabs of classes under a page (c is one) hold more free bytes than
 * slack_free and half of what their objects take? (Never with slack_free 0.)
 */
static bool slack_heavy(ust_arena *a, unsigned c)
{
	uint64_t slack, used;

	if (!a->slack_free || ar_page_class(c))
		return false;
	ust_arena_slack(a, &slack, &used);
	return slack > a->slack_free + used / 2;
}

/*
 * Should the object in slab s move? Yes if s is already being evacuated,
 * or if it is at most half full and its objects fit in the free slots of
 * the class's other partial slabs (then it is flagged now).
 */
bool ar_slab_should_move(ust_arena *a, struct run *s)
{
	const struct cls *k = ar_cls(s->cls);
	uint32_t used = k->nobjs - s->nfree;

	if (s->evac)
		return true;
	/* At most half full: emptying it copies at most what it returns.
	 * (A quarter left a pool flushed among another pool's records, every
	 * slab half full, at twice its charge: 1 KiB records 446 MiB resident
	 * for 370 charged, 4 KiB 395 for 314 even with their whole free
	 * pages punched; now 378 and 336.) Up to three quarters full while
	 * the slabs under a page are heavy with slack (slack_heavy): a tenant
	 * that frees just under half of every slab's records would otherwise
	 * keep twice their bytes resident for good. */
	if (!partial(s, k) || used * 4u > k->nobjs * (slack_heavy(a, s->cls) ? 3u : 2u))
		return false;
	if (a->cs[s->cls].free_slots - s->nfree < used)
		return false;
	set_evac(a, s, true);
	return true;
}

/* Are slots first..last of s all free? */
static bool slots_free(const struct run *s, unsigned first, unsigned last)
{
	for (unsigned i = first; i <= last; i++)
		if ((s->u.bits[i / 64] >> (i % 64)) & 1)
			return false;
	return true;
}

/* Does the scrub walk (ar_slabs_scrub) visit run r? warm_only: only slabs
 * with unpunched free slots of a page class. */
static bool scrubbed(const struct run *r, bool warm_only)
{
	return r->state == RUN_SLAB && (!warm_only || r->nwarm);
}

/*
 * Punch the pages of slab s that no taken slot overlaps (a tenant may have
 * faulted them in by writing to free slots). The slots overlapping them are
 * taken for the duration, so nothing allocates them while the lock is
 * dropped for the punch, and given back afterwards. A slab that empties
 * meanwhile is not freed here, since the caller's walk stands on it: it is
 * pushed on *empties for ar_slab_drop(). *zapped: the end page of the
 * span the walk last unmapped (advanced here); warm_only: the walk's, for
 * which neighbours it will visit. Lock held; dropped while punching.
 * Returns the bytes punched.
 */
uint64_t ar_slab_scrub(ust_arena *a, struct run *s, struct run **empties,
		       uint32_t *zapped, bool warm_only)
{
	const struct cls *k = ar_cls(s->cls);
	uint64_t held[AR_SLAB_MAXOBJ / 64] = { 0 }, bytes = 0;
	uint32_t lo[AR_SLAB_MAXPAGES], hi[AR_SLAB_MAXPAGES], nr = 0, nheld = 0;

	/* Every free slot is looked at now: what cannot go back (pages it
	 * shares with a live neighbour) stays until the slab empties. */
	slots_cool(a, s);
	for (uint32_t pg = 0; pg < k->pages; pg++) {
		unsigned first = (unsigned)((uint64_t)pg * AR_P / k->size);
		unsigned last = (unsigned)(((uint64_t)pg + 1) * AR_P - 1) / k->size;

		if (last >= k->nobjs)
			last = k->nobjs - 1u;
		if (first <= last && !slots_free(s, first, last))
			continue;
		for (unsigned i = first; i <= last && first < k->nobjs; i++)
			held[i / 64] |= 1ull << (i % 64);
		if (nr && hi[nr - 1] == pg) {
			hi[nr - 1]++;
		} else {
			lo[nr] = pg;
			hi[nr++] = pg + 1;
		}
	}
	if (!nr)
		return 0;
	slab_unlist(a, s);
	for (unsigned w = 0; w < AR_SLAB_MAXOBJ / 64; w++) {
		s->u.bits[w] |= held[w];
		nheld += (uint32_t)__builtin_popcountll(held[w]);
	}
	s->nfree = (uint16_t)(s->nfree - nheld);
	slab_list(a, s);
	/*
	 * One TLB flush for the pieces of this slab and of the slabs after it
	 * that the walk will scrub too, not one per piece (ar_batch_punch):
	 * unmap the span from here across the neighbours the walk will
	 * visit, up to AR_ZAP_SPAN, unless an earlier zap covered it. Only an
	 * address range: harmless whatever those slabs hold by then.
	 */
	uint32_t zlo = s->start + lo[0], zhi = s->start + hi[nr - 1];
	uint32_t end = s->start + s->npages;

	if (zlo >= *zapped) {
		for (const struct run *n = s->anext;
		     n && n->start == end && scrubbed(n, warm_only) &&
		     (uint64_t)(n->start + n->npages - zlo) * AR_P <= AR_ZAP_SPAN &&
		     !ar_pinned(a, n->start, n->start + n->npages);
		     n = n->anext)
			zhi = end = n->start + n->npages;
	} else {
		zhi = zlo; /* covered */
	}
	pthread_mutex_unlock(&a->lock);
	if (zhi > zlo && (nr > 1 || zhi > s->start + hi[nr - 1])) {
		ar_zap(a, ar_off(a, zlo), (uint64_t)(zhi - zlo) * AR_P);
		*zapped = zhi;
	}
	for (uint32_t i = 0; i < nr; i++) {
		uint64_t len = (uint64_t)(hi[i] - lo[i]) * AR_P;

		(void)ar_punch_range(a, ar_off(a, s->start + lo[i]), len);
		bytes += len;
	}
	pthread_mutex_lock(&a->lock);
	a->punches += nr;
	a->punched_bytes += bytes;
	slab_unlist(a, s);
	for (unsigned w = 0; w < AR_SLAB_MAXOBJ / 64; w++)
		s->u.bits[w] &= ~held[w];
	s->nfree = (uint16_t)(s->nfree + nheld);
	if (s->nfree < k->nobjs) {
		slab_list(a, s);
	} else {
		if (s->evac) {
			s->evac = 0;
			a->evac_slabs--;
		}
		s->next = *empties;
		*empties = s;
	}
	return bytes;
}

/* Free a slab that ar_slab_scrub() found empty (its pages to batch). */
void ar_slab_drop(ust_arena *a, struct run *s, struct run **batch)
{
	s->next = NULL;
	slots_cool(a, s); /* slots freed while it was punched */
	slab_gone(a, s);
	ar_run_free(a, s, false, batch);
}

/*
 * Punch the free pages of slabs (ar_slab_scrub), walking the address list
 * (a slab the walk stands on stays put; one emptied meanwhile is freed into
 * batch). warm_only: only slabs with unpunched free slots of a page class,
 * and only until at most limit bytes of those are left: a pool flushed or
 * evicted leaves slabs partly full (other pools' objects, survivors), and
 * their free slots would otherwise stay resident until the slab empties;
 * up to limit bytes stay, as the warm cache keeps runs, for PUTs of that
 * class to take without a page fault. Else every slab (ust_arena_scrub).
 * Lock held (dropped while punching). Returns the bytes punched.
 */
uint64_t ar_slabs_scrub(ust_arena *a, bool warm_only, uint64_t limit,
			struct run **batch)
{
	struct run *r, *empties = NULL;
	uint64_t bytes = 0;
	uint32_t zapped = 0; /* end page of the span last unmapped */

	for (r = a->first; r && (!warm_only || a->slot_warm > limit); r = r->anext)
		if (scrubbed(r, warm_only))
			bytes += ar_slab_scrub(a, r, &empties, &zapped, warm_only);
	while (empties) {
		r = empties;
		empties = r->next;
		ar_slab_drop(a, r, batch);
	}
	return bytes;
}

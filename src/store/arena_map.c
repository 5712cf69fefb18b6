/*
 * arena_map.c — the arena's map from a heap page index to the allocated run
 * (page-run allocation or slab) that starts there: what release() and
 * should_move() use to find an allocation's descriptor from its offset.
 * Open addressing with linear probing and backward-shift deletion, so a
 * delete never allocates (release must not fail for lack of memory). The
 * table is kept between 1/4 and 3/4 full (capacity doubled by
 * ar_map_reserve() on the allocation path, halved by ar_map_shrink() when
 * it can be), so it costs at most 4 slots of 16 bytes per entry beyond a
 * fixed minimum — the figure ust_arena_charge() counts. Keys are chosen by
 * the daemon (page indices of its own allocations), never by a tenant, so a
 * plain multiplicative hash is enough. Callers hold the arena lock.
 */
#include <errno.h>
#include <stdlib.h>

#include "store/arena_int.h"

#define MAP_MIN 64u

/*
 * Fibonacci hashing: the TOP bits of key * 2^64/phi. Keys are page indices
 * of runs, often multiples of a power of two (a 1 MiB run every 256 pages);
 * the low bits of the product would then all be zero and every key would
 * land in a few slots (measured: 1 MiB alloc+release pairs 6x slower).
 */
static uint32_t slot_of(uint32_t key, uint32_t cap)
{
	return (uint32_t)(((uint64_t)key * 0x9E3779B97F4A7C15ull) >>
			  (64 - (unsigned)__builtin_ctz(cap)));
}

/* Set up an empty map of MAP_MIN slots. Returns 0 or -ENOMEM. */
int ar_map_init(struct amap *m)
{
	m->slots = calloc(MAP_MIN, sizeof(*m->slots));
	if (!m->slots)
		return -ENOMEM;
	m->cap = MAP_MIN;
	m->count = 0;
	return 0;
}

void ar_map_fini(struct amap *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = m->count = 0;
}

/* A hint without the arena lock: slots and cap are read atomically (a
 * rehash may be under way; prefetching a stale address does no harm). */
void ar_map_prefetch(const struct amap *m, uint32_t key)
{
	struct amap_slot *slots = __atomic_load_n(&m->slots, __ATOMIC_RELAXED);
	uint32_t cap = __atomic_load_n(&m->cap, __ATOMIC_RELAXED);

	if (slots && cap)
		__builtin_prefetch(&slots[slot_of(key, cap)]);
}

/* The run stored under key, or NULL. */
struct run *ar_map_get(const struct amap *m, uint32_t key)
{
	uint32_t i = slot_of(key, m->cap);

	for (;;) {
		const struct amap_slot *s = &m->slots[i];

		if (!s->val)
			return NULL;
		if (s->key == key)
			return s->val;
		i = (i + 1) & (m->cap - 1);
	}
}

static void put_raw(struct amap_slot *slots, uint32_t cap, uint32_t key,
		    struct run *v)
{
	uint32_t i = slot_of(key, cap);

	while (slots[i].val)
		i = (i + 1) & (cap - 1);
	slots[i].key = key;
	slots[i].val = v;
}

/* Move every entry into a table of ncap slots. 0 or -ENOMEM (map unchanged). */
static int rehash(struct amap *m, uint32_t ncap)
{
	struct amap_slot *ns = calloc(ncap, sizeof(*ns));

	if (!ns)
		return -ENOMEM;
	for (uint32_t i = 0; i < m->cap; i++)
		if (m->slots[i].val)
			put_raw(ns, ncap, m->slots[i].key, m->slots[i].val);
	free(m->slots);
	/* Atomic: ar_map_prefetch reads them without the lock. */
	__atomic_store_n(&m->slots, ns, __ATOMIC_RELAXED);
	__atomic_store_n(&m->cap, ncap, __ATOMIC_RELAXED);
	return 0;
}

/*
 * Make room for extra more entries without exceeding 3/4 load. Returns 0
 * or -ENOMEM (the map is unchanged and still valid).
 */
int ar_map_reserve(struct amap *m, uint32_t extra)
{
	uint64_t need = (uint64_t)m->count + extra;
	uint64_t ncap = m->cap;

	while (need * 4 > ncap * 3)
		ncap *= 2;
	if (ncap == m->cap)
		return 0;
	if (ncap > (1ull << 31))
		return -ENOMEM;
	return rehash(m, (uint32_t)ncap);
}

/* Insert key (not present) after ar_map_reserve() made room. */
void ar_map_put(struct amap *m, uint32_t key, struct run *v)
{
	put_raw(m->slots, m->cap, key, v);
	m->count++;
}

/* Remove key if present. Never allocates. */
void ar_map_del(struct amap *m, uint32_t key)
{
	uint32_t mask = m->cap - 1, i = slot_of(key, m->cap), j;

	for (;;) {
		if (!m->slots[i].val)
			return;
		if (m->slots[i].key == key)
			break;
		i = (i + 1) & mask;
	}
	/* Backward shift: pull later members of the cluster into the hole. */
	j = i;
	for (;;) {
		uint32_t h;

		j = (j + 1) & mask;
		if (!m->slots[j].val)
			break;
		h = slot_of(m->slots[j].key, m->cap);
		/* Entry j may move to i only if its home is not in (i, j]. */
		if (((j - h) & mask) >= ((j - i) & mask)) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i].val = NULL;
	m->count--;
}

/*
 * Halve the table while it is under 1/4 full (and above MAP_MIN). A failed
 * allocation just leaves it larger; nothing depends on this succeeding.
 */
void ar_map_shrink(struct amap *m)
{
	uint32_t ncap = m->cap;

	while (ncap > MAP_MIN && (uint64_t)m->count * 4 < ncap)
		ncap /= 2;
	if (ncap != m->cap)
		(void)rehash(m, ncap);
}

/* Bytes the table holds. */
size_t ar_map_bytes(const struct amap *m)
{
	return (size_t)m->cap * sizeof(struct amap_slot);
}

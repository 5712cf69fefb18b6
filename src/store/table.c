/*
 * table.c — one pool's hash table within one stripe: a bucket array of
 * singly linked chains. It doubles when it holds more than two entries per
 * bucket; since each stripe's table holds only 1/nstripes of a pool, a resize
 * rehashes a small table and never pauses the whole pool. The hash is not
 * stored (the entry header stays 24 bytes); a resize recomputes it from the
 * key. Every function here requires the caller to hold the stripe lock.
 */
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

#define UST_MIN_BUCKETS 8u

static uint32_t bucket_of(uint64_t h, uint32_t mask)
{
	return (uint32_t)(h >> 20) & mask;
}

static uint16_t tag_of(uint64_t h)
{
	return (uint16_t)(h >> 48);
}

/* Hash of an entry's key, as ust_hash() gave it at insertion. */
uint64_t ust_entry_hash(const struct ust_entry *e)
{
	return ust_hash(e->data, e->klen);
}

/*
 * Find key in sub. Returns the entry or NULL; if link is not NULL it is set
 * to the pointer that refers to the entry (for ust_sub_unlink()).
 */
struct ust_entry *ust_sub_find(struct ust_sub *sub, uint64_t h, const void *key,
			       size_t klen, struct ust_entry ***link)
{
	struct ust_entry **pp;
	uint16_t tag = tag_of(h);

	if (!sub->buckets)
		return NULL;
	for (pp = &sub->buckets[bucket_of(h, sub->mask)]; *pp; pp = &(*pp)->next) {
		struct ust_entry *e = *pp;

		if (e->tag == tag && e->klen == klen &&
		    (klen == 0 || memcmp(e->data, key, klen) == 0)) {
			if (link)
				*link = pp;
			return e;
		}
	}
	return NULL;
}

/*
 * Move every entry into a new array of nb buckets. Returns false when the
 * allocation fails; nothing changes then.
 */
static bool rehash(struct ust_sub *sub, uint32_t nb)
{
	struct ust_entry **nbk = calloc(nb, sizeof(*nbk));

	if (!nbk)
		return false;
	for (uint32_t i = 0; sub->buckets && i <= sub->mask; i++) {
		struct ust_entry *e = sub->buckets[i], *next;

		for (; e; e = next) {
			uint32_t b = bucket_of(ust_entry_hash(e), nb - 1);

			next = e->next;
			e->next = nbk[b];
			nbk[b] = e;
		}
	}
	free(sub->buckets);
	sub->buckets = nbk;
	sub->mask = nb - 1;
	sub->hand &= sub->mask;
	return true;
}

/*
 * Double the bucket array (or create the first one). Returns false when the
 * allocation fails; the table then keeps working with longer chains.
 */
static bool grow(struct ust_sub *sub)
{
	return rehash(sub, sub->buckets ? (sub->mask + 1) * 2 : UST_MIN_BUCKETS);
}

/*
 * Make room for one more entry: create the bucket array or double it when
 * the load passes two per bucket. Returns false only when the table has no
 * bucket array at all and none could be allocated (a failed doubling just
 * leaves chains longer); the caller then answers -ENOMEM.
 */
bool ust_sub_prepare(struct ust_sub *sub)
{
	if (!sub->buckets || sub->count >= 2 * (sub->mask + 1))
		grow(sub);
	return sub->buckets != NULL;
}

/*
 * Link e, whose key hashes to h and is not in sub yet, at its bucket's head.
 * ust_sub_prepare() must have succeeded since the lock was taken. Ownership
 * of e passes to sub.
 */
void ust_sub_insert(struct ust_sub *sub, struct ust_entry *e, uint64_t h)
{
	uint32_t b = bucket_of(h, sub->mask);

	e->tag = tag_of(h);
	e->next = sub->buckets[b];
	sub->buckets[b] = e;
	sub->count++;
}

/*
 * Make the bucket array smaller when fewer than half its buckets are used
 * on average: rehash into the smallest power of two (at least
 * UST_MIN_BUCKETS) holding one entry per bucket or more, so the load lands
 * in (1/2, 1] and the next doubling (at 2) is far away. Tables grow on the
 * data path but shrink only here (compact.c), so a table emptied by a
 * shrink does not keep its peak size. Returns true if it shrank; false
 * also when the smaller array could not be allocated (nothing changes).
 */
bool ust_sub_shrink(struct ust_sub *sub)
{
	uint32_t nb = UST_MIN_BUCKETS;

	if (!sub->buckets || sub->count * 2 >= sub->mask + 1 ||
	    sub->mask + 1 <= UST_MIN_BUCKETS)
		return false;
	while (nb < sub->count)
		nb *= 2;
	return rehash(sub, nb);
}

/* Unlink the entry *link refers to; the caller owns it afterwards. */
void ust_sub_unlink(struct ust_sub *sub, struct ust_entry **link)
{
	*link = (*link)->next;
	sub->count--;
}

/*
 * Remove every entry and free the bucket array. Returns the entries as one
 * chain through ->next, owned by the caller.
 */
struct ust_entry *ust_sub_detach_all(struct ust_sub *sub)
{
	struct ust_entry *head = NULL;

	if (!sub->buckets)
		return NULL;
	for (uint32_t i = 0; i <= sub->mask; i++) {
		struct ust_entry *e = sub->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = head;
			head = e;
		}
	}
	free(sub->buckets);
	sub->buckets = NULL;
	sub->mask = 0;
	sub->count = 0;
	sub->hand = 0;
	return head;
}

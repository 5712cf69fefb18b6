/*
 * names.c — open addressing with linear probing, at most half full; a
 * deletion shifts the entries after it back, so there are no tombstones
 * and a lookup stops at the first free slot.
 */
#include "daemon/names.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return (size_t)(h ^ (h >> 29));
}

/* The slot of key, or the free slot where it would go. */
static size_t find(const struct ud_names *m, const char *key)
{
	size_t mask = m->cap - 1, i = hash(key) & mask;

	while (m->slot[i].key && strcmp(m->slot[i].key, key) != 0)
		i = (i + 1) & mask;
	return i;
}

static int grow(struct ud_names *m)
{
	size_t cap = m->cap ? m->cap * 2 : 16;
	struct ud_names old = *m;

	if (cap < m->cap)
		return -ENOMEM;
	m->slot = calloc(cap, sizeof(*m->slot));
	if (!m->slot) {
		*m = old;
		return -ENOMEM;
	}
	m->cap = cap;
	for (size_t i = 0; i < old.cap; i++)
		if (old.slot[i].key)
			m->slot[find(m, old.slot[i].key)] = old.slot[i];
	free(old.slot);
	return 0;
}

int ud_names_put(struct ud_names *m, const char *key, void *item, void **old)
{
	size_t i;

	if ((m->n + 1) * 2 > m->cap && grow(m) < 0)
		return -ENOMEM;
	i = find(m, key);
	if (m->slot[i].key) {
		if (old)
			*old = m->slot[i].item;
		return 1;
	}
	m->slot[i].key = key;
	m->slot[i].item = item;
	m->n++;
	return 0;
}

void *ud_names_get(const struct ud_names *m, const char *key)
{
	return m->cap ? m->slot[find(m, key)].item : NULL;
}

void ud_names_del(struct ud_names *m, const char *key)
{
	size_t mask = m->cap - 1, i, j;

	if (!m->cap || !m->slot[i = find(m, key)].key)
		return;
	/* Move back each later entry of the run that may no longer be
	 * reached past the hole, until a free slot ends the run. */
	for (j = (i + 1) & mask; m->slot[j].key; j = (j + 1) & mask) {
		size_t home = hash(m->slot[j].key) & mask;

		/* j stays where it is if its home lies cyclically in (i, j]. */
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		m->slot[i] = m->slot[j];
		i = j;
	}
	m->slot[i].key = NULL;
	m->slot[i].item = NULL;
	m->n--;
}

void ud_names_free(struct ud_names *m)
{
	free(m->slot);
	m->slot = NULL;
	m->cap = m->n = 0;
}

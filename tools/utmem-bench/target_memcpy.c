/*
 * target_memcpy.c — the physical limit: memcpy of the same values in the
 * same process.
 *
 * Every PUT and GET through a daemon needs at least one copy of the value,
 * so memcpy bandwidth at the same value size bounds what any transport can
 * reach. Each "connection" (worker thread) owns an arena of value slots
 * standing in for the store: a PUT copies the value into the key's slot, a
 * GET copies the slot out into a GET buffer. The arena holds one slot per
 * key, capped at UB_MEMCPY_ARENA bytes across all workers, so large values
 * stream through memory instead of staying in the CPU caches — the same
 * situation as a real store, where a key's value was written long ago.
 */
#include "target.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define UB_MEMCPY_ARENA ((size_t)512 << 20)

struct ub_memcpy {
	unsigned char *arena;
	size_t slots;
	size_t stride; /* value_size rounded up to 64 bytes */
};

/* Allocate and fill the arena. Returns 0 or -ENOMEM. */
static int ub_memcpy_open(struct ub_conn *c)
{
	const struct ub_opts *o = c->o;
	struct ub_memcpy *m;
	size_t cap;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	c->priv = m;
	m->stride = (o->value_size + 63u) & ~(size_t)63u;
	if (m->stride == 0)
		m->stride = 64;
	cap = UB_MEMCPY_ARENA / o->connections / m->stride;
	m->slots = o->keys < cap ? o->keys : cap;
	if (m->slots == 0)
		m->slots = 1;
	m->arena = aligned_alloc(64, m->slots * m->stride);
	if (!m->arena) {
		ub_conn_fail(c, "memcpy arena of %zu bytes: out of memory",
			     m->slots * m->stride);
		return -ENOMEM;
	}
	/* Fault every page in now, so the timed phase copies, not faults. */
	for (size_t i = 0; i < m->slots; i++)
		memcpy(m->arena + i * m->stride, ub_value(c, (uint32_t)i),
		       o->value_size);
	return 0;
}

/* n copies into or out of the arena; never fails. */
static int ub_memcpy_round(struct ub_conn *c, const struct ub_op *ops,
			   unsigned n, struct ub_tally *t)
{
	struct ub_memcpy *m = c->priv;
	size_t vs = c->o->value_size;

	for (unsigned i = 0; i < n; i++) {
		unsigned char *slot = m->arena + (ops[i].key % m->slots) * m->stride;

		if (ops[i].get)
			memcpy(ub_buf(c, i), slot, vs);
		else
			memcpy(slot, ub_value(c, ops[i].key), vs);
	}
	/* The copies' results are never read: keep the compiler honest. */
	__asm__ __volatile__("" : : "r"(m->arena), "r"(c->bufs) : "memory");
	t->ok += n;
	t->bytes += (uint64_t)n * vs;
	return 0;
}

/* Free the arena. */
static void ub_memcpy_close(struct ub_conn *c)
{
	struct ub_memcpy *m = c->priv;

	if (!m)
		return;
	free(m->arena);
	free(m);
	c->priv = NULL;
}

const struct ub_target_ops ub_target_memcpy = {
	.name = "memcpy",
	.open = ub_memcpy_open,
	.round = ub_memcpy_round,
	.close = ub_memcpy_close,
};

/*
 * test_store_model.c — many thousands of random operations (PUT, GET, pop,
 * INVALIDATE, FLUSH, limit and capacity changes) against a plain reference
 * model, comparing every result and every counter of every pool and tenant
 * after each step. Ephemeral entries may vanish at any time, so the model
 * keeps them as "possible": when a pool's entry count falls below the
 * model's, it probes each key (counting the probes as the store does) and
 * books the missing ones as evictions. Failed PUTs must be explained: a
 * -EDQUOT exactly when the tenant's persistent bytes plus the new charge
 * exceed its max. The seed is printed; set UTMEM_SEED to replay one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "helpers.h"

#define NT 3          /* tenants */
#define NP 8          /* pools: 2 private per tenant + 2 shared */
#define NK 40         /* keys per pool */
#define VMAX 6000     /* values on both sides of the 4 KiB split */
#define STEPS 30000

struct mentry {
	bool live;
	uint32_t owner;
	size_t vlen;
	unsigned char *val;
};

struct mpool {
	uint32_t id;
	bool eph;
	uint32_t owner; /* 0 = shared */
	struct mentry e[NK];
	struct ust_stats s;
};

struct model {
	ust_store *st;
	uint32_t tid[NT + 1];
	struct ust_stats ts[NT + 1];
	uint64_t max[NT + 1];
	uint64_t cap;
	struct mpool p[NP];
	uint64_t rng;
	unsigned step;
};

static uint64_t rnd(struct model *m)
{
	m->rng ^= m->rng << 13;
	m->rng ^= m->rng >> 7;
	m->rng ^= m->rng << 17;
	return m->rng;
}

static void key_of(int k, char *buf)
{
	memcpy(buf, "key", 3);
	buf[3] = (char)('0' + k / 10 % 10);
	buf[4] = (char)('0' + k % 10);
	buf[5] = '\0';
}

static uint64_t charge_e(const struct mentry *e)
{
	return charge_of(5, e->vlen);
}

/* Book entry removal (not freeing an ephemeral eviction's counters). */
static void m_drop(struct model *m, struct mpool *p, struct mentry *e)
{
	struct ust_stats *ts = &m->ts[e->owner];

	p->s.entries--;
	p->s.bytes_stored -= 5 + e->vlen;
	p->s.bytes_charged -= charge_e(e);
	ts->entries--;
	ts->bytes_stored -= 5 + e->vlen;
	ts->bytes_charged -= charge_e(e);
	free(e->val);
	e->val = NULL;
	e->live = false;
}

static void m_add(struct model *m, struct mpool *p, struct mentry *e, uint32_t t,
		  const unsigned char *val, size_t vlen)
{
	struct ust_stats *ts = &m->ts[t];

	e->live = true;
	e->owner = t;
	e->vlen = vlen;
	e->val = malloc(vlen ? vlen : 1);
	assert_non_null(e->val);
	memcpy(e->val, val, vlen);
	p->s.entries++;
	p->s.bytes_stored += 5 + vlen;
	p->s.bytes_charged += charge_e(e);
	ts->entries++;
	ts->bytes_stored += 5 + vlen;
	ts->bytes_charged += charge_e(e);
}

/* A tenant allowed to use pool p. */
static uint32_t user_of(struct model *m, struct mpool *p)
{
	return p->owner ? p->owner : (uint32_t)(1 + rnd(m) % NT);
}

static uint64_t persistent_of(struct model *m, uint32_t t)
{
	uint64_t sum = 0;

	for (int i = 0; i < NP; i++)
		for (int k = 0; k < NK && !m->p[i].eph; k++)
			if (m->p[i].e[k].live && m->p[i].e[k].owner == t)
				sum += charge_e(&m->p[i].e[k]);
	return sum;
}

static uint64_t eph_of(struct model *m, uint32_t t)
{
	uint64_t sum = 0;

	for (int i = 0; i < NP; i++)
		for (int k = 0; k < NK && m->p[i].eph; k++)
			if (m->p[i].e[k].live && (!t || m->p[i].e[k].owner == t))
				sum += charge_e(&m->p[i].e[k]);
	return sum;
}

/* GET through the store and check it against the model entry. */
static void check_get(struct model *m, struct mpool *p, int k, unsigned flags)
{
	static unsigned char buf[VMAX];
	uint32_t t = user_of(m, p);
	struct mentry *e = &p->e[k];
	char key[8];
	size_t n = 0;
	int r;

	key_of(k, key);
	r = sget(m->st, t, p->id, key, flags, buf, sizeof(buf), &n);
	p->s.gets++;
	m->ts[t].gets++;
	if (r == -ENOENT) {
		assert_true(p->eph || !e->live);
		p->s.misses++;
		m->ts[t].misses++;
		if (e->live) { /* evicted before: book it */
			p->s.evictions++;
			m->ts[e->owner].evictions++;
			m_drop(m, p, e);
		}
		return;
	}
	assert_int_equal(r, 0);
	assert_true(e->live);
	assert_int_equal(n, e->vlen);
	assert_memory_equal(buf, e->val, n);
	p->s.hits++;
	m->ts[t].hits++;
	if (flags & UST_GET_EXCLUSIVE)
		m_drop(m, p, e);
}

/* Probe every possible key of ephemeral pools whose count fell. */
static void reconcile(struct model *m)
{
	for (int i = 0; i < NP; i++) {
		struct mpool *p = &m->p[i];
		struct ust_pool_info pi;

		if (!p->eph)
			continue;
		assert_int_equal(ust_pool_info(m->st, UST_TENANT_ADMIN, p->id, &pi), 0);
		assert_true(pi.stats.entries <= p->s.entries);
		if (pi.stats.entries == p->s.entries)
			continue;
		for (int k = 0; k < NK; k++)
			if (p->e[k].live)
				check_get(m, p, k, 0);
		assert_int_equal(pi.stats.entries, p->s.entries);
	}
}

static void stats_equal(const struct ust_stats *a, const struct ust_stats *b)
{
	assert_int_equal(a->entries, b->entries);
	assert_int_equal(a->bytes_stored, b->bytes_stored);
	assert_int_equal(a->bytes_charged, b->bytes_charged);
	assert_int_equal(a->puts, b->puts);
	assert_int_equal(a->gets, b->gets);
	assert_int_equal(a->hits, b->hits);
	assert_int_equal(a->misses, b->misses);
	assert_int_equal(a->invalidates, b->invalidates);
	assert_int_equal(a->evictions, b->evictions);
	assert_int_equal(a->refused_puts, b->refused_puts);
}

static void compare(struct model *m)
{
	struct ust_store_info si;
	uint64_t total = 0;

	reconcile(m);
	for (int i = 0; i < NP; i++) {
		struct ust_pool_info pi;

		assert_int_equal(ust_pool_info(m->st, UST_TENANT_ADMIN, m->p[i].id, &pi), 0);
		stats_equal(&pi.stats, &m->p[i].s);
	}
	for (int t = 1; t <= NT; t++) {
		struct ust_tenant_info ti;

		assert_int_equal(ust_tenant_info(m->st, m->tid[t], &ti), 0);
		stats_equal(&ti.stats, &m->ts[t]);
		total += m->ts[t].bytes_charged;
		/* limits hold unless persistent data alone exceeds them */
		assert_true(ti.stats.bytes_charged <= m->max[t] || eph_of(m, t) == 0);
	}
	ust_store_info(m->st, &si);
	assert_int_equal(si.charged, total);
	assert_true(si.charged <= m->cap || eph_of(m, 0) == 0);
}

/*
 * The PUT may have evicted the very entry it replaces, which no probe can
 * see afterwards: once every other key of the pool is probed (booking the
 * other evictions), one eviction left unexplained is that entry's.
 */
static void book_replaced(struct model *m, struct mpool *p, int skip, uint32_t owner)
{
	struct ust_pool_info pi;

	for (int k = 0; k < NK; k++)
		if (k != skip && p->e[k].live)
			check_get(m, p, k, 0);
	assert_int_equal(ust_pool_info(m->st, UST_TENANT_ADMIN, p->id, &pi), 0);
	if (pi.stats.evictions == p->s.evictions + 1) {
		p->s.evictions++;
		m->ts[owner].evictions++;
	}
	assert_int_equal(pi.stats.evictions, p->s.evictions);
}

static void op_put(struct model *m, struct mpool *p, int k)
{
	static unsigned char val[VMAX];
	size_t vlen = (size_t)(rnd(m) % VMAX);
	uint32_t t = user_of(m, p);
	struct mentry *e = &p->e[k];
	uint64_t c = charge_of(5, vlen), fixed;
	char key[8];
	int r;

	for (size_t i = 0; i < vlen; i++)
		val[i] = (unsigned char)(m->step * 31 + i);
	key_of(k, key);
	fixed = persistent_of(m, t) + c;
	if (e->live && !p->eph && e->owner == t)
		fixed -= charge_e(e);
	r = sput(m->st, t, p->id, key, val, vlen);
	p->s.puts++;
	m->ts[t].puts++;
	if (e->live && p->eph)
		book_replaced(m, p, k, e->owner);
	if (r == 0) {
		if (e->live)
			m_drop(m, p, e);
		m_add(m, p, e, t, val, vlen);
		return;
	}
	p->s.refused_puts++;
	m->ts[t].refused_puts++;
	if (r == -EDQUOT)
		assert_true(fixed > m->max[t]);
	else
		assert_int_equal(r, -ENOSPC);
	if (r == -ENOSPC)
		assert_true(fixed <= m->max[t]);
	if (e->live) /* refused: the old value is gone too */
		m_drop(m, p, e);
	/* evictions made on the way are found by reconcile() */
}

static void op_invalidate(struct model *m, struct mpool *p, int k)
{
	uint32_t t = user_of(m, p);
	char key[8];
	int r;

	key_of(k, key);
	r = ust_invalidate(m->st, t, p->id, key, 5);
	if (r == -ENOENT && p->e[k].live) {
		assert_true(p->eph);
		p->s.evictions++;
		m->ts[p->e[k].owner].evictions++;
		m_drop(m, p, &p->e[k]);
	}
	if (r == 0) {
		assert_true(p->e[k].live);
		p->s.invalidates++;
		m->ts[t].invalidates++;
		m_drop(m, p, &p->e[k]);
	}
	assert_true(r == 0 || r == -ENOENT);
}

static void op_flush(struct model *m, struct mpool *p)
{
	assert_int_equal(ust_pool_flush(m->st, UST_TENANT_ADMIN, p->id), 0);
	for (int k = 0; k < NK; k++)
		if (p->e[k].live)
			m_drop(m, p, &p->e[k]);
}

/* Change a tenant's max or the capacity; evictions found by reconcile(). */
static void op_limits(struct model *m)
{
	if (rnd(m) % 2) {
		int t = 1 + (int)(rnd(m) % NT);
		struct ust_limits l = { 0, 20000 + rnd(m) % 100000, 1 + (uint32_t)(rnd(m) % 4) };

		m->max[t] = l.max;
		assert_int_equal(ust_tenant_set(m->st, m->tid[t], &l), 0);
	} else {
		m->cap = 60000 + rnd(m) % 200000;
		assert_int_equal(ust_set_capacity(m->st, m->cap), 0);
	}
}

static void step(struct model *m)
{
	struct mpool *p = &m->p[rnd(m) % NP];
	int k = (int)(rnd(m) % NK);
	unsigned op = (unsigned)(rnd(m) % 100);

	if (op < 55)
		op_put(m, p, k);
	else if (op < 75)
		check_get(m, p, k, 0);
	else if (op < 83)
		check_get(m, p, k, UST_GET_EXCLUSIVE);
	else if (op < 95)
		op_invalidate(m, p, k);
	else if (op < 96)
		op_flush(m, p);
	else
		op_limits(m);
}

static void setup(struct model *m, unsigned shards)
{
	struct ust_config cfg = { .capacity = 150000, .max_key = 16, .max_value = VMAX,
				  .shards = shards };
	uint32_t sp, se;

	m->cap = cfg.capacity;
	assert_int_equal(ust_store_new(&cfg, &m->st), 0);
	for (int t = 1; t <= NT; t++) {
		struct ust_limits l = { (uint64_t)t * 5000, 60000, (uint32_t)t };
		char name[8];

		snprintf(name, sizeof(name), "t%d", t);
		assert_int_equal(ust_tenant_add(m->st, name, &l, &m->tid[t]), 0);
		m->max[t] = l.max;
		for (int j = 0; j < 2; j++) {
			struct mpool *p = &m->p[2 * (t - 1) + j];

			p->eph = j;
			p->owner = (uint32_t)t;
			assert_int_equal(ust_pool_open(m->st, m->tid[t], j ? "e" : "p",
						       j ? UST_POOL_EPHEMERAL : 0,
						       UST_OPEN_CREATE, &p->id), 0);
		}
	}
	assert_int_equal(ust_shared_pool_create(m->st, "sp", 0, &sp), 0);
	assert_int_equal(ust_shared_pool_create(m->st, "se", UST_POOL_EPHEMERAL, &se), 0);
	m->p[6] = (struct mpool){ .id = sp, .eph = false, .owner = 0 };
	m->p[7] = (struct mpool){ .id = se, .eph = true, .owner = 0 };
	for (int t = 1; t <= NT; t++) {
		assert_int_equal(m->tid[t], (uint32_t)t); /* ids double as indexes */
		assert_int_equal(ust_pool_grant(m->st, sp, m->tid[t]), 0);
		assert_int_equal(ust_pool_grant(m->st, se, m->tid[t]), 0);
	}
}

/*
 * Run the model on a store of shards stripes: 8 is one group for all pools,
 * 64 is four groups of 16 (pools spread over groups, docs/store.md).
 */
static void run_model(unsigned shards)
{
	static struct model m;
	const char *env = getenv("UTMEM_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL);

	printf("# UTMEM_SEED=%llu, %u stripes\n", (unsigned long long)seed, shards);
	memset(&m, 0, sizeof(m));
	m.rng = seed * 0x9e3779b97f4a7c15ull + 1;
	setup(&m, shards);
	for (m.step = 0; m.step < STEPS; m.step++) {
		step(&m);
		compare(&m);
	}
	uint64_t ev = 0;

	for (int i = 0; i < NP; i++)
		ev += m.p[i].s.evictions;
	printf("# %u steps, %llu evictions\n", STEPS, (unsigned long long)ev);
	assert_true(ev > 0);
	for (int i = 0; i < NP; i++)
		op_flush(&m, &m.p[i]);
	ust_store_free(m.st);
}

static void test_model(void **state)
{
	(void)state;
	run_model(8);
}

static void test_model_groups(void **state)
{
	(void)state;
	run_model(64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_model_groups),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

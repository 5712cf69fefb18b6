/*
 * test_async.c — libutmem's asynchronous requests against the in-process
 * fake daemon (fake_server.c), on the socket: results and value bytes by
 * tag, a reply read by a synchronous call kept as its request's
 * completion (and the event descriptor made readable for it), status
 * mapping, the bound of UTMEM_ASYNC_MAX, every outstanding request
 * completing with -ECONNRESET when the daemon hangs up, submitted PUTs
 * (no credit on this socket: each is a request) and probes, the tenant's,
 * a pool's and the server's counters, argument checks.
 * The ring's wake-ups are covered against the real utmemd (t_async.sh).
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_server.h"
#include "utmem.h"

/* Poll the event descriptor (bounded) and reap into out[got..n). */
static size_t reap_until(utmem_client *c, struct utmem_completion *out,
			 size_t got, size_t n)
{
	struct pollfd p = {.fd = utmem_event_fd(c), .events = POLLIN};

	while (got < n) {
		int r;

		assert_int_equal(poll(&p, 1, 5000), 1); /* no lost wake-up */
		r = utmem_reap(c, out + got, n - got);
		assert_true(r >= 0);
		got += (size_t)r;
	}
	return got;
}

static const struct utmem_completion *by_tag(const struct utmem_completion *o,
					     size_t n, uint64_t tag)
{
	for (size_t i = 0; i < n; i++)
		if (o[i].tag == tag)
			return &o[i];
	fail_msg("no completion with tag %llu", (unsigned long long)tag);
	return NULL;
}

static void test_results_by_tag(void **state)
{
	struct fake_fixture *fx = *state;
	struct utmem_completion out[5];
	const struct utmem_completion *co;

	assert_int_equal(utmem_put(fx->c, fx->pool, "k1", 2, "value1", 6), 0);
	assert_int_equal(utmem_put(fx->c, fx->pool, "k2", 2, "", 0), 0);
	assert_int_equal(utmem_submit_get(fx->c, fx->pool, "k1", 2, 0, 10), 0);
	assert_int_equal(utmem_submit_get(fx->c, fx->pool, "nokey", 5, 0, 11), 0);
	assert_int_equal(utmem_submit_get(fx->c, fx->pool, "k2", 2,
					  UTMEM_GET_EXCLUSIVE, 12), 0);
	assert_int_equal(utmem_submit_invalidate(fx->c, fx->pool, "k1", 2, 13), 0);
	assert_int_equal(utmem_submit_invalidate(fx->c, fx->pool, "k2", 2, 14), 0);
	assert_int_equal(utmem_async_outstanding(fx->c), 5);
	reap_until(fx->c, out, 0, 5);
	co = by_tag(out, 5, 10);
	assert_int_equal(co->op, UTMEM_OP_GET);
	assert_int_equal(co->result, 6);
	assert_memory_equal(co->val, "value1", 6);
	co = by_tag(out, 5, 11);
	assert_int_equal(co->result, -ENOENT);
	assert_null(co->val);
	co = by_tag(out, 5, 12); /* an empty value: a buffer all the same */
	assert_int_equal(co->result, 0);
	assert_non_null(co->val);
	co = by_tag(out, 5, 13);
	assert_int_equal(co->op, UTMEM_OP_INVALIDATE);
	assert_int_equal(co->result, 0);
	co = by_tag(out, 5, 14); /* popped before */
	assert_int_equal(co->result, -ENOENT);
	for (size_t i = 0; i < 5; i++)
		free(out[i].val);
	assert_int_equal(utmem_async_outstanding(fx->c), 0);
	assert_int_equal(utmem_reap(fx->c, out, 5), 0);
}

/* A synchronous call meets the reply first: it is kept, and announced. */
static void test_sync_call_keeps_reply(void **state)
{
	struct fake_fixture *fx = *state;
	struct utmem_completion out[1];
	char buf[8];

	assert_int_equal(utmem_put(fx->c, fx->pool, "a", 1, "AA", 2), 0);
	assert_int_equal(utmem_put(fx->c, fx->pool, "b", 1, "BBB", 3), 0);
	assert_int_equal(utmem_submit_get(fx->c, fx->pool, "a", 1, 0, 7), 0);
	assert_int_equal(utmem_get(fx->c, fx->pool, "b", 1, buf, sizeof(buf), 0), 3);
	assert_memory_equal(buf, "BBB", 3);
	assert_int_equal(utmem_ping(fx->c), 0);
	reap_until(fx->c, out, 0, 1);
	assert_int_equal(out[0].tag, 7);
	assert_int_equal(out[0].result, 2);
	assert_memory_equal(out[0].val, "AA", 2);
	free(out[0].val);
}

static void test_statuses(void **state)
{
	struct fake_fixture *fx = *state;
	struct utmem_completion out[4];
	char key[32];
	uint16_t st[4] = {UWIRE_S_QUOTA, UWIRE_S_TOOBIG, UWIRE_S_BADPOOL,
			  UWIRE_S_NOTFOUND};

	for (unsigned i = 0; i < 4; i++) {
		int n = snprintf(key, sizeof(key), "!status=%u", st[i]);

		assert_int_equal(utmem_submit_get(fx->c, fx->pool, key,
						  (size_t)n, 0, i), 0);
	}
	reap_until(fx->c, out, 0, 4);
	for (unsigned i = 0; i < 4; i++) {
		const struct utmem_completion *co = by_tag(out, 4, i);

		assert_int_equal(co->result, -uwire_status_to_errno(st[i]));
		assert_null(co->val);
	}
	assert_int_equal(utmem_ping(fx->c), 0); /* still in sync */
}

/* UTMEM_ASYNC_MAX outstanding, one more refused; a hang-up completes
 * them all with -ECONNRESET (never silently), and the client goes on. */
static void test_bound_and_hangup(void **state)
{
	struct fake_fixture *fx = *state;
	struct utmem_completion *out = calloc(UTMEM_ASYNC_MAX, sizeof(*out));
	struct utmem_completion one[1];

	assert_non_null(out);
	for (unsigned i = 0; i < UTMEM_ASYNC_MAX; i++)
		assert_int_equal(utmem_submit_get(fx->c, fx->pool, "!hang", 5,
						  UTMEM_GET_EXCLUSIVE, i), 0);
	assert_int_equal(utmem_submit_invalidate(fx->c, fx->pool, "k", 1, 0),
			 -EAGAIN);
	assert_int_equal(utmem_async_outstanding(fx->c), UTMEM_ASYNC_MAX);
	assert_int_equal(utmem_reap(fx->c, out, UTMEM_ASYNC_MAX), 0);
	fake_kick(&fx->srv);
	reap_until(fx->c, out, 0, UTMEM_ASYNC_MAX);
	for (unsigned i = 0; i < UTMEM_ASYNC_MAX; i++) {
		assert_int_equal(out[i].result, -ECONNRESET);
		assert_null(out[i].val);
	}
	assert_int_equal(utmem_async_outstanding(fx->c), 0);
	/* A new connection: requests work again. */
	assert_int_equal(utmem_put(fx->c, fx->pool, "z", 1, "zz", 2), 0);
	assert_int_equal(utmem_submit_get(fx->c, fx->pool, "z", 1, 0, 99), 0);
	reap_until(fx->c, one, 0, 1);
	assert_int_equal(one[0].result, 2);
	free(one[0].val);
	free(out);
}

/* A PUT with no credit to post it is a request with a completion; a
 * probe sends MAXLEN 0 and gets no value back, whatever the value's size. */
static void test_put_and_probe(void **state)
{
	struct fake_fixture *fx = *state;
	struct utmem_completion out[5];
	const struct utmem_completion *co;
	char buf[16], key[32];
	int n = snprintf(key, sizeof(key), "!status=%u", UWIRE_S_QUOTA);

	assert_int_equal(utmem_submit_put(fx->c, fx->pool, "p1", 2, "value-1", 7, 1), 0);
	assert_int_equal(utmem_submit_put(fx->c, fx->pool, "p2", 2, "", 0, 2), 0);
	assert_int_equal(utmem_submit_put(fx->c, fx->pool, key, (size_t)n, "x", 1, 3), 0);
	assert_int_equal(utmem_submit_get(fx->c, fx->pool, "p1", 2, UTMEM_GET_PROBE, 4), 0);
	assert_int_equal(utmem_submit_get(fx->c, fx->pool, "nokey", 5, UTMEM_GET_PROBE, 5), 0);
	reap_until(fx->c, out, 0, 5);
	for (uint64_t t = 1; t <= 2; t++) {
		co = by_tag(out, 5, t);
		assert_int_equal(co->op, UTMEM_OP_PUT);
		assert_int_equal(co->result, 0);
		assert_null(co->val);
	}
	co = by_tag(out, 5, 3);
	assert_int_equal(co->op, UTMEM_OP_PUT);
	assert_int_equal(co->result, -EDQUOT);
	co = by_tag(out, 5, 4); /* there: no value sent, none given */
	assert_int_equal(co->op, UTMEM_OP_GET);
	assert_int_equal(co->result, 0);
	assert_null(co->val);
	co = by_tag(out, 5, 5);
	assert_int_equal(co->result, -ENOENT);
	assert_null(co->val);
	/* What the submitted PUTs stored, read back in order behind them. */
	assert_int_equal(utmem_get(fx->c, fx->pool, "p1", 2, buf, sizeof(buf), 0), 7);
	assert_memory_equal(buf, "value-1", 7);
	assert_int_equal(utmem_get(fx->c, fx->pool, "p2", 2, buf, sizeof(buf), 0), 0);
	/* Arguments: a probe is not a pop; no key; no value pointer. */
	assert_int_equal(utmem_submit_get(fx->c, fx->pool, "p1", 2,
					  UTMEM_GET_PROBE | UTMEM_GET_EXCLUSIVE, 0), -EINVAL);
	assert_int_equal(utmem_submit_put(fx->c, fx->pool, "", 0, "v", 1, 0), -EINVAL);
	assert_int_equal(utmem_submit_put(fx->c, fx->pool, "k", 1, NULL, 1, 0), -EINVAL);
	assert_int_equal(utmem_submit_put(NULL, fx->pool, "k", 1, "v", 1, 0), -EINVAL);
	assert_int_equal(utmem_async_outstanding(fx->c), 0);
}

/* STATS and SERVER_INFO: the answer in val, behind the PUTs before them. */
static void test_stats_and_info(void **state)
{
	struct fake_fixture *fx = *state;
	struct utmem_completion out[4];
	const struct utmem_completion *co;
	const struct utmem_stats *st;

	assert_int_equal(utmem_put(fx->c, fx->pool, "s1", 2, "12345", 5), 0);
	assert_int_equal(utmem_submit_put(fx->c, fx->pool, "s2", 2, "678", 3, 9), 0);
	assert_int_equal(utmem_submit_stats(fx->c, fx->pool, 1), 0);
	assert_int_equal(utmem_submit_stats(fx->c, 0, 2), 0);
	assert_int_equal(utmem_submit_server_info(fx->c, 3), 0);
	reap_until(fx->c, out, 0, 4);
	assert_int_equal(out[0].tag, 9); /* answered in order */
	assert_int_equal(out[0].result, 0);
	co = by_tag(out, 4, 1);
	assert_int_equal(co->op, UTMEM_OP_STATS);
	assert_int_equal(co->result, sizeof(struct utmem_stats));
	st = co->val;
	assert_non_null(st);
	assert_int_equal(st->entries, 2);
	assert_int_equal(st->bytes_stored, 8);
	assert_int_equal(st->limit_max, 12345);
	co = by_tag(out, 4, 2); /* the tenant's: the fake counts every pool */
	assert_int_equal(co->op, UTMEM_OP_STATS);
	assert_int_equal(((const struct utmem_stats *)co->val)->entries, 2);
	co = by_tag(out, 4, 3);
	assert_int_equal(co->op, UTMEM_OP_SERVER_INFO);
	assert_int_equal(co->result, strlen(FAKE_SERVER_INFO));
	assert_string_equal(co->val, FAKE_SERVER_INFO);
	for (size_t i = 0; i < 4; i++)
		free(out[i].val);
	/* A pool handle that names nothing; no client. */
	assert_int_equal(utmem_submit_stats(fx->c, 77, 0), -EBADF);
	assert_int_equal(utmem_submit_stats(NULL, 0, 0), -EINVAL);
	assert_int_equal(utmem_submit_server_info(NULL, 0), -EINVAL);
	assert_int_equal(utmem_async_outstanding(fx->c), 0);
}

static int count_view(void *ctx, const void *val, size_t len)
{
	(void)ctx;
	(void)val;
	(void)len;
	return 0;
}

static void test_arguments(void **state)
{
	struct fake_fixture *fx = *state;
	struct utmem_completion out[1];
	char big[2048];

	memset(big, 'k', sizeof(big));
	assert_int_equal(utmem_submit_get(NULL, fx->pool, "k", 1, 0, 0), -EINVAL);
	assert_int_equal(utmem_submit_get(fx->c, fx->pool, "k", 0, 0, 0), -EINVAL);
	assert_int_equal(utmem_submit_get(fx->c, fx->pool, "k", 1, 1u << 7, 0),
			 -EINVAL);
	assert_int_equal(utmem_submit_invalidate(fx->c, fx->pool, big,
						 sizeof(big), 0), -EMSGSIZE);
	assert_int_equal(utmem_submit_get(fx->c, 77, "k", 1, 0, 0), -EBADF);
	assert_int_equal(utmem_reap(NULL, out, 1), -EINVAL);
	assert_int_equal(utmem_reap(fx->c, NULL, 1), -EINVAL);
	assert_int_equal(utmem_event_fd(NULL), -EINVAL);
	assert_int_equal(utmem_async_outstanding(fx->c), 0);
	/* No value region on this socket: a local view says so. */
	assert_int_equal(utmem_get_view(fx->c, fx->pool, "k", 1, UTMEM_GET_LOCAL,
					count_view, NULL), -EAGAIN);
	assert_int_equal(utmem_get_view(fx->c, fx->pool, "k", 1,
					UTMEM_GET_LOCAL | UTMEM_GET_EXCLUSIVE,
					count_view, NULL), -EINVAL);
	/* utmem_put_pending: checked as a GET's arguments are; nothing is
	 * ever posted on the socket alone. */
	assert_int_equal(utmem_put_pending(NULL, fx->pool, "k", 1), -EINVAL);
	assert_int_equal(utmem_put_pending(fx->c, fx->pool, "k", 0), -EINVAL);
	assert_int_equal(utmem_put_pending(fx->c, fx->pool, NULL, 1), -EINVAL);
	assert_int_equal(utmem_put_pending(fx->c, fx->pool, big, sizeof(big)),
			 -EMSGSIZE);
	assert_int_equal(utmem_put_pending(fx->c, 77, "k", 1), -EBADF);
	assert_int_equal(utmem_put_pending(fx->c, 0, "k", 1), -EBADF);
	assert_int_equal(utmem_put(fx->c, fx->pool, "k", 1, "v", 1), 0);
	assert_int_equal(utmem_put_pending(fx->c, fx->pool, "k", 1), 0);
	assert_int_equal(utmem_put_pending(fx->c, 77, NULL, 0), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fake_fixture_setup, \
					     fake_fixture_teardown)
	const struct CMUnitTest tests[] = {
		T(test_results_by_tag),
		T(test_sync_call_keeps_reply),
		T(test_statuses),
		T(test_bound_and_hangup),
		T(test_put_and_probe),
		T(test_stats_and_info),
		T(test_arguments),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}

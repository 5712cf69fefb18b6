/*
 * test_ring.c — unit tests of the shared-memory ring (src/transport/ring.h,
 * ring.c): the double mapping, index validation against a hostile peer,
 * the setup record, and a two-thread stream through a small ring with the
 * need-wakeup protocol, checking every byte and that no wake-up is lost
 * (a lost one shows as a 5-second poll timeout, which fails the test).
 * Meant to run under TSan too.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "transport/ring.h"

#define SMALL (64u * 1024u)

/* A region of `size`, mapped twice (as two processes would). */
struct pair {
	int fd;
	struct uring_map a, b;
};

static void pair_open(struct pair *p, uint64_t size)
{
	p->fd = memfd_create("test-ring", MFD_CLOEXEC);
	assert_true(p->fd >= 0);
	assert_int_equal(ftruncate(p->fd, (off_t)uring_region_bytes(size)), 0);
	assert_int_equal(uring_map_fd(p->fd, size, &p->a), 0);
	assert_int_equal(uring_map_fd(p->fd, size, &p->b), 0);
}

static void pair_close(struct pair *p)
{
	uring_unmap(&p->a);
	uring_unmap(&p->b);
	close(p->fd);
}

static void test_sizes(void **state)
{
	(void)state;
	assert_true(uring_size_ok(SMALL));
	assert_true(uring_size_ok(URING_DEFAULT_SIZE));
	assert_false(uring_size_ok(SMALL + 4096));
	assert_false(uring_size_ok(4096));
	assert_false(uring_size_ok(2ull << 30));
	assert_false(uring_size_ok(0));
}

static void test_double_mapping(void **state)
{
	struct pair p;
	uint8_t *d;

	(void)state;
	pair_open(&p, SMALL);
	d = p.a.data[URING_TO_CLIENT];
	/* Bytes written across the end of the area appear at its start. */
	memset(d + SMALL - 8, 0x11, 16);
	assert_int_equal(p.b.data[URING_TO_CLIENT][0], 0x11);
	assert_int_equal(p.b.data[URING_TO_CLIENT][7], 0x11);
	assert_int_equal(p.b.data[URING_TO_CLIENT][8], 0);
	/* The two directions do not overlap. */
	assert_int_equal(p.b.data[URING_TO_DAEMON][0], 0);
	pair_close(&p);
}

static void test_validation(void **state)
{
	struct pair p;
	struct uring_end prod, cons;

	(void)state;
	pair_open(&p, SMALL);
	uring_end_init(&prod, &p.a, URING_TO_DAEMON);
	uring_end_init(&cons, &p.b, URING_TO_DAEMON);
	assert_int_equal(uring_room(&prod), SMALL);
	assert_int_equal(uring_avail(&cons), 0);
	uring_produce(&prod, 100);
	assert_int_equal(uring_avail(&cons), 100);
	uring_consume(&cons, 40);
	assert_int_equal(uring_room(&prod), SMALL - 60);

	/* Tail beyond the ring's size. */
	__atomic_store_n(cons.tail, cons.pos + SMALL + 1, __ATOMIC_RELEASE);
	assert_int_equal(uring_avail(&cons), -1);
	/* Tail behind what was already seen. */
	__atomic_store_n(cons.tail, 90, __ATOMIC_RELEASE);
	assert_int_equal(uring_avail(&cons), -1);
	/* Tail behind our head (wraps to a huge count). */
	__atomic_store_n(cons.tail, 10, __ATOMIC_RELEASE);
	assert_int_equal(uring_avail(&cons), -1);
	__atomic_store_n(cons.tail, 100, __ATOMIC_RELEASE);
	assert_int_equal(uring_avail(&cons), 60);

	/* Head past our tail. */
	__atomic_store_n(prod.head, 101, __ATOMIC_RELEASE);
	assert_int_equal(uring_room(&prod), -1);
	/* Head moving backwards. */
	__atomic_store_n(prod.head, 20, __ATOMIC_RELEASE);
	assert_int_equal(uring_room(&prod), -1);
	__atomic_store_n(prod.head, UINT64_MAX, __ATOMIC_RELEASE);
	assert_int_equal(uring_room(&prod), -1);
	__atomic_store_n(prod.head, 100, __ATOMIC_RELEASE);
	assert_int_equal(uring_room(&prod), SMALL);
	pair_close(&p);
}

static void test_setup_record(void **state)
{
	uint8_t rec[URING_SETUP_SIZE];
	struct uring_setup in = {URING_DEFAULT_SIZE, 1u << 30, 7, URING_SETUP_LIVE}, out = {0};

	(void)state;
	uring_setup_encode(&in, rec);
	assert_int_equal(uring_setup_decode(rec, sizeof(rec), &out), 0);
	assert_int_equal(out.size, URING_DEFAULT_SIZE);
	assert_int_equal(out.region_size, 1u << 30);
	assert_int_equal(out.hazard, 7);
	assert_int_equal(out.flags, URING_SETUP_LIVE);
	assert_int_equal(uring_setup_decode(rec, sizeof(rec) - 1, &out), -EPROTO);
	rec[0] ^= 1;
	assert_int_equal(uring_setup_decode(rec, sizeof(rec), &out), -EPROTO);
	rec[0] ^= 1;
	rec[28] = 2; /* unknown flags */
	assert_int_equal(uring_setup_decode(rec, sizeof(rec), &out), -EPROTO);
	rec[28] = 0;
	rec[8] = 1; /* size no longer a power of two */
	assert_int_equal(uring_setup_decode(rec, sizeof(rec), &out), -EPROTO);
}

/* ---- two threads through a small ring ---- */

#define TOTAL (48ull << 20)

struct side {
	struct uring_map *m;
	struct uring_end e;
	uint32_t *my_flag, *peer_flag;
	int my_bell, peer_bell;
	unsigned seed;
	uint32_t want; /* what this side waits for (URING_WANT_*) */
	uint32_t give; /* what its publishing gives the peer */
	int failed;
	unsigned long sleeps;
};

static uint8_t byte_at(uint64_t i)
{
	return (uint8_t)(i * 2654435761u >> 13);
}

static void kick(struct side *s)
{
	uint64_t one = 1;

	if (uring_need_kick(s->peer_flag, s->give))
		assert_int_equal(write(s->peer_bell, &one, sizeof(one)), 8);
}

/* Sleep until ready() says go; 0, or -1 if 5 s pass (a lost wake-up). */
static int sleep_until(struct side *s, int (*ready)(struct side *))
{
	for (;;) {
		struct pollfd pf = {.fd = s->my_bell, .events = POLLIN};
		uint64_t v;
		int n;

		uring_sleep_prepare(s->my_flag, s->want);
		if (ready(s)) {
			uring_sleep_cancel(s->my_flag);
			return 0;
		}
		s->sleeps++;
		n = poll(&pf, 1, 5000);
		uring_sleep_cancel(s->my_flag);
		if (n == 0)
			return -1;
		if (n > 0 && read(s->my_bell, &v, sizeof(v)) < 0 && errno != EAGAIN)
			return -1;
		if (ready(s))
			return 0;
	}
}

static int has_room(struct side *s)
{
	return uring_room(&s->e) != 0;
}

static int has_data(struct side *s)
{
	return uring_avail(&s->e) != 0;
}

static unsigned rnd(unsigned *x)
{
	*x = *x * 1103515245u + 12345u;
	return *x >> 8;
}

static void *producer(void *arg)
{
	struct side *s = arg;
	uint64_t sent = 0;

	while (sent < TOTAL) {
		int64_t room = uring_room(&s->e);
		uint64_t n;
		uint8_t *w;

		if (room < 0) {
			s->failed = 1;
			break;
		}
		if (room == 0) {
			if (sleep_until(s, has_room)) {
				s->failed = 2;
				break;
			}
			continue;
		}
		n = 1 + rnd(&s->seed) % (SMALL / 2);
		if (n > (uint64_t)room)
			n = (uint64_t)room;
		if (n > TOTAL - sent)
			n = TOTAL - sent;
		w = uring_wptr(&s->e);
		for (uint64_t i = 0; i < n; i++)
			w[i] = byte_at(sent + i);
		uring_produce(&s->e, n);
		sent += n;
		kick(s);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct side *s = arg;
	uint64_t got = 0;

	while (got < TOTAL) {
		int64_t avail = uring_avail(&s->e);
		uint64_t n;
		const uint8_t *r;

		if (avail < 0) {
			s->failed = 1;
			break;
		}
		if (avail == 0) {
			if (sleep_until(s, has_data)) {
				s->failed = 2;
				break;
			}
			continue;
		}
		n = 1 + rnd(&s->seed) % SMALL;
		if (n > (uint64_t)avail)
			n = (uint64_t)avail;
		r = uring_rptr(&s->e);
		for (uint64_t i = 0; i < n; i++) {
			if (r[i] != byte_at(got + i)) {
				s->failed = 3;
				return NULL;
			}
		}
		uring_consume(&s->e, n);
		got += n;
		kick(s);
	}
	return NULL;
}

static void test_stream_two_threads(void **state)
{
	struct pair p;
	struct side prod = {0}, cons = {0};
	pthread_t tp, tc;
	int bell_p = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	int bell_c = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	(void)state;
	assert_true(bell_p >= 0 && bell_c >= 0);
	pair_open(&p, SMALL);
	prod.m = &p.a;
	uring_end_init(&prod.e, &p.a, URING_TO_DAEMON);
	prod.my_flag = &p.a.shm->client_sleeping;
	prod.peer_flag = &p.a.shm->daemon_sleeping;
	prod.my_bell = bell_p;
	prod.peer_bell = bell_c;
	prod.seed = 1;
	prod.want = URING_WANT_ROOM;
	prod.give = URING_WANT_DATA;
	cons.m = &p.b;
	uring_end_init(&cons.e, &p.b, URING_TO_DAEMON);
	cons.my_flag = &p.b.shm->daemon_sleeping;
	cons.peer_flag = &p.b.shm->client_sleeping;
	cons.my_bell = bell_c;
	cons.peer_bell = bell_p;
	cons.seed = 2;
	cons.want = URING_WANT_DATA;
	cons.give = URING_WANT_ROOM;
	assert_int_equal(pthread_create(&tp, NULL, producer, &prod), 0);
	assert_int_equal(pthread_create(&tc, NULL, consumer, &cons), 0);
	pthread_join(tp, NULL);
	pthread_join(tc, NULL);
	assert_int_equal(prod.failed, 0);
	assert_int_equal(cons.failed, 0);
	assert_int_equal(prod.e.pos, TOTAL);
	assert_int_equal(cons.e.pos, TOTAL);
	print_message("stream: %llu MiB, producer slept %lu times, consumer %lu\n",
		      (unsigned long long)(TOTAL >> 20), prod.sleeps, cons.sleeps);
	pair_close(&p);
	close(bell_p);
	close(bell_c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_double_mapping),
		cmocka_unit_test(test_validation),
		cmocka_unit_test(test_setup_record),
		cmocka_unit_test(test_stream_two_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

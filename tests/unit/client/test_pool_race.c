/*
 * test_pool_race.c — utmem_pool_destroy() against a pool_open of the same
 * name by another thread, with the interleaving forced rather than hoped
 * for: pthread_mutex_lock is wrapped (-Wl,--wrap), and when armed, the
 * destroying thread's second take of the client's lock during the call
 * first lets the other thread's open run to completion. A destroy that
 * releases the lock between its request and marking the handle closed
 * then closes the handle the other thread has just opened.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "client/client_int.h"
#include "fake_server.h"
#include "utmem.h"

int __real_pthread_mutex_lock(pthread_mutex_t *m);
int __wrap_pthread_mutex_lock(pthread_mutex_t *m);

static struct {
	pthread_mutex_t *target; /* the client's lock */
	pthread_t owner;         /* the destroying thread */
	int takes;               /* its takes of target while armed */
	int armed;               /* atomic: every thread's lock reads it */
	int fired;               /* the other thread's open ran in between */
	utmem_client *c;
	uint32_t opened;         /* the handle that open returned */
	int open_err;
} hook;

static void *open_again(void *arg)
{
	hook.open_err = utmem_pool_open(hook.c, "p1", UTMEM_POOL_CREATE,
					&hook.opened);
	return arg;
}

int __wrap_pthread_mutex_lock(pthread_mutex_t *m)
{
	/* Acquire: pairs with the release that arms the hook, so target
	 * and owner, set before it, are seen (the fake server's threads
	 * lock mutexes too). */
	if (__atomic_load_n(&hook.armed, __ATOMIC_ACQUIRE) && m == hook.target &&
	    pthread_equal(pthread_self(), hook.owner) && hook.takes++ == 1) {
		pthread_t t;

		__atomic_store_n(&hook.armed, 0, __ATOMIC_RELAXED);
		hook.fired = 1;
		if (pthread_create(&t, NULL, open_again, NULL) == 0)
			pthread_join(t, NULL);
		else
			hook.open_err = -EAGAIN;
	}
	return __real_pthread_mutex_lock(m);
}

/*
 * Whatever order the destroy and the open took, the handle the open
 * returned afterwards must name a pool: the open happened after the
 * destroy was sent, so the pool exists again on the daemon and in the
 * client.
 */
static void test_destroy_vs_open(void **state)
{
	struct fake_fixture *fx = *state;

	hook.c = fx->c;
	hook.target = &fx->c->lock;
	hook.owner = pthread_self();
	hook.takes = 0;
	__atomic_store_n(&hook.armed, 1, __ATOMIC_RELEASE);
	assert_int_equal(utmem_pool_destroy(fx->c, fx->pool), 0);
	__atomic_store_n(&hook.armed, 0, __ATOMIC_RELAXED);
	if (!hook.fired) /* the destroy took the lock once: open after it */
		open_again(NULL);
	assert_int_equal(hook.open_err, 0);
	assert_int_equal(hook.opened, fx->pool); /* the name's slot again */
	assert_int_equal(utmem_put(fx->c, hook.opened, "k", 1, "v", 1), 0);
	assert_int_equal(utmem_invalidate(fx->c, hook.opened, "k", 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_destroy_vs_open,
						fake_fixture_setup,
						fake_fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_controller.c — the host controller's law (ctl_policy.c), the
 * tenants' shares, and the readers of /proc/meminfo, PSI and cgroup files
 * (hostmem.c) on files written by the test. Every rule of
 * docs/operations.md "Host controller" has a case: shrink at once to the
 * target less half the band, hysteresis (no move inside the band), growth
 * rate-limited and held after a shrink, settle time between level shrinks
 * unless in an emergency, pressure steps, floor and ceiling.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/controller.h"

#define MiB (1024ull * 1024ull)
#define GiB (1024ull * MiB)
#define MS 1000000ull
#define SEC 1000000000ull

static const struct ud_ctl_tune tune = {
	.reserve = 1 * GiB,
	.band = 512 * MiB,
	.grow_rate = 256 * MiB,
	.grow_gap_ns = SEC,
	.hold_ns = 5 * SEC,
	.settle_ns = 200 * MS,
	.release_ns = 2 * SEC,
	.psi_pct = 1000,
	.psi_step_pct = 500,
	.psi_step_min = 16 * MiB,
};

static struct ud_ctl_sample at(uint64_t now, uint64_t avail, uint64_t charged)
{
	return (struct ud_ctl_sample){
		.now_ns = now, .have_avail = true, .avail = avail, .charged = charged,
		.ceiling = 8 * GiB, .floor = 256 * MiB,
	};
}

/* A falls below R: capacity goes to U + A - R - H/2 at once. */
static void test_shrink_to_target(void **state)
{
	struct ud_ctl_state st = { .capacity = 8 * GiB };
	struct ud_ctl_sample s = at(10 * SEC, 512 * MiB, 6 * GiB);
	enum ud_ctl_why why;
	uint64_t c;

	(void)state;
	c = ud_ctl_decide(&tune, &st, &s, &why);
	/* T = 6G + 0.5G - 1G = 5.5G; minus H/2 = 5.25G */
	assert_int_equal(c, 5 * GiB + 256 * MiB);
	assert_int_equal(why, UD_CTL_SHRINK_LEVEL);
	assert_int_equal(st.capacity, c);
	assert_int_equal(st.last_shrink_ns, 10 * SEC);
	assert_int_equal(st.hold_until_ns, 15 * SEC);
}

/*
 * Inside the band nothing moves; above it growth waits out the hold after
 * a shrink that evicted, but not after one that only lowered an unused
 * promise (the capacity stayed above the charge).
 */
static void test_hysteresis_and_hold(void **state)
{
	struct ud_ctl_state st = { .capacity = 5 * GiB };
	enum ud_ctl_why why;
	struct ud_ctl_sample s;

	(void)state;
	/* T = 5G + 1.3G - 1G = 5.3G: C in [T - H, T]: keep */
	s = at(1 * SEC, 1 * GiB + 300 * MiB, 5 * GiB);
	assert_int_equal(ud_ctl_decide(&tune, &st, &s, &why), 5 * GiB);
	assert_int_equal(why, UD_CTL_KEEP);
	/* a shrink, then lots of free memory: no growth within the hold */
	s = at(2 * SEC, 500 * MiB, 5 * GiB);
	assert_true(ud_ctl_decide(&tune, &st, &s, &why) < 5 * GiB);
	s = at(6 * SEC, 4 * GiB, 3 * GiB);
	assert_int_equal(ud_ctl_decide(&tune, &st, &s, &why), st.capacity);
	assert_int_equal(why, UD_CTL_KEEP);
	/* a shrink that evicts nothing: growth may follow a second later */
	st = (struct ud_ctl_state){ .capacity = 8 * GiB };
	s = at(10 * SEC, 2 * GiB, 1 * GiB); /* T = 2G: C -> 1.75G, above U = 1G */
	assert_int_equal(ud_ctl_decide(&tune, &st, &s, &why), 1 * GiB + 768 * MiB);
	assert_int_equal(st.hold_until_ns, 0);
	s = at(11 * SEC, 3 * GiB, 1 * GiB); /* T = 3G */
	assert_int_equal(ud_ctl_decide(&tune, &st, &s, &why), 2 * GiB + 0 * MiB);
	assert_int_equal(why, UD_CTL_GROW);
}

/* Growth: at most grow_rate per second, once per grow_gap, up to T - H/2. */
static void test_growth_rate_limited(void **state)
{
	struct ud_ctl_state st = { .capacity = 2 * GiB };
	enum ud_ctl_why why;
	struct ud_ctl_sample s;
	uint64_t c;

	(void)state;
	s = at(100 * SEC, 6 * GiB, 2 * GiB); /* T = 7G */
	c = ud_ctl_decide(&tune, &st, &s, &why);
	assert_int_equal(why, UD_CTL_GROW);
	assert_int_equal(c, 2 * GiB + 256 * MiB);
	/* 100 ms later: too soon */
	s.now_ns += 100 * MS;
	assert_int_equal(ud_ctl_decide(&tune, &st, &s, &why), c);
	/* a second later: one more step */
	s.now_ns += 900 * MS;
	assert_int_equal(ud_ctl_decide(&tune, &st, &s, &why), c + 256 * MiB);
	/* near the target: only up to T - H/2, then the band */
	st.capacity = 6 * GiB + 600 * MiB;
	s.now_ns += 2 * SEC;
	s.avail = 1 * GiB + 5 * GiB; /* T = 7G... with U = 2G: 2 + 6 - 1 = 7G */
	assert_int_equal(ud_ctl_decide(&tune, &st, &s, &why), 6 * GiB + 600 * MiB);
	st.capacity = 6 * GiB;
	s.now_ns += 2 * SEC;
	assert_int_equal(ud_ctl_decide(&tune, &st, &s, &why), 6 * GiB + 256 * MiB);
	/* never above the ceiling */
	s.ceiling = 6 * GiB + 300 * MiB;
	st.capacity = 6 * GiB + 256 * MiB;
	s.avail = 20 * GiB;
	s.now_ns += 2 * SEC;
	assert_int_equal(ud_ctl_decide(&tune, &st, &s, &why), 6 * GiB + 300 * MiB);
}

/* A second level shrink waits for settle, unless A < R/2. */
static void test_settle_and_emergency(void **state)
{
	struct ud_ctl_state st = { .capacity = 8 * GiB };
	enum ud_ctl_why why;
	struct ud_ctl_sample s;
	uint64_t c;

	(void)state;
	s = at(SEC, 900 * MiB, 6 * GiB);
	c = ud_ctl_decide(&tune, &st, &s, &why);
	assert_int_equal(why, UD_CTL_SHRINK_LEVEL);
	/* 50 ms later the eviction's memory has not shown yet: wait */
	s = at(SEC + 50 * MS, 900 * MiB, 5 * GiB);
	assert_int_equal(ud_ctl_decide(&tune, &st, &s, &why), c);
	/* ... unless the host is deep in its reserve */
	s = at(SEC + 60 * MS, 300 * MiB, 5 * GiB);
	assert_true(ud_ctl_decide(&tune, &st, &s, &why) < c);
	assert_int_equal(why, UD_CTL_SHRINK_LEVEL);
}

/*
 * A flush dropped U by 3 GiB; its memory is not back in A yet (U + A
 * looks 3 GiB short of C): no level shrink for release_ns after the drop
 * unless A < R/2, and one after it if A still has not caught up.
 */
static void test_release_waits(void **state)
{
	struct ud_ctl_state st = { .capacity = 7 * GiB };
	enum ud_ctl_why why;
	struct ud_ctl_sample s;

	(void)state;
	s = at(10 * SEC, 2 * GiB, 6 * GiB); /* T = 7G: nothing to do */
	assert_int_equal(ud_ctl_decide(&tune, &st, &s, &why), 7 * GiB);
	s = at(10 * SEC + 20 * MS, 2 * GiB, 3 * GiB); /* flushed: T = 4G */
	assert_int_equal(ud_ctl_decide(&tune, &st, &s, &why), 7 * GiB);
	assert_int_equal(why, UD_CTL_KEEP);
	s = at(11 * SEC, 2500 * MiB, 3 * GiB); /* coming back */
	assert_int_equal(ud_ctl_decide(&tune, &st, &s, &why), 7 * GiB);
	/* deep in the reserve: no waiting */
	s = at(11 * SEC + 20 * MS, 400 * MiB, 3 * GiB);
	assert_true(ud_ctl_decide(&tune, &st, &s, &why) < 7 * GiB);
	assert_int_equal(why, UD_CTL_SHRINK_LEVEL);

	/* Without the emergency: shrinks once release_ns have passed. */
	st = (struct ud_ctl_state){ .capacity = 7 * GiB };
	s = at(10 * SEC, 2 * GiB, 6 * GiB);
	(void)ud_ctl_decide(&tune, &st, &s, &why);
	s = at(10 * SEC + 20 * MS, 2 * GiB, 3 * GiB);
	(void)ud_ctl_decide(&tune, &st, &s, &why);
	s = at(12 * SEC, 2 * GiB, 3 * GiB);
	assert_int_equal(ud_ctl_decide(&tune, &st, &s, &why), 7 * GiB);
	s = at(12 * SEC + 40 * MS, 2 * GiB, 3 * GiB); /* T = 4G */
	assert_int_equal(ud_ctl_decide(&tune, &st, &s, &why), 4 * GiB - 256 * MiB);
	assert_int_equal(why, UD_CTL_SHRINK_LEVEL);
}

/* Pressure: a step of 5 % of the charge (at least 16M) below min(C, U). */
static void test_pressure_step(void **state)
{
	struct ud_ctl_state st = { .capacity = 8 * GiB };
	struct ud_ctl_sample s = { .now_ns = SEC, .pressure = true, .charged = 4 * GiB,
				   .ceiling = 8 * GiB, .floor = 0 };
	enum ud_ctl_why why;

	(void)state;
	assert_int_equal(ud_ctl_decide(&tune, &st, &s, &why), 4 * GiB - 4 * GiB / 20);
	assert_int_equal(why, UD_CTL_SHRINK_PSI);
	/* calm: psi-only mode grows after the hold, by the rate */
	s.pressure = false;
	s.now_ns = 3 * SEC;
	assert_int_equal(ud_ctl_decide(&tune, &st, &s, &why), st.capacity);
	s.now_ns = 7 * SEC;
	assert_int_equal(ud_ctl_decide(&tune, &st, &s, &why),
			 4 * GiB - 4 * GiB / 20 + 256 * MiB);
	assert_int_equal(why, UD_CTL_GROW);
	/* small charge: the minimum step */
	st = (struct ud_ctl_state){ .capacity = 100 * MiB };
	s = (struct ud_ctl_sample){ .now_ns = SEC, .pressure = true, .charged = 100 * MiB,
				    .ceiling = 8 * GiB };
	assert_int_equal(ud_ctl_decide(&tune, &st, &s, &why), 84 * MiB);
}

/* The floor stops shrinking (and says so); the ceiling caps at once. */
static void test_floor_and_ceiling(void **state)
{
	struct ud_ctl_state st = { .capacity = 1 * GiB };
	struct ud_ctl_sample s = at(SEC, 0, 1 * GiB);
	enum ud_ctl_why why;

	(void)state;
	s.floor = 768 * MiB;
	assert_int_equal(ud_ctl_decide(&tune, &st, &s, &why), 768 * MiB);
	assert_int_equal(why, UD_CTL_SHRINK_LEVEL);
	s.now_ns += SEC;
	assert_int_equal(ud_ctl_decide(&tune, &st, &s, &why), 768 * MiB);
	assert_int_equal(why, UD_CTL_AT_FLOOR);
	/* the operator lowers the capacity below: the ceiling wins over the floor */
	s.ceiling = 512 * MiB;
	s.now_ns += SEC;
	assert_int_equal(ud_ctl_decide(&tune, &st, &s, &why), 512 * MiB);
	assert_int_equal(why, UD_CTL_SHRINK_CEILING);
	/* a floor raised above C pulls it up */
	s.ceiling = 8 * GiB;
	s.floor = 1 * GiB;
	s.now_ns += SEC;
	assert_int_equal(ud_ctl_decide(&tune, &st, &s, &why), 1 * GiB);
}

/* Shares: mins, then weights over the rest, capped at max, re-spread. */
static void test_shares(void **state)
{
	struct ud_ctl_tenant t[3] = {
		{ .min = 100, .max = UINT64_MAX, .weight = 1 },
		{ .min = 0, .max = UINT64_MAX, .weight = 3 },
		{ .min = 0, .max = 200, .weight = 4 },
	};

	(void)state;
	ud_ctl_shares(t, 2, 500); /* 100 + 100, 300 */
	assert_int_equal(t[0].share, 200);
	assert_int_equal(t[1].share, 300);
	ud_ctl_shares(t, 3, 900); /* 800 above mins: 1:3:4 = 100, 300, 400 -> c capped at 200 */
	assert_int_equal(t[2].share, 200);
	assert_int_equal(t[0].share, 100 + 150);
	assert_int_equal(t[1].share, 450);
	assert_int_equal(t[0].share + t[1].share + t[2].share, 900);
	/* mins above the capacity: scaled alike */
	t[0].min = 300;
	t[1].min = 100;
	ud_ctl_shares(t, 2, 200);
	assert_int_equal(t[0].share, 150);
	assert_int_equal(t[1].share, 50);
}

static void test_parse_mode(void **state)
{
	enum ud_ctl_mode m;
	char path[64];

	(void)state;
	assert_int_equal(ud_ctl_parse_mode("off", &m, path, sizeof(path)), 0);
	assert_int_equal(m, UD_CTL_OFF);
	assert_int_equal(ud_ctl_parse_mode("host", &m, path, sizeof(path)), 0);
	assert_int_equal(m, UD_CTL_HOST);
	assert_int_equal(ud_ctl_parse_mode("psi", &m, path, sizeof(path)), 0);
	assert_int_equal(m, UD_CTL_PSI);
	assert_int_equal(ud_ctl_parse_mode("cgroup:/sys/fs/cgroup/memory/x", &m, path,
					   sizeof(path)), 0);
	assert_int_equal(m, UD_CTL_CGROUP);
	assert_string_equal(path, "/sys/fs/cgroup/memory/x");
	assert_int_equal(ud_ctl_parse_mode("cgroup:relative", &m, path, sizeof(path)), -EINVAL);
	assert_int_equal(ud_ctl_parse_mode("cgroup:/a/../b", &m, path, sizeof(path)), -EINVAL);
	assert_int_equal(ud_ctl_parse_mode("on", &m, path, sizeof(path)), -EINVAL);
}

static char dir[] = "/tmp/utmem-ctl-test.XXXXXX";

static void put_file(const char *name, const char *text)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void rm_file(const char *name)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	unlink(p);
}

static void test_readers(void **state)
{
	char meminfo[256], psi[256];
	struct ud_hm_paths p = { .meminfo = meminfo, .cgroup = dir };
	uint64_t a, t, l, u, c;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(meminfo, sizeof(meminfo), "%s/meminfo", dir);
	snprintf(psi, sizeof(psi), "%s/pressure", dir);
	put_file("meminfo", "MemTotal:       24683620 kB\nMemFree:        23674576 kB\n"
			    "MemAvailable:   24183024 kB\n");
	assert_int_equal(ud_hm_meminfo(&p, &a, &t), 0);
	assert_int_equal(a, 24183024ull * 1024);
	assert_int_equal(t, 24683620ull * 1024);
	put_file("meminfo", "MemTotal: 100 kB\n");
	assert_int_equal(ud_hm_meminfo(&p, &a, &t), -ENOENT);
	/* cgroup v1 */
	put_file("memory.limit_in_bytes", "1073741824\n");
	put_file("memory.usage_in_bytes", "536870912\n");
	put_file("memory.stat", "cache 100\ntotal_inactive_file 4096\nrss 5\n");
	assert_int_equal(ud_hm_cgroup(&p, &l, &u, &c), 0);
	assert_int_equal(l, GiB);
	assert_int_equal(u, 512 * MiB);
	assert_int_equal(c, 4096);
	put_file("memory.limit_in_bytes", "9223372036854771712\n");
	assert_int_equal(ud_hm_cgroup(&p, &l, &u, &c), 0);
	assert_int_equal(l, UINT64_MAX);
	put_file("memory.usage_in_bytes", "garbage\n");
	assert_int_equal(ud_hm_cgroup(&p, &l, &u, &c), -EINVAL);
	/* cgroup v2 takes precedence when memory.max exists */
	put_file("memory.max", "max\n");
	put_file("memory.current", "123\n");
	put_file("memory.stat", "anon 5\ninactive_file 1000\n");
	assert_int_equal(ud_hm_cgroup(&p, &l, &u, &c), 0);
	assert_int_equal(l, UINT64_MAX);
	assert_int_equal(u, 123);
	assert_int_equal(c, 123); /* never more than the usage */
	/* PSI */
	put_file("pressure", "some avg10=1.00 avg60=0.50 avg300=0.10 total=123456\n"
			     "full avg10=0.00 avg60=0.00 avg300=0.00 total=99\n");
	assert_int_equal(ud_hm_psi_total(psi, &t), 0);
	assert_int_equal(t, 123456);
	put_file("pressure", "full avg10=0.00 total=1\n");
	assert_int_equal(ud_hm_psi_total(psi, &t), -EINVAL);
	rm_file("pressure");
	assert_int_equal(ud_hm_psi_total(psi, &t), -ENOENT);
	rm_file("meminfo");
	rm_file("memory.limit_in_bytes");
	rm_file("memory.usage_in_bytes");
	rm_file("memory.stat");
	rm_file("memory.max");
	rm_file("memory.current");
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shrink_to_target),
		cmocka_unit_test(test_hysteresis_and_hold),
		cmocka_unit_test(test_growth_rate_limited),
		cmocka_unit_test(test_settle_and_emergency),
		cmocka_unit_test(test_release_waits),
		cmocka_unit_test(test_pressure_step),
		cmocka_unit_test(test_floor_and_ceiling),
		cmocka_unit_test(test_shares),
		cmocka_unit_test(test_parse_mode),
		cmocka_unit_test(test_readers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

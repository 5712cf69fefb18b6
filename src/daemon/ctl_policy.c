/*
 * ctl_policy.c — the host controller's law and the tenants' shares: pure
 * functions of numbers, so that every rule (hysteresis, rate limits, floor,
 * ceiling) is tested without a host to pressure (tests/unit/daemon/
 * test_controller.c). The thread that samples the host and applies the
 * result is controller.c; the rules are explained in docs/operations.md.
 */
#include "daemon/controller.h"

#include <errno.h>
#include <string.h>

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static uint64_t sat_sub(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/* a + b, saturating. */
static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

/* x * pct / 10000 (pct in percent x 100), without overflow for sane x. */
static uint64_t pct_of(uint64_t x, uint32_t pct)
{
	return x / 10000 * pct + x % 10000 * pct / 10000;
}

int ud_ctl_parse_mode(const char *text, enum ud_ctl_mode *mode, char *path,
		      size_t pathlen)
{
	if (pathlen)
		path[0] = '\0';
	if (strcmp(text, "off") == 0 || strcmp(text, "no") == 0) {
		*mode = UD_CTL_OFF;
		return 0;
	}
	if (strcmp(text, "host") == 0) {
		*mode = UD_CTL_HOST;
		return 0;
	}
	if (strcmp(text, "psi") == 0) {
		*mode = UD_CTL_PSI;
		return 0;
	}
	if (strncmp(text, "cgroup:", 7) == 0 && text[7] == '/' &&
	    strlen(text + 7) < pathlen && !strstr(text + 7, "/../")) {
		*mode = UD_CTL_CGROUP;
		strcpy(path, text + 7);
		return 0;
	}
	return -EINVAL;
}

const char *ud_ctl_why_name(enum ud_ctl_why why)
{
	switch (why) {
	case UD_CTL_KEEP: return "keep";
	case UD_CTL_SHRINK_LEVEL: return "shrink: available memory below the reserve";
	case UD_CTL_SHRINK_PSI: return "shrink: memory pressure";
	case UD_CTL_SHRINK_CEILING: return "shrink: capacity lowered by the operator";
	case UD_CTL_GROW: return "grow: memory free above the reserve";
	case UD_CTL_AT_FLOOR: return "at the floor: cannot shrink further";
	}
	return "?";
}

/*
 * Record a change of st->capacity to c at now; returns c. Only a shrink
 * that evicts (c below the charge) holds growth back: one that just lowers
 * an unused promise frees no memory that could make the next sample grow
 * again, so it cannot start an oscillation.
 */
static uint64_t apply(struct ud_ctl_state *st, uint64_t c, uint64_t now,
		      const struct ud_ctl_tune *t, uint64_t charged)
{
	if (c < st->capacity) {
		st->last_shrink_ns = now;
		if (c < charged)
			st->hold_until_ns = now + t->hold_ns;
	} else if (c > st->capacity) {
		st->last_grow_ns = now;
	}
	st->capacity = c;
	return c;
}

/* See controller.h for the law. */
uint64_t ud_ctl_decide(const struct ud_ctl_tune *t, struct ud_ctl_state *st,
		       const struct ud_ctl_sample *s, enum ud_ctl_why *why)
{
	uint64_t ceil = s->ceiling, floor = min64(s->floor, s->ceiling);
	uint64_t c = st->capacity, now = s->now_ns, want = c;
	uint64_t since = st->last_grow_ns > st->last_shrink_ns ? st->last_grow_ns
								: st->last_shrink_ns;
	bool settled = now - st->last_shrink_ns >= t->settle_ns || !st->last_shrink_ns;
	bool shrink_wanted = false, releasing;

	if (st->charged > s->charged && st->charged - s->charged > t->band)
		st->last_release_ns = now;
	st->charged = s->charged;
	/* Memory the store just released is in neither U nor A yet. */
	releasing = st->last_release_ns && now - st->last_release_ns < t->release_ns;
	*why = UD_CTL_KEEP;
	if (c > ceil) {
		*why = UD_CTL_SHRINK_CEILING;
		return apply(st, ceil, now, t, s->charged);
	}
	if (c < floor) { /* the floor rose (a larger min): follow it up */
		*why = UD_CTL_GROW;
		return apply(st, floor, now, t, s->charged);
	}
	if (s->pressure && settled) {
		uint64_t step = max64(pct_of(s->charged, t->psi_step_pct), t->psi_step_min);

		want = sat_sub(min64(c, s->charged), step);
		shrink_wanted = true;
		*why = UD_CTL_SHRINK_PSI;
	}
	if (s->have_avail) {
		uint64_t target = sat_sub(sat_add(s->charged, s->avail), t->reserve);
		/* A falling below half the reserve cannot wait for the last
		 * shrink's memory to show up. */
		bool emergency = s->avail < t->reserve / 2;

		if (c > target && ((settled && !releasing) || emergency)) {
			uint64_t w = sat_sub(target, t->band / 2);

			if (!shrink_wanted || w < want) {
				want = w;
				*why = UD_CTL_SHRINK_LEVEL;
			}
			shrink_wanted = true;
		} else if (!shrink_wanted && sat_add(c, t->band) < target &&
			   now >= st->hold_until_ns && c < ceil &&
			   now - st->last_grow_ns >= t->grow_gap_ns) {
			uint64_t dt = now - since, step;

			if (dt > 1000000000ull)
				dt = 1000000000ull;
			step = (uint64_t)((double)t->grow_rate * (double)dt / 1e9);
			want = min64(ceil, min64(sat_add(c, step), target - t->band / 2));
			if (want > c)
				*why = UD_CTL_GROW;
			else
				want = c;
		}
	} else if (!shrink_wanted && !s->pressure && now >= st->hold_until_ns && c < ceil &&
		   now - st->last_grow_ns >= t->grow_gap_ns) {
		/* Pressure only: probe upwards while the host stays calm. */
		uint64_t dt = now - since, step;

		if (dt > 1000000000ull)
			dt = 1000000000ull;
		step = (uint64_t)((double)t->grow_rate * (double)dt / 1e9);
		want = min64(ceil, sat_add(c, step));
		if (want > c)
			*why = UD_CTL_GROW;
	}
	if (shrink_wanted) {
		if (want < floor)
			want = floor;
		if (want >= c) {
			*why = c == floor ? UD_CTL_AT_FLOOR : UD_CTL_KEEP;
			return c;
		}
	}
	if (want == c) {
		if (*why != UD_CTL_AT_FLOOR)
			*why = UD_CTL_KEEP;
		return c;
	}
	return apply(st, want, now, t, s->charged);
}

/* Shares: mins first, then water-filling by weight under each max. */
void ud_ctl_shares(struct ud_ctl_tenant *t, size_t n, uint64_t capacity)
{
	uint64_t mins = 0, left;
	double wsum;

	for (size_t i = 0; i < n; i++)
		mins = sat_add(mins, t[i].min);
	if (mins >= capacity) {
		for (size_t i = 0; i < n; i++)
			t[i].share = mins ? (uint64_t)((double)t[i].min / (double)mins *
						       (double)capacity)
					  : 0;
		return;
	}
	left = capacity - mins;
	for (size_t i = 0; i < n; i++)
		t[i].share = t[i].min;
	/* A tenant below its max is open. Each round either places all that is
	 * left or caps at least one tenant. */
	for (size_t round = 0; round <= n && left; round++) {
		bool capped = false;

		wsum = 0;
		for (size_t i = 0; i < n; i++)
			if (t[i].share < t[i].max)
				wsum += t[i].weight;
		if (wsum == 0)
			break;
		for (size_t i = 0; i < n; i++) {
			uint64_t give, room;

			if (t[i].share >= t[i].max)
				continue;
			give = (uint64_t)((double)left * t[i].weight / wsum);
			room = t[i].max - t[i].share;
			if (give >= room) {
				t[i].share = t[i].max;
				capped = true;
			}
		}
		if (capped) {
			/* recompute what is left after the capped ones took theirs */
			uint64_t used = 0;

			for (size_t i = 0; i < n; i++)
				used = sat_add(used, t[i].share);
			left = sat_sub(capacity, used);
			continue;
		}
		for (size_t i = 0; i < n; i++)
			if (t[i].share < t[i].max)
				t[i].share += (uint64_t)((double)left * t[i].weight / wsum);
		left = 0;
	}
}

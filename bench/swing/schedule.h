/*
 * schedule.h — the swinging-demand experiment's demand schedule, shared by
 * swingload (which follows it) and swingballoon (which acts on it late).
 *
 * A square wave over the experiment's shared clock: a tenant is high while
 * ((t + phase) mod period) < duty * period, else low. Before the epoch
 * (t < 0, the warm-up) every tenant is low, so each high phase begins at a
 * boundary the run measures; otherwise a tenant whose high window spans the
 * epoch would ingest its high set during the warm-up and shed it exactly as
 * the next tenant rises at t = 0, a double swing no later boundary has.
 */
#ifndef UTMEM_BENCH_SWING_SCHEDULE_H
#define UTMEM_BENCH_SWING_SCHEDULE_H

#include <math.h>
#include <stdbool.h>

static inline bool swing_high(double t, double phase, double period, double duty)
{
	if (t < 0)
		return false;
	double x = fmod(t + phase, period);

	if (x < 0)
		x += period;
	return x < duty * period;
}

#endif

/*
 * run.h — one benchmark run: worker threads, phases, aggregated result.
 *
 * Threading model: one worker thread per connection, each owning its
 * connection, its histogram and its counters, so nothing is shared while a
 * round is timed. (On the 2-core machines this project measures on, more
 * threads than cores only adds scheduler noise to both sides equally; one
 * thread per connection keeps the load shape identical for every target.)
 * The main thread only moves the phase: connect and preload, warmup
 * (rounds run, nothing recorded), measure, stop.
 */
#ifndef UB_RUN_H
#define UB_RUN_H

#include <stdint.h>

#include "hist.h"
#include "options.h"
#include "target.h"

struct ub_result {
	double elapsed_s;    /* longest worker's measured window */
	double ops_per_s;    /* sum of per-worker rates of answered requests */
	double mb_per_s;     /* value bytes moved, 10^6 bytes per second */
	uint64_t rounds;     /* round trips measured */
	struct ub_tally tally;
	struct ub_hist hist; /* nanoseconds per round trip, all workers */
	char error[256];     /* first error any worker saw, or "" */
};

/*
 * Run the benchmark o describes and fill *res. Returns 0 when the run
 * completed (request errors are counted in res->tally.err, not returned),
 * or -errno when it could not (connect, preload or connection failure,
 * --max-time exceeded), with res->error saying why. After -ETIME some
 * workers may still be blocked in a request: the caller must exit without
 * further cleanup.
 */
int ub_run(const struct ub_opts *o, struct ub_result *res);

#endif /* UB_RUN_H */

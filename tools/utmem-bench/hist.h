/*
 * hist.h — a small HDR-style latency histogram for utmem-bench.
 *
 * Values (nanoseconds) fall into log-linear buckets: every power of two is
 * split into UB_HIST_SUB equal sub-buckets, so a recorded value is known to
 * within 1/UB_HIST_SUB (< 0.8 %) of itself at any magnitude, from 1 ns to
 * hours, in a fixed array. Recording is one clz and one increment, cheap
 * enough to do on every round trip; each thread owns its histogram and the
 * main thread merges them after the run, so nothing is shared while timing.
 */
#ifndef UB_HIST_H
#define UB_HIST_H

#include <stdint.h>

#define UB_HIST_SUB_BITS 7u
#define UB_HIST_SUB (1u << UB_HIST_SUB_BITS)
/* Sub-buckets for values below UB_HIST_SUB, then one group per exponent. */
#define UB_HIST_BUCKETS ((64u - UB_HIST_SUB_BITS + 1u) * UB_HIST_SUB)

struct ub_hist {
	uint64_t count; /* values recorded */
	uint64_t sum;   /* their sum, for the mean (saturates, never wraps) */
	uint64_t min;   /* exact extremes */
	uint64_t max;
	uint64_t buckets[UB_HIST_BUCKETS];
};

/* Empty a histogram. */
void ub_hist_reset(struct ub_hist *h);

/* Record one value. Never fails; no locking (one owner). */
void ub_hist_record(struct ub_hist *h, uint64_t v);

/* Add every count of src into dst. */
void ub_hist_merge(struct ub_hist *dst, const struct ub_hist *src);

/*
 * The value at quantile q (0..1): the midpoint of the bucket holding the
 * ceil(q * count)-th smallest value, clamped to [min, max]. Returns 0 for
 * an empty histogram.
 */
uint64_t ub_hist_quantile(const struct ub_hist *h, double q);

/* The mean of recorded values, 0 when empty. */
double ub_hist_mean(const struct ub_hist *h);

/* Bucket index of a value, and the lowest value of a bucket (for tests). */
unsigned ub_hist_index(uint64_t v);
uint64_t ub_hist_bucket_low(unsigned idx);

#endif /* UB_HIST_H */

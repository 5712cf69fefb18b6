/*
 * hist.c — the log-linear latency histogram of utmem-bench (see hist.h).
 *
 * Bucket layout: values below UB_HIST_SUB have a bucket each. A larger value
 * whose most significant bit is m keeps its top UB_HIST_SUB_BITS + 1 bits;
 * group (m - SUB_BITS + 1) holds them, so each group covers one power of two
 * with UB_HIST_SUB buckets and the index grows monotonically with the value.
 */
#include "hist.h"

#include <string.h>

void ub_hist_reset(struct ub_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

/* Index of v's bucket; always < UB_HIST_BUCKETS. */
unsigned ub_hist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < UB_HIST_SUB)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - UB_HIST_SUB_BITS;
	return (shift + 1u) * UB_HIST_SUB +
	       (unsigned)((v >> shift) - UB_HIST_SUB);
}

/* Smallest value that falls in bucket idx. */
uint64_t ub_hist_bucket_low(unsigned idx)
{
	unsigned group = idx / UB_HIST_SUB;

	if (group == 0)
		return idx;
	return ((uint64_t)(idx % UB_HIST_SUB) + UB_HIST_SUB) << (group - 1u);
}

/* Width of bucket idx (how many integer values map to it). */
static uint64_t ub_hist_bucket_width(unsigned idx)
{
	unsigned group = idx / UB_HIST_SUB;

	return group == 0 ? 1u : (uint64_t)1 << (group - 1u);
}

void ub_hist_record(struct ub_hist *h, uint64_t v)
{
	h->buckets[ub_hist_index(v)]++;
	h->count++;
	h->sum = (h->sum + v < h->sum) ? UINT64_MAX : h->sum + v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void ub_hist_merge(struct ub_hist *dst, const struct ub_hist *src)
{
	for (unsigned i = 0; i < UB_HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->sum = (dst->sum + src->sum < dst->sum) ? UINT64_MAX
						    : dst->sum + src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t ub_hist_quantile(const struct ub_hist *h, double q)
{
	uint64_t rank, seen = 0, mid;

	if (h->count == 0)
		return 0;
	if (q <= 0.0)
		return h->min;
	if (q >= 1.0)
		return h->max;
	/* ceil(q * count), at least 1: the rank of the value we want. */
	rank = (uint64_t)(q * (double)h->count);
	if ((double)rank < q * (double)h->count)
		rank++;
	if (rank == 0)
		rank = 1;
	for (unsigned i = 0; i < UB_HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen < rank)
			continue;
		mid = ub_hist_bucket_low(i) + ub_hist_bucket_width(i) / 2u;
		if (mid < h->min)
			return h->min;
		return mid > h->max ? h->max : mid;
	}
	return h->max;
}

double ub_hist_mean(const struct ub_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}

/*
 * conn.h — setting up and tearing down the target-independent part of a
 * ub_conn (key slots, GET buffers) and the shared value pattern.
 */
#ifndef UB_CONN_H
#define UB_CONN_H

#include "target.h"

/*
 * The value pattern: value_size + UB_PATTERN_SPREAD pseudo-random bytes,
 * shared read-only by every worker. Returns a malloc'd buffer the caller
 * frees, or NULL when out of memory.
 */
const unsigned char *ub_pattern_new(size_t value_size);

/*
 * Allocate c's key slots and GET buffers (touched, so no page fault lands
 * in a timed round). Returns 0 or -ENOMEM; on failure c holds nothing.
 */
int ub_conn_init(struct ub_conn *c, const struct ub_opts *o, unsigned id,
		 const unsigned char *pattern);

/* Free what ub_conn_init() allocated; the target must be closed first. */
void ub_conn_release(struct ub_conn *c);

#endif /* UB_CONN_H */

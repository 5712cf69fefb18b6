/*
 * breakdown.h — utmem-bench --breakdown: where a PUT and a GET spend their
 * time (the thesis's Table 3.2), per layer, with p50 and p99.
 */
#ifndef UB_BREAKDOWN_H
#define UB_BREAKDOWN_H

#include <stdio.h>

#include "options.h"

/*
 * Run every cell (value size x operation x mode) against o->addr, one
 * request at a time on one connection per cell, and print the table (or
 * JSON lines) to out. Returns 0, or 1 after printing why to stderr (the
 * daemon refuses the modes, a connection failed).
 */
int ub_breakdown(const struct ub_opts *o, FILE *out);

#endif /* UB_BREAKDOWN_H */

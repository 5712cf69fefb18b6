/*
 * report.h — printing a run's result: a human-readable block, or one JSON
 * line for scripts (flat keys, so even sed can pick a field).
 */
#ifndef UB_REPORT_H
#define UB_REPORT_H

#include <stdio.h>

#include "options.h"
#include "run.h"

/* Print s as a JSON string, quotes and escapes included. */
void ub_json_str(FILE *f, const char *s);

/* Print the result of a completed run to f. Never fails. */
void ub_report(FILE *f, const struct ub_opts *o, const struct ub_result *r);

#endif /* UB_REPORT_H */

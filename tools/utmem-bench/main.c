/*
 * main.c — utmem-bench: a load generator for utmemd, redis-server (and the
 * utmem Redis module) and memcpy, with one workload model for all three so
 * that their numbers can be put side by side.
 *
 * Exit status: 0 when the run completed (request errors are reported, not
 * fatal), 1 when it could not connect or the connection failed or nothing
 * was answered, 2 for bad arguments.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "breakdown.h"
#include "options.h"
#include "report.h"
#include "run.h"

int main(int argc, char **argv)
{
	struct ub_result *res;
	struct ub_opts o;
	int err;

	err = ub_opts_parse(argc, argv, &o);
	if (err < 0)
		return 2;
	if (err > 0)
		return 0;
	/* A server that goes away must surface as an error, not kill us. */
	signal(SIGPIPE, SIG_IGN);
#if UB_HAVE_UTMEM
	if (o.breakdown)
		return ub_breakdown(&o, stdout);
#endif
	res = calloc(1, sizeof(*res));
	if (!res) {
		fputs("utmem-bench: out of memory\n", stderr);
		return 1;
	}
	err = ub_run(&o, res);
	if (err) {
		fprintf(stderr, "utmem-bench: %s\n", res->error);
		fflush(NULL);
		/* After a hang some workers may still run: do not free under them. */
		_exit(1);
	}
	ub_report(stdout, &o, res);
	if (res->tally.ok + res->tally.miss == 0) {
		fprintf(stderr, "utmem-bench: no request was answered%s%s\n",
			res->error[0] ? ": " : "", res->error);
		free(res);
		return 1;
	}
	free(res);
	return 0;
}

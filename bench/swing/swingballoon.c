/*
 * swingballoon.c — the baseline's memory mover for the swinging-demand
 * experiment (bench/swing/README.md): it moves each tenant's memory cgroup
 * limit the way a balloon driver moves a VM's memory, i.e. late and at a
 * bounded speed.
 *
 * It knows every tenant's demand schedule (the same square wave swingload
 * follows) but acts on the demand of --delay-s seconds ago, the sampling
 * delay of a balloon controller that reads guest statistics; and it moves
 * each limit by at most --rate-mib-s per second (virtio-balloon: about 190
 * MiB/s typical, 1.7 GB/s at best). Every --tick-ms it computes each
 * tenant's wish, demand(t - delay) + --headroom-mib (the process beyond its
 * data), scales the wishes down alike if they exceed --budget-mib (the
 * host's memory for the tenants), lowers limits first (the kernel reclaims,
 * i.e. swaps, synchronously inside the write, as a balloon inflating in a
 * guest makes it swap), then raises limits into the room that left. Each
 * tick appends "t limit_mib..." to --out. This favours the baseline: a real
 * balloon controller also has to guess the demand.
 *
 * usage: swingballoon --epoch S --out FILE --budget-mib N --delay-s S
 *        --rate-mib-s R [--tick-ms 100] [--headroom-mib 64] --low-mib N
 *        --high-mib N --period-s S --duty F  CGROUP:PHASE_S...
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "schedule.h"

#define MiB (1024.0 * 1024.0)
#define MAXT 16

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static double wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Write a limit (bytes) to a v1 or v2 cgroup; 0 or -errno. */
static int set_limit(const char *cg, double bytes)
{
	char path[4200];
	FILE *f;
	int err = 0;

	snprintf(path, sizeof(path), "%s/memory.limit_in_bytes", cg);
	if (access(path, W_OK) != 0)
		snprintf(path, sizeof(path), "%s/memory.max", cg);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	if (fprintf(f, "%.0f\n", floor(bytes / 4096) * 4096) < 0)
		err = -errno;
	if (fclose(f) != 0 && !err)
		err = -errno;
	return err;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"epoch", 1, 0, 'e'}, {"out", 1, 0, 'o'}, {"budget-mib", 1, 0, 'b'},
		{"delay-s", 1, 0, 'd'}, {"rate-mib-s", 1, 0, 'r'}, {"tick-ms", 1, 0, 't'},
		{"headroom-mib", 1, 0, 'H'}, {"low-mib", 1, 0, 'l'}, {"high-mib", 1, 0, 'h'},
		{"period-s", 1, 0, 'P'}, {"duty", 1, 0, 'u'}, {0, 0, 0, 0},
	};
	double epoch = 0, budget = 0, delay = 2, rate = 190, tick = 100, headroom = 64;
	double low = 256, high = 1024, period = 60, duty = 1.0 / 3;
	double limit[MAXT], phase[MAXT];
	char *cg[MAXT];
	const char *outp = NULL;
	unsigned long errors = 0;
	int n = 0, c;
	FILE *out;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'e': epoch = atof(optarg); break;
		case 'o': outp = optarg; break;
		case 'b': budget = atof(optarg); break;
		case 'd': delay = atof(optarg); break;
		case 'r': rate = atof(optarg); break;
		case 't': tick = atof(optarg); break;
		case 'H': headroom = atof(optarg); break;
		case 'l': low = atof(optarg); break;
		case 'h': high = atof(optarg); break;
		case 'P': period = atof(optarg); break;
		case 'u': duty = atof(optarg); break;
		default: return 2;
		}
	}
	/* sizes were given in MiB */
	budget *= MiB;
	rate *= MiB;
	headroom *= MiB;
	low *= MiB;
	high *= MiB;
	for (; optind < argc && n < MAXT; optind++, n++) {
		char *colon = strrchr(argv[optind], ':');

		if (!colon)
			return 2;
		*colon = '\0';
		cg[n] = argv[optind];
		phase[n] = atof(colon + 1);
		limit[n] = -1;
	}
	if (!n || !outp || epoch <= 0 || budget <= 0)
		return 2;
	out = fopen(outp, "w");
	if (!out)
		return 1;
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	fprintf(out, "# t limits_mib (one per tenant), write_errors\n");
	while (!stop) {
		double t = wall() - epoch, want[MAXT], sum = 0, room, step = rate * tick / 1e3;

		for (int i = 0; i < n; i++) {
			want[i] = (swing_high(t - delay, phase[i], period, duty) ? high : low) +
				  headroom;
			sum += want[i];
		}
		for (int i = 0; i < n && sum > budget; i++)
			want[i] *= budget / sum;
		for (int i = 0; i < n; i++) {
			if (limit[i] < 0) { /* first tick: start where the tenant is */
				limit[i] = want[i];
				if (set_limit(cg[i], limit[i]))
					errors++;
			} else if (limit[i] > want[i]) {
				double l = limit[i] - step < want[i] ? want[i] : limit[i] - step;

				if (set_limit(cg[i], l) == 0)
					limit[i] = l;
				else
					errors++; /* could not reclaim yet (EBUSY): retry */
			}
		}
		room = budget;
		for (int i = 0; i < n; i++)
			room -= limit[i];
		for (int i = 0; i < n; i++) {
			if (limit[i] < want[i] && room > 0) {
				double inc = want[i] - limit[i];

				inc = inc > step ? step : inc;
				inc = inc > room ? room : inc;
				if (set_limit(cg[i], limit[i] + inc) == 0) {
					limit[i] += inc;
					room -= inc;
				} else {
					errors++;
				}
			}
		}
		fprintf(out, "%.2f", t);
		for (int i = 0; i < n; i++)
			fprintf(out, " %.0f", limit[i] / MiB);
		fprintf(out, " %lu\n", errors);
		fflush(out);
		usleep((useconds_t)(tick * 1000));
	}
	fclose(out);
	return 0;
}

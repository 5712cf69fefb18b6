/*
 * log.c — utmemd's logging: one line per event on stderr (which systemd's
 * journal captures), with a UTC timestamp and the level. The level is an
 * atomic so the admin LOG_LEVEL op can change it while workers log.
 * Warnings a tenant can provoke go through ud_log_rl (rate-limited).
 */
#include "daemon/daemon.h"

#include <stdio.h>
#include <time.h>

atomic_int ud_log_level = UADM_LOG_INFO;

/*
 * Format and write one line if level is enabled. The whole line goes out in
 * one fprintf call on an unbuffered stream, so lines of different threads
 * do not interleave within a line.
 */
void ud_log(int level, const char *fmt, ...)
{
	char msg[1024];
	char stamp[32];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (level > atomic_load_explicit(&ud_log_level, memory_order_relaxed))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ utmemd %s: %s\n", stamp, ts.tv_nsec / 1000000,
		uadm_log_level_name(level), msg);
}

/*
 * Log one line through rl: at most UD_RL_BURST lines per call site in any
 * UD_RL_WINDOW_S seconds; the first line of a later window first says how
 * many were dropped. A tenant can provoke warnings at will (a bad frame, a
 * wrong token, a limit hit), and must not be able to fill the disk or bury
 * other lines. Lock-free and approximate under races: a few lines more or
 * less per window, never unbounded.
 */
void ud_log_rl(struct ud_ratelimit *rl, int level, const char *fmt, ...)
{
	char msg[1024];
	struct timespec ts;
	uint64_t now, start;
	unsigned dropped;
	va_list ap;

	if (level > atomic_load_explicit(&ud_log_level, memory_order_relaxed))
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec + 1; /* 0 = never started */
	start = atomic_load_explicit(&rl->start, memory_order_relaxed);
	if (now - start >= UD_RL_WINDOW_S &&
	    atomic_compare_exchange_strong(&rl->start, &start, now)) {
		atomic_store(&rl->count, 0);
		dropped = atomic_exchange(&rl->dropped, 0);
		if (dropped)
			ud_log(level, "(%u similar messages suppressed in %u s)",
			       dropped, UD_RL_WINDOW_S);
	}
	if (atomic_fetch_add(&rl->count, 1) >= UD_RL_BURST) {
		atomic_fetch_add(&rl->dropped, 1);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ud_log(level, "%s", msg);
}

/*
 * log.c — utmemd's logging: one line per event on stderr (which systemd's
 * journal captures), with a UTC timestamp and the level. The level is an
 * atomic so the admin LOG_LEVEL op can change it while workers log.
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

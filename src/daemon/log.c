/*
 * log.c — utmemd's logging: one line per event on stderr, with the level.
 * On a terminal a line starts with a UTC timestamp. Anywhere else it starts
 * with its syslog priority, "<3>" for errors to "<7>" for debug (the
 * sd-daemon convention), so systemd's journal files each line at its
 * priority and `journalctl -p err` finds the errors; when stderr is the
 * journal itself ($JOURNAL_STREAM names it) the journal's own timestamp is
 * enough and ours is left out. The level is an atomic so the admin
 * LOG_LEVEL op can change it while workers log. Warnings a tenant can
 * provoke go through ud_log_rl (rate-limited).
 */
#include "daemon/daemon.h"
#include "proto/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

atomic_int ud_log_level = UADM_LOG_INFO;

/* Set once by ud_log_setup() before any thread starts; read-only after. */
static int log_priority_prefix; /* "<N>" first: stderr is not a terminal */
static int log_stamp = 1;       /* our timestamp: stderr is not the journal */

/* Is fd the journal stream systemd named in $JOURNAL_STREAM ("dev:ino")? */
static int is_journal(int fd)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat sb;

	return js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
	       fstat(fd, &sb) == 0 && (unsigned long long)sb.st_dev == dev &&
	       (unsigned long long)sb.st_ino == ino;
}

void ud_log_setup(void)
{
	log_priority_prefix = !isatty(STDERR_FILENO);
	log_stamp = !is_journal(STDERR_FILENO);
}

/* syslog(3) priorities of our levels: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG. */
static int priority(int level)
{
	static const int prio[] = {3, 4, 6, 7};

	return level >= 0 && level < 4 ? prio[level] : 6;
}

/*
 * Format and write one line if level is enabled. The whole line goes out in
 * one fprintf call on an unbuffered stream, so lines of different threads
 * do not interleave within a line.
 */
void ud_log(int level, const char *fmt, ...)
{
	char msg[1024];
	char prefix[16] = "", stamp[48] = "";
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (level > atomic_load_explicit(&ud_log_level, memory_order_relaxed))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_priority_prefix)
		snprintf(prefix, sizeof(prefix), "<%d>", priority(level));
	if (log_stamp) {
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(stamp + strlen(stamp), sizeof(stamp) - strlen(stamp),
			 ".%03ldZ ", ts.tv_nsec / 1000000);
	}
	fprintf(stderr, "%s%sutmemd %s: %s\n", prefix, stamp,
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
	uint64_t now, start;
	unsigned dropped;
	va_list ap;

	if (level > atomic_load_explicit(&ud_log_level, memory_order_relaxed))
		return;
	now = umono_ns() / 1000000000u + 1; /* 0 = never started */
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

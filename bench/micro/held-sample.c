/*
 * held-sample.c — what a process holds, sampled every millisecond (not a
 * test). Used by bench/micro/shrink-rss.sh: the held memory of utmemd is
 * its anonymous RSS plus the blocks of the memfds it has open (its value
 * regions, whose pages only a tenant may have mapped, or none: utmemd
 * unmaps spans of a region before punching in them; not its rings, whose
 * descriptors it closes once passed, as bench/held.sh). A shell loop
 * of find, awk and date per sample took about one of the machine's two
 * CPUs away from the utmemd it measured; this costs tens of microseconds
 * per sample.
 *
 * Usage: held-sample PID START_NS [INTERVAL_US]. Prints one line per sample,
 * "NS KIB": nanoseconds since START_NS (CLOCK_REALTIME, as `date +%s%N`)
 * and KiB held, until PID is gone or SIGTERM/SIGINT arrives. Exit 0, or 2
 * on bad arguments.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* RssAnon of /proc/PID/status in KiB, or -1 when the process is gone. */
static long rss_anon_kb(int status_fd)
{
	char buf[4096];
	ssize_t n = pread(status_fd, buf, sizeof(buf) - 1, 0);
	const char *p;

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, "\nRssAnon:");
	return p ? strtol(p + 9, NULL, 10) : 0;
}

/* KiB of blocks of the memfds open in the fd directory (as
 * bench/held.sh's held_kb: a log file there is not memory). */
static long files_kb(DIR *fds)
{
	struct dirent *d;
	long blocks = 0;
	struct stat s;
	char link[64];

	rewinddir(fds);
	while ((d = readdir(fds)) != NULL) {
		ssize_t n;

		if (d->d_name[0] == '.')
			continue;
		n = readlinkat(dirfd(fds), d->d_name, link, sizeof(link) - 1);
		if (n < 7 || memcmp(link, "/memfd:", 7) != 0)
			continue;
		if (fstatat(dirfd(fds), d->d_name, &s, 0) == 0)
			blocks += (long)s.st_blocks;
	}
	return blocks / 2;
}

static int parse(const char *s, long long lo, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno || end == s || *end || *out < lo ? -1 : 0;
}

int main(int argc, char **argv)
{
	long long pid, start, interval = 1000;
	char path[64];
	int status_fd;
	DIR *fds;
	struct timespec gap;

	if (argc < 3 || argc > 4 || parse(argv[1], 1, &pid) ||
	    parse(argv[2], 0, &start) ||
	    (argc == 4 && (parse(argv[3], 1, &interval) || interval > 1000000))) {
		fprintf(stderr, "usage: held-sample PID START_NS [INTERVAL_US]\n");
		return 2;
	}
	snprintf(path, sizeof(path), "/proc/%lld/status", pid);
	status_fd = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%lld/fd", pid);
	fds = opendir(path);
	if (status_fd < 0 || !fds) {
		fprintf(stderr, "held-sample: no process %lld\n", pid);
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	gap.tv_sec = 0;
	gap.tv_nsec = interval * 1000;
	while (!stop) {
		int64_t t = now_ns();
		long anon = rss_anon_kb(status_fd);

		if (anon < 0)
			break;
		printf("%" PRId64 " %ld\n", t - (int64_t)start, anon + files_kb(fds));
		nanosleep(&gap, NULL);
	}
	fflush(stdout);
	closedir(fds);
	close(status_fd);
	return 0;
}

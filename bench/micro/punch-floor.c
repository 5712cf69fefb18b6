/*
 * punch-floor.c — how fast can this kernel take 1 GiB back at all? (not a
 * test). The floor under "RSS follows a 1 GiB shrink within 100 ms"
 * (issue 10, docs/evaluation.md section 8), measured without utmemd:
 *
 *   memfd    1 GiB written into a memfd (as a tenant's value region, where
 *            the default path keeps a private pool's values), then given
 *            back with fallocate(PUNCH_HOLE) in pieces of 4 KiB, 64 KiB (a
 *            slab of 4 KiB records), 1 MiB and 1 GiB; once with the pages
 *            mapped by this process (utmemd maps the records it writes),
 *            once so mapped but first unmapped from this process with one
 *            MADV_DONTNEED (the file keeps its pages), as the arena does
 *            before a batch of punches: what is left is the punch itself,
 *            without a TLB flush per call,
 *            once written with pwrite() and never mapped;
 *   2 thr    the mapped memfd punched by two threads at once, pieces
 *            taken alternately (would punching in parallel beat the floor?
 *            shmem's fallocate holds the file's inode lock, so no);
 *   anon     1 GiB of private anonymous memory (values in utmemd's heap)
 *            given back with madvise(MADV_DONTNEED) in the same pieces.
 *
 * Each figure is the median of PUNCH_FLOOR_REPS (default 3) runs, in ms
 * for the whole GiB; the load average is printed before and after.
 * Usage: punch-floor [MiB] (default 1024).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MAXREPS 15

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void loadavg(const char *when)
{
	char buf[64] = "?";
	FILE *f = fopen("/proc/loadavg", "r");

	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = 0;
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = 0;
	printf("load average %s: %s\n", when, buf);
}

struct puncher {
	int fd, err;
	size_t size, piece;
	unsigned first, step; /* punch pieces first, first + step, ... */
};

static void *punch_pieces(void *arg)
{
	struct puncher *w = arg;
	size_t i = w->first;

	for (size_t o = i * w->piece; o < w->size; i += w->step, o = i * w->piece)
		if (fallocate(w->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)o, (off_t)w->piece) < 0) {
			w->err = 1;
			break;
		}
	return NULL;
}

/* Fill a fresh memfd of size bytes (mapped: through a mapping that stays,
 * 2: and unmapped from it with one MADV_DONTNEED before the punches, as
 * the arena does, timed with them; else pwrite), give it back in pieces of
 * piece bytes from nthreads threads (1 or 2); ms taken, or -1. */
static double memfd_once(size_t size, size_t piece, int mapped, unsigned nthreads)
{
	struct puncher w[2];
	pthread_t tid[2];
	static char buf[1 << 16];
	int fd = memfd_create("punch-floor", MFD_CLOEXEC);
	char *p = MAP_FAILED;
	double t, ms = -1;

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		goto out;
	if (mapped) {
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			goto out;
		memset(p, 1, size);
	} else {
		memset(buf, 1, sizeof(buf));
		for (size_t o = 0; o < size; o += sizeof(buf))
			if (pwrite(fd, buf, sizeof(buf), (off_t)o) != (ssize_t)sizeof(buf))
				goto out;
	}
	t = now_ms();
	if (mapped == 2 && madvise(p, size, MADV_DONTNEED) < 0)
		goto out;
	for (unsigned i = 0; i < nthreads; i++) {
		w[i] = (struct puncher){.fd = fd, .size = size, .piece = piece,
					.first = i, .step = nthreads};
		if (pthread_create(&tid[i], NULL, punch_pieces, &w[i]) != 0) {
			while (i--)
				pthread_join(tid[i], NULL);
			goto out;
		}
	}
	for (unsigned i = 0; i < nthreads; i++)
		pthread_join(tid[i], NULL);
	for (unsigned i = 0; i < nthreads; i++)
		if (w[i].err)
			goto out;
	ms = now_ms() - t;
out:
	if (p != MAP_FAILED)
		munmap(p, size);
	if (fd >= 0)
		close(fd);
	return ms;
}

static double anon_once(size_t size, size_t piece)
{
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	double t, ms = -1;

	if (p == MAP_FAILED)
		return -1;
	memset(p, 1, size);
	t = now_ms();
	for (size_t o = 0; o < size; o += piece)
		if (madvise(p + o, piece, MADV_DONTNEED) < 0)
			goto out;
	ms = now_ms() - t;
out:
	munmap(p, size);
	return ms;
}

int main(int argc, char **argv)
{
	static const size_t pieces[] = { 4096, 64 << 10, 1 << 20, 0 };
	static const char *const names[] = { "4 KiB", "64 KiB", "1 MiB", "all" };
	long mib = argc > 1 ? atol(argv[1]) : 1024;
	int reps = getenv("PUNCH_FLOOR_REPS") ? atoi(getenv("PUNCH_FLOOR_REPS")) : 3;
	size_t size;

	if (mib < 1 || mib > (1L << 20) || reps < 1 || reps > MAXREPS) {
		fprintf(stderr, "usage: punch-floor [MiB 1..1048576] "
				"(PUNCH_FLOOR_REPS 1..%d)\n", MAXREPS);
		return 2;
	}
	size = (size_t)mib << 20;
	loadavg("before");
	printf("giving back %ld MiB, ms (median of %d)\n", mib, reps);
	printf("%-8s %12s %12s %12s %12s %12s\n", "piece", "memfd mapped",
	       "zapped first", "memfd", "2 thr", "anon");
	for (unsigned i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		size_t piece = pieces[i] ? pieces[i] : size;
		double r[5][MAXREPS];

		for (int k = 0; k < reps; k++) {
			r[0][k] = memfd_once(size, piece, 1, 1);
			r[1][k] = memfd_once(size, piece, 0, 1);
			/* one piece: nothing to share between threads */
			r[2][k] = piece < size ? memfd_once(size, piece, 1, 2) : 0;
			r[3][k] = anon_once(size, piece);
			r[4][k] = memfd_once(size, piece, 2, 1);
			for (int j = 0; j < 5; j++)
				if (r[j][k] < 0) {
					perror("punch-floor");
					return 1;
				}
		}
		for (int j = 0; j < 5; j++)
			qsort(r[j], (size_t)reps, sizeof(double), cmp_dbl);
		printf("%-8s %12.1f %12.1f %12.1f ", names[i], r[0][reps / 2],
		       r[4][reps / 2], r[1][reps / 2]);
		if (piece < size)
			printf("%12.1f", r[2][reps / 2]);
		else
			printf("%12s", "-");
		printf(" %12.1f\n", r[3][reps / 2]);
	}
	loadavg("after");
	return 0;
}

/*
 * region.c — utmemd's side of a tenant's value region (docs/protocol.md
 * section 10; the store lays it out and manages it, src/store/region.c).
 *
 * Each local tenant gets one sealed memfd, as large as the host's physical
 * memory (sparse: only pages holding values or index buckets are ever
 * resident, and freed ones are punched out at once). utmemd maps it here
 * and passes it to the tenant's fast-path clients with RING_SETUP; it holds
 * that tenant's private-pool values and nothing else. Seals (shrink, grow,
 * seal) keep a client from truncating it under our mapping; a client can
 * write any byte of it, which the store is built to tolerate.
 */
#include "daemon/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define REGION_MIN (64ull << 20)
#define REGION_MAX (1ull << 40)
#define REGION_HAZARDS 256u        /* fast-path connections per tenant */
#define REGION_WARM (4u << 20)     /* freed page runs (and free slab slots of
				      page-sized records) kept for reuse */
/*
 * Beyond it the data path punches. A worker never should: a punch zaps the
 * pages from every process that maps the region (a TLB flush on each of
 * their CPUs), and a flushed 64 MiB pool of 16 KiB values punched inline
 * held its worker, and every tenant served by it, for hundreds of ms. The
 * maintenance thread's poll (every 20 ms, ust_regions_poll) brings the
 * cache down to REGION_WARM_POLL at once, punching neighbouring runs as one
 * range; at most this much freed memory waits that long.
 */
#define REGION_WARM_HARD UD_REGION_WARM_HARD
#define REGION_WARM_POLL (32u << 20)
_Static_assert(REGION_WARM_HARD >= REGION_WARM_POLL, "warm_hard >= warm_poll");
/* Warm runs idle this long go back to the OS (down to REGION_WARM); a
 * cache in use keeps up to REGION_WARM_POLL faulted in. */
#define REGION_WARM_IDLE_NS (200ull * 1000000u)

/* Physical memory rounded up to a GiB, within [REGION_MIN, REGION_MAX]. */
static uint64_t region_size(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
	uint64_t n = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : REGION_MIN;

	n = (n + (1ull << 30) - 1) & ~((1ull << 30) - 1);
	return n < REGION_MIN ? REGION_MIN : n > REGION_MAX ? REGION_MAX : n;
}

int ud_region_create(struct ud_daemon *d, struct ud_tenant *t)
{
	struct ust_region_cfg rc = {
		.nhaz = REGION_HAZARDS,
		.warm_max = REGION_WARM,
		.warm_hard = REGION_WARM_HARD,
		.warm_poll = REGION_WARM_POLL,
		.warm_idle_ns = REGION_WARM_IDLE_NS,
	};
	uint64_t size = region_size();
	void *base;
	int fd, err;

	t->region_fd = -1;
	if (d->ring_size == 0)
		return 0; /* no fast path at all */
	fd = memfd_create("utmem-values", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto err_fd;
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
		    fd, 0);
	if (base == MAP_FAILED)
		goto err_fd;
	if (getrandom(&rc.seed, sizeof(rc.seed), 0) != sizeof(rc.seed))
		rc.seed = (uint64_t)umono_ns() * 0x9e3779b97f4a7c15ull;
	rc.base = base;
	rc.size = size;
	rc.fd = fd;
	err = ust_region_attach(d->st, t->id, &rc);
	if (err) {
		munmap(base, size);
		close(fd);
		ud_warn("tenant '%s': no value region: %s", t->name, strerror(-err));
		return err;
	}
	t->region_fd = fd;
	t->region_base = base;
	t->region_size = size;
	return 0;
err_fd:
	err = -errno;
	close(fd);
	ud_warn("tenant '%s': no value region: %s", t->name, strerror(-err));
	return err;
}

uint64_t ud_region_resident_bytes(struct ud_daemon *d)
{
	uint64_t sum = 0;
	struct stat st;

	pthread_mutex_lock(&d->lock);
	for (struct ud_tenant *t = d->tenants; t; t = t->next)
		if (t->region_fd >= 0 && fstat(t->region_fd, &st) == 0)
			sum += (uint64_t)st.st_blocks * 512u;
	pthread_mutex_unlock(&d->lock);
	return sum;
}

void ud_region_destroy(struct ud_tenant *t)
{
	if (t->region_fd < 0)
		return;
	munmap(t->region_base, t->region_size);
	close(t->region_fd);
	t->region_fd = -1;
	t->region_base = NULL;
}

/*
 * The liveness page (transport/ring.h): a robust, process-shared mutex in a
 * sealed memfd, locked by the calling (main) thread until the daemon exits.
 * Its futex word must hold our thread id for clients to read it as "alive":
 * checked here, and without it clients simply get no page (they then check
 * the socket instead). Returns 0 or -errno; d->live_fd is -1 on failure.
 */
int ud_live_init(struct ud_daemon *d)
{
	pthread_mutexattr_t at;
	pthread_mutex_t *m;
	uint32_t word;
	int fd, err = -EIO;

	d->live_fd = -1;
	fd = memfd_create("utmem-live", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, 4096) < 0)
		goto err_fd;
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		goto err_fd;
	pthread_mutexattr_init(&at);
	pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST);
	if (pthread_mutex_init(m, &at) || pthread_mutex_lock(m))
		goto err_map;
	memcpy(&word, m, sizeof(word));
	if ((word & URING_LIVE_TID_MASK) != (uint32_t)gettid())
		goto err_map; /* not the futex layout we rely on */
	/* Nobody may map it writable from now on (our mapping stays). */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
		  F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) < 0) {
		err = -errno;
		goto err_map;
	}
	pthread_mutexattr_destroy(&at);
	d->live_fd = fd;
	d->live = m;
	return 0;
err_map:
	pthread_mutexattr_destroy(&at);
	munmap(m, 4096);
err_fd:
	close(fd);
	ud_warn("no liveness page for fast-path clients (they check the socket instead)");
	return err;
}

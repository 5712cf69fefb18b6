/*
 * ring.c — mapping a shared-memory ring region, shared by utmemd and
 * libutmem (compiled into both).
 *
 * The double mapping that makes every run of up to `size` bytes contiguous:
 * reserve HDR + 4 * size bytes of address space with PROT_NONE (so nothing
 * else can land in the gaps), then map the header page and each data area
 * twice, back to back, over the reservation with MAP_FIXED. MAP_FIXED is
 * safe here because it only ever replaces our own reservation.
 */
#include "transport/ring.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "proto/wire.h"

/* Map `len` bytes of fd at offset `off` exactly at `at`. 0 or -errno. */
static int map_at(uint8_t *at, size_t len, int fd, off_t off)
{
	void *p = mmap(at, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		       fd, off);

	if (p == MAP_FAILED)
		return -errno;
	return 0;
}

int uring_map_fd(int fd, uint64_t size, struct uring_map *m)
{
	uint8_t *base;
	int err;

	m->base = NULL;
	if (!uring_size_ok(size))
		return -EINVAL;
	m->len = URING_HDR_SIZE + 4 * size;
	base = mmap(NULL, m->len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
		    MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return -errno;
	m->base = base;
	m->size = size;
	m->shm = (struct uring_shm *)base;
	err = map_at(base, URING_HDR_SIZE, fd, 0);
	for (int i = 0; !err && i < 2; i++) {
		uint8_t *d = base + URING_HDR_SIZE + (size_t)i * 2 * size;
		off_t off = (off_t)(URING_HDR_SIZE + (uint64_t)i * size);

		err = map_at(d, size, fd, off);
		if (!err)
			err = map_at(d + size, size, fd, off);
		m->data[i] = d;
	}
	if (err)
		uring_unmap(m);
	return err;
}

void uring_unmap(struct uring_map *m)
{
	if (m->base)
		munmap(m->base, m->len);
	m->base = NULL;
	m->shm = NULL;
}

void uring_setup_encode(const struct uring_setup *s,
			uint8_t out[URING_SETUP_SIZE])
{
	uwire_put_u32(out, URING_LAYOUT);
	uwire_put_u32(out + 4, URING_HDR_SIZE);
	uwire_put_u64(out + 8, s->size);
	uwire_put_u64(out + 16, s->region_size);
	uwire_put_u32(out + 24, s->hazard);
	uwire_put_u32(out + 28, s->flags);
}

int uring_setup_decode(const uint8_t *in, size_t len, struct uring_setup *s)
{
	if (len != URING_SETUP_SIZE || uwire_get_u32(in) != URING_LAYOUT ||
	    uwire_get_u32(in + 4) != URING_HDR_SIZE ||
	    (uwire_get_u32(in + 28) & ~URING_SETUP_LIVE))
		return -EPROTO;
	s->size = uwire_get_u64(in + 8);
	s->region_size = uwire_get_u64(in + 16);
	s->hazard = uwire_get_u32(in + 24);
	s->flags = uwire_get_u32(in + 28);
	if (!uring_size_ok(s->size))
		return -EPROTO;
	return 0;
}

/*
 * clock.h — the one clock every layer times with: CLOCK_MONOTONIC in
 * nanoseconds (a vDSO call, no system call). The store, the transport's
 * spin policy, libutmem, utmemd and the Redis module all read it here.
 */
#ifndef UTMEM_PROTO_CLOCK_H
#define UTMEM_PROTO_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t umono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif /* UTMEM_PROTO_CLOCK_H */

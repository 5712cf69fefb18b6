/*
 * spin.h — the ring's spin policy, one copy for both ends (utmemd's workers
 * and libutmem's waits; docs/protocol.md section 9, "Wake-ups").
 *
 * A side waiting for its peer may poll the ring for a bounded window before
 * sleeping, so a busy exchange needs no system call. Spinning pays only when
 * both sides really run at once on different cores, so the window adapts:
 *   - a wait shorter than the bound would have been covered by a full
 *     window: spin fully next time; a longer one (a large value, a peer that
 *     thinks between requests) halves the window, down to 1/16 of the bound;
 *   - a spin iteration that takes over USPIN_PREEMPTED_NS without the peer
 *     answering means we lost the CPU to someone else: more runnable threads
 *     than cores, where a sleeping side is woken at once by the scheduler but
 *     a spinning one waits for its next time slice. Then no spinning for
 *     USPIN_CALM_NS.
 * What each side spins on and how it sleeps (the daemon's polite yields and
 * epoll checks, the client's watch of the daemon's heartbeat) stays with it;
 * the window, its adaptation and the contention rule are here.
 */
#ifndef UTMEM_TRANSPORT_SPIN_H
#define UTMEM_TRANSPORT_SPIN_H

#include <stdint.h>

#include "proto/clock.h"

#define USPIN_PREEMPTED_NS 30000u  /* a spin iteration this long: CPU lost */
#define USPIN_CALM_NS 50000000u    /* then no spinning for 50 ms */
#define USPIN_MIN_SHIFT 4          /* the window never drops below cap/16 */
#define USPIN_CAP_MAX_US 100000u   /* largest bound a user may set */

struct uspin {
	uint64_t cap_ns;     /* the configured bound; 0 = never spin */
	uint64_t window_ns;  /* the current window */
	uint64_t calm_until; /* no spinning before this (CLOCK_MONOTONIC ns) */
};

/* Milliseconds from now until deadline (umono_ns()'s clock), rounded up
 * so that a wait of that long reaches it; 0 once it has passed. */
static inline int uspin_ms_left(uint64_t deadline)
{
	uint64_t now = umono_ns();

	return now >= deadline ? 0 : (int)((deadline - now + 999999) / 1000000);
}

/* One polite pause of a spin loop (the CPU's spin-wait hint, 16 times). */
static inline void uspin_relax(void)
{
	for (int i = 0; i < 16; i++) {
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#elif defined(__aarch64__)
		__asm__ __volatile__("yield");
#endif
	}
}

static inline void uspin_init(struct uspin *s, uint64_t cap_ns)
{
	s->cap_ns = cap_ns;
	s->window_ns = cap_ns;
	s->calm_until = 0;
}

/* The window to spin for now: 0 while calm or when spinning is off. */
static inline uint64_t uspin_window(const struct uspin *s, uint64_t now)
{
	return now < s->calm_until ? 0 : s->window_ns;
}

/*
 * A wait of `waited` ns has just ended with work: adapt the next window
 * (full after a short wait, halved after a long one, never below 1/16).
 */
static inline void uspin_adapt(struct uspin *s, uint64_t now, uint64_t waited)
{
	uint64_t floor = s->cap_ns >> USPIN_MIN_SHIFT;

	if (now < s->calm_until)
		s->window_ns = 0;
	else if (waited < s->cap_ns)
		s->window_ns = s->cap_ns;
	else if (s->window_ns > floor)
		s->window_ns /= 2;
	else if (s->window_ns == 0)
		s->window_ns = floor;
}

/*
 * A spin iteration took dt ns and the peer did not answer meanwhile. If it
 * took long enough that we must have lost the CPU, stop spinning for
 * USPIN_CALM_NS and return 1 (the caller leaves its spin loop).
 */
static inline int uspin_preempted(struct uspin *s, uint64_t now, uint64_t dt)
{
	if (dt <= USPIN_PREEMPTED_NS)
		return 0;
	s->window_ns = 0;
	s->calm_until = now + USPIN_CALM_NS;
	return 1;
}

#endif /* UTMEM_TRANSPORT_SPIN_H */

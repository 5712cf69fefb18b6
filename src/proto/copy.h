/*
 * copy.h — copying a large value into memory that nobody will read soon:
 * a staged record of the value region (libutmem writes it, utmemd adopts
 * it without reading it, a GET may read it any time later).
 *
 * Ordinary stores first read every destination line into the cache (for
 * ownership) and leave the value there, evicting the application's own
 * working set; streaming (non-temporal) stores write whole lines straight
 * to memory. Measured on the project's VM (AMD EPYC, 2026-11-30): copying
 * into destinations spread over 128-200 MiB of a shared memfd mapping took
 * 43-45 us per 1 MiB with SSE2 streaming stores against 69-75 us with
 * memcpy (glibc 2.36, rep movsb), 5.1 against 8.3-10.2 us per 128 KiB, 2.7
 * against 4.4 us per 64 KiB. Into a destination still in the cache (the
 * same few MiB rewritten) memcpy was twice as fast, so streaming is kept for
 * values of UVR_STREAM_MIN and more, where a working set of many values is
 * far larger than the cache.
 *
 * A small working set is the exception: a client rewriting the same few
 * values gets the same few extents back (utmemd reuses the most recently
 * freed first), still in the cache if they were written with ordinary
 * stores. struct uvr_reuse notices that: an extent written again within
 * UVR_REUSE_WINDOW bytes of this writer's staged values is written with
 * memcpy (one 1 MiB value rewritten: 32 us per PUT that way, 48 us
 * streamed; bench/breakdown.sh, 2026-11-30).
 *
 * The stores are weakly ordered: uvr_copy_cold ends with a store fence, so
 * whatever the caller publishes afterwards (a ring post with release
 * semantics) is seen after the value. It uses AVX2's wider stores where
 * the CPU has them, SSE2's elsewhere on x86-64; elsewhere it is memcpy.
 */
#ifndef UTMEM_PROTO_COPY_H
#define UTMEM_PROTO_COPY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <emmintrin.h>
#include <immintrin.h>
#endif

#define UVR_STREAM_MIN (64u * 1024u)

#define UVR_REUSE_SLOTS 16u
#define UVR_REUSE_WINDOW (4ull << 20)

/* The last extents one writer staged values in, and where in its stream of
 * staged bytes it did. Zeroed: knows nothing (every extent is cold). */
struct uvr_reuse {
	uint64_t off[UVR_REUSE_SLOTS];   /* extent offset + 1 (0: empty) */
	uint64_t at[UVR_REUSE_SLOTS];    /* bytes staged before that write */
	uint64_t bytes;                  /* bytes staged so far */
	unsigned next;                   /* the slot to fill next */
};

/*
 * Note a write of len bytes at off; returns 1 if the same extent was
 * written within the last UVR_REUSE_WINDOW bytes (likely in the cache).
 */
static inline int uvr_reuse_note(struct uvr_reuse *r, uint64_t off, uint64_t len)
{
	int hot = 0;

	for (unsigned i = 0; i < UVR_REUSE_SLOTS; i++)
		if (r->off[i] == off + 1 && r->bytes - r->at[i] <= UVR_REUSE_WINDOW)
			hot = 1;
	r->off[r->next] = off + 1;
	r->at[r->next] = r->bytes;
	r->next = (r->next + 1) % UVR_REUSE_SLOTS;
	r->bytes += len;
	return hot;
}

#if defined(__x86_64__)
/* Streaming copy of n bytes, SSE2 (every x86-64): 64 bytes a turn. */
static inline void uvr_stream_sse2(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	size_t head = (16u - ((uintptr_t)d & 15u)) & 15u;

	if (head > n)
		head = n;
	memcpy(d, s, head);
	d += head, s += head, n -= head;
	for (; n >= 64; d += 64, s += 64, n -= 64) {
		__m128i a = _mm_loadu_si128((const __m128i *)(const void *)s);
		__m128i b = _mm_loadu_si128((const __m128i *)(const void *)(s + 16));
		__m128i c = _mm_loadu_si128((const __m128i *)(const void *)(s + 32));
		__m128i e = _mm_loadu_si128((const __m128i *)(const void *)(s + 48));

		_mm_stream_si128((__m128i *)(void *)d, a);
		_mm_stream_si128((__m128i *)(void *)(d + 16), b);
		_mm_stream_si128((__m128i *)(void *)(d + 32), c);
		_mm_stream_si128((__m128i *)(void *)(d + 48), e);
	}
	memcpy(d, s, n);
	_mm_sfence();
}

/* The same with AVX2's 32-byte stores, 128 bytes a turn. On the project's
 * VM (AMD EPYC, 2026-12-01) a native 1 MiB PUT (utmem-bench, one
 * connection, 256 keys, A B alternated 4 times) took 26.6 us at the median
 * against 27.8 with SSE2's; 128 KiB 3.62 against 3.67 us. Only where the
 * CPU has AVX2 (uvr_have_avx2). */
__attribute__((target("avx2"))) static inline void
uvr_stream_avx2(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	size_t head = (32u - ((uintptr_t)d & 31u)) & 31u;

	if (head > n)
		head = n;
	memcpy(d, s, head);
	d += head, s += head, n -= head;
	for (; n >= 128; d += 128, s += 128, n -= 128) {
		__m256i a = _mm256_loadu_si256((const __m256i *)(const void *)s);
		__m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(s + 32));
		__m256i c = _mm256_loadu_si256((const __m256i *)(const void *)(s + 64));
		__m256i e = _mm256_loadu_si256((const __m256i *)(const void *)(s + 96));

		_mm256_stream_si256((__m256i *)(void *)d, a);
		_mm256_stream_si256((__m256i *)(void *)(d + 32), b);
		_mm256_stream_si256((__m256i *)(void *)(d + 64), c);
		_mm256_stream_si256((__m256i *)(void *)(d + 96), e);
	}
	memcpy(d, s, n);
	_mm_sfence();
}

/* Does this CPU have AVX2? Asked once per program (per file including
 * this header), relaxed: every thread computes the same answer. */
static inline int uvr_have_avx2(void)
{
	static int have = -1;
	int h = __atomic_load_n(&have, __ATOMIC_RELAXED);

	if (h < 0) {
		__builtin_cpu_init();
		h = __builtin_cpu_supports("avx2") ? 1 : 0;
		__atomic_store_n(&have, h, __ATOMIC_RELAXED);
	}
	return h;
}
#endif

static inline void uvr_copy_cold(void *dst, const void *src, size_t n)
{
#if defined(__x86_64__)
	if (n < UVR_STREAM_MIN) {
		memcpy(dst, src, n);
		return;
	}
	if (uvr_have_avx2())
		uvr_stream_avx2(dst, src, n);
	else
		uvr_stream_sse2(dst, src, n);
#else
	memcpy(dst, src, n);
#endif
}

#endif

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
 * The stores are weakly ordered: uvr_copy_cold ends with a store fence, so
 * whatever the caller publishes afterwards (a ring post with release
 * semantics) is seen after the value. Elsewhere than x86-64 it is memcpy.
 */
#ifndef UTMEM_PROTO_COPY_H
#define UTMEM_PROTO_COPY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

#define UVR_STREAM_MIN (64u * 1024u)

static inline void uvr_copy_cold(void *dst, const void *src, size_t n)
{
#if defined(__x86_64__)
	uint8_t *d = dst;
	const uint8_t *s = src;
	size_t head;

	if (n < UVR_STREAM_MIN) {
		memcpy(dst, src, n);
		return;
	}
	head = (16u - ((uintptr_t)d & 15u)) & 15u;
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
#else
	memcpy(dst, src, n);
#endif
}

#endif

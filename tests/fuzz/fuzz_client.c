/*
 * fuzz_client.c — libFuzzer target for libutmem's reply handling.
 *
 * The input plays a daemon: it is written to one end of a socket pair and
 * then that end is shut, so the client reads exactly these bytes followed
 * by end of stream. The client does HELLO and a fixed sequence of calls and
 * a batch; whatever the bytes, every call must return (no hang: the input is
 * finite and the peer's end is closed), never write outside the caller's
 * buffers, and report a GET length no larger than the buffer.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/client_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void run_calls(utmem_client *c)
{
	char buf[64];
	void *val = NULL;
	size_t vlen = 0;
	struct utmem_stats st;
	uint32_t pool = 0;
	utmem_batch *b;
	ssize_t n;

	if (utmem_pool_open(c, "pool", UTMEM_POOL_CREATE, &pool))
		pool = 1;
	utmem_put(c, pool, "key", 3, "value", 5);
	n = utmem_get(c, pool, "key", 3, buf, sizeof(buf), 0);
	assert(n < 0 || (size_t)n <= sizeof(buf));
	if (utmem_get_alloc(c, pool, "key", 3, &val, &vlen, 0) == 0) {
		assert(val != NULL);
		free(val);
	}
	utmem_stats(c, 0, &st);
	utmem_invalidate(c, pool, "key", 3);
	if (utmem_batch_new(c, &b) == 0) {
		utmem_batch_put(b, pool, "a", 1, "1", 1);
		utmem_batch_get(b, pool, "a", 1, buf, 8, UTMEM_GET_EXCLUSIVE);
		utmem_batch_invalidate(b, pool, "a", 1);
		utmem_batch_exec(b);
		assert(utmem_batch_result(b, 1) <= 8);
		utmem_batch_free(b);
	}
	utmem_ping(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	utmem_client *c;
	int sv[2];
	int one = 4 << 20;

	if (len > 64 * 1024)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return 0;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &one, sizeof(one));
	if (len && write(sv[1], data, len) != (ssize_t)len) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	shutdown(sv[1], SHUT_WR);
	if (uclient_attach_fd(sv[0], 1000, &c) == 0) {
		run_calls(c);
		utmem_close(c);
	}
	close(sv[1]);
	return 0;
}

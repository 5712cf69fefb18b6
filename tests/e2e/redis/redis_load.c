/*
 * redis_load.c — one client of the Redis module's load-under-restart case
 * (redis_module_test.sh, section 7b): on one hiredis connection to
 * redis-server, TMEM.PUT of a fresh value, TMEM.GET of the same key and
 * PING, again and again until the file STOP exists, each command timed on
 * the open connection (no process start counted). One line per command
 * on stdout, tab-separated, for the script to judge:
 *   end_ms  cmd  answered(0/1: 1 = no reply, the connection failed)
 *   latency_ms  value_put_last_for_this_key  reply_text
 * (end_ms from CLOCK_REALTIME, as the script's `date +%s%N`.) A 2 ms pause
 * after each round keeps three of them from taking every core of a busy
 * test machine (still thousands of commands in the case's 4 s). Exit 1
 * only if it could not connect at all.
 *
 * usage: redis_load SOCKET ID STOP
 */
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The reply as one line of text (newlines and tabs replaced). */
static void text(const redisReply *r, char *out, size_t cap)
{
	const char *s = "";
	size_t n = 0;

	if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
		  r->type == REDIS_REPLY_ERROR)) {
		s = r->str;
		n = r->len;
	} else if (r && r->type == REDIS_REPLY_NIL) {
		s = "(nil)";
		n = 5;
	} else if (r) {
		s = "(other)";
		n = 7;
	}
	if (n >= cap)
		n = cap - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = (s[i] == '\n' || s[i] == '\t' || s[i] == '\r') ? ' ' : s[i];
	out[n] = 0;
}

int main(int argc, char **argv)
{
	struct timeval tv = {10, 0}; /* a hang shows as a slow answer */
	struct stat sb;
	redisContext *rc;
	char val[64], key[32], out[512];
	long i = 0;

	if (argc != 4) {
		fprintf(stderr, "usage: redis_load SOCKET ID STOP\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = redisConnectUnixWithTimeout(argv[1], tv);
	if (!rc || rc->err) {
		fprintf(stderr, "redis_load: connect %s: %s\n", argv[1],
			rc ? rc->errstr : "out of memory");
		return 1;
	}
	redisSetTimeout(rc, tv);
	while (stat(argv[3], &sb) != 0) {
		snprintf(key, sizeof(key), "load%s-%ld", argv[2], i % 20);
		snprintf(val, sizeof(val), "v%s-%ld-%d", argv[2], i, rand());
		for (int cmd = 0; cmd < 3; cmd++) {
			static const char *names[] = {"put", "get", "ping"};
			long long t0 = now_ms(CLOCK_MONOTONIC);
			redisReply *r;

			if (cmd == 0)
				r = redisCommand(rc, "TMEM.PUT %s %s", key, val);
			else if (cmd == 1)
				r = redisCommand(rc, "TMEM.GET %s", key);
			else
				r = redisCommand(rc, "PING");
			text(r, out, sizeof(out));
			printf("%lld\t%s\t%d\t%lld\t%s\t%s\n", now_ms(CLOCK_REALTIME),
			       names[cmd], r ? 0 : 1, now_ms(CLOCK_MONOTONIC) - t0, val,
			       out);
			if (!r) {
				/* The connection to Redis failed: say so and stop. */
				redisFree(rc);
				return 0;
			}
			freeReplyObject(r);
		}
		i++;
		usleep(2000);
	}
	redisFree(rc);
	return 0;
}

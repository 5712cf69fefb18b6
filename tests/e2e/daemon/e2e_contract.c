/*
 * e2e_contract.c — end-to-end checks of promises include/utmem.h makes
 * about a client's life against a real utmemd, driven by t_contract.sh.
 *
 * Subcommands (exit status 0 only if every check held):
 *   fork ADDR
 *       a client with values stored (every size class: ring, staged into
 *       the region, 256 KiB) and an asynchronous GET outstanding forks;
 *       parent and child then both use the inherited client at once. The
 *       child's first call drops the inherited connection and connects
 *       anew: the outstanding GET completes in the child with
 *       -ECONNRESET (in the parent with its value), the child reads the
 *       parent's values and stores and reads its own, its event
 *       descriptor keeps its number and works; it closes the client.
 *       Every call of either succeeds and every value reads back whole,
 *       in both, afterwards too. A client with no_reconnect fails in
 *       the child with -ENOTCONN and works on in the parent. A child that
 *       only closes the client leaves the parent's connection as it was.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "e2e_check.h"
#include "utmem.h"

#define NKEYS 24
#define ROUNDS 300

/* Sizes that take every path: inline in the ring, staged, large. */
static size_t key_size(unsigned id)
{
	static const size_t sizes[] = {0, 1, 100, 4000, 20000, 70000, 262144};

	return sizes[id % (sizeof(sizes) / sizeof(sizes[0]))];
}

/* Value of key id, version ver: every byte depends on all three. */
static void fill(uint8_t *p, size_t n, unsigned who, unsigned id, unsigned ver)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31u + (i >> 8) + who * 101u + id * 7u +
				 ver * 13u);
}

static int same(const uint8_t *p, size_t n, unsigned who, unsigned id,
		unsigned ver)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (uint8_t)(i * 31u + (i >> 8) + who * 101u + id * 7u +
				      ver * 13u))
			return 0;
	return 1;
}

static uint8_t buf[262144], got[262144];

/* PUT key (who, id) version ver. */
static void put_key(utmem_client *c, uint32_t p, unsigned who, unsigned id,
		    unsigned ver, const char *ctx)
{
	char k[32];
	size_t n = key_size(id);

	snprintf(k, sizeof(k), "%c%u", "pcq"[who], id);
	fill(buf, n, who, id, ver);
	int rc = utmem_put(c, p, k, strlen(k), buf, n);
	if (rc) {
		fprintf(stderr, "%s: put %s\n", ctx, k);
		CHECK_EQ("utmem_put", rc, 0);
	}
}

/* GET key (who, id): whole and of version ver. */
static void check_key(utmem_client *c, uint32_t p, unsigned who, unsigned id,
		      unsigned ver, const char *ctx)
{
	char k[32];
	size_t n = key_size(id);
	ssize_t rc;

	snprintf(k, sizeof(k), "%c%u", "pcq"[who], id);
	rc = utmem_get(c, p, k, strlen(k), got, sizeof(got), 0);
	if (rc != (ssize_t)n || !same(got, n, who, id, ver)) {
		fprintf(stderr, "%s: get %s (version %u)\n", ctx, k, ver);
		CHECK_EQ("utmem_get length", rc, (ssize_t)n);
		if (rc == (ssize_t)n)
			CHECK_EQ("value whole", 0, 1);
	}
}

/* Reap until the completion tagged tag comes (bounded), via the event fd. */
static int reap_tag(utmem_client *c, uint64_t tag, struct utmem_completion *out)
{
	int ep = utmem_event_fd(c);

	if (ep < 0)
		return ep;
	for (int i = 0; i < 500; i++) {
		struct pollfd pf = {.fd = ep, .events = POLLIN};
		struct utmem_completion cq;
		int n;

		(void)poll(&pf, 1, 10);
		while ((n = utmem_reap(c, &cq, 1)) == 1) {
			if (cq.tag == tag) {
				*out = cq;
				return 0;
			}
			free(cq.val);
		}
		if (n < 0)
			return n;
	}
	return -ETIMEDOUT;
}

/* The child's part: everything through the inherited client c. */
static int fork_child(utmem_client *c, uint32_t p, int ep_parent, int go)
{
	struct utmem_completion cq;
	char ch;
	int ep;

	if (read(go, &ch, 1) != 1)
		return 1;
	/* The parent's outstanding GET is not the child's to receive. */
	CHECK_EQ("child: reap the parent's GET", reap_tag(c, 7, &cq), 0);
	CHECK_EQ("child: its completion", cq.result, -ECONNRESET);
	free(cq.val);
	CHECK_EQ("child: outstanding", utmem_async_outstanding(c), 0);
	ep = utmem_event_fd(c);
	CHECK_EQ("child: event descriptor number", ep, ep_parent);
	for (unsigned r = 0; r < ROUNDS && !failures; r++) {
		unsigned id = r % NKEYS;

		put_key(c, p, 1, id, r, "child");
		check_key(c, p, 1, id, r, "child");
		check_key(c, p, 0, (r * 5u) % NKEYS, 0, "child");
	}
	/* An asynchronous GET of the child's own, woken through its fd. */
	CHECK_EQ("child: submit", utmem_submit_get(c, p, "c3", 2, 0, 8), 0);
	CHECK_EQ("child: reap its GET", reap_tag(c, 8, &cq), 0);
	CHECK_EQ("child: its GET's length", cq.result, (int64_t)key_size(3));
	free(cq.val);
	utmem_close(c);
	return failures ? 1 : 0;
}

static int wait_child(pid_t pid, const char *what)
{
	int st = 0;

	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "FAIL %s: child status %#x\n", what, st);
		failures++;
		return -1;
	}
	return 0;
}

static int cmd_fork(char **argv)
{
	const char *addr = argv[0];
	struct utmem_options nr = {.timeout_ms = 5000, .no_reconnect = 1};
	utmem_client *c = e2e_dial(addr, 0), *c2 = NULL;
	struct utmem_completion cq;
	int go[2], ep;
	uint32_t p;
	pid_t pid;

	CHECK_EQ("pool open", utmem_pool_open(c, "forkp", UTMEM_POOL_CREATE, &p), 0);
	for (unsigned id = 0; id < NKEYS; id++) {
		put_key(c, p, 0, id, 0, "parent");
		put_key(c, p, 1, id, 999, "parent"); /* the child overwrites these */
	}
	CHECK_EQ("sync", utmem_sync(c), 0);
	ep = utmem_event_fd(c);
	CHECK_EQ("submit before fork", utmem_submit_get(c, p, "p2", 2, 0, 7), 0);
	if (failures || pipe(go))
		return 1;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		close(go[1]);
		_exit(fork_child(c, p, ep, go[0]));
	}
	close(go[0]);
	if (write(go[1], "g", 1) != 1)
		return 1;
	/* Both at once: the parent on its own inherited connection. */
	for (unsigned r = 0; r < ROUNDS && !failures; r++) {
		unsigned id = r % NKEYS;

		put_key(c, p, 2, id, r + 1, "parent");
		check_key(c, p, 2, id, r + 1, "parent");
		if (r == ROUNDS / 2) {
			CHECK_EQ("parent: reap its GET", reap_tag(c, 7, &cq), 0);
			CHECK_EQ("parent: its GET's length", cq.result,
				 (int64_t)key_size(2));
			free(cq.val);
		}
	}
	close(go[1]);
	wait_child(pid, "child using the inherited client");
	CHECK_EQ("parent: ping", utmem_ping(c), 0);
	for (unsigned id = 0; id < NKEYS; id++) {
		unsigned last = id;

		while (last + NKEYS < ROUNDS)
			last += NKEYS;
		check_key(c, p, 0, id, 0, "parent after (fixed)");
		check_key(c, p, 2, id, last + 1, "parent after");
		check_key(c, p, 1, id, last, "parent after (child's)");
	}

	/* Without reconnects: the child gets -ENOTCONN, the parent goes on. */
	CHECK_EQ("no_reconnect connect", utmem_connect(addr, &nr, &c2), 0);
	if (!c2)
		return 1;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		failures = 0;
		CHECK_EQ("child: ping, no_reconnect", utmem_ping(c2), -ENOTCONN);
		CHECK_EQ("child: put, no_reconnect",
			 utmem_put(c2, p, "x", 1, "y", 1), -ENOTCONN);
		utmem_close(c2);
		_exit(failures ? 1 : 0);
	}
	wait_child(pid, "no_reconnect child");
	CHECK_EQ("parent: ping, no_reconnect", utmem_ping(c2), 0);
	utmem_close(c2);

	/* A child that only closes: the parent's connection is untouched. */
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		utmem_close(c);
		_exit(0);
	}
	wait_child(pid, "closing child");
	for (unsigned r = 0; r < 50 && !failures; r++) {
		put_key(c, p, 2, r % NKEYS, 5000 + r, "parent after close");
		check_key(c, p, 2, r % NKEYS, 5000 + r, "parent after close");
	}
	CHECK_EQ("parent: ping at the end", utmem_ping(c), 0);
	utmem_close(c);
	if (!failures)
		printf("fork: parent and child both served\n");
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int nargs;
		int (*fn)(char **argv);
	} cmds[] = {
		{"fork", 1, cmd_fork},
	};

	for (size_t i = 0; argc >= 2 && i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0 && argc == cmds[i].nargs + 2)
			return cmds[i].fn(argv + 2);
	fprintf(stderr, "usage: e2e_contract fork ADDR\n");
	return 2;
}

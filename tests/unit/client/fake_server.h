/*
 * fake_server.h — a small utmemd stand-in for libutmem's unit tests.
 *
 * A thread per connection serves a listening socket (Unix in a mktemp
 * directory, or TCP on 127.0.0.1), speaking the real wire module.
 * It keeps a tiny key-value store that survives reconnects, gives pools a
 * different id on every connection (so a client that fails to reopen its
 * pools by name is caught), records the last request, and misbehaves on
 * purpose for keys starting with '!':
 *   !close      answer with half a header, then close the connection
 *   !drop       close the connection without answering
 *   !hang       never answer (keep reading)
 *   !status=N   answer with status N
 */
#ifndef FAKE_SERVER_H
#define FAKE_SERVER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/wire.h"
#include "utmem.h"

#define FAKE_MAX_ENTRIES 8192
#define FAKE_MAX_POOLS 16
#define FAKE_MAX_CONNS 64

/* What the fake answers SERVER_INFO with. */
#define FAKE_SERVER_INFO "version:fake\ntenant:fake-tenant\n"

struct fake_server;

struct fake_conn {
	struct fake_server *s;
	int fd;
	int gen; /* connection number, from 1: pool ids are gen * 1000 + n */
	pthread_t thread;
};

struct fake_entry {
	uint32_t pool; /* index + 1 */
	uint32_t klen;
	uint8_t key[64];
	uint8_t *val;
	size_t vlen;
};

struct fake_server {
	/* configuration, set before fake_start() */
	uint16_t hello_status;
	int hello_hang;    /* never answer HELLO */
	uint32_t hello_version;
	uint32_t max_key, max_value;
	const char *token; /* TCP: the only token accepted */

	/* state, under lock */
	pthread_mutex_t lock;
	int lfd;
	int stop;
	int connections; /* accepted so far */
	struct fake_conn conns[FAKE_MAX_CONNS];
	char dir[64];
	char addr[160];
	pthread_t thread;
	struct uwire_hdr last;
	uint8_t last_key[256];
	uint8_t last_val[64];
	char hello_key[128];
	uint64_t requests;
	char pools[FAKE_MAX_POOLS][64];
	uint16_t pool_flags[FAKE_MAX_POOLS];
	struct fake_entry entries[FAKE_MAX_ENTRIES];
	size_t nentries;
};

/* Start serving; tcp=1 for 127.0.0.1, else a Unix socket. 0 or -errno. */
int fake_start(struct fake_server *s, int tcp);
void fake_stop(struct fake_server *s);
/* Hang up every connection, as a daemon restart would. */
void fake_kick(struct fake_server *s);

/* The unit tests' fixture: a fake server on a Unix socket (values up to
 * 4 MiB), a client connected to it (2 s timeout) and its pool "p1" open. */
struct fake_fixture {
	struct fake_server srv;
	utmem_client *c;
	uint32_t pool;
};
/* cmocka setup and teardown: *state is the struct fake_fixture. */
int fake_fixture_setup(void **state);
int fake_fixture_teardown(void **state);

#endif

/*
 * backoff.c — failed TCP HELLOs by source address, so tokens cannot be
 * guessed at line rate (docs/security.md, "TCP").
 *
 * Each IPv4 source that sent a wrong token has a record (all of
 * 127.0.0.0/8 sharing one): its failures,
 * and until when it is refused. The first FREE_FAILS failures cost nothing
 * (a mistyped token); each further one doubles the time the address is
 * refused at accept, from BASE_MS up to MAX_MS, and an address that stays
 * quiet for FORGET_S is forgotten. A refused address's connections are
 * closed at accept with an AUTH refusal, before a byte is read, so a
 * guesser gets at most one guess per back-off period per address (plus
 * the connections already accepted, at most max_unauth).
 *
 * The table is fixed (TABLE_SIZE records, 4-way probing, the stalest
 * record replaced), so a flood from many addresses costs no memory; such a
 * flood is bounded by max_unauth and auth_timeout instead. Records are
 * written by the workers (a failed HELLO) and read by the main thread (at
 * accept) under one mutex: this path is taken only by failures and TCP
 * accepts, never by served requests.
 */
#include "daemon/daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>

#define TABLE_SIZE 1024u /* a power of two */
#define PROBE 4u
#define FREE_FAILS 3u
#define BASE_MS 250u
#define MAX_MS 30000u
#define FORGET_S 600u

struct ud_authfail_rec {
	uint32_t addr;    /* network order; 0 = free */
	uint32_t fails;
	uint64_t until_ns; /* refused before this */
	uint64_t last_ns;  /* last failure */
};

struct ud_authfail {
	pthread_mutex_t lock;
	struct ud_authfail_rec rec[TABLE_SIZE];
};

int ud_authfail_init(struct ud_daemon *d)
{
	d->authfail = calloc(1, sizeof(*d->authfail));
	if (!d->authfail)
		return -ENOMEM;
	pthread_mutex_init(&d->authfail->lock, NULL);
	return 0;
}

void ud_authfail_fini(struct ud_daemon *d)
{
	if (!d->authfail)
		return;
	pthread_mutex_destroy(&d->authfail->lock);
	free(d->authfail);
	d->authfail = NULL;
}

/*
 * The address a record is kept under: every loopback source (127.0.0.0/8,
 * where the TCP listener is by default) is one, since one local user can
 * connect from any of 16 million of them and would otherwise get a fresh
 * allowance of guesses from each.
 */
static uint32_t key_of(uint32_t addr)
{
	return (ntohl(addr) >> 24) == 127 ? htonl(0x7f000001u) : addr;
}

static unsigned slot_of(uint32_t addr)
{
	return (unsigned)((addr * 2654435761u) >> 16) & (TABLE_SIZE - 1);
}

/* addr's record, or NULL. Caller holds the lock. */
static struct ud_authfail_rec *find(struct ud_authfail *a, uint32_t addr)
{
	unsigned s = slot_of(addr);

	for (unsigned i = 0; i < PROBE; i++) {
		struct ud_authfail_rec *r = &a->rec[(s + i) & (TABLE_SIZE - 1)];

		if (r->addr == addr)
			return r;
	}
	return NULL;
}

int ud_authfail_blocked(struct ud_daemon *d, uint32_t addr)
{
	struct ud_authfail *a = d->authfail;
	struct ud_authfail_rec *r;
	int blocked;

	if (!a || !addr)
		return 0;
	addr = key_of(addr);
	pthread_mutex_lock(&a->lock);
	r = find(a, addr);
	blocked = r && umono_ns() < r->until_ns;
	pthread_mutex_unlock(&a->lock);
	return blocked;
}

void ud_authfail_record(struct ud_daemon *d, uint32_t addr)
{
	struct ud_authfail *a = d->authfail;
	struct ud_authfail_rec *r, *old = NULL;
	uint64_t now = umono_ns(), ms;
	unsigned s;

	if (!a || !addr)
		return;
	addr = key_of(addr);
	s = slot_of(addr);
	pthread_mutex_lock(&a->lock);
	r = find(a, addr);
	if (!r) {
		/* A free record, else the one whose last failure is oldest. */
		for (unsigned i = 0; i < PROBE; i++) {
			struct ud_authfail_rec *c = &a->rec[(s + i) & (TABLE_SIZE - 1)];

			if (!old || !c->addr || c->last_ns < old->last_ns)
				old = c;
			if (!c->addr)
				break;
		}
		r = old;
		*r = (struct ud_authfail_rec){.addr = addr};
	}
	if (now - r->last_ns > FORGET_S * 1000000000ull)
		r->fails = 0;
	r->fails++;
	r->last_ns = now;
	if (r->fails > FREE_FAILS) {
		unsigned shift = r->fails - FREE_FAILS - 1;

		ms = shift >= 8 ? MAX_MS : (uint64_t)BASE_MS << shift;
		if (ms > MAX_MS)
			ms = MAX_MS;
		r->until_ns = now + ms * 1000000ull;
	}
	pthread_mutex_unlock(&a->lock);
}

/*
 * names.h — a map from names (tenants', sockets', tokens') to records, so
 * that the loops over every tenant of a configuration cost one pass, not
 * one pass per tenant: with thousands of tenants a reload or a `tenant set`
 * on the main loop went from milliseconds to seconds (names.c).
 *
 * The map keeps pointers to the caller's keys and records, which must
 * outlive their entries. Names come from the operator (the config file or
 * the admin socket), never from a tenant, so a simple hash serves.
 */
#ifndef UTMEM_DAEMON_NAMES_H
#define UTMEM_DAEMON_NAMES_H

#include <stddef.h>

struct ud_names_slot {
	const char *key; /* NULL: free */
	void *item;
};

struct ud_names {
	struct ud_names_slot *slot;
	size_t cap; /* a power of two, or 0 */
	size_t n;
};

#define UD_NAMES_INIT {NULL, 0, 0}

/*
 * Add key -> item. Returns 0, 1 when key is there already (*old, if not
 * NULL, gets its item; the map is unchanged), or -ENOMEM.
 */
int ud_names_put(struct ud_names *m, const char *key, void *item, void **old);
/* The item of key, or NULL. */
void *ud_names_get(const struct ud_names *m, const char *key);
/* Forget key, if there. */
void ud_names_del(struct ud_names *m, const char *key);
void ud_names_free(struct ud_names *m);

#endif

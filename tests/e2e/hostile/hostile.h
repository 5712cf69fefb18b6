/*
 * hostile.h — what the hostile-tenant suite's client (hostile.c) shares
 * with its flush attacks (flush.c), its ring attacks (ringhold.c,
 * ringpost.c, ringunread.c, ringhalf.c, ringidle.c, ringliar.c, on the raw ring client
 * of ../rawring.c), its index attack (idxcraft.c) and its slab attack
 * (slabcraft.c): clocks, the machine's stalls (stall.c), raw
 * connections speaking the wire protocol, and the well-behaved tenant's
 * libutmem connection.
 */
#ifndef UTMEM_TEST_HOSTILE_H
#define UTMEM_TEST_HOSTILE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/wire.h"
#include "utmem.h"

uint64_t now_us(void);
/* UTMEM_TEST_SLOWDOWN (default 1): how many times slower this build runs
 * than a plain one (make tsan sets 10); time bounds are multiplied by it. */
unsigned test_slowdown(void);
/*
 * Print what failed with errno and exit 2 (the subcommand could not run).
 * Declared noreturn so that clang (the TSan build) sees a variable set in
 * the condition before `|| die()` as set after it.
 */
_Noreturn void die(const char *what);
/* Connect to unix:PATH, tcp:HOST:PORT or a bare path. Returns fd or -1. */
int dial(const char *addr);
/* Send one frame (header, key, value). Returns 0 or -1. */
int send_frame(int fd, unsigned op, unsigned flags, uint64_t id,
	       uint32_t pool, const void *key, uint32_t klen,
	       const void *val, uint32_t vlen);
/* Receive exactly len bytes within ms. Returns 0 or -1. */
int recv_all(int fd, void *buf, size_t len, int ms);
/* Read one reply (its value skipped) within ms: its status, or -1. */
int read_reply(int fd, struct uwire_hdr *h, int ms);
/* Has the daemon closed fd (EOF or reset) within ms? Consumes its input. */
int hung_up_within(int fd, int ms);
/* Open (create) a private pool on a raw connection: its id, or 0. */
uint32_t raw_pool(int fd, const char *name);
/* A libutmem connection to the tenant socket sock. */
utmem_client *connect_lib(const char *sock);
/* The same with UTMEM_OPT_* flags. */
utmem_client *connect_lib_flags(const char *sock, unsigned flags);

/* The machine's own stalls, seen by a thread that sleeps 1 ms at a time
 * (stall.c): start and stop the thread; the stalled time within an
 * interval (calls in order, sharing a cursor that starts at 0); the
 * longest stall. */
int stall_watch_start(void);
void stall_watch_stop(void);
uint64_t stall_within(uint64_t from, uint64_t to, unsigned *cursor);
uint64_t stall_longest(void);

int cmd_flushrace(char **argv);
int cmd_flushhup(char **argv);
int cmd_flushfair(char **argv);
int cmd_flushpipe(char **argv);
int cmd_flushclose(char **argv);
int cmd_flushreset(char **argv);
int cmd_bigcopy(char **argv);
int cmd_ringdrain(char **argv);
int cmd_ringhold(char **argv);
int cmd_ringpost(char **argv);
int cmd_ringunread(char **argv);
int cmd_ringhalf(char **argv);
int cmd_ringidle(char **argv);
int cmd_ringliar(char **argv);
int cmd_idxcraft(char **argv);
int cmd_slabcraft(char **argv);

#endif

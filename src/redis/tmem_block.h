/*
 * tmem_block.h — TMEM.POP, TMEM.DEL, TMEM.PUT and TMEM.MPUT beyond the
 * connection's credit, TMEM.INFO (and TMEM.MGET and TMEM.EXISTS without a
 * value region) without stalling Redis's thread:
 * the calling client is blocked (RedisModule_BlockClient), the requests go
 * to utmemd as libutmem asynchronous requests, Redis's event loop watches
 * utmem_event_fd(), and each command is answered when its last reply is
 * in (docs/redis.md, "Blocking").
 *
 * Used where the client may be blocked: Redis >= 7.0 (EventLoopAdd), and
 * not inside MULTI, a script or function, or a context that denies
 * blocking. Elsewhere, and when the bounds below are exceeded, the
 * commands run synchronously as before.
 */
#ifndef UTMEM_REDIS_TMEM_BLOCK_H
#define UTMEM_REDIS_TMEM_BLOCK_H

#include <stddef.h>

#include "rm_api.h"
#include "tmem_conn.h"

/* Keys (pairs) of one TMEM.DEL, TMEM.MGET, TMEM.EXISTS or TMEM.MPUT sent
 * asynchronously; more go the synchronous, chunked way. */
#define TBLOCK_KEYS_MAX 256

/*
 * TMEM.POP key / TMEM.DEL key...: submit and block the client (argc
 * checked by the caller). Return 1 when the command was taken (blocked,
 * or already answered), 0 when the caller must run it synchronously
 * (nothing was sent).
 */
int tblock_pop(RedisModuleCtx *ctx, RedisModuleString **argv);
int tblock_del(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);
/* TMEM.GET key where it cannot be read one-sidedly now (no value region,
 * the link down, a PUT of the key posted and not applied yet). */
int tblock_get(RedisModuleCtx *ctx, RedisModuleString **argv);
/* TMEM.MGET and TMEM.EXISTS where the keys cannot be read one-sidedly
 * (no value region). */
int tblock_mget(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);
int tblock_exists(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);
/* TMEM.PUT key value / TMEM.MPUT key value...: pairs the connection's
 * credit covers are posted (stored at once); the client blocks only when
 * one must wait for utmemd's answer (argc checked, keys non-empty). */
int tblock_put(RedisModuleCtx *ctx, RedisModuleString **argv);
int tblock_mput(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);
/* TMEM.INFO: utmemd's counters for the tenant and the pool, and its server
 * text, asked asynchronously; answered by tcmd_info_reply(). */
int tblock_info(RedisModuleCtx *ctx);

/*
 * t->c is about to be closed: take the completions that are in, answer
 * every command still waiting with err, stop watching the descriptor.
 */
void tblock_on_drop(struct tconn *t, int err);

/*
 * Before Redis's event loop sleeps: a command waiting past timeout_ms
 * means utmemd is hung; drop the link so every waiting command is
 * answered -TIMEOUT. Cheap when nothing waits.
 */
void tblock_tick(void);

/* The before-sleep hook calling tblock_tick() is in place: commands may
 * block from now on (never without it: nothing would time them out). */
void tblock_enable(void);

/* The module goes (after tconn_shutdown): free what is kept for reuse. */
void tblock_fini(void);

#endif /* UTMEM_REDIS_TMEM_BLOCK_H */

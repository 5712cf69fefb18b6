/*
 * tmem_cmd.h — the TMEM.* Redis commands of utmem.so: handlers (one file
 * per family), the helpers they share, and their registration.
 *
 * Every handler runs on Redis's main thread, replies exactly once through
 * ctx and returns RM_OK; arity errors use Redis's own wording.
 */
#ifndef UTMEM_REDIS_TMEM_CMD_H
#define UTMEM_REDIS_TMEM_CMD_H

#include <stddef.h>
#include <sys/types.h>

#include "rm_api.h"
#include "tmem_conn.h"

/* tmem_cmd.c: TMEM.PUT / TMEMPUT key value, TMEM.GET / TMEMGET key,
 * TMEM.POP key. */
int tcmd_put(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);
int tcmd_get(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);
int tcmd_pop(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);

/* tmem_multi.c: TMEM.DEL, TMEM.EXISTS, TMEM.MPUT, TMEM.MGET. */
int tcmd_del(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);
int tcmd_exists(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);
int tcmd_mput(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);
int tcmd_mget(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);

/* tmem_info.c: TMEM.INFO. */
int tcmd_info(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);
/* TMEM.INFO's reply from utmemd's answers: err < 0 when the counters could
 * not be had (tenant and pool then unused), server NULL when utmemd gave
 * no server text. */
int tcmd_info_reply(RedisModuleCtx *ctx, int64_t err,
		    const struct utmem_stats *tenant,
		    const struct utmem_stats *pool, const char *server);

/*
 * Shared helpers (tmem_cmd.c). tcmd_no_value: 1 if libutmem result res for
 * a key of klen bytes means "the key holds nothing" (a miss, or a key
 * utmemd cannot hold at all). tcmd_reply_empty_key: the error reply for a
 * write under an empty key; returns RM_OK. tcmd_size_what: whether a
 * -EMSGSIZE for a key of klen bytes is about the key or the value (the key
 * when it is over utmemd's max_key). A PUT refused for its size needs no
 * INVALIDATE of ours: libutmem sends one in its place (utmem.h).
 */
int tcmd_no_value(ssize_t res, size_t klen);
enum tconn_what tcmd_size_what(const struct tconn *t, size_t klen);
int tcmd_reply_empty_key(RedisModuleCtx *ctx, struct tconn *t);

/*
 * tmem_register.c: register every command (TMEM.PUT, TMEM.GET, TMEM.POP,
 * TMEM.DEL, TMEM.EXISTS, TMEM.MPUT, TMEM.MGET, TMEM.INFO and the aliases
 * TMEMPUT, TMEMGET) with its flags, key positions and metadata. Returns 0, or
 * -EINVAL after logging the command Redis refused.
 */
int tcmd_register(RedisModuleCtx *ctx);

/*
 * tmem_info.c: add the module's section to Redis's own INFO ("# utmem",
 * fields utmem_linked, utmem_puts, ...) where Redis supports it. The section
 * shows the module's counters only: INFO never waits for utmemd.
 */
void tcmd_register_info(RedisModuleCtx *ctx);

#endif /* UTMEM_REDIS_TMEM_CMD_H */

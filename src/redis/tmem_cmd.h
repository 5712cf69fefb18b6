/*
 * tmem_cmd.h — the TMEM.* Redis commands of utmem.so.
 */
#ifndef UTMEM_REDIS_TMEM_CMD_H
#define UTMEM_REDIS_TMEM_CMD_H

#include "rm_api.h"

/*
 * Register every command (TMEM.PUT, TMEM.GET, TMEM.DEL, TMEM.EXISTS,
 * TMEM.MPUT, TMEM.MGET, TMEM.INFO and the aliases TMEMPUT, TMEMGET) with
 * its flags and key positions. Returns 0, or -EINVAL naming the command
 * Redis refused in the log.
 */
int tcmd_register(RedisModuleCtx *ctx);

#endif /* UTMEM_REDIS_TMEM_CMD_H */

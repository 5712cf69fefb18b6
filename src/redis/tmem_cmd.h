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

/*
 * Add the module's section to Redis's own INFO ("# utmem", fields
 * utmem_connected, utmem_puts, ...) where Redis supports it. The section
 * shows the module's counters only: INFO never waits for utmemd.
 */
void tcmd_register_info(RedisModuleCtx *ctx);

#endif /* UTMEM_REDIS_TMEM_CMD_H */

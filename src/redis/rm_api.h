/*
 * rm_api.h — the part of the Redis module ABI that utmem.so uses, declared
 * by this project because Debian ships no redismodule.h.
 *
 * A Redis module exports RedisModule_OnLoad(). Redis calls it with a module
 * context whose first field is a lookup function, RedisModule_GetApi(name,
 * &ptr), that hands out every API function by its exported name
 * ("RedisModule_CreateCommand", ...). rm_api_bind() performs those lookups
 * once, at load time, and fills the table `rm`; the rest of the module calls
 * the API only through it (rm.ReplyWithError(ctx, ...)). The declarations
 * below were written from the public API reference (signatures, constant
 * values); only the functions listed here are ever looked up, so the module
 * works with any Redis that provides them (every one exists since Redis 4.0
 * or 5.0; TMEM.* needs nothing newer).
 */
#ifndef UTMEM_RM_API_H
#define UTMEM_RM_API_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status values of the module API. */
#define RM_OK 0
#define RM_ERR 1

/* The only module API version Redis has defined. */
#define RM_APIVER_1 1

/* Opaque handles owned by Redis. */
typedef struct RedisModuleCtx RedisModuleCtx;
typedef struct RedisModuleString RedisModuleString;

/* A command implementation: reply through ctx, return RM_OK. */
typedef int (*RedisModuleCmdFunc)(RedisModuleCtx *ctx, RedisModuleString **argv,
				  int argc);

/* Every API function the module uses, named as Redis exports them minus the
 * "RedisModule_" prefix. */
struct rm_api {
	int (*CreateCommand)(RedisModuleCtx *ctx, const char *name,
			     RedisModuleCmdFunc cmdfunc, const char *strflags,
			     int firstkey, int lastkey, int keystep);
	void (*SetModuleAttribs)(RedisModuleCtx *ctx, const char *name, int ver,
				 int apiver);
	int (*IsModuleNameBusy)(const char *name); /* optional (older Redis) */
	int (*WrongArity)(RedisModuleCtx *ctx);
	int (*ReplyWithError)(RedisModuleCtx *ctx, const char *err);
	int (*ReplyWithSimpleString)(RedisModuleCtx *ctx, const char *msg);
	int (*ReplyWithStringBuffer)(RedisModuleCtx *ctx, const char *buf,
				     size_t len);
	int (*ReplyWithNull)(RedisModuleCtx *ctx);
	int (*ReplyWithLongLong)(RedisModuleCtx *ctx, long long ll);
	int (*ReplyWithArray)(RedisModuleCtx *ctx, long len);
	const char *(*StringPtrLen)(const RedisModuleString *str, size_t *len);
	void (*Log)(RedisModuleCtx *ctx, const char *level, const char *fmt, ...);
};

/* The table, filled by rm_api_bind(); read-only afterwards. */
extern struct rm_api rm;

/*
 * Look every function of struct rm_api up through the GetApi pointer that
 * Redis stores in the first field of ctx, then register the module under
 * name/ver. Returns 0, -ENOSYS if a required function is missing (nothing
 * can be logged then: Log itself may be the missing one), or -EEXIST if a
 * module of that name is already loaded.
 */
int rm_api_bind(RedisModuleCtx *ctx, const char *name, int ver);

/* printf-style wrapper around rm.Log; level: "debug", "verbose", "notice",
 * "warning". Long messages are truncated, never dropped. */
void rm_log(RedisModuleCtx *ctx, const char *level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Reply with an error built printf-style; the first word is the error code
 * Redis shows after '-' (e.g. "QUOTA tenant quota exceeded"). Returns RM_OK. */
int rm_reply_errorf(RedisModuleCtx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Entry points Redis looks up with dlsym(); the only exported symbols. */
__attribute__((visibility("default"))) int
RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);
__attribute__((visibility("default"))) int
RedisModule_OnUnload(RedisModuleCtx *ctx);

#ifdef __cplusplus
}
#endif

#endif /* UTMEM_RM_API_H */

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
 * values, struct layouts); only the functions listed here are ever looked
 * up. The required ones exist since Redis 4.0; command metadata (key-spec
 * flags, arity, summaries) is added where Redis >= 7.0 offers it, and the
 * module loads without it elsewhere.
 */
#ifndef UTMEM_RM_API_H
#define UTMEM_RM_API_H

#include <stddef.h>
#include <stdint.h>

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

typedef struct RedisModuleCommand RedisModuleCommand;
typedef struct RedisModuleBlockedClient RedisModuleBlockedClient;
typedef struct RedisModuleInfoCtx RedisModuleInfoCtx;

/* Fills the module's section of Redis's INFO; must not block. */
typedef void (*RedisModuleInfoFunc)(RedisModuleInfoCtx *ctx,
				    int for_crash_report);

/* ---- command metadata (Redis >= 7.0: RedisModule_SetCommandInfo) ---- */

/* Key-spec flags: what a command does to a key (one of RO/RW/OW/RM) and to
 * the user data in it. ACL read/write key selectors (%R~, %W~) use them. */
#define RM_KEY_RO (1ULL << 0)     /* reads the key */
#define RM_KEY_RW (1ULL << 1)     /* modifies the key's value or metadata */
#define RM_KEY_OW (1ULL << 2)     /* overwrites the value */
#define RM_KEY_RM (1ULL << 3)     /* deletes the key */
#define RM_KEY_ACCESS (1ULL << 4) /* returns or uses the user data */
#define RM_KEY_UPDATE (1ULL << 5) /* writes user data */
#define RM_KEY_INSERT (1ULL << 6)
#define RM_KEY_DELETE (1ULL << 7) /* removes user data */

/* How Redis finds the first key, then the rest. */
enum rm_kspec_bs { RM_KSPEC_BS_INVALID = 0, RM_KSPEC_BS_UNKNOWN,
		   RM_KSPEC_BS_INDEX, RM_KSPEC_BS_KEYWORD };
enum rm_kspec_fk { RM_KSPEC_FK_OMITTED = 0, RM_KSPEC_FK_UNKNOWN,
		   RM_KSPEC_FK_RANGE, RM_KSPEC_FK_KEYNUM };

/* One key specification; an array of them ends with a zeroed element. */
struct rm_keyspec {
	const char *notes;
	uint64_t flags;
	enum rm_kspec_bs begin_search_type;
	union {
		struct { int pos; } index;
		struct { const char *keyword; int startfrom; } keyword;
	} bs;
	enum rm_kspec_fk find_keys_type;
	union {
		struct { int lastkey, keystep, limit; } range;
		struct { int keynumidx, firstkey, keystep; } keynum;
	} fk;
};

/* Shapes Redis strides over by the sizes given in rm_cmdinfo_version; the
 * module passes no history and no argument list, so only their sizes
 * matter. */
struct rm_cmd_history { const char *since, *changes; };
struct rm_cmd_arg {
	const char *name;
	int type, key_spec_index;
	const char *token, *summary, *since;
	int flags;
	const char *deprecated_since;
	struct rm_cmd_arg *subargs;
};

/* Version 1 of the command-info ABI (Redis 7.0.0). */
struct rm_cmdinfo_version {
	int version;
	size_t sizeof_historyentry, sizeof_keyspec, sizeof_arg;
};

struct rm_cmdinfo {
	const struct rm_cmdinfo_version *version;
	const char *summary, *complexity, *since;
	struct rm_cmd_history *history;
	const char *tips;
	int arity;                    /* N exact, -N at least N, with the name */
	struct rm_keyspec *key_specs; /* NULL: no keys */
	struct rm_cmd_arg *args;
};

/* ---- server events (RedisModule_SubscribeToServerEvent) ---- */

/* An event to subscribe to: its id, and the version of the data passed. */
struct rm_event {
	uint64_t id;
	uint64_t dataver;
};

/* Redis >= 7.0: called around the event loop's sleep (subevent 0 before
 * it sleeps in epoll_wait, 1 after it woke). */
#define RM_EVENT_EVENTLOOP 15
#define RM_SUBEVENT_EVENTLOOP_BEFORE_SLEEP 0

typedef void (*RedisModuleEventCallback)(RedisModuleCtx *ctx,
					 struct rm_event eid,
					 uint64_t subevent, void *data);

/* A command implementation: reply through ctx, return RM_OK. */
typedef int (*RedisModuleCmdFunc)(RedisModuleCtx *ctx, RedisModuleString **argv,
				  int argc);

/* ---- blocking a client (RedisModule_BlockClient) ---- */

/* RedisModule_GetContextFlags: where a command runs. A client may be
 * blocked only outside all three. */
#define RM_CTX_FLAGS_LUA (1 << 0)
#define RM_CTX_FLAGS_MULTI (1 << 1)
#define RM_CTX_FLAGS_DENY_BLOCKING (1 << 21) /* Redis >= 6.2 */

/* Frees what was passed to RedisModule_UnblockClient. */
typedef void (*RedisModuleFreePrivDataFunc)(RedisModuleCtx *ctx, void *priv);

/* Redis >= 7.0: a descriptor watched by Redis's event loop. */
#define RM_EVENTLOOP_READABLE 1
typedef void (*RedisModuleEventLoopFunc)(int fd, void *user_data, int mask);

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
	/* optional: Redis >= 6.0 (the module's section of INFO) */
	int (*RegisterInfoFunc)(RedisModuleCtx *ctx, RedisModuleInfoFunc cb);
	int (*InfoAddSection)(RedisModuleInfoCtx *ctx, const char *name);
	int (*InfoAddFieldCString)(RedisModuleInfoCtx *ctx, const char *field,
				   const char *value);
	int (*InfoAddFieldULongLong)(RedisModuleInfoCtx *ctx, const char *field,
				     unsigned long long value);
	/* optional: Redis >= 6.0.9 */
	RedisModuleCtx *(*GetDetachedThreadSafeContext)(RedisModuleCtx *ctx);
	void (*FreeThreadSafeContext)(RedisModuleCtx *ctx);
	/* optional: Redis >= 7.0 */
	RedisModuleCommand *(*GetCommand)(RedisModuleCtx *ctx, const char *name);
	int (*SetCommandInfo)(RedisModuleCommand *command,
			      const struct rm_cmdinfo *info);
	/* optional: Redis >= 6.0 (events), 7.0 (RM_EVENT_EVENTLOOP) */
	int (*SubscribeToServerEvent)(RedisModuleCtx *ctx, struct rm_event event,
				      RedisModuleEventCallback callback);
	/* optional: blocking the calling client (Redis >= 4.0; the context
	 * flags >= 4.0.8) and watching a descriptor (Redis >= 7.0). Commands
	 * block their client only where all of them exist. */
	RedisModuleBlockedClient *(*BlockClient)(
		RedisModuleCtx *ctx, RedisModuleCmdFunc reply_callback,
		RedisModuleCmdFunc timeout_callback,
		RedisModuleFreePrivDataFunc free_privdata, long long timeout_ms);
	int (*UnblockClient)(RedisModuleBlockedClient *bc, void *privdata);
	void *(*GetBlockedClientPrivateData)(RedisModuleCtx *ctx);
	int (*GetContextFlags)(RedisModuleCtx *ctx);
	int (*EventLoopAdd)(int fd, int mask, RedisModuleEventLoopFunc func,
			    void *user_data);
	int (*EventLoopDel)(int fd, int mask);
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

/*
 * Keep a context that outlives OnLoad, so lines logged outside a command
 * (ctx NULL below) still carry the module's name. Call once from OnLoad
 * after rm_api_bind(); rm_api_release() frees it (both are no-ops where
 * Redis lacks detached contexts).
 */
void rm_api_keep_log_ctx(RedisModuleCtx *ctx);
void rm_api_release(void);

/* printf-style wrapper around rm.Log; level: "debug", "verbose", "notice",
 * "warning"; ctx may be NULL. Long messages are truncated, never dropped. */
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

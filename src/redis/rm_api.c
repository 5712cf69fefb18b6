/*
 * rm_api.c — binds the Redis module API by name at load time.
 *
 * Redis passes no header and no import table: a module asks for each
 * function through the lookup pointer stored first in the module context.
 * This file does that for the functions in struct rm_api, and holds the two
 * small formatting helpers every other file uses to log and to reply with an
 * error.
 */
#include "rm_api.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct rm_api rm;

/* A context detached from any client, for logging outside commands. */
static RedisModuleCtx *rm_log_ctx;

/* Type of the lookup function Redis places first in the module context. */
typedef int (*rm_getapi_fn)(const char *name, void *out);

/* One entry of the binding table: exported name and where it goes. */
struct rm_binding {
	const char *name;
	void *slot;     /* address of the function pointer in `rm` */
	int optional;   /* missing in some Redis versions; left NULL */
};

#define RM_BIND(fn, opt) { "RedisModule_" #fn, &rm.fn, opt }

static const struct rm_binding rm_bindings[] = {
	RM_BIND(CreateCommand, 0),
	RM_BIND(SetModuleAttribs, 0),
	RM_BIND(IsModuleNameBusy, 1),
	RM_BIND(WrongArity, 0),
	RM_BIND(ReplyWithError, 0),
	RM_BIND(ReplyWithSimpleString, 0),
	RM_BIND(ReplyWithStringBuffer, 0),
	RM_BIND(ReplyWithNull, 0),
	RM_BIND(ReplyWithLongLong, 0),
	RM_BIND(ReplyWithArray, 0),
	RM_BIND(StringPtrLen, 0),
	RM_BIND(Log, 0),
	RM_BIND(RegisterInfoFunc, 1),
	RM_BIND(InfoAddSection, 1),
	RM_BIND(InfoAddFieldCString, 1),
	RM_BIND(InfoAddFieldULongLong, 1),
	RM_BIND(GetDetachedThreadSafeContext, 1),
	RM_BIND(FreeThreadSafeContext, 1),
	RM_BIND(GetCommand, 1),
	RM_BIND(SetCommandInfo, 1),
	RM_BIND(SubscribeToServerEvent, 1),
	RM_BIND(BlockClient, 1),
	RM_BIND(UnblockClient, 1),
	RM_BIND(GetBlockedClientPrivateData, 1),
	RM_BIND(GetContextFlags, 1),
	RM_BIND(EventLoopAdd, 1),
	RM_BIND(EventLoopDel, 1),
};

/*
 * Fetch one function. The lookup writes a data pointer; it is copied into
 * the function-pointer slot byte for byte, which POSIX guarantees to work
 * (dlsym() relies on the same property). Returns 0 or -ENOSYS.
 */
static int rm_bind_one(rm_getapi_fn getapi, const struct rm_binding *b)
{
	void *fn = NULL;

	if (getapi(b->name, &fn) != RM_OK || fn == NULL)
		return b->optional ? 0 : -ENOSYS;
	memcpy(b->slot, &fn, sizeof(fn));
	return 0;
}

int rm_api_bind(RedisModuleCtx *ctx, const char *name, int ver)
{
	rm_getapi_fn getapi;
	void *first;
	size_t i;

	/* The context's layout is private to Redis except this first field. */
	memcpy(&first, (void *)ctx, sizeof(first));
	memcpy(&getapi, &first, sizeof(getapi));
	if (getapi == NULL)
		return -ENOSYS;
	memset(&rm, 0, sizeof(rm));
	for (i = 0; i < sizeof(rm_bindings) / sizeof(rm_bindings[0]); i++) {
		int err = rm_bind_one(getapi, &rm_bindings[i]);

		if (err < 0)
			return err;
	}
	if (rm.IsModuleNameBusy != NULL && rm.IsModuleNameBusy(name))
		return -EEXIST;
	rm.SetModuleAttribs(ctx, name, ver, RM_APIVER_1);
	return 0;
}

void rm_api_keep_log_ctx(RedisModuleCtx *ctx)
{
	if (rm_log_ctx == NULL && rm.GetDetachedThreadSafeContext != NULL &&
	    rm.FreeThreadSafeContext != NULL)
		rm_log_ctx = rm.GetDetachedThreadSafeContext(ctx);
}

void rm_api_release(void)
{
	if (rm_log_ctx != NULL)
		rm.FreeThreadSafeContext(rm_log_ctx);
	rm_log_ctx = NULL;
}

void rm_log(RedisModuleCtx *ctx, const char *level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rm.Log(ctx != NULL ? ctx : rm_log_ctx, level, "%s", msg);
}

int rm_reply_errorf(RedisModuleCtx *ctx, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return rm.ReplyWithError(ctx, msg);
}

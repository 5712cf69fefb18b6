/*
 * put-ceiling.c — a Redis module for benchmarks only (never installed): how
 * fast could TMEM.PUT be at all, on this machine, from Redis's one thread?
 *
 * Two commands take TMEM.PUT's arguments (key value) and reply +OK:
 *   CEIL.NOP   does nothing else: the cost of a module command with a
 *              value argument, against SET's.
 *   CEIL.COPY  also copies the value the way libutmem's posted PUT does
 *              (uvr_copy_cold, streaming stores for large values) into the
 *              next page-aligned extent of a 256 MiB shared memfd mapping,
 *              standing in for the tenant's value region: a PUT with
 *              everything after the one copy for free (no ring, no utmemd).
 * bench/micro/put-ceiling.sh runs SET, CEIL.NOP, CEIL.COPY and TMEM.PUT
 * side by side (docs/evaluation.md section 2).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "proto/copy.h"
#include "redis/rm_api.h"

#define CEIL_REGION (256u << 20)
#define CEIL_PAGE 4096u

static uint8_t *region;
static size_t next_off;

static int ceil_nop(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
{
	(void)argv;
	if (argc != 3)
		return rm.WrongArity(ctx);
	return rm.ReplyWithSimpleString(ctx, "OK");
}

static int ceil_copy(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
{
	size_t vlen;
	const char *val;

	if (argc != 3)
		return rm.WrongArity(ctx);
	val = rm.StringPtrLen(argv[2], &vlen);
	if (vlen > CEIL_REGION / 4)
		return rm.ReplyWithError(ctx, "ERR value larger than the bench's extents");
	if (next_off + vlen > CEIL_REGION)
		next_off = 0;
	uvr_copy_cold(region + next_off, val, vlen);
	next_off += (vlen + CEIL_PAGE - 1) & ~(size_t)(CEIL_PAGE - 1);
	return rm.ReplyWithSimpleString(ctx, "OK");
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
{
	int fd;

	(void)argv;
	(void)argc;
	if (rm_api_bind(ctx, "putceil", 1) != 0)
		return RM_ERR;
	fd = memfd_create("putceil", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, CEIL_REGION) != 0) {
		rm_log(ctx, "warning", "putceil: memfd: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return RM_ERR;
	}
	region = mmap(NULL, CEIL_REGION, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (region == MAP_FAILED) {
		rm_log(ctx, "warning", "putceil: mmap: %s", strerror(errno));
		return RM_ERR;
	}
	/* Fault it in now: utmemd's value region is resident too. */
	memset(region, 0, CEIL_REGION);
	if (rm.CreateCommand(ctx, "ceil.nop", ceil_nop, "write fast", 1, 1, 1) != RM_OK ||
	    rm.CreateCommand(ctx, "ceil.copy", ceil_copy, "write fast", 1, 1, 1) != RM_OK)
		return RM_ERR;
	return RM_OK;
}

int RedisModule_OnUnload(RedisModuleCtx *ctx)
{
	(void)ctx;
	if (region)
		munmap(region, CEIL_REGION);
	region = NULL;
	return RM_OK;
}

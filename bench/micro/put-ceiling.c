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
 *   CEIL.ASYNC the same copy made by another thread: Redis's thread keeps
 *              the argument (RedisModule_RetainString, as SET keeps it),
 *              queues it to a copier thread and replies; it releases the
 *              arguments the copier is done with at its next command. Is
 *              taking the copy off Redis's thread worth it on this machine?
 * bench/micro/put-ceiling.sh runs SET, CEIL.NOP, CEIL.COPY and TMEM.PUT
 * side by side (docs/evaluation.md section 2).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "proto/copy.h"
#include "redis/rm_api.h"

#define CEIL_REGION (256u << 20)
#define CEIL_PAGE 4096u

#define CEIL_QUEUE 32u /* arguments held at most (a power of two) */
#define CEIL_ASYNC_MAX (4u << 20) /* queued values: 128 MiB in flight at most */

static uint8_t *region;
static size_t next_off;

/* CEIL.ASYNC: a single-producer, single-consumer queue of copies. */
struct ceil_job {
	RedisModuleString *arg;
	const char *val;
	size_t len, off;
};
static struct ceil_job queue[CEIL_QUEUE];
static uint64_t q_head;         /* jobs queued (Redis's thread) */
static uint64_t q_done;         /* jobs copied (the copier) */
static uint64_t q_freed;        /* arguments released (Redis's thread) */
static uint32_t copier_sleeping; /* the copier waits on bell */
static int bell = -1;
static void (*retain_string)(RedisModuleCtx *, RedisModuleString *);
static void (*free_string)(RedisModuleCtx *, RedisModuleString *);

static void *copier(void *arg)
{
	(void)arg;
	for (;;) {
		uint64_t done = __atomic_load_n(&q_done, __ATOMIC_RELAXED);
		uint64_t eventfd_val;
		struct ceil_job *j;

		if (__atomic_load_n(&q_head, __ATOMIC_ACQUIRE) == done) {
			/* Dekker pair with ceil_async: flag, fence, re-check. */
			__atomic_store_n(&copier_sleeping, 1, __ATOMIC_RELAXED);
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			if (__atomic_load_n(&q_head, __ATOMIC_ACQUIRE) == done &&
			    read(bell, &eventfd_val, sizeof(eventfd_val)) < 0 && errno != EINTR)
				return NULL;
			__atomic_store_n(&copier_sleeping, 0, __ATOMIC_RELAXED);
			continue;
		}
		j = &queue[done % CEIL_QUEUE];
		uvr_copy_cold(region + j->off, j->val, j->len);
		__atomic_store_n(&q_done, done + 1, __ATOMIC_RELEASE);
	}
}

/* Release the arguments whose copies are done (Redis's thread). */
static void release_done(RedisModuleCtx *ctx)
{
	uint64_t done = __atomic_load_n(&q_done, __ATOMIC_ACQUIRE);

	for (; q_freed < done; q_freed++)
		free_string(ctx, queue[q_freed % CEIL_QUEUE].arg);
}

/* The next page-aligned extent of the region for vlen bytes. */
static size_t next_extent(size_t vlen)
{
	size_t off;

	if (next_off + vlen > CEIL_REGION)
		next_off = 0;
	off = next_off;
	next_off += (vlen + CEIL_PAGE - 1) & ~(size_t)(CEIL_PAGE - 1);
	return off;
}

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
	uvr_copy_cold(region + next_extent(vlen), val, vlen);
	return rm.ReplyWithSimpleString(ctx, "OK");
}

static int ceil_async(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
{
	struct ceil_job *j;
	uint64_t one = 1;

	if (argc != 3)
		return rm.WrongArity(ctx);
	release_done(ctx);
	while (q_head - q_freed == CEIL_QUEUE) /* full: wait for the copier */
		release_done(ctx);
	j = &queue[q_head % CEIL_QUEUE];
	retain_string(ctx, argv[2]);
	j->arg = argv[2];
	j->val = rm.StringPtrLen(j->arg, &j->len);
	if (j->len > CEIL_ASYNC_MAX) {
		free_string(ctx, j->arg);
		return rm.ReplyWithError(ctx, "ERR value larger than the bench's extents");
	}
	/* An extent is reused only after 256 MiB of later values; the copier
	 * is at most CEIL_QUEUE values of CEIL_ASYNC_MAX (128 MiB) behind. */
	j->off = next_extent(j->len);
	__atomic_store_n(&q_head, q_head + 1, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&copier_sleeping, __ATOMIC_RELAXED) &&
	    write(bell, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, the copier wakes anyway */
	}
	return rm.ReplyWithSimpleString(ctx, "OK");
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
{
	int (*getapi)(const char *, void *);
	pthread_t tid;
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
	/* CEIL.ASYNC needs two functions rm_api does not bind (utmem.so does
	 * not use them): look them up the same way, through the pointer
	 * Redis stores first in the context. */
	getapi = *(int (**)(const char *, void *))(void *)ctx;
	if (getapi("RedisModule_RetainString", &retain_string) != 0 ||
	    getapi("RedisModule_FreeString", &free_string) != 0)
		return RM_OK; /* no CEIL.ASYNC in this Redis */
	bell = eventfd(0, EFD_CLOEXEC);
	if (bell < 0 || pthread_create(&tid, NULL, copier, NULL) != 0) {
		rm_log(ctx, "warning", "putceil: copier thread: %s", strerror(errno));
		return RM_ERR;
	}
	pthread_detach(tid);
	if (rm.CreateCommand(ctx, "ceil.async", ceil_async, "write fast", 1, 1, 1) != RM_OK)
		return RM_ERR;
	return RM_OK;
}

int RedisModule_OnUnload(RedisModuleCtx *ctx)
{
	(void)ctx;
	return RM_ERR; /* the copier thread uses the region: never unloaded */
}

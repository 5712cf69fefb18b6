/*
 * ring.h — the shared-memory ring transport: the layout both sides map, and
 * every memory-ordering rule of it in one place.
 *
 * A ring region is one sealed memfd created by utmemd:
 *
 *   [0, URING_HDR_SIZE)              struct uring_shm (indices, sleep flags)
 *   [HDR, HDR + size)                ring 0 data: client -> daemon
 *   [HDR + size, HDR + 2 * size)     ring 1 data: daemon -> client
 *
 * Each ring is a single-producer single-consumer BYTE STREAM carrying exactly
 * the socket framing (docs/protocol.md section 1): a frame may straddle the
 * end of the data area, and a reply larger than the ring simply flows
 * through it in pieces. Each data area is mapped twice back to back, so any
 * run of up to `size` bytes starting anywhere is contiguous in memory and a
 * copy never has to split at the wrap point.
 *
 * Indices are free-running 64-bit byte counters (never reduced modulo the
 * size; they cannot wrap in practice: 2^64 bytes). tail is written only by
 * the producer, head only by the consumer; bytes [head, tail) are readable,
 * tail - head <= size always. Each index sits on its own cache line so the
 * two sides do not false-share.
 *
 * Trust: the daemon treats this memory as hostile. It never reads back an
 * index it owns (it keeps a private copy), copies bytes out before parsing
 * them, and checks every index it reads from the client (monotonic, and
 * tail - head <= size); see uring_avail() and uring_room().
 *
 * Wake-ups ("need wakeup" flags, as io_uring's SQPOLL): a side that is
 * about to block sets its sleeping flag, issues a full fence, re-checks the
 * ring, and only then blocks on its eventfd. A side that has just published
 * an index issues a full fence and reads the other side's flag; if it is
 * set, it clears it and writes the other side's eventfd. The two fences
 * form a Dekker pair: either the sleeper sees the new index, or the
 * publisher sees the flag, so no wake-up is ever lost.
 */
#ifndef UTMEM_RING_H
#define UTMEM_RING_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define URING_MAGIC 0x474e4952u /* "RING" */
#define URING_LAYOUT 2u
#define URING_HDR_SIZE 4096u
#define URING_CACHELINE 64
#define URING_TO_DAEMON 0
#define URING_TO_CLIENT 1

/* Ring sizes: a power of two, a multiple of the page size. */
#define URING_SIZE_MIN (64u * 1024u)
#define URING_SIZE_MAX (1024u * 1024u * 1024u)
/* Frames in the ring are small (larger values go through staging
 * extents); a reply larger than the ring streams through it. */
#define URING_DEFAULT_SIZE (1024u * 1024u)
#define URING_DEFAULT_SPIN_US 50u

/* One direction's indices, each alone on a cache line. */
struct uring_idx {
	_Alignas(URING_CACHELINE) uint64_t tail; /* producer writes */
	_Alignas(URING_CACHELINE) uint64_t head; /* consumer writes */
};

/*
 * A staging extent granted to the connection (layout 2): a page run of the
 * tenant's value region, already reserved against its quota, into which
 * the client writes one record and then posts PUT_REF naming (slot, gen).
 * utmemd writes off and len, then gen (release); a client reads gen
 * (acquire) first. gen changes whenever the slot holds a new extent; len 0
 * means the slot is empty. Written only by utmemd, which keeps its own
 * copy and never reads these back.
 */
#define URING_STAGES 16
/* Slots are named by bit in a u32 mask (CREDIT_RETURN, uclient_ring_stages_held). */
_Static_assert(URING_STAGES >= 1 && URING_STAGES <= 32, "staging slot masks are 32 bits");
#define URING_STAGES_ALL (UINT32_MAX >> (32 - URING_STAGES))
struct uring_stage {
	uint64_t off;
	uint64_t len;
	uint32_t gen;
	uint32_t pad;
	uint64_t pad2;
};

#define URING_READ_POOLS 32
struct uring_reads {
	uint32_t pool;
	uint32_t pad;
	uint64_t reads;
	uint64_t hits;
};

/* The header page of the region. */
struct uring_shm {
	uint32_t magic;   /* URING_MAGIC, set by the daemon (informational) */
	uint32_t layout;  /* URING_LAYOUT */
	uint64_t size;    /* bytes of each data area */
	struct uring_idx ring[2];
	_Alignas(URING_CACHELINE) uint32_t daemon_sleeping;
	_Alignas(URING_CACHELINE) uint32_t client_sleeping;
	/*
	 * Daemon heartbeat: bumped by the worker while it spins or serves
	 * rings. A client spins for a reply only while it sees this move: a
	 * daemon that is asleep or preempted answers no faster for being
	 * spun on, and the spinning would steal its CPU on a small machine.
	 */
	_Alignas(URING_CACHELINE) uint64_t daemon_beat;
	/*
	 * Layout 2, written only by utmemd: `applied` counts the request
	 * frames it has served (posted ones included), so a client knows
	 * when its posted requests took effect; `credit` is the total of
	 * quota bytes granted to this connection for posted requests (a
	 * client may post while what it has spent stays within it).
	 */
	_Alignas(URING_CACHELINE) uint64_t applied;
	_Alignas(URING_CACHELINE) uint64_t credit;
	/*
	 * utmemd bumps `recall` when it wants the connection's credit back
	 * (the tenant's limits were lowered, or another of its PUTs was
	 * refused for room): before posting again, a client that sees it move
	 * gives back what it holds (CREDIT_RETURN) and sends its next PUT
	 * synchronously, so it is checked against the new limits.
	 */
	uint64_t recall;
	/*
	 * Nonzero once utmemd has closed the connection: a wire status saying
	 * why (UWIRE_S_REVOKED: the tenant was removed), or URING_CLOSED for
	 * any other reason. A client that serves itself from shared memory
	 * learns it here with a load, as it learns of a dead daemon from the
	 * liveness page.
	 */
	uint32_t closed;
	/*
	 * Bumped by utmemd when a pool this connection may use is destroyed
	 * (by the operator or another client; or a posted request named a
	 * pool that is gone): a client that sees it move reopens its pools by
	 * name before their next use, rather than post to a pool id that no
	 * longer exists. Stays 0 with a utmemd that predates it.
	 */
	uint32_t pools_gen;
	_Alignas(URING_CACHELINE) struct uring_stage stage[URING_STAGES];
	/*
	 * Written by the client (and so only informational to utmemd, which
	 * adds them to its statistics): per pool, its GETs served one-sided
	 * from the value region and how many of them hit. A slot's pool is set
	 * once (0 = free); counts only grow.
	 */
	_Alignas(URING_CACHELINE) struct uring_reads rd[URING_READ_POOLS];
	/*
	 * Written by the client: URING_POSTING_BUSY while it may spend credit
	 * or staging extents (from before it looks at `recall` until its
	 * frame is produced), URING_POSTING_IDLE otherwise; 0 from a client
	 * that does not take part. With it utmemd takes back the credit of a
	 * client that sits idle after a recall (credit.c): it bumps `recall`,
	 * then finds the client IDLE with every frame it produced served, so
	 * nothing paid from that credit is on its way and the client will see
	 * the recall before it spends again (a store-load handshake: both
	 * sides store, then load the other's word, sequentially consistent).
	 */
	_Alignas(URING_CACHELINE) uint32_t posting;
};

#define URING_POSTING_IDLE 1u
#define URING_POSTING_BUSY 2u

_Static_assert(sizeof(struct uring_shm) <= URING_HDR_SIZE,
	       "ring header must fit its page");

/*
 * RING_SETUP reply value (docs/protocol.md, "Shared-memory ring"):
 * u32 layout, u32 header size, u64 data size of each ring, u64 bytes of the
 * tenant's value region (0: none), u32 this connection's hazard word in it
 * (URING_NO_HAZARD: none), u32 flags (URING_SETUP_LIVE); little-endian. The
 * descriptors travel with it as SCM_RIGHTS, in the order: the ring memfd,
 * the doorbell that wakes the daemon (an eventfd the client writes), the
 * doorbell that wakes the client (the read end of a pipe: the daemon writes
 * its own end, which the client cannot reach, so no client can make that
 * write block), the daemon's liveness page when flags say so, and the
 * value region when its size is not 0.
 */
#define URING_SETUP_SIZE 32u
#define URING_SETUP_NFDS 5
#define URING_NO_HAZARD 0xffffffffu
#define URING_SETUP_LIVE 1u

/*
 * The liveness page: a sealed memfd clients may only map read-only. Its
 * first word is the futex word of a robust, process-shared mutex that
 * utmemd's main thread holds for as long as the daemon lives: it holds that
 * thread's id, and when the daemon dies, however it dies, the kernel
 * replaces it with FUTEX_OWNER_DIED (no thread id). A client learns that the
 * daemon is gone with one load instead of a system call per request.
 */
#define URING_LIVE_TID_MASK 0x3fffffffu
#define URING_CLOSED 0xffffu
static inline int uring_live(const uint32_t *word)
{
	return (__atomic_load_n(word, __ATOMIC_ACQUIRE) & URING_LIVE_TID_MASK) != 0;
}

struct uring_setup {
	uint64_t size;        /* ring data bytes each way */
	uint64_t region_size; /* value region bytes, 0 = no region */
	uint32_t hazard;      /* hazard word index, or URING_NO_HAZARD */
	uint32_t flags;       /* URING_SETUP_LIVE */
};

/* A mapping of a region, as either side holds it. */
struct uring_map {
	uint8_t *base;   /* reservation of HDR + 4 * size bytes */
	size_t len;
	uint64_t size;
	struct uring_shm *shm;
	uint8_t *data[2]; /* each mapped twice: data[i][0 .. 2 * size) */
};

/* One side's end of one ring: the shared indices and a private position. */
struct uring_end {
	uint64_t *tail, *head; /* in shared memory */
	uint8_t *data;
	uint64_t size;
	uint64_t pos;  /* producer: our tail; consumer: our head (private) */
	uint64_t peer; /* last validated index of the other side */
};

/* ---- memory ordering: every acquire, release and fence of the ring ---- */

/*
 * Read the other side's index. Acquire: the bytes it covers (written by a
 * producer before its release of tail), or the room it frees (read by a
 * consumer before its release of head), are ordered before what we do next.
 */
static inline uint64_t uring_load_peer(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/*
 * Publish our index. Release: for a producer, the data bytes written
 * before become visible no later than the new tail; for a consumer, our
 * reads of the bytes complete before the producer may overwrite them.
 */
static inline void uring_publish(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/*
 * The Dekker pair needs store->load ordering. The production build uses a
 * full fence after the store (cheap: the flag's cache line stays shared
 * while nobody sleeps). ThreadSanitizer does not model fences, so under it
 * both sides use a seq_cst read-modify-write on the flag instead, which
 * gives the same guarantee in the C11 model (the later RMW in the flag's
 * modification order reads from, and synchronizes with, the earlier one).
 */
#if defined(__SANITIZE_THREAD__)
#define URING_RMW_FLAGS 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define URING_RMW_FLAGS 1
#endif
#endif

/*
 * What a sleeper waits for, as its flag's value: new bytes to read, room
 * to write, or both. A publisher kicks only a sleeper waiting for what it
 * just published (a consumer freeing room does not wake a client that
 * waits for its reply).
 */
#define URING_WANT_DATA 1u
#define URING_WANT_ROOM 2u
#define URING_WANT_APPLIED 4u /* client: its posted requests to be served */

/*
 * Sleeper, step 1: raise our flag (what we wait for), then a full fence so
 * the flag is globally visible before we re-read the ring (store->load
 * ordering, which acquire/release alone does not give).
 */
static inline void uring_sleep_prepare(uint32_t *flag, uint32_t want)
{
#ifdef URING_RMW_FLAGS
	__atomic_exchange_n(flag, want, __ATOMIC_SEQ_CST);
#else
	__atomic_store_n(flag, want, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

/* Sleeper, after waking or after finding work on the re-check. */
static inline void uring_sleep_cancel(uint32_t *flag)
{
	__atomic_store_n(flag, 0, __ATOMIC_RELAXED);
}

/*
 * Publisher, after uring_publish(): a full fence so our index is visible
 * before we read the peer's flag (the other half of the Dekker pair), then
 * take the flag. Returns 1 if the peer sleeps waiting for `what`
 * (URING_WANT_DATA after producing, URING_WANT_ROOM after consuming) and
 * must be kicked: once, since the exchange clears the flag (the woken side
 * re-checks everything and raises it again if it still has to wait).
 */
static inline int uring_need_kick(uint32_t *flag, uint32_t what)
{
#ifdef URING_RMW_FLAGS
	if (!(__atomic_fetch_or(flag, 0, __ATOMIC_SEQ_CST) & what))
		return 0;
#else
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!(__atomic_load_n(flag, __ATOMIC_RELAXED) & what))
		return 0;
#endif
	return (__atomic_exchange_n(flag, 0, __ATOMIC_RELAXED) & what) != 0;
}

/*
 * The heartbeat carries no data and orders nothing: relaxed both ways. The
 * daemon stores its own private count (it never reads the shared word,
 * which the client could scribble on).
 */
static inline void uring_beat(struct uring_shm *s, uint64_t v)
{
	__atomic_store_n(&s->daemon_beat, v, __ATOMIC_RELAXED);
}

static inline uint64_t uring_beat_load(const struct uring_shm *s)
{
	return __atomic_load_n(&s->daemon_beat, __ATOMIC_RELAXED);
}

/* ---- ring ends ---- */

/* Bind an end to ring `which` of map m. Positions start at 0. */
static inline void uring_end_init(struct uring_end *e, struct uring_map *m,
				  int which)
{
	e->tail = &m->shm->ring[which].tail;
	e->head = &m->shm->ring[which].head;
	e->data = m->data[which];
	e->size = m->size;
	e->pos = 0;
	e->peer = 0;
}

/*
 * Consumer: bytes readable now, or -1 if the producer's tail is
 * impossible (moved backwards, or claims more than the ring holds).
 */
static inline int64_t uring_avail(struct uring_end *e)
{
	uint64_t tail = uring_load_peer(e->tail);

	if (tail - e->pos > e->size || tail - e->pos < e->peer - e->pos)
		return -1;
	e->peer = tail;
	return (int64_t)(tail - e->pos);
}

/*
 * Producer: bytes of free room now, or -1 if the consumer's head is
 * impossible (moved backwards, or past our tail).
 */
static inline int64_t uring_room(struct uring_end *e)
{
	uint64_t head = uring_load_peer(e->head);

	if (e->pos - head > e->size || head - e->peer > e->pos - e->peer)
		return -1;
	e->peer = head;
	return (int64_t)(e->size - (e->pos - head));
}

/* Consumer: the contiguous readable bytes start here (double mapping). */
static inline const uint8_t *uring_rptr(const struct uring_end *e)
{
	return e->data + (e->pos & (e->size - 1));
}

/* Producer: the contiguous free room starts here. */
static inline uint8_t *uring_wptr(const struct uring_end *e)
{
	return e->data + (e->pos & (e->size - 1));
}

/* Consumer: n bytes (<= uring_avail) are consumed; free their room. */
static inline void uring_consume(struct uring_end *e, uint64_t n)
{
	e->pos += n;
	uring_publish(e->head, e->pos);
}

/* Producer: n bytes (<= uring_room) were written at uring_wptr; publish. */
static inline void uring_produce(struct uring_end *e, uint64_t n)
{
	e->pos += n;
	uring_publish(e->tail, e->pos);
}

/* ---- regions (ring.c) ---- */

/*
 * Is size a usable ring size: a power of two in range (hence a multiple of
 * any page size up to 64 KiB)? Inline so the config reader needs no ring.c.
 */
static inline int uring_size_ok(uint64_t size)
{
	return size >= URING_SIZE_MIN && size <= URING_SIZE_MAX &&
	       (size & (size - 1)) == 0;
}

/*
 * Map the region of memfd fd (data size `size` each way) with both data
 * areas doubly mapped. Returns 0 or -errno; on error *m is unmapped.
 */
int uring_map_fd(int fd, uint64_t size, struct uring_map *m);
void uring_unmap(struct uring_map *m);

/* Bytes of the memfd behind a region of this size. */
static inline uint64_t uring_region_bytes(uint64_t size)
{
	return URING_HDR_SIZE + 2 * size;
}

void uring_setup_encode(const struct uring_setup *s,
			uint8_t out[URING_SETUP_SIZE]);
/* Decode and check a setup record. Returns 0 or -EPROTO. */
int uring_setup_decode(const uint8_t *in, size_t len, struct uring_setup *s);

#endif /* UTMEM_RING_H */

/*
 * vmshm.h — the VM control block of an ivshmem region: how a guest and
 * utmemd agree on who is being served, with no socket between them.
 *
 * A VM tenant's ivshmem region (docs/vm.md) is a ring region laid out as
 * src/transport/ring.h says (header page, ring 0, ring 1) at offset 0 of
 * the PCI BAR, followed by free space. A socket ring has its socket to say
 * "this client is new" or "this client is gone"; a VM has none, and its
 * guest may crash, reboot, or start another process at any moment. So the
 * last 1 KiB of the ring's header page holds this control block, and a
 * guest client starts every session with a handshake:
 *
 *   guest: attach_caps = caps; attach_req = a fresh random non-zero nonce
 *          (release); ring the doorbell if there is one
 *   utmemd: sees attach_req change; drops the previous session (its
 *          buffered input and output); zeroes both rings' indices and the
 *          sleeping flags; starts a new session; session += 1;
 *          state = OPEN; attach_ack = nonce (release)
 *   guest: waits for attach_ack == nonce (acquire), then uses the rings
 *          from position 0
 *
 * While a session runs, the guest treats attach_ack != its nonce or
 * state != OPEN as "the session is gone" (-ECONNRESET): another process
 * attached, utmemd closed the session (an impossible index, a protocol
 * error, QEMU went away), or utmemd restarted (it rewrites the block with
 * a new `boot` and state NONE). libutmem then attaches again and reopens
 * its pools by name, as after a reconnect.
 *
 * utmemd writes only the fields marked "utmemd" and never trusts a value it
 * reads here: attach_req is only compared with the last value it served.
 * Everything is little-endian (x86-64 host and guest).
 *
 * This header is shared by utmemd (src/daemon/ivshmem.c), libutmem
 * (src/client/ivshmem.c) and the guest kernel module (src/guest/), so it
 * uses only fixed-width types that both user space and the kernel have.
 */
#ifndef UTMEM_GUEST_VMSHM_H
#define UTMEM_GUEST_VMSHM_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <stdint.h>
#endif

#define UVM_CTL_OFFSET 3072u /* in the ring's header page */
#define UVM_CTL_SIZE 1024u
#define UVM_MAGIC 0x434d5655u /* "UVMC" */
#define UVM_VERSION 1u

/* state */
#define UVM_STATE_NONE 0u   /* no session: attach */
#define UVM_STATE_OPEN 1u   /* serving the session attach_ack names */
#define UVM_STATE_CLOSED 2u /* closed by utmemd: attach again */

/* attach_caps: what the attaching client does */
#define UVM_CAP_BELL 1u /* it rings the doorbell when daemon_sleeping asks */
#define UVM_CAP_IRQ 2u  /* it takes interrupts (sleeps with client_sleeping) */

/*
 * ivshmem-doorbell: utmemd is peer UVM_DAEMON_PEER, the VM peer
 * UVM_VM_PEER, each with UVM_NVECTORS interrupt vectors. Vector
 * UVM_VEC_DATA means "look at the rings" both ways; the guest rings
 * UVM_VEC_CTL after writing attach_req.
 */
#define UVM_DAEMON_PEER 0u
#define UVM_VM_PEER 1u
#define UVM_VEC_DATA 0u
#define UVM_VEC_CTL 1u
#define UVM_NVECTORS 2u

/* Region sizes (the BAR): a power of two, QEMU's requirement for a BAR. */
#define UVM_REGION_MIN (256u * 1024u)
#define UVM_REGION_MAX (1u << 30)

struct uvm_ctl {
	/* utmemd, at start */
	uint32_t magic;       /* UVM_MAGIC */
	uint32_t version;     /* UVM_VERSION */
	uint64_t region_size; /* bytes of the whole region (the BAR) */
	uint64_t ring_size;   /* data bytes of each ring (ring header at 0) */
	uint64_t value_off;   /* the tenant's value region, 0 = none */
	uint64_t value_size;
	uint64_t boot;        /* random, new at every utmemd start */
	uint32_t bell;        /* 1: doorbells are wired (QEMU is connected) */
	uint32_t reserved0;
	/* the guest */
	_Alignas(64) uint64_t attach_req; /* a fresh nonce asks for a session */
	uint32_t attach_caps;             /* UVM_CAP_* */
	uint32_t reserved1;
	/* utmemd */
	_Alignas(64) uint64_t attach_ack; /* the nonce of the session served */
	uint64_t session;                 /* sessions since `boot` */
	uint32_t state;                   /* UVM_STATE_* */
	uint32_t reserved2;
};

_Static_assert(sizeof(struct uvm_ctl) <= UVM_CTL_SIZE,
	       "the VM control block must fit its 1 KiB");

/* Ring data size for a region of `region` bytes: a quarter each way. */
static inline uint64_t uvm_ring_size(uint64_t region)
{
	return region / 4;
}

#endif /* UTMEM_GUEST_VMSHM_H */

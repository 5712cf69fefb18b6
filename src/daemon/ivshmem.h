/*
 * ivshmem.h — utmemd's VM tenants over ivshmem, shared by ivshmem.c (the
 * region, the session handshake, the VM's serving thread), ivshmem_bell.c
 * (the ivshmem-doorbell server protocol and the doorbell writer) and
 * ivshmem_guard.c (surviving a region file truncated under our mapping).
 * Names carry the prefix ud_vm_. docs/vm.md describes the whole.
 *
 * Threads: each VM has one thread of its own that does everything for it
 * (serves its ring, watches its control block, runs its doorbell server);
 * only it touches the region after start-up, and only it unmaps. A VM with
 * doorbells has a second thread that does nothing but write the doorbell
 * eventfd QEMU holds (ivshmem_bell.c), because QEMU shares that file's
 * flags and counter and could make the write block: then only that writer
 * waits, never the VM's serving thread.
 */
#ifndef UTMEM_DAEMON_IVSHMEM_H
#define UTMEM_DAEMON_IVSHMEM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "daemon/daemon.h"
#include "guest/vmshm.h"
#include "transport/ring.h"

struct ud_vm {
	struct ud_daemon *d;
	struct ud_tenant *t;
	char path[4096 + 2 * UD_PATH_MAX]; /* the region file */
	char bell_path[UD_PATH_MAX]; /* doorbell server socket, "" = none */
	struct ud_sockid bell_id;    /* the socket file bound there */
	unsigned mode;               /* file modes of both */
	uid_t uid;                   /* owner and group of both ((uid_t)-1: */
	gid_t gid;                   /* leave as created), the tenant's */
	uint64_t region_size, ring_size;
	int fd;                      /* the region file */

	/* The header page, mapped for the VM's life (guarded). */
	uint8_t *hdr;
	struct uvm_ctl *ctl;
	int hdr_guard;
	atomic_int broken;           /* the region was truncated under us */

	/* The serving thread and its sources. */
	pthread_t thread;
	int started;
	int epfd;
	int stop_fd;                 /* eventfd: stop */
	int stop_src;                /* epoll tags (addresses of these ints) */
	struct ud_loop loop;         /* holds the session's ring connection */
	struct ud_conn *session;
	int session_guard;
	uint64_t last_req;           /* attach_req last seen */
	/* Our copies of the control block's fields that are ours (ctl_repair). */
	uint64_t boot, ack, session_no;
	uint32_t state;
	uint32_t caps;               /* the session client's UVM_CAP_* */
	uint64_t spin_ns;            /* bound of the adaptive spin after work */
	uint64_t poll_ns;            /* current idle poll interval */
	int failed;                  /* stopped serving (broken region) */

	/* Doorbells (ivshmem_bell.c). */
	int lis_fd, lis_src;         /* doorbell server socket */
	int qemu_fd, qemu_src;       /* the connected QEMU */
	int bell_in[UVM_NVECTORS];   /* QEMU writes: the guest rang us */
	int bell_out[UVM_NVECTORS];  /* we write: interrupt the guest */
	int in_src;
	int kick_fd;                 /* ours: ask the writer for an interrupt */
	pthread_t writer;
	int writer_on;
	atomic_int writer_stop;
	atomic_uint_least64_t kicks; /* interrupts asked for (stats) */
	atomic_uint_least64_t rings; /* doorbells the guest rang (stats) */

	uint64_t charged;            /* bytes counted in d->big_in */
	struct ud_vm *next;
};

/* ---- the doorbell server (ivshmem_bell.c) ---- */

/* Listen on vm->bell_path. Returns 0 or -errno (message logged). */
int ud_vm_bell_listen(struct ud_vm *vm);
/* The listening socket is readable: take a QEMU (one at a time). */
void ud_vm_bell_accept(struct ud_vm *vm);
/* The QEMU connection has an event: a hang-up drops the doorbells. */
void ud_vm_bell_event(struct ud_vm *vm);
/* Forget the connected QEMU: stop the writer, close the eventfds. */
void ud_vm_bell_drop(struct ud_vm *vm);
/* Ask for an interrupt in the guest (never blocks). */
void ud_vm_bell_kick(struct ud_vm *vm);
/* Close the listening socket (and any QEMU). */
void ud_vm_bell_close(struct ud_vm *vm);

/* ---- surviving truncation (ivshmem_guard.c) ---- */

/*
 * Register [base, base + len) as a mapping of a file someone else may
 * truncate. If an access there faults (SIGBUS), the whole range is
 * replaced by private zero pages, *broken is set, and the access retries
 * and succeeds. Returns a slot (>= 0) or -ENOSPC. Installs the handler the
 * first time. Register before the first access, unregister before munmap,
 * from the thread that accesses the range.
 */
int ud_vm_guard_add(void *base, size_t len, atomic_int *broken);
void ud_vm_guard_del(int slot);

#endif /* UTMEM_DAEMON_IVSHMEM_H */

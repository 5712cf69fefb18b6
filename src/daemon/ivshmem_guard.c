/*
 * ivshmem_guard.c — survive a VM region file truncated under our mapping.
 *
 * A QEMU ivshmem-plain device maps the region file itself (memory-backend-
 * file), so whoever controls that QEMU can ftruncate() the file; our next
 * access to a page beyond the new end raises SIGBUS, which would kill the
 * daemon and every tenant with it. (A socket ring's memfd is sealed against
 * this; a file QEMU opens by path cannot be.) So each mapping of a region
 * file is registered here, and a SIGBUS handler that finds the faulting
 * address in a registered range replaces that whole range with private
 * zero pages (mmap MAP_FIXED over it) and raises the VM's `broken` flag: the
 * faulting copy then completes with zeros, the VM's thread sees the flag
 * and stops serving that VM, and nobody else notices. A fault anywhere
 * else restores the default action, so real bugs still crash.
 *
 * Async-signal safety: the table is a fixed array of atomics, read without
 * locks; mmap() is a plain system call. A range is registered before its
 * first access and unregistered before munmap, both by the one thread that
 * accesses it, so the handler (which runs in the faulting thread) never
 * maps over an address range that was given back.
 */
#include "daemon/ivshmem.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

#define GUARD_SLOTS 1024

struct guard {
	_Atomic(uintptr_t) base; /* 0 = free */
	_Atomic(size_t) len;
	_Atomic(atomic_int *) broken;
};

static struct guard guards[GUARD_SLOTS];
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;
static int guard_installed;

static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	struct sigaction dfl;

	(void)uctx;
	for (int i = 0; i < GUARD_SLOTS; i++) {
		uintptr_t b = atomic_load_explicit(&guards[i].base,
						   memory_order_acquire);
		size_t len = atomic_load_explicit(&guards[i].len,
						  memory_order_relaxed);
		atomic_int *broken;

		if (!b || a - b >= len)
			continue;
		if (mmap((void *)b, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
		    MAP_FAILED)
			break;
		broken = atomic_load_explicit(&guards[i].broken,
					      memory_order_relaxed);
		atomic_store(broken, 1);
		return;
	}
	/* Not a region (or no memory to patch it): crash as we would have. */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(sig, &dfl, NULL);
}

static void install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	guard_installed = sigaction(SIGBUS, &sa, NULL) == 0;
}

int ud_vm_guard_add(void *base, size_t len, atomic_int *broken)
{
	pthread_once(&guard_once, install);
	if (!guard_installed)
		return -ENOSYS;
	for (int i = 0; i < GUARD_SLOTS; i++) {
		uintptr_t expect = 0;

		/* Claim with a placeholder, fill in, then publish the base. */
		if (!atomic_compare_exchange_strong(&guards[i].base, &expect,
						    (uintptr_t)1))
			continue;
		atomic_store_explicit(&guards[i].len, 0, memory_order_relaxed);
		atomic_store_explicit(&guards[i].broken, broken,
				      memory_order_relaxed);
		atomic_store_explicit(&guards[i].len, len, memory_order_relaxed);
		atomic_store_explicit(&guards[i].base, (uintptr_t)base,
				      memory_order_release);
		return i;
	}
	return -ENOSPC;
}

void ud_vm_guard_del(int slot)
{
	if (slot < 0 || slot >= GUARD_SLOTS)
		return;
	atomic_store_explicit(&guards[slot].len, 0, memory_order_relaxed);
	atomic_store_explicit(&guards[slot].base, 0, memory_order_release);
}

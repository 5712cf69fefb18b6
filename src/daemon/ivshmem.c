/*
 * ivshmem.c — utmemd's VM tenants over ivshmem (docs/vm.md).
 *
 * A tenant with `ivshmem = PATH` in the config is served through a region
 * file that QEMU maps as the BAR of an ivshmem device: the ring layout of
 * src/transport/ring.h at offset 0 (so a guest process reaches it with the
 * same ring code libutmem uses locally), and the VM control block
 * (src/guest/vmshm.h) in the header page's last KiB. A VM ring has no
 * socket: a guest starts each session with the attach handshake described
 * in vmshm.h, and that is also how utmemd learns that the previous session
 * (a crashed process, a rebooted guest) is over: its buffers are dropped
 * and the rings start again from zero.
 *
 * Each VM gets one thread that does everything for it: it watches the
 * control block, owns the session's ring connection (a ring with no
 * socket, attached with ud_ring_attach() on a loop of its own, so the
 * request handlers and buffers are exactly those of every other
 * connection) and, for ivshmem-doorbell, runs the doorbell server
 * (ivshmem_bell.c). Without doorbells (ivshmem-plain) nothing can wake it,
 * so it polls: spinning politely for a while after work, then sleeping for
 * intervals that double from POLL_MIN_NS up to POLL_MAX_NS while the VM is
 * idle. With doorbells, and a client that rings them, it sleeps until
 * rung, like a worker on its eventfd.
 *
 * Everything the guest writes is hostile. The ring code checks every
 * index; the control block is only compared with what we last saw; the
 * file may even be truncated under us by whoever controls QEMU
 * (ivshmem_guard.c turns that into a broken VM instead of a SIGBUS).
 */
#include "daemon/ivshmem.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define POLL_MIN_NS 100000u     /* first idle poll: 100 us */
#define POLL_MAX_NS 10000000u   /* idle polls back off to 10 ms */
#define POLL_SPIN_MIN_NS 500000u /* a polled VM: spin at least 0.5 ms after work */
#define NOSESSION_POLL_NS 20000000u /* no session, no doorbell: look every 20 ms */
#define BELL_SAFETY_NS 1000000000u  /* with doorbells: look at least every 1 s */
#define SLICE_NS 20000u         /* spin slices between epoll checks */

/* The control block lives after the ring header in its page (vmshm.h). */
_Static_assert(sizeof(struct uring_shm) <= UVM_CTL_OFFSET,
	       "the ring header grew into the VM control block");

/* ---- the region ---- */

/*
 * An existing region file may be kept only if it is ours: owned by
 * utmemd's user, by root (utmemd before it dropped its privileges), or by
 * the owner the operator configured (a file an earlier utmemd handed to
 * QEMU's user), and a single link. Anyone else who could create it first
 * (in a shared directory such as /dev/shm) might still hold a descriptor
 * to it, and so to the VM's rings. Returns 0, or -EPERM with why in msg.
 */
static int region_trusted(const struct ud_vm *vm, const struct stat *st,
			  char *msg, size_t msglen)
{
	if (st->st_uid != geteuid() && st->st_uid != 0 &&
	    (vm->uid == (uid_t)-1 || st->st_uid != vm->uid)) {
		snprintf(msg, msglen, "the existing file is owned by uid %u, "
			 "neither root, utmemd's user nor the configured owner: "
			 "remove it, or put region files in a directory only "
			 "utmemd and QEMU can write", (unsigned)st->st_uid);
		return -EPERM;
	}
	if (st->st_nlink != 1) {
		snprintf(msg, msglen, "the existing file has %lu links: "
			 "remove it", (unsigned long)st->st_nlink);
		return -EPERM;
	}
	return 0;
}

/*
 * Is the file of st a region another VM tenant is served from? A reload
 * can give a path to a new tenant while the tenant that had it keeps its
 * region until a restart: both threads would then serve one region, each
 * as its own tenant. Returns 0, or -EBUSY with why in msg.
 */
static int region_unserved(const struct ud_vm *vm, const struct stat *st,
			   char *msg, size_t msglen)
{
	for (const struct ud_vm *o = vm->d->vms; o; o = o->next) {
		struct stat os;

		if (fstat(o->fd, &os) == 0 && os.st_dev == st->st_dev &&
		    os.st_ino == st->st_ino) {
			snprintf(msg, msglen, "the file is the region of tenant '%s' until a restart",
				 o->t->name);
			return -EBUSY;
		}
	}
	return 0;
}

/*
 * Open (or create) the region file and size it. An existing file is kept
 * (not replaced), so a QEMU that still maps it sees the new daemon, if it
 * is ours (region_trusted) and no other VM tenant's (region_unserved).
 * Returns the fd or -errno (msg says why for -EPERM and -EBUSY).
 */
static int region_open(struct ud_vm *vm, char *msg, size_t msglen)
{
	struct stat st;
	int fd = open(vm->path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
		      vm->mode & 0666);
	int err;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		err = errno ? -errno : -EINVAL;
		close(fd);
		return S_ISREG(st.st_mode) ? err : -EINVAL;
	}
	err = region_trusted(vm, &st, msg, msglen);
	if (!err)
		err = region_unserved(vm, &st, msg, msglen);
	if (err) {
		close(fd);
		return err;
	}
	if ((uint64_t)st.st_size != vm->region_size &&
	    ftruncate(fd, (off_t)vm->region_size) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	/* Who may map it: QEMU's user, as the operator set for the socket. */
	if (fchmod(fd, vm->mode & 0666) < 0 ||
	    ((vm->uid != (uid_t)-1 || vm->gid != (gid_t)-1) &&
	     fchown(fd, vm->uid, vm->gid) < 0)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* A fresh random 64-bit value, never 0. */
static uint64_t random_u64(void)
{
	uint64_t v = 0;

	while (v == 0)
		if (getrandom(&v, sizeof(v), 0) != sizeof(v))
			v = umono_ns();
	return v;
}

/* Store v at p unless it is there already (keeps the line shared). */
#define REPAIR(p, v)                                                           \
	do {                                                                   \
		if (__atomic_load_n(&(p), __ATOMIC_RELAXED) != (v))            \
			__atomic_store_n(&(p), (v), __ATOMIC_RELAXED);         \
	} while (0)

/*
 * Put back every field of the control block that is ours, from our private
 * copies. The guest can scribble on them at any time; we never read them
 * for a decision, but a later client would, so they are repaired on every
 * pass of the VM's thread. The acknowledgement goes last, with release.
 */
static void ctl_repair(struct ud_vm *vm)
{
	struct uvm_ctl *c = vm->ctl;

	REPAIR(c->magic, UVM_MAGIC);
	REPAIR(c->version, UVM_VERSION);
	REPAIR(c->region_size, vm->region_size);
	REPAIR(c->ring_size, vm->ring_size);
	REPAIR(c->value_off, 0);
	REPAIR(c->value_size, 0);
	REPAIR(c->boot, vm->boot);
	REPAIR(c->bell, (uint32_t)(vm->qemu_fd >= 0));
	REPAIR(c->session, vm->session_no);
	REPAIR(c->state, vm->state);
	if (__atomic_load_n(&c->attach_ack, __ATOMIC_RELAXED) != vm->ack)
		__atomic_store_n(&c->attach_ack, vm->ack, __ATOMIC_RELEASE);
}

/* Write the control block for a daemon start: no session yet. */
static void ctl_init(struct ud_vm *vm)
{
	vm->boot = random_u64();
	vm->state = UVM_STATE_NONE;
	vm->ack = 0;
	ctl_repair(vm);
	/* A request already there is a previous daemon's: not ours to serve. */
	vm->last_req = __atomic_load_n(&vm->ctl->attach_req, __ATOMIC_ACQUIRE);
}

/* ---- sessions ---- */

static void session_kick(void *arg, uint32_t what)
{
	struct ud_vm *vm = arg;

	(void)what;
	if (vm->caps & UVM_CAP_IRQ)
		ud_vm_bell_kick(vm);
}

/* The session's ring is being freed (closed by us or by a bad index). */
static void session_release(void *arg, struct uring_map *m)
{
	struct ud_vm *vm = arg;

	ud_vm_guard_del(vm->session_guard);
	vm->session_guard = -1;
	uring_unmap(m);
	vm->session = NULL;
	vm->state = UVM_STATE_CLOSED;
	if (!atomic_load(&vm->broken))
		ctl_repair(vm);
}

/* End the current session, if any, and free it now. */
static void session_end(struct ud_vm *vm)
{
	if (vm->session)
		ud_conn_close(vm->session);
	ud_loop_free_dead(&vm->loop);
}

/*
 * Serve a new session for the attach request `req`: drop the old one,
 * zero the rings, attach a fresh mapping, then acknowledge. Returns 0 or
 * -errno (the guest then sees no acknowledgement and retries).
 */
static int session_start(struct ud_vm *vm, uint64_t req, uint32_t caps)
{
	static const struct ud_ring_owner owner_tmpl = {
		.kick = session_kick,
		.release = session_release,
	};
	struct ud_ring_owner owner = owner_tmpl;
	struct uring_shm *shm = (struct uring_shm *)vm->hdr;
	struct uring_map m;
	int fd, err;

	session_end(vm);
	/*
	 * The rings restart at 0. We write the client's indices too: the
	 * attaching client waits for our acknowledgement before it uses
	 * them, and anyone else writing here is scribbling anyway.
	 */
	memset(shm, 0, sizeof(*shm));
	shm->magic = URING_MAGIC;
	shm->layout = URING_LAYOUT;
	shm->size = vm->ring_size;
	err = uring_map_fd(vm->fd, vm->ring_size, &m);
	if (err)
		return err;
	vm->session_guard = ud_vm_guard_add(m.base, m.len, &vm->broken);
	if (vm->session_guard < 0) {
		uring_unmap(&m);
		return -ENOSPC;
	}
	fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		ud_vm_guard_del(vm->session_guard);
		uring_unmap(&m);
		return err;
	}
	owner.arg = vm;
	vm->caps = caps;
	err = ud_ring_attach(&vm->loop, vm->t, fd, &m, &owner, &vm->session);
	if (err) {
		vm->session = NULL;
		return err;
	}
	vm->session_no++;
	vm->poll_ns = POLL_MIN_NS;
	vm->loop.ring_last_ns = umono_ns();
	vm->state = UVM_STATE_OPEN;
	vm->ack = req;
	ctl_repair(vm);
	ud_info_rl("tenant '%s': VM session %llu attached over ivshmem (%s%s)",
		vm->t->name, (unsigned long long)vm->session_no,
		caps & UVM_CAP_IRQ ? "interrupts" : "polling",
		caps & UVM_CAP_BELL ? ", rings the doorbell" : "");
	return 0;
}

/* Look at the control block: a new attach request starts a session. */
static void ctl_poll(struct ud_vm *vm)
{
	uint64_t req = __atomic_load_n(&vm->ctl->attach_req, __ATOMIC_ACQUIRE);
	uint32_t caps;
	int err;

	if (req == vm->last_req)
		return;
	vm->last_req = req;
	if (req == 0)
		return;
	caps = __atomic_load_n(&vm->ctl->attach_caps, __ATOMIC_RELAXED);
	/* Interrupts need a QEMU on the doorbell server. */
	if (vm->qemu_fd < 0)
		caps &= ~(uint32_t)(UVM_CAP_IRQ | UVM_CAP_BELL);
	err = session_start(vm, req, caps);
	if (err)
		ud_warn_rl("tenant '%s': cannot start a VM session: %s",
			   vm->t->name, strerror(-err));
}

/* ---- the VM's thread ---- */

/*
 * How long to wait in epoll before looking at the VM again, in ns
 * (-1: until an event). Spins over the ring (politely) within the window
 * after work and returns 0 when there is work. *armed: the ring's
 * daemon-sleeping flag was raised, lower it after waking.
 */
static int64_t next_wait(struct ud_vm *vm, int *armed)
{
	uint64_t now = umono_ns(), end, prev;
	int rung = vm->qemu_fd >= 0 && (vm->caps & UVM_CAP_BELL);

	*armed = 0;
	if (!vm->session)
		return vm->qemu_fd >= 0 ? BELL_SAFETY_NS : NOSESSION_POLL_NS;
	/* The shared spin policy (transport/spin.h): adaptive, and off for a
	 * while once a spin loses the CPU. */
	if (now - vm->loop.ring_last_ns < uspin_window(&vm->loop.ring_spin, now)) {
		end = now + SLICE_NS;
		do {
			int polite = now - vm->loop.ring_last_ns > 3000u;

			if (ud_ring_ready(&vm->loop))
				return 0;
			ud_ring_beat(&vm->loop);
			if (polite)
				sched_yield();
			else
				uspin_relax();
			prev = now;
			now = umono_ns();
			if (!polite && !ud_ring_ready(&vm->loop) &&
			    uspin_preempted(&vm->loop.ring_spin, now, now - prev))
				break;
		} while (now < end);
		vm->loop.ring_idle = 1;
		return 0;
	}
	vm->loop.ring_idle = 1;
	if (rung) {
		/* The client rings when it sees the flag (vmshm.h). */
		ud_ring_arm(&vm->loop, 1);
		if (ud_ring_ready(&vm->loop)) {
			ud_ring_arm(&vm->loop, 0);
			return 0;
		}
		*armed = 1;
		return BELL_SAFETY_NS;
	}
	if (ud_ring_ready(&vm->loop))
		return 0;
	{
		uint64_t wait = vm->poll_ns;

		if (vm->poll_ns < POLL_MAX_NS)
			vm->poll_ns *= 2;
		return (int64_t)wait;
	}
}

static void on_events(struct ud_vm *vm, struct epoll_event *ev, int n,
		      int *stop)
{
	for (int i = 0; i < n; i++) {
		int *src = ev[i].data.ptr;

		if (src == &vm->stop_src)
			*stop = 1;
		else if (src == &vm->lis_src)
			ud_vm_bell_accept(vm);
		else if (src == &vm->qemu_src) {
			ud_vm_bell_event(vm);
			/* QEMU left: its guest is gone, and the session with it
			 * (its buffers are not held until the next attach). */
			if (vm->qemu_fd < 0 && vm->session) {
				ud_info_rl("tenant '%s': VM session %llu closed: QEMU left",
					   vm->t->name,
					   (unsigned long long)vm->session_no);
				session_end(vm);
			}
		}
		else if (src == &vm->in_src)
			atomic_fetch_add(&vm->rings, 1);
	}
}

static void *vm_main(void *arg)
{
	struct ud_vm *vm = arg;
	struct epoll_event ev[8];
	int stop = 0;

	ud_sched_serving_thread(vm->d);

	while (!stop) {
		int armed, n;
		int64_t wait = next_wait(vm, &armed);
		struct timespec ts = {
			.tv_sec = wait > 0 ? wait / 1000000000 : 0,
			.tv_nsec = wait > 0 ? wait % 1000000000 : 0,
		};

		n = epoll_pwait2(vm->epfd, ev, 8, wait < 0 ? NULL : &ts, NULL);
		if (armed)
			ud_ring_arm(&vm->loop, 0);
		if (n < 0 && errno != EINTR) {
			ud_err("tenant '%s': VM thread: epoll: %s", vm->t->name,
			       strerror(errno));
			break;
		}
		if (n > 0)
			on_events(vm, ev, n, &stop);
		if (atomic_load(&vm->broken)) {
			ud_err("tenant '%s': the ivshmem region %s was truncated under utmemd; this VM is no longer served (restart or reload after fixing it)",
			       vm->t->name, vm->path);
			session_end(vm);
			vm->failed = 1;
			break;
		}
		if (atomic_load_explicit(&vm->t->gone, memory_order_acquire))
			break;
		ctl_poll(vm);
		ctl_repair(vm);
		if (vm->session && ud_ring_pass(&vm->loop)) {
			ud_ring_worked(&vm->loop);
			vm->poll_ns = POLL_MIN_NS;
		}
		ud_loop_free_dead(&vm->loop);
	}
	session_end(vm);
	/* A broken VM still answers nothing, but waits to be stopped. */
	while (!stop && vm->failed) {
		int n = epoll_wait(vm->epfd, ev, 8, -1);

		for (int i = 0; i < n; i++)
			if (ev[i].data.ptr == &vm->stop_src)
				stop = 1;
	}
	return NULL;
}

/* ---- start and stop ---- */

static int watch(struct ud_vm *vm, int fd, uint32_t events, int *src)
{
	struct epoll_event e = {.events = events, .data.ptr = src};

	return epoll_ctl(vm->epfd, EPOLL_CTL_ADD, fd, &e) < 0 ? -errno : 0;
}

static void vm_free(struct ud_vm *vm)
{
	ud_vm_bell_close(vm);
	if (vm->loop.epfd >= 0)
		ud_loop_fini(&vm->loop);
	if (vm->hdr) {
		ud_vm_guard_del(vm->hdr_guard);
		munmap(vm->hdr, URING_HDR_SIZE);
	}
	if (vm->fd >= 0)
		close(vm->fd);
	if (vm->epfd >= 0)
		close(vm->epfd);
	if (vm->stop_fd >= 0)
		close(vm->stop_fd);
	atomic_fetch_sub(&vm->d->big_in, vm->charged);
	free(vm);
}

/* Start serving tenant t's region as ct describes. Main thread only. */
static int vm_start(struct ud_daemon *d, struct ud_tenant *t,
		    const struct ud_cfg_tenant *ct, char *msg, size_t msglen)
{
	struct ud_vm *vm = calloc(1, sizeof(*vm));
	char why[256];
	int err;

	if (!vm) {
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	vm->d = d;
	vm->t = t;
	vm->fd = vm->epfd = vm->stop_fd = vm->lis_fd = vm->qemu_fd = -1;
	vm->kick_fd = -1;
	for (unsigned i = 0; i < UVM_NVECTORS; i++)
		vm->bell_in[i] = vm->bell_out[i] = -1;
	vm->hdr_guard = vm->session_guard = -1;
	vm->loop.epfd = -1;
	vm->mode = ct->mode;
	vm->uid = ct->uid;
	vm->gid = ct->gid;
	vm->region_size = ct->ivshmem_size;
	vm->ring_size = uvm_ring_size(vm->region_size);
	vm->spin_ns = (uint64_t)d->ring_spin_us * 1000u;
	if (ct->ivshmem[0] == '/')
		snprintf(vm->path, sizeof(vm->path), "%s", ct->ivshmem);
	else
		snprintf(vm->path, sizeof(vm->path), "%s/%s", d->cfg.run_dir,
			 ct->ivshmem);
	if (ct->ivshmem_doorbell[0] == '/' || !ct->ivshmem_doorbell[0])
		snprintf(vm->bell_path, sizeof(vm->bell_path), "%s",
			 ct->ivshmem_doorbell);
	else if ((size_t)snprintf(vm->bell_path, sizeof(vm->bell_path), "%s/%s",
				  d->cfg.run_dir, ct->ivshmem_doorbell) >=
		 sizeof(vm->bell_path)) {
		snprintf(msg, msglen, "tenant '%s': ivshmem_doorbell path too long",
			 t->name);
		free(vm);
		return -ENAMETOOLONG;
	}
	/* The region is host memory held for this tenant: count it. */
	if (atomic_fetch_add(&d->big_in, vm->region_size) + vm->region_size >
	    d->big_in_limit) {
		atomic_fetch_sub(&d->big_in, vm->region_size);
		snprintf(msg, msglen, "tenant '%s': no budget left for a %llu-byte ivshmem region",
			 t->name, (unsigned long long)vm->region_size);
		free(vm);
		return -ENOMEM;
	}
	vm->charged = vm->region_size;
	why[0] = '\0';
	vm->fd = region_open(vm, why, sizeof(why));
	if (vm->fd < 0) {
		err = vm->fd;
		snprintf(msg, msglen, "tenant '%s': ivshmem region %s: %s", t->name,
			 vm->path, why[0] ? why : strerror(-err));
		goto fail;
	}
	vm->hdr = mmap(NULL, URING_HDR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		       vm->fd, 0);
	if (vm->hdr == MAP_FAILED) {
		vm->hdr = NULL;
		err = -errno;
		snprintf(msg, msglen, "tenant '%s': cannot map %s: %s", t->name,
			 vm->path, strerror(errno));
		goto fail;
	}
	vm->hdr_guard = ud_vm_guard_add(vm->hdr, URING_HDR_SIZE, &vm->broken);
	if (vm->hdr_guard < 0) {
		err = vm->hdr_guard;
		snprintf(msg, msglen, "tenant '%s': cannot guard the region: %s",
			 t->name, strerror(-err));
		goto fail;
	}
	vm->ctl = (struct uvm_ctl *)(vm->hdr + UVM_CTL_OFFSET);
	memset(vm->hdr, 0, sizeof(struct uring_shm));
	ctl_init(vm);
	/* Its own slot of the tenant's latency histograms: only this
	 * thread writes it. */
	err = ud_loop_init(d, &vm->loop, ud_loop_vm_index(d));
	if (!err) {
		vm->epfd = epoll_create1(EPOLL_CLOEXEC);
		vm->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		err = vm->epfd < 0 || vm->stop_fd < 0 ? -errno : 0;
	}
	if (!err)
		err = watch(vm, vm->stop_fd, EPOLLIN, &vm->stop_src);
	if (err) {
		snprintf(msg, msglen, "tenant '%s': VM setup: %s", t->name,
			 strerror(-err));
		goto fail;
	}
	/* A polled VM cannot wake us: stay close after work a little longer
	 * (unless the operator turned spinning off: ring_spin_us = 0). */
	if (vm->spin_ns && vm->spin_ns < POLL_SPIN_MIN_NS && !vm->bell_path[0])
		vm->spin_ns = POLL_SPIN_MIN_NS;
	uspin_init(&vm->loop.ring_spin, vm->spin_ns);
	if (vm->bell_path[0]) {
		err = ud_vm_bell_listen(vm);
		if (!err)
			err = watch(vm, vm->lis_fd, EPOLLIN, &vm->lis_src);
		if (err) {
			snprintf(msg, msglen, "tenant '%s': doorbell server %s: %s",
				 t->name, vm->bell_path, strerror(-err));
			goto fail;
		}
	}
	err = -pthread_create(&vm->thread, NULL, vm_main, vm);
	if (err) {
		snprintf(msg, msglen, "tenant '%s': cannot start its VM thread: %s",
			 t->name, strerror(-err));
		goto fail;
	}
	vm->started = 1;
	{
		char name[16]; /* "utmemd-vm:" and the tenant's name, cut */

		snprintf(name, sizeof(name), "utmemd-vm:%.5s", t->name);
		pthread_setname_np(vm->thread, name);
	}
	vm->next = d->vms;
	d->vms = vm;
	ud_info("tenant '%s' (VM): ivshmem region %s, %llu bytes, rings of %llu%s%s",
		t->name, vm->path, (unsigned long long)vm->region_size,
		(unsigned long long)vm->ring_size,
		vm->bell_path[0] ? ", doorbell server " : " (no doorbell: polled)",
		vm->bell_path);
	return 0;
fail:
	vm_free(vm);
	return err;
}

static void vm_stop(struct ud_vm *vm)
{
	uint64_t one = 1;

	if (vm->started) {
		if (write(vm->stop_fd, &one, sizeof(one)) < 0)
			ud_warn("cannot stop the VM thread of '%s'", vm->t->name);
		pthread_join(vm->thread, NULL);
	}
	ud_info("tenant '%s': VM thread stopped after %llu sessions (%llu interrupts asked for, %llu doorbells rung)",
		vm->t->name, (unsigned long long)vm->session_no,
		(unsigned long long)atomic_load(&vm->kicks),
		(unsigned long long)atomic_load(&vm->rings));
	/* Tell a guest that is still there (after the thread: it owns ctl). */
	if (vm->ctl && !atomic_load(&vm->broken)) {
		vm->state = UVM_STATE_CLOSED;
		ctl_repair(vm);
		__atomic_store_n(&vm->ctl->bell, 0, __ATOMIC_RELAXED);
	}
	vm_free(vm);
}

unsigned ud_vm_count(const struct ud_daemon *d)
{
	unsigned n = 0;

	for (const struct ud_vm *vm = d->vms; vm; vm = vm->next)
		n++;
	return n;
}

/*
 * A served VM's region file and doorbell socket take ct's mode, owner and
 * group now (those of the tenant's socket, update_tenant). Returns 0 or
 * -errno with msg.
 */
static int vm_perms(struct ud_vm *vm, const struct ud_cfg_tenant *ct, char *msg,
		    size_t msglen)
{
	uid_t uid = ud_owner_now(vm->uid, ct->uid, geteuid());
	gid_t gid = (gid_t)ud_owner_now(vm->gid, ct->gid, getegid());
	char m[UD_PATH_MAX + 64];
	int err = 0;

	if (ct->mode == vm->mode && ct->uid == vm->uid && ct->gid == vm->gid)
		return 0;
	if (fchmod(vm->fd, ct->mode & 0666) < 0 ||
	    ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(vm->fd, uid, gid) < 0)) {
		err = -errno;
		snprintf(msg, msglen, "tenant '%s': ivshmem %s: %s", vm->t->name,
			 vm->path, strerror(-err));
		return err;
	}
	if (vm->bell_path[0]) {
		err = ud_socket_perms(vm->bell_path, &vm->bell_id, ct->mode, uid,
				      gid, m, sizeof(m));
		if (err) {
			snprintf(msg, msglen, "tenant '%s': %s", vm->t->name, m);
			return err;
		}
	}
	vm->mode = ct->mode;
	vm->uid = ct->uid;
	vm->gid = ct->gid;
	return 0;
}

int ud_vm_apply(struct ud_daemon *d, const struct ud_cfg *cfg, char *msg,
		size_t msglen)
{
	struct ud_vm **pp = &d->vms;
	struct ud_names want;

	/* Stop the VMs whose tenant is gone or no longer has a region. */
	ud_cfg_index(cfg, &want);
	while (*pp) {
		struct ud_vm *vm = *pp;
		const struct ud_cfg_tenant *ct = ud_cfg_tenant_in(cfg, &want, vm->t->name);

		if (!atomic_load(&vm->t->gone) && ct && ct->ivshmem[0]) {
			int err = vm_perms(vm, ct, msg, msglen);

			if (err) {
				ud_names_free(&want);
				return err;
			}
			if (ct->ivshmem_size != vm->region_size)
				ud_warn("tenant '%s': an ivshmem change takes a restart",
					vm->t->name);
			pp = &vm->next;
			continue;
		}
		*pp = vm->next;
		ud_info("tenant '%s': ivshmem region no longer served", vm->t->name);
		vm_stop(vm);
	}
	ud_names_free(&want);
	for (size_t i = 0; i < cfg->ntenants; i++) {
		const struct ud_cfg_tenant *ct = &cfg->tenants[i];
		struct ud_tenant *t;
		struct ud_vm *vm;
		int err;

		if (!ct->ivshmem[0])
			continue;
		t = ud_tenant_by_name(d, ct->name);
		if (!t)
			continue;
		for (vm = d->vms; vm && vm->t != t; vm = vm->next)
			;
		if (vm)
			continue;
		err = vm_start(d, t, ct, msg, msglen);
		if (err) {
			ud_limits_refresh(d);
			return err;
		}
	}
	ud_limits_refresh(d); /* each VM's descriptors leave the shares */
	return 0;
}

void ud_vm_stop_all(struct ud_daemon *d)
{
	while (d->vms) {
		struct ud_vm *vm = d->vms;

		d->vms = vm->next;
		vm_stop(vm);
	}
}

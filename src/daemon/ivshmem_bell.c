/*
 * ivshmem_bell.c — utmemd as the ivshmem-doorbell server of one VM, and
 * the thread that rings the guest (docs/vm.md, "Doorbells").
 *
 * QEMU's ivshmem-doorbell device gets its shared memory and its interrupt
 * eventfds from a server on a Unix socket (QEMU's docs/specs/ivshmem-spec:
 * 8-byte little-endian messages, some with a descriptor attached). Debian
 * ships no server, and utmemd has to own both ends anyway, so it speaks the
 * protocol itself, as peer 0, to exactly one QEMU (peer 1) per VM tenant:
 *
 *   version 0; the VM's id 1; -1 with the region file; peer 0 twice with
 *   the eventfds QEMU writes when the guest rings us (vector 0: rings,
 *   vector 1: attach); id 1 twice with the eventfds we write to interrupt
 *   the guest.
 *
 * The eventfds QEMU holds share their open file description with ours, so
 * QEMU can change their flags and fill their counters. We never read the
 * ones it writes (they sit edge-triggered in the VM thread's epoll set,
 * where every write is an event), and the one we write is written only by
 * a dedicated writer thread: a write that blocks stalls that thread alone,
 * and a signal (WRITER_SIG) interrupts it when QEMU leaves or the VM stops. The VM thread asks for an interrupt by writing
 * its own eventfd, which QEMU cannot reach.
 */
#include "daemon/ivshmem.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* Send one protocol message, with fd attached if fd >= 0. 0 or -errno. */
static int send_msg(int sock, int64_t v, int fd)
{
	uint8_t buf[8];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = {buf, sizeof(buf)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;

	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t)((uint64_t)v >> (8 * i));
	if (fd >= 0) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.b;
		msg.msg_controllen = sizeof(ctl.b);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(buf) ? 0 : -EIO;
}

/*
 * The writer's wake-up signal: its handler does nothing, and is installed
 * without SA_RESTART, so a write() blocked on QEMU's eventfd returns EINTR
 * and the writer sees that it must stop. (Not pthread_cancel: unwinding a
 * cancelled thread is what the sanitizers cannot follow.)
 */
#define WRITER_SIG (SIGRTMIN + 7)
static pthread_once_t sig_once = PTHREAD_ONCE_INIT;

static void on_writer_sig(int sig)
{
	(void)sig;
}

static void install_sig(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_writer_sig;
	sigemptyset(&sa.sa_mask);
	sigaction(WRITER_SIG, &sa, NULL);
}

/* The writer: one interrupt per batch of kicks, until told to stop. */
static void *writer_main(void *arg)
{
	struct ud_vm *vm = arg;
	int kick = vm->kick_fd, out = vm->bell_out[UVM_VEC_DATA];

	while (!atomic_load(&vm->writer_stop)) {
		uint64_t v, one = 1;

		/* Ours, blocking: sleep until the VM thread asks. */
		if (read(kick, &v, sizeof(v)) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		/* QEMU's: may block if QEMU wants it to; the signal ends it. */
		while (write(out, &one, sizeof(one)) < 0 && errno == EINTR &&
		       !atomic_load(&vm->writer_stop))
			;
	}
	return NULL;
}

/*
 * Stop the writer wherever it waits: on our eventfd (a kick wakes it) or
 * blocked on QEMU's (the signal interrupts it; sent again every 10 ms in
 * case it arrived just before the writer entered the system call).
 */
static void writer_stop(struct ud_vm *vm)
{
	uint64_t one = 1;

	atomic_store(&vm->writer_stop, 1);
	if (write(vm->kick_fd, &one, sizeof(one)) < 0)
		ud_debug("doorbell writer stop: %s", strerror(errno));
	for (;;) {
		struct timespec ts;

		pthread_kill(vm->writer, WRITER_SIG);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 10000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (pthread_timedjoin_np(vm->writer, NULL, &ts) == 0)
			break;
	}
}

int ud_vm_bell_listen(struct ud_vm *vm)
{
	char msg[256] = "";
	int fd = ud_listen_unix(vm->bell_path, vm->mode, vm->uid, vm->gid,
				&vm->bell_id, msg, sizeof(msg));

	if (fd < 0) {
		ud_err("tenant '%s': %s", vm->t->name, msg);
		return fd;
	}
	vm->lis_fd = fd;
	return 0;
}

void ud_vm_bell_drop(struct ud_vm *vm)
{
	if (vm->writer_on) {
		writer_stop(vm);
		vm->writer_on = 0;
	}
	if (vm->kick_fd >= 0)
		close(vm->kick_fd);
	vm->kick_fd = -1;
	for (unsigned i = 0; i < UVM_NVECTORS; i++) {
		if (vm->bell_in[i] >= 0) {
			epoll_ctl(vm->epfd, EPOLL_CTL_DEL, vm->bell_in[i], NULL);
			close(vm->bell_in[i]);
		}
		if (vm->bell_out[i] >= 0)
			close(vm->bell_out[i]);
		vm->bell_in[i] = vm->bell_out[i] = -1;
	}
	if (vm->qemu_fd >= 0) {
		epoll_ctl(vm->epfd, EPOLL_CTL_DEL, vm->qemu_fd, NULL);
		close(vm->qemu_fd);
		ud_info_rl("tenant '%s': QEMU left the doorbell server", vm->t->name);
	}
	vm->qemu_fd = -1;
	vm->caps &= ~(uint32_t)(UVM_CAP_IRQ | UVM_CAP_BELL);
	if (vm->ctl && !atomic_load(&vm->broken))
		__atomic_store_n(&vm->ctl->bell, 0, __ATOMIC_RELAXED);
}

/* Create the eventfds, send the whole setup, start the writer. 0 or -errno. */
static int bell_setup(struct ud_vm *vm, int sock)
{
	struct epoll_event e = {.events = EPOLLIN | EPOLLET, .data.ptr = &vm->in_src};
	int err = 0;

	for (unsigned i = 0; i < UVM_NVECTORS && !err; i++) {
		vm->bell_in[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		vm->bell_out[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (vm->bell_in[i] < 0 || vm->bell_out[i] < 0)
			err = -errno;
		else if (epoll_ctl(vm->epfd, EPOLL_CTL_ADD, vm->bell_in[i], &e) < 0)
			err = -errno;
	}
	/* Blocking, and ours alone: the writer sleeps in read() on it. */
	vm->kick_fd = eventfd(0, EFD_CLOEXEC);
	if (!err && vm->kick_fd < 0)
		err = -errno;
	if (!err)
		err = send_msg(sock, 0, -1); /* protocol version */
	if (!err)
		err = send_msg(sock, UVM_VM_PEER, -1);
	if (!err)
		err = send_msg(sock, -1, vm->fd);
	for (unsigned i = 0; i < UVM_NVECTORS && !err; i++)
		err = send_msg(sock, UVM_DAEMON_PEER, vm->bell_in[i]);
	for (unsigned i = 0; i < UVM_NVECTORS && !err; i++)
		err = send_msg(sock, UVM_VM_PEER, vm->bell_out[i]);
	if (!err) {
		pthread_once(&sig_once, install_sig);
		atomic_store(&vm->writer_stop, 0);
		err = -pthread_create(&vm->writer, NULL, writer_main, vm);
		vm->writer_on = err == 0;
	}
	return err;
}

void ud_vm_bell_accept(struct ud_vm *vm)
{
	struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP,
				.data.ptr = &vm->qemu_src};
	int fd = accept4(vm->lis_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	int err;

	if (fd < 0)
		return;
	if (vm->qemu_fd >= 0) {
		ud_warn_rl("tenant '%s': a second QEMU on the doorbell server; refused",
			   vm->t->name);
		close(fd);
		return;
	}
	vm->qemu_fd = fd;
	err = bell_setup(vm, fd);
	if (!err && epoll_ctl(vm->epfd, EPOLL_CTL_ADD, fd, &e) < 0)
		err = -errno;
	if (err) {
		ud_warn_rl("tenant '%s': doorbell setup for QEMU failed: %s",
			vm->t->name, strerror(-err));
		ud_vm_bell_drop(vm);
		return;
	}
	__atomic_store_n(&vm->ctl->bell, 1, __ATOMIC_RELAXED);
	ud_info_rl("tenant '%s': QEMU connected to the doorbell server (%u vectors each way)",
		vm->t->name, UVM_NVECTORS);
}

void ud_vm_bell_event(struct ud_vm *vm)
{
	uint8_t junk[256];
	ssize_t n;

	/* QEMU sends nothing after setup; anything else is read and dropped. */
	do
		n = read(vm->qemu_fd, junk, sizeof(junk));
	while (n > 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		ud_vm_bell_drop(vm);
}

void ud_vm_bell_kick(struct ud_vm *vm)
{
	uint64_t one = 1;

	if (vm->kick_fd < 0)
		return;
	atomic_fetch_add(&vm->kicks, 1);
	if (write(vm->kick_fd, &one, sizeof(one)) < 0)
		ud_debug("doorbell kick: %s", strerror(errno));
}

void ud_vm_bell_close(struct ud_vm *vm)
{
	ud_vm_bell_drop(vm);
	if (vm->lis_fd >= 0) {
		close(vm->lis_fd);
		unlink(vm->bell_path);
	}
	vm->lis_fd = -1;
}

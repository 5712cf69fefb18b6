/*
 * vsock.c — utmemd listening on AF_VSOCK for VM guests (docs/vm.md,
 * "vsock").
 *
 * With `vsock = PORT` in [utmemd], utmemd listens on that port for any CID.
 * A guest's identity is its CID, which the host's vsock transport (vhost,
 * not the guest) fills in: the connection belongs to the tenant whose
 * `vsock_cid` it is, and a CID no tenant has is refused at once. From then
 * on the connection is an ordinary tenant connection handed to a worker,
 * exactly like one accepted on the tenant's Unix socket (no token, HELLO
 * optional).
 */
#include "daemon/daemon.h"

#include <errno.h>
#include <linux/vm_sockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define VSOCK_BACKLOG 1024

int ud_vsock_listen(struct ud_daemon *d, char *msg, size_t msglen)
{
	struct sockaddr_vm sa = {
		.svm_family = AF_VSOCK,
		.svm_cid = VMADDR_CID_ANY,
		.svm_port = d->cfg.vsock_port,
	};
	int fd, err;

	if (!d->cfg.vsock_port)
		return 0;
	fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		snprintf(msg, msglen, "vsock %u: no AF_VSOCK here (%s; the host needs the vhost_vsock or vsock module)",
			 d->cfg.vsock_port, strerror(-err));
		return err;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, VSOCK_BACKLOG) < 0) {
		err = -errno;
		close(fd);
		snprintf(msg, msglen, "cannot listen on vsock port %u: %s",
			 d->cfg.vsock_port, strerror(-err));
		return err;
	}
	if (!ud_listener_new(d, fd, UD_LIS_VSOCK, NULL)) {
		close(fd);
		snprintf(msg, msglen, "cannot watch the vsock socket");
		return -ENOMEM;
	}
	return 0; /* the banner says so */
}

struct ud_tenant *ud_vsock_tenant(struct ud_daemon *d, uint32_t cid)
{
	/*
	 * 0 is the hypervisor, never a peer. 1 (VMADDR_CID_LOCAL) is any local
	 * process over vsock_loopback, and 2 the host when utmemd runs in a
	 * guest: a tenant gets those only if the operator says so.
	 */
	if (cid == 0 || cid == VMADDR_CID_ANY)
		return NULL;
	for (struct ud_tenant *t = d->tenants; t; t = t->next)
		if (t->vsock_cid == cid)
			return t;
	return NULL;
}

struct ud_tenant *ud_vsock_accepted(struct ud_daemon *d, int fd)
{
	struct sockaddr_vm sa;
	socklen_t len = sizeof(sa);
	struct ud_tenant *t = NULL;

	if (getpeername(fd, (struct sockaddr *)&sa, &len) == 0 &&
	    sa.svm_family == AF_VSOCK)
		t = ud_vsock_tenant(d, sa.svm_cid);
	if (t) {
		ud_info_rl("fd %d: vsock connection from CID %u: tenant '%s'", fd,
			sa.svm_cid, t->name);
		return t;
	}
	ud_warn_rl("vsock connection from CID %u: no tenant has that CID; refused",
		   len == sizeof(sa) ? sa.svm_cid : 0);
	close(fd);
	return NULL;
}

/*
 * ivshmem.c — libutmem inside a VM guest over an ivshmem BAR
 * (`ivshmem:` or `ivshmem:PATH`), with no guest kernel code.
 *
 * utmemd gives a VM tenant a region file that QEMU exposes as BAR 2 of an
 * ivshmem PCI device (vendor 0x1af4, device 0x1110): the ring layout of
 * src/transport/ring.h at offset 0 and the VM control block
 * (src/guest/vmshm.h) in the header page. A guest process maps the BAR
 * through sysfs (resource2) and from then on talks exactly as a local ring
 * client does, through client/ring.c, except that
 *   - there is no socket: a session starts with the attach handshake of
 *     vmshm.h, and ends (-ECONNRESET, then a reconnect by the usual path)
 *     when the control block says another session or a new daemon took
 *     over;
 *   - there are no eventfds: a user process cannot take the device's
 *     interrupts, so waiting is polling, spinning first and then sleeping
 *     for intervals that double from 20 us to 2 ms; with ivshmem-doorbell
 *     and a mappable resource0 it does ring utmemd (the Doorbell register)
 *     when utmemd sleeps, so utmemd need not poll it.
 *
 * PATH may be a PCI device directory (/sys/bus/pci/devices/0000:00:03.0),
 * its resource2 file, or any file holding a region (the region file itself,
 * on the host: how tests drive the daemon side without a guest). Without a
 * PATH the first ivshmem device, in PCI address order, whose BAR holds a
 * utmem region is used.
 * The BAR file is locked (flock) for the session, so two processes of one
 * guest never fight over one region.
 */
#include "client/client_int.h"

#include <dirent.h>
#include <stdlib.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "guest/vmshm.h"
#include "transport/ring.h"
#include "proto/clock.h"

#define PCI_DEVICES "/sys/bus/pci/devices"
#define IVSHMEM_VENDOR 0x1af4
#define IVSHMEM_DEVICE 0x1110
#define SLEEP_MIN_NS 20000u
#define SLEEP_MAX_NS 2000000u
#define ATTACH_RETRY_MS 1000u
#define CTL_WAIT_MS 500u /* for a control block utmemd has yet to (re)write */
#define DOORBELL_REG 12u /* BAR 0: write (peer << 16) | vector */

struct ivs {
	int fd;                 /* the BAR (not ours to close: c->fd) */
	uint8_t *hdr;           /* the header page */
	struct uvm_ctl *ctl;
	volatile uint32_t *regs; /* BAR 0, or NULL */
	uint64_t ring_size;     /* checked */
	uint64_t nonce;
	uint64_t boot;
};

/* Read a sysfs file of one hex number ("0x1af4\n"). -1 on failure. */
static long read_hex(const char *dir, const char *name)
{
	char path[512], buf[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return strtol(buf, NULL, 16);
}

/* Open the BAR file and lock it for us. fd or -errno. */
static int open_locked(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT ? -ECONNREFUSED : -errno;
	if (fstat(fd, &st) < 0 || st.st_size < (off_t)UVM_REGION_MIN) {
		close(fd);
		return -ENODEV;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int err = errno == EWOULDBLOCK ? -EBUSY : -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* Does fd hold a utmem region (the control block's magic)? */
static int holds_region(int fd)
{
	uint8_t *p = mmap(NULL, URING_HDR_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	int ok;

	if (p == MAP_FAILED)
		return 0;
	ok = __atomic_load_n(&((struct uvm_ctl *)(p + UVM_CTL_OFFSET))->magic,
			     __ATOMIC_ACQUIRE) == UVM_MAGIC;
	munmap(p, URING_HDR_SIZE);
	return ok;
}

int uclient_ivshmem_open(const struct uclient_addr *a)
{
	char path[512];
	struct stat st;
	struct dirent **list = NULL;
	int n, fd, found = -1, err = -ENODEV;

	if (a->path[0]) {
		if (stat(a->path, &st) == 0 && S_ISDIR(st.st_mode)) {
			snprintf(path, sizeof(path), "%s/resource2", a->path);
			return open_locked(path);
		}
		return open_locked(a->path);
	}
	/* In PCI address order, so the choice does not depend on sysfs. */
	n = scandir(PCI_DEVICES, &list, NULL, alphasort);
	if (n < 0)
		return -ENODEV;
	for (int i = 0; i < n; i++) {
		char dir[300];

		if (list[i]->d_name[0] == '.' || found >= 0)
			continue;
		snprintf(dir, sizeof(dir), PCI_DEVICES "/%s", list[i]->d_name);
		if (read_hex(dir, "vendor") != IVSHMEM_VENDOR ||
		    read_hex(dir, "device") != IVSHMEM_DEVICE)
			continue;
		snprintf(path, sizeof(path), "%s/resource2", dir);
		fd = open_locked(path);
		if (fd < 0) {
			if (err == -ENODEV)
				err = fd;
			continue;
		}
		if (holds_region(fd))
			found = fd;
		else
			close(fd);
	}
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
	if (found >= 0)
		return found;
	return err == -ENOENT ? -ECONNREFUSED : err;
}

/* Map BAR 0 (the doorbell register) next to a sysfs resource2, if any. */
static volatile uint32_t *map_regs(const char *bar2)
{
	char path[512];
	size_t len = strlen(bar2);
	void *p;
	int fd;

	if (len < 10 || strcmp(bar2 + len - 10, "/resource2") != 0 ||
	    len >= sizeof(path))
		return NULL;
	memcpy(path, bar2, len + 1);
	path[len - 1] = '0';
	fd = open(path, O_RDWR | O_SYNC | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

static void nap(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};

	nanosleep(&ts, NULL);
}

static void ring_bell(struct ivs *s, unsigned vector)
{
	if (s->regs)
		s->regs[DOORBELL_REG / 4] = (UVM_DAEMON_PEER << 16) | vector;
}

/* Is our session still the one being served? */
static int session_live(const struct ivs *s)
{
	return __atomic_load_n(&s->ctl->attach_ack, __ATOMIC_ACQUIRE) == s->nonce &&
	       __atomic_load_n(&s->ctl->state, __ATOMIC_RELAXED) == UVM_STATE_OPEN &&
	       __atomic_load_n(&s->ctl->boot, __ATOMIC_RELAXED) == s->boot;
}

static void vm_kick(void *arg, uint32_t what)
{
	(void)what;
	ring_bell(arg, UVM_VEC_DATA);
}

static int vm_sleep(void *arg, unsigned round)
{
	struct ivs *s = arg;
	uint64_t ns = SLEEP_MIN_NS;

	if (!session_live(s))
		return -ECONNRESET;
	for (unsigned i = 0; i < round && ns < SLEEP_MAX_NS; i++)
		ns *= 2;
	nap(ns > SLEEP_MAX_NS ? SLEEP_MAX_NS : ns);
	return 0;
}

static void ivs_free(struct ivs *s)
{
	if (s->regs)
		munmap((void *)s->regs, 4096);
	if (s->hdr)
		munmap(s->hdr, URING_HDR_SIZE);
	free(s);
}

static void vm_release(void *arg, struct uring_map *m)
{
	uring_unmap(m);
	ivs_free(arg);
}

/*
 * Check what utmemd wrote in the control block against the BAR's size;
 * nothing here is used before it passed.
 */
static int check_ctl(struct ivs *s, uint64_t bar)
{
	uint64_t region = __atomic_load_n(&s->ctl->region_size, __ATOMIC_RELAXED);
	uint64_t ring = __atomic_load_n(&s->ctl->ring_size, __ATOMIC_RELAXED);

	if (s->ctl->version != UVM_VERSION || region > bar ||
	    region < UVM_REGION_MIN || (region & (region - 1)) ||
	    ring != uvm_ring_size(region) || !uring_size_ok(ring))
		return -EPROTO;
	s->ring_size = ring;
	return 0;
}

/*
 * Wait (a little) for a control block utmemd set up: its magic and sane
 * sizes. A block someone scribbled on is repaired by utmemd within its
 * polling interval, and a starting utmemd writes it shortly; only after
 * CTL_WAIT_MS (or the timeout, if shorter) is it "no daemon here".
 */
static int wait_ctl(struct utmem_client *c, struct ivs *s, uint64_t bar)
{
	uint64_t ms = (uint64_t)c->timeout_ms < CTL_WAIT_MS ? (uint64_t)c->timeout_ms
							    : CTL_WAIT_MS;
	uint64_t deadline = umono_ns() + ms * 1000000u, ns = SLEEP_MIN_NS;
	int err;

	for (;;) {
		if (__atomic_load_n(&s->ctl->magic, __ATOMIC_ACQUIRE) != UVM_MAGIC)
			err = -ECONNREFUSED; /* no daemon has set this region up */
		else
			err = check_ctl(s, bar);
		if (!err || umono_ns() >= deadline)
			return err;
		nap(ns);
		if (ns < SLEEP_MAX_NS)
			ns *= 2;
	}
}

/* Ask for a session and wait for utmemd's acknowledgement. */
static int attach(struct utmem_client *c, struct ivs *s)
{
	uint64_t deadline = umono_ns() + (uint64_t)c->timeout_ms * 1000000u;

	for (;;) {
		uint64_t retry = umono_ns() + (uint64_t)ATTACH_RETRY_MS * 1000000u;
		uint64_t ns = SLEEP_MIN_NS;

		if (getrandom(&s->nonce, sizeof(s->nonce), 0) != sizeof(s->nonce))
			return -EIO;
		s->nonce |= 1; /* never 0 */
		__atomic_store_n(&s->ctl->attach_caps, s->regs ? UVM_CAP_BELL : 0,
				 __ATOMIC_RELAXED);
		__atomic_store_n(&s->ctl->attach_req, s->nonce, __ATOMIC_RELEASE);
		ring_bell(s, UVM_VEC_CTL);
		while (umono_ns() < retry) {
			if (__atomic_load_n(&s->ctl->attach_ack, __ATOMIC_ACQUIRE) ==
			    s->nonce) {
				s->boot = __atomic_load_n(&s->ctl->boot,
							  __ATOMIC_RELAXED);
				return __atomic_load_n(&s->ctl->state,
						       __ATOMIC_RELAXED) ==
						       UVM_STATE_OPEN
					       ? 0
					       : -ECONNREFUSED;
			}
			if (umono_ns() >= deadline)
				return -ETIMEDOUT;
			nap(ns);
			if (ns < SLEEP_MAX_NS)
				ns *= 2;
		}
		/* No answer: utmemd may have (re)started meanwhile. Ask anew. */
	}
}

int uclient_ivshmem_attach(struct utmem_client *c)
{
	static const struct uclient_ring_vm ops = {
		.kick = vm_kick,
		.sleep = vm_sleep,
		.release = vm_release,
	};
	struct uclient_ring_vm vm = ops;
	struct ivs *s = calloc(1, sizeof(*s));
	struct uring_map m;
	struct stat st;
	char bar[512] = "";
	int err;

	if (!s)
		return -ENOMEM;
	s->fd = c->fd;
	if (fstat(c->fd, &st) < 0) {
		err = -errno;
		goto fail;
	}
	s->hdr = mmap(NULL, URING_HDR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		      c->fd, 0);
	if (s->hdr == MAP_FAILED) {
		s->hdr = NULL;
		err = -errno;
		goto fail;
	}
	s->ctl = (struct uvm_ctl *)(s->hdr + UVM_CTL_OFFSET);
	err = wait_ctl(c, s, (uint64_t)st.st_size);
	if (err)
		goto fail;
	/* The doorbell register, for ivshmem-doorbell (utmemd says so). */
	if (__atomic_load_n(&s->ctl->bell, __ATOMIC_RELAXED)) {
		snprintf(bar, sizeof(bar), "/proc/self/fd/%d", c->fd);
		{
			char real[512];
			ssize_t n = readlink(bar, real, sizeof(real) - 1);

			if (n > 0) {
				real[n] = '\0';
				s->regs = map_regs(real);
			}
		}
	}
	err = attach(c, s);
	if (err)
		goto fail;
	err = uring_map_fd(c->fd, s->ring_size, &m);
	if (err)
		goto fail;
	vm.arg = s;
	return uclient_ring_adopt_vm(c, &m, &vm);
fail:
	ivs_free(s);
	return err;
}

int uclient_ivshmem_idle_dead(struct utmem_client *c)
{
	struct ivs *s = uclient_ring_vm_arg(c);

	return !s || !session_live(s);
}

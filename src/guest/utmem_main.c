// SPDX-License-Identifier: GPL-2.0
/*
 * utmem_main.c — the guest's /dev/utmem: the thesis's "tmem user" as a
 * Linux module (docs/vm.md, "The guest module").
 *
 * It binds the ivshmem PCI devices (1af4:1110) whose BAR 2 holds a utmem
 * region (utmemd's ring layout, src/transport/ring.h, and the VM control
 * block, src/guest/vmshm.h), and gives each a misc device: /dev/utmem for
 * the first, /dev/utmem1, ... for more. Processes call ioctls
 * (src/guest/utmem_dev.h) to open pools and PUT, GET (exclusive or not),
 * INVALIDATE and FLUSH; the module turns each into one protocol frame
 * (src/proto/wire.c, compiled in unchanged), streams it through ring 0 and
 * reads the reply from ring 1, copying keys and values straight between the
 * caller's memory and the rings.
 *
 * Waiting: on an ivshmem-doorbell device with MSI-X the module sleeps with
 * the ring's client_sleeping flag raised and utmemd's doorbell wakes it
 * (the interrupt handler only wakes the wait queue); utmemd is rung
 * through the Doorbell register when its daemon_sleeping flag asks. On an
 * ivshmem-plain device (no interrupts) it polls with a sleep that doubles
 * from 20 us to 1 ms.
 *
 * Rules for hostile input: every length from user space is checked against
 * utmemd's limits before any copy (keys are copied into a kernel buffer
 * first, values go straight to or from the ring with copy_from_user /
 * copy_to_user, whose faults are handled); requests are serialized by a
 * per-device mutex taken killable, so concurrent ioctls are safe and a
 * killed caller never leaves it held; a frame left half-sent (a fault in
 * the caller's buffer, a fatal signal, a timeout) is abandoned by starting
 * a new session (the attach handshake of vmshm.h), which makes utmemd drop
 * it whole; replies to abandoned requests are recognized by id and
 * skipped. Pool handles are per open file and reopened by name after a new
 * session. Unloading is refused while a file is open (fops owner); a
 * device unbound while open is reference-counted, and its open files get
 * -ENODEV.
 */
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/kref.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/nospec.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/random.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/wait.h>

#include "guest/utmem_dev.h"
#include "guest/vmshm.h"
#include "proto/name.h"
#include "proto/wire.h"
#include "transport/ring.h"

#define UMOD_POOLS 64              /* pool handles per open file */
#define UMOD_REQ_TIMEOUT (30 * HZ) /* a request making no progress */
#define UMOD_ATTACH_RETRY (HZ)     /* ask again if utmemd did not answer */
#define UMOD_POLL_MIN_US 20
#define UMOD_POLL_MAX_US 1000
#define UMOD_SPIN 200              /* ring checks before sleeping */
#define UMOD_DOORBELL 12           /* BAR 0 register */
#define UMOD_MAX_DEVS 8
#define UMOD_NAME_MAX UNAME_MAX    /* pool names, as utmemd's store */

struct udev {
	struct kref ref;
	struct pci_dev *pdev;
	struct miscdevice misc;
	char name[16];
	int index;
	void *base;           /* BAR 2, memremap()ed write-back */
	u64 bar_size;
	void __iomem *regs;   /* BAR 0 (doorbell), or NULL */
	bool bar2;            /* BAR 2's region is claimed */
	int irq;              /* MSI-X vector 0's irq, or -1 */
	wait_queue_head_t wq;
	atomic64_t irqs;

	struct mutex lock;    /* one request at a time; guards all below */
	bool gone;            /* unbound: files get -ENODEV */
	bool attached;
	struct uvm_ctl *ctl;
	struct uring_map map;
	struct uring_end tx, rx;
	u64 nonce, boot, session; /* session: attaches by this module */
	u64 next_id;
	u32 max_key, max_value, tenant_id;
	u8 *key;              /* max_key bytes: the key being sent */
};

struct upool {
	char name[UMOD_NAME_MAX + 1];
	u16 wflags;           /* UWIRE_F_* for POOL_OPEN */
	u32 server;           /* utmemd's id in session `session` */
	u64 session;
	bool open;
};

struct ufile {
	struct udev *dev;
	struct upool pools[UMOD_POOLS]; /* handle h is pools[h - 1] */
};

static DEFINE_MUTEX(umod_devs_lock);
static struct udev *umod_devs[UMOD_MAX_DEVS];

static void udev_free(struct kref *ref)
{
	struct udev *d = container_of(ref, struct udev, ref);

	kfree(d->key);
	kfree(d);
}

/* ---- the rings: byte streams that may wrap (no double mapping here) ---- */

/* Room to write (producer) or bytes to read (consumer); -EPROTO if broken. */
static long ring_room(struct udev *d)
{
	int64_t v = uring_room(&d->tx);

	return v < 0 ? -EPROTO : (long)v;
}

static long ring_avail(struct udev *d)
{
	int64_t v = uring_avail(&d->rx);

	return v < 0 ? -EPROTO : (long)v;
}

static void ring_bell(struct udev *d, u32 vector)
{
	if (d->regs)
		iowrite32((UVM_DAEMON_PEER << 16) | vector, d->regs + UMOD_DOORBELL);
}

static void kick_daemon(struct udev *d, u32 what)
{
	if (uring_need_kick(&d->map.shm->daemon_sleeping, what))
		ring_bell(d, UVM_VEC_DATA);
}

/*
 * Copy n bytes into ring 0 at our position, from kernel (ubuf NULL) or user
 * memory, split at the end of the data area. 0 or -EFAULT.
 */
static int ring_put(struct udev *d, const void *kbuf, const void __user *ubuf,
		    size_t n)
{
	size_t off = d->tx.pos & (d->tx.size - 1);
	size_t first = min_t(size_t, n, d->tx.size - off);

	if (ubuf) {
		if (copy_from_user(d->tx.data + off, ubuf, first) ||
		    copy_from_user(d->tx.data, ubuf + first, n - first))
			return -EFAULT;
	} else {
		memcpy(d->tx.data + off, kbuf, first);
		memcpy(d->tx.data, (const u8 *)kbuf + first, n - first);
	}
	uring_produce(&d->tx, n);
	kick_daemon(d, URING_WANT_DATA);
	return 0;
}

/* Copy n bytes out of ring 1 (kernel, user, or nowhere). 0 or -EFAULT. */
static int ring_get(struct udev *d, void *kbuf, void __user *ubuf, size_t n)
{
	size_t off = d->rx.pos & (d->rx.size - 1);
	size_t first = min_t(size_t, n, d->rx.size - off);
	int err = 0;

	if (ubuf) {
		if (copy_to_user(ubuf, d->rx.data + off, first) ||
		    copy_to_user(ubuf + first, d->rx.data, n - first))
			err = -EFAULT;
	} else if (kbuf) {
		memcpy(kbuf, d->rx.data + off, first);
		memcpy((u8 *)kbuf + first, d->rx.data, n - first);
	}
	uring_consume(&d->rx, n);
	kick_daemon(d, URING_WANT_ROOM);
	return err;
}

static bool session_live(struct udev *d)
{
	return READ_ONCE(d->ctl->attach_ack) == d->nonce &&
	       READ_ONCE(d->ctl->state) == UVM_STATE_OPEN &&
	       READ_ONCE(d->ctl->boot) == d->boot;
}

/*
 * Wait until the ring has data to read (want_room false) or room to write.
 * Spins a little, then sleeps: on the interrupt with client_sleeping raised
 * (Dekker pair with utmemd's publish; ring.h), or polling. Returns the
 * count (> 0), or -ETIMEDOUT, -EINTR (fatal signal), -ECONNRESET (the
 * session is gone), -EPROTO (an impossible index).
 */
static long ring_wait(struct udev *d, bool want_room)
{
	unsigned long deadline = jiffies + UMOD_REQ_TIMEOUT;
	unsigned int us = UMOD_POLL_MIN_US;
	u32 *flag = &d->map.shm->client_sleeping;

	for (int i = 0;; i++) {
		long v = want_room ? ring_room(d) : ring_avail(d);

		if (v)
			return v;
		if (!session_live(d))
			return -ECONNRESET;
		if (fatal_signal_pending(current))
			return -EINTR;
		if (time_after(jiffies, deadline))
			return -ETIMEDOUT;
		if (i < UMOD_SPIN) {
			cpu_relax();
			continue;
		}
		if (d->irq >= 0) {
			uring_sleep_prepare(flag, want_room ? URING_WANT_ROOM
							    : URING_WANT_DATA);
			v = want_room ? ring_room(d) : ring_avail(d);
			if (!v)
				wait_event_killable_timeout(
					d->wq,
					(want_room ? ring_room(d) : ring_avail(d)) ||
						!session_live(d),
					HZ / 10);
			uring_sleep_cancel(flag);
			continue;
		}
		usleep_range(us, us * 2);
		if (us < UMOD_POLL_MAX_US)
			us *= 2;
	}
}

/* Send n bytes (kernel or user memory), waiting for room as needed. */
static int send_bytes(struct udev *d, const void *kbuf, const void __user *ubuf,
		      size_t n)
{
	while (n) {
		long room = ring_wait(d, true);
		size_t k;
		int err;

		if (room < 0)
			return (int)room;
		k = min_t(size_t, n, (size_t)room);
		err = ring_put(d, kbuf, ubuf, k);
		if (err)
			return err;
		if (kbuf)
			kbuf = (const u8 *)kbuf + k;
		else
			ubuf += k;
		n -= k;
	}
	return 0;
}

/* Receive n bytes into kernel or user memory, or drop them (both NULL). */
static int recv_bytes(struct udev *d, void *kbuf, void __user *ubuf, size_t n)
{
	int fault = 0;

	while (n) {
		long avail = ring_wait(d, false);
		size_t k;

		if (avail < 0)
			return (int)avail;
		k = min_t(size_t, n, (size_t)avail);
		/* A fault in the caller's buffer: keep reading, in sync. */
		if (ring_get(d, kbuf, fault ? NULL : ubuf, k))
			fault = -EFAULT;
		if (kbuf)
			kbuf = (u8 *)kbuf + k;
		else if (ubuf)
			ubuf += k;
		n -= k;
	}
	return fault;
}

/* ---- requests ---- */

struct ureq {
	u8 op;
	u16 flags;
	u32 pool;
	const void *key;        /* kernel memory */
	u32 klen;
	const void *kval;       /* kernel value, or */
	const void __user *uval; /* user value */
	u32 vlen;
	void *kout;             /* reply value: kernel record, or */
	void __user *uout;      /* user buffer */
	u64 cap;
	/* results */
	u32 out_len;
	u32 reply_pool;
};

/*
 * Run one request on the current session. Returns 0 with the reply's
 * value delivered, -errno for the reply's status, or a transport error
 * (then the session is dropped: the frame may be half-sent).
 */
static int exchange(struct udev *d, struct ureq *r)
{
	u8 hdr[UWIRE_HDR_SIZE];
	struct uwire_limits lim = {UWIRE_KEY_CEILING, UWIRE_VALUE_CEILING};
	struct uwire_hdr h = {
		.version = UWIRE_VERSION,
		.opcode = r->op,
		.flags = r->flags,
		.id = d->next_id++,
		.pool = r->pool,
		.klen = r->klen,
		.vlen = r->vlen,
	};
	u64 id = h.id;
	int err;

	uwire_hdr_encode(&h, hdr);
	err = send_bytes(d, hdr, NULL, sizeof(hdr));
	if (!err && r->klen)
		err = send_bytes(d, r->key, NULL, r->klen);
	if (!err && r->vlen)
		err = send_bytes(d, r->kval, r->uval, r->vlen);
	if (err)
		goto broken;
	for (;;) {
		err = recv_bytes(d, hdr, NULL, sizeof(hdr));
		if (err)
			goto broken;
		if (uwire_hdr_decode(hdr, &lim, &h) || !(h.flags & UWIRE_F_RESPONSE) ||
		    h.id > id) {
			err = -EPROTO;
			goto broken;
		}
		if (h.id == id)
			break;
		/* The reply to a request abandoned earlier: skip it. */
		err = recv_bytes(d, NULL, NULL, (size_t)h.klen + h.vlen);
		if (err)
			goto broken;
	}
	if (h.opcode != r->op) {
		err = -EPROTO;
		goto broken;
	}
	err = recv_bytes(d, NULL, NULL, h.klen);
	if (err)
		goto broken;
	r->reply_pool = h.pool;
	if (h.status != UWIRE_S_OK) {
		err = recv_bytes(d, NULL, NULL, h.vlen);
		if (err)
			goto broken;
		return -uwire_status_to_errno(h.status);
	}
	if (h.vlen > r->cap) {
		/* More than asked for (MAXLEN makes this impossible): drop it. */
		err = recv_bytes(d, NULL, NULL, h.vlen);
		if (err)
			goto broken;
		return -ENOBUFS;
	}
	r->out_len = h.vlen;
	err = recv_bytes(d, r->kout, r->uout, h.vlen);
	if (err == -EFAULT)
		return err; /* still in sync: every byte was read */
	if (err)
		goto broken;
	return 0;
broken:
	/* Half a frame may be in flight: start a new session next time. */
	d->attached = false;
	return err;
}

/* Map the ring of the current control block (checked) into d. */
static int map_ring(struct udev *d)
{
	u64 region = READ_ONCE(d->ctl->region_size);
	u64 ring = READ_ONCE(d->ctl->ring_size);

	if (READ_ONCE(d->ctl->magic) != UVM_MAGIC ||
	    READ_ONCE(d->ctl->version) != UVM_VERSION)
		return -ECONNREFUSED; /* no utmemd has set this region up */
	if (region > d->bar_size || region < UVM_REGION_MIN ||
	    (region & (region - 1)) || ring != uvm_ring_size(region) ||
	    !uring_size_ok(ring))
		return -EPROTO;
	d->map.base = d->base;
	d->map.len = (size_t)region;
	d->map.size = ring;
	d->map.shm = d->base;
	d->map.data[0] = (u8 *)d->base + URING_HDR_SIZE;
	d->map.data[1] = (u8 *)d->base + URING_HDR_SIZE + ring;
	uring_end_init(&d->tx, &d->map, URING_TO_DAEMON);
	uring_end_init(&d->rx, &d->map, URING_TO_CLIENT);
	return 0;
}

/* The attach handshake (vmshm.h), then HELLO for utmemd's limits. */
static int attach(struct udev *d)
{
	unsigned long deadline = jiffies + UMOD_REQ_TIMEOUT;
	u8 rec[UWIRE_HELLO_SIZE];
	struct uwire_hello hello;
	struct ureq r = {.op = UWIRE_OP_HELLO, .kout = rec, .cap = sizeof(rec)};
	int err = map_ring(d);

	if (err)
		return err;
	for (;;) {
		unsigned long retry = jiffies + UMOD_ATTACH_RETRY;
		u32 caps = (d->irq >= 0 ? UVM_CAP_IRQ : 0) |
			   (d->regs ? UVM_CAP_BELL : 0);

		d->nonce = get_random_u64() | 1;
		WRITE_ONCE(d->ctl->attach_caps, caps);
		smp_store_release(&d->ctl->attach_req, d->nonce);
		ring_bell(d, UVM_VEC_CTL);
		while (time_before(jiffies, retry) &&
		       smp_load_acquire(&d->ctl->attach_ack) != d->nonce) {
			if (fatal_signal_pending(current))
				return -EINTR;
			if (time_after(jiffies, deadline))
				return -ETIMEDOUT;
			usleep_range(100, 1000);
		}
		if (smp_load_acquire(&d->ctl->attach_ack) == d->nonce)
			break;
	}
	if (READ_ONCE(d->ctl->state) != UVM_STATE_OPEN)
		return -ECONNREFUSED;
	d->boot = READ_ONCE(d->ctl->boot);
	d->session++;
	d->attached = true;
	err = exchange(d, &r);
	if (err)
		return err;
	if (r.out_len != sizeof(rec) ||
	    uwire_hello_decode(rec, sizeof(rec), &hello) ||
	    hello.max_key == 0 || hello.max_key > UWIRE_KEY_CEILING ||
	    hello.max_value > UWIRE_VALUE_CEILING) {
		d->attached = false;
		return -EPROTO;
	}
	if (!d->key || hello.max_key > d->max_key) {
		u8 *k = kmalloc(hello.max_key, GFP_KERNEL);

		if (!k) {
			d->attached = false;
			return -ENOMEM;
		}
		kfree(d->key);
		d->key = k;
	}
	d->max_key = hello.max_key;
	d->max_value = hello.max_value;
	d->tenant_id = hello.tenant_id;
	dev_info(&d->pdev->dev, "%s: attached to utmemd (session %llu, tenant %u, %s)\n",
		 d->name, d->session, d->tenant_id,
		 d->irq >= 0 ? "interrupts" : "polling");
	return 0;
}

/* Take the device for one request: lock, check, attach if needed. */
static int dev_enter(struct udev *d)
{
	int err = mutex_lock_killable(&d->lock);

	if (err)
		return err;
	if (d->gone) {
		err = -ENODEV;
	} else if (!d->attached || !session_live(d)) {
		d->attached = false;
		err = attach(d);
	}
	if (err)
		mutex_unlock(&d->lock);
	return err;
}

/*
 * Run r on the session dev_enter() made sure of. A session lost in the
 * middle is -ECONNRESET (the request may or may not have run, as after a
 * broken connection); the next request attaches again.
 */
static int run(struct udev *d, struct ureq *r)
{
	return exchange(d, r);
}

/* ---- pools: handles per file, reopened by name on a new session ---- */

static int pool_open_wire(struct udev *d, struct upool *p)
{
	struct ureq r = {
		.op = UWIRE_OP_POOL_OPEN,
		.flags = p->wflags,
		.key = p->name,
		.klen = (u32)strlen(p->name),
	};
	int err = run(d, &r);

	if (err)
		return err;
	p->server = r.reply_pool;
	p->session = d->session;
	return 0;
}

/* The server id for handle h of file f, reopening it if needed. */
static int pool_resolve(struct ufile *f, u32 h, u32 *server)
{
	struct upool *p;
	int err;

	if (h == 0 || h > UMOD_POOLS)
		return -EBADF;
	/* A user-chosen index: no speculative access past the table. */
	p = &f->pools[array_index_nospec(h - 1, UMOD_POOLS)];
	if (!p->open)
		return -EBADF;
	if (p->session != f->dev->session) {
		err = pool_open_wire(f->dev, p);
		if (err)
			return err == -ENOENT ? -EBADF : err;
	}
	*server = p->server;
	return 0;
}

static long ioc_pool_open(struct ufile *f, void __user *arg)
{
	struct udev *d = f->dev;
	struct utmem_dev_pool a;
	struct upool tmp = {0}, *slot = NULL;
	long err;

	if (copy_from_user(&a, arg, sizeof(a)))
		return -EFAULT;
	if (a.name_len == 0 || a.name_len > UMOD_NAME_MAX ||
	    (a.flags & ~(UTMEM_DEV_POOL_CREATE | UTMEM_DEV_POOL_EPHEMERAL |
			 UTMEM_DEV_POOL_SHARED)))
		return -EINVAL;
	if (copy_from_user(tmp.name, u64_to_user_ptr(a.name), a.name_len))
		return -EFAULT;
	tmp.name[a.name_len] = '\0';
	/* utmemd's one rule for names (no NUL inside, not "." or ".."). */
	if (strnlen(tmp.name, a.name_len) != a.name_len || !uname_ok(tmp.name))
		return -EINVAL;
	tmp.wflags = (a.flags & UTMEM_DEV_POOL_CREATE ? UWIRE_F_CREATE : 0) |
		     (a.flags & UTMEM_DEV_POOL_EPHEMERAL ? UWIRE_F_EPHEMERAL : 0) |
		     (a.flags & UTMEM_DEV_POOL_SHARED ? UWIRE_F_SHARED : 0);
	err = dev_enter(d);
	if (err)
		return err;
	/* The same name and kind gives back its handle. */
	for (int i = 0; i < UMOD_POOLS; i++) {
		struct upool *p = &f->pools[i];

		if (p->open && strcmp(p->name, tmp.name) == 0 &&
		    (p->wflags & ~UWIRE_F_CREATE) == (tmp.wflags & ~UWIRE_F_CREATE)) {
			slot = p;
			break;
		}
		if (!p->open && !slot)
			slot = p;
	}
	err = slot ? pool_open_wire(d, &tmp) : -EMFILE;
	if (!err) {
		u16 keep = slot->open ? (slot->wflags & UWIRE_F_CREATE) : 0;

		*slot = tmp;
		slot->wflags |= keep;
		slot->open = true;
		a.pool = (u32)(slot - f->pools) + 1;
		if (copy_to_user(arg, &a, sizeof(a)))
			err = -EFAULT;
	}
	mutex_unlock(&d->lock);
	return err;
}

static long ioc_pool_op(struct ufile *f, void __user *arg, u8 op)
{
	struct udev *d = f->dev;
	struct ureq r = {.op = op};
	u32 h;
	long err;

	if (get_user(h, (u32 __user *)arg))
		return -EFAULT;
	err = dev_enter(d);
	if (err)
		return err;
	err = pool_resolve(f, h, &r.pool);
	if (!err)
		err = run(d, &r);
	if (!err && op == UWIRE_OP_POOL_DESTROY)
		f->pools[array_index_nospec(h - 1, UMOD_POOLS)].open = false;
	mutex_unlock(&d->lock);
	return err;
}

static long ioc_kv(struct ufile *f, void __user *arg, unsigned int cmd)
{
	struct udev *d = f->dev;
	struct utmem_dev_kv a;
	struct ureq r = {0};
	u8 maxlen[4];
	long err;

	if (copy_from_user(&a, arg, sizeof(a)))
		return -EFAULT;
	if (a.klen == 0 || a.klen > UWIRE_KEY_CEILING || a.pad ||
	    (cmd == UTMEM_IOC_GET ? (a.flags & ~UTMEM_DEV_GET_EXCLUSIVE) : a.flags))
		return -EINVAL;
	if (cmd == UTMEM_IOC_PUT && a.vlen > UWIRE_VALUE_CEILING)
		return -EMSGSIZE;
	err = dev_enter(d);
	if (err)
		return err;
	/* utmemd's limits are known once attached. */
	if (a.klen > d->max_key) {
		err = -EMSGSIZE;
		goto out;
	}
	if (cmd == UTMEM_IOC_PUT && a.vlen > d->max_value) {
		/* Keep the promise of a failed PUT: no old value left. */
		r.op = UWIRE_OP_INVALIDATE;
		a.vlen = 0;
	}
	if (copy_from_user(d->key, u64_to_user_ptr(a.key), a.klen)) {
		err = -EFAULT;
		goto out;
	}
	err = pool_resolve(f, a.pool, &r.pool);
	if (err)
		goto out;
	r.key = d->key;
	r.klen = a.klen;
	switch (cmd) {
	case UTMEM_IOC_PUT:
		if (r.op == UWIRE_OP_INVALIDATE) {
			err = run(d, &r);
			err = err && err != -ENOENT ? err : -EMSGSIZE;
			goto out;
		}
		r.op = UWIRE_OP_PUT;
		r.uval = u64_to_user_ptr(a.val);
		r.vlen = (u32)a.vlen;
		break;
	case UTMEM_IOC_GET:
		r.op = UWIRE_OP_GET;
		r.flags = UWIRE_F_MAXLEN |
			  (a.flags & UTMEM_DEV_GET_EXCLUSIVE ? UWIRE_F_EXCLUSIVE : 0);
		r.cap = min_t(u64, a.vlen, U32_MAX);
		uwire_put_u32(maxlen, (u32)r.cap);
		r.kval = maxlen;
		r.vlen = sizeof(maxlen);
		r.uout = u64_to_user_ptr(a.val);
		break;
	default:
		r.op = UWIRE_OP_INVALIDATE;
		break;
	}
	err = run(d, &r);
	if (!err && cmd == UTMEM_IOC_GET) {
		a.vlen = r.out_len;
		if (copy_to_user(arg, &a, sizeof(a)))
			err = -EFAULT;
	}
out:
	mutex_unlock(&d->lock);
	return err;
}

static long ioc_stats(struct ufile *f, void __user *arg)
{
	struct udev *d = f->dev;
	struct utmem_dev_stats a;
	u8 rec[UWIRE_STATS_SIZE];
	struct uwire_stats s;
	struct ureq r = {.op = UWIRE_OP_STATS, .kout = rec, .cap = sizeof(rec)};
	long err;

	if (copy_from_user(&a, arg, sizeof(a)))
		return -EFAULT;
	err = dev_enter(d);
	if (err)
		return err;
	err = a.pool ? pool_resolve(f, a.pool, &r.pool) : 0;
	if (!err)
		err = run(d, &r);
	mutex_unlock(&d->lock);
	if (err)
		return err;
	if (r.out_len != sizeof(rec) || uwire_stats_decode(rec, sizeof(rec), &s))
		return -EPROTO;
	a.v[0] = s.entries;
	a.v[1] = s.bytes_stored;
	a.v[2] = s.bytes_charged;
	a.v[3] = s.puts;
	a.v[4] = s.gets;
	a.v[5] = s.hits;
	a.v[6] = s.misses;
	a.v[7] = s.invalidates;
	a.v[8] = s.evictions;
	a.v[9] = s.refused_puts;
	a.v[10] = s.limit_max;
	a.v[11] = s.limit_min;
	return copy_to_user(arg, &a, sizeof(a)) ? -EFAULT : 0;
}

static long ioc_info_ping(struct ufile *f, void __user *arg, bool ping)
{
	struct udev *d = f->dev;
	struct utmem_dev_info a = {.version = UTMEM_DEV_VERSION};
	struct ureq r = {.op = UWIRE_OP_PING};
	long err = dev_enter(d);

	if (err)
		return err;
	if (ping)
		err = run(d, &r);
	a.max_key = d->max_key;
	a.max_value = d->max_value;
	a.tenant_id = d->tenant_id;
	a.irq = d->irq >= 0;
	mutex_unlock(&d->lock);
	if (!err && !ping && copy_to_user(arg, &a, sizeof(a)))
		err = -EFAULT;
	return err;
}

static long umod_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct ufile *f = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case UTMEM_IOC_INFO: return ioc_info_ping(f, uarg, false);
	case UTMEM_IOC_PING: return ioc_info_ping(f, uarg, true);
	case UTMEM_IOC_POOL_OPEN: return ioc_pool_open(f, uarg);
	case UTMEM_IOC_POOL_DESTROY: return ioc_pool_op(f, uarg, UWIRE_OP_POOL_DESTROY);
	case UTMEM_IOC_POOL_FLUSH: return ioc_pool_op(f, uarg, UWIRE_OP_POOL_FLUSH);
	case UTMEM_IOC_PUT:
	case UTMEM_IOC_GET:
	case UTMEM_IOC_INVALIDATE: return ioc_kv(f, uarg, cmd);
	case UTMEM_IOC_STATS: return ioc_stats(f, uarg);
	default: return -ENOTTY;
	}
}

/* ---- files ---- */

static int umod_open(struct inode *inode, struct file *file)
{
	struct udev *d = NULL;
	struct ufile *f;
	int minor = iminor(inode);

	mutex_lock(&umod_devs_lock);
	for (int i = 0; i < UMOD_MAX_DEVS; i++) {
		if (umod_devs[i] && umod_devs[i]->misc.minor == minor) {
			d = umod_devs[i];
			kref_get(&d->ref);
			break;
		}
	}
	mutex_unlock(&umod_devs_lock);
	if (!d)
		return -ENODEV;
	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f) {
		kref_put(&d->ref, udev_free);
		return -ENOMEM;
	}
	f->dev = d;
	file->private_data = f;
	return 0;
}

static int umod_release(struct inode *inode, struct file *file)
{
	struct ufile *f = file->private_data;

	kref_put(&f->dev->ref, udev_free);
	kfree(f);
	return 0;
}

static const struct file_operations umod_fops = {
	.owner = THIS_MODULE, /* no unload while a file is open */
	.open = umod_open,
	.release = umod_release,
	.unlocked_ioctl = umod_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/* ---- the PCI device ---- */

static irqreturn_t umod_irq(int irq, void *arg)
{
	struct udev *d = arg;

	atomic64_inc(&d->irqs);
	wake_up(&d->wq);
	return IRQ_HANDLED;
}

static int umod_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct udev *d;
	int err, slot = -1;

	d = kzalloc(sizeof(*d), GFP_KERNEL);
	if (!d)
		return -ENOMEM;
	kref_init(&d->ref);
	mutex_init(&d->lock);
	init_waitqueue_head(&d->wq);
	d->pdev = pdev;
	d->irq = -1;
	d->next_id = 1;
	err = pcim_enable_device(pdev);
	if (err)
		goto fail;
	/* An MSI is a write by the device: without bus mastering QEMU drops it. */
	pci_set_master(pdev);
	/* BAR 0 (registers) mapped uncached; BAR 2 only claimed here. */
	err = pcim_iomap_regions(pdev, BIT(0), "utmem");
	if (err)
		goto fail;
	err = pci_request_region(pdev, 2, "utmem");
	if (err)
		goto fail;
	d->bar2 = true;
	d->bar_size = pci_resource_len(pdev, 2);
	if (d->bar_size < UVM_REGION_MIN) {
		err = -ENODEV;
		goto fail;
	}
	/* The BAR is RAM on the host: map it as memory, write-back. */
	d->base = devm_memremap(&pdev->dev, pci_resource_start(pdev, 2),
				d->bar_size, MEMREMAP_WB);
	if (IS_ERR(d->base)) {
		err = PTR_ERR(d->base);
		goto fail;
	}
	d->ctl = (struct uvm_ctl *)((u8 *)d->base + UVM_CTL_OFFSET);
	d->regs = pcim_iomap_table(pdev)[0];
	/* ivshmem-doorbell has MSI-X; ivshmem-plain has no interrupt at all. */
	if (pci_msix_vec_count(pdev) > 0 &&
	    pci_alloc_irq_vectors(pdev, 1, UVM_NVECTORS, PCI_IRQ_MSIX) > 0) {
		d->irq = pci_irq_vector(pdev, UVM_VEC_DATA);
		if (request_irq(d->irq, umod_irq, 0, "utmem", d)) {
			pci_free_irq_vectors(pdev);
			d->irq = -1;
		}
	}
	if (d->irq < 0)
		d->regs = NULL; /* plain: nothing would hear the doorbell */
	mutex_lock(&umod_devs_lock);
	for (int i = 0; i < UMOD_MAX_DEVS; i++) {
		if (!umod_devs[i]) {
			slot = i;
			break;
		}
	}
	if (slot < 0) {
		mutex_unlock(&umod_devs_lock);
		err = -ENOSPC;
		goto fail_irq;
	}
	d->index = slot;
	if (slot == 0)
		snprintf(d->name, sizeof(d->name), "utmem");
	else
		snprintf(d->name, sizeof(d->name), "utmem%d", slot);
	d->misc.minor = MISC_DYNAMIC_MINOR;
	d->misc.name = d->name;
	d->misc.fops = &umod_fops;
	d->misc.mode = 0600;
	err = misc_register(&d->misc);
	if (!err)
		umod_devs[slot] = d;
	mutex_unlock(&umod_devs_lock);
	if (err)
		goto fail_irq;
	pci_set_drvdata(pdev, d);
	dev_info(&pdev->dev, "/dev/%s: %llu-byte region, %s\n", d->name,
		 d->bar_size, d->irq >= 0 ? "doorbell interrupts" : "no interrupts (polling)");
	return 0;
fail_irq:
	if (d->irq >= 0) {
		free_irq(d->irq, d);
		pci_free_irq_vectors(pdev);
	}
fail:
	if (d->bar2)
		pci_release_region(pdev, 2);
	kref_put(&d->ref, udev_free);
	return err;
}

static void umod_remove(struct pci_dev *pdev)
{
	struct udev *d = pci_get_drvdata(pdev);

	mutex_lock(&umod_devs_lock);
	umod_devs[d->index] = NULL;
	mutex_unlock(&umod_devs_lock);
	misc_deregister(&d->misc);
	/* Wait for the request in progress; later ones see `gone`. */
	mutex_lock(&d->lock);
	d->gone = true;
	d->attached = false;
	mutex_unlock(&d->lock);
	if (d->irq >= 0) {
		free_irq(d->irq, d);
		pci_free_irq_vectors(pdev);
	}
	/* The devm mappings go with the device; open files hold only d. */
	devm_memunmap(&pdev->dev, d->base);
	pci_release_region(pdev, 2);
	kref_put(&d->ref, udev_free);
}

static const struct pci_device_id umod_ids[] = {
	{PCI_DEVICE(0x1af4, 0x1110)},
	{0},
};
MODULE_DEVICE_TABLE(pci, umod_ids);

static struct pci_driver umod_driver = {
	.name = "utmem",
	.id_table = umod_ids,
	.probe = umod_probe,
	.remove = umod_remove,
};
module_pci_driver(umod_driver);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("utmem: /dev/utmem over a utmemd ivshmem region (the tmem user)");

/*
 * dev.c — libutmem inside a VM guest through the guest module's device
 * (`dev:/dev/utmem`; src/guest/utmem_main.c, the thesis's "tmem user").
 *
 * The module owns the ring to utmemd and turns one ioctl into one request
 * (src/guest/utmem_dev.h), so this transport has no frames and no stream:
 * uclient_exec() hands every request of a call or batch here, and each one
 * becomes its ioctl, in order. The records the rest of the library expects
 * (HELLO's limits, STATS) are rebuilt from the ioctls' results with the
 * wire encoders, so client.c and batch.c need not know the difference.
 * Pool ids are the module's handles, which belong to this open file; the
 * module reopens pools by name itself when its session with utmemd starts
 * again, so a handle stays valid for as long as the file is open.
 */
#include "client/client_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/utmem_dev.h"

int uclient_dev_open(const struct uclient_addr *a)
{
	struct stat st;
	int fd = open(a->path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		/* No module or no device: say "nothing there", not a miss. */
		return errno == ENOENT || errno == ENODEV || errno == ENXIO
			       ? -ECONNREFUSED
			       : -errno;
	if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode)) {
		close(fd);
		return -ENOTTY;
	}
	return fd;
}

/* One ioctl; its errno (negative) or 0. */
static int ioc(int fd, unsigned long cmd, void *arg)
{
	int rc;

	do
		rc = ioctl(fd, cmd, arg);
	while (rc < 0 && errno == EINTR);
	return rc < 0 ? -errno : 0;
}

static int ioc_pool(int fd, unsigned long cmd, uint32_t pool)
{
	return ioc(fd, cmd, &pool);
}

/*
 * The device itself failed (unbound, module gone): the "connection" broke.
 * Not -EBADF: the module answers that for a pool handle gone (destroyed by
 * another client), a request's own result as on every other transport.
 */
static int transport_error(int err)
{
	return err == -ENODEV || err == -ENXIO || err == -ENOTTY;
}

/* Run r through the device; sets r->result and friends. 0 or -errno. */
static int dev_one(struct utmem_client *c, struct uclient_req *r)
{
	struct utmem_dev_kv kv = {.pool = r->pool, .key = (uintptr_t)r->key,
				  .klen = r->klen};
	struct utmem_dev_pool po;
	struct utmem_dev_stats st;
	struct utmem_dev_info info;
	uint8_t rec[UWIRE_STATS_SIZE];
	void *p = NULL;
	int err;

	r->result = 0;
	switch (r->op) {
	case UWIRE_OP_HELLO:
		err = ioc(c->fd, UTMEM_IOC_INFO, &info);
		if (!err) {
			struct uwire_hello h = {UWIRE_VERSION, info.max_key,
						info.max_value, info.tenant_id};

			if (r->cap != UWIRE_HELLO_SIZE)
				return -EPROTO;
			uwire_hello_encode(&h, r->buf);
		}
		break;
	case UWIRE_OP_PING:
		err = ioc(c->fd, UTMEM_IOC_PING, NULL);
		break;
	case UWIRE_OP_POOL_OPEN:
		po = (struct utmem_dev_pool){
			.name = (uintptr_t)r->key,
			.name_len = r->klen,
			.flags = (r->flags & UWIRE_F_CREATE ? UTMEM_DEV_POOL_CREATE : 0) |
				 (r->flags & UWIRE_F_EPHEMERAL ? UTMEM_DEV_POOL_EPHEMERAL : 0) |
				 (r->flags & UWIRE_F_SHARED ? UTMEM_DEV_POOL_SHARED : 0),
		};
		err = ioc(c->fd, UTMEM_IOC_POOL_OPEN, &po);
		if (!err)
			r->reply_pool = po.pool;
		break;
	case UWIRE_OP_POOL_DESTROY:
		err = ioc_pool(c->fd, UTMEM_IOC_POOL_DESTROY, r->pool);
		break;
	case UWIRE_OP_POOL_FLUSH:
		err = ioc_pool(c->fd, UTMEM_IOC_POOL_FLUSH, r->pool);
		break;
	case UWIRE_OP_PUT:
		kv.val = (uintptr_t)r->val;
		kv.vlen = r->vlen;
		err = ioc(c->fd, UTMEM_IOC_PUT, &kv);
		break;
	case UWIRE_OP_INVALIDATE:
		err = ioc(c->fd, UTMEM_IOC_INVALIDATE, &kv);
		break;
	case UWIRE_OP_GET:
		kv.flags = r->flags & UWIRE_F_EXCLUSIVE ? UTMEM_DEV_GET_EXCLUSIVE : 0;
		if (r->rx == UCLIENT_RX_ALLOC) {
			/* Room for any value, so a pop never fails for size;
			 * untouched pages cost nothing and are given back. */
			size_t cap = c->max_value ? c->max_value : 1;

			p = malloc(cap);
			if (!p)
				return -ENOMEM;
			kv.val = (uintptr_t)p;
			kv.vlen = cap;
		} else {
			kv.val = (uintptr_t)r->buf;
			kv.vlen = r->cap;
		}
		err = ioc(c->fd, UTMEM_IOC_GET, &kv);
		if (err) {
			free(p);
			break;
		}
		r->result = (ssize_t)kv.vlen;
		if (p) {
			void *q = realloc(p, kv.vlen ? kv.vlen : 1);

			*r->out = q ? q : p;
		}
		break;
	case UWIRE_OP_STATS:
		st = (struct utmem_dev_stats){.pool = r->pool};
		err = ioc(c->fd, UTMEM_IOC_STATS, &st);
		if (!err) {
			struct uwire_stats s = {
				st.v[0], st.v[1], st.v[2], st.v[3], st.v[4], st.v[5],
				st.v[6], st.v[7], st.v[8], st.v[9], st.v[10], st.v[11],
			};

			if (r->cap != UWIRE_STATS_SIZE)
				return -EPROTO;
			uwire_stats_encode(&s, rec);
			memcpy(r->buf, rec, sizeof(rec));
		}
		break;
	default:
		err = -EOPNOTSUPP;
		break;
	}
	if (err && transport_error(err))
		return err;
	if (err)
		r->result = err;
	if (r->force && (r->result >= 0 || r->result == -ENOENT))
		r->result = r->force;
	r->done = 1;
	return 0;
}

int uclient_dev_exec(struct utmem_client *c, struct uclient_req *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int err;

		if (r[i].done)
			continue;
		err = dev_one(c, &r[i]);
		if (err) {
			for (size_t j = i; j < n; j++) {
				if (!r[j].done) {
					r[j].result = -ECONNRESET;
					r[j].done = 1;
				}
			}
			uclient_disconnect(c);
			return err;
		}
	}
	return 0;
}

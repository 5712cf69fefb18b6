/*
 * utmem_dev.h — the ioctl interface of the guest's /dev/utmem (the
 * thesis's "tmem user"), shared by the module (src/guest/utmem_main.c) and
 * libutmem's `dev:` transport (src/client/dev.c). docs/vm.md documents it.
 *
 * Every call is one ioctl on an open /dev/utmem; it returns 0 or fails with
 * errno set to what the same call of libutmem returns negated (ENOENT for a
 * miss, ENOBUFS for a GET buffer too small, EDQUOT, ...). Pool handles are
 * per open file: a handle names a pool only for the file that opened it,
 * and the module reopens pools by name by itself when its session with
 * utmemd had to start again. Pointers are passed as __u64.
 */
#ifndef UTMEM_GUEST_DEV_H
#define UTMEM_GUEST_DEV_H

#ifdef __KERNEL__
#include <linux/ioctl.h>
#include <linux/types.h>
#else
#include <linux/ioctl.h>
#include <linux/types.h>
#endif

#define UTMEM_DEV_VERSION 1u

/* UTMEM_IOC_INFO: what utmemd announced for this VM's tenant. */
struct utmem_dev_info {
	__u32 version;   /* UTMEM_DEV_VERSION */
	__u32 max_key;
	__u32 max_value;
	__u32 tenant_id;
	__u32 irq;       /* 1: waits are woken by the doorbell interrupt */
	__u32 pad;
};

/* pool flags */
#define UTMEM_DEV_POOL_CREATE 1u
#define UTMEM_DEV_POOL_EPHEMERAL 2u
#define UTMEM_DEV_POOL_SHARED 4u

/* UTMEM_IOC_POOL_OPEN: in name/name_len/flags, out pool (a handle > 0). */
struct utmem_dev_pool {
	__u64 name;      /* 1..63 bytes of [A-Za-z0-9._-], not terminated */
	__u32 name_len;
	__u32 flags;     /* UTMEM_DEV_POOL_* */
	__u32 pool;
	__u32 pad;
};

/* GET flags */
#define UTMEM_DEV_GET_EXCLUSIVE 1u

/*
 * UTMEM_IOC_PUT / GET / INVALIDATE. PUT: val[0..vlen) is stored. GET: in
 * vlen = the buffer's size, out vlen = the value's length (on ENOBUFS the
 * value is left in place, even for an exclusive GET). INVALIDATE: no value.
 */
struct utmem_dev_kv {
	__u32 pool;
	__u32 flags;     /* GET: UTMEM_DEV_GET_EXCLUSIVE */
	__u64 key;
	__u32 klen;
	__u32 pad;
	__u64 val;
	__u64 vlen;
};

/* UTMEM_IOC_STATS: pool 0 = the tenant; the counters of utmem_stats. */
struct utmem_dev_stats {
	__u32 pool;
	__u32 pad;
	__u64 v[12];
};

#define UTMEM_IOC_INFO _IOR('u', 0x01, struct utmem_dev_info)
#define UTMEM_IOC_POOL_OPEN _IOWR('u', 0x02, struct utmem_dev_pool)
#define UTMEM_IOC_POOL_DESTROY _IOW('u', 0x03, __u32)
#define UTMEM_IOC_POOL_FLUSH _IOW('u', 0x04, __u32)
#define UTMEM_IOC_PUT _IOW('u', 0x05, struct utmem_dev_kv)
#define UTMEM_IOC_GET _IOWR('u', 0x06, struct utmem_dev_kv)
#define UTMEM_IOC_INVALIDATE _IOW('u', 0x07, struct utmem_dev_kv)
#define UTMEM_IOC_STATS _IOWR('u', 0x08, struct utmem_dev_stats)
#define UTMEM_IOC_PING _IO('u', 0x09)

#endif /* UTMEM_GUEST_DEV_H */

/*
 * string.h — for the guest module only: the kernel has no C library, and the
 * headers shared with user space (proto/wire.h, transport/ring.h) include
 * <string.h>; in the kernel that is <linux/string.h>.
 */
#include <linux/string.h>

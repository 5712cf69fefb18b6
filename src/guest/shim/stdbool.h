/*
 * stdbool.h — for the guest module only: headers shared with user space
 * (proto/name.h) include <stdbool.h>; the kernel's bool is in
 * <linux/types.h>.
 */
#include <linux/types.h>

#!/bin/sh
# /init of the VM tests' initramfs (packed by tests/vm/lib.sh): mount the
# pseudo file systems, load the modules listed in /modules.order, run
# /test.sh with the kernel command line's vmtest.* words as environment, and
# power off. Every result line the host reads starts with "VMTEST".
export PATH=/bin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/shm /tmp && mount -t tmpfs tmp /tmp
insmod_rc=0
for m in $(cat /modules.order); do
	insmod "/lib/modules/$m" || { echo "VMTEST FAIL insmod $m"; insmod_rc=1; }
done
for w in $(cat /proc/cmdline); do
	case $w in vmtest.*=*) k=${w#vmtest.}; export "VMT_${k%%=*}=${w#*=}" ;; esac
done
echo "VMTEST BOOTED $(cut -d' ' -f1 /proc/uptime)"
sh /test.sh
rc=$?
# A module that did not load fails the run, whatever the test said.
[ "$rc" = 0 ] && rc=$insmod_rc
echo "VMTEST DONE rc=$rc"
poweroff -f

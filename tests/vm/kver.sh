#!/bin/sh
# kver.sh — print the kernel version the VM tests boot and build the guest
# module for: the newest one with a kernel image in /boot, its modules in
# /lib/modules and, if WANT_BUILD=1, its headers (/lib/modules/V/build).
# Prints nothing if there is none.
for k in $(ls /lib/modules 2>/dev/null | sort -rV); do
	[ -e "/boot/vmlinuz-$k" ] || continue
	[ -e "/lib/modules/$k/modules.dep" ] || continue
	if [ "${WANT_BUILD:-0}" = 1 ] && [ ! -e "/lib/modules/$k/build/Makefile" ]; then
		continue
	fi
	echo "$k"
	exit 0
done

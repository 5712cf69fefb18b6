#!/bin/sh
# build-module.sh KDIR SRCROOT OUT — build the guest module utmem.ko for the
# kernel whose build directory is KDIR (Debian: /lib/modules/V/build, from
# linux-headers-V) out of the tree, in OUT/kbuild, and copy it to OUT.
#
# Kbuild wants its sources in the directory it builds in, so the module's
# source and the one wire-format implementation (src/proto/wire.c) are
# copied there; the shared headers are found through include paths (the
# shim/ headers map the C library names they include to the kernel's).
set -eu
kdir=$1 src=$(cd "$2" && pwd) out=$(mkdir -p "$3" && cd "$3" && pwd)
mkdir -p "$out/kbuild"
cp "$src/src/guest/utmem_main.c" "$src/src/proto/wire.c" "$out/kbuild/"
cat >"$out/kbuild/Kbuild" <<KB
obj-m := utmem.o
utmem-y := utmem_main.o wire.o
ccflags-y := -I$src/src -I$src/src/guest/shim
KB
make -s -C "$kdir" M="$out/kbuild" modules
cp "$out/kbuild/utmem.ko" "$out/utmem.ko"

#!/usr/bin/env bash
# bench/vm-latency.sh — the counterpart of the thesis's Table 3.2 row
# "guest-to-host hypercall": p50 and p99 round trips of PUT and GET from a
# process inside a QEMU guest to utmemd on the host, for each VM transport,
# beside the same client on the host (the fast path, and the socket alone).
#
# One utmemd serves three VM tenants (ivshmem-plain, ivshmem-doorbell,
# virtio-serial) and a host tenant. One guest (tests/vm/lib.sh, which asks
# QEMU for no accelerator: TCG) runs `vmcheck lat ADDR N SIZE`
# for each transport and value size, one after the other:
#   ivshmem-plain      a guest process on the BAR through sysfs (polling)
#   ivshmem-doorbell   the same on the doorbell device (rings utmemd)
#   dev-doorbell       the guest module, woken by the MSI-X interrupt
#   dev-plain          the guest module on the plain device (polling)
#   virtio-serial      the virtserialport to the tenant's socket
# then the host runs the same on unix: (the fast path) and on the socket
# alone (unix: with UTMEM_FAST_PATH=0). Each line of the report
# is one run of N PUTs and N GETs (vmcheck times each call).
#
# Environment: BENCH_BUILD [build]  N [2000]  SIZES ["64 1024 131072 1048576"]
#   VM_MEM [512]  OUT [$UTMEM_RESULTS/vm-latency-<UTC time>]
#   UTMEM_RESULTS [/var/tmp/utmem-results]  PUBLISH [1]: copy the report to
#   bench/results/vm-latency.md
# Run it on a quiet machine: the guest's vCPU is one host thread, and every
# other runnable thread on the host delays it.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BENCH_BUILD=${BENCH_BUILD:-build}
N=${N:-2000}
SIZES=${SIZES:-"64 1024 131072 1048576"}
export VM_MEM=${VM_MEM:-512}
PUBLISH=${PUBLISH:-1}
UTMEM_RESULTS=${UTMEM_RESULTS:-/var/tmp/utmem-results}
OUT=${OUT:-$UTMEM_RESULTS/vm-latency-$(date -u +%Y%m%dT%H%M%SZ)}
UTMEMD=$BENCH_BUILD/src/daemon/utmemd
VMCHECK=$BENCH_BUILD/tests/vm/vmcheck
VMCHECK_STATIC=$BENCH_BUILD/tests/vm/vmcheck-static
UTMEM_KO=$BENCH_BUILD/src/guest/utmem.ko
export VM_CACHE=$PWD/$BENCH_BUILD/tests/vm

. bench/lib.sh
. tests/vm/lib.sh

{
for f in "$UTMEMD" "$VMCHECK" "$VMCHECK_STATIC" "$UTMEM_KO"; do
	[ -e "$f" ] || bench_die "no $f (build it: ninja -C $BENCH_BUILD)"
done
bench_init
T=$BENCH_TMP
vm_require
mkdir -p "$OUT"
RUN=$T/run
cat >"$T/vm.ini" <<INI
[utmemd]
capacity = 2G
[tenant host]
[tenant vm1]
ivshmem = vm1.shm
ivshmem_size = 16M
[tenant vm2]
ivshmem = vm2.shm
ivshmem_size = 16M
ivshmem_doorbell = vm2.bell
[tenant vm3]
INI
"$UTMEMD" -c "$T/vm.ini" --run-dir "$RUN" >"$OUT/utmemd.out" 2>"$OUT/utmemd.log" &
BENCH_PIDS+=($!)
bench_wait_socket "$RUN/vm3.sock" "$!" 10 || bench_die "utmemd did not start"

G=$T/guest
mkdir -p "$G/bin"
cp "$VMCHECK_STATIC" "$G/bin/vmcheck"
cp "$UTMEM_KO" "$G/utmem.ko"
{
	echo 'run() { t=$1; shift; for s in '"$SIZES"'; do vmcheck lat "$@" '"$N"' $s | sed "s/^/VMLAT $t /"; done; }'
	echo 'run ivshmem-plain ivshmem:/sys/bus/pci/devices/0000:00:10.0'
	echo 'run ivshmem-doorbell ivshmem:/sys/bus/pci/devices/0000:00:11.0'
	echo 'run virtio-serial virtio-serial:org.utmem.vm3'
	echo 'insmod /utmem.ko'
	echo 'run dev-doorbell dev:/dev/utmem1'
	echo 'run dev-plain dev:/dev/utmem'
	echo 'echo "VMLAT irqs $(grep utmem /proc/interrupts | tr -s " ")"'
} >"$G/test.sh"
vm_initrd "$G" "$T/initrd.cpio" virtio_pci virtio_console
MACHINE=$(bench_machine)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
vm_boot "$OUT/guest.log" 3600 "$T/initrd.cpio" \
	-object "memory-backend-file,id=vm1mem,mem-path=$RUN/vm1.shm,size=16M,share=on" \
	-device ivshmem-plain,memdev=vm1mem,addr=0x10 \
	-chardev "socket,id=vm2bell,path=$RUN/vm2.bell" \
	-device ivshmem-doorbell,chardev=vm2bell,vectors=2,addr=0x11 \
	-device virtio-serial-pci \
	-chardev "socket,id=vs3,path=$RUN/vm3.sock" \
	-device virtserialport,chardev=vs3,name=org.utmem.vm3 ||
	bench_die "the guest did not finish (see $OUT/guest.log)"
grep '^VMLAT' "$OUT/guest.log" | sed 's/^VMLAT //' >"$OUT/lat.txt"
for a in fast socket; do
	fp=1
	[ "$a" = socket ] && fp=0
	for s in $SIZES; do
		UTMEM_FAST_PATH=$fp "$VMCHECK" lat "unix:$RUN/host.sock" "$N" "$s" |
			sed "s/^/host-$a /" >>"$OUT/lat.txt"
	done
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# Report: one row per transport and size, PUT and GET p50/p99 in us.
{
	echo "### Round trips from a guest process to utmemd (thesis Table 3.2, hypercall row)"
	echo
	echo "$MACHINE"
	echo "- guest: QEMU $($VM_QEMU --version | head -n1 | awk '{print $4}'), $(grep -q . /dev/kvm 2>/dev/null && echo KVM || echo TCG), ${VM_MEM} MiB, 1 vCPU, kernel $VM_KVER; utmemd on the host, default workers"
	echo "- $N PUTs then $N GETs of one key per run, each call timed in the guest (CLOCK_MONOTONIC; under TCG the guest's clock is the host's)"
	echo "- load average before/after: $LOAD0 / $LOAD1"
	echo "- $(grep '^irqs' "$OUT/lat.txt" | head -n1)"
	echo
	echo "| transport | value | PUT p50 µs | PUT p99 µs | GET p50 µs | GET p99 µs |"
	echo "|---|---:|---:|---:|---:|---:|"
	awk '$2 == "lat" && $3 == "put" { k = $1 " " $5; pp50[k] = $9; pp99[k] = $11; order[++n] = k }
	     $2 == "lat" && $3 == "get" { k = $1 " " $5; gp50[k] = $9; gp99[k] = $11 }
	     END { for (i = 1; i <= n; i++) { k = order[i]; split(k, a, " ");
		 printf "| %s | %s | %s | %s | %s | %s |\n", a[1], a[2], pp50[k], pp99[k], gp50[k], gp99[k] } }' "$OUT/lat.txt"
} >"$OUT/vm-latency.md"
cat "$OUT/vm-latency.md"
[ "$PUBLISH" = 1 ] && cp "$OUT/vm-latency.md" bench/results/vm-latency.md
exit 0
}

#!/usr/bin/env bash
# The VM transports end to end with a real guest (docs/vm.md): one QEMU
# (TCG) guest reaches one utmemd through
#   - ivshmem (tenant vm1: an ivshmem-plain device whose memory is vm1's
#     region file; the guest process maps the BAR through sysfs),
#   - virtio-serial (tenant vm3: a virtserialport whose host end connects
#     to vm3's Unix socket),
# runs every operation on every pool kind through each, and exchanges
# values with the host, which checks them through the tenants' sockets.
# Skips (77) only where QEMU cannot run at all.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../e2e/daemon/lib.sh"
. "$HERE/lib.sh"
vm_require

RUN=$T/run
G=$T/guest
cat >"$T/vm.ini" <<INI
[utmemd]
capacity = 512M
ring_size = 1M
[tenant host]
[tenant vm1]
ivshmem = vm1.shm
ivshmem_size = 4M
[tenant vm3]
[pool vmshared]
kind = persistent
tenants = host, vm1, vm3
[pool vmops-sp]
kind = persistent
tenants = vm1, vm3
[pool vmops-se]
kind = ephemeral
tenants = vm1, vm3
INI
start_daemon d "$RUN" -c "$T/vm.ini"

# Values the guests must find.
"$VMCHECK" put "unix:$RUN/host.sock" sp vmshared host 300 9 || fail "host put shared"
for t in vm1 vm3; do
	"$VMCHECK" put "unix:$RUN/$t.sock" pp "$t-pp" from-host 5000 7 ||
		fail "host put for $t"
done

mkdir -p "$G/bin"
cp "$VMCHECK_STATIC" "$G/bin/vmcheck"
cat >"$G/test.sh" <<'EOF'
rc=0
vmcheck ops ivshmem: vm1 && echo "VMTEST ok ivshmem at $(cut -d" " -f1 /proc/uptime)" || rc=1
vmcheck ops virtio-serial:org.utmem.vm3 vm3 && echo "VMTEST ok virtio-serial at $(cut -d" " -f1 /proc/uptime)" || rc=1
exit $rc
EOF
vm_initrd "$G" "$T/initrd.gz" virtio_pci virtio_console

t0=$(date +%s%N)
vm_boot "$T/guest.log" 150 "$T/initrd.gz" \
	-object "memory-backend-file,id=vm1mem,mem-path=$RUN/vm1.shm,size=4M,share=on" \
	-device ivshmem-plain,memdev=vm1mem \
	-device virtio-serial-pci \
	-chardev "socket,id=vs3,path=$RUN/vm3.sock" \
	-device virtserialport,chardev=vs3,name=org.utmem.vm3 ||
	{ cat "$T/guest.log.qemu" >&2; fail "the guest did not power off"; }
t1=$(date +%s%N)
sed 's/^/guest: /' "$T/guest.log" | grep -v '^guest: $'
vm_result "$T/guest.log" || fail "the guest's checks failed"
ok "guest booted, ran every check and powered off in $(((t1 - t0) / 1000000)) ms"

for t in vm1 vm3; do
	"$VMCHECK" check "unix:$RUN/$t.sock" pp "$t-pp" from-guest 102400 42 ||
		fail "host: $t's private value"
	"$VMCHECK" check "unix:$RUN/host.sock" sp vmshared "$t" 333 11 ||
		fail "host: $t's shared value"
done
ok "the host reads what each guest transport stored"
kill -0 "$DPID" || fail "utmemd died"
stop_daemon "$DPID" || fail "utmemd exit status $?"

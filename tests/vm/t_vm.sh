#!/usr/bin/env bash
# The VM transports end to end with a real guest (docs/vm.md). One QEMU
# (TCG) guest reaches one utmemd through
#   - ivshmem-plain (tenant vm1: the device's memory is vm1's region file;
#     the guest process maps the BAR through sysfs, no kernel code),
#   - ivshmem-doorbell (tenant vm2: utmemd is the device's doorbell
#     server; first a guest process through sysfs, ringing utmemd through
#     BAR 0, then the guest module's /dev/utmem, woken by the interrupt),
#   - the guest module on the plain device too (/dev/utmem, polling),
#   - virtio-serial (tenant vm3: a virtserialport whose host end connects
#     to vm3's Unix socket),
# runs every operation on every pool kind through each and exchanges
# values with the host, which checks them through the tenants' sockets.
# Then a hostile guest process scribbles random bytes over vm1's BAR while
# vm3 and a host tenant are served; vm1 attaches again afterwards.
# Skips (77) only where QEMU cannot run at all.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../e2e/daemon/lib.sh"
. "$HERE/lib.sh"
vm_require
[ -n "${UTMEM_KO:-}" ] && [ -f "$UTMEM_KO" ] ||
	fail "no guest module built (apt-get install linux-headers-amd64, then rebuild)"

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
[tenant vm2]
ivshmem = vm2.shm
ivshmem_size = 4M
ivshmem_doorbell = vm2.bell
[tenant vm3]
[pool vmshared]
kind = persistent
tenants = host, vm1, vm2, vm3
[pool vmops-sp]
kind = persistent
tenants = host, vm1, vm2, vm3
manage = host, vm1, vm2, vm3
[pool vmops-se]
kind = ephemeral
tenants = host, vm1, vm2, vm3
manage = host, vm1, vm2, vm3
[pool hostops-sp]
kind = persistent
tenants = host
manage = host
[pool hostops-se]
kind = ephemeral
tenants = host
manage = host
INI
start_daemon d "$RUN" -c "$T/vm.ini"

# Values the guests must find.
"$VMCHECK" put "unix:$RUN/host.sock" sp vmshared host 300 9 || fail "host put shared"
for t in vm1 vm2 vm3 other; do
	s=$t; [ "$t" = other ] && s=host
	"$VMCHECK" put "unix:$RUN/$s.sock" pp "$t-pp" from-host 5000 7 ||
		fail "host put for $t"
done

mkdir -p "$G/bin"
cp "$VMCHECK_STATIC" "$G/bin/vmcheck"
cp "$UTMEM_KO" "$G/utmem.ko"
# Redis and its module: "every tool and the Redis module work unchanged in
# the guest". Not in sanitizer builds (meson leaves REDIS_MODULE unset): a
# sanitized module needs a runtime the guest's redis-server does not have.
if [ -n "${REDIS_MODULE:-}" ]; then
	cp "$REDIS_MODULE" "$G/utmem.so"
	vm_add_binary "$G" /usr/bin/redis-server
	vm_add_binary "$G" /usr/bin/redis-cli
else
	echo "note: no REDIS_MODULE (sanitizer build): the Redis step is left out"
fi
cat >"$G/test.sh" <<'EOF'
# Run in the guest by /init. PCI slots are fixed on the QEMU command line.
rc=0
up() { cut -d' ' -f1 /proc/uptime; }
step() { name=$1; shift; "$@" && echo "VMTEST ok $name at $(up)" || { echo "VMTEST FAIL $name"; rc=1; }; }
VM1=/sys/bus/pci/devices/0000:00:10.0
VM2=/sys/bus/pci/devices/0000:00:11.0
step ivshmem-plain vmcheck ops ivshmem: vm1
step ivshmem-doorbell vmcheck ops "ivshmem:$VM2" vm2
step virtio-serial vmcheck ops virtio-serial:org.utmem.vm3 vm3
insmod /utmem.ko || { echo "VMTEST FAIL insmod utmem.ko"; rc=1; }
step dev-doorbell vmcheck ops dev:/dev/utmem1 vm2
step dev-plain vmcheck ops dev:/dev/utmem vm1
step dev-hostile-ioctls vmcheck devhostile /dev/utmem1
# Two processes at once on one device (requests are serialized inside).
vmcheck lat dev:/dev/utmem1 100 4000 >/tmp/lat1.out & l=$!
step dev-concurrent vmcheck lat dev:/dev/utmem1 100 4000
wait $l || { echo "VMTEST FAIL dev-concurrent (first)"; rc=1; }
# Debian's redis-server with the utmem module, unchanged, in the guest.
if [ -f /utmem.so ]; then
	/usr/bin/redis-server --port 0 --unixsocket /tmp/redis.sock --save '' --appendonly no \
		--loadmodule /utmem.so addr=dev:/dev/utmem1 pool=redisvm >/tmp/redis.log 2>&1 & r=$!
	for i in $(seq 1 100); do [ -S /tmp/redis.sock ] && break; sleep 0.1; done
	r1=$(/usr/bin/redis-cli -s /tmp/redis.sock TMEM.PUT rk hello-from-redis-in-a-guest)
	r2=$(/usr/bin/redis-cli -s /tmp/redis.sock TMEM.GET rk)
	/usr/bin/redis-cli -s /tmp/redis.sock shutdown nosave >/dev/null 2>&1
	wait $r
	if [ "$r1" = OK ] && [ "$r2" = hello-from-redis-in-a-guest ]; then
		echo "VMTEST ok redis-module"
	else
		echo "VMTEST FAIL redis-module: '$r1' '$r2'"; cat /tmp/redis.log; rc=1
	fi
fi
# No unload while a file is open.
vmcheck hold dev:/dev/utmem1 1 >/tmp/hold.out & h=$!
sleep 0.3
if rmmod utmem 2>/dev/null; then echo "VMTEST FAIL rmmod while open"; rc=1; else echo "VMTEST ok rmmod refused while open"; fi
wait $h || { echo "VMTEST FAIL hold"; rc=1; }
# The doorbell device's MSI-X vector really fired.
irqs=$(grep utmem /proc/interrupts | awk '{s += $2} END {print s + 0}')
echo "VMTEST irqs $irqs"
[ "$irqs" -gt 0 ] || { echo "VMTEST FAIL no doorbell interrupt arrived"; rc=1; }
rmmod utmem || { echo "VMTEST FAIL rmmod"; rc=1; }
# A hostile process scribbles on vm1's BAR while vm3 is served.
vmcheck scribble "$VM1/resource2" 1 >/tmp/scribble.out &
s=$!
step served-during-scribble vmcheck ops virtio-serial:org.utmem.vm3 vm3
wait $s || rc=1
step vm1-after-scribble vmcheck check "ivshmem:$VM1" pp vm1-pp from-guest 102400 42
exit $rc
EOF
vm_initrd "$G" "$T/initrd.cpio" virtio_pci virtio_console

# The host tenant keeps working while the guest runs (and scribbles).
# (Its own shared pools: the guest's ops runs flush and count vmops-*.)
( for i in 1 2 3 4 5 6; do "$VMCHECK" ops "unix:$RUN/host.sock" other hostops >/dev/null || exit 1; sleep 1; done ) &
HOSTPID=$!
PIDS+=("$HOSTPID")

t0=$(date +%s%N)
vm_boot "$T/guest.log" 200 "$T/initrd.cpio" \
	-object "memory-backend-file,id=vm1mem,mem-path=$RUN/vm1.shm,size=4M,share=on" \
	-device ivshmem-plain,memdev=vm1mem,addr=0x10 \
	-chardev "socket,id=vm2bell,path=$RUN/vm2.bell" \
	-device ivshmem-doorbell,chardev=vm2bell,vectors=2,addr=0x11 \
	-device virtio-serial-pci \
	-chardev "socket,id=vs3,path=$RUN/vm3.sock" \
	-device virtserialport,chardev=vs3,name=org.utmem.vm3 ||
	{ cat "$T/guest.log.qemu" >&2; fail "the guest did not power off"; }
t1=$(date +%s%N)
sed 's/^/guest: /' "$T/guest.log" | grep -E '^guest: (VMTEST|FAIL|ok)'
if ! vm_result "$T/guest.log"; then
	grep -v '^\[ *[0-9.]*\]' "$T/guest.log" | sed 's/^/guest: /' >&2
	fail "the guest's checks failed"
fi
ok "guest booted, ran every check and powered off in $(((t1 - t0) / 1000000)) ms"
wait "$HOSTPID" || fail "the host tenant was disturbed while the guest ran"
ok "the host tenant was served throughout"

for t in vm1 vm2 vm3; do
	"$VMCHECK" check "unix:$RUN/$t.sock" pp "$t-pp" from-guest 102400 42 ||
		fail "host: $t's private value"
	"$VMCHECK" check "unix:$RUN/host.sock" sp vmshared "$t" 333 11 ||
		fail "host: $t's shared value"
done
if [ -n "${REDIS_MODULE:-}" ]; then
	[ "$("$VMCHECK" getstr "unix:$RUN/vm2.sock" pp redisvm rk)" = hello-from-redis-in-a-guest ] ||
		fail "host: the value Redis stored from the guest"
fi
ok "the host reads what each guest transport stored"
grep -q "VM session .* attached over ivshmem (interrupts" "$T/d.log" ||
	fail "the module's session did not use interrupts"
kill -0 "$DPID" || fail "utmemd died"
stop_daemon "$DPID" || fail "utmemd exit status $?"

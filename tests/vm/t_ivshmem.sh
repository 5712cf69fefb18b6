#!/usr/bin/env bash
# utmemd's side of the ivshmem transport without a guest: a host process
# maps the region file exactly as a guest process maps the BAR
# (`ivshmem:PATH`), so every daemon-side path is exercised quickly (and
# under ASan): every operation on every pool kind; one process per region
# (flock); a client killed in the middle of a large PUT, after which the
# next one's attach starts clean; the control block's fields repaired after
# scribbling; random bytes written all over the region while another
# tenant is served; utmemd restarted under a connected client; the region
# file truncated under utmemd's mapping (it survives, the VM is dropped);
# and the doorbell server's protocol as QEMU would see it.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../e2e/daemon/lib.sh"
RUN=$T/run
cat >"$T/vm.ini" <<INI
[utmemd]
capacity = 512M
ring_size = 1M
[tenant host]
[tenant vm1]
ivshmem = vm1.shm
ivshmem_size = 1M
[tenant vm2]
ivshmem = vm2.shm
ivshmem_doorbell = vm2.bell
[pool vmshared]
kind = persistent
tenants = host, vm1
[pool vmops-sp]
kind = persistent
tenants = host, vm1
manage = host, vm1
[pool vmops-se]
kind = ephemeral
tenants = host, vm1
manage = host, vm1
INI
start_daemon d "$RUN" -c "$T/vm.ini"
A="ivshmem:$RUN/vm1.shm"
[ "$(stat -c %s "$RUN/vm1.shm")" = 1048576 ] || fail "region file size"
"$VMCHECK" put "unix:$RUN/host.sock" sp vmshared host 300 9 || fail "host put"
"$VMCHECK" put "unix:$RUN/vm1.sock" pp vm1-pp from-host 5000 7 || fail "host put vm1"
"$VMCHECK" put "unix:$RUN/host.sock" pp other-pp from-host 5000 7 || fail "host put host"
"$VMCHECK" ops "$A" vm1 >"$T/ops.out" || { cat "$T/ops.out"; fail "ops over ivshmem"; }
"$VMCHECK" check "unix:$RUN/vm1.sock" pp vm1-pp from-guest 102400 42 ||
	fail "the host reads what the ivshmem client stored"
grep -q "VM session 1 attached over ivshmem (polling)" "$T/d.log" || fail "no session logged"
ok "every operation on every pool kind over ivshmem (ring 256 KiB, values to 3 MiB)"

# One process per region: a second one is refused while the first holds it.
"$VMCHECK" hold "$A" 3 >"$T/hold.out" &
HPID=$!
PIDS+=("$HPID")
for i in $(seq 1 100); do grep -q holding "$T/hold.out" && break; sleep 0.05; done
"$VMCHECK" check "$A" pp vm1-pp from-guest 102400 42 >"$T/busy.out" &&
	fail "a second process attached while the first held the region"
grep -q "busy" "$T/busy.out" || { cat "$T/busy.out"; fail "no EBUSY for a second process"; }
wait "$HPID" || fail "the holder lost its session"
ok "a second process is refused (EBUSY) while one holds the region"

# A client killed in the middle of a 4 MiB PUT (larger than the ring):
# the daemon is left mid-frame; the next attach drops that and starts clean.
"$VMCHECK" lat "$A" 1000000 4194304 >/dev/null 2>&1 &
KPID=$!
PIDS+=("$KPID")
sleep 0.5
kill -KILL "$KPID"; wait "$KPID" 2>/dev/null
"$VMCHECK" check "$A" pp vm1-pp from-guest 102400 42 ||
	fail "attach after a client died mid-frame"
ok "a client killed mid-frame: the next attach starts a clean session"

# Scribble on the control block's daemon fields: repaired at once.
printf '\xff\xff\xff\xff' | dd of="$RUN/vm1.shm" bs=1 seek=3072 conv=notrunc status=none
printf '\x00\x00\x00\x00\x00\x00\x00\x00' | dd of="$RUN/vm1.shm" bs=1 seek=3080 conv=notrunc status=none
sleep 0.2
"$VMCHECK" check "$A" pp vm1-pp from-guest 102400 42 ||
	fail "attach after the control block was scribbled on"
ok "the control block's fields are repaired after scribbling"

# Random bytes all over the region (indices, flags, control block, data)
# while another tenant works; then a well-behaved client attaches again.
"$VMCHECK" scribble "$RUN/vm1.shm" 3 >"$T/scribble.out" &
SPID=$!
PIDS+=("$SPID")
"$VMCHECK" ops "unix:$RUN/host.sock" other >"$T/host-ops.out" 2>&1 ||
	{ cat "$T/host-ops.out"; fail "the host tenant was disturbed by the scribbler"; }
wait "$SPID" || fail "scribbler"
kill -0 "$DPID" || fail "utmemd died under the scribbler"
"$VMCHECK" check "$A" pp vm1-pp from-guest 102400 42 ||
	fail "attach after the region was scribbled on"
ok "random writes all over the region: utmemd alive, others served, vm1 attaches again"

# utmemd restarted under a connected client: the library re-attaches.
"$VMCHECK" reconnect "$A" "$T/flag" >"$T/rc.out" 2>&1 &
RPID=$!
PIDS+=("$RPID")
for i in $(seq 1 200); do grep -q ready "$T/rc.out" && break; sleep 0.05; done
stop_daemon "$DPID" || fail "utmemd exit status $?"
start_daemon d2 "$RUN" -c "$T/vm.ini"
touch "$T/flag"
wait "$RPID" || { cat "$T/rc.out"; fail "no reconnect after a restart"; }
ok "utmemd restarted: the client re-attached ($(grep -o 'after [0-9]* tries' "$T/rc.out"))"

# The doorbell server speaks the ivshmem protocol (as QEMU's device reads it).
"$VMCHECK" bellproto "$RUN/vm2.bell" 4194304 || fail "doorbell server protocol"
grep -q "QEMU connected to the doorbell server" "$T/d2.log" || fail "no QEMU logged"
ok "the doorbell server sends version, id, region and 2+2 eventfds"

# A hostile QEMU makes the guest's interrupt eventfd blocking and full: the
# next interrupt write would block forever. The VM is still answered (only
# the doorbell writer thread waits), and utmemd still stops promptly.
"$VMCHECK" bellproto "$RUN/vm2.bell" 4194304 block >"$T/block.out" &
BPID=$!
PIDS+=("$BPID")
for i in $(seq 1 200); do grep -q blocked "$T/block.out" && break; sleep 0.05; done
# A utmemd thread sits in write(2) (syscall 1 on x86-64) on that eventfd:
# the doorbell writer; /proc/PID/task/*/syscall shows it (root reads it;
# a thread that exits between the glob and the read makes cat fail, so
# its status is not the test). It gets there after the reply the client
# saw, so look for up to 1 s (a CI run caught it still "running" on its
# way there).
[ -r /proc/"$DPID"/syscall ] && cat /proc/"$DPID"/syscall >/dev/null ||
	fail "cannot read /proc/$DPID/syscall (the test runs as root)"
for _ in $(seq 1 20); do
	cat /proc/"$DPID"/task/*/syscall >"$T/sys.txt" 2>/dev/null
	grep -q '^1 ' "$T/sys.txt" && break
	sleep 0.05
done
grep -q '^1 ' "$T/sys.txt" ||
	{ cat "$T/sys.txt"; fail "no utmemd thread is blocked writing the full eventfd"; }
ok "the doorbell writer is the one utmemd thread blocked, in write(2)"
wait "$BPID" || { cat "$T/block.out"; fail "with a blocked interrupt eventfd"; }
# That QEMU has left, with the session it served still open: the session
# ends with it (docs/vm.md), the control block's state says CLOSED (2).
vm_state() { od -An -t u4 -j $((3072 + 144)) -N 4 "$RUN/vm2.shm" | tr -d ' '; }
for i in $(seq 1 100); do [ "$(vm_state)" = 2 ] && break; sleep 0.05; done
[ "$(vm_state)" = 2 ] || fail "QEMU left: vm2's session still open (state $(vm_state))"
grep -q "tenant 'vm2': VM session 1 closed: QEMU left" "$T/d2.log" || fail "no log of the session's end"
"$VMCHECK" check "unix:$RUN/host.sock" sp vmshared host -1 9 || fail "host tenant with a blocked doorbell"
ok "a blocking, full interrupt eventfd stalls no one; QEMU leaving ends its session"

# The region truncated under utmemd's mapping (as a hostile QEMU could):
# no SIGBUS death; the VM is dropped with a log line; others are served.
"$VMCHECK" hold "$A" 5 >/dev/null 2>&1 &
TPID=$!
PIDS+=("$TPID")
sleep 0.5
truncate -s 0 "$RUN/vm1.shm"
for i in $(seq 1 100); do grep -q "truncated under utmemd" "$T/d2.log" && break; sleep 0.05; done
grep -q "truncated under utmemd" "$T/d2.log" || fail "the truncation was not noticed"
kill -KILL "$TPID" 2>/dev/null; wait "$TPID" 2>/dev/null
kill -0 "$DPID" || fail "utmemd died of a truncated region"
"$VMCHECK" put "unix:$RUN/host.sock" sp vmshared host 300 9 || fail "host put after restart"
"$VMCHECK" put "unix:$RUN/host.sock" pp other-pp from-host 5000 7 || fail "host put host after restart"
"$VMCHECK" ops "unix:$RUN/host.sock" other >/dev/null || fail "host tenant after the truncation"
ok "region truncated under utmemd: it survives, drops that VM, serves the rest"

# A reload that removes a VM tenant stops its thread; the region file stays
# (a QEMU may still map it).
grep -v -e '^\[tenant vm2\]' -e '^ivshmem = vm2' -e '^ivshmem_doorbell' "$T/vm.ini" >"$T/vm-less.ini"
cp "$T/vm-less.ini" "$T/vm.ini"
kill -HUP "$DPID"
for i in $(seq 1 100); do grep -q "tenant 'vm2': VM thread stopped" "$T/d2.log" && break; sleep 0.05; done
grep -q "tenant 'vm2': VM thread stopped" "$T/d2.log" || fail "reload did not stop vm2's thread"
[ -f "$RUN/vm2.shm" ] || fail "the region file was removed"
[ -S "$RUN/vm2.bell" ] && fail "the doorbell socket was left behind"
ok "a reload without the tenant stops its VM thread, keeps the region file"

# A reload that moves vm1 to another file (taking a restart: vm1 keeps
# its region until then) and gives vm1's file to a new tenant: that file
# is still vm1's region, so the new tenant does not get it (two threads
# would serve one region, each guest's requests run as either tenant).
sed -e 's/^ivshmem = vm1.shm$/ivshmem = vm1b.shm/' "$T/vm.ini" >"$T/vm-swap.ini"
printf '[tenant vm5]\nivshmem = vm1.shm\nivshmem_size = 256K\n' >>"$T/vm-swap.ini"
cp "$T/vm-swap.ini" "$T/vm.ini"
SIZE1=$(stat -c %s "$RUN/vm1.shm") # 0: truncated above, vm1 is broken
kill -HUP "$DPID"
for i in $(seq 1 100); do grep -q "reload failed" "$T/d2.log" && break; sleep 0.05; done
grep -q "tenant 'vm5': ivshmem region $RUN/vm1.shm: the file is the region of tenant 'vm1' until a restart" "$T/d2.log" ||
	fail "a new tenant was given a region vm1 is still served from"
grep -q "tenant 'vm5' (VM)" "$T/d2.log" && fail "vm5 serves vm1's region"
[ "$(stat -c %s "$RUN/vm1.shm")" = "$SIZE1" ] || fail "vm1's region was resized for vm5"
ok "a region still served for one tenant is not given to another by a reload"
stop_daemon "$DPID" || fail "utmemd exit status $?"

# A region file that someone else created first is not adopted: in a shared
# directory anyone could, and keep a descriptor to the VM's rings. Owned by
# another user, or with a second link: refused, with the reason.
: >"$T/foreign.shm"
chown 65534 "$T/foreign.shm"
printf '[utmemd]\ncapacity = 64M\n[tenant vmf]\nivshmem = %s\n' "$T/foreign.shm" >"$T/foreign.ini"
timeout 20 "$UTMEMD" --run-dir "$T/run-foreign" -c "$T/foreign.ini" >/dev/null 2>"$T/foreign.err" &&
	fail "utmemd adopted a region file owned by uid 65534"
grep -q "owned by uid 65534, neither root, utmemd's user nor the configured owner" "$T/foreign.err" ||
	fail "no reason given: $(cat "$T/foreign.err")"
ok "a region file owned by another user is refused: $(cat "$T/foreign.err")"
chown "$(id -u)" "$T/foreign.shm"
ln "$T/foreign.shm" "$T/foreign-link.shm"
timeout 20 "$UTMEMD" --run-dir "$T/run-foreign" -c "$T/foreign.ini" >/dev/null 2>"$T/link.err" &&
	fail "utmemd adopted a region file with two links"
grep -q "has 2 links" "$T/link.err" || fail "no reason given: $(cat "$T/link.err")"
ok "a region file with a second link is refused"
rm "$T/foreign-link.shm"

# A VM's requests are timed for the metrics endpoint like a worker's: its
# thread has a histogram slot of its own (utmem_request_duration_seconds).
printf '[utmemd]\ncapacity = 64M\nmetrics = 0\n[tenant vmm]\nivshmem = vmm.shm\nivshmem_size = 256K\n' >"$T/m.ini"
start_daemon dm "$T/run-m" -c "$T/m.ini"
MPORT=$(sed -n 's|^metrics: http://127.0.0.1:\([0-9]*\)/metrics$|\1|p' "$T/dm.out")
[ -n "$MPORT" ] || fail "no metrics line: $(cat "$T/dm.out")"
"$VMCHECK" put "ivshmem:$T/run-m/vmm.shm" pp vmm-pp k 1000 3 || fail "put over ivshmem"
exec 3<>"/dev/tcp/127.0.0.1/$MPORT" || fail "cannot reach the metrics endpoint"
printf 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n' >&3
timeout 10 cat <&3 >"$T/m.txt"
exec 3<&-
PUTS=$(sed -n 's/^utmem_request_duration_seconds_count{tenant="vmm",op="put"} //p' "$T/m.txt" | tr -d '\r')
[ "${PUTS:-0}" -ge 1 ] ||
	fail "the VM's PUT is not in its latency histogram: $(grep 'duration_seconds_count{tenant="vmm"' "$T/m.txt")"
ok "a VM's requests are in the latency histograms ($PUTS PUT)"
stop_daemon "$DPID" || fail "utmemd exit status $?"

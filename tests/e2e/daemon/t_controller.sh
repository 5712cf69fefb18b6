#!/usr/bin/env bash
# The host controller (issue 10), driven through a fake memory cgroup: the
# test writes the cgroup's limit and usage files, utmemd (controller =
# cgroup:DIR) reads them every 20 ms. When the "host" runs short the
# capacity must shrink at once (ephemeral entries evicted, the change
# logged with its reason and visible in utmemctl info), stop at the floor
# (the tenants' mins), and grow back only after the hold, at the configured
# rate. No host state is touched: the cgroup is a plain directory.
. "$(dirname "$0")/lib.sh"
RUN=$T/run
CG=$T/cg
mkdir -p "$CG"
echo $((1024 << 20)) >"$CG/memory.limit_in_bytes"
echo $((100 << 20)) >"$CG/memory.usage_in_bytes"
echo "some avg10=0.00 avg60=0.00 avg300=0.00 total=0" >"$T/psi"
cat >"$T/u.ini" <<INI
[utmemd]
capacity = 256M
run_dir = $RUN
controller = cgroup:$CG
controller_interval = 20ms
controller_reserve = 64M
controller_grow = 64M
[tenant a]
min = 40M
INI
export UTMEMD_TEST_PSI=$T/psi
start_daemon d "$RUN" -c "$T/u.ini"
info() { ctl info | awk -v k="$1" '$1 == k { print $2 }'; }
[ "$(info controller)" = "cgroup:$CG" ] || fail "controller not on: $(ctl info)"
[ "$(info controller_capacity_bytes)" = $((256 << 20)) ] || fail "capacity not 256M at start"
# Before any change: "never", not "0 ms ago".
[ "$(info controller_last_change)" = none ] && [ "$(info controller_last_change_ms_ago)" = - ] ||
	fail "before any change: $(ctl info | grep controller_last)"
"$E2E_CLIENT" fill "$RUN/a.sock" e ephemeral 1900 65536 || fail "fill"
charged=$(info charged_bytes)
[ "$charged" -gt $((110 << 20)) ] || fail "fill charged only $charged"

# The host runs short: available = limit - usage = 24M, below the 64M reserve.
start=$(date +%s%N)
echo $((1000 << 20)) >"$CG/memory.usage_in_bytes"
for i in $(seq 1 200); do
	[ "$(info controller_shrinks)" -ge 1 ] && break
	sleep 0.01
done
ms=$((($(date +%s%N) - start) / 1000000))
[ "$(info controller_shrinks)" -ge 1 ] || fail "no shrink within 2 s: $(ctl info)"
cap=$(info capacity_bytes)
# target U + A - R - H/2 with A = 24M, R = 64M, H = 32M; the controller's U
# also counts the charge credit stripes hold (docs/store.md), some MiB
want=$((charged + (24 << 20) - (64 << 20) - (16 << 20) + (8 << 20)))
[ "$cap" -le "$want" ] || fail "capacity $cap, want <= $want"
[ "$(info charged_bytes)" -le "$cap" ] || fail "charged $(info charged_bytes) above capacity $cap"
grep -q 'controller: capacity 256M -> .*shrink: available memory below the reserve' "$T/d.log" ||
	fail "shrink not logged"
# the controller's own reaction: from the write to its log line (which is
# written once the evictions are done), by the log's timestamps
react=$(awk -v w="$start" '/controller: capacity 256M ->/ {
		split($1, a, "T"); split(a[2], b, ":"); sub("Z", "", b[3])
		printf "%d", ((b[1] * 3600 + b[2] * 60 + b[3]) - (w / 1e9 % 86400)) * 1000; exit }' "$T/d.log")
ago=$(info controller_last_change_ms_ago)
case $ago in '' | *[!0-9]*) fail "after a shrink, last change $ago ms ago" ;; esac
ok "short host: capacity 256M -> $((cap >> 20))M, ephemeral evicted; logged ${react} ms after the write, seen by utmemctl after ${ms} ms"

# Still short: the next shrinks stop at the floor (tenant a's min, 40M).
for i in $(seq 1 200); do
	[ "$(info controller_floor_hits)" -ge 1 ] && break
	sleep 0.01
done
[ "$(info controller_floor_hits)" -ge 1 ] || fail "floor never reached: $(ctl info)"
[ "$(info capacity_bytes)" = $((40 << 20)) ] || fail "capacity $(info capacity_bytes), want the floor 40M"
grep -q 'controller: at the floor' "$T/d.log" || fail "floor not logged"
ok "floor: capacity held at the tenants' mins (40M)"

# Memory comes back: no growth within 5 s of the last shrink that
# evicted (the hold), then 64M per second.
echo $((100 << 20)) >"$CG/memory.usage_in_bytes"
for i in $(seq 1 100); do
	[ "$(info controller_grows)" -ge 2 ] && break
	sleep 0.1
done
[ "$(info controller_grows)" -ge 2 ] || fail "no growth after the hold: $(ctl info)"
read -r steps grown < <(ctl info | awk '$1 == "controller_grows" { g = $2 }
	$1 == "controller_grown_bytes" { b = $2 } END { print g, b }')
[ "$grown" -le $((steps * (64 << 20) + (1 << 20))) ] ||
	fail "grew $grown bytes in $steps steps, more than 64M each"
grep -q 'grow: memory free above the reserve' "$T/d.log" || fail "growth not logged"
# from the log's millisecond timestamps: last shrink before the first growth
# (logged after its evictions, so a little under the 5 s of the hold)
gap=$(awk '/controller: capacity/ {
		split($1, a, "T"); split(a[2], b, ":"); t = b[1] * 3600 + b[2] * 60 + b[3]
		if (/shrink/ && !g) s = t
		if (/grow:/ && !g) g = t
	} END { printf "%d", (g - s) * 1000 }' "$T/d.log")
[ "$gap" -ge 4000 ] || fail "first growth ${gap} ms after the last shrink, within the 5 s hold"
ok "memory back: growth ${gap} ms after the last shrink, 64M per step ($((grown >> 20))M in $steps steps)"
stop_daemon "$DPID" || fail "utmemd exit status $?"

# A cgroup path with no memory figures is refused at the start, named; it
# once started and failed every sample in silence (only a counter moved).
sed "s|^controller = cgroup:.*|controller = cgroup:$T/nocg|" "$T/u.ini" >"$T/bad.ini"
timeout 10 "$UTMEMD" --run-dir "$T/run2" -c "$T/bad.ini" >"$T/bad.out" 2>&1 &&
	fail "utmemd started with a cgroup that is not there: $(cat "$T/bad.out")"
grep -qF "controller cgroup:$T/nocg: cannot read its memory limit and usage" "$T/bad.out" ||
	fail "no reason given for the bad cgroup: $(cat "$T/bad.out")"
ok "a controller cgroup with no memory figures is refused: $(grep -o 'controller cgroup.*' "$T/bad.out")"

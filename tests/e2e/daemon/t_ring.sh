#!/usr/bin/env bash
# The shared-memory ring transport (ring:PATH) end to end: every operation,
# values from 0 B to larger than the ring (1 MiB here, so 1 MiB, 4 MiB and
# 20 MiB PUTs fall back to the socket while their GET replies stream
# through the ring), batches of thousands; a daemon with rings turned off
# serves ring: on the socket; hostile ring clients cannot take the daemon
# down or disturb a well-behaved one; 16 KiB values are packed into slabs.
. "$(dirname "$0")/lib.sh"
RUN=$T/run
cat >"$T/ring.ini" <<INI
[utmemd]
capacity = 512M
workers = 2
log_level = debug
ring_size = 1M
ring_spin_us = 50
[tenant default]
INI
start_daemon d1 "$RUN" -c "$T/ring.ini"
A="ring:$RUN/utmemd.sock"
"$E2E_RING" ops "$A" || fail "ops through the ring"
grep -q "uses a shared-memory ring (1048576 bytes each way)" "$T/d1.log" ||
	fail "the daemon set up no ring"
ok "every operation through the ring"
"$E2E_RING" sizes "$A" || fail "value sizes"
ok "values of 0 B, 1 KiB, 1 MiB, 4 MiB, 20 MiB (ring 1 MiB)"
"$E2E_RING" batch "$A" 5000 || fail "batches"
ok "batches of 5000 puts, gets and pops, invalidates"
"$E2E_RING" hostile "$RUN/utmemd.sock" "$A" || fail "hostile ring clients"
kill -0 "$DPID" || fail "utmemd died"
grep -q "impossible index" "$T/d1.log" || fail "no hostile index was logged"
ok "hostile ring clients: connection closed, daemon alive, others served"
# A client writing outside its allocations in its value region faults in
# pages nobody is charged for: the maintenance thread punches them again.
out=$("$E2E_RING" scribble "$RUN/utmemd.sock" 64) || fail "scribbled pages not punched: $out"
scrubbed=$(ctl info | awk '$1 == "region_scrubbed_bytes" { print $2 }')
# (counted as the file shrank at each pass: part of the 64 MiB may be
# punched while the scribbler still writes, and written again)
[ "${scrubbed:-0}" -ge $((32 << 20)) ] || fail "INFO region_scrubbed_bytes ${scrubbed:-none} after 64 MiB scribbled"
grep -q "written outside its allocations" "$T/d1.log" || fail "the scrub was not logged"
ok "$out; INFO region_scrubbed_bytes $scrubbed"
"$E2E_RING" ops "$A" || fail "ops after the scrub"
# More runnable threads than cores: the workers sleep instead of spinning
# (ring_wait.c), and say how often.
# The hogs get SIGKILL: one SIGTERMed before it had exec'd sh could lose
# the signal and spin on, and the wait below hang (lib.sh, at cleanup).
hogs=()
for _ in $(seq $(( $(nproc) * 2 + 1 ))); do
	sh -c 'while :; do :; done' &
	hogs+=("$!")
	PIDS+=("$!")
done
"$E2E_RING" ops "$A" || fail "ops beside CPU hogs"
kill -KILL "${hogs[@]}"
wait "${hogs[@]}" 2>/dev/null
crowded=$(ctl info | awk '$1 == "worker_spin_crowded" { print $2 }')
[ "${crowded:-0}" -gt 0 ] || fail "INFO worker_spin_crowded ${crowded:-none} with $(( ${#hogs[@]} )) CPU hogs running"
ok "with ${#hogs[@]} CPU hogs on $(nproc) cores the workers skipped $crowded spins"
# 16 KiB values go into slabs of 16 KiB + 64, not five pages each; one
# staged from 16 KiB (libutmem before 2026-11-30) is copied into one.
out=$("$E2E_RING" slabrec "$RUN/utmemd.sock") || fail "16 KiB records: $out"
ok "16 KiB values packed: charged $(echo "$out" | awk '$1 == "PER_ENTRY" { print $2 }') B each (staged: $(echo "$out" | awk '$1 == "PER_ENTRY_STAGED" { print $2 }'))"
stop_daemon "$DPID" || fail "utmemd exit status $?"

# Rings turned off: ring: still works, over the socket.
# At debug level, as above, where a ring set up is logged.
cat >"$T/off.ini" <<INI
[utmemd]
capacity = 256M
ring_size = off
log_level = debug
[tenant default]
INI
start_daemon d2 "$RUN" -c "$T/off.ini"
"$E2E_RING" ops "$A" || fail "ops with rings off"
grep -q "uses a shared-memory ring" "$T/d2.log" && fail "a ring was set up although off"
ok "ring_size = off: ring: clients are served on the socket"
stop_daemon "$DPID" || fail "utmemd exit status $?"

#!/usr/bin/env bash
# The latency breakdown modes (BENCH, docs/protocol.md "Benchmark modes"):
# off by default and refused at connect unless utmemd runs with
# bench_modes = on; with it, null store stores nothing, no-forward never
# reaches utmemd, and timing splits every path (e2e_bench.c checks each).
. "$(dirname "$0")/lib.sh"

RUN=$T/off
start_daemon off "$RUN"
ctl config get | grep -Eq "^(; )?bench_modes = off$" ||
	fail "bench_modes not off by default: $(ctl config get | grep bench)"
"$E2E_BENCH" off "$RUN/utmemd.sock" || fail "modes without bench_modes"
"$E2E_BENCH" raw-off "$RUN/utmemd.sock" || fail "BENCH by hand without bench_modes"
grep -q 'bench_modes = on' "$T/off.log" && fail "warned about modes that are off"
ok "off by default: every mode refused at connect, plain clients unaffected"
stop_daemon "$DPID" || fail "utmemd exit status $?"

cat >"$T/on.ini" <<CFG
[utmemd]
bench_modes = on
[tenant default]
CFG
RUN=$T/on
start_daemon on "$RUN" -c "$T/on.ini"
grep -q 'bench_modes = on' "$T/on.log" || fail "no warning that bench modes are on"
"$E2E_BENCH" on "$RUN/utmemd.sock" || fail "modes with bench_modes = on"
"$E2E_BENCH" raw-on "$RUN/utmemd.sock" || fail "BENCH by hand with bench_modes = on"
grep -q 'benchmark modes null-store' "$T/on.log" || fail "null store not logged"
ok "bench_modes = on: null store, no-forward and timing behave"
stop_daemon "$DPID" || fail "utmemd exit status $?"

cat >"$T/bad.ini" <<CFG
[utmemd]
bench_modes = maybe
CFG
"$UTMEMD" --run-dir "$T/never" -c "$T/bad.ini" >/dev/null 2>"$T/bad.err" &&
	fail "bench_modes = maybe accepted"
grep -q "bench_modes 'maybe': expected off or on" "$T/bad.err" ||
	fail "bad value message: $(cat "$T/bad.err")"
ok "a bad bench_modes value is refused: $(cat "$T/bad.err")"

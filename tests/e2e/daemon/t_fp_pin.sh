#!/usr/bin/env bash
# A tenant pins freed records of its value region with its hazard words
# (the words one-sided readers publish; the tenant writes them as it
# likes). A pinned record cannot be reused or punched, so it stays charged
# to the tenant while pinned (docs/security.md): with max 8 MiB, after a
# 6 MiB value is freed but pinned, another 6 MiB PUT is refused and INFO's
# pinned_bytes shows it; clearing the words gives it back within a
# maintenance pass, and a record kept pinned is taken back (and uncharged)
# after the grace of 1 s.
. "$(dirname "$0")/lib.sh"
RUN=$T/run
F=$T/flags
mkdir -p "$F"
cat >"$T/d.ini" <<INI
[utmemd]
capacity = 256M
workers = 2
[tenant pin]
max = 8M
INI
start_daemon d "$RUN" -c "$T/d.ini"
info() { ctl info | awk -v k="$1" '$1 == k { print $2 }'; }
wait_line() { wait_output "$T/pin.out" "^$1" "$CPID"; }

"$E2E_RING" pin "$RUN/pin.sock" "$F" >"$T/pin.out" 2>"$T/pin.log" &
CPID=$!
PIDS+=("$CPID")
# INFO must be read within the grace of the free (the pin's line gives its
# wall-clock time in ms); read late on a loaded machine, the pin is taken
# back already and proves nothing, so the pin program pins afresh.
for attempt in 1 2 3 4 5; do
	wait_line "PINNED $attempt " || fail "the pinned record did not hold the charge: $(cat "$T/pin.log")"
	pinned=$(info pinned_bytes)
	age=$(($(date +%s%3N) - $(awk -v a="$attempt" '$1 == "PINNED" && $2 == a { print $3 }' "$T/pin.out")))
	[ "$pinned" -ge $((6 << 20)) ] && break
	[ "$age" -ge 900 ] || fail "pinned_bytes $pinned $age ms after the free, want >= 6 MiB"
	echo "INFO read $age ms after the free, past the grace: pinning again"
	[ "$attempt" = 5 ] && fail "INFO never read within the grace in 5 attempts"
	touch "$F/late$attempt"
done
ok "a freed 6 MiB record pinned by the tenant's hazard words stays charged ($pinned bytes pinned; a second 6 MiB PUT refused at max 8 MiB)"
touch "$F/checked1"
wait_line RELEASED || fail "not given back after the words were cleared: $(cat "$T/pin.log")"
for i in $(seq 1 50); do [ "$(info pinned_bytes)" = 0 ] && break; sleep 0.02; done
[ "$(info pinned_bytes)" = 0 ] || fail "pinned_bytes $(info pinned_bytes) after the release"
ok "cleared words: charge given back ($(grep RELEASED "$T/pin.out" | cut -d' ' -f2) ms until a 6 MiB PUT fitted)"
touch "$F/checked2"
wait "$CPID" || fail "kept pinned: $(cat "$T/pin.log")"
ok "kept pinned: taken back after the grace ($(grep FORCED "$T/pin.out" | cut -d' ' -f2) ms until a 6 MiB PUT fitted)"
[ "$(info pinned_bytes)" = 0 ] || fail "pinned_bytes $(info pinned_bytes) at the end"
stop_daemon "$DPID" || fail "utmemd exit status $?"

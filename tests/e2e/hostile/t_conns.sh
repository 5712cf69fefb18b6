#!/usr/bin/env bash
# Attack: connections (issue 8: 20,100 idle connections from one tenant
# exhausted the daemon's descriptors; the other tenant got resets and
# utmemctl failed; idle connections were kept forever). Here utmemd runs
# with 256 descriptors and the attacker opens 400 connections and keeps
# them idle. A tenant gets at most min(max_conns, its share of the
# descriptors left after the daemon's reserve), the rest are refused with
# a status; the good tenant and the admin socket still connect; the idle
# ones are closed after idle_timeout.
. "$(dirname "$0")/lib.sh"
REAL=$UTMEMD
printf '#!/bin/sh\nulimit -n 256 || exit 1\nexec "%s" "$@"\n' "$REAL" >"$T/utmemd-256"
chmod +x "$T/utmemd-256"
UTMEMD=$T/utmemd-256
hostile_start
"$HOSTILE" conns "$EVIL" 400 4.5 >"$T/conns.out" &
A=$!
PIDS+=("$A")
sleep 1.5
out=$("$HOSTILE" ack check "$GOOD" acked 200)
[ "$out" = "checked 200 lost 0" ] || fail "good cannot connect during the attack: $out"
ctl stats >/dev/null || fail "utmemctl cannot connect during the attack"
ok "good connects and utmemctl answers while the attacker holds its connections"
wait "$A"
out=$(cat "$T/conns.out")
echo "attack: $out"
[ "$(field "$out" served)" -le "$MAX_CONNS" ] || fail "the attacker got more than $MAX_CONNS connections: $out"
[ "$(field "$out" refused)" -ge 1 ] || fail "no connection refused with a status: $out"
[ "$(field "$out" closed_after_hold)" = "$(field "$out" served)" ] ||
	fail "idle connections not closed after idle_timeout: $out"
hostile_end "connections"

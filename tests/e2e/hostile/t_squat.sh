#!/usr/bin/env bash
# Attack: a squatted socket path. Before binding a tenant's socket utmemd
# checks whether a live server holds the path by connecting to it; the
# operator may give a tenant a socket in a directory the tenant can write
# (its own), and the tenant may have put a listener there first that
# accepts nobody, its backlog full. The check connected blocking: utmemd's
# main loop, which accepts every tenant's connections and serves the
# admin socket, waited on it for as long as the tenant liked. Now the path
# is reported in use at once and utmemd goes on serving.
. "$(dirname "$0")/lib.sh"
hostile_start
mkdir -p "$T/pub"
"$HOSTILE" squat "$T/pub/x.sock" 20 >"$T/squat.out" &
A=$!
PIDS+=("$A")
wait_output "$T/squat.out" "^squatting backlog [0-9]+" "$A" || fail "the squatter did not start: $(cat "$T/squat.out")"
t0=$(date +%s%N)
timeout 10 "$UTMEMCTL" --run-dir "$RUN" tenant add x --socket "$T/pub/x.sock" >"$T/add.out" 2>&1
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
[ $rc -ne 124 ] || fail "tenant add waited on the squatted socket (killed after 10 s)"
[ $rc -eq 1 ] || fail "tenant add on a squatted path: exit $rc: $(cat "$T/add.out")"
grep -qF "socket $T/pub/x.sock is in use: a live server is listening on it" "$T/add.out" ||
	fail "tenant add: $(cat "$T/add.out")"
# The path is the tenant's, not utmemd's run directory: no hint about one.
grep -q "run directory" "$T/add.out" && fail "tenant add blames a run directory: $(cat "$T/add.out")"
[ "$ms" -lt 3000 ] || fail "tenant add took $ms ms"
ok "squatted path refused in $ms ms: $(cat "$T/add.out")"
out=$("$HOSTILE" ack check "$GOOD" acked 200)
[ "$out" = "checked 200 lost 0" ] || fail "good not served after the attempt: $out"
ctl stats >/dev/null || fail "utmemctl cannot connect after the attempt"
kill "$A" 2>/dev/null
wait "$A" 2>/dev/null
hostile_end "squatted socket path"

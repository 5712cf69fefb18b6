#!/usr/bin/env bash
# A quota lowered with utmemctl while a client is writing applies to its
# next PUT (-EDQUOT), and the key has no value after the refused PUT.
. "$(dirname "$0")/lib.sh"
RUN=$T/run
start_daemon d "$RUN"
"$E2E_CLIENT" quota "$RUN/utmemd.sock" "$T/lowered" >"$T/client.out" 2>"$T/client.log" &
CP=$!
PIDS+=("$CP")
wait_output "$T/client.out" READY "$CP" || fail "client did not fill its pool"
ctl tenant set default --max 256K || fail "utmemctl tenant set"
json=$(ctl --json stats)
[ "$(json_num "$json" default max)" = 262144 ] || fail "max not 256K in stats: $json"
touch "$T/lowered"
wait "$CP" || fail "client checks after lowering the quota"
json=$(ctl --json stats)
refused=$(json_num "$json" default refused_puts)
[ "${refused:-0}" -ge 2 ] || fail "refused_puts $refused, want >= 2: $json"
ok "quota lowered at runtime: next PUT -EDQUOT, key left without value (refused_puts=$refused)"
# Raising it again lets PUTs through.
ctl tenant set default --max 64M || fail "raise quota"
"$E2E_CLIENT" put "$RUN/utmemd.sock" q again value || fail "PUT after raising quota"
ok "quota raised: PUT accepted"
stop_daemon "$DPID" || fail "utmemd exit status $?"

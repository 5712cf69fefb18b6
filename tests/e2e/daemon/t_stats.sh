#!/usr/bin/env bash
# utmemctl stats --json parses (checked with grep/sed) and shows exactly the
# counts of what the test did; the human table shows the same tenants.
. "$(dirname "$0")/lib.sh"
RUN=$T/run
start_daemon d "$RUN"
"$E2E_CLIENT" count "$RUN/utmemd.sock" 50 || fail "client"
json=$(ctl stats --json) || fail "stats --json"
echo "$json" | grep -Eq '^\{"capacity":[0-9]+,"charged":[0-9]+,"reserved":[0-9]+,"tenants":\[\{.*\}\],"pools":\[\{.*\}\]\}$' ||
	fail "not the expected JSON shape: $json"
# Balanced braces and brackets.
[ "$(echo "$json" | tr -cd '{' | wc -c)" = "$(echo "$json" | tr -cd '}' | wc -c)" ] ||
	fail "unbalanced braces: $json"
check() { # OBJECT FIELD WANT
	local got
	got=$(json_num "$json" "$1" "$2")
	[ "$got" = "$3" ] || fail "$1.$2 = '$got', want $3: $json"
}
check default puts 50
check default gets 100
check default hits 50
check default misses 50
check default entries 50
check default ops 150
check default bytes_stored 740 # 50 x 10 value bytes + key bytes (key0..key49: 10x4 + 40x5 = 240)
check c puts 50
check c entries 50
check c hits 50
charged=$(json_num "$json" default bytes_charged)
[ "${charged:-0}" -ge 740 ] || fail "bytes_charged $charged < bytes stored"
ok "stats --json counts match: 50 puts, 100 gets (50 hits, 50 misses), 50 entries, charged $charged"
ctl stats >"$T/table.out" || fail "stats table"
grep -Eq '^default +1 ' "$T/table.out" || fail "table lacks default: $(cat "$T/table.out")"
grep -Eq '^c +[0-9]+ +1 persistent' "$T/table.out" || fail "table lacks pool c: $(cat "$T/table.out")"
ok "human stats table lists tenant and pool"
stop_daemon "$DPID" || fail "utmemd exit status $?"

#!/usr/bin/env bash
# utmemctl: every command against a live daemon, its exit codes (0 ok,
# 1 error, 2 usage), UTMEM_RUN_DIR, and a tenant added at runtime getting
# its socket at once.
. "$(dirname "$0")/lib.sh"
RUN=$T/run
"$UTMEMCTL" --help | grep -q "tenant list | add NAME" || fail "--help"
"$UTMEMCTL" --run-dir "$T/nowhere" stats 2>"$T/noconn.err"
[ $? -eq 1 ] || fail "no daemon: want exit 1"
grep -q "no run directory $T/nowhere: is utmemd running" "$T/noconn.err" || fail "no daemon: $(cat "$T/noconn.err")"
ok "no daemon: exit 1, $(cat "$T/noconn.err")"
"$UTMEMCTL" frobnicate 2>/dev/null; [ $? -eq 2 ] || fail "unknown command: want 2"
"$UTMEMCTL" --run-dir "$T/nowhere" capacity set 12X 2>/dev/null; [ $? -eq 2 ] || fail "bad size: want 2"
"$UTMEMCTL" --run-dir "$T/nowhere" tenant set a 2>/dev/null; [ $? -eq 2 ] || fail "set without fields: want 2"
# top's interval and count: plain numbers in range, nothing else (NaN
# once slipped past the range check and spun; a huge count wrapped).
for bad in nan inf -1 0 0.01 3601 '' ' 1' +1 1e0 0x1 1s; do
	"$UTMEMCTL" --run-dir "$T/nowhere" top --interval "$bad" 2>/dev/null
	[ $? -eq 2 ] || fail "top --interval '$bad': want 2"
done
for bad in 0 -1 '' ' 1' +1 2x 99999999999999999999 1.5; do
	"$UTMEMCTL" --run-dir "$T/nowhere" top --count "$bad" 2>/dev/null
	[ $? -eq 2 ] || fail "top --count '$bad': want 2"
done
# An unknown option is named as one, and is a usage error.
for args in "--bogus" "stats --bogus" "--json --bogus stats"; do
	# shellcheck disable=SC2086
	"$UTMEMCTL" --run-dir "$T/nowhere" $args >/dev/null 2>"$T/e"
	[ $? -eq 2 ] || fail "utmemctl $args: want exit 2"
	grep -q "unknown option '--bogus'" "$T/e" || fail "utmemctl $args: $(cat "$T/e")"
done
# --json help prints one JSON object, as every command does with --json.
for args in "--json help" "--json help tenant" "--json --help"; do
	# shellcheck disable=SC2086
	"$UTMEMCTL" $args | python3 -c 'import json,sys; d=json.load(sys.stdin); assert "utmemctl" in d["help"]' ||
		fail "utmemctl $args: not JSON: $("$UTMEMCTL" $args | head -c 200)"
done
"$UTMEMCTL" --json help nosuch >"$T/o" 2>/dev/null; [ $? -eq 2 ] || fail "--json help nosuch: want 2"
grep -q '"status":"USAGE"' "$T/o" || fail "--json help nosuch: $(cat "$T/o")"
ok "usage errors exit 2"

start_daemon d "$RUN"
ctl stats | head -n 1 | grep -q ", reserved 0, 1 tenant, 0 pools$" || fail "stats header: $(ctl stats | head -n 1)"
ctl tenant add web --max 64M --min 1M --weight 3 | grep -q "tenant 'web' added (id [0-9]*): unix:$RUN/web.sock" || fail "tenant add"
[ -S "$RUN/web.sock" ] || fail "no socket for a runtime tenant"
"$E2E_CLIENT" put "$RUN/web.sock" p k v || fail "runtime tenant not usable"
ok "tenant added at runtime is served on $RUN/web.sock at once"
ctl tenant add web 2>/dev/null; [ $? -eq 1 ] || fail "duplicate add: want 1"
ctl tenant add web2 --socket "$T/custom.sock" >/dev/null || fail "add with --socket"
[ -S "$T/custom.sock" ] || fail "custom socket missing"
ctl tenant list | grep -Eq '^web +[0-9]+ +1.0M +64.0M +3 ' || fail "list: $(ctl tenant list)"
ctl tenant set web --max 32M --weight 5 >"$T/set.out" || fail "tenant set"
grep -q "tenant 'web': max: 64M -> 32M" "$T/set.out" || fail "tenant set output: $(cat "$T/set.out")"
grep -q "tenant 'web': weight: 3 -> 5" "$T/set.out" || fail "tenant set output: $(cat "$T/set.out")"
ctl tenant list | grep -Eq '^web +[0-9]+ +1.0M +32.0M +5 ' || fail "set not applied: $(ctl tenant list)"
ctl tenant set nobody --max 1M 2>"$T/e"; [ $? -eq 1 ] || fail "set unknown: want 1"
grep -q "no tenant named 'nobody'" "$T/e" || fail "set unknown msg: $(cat "$T/e")"
ctl tenant set web --min 64M 2>/dev/null && fail "min > max accepted"
ok "tenant add/list/set with errors: $(cat "$T/e")"

ctl capacity set 1G | grep -q "^capacity: .* -> 1G$" || fail "capacity set"
ctl capacity get | grep -q "^capacity 1.0G (1073741824 bytes)" || fail "capacity get: $(ctl capacity get)"
ctl capacity | grep -q "1073741824" || fail "capacity"
# --json has what the text has: the numbers of tenants and pools too.
ctl capacity >"$T/cap.txt"
ctl capacity --json | python3 -c '
import json, re, sys
d = json.load(sys.stdin)
t, p = map(int, re.search(r"(\d+) tenants?, (\d+) pools?", open(sys.argv[1]).read()).groups())
assert d["capacity"] == 1073741824 and d["tenants"] == t == 3 and d["pools"] == p, (d, t, p)' "$T/cap.txt" ||
	fail "capacity --json: $(ctl capacity --json) vs $(cat "$T/cap.txt")"
ok "capacity get/set"

ctl pool create cache --kind ephemeral | grep -q "shared pool 'cache' created (ephemeral)" || fail "pool create"
ctl pool create cache --kind persistent 2>/dev/null; [ $? -eq 1 ] || fail "duplicate pool: want 1"
ctl pool create x --kind fluffy 2>/dev/null; [ $? -eq 2 ] || fail "bad kind: want 2"
ctl pool grant cache web | grep -q "pool 'cache': tenants: (none) -> web" || fail "grant"
ctl pool grant cache nobody 2>/dev/null; [ $? -eq 1 ] || fail "grant to unknown: want 1"
ctl pool grant nopool web 2>/dev/null; [ $? -eq 1 ] || fail "grant unknown pool: want 1"
"$E2E_CLIENT" open "$RUN/web.sock" cache se 0 || fail "granted pool not openable"
"$E2E_CLIENT" open "$RUN/utmemd.sock" cache se 13 || fail "non-granted tenant opened pool"
ctl pool list | grep -Eq '^cache +[0-9]+ +0 ephemeral +shared' || fail "pool list: $(ctl pool list)"
ok "pool create/grant/list"

# top: rates per tenant, appended when not on a terminal; JSON per sample.
"$E2E_CLIENT" serve "$RUN/web.sock" 2 >/dev/null 2>&1 &
TP=$!
PIDS+=("$TP")
ctl top --interval 0.3 --count 2 >"$T/top.out" || fail "top"
[ "$(grep -c '^TENANT  *OPS/S  *GETS/S  *HIT%' "$T/top.out")" = 2 ] || fail "top: two samples: $(cat "$T/top.out")"
awk '$1 == "web" && $2 > 0 { found = 1 } END { exit !found }' "$T/top.out" || fail "top: web's ops/s: $(cat "$T/top.out")"
# Tenants come busiest first, ties by name: web leads only while its client
# still serves, which a slow run (ASan, a loaded machine) may not see.
ctl top --interval 0.3 --count 1 --json |
	grep -Eq '^\{"time":[0-9]+,"capacity":[0-9]+,"charged":[0-9]+,"tenants":\[(.*,)?\{"name":"web","ops_per_s":[0-9.]+,' ||
	fail "top --json: $(ctl top --interval 0.3 --count 1 --json)"
wait "$TP" || fail "the client served during top failed"
ok "top: $(grep '^web ' "$T/top.out" | head -n 1)"
# JSON stays UTF-8 when a value is not (a path may be any bytes): such a
# byte is U+FFFD, valid UTF-8 passes as it is (JSON once carried \xff raw).
ctl config set utmemd "persist=$T/p"$'\xff'"-é.utmem" >/dev/null || fail "config set persist with a non-UTF-8 byte"
ctl --json config get utmemd | python3 -c '
import json, sys
d = json.loads(sys.stdin.buffer.read().decode("utf-8", "strict"))
vals = [x["value"] for x in d if x.get("key") == "persist"]
sys.exit(0 if vals and vals[0].endswith("\ufffd-\u00e9.utmem") else 1)' ||
	fail "config get --json with a non-UTF-8 value: $(ctl --json config get utmemd | grep -ao 'persist[^,]*')"
ctl config set utmemd persist= >/dev/null 2>&1 || true
ok "JSON stays UTF-8 with a non-UTF-8 value"
UTMEM_RUN_DIR=$RUN "$UTMEMCTL" log-level debug >"$T/ll" || fail "log-level via UTMEM_RUN_DIR"
grep -qxF "log level: debug (until the next restart, reload or log_level change)" "$T/ll" ||
	fail "log-level printed: $(cat "$T/ll")"
# utmemd logs the line utmemctl printed, as for every other change.
grep -qF "utmemd info: $(cat "$T/ll")" "$T/d.log" || fail "log-level not logged as printed: $(grep -F 'log level' "$T/d.log")"
ctl log-level WARNING | grep -qxF "log level: warn (until the next restart, reload or log_level change)" ||
	fail "log-level WARNING: $(ctl log-level WARNING)"
ctl log-level debug >/dev/null
ctl log-level loud 2>/dev/null; [ $? -eq 2 ] || fail "bad level: want 2"
ctl reload 2>"$T/e"; [ $? -eq 1 ] || fail "reload without a file: want 1"
ok "log-level, UTMEM_RUN_DIR; reload with no file: $(cat "$T/e")"

"$E2E_CLIENT" serve "$RUN/web.sock" 5 >"$T/serve.out" 2>"$T/serve.err" &
SP=$!
PIDS+=("$SP")
sleep 0.5
ctl tenant remove web 2>"$T/rm.err" && fail "remove of a tenant with data and a client, without --force"
grep -q "tenant 'web' would be removed with its [0-9]* entries .* and 1 open connection" "$T/rm.err" ||
	fail "remove refusal: $(cat "$T/rm.err")"
grep -q "repeat with --force" "$T/rm.err" || fail "remove refusal: $(cat "$T/rm.err")"
[ -S "$RUN/web.sock" ] || fail "refused remove still removed the socket"
ok "remove without --force refused: $(head -n 1 "$T/rm.err")"
ctl tenant remove web --force >"$T/rm.out" || fail "remove --force"
grep -q "tenant 'web' removed: dropped [0-9]* entries (.*), closed 1 connection" "$T/rm.out" ||
	fail "remove output: $(cat "$T/rm.out")"
wait "$SP" && fail "a removed tenant's client kept being served"
grep -q "tenant removed by the operator" "$T/serve.err" ||
	fail "removed tenant's client: want a distinct error, got: $(cat "$T/serve.err")"
ok "$(cat "$T/rm.out"); its client got: $(grep -m1 FAIL "$T/serve.err")"
[ ! -e "$RUN/web.sock" ] || fail "socket kept after remove"
ctl tenant remove web 2>/dev/null; [ $? -eq 1 ] || fail "remove twice: want 1"
ok "tenant remove closes and unlinks its socket"
stop_daemon "$DPID" || fail "utmemd exit status $?"
[ ! -e "$T/custom.sock" ] || fail "custom socket left after stop"

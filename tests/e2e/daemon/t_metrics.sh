#!/usr/bin/env bash
# The Prometheus endpoint: off by default, loopback when only a port is
# given, output that passes `promtool check metrics` (Debian's prometheus
# package) with per-tenant and per-pool counters and gauges and latency
# histograms that follow the traffic, and an HTTP side that holds up to a
# hostile peer: garbage, oversized requests, silent connections, floods.
. "$(dirname "$0")/lib.sh"
RUN=$T/run

# http PORT REQUEST: send REQUEST, print the whole answer (bash's /dev/tcp).
http() {
	local port=$1 req=$2
	exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
	printf '%b' "$req" >&3
	timeout 10 cat <&3
	exec 3<&-
}
body() { http "$1" 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n' | sed '1,/^\r$/d'; }
metric() { grep -E "^$2 " <<<"$1" | awk '{print $2}'; }

start_daemon off "$T/run0"
ctl_off() { "$UTMEMCTL" --run-dir "$T/run0" "$@"; }
ctl_off info | grep -q "^metrics  *off$" || fail "metrics not off by default: $(ctl_off info | grep metrics)"
grep -q '^metrics:' "$T/off.out" && fail "a metrics line without metrics configured"
stop_daemon "$DPID" || fail "exit status $?"
ok "off by default"

printf '[utmemd]\ncapacity = 64M\nmetrics = 0\n[tenant default]\n[tenant web]\n[pool sp]\nkind = ephemeral\ntenants = web\n' >"$T/m.ini"
start_daemon d "$RUN" -c "$T/m.ini"
PORT=$(sed -n 's|^metrics: http://127.0.0.1:\([0-9]*\)/metrics$|\1|p' "$T/d.out")
[ -n "$PORT" ] || fail "no loopback metrics line: $(cat "$T/d.out")"
ok "metrics = 0 listens on 127.0.0.1:$PORT"

"$E2E_CLIENT" fill "$RUN/web.sock" c ephemeral 40 100 k || fail "fill"
"$E2E_CLIENT" put "$RUN/utmemd.sock" p k v || fail "put"
# Through the socket: a GET read one-sided from the value region never
# reaches utmemd, so only these are in its latency histogram.
UTMEM_FAST_PATH=0 "$E2E_CLIENT" serve "$RUN/web.sock" 3 >/dev/null 2>&1 &
SP=$!
PIDS+=("$SP")
sleep 0.5
m=$(body "$PORT")
[ -n "$m" ] || fail "empty scrape"
# promtool is Debian's prometheus, which make test installs.
command -v promtool >/dev/null || fail "promtool not installed (Debian's prometheus; make test installs it)"
promtool check metrics <<<"$m" >"$T/promtool.out" 2>&1 || fail "promtool: $(cat "$T/promtool.out")"
ok "promtool check metrics: passes ($(wc -l <<<"$m") lines)"
[ "$(metric "$m" 'utmem_tenant_entries\{tenant="web"\}')" -ge 40 ] || fail "web entries: $(grep 'tenant_entries' <<<"$m")"
[ "$(metric "$m" 'utmem_pool_entries\{tenant="web",pool="c",kind="ephemeral",shared="false"\}')" = 40 ] ||
	fail "pool c: $(grep 'pool_entries' <<<"$m")"
[ "$(metric "$m" 'utmem_pool_entries\{tenant="",pool="sp",kind="ephemeral",shared="true"\}')" = 0 ] ||
	fail "shared pool: $(grep 'pool_entries' <<<"$m")"
[ "$(metric "$m" 'utmem_tenant_puts_total\{tenant="default"\}')" = 1 ] || fail "default puts"
[ "$(metric "$m" 'utmem_tenant_connections\{tenant="web"\}')" = 1 ] || fail "web connections: $(grep connections <<<"$m")"
[ "$(metric "$m" 'utmem_capacity_bytes')" = 67108864 ] || fail "capacity"
# The maintenance thread's running totals are counters (operations.md).
for c in utmem_purges_total utmem_region_scrubbed_bytes_total utmem_compaction_runs_total; do
	grep -qx "# TYPE $c counter" <<<"$m" || fail "$c not a counter: $(grep -E 'purges|scrubbed|compaction_runs' <<<"$m")"
done
# web's values went to its value region (the default path): its pages count
[ "$(metric "$m" 'utmem_region_resident_bytes')" -gt 0 ] ||
	fail "region resident: $(grep region_resident <<<"$m")"
pc=$(metric "$m" 'utmem_request_duration_seconds_count\{tenant="web",op="put"\}')
inf=$(metric "$m" 'utmem_request_duration_seconds_bucket\{tenant="web",op="put",le="\+Inf"\}')
[ "$pc" -ge 41 ] && [ "$pc" = "$inf" ] || fail "put histogram: count $pc, +Inf $inf"
wait "$SP" || fail "the serving client failed"
m2=$(body "$PORT")
[ "$(metric "$m2" 'utmem_tenant_connections\{tenant="web"\}')" = 0 ] || fail "connections after the client left"
[ "$(metric "$m2" 'utmem_tenant_credit_bytes\{tenant="web"\}')" = 0 ] || fail "credit held after the client left: $(grep credit <<<"$m2")"
[ -n "$(metric "$m2" 'utmem_tenant_credit_reclaimed_bytes_total\{tenant="web"\}')" ] || fail "no reclaimed-credit counter"
# Every PUT of web's counted once by the path it came (staged, posted
# inline, replied), as many as the store counted.
paths=0
for f in staged posted_inline replied; do
	v=$(metric "$m2" "utmem_tenant_puts_${f}_total\\{tenant=\"web\"\\}")
	[ -n "$v" ] || fail "no utmem_tenant_puts_${f}_total for web"
	paths=$((paths + v))
done
[ "$paths" = "$(metric "$m2" 'utmem_tenant_puts_total\{tenant="web"\}')" ] ||
	fail "web's PUTs by path add up to $paths: $(grep -E 'tenant_puts_.*web' <<<"$m2")"
[ "$(metric "$m2" 'utmem_request_duration_seconds_count\{tenant="web",op="get"\}')" -gt 0 ] || fail "get histogram empty"
ok "values follow the traffic: web put count $pc, connections 1 then 0"

# Hostile peers.
http "$PORT" 'POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n' | head -n 1 | grep -q "^HTTP/1.1 405" || fail "other method"
http "$PORT" 'GET /admin HTTP/1.1\r\n\r\n' | head -n 1 | grep -q "^HTTP/1.1 404" || fail "other path"
http "$PORT" '\x00\x01garbage\r\n\r\n' | head -n 1 | grep -q "^HTTP/1.1 400" || fail "garbage"
http "$PORT" "GET /metrics HTTP/1.1\r\nX: $(head -c 5000 /dev/zero | tr '\0' a)\r\n\r\n" | head -n 1 |
	grep -q "^HTTP/1.1 431" || fail "oversized request"
ok "405, 404, 400 and 431 where due"
# A silent peer is dropped at the deadline (3 s), not held.
t0=$(date +%s%N)
exec 4<>"/dev/tcp/127.0.0.1/$PORT"
timeout 10 cat <&4 >/dev/null
exec 4<&-
el=$((($(date +%s%N) - t0) / 1000000))
[ "$el" -ge 2500 ] && [ "$el" -le 6000 ] || fail "silent connection held $el ms"
ok "a silent connection is closed after $el ms"
# A flood of idle connections: the ones past 8 are closed at once, utmemd
# serves tenants meanwhile, and scrapes work again once the idle ones expire.
for i in $(seq 10 29); do eval "exec {FD$i}<>/dev/tcp/127.0.0.1/$PORT"; done
timeout 1 cat <&"$FD29" >/dev/null || fail "the 20th idle connection was held, not closed at once"
"$E2E_CLIENT" put "$RUN/utmemd.sock" p k2 v2 || fail "tenant not served during the flood"
sleep 3.5
for i in $(seq 10 29); do eval "exec {FD$i}<&-"; done
[ "$(metric "$(body "$PORT")" 'utmem_tenant_puts_total\{tenant="default"\}')" = 2 ] || fail "scrape after the flood"
ok "20 idle connections: tenants served, scrapes back after the deadline"
stop_daemon "$DPID" || fail "utmemd exit status $?"

# The controller's figures are exported as INFO has them: a byte count of
# eleven digits (a fake cgroup with 64G and a few bytes free) is exact, not
# rounded to ten significant digits (6.871948910e+10).
CG=$T/cg
mkdir -p "$CG"
echo $(((64 << 30) + 12345)) >"$CG/memory.limit_in_bytes"
echo 0 >"$CG/memory.usage_in_bytes"
echo "some avg10=0.00 avg60=0.00 avg300=0.00 total=0" >"$T/psi"
printf '[utmemd]\ncapacity = 64M\nmetrics = 0\ncontroller = cgroup:%s\n' "$CG" >"$T/c.ini"
UTMEMD_TEST_PSI=$T/psi start_daemon c "$T/runc" -c "$T/c.ini"
PORT=$(sed -n 's|^metrics: http://127.0.0.1:\([0-9]*\)/metrics$|\1|p' "$T/c.out")
want=$("$UTMEMCTL" --run-dir "$T/runc" info | awk '$1 == "controller_available_bytes" { print $2 }')
[ "$want" = $(((64 << 30) + 12345)) ] || fail "controller_available_bytes in info: '$want'"
mc=$(body "$PORT")
got=$(metric "$mc" utmem_controller_available_bytes)
[ "$got" = "$want" ] || fail "utmem_controller_available_bytes $got, info has $want"
ok "utmem_controller_available_bytes $got: exact, as in utmemctl info"
# Each of the controller's and maintenance thread's families says what it
# is (and in what unit): no HELP text shared by two of them.
help=$(grep -E '^# HELP utmem_(controller|compaction|purges|region_scrubbed)_' <<<"$mc")
[ "$(wc -l <<<"$help")" -ge 19 ] || fail "controller families: $help"
# The capacity never changed here: the last change's age is absent, not 0.
grep -q '^utmem_controller_last_change_seconds_ago' <<<"$mc" &&
	fail "a last change exported before any: $(grep last_change <<<"$mc")"
dup=$(cut -d' ' -f4- <<<"$help" | sort | uniq -d)
[ -z "$dup" ] || fail "one HELP for several metrics: $(grep -F "$(head -n 1 <<<"$dup")" <<<"$help" | cut -d' ' -f3 | xargs)"
ok "$(wc -l <<<"$help") controller and maintenance families, each with a HELP of its own"
stop_daemon "$DPID" || fail "utmemd exit status $?"

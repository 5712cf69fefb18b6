#!/usr/bin/env bash
# The Redis module, as an operator meets it: it refuses to load with
# arguments that could never work (a TCP address without a token) instead
# of loading and answering NOPERM to every command; and INFO utmem has a
# server section (what utmemd said about itself at connect: version,
# uptime, limits, this tenant's connections), TMEM.INFO the same live.
# Needs Debian's redis-server; skipped otherwise.
. "$(dirname "$0")/lib.sh"

command -v redis-server >/dev/null || { echo "FAIL: no redis-server (make test installs it)"; exit 1; }
[ -n "${UTMEM_MODULE:-}" ] || { echo "FAIL: the Redis module is not built"; exit 1; }

timeout 20 "${REDIS_ENV[@]}" redis-server --port 0 --unixsocket "$T/r.sock" --dir "$T" --save '' \
	--loadmodule "$UTMEM_MODULE" addr=tcp:127.0.0.1:7000 pool=p >"$T/r.log" 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "redis-server with addr=tcp: and no token: exit $rc, $(cat "$T/r.log")"
grep -q "utmem: not loaded: addr=tcp:127.0.0.1:7000 needs token=" "$T/r.log" || fail "message: $(cat "$T/r.log")"
ok "$(grep -o 'utmem: not loaded: [^;]*' "$T/r.log")"

RUN=$T/run
start_daemon d "$RUN"
"${REDIS_ENV[@]}" redis-server --port 0 --unixsocket "$T/r2.sock" --dir "$T" --save '' \
	--loadmodule "$UTMEM_MODULE" "addr=unix:$RUN/utmemd.sock" pool=p >"$T/r2.log" 2>&1 &
RPID=$!
PIDS+=("$RPID")
for i in $(seq 1 200); do redis-cli -s "$T/r2.sock" ping >/dev/null 2>&1 && break; sleep 0.05; done
info=$(redis-cli -s "$T/r2.sock" INFO utmem | tr -d '\r')
grep -qx "# utmem_server" <<<"$info" || fail "no server section: $info"
grep -qx "utmem_version:0.1.0" <<<"$info" || fail "server version: $info"
grep -qx "utmem_tenant:default" <<<"$info" || fail "server tenant: $info"
grep -qx "utmem_tenant_connections:1" <<<"$info" || fail "connections: $info"
grep -q "^utmem_uptime_seconds:[0-9]*$" <<<"$info" || fail "uptime: $info"
grep -q "^utmem_info_age_ms:[0-9]*$" <<<"$info" || fail "age: $info"
live=$(redis-cli -s "$T/r2.sock" TMEM.INFO | tr -d '\r')
grep -qx "server_max_value:67108864" <<<"$live" || fail "TMEM.INFO server lines: $live"
ok "INFO utmem: $(grep -A3 '# utmem_server' <<<"$info" | tr '\n' ' ')"
kill "$RPID"
wait "$RPID" 2>/dev/null
stop_daemon "$DPID" || fail "utmemd exit status $?"

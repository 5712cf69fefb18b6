#!/usr/bin/env bash
# SIGTERM: exit 0 and every socket removed. SIGHUP and `utmemctl reload`:
# re-read the file, add new tenants (socket created), update limits, remove
# tenants no longer listed. A reload of a broken file keeps the old state.
. "$(dirname "$0")/lib.sh"
RUN=$T/run
cat >"$T/cfg.ini" <<CFG
[tenant a]
max = 32M
CFG
start_daemon d "$RUN" -c "$T/cfg.ini"
[ -S "$RUN/a.sock" ] || fail "a.sock missing"

cat >"$T/cfg.ini" <<CFG
[tenant a]
max = 16M
[tenant b]
max = 8M
CFG
kill -HUP "$DPID"
for i in $(seq 1 100); do [ -S "$RUN/b.sock" ] && break; sleep 0.05; done
[ -S "$RUN/b.sock" ] || fail "SIGHUP did not add tenant b"
# The file appears only once it listens (ud_listen_unix; t_sockpub.sh):
# the first PUT is served, no retry.
"$E2E_CLIENT" put "$RUN/b.sock" p k v 2>"$T/put.err" ||
	fail "new tenant b not usable: $(cat "$T/put.err")"
json=$(ctl --json stats)
[ "$(json_num "$json" a max)" = 16777216 ] || fail "a's max not updated: $json"
ok "SIGHUP added tenant b (socket live) and updated a's max"

cat >"$T/cfg.ini" <<CFG
[tenant b]
max = 8M
[tenant c]
CFG
ctl reload || fail "utmemctl reload"
[ -S "$RUN/c.sock" ] || fail "reload did not add c"
[ ! -e "$RUN/a.sock" ] || fail "reload did not remove a's socket"
ctl tenant list | grep -q '^a ' && fail "a still listed"
ok "utmemctl reload added c and removed a"

printf '[tenant b]\nmax = lots\n' >"$T/cfg.ini"
ctl reload 2>"$T/reload.err" && fail "broken reload accepted"
grep -q "cfg.ini:2: max 'lots'" "$T/reload.err" || fail "reload error: $(cat "$T/reload.err")"
[ -S "$RUN/c.sock" ] || fail "a failed reload changed the tenants"
ok "broken reload refused with: $(cat "$T/reload.err"); state kept"

kill -TERM "$DPID"
wait "$DPID"
rc=$?
[ $rc -eq 0 ] || fail "SIGTERM exit status $rc"
left=$(ls "$RUN")
[ -z "$left" ] || fail "sockets left after SIGTERM: $left"
ok "SIGTERM: exit 0, sockets removed"

# SIGINT too, with a client connected and idle.
start_daemon d2 "$RUN"
"$E2E_CLIENT" idle "$RUN/utmemd.sock" 30 >"$T/idle.out" 2>&1 &
IDLE=$!
PIDS+=("$IDLE")
wait_output "$T/idle.out" '^connected$' "$IDLE" ||
	fail "the idle client did not connect: $(cat "$T/idle.out")"
[ "$(ctl info | awk '$1 == "connections" { print $2 }')" -ge 1 ] || fail "no connection counted"
kill -INT "$DPID"
for _ in $(seq 1 100); do
	kill -0 "$DPID" 2>/dev/null || break
	sleep 0.05
done
kill -0 "$DPID" 2>/dev/null && fail "utmemd still running 5 s after SIGINT with an idle client"
wait "$DPID" || fail "SIGINT exit status $?"
[ ! -e "$RUN/utmemd.sock" ] || fail "socket left after SIGINT"
kill -KILL "$IDLE" 2>/dev/null
ok "SIGINT with an idle client connected: exit 0, sockets removed"

#!/usr/bin/env bash
# utmemd killed with SIGKILL: the client gets a clear connection error; once
# a new utmemd is up on the same sockets (stale ones replaced), the client
# reconnects by itself and reopens its pool by name.
. "$(dirname "$0")/lib.sh"
RUN=$T/run
start_daemon d1 "$RUN"
"$E2E_CLIENT" restart "$RUN/utmemd.sock" "$T/killed" "$T/back" \
	>"$T/client.out" 2>"$T/client.log" &
CP=$!
PIDS+=("$CP")
wait_output "$T/client.out" READY "$CP" || fail "client not ready"
kill -KILL "$DPID"
wait "$DPID" 2>/dev/null
[ -S "$RUN/utmemd.sock" ] || fail "expected a stale socket after SIGKILL"
touch "$T/killed"
for i in $(seq 1 200); do
	grep -q "while down" "$T/client.out" && break
	sleep 0.05
done
grep "while down" "$T/client.out" || fail "client saw no error while down"
start_daemon d2 "$RUN"
grep -q "stale\|in use" "$T/d2.log" && fail "restart complained about the stale socket"
touch "$T/back"
wait "$CP" || fail "client did not reconnect"
ok "SIGKILL: clear error while down, automatic reconnect after restart"
stop_daemon "$DPID" || fail "utmemd exit status $?"

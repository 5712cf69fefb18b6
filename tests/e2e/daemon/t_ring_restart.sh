#!/usr/bin/env bash
# A ring client waits for a reply from a daemon that is stopped and then
# killed: the wait ends with a connection error well within the request
# timeout (the socket's hang-up wakes it); once a new daemon is up, the
# client reconnects and gets a new ring.
. "$(dirname "$0")/lib.sh"
RUN=$T/run
printf '[utmemd]\nlog_level = debug\n[tenant default]\n' >"$T/dbg.ini"
start_daemon d1 "$RUN" -c "$T/dbg.ini"
"$E2E_RING" restart "ring:$RUN/utmemd.sock" "$T/stopped" "$T/back" \
	>"$T/client.out" 2>"$T/client.log" &
CP=$!
PIDS+=("$CP")
wait_output "$T/client.out" READY "$CP" || fail "client not ready"
freeze_pid "$DPID"
touch "$T/stopped"
sleep 0.5
kill -KILL "$DPID"
kill -CONT "$DPID" 2>/dev/null
wait "$DPID" 2>/dev/null
for i in $(seq 1 200); do
	grep -q "while down" "$T/client.out" && break
	sleep 0.05
done
grep "while down" "$T/client.out" || fail "client saw no error while down"
start_daemon d2 "$RUN" -c "$T/dbg.ini"
touch "$T/back"
wait "$CP" || fail "client did not reconnect: $(cat "$T/client.log")"
grep -q "uses a shared-memory ring" "$T/d2.log" || fail "no ring after reconnect"
ok "daemon killed during a ring wait: bounded error, reconnect with a new ring"
stop_daemon "$DPID" || fail "utmemd exit status $?"

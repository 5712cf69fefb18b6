#!/usr/bin/env bash
# Values of every size class from 0 B to max_value (64M here) through the
# default address (unix:PATH) and the default ring size, checked byte for
# byte; max_value + 1 refused. Proof that the fast path carried them:
# utmemd logs the default ring (1 MiB each way) for the connection, and
# with utmemd SIGSTOPped the client still reads every stored value (one-
# sided, from the tenant's value region) and posts PUTs (no reply awaited);
# after SIGCONT the posted values are there.
. "$(dirname "$0")/lib.sh"
RUN=$T/run
cat >"$T/d.ini" <<INI
[utmemd]
capacity = 1G
max_value = 64M
workers = 2
log_level = debug
[tenant default]
INI
start_daemon d "$RUN" -c "$T/d.ini"
"$E2E_FAST" sizes "unix:$RUN/utmemd.sock" "$T/stopped" "$T/cont" \
	>"$T/client.out" 2>"$T/client.log" &
CP=$!
PIDS+=("$CP")
for i in $(seq 1 1200); do
	grep -q STORED "$T/client.out" && break
	kill -0 "$CP" 2>/dev/null || break
	sleep 0.05
done
grep -q STORED "$T/client.out" || fail "client did not store its values: $(cat "$T/client.out" "$T/client.log")"
grep -q "uses a shared-memory ring (1048576 bytes each way)" "$T/d.log" ||
	fail "no default-size ring was set up for the client"
freeze_pid "$DPID"
touch "$T/stopped"
for i in $(seq 1 400); do
	grep -q POSTED "$T/client.out" && break
	kill -0 "$CP" 2>/dev/null || break
	sleep 0.05
done
kill -CONT "$DPID"
touch "$T/cont"
wait "$CP" || fail "client checks: $(cat "$T/client.log")"
cat "$T/client.out"
ok "every size 0..max_value through the fast path; max_value+1 refused; reads and posts with utmemd stopped"
kill -0 "$DPID" || fail "utmemd died"
stop_daemon "$DPID" || fail "utmemd exit status $?"

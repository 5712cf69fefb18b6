#!/usr/bin/env bash
# utmem_put_pending() says 1 for a key whose posted PUT utmemd has not
# applied, even once the ring header's pools_gen has moved (utmemd's word
# that a pool of the tenant may be gone, after which the client reopens
# its handles before their next use): the PUT is still in the ring, and a
# caller told 0 would read the key and wait for utmemd. utmemd is stopped
# so that the PUT stays unapplied; the client moves pools_gen itself.
. "$(dirname "$0")/lib.sh"
RUN=$T/run
F=$T/flags
mkdir -p "$F"
printf '[utmemd]\n[tenant default]\n' >"$T/d.ini"
start_daemon d "$RUN" -c "$T/d.ini"
wait_line() { wait_output "$T/pending.out" "^$1\$" "$CPID"; }

"$E2E_RING" pending "unix:$RUN/utmemd.sock" "$F" >"$T/pending.out" \
	2>"$T/pending.log" &
CPID=$!
PIDS+=("$CPID")
wait_line READY || fail "client not ready: $(cat "$T/pending.log")"
freeze_pid "$DPID"
touch "$F/stopped"
wait_line CHECKED
kill -CONT "$DPID"
touch "$F/resumed"
wait "$CPID" || fail "a posted PUT not reported pending: $(cat "$T/pending.log")"
ok "a posted PUT stays pending for utmem_put_pending() when pools_gen moves"
stop_daemon "$DPID" || fail "utmemd exit status $?"

#!/usr/bin/env bash
# One-sided reads racing overwrites, invalidations and evictions: 2 writer
# and 3 reader connections on an ephemeral pool of a 16M daemon (the keys
# need about twice that), for FP_RACE_SECONDS (default 6). Every hit must be
# a whole value of the key asked for, of a version already put and not
# older than one the same reader saw. FP_SEED=N replays a run's choices
# (not its timing).
. "$(dirname "$0")/lib.sh"
RUN=$T/run
printf '[utmemd]\ncapacity = 16M\nworkers = 2\n[tenant default]\n' >"$T/d.ini"
start_daemon d "$RUN" -c "$T/d.ini"
"$E2E_FAST" race "unix:$RUN/utmemd.sock" "${FP_SEED:-0}" "${FP_RACE_SECONDS:-6}" ||
	fail "a one-sided read returned a wrong value (replay: FP_SEED=<seed above>)"
ok "one-sided reads under overwrites and evictions: every hit whole and of its key"
kill -0 "$DPID" || fail "utmemd died"
stop_daemon "$DPID" || fail "utmemd exit status $?"

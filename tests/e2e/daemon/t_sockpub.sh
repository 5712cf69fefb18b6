#!/usr/bin/env bash
# A socket file appears only once it listens: a client that connects the
# moment it sees utmemd's socket is served, never refused. strace holds
# every listen() of the daemon for a second, so a daemon that bound its
# socket in place (visible from bind() on) fails this at once; it also
# checks that no temporary name is left, that a path too long for the
# temporary name still works (bound in place), and that a live daemon's
# socket is not taken over.
. "$(dirname "$0")/lib.sh"
command -v strace >/dev/null || fail "strace is not installed (make test installs it)"

# watch_connect RUN: poll for RUN/utmemd.sock every 2 ms and
# PUT through it the moment it exists.
watch_connect() {
	local run=$1 i
	for i in $(seq 1 5000); do
		if [ -S "$run/utmemd.sock" ]; then
			"$E2E_CLIENT" put "$run/utmemd.sock" p k v \
				>>"$T/client.log" 2>&1 || return 1
			"$UTMEMCTL" --run-dir "$run" stats >/dev/null 2>>"$T/client.log" ||
				return 1
			return 0
		fi
		sleep 0.002
	done
	echo "no socket within 10 s" >>"$T/client.log"
	return 1
}

# start_slow RUN: utmemd under strace, each listen() delayed by 1 s; sets
# SPID (strace) and DPID (utmemd).
start_slow() {
	strace -f -qq -o /dev/null -e trace=listen \
		-e inject=listen:delay_enter=1000000 \
		"$UTMEMD" --run-dir "$1" >"$T/slow.out" 2>"$T/slow.log" &
	SPID=$!
	PIDS+=("$SPID")
	DPID=
	for i in $(seq 1 500); do
		DPID=$(pgrep -P "$SPID" -x utmemd) && break
		sleep 0.01
	done
	[ -n "$DPID" ] || fail "utmemd did not start under strace"
	PIDS+=("$DPID")
}

stop_slow() {
	kill -TERM "$DPID" 2>/dev/null
	for i in $(seq 1 200); do
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$DPID" 2>/dev/null && fail "utmemd did not stop on SIGTERM"
	wait "$SPID" 2>/dev/null
}

RUN=$T/run
mkdir -p "$RUN"
start_slow "$RUN"
watch_connect "$RUN" || fail "a client connecting as the socket appeared was refused"
wait_output "$T/slow.out" '^admin:' "$DPID" || fail "utmemd printed no banner"
ok "the first connection to a just-visible socket is served (listen held 1 s)"
left=$(find "$RUN" -name '*.tmp' | wc -l)
[ "$left" -eq 0 ] || fail "temporary socket names left: $(ls "$RUN")"
ok "no temporary socket name left"

# A second daemon on the same run directory must not take the sockets over.
"$UTMEMD" --run-dir "$RUN" >"$T/second.out" 2>"$T/second.log" &
P2=$!
PIDS+=("$P2")
for i in $(seq 1 200); do
	kill -0 "$P2" 2>/dev/null || break
	sleep 0.05
done
kill -0 "$P2" 2>/dev/null && fail "a second utmemd on a live run directory kept running"
grep -qF "is in use: a live server is listening on it (is another utmemd running with run directory $RUN?)" "$T/second.log" ||
	fail "second utmemd: no 'in use' error naming the run directory: $(cat "$T/second.log")"
"$E2E_CLIENT" put "$RUN/utmemd.sock" p k2 v2 >>"$T/client.log" 2>&1 ||
	fail "the first daemon's socket stopped working after a second start"
left=$(find "$RUN" -name '*.tmp' | wc -l)
[ "$left" -eq 0 ] || fail "temporary socket names left by the refused daemon: $(ls "$RUN")"
ok "a live daemon's sockets are kept; the refused one leaves nothing"
stop_slow

# A run directory of 94 bytes: its socket paths (105 and 106 bytes) fit
# the 107 a socket path may have, with no room left for ".PID.tmp", so
# they are bound in place and still served.
LONG=$T/$(printf 'd%.0s' $(seq 1 $((94 - ${#T} - 1))))
mkdir -p "$LONG"
[ ${#LONG} -eq 94 ] || fail "test setup: run dir of ${#LONG} bytes, not 94"
start_daemon long "$LONG"
"$E2E_CLIENT" put "$LONG/utmemd.sock" p k v >>"$T/client.log" 2>&1 ||
	fail "no service on a long socket path"
ok "a socket path with no room for a temporary name is bound in place (${#LONG}-byte run dir)"
stop_daemon "$DPID" || fail "utmemd exit status $?"

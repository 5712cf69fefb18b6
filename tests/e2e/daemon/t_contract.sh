#!/usr/bin/env bash
# Promises of include/utmem.h about a client's life, against a real
# utmemd (e2e_contract.c): a client used after fork() by parent and child
# at once (fast path and socket only); utmem_get_view calls fn exactly once
# on success and never on failure, on every path, racing a writer too;
# a connect beyond the tenant's max_conns, first or a call's reconnect, is
# -EDQUOT, never a link error;
# a connect to a full accept queue waits for room within its timeout.
. "$(dirname "$0")/lib.sh"
RUN=$T/run
printf '[utmemd]\ncapacity = 1G\nworkers = 2\n[tenant default]\n[tenant one]\nmax_conns = 1\n' >"$T/d.ini"
start_daemon d "$RUN" -c "$T/d.ini"
ADDR="unix:$RUN/utmemd.sock"
out=$("$E2E_CONTRACT" fork "$ADDR") || fail "fork, fast path: $out"
ok "fast path: $out"
out=$(UTMEM_FAST_PATH=0 "$E2E_CONTRACT" fork "$ADDR") ||
	fail "fork, socket only: $out"
ok "socket only: $out"
out=$("$E2E_CONTRACT" view "$ADDR" 3) || fail "get_view's fn: $out"
ok "get_view: $(echo $out)"
out=$("$E2E_CONTRACT" conns "unix:$RUN/one.sock") ||
	fail "connects beyond max_conns: $out"
ok "max_conns = 1: $out"
kill -0 "$DPID" || fail "utmemd died"
stop_daemon "$DPID" || fail "utmemd exit status $?"

# The same when a call reconnects: utmemd closes idle connections after 1 s.
printf '[utmemd]\nidle_timeout = 1\n[tenant default]\nmax_conns = 1\n' >"$T/r.ini"
start_daemon r "$T/runr" -c "$T/r.ini"
out=$("$E2E_CONTRACT" reconnect "unix:$T/runr/utmemd.sock") ||
	fail "calls that reconnect beyond max_conns: $out"
ok "max_conns = 1: $out"
kill -0 "$DPID" || fail "utmemd (r) died"
stop_daemon "$DPID" || fail "utmemd (r) exit status $?"

# A full accept queue (1024) takes more descriptors than the default 1024,
# and utmemd must admit them all once resumed: one tenant, no rings (a
# ring connection counts thrice against the tenant's descriptor share).
# make test runs as root, which may raise its own limit: a case that
# could not run is a failure, never a silent skip.
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge 2200 ] ||
	fail "full accept queue: cannot raise the descriptor limit to 2200 (have $(ulimit -n), hard $(ulimit -Hn))"
{
	printf '[utmemd]\nring_size = off\n[tenant default]\nmax_conns = 5000\n' >"$T/b.ini"
	start_daemon b "$T/runb" -c "$T/b.ini"
	out=$("$E2E_CONTRACT" backlog "unix:$T/runb/utmemd.sock" "$DPID") ||
		{ kill -CONT "$DPID"; fail "connect to a full accept queue: $out"; }
	ok "$out"
	kill -0 "$DPID" || fail "utmemd (b) died"
	stop_daemon "$DPID" || fail "utmemd (b) exit status $?"
}

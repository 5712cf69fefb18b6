#!/usr/bin/env bash
# A client holds at most 4096 pool handles: opening a 4097th name fails
# with -ENOMEM before anything is sent, so a CREATE does not leave behind
# a pool the client cannot hold a handle of (and that nobody knows to
# destroy); the names it holds still open.
. "$(dirname "$0")/lib.sh"
RUN=$T/run
printf '[utmemd]\ncapacity = 256M\n[tenant default]\nmax_pools = 5000\n' >"$T/d.ini"
start_daemon d "$RUN" -c "$T/d.ini"
"$E2E_CLIENT" pooltable "$RUN/utmemd.sock" ||
	fail "a refused 4097th pool handle must create nothing"
ok "a client's 4097th pool handle is refused before the open is sent"
stop_daemon "$DPID" || fail "utmemd exit status $?"

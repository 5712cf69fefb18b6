#!/usr/bin/env bash
# Credit on the fast path: a client that posts holds quota reserved
# (SERVER_INFO tenant_credit_bytes > 0) and gives it back when it closes
# (0 again); PUTs of one size are refused exactly at the tenant's quota
# (the charged total leaves less room than one more value, freeing one
# value lets exactly one in, the next is refused) with -EDQUOT, and a
# refused PUT leaves no value; for inline, staged and tiny values; and
# under posted overwrites what a connection holds stays bounded, every PUT
# is counted once by its path (SERVER_INFO tenant_puts_*), and staging
# slots too small for the values now sent go back to utmemd; credit is
# topped up once an eighth of a connection's window is spent.
. "$(dirname "$0")/lib.sh"
RUN=$T/run
MAX=$((2 << 20))
printf '[utmemd]\ncapacity = 256M\nworkers = 2\nlog_level = debug\n[tenant default]\nmax = %s\n' \
	"$MAX" >"$T/d.ini"
start_daemon d "$RUN" -c "$T/d.ini"
E2E_RUN=$RUN "$E2E_FAST" credit "unix:$RUN/utmemd.sock" "$MAX" ||
	fail "credit and quota checks"
grep -q "uses a shared-memory ring" "$T/d.log" || fail "no ring was set up"
ok "credit held while posting, returned on close; PUTs refused exactly at the quota"
kill -0 "$DPID" || fail "utmemd died"
stop_daemon "$DPID" || fail "utmemd exit status $?"

# Posted PUTs replacing values of their size, on a tenant with room for
# far more than it stores: what the connection holds stays bounded (it
# grew by a value per PUT until the share ran out).
RUN2=$T/run2
printf '[utmemd]\ncapacity = 2G\nworkers = 2\n[tenant default]\nmax = 2G\n' >"$T/d2.ini"
start_daemon d2 "$RUN2" -c "$T/d2.ini"
# Near its end the client asks for utmemd to be stopped (STALE_READY) and
# sends PUTs that wait for it; it is resumed 0.3 s after the flag.
"$E2E_FAST" churn "unix:$RUN2/utmemd.sock" "$T/stopped" >"$T/churn.out" 2>"$T/churn.log" &
CPID=$!
PIDS+=("$CPID")
wait_output "$T/churn.out" '^STALE_READY$' "$CPID" ||
	{ wait "$CPID"; fail "credit held under churn: $(cat "$T/churn.out" "$T/churn.log")"; }
freeze_pid "$DPID"
touch "$T/stopped"
sleep 0.3
kill -CONT "$DPID"
wait "$CPID" || fail "credit held under churn: $(cat "$T/churn.out" "$T/churn.log")"
cat "$T/churn.out"
ok "credit held stays bounded under posted overwrites; PUTs counted by path; stale slots given back"
kill -0 "$DPID" || fail "utmemd died"

# Credit comes back in steps of an eighth of the window (a raw ring
# client reads the grants): a writer that used its credit up waits for a
# step of its PUTs to apply, not for half its window (~0.4 ms of 1 KiB
# PUTs, the p99 of a pipelined writer before).
"$E2E_RING" topup "$RUN2/utmemd.sock" >"$T/topup.out" 2>&1 ||
	fail "credit top-ups: $(cat "$T/topup.out")"
ok "credit topped up after an eighth of the window: $(tr '\n' ' ' <"$T/topup.out")"
kill -0 "$DPID" || fail "utmemd died"
stop_daemon "$DPID" || fail "utmemd exit status $?"

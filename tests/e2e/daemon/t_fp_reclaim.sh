#!/usr/bin/env bash
# Credit a client holds while it sits idle comes back without its posting
# again (docs/protocol.md section 10, "Reclaim"): after a refusal for the
# tenant's quota (another client of the tenant) and after a refusal for the
# daemon's capacity (a client of another tenant), the idle client's credit
# drops to 0 and the refused PUT fits; the idle client then posts on with
# every value whole and its connection open.
. "$(dirname "$0")/lib.sh"

RUN=$T/run1
printf '[utmemd]\ncapacity = 256M\nworkers = 2\n[tenant default]\nmax = 2M\n' >"$T/q.ini"
start_daemon q "$RUN" -c "$T/q.ini"
"$E2E_FAST" reclaim "unix:$RUN/utmemd.sock" "unix:$RUN/utmemd.sock" quota ||
	fail "reclaim after a refusal for the quota"
ok "an idle client's credit is taken back after a refusal for the quota"
kill -0 "$DPID" || fail "utmemd died"
stop_daemon "$DPID" || fail "utmemd exit status $?"

RUN=$T/run2
printf '[utmemd]\ncapacity = 8M\nworkers = 2\n[tenant default]\n[tenant b]\n' >"$T/c.ini"
start_daemon c "$RUN" -c "$T/c.ini"
"$E2E_FAST" reclaim "unix:$RUN/utmemd.sock" "unix:$RUN/b.sock" capacity ||
	fail "reclaim after a refusal for capacity"
ok "an idle client's credit is taken back after another tenant is refused for capacity"
kill -0 "$DPID" || fail "utmemd died"
stop_daemon "$DPID" || fail "utmemd exit status $?"

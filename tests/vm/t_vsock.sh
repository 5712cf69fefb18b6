#!/usr/bin/env bash
# utmemd's AF_VSOCK listener, as far as this machine allows (docs/vm.md,
# "vsock"): the listener is real (a second utmemd on the port is refused),
# CIDs are checked in the config, and where a vsock loopback transport
# exists (vsock_loopback: CID 1) a client really connects and is served as
# the tenant with that CID. Where AF_VSOCK does not exist at all, utmemd
# must refuse to start with a clear message, and the rest is skipped.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../e2e/daemon/lib.sh"
RUN=$T/run
PORT=$((20000 + RANDOM % 20000))
cat >"$T/v.ini" <<INI
[utmemd]
capacity = 256M
vsock = $PORT
[tenant local]
vsock_cid = 1
[tenant vm4]
vsock_cid = 4
INI

# Config checks: one CID per tenant, 0 is nobody's.
cat >"$T/dup.ini" <<INI
[utmemd]
vsock = $PORT
[tenant a]
vsock_cid = 5
[tenant b]
vsock_cid = 5
INI
"$UTMEMD" -c "$T/dup.ini" --check-config >"$T/dup.out" 2>&1 && fail "two tenants with one CID accepted"
grep -q "vsock_cid 5 already used" "$T/dup.out" || { cat "$T/dup.out"; fail "duplicate CID message"; }
printf '[utmemd]\n[tenant a]\nvsock_cid = 0\n' >"$T/zero.ini"
"$UTMEMD" -c "$T/zero.ini" --check-config >/dev/null 2>&1 && fail "vsock_cid 0 accepted"
ok "config: a CID names one tenant; CID 0 refused"

"$UTMEMD" -c "$T/v.ini" --run-dir "$RUN" >"$T/d.out" 2>"$T/d.log" &
DPID=$!
PIDS+=("$DPID")
for i in $(seq 1 100); do
	grep -q '^admin:' "$T/d.out" && break
	kill -0 "$DPID" 2>/dev/null || break
	sleep 0.05
done
if ! kill -0 "$DPID" 2>/dev/null; then
	grep -q "no AF_VSOCK here" "$T/d.log" || { cat "$T/d.log"; fail "utmemd died without a clear message"; }
	fail "no AF_VSOCK on this machine (utmemd refuses vsock = PORT clearly): the listener is not tested"
fi
grep -q "^vsock: vsock:2:$PORT " "$T/d.out" || { cat "$T/d.out"; fail "no vsock listener in the banner"; }
ok "utmemd listens on vsock port $PORT"

# The listener is a real socket: a second daemon cannot take the port.
"$UTMEMD" -c "$T/v.ini" --run-dir "$T/run2" >"$T/d2.out" 2>"$T/d2.log" &&
	fail "a second utmemd took the same vsock port"
grep -q "cannot listen on vsock port $PORT" "$T/d2.log" ||
	{ cat "$T/d2.log"; fail "second daemon: no clear message"; }
ok "a second utmemd on the port is refused"

# A connection, where the machine has a loopback transport (CID 1).
if timeout 10 "$VMCHECK" check "vsock:1:$PORT" pp p k -1 0 >"$T/c.out" 2>&1; then
	"$VMCHECK" put "vsock:1:$PORT" pp local-pp k 1000 3 || fail "put over vsock"
	"$VMCHECK" check "unix:$RUN/local.sock" pp local-pp k 1000 3 ||
		fail "the vsock connection was not tenant 'local' (CID 1)"
	ok "a vsock connection from CID 1 is served as tenant 'local'"
else
	ok "no vsock loopback here ($(tr -d '\n' <"$T/c.out" | cut -c1-80)): connection not tested"
fi
kill -0 "$DPID" || fail "utmemd died"
stop_daemon "$DPID" || fail "utmemd exit status $?"

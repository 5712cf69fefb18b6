#!/usr/bin/env bash
# Posted PUTs are seen by what follows them on the same connection: GET,
# get_alloc, get_view (one-sided), pop and INVALIDATE (through utmemd),
# overwrites, bursts of posted PUTs read back in random order, with and
# without lazy doorbells (an idle client's flushes wake no worker); another connection after utmem_sync(); and
# with UTMEM_FAST_PATH=0 on the socket alone (no ring set up). Random
# keys and sizes (0 B to 2 MiB): FP_SEED=N replays a run.
. "$(dirname "$0")/lib.sh"
RUN=$T/run
printf '[utmemd]\ncapacity = 1G\nworkers = 2\nlog_level = debug\n[tenant default]\n' >"$T/d.ini"
start_daemon d "$RUN" -c "$T/d.ini"
"$E2E_FAST" order "unix:$RUN/utmemd.sock" "${FP_SEED:-0}" 1000 ||
	fail "posted PUTs not seen in order (replay: FP_SEED=<seed above>)"
grep -q "uses a shared-memory ring" "$T/d.log" || fail "no ring was set up"
ok "posted PUTs immediately followed by GET/pop/invalidate of the same key"
out=$(E2E_RUN=$RUN "$E2E_FAST" idle "unix:$RUN/utmemd.sock") ||
	fail "lazy kicks: $out"
ok "lazy kicks: $out"
# UTMEM_FAST_PATH=0: the same promises on the socket alone, and no ring.
rings=$(grep -c "uses a shared-memory ring" "$T/d.log")
UTMEM_FAST_PATH=0 "$E2E_FAST" order "unix:$RUN/utmemd.sock" "${FP_SEED:-0}" 150 ||
	fail "PUTs not seen in order on the socket (UTMEM_FAST_PATH=0)"
[ "$(grep -c "uses a shared-memory ring" "$T/d.log")" = "$rings" ] ||
	fail "UTMEM_FAST_PATH=0 still set up a ring"
ok "UTMEM_FAST_PATH=0: socket only, same order"
kill -0 "$DPID" || fail "utmemd died"
stop_daemon "$DPID" || fail "utmemd exit status $?"

#!/usr/bin/env bash
# An operator's flush of a large pool runs on the bulk thread, not on the
# main loop, which accepts every tenant's new connections and serves the
# admin socket (docs/security.md): while `utmemctl pool flush` drops 600,000
# entries (a second or more), utmemctl info answers (and shows the job running) and
# a new tenant connection is accepted and served. Before this, both waited
# for the whole flush (bulk_running stayed 0: it ran on the main loop).
. "$(dirname "$0")/lib.sh"
RUN=$T/run
N=600000
printf '[utmemd]\ncapacity = 2G\nworkers = 2\n[tenant default]\n' >"$T/d.ini"
start_daemon d "$RUN" -c "$T/d.ini"
info() { ctl info | awk -v k="$1" '$1 == k { print $2 }'; }
"$UTMEM_BENCH" --addr "unix:$RUN/utmemd.sock" --pool big --op put --value-size 16 \
	--keys "$N" --requests 1 --preload --connections 1 --pipeline 64 --json >"$T/fill.json" ||
	fail "fill: $(cat "$T/fill.json")"
entries=$(info entries)
[ "$entries" -ge "$N" ] || fail "filled $entries entries, want $N"
op_on_bulk "the operator's flush" "unix:$RUN/utmemd.sock" "$T/flush.out" \
	pool flush big --tenant default --force
grep -q "pool 'big' of tenant default flushed: dropped $entries entries" "$T/flush.out" ||
	fail "flush output: $(cat "$T/flush.out")"
echo "measured: flush of $entries entries took $OB_MS ms; info answered after $OB_INFO_MS ms; a new connection's 200 requests took $OB_CONN_MS ms meanwhile"
ok "operator flush on the bulk thread: info and a new tenant connection served while it ran"
[ "$(info entries)" -lt 1000 ] || fail "entries left after the flush: $(info entries)"
stop_daemon "$DPID" || fail "utmemd exit status $?"

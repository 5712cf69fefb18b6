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
now_ms() { echo $(($(date +%s%N) / 1000000)); }
"$UTMEM_BENCH" --addr "unix:$RUN/utmemd.sock" --pool big --op put --value-size 16 \
	--keys "$N" --requests 1 --preload --connections 1 --pipeline 64 --json >"$T/fill.json" ||
	fail "fill: $(cat "$T/fill.json")"
entries=$(info entries)
[ "$entries" -ge "$N" ] || fail "filled $entries entries, want $N"
t0=$(now_ms)
ctl pool flush big --tenant default --force >"$T/flush.out" 2>&1 &
FPID=$!
running=0
for i in $(seq 200); do
	running=$(info bulk_running)
	[ "$running" = 1 ] && break
	kill -0 "$FPID" 2>/dev/null || break
	sleep 0.01
done
[ "$running" = 1 ] || fail "the operator's flush never showed on the bulk thread (bulk_running $running)"
t1=$(now_ms)
"$UTMEM_BENCH" --addr "unix:$RUN/utmemd.sock" --pool other --op mix --value-size 64 \
	--keys 100 --requests 200 --warmup 0 --json >"$T/during.json" ||
	fail "a new connection during the flush: $(cat "$T/during.json")"
t2=$(now_ms)
still=$(info bulk_running)
wait "$FPID" || fail "pool flush: $(cat "$T/flush.out")"
t3=$(now_ms)
grep -q "pool 'big' of tenant default flushed: dropped $entries entries" "$T/flush.out" ||
	fail "flush output: $(cat "$T/flush.out")"
[ "$still" = 1 ] || fail "the flush ended before the new connection was served: not shown (flush took $((t3 - t0)) ms)"
echo "measured: flush of $entries entries took $((t3 - t0)) ms; info answered after $((t1 - t0)) ms; a new connection's 200 requests took $((t2 - t1)) ms meanwhile"
[ $((t2 - t1)) -lt 1000 ] || fail "the new connection took $((t2 - t1)) ms during the flush"
ok "operator flush on the bulk thread: info and a new tenant connection served while it ran"
[ "$(info entries)" -lt 1000 ] || fail "entries left after the flush: $(info entries)"
stop_daemon "$DPID" || fail "utmemd exit status $?"

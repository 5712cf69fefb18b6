#!/usr/bin/env bash
# An operator's capacity lowered far below what is held: the evictions run
# on the bulk thread, not on the main loop, which accepts every tenant's new
# connections and serves the admin socket (docs/security.md). While
# `utmemctl capacity set` evicts 1.2 million small values, utmemctl info
# answers (and shows the job running), a new tenant connection is accepted
# and served, and the store does not grow; the command then reports what it
# evicted and the charge fits the new capacity. Before this, info and the
# new connection waited for the whole shrink (bulk_running stayed 0: it ran
# on the main loop). The same for a tenant's max.
. "$(dirname "$0")/lib.sh"
RUN=$T/run
N=1200000
printf '[utmemd]\ncapacity = 2G\nworkers = 2\n[tenant default]\n[tenant other]\n' >"$T/d.ini"
start_daemon d "$RUN" -c "$T/d.ini"
info() { ctl info | awk -v k="$1" '$1 == k { print $2 }'; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
fill() {
	"$UTMEM_BENCH" --addr "unix:$RUN/utmemd.sock" --pool big --ephemeral --op put \
		--value-size 16 --keys "$N" --requests 1 --preload --connections 1 \
		--pipeline 64 --json >"$T/fill.json" || fail "fill: $(cat "$T/fill.json")"
	entries=$(info entries)
	[ "$entries" -ge "$N" ] || fail "filled $entries entries, want $N"
}

# shrink WHAT CMD...: run the lowering command, probe while it evicts.
shrink() {
	local what=$1 t0 t1 t2 t3 running=0 still charged0 charged1
	shift
	charged0=$(info charged_bytes)
	t0=$(now_ms)
	ctl "$@" >"$T/shrink.out" 2>&1 &
	SPID=$!
	for i in $(seq 300); do
		running=$(info bulk_running)
		[ "$running" = 1 ] && break
		kill -0 "$SPID" 2>/dev/null || break
		sleep 0.01
	done
	[ "$running" = 1 ] || fail "$what: the eviction never showed on the bulk thread (bulk_running $running)"
	t1=$(now_ms)
	charged1=$(info charged_bytes)
	"$UTMEM_BENCH" --addr "unix:$RUN/other.sock" --pool p --op mix --value-size 64 \
		--keys 100 --requests 200 --warmup 0 --json >"$T/during.json" ||
		fail "$what: a new connection during the shrink: $(cat "$T/during.json")"
	t2=$(now_ms)
	still=$(info bulk_running)
	wait "$SPID" || fail "$what: $(cat "$T/shrink.out")"
	t3=$(now_ms)
	grep -q "evicted [0-9]* entries to fit" "$T/shrink.out" ||
		fail "$what: output: $(cat "$T/shrink.out")"
	[ "$still" = 1 ] || fail "$what: the shrink ended before the new connection was served: not shown (it took $((t3 - t0)) ms)"
	[ "$charged1" -le "$charged0" ] || fail "$what: the store grew during the shrink: $charged0 -> $charged1"
	echo "measured: $what took $((t3 - t0)) ms; info answered after $((t1 - t0)) ms; a new connection's 200 requests took $((t2 - t1)) ms meanwhile"
	[ $((t2 - t1)) -lt 2000 ] || fail "$what: the new connection took $((t2 - t1)) ms during the shrink"
}

fill
shrink "capacity 2G -> 4M" capacity set 4M --force
ok "capacity lowered: evicted on the bulk thread, info and a new tenant connection served meanwhile: $(grep evicted "$T/shrink.out")"
[ "$(info charged_bytes)" -le $((4 << 20)) ] || fail "charged $(info charged_bytes) after capacity set 4M"

ctl capacity set 2G >/dev/null || fail "capacity back to 2G"
fill
shrink "tenant max -> 4M" tenant set default --max 4M --force
ok "tenant max lowered: the same: $(grep evicted "$T/shrink.out")"
[ "$(ctl --json tenant list | tr ',' '\n' | grep -c '"name"')" -ge 2 ] || fail "tenants gone"
stop_daemon "$DPID" || fail "utmemd exit status $?"

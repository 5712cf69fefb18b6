#!/usr/bin/env bash
# An operator's capacity lowered far below what is held: the evictions run
# on the bulk thread, not on the main loop, which accepts every tenant's new
# connections and serves the admin socket (docs/security.md). While
# `utmemctl capacity set` evicts 1.2 million small values, utmemctl info
# answers (and shows the job running), a new tenant connection is accepted
# and served; the command then reports what it evicted and the charge fits
# the new capacity. Before this, info and the new connection waited for the
# whole shrink (bulk_running stayed 0: it ran on the main loop). The same
# for a tenant's max, for removing a tenant (its entries dropped), and for
# a SIGHUP that lowers the capacity (a job of the daemon's own, its end
# logged, finished even when utmemd is stopped meanwhile).
. "$(dirname "$0")/lib.sh"
RUN=$T/run
# Enough that every job is still running when the probe is done; under
# TSan (SLOWDOWN, lib.sh) a tenth lasts as long and the test 2 min less.
N=$((1200000 / SLOWDOWN))
printf '[utmemd]\ncapacity = 2G\nworkers = 2\n[tenant default]\n[tenant other]\n[tenant gone]\n' >"$T/d.ini"
start_daemon d "$RUN" -c "$T/d.ini"
info() { ctl info | awk -v k="$1" '$1 == k { print $2 }'; }
fill() {
	"$UTMEM_BENCH" --addr "unix:$RUN/${1:-utmemd}.sock" --pool big --ephemeral --op put \
		--value-size 16 --keys "$N" --requests 1 --preload --connections 1 \
		--pipeline 64 --json >"$T/fill.json" || fail "fill: $(cat "$T/fill.json")"
	entries=$(info entries)
	[ "$entries" -ge "$N" ] || fail "filled $entries entries, want $N"
}

# shrink WHAT CMD...: run the lowering command, probe while it evicts.
shrink() {
	local what=$1
	shift
	op_on_bulk "$what" "unix:$RUN/other.sock" "$T/shrink.out" "$@"
	grep -q "evicted [0-9]* entries to fit" "$T/shrink.out" ||
		fail "$what: output: $(cat "$T/shrink.out")"
	echo "measured: $what took $OB_MS ms; info answered after $OB_INFO_MS ms; a new connection's 200 requests took $OB_CONN_MS ms meanwhile"
}

fill
shrink "capacity 2G -> 4M" capacity set 4M --force
ok "capacity lowered: evicted on the bulk thread, info and a new tenant connection served meanwhile: $(grep evicted "$T/shrink.out")"
[ "$(info charged_bytes)" -le $((4 << 20)) ] || fail "charged $(info charged_bytes) after capacity set 4M"

ctl capacity set 2G >/dev/null || fail "capacity back to 2G"
fill
shrink "tenant max -> 4M" tenant set default --max 4M --force
ok "tenant max lowered: the same: $(grep evicted "$T/shrink.out")"

# Removing a tenant: its entries are dropped on the bulk thread too.
before=$(info entries)
fill gone
# Adding it again while its entries are still being dropped: a clear
# refusal, not the store's "File exists".
ob_during() {
	ctl tenant add gone 2>"$T/readd.err" && fail "tenant 'gone' added again during its removal"
	grep -qF "tenant 'gone' is still being removed" "$T/readd.err" ||
		fail "adding a tenant being removed: $(cat "$T/readd.err")"
}
op_on_bulk "removing a tenant of $N entries" "unix:$RUN/other.sock" "$T/remove.out" \
	tenant remove gone --force
grep -q "tenant 'gone' removed: dropped [0-9]* entries" "$T/remove.out" ||
	fail "remove output: $(cat "$T/remove.out")"
echo "measured: removing a tenant of $N entries took $OB_MS ms; info answered after $OB_INFO_MS ms; a new connection's 200 requests took $OB_CONN_MS ms meanwhile"
[ "$(info entries)" -le "$before" ] || fail "entries left after the removal: $(info entries), $before before the fill"
ctl tenant list | grep -q "^gone " && fail "tenant 'gone' still listed"
unset -f ob_during
ctl tenant add gone >/dev/null || fail "tenant 'gone' not added again after its removal"
ok "tenant removed: entries dropped on the bulk thread, info and a new tenant connection served meanwhile: $(head -n 1 "$T/remove.out")"
[ "$(ctl --json tenant list | tr ',' '\n' | grep -c '"name"')" -ge 2 ] || fail "tenants gone"

# SIGHUP: a file that lowers the capacity is the same work with nobody to
# answer: a job of the daemon's own on the bulk thread, its end logged.
# Before, the main loop evicted: info (and every new connection) waited,
# and bulk_running stayed 0.
evictions_logged() { grep -c "entries to fit the lowered limits" "$T/d.log"; }
# hup CAPACITY: the file with that capacity (and the three tenants), then
# SIGHUP; LOGGED is the count of eviction lines before it.
hup() {
	printf '[utmemd]\ncapacity = %s\nworkers = 2\n[tenant default]\n[tenant other]\n[tenant gone]\n' \
		"$1" >"$T/d.ini"
	logged=$(evictions_logged)
	kill -HUP "$DPID"
}
# wait_bulk WHAT: the bulk thread shows a job within 3 s.
wait_bulk() {
	for _ in $(seq 300); do
		[ "$(info bulk_running)" = 1 ] && return 0
		sleep 0.01
	done
	fail "$1 never showed on the bulk thread"
}

hup 2G # back to the file's capacity, default's max lifted
for _ in $(seq 100); do
	[ "$(ctl tenant list | awk '$1 == "default" { print $4 }')" != 4.0M ] && break
	sleep 0.05
done
fill
t0=$(($(date +%s%N) / 1000000))
hup 4M
wait_bulk "SIGHUP's evictions"
t1=$(($(date +%s%N) / 1000000))
"$UTMEM_BENCH" --addr "unix:$RUN/other.sock" --pool probe --op mix --value-size 64 \
	--keys 100 --requests 200 --warmup 0 --json >"$T/hup.probe" ||
	fail "SIGHUP: a new connection meanwhile: $(cat "$T/hup.probe")"
t2=$(($(date +%s%N) / 1000000))
[ "$(info bulk_running)" = 1 ] ||
	fail "SIGHUP's evictions ended before the new connection was served: not shown"
[ $((t2 - t1)) -lt 2000 ] || fail "SIGHUP: the new connection took $((t2 - t1)) ms meanwhile"
for _ in $(seq 400); do
	[ "$(evictions_logged)" -gt "$logged" ] && break
	sleep 0.05
done
[ "$(evictions_logged)" -gt "$logged" ] || fail "no log line for the SIGHUP's evictions"
[ "$(info charged_bytes)" -le $((4 << 20)) ] || fail "charged $(info charged_bytes) after SIGHUP to 4M"
echo "measured: SIGHUP to 4M: info answered after $((t1 - t0)) ms; a new connection's 200 requests took $((t2 - t1)) ms meanwhile; $(grep -o 'evicted [0-9]* entries to fit the lowered limits.*' "$T/d.log" | tail -n 1)"
ok "SIGHUP lowering the capacity: evicted on the bulk thread, logged, info and a new tenant connection served meanwhile"

# Stopped while a SIGHUP's job is queued or running: the bulk thread runs
# it to its end (its end is logged from the main loop after the thread
# stopped), and utmemd exits 0.
hup 2G
for _ in $(seq 100); do
	[ "$(info capacity_bytes)" = $((2 << 30)) ] && break
	sleep 0.05
done
fill
hup 4M
wait_bulk "the second SIGHUP's evictions"
stop_daemon "$DPID" || fail "utmemd stopped during a SIGHUP's evictions: exit status $?"
grep -q "signal 15: shutting down" "$T/d.log" || fail "no shutdown line"
[ "$(evictions_logged)" -gt "$logged" ] ||
	fail "stopped during a SIGHUP's evictions: the job's end was never logged"
ok "stopped during a SIGHUP's evictions: the job ran to its end (logged), exit 0"

#!/usr/bin/env bash
# Asynchronous requests (utmem_submit_get/_invalidate/_put/_stats/
# _server_info, utmem_event_fd, utmem_reap) against a real utmemd: submitted GETs, probes, pops and INVALIDATEs
# mixed with synchronous and posted PUTs and GETs, every result checked by
# content, waited for by polling the event descriptor; the bound of
# UTMEM_ASYNC_MAX; PUTs beyond credit larger than half the ring, through
# it, with replies waiting; posted PUTs while 6 MiB of replies wait
# unread; on the fast path and on the socket alone
# (UTMEM_FAST_PATH=0). Then utmemd is stopped with requests outstanding
# and killed: each completes with a link error, none vanishes, and the
# client works again on a restarted utmemd. ASYNC_SEED=N replays a run.
. "$(dirname "$0")/lib.sh"
RUN=$T/run
printf '[utmemd]\ncapacity = 1G\nworkers = 2\nmax_value = 8M\n[tenant default]\n[tenant small]\nmax = 1M\n[tenant mid]\nmax = 4M\n' >"$T/d.ini"
start_daemon d "$RUN" -c "$T/d.ini"
ADDR="unix:$RUN/utmemd.sock"
"$E2E_ASYNC" mix "$ADDR" "${ASYNC_SEED:-0}" 20000 ||
	fail "async mix on the fast path (replay: ASYNC_SEED=<seed above>)"
ok "submitted requests interleaved with sync and posted ones, fast path"
UTMEM_FAST_PATH=0 "$E2E_ASYNC" mix "$ADDR" "${ASYNC_SEED:-0}" 5000 ||
	fail "async mix on the socket (replay: ASYNC_SEED=<seed above>)"
ok "the same on the socket alone"
for fp in 1 0; do
	out=$(UTMEM_FAST_PATH=$fp "$E2E_ASYNC" refuse "unix:$RUN/small.sock") ||
		fail "submitted PUTs beyond the quota (fast path $fp): $out"
	ok "submitted PUTs beyond the quota, fast path $fp: $out"
done
for fp in 1 0; do
	out=$(UTMEM_FAST_PATH=$fp "$E2E_ASYNC" bigput "unix:$RUN/mid.sock") ||
		fail "submitted PUTs larger than half the ring (fast path $fp): $out"
	ok "fast path $fp: $out"
done
for fp in 1 0; do
	out=$(UTMEM_FAST_PATH=$fp "$E2E_ASYNC" replywait "$ADDR") ||
		fail "posted and synchronous requests with replies unread (fast path $fp): $out"
	ok "fast path $fp: $out"
done
for fp in 1 0; do
	out=$(UTMEM_FAST_PATH=$fp "$E2E_ASYNC" stats "$ADDR") ||
		fail "submitted STATS and SERVER_INFO (fast path $fp): $out"
	ok "submitted STATS and SERVER_INFO count the PUTs before them, fast path $fp: $out"
done

wait_line() { wait_output "$1" "^$2\$" "$CPID"; }

for mode in fast socket; do
	F=$T/flags-$mode
	mkdir -p "$F"
	if [ $mode = socket ]; then export UTMEM_FAST_PATH=0; fi
	"$E2E_ASYNC" kill "$ADDR" "$F" >"$T/kill-$mode.out" 2>"$T/kill-$mode.log" &
	CPID=$!
	PIDS+=("$CPID")
	wait_line "$T/kill-$mode.out" READY || fail "$mode: client not ready"
	freeze_pid "$DPID"
	touch "$F/stopped"
	wait_line "$T/kill-$mode.out" SUBMITTED || { kill -CONT "$DPID"; fail "$mode: submits blocked"; }
	kill -KILL "$DPID"
	wait "$DPID" 2>/dev/null
	touch "$F/killed"
	wait_line "$T/kill-$mode.out" DEAD || fail "$mode: outstanding requests did not complete after the kill"
	start_daemon d2 "$RUN" -c "$T/d.ini"
	touch "$F/restarted"
	wait "$CPID" || fail "$mode: client failed around the kill"
	ok "$mode: utmemd killed with requests outstanding: each completed with a link error; works after restart"
	unset UTMEM_FAST_PATH
done
stop_daemon "$DPID" || fail "utmemd exit status $?"

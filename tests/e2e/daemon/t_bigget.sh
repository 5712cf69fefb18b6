#!/bin/bash
# t_bigget.sh — pipelined GETs of large values through utmemd's segmented
# output queue: 1 MiB values with 8 requests in flight per connection, a
# PUT/GET mix of 200 KiB values, and small values deeply pipelined, each
# checked byte for byte by utmem-bench --verify. The daemon must survive
# and stop cleanly (under ASan, a leak or overflow fails the stop).
# Needs UTMEMD and UTMEM_BENCH (set by meson).
. "$(dirname "$0")/lib.sh"

RUN=$T/run
mkdir -p "$RUN"
start_daemon d "$RUN"

# bench NAME ARGS...: one verified run; fails on a non-zero exit or errors.
NRUN=0
bench() {
	local name=$1 out log
	shift
	NRUN=$((NRUN + 1))
	log=$T/bench$NRUN.log
	out=$("$UTMEM_BENCH" --target utmem --addr "$RUN/utmemd.sock" --verify \
		--warmup 0 --max-time 60 --json "$@" 2>"$log") ||
		fail "$name: utmem-bench exited $?: $out"
	case $out in
	*'"errors":0,'*) ;;
	*) fail "$name: errors reported: $out" ;;
	esac
	case $out in
	*'"misses":0,'*) ;;
	*) fail "$name: misses reported: $out" ;;
	esac
	kill -0 "$DPID" 2>/dev/null || fail "$name: utmemd died"
	ok "$name"
}

bench "1 MiB GETs, 2 connections x 8 in flight" --op get --value-size 1M \
	--keys 16 --connections 2 --pipeline 8 --requests 400
bench "200 KiB PUT/GET mix, 16 in flight" --op mix --get-ratio 0.7 \
	--value-size 200K --keys 32 --connections 2 --pipeline 16 --requests 800
bench "100-byte GETs, 64 in flight" --op get --value-size 100 \
	--keys 1000 --connections 2 --pipeline 64 --requests 20000
bench "1 MiB GETs again after small ones (recycled segments)" --op get \
	--value-size 1M --keys 16 --connections 1 --pipeline 4 --requests 200

stop_daemon "$DPID" || fail "utmemd exited with status $? after the runs"
ok "utmemd stopped cleanly"

#!/usr/bin/env bash
# utmem-bench-smoke.sh — end-to-end smoke test of utmem-bench.
#
# Starts utmemd and redis-server on sockets in a temporary directory, runs
# utmem-bench briefly against each target (native, RESP, memcpy) with small
# values and checks that it answered requests with no error; then checks
# that bad arguments exit 2 with a message and an unreachable daemon exits 1
# with the library's message. Servers are stopped by pid on any exit.
# Usage: utmem-bench-smoke.sh UTMEMD UTMEM-BENCH
set -euo pipefail

UTMEMD=${1:?usage: $0 UTMEMD UTMEM-BENCH}
BENCH=${2:?usage: $0 UTMEMD UTMEM-BENCH}
T=$(mktemp -d "${TMPDIR:-/tmp}/utmem-bench-smoke.XXXXXX")
PIDS=()
FAILS=0

cleanup() {
	local pid i
	# not in a background job that a signal reaches before it execs (it
	# inherits this trap; tests/e2e/daemon/lib.sh)
	[ "$BASHPID" = "$$" ] || return 0
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || continue
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf -- "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "FAIL: $*" >&2
	FAILS=$((FAILS + 1))
}

# wait_socket PATH PID NAME LOG: the server created its socket within 10 s.
wait_socket() {
	local i
	for ((i = 0; i < 200; i++)); do
		[[ -S $1 ]] && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.05
	done
	echo "FAIL: $3 did not create $1; its log:" >&2
	cat "$4" >&2
	exit 1
}

command -v redis-server >/dev/null || { echo "FAIL: no redis-server (make test installs it)"; exit 1; }

mkdir "$T/u"
"$UTMEMD" --run-dir "$T/u" >"$T/utmemd.log" 2>&1 &
PIDS+=($!)
wait_socket "$T/u/utmemd.sock" "${PIDS[-1]}" utmemd "$T/utmemd.log"
redis-server --port 0 --unixsocket "$T/redis.sock" --save '' --appendonly no \
	--daemonize no --dir "$T" >"$T/redis.log" 2>&1 &
PIDS+=($!)
wait_socket "$T/redis.sock" "${PIDS[-1]}" redis-server "$T/redis.log"

# field JSON KEY: a flat field of utmem-bench's JSON line.
field() {
	printf '%s\n' "$1" | sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\).*/\1/p"
}

# run NAME ARGS...: one short run must answer requests without errors.
run() {
	local name=$1 out ops errs rc=0
	shift
	out=$("$BENCH" --duration 0.5 --warmup 0.1 --keys 200 --json \
		--max-time 20 --timeout-ms 5000 "$@" 2>"$T/err") || rc=$?
	if ((rc)); then
		fail "$name: exit status $rc ($(cat "$T/err"))"
		return
	fi
	ops=$(field "$out" ops_per_s)
	errs=$(field "$out" errors)
	if ! awk -v v="$ops" 'BEGIN { exit !(v > 0) }'; then
		fail "$name: ops_per_s '$ops' not > 0: $out"
	elif [[ $errs != 0 ]]; then
		fail "$name: $errs errors: $out"
	else
		echo "ok: $name: $ops ops/s"
	fi
}

U=(--target utmem --addr "unix:$T/u/utmemd.sock")
R=(--target redis --addr "unix:$T/redis.sock")
run "utmem put" "${U[@]}" --op put --value-size 64
run "utmem get pipelined, 2 conns, verified" "${U[@]}" --op get \
	--value-size 1K --connections 2 --pipeline 8 --verify
run "utmem mix ephemeral" "${U[@]}" --op mix --get-ratio 0.5 \
	--value-size 128 --pool smoke-eph --ephemeral --pipeline 4
run "utmem over the shared-memory ring, pipelined" --target utmem \
	--addr "ring:$T/u/utmemd.sock" --op mix --value-size 256 --pipeline 8
run "redis put" "${R[@]}" --op put --value-size 64
run "redis get pipelined, verified" "${R[@]}" --op get --value-size 1K \
	--connections 2 --pipeline 8 --verify
run "memcpy mix" --target memcpy --op mix --value-size 4K
run "utmem get by request count" "${U[@]}" --op get --value-size 64 \
	--requests 500 --pipeline 16

# gets_missed POOL GET-ARGS...: the misses of a GET run over 200 keys.
gets_missed() {
	local pool=$1 out
	shift
	out=$("$BENCH" "${U[@]}" --pool "$pool" --op get --no-preload \
		--value-size 64 --keys 200 --requests 2000 --warmup 0 --json \
		--max-time 20 "$@" 2>"$T/err") || { fail "get $*: $(cat "$T/err")"; echo -1; return; }
	field "$out" misses
}

# --preload makes a PUT run write every key first: a GET of the whole
# keyspace afterwards finds them all. Without it, one timed PUT leaves
# most of them missing (the control that shows the check can fail).
# misses_after_put POOL PUT-ARGS...: one timed PUT, then gets_missed POOL.
misses_after_put() {
	local pool=$1
	shift
	"$BENCH" "${U[@]}" --pool "$pool" --op put --value-size 64 --keys 200 \
		--requests 1 --warmup 0 --max-time 20 "$@" >/dev/null 2>"$T/err" ||
		{ fail "put $*: $(cat "$T/err")"; echo -1; return; }
	gets_missed "$pool"
}
m=$(misses_after_put smoke-preload --preload)
[[ $m == 0 ]] && echo "ok: put --preload stored every key" ||
	fail "put --preload: a GET of the keyspace missed $m times"
m=$(misses_after_put smoke-nopreload)
[[ $m =~ ^[0-9]+$ && $m -gt 0 ]] && echo "ok: put without --preload: $m misses" ||
	fail "put without --preload: misses '$m', expected > 0"

# --key-offset K moves the keyspace to K..K+N-1: a GET of those keys finds
# every one of them, and a GET of 0..N-1 in the same pool none.
"$BENCH" "${U[@]}" --pool smoke-offset --op put --preload --value-size 64 \
	--keys 200 --key-offset 5000 --requests 1 --warmup 0 --max-time 20 \
	>/dev/null 2>"$T/err" || fail "put --key-offset: $(cat "$T/err")"
m=$(gets_missed smoke-offset --key-offset 5000)
[[ $m == 0 ]] && echo "ok: --key-offset 5000: every key found there" ||
	fail "--key-offset 5000: a GET of the same keys missed $m times"
m=$(gets_missed smoke-offset)
[[ $m == 2000 ]] && echo "ok: --key-offset 5000: none of keys 0..199 stored" ||
	fail "--key-offset 5000: a GET of keys 0..199 missed $m times of 2000"

# expect_exit STATUS PATTERN ARGS...: utmem-bench ARGS exits STATUS and says
# something matching PATTERN on stderr.
expect_exit() {
	local want=$1 pat=$2 rc=0
	shift 2
	"$BENCH" "$@" >"$T/out" 2>"$T/err" || rc=$?
	if [[ $rc != "$want" ]]; then
		fail "utmem-bench $*: exit $rc, expected $want"
	elif ! grep -q -- "$pat" "$T/err"; then
		fail "utmem-bench $*: stderr lacks '$pat': $(cat "$T/err")"
	else
		echo "ok: exit $want: $(head -n1 "$T/err")"
	fi
}

expect_exit 2 "pipeline" "${U[@]}" --pipeline 0
expect_exit 2 "target" --target nosuch
expect_exit 2 "invalid --pool '..'" --target memcpy --pool ..
expect_exit 2 "invalid --pool 'a/b'" --target memcpy --pool a/b
expect_exit 2 "addr" --target utmem
expect_exit 2 "value-size" --target memcpy --value-size 12Q
expect_exit 2 "unexpected argument" --target memcpy stray
expect_exit 2 "unknown option" --target memcpy --no-such-option
expect_exit 2 "key-offset" --target memcpy --key-offset x
expect_exit 2 "goes past key" --target memcpy --keys 10 --key-offset 99999995
expect_exit 1 "connect to" --target utmem --addr "unix:$T/absent.sock" \
	--duration 0.2
expect_exit 1 "connect to" --target redis --addr "unix:$T/absent.sock" \
	--duration 0.2

if ((FAILS)); then
	echo "$FAILS check(s) failed" >&2
	exit 1
fi
echo "all utmem-bench smoke checks passed"

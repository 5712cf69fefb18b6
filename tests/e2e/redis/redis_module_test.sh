#!/bin/bash
# End-to-end test of the Redis module utmem.so against a real redis-server
# (Debian's) and a real utmemd, both on Unix sockets in a private temporary
# directory, started here and stopped by their own pid.
#
# It checks every command and alias, binary-safe and 4 MiB values, key
# positions as Redis reports them (COMMAND GETKEYS/INFO), refusals that name
# their cause (-QUOTA, -CAPACITY, -TOOBIG) and leave no old value readable,
# Redis starting before utmemd, utmemd hung (SIGSTOP) and killed (SIGKILL)
# under a live session and under the load of three clients -- a bounded
# error reply, Redis still serving, and TMEM working again (right content)
# once utmemd is back -- POP and DEL blocking only their client (others
# served meanwhile; MULTI and Lua synchronous; utmemd killed with them
# outstanding), and MODULE LOAD with bad
# arguments (a clear log line, Redis keeps running).
#
# With UTMEMCTL, it also moves the tenant's quota at runtime and checks that
# Redis sees the change at once (the elasticity the thesis is about).
#
# usage: redis_module_test.sh UTMEMD MODULE [UTMEMCTL [REDIS_LOAD]]
# Exit 0 = pass, 1 = fail (also without redis-server or redis-cli).
set -u

UTMEMD=${1:?usage: $0 UTMEMD MODULE}
MODULE=${2:?usage: $0 UTMEMD MODULE}
UTMEMCTL=${3:-}
REDIS_LOAD=${4:-}
# The module's per-request timeout in this test. A blocked POP must
# outlive the checks made while it waits (each a redis-cli process: up to
# ~300 ms apiece under make test's parallel load), so not less than 2 s.
TIMEOUT_MS=2000
BOUND_MS=5000           # a failing command must answer within this

# shellcheck source=tests/e2e/freeze.sh
. "$(dirname "$0")/../freeze.sh"

command -v redis-server >/dev/null && command -v redis-cli >/dev/null || {
	echo "FAIL: redis-server or redis-cli not installed (make test installs them)"
	exit 1
}
[ -x "$UTMEMD" ] || { echo "FAIL: no utmemd at $UTMEMD"; exit 1; }
[ -f "$MODULE" ] || { echo "FAIL: no module at $MODULE"; exit 1; }
MODULE=$(readlink -f "$MODULE")

T=$(mktemp -d "${TMPDIR:-/tmp}/utmem-redis-e2e.XXXXXX") || exit 1
RUN=$T/run
USOCK=$RUN/utmemd.sock
UPID= R1PID= R2PID= R3PID=
UGEN=0

# A module built with ASan needs its runtime loaded first in redis-server:
# gcc links the module against libasan.so; clang leaves the __asan_ symbols
# for the host process, so its shared runtime is preloaded instead.
REDIS_ENV=()
asan_rt=$(ldd "$MODULE" 2>/dev/null | awk '/libasan/ { print $3; exit }')
if [ -z "$asan_rt" ] && nm -D --undefined-only "$MODULE" 2>/dev/null |
	grep -q ' __asan_' && command -v clang >/dev/null; then
	asan_rt=$(clang -print-file-name="libclang_rt.asan-$(uname -m).so")
fi
if [ -n "$asan_rt" ]; then
	REDIS_ENV=(env "LD_PRELOAD=$asan_rt"
		"ASAN_OPTIONS=detect_leaks=1:abort_on_error=1"
		"UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1")
fi

# ---- process handling: every process is ours, stopped by its pid ----

stop_pid() { # pid: stop it, wait for it, kill it if it lingers
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill -CONT "$pid" 2>/dev/null
	kill "$pid" 2>/dev/null
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

cleanup() {
	# not in a background job that a signal reaches before it execs (it
	# inherits this trap; tests/e2e/daemon/lib.sh)
	[ "$BASHPID" = "$$" ] || return 0
	stop_pid "$R3PID"
	stop_pid "$R2PID"
	stop_pid "$R1PID"
	stop_pid "$UPID"
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

wait_for() { # description, command...: poll up to 10 s
	local what=$1 i
	shift
	for i in $(seq 100); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "FAIL: timed out waiting for $what"
	dump_logs
	exit 1
}

start_utmemd() { # [config file]
	UGEN=$((UGEN + 1))
	rm -f "$USOCK" # a stale socket of a killed daemon must not look ready
	if [ $# -gt 0 ]; then
		"$UTMEMD" -c "$1" --run-dir "$RUN" >"$T/utmemd.$UGEN.log" 2>&1 &
	else
		"$UTMEMD" --run-dir "$RUN" >"$T/utmemd.$UGEN.log" 2>&1 &
	fi
	UPID=$!
	wait_for "utmemd socket" test -S "$USOCK"
}

stop_utmemd() { stop_pid "$UPID"; UPID=; }

start_redis() { # name, socket, extra args...
	local name=$1 sock=$2
	shift 2
	"${REDIS_ENV[@]}" redis-server --port 0 --unixsocket "$sock" \
		--save '' --appendonly no --dir "$T" \
		--enable-module-command yes --logfile "$T/$name.log" "$@" \
		2>"$T/$name.stderr" &
	LASTPID=$!
	wait_for "redis $name" redis-cli -s "$sock" ping
}

dump_logs() {
	local f
	for f in "$T"/*.log "$T"/*.stderr; do
		[ -f "$f" ] || continue
		echo "---- $(basename "$f") (last 15 lines)"
		tail -n 15 "$f"
	done
}

# ---- checks: each prints what it compared when it fails ----

CHECKS=0 FAILS=0
pass() { CHECKS=$((CHECKS + 1)); }
fail() {
	CHECKS=$((CHECKS + 1)) FAILS=$((FAILS + 1))
	printf 'FAIL: %s\n' "$1"
	shift
	[ $# -gt 0 ] && printf '      %s\n' "$@"
	return 0
}
expect_eq() { # what, got, want
	if [ "$2" == "$3" ]; then pass; else
		fail "$1" "got:  '$2'" "want: '$3'"
	fi
}
expect_prefix() { # what, got, prefix
	if [ "${2#"$3"}" != "$2" ]; then pass; else
		fail "$1" "got:          '$2'" "want prefix:  '$3'"
	fi
}
expect_contains() { # what, got, needle
	if [[ "$2" == *"$3"* ]]; then pass; else
		fail "$1" "got:          '$2'" "want contains: '$3'"
	fi
}
expect_match() { # what, got, extended regex
	if [[ "$2" =~ $3 ]]; then pass; else
		fail "$1" "got:   '$2'" "regex: '$3'"
	fi
}
expect_lt() { # what, got, bound
	echo "measured: $1: $2 (bound $3)"
	if [ "$2" -lt "$3" ]; then pass; else
		fail "$1" "got:   $2" "bound: $3"
	fi
}
expect_log() { # what, log file, fixed text
	if grep -qF -- "$3" "$2"; then pass; else
		fail "$1" "log $(basename "$2") lacks: '$3'"
	fi
}
expect_no_log() { # what, log file, fixed text
	if grep -qF -- "$3" "$2"; then
		fail "$1" "log $(basename "$2") has: '$3'" \
			"$(grep -F -- "$3" "$2" | head -n 3)"
	else
		pass
	fi
}

R1SOCK=$T/redis1.sock
R2SOCK=$T/redis2.sock
r1() { redis-cli -s "$R1SOCK" "$@" 2>&1; }
r1n() { redis-cli -s "$R1SOCK" --no-raw "$@" 2>&1; } # nil shows as (nil)
r2() { redis-cli -s "$R2SOCK" "$@" 2>&1; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
info_field() { r1 tmem.info | tr -d '\r' | sed -n "s/^$1://p"; }

# timed CLI ARGS...: run a redis-cli command through CLI (r1, r3) and time
# it: sets OUT and MS. timed_r1: on redis1.
timed() {
	local t0 cli=$1
	shift
	t0=$(now_ms)
	OUT=$("$cli" "$@")
	MS=$(($(now_ms) - t0))
}
timed_r1() { timed r1 "$@"; }
# best_of N CLI ARGS...: timed N times: MS the fastest, MS_MAX the slowest
# (OUT of the last); best_r1 N ARGS...: on redis1. For the "not held up"
# checks of commands that change nothing after the first: a slow start of
# redis-cli on a loaded machine makes one try slow (420 ms once, with make
# test's other tests on the same two cores); Redis's thread waiting on
# utmemd would hold a try up to the module's timeout (TIMEOUT_MS), which
# MS_MAX < HELD_MS catches.
HELD_MS=1000
best_of() {
	local n=$1 i
	shift
	MS_MIN='' MS_MAX=0
	for ((i = 0; i < n; i++)); do
		timed "$@"
		if [ -z "$MS_MIN" ] || [ "$MS" -lt "$MS_MIN" ]; then MS_MIN=$MS; fi
		if [ "$MS" -gt "$MS_MAX" ]; then MS_MAX=$MS; fi
	done
	MS=$MS_MIN
}
best_r1() { local n=$1; shift; best_of "$n" r1 "$@"; }
# expect_soon WHAT WANT CLI ARGS...: CLI ARGS answers WANT within about
# 5 s (polled: the module links again in the background). MS: how long.
expect_soon() {
	local what=$1 want=$2 t0 i
	shift 2
	t0=$(now_ms)
	for i in $(seq 100); do
		OUT=$("$@")
		[ "$OUT" = "$want" ] && break
		sleep 0.05
	done
	MS=$(($(now_ms) - t0))
	expect_eq "$what" "$OUT" "$want"
}

# expect_linked WHAT WANT CLI ARGS...: the first command after utmemd
# (re)started. The module dials in the background and a command waits for
# the dial 100 ms at most; on a loaded machine (make test's parallel tests)
# a dial can take longer, and the command answers UNAVAILABLE "connecting
# in the background" as docs/redis.md says. Only that answer is asked
# again (for about 5 s); the first other answer must be WANT.
expect_linked() {
	local what=$1 want=$2 i
	shift 2
	for i in $(seq 100); do
		OUT=$("$@")
		[[ "$OUT" == "UNAVAILABLE utmemd at "*"connecting in the background"* ]] ||
			break
		sleep 0.05
	done
	[ "$i" -gt 1 ] && echo "measured: $what: linked after $i tries"
	expect_eq "$what" "$OUT" "$want"
}
put_file() { r1 -x tmem.put "$1" <"$2"; }

mkdir -p "$RUN"

# ---- 1. Redis (with the module) starts before utmemd ----

start_redis redis1 "$R1SOCK" --loadmodule "$MODULE" "addr=unix:$USOCK" \
	pool=e2e "timeout_ms=$TIMEOUT_MS"
R1PID=$LASTPID
expect_log "load without utmemd warns" "$T/redis1.log" "not usable yet"
expect_log "load without utmemd still loads" "$T/redis1.log" \
	"Module 'utmem' loaded"
timed_r1 tmem.put early value
expect_prefix "PUT before utmemd is up" "$OUT" "UNAVAILABLE utmemd at unix:$USOCK"
expect_lt "PUT before utmemd answers in bounded time (ms)" "$MS" "$BOUND_MS"
OUT=$(r1n tmem.get early)
expect_prefix "GET before utmemd is an error, not a miss" "$OUT" \
	"(error) UNAVAILABLE"
expect_eq "INFO before utmemd: connected" "$(info_field connected)" 0
expect_eq "Redis serves while utmemd is absent" "$(r1 ping)" PONG

# ---- 2. utmemd comes up: the next command connects ----

start_utmemd
expect_linked "first PUT once utmemd is up" OK r1 tmem.put k1 v1
expect_eq "GET" "$(r1 tmem.get k1)" v1
expect_eq "INFO connected" "$(info_field connected)" 1
expect_eq "INFO pool" "$(info_field pool)" e2e
expect_eq "INFO kind" "$(info_field kind)" persistent
expect_eq "INFO timeout_ms" "$(info_field timeout_ms)" "$TIMEOUT_MS"
expect_eq "INFO tenant_entries" "$(info_field tenant_entries)" 1
expect_eq "INFO pool_entries" "$(info_field pool_entries)" 1
rinfo() { r1 info utmem | tr -d '\r' | sed -n "s/^utmem_$1://p"; }
expect_eq "Redis INFO utmem: linked" "$(rinfo linked)" 1
expect_eq "Redis INFO utmem: pool" "$(rinfo pool)" e2e
expect_eq "Redis INFO utmem: puts" "$(rinfo puts)" 1
# TMEM.INFO's "# module" lines and Redis's INFO utmem section show the
# same counters, in the same order, with the same values.
expect_eq "TMEM.INFO and Redis INFO list the same counters" \
	"$(r1 tmem.info | tr -d '\r' | sed -n '/^# module$/,/^last_error:/p' |
		sed '1d;$d' | tr '\n' ' ')" \
	"$(r1 info utmem | tr -d '\r' | sed -n '/^# utmem$/,/^$/p' |
		sed -n 's/^utmem_//p' | grep -v -e '^linked:' -e '^connecting:' \
			-e '^addr:' -e '^pool:' -e '^kind:' | tr '\n' ' ')"

# ---- 3. every command and alias ----

expect_eq "TMEMPUT alias" "$(r1 tmemput k2 v2)" OK
expect_eq "TMEMGET alias" "$(r1 tmemget k2)" v2
expect_eq "TMEMGET sees TMEM.PUT" "$(r1 tmemget k1)" v1
expect_eq "PUT replaces" "$(r1 tmem.put k1 v1b)" OK
expect_eq "GET after replace" "$(r1 tmem.get k1)" v1b
expect_eq "GET miss is nil" "$(r1n tmem.get nosuchkey)" "(nil)"
expect_eq "empty value stored" "$(r1 tmem.put empty '')" OK
expect_eq "empty value is not nil" "$(r1n tmem.get empty)" '""'
expect_eq "EXISTS hit" "$(r1 tmem.exists k1)" 1
expect_eq "EXISTS miss" "$(r1 tmem.exists nosuchkey)" 0
expect_eq "EXISTS empty value" "$(r1 tmem.exists empty)" 1
expect_eq "EXISTS counts each named key" "$(r1 tmem.exists k1 k2 nokey k1)" 3
expect_eq "DEL counts deleted keys" "$(r1 tmem.del k1 nokey k2 empty)" 3
expect_eq "DEL again deletes none" "$(r1 tmem.del k1 k2)" 0
expect_eq "GET after DEL is nil" "$(r1n tmem.get k1)" "(nil)"
expect_eq "PUT before POP" "$(r1 tmem.put p1 popped)" OK
expect_eq "POP returns the value" "$(r1 tmem.pop p1)" popped
expect_eq "POP removed it" "$(r1n tmem.get p1)" "(nil)"
expect_eq "POP of a missing key is nil" "$(r1n tmem.pop p1)" "(nil)"
expect_eq "MPUT" "$(r1 tmem.mput a 1 b 2 c 3)" OK
expect_eq "MGET with a miss" "$(r1n tmem.mget a nokey c b | tr '\n' ' ')" \
	'1) "1" 2) (nil) 3) "3" 4) "2" '
expect_eq "MPUT duplicate key: last wins" "$(r1 tmem.mput d x d y)" OK
expect_eq "GET after duplicate MPUT" "$(r1 tmem.get d)" y
# utmemd keys are 1..max_key bytes; Redis allows an empty one.
expect_eq "PUT with an empty key" "$(r1 tmem.put '' v)" \
	"ERR utmemd cannot store an empty key"
expect_eq "MPUT with an empty key stores nothing" \
	"$(r1 tmem.mput e1 v '' v)" "ERR utmemd cannot store an empty key"
expect_eq "MPUT with an empty key: other keys untouched" "$(r1 tmem.exists e1)" 0
le_before=$(info_field last_error)
expect_eq "GET of an empty key is a miss" "$(r1n tmem.get '')" "(nil)"
expect_eq "EXISTS of an empty key" "$(r1 tmem.exists '' a)" 1
expect_eq "DEL of an empty key" "$(r1 tmem.del '')" 0
expect_eq "MGET of an empty key" "$(r1n tmem.mget '' a | tr '\n' ' ')" \
	'1) (nil) 2) "1" '
expect_eq "POP of an empty key is a miss" "$(r1n tmem.pop '')" "(nil)"
nilkey=$(head -c 1100 /dev/zero | tr '\0' n)
expect_eq "GET of a key over max_key is a miss" "$(r1n tmem.get "$nilkey")" "(nil)"
expect_eq "POP of a key over max_key is a miss" "$(r1n tmem.pop "$nilkey")" "(nil)"
# A nil answer is not an error: TMEM.INFO's last_error stays as it was.
expect_eq "nil answers leave last_error alone" "$(info_field last_error)" \
	"$le_before"
expect_eq "PUT arity" "$(r1 tmem.put onlykey)" \
	"ERR wrong number of arguments for 'tmem.put' command"
expect_prefix "GET arity" "$(r1 tmem.get)" "ERR wrong number of arguments"
expect_prefix "DEL arity" "$(r1 tmem.del)" "ERR wrong number of arguments"
expect_prefix "EXISTS arity" "$(r1 tmem.exists)" "ERR wrong number of arguments"
expect_prefix "MPUT odd arity" "$(r1 tmem.mput a 1 b)" \
	"ERR wrong number of arguments"
expect_prefix "MGET arity" "$(r1 tmem.mget)" "ERR wrong number of arguments"
expect_prefix "INFO arity" "$(r1 tmem.info extra)" "ERR wrong number of arguments"

# Many keys: more than one batch (256 operations) per command.
args=()
for i in $(seq 600); do args+=("mk$i" "val$i"); done
expect_eq "MPUT of 600 pairs" "$(r1 tmem.mput "${args[@]}")" OK
keys=()
for i in $(seq 600); do keys+=("mk$i"); done
got=$(r1 tmem.mget "${keys[@]}" | md5sum)
want=$(for i in $(seq 600); do echo "val$i"; done | md5sum)
expect_eq "MGET of 600 keys, in order" "$got" "$want"
expect_eq "EXISTS of 600 keys" "$(r1 tmem.exists "${keys[@]}")" 600
expect_eq "DEL of 600 keys" "$(r1 tmem.del "${keys[@]}")" 600

# ---- 4. binary values: NUL, CR, LF; and 4 MiB ----

printf 'a\0b\r\nc\r\n\0\r' >"$T/bin"
expect_eq "PUT binary" "$(r1 -x tmem.put bin <"$T/bin")" OK
r1 --raw tmem.get bin >"$T/bin.got"
{ cat "$T/bin"; printf '\n'; } >"$T/bin.want" # redis-cli ends with \n
if cmp -s "$T/bin.got" "$T/bin.want"; then pass; else
	fail "GET binary is byte-exact" "got:  $(od -c "$T/bin.got" | head -2)" \
		"want: $(od -c "$T/bin.want" | head -2)"
fi
expect_eq "binary key" "$(printf 'v' | r1 -x tmem.put "$(printf 'k\r\ney')")" OK
expect_eq "GET binary key" "$(r1 tmem.get "$(printf 'k\r\ney')")" v

head -c $((4 << 20)) /dev/urandom >"$T/big"
expect_eq "PUT 4 MiB" "$(r1 -x tmem.put big <"$T/big")" OK
for round in 1 2; do # 1: exact-size path; 2: the grown scratch buffer
	r1 --raw tmem.get big >"$T/big.got"
	if [ "$(head -c $((4 << 20)) "$T/big.got" | md5sum)" == \
		"$(md5sum <"$T/big")" ] &&
		[ "$(stat -c %s "$T/big.got")" -eq $(((4 << 20) + 1)) ]; then
		pass
	else
		fail "GET 4 MiB is byte-exact (round $round)" \
			"got $(stat -c %s "$T/big.got") bytes"
	fi
done
r1 --raw tmem.mget big bin >"$T/mget.got"
{ cat "$T/big"; printf '\n'; cat "$T/bin"; printf '\n'; } >"$T/mget.want"
if cmp -s "$T/mget.got" "$T/mget.want"; then pass; else
	fail "MGET of a 4 MiB and a binary value is byte-exact"
fi
expect_eq "EXISTS of a 4 MiB value" "$(r1 tmem.exists big)" 1
expect_eq "PUT 4 MiB to pop" "$(r1 -x tmem.put bigpop <"$T/big")" OK
r1 --raw tmem.pop bigpop >"$T/bigpop.got"
if [ "$(head -c $((4 << 20)) "$T/bigpop.got" | md5sum)" == "$(md5sum <"$T/big")" ]; then
	pass
else
	fail "POP of 4 MiB is byte-exact" "got $(stat -c %s "$T/bigpop.got") bytes"
fi
expect_eq "POP of 4 MiB removed it" "$(r1 tmem.exists bigpop)" 0

# Many values larger than MGET's per-key slots, across several batches.
keys=()
: >"$T/many.want"
for i in $(seq 20); do
	head -c $((100000 + i * 997)) /dev/urandom >"$T/v$i"
	r1 -x tmem.put "big$i" <"$T/v$i" >/dev/null
	keys+=("big$i")
	{ cat "$T/v$i"; printf '\n'; } >>"$T/many.want"
done
r1 --raw tmem.mget "${keys[@]}" >"$T/many.got"
if cmp -s "$T/many.got" "$T/many.want"; then pass; else
	fail "MGET of 20 values of ~100 KB is byte-exact and in order"
fi
expect_eq "DEL of the 20 values" "$(r1 tmem.del "${keys[@]}")" 20

# Inside MULTI/EXEC and Lua, like any Redis command.
expect_eq "TMEM in MULTI/EXEC" \
	"$(printf 'MULTI\nTMEM.PUT tx 1\nTMEM.GET tx\nEXEC\n' | r1 | tr '\n' ' ')" \
	"OK QUEUED QUEUED OK 1 "
expect_eq "TMEM from Lua" \
	"$(r1 eval "redis.call('tmem.put', KEYS[1], 'lua') return redis.call('tmem.get', KEYS[1])" 1 lk)" \
	lua

# ---- 4b. POP and DEL block only their client (Redis >= 7) ----
#
# The module blocks the calling client while utmemd answers POP and DEL
# (asynchronous libutmem requests, Redis's event loop watching them), so
# Redis's thread never waits for utmemd; inside MULTI/EXEC and scripts,
# where a client cannot block, they run synchronously. Redis's own INFO
# section is read for the counters: it never asks utmemd.
rinfo1() { r1 info utmem | tr -d '\r' | sed -n "s/^utmem_$1://p"; }
# wait_info FIELD MIN: the module's counter reaches MIN (polled, 10 s).
wait_info() {
	local i
	for i in $(seq 200); do
		[ "$(rinfo1 "$1")" -ge "$2" ] 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# ping_while_waiting N WHAT WHY OUT CMD...: stop utmemd, run the client
# command CMD in the background (its stdin the caller's, its answer in
# OUT, its pid in wpid), wait until N more asynchronous requests are
# outstanding (else fail with WHY), and check that PING is answered
# meanwhile, within 300 ms. utmemd is left stopped.
ping_while_waiting() {
	local n=$1 what=$2 why=$3 out=$4 inflight0
	shift 4
	freeze_pid "$UPID"
	inflight0=$(rinfo1 async_inflight)
	"$@" <&0 >"$out" &
	wpid=$!
	wait_info async_inflight $((inflight0 + n)) || fail "$why"
	best_r1 3 ping
	expect_eq "PING while $what waits for utmemd" "$OUT" PONG
	expect_lt "PING while $what waits is not held up (ms)" "$MS" 300
	expect_lt "PING while $what waits, slowest of 3 (ms)" "$MS_MAX" "$HELD_MS"
}
blocked0=$(rinfo1 async_blocked)
# A PUT followed at once by POP/DEL on the same connection sees the PUT
# (the requests follow the posted PUT through the same ring).
expect_eq "PUT then POP/DEL/EXISTS/MGET at once, one connection" \
	"$(printf '%s\n' 'TMEM.PUT s1 v1' 'TMEM.POP s1' 'TMEM.PUT s2 v2' \
		'TMEM.DEL s2 s1' 'TMEM.EXISTS s2' 'TMEM.PUT s3 v3' 'TMEM.PUT s4 v4' \
		'TMEM.MGET s3 s2 s4' 'TMEM.POP s3' 'TMEM.MGET s3 s4' | r1 | tr '\n' ' ')" \
	"OK v1 OK 1 0 OK OK v3  v4 v3  v4 "
blocked1=$(rinfo1 async_blocked)
# An EXISTS or MGET whose first key still has its PUT posted, not applied,
# asks utmemd (batch_views) and blocks its client too: a one-sided read
# never waits for utmemd. Which do depends on how fast utmemd applies.
bv=$(rinfo1 batch_views)
expect_eq "POP and DEL blocked their client, and each EXISTS/MGET not read one-sidedly" \
	"$((blocked1 - blocked0))" $((3 + bv))
expect_lt "EXISTS/MGET asking utmemd (batch_views), of 3" "$bv" 4
expect_match "INFO shows the async counters" "$(r1 tmem.info | tr -d '\r')" \
	"async_inflight:0"

# Several clients at once, each a pipeline of PUT/POP/DEL/EXISTS/MGET on
# keys of its own; every answer is checked by content.
mixed_client() { # n: print the commands of client n
	local n=$1 i
	for i in $(seq 40); do
		printf 'TMEM.PUT c%s-%s val-%s-%s\n' "$n" "$i" "$n" "$i"
		printf 'TMEM.PUT d%s-%s dv-%s\n' "$n" "$i" "$i"
		printf 'TMEM.MGET c%s-%s nokey d%s-%s\n' "$n" "$i" "$n" "$i"
		printf 'TMEM.POP c%s-%s\n' "$n" "$i"
		printf 'TMEM.EXISTS c%s-%s d%s-%s\n' "$n" "$i" "$n" "$i"
		printf 'TMEM.DEL d%s-%s c%s-%s d%s-%s\n' "$n" "$i" "$n" "$i" "$n" "$i"
		printf 'TMEM.POP d%s-%s\n' "$n" "$i"
		printf 'PING\n'
	done
}
mixed_want() { # n: the answers client n must get
	local n=$1 i
	for i in $(seq 40); do
		printf 'OK\nOK\nval-%s-%s\n\ndv-%s\nval-%s-%s\n1\n1\n\nPONG\n' \
			"$n" "$i" "$i" "$n" "$i"
	done
}
cpids=()
for n in 1 2 3 4; do
	mixed_client "$n" | r1 >"$T/mixed.$n.out" &
	cpids+=($!)
done
for p in "${cpids[@]}"; do wait "$p"; done
for n in 1 2 3 4; do
	if [ "$(cat "$T/mixed.$n.out")" = "$(mixed_want "$n")" ]; then pass; else
		fail "client $n of 4: POP/DEL/EXISTS/MGET answers by content" \
			"$(diff <(mixed_want "$n") "$T/mixed.$n.out" | head -5)"
	fi
done
expect_eq "every async request completed" "$(rinfo1 async_inflight)" 0

# While one client's POP waits for utmemd (stopped), others are served.
expect_eq "PUT before the stopped POP" "$(r1 tmem.put w1 waited)" OK
expect_eq "GET before the stopped POP (applied)" "$(r1 tmem.get w1)" waited
ping_while_waiting 1 "a POP" "the POP is outstanding while utmemd is stopped" \
	"$T/w1.out" r1 tmem.pop w1
best_r1 3 set plainkey plainval
expect_eq "SET while a POP waits for utmemd" "$OUT" OK
expect_lt "SET while a POP waits is not held up (ms)" "$MS" 300
expect_lt "SET while a POP waits, slowest of 3 (ms)" "$MS_MAX" "$HELD_MS"
kill -CONT "$UPID"
wait "$wpid"
expect_eq "the waiting POP returns the value once utmemd resumes" \
	"$(cat "$T/w1.out")" waited
expect_eq "the POP removed it" "$(r1n tmem.get w1)" "(nil)"

# TMEM.INFO asks utmemd too (three requests): while it waits, others are
# served; it answers once utmemd does. In MULTI it waits on Redis's thread.
ping_while_waiting 3 TMEM.INFO \
	"TMEM.INFO's requests are outstanding while utmemd is stopped" \
	"$T/winfo.out" r1 tmem.info
kill -CONT "$UPID"
wait "$wpid"
winfo=$(tr -d '\r' <"$T/winfo.out")
expect_match "TMEM.INFO answered once utmemd resumed: connected" "$winfo" \
	"connected:1"
expect_match "... with utmemd's counters and server text" "$winfo" \
	"server_version:.*tenant_entries:[0-9]+.*pool_entries:[0-9]+"
sync0=$(rinfo1 async_sync)
expect_match "TMEM.INFO in MULTI/EXEC (synchronous)" \
	"$(printf '%s\n' MULTI TMEM.INFO EXEC | r1 | tr -d '\r' | tr '\n' ' ')" \
	"connected:1 .*pool_entries:[0-9]+"
expect_eq "... took the synchronous path" "$(($(rinfo1 async_sync) - sync0))" 1

# A POP utmemd does not answer within timeout_ms: -TIMEOUT, bounded.
expect_eq "PUT before the timed-out POP" "$(r1 tmem.put w2 x)" OK
expect_eq "GET before the timed-out POP" "$(r1 tmem.get w2)" x
freeze_pid "$UPID"
timed_r1 tmem.pop w2
expect_prefix "POP while utmemd is stopped" "$OUT" "TIMEOUT utmemd at"
expect_lt "POP while utmemd is stopped answers in bounded time (ms)" \
	"$MS" "$BOUND_MS"
expect_eq "timeouts of blocked commands are counted" \
	"$([ "$(rinfo1 async_timeouts)" -ge 1 ] && echo yes)" yes
expect_eq "Redis serves after the timed-out POP" "$(r1 ping)" PONG
kill -CONT "$UPID"
expect_eq "TMEM works again after utmemd resumes" "$(r1 tmem.put w3 y)" OK
expect_eq "DEL after the resume" "$(r1 tmem.del w3 w2)" 1

# Inside MULTI/EXEC and Lua a client cannot block: the synchronous path.
sync0=$(rinfo1 async_sync)
expect_eq "POP and DEL in MULTI/EXEC" \
	"$(printf '%s\n' MULTI 'TMEM.PUT mx 1' 'TMEM.PUT my 2' 'TMEM.POP mx' \
		'TMEM.DEL my mx' 'TMEM.POP mx' EXEC | r1 | tr '\n' ' ')" \
	"OK QUEUED QUEUED QUEUED QUEUED QUEUED OK OK 1 1  "
expect_eq "POP from Lua" \
	"$(r1 eval "redis.call('tmem.put', KEYS[1], 'lp') return redis.call('tmem.pop', KEYS[1])" 1 lp)" \
	lp
expect_eq "DEL from Lua" \
	"$(r1 eval "redis.call('tmem.put', KEYS[1], 'x') return redis.call('tmem.del', KEYS[1], 'nokey')" 1 ld)" \
	1
# Nine commands: 3 POPs, 2 DELs and 4 PUTs (a PUT whose credit covers it is
# posted either way; where it does not, it waits on Redis's thread here).
expect_eq "MULTI and Lua took the synchronous path (async_sync +9)" \
	"$(($(rinfo1 async_sync) - sync0))" 9

# utmemd killed with POPs and DELs outstanding: each client gets an error
# (never a hang, never a wrong value), Redis serves on, and after the
# restart the commands work again.
for i in 1 2 3; do r1 tmem.put kp$i v$i >/dev/null; done
expect_eq "GET before the kill (applied)" "$(r1 tmem.get kp3)" v3
freeze_pid "$UPID"
inflight0=$(rinfo1 async_inflight)
kpids=()
for i in 1 2 3; do
	r1 tmem.pop kp$i >"$T/kp$i.out" &
	kpids+=($!)
	r1 tmem.del kp$i nokey >"$T/kd$i.out" &
	kpids+=($!)
done
wait_info async_inflight $((inflight0 + 9)) ||
	fail "POPs and DELs outstanding while utmemd is stopped" \
		"async_inflight: $(rinfo1 async_inflight)"
expect_eq "PING with POPs and DELs outstanding" "$(r1 ping)" PONG
kill -KILL "$UPID"
wait "$UPID" 2>/dev/null
UPID=
t0=$(now_ms)
for p in "${kpids[@]}"; do wait "$p"; done
expect_lt "outstanding POPs/DELs answered after the kill (ms)" \
	"$(($(now_ms) - t0))" "$BOUND_MS"
for i in 1 2 3; do
	expect_match "POP outstanding at the kill: an error" \
		"$(cat "$T/kp$i.out")" "^(UNAVAILABLE|TIMEOUT) utmemd at"
	expect_match "DEL outstanding at the kill: an error" \
		"$(cat "$T/kd$i.out")" "^(UNAVAILABLE|TIMEOUT) utmemd at"
done
expect_eq "Redis serves after the kill" "$(r1 ping)" PONG
start_utmemd
# The first command finds the link dead and is retried on a new one: the
# retry answers it (a DEL first failed here although its retry had worked).
expect_linked "DEL first after the restart" 0 r1 tmem.del kp1
expect_eq "PUT after the restart" "$(r1 tmem.put kp1 again)" OK
expect_eq "POP after the restart" "$(r1 tmem.pop kp1)" again
expect_eq "DEL after the restart" "$(r1 tmem.del kp1 kp2)" 0
expect_eq "every async request completed after the restart" \
	"$(rinfo1 async_inflight)" 0
# The restarted utmemd is empty: restore what section 5 reads.
expect_eq "PUT tx again for the ACL checks" "$(r1 tmem.put tx 1)" OK

# The same on the socket alone (UTMEM_FAST_PATH=0: no ring, no value
# region): POP, DEL, MGET and EXISTS block only their client (their
# asynchronous requests go over the socket; EXISTS asks for no value).
R3SOCK=$T/redis3.sock
saved_env=("${REDIS_ENV[@]}")
if [ ${#REDIS_ENV[@]} -gt 0 ]; then
	REDIS_ENV+=(UTMEM_FAST_PATH=0)
else
	REDIS_ENV=(env UTMEM_FAST_PATH=0)
fi
start_redis redis3 "$R3SOCK" --loadmodule "$MODULE" "addr=unix:$USOCK" \
	pool=e2e3 "timeout_ms=$TIMEOUT_MS"
R3PID=$LASTPID
REDIS_ENV=("${saved_env[@]}")
r3() { redis-cli -s "$R3SOCK" "$@" 2>&1; }
expect_eq "socket only: PUT, POP, DEL, EXISTS, MGET by content" \
	"$(printf '%s\n' 'TMEM.PUT s1 v1' 'TMEM.PUT s2 v2' 'TMEM.POP s1' \
		'TMEM.EXISTS s1 s2 s2' 'TMEM.MGET s2 s1' 'TMEM.DEL s2 s1' \
		'TMEM.EXISTS s2' 'TMEM.POP s2' | r3 | tr '\n' ' ')" \
	"OK OK v1 2 v2  1 0  "
r3info() { r3 info utmem | tr -d '\r' | sed -n "s/^utmem_$1://p"; }
# On the socket there is no credit: each PUT blocks its client too (2).
expect_eq "socket only: PUT, POP, DEL, MGET and EXISTS blocked their client" \
	"$(r3info async_blocked)" 8
expect_eq "socket only: EXISTS and MGET in batches" "$(r3info batch_views)" 3
expect_eq "socket only: nothing read one-sidedly" "$(r3info local_views)" 0
expect_eq "socket only: EXISTS of an empty value, an empty key and a miss" \
	"$(printf '%s\n' 'TMEM.PUT e0 ""' 'TMEM.EXISTS e0 "" nokey e0' | r3 | tr '\n' ' ')" \
	"OK 2 "
expect_eq "socket only: that PUT and EXISTS blocked their client too" \
	"$(r3info async_blocked)" 10
big=$(head -c 300000 /dev/zero | tr '\0' 'm')
r3 -x tmem.put m1 <<<"$big" >/dev/null
expect_eq "socket only: EXISTS of a 300 KB value (no value sent back)" \
	"$(r3 tmem.exists m1)" 1
keys3=()
for i in $(seq 300); do keys3+=("n$i"); done
expect_eq "socket only: MGET of 300 keys (more than one async wave: batches)" \
	"$(r3 tmem.mget "${keys3[@]}" | grep -c '^$')" 300
# More than 256 keys do not block their client: they run synchronously,
# in batches (docs/redis.md, "Synchronous fallback"), EXISTS as MGET.
sync0=$(r3info async_sync)
expect_eq "socket only: EXISTS of 300 keys" "$(r3 tmem.exists "${keys3[@]}")" 0
expect_eq "... took the synchronous path" "$(($(r3info async_sync) - sync0))" 1
expect_eq "socket only: MGET of a 300 KB value and a miss, by content" \
	"$(r3 tmem.mget m1 nokey | md5sum)" "$(printf '%s\n\n\n' "$big" | md5sum)"
# A PUT waiting for a stopped utmemd holds up only its own client; it is
# stored once utmemd resumes.
freeze_pid "$UPID"
r3 tmem.put wput stopped >"$T/wput.out" &
wpid=$!
for i in $(seq 200); do
	[ "$(r3info async_inflight)" -ge 1 ] 2>/dev/null && break
	sleep 0.05
done
expect_eq "socket only: the PUT is outstanding while utmemd is stopped" \
	"$(r3info async_inflight)" 1
best_of 3 r3 ping
expect_eq "socket only: PING while a PUT waits for utmemd" "$OUT" PONG
expect_lt "socket only: PING while a PUT waits is not held up (ms)" "$MS" 300
expect_lt "socket only: PING while a PUT waits, slowest of 3 (ms)" "$MS_MAX" "$HELD_MS"
kill -CONT "$UPID"
wait "$wpid"
expect_eq "socket only: the waiting PUT, answered after the resume" \
	"$(cat "$T/wput.out")" OK
expect_eq "socket only: and stored" "$(r3 tmem.get wput)" stopped
stop_pid "$R3PID"
R3PID=

# ---- 5. key positions and flags, as Redis reports them ----

expect_eq "GETKEYS PUT" "$(r1 command getkeys tmem.put k v | tr '\n' ' ')" "k "
expect_eq "GETKEYS TMEMPUT" "$(r1 command getkeys tmemput k v | tr '\n' ' ')" "k "
expect_eq "GETKEYS GET" "$(r1 command getkeys tmem.get k | tr '\n' ' ')" "k "
expect_eq "GETKEYS TMEMGET" "$(r1 command getkeys tmemget k | tr '\n' ' ')" "k "
expect_eq "GETKEYS POP" "$(r1 command getkeys tmem.pop k | tr '\n' ' ')" "k "
expect_eq "GETKEYS DEL" "$(r1 command getkeys tmem.del a b c | tr '\n' ' ')" \
	"a b c "
expect_eq "GETKEYS EXISTS" \
	"$(r1 command getkeys tmem.exists a b | tr '\n' ' ')" "a b "
expect_eq "GETKEYS MPUT" \
	"$(r1 command getkeys tmem.mput a 1 b 2 c 3 | tr '\n' ' ')" "a b c "
expect_eq "GETKEYS MGET" "$(r1 command getkeys tmem.mget a b | tr '\n' ' ')" \
	"a b "
expect_prefix "GETKEYS INFO: no keys" "$(r1 command getkeys tmem.info)" ERR
cmdinfo() { r1 command info "$1" | tr '\n' ' '; }
# name arity flags... first last step, then (Redis >= 7) the key spec.
expect_match "COMMAND INFO PUT" "$(cmdinfo tmem.put)" \
	'^tmem\.put 3 write module 1 1 1 .*flags OW update .*lastkey 0 keystep 1 '
expect_match "COMMAND INFO TMEMPUT" "$(cmdinfo tmemput)" \
	'^tmemput 3 write module 1 1 1 .*flags OW update '
expect_match "COMMAND INFO GET" "$(cmdinfo tmem.get)" \
	'^tmem\.get 2 readonly module fast 1 1 1 .*flags RO access .*lastkey 0 '
expect_match "COMMAND INFO TMEMGET" "$(cmdinfo tmemget)" \
	'^tmemget 2 readonly module fast 1 1 1 .*flags RO access '
expect_match "COMMAND INFO POP" "$(cmdinfo tmem.pop)" \
	'^tmem\.pop 2 write module fast 1 1 1 .*flags RW access delete '
expect_match "COMMAND INFO DEL" "$(cmdinfo tmem.del)" \
	'^tmem\.del -2 write module 1 -1 1 .*flags RM delete .*lastkey -1 keystep 1 '
expect_match "COMMAND INFO EXISTS" "$(cmdinfo tmem.exists)" \
	'^tmem\.exists -2 readonly module fast 1 -1 1 .*flags RO begin_search'
expect_match "COMMAND INFO MPUT" "$(cmdinfo tmem.mput)" \
	'^tmem\.mput -3 write module 1 -1 2 .*flags OW update .*lastkey -1 keystep 2 '
expect_match "COMMAND INFO MGET" "$(cmdinfo tmem.mget)" \
	'^tmem\.mget -2 readonly module fast 1 -1 1 .*flags RO access .*lastkey -1 keystep 1 '
expect_match "COMMAND INFO INFO" "$(cmdinfo tmem.info)" \
	'^tmem\.info 1 readonly module loading stale fast 0 0 0 +$'
for c in tmem.put tmemput tmem.mput tmem.del tmem.pop tmem.get tmem.mget; do
	case "$(cmdinfo $c)" in
	*denyoom*) fail "$c must not be denyoom (values are not in Redis)" ;;
	*) pass ;;
	esac
done
expect_contains "COMMAND DOCS has a summary" \
	"$(r1 command docs tmem.put | tr '\n' ' ')" "summary Store a value"

# ACL: a user whose keys are read-only (%R~) may TMEM.GET but not TMEM.PUT;
# this rests on the key-spec flags (RO for GET, OW for PUT).
expect_eq "ACL user with read-only keys" \
	"$(r1 acl setuser reader on '>pw' '%R~*' '+@all')" OK
rd() { redis-cli -s "$R1SOCK" --user reader --pass pw --no-auth-warning "$@" 2>&1; }
expect_eq "read-only ACL user: TMEM.GET allowed" "$(rd tmem.get tx)" 1
expect_eq "read-only ACL user: TMEM.EXISTS allowed" "$(rd tmem.exists tx)" 1
expect_prefix "read-only ACL user: TMEM.PUT denied" "$(rd tmem.put tx 2)" \
	"NOPERM"
expect_prefix "read-only ACL user: TMEM.DEL denied" "$(rd tmem.del tx)" \
	"NOPERM"
expect_prefix "read-only ACL user: TMEM.POP denied" "$(rd tmem.pop tx)" \
	"NOPERM"
expect_eq "the denied PUT changed nothing" "$(r1 tmem.get tx)" 1
# Module commands carry no ACL category (Redis 7.0 has no call to give
# them one): -@write does not take TMEM.PUT away, +@read does not grant
# TMEM.GET; they are allowed or denied by name (docs/redis.md, ACL).
expect_eq "ACL user without @write" \
	"$(r1 acl setuser nowrite on '>pw' '~*' '+@all' '-@write')" OK
expect_eq "-@write leaves TMEM.PUT allowed (no category)" \
	"$(r1 acl dryrun nowrite tmem.put tx 2)" OK
expect_eq "ACL user denied the writing commands by name" \
	"$(r1 acl setuser nowrite -tmem.put -tmem.mput -tmem.del -tmem.pop)" OK
expect_prefix "by name: TMEM.PUT denied" "$(r1 acl dryrun nowrite tmem.put tx 2)" \
	"This user has no permissions to run the 'tmem.put' command"
expect_eq "by name: TMEM.GET still allowed" "$(r1 acl dryrun nowrite tmem.get tx)" OK
expect_eq "ACL user with @read only" \
	"$(r1 acl setuser readcat on '>pw' '~*' '+@read')" OK
expect_prefix "+@read does not grant TMEM.GET (no category)" \
	"$(r1 acl dryrun readcat tmem.get tx)" \
	"This user has no permissions to run the 'tmem.get' command"

# ---- 6. utmemd hung (SIGSTOP): bounded TIMEOUT, Redis keeps serving ----

expect_eq "PUT before hang" "$(r1 tmem.put h before)" OK
# The PUT was posted: a GET waits until utmemd applied it, so once this
# one answers the value is in the region (else the GET below would wait
# for a PUT the stopped utmemd never applies).
expect_eq "GET before hang" "$(r1 tmem.get h)" before
freeze_pid "$UPID"
# A GET is read from the tenant's value region without utmemd: it is served
# while utmemd hangs. What needs utmemd itself (DEL) times out, bounded.
timed_r1 tmem.get h
expect_eq "GET while utmemd is stopped: served from the value region" "$OUT" before
timed_r1 tmem.del probe1
expect_prefix "DEL while utmemd is stopped" "$OUT" "TIMEOUT utmemd at"
expect_lt "DEL while utmemd is stopped answers in bounded time (ms)" \
	"$MS" "$BOUND_MS"
# The link was dropped after the timeout: this one dials again. The
# stopped daemon's kernel still accepts, so libutmem's connect waits
# timeout_ms for the handshake (as it waits for room in a full accept
# queue): that wait is the module's dialing thread's, never Redis's. The
# command waits 100 ms for the dial at most, then answers UNAVAILABLE.
timed_r1 tmem.get h
expect_prefix "GET after the link was dropped, utmemd still stopped" "$OUT" \
	"UNAVAILABLE utmemd at unix:$USOCK: connecting in the background"
expect_lt "GET dialing a stopped utmemd does not wait for the dial (ms)" \
	"$MS" "$HELD_MS"
expect_eq "INFO while dialing a stopped utmemd: connecting" \
	"$(rinfo connecting)" 1
# TMEM commands keep dialing the stopped utmemd for longer than
# timeout_ms (a dial times out, the next is asked at once) while another
# client PINGs: Redis's thread must not be held up (it was, each dial for
# timeout_ms), and each TMEM command is answered at once.
dial_load() { # until $T/dial.stop exists: "latency reply" per command
	local t0 i=0
	while [ ! -e "$T/dial.stop" ]; do
		t0=$(now_ms)
		if ((i++ % 2)); then OUT=$(r1 tmem.get h); else OUT=$(r1 tmem.put d x); fi
		echo "$(($(now_ms) - t0)) $OUT"
	done >"$T/dial.out"
}
rm -f "$T/dial.stop"
dial_load &
DPID=$!
sleep 0.2
best_r1 5 ping
expect_eq "PING while TMEM commands dial a stopped utmemd" "$OUT" PONG
expect_lt "PING while TMEM commands dial a stopped utmemd (ms)" "$MS" 300
expect_lt "PING while TMEM commands dial a stopped utmemd, slowest of 5 (ms)" \
	"$MS_MAX" "$HELD_MS"
sleep $((TIMEOUT_MS / 1000 + 1)) # past a dial's timeout: the next dials
best_r1 5 ping
expect_lt "PING after a dial timed out, TMEM commands dialing on (ms)" "$MS" 300
expect_lt "PING after a dial timed out, TMEM commands dialing on, slowest of 5 (ms)" \
	"$MS_MAX" "$HELD_MS"
touch "$T/dial.stop"
wait "$DPID"
expect_lt "TMEM commands while dialing a stopped utmemd, slowest (ms)" \
	"$(sort -n "$T/dial.out" | tail -n 1 | cut -d' ' -f1)" "$HELD_MS"
expect_eq "... each answered UNAVAILABLE" \
	"$(grep -vc " UNAVAILABLE utmemd at unix:$USOCK: " "$T/dial.out")" 0
expect_match "... and, once a dial timed out, saying so" "$(cat "$T/dial.out")" \
	"not answering \\(the last connect timed out after $TIMEOUT_MS ms\\)"
expect_eq "Redis serves while utmemd hangs" "$(r1 ping)" PONG
expect_eq "plain Redis SET while utmemd hangs" "$(r1 set plain 1)" OK
kill -CONT "$UPID"
# Back: the dial under way (or the next) links again, within a timeout.
expect_soon "GET after utmemd resumes" before r1 tmem.get h
expect_lt "linked again after utmemd resumes (ms)" "$MS" "$BOUND_MS"
expect_eq "INFO after utmemd resumes: connecting" "$(rinfo connecting)" 0

# A link dropped with PUTs posted and not yet applied (utmemd stopped):
# libutmem's close waits up to timeout_ms for them to be applied, so that
# the next connection sees them. That wait is the dialing thread's too.
freeze_pid "$UPID"
timed_r1 tmem.put posted1 kept
expect_eq "PUT while utmemd is stopped (posted)" "$OUT" OK
expect_lt "PUT while utmemd is stopped is posted, not waited for (ms)" "$MS" 300
# A GET of that key cannot be read one-sidedly before the PUT is applied:
# it waits off Redis's thread (it once waited on it, for timeout_ms).
r1 tmem.get posted1 >"$T/getp.out" &
GPID=$!
# So do an MGET and an EXISTS naming it after a key read one-sidedly (a
# miss): they once read the first key, then waited on Redis's thread.
r1 tmem.mget nosuch1 posted1 >"$T/mgetp.out" 2>&1 &
MPID=$!
r1 tmem.exists nosuch1 posted1 >"$T/existsp.out" 2>&1 &
EPID=$!
sleep 0.1
best_r1 3 ping
expect_lt "PING while a GET, an MGET and an EXISTS wait for a posted PUT (ms)" "$MS" 300
expect_lt "PING while a GET, an MGET and an EXISTS wait for a posted PUT, slowest of 3 (ms)" \
	"$MS_MAX" "$HELD_MS"
r1 tmem.del probe3 >"$T/drop.out" &
DPID=$!
worst=0
while kill -0 "$DPID" 2>/dev/null; do
	timed_r1 ping
	[ "$MS" -gt "$worst" ] && worst=$MS
done
for i in 1 2 3 4 5; do
	timed_r1 ping
	[ "$MS" -gt "$worst" ] && worst=$MS
	sleep 0.1
done
wait "$DPID"
wait "$GPID"
wait "$MPID"
wait "$EPID"
expect_prefix "DEL that drops the link with a PUT posted" "$(cat "$T/drop.out")" \
	"TIMEOUT utmemd at"
expect_match "the MGET waiting for the posted PUT fails with the link" \
	"$(cat "$T/mgetp.out")" "TIMEOUT utmemd at"
expect_match "the EXISTS waiting for the posted PUT fails with the link" \
	"$(cat "$T/existsp.out")" "TIMEOUT utmemd at"
expect_prefix "the GET waiting for the posted PUT times out with the link" \
	"$(cat "$T/getp.out")" "TIMEOUT utmemd at"
expect_lt "PING while the link with a posted PUT is dropped, slowest (ms)" \
	"$worst" "$HELD_MS"
kill -CONT "$UPID"
expect_soon "the PUT posted before the drop is kept" kept r1 tmem.get posted1

# ---- 7. utmemd killed (SIGKILL) mid-session, then restarted ----

# Killed while a request is in flight: the daemon is stopped so the GET is
# surely waiting for its reply when the SIGKILL lands.
freeze_pid "$UPID"
t0=$(now_ms)
(r1 tmem.del probe2 >"$T/inflight.out"; echo $(($(now_ms) - t0)) >"$T/inflight.ms") &
BG=$!
sleep 0.2
kill -9 "$UPID"
wait "$UPID" 2>/dev/null
wait "$BG"
expect_match "DEL in flight when utmemd is killed" "$(cat "$T/inflight.out")" \
	'^(UNAVAILABLE|TIMEOUT) utmemd at'
expect_lt "DEL in flight when utmemd is killed answers in bounded time (ms)" \
	"$(cat "$T/inflight.ms")" "$BOUND_MS"
expect_eq "Redis serves after utmemd was killed under a request" "$(r1 ping)" PONG
start_utmemd
expect_linked "PUT after the in-flight kill and a restart" OK \
	r1 tmem.put survivor x

kill -9 "$UPID"
wait "$UPID" 2>/dev/null
UPID=
timed_r1 tmem.put afterkill x
expect_prefix "PUT after utmemd died" "$OUT" "UNAVAILABLE utmemd at"
expect_lt "PUT after utmemd died answers in bounded time (ms)" "$MS" "$BOUND_MS"
timed_r1 tmem.get survivor
expect_prefix "GET after utmemd died is an error, not a miss" "$OUT" \
	"UNAVAILABLE"
expect_lt "GET after utmemd died answers in bounded time (ms)" "$MS" "$BOUND_MS"
expect_prefix "MGET after utmemd died" "$(r1 tmem.mget a b)" "UNAVAILABLE"
expect_prefix "MPUT after utmemd died" "$(r1 tmem.mput a 1)" "UNAVAILABLE"
expect_eq "Redis serves while utmemd is dead" "$(r1 ping)" PONG
expect_eq "plain Redis GET while utmemd is dead" "$(r1 get plain)" 1
expect_eq "INFO while utmemd is dead: connected" "$(info_field connected)" 0
best_r1 3 info utmem
expect_contains "Redis INFO while utmemd is dead" "$OUT" "utmem_linked:0"
expect_lt "Redis INFO while utmemd is dead answers at once (ms)" "$MS" 500
expect_lt "Redis INFO while utmemd is dead, slowest of 3 (ms)" "$MS_MAX" "$HELD_MS"
expect_contains "INFO while utmemd is dead: last_error" \
	"$(info_field last_error)" "connect"
expect_log "the lost link is logged" "$T/redis1.log" "cannot use utmemd"

start_utmemd
expect_linked "first PUT after restart" OK r1 tmem.put back again
expect_eq "GET after restart" "$(r1 tmem.get back)" again
expect_eq "INFO after restart: connected" "$(info_field connected)" 1

# A clean stop removes the socket file: connect() then fails with ENOENT,
# which must not be taken for "no such key".
stop_utmemd
expect_prefix "GET after a clean utmemd stop is an error, not a miss" \
	"$(r1n tmem.get back)" "(error) UNAVAILABLE"
expect_prefix "EXISTS after a clean utmemd stop is an error" \
	"$(r1 tmem.exists back)" "UNAVAILABLE"
expect_prefix "DEL after a clean utmemd stop is an error" \
	"$(r1 tmem.del back)" "UNAVAILABLE"
start_utmemd
expect_linked "PUT once utmemd is back" OK r1 tmem.put back again

# The daemon dies between two commands on a live connection: the stale
# socket is noticed and the command is retried once on a new connection.
stop_utmemd
start_utmemd
expect_linked "PUT on a stale connection after a restart" OK \
	r1 tmem.put stale ok
retries=$(info_field retries)
if [ "${retries:-0}" -ge 1 ]; then pass; else
	fail "INFO counts the retry" "retries: '$retries'"
fi

# ---- 7b. utmemd killed and restarted while clients load Redis ----

# Three clients run TMEM.PUT, TMEM.GET (of the value they just put) and
# PING without pause, each command a redis-cli of its own, timed, while
# utmemd (with the fast path: the module's ring is checked in its log) is
# SIGKILLed, left down for a while and started again. Every command must
# be answered (an error is allowed while utmemd is down) within BOUND_MS,
# a GET must never return another value than the one its client put last
# (a miss is allowed: the restarted utmemd starts empty), and once utmemd
# is back the clients' commands succeed again.
stop_utmemd
printf '[utmemd]\nlog_level = debug\n[tenant default]\n' >"$T/debug.ini"
start_utmemd "$T/debug.ini"
expect_linked "PUT before the load" OK r1 tmem.put preload x
expect_log "the module uses the fast path (a ring)" "$T/utmemd.$UGEN.log" \
	"tenant 'default' uses a shared-memory ring"
# Each loader is one hiredis connection (redis_load), so what is timed is
# Redis's answer, not the start of a process; without REDIS_LOAD, one
# redis-cli per command (slower, the same lines).
loader() { # id: until $T/load.stop exists; one line per command
	local id=$1 i=0 t0 out rc ms key val
	if [ -n "$REDIS_LOAD" ]; then
		"$REDIS_LOAD" "$R1SOCK" "$id" "$T/load.stop" >"$T/load$id.log"
		return
	fi
	while [ ! -e "$T/load.stop" ]; do
		key=load$id-$((i % 20)) val=v$id-$i-$RANDOM
		for cmd in put get ping; do
			t0=$(now_ms)
			case $cmd in
			put) out=$(timeout 10 redis-cli -s "$R1SOCK" tmem.put "$key" "$val" 2>&1) ;;
			get) out=$(timeout 10 redis-cli -s "$R1SOCK" tmem.get "$key" 2>&1) ;;
			ping) out=$(timeout 10 redis-cli -s "$R1SOCK" ping 2>&1) ;;
			esac
			rc=$?
			[ -z "$out" ] && out="(nil)"
			ms=$(($(now_ms) - t0))
			printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(now_ms)" "$cmd" "$rc" "$ms" \
				"$val" "${out//$'\n'/ }"
		done
		i=$((i + 1))
	done >"$T/load$id.log"
}
rm -f "$T/load.stop"
LPIDS=()
for id in 1 2 3; do
	loader "$id" &
	LPIDS+=($!)
done
sleep 1
KILL_MS=$(now_ms)
kill -9 "$UPID"
wait "$UPID" 2>/dev/null
UPID=
sleep 1.5
start_utmemd "$T/debug.ini"
BACK_MS=$(now_ms)
sleep 1.5
touch "$T/load.stop"
for p in "${LPIDS[@]}"; do wait "$p"; done
cat "$T"/load[123].log >"$T/load.all"
total=$(wc -l <"$T/load.all")
bad_rc=$(awk -F'\t' '$3 != 0' "$T/load.all" | wc -l)
slow=$(awk -F'\t' -v b="$BOUND_MS" '$4 >= b' "$T/load.all" | wc -l)
# An answer is one of: OK, PONG, the value this client put last under the
# key, a miss, or an UNAVAILABLE/TIMEOUT error naming utmemd.
odd=$(awk -F'\t' '
	$2 == "put" && $6 == "OK" { next }
	$2 == "ping" && $6 == "PONG" { next }
	$2 == "get" && ($6 == $5 || $6 == "(nil)") { next }
	$6 ~ /^(UNAVAILABLE|TIMEOUT) utmemd at / { next }
	{ print }' "$T/load.all")
errors=$(grep -cE $'\t(UNAVAILABLE|TIMEOUT) utmemd at ' "$T/load.all")
ok_after=$(awk -F'\t' -v t="$BACK_MS" '$1 > t + 500 && $2 == "put" && $6 == "OK"' \
	"$T/load.all" | wc -l)
errs_after=$(awk -F'\t' -v t="$BACK_MS" '$1 > t + 500 && $6 ~ /^(UNAVAILABLE|TIMEOUT)/' \
	"$T/load.all" | wc -l)
max_ms=$(awk -F'\t' '$4 > m { m = $4 } END { print m + 0 }' "$T/load.all")
echo "measured: load through a SIGKILL and restart: $total commands, $errors errors while down, slowest $max_ms ms, $ok_after PUTs OK after the restart"
if [ "$total" -ge 60 ]; then pass; else fail "the loaders ran" "commands: $total"; fi
if [ "$slow" != 0 ] || [ -n "$odd" ] || [ "$bad_rc" != 0 ]; then
	echo "---- the load, by time (ms, command, failed, latency, value put, reply)"
	sort -n "$T/load.all" | cut -c1-160 | head -n 100
fi
expect_eq "every command under load was answered (redis-cli status 0)" "$bad_rc" 0
expect_eq "no command under load took $BOUND_MS ms or more" "$slow" 0
expect_eq "every answer under load is OK, PONG, its own value, a miss or UNAVAILABLE/TIMEOUT" \
	"$odd" ""
if [ "$errors" -ge 1 ]; then pass; else
	fail "the loaders met utmemd down (errors while it was killed)" "errors: $errors"
fi
if [ "$ok_after" -ge 3 ]; then pass; else
	fail "PUTs succeed again under load after the restart" "OK after: $ok_after"
fi
expect_eq "no errors 0.5 s after utmemd is back" "$errs_after" 0
kill -0 "$R1PID" 2>/dev/null && pass || fail "redis-server survived the kill under load"
expect_eq "Redis answers after the load" "$(r1 ping)" PONG
expect_log "the module has a ring again after the restart" "$T/utmemd.$UGEN.log" \
	"tenant 'default' uses a shared-memory ring"
# Content after the restart: many keys, and a binary 1 MiB value.
for i in $(seq 1 50); do
	printf 'tmem.put after-%s value-%s-%s\n' "$i" "$i" "$i"
done | redis-cli -s "$R1SOCK" >"$T/after.put"
expect_eq "50 PUTs after the restart" "$(grep -c '^OK$' "$T/after.put")" 50
for i in $(seq 1 50); do printf 'tmem.get after-%s\n' "$i"; done |
	redis-cli -s "$R1SOCK" >"$T/after.get"
expect_eq "50 GETs after the restart, each its value" "$(cat "$T/after.get")" \
	"$(for i in $(seq 1 50); do echo "value-$i-$i"; done)"
head -c $((1 << 20)) /dev/urandom >"$T/after.bin"
expect_eq "1 MiB binary PUT after the restart" \
	"$(r1 -x tmem.put after-bin <"$T/after.bin")" OK
r1 --raw tmem.get after-bin | head -c $((1 << 20)) >"$T/after.bin.got"
expect_eq "1 MiB binary GET after the restart is byte-exact" \
	"$(md5sum <"$T/after.bin.got")" "$(md5sum <"$T/after.bin")"

# ---- 8. refusals name their cause and leave no old value ----

stop_utmemd
cat >"$T/quota.ini" <<EOF
[utmemd]
capacity = 64M
max_value = 1M

[tenant default]
max = 64K
EOF
start_utmemd "$T/quota.ini"
head -c 16384 /dev/zero >"$T/v16k"
head -c 40960 /dev/zero >"$T/v40k"
head -c $((2 << 20)) /dev/zero >"$T/v2m"
# The module links to the new utmemd on its next command: until it has, a
# PUT is refused UNAVAILABLE and the quota would not be full (seen once).
expect_linked "fill PUT once the module is linked to the restarted utmemd" OK \
	put_file fill1 "$T/v16k"
expect_eq "second fill PUT" "$(r1 -x tmem.put fill2 <"$T/v16k")" OK
expect_eq "small PUT within quota" "$(r1 tmem.put q old)" OK
expect_eq "GET within quota" "$(r1 tmem.get q)" old
expect_eq "PUT over the tenant quota" "$(r1 -x tmem.put q <"$T/v40k")" \
	"QUOTA tenant quota exceeded"
expect_eq "old value not readable after QUOTA" "$(r1n tmem.get q)" "(nil)"
expect_eq "EXISTS after QUOTA" "$(r1 tmem.exists q)" 0

expect_eq "small PUT before TOOBIG" "$(r1 tmem.put tb old)" OK
expect_eq "PUT over max_value" "$(r1 -x tmem.put tb <"$T/v2m")" \
	"TOOBIG value exceeds utmemd limit of 1048576 bytes"
expect_eq "old value not readable after TOOBIG" "$(r1n tmem.get tb)" "(nil)"
longkey=$(head -c 2000 /dev/zero | tr '\0' k)
expect_eq "PUT with a key over max_key" "$(r1 tmem.put "$longkey" v)" \
	"TOOBIG key exceeds utmemd limit of 1024 bytes"
expect_eq "GET with a key over max_key is a miss" \
	"$(r1n tmem.get "$longkey")" "(nil)"
expect_eq "MPUT with a key over max_key" \
	"$(r1 tmem.mput okk v "$longkey" v)" \
	"TOOBIG key exceeds utmemd limit of 1024 bytes (1 of 2 pairs stored; refused keys hold no value)"

r1 tmem.del fill1 fill2 >/dev/null
expect_eq "MPUT setup" "$(r1 tmem.mput m1 old m2 old)" OK
printf 'x' >"$T/x"
expect_eq "MPUT with one value over max_value" \
	"$(cat "$T/v2m" | r1 -x tmem.mput m1 new m2)" \
	"TOOBIG value exceeds utmemd limit of 1048576 bytes (1 of 2 pairs stored; refused keys hold no value)"
expect_eq "MPUT: the accepted pair is stored" "$(r1 tmem.get m1)" new
expect_eq "MPUT: the refused key holds no value" "$(r1n tmem.get m2)" "(nil)"
expect_eq "INFO refused_quota" "$(info_field refused_quota)" 1
expect_eq "INFO refused_toobig" "$(info_field refused_toobig)" 4
# An MPUT of one pair is an MPUT: its refusal says how many pairs were
# stored, whether it blocks its client or runs synchronously (Lua).
expect_eq "MPUT of one pair over max_value" \
	"$(r1 -x tmem.mput m3 <"$T/v2m")" \
	"TOOBIG value exceeds utmemd limit of 1048576 bytes (0 of 1 pairs stored; refused keys hold no value)"
expect_prefix "MPUT of one pair over max_value, from Lua" \
	"$(r1 -x eval "return redis.call('tmem.mput', KEYS[1], ARGV[1])" 1 m3 <"$T/v2m")" \
	"TOOBIG value exceeds utmemd limit of 1048576 bytes (0 of 1 pairs stored; refused keys hold no value)"
# Synchronously (Lua) too, a refused pair removes its key's old value in
# order, before the pairs after it: a later pair of the same key is stored
# (the last value wins), and the refused key alone holds no value.
expect_prefix "MPUT k <too big> k small, from Lua" \
	"$(r1 -x eval "return redis.call('tmem.mput', KEYS[1], ARGV[1], KEYS[1], 'small')" 1 m4 <"$T/v2m")" \
	"TOOBIG value exceeds utmemd limit of 1048576 bytes (1 of 2 pairs stored;"
expect_eq "... the last value of the repeated key wins" "$(r1 tmem.get m4)" small
expect_eq "PUT before a refused MPUT from Lua" "$(r1 tmem.put m5 old)" OK
expect_prefix "MPUT of a value over max_value, from Lua" \
	"$(r1 -x eval "return redis.call('tmem.mput', KEYS[1], ARGV[1])" 1 m5 <"$T/v2m")" \
	"TOOBIG value exceeds utmemd limit of 1048576 bytes (0 of 1 pairs stored;"
expect_eq "... the refused key holds no value" "$(r1n tmem.get m5)" "(nil)"

# Exactly at max_value is accepted and read back whole; one byte more is not.
stop_utmemd
printf '[utmemd]\ncapacity = 64M\nmax_value = 1M\n\n[tenant default]\nmax = 32M\n' >"$T/maxvalue.ini"
start_utmemd "$T/maxvalue.ini"
head -c $((1 << 20)) /dev/urandom >"$T/v1m"
{ cat "$T/v1m"; printf 'x'; } >"$T/v1m1"
expect_linked "PUT of exactly max_value bytes" OK put_file edge "$T/v1m"
r1 --raw tmem.get edge >"$T/v1m.got"
if [ "$(head -c $((1 << 20)) "$T/v1m.got" | md5sum)" == "$(md5sum <"$T/v1m")" ] &&
	[ "$(stat -c %s "$T/v1m.got")" -eq $(((1 << 20) + 1)) ]; then
	pass
else
	fail "GET of exactly max_value bytes is byte-exact"
fi
expect_eq "PUT of max_value + 1 bytes" "$(r1 -x tmem.put edge <"$T/v1m1")" \
	"TOOBIG value exceeds utmemd limit of 1048576 bytes"
expect_eq "old value not readable after TOOBIG at the edge" \
	"$(r1n tmem.get edge)" "(nil)"

stop_utmemd
# Two 40 KiB values (charged 40 KiB + 48 B each) and a small one fit in
# 100 KiB; a third 40 KiB value does not.
cat >"$T/capacity.ini" <<EOF
[utmemd]
capacity = 100K
max_value = 1M

[tenant default]
max = 1M
EOF
start_utmemd "$T/capacity.ini"
expect_linked "first 40 KiB PUT within capacity" OK put_file c1 "$T/v40k"
expect_eq "second 40 KiB PUT within capacity" "$(put_file c2 "$T/v40k")" OK
expect_eq "small PUT within capacity" "$(r1 tmem.put cap old)" OK
expect_eq "PUT over host capacity" "$(r1 -x tmem.put cap <"$T/v40k")" \
	"CAPACITY host pool full"
expect_eq "old value not readable after CAPACITY" "$(r1n tmem.get cap)" "(nil)"

# ---- 8a. a PUT beyond credit larger than half the ring ----
# A 2 MiB quota leaves the connection's credit (at most a quarter of the
# room) short of a 900 KB value, and the first one is larger than its
# staging extents: it needs utmemd's answer. It streams through the ring
# as an asynchronous request, blocking only its client; the module put it
# synchronously on the socket before, on Redis's thread.
stop_utmemd
printf '[utmemd]\ncapacity = 64M\nmax_value = 4M\n\n[tenant default]\nmax = 2M\n' >"$T/bigput.ini"
start_utmemd "$T/bigput.ini"
expect_linked "a small PUT connects first" OK r1 tmem.put small x
expect_eq "... and is applied" "$(r1 tmem.get small)" x
head -c 900000 /dev/zero | tr '\0' 'b' >"$T/v900k"
sync0=$(rinfo1 async_sync)
ping_while_waiting 1 "a 900 KB PUT beyond credit" \
	"the 900 KB PUT beyond credit is outstanding while utmemd is stopped" \
	"$T/big900.out" r1 -x tmem.put big900 <"$T/v900k"
kill -CONT "$UPID"
wait "$wpid"
expect_eq "the 900 KB PUT is answered once utmemd resumes" "$(cat "$T/big900.out")" OK
expect_eq "... not on the synchronous path" "$(($(rinfo1 async_sync) - sync0))" 0
expect_eq "... and stored, by content" \
	"$(r1 tmem.get big900 | head -c 900000 | md5sum)" "$(md5sum <"$T/v900k")"

# ---- 8b. the operator moves the tenant's quota at runtime ----

if [ -n "$UTMEMCTL" ]; then
	ctl() { "$UTMEMCTL" --run-dir "$RUN" "$@" 2>&1; }
	stop_utmemd
	start_utmemd # default tenant, large quota
	expect_linked "DEL after the restart" 0 r1 tmem.del q
	expect_eq "PUT under a large quota" "$(r1 -x tmem.put q <"$T/v40k")" OK
	OUT=$(ctl tenant set default --max 16K)
	[ $? -eq 0 ] && pass || fail "utmemctl tenant set --max 16K" "$OUT"
	expect_eq "INFO shows the shrunk quota" "$(info_field tenant_limit_max)" 16384
	expect_eq "PUT refused at once after the shrink" \
		"$(r1 -x tmem.put q2 <"$T/v40k")" "QUOTA tenant quota exceeded"
	expect_eq "the refused key holds no value" "$(r1n tmem.get q2)" "(nil)"
	expect_eq "data stored before the shrink stays readable" \
		"$(r1 tmem.get q | wc -c)" $((40960 + 1))
	OUT=$(ctl tenant set default --max 1M)
	[ $? -eq 0 ] && pass || fail "utmemctl tenant set --max 1M" "$OUT"
	expect_eq "PUT accepted at once after the growth" \
		"$(r1 -x tmem.put q2 <"$T/v40k")" OK
	# The operator destroys the module's pool under it: the next PUTs are
	# stored (libutmem reopens the pool by name, made again as the module
	# opened it with CREATE), not answered OK and dropped, as every posted
	# PUT to the gone pool once was.
	OUT=$(ctl --force pool destroy e2e --tenant default)
	[ $? -eq 0 ] && pass || fail "utmemctl pool destroy e2e" "$OUT"
	expect_eq "GET after the pool was destroyed is a miss" "$(r1n tmem.get q)" "(nil)"
	for i in 1 2 3; do
		expect_eq "PUT $i after the pool was destroyed" "$(r1 tmem.put pd$i v$i)" OK
		expect_eq "PUT $i after the pool was destroyed is stored" \
			"$(r1 tmem.get pd$i)" "v$i"
	done
	expect_eq "MPUT after the pool was destroyed" "$(r1 tmem.mput pm1 a pm2 b)" OK
	expect_eq "... and stored" "$(r1 tmem.mget pm1 pm2 | tr '\n' ' ')" "a b "
else
	echo "note: no utmemctl given; runtime quota checks skipped"
fi

# ---- 9. MODULE LOAD with bad arguments: clear log line, Redis runs on ----

start_redis redis2 "$R2SOCK"
R2PID=$LASTPID
load_fails() { # what, log text, args...
	local what=$1 text=$2
	shift 2
	expect_prefix "MODULE LOAD $what fails" "$(r2 module load "$MODULE" "$@")" \
		"ERR Error loading the extension"
	expect_log "MODULE LOAD $what is explained" "$T/redis2.log" "$text"
	expect_eq "Redis runs on after MODULE LOAD $what" "$(r2 ping)" PONG
}
load_fails "without arguments" "utmem: not loaded: addr= is required"
load_fails "without pool" "utmem: not loaded: pool= is required" \
	"addr=unix:$USOCK"
load_fails "with a bad kind" "utmem: not loaded: bad value for kind: 'shared'" \
	"addr=unix:$USOCK" pool=p kind=shared
load_fails "with an unknown argument" \
	"utmem: not loaded: unknown argument 'colour=...'" \
	"addr=unix:$USOCK" pool=p colour=blue
# Numbers are digits only, in range: no sign, no blank, no base, no wrap.
for v in 0 600001 +5 ' 5' '5 ' -0 -5 0x10 1e3 '' 18446744073709551617; do
	load_fails "with timeout_ms='$v'" \
		"utmem: not loaded: bad value for timeout_ms: '$v' (expected digits only, 1..600000)" \
		"addr=unix:$USOCK" pool=p "timeout_ms=$v"
done
load_fails "with a bad pool name" "utmem: not loaded: bad value for pool: 'a/b'" \
	"addr=unix:$USOCK" pool=a/b
load_fails "with the pool name '..'" "utmem: not loaded: bad value for pool: '..'" \
	"addr=unix:$USOCK" pool=..
load_fails "with a malformed address" \
	"utmem: not loaded: bad value for addr: 'nonsense'" addr=nonsense pool=p
# Refused on Redis's thread, not only if the dial thread answers within
# min(100 ms, timeout_ms): with timeout_ms=1 on a busy host it once could
# come too late and the module loaded with an address no dial reaches.
for i in 1 2 3; do
	load_fails "with a malformed address and timeout_ms=1 ($i)" \
		"utmem: not loaded: bad value for addr: 'vsock:cid:port'" \
		addr=vsock:cid:port pool=p timeout_ms=1
done
# One line says it: not also "cannot use utmemd at nonsense: ...".
expect_eq "a malformed address is logged once" \
	"$(grep -c "at nonsense: load: connect" "$T/redis2.log")" 0
# A refused value is shown with control characters as '?': a newline in
# an argument must not forge a line of Redis's log.
load_fails "with a newline in addr" \
	"utmem: not loaded: bad value for addr: 'x?FORGED utmem line'" \
	"addr=x"$'\n'"FORGED utmem line" pool=p
if grep -q "^FORGED utmem line" "$T/redis2.log"; then fail "a module argument forged a log line"; else pass; fi
load_fails "with addr twice" "utmem: not loaded: addr given twice" \
	"addr=unix:$USOCK" pool=p "addr=unix:$USOCK"
# A token never reaches Redis's log: not when it is refused, not under a
# misspelt name, not as an argument without a name. (Each starts with
# SECRET, within the first 64 bytes that a value used to be echoed with.)
# A token utmemd can never accept for a tenant (8..255 bytes, no control
# characters, no leading or trailing blank, no blank before ';') is
# refused at load.
SECRET=s3cr3tT
xs() { printf 'x%.0s' $(seq "$1"); }
load_fails "with a token too long" \
	"utmem: not loaded: bad value for token (301 bytes, not shown): expected 8..255 bytes (utmemd's rule for a tenant's token)" \
	"addr=unix:$USOCK" pool=p "token=$SECRET$(xs 294)"
load_fails "with a token of 256 bytes" \
	"utmem: not loaded: bad value for token (256 bytes, not shown): expected 8..255 bytes (utmemd's rule for a tenant's token)" \
	"addr=unix:$USOCK" pool=p "token=$SECRET$(xs 249)"
load_fails "with a token of 7 bytes" \
	"utmem: not loaded: bad value for token (7 bytes, not shown): expected 8..255 bytes (utmemd's rule for a tenant's token)" \
	"addr=unix:$USOCK" pool=p "token=$SECRET"
load_fails "with a tab in the token" \
	"utmem: not loaded: bad value for token (10 bytes, not shown): control characters are not allowed (utmemd's rule for a tenant's token)" \
	"addr=unix:$USOCK" pool=p "token=$SECRET"$'\tab'
load_fails "with a blank before ';' in the token" \
	"utmem: not loaded: bad value for token (10 bytes, not shown): ' ;' would start a comment in the config file (utmemd's rule for a tenant's token)" \
	"addr=unix:$USOCK" pool=p "token=$SECRET ;a"
load_fails "with a token ending in a blank" \
	"utmem: not loaded: bad value for token (10 bytes, not shown): leading or trailing blanks are not allowed (utmemd's rule for a tenant's token)" \
	"addr=unix:$USOCK" pool=p "token=${SECRET}ab "
load_fails "with a misspelt token=" "utmem: not loaded: unknown argument 'tokn=...'" \
	"addr=unix:$USOCK" pool=p "tokn=${SECRET}misspelt"
load_fails "with a token without its name" \
	"utmem: not loaded: argument 3 is not NAME=VALUE (not shown)" \
	"addr=unix:$USOCK" pool=p "${SECRET}bare"
load_fails "with a base64 token without its name" \
	"utmem: not loaded: argument 3 has an unknown name (not shown)" \
	"addr=unix:$USOCK" pool=p "${SECRET}bAse64=="
# The module reads a number and a token as utmemd does. utmemctl checks
# a setting with utmemd's own rules before it looks for a daemon (none
# runs in $T/nowhere), so what it refuses names the setting and what it
# accepts ends at the missing run directory. Each value is given to both:
# the module must accept exactly what utmemd accepts (numbers: leading
# zeros too, 0005 is 5; tokens: 8..255 bytes, no control characters, no
# leading or trailing blank, no blank before ';'), and neither may show a
# token.
[ -x "$UTMEMCTL" ] || fail "no utmemctl given: the module cannot be compared with utmemd"
ctl_verdict() { # key, value: CTL accepted or refused by utmemd's rules
	CTL_OUT=$("$UTMEMCTL" --run-dir "$T/nowhere" tenant add probe "$1=$2" 2>&1)
	case $CTL_OUT in
	*"no run directory"*) CTL=accepted ;;
	*"$1 '"* | *"$1:"*) CTL=refused ;;
	*) CTL="unexpected: $CTL_OUT" ;;
	esac
}
mod_verdict() { # argument: accepted (loaded, then unloaded) or refused
	if [ "$(r2 module load "$MODULE" "addr=unix:$USOCK" pool=eph \
		kind=ephemeral "$1")" = OK ]; then
		r2 module unload utmem >/dev/null
		echo accepted
	else
		echo refused
	fi
}
for v in 5 0005 0000000000000000000000000000000000000000007 +5 -5 -0 ' 5' \
	'5 ' 0x10 1e3 '' 18446744073709551617 99999999999999999999999999; do
	ctl_verdict weight "$v"
	expect_eq "timeout_ms='$v' is read as utmemd reads a number" \
		"$(mod_verdict "timeout_ms=$v")" "$CTL"
done
load_timeout() { # value, what TMEM.INFO shows: load with it, check, unload
	expect_eq "MODULE LOAD with timeout_ms=$1" \
		"$(r2 module load "$MODULE" "addr=unix:$USOCK" pool=eph \
			kind=ephemeral "timeout_ms=$1")" OK
	expect_eq "timeout_ms=$1 is $2" \
		"$(r2 tmem.info | tr -d '\r' | sed -n 's/^timeout_ms://p')" "$2"
	expect_eq "MODULE UNLOAD after timeout_ms=$1" "$(r2 module unload utmem)" OK
}
load_timeout 0005 5
for tok in "${SECRET}x" "$SECRET$(xs 248)" "$SECRET$(xs 249)" "$SECRET" \
	" ${SECRET}x" "${SECRET}x " "${SECRET}"$'\t'"x" "${SECRET}"$'\x7f'"x" \
	"${SECRET}"$'\n'"x" "$SECRET ;x" "$SECRET;x" ";$SECRET" "$SECRET #x" \
	"${SECRET} x y" "${SECRET}pässwörd"; do
	ctl_verdict token "$tok"
	expect_eq "token of ${#tok} bytes is taken as utmemd takes it" \
		"$(mod_verdict "token=$tok")" "$CTL"
	case $CTL_OUT in
	*"$SECRET"*) fail "utmemctl showed a token" "$CTL_OUT" ;;
	*) pass ;;
	esac
done
# MODULE LOAD with utmemd stopped: the dial at load is the dialing
# thread's; the load waits 100 ms for it at most (it waited timeout_ms
# for the handshake), and the module links once utmemd is back.
freeze_pid "$UPID"
timed r2 module load "$MODULE" "addr=unix:$USOCK" pool=eph kind=ephemeral \
	"timeout_ms=$TIMEOUT_MS"
expect_eq "MODULE LOAD with utmemd stopped" "$OUT" OK
expect_lt "MODULE LOAD with utmemd stopped does not wait for the dial (ms)" \
	"$MS" "$HELD_MS"
expect_log "MODULE LOAD with utmemd stopped says so" "$T/redis2.log" \
	"not usable yet (no answer within 100 ms; connecting goes on in the background)"
timed r2 tmem.put e 1
expect_prefix "PUT while the load's dial waits" "$OUT" "UNAVAILABLE utmemd at"
expect_lt "PUT while the load's dial waits answers at once (ms)" "$MS" "$HELD_MS"
kill -CONT "$UPID"
expect_soon "PUT once utmemd resumed after the load" OK r2 tmem.put e 1
expect_eq "MODULE UNLOAD after a load with utmemd stopped" \
	"$(r2 module unload utmem)" OK
for f in "$T/redis2.log" "$T/redis2.stderr"; do
	expect_no_log "no token in $(basename "$f")" "$f" "$SECRET"
done
expect_prefix "TMEM is absent after failed loads" "$(r2 tmem.info)" \
	"ERR unknown command"
load_timeout 600000 600000
# The bounds themselves load (over a Unix socket utmemd ignores the token).
for n in 8 255; do
	expect_eq "MODULE LOAD with a token of $n bytes" \
		"$(r2 module load "$MODULE" "addr=unix:$USOCK" pool=eph \
			kind=ephemeral "token=$(xs "$n")")" OK
	expect_eq "MODULE UNLOAD after a token of $n bytes" \
		"$(r2 module unload utmem)" OK
done
expect_eq "MODULE LOAD with good arguments" \
	"$(r2 module load "$MODULE" "addr=unix:$USOCK" pool=eph kind=ephemeral)" OK
expect_contains "MODULE LIST shows utmem" "$(r2 module list | tr '\n' ' ')" \
	"name utmem"
expect_eq "ephemeral pool: INFO kind" \
	"$(r2 tmem.info | tr -d '\r' | sed -n 's/^kind://p')" ephemeral
expect_eq "ephemeral pool: PUT" "$(r2 tmem.put e 1)" OK
expect_eq "ephemeral pool: GET" "$(r2 tmem.get e)" 1
expect_eq "pools are separate" "$(r1n tmem.get e)" "(nil)"
expect_prefix "MODULE LOAD twice fails" \
	"$(r2 module load "$MODULE" "addr=unix:$USOCK" pool=eph)" \
	"ERR Error loading the extension"
expect_log "MODULE LOAD twice is explained" "$T/redis2.log" \
	"a module named utmem is already loaded"
expect_eq "MODULE UNLOAD" "$(r2 module unload utmem)" OK
expect_prefix "TMEM is gone after unload" "$(r2 tmem.get e)" "ERR unknown command"
expect_eq "Redis runs on after unload" "$(r2 ping)" PONG
# A pool that exists with the other kind: the module loads (with a
# warning naming the cause) and each command says what is wrong.
expect_eq "MODULE LOAD naming a pool of the other kind" \
	"$(r2 module load "$MODULE" "addr=unix:$USOCK" pool=e2e kind=ephemeral)" OK
expect_log "the kind clash is logged at load" "$T/redis2.log" \
	"open pool e2e: pool exists with another kind"
expect_eq "PUT into a pool of the other kind" "$(r2 tmem.put k v)" \
	"ERR pool e2e exists in utmemd with another kind than ephemeral"
expect_eq "MODULE UNLOAD after the kind clash" "$(r2 module unload utmem)" OK
expect_eq "MODULE LOAD again after unload" \
	"$(r2 module load "$MODULE" "addr=unix:$USOCK" pool=eph kind=ephemeral)" OK
expect_eq "reloaded module works" "$(r2 tmem.get e)" 1

# A tenant at its connection limit: the second Redis's module is refused
# and says which limit (it read "Disk quota exceeded").
stop_utmemd
printf '[utmemd]\ncapacity = 64M\n[tenant default]\nmax_conns = 1\n' >"$T/conns.ini"
start_utmemd "$T/conns.ini"
expect_linked "PUT on the one connection max_conns allows" OK r1 tmem.put c1 v
expect_eq "PUT from a second Redis beyond max_conns" "$(r2 tmem.put c2 v)" \
	"UNAVAILABLE utmemd at unix:$USOCK refused the connection: this tenant is at its connection limit (max_conns)"
expect_match "... and TMEM.INFO's last_error says so too" \
	"$(r2 tmem.info | grep '^last_error:')" "connect: this tenant is at its connection limit"
stop_utmemd
start_utmemd

# ---- the end: both servers must still be alive ----

expect_eq "redis1 still alive" "$(r1 ping)" PONG
expect_eq "redis2 still alive" "$(r2 ping)" PONG
kill -0 "$UPID" 2>/dev/null && pass || fail "utmemd still alive"

# Stop both servers cleanly: a sanitizer (ASan/UBSan/LSan in CI builds)
# reports into their stderr at exit, including leaks of the module.
stop_pid "$R1PID"
R1PID=
stop_pid "$R2PID"
R2PID=
for f in "$T"/redis1.stderr "$T"/redis2.stderr; do
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error' "$f"; then
		fail "sanitizer report in $(basename "$f")" "$(head -n 30 "$f")"
	else
		pass
	fi
done

if [ "$FAILS" -ne 0 ]; then
	echo "$FAILS of $CHECKS checks FAILED"
	dump_logs
	exit 1
fi
echo "PASS: $CHECKS checks"
exit 0

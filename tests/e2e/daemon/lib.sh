# lib.sh — shared helpers for utmemd's end-to-end scripts (sourced).
#
# Each script gets the binaries through the environment (UTMEMD, UTMEMCTL,
# E2E_CLIENT, E2E_RAW, set by meson), works in its own mktemp -d directory,
# starts daemons it stops by pid, and cleans up on any exit. fail() prints
# what was expected and what happened, then exits 1.
set -u
# shellcheck source=tests/e2e/freeze.sh
. "$(dirname "${BASH_SOURCE[0]}")/../freeze.sh"

T=$(mktemp -d)
PIDS=()
# How many times slower this build runs than a plain one: make tsan sets
# UTMEM_TEST_SLOWDOWN=10 (utmemd evicts ~10x slower under TSan). A test
# with a time bound multiplies it by this, or divides work sized to last
# a while; 1 (nothing changes) everywhere else.
SLOWDOWN=${UTMEM_TEST_SLOWDOWN:-1}

# wait_output FILE REGEX PID: a line of FILE matches REGEX within 20 s,
# while PID lives. Returns 1 otherwise.
wait_output() {
	local i
	for i in $(seq 1 400); do
		grep -Eq "$2" "$1" && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# Only the script itself cleans up. A background job is, until it execs,
# a copy of this shell with its traps; a signal that reaches it then runs
# them: of 200 jobs sent SIGTERM at once, 79 ran this cleanup, killing
# the script's daemon and removing $T under it (the run directory
# "vanished" of t_ring.sh in CI, 2026-12-03), and one lost the signal and
# ran on (t_ring.sh's wait for its CPU hogs then hung until meson's
# timeout). t_harness.sh holds this.
cleanup() {
	local p
	[ "$BASHPID" = "$$" ] || return 0
	for p in "${PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	for f in "$T"/*.log; do
		[ -f "$f" ] && { echo "--- $f" >&2; tail -n 30 "$f" >&2; }
	done
	exit 1
}

ok() { echo "ok: $*"; }

# wait_sock PATH: the socket accepts within 10 s (utmemctl-free check: the
# path exists as a socket and the daemon printed its admin line).
wait_sock() {
	local i
	for i in $(seq 1 200); do
		[ -S "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

# start_daemon NAME RUNDIR [ARGS...]: start utmemd in the background, record
# its pid in $DPID, and wait until its admin socket exists.
start_daemon() {
	local name=$1 dir=$2
	shift 2
	# Gone before the start: the shell truncates them in the child, and a
	# banner left by an earlier daemon of this name (a restart test) would
	# pass the check below before the new one listens.
	rm -f "$T/$name.out" "$T/$name.log"
	"$UTMEMD" --run-dir "$dir" "$@" >"$T/$name.out" 2>"$T/$name.log" &
	DPID=$!
	PIDS+=("$DPID")
	wait_sock "$dir/admin.sock" || fail "utmemd ($name) did not come up"
	# The banner is printed after every socket is listening.
	local i
	for i in $(seq 1 200); do
		grep -qs '^admin:' "$T/$name.out" && return 0
		kill -0 "$DPID" 2>/dev/null || fail "utmemd ($name) exited early"
		sleep 0.05
	done
	fail "utmemd ($name) printed no banner"
}

# stop_daemon PID: SIGTERM and wait; returns utmemd's exit status. A
# utmemd still running STOP_SECS after SIGTERM (5; 30 under a sanitizer,
# whose leak check at exit scans the whole heap) is killed, and the status
# is 124: SIGTERM stopping utmemd promptly is a property the tests check.
stop_daemon() {
	local pid=$1 i secs=5
	case ${UTMEM_SANITIZE:-none} in none | '') ;; *) secs=30 ;; esac
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < secs * 20; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "utmemd (pid $pid) still running ${secs} s after SIGTERM: killed" >&2
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		return 124
	fi
	wait "$pid"
}

ctl() { "$UTMEMCTL" --run-dir "$RUN" "$@"; }

# Is utmemd's RSS worth judging? Not under ThreadSanitizer (make tsan):
# there RSS also holds TSan's shadow of every byte utmemd ever touched,
# which stays when utmemd gives the pages back (hostile-flush: 181 MiB
# against a bound of 148 MiB). The cases run for their races; the
# RSS checks are left out there, and only there.
rss_judged() {
	case ${UTMEM_SANITIZE:-none} in *thread*) return 1 ;; esac
	return 0
}

# held_bytes PID: bytes process PID holds, anonymous RSS plus its memfds'
# pages (bench/held.sh, the benchmarks' definition too). Not its RSS:
# utmemd unmaps spans of a value region before punching freed records out
# of them, so its RSS would fall even if the punches gave nothing back.
# shellcheck source=bench/held.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../../bench/held.sh"
held_bytes() { echo $(($(held_kb "$1") << 10)); }

# op_on_bulk WHAT ADDR OUT CTL-ARGS...: run `utmemctl CTL-ARGS` (its output
# in OUT) and, once INFO shows the job on utmemd's bulk thread, serve a new
# tenant connection at ADDR (200 requests). Fails unless the job showed,
# was still running when the connection was done, the command succeeded
# and the connection took under 2 s. If the caller defines ob_during, it
# runs right after the connection, while the job still runs. Sets
# OB_INFO_MS (until INFO showed the job), OB_CONN_MS (the connection) and
# OB_MS (the whole command).
op_on_bulk() {
	local what=$1 addr=$2 out=$3 t0 t1 t2 running=0 still pid
	shift 3
	bulk() { ctl info | awk '$1 == "bulk_running" { print $2 }'; }
	t0=$(($(date +%s%N) / 1000000))
	ctl "$@" >"$out" 2>&1 &
	pid=$!
	for _ in $(seq 300); do
		running=$(bulk)
		[ "$running" = 1 ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.01
	done
	[ "$running" = 1 ] || fail "$what never showed on the bulk thread (bulk_running $running)"
	t1=$(($(date +%s%N) / 1000000))
	"$UTMEM_BENCH" --addr "$addr" --pool probe --op mix --value-size 64 \
		--keys 100 --requests 200 --warmup 0 --json >"$out.probe" ||
		fail "$what: a new connection meanwhile: $(cat "$out.probe")"
	t2=$(($(date +%s%N) / 1000000))
	if declare -F ob_during >/dev/null; then ob_during; fi
	still=$(bulk)
	wait "$pid" || fail "$what: $(cat "$out")"
	OB_INFO_MS=$((t1 - t0))
	OB_CONN_MS=$((t2 - t1))
	OB_MS=$(($(date +%s%N) / 1000000 - t0))
	[ "$still" = 1 ] || fail "$what ended before the new connection was served: not shown (it took $OB_MS ms)"
	[ "$OB_CONN_MS" -lt 2000 ] || fail "$what: the new connection took $OB_CONN_MS ms meanwhile"
}

# json_num JSON OBJECT_NAME FIELD: the number FIELD inside the object whose
# "name" is OBJECT_NAME (utmemctl prints one object per tenant/pool, flat).
json_num() {
	printf '%s' "$1" | tr '{' '\n' | grep "\"name\":\"$2\"" | head -n 1 |
		sed -n "s/.*\"$3\":\([0-9]*\).*/\1/p"
}

# REDIS_ENV: what a redis-server needs in front of it to load $UTMEM_MODULE,
# as an `env` command prefix: a module built with ASan needs its runtime
# loaded first (gcc links libasan.so; clang's runtime is preloaded).
REDIS_ENV=(env)
if [ -n "${UTMEM_MODULE:-}" ]; then
	_asan_rt=$(ldd "$UTMEM_MODULE" 2>/dev/null | awk '/libasan/ { print $3; exit }')
	if [ -z "$_asan_rt" ] && nm -D --undefined-only "$UTMEM_MODULE" 2>/dev/null |
		grep -q ' __asan_' && command -v clang >/dev/null; then
		_asan_rt=$(clang -print-file-name="libclang_rt.asan-$(uname -m).so")
	fi
	[ -n "$_asan_rt" ] && REDIS_ENV=(env "LD_PRELOAD=$_asan_rt"
		"ASAN_OPTIONS=detect_leaks=0:abort_on_error=1"
		"UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1")
fi

#!/usr/bin/env bash
# utmem-bench-breakdown.sh — `utmem-bench --breakdown` and bench/breakdown.sh
# against real daemons: refused with a clear message by a utmemd without
# bench_modes; with it, every cell (1K/1M x PUT/GET x five modes) answers
# without error, each mode takes its path (no-forward never leaves the
# library, fast GETs are one-sided, null store spends nothing in the
# store, served requests do), and the script writes its table, data and
# plot with PUBLISH=0 (nothing in the tree). Short runs: this checks the
# tools, it measures nothing.
# Usage: utmem-bench-breakdown.sh UTMEMD UTMEM-BENCH SOURCE_ROOT BUILD_ROOT
set -euo pipefail

UTMEMD=${1:?usage: $0 UTMEMD UTMEM-BENCH SOURCE_ROOT BUILD_ROOT}
BENCH=${2:?}
SRC=${3:?}
BUILD=${4:?}
T=$(mktemp -d "${TMPDIR:-/tmp}/utmem-bench-breakdown.XXXXXX")
PIDS=()

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
	exit 1
}

# start NAME [ARGS]: utmemd under $T/NAME; waits for the default socket.
start() {
	local name=$1 i
	shift
	mkdir -p "$T/$name"
	"$UTMEMD" --run-dir "$T/$name" "$@" >"$T/$name.log" 2>&1 &
	PIDS+=($!)
	for ((i = 0; i < 200; i++)); do
		[[ -S $T/$name/utmemd.sock ]] && return 0
		sleep 0.05
	done
	cat "$T/$name.log" >&2
	fail "utmemd ($name) did not create its socket"
}

# field LINE KEY: a flat field of a JSON line.
field() {
	printf '%s\n' "$1" | sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\).*/\1/p"
}

start plain
rc=0
"$BENCH" --breakdown --addr "unix:$T/plain/utmemd.sock" --requests 5 \
	>"$T/out" 2>"$T/err" || rc=$?
[[ $rc == 1 ]] || fail "without bench_modes: exit $rc, want 1"
grep -q "bench_modes = on" "$T/err" || fail "no hint at bench_modes: $(cat "$T/err")"
echo "ok: refused without bench_modes: $(cat "$T/err")"

printf '[utmemd]\nbench_modes = on\n[tenant default]\n' >"$T/on.ini"
start on -c "$T/on.ini"
"$BENCH" --breakdown --addr "unix:$T/on/utmemd.sock" --requests 20 --json \
	--label 'smoke "quoted"' >"$T/cells.jsonl" || fail "--breakdown --json failed"
[[ $(wc -l <"$T/cells.jsonl") == 20 ]] || fail "want 20 cells: $(cat "$T/cells.jsonl")"
grep -q '"label":"smoke \\"quoted\\""' "$T/cells.jsonl" || fail "label not escaped"
while IFS= read -r l; do
	mode=$(field "$l" mode) op=$(field "$l" op) size=$(field "$l" size)
	what="$mode $op $size"
	[[ $(field "$l" errors) == 0 ]] || fail "$what: errors: $l"
	[[ $(field "$l" n) == 20 ]] || fail "$what: samples: $l"
	awk -v v="$(field "$l" total_p50_us)" 'BEGIN { exit !(v > 0) }' ||
		fail "$what: no time: $l"
	case $mode in
	no-forward)
		[[ $(field "$l" path) == library ]] || fail "$what: left the library: $l"
		[[ $(field "$l" transport_p99_us) == 0.000 ]] || fail "$what: transport: $l" ;;
	null-store)
		[[ $(field "$l" store_p99_us) == 0.000 ]] || fail "$what: store time: $l" ;;
	served | socket)
		awk -v v="$(field "$l" store_p50_us)" 'BEGIN { exit !(v > 0) }' ||
			fail "$what: no store time: $l" ;;
	fast)
		[[ $op == put ]] || [[ $(field "$l" path) == one-sided ]] ||
			fail "$what: not one-sided: $l" ;;
	esac
done <"$T/cells.jsonl"
echo "ok: 20 cells, each mode on its path"

"$BENCH" --breakdown --addr "unix:$T/on/utmemd.sock" --requests 10 >"$T/table" ||
	fail "--breakdown table failed"
[[ $(grep -cE '^1[KM] +(PUT|GET) ' "$T/table") == 20 ]] || fail "table: $(cat "$T/table")"
echo "ok: the table has 20 rows"

# The script, end to end, writing only outside the tree.
before=$(cd "$SRC" && git status --porcelain 2>/dev/null | md5sum)
BENCH_BUILD=$BUILD REQUESTS=10 REPS=2 PUBLISH=0 OUT=$T/script \
	"$SRC/bench/breakdown.sh" >"$T/script.out" 2>"$T/script.err" ||
	fail "bench/breakdown.sh: $(tail -n 5 "$T/script.err")"
[[ $(grep -c '^| 1[KM] |' "$T/script/breakdown.md") == 20 ]] ||
	fail "breakdown.md: $(cat "$T/script/breakdown.md")"
[[ $(grep -c '^"' "$T/script/breakdown.dat") == 20 ]] ||
	fail "breakdown.dat: $(cat "$T/script/breakdown.dat")"
if command -v gnuplot >/dev/null; then
	[[ -s $T/script/breakdown.png ]] || fail "no plot"
fi
after=$(cd "$SRC" && git status --porcelain 2>/dev/null | md5sum)
[[ $before == "$after" ]] || fail "PUBLISH=0 changed the tree"
echo "ok: bench/breakdown.sh wrote its table, data and plot outside the tree"

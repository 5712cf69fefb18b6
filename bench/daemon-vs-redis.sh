#!/usr/bin/env bash
# bench/daemon-vs-redis.sh — the raw daemon against redis-server and memcpy.
#
# Starts one utmemd and one redis-server on Unix sockets in a temporary
# directory and drives both with utmem-bench, side by side in one run:
#   - 1 KiB PUT and GET, native protocol vs redis SET/GET, at the same
#     connection count and pipeline depth (c=1 p=1, c=4 p=16, c=4 p=64),
#     natively on the default address (unix:PATH: the fast path, shared-
#     memory ring and value region) and, unless --no-socket, on the socket
#     alone (the same address with UTMEM_FAST_PATH=0);
#   - 1 MiB PUT and GET throughput (MB/s) of both against memcpy of 1 MiB
#     in the same process, the physical limit of anything that copies.
# Every key is written before a timed phase, for PUT too (utmem-bench
# --preload): PUTs overwrite stored values, as memcpy overwrites an arena
# it faulted in beforehand. On this VM a first write to a page costs
# ~15 us, so the first fill of 256 MiB of 1 MiB values would otherwise be
# timed too.
# Targets alternate (A B C A B C ...) for --reps repetitions; the table shows
# medians with min–max, and ratios computed per repetition (each A against
# the B run right next to it) then summarised the same way.
#
# Usage: bench/daemon-vs-redis.sh [BUILD-DIR] [--build DIR] [--reps N]
#              [--duration S] [--warmup S] [--out FILE] [--quick] [--no-socket]
# The build directory defaults to $BUILD, else build/.
# Servers are stopped by pid and the temporary directory removed on any exit,
# Ctrl-C included.
set -euo pipefail

SELF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SELF_DIR/.." && pwd)
# shellcheck source=bench/lib.sh
. "$SELF_DIR/lib.sh"

COMMAND="bench/daemon-vs-redis.sh${*:+ $*}"
BENCH_BUILD=${BUILD:-$ROOT/build}
REPS=3
DURATION=2
WARMUP=0.5
OUT=$ROOT/bench/results/daemon-vs-redis.md
RING=1

# usage STATUS: print the Usage paragraph of the header and exit.
usage() {
	if (($1)); then exec >&2; fi
	sed -n 's/^# \{0,1\}//; /^Usage:/,/^Servers/p' "$0" | sed '$d'
	exit "$1"
}

while (($#)); do
	case $1 in
	--build) BENCH_BUILD=${2:?--build needs a directory}; shift 2 ;;
	--reps) REPS=${2:?--reps needs a number}; shift 2 ;;
	--duration) DURATION=${2:?--duration needs seconds}; shift 2 ;;
	--warmup) WARMUP=${2:?--warmup needs seconds}; shift 2 ;;
	--out) OUT=${2:?--out needs a file}; shift 2 ;;
	--quick) REPS=1; DURATION=0.5; WARMUP=0.1; shift ;;
	--no-socket | --no-ring) RING=0; shift ;;
	-h | --help) usage 0 ;;
	-*) echo "daemon-vs-redis.sh: unknown option '$1'" >&2; usage 2 ;;
	*) BENCH_BUILD=$1; shift ;;
	esac
done
[[ $REPS =~ ^[1-9][0-9]?$ ]] || bench_die "--reps: expected 1..99"
[[ $BENCH_BUILD = /* ]] || BENCH_BUILD=$PWD/$BENCH_BUILD

bench_init
[[ -x $BENCH_UTMEM_BENCH ]] ||
	bench_die "no $BENCH_UTMEM_BENCH (build it: ninja -C $BENCH_BUILD)"

declare -A RES=() # "case|target|rep" -> utmem-bench JSON line
ERRORS=0

# run_one CASE TARGET REP OP SIZE CONNS PIPELINE KEYS: one utmem-bench run.
run_one() {
	local id=$1 target=$2 rep=$3 op=$4 size=$5 conns=$6 pipe=$7 keys=$8
	local args=() envs=() line errs
	case $target in
	utmem) args=(--target utmem --addr "unix:$UTMEMD_SOCK") ;;
	socket) args=(--target utmem --addr "unix:$UTMEMD_SOCK")
		envs=(UTMEM_FAST_PATH=0) ;;
	redis) args=(--target redis --addr "unix:$REDIS_SOCK") ;;
	memcpy) args=(--target memcpy) ;;
	esac
	[[ $op = put ]] && args+=(--preload) # steady state (see the top)
	if ! line=$(env "${envs[@]}" "$BENCH_UTMEM_BENCH" "${args[@]}" --op "$op" \
		--value-size "$size" --connections "$conns" --pipeline "$pipe" \
		--keys "$keys" --duration "$DURATION" --warmup "$WARMUP" \
		--max-time 300 --json --label "$id/$target/$rep" 2>"$BENCH_TMP/err"); then
		cat "$BENCH_TMP/err" >&2
		bench_die "utmem-bench failed: $id $target rep $rep"
	fi
	errs=$(bench_json_field "$line" errors)
	if [[ $errs != 0 ]]; then
		ERRORS=$((ERRORS + errs))
		echo "  warning: $id $target: $errs errors ($(bench_json_field "$line" first_error))" >&2
	fi
	RES["$id|$target|$rep"]=$line
	printf '  %-28s %-6s rep %d: %12.0f ops/s %10.1f MB/s\n' "$id" "$target" \
		"$rep" "$(bench_json_field "$line" ops_per_s)" \
		"$(bench_json_field "$line" mb_per_s)" >&2
}

# run_case CASE "TARGETS" OP SIZE CONNS PIPELINE KEYS: alternate the targets.
run_case() {
	local id=$1 targets=$2 rep t
	shift 2
	for ((rep = 1; rep <= REPS; rep++)); do
		for t in $targets; do
			run_one "$id" "$t" "$rep" "$@"
		done
	done
}

# field CASE TARGET KEY: that field of every repetition, one per line.
field() {
	local rep
	for ((rep = 1; rep <= REPS; rep++)); do
		bench_json_field "${RES["$1|$2|$rep"]}" "$3"
	done
}

# summary FORMAT VALUES...: "median (min–max)" of the values.
summary() {
	local fmt=$1 med lo hi
	shift
	med=$(bench_median "$@")
	read -r lo hi < <(bench_minmax "$@")
	if ((REPS == 1)); then
		printf "$fmt" "$med"
	else
		printf "$fmt ($fmt–$fmt)" "$med" "$lo" "$hi"
	fi
}

# ratios CASE A B KEY: per-repetition A/B of a field, one per line.
ratios() {
	paste <(field "$1" "$2" "$4") <(field "$1" "$3" "$4") |
		awk '{ printf "%.4f\n", ($2 > 0 ? $1 / $2 : 0) }'
}

# latency CASE TARGET: "p50 / p99" medians in microseconds.
latency() {
	printf '%s / %s' "$(bench_median $(field "$1" "$2" p50_us))" \
		"$(bench_median $(field "$1" "$2" p99_us))"
}

small_row() {
	local id=$1 label=$2 conns=$3 pipe=$4
	printf '| %s | %s | %s | %s | %s | **%s** | %s | %s |' "$label" "$conns" \
		"$pipe" "$(summary %.0f $(field "$id" utmem ops_per_s))" \
		"$(summary %.0f $(field "$id" redis ops_per_s))" \
		"$(summary %.2f× $(ratios "$id" utmem redis ops_per_s))" \
		"$(latency "$id" utmem)" "$(latency "$id" redis)"
	if ((RING)); then
		printf ' %s | **%s** | %s |' \
			"$(summary %.0f $(field "$id" socket ops_per_s))" \
			"$(summary %.2f× $(ratios "$id" socket redis ops_per_s))" \
			"$(latency "$id" socket)"
	fi
	echo
}

large_row() {
	local id=$1 label=$2 conns=$3 pipe=$4
	printf '| %s | %s | %s | %s | %s | %s | **%s** | %s |\n' "$label" "$conns" \
		"$pipe" "$(summary %.0f $(field "$id" utmem mb_per_s))" \
		"$(summary %.0f $(field "$id" redis mb_per_s))" \
		"$(summary %.0f $(field "$id" memcpy mb_per_s))" \
		"$(summary %.3f $(ratios "$id" utmem memcpy mb_per_s))" \
		"$(summary %.2f× $(ratios "$id" utmem redis mb_per_s))"
}

START=$(date -u '+%Y-%m-%d %H:%M UTC')
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)

bench_start_utmemd
bench_start_redis
echo "utmemd pid $UTMEMD_PID, redis-server pid $REDIS_PID, temp $BENCH_TMP" >&2

SMALL=("1 1" "4 16" "4 64")
SMALL_TARGETS="utmem redis"
((RING)) && SMALL_TARGETS+=" socket"
LARGE=("1 1" "2 4")
for cp in "${SMALL[@]}"; do
	read -r c p <<<"$cp"
	run_case "put-1K-c$c-p$p" "$SMALL_TARGETS" put 1K "$c" "$p" 10000
	run_case "get-1K-c$c-p$p" "$SMALL_TARGETS" get 1K "$c" "$p" 10000
done
for cp in "${LARGE[@]}"; do
	read -r c p <<<"$cp"
	run_case "put-1M-c$c-p$p" "utmem redis memcpy" put 1M "$c" "$p" 256
	run_case "get-1M-c$c-p$p" "utmem redis memcpy" get 1M "$c" "$p" 256
done
MACHINE=$(bench_machine) # its load line: at the start and now, the end

{
	echo "### utmemd vs redis-server vs memcpy ($START, commit $REV)"
	echo
	echo "Command: \`$COMMAND\` ($REPS repetitions, ${DURATION} s measured after ${WARMUP} s warmup per run, targets alternating)"
	echo
	echo "$MACHINE"
	echo "- utmemd: default configuration, one tenant, on its default address (unix:, the fast path) and on the socket alone (UTMEM_FAST_PATH=0); redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'), no persistence, Unix socket"
	echo "- Request errors across all runs: $ERRORS"
	echo
	echo "1 KiB values, ops/s, median (min–max) of $REPS; ratio = utmem/redis per repetition; latency per round trip of *p* requests, µs, medians of p50 / p99:"
	echo
	if ((RING)); then
		echo "| workload | conns | pipeline | utmem ops/s | redis ops/s | utmem/redis | utmem p50 / p99 µs | redis p50 / p99 µs | socket-only ops/s | socket/redis | socket p50 / p99 µs |"
		echo "|---|---|---|---|---|---|---|---|---|---|---|"
	else
		echo "| workload | conns | pipeline | utmem ops/s | redis ops/s | utmem/redis | utmem p50 / p99 µs | redis p50 / p99 µs |"
		echo "|---|---|---|---|---|---|---|---|"
	fi
	for cp in "${SMALL[@]}"; do
		read -r c p <<<"$cp"
		small_row "put-1K-c$c-p$p" "PUT vs SET 1 KiB" "$c" "$p"
		small_row "get-1K-c$c-p$p" "GET vs GET 1 KiB" "$c" "$p"
	done
	echo
	echo "1 MiB values, MB/s (10^6 B/s of values), median (min–max) of $REPS; memcpy = one copy of each value in the benchmark process:"
	echo
	echo "| workload | conns | pipeline | utmem MB/s | redis MB/s | memcpy MB/s | utmem/memcpy | utmem/redis |"
	echo "|---|---|---|---|---|---|---|---|"
	for cp in "${LARGE[@]}"; do
		read -r c p <<<"$cp"
		large_row "put-1M-c$c-p$p" "PUT 1 MiB" "$c" "$p"
		large_row "get-1M-c$c-p$p" "GET 1 MiB" "$c" "$p"
	done
} >"$BENCH_TMP/table.md"

mkdir -p "$(dirname "$OUT")"
cp "$BENCH_TMP/table.md" "$OUT"
cat "$BENCH_TMP/table.md"
echo "results written to $OUT" >&2

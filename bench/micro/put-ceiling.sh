#!/usr/bin/env bash
# bench/micro/put-ceiling.sh — the ceiling under TMEM.PUT ÷ SET on this
# machine: one redis-server with utmem.so (on utmemd's default address) and
# bench/micro/put-ceiling.so loaded, driven with the thesis's load (50
# clients at 1 KiB, 8 at 128 KiB, 4 at 1 MiB, no pipelining, 1000 random
# keys, TCP loopback), four arms in rotation per repetition:
#   SET        Redis keeps the received argument as the value (no copy)
#   CEIL.NOP   a module command taking the same arguments, doing nothing
#   CEIL.COPY  the same plus libutmem's one copy of the value (streaming
#              stores into a shared memfd): TMEM.PUT with utmemd for free
#   CEIL.ASYNC the same copy made by a thread of the module's own, Redis's
#              thread keeping the argument until it is done (as SET keeps it)
#   TMEM.PUT   the real thing
# Each arm's figure is the median ops/s of REPS runs (for each count
# CONNS gives the size, bench_conns_for); the ratios to SET are
# taken per repetition and their median printed. The rotation starts one
# arm later in each repetition, so no arm always follows the same one.
#
# Usage: bench/micro/put-ceiling.sh [BUILD]   (default build-final)
# Environment: SIZES ["1K 128K 1M"], CONNS ["1K:50 128K:8 1M:4"], REPS [3],
#   DURATION [5] seconds per run after 1 s of warm-up, KEYS [1000].
set -euo pipefail
cd "$(dirname "$0")/../.." || exit 1
BENCH_BUILD=${1:-${BENCH_BUILD:-build-final}}
SIZES=${SIZES:-"1K 128K 1M"}
CONNS=${CONNS:-"1K:50 128K:8 1M:4"}
REPS=${REPS:-3}
DURATION=${DURATION:-5}
KEYS=${KEYS:-1000}
export BENCH_REDIS_TCP=1
MODULE=$PWD/$BENCH_BUILD/src/redis/utmem.so
CEIL=$PWD/$BENCH_BUILD/bench/micro/put-ceiling.so

{
# shellcheck source=bench/lib.sh
. bench/lib.sh
for f in "$MODULE" "$CEIL"; do
	[ -f "$f" ] || bench_die "no $f (build it: ninja -C $BENCH_BUILD)"
done
bench_init
bench_start_utmemd
bench_start_redis --loadmodule "$MODULE" "addr=unix:$UTMEMD_SOCK" pool=ceiling \
	--loadmodule "$CEIL"

ARMS=(SET CEIL.NOP CEIL.COPY CEIL.ASYNC TMEM.PUT)

# run ARM SIZE CONNS: ops/s of one timed run (every key written first).
run() {
	local -a b=("$BENCH_UTMEM_BENCH" --target redis --addr "$REDIS_ADDR"
		--value-size "$2" --keys "$KEYS" --connections "$3" --pipeline 1)
	[ "$1" = SET ] || b+=(--put-cmd "$1")
	"${b[@]}" --op put --preload --requests "$3" --warmup 0 >/dev/null ||
		bench_die "preload failed: ${b[*]}"
	local line
	line=$("${b[@]}" --op put --no-preload --duration "$DURATION" --warmup 1 --json) ||
		bench_die "run failed: ${b[*]}"
	[ "$(bench_json_field "$line" errors)" = 0 ] ||
		bench_die "$1 $2: errors: $(bench_json_field "$line" first_error)"
	bench_json_field "$line" ops_per_s
}

# row SIZE CONNS: REPS repetitions of every arm in rotation, one table row.
row() {
	local size=$1 conns=$2 rep i arm out
	local -A ops=() ratio=() got=()

	for rep in $(seq "$REPS"); do
		for i in "${!ARMS[@]}"; do
			arm=${ARMS[$(((i + rep - 1) % ${#ARMS[@]}))]}
			got[$arm]=$(run "$arm" "$size" "$conns")
			echo "  rep $rep $size $arm: ${got[$arm]} ops/s" >&2
		done
		for arm in "${ARMS[@]}"; do
			ops[$arm]+="${got[$arm]} "
			ratio[$arm]+="$(awk -v a="${got[$arm]}" -v b="${got[SET]}" 'BEGIN { printf "%.3f", a / b }') "
		done
	done
	out="| $size | $conns |"
	for arm in "${ARMS[@]}"; do
		# shellcheck disable=SC2086
		out+=" $(printf '%.0f' "$(bench_median ${ops[$arm]})")"
		# shellcheck disable=SC2086
		out+=" ($(printf '%.2f' "$(bench_median ${ratio[$arm]})")×;"
		# shellcheck disable=SC2086
		out+=" $(bench_minmax ${ratio[$arm]} | awk '{ printf "%.2f–%.2f", $1, $2 }')) |"
	done
	echo "$out"
}

echo; printf "| value | conns |"; printf ' %s |' "${ARMS[@]}"; echo
printf '|------:|------:|'; printf -- '----:|%.0s' "${ARMS[@]}"; echo
for size in $SIZES; do
	for conns in $(bench_conns_for "$size"); do
		row "$size" "$conns"
	done
done
echo
echo "Cells: median ops/s (median per-repetition ratio to SET; min–max of that ratio)."
echo
bench_machine
echo "- $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'); $BENCH_BUILD, REPS=$REPS DURATION=$DURATION KEYS=$KEYS, clients over $REDIS_ADDR"
}

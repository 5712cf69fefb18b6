#!/usr/bin/env bash
# bench/mixed.sh — values of two sizes at once through one redis-server:
# SMALL_CONNS clients writing SMALL values and BIG_CONNS clients writing BIG
# values side by side (default 8 × 128 KiB and 1 × 1 MiB), plain SET
# against TMEM.PUT.
#
# Why: one connection of the module carries every client's values, and its
# staging extents are sized from the values it saw last (docs/protocol.md
# §10). A few large values among smaller ones once made every smaller value
# take a large extent; bench/nopressure.sh, one size at a time, cannot show
# that. Here each size has its own utmem-bench process and keys (the small
# ones 0..KEYS-1, the big ones from KEYS on), started together for the same
# DURATION after the same 1 s warm-up.
#
# A repetition runs the arms A B B A (SET TMEM.PUT TMEM.PUT SET, the other
# order in every other repetition); an arm's figure in a repetition is the
# mean of its two runs. Before each run every key is written at its size
# with the run's command, untimed. The table gives, for each size, the
# median (min–max) ops/s of each arm over REPS repetitions and the median
# of the per-repetition ratios TMEM.PUT/SET.
#
# Environment (defaults in brackets):
#   BENCH_BUILD [build]  SMALL [128K]  SMALL_CONNS [8]  BIG [1M]  BIG_CONNS [1]
#   REPS [3]  DURATION [5] seconds per run  KEYS [1000] random keys per size
#   BENCH_REDIS_TCP [1] clients reach Redis over TCP loopback (0: Unix socket)
#   UTMEM_TRANSPORT [unix] how utmem.so reaches utmemd (its default address
#          form; ring: forces the ring)
#   OUT [$UTMEM_RESULTS/mixed-<UTC time>]; UTMEM_RESULTS [/var/tmp/utmem-results]
#   PUBLISH [0] 1: copy the table to bench/results/mixed.md
set -euo pipefail

cd "$(dirname "$0")/.." || exit 1
BENCH_BUILD=${BENCH_BUILD:-build}
SMALL=${SMALL:-128K}
SMALL_CONNS=${SMALL_CONNS:-8}
BIG=${BIG:-1M}
BIG_CONNS=${BIG_CONNS:-1}
REPS=${REPS:-3}
DURATION=${DURATION:-5}
KEYS=${KEYS:-1000}
export BENCH_REDIS_TCP=${BENCH_REDIS_TCP:-1}
UTMEM_TRANSPORT=${UTMEM_TRANSPORT:-unix}
PUBLISH=${PUBLISH:-0}
UTMEM_RESULTS=${UTMEM_RESULTS:-/var/tmp/utmem-results}
OUT=${OUT:-$UTMEM_RESULTS/mixed-$(date -u +%Y%m%dT%H%M%SZ)}
MODULE=$PWD/$BENCH_BUILD/src/redis/utmem.so

# Read whole before it starts: editing the file mid-run changes nothing.
{
# shellcheck source=bench/lib.sh
. bench/lib.sh

bench_init_redis
# shellcheck disable=SC2119 # utmemd on its embedded default: no arguments
bench_start_utmemd
bench_start_redis --loadmodule "$MODULE" "addr=$UTMEM_TRANSPORT:$UTMEMD_SOCK" pool=mixed
[ -x "$BENCH_UTMEM_BENCH" ] || bench_die "no $BENCH_UTMEM_BENCH"

# client ARM SIZE CONNS OFFSET ARGS...: utmem-bench against the server.
client() {
	local arm=$1 size=$2 conns=$3 off=$4
	shift 4
	local -a c=("$BENCH_UTMEM_BENCH" --target redis --addr "$REDIS_ADDR"
		--value-size "$size" --keys "$KEYS" --key-offset "$off"
		--connections "$conns" --pipeline 1 --op put)
	[ "$arm" = SET ] || c+=(--put-cmd TMEM.PUT)
	"${c[@]}" "$@"
}

# mx_run ARM REP: one timed run of both sizes at once; appends both JSON
# lines to $RAW and prints "small_ops big_ops". Dies on a failed run or
# one with errors: a missing number is never averaged over.
mx_run() {
	local arm=$1 rep=$2 bpid spid ls lb
	client "$arm" "$SMALL" "$SMALL_CONNS" 0 --preload --requests "$SMALL_CONNS" --warmup 0 >/dev/null ||
		bench_die "preload of $SMALL values failed"
	client "$arm" "$BIG" "$BIG_CONNS" "$KEYS" --preload --requests "$BIG_CONNS" --warmup 0 >/dev/null ||
		bench_die "preload of $BIG values failed"
	client "$arm" "$BIG" "$BIG_CONNS" "$KEYS" --no-preload --duration "$DURATION" \
		--warmup 1 --json --label "$arm/$rep/big" >"$OUT/big.json" &
	bpid=$!
	client "$arm" "$SMALL" "$SMALL_CONNS" 0 --no-preload --duration "$DURATION" \
		--warmup 1 --json --label "$arm/$rep/small" >"$OUT/small.json" &
	spid=$!
	wait "$spid" || bench_die "$arm: the $SMALL clients failed"
	wait "$bpid" || bench_die "$arm: the $BIG clients failed"
	ls=$(cat "$OUT/small.json")
	lb=$(cat "$OUT/big.json")
	printf '%s\n%s\n' "$ls" "$lb" >>"$RAW"
	for l in "$ls" "$lb"; do
		[ "$(bench_json_field "$l" errors)" = 0 ] ||
			bench_die "$arm: errors in a run: $(bench_json_field "$l" first_error)"
	done
	echo "$(bench_json_field "$ls" ops_per_s) $(bench_json_field "$lb" ops_per_s)"
}

declare -A S B
for ((rep = 1; rep <= REPS; rep++)); do
	if ((rep % 2)); then order="SET TMEM.PUT TMEM.PUT SET"; else order="TMEM.PUT SET SET TMEM.PUT"; fi
	declare -A ss=() sb=()
	for arm in $order; do
		read -r vs vb <<<"$(mx_run "$arm" "$rep")"
		echo "rep $rep $arm: $SMALL × $SMALL_CONNS $vs ops/s, $BIG × $BIG_CONNS $vb ops/s" >&2
		ss[$arm]=$(awk -v x="${ss[$arm]:-0}" -v y="$vs" 'BEGIN { print x + y }')
		sb[$arm]=$(awk -v x="${sb[$arm]:-0}" -v y="$vb" 'BEGIN { print x + y }')
	done
	for arm in SET TMEM.PUT; do
		S[$arm]="${S[$arm]:-} $(awk -v x="${ss[$arm]}" 'BEGIN { printf "%.1f", x / 2 }')"
		B[$arm]="${B[$arm]:-} $(awk -v x="${sb[$arm]}" 'BEGIN { printf "%.1f", x / 2 }')"
	done
	unset ss sb
done

MD=$OUT/mixed.md
{
	echo "### Two value sizes at once"
	echo
	bench_machine
	echo "- redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'), utmem.so over $UTMEM_TRANSPORT:, utmemd's default config; clients utmem-bench (RESP), over $REDIS_ADDR"
	echo "- $SMALL_CONNS clients of $SMALL values and $BIG_CONNS of $BIG at once, $KEYS keys per size (each written before every run, untimed), no pipelining, $DURATION s per run after 1 s warm-up, $REPS repetitions of A B B A"
	echo "- command: \`BENCH_BUILD=$BENCH_BUILD SMALL=$SMALL SMALL_CONNS=$SMALL_CONNS BIG=$BIG BIG_CONNS=$BIG_CONNS REPS=$REPS DURATION=$DURATION KEYS=$KEYS BENCH_REDIS_TCP=$BENCH_REDIS_TCP UTMEM_TRANSPORT=$UTMEM_TRANSPORT bench/mixed.sh\`"
	echo
	echo "| value | clients | SET ops/s | TMEM.PUT ops/s | TMEM.PUT/SET |"
	echo "|------:|--------:|----------:|---------------:|-------------:|"
	echo "| $SMALL | $SMALL_CONNS | $(bench_range "${S[SET]}") | $(bench_range "${S[TMEM.PUT]}") | $(bench_range "$(bench_ratios "${S[SET]}" "${S[TMEM.PUT]}")" 2) |"
	echo "| $BIG | $BIG_CONNS | $(bench_range "${B[SET]}") | $(bench_range "${B[TMEM.PUT]}") | $(bench_range "$(bench_ratios "${B[SET]}" "${B[TMEM.PUT]}")" 2) |"
} >"$MD"
cat "$MD"
[ "$PUBLISH" = 1 ] || exit 0
cp "$MD" bench/results/mixed.md
exit 0
}

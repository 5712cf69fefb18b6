#!/usr/bin/env bash
# bench/breakdown.sh — the thesis's Table 3.2 for utmem: where a 1 KiB and a
# 1 MiB PUT and GET spend their time (library, transport, daemon, store),
# p50 and p99 per layer, from `utmem-bench --breakdown`.
#
# One fresh utmemd started with `bench_modes = on` (the latency breakdown
# modes are refused otherwise; docs/evaluation.md, "Latency breakdown"),
# nothing else. utmem-bench repeats one request on one key per cell, as the
# thesis's microbenchmark did, in five modes: fast (the default: posted
# PUTs, one-sided GETs), served (every request waits for utmemd, ring),
# socket (no fast path), null-store (utmemd answers without the store),
# no-forward (the library answers by itself). Every sample is split by
# utmem_timing() (include/utmem.h); the whole run is repeated REPS times
# and each figure is the median over repetitions of that repetition's
# p50 (or p99), with the min–max of the total's.
#
# Output: a directory under $UTMEM_RESULTS (raw JSON lines, the daemon's
# log, a markdown table, a gnuplot data file); the table and the data are
# copied to bench/results/breakdown.{md,dat} and the plot drawn to
# docs/img/breakdown.png when gnuplot is present (unless PUBLISH=0).
#
# Environment (defaults in brackets):
#   BENCH_BUILD [build]  REQUESTS [2000] timed requests per cell and
#   repetition  REPS [3]  RING_SIZE [utmemd's default] ring_size for utmemd
#   (a frame over half the ring goes through the socket)
#   OUT [$UTMEM_RESULTS/breakdown-<UTC time>]; UTMEM_RESULTS [/var/tmp/utmem-results]
#   PUBLISH [1] copy the results to bench/results/ and the plot to docs/img/
#   (0: leave them only in OUT)
set -euo pipefail

cd "$(dirname "$0")/.." || exit 1
BENCH_BUILD=${BENCH_BUILD:-build}
REQUESTS=${REQUESTS:-2000}
REPS=${REPS:-3}
RING_SIZE=${RING_SIZE:-}
PUBLISH=${PUBLISH:-1}
UTMEM_RESULTS=${UTMEM_RESULTS:-/var/tmp/utmem-results}
OUT=${OUT:-$UTMEM_RESULTS/breakdown-$(date -u +%Y%m%dT%H%M%SZ)}

# The whole program is one brace group, read completely before it starts:
# editing this file while an experiment runs cannot change what runs.
{
# shellcheck source=bench/lib.sh
. bench/lib.sh

bench_init
mkdir -p "$OUT"
RAW=$OUT/raw.jsonl
: >"$RAW"
[ -x "$BENCH_UTMEM_BENCH" ] || bench_die "no $BENCH_UTMEM_BENCH (build it first)"

CFG=$BENCH_TMP/utmemd.ini
{
	echo "[utmemd]"
	echo "; the latency breakdown modes: a benchmarking aid, never in production"
	echo "bench_modes = on"
	[ -z "$RING_SIZE" ] || echo "ring_size = $RING_SIZE"
	echo "[tenant default]"
} >"$CFG"
bench_start_utmemd -c "$CFG"

for ((rep = 1; rep <= REPS; rep++)); do
	"$BENCH_UTMEM_BENCH" --breakdown --addr "unix:$UTMEMD_SOCK" \
		--requests "$REQUESTS" --json --label "rep$rep" >"$OUT/rep$rep.jsonl" ||
		bench_die "utmem-bench --breakdown failed (repetition $rep)"
	cat "$OUT/rep$rep.jsonl" >>"$RAW"
	while IFS= read -r line; do
		[ "$(bench_json_field "$line" errors)" = 0 ] ||
			bench_die "errors in $(bench_json_field "$line" mode) $(bench_json_field "$line" op) $(bench_json_field "$line" size): $(bench_json_field "$line" first_error)"
	done <"$OUT/rep$rep.jsonl"
	echo "repetition $rep of $REPS done" >&2
done
cp "$UTMEMD_RUN.log" "$OUT/utmemd.log"

# field SIZE OP MODE KEY: that field of every repetition, one per line.
field() {
	grep "\"size\":$1,\"op\":\"$2\",\"mode\":\"$3\"" "$RAW" |
		while IFS= read -r line; do bench_json_field "$line" "$4"; done
}
# med SIZE OP MODE KEY: the median over repetitions, 2 decimals.
med() { field "$@" | bench_median | awk '{ printf "%.2f", $1 }'; }
# paths SIZE OP MODE: the paths the samples took, as each repetition saw them.
paths() { field "$1" "$2" "$3" path | sort -u | paste -sd ';' -; }

MODES="fast served socket null-store no-forward"
LAYERS="library transport daemon store total"
MD=$OUT/breakdown.md
DAT=$OUT/breakdown.dat
{
	echo "### Latency breakdown (thesis Table 3.2): p50 / p99 in µs"
	echo
	bench_machine
	echo "- utmemd $("$BENCH_BUILD/src/daemon/utmemd" --version 2>/dev/null | head -n1 | sed 's/^utmemd //'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), bench_modes = on, ring_size ${RING_SIZE:-default}; one client, one key, one request at a time"
	echo "- $REQUESTS timed requests per cell after $((REQUESTS / 10 < 10 ? 10 : REQUESTS / 10)) untimed, $REPS repetitions; each figure the median over repetitions, total p50 with min–max"
	echo "- command: \`BENCH_BUILD=$BENCH_BUILD REQUESTS=$REQUESTS REPS=$REPS${RING_SIZE:+ RING_SIZE=$RING_SIZE} bench/breakdown.sh\`"
	echo
	echo "| value | op | mode | path | library | transport | daemon | store | total | total p50 min–max |"
	echo "|------:|----|------|------|--------:|----------:|-------:|------:|------:|------------------:|"
	for size in 1024 1048576; do
		[ "$size" = 1024 ] && sz=1K || sz=1M
		for op in put get; do
			for mode in $MODES; do
				row="| $sz | ${op^^} | $mode | $(paths $size $op $mode) |"
				for l in $LAYERS; do
					row="$row $(med $size $op $mode ${l}_p50_us) / $(med $size $op $mode ${l}_p99_us) |"
				done
				# shellcheck disable=SC2046
				mm=$(bench_minmax $(field $size $op $mode total_p50_us))
				row="$row $(awk -v mm="$mm" 'BEGIN { split(mm, a, " "); printf "%.2f–%.2f", a[1], a[2] }') |"
				echo "$row"
			done
		done
	done
	echo
	echo "Library, transport, daemon and store are defined in include/utmem.h (struct utmem_timing);"
	echo "p50s of the parts need not add up to the p50 of the total. \"fast\" PUTs that show a path"
	echo "other than posted were not covered by credit or staging and waited for utmemd."
} >"$MD"
{
	echo "# p50 in µs per layer: index 0 = 1 KiB, index 1 = 1 MiB"
	echo "# label library transport daemon store total   (median over $REPS repetitions)"
	for size in 1024 1048576; do
		for op in put get; do
			for mode in $MODES; do
				printf '"%s %s"' "${op^^}" "$mode"
				for l in $LAYERS; do printf ' %s' "$(med $size $op $mode ${l}_p50_us)"; done
				echo
			done
		done
		echo
		echo
	done
} >"$DAT"
cat "$MD"
[ "$PUBLISH" = 1 ] || exit 0
cp "$MD" bench/results/breakdown.md
cp "$DAT" bench/results/breakdown.dat
if command -v gnuplot >/dev/null; then
	mkdir -p docs/img
	gnuplot -e "datafile='$DAT'; outfile='docs/img/breakdown.png'" bench/plot/breakdown.gp ||
		echo "breakdown.sh: gnuplot failed; the table stands" >&2
fi
exit 0
}

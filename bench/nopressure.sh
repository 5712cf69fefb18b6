#!/usr/bin/env bash
# bench/nopressure.sh — the thesis's Table 3.1 (and the same for GET): Redis
# with no memory pressure, plain SET/GET against TMEM.PUT/TMEM.GET.
#
# One redis-server with utmem.so loaded and one utmemd, nothing confined.
# For every value size, the same client (utmem-bench speaking RESP) drives the
# same redis-server with the same connection count and pipeline depth. A
# repetition runs each pair of arms as A B B A (plain TMEM TMEM plain; TMEM
# plain plain TMEM on every other repetition): what one arm leaves behind
# (Redis's allocator gives the freed values of a SET arm back to the OS
# over the next seconds, during whatever runs next) falls on both arms
# alike. An arm's figure in a repetition is the mean of its two runs; the
# table gives the median of REPS repetitions with min–max, and the ratio
# TMEM/plain is taken per repetition and its median reported. (Plain
# A B alternation put TMEM.PUT at 1 MiB at 0.58-0.89 of SET when it came
# second and 1.10-1.18 when it came first.) Before each run every key is
# written at the run's size, untimed, so that each timed run measures its
# arm's steady state (np_run). Each run also reports the CPU time per
# operation of redis-server, utmemd and the whole machine (/proc).
#
# Output: a directory under $UTMEM_RESULTS (raw JSON lines, a markdown table,
# a gnuplot data file); the table and the data are copied to
# bench/results/nopressure.{md,dat}, and the
# plot docs/img/nopressure.png when gnuplot is present (unless PUBLISH=0).
#
# Environment (defaults in brackets):
#   BENCH_BUILD [build]  SIZES ["1K 128K 1M"]  PIPELINE [1]
#   CONNS ["1K:50 128K:8 1M:4"] client connections: SIZE:N pairs (N for that
#          size) and/or plain numbers (for every size); the default is the
#          thesis's redis-benchmark shape
#   REPS [3]  DURATION [5] seconds per arm  KEYS [1000] random keys
#   BENCH_REDIS_TCP [1] clients reach Redis over TCP loopback (0: Unix socket)
#   OUT [$UTMEM_RESULTS/nopressure-<UTC time>]; UTMEM_RESULTS [/var/tmp/utmem-results]:
#          raw data stays out of the tree (bench/results/README.md)
#   UTMEM_TRANSPORT [unix] how utmem.so reaches utmemd: unix or ring
#   (shared-memory ring set up over the same socket)
#   PUBLISH [1] copy the results to bench/results/nopressure.{md,dat} and
#   the plot to docs/img/ (0: leave them only in OUT)
#   UTMEMD_CONFIG [] a configuration file for utmemd (-c); empty: its
#   embedded default (an A/B of one setting: two files differing in it)
set -euo pipefail

cd "$(dirname "$0")/.." || exit 1
BENCH_BUILD=${BENCH_BUILD:-build}
SIZES=${SIZES:-"1K 128K 1M"}
CONNS=${CONNS:-"1K:50 128K:8 1M:4"}
PIPELINE=${PIPELINE:-1}
REPS=${REPS:-3}
DURATION=${DURATION:-5}
KEYS=${KEYS:-1000}
export BENCH_REDIS_TCP=${BENCH_REDIS_TCP:-1}
PUBLISH=${PUBLISH:-1}
UTMEM_TRANSPORT=${UTMEM_TRANSPORT:-unix}
UTMEM_RESULTS=${UTMEM_RESULTS:-/var/tmp/utmem-results}
OUT=${OUT:-$UTMEM_RESULTS/nopressure-$(date -u +%Y%m%dT%H%M%SZ)}
MODULE=$PWD/$BENCH_BUILD/src/redis/utmem.so

# The whole program is one brace group, read completely before it starts:
# editing this file while an experiment runs cannot change what runs.
{
# shellcheck source=bench/lib.sh
. bench/lib.sh

bench_init_redis

bench_start_utmemd ${UTMEMD_CONFIG:+-c "$UTMEMD_CONFIG"}
bench_start_redis --loadmodule "$MODULE" "addr=$UTMEM_TRANSPORT:$UTMEMD_SOCK" pool=nopressure
[ -x "$BENCH_UTMEM_BENCH" ] || bench_die "no $BENCH_UTMEM_BENCH"

# cpu_sample: CPU time so far, in clock ticks, of redis-server, of utmemd and
# of the whole machine (user, nice, system, irq and softirq of every core;
# not idle, iowait or steal).
cpu_sample() {
	echo "$(awk '{ print $14 + $15 }' "/proc/$REDIS_PID/stat")" \
		"$(awk '{ print $14 + $15 }' "/proc/$UTMEMD_PID/stat")" \
		"$(awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat)"
}

# np_run ARM OP SIZE CONNS REP: one timed utmem-bench run; appends its JSON
# line (labelled ARM/REP) to $RAW and prints "ops/s redis utmemd machine":
# the last three the CPU time per operation in microseconds, from the end of
# the warm-up to the end of the run (so the few ms of the client's exit
# count too). Exits on a failed run: a missing number must never be
# averaged over silently.
np_run() {
	local arm=$1 op=$2 size=$3 conns=$4 rep=$5 line ops n bpid c0 c1
	local -a base=("$BENCH_UTMEM_BENCH" --target redis --addr "$REDIS_ADDR"
		--value-size "$size" --keys "$KEYS" --connections "$conns"
		--pipeline "$PIPELINE")
	case $arm in TMEM.*) base+=(--put-cmd TMEM.PUT --get-cmd TMEM.GET) ;; esac
	local -a cmd=("${base[@]}" --op "$op" --no-preload --duration "$DURATION"
		--warmup 1 --json --label "$arm/$rep")
	# Every key is first written at this size, untimed, by a run of its own
	# (so that the CPU sampled below is the timed phase's): the timed phase
	# overwrites or reads values already stored, as a store does in its
	# steady state, and no arm is timed refilling its store after the other
	# arm's run. On this VM the second 1 GiB written in a row took 2-3x the
	# CPU per value of the first, whichever arm wrote it, so A B B A put
	# that cost on TMEM.PUT in the odd repetitions and on SET in the even.
	"${base[@]}" --op put --preload --requests "$conns" --warmup 0 >/dev/null ||
		bench_die "utmem-bench preload failed: ${base[*]}"
	"${cmd[@]}" >"$OUT/run.json" &
	bpid=$!
	sleep 1
	c0=$(cpu_sample)
	wait "$bpid" || bench_die "utmem-bench failed: ${cmd[*]}"
	c1=$(cpu_sample)
	line=$(cat "$OUT/run.json")
	printf '%s\n' "$line" >>"$RAW"
	ops=$(bench_json_field "$line" ops_per_s)
	n=$(bench_json_field "$line" ops)
	[ "$(bench_json_field "$line" errors)" = 0 ] ||
		bench_die "$arm $size: errors in run: $(bench_json_field "$line" first_error)"
	awk -v ops="$ops" -v n="$n" -v a="$c0" -v b="$c1" -v hz="$(getconf CLK_TCK)" 'BEGIN {
		split(a, x, " "); split(b, y, " "); us = 1e6 / hz / (n > 0 ? n : 1)
		printf "%s %.1f %.1f %.1f\n", ops, (y[1] - x[1]) * us, (y[2] - x[2]) * us, (y[3] - x[3]) * us }'
}

# The measurements: results[ARM,SIZE,CONNS] = space-separated ops/s per rep;
# CR, CU, CM: CPU microseconds per operation of redis-server, utmemd and the
# machine, per run (two runs of each arm per repetition).
declare -A R CR CU CM
for ((rep = 1; rep <= REPS; rep++)); do
	for size in $SIZES; do
		for c in $(bench_conns_for "$size"); do
			for pair in "SET TMEM.PUT" "GET TMEM.GET"; do
				read -r a b <<<"$pair"
				if ((rep % 2)); then order="$a $b $b $a"; else order="$b $a $a $b"; fi
				declare -A sum=()
				for arm in $order; do
					case $arm in *PUT | SET) op="put" ;; *) op="get" ;; esac
					res=$(np_run "$arm" "$op" "$size" "$c" "$rep") # set -e: a failed run ends it
					read -r v cr cu cm <<<"$res"
					sum[$arm]=$(awk -v x="${sum[$arm]:-0}" -v y="$v" 'BEGIN { print x + y }')
					CR[$arm,$size,$c]="${CR[$arm,$size,$c]:-} $cr"
					CU[$arm,$size,$c]="${CU[$arm,$size,$c]:-} $cu"
					CM[$arm,$size,$c]="${CM[$arm,$size,$c]:-} $cm"
					echo "rep $rep size $size conns $c $arm: $v ops/s; CPU per op: redis-server $cr us, utmemd $cu us, machine $cm us" >&2
				done
				for arm in $a $b; do
					v=$(awk -v x="${sum[$arm]}" 'BEGIN { printf "%.1f", x / 2 }')
					R[$arm,$size,$c]="${R[$arm,$size,$c]:-} $v"
				done
				unset sum
			done
		done
	done
done

MD=$OUT/nopressure.md
DAT=$OUT/nopressure.dat
{
	echo "### No memory pressure (thesis Table 3.1, plus GET)"
	echo
	bench_machine
	cfgdesc="default config"
	[ -z "${UTMEMD_CONFIG:-}" ] ||
		cfgdesc="config $UTMEMD_CONFIG ($(grep -v '^[[:space:]]*\(#\|$\)' "$UTMEMD_CONFIG" | paste -sd ';'))"
	echo "- redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'), utmem.so over $UTMEM_TRANSPORT:, utmemd $cfgdesc; client utmem-bench (RESP, hiredis)"
	echo "- clients over $REDIS_ADDR (${REDIS_ADDR%%:*}), keys $KEYS random (each written at the size before every run, untimed), pipeline $PIPELINE, ${DURATION} s per arm after 1 s warm-up, $REPS repetitions of A B B A (an arm's figure the mean of its two runs); median (min–max) ops/s"
	echo "- command: \`BENCH_BUILD=$BENCH_BUILD SIZES=\"$SIZES\" CONNS=\"$CONNS\" REPS=$REPS DURATION=$DURATION KEYS=$KEYS BENCH_REDIS_TCP=$BENCH_REDIS_TCP UTMEM_TRANSPORT=$UTMEM_TRANSPORT${UTMEMD_CONFIG:+ UTMEMD_CONFIG=$UTMEMD_CONFIG} bench/nopressure.sh\`"
	echo
	# One pass over the rows fills both tables: ops/s and ratios, and CPU.
	rows="" cpu_rows=""
	for size in $SIZES; do
		for c in $(bench_conns_for "$size"); do
			rp=$(bench_ratios "${R[SET,$size,$c]}" "${R[TMEM.PUT,$size,$c]}")
			rg=$(bench_ratios "${R[GET,$size,$c]}" "${R[TMEM.GET,$size,$c]}")
			rows+="| $size | $c | $(bench_range "${R[SET,$size,$c]}") | $(bench_range "${R[TMEM.PUT,$size,$c]}") | $(bench_range "$rp" 2) | $(bench_range "${R[GET,$size,$c]}") | $(bench_range "${R[TMEM.GET,$size,$c]}") | $(bench_range "$rg" 2) |"$'\n'
			cpu_rows+="| $size | $c |"
			for arm in SET TMEM.PUT GET TMEM.GET; do
				# shellcheck disable=SC2086
				cpu_rows+=$(printf ' %.1f / %.1f / %.1f |' "$(bench_median ${CR[$arm,$size,$c]})" \
					"$(bench_median ${CU[$arm,$size,$c]})" "$(bench_median ${CM[$arm,$size,$c]})")
			done
			cpu_rows+=$'\n'
		done
	done
	echo "| value | conns | SET | TMEM.PUT | TMEM.PUT/SET | GET | TMEM.GET | TMEM.GET/GET |"
	echo "|------:|------:|----:|---------:|-------------:|----:|---------:|-------------:|"
	printf '%s' "$rows"
	echo
	echo "CPU time per operation, µs: redis-server / utmemd / the whole machine (every core, every process; the client included), median of the $((2 * REPS)) runs of each arm"
	echo
	echo "| value | conns | SET | TMEM.PUT | GET | TMEM.GET |"
	echo "|------:|------:|----:|---------:|----:|---------:|"
	printf '%s' "$cpu_rows"
} >"$MD"
{
	echo "# size conns  then per arm (SET TMEM.PUT GET TMEM.GET): median min max ops/s"
	for size in $SIZES; do
		for c in $(bench_conns_for "$size"); do
			printf '%s %s' "$size" "$c"
			for arm in SET TMEM.PUT GET TMEM.GET; do
				# shellcheck disable=SC2086
				printf ' %s %s' "$(bench_median ${R[$arm,$size,$c]})" "$(bench_minmax ${R[$arm,$size,$c]})"
			done
			echo
		done
	done
} >"$DAT"
cat "$MD"
[ "$PUBLISH" = 1 ] || exit 0
cp "$MD" bench/results/nopressure.md
cp "$DAT" bench/results/nopressure.dat

if command -v gnuplot >/dev/null; then
	mkdir -p docs/img
	gnuplot -e "datafile='$DAT'; outfile='docs/img/nopressure.png'" bench/plot/nopressure.gp ||
		echo "nopressure.sh: gnuplot failed; the table stands" >&2
fi
exit 0
}

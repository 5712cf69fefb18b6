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
# log, a markdown table, a gnuplot data file, the plot when gnuplot is
# present); the table and the data are copied to
# bench/results/breakdown.{md,dat} and the plot to docs/img/breakdown.png
# (unless PUBLISH=0).
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

MD=$OUT/breakdown.md
DAT=$OUT/breakdown.dat
# One pass over the raw lines (POSIX awk): per cell, the median over
# repetitions of each layer's p50 and p99, the min–max of the total p50,
# and the paths the repetitions saw. Prints the table rows to stdout and
# the plot data to the file DAT.
aggregate() {
	awk -v dat="$DAT" -v reps="$REPS" '
	function val(line, key,    m) {
		if (!match(line, "\"" key "\":\"?[^\",}]*"))
			return ""
		m = substr(line, RSTART + length(key) + 3, RLENGTH - length(key) - 3)
		sub(/^"/, "", m)
		return m
	}
	function median(list,    a, n, i, j, t) {
		n = split(list, a, " ")
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
				t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
			}
		if (n == 0) return "nan"
		return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function extreme(list, want_max,    a, n, i, r) {
		n = split(list, a, " ")
		r = a[1]
		for (i = 2; i <= n; i++)
			if ((want_max && a[i] + 0 > r + 0) || (!want_max && a[i] + 0 < r + 0))
				r = a[i]
		return r
	}
	{
		k = val($0, "size") SUBSEP val($0, "op") SUBSEP val($0, "mode")
		for (l = 1; l <= 5; l++)
			for (q = 50; q <= 99; q += 49) {
				f = layer[l] "_p" q "_us"
				v[k, f] = v[k, f] " " val($0, f)
			}
		p = val($0, "path")
		if (index(";" paths[k] ";", ";" p ";") == 0)
			paths[k] = paths[k] (paths[k] == "" ? "" : ";") p
	}
	BEGIN {
		split("library transport daemon store total", layer, " ")
		split("fast served socket null-store no-forward", mode, " ")
		printf "# p50 in µs per layer: index 0 = 1 KiB, index 1 = 1 MiB\n" > dat
		printf "# label library transport daemon store total   (median over %s repetitions)\n", reps > dat
	}
	END {
		for (si = 1; si <= 2; si++) {
			size = si == 1 ? 1024 : 1048576
			for (oi = 1; oi <= 2; oi++) {
				op = oi == 1 ? "put" : "get"
				for (mi = 1; mi <= 5; mi++) {
					k = size SUBSEP op SUBSEP mode[mi]
					row = sprintf("| %s | %s | %s | %s |", si == 1 ? "1K" : "1M",
						toupper(op), mode[mi], paths[k])
					d = sprintf("\"%s %s\"", toupper(op), mode[mi])
					for (l = 1; l <= 5; l++) {
						m50 = median(v[k, layer[l] "_p50_us"])
						row = row sprintf(" %.2f / %.2f |", m50,
							median(v[k, layer[l] "_p99_us"]))
						d = d sprintf(" %.2f", m50)
					}
					t = v[k, "total_p50_us"]
					print row sprintf(" %.2f–%.2f |", extreme(t, 0), extreme(t, 1))
					print d > dat
				}
			}
			print "\n" > dat
		}
	}' "$RAW"
}

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
	aggregate
	echo
	echo "Library, transport, daemon and store are defined in include/utmem.h (struct utmem_timing);"
	echo "p50s of the parts need not add up to the p50 of the total. \"fast\" PUTs that show a path"
	echo "other than posted were not covered by credit or staging and waited for utmemd."
} >"$MD"
cat "$MD"
PNG=$OUT/breakdown.png
if command -v gnuplot >/dev/null; then
	gnuplot -e "datafile='$DAT'; outfile='$PNG'" bench/plot/breakdown.gp ||
		{ echo "breakdown.sh: gnuplot failed; the table stands" >&2; PNG=; }
else
	PNG=
fi
[ "$PUBLISH" = 1 ] || exit 0
cp "$MD" bench/results/breakdown.md
cp "$DAT" bench/results/breakdown.dat
if [ -n "$PNG" ]; then
	mkdir -p docs/img
	cp "$PNG" docs/img/breakdown.png
fi
exit 0
}

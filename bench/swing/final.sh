#!/usr/bin/env bash
# bench/swing/final.sh — issue 10's measurements, in one command, for a
# quiet machine (nobody else building or benchmarking; about 15 minutes):
#
#   sudo bench/swing/final.sh [BUILD_DIR]
#
#  1. bench/micro/shrink-bench 1152 1024: RSS after a 1 GiB shrink at every
#     value size, 64 B to 1 MiB (evict, compact, purge timed apart), with
#     the RSS samples plotted (shrink-rss.png);
#  2. bench/swing/run.sh: the swinging-demand experiment, balloon at 190
#     MiB/s against utmem;
#  3. bench/swing/run.sh --only balloon --balloon-rate 1621: the balloon at
#     its best speed (1.7 GB/s).
# Raw data lands in $UTMEM_RESULTS/elastic-DATE/ (default
# /var/tmp/utmem-results), with the load average before and after each
# part; the reports are published as bench/results/shrink.md, swing.md and
# swing-fast-balloon.md, the plots as docs/img/shrink-rss.png and
# docs/img/swing*-*.png. Host state is restored by each part.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
[ "$(id -u)" = 0 ] || { echo "final.sh: run as root (cgroups, swap)" >&2; exit 2; }
ninja -C "$BUILD" >/dev/null
D=${UTMEM_RESULTS:-/var/tmp/utmem-results}/elastic-$(date -u +%Y%m%dT%H%MZ)
mkdir -p "$D/shrink-series"
load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "== shrink-bench (load $(load))"
{
	echo "# load before: $(load)"
	SHRINK_BENCH_SERIES=$D/shrink-series "$BUILD/bench/micro/shrink-bench" 1152 1024
	echo "# load after: $(load)"
} | tee "$D/shrink-bench.txt"
gnuplot -e "
	set terminal pngcairo size 1000,600 font ',10';
	set output '$D/shrink-rss.png';
	set title 'RSS after a 1 GiB shrink (every 8th entry kept), per value size';
	set xlabel 'ms since the shrink began'; set ylabel 'RSS over the start (MiB)';
	set grid; set key outside right; set logscale x;
	files = system('ls $D/shrink-series/rss-*.dat | sort -t- -k3 -n');
	plot for [f in files] f using (\$1 > 0.1 ? \$1 : 0.1):2 with lines title f[strstrt(f, 'rss-') + 4:strlen(f) - 4] . ' B'"

{
	echo "# bench/micro/shrink-bench 1152 1024 (commit $(git rev-parse --short HEAD))"
	echo
	echo '```'
	cat "$D/shrink-bench.txt"
	echo '```'
} >bench/results/shrink.md
mkdir -p docs/img
cp "$D/shrink-rss.png" docs/img/shrink-rss.png

echo "== swing, balloon at 190 MiB/s vs utmem (load $(load))"
bench/swing/run.sh --out "$D/swing" --publish swing "$BUILD"
echo "== swing, balloon at 1.7 GB/s (load $(load))"
bench/swing/run.sh --only balloon --balloon-rate 1621 --out "$D/swing-fast-balloon" \
	--publish swing-fast-balloon "$BUILD"
echo "== done (load $(load)): $D"

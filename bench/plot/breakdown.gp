# bench/plot/breakdown.gp — the thesis's Table 3.2 for utmem: p50 of each
# layer (library, transport, daemon, store) stacked per request and mode,
# 1 KiB and 1 MiB side by side. Data: bench/breakdown.sh's .dat file.
# Usage: gnuplot -e "datafile='X.dat'; outfile='Y.png'" bench/plot/breakdown.gp
if (!exists("datafile")) datafile = 'bench/results/breakdown.dat'
if (!exists("outfile")) outfile = 'docs/img/breakdown.png'

set terminal pngcairo size 1200,500 noenhanced font ",10"
set output outfile
set multiplot layout 1,2 title "Where a PUT and a GET spend their time (utmem-bench --breakdown, p50 per layer, median of repetitions)"
set style data histogram
set style histogram rowstacked
set style fill solid 0.85 border -1
set boxwidth 0.75
set grid ytics
set ylabel "microseconds (p50)"
set xtics rotate by -40 scale 0
set key top left

do for [i = 0:1] {
	set title (i == 0 ? "1 KiB" : "1 MiB")
	plot datafile index i using 2:xtic(1) title "library" lc rgb "#4c72b0", \
	     '' index i using 3 title "transport" lc rgb "#dd8452", \
	     '' index i using 4 title "daemon" lc rgb "#55a868", \
	     '' index i using 5 title "store" lc rgb "#c44e52"
}
unset multiplot

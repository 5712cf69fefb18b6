# bench/plot/nopressure.gp — thesis figure 3.1 for utmem: ops/s per value size
# without memory pressure, grouped bars (plain Redis vs TMEM), min–max error
# bars, PUT and GET side by side. Data: bench/nopressure.sh's .dat file.
# Usage: gnuplot -e "datafile='X.dat'; outfile='Y.png'" bench/plot/nopressure.gp
if (!exists("datafile")) datafile = 'bench/results/nopressure.dat'
if (!exists("outfile")) outfile = 'docs/img/nopressure.png'

set terminal pngcairo size 1100,450 noenhanced font ",10"
set output outfile
set multiplot layout 1,2 title "Redis without memory pressure (utmem-bench, median of repetitions, bars = min-max)"
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set logscale y
set yrange [100:*]
set grid ytics
set ylabel "operations/s (log scale)"
set xlabel "value size / connections"
set key top right

set title "PUT: SET vs TMEM.PUT"
plot datafile using 3:4:5:xtic(sprintf("%s/%s", strcol(1), strcol(2))) title "SET" lc rgb "#4c72b0", \
     '' using 6:7:8 title "TMEM.PUT" lc rgb "#dd8452"

set title "GET: GET vs TMEM.GET"
plot datafile using 9:10:11:xtic(sprintf("%s/%s", strcol(1), strcol(2))) title "GET" lc rgb "#4c72b0", \
     '' using 12:13:14 title "TMEM.GET" lc rgb "#dd8452"
unset multiplot

# bench/plot/pressure-size.gp — thesis figure 3.3 for utmem: converged ops/s
# against value size with the guest's data at 100% of its memory limit, for
# TMEM.PUT (utmemd), SET with zswap and SET with disk swap; GET beside PUT.
# Data: bench/pressure.sh's pressure-size.dat ("-" = no figure).
# Usage: gnuplot -e "datafile='X.dat'; outfile='Y.png'; limit='256'" bench/plot/pressure-size.gp
if (!exists("datafile")) datafile = 'bench/results/pressure-size.dat'
if (!exists("outfile")) outfile = 'docs/img/pressure-size.png'
if (!exists("limit")) limit = '?'

set terminal pngcairo size 1100,450 noenhanced font ",10"
set output outfile
set datafile missing "-"
set multiplot layout 1,2 title sprintf("Redis at 100%% of a %s MiB memory cgroup (converged ops/s)", limit)
set logscale x 2
set logscale y
set xtics ("128K" 128, "256K" 256, "512K" 512, "1M" 1024)
set xrange [100:1300]
set grid
set xlabel "value size"
set ylabel "operations/s (log scale)"
set key top right
set style data linespoints

set title "PUT"
plot datafile using 1:2 title "TMEM.PUT (utmemd)" lw 2 pt 7 lc rgb "#dd8452", \
     '' using 1:3 title "SET, zswap" lw 2 pt 5 lc rgb "#55a868", \
     '' using 1:4 title "SET, disk swap" lw 2 pt 9 lc rgb "#4c72b0"
set title "GET after PUT"
plot datafile using 1:5 title "TMEM.GET (utmemd)" lw 2 pt 7 lc rgb "#dd8452", \
     '' using 1:6 title "GET, zswap" lw 2 pt 5 lc rgb "#55a868", \
     '' using 1:7 title "GET, disk swap" lw 2 pt 9 lc rgb "#4c72b0"
unset multiplot

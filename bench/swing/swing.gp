# swing.gp — plots of a swinging-demand run (bench/swing/report.sh calls it):
#   gnuplot -e "dir='DIR'; n=3; rate=20000; iv=0.5; dur=180" swing.gp
# Each figure has the balloon baseline on top and utmem below, one line per
# tenant, time in seconds since the run's start.
set terminal pngcairo size 1200,800 font ",10"
set grid
set key outside right top
set xlabel "time (s)"
# Both panels span the same time, ending with the run (dur, from
# report.sh), not at the tic after a panel's last sample.
if (exists("dur")) { set xrange [*:dur]; set autoscale xfixmin } else { set autoscale xfix }
modes = "balloon utmem"
title(m) = m eq "balloon" ? "balloon baseline (limits moved late, disk swap)" : "utmem (small cgroups, cold data in utmemd)"
tf(m, i) = sprintf("%s/%s-t%d.dat", dir, m, i)
hf(m) = sprintf("%s/%s-host.dat", dir, m)
file_ok(f) = system("test -s " . f . " && echo 1 || echo 0") + 0

# ---- throughput ----
set output dir . "/throughput.png"
set multiplot layout 2,1
set ylabel "operations/s"
set yrange [0:rate * 1.3]
do for [m in modes] {
	set title title(m)
	if (file_ok(tf(m, 0))) {
		plot for [i=0:n-1] tf(m, i) using 1:($4 / iv) with lines lw 1.5 title sprintf("t%d", i), \
		     rate with lines dt 2 lc rgb "black" title "offered"
	} else { unset title; plot 0 notitle }
}
unset multiplot
set yrange [*:*]

# ---- p99 service time ----
set output dir . "/p99.png"
set multiplot layout 2,1
set logscale y
set ylabel "p99 service time (us)"
do for [m in modes] {
	set title title(m)
	if (file_ok(tf(m, 0))) {
		plot for [i=0:n-1] tf(m, i) using 1:($6 > 0 ? $6 : 0.1) with lines lw 1.5 title sprintf("t%d", i)
	} else { plot 1 notitle }
}
unset multiplot
unset logscale y

# ---- swap-ins: each tenant's major faults per second, and the host's ----
set output dir . "/swapins.png"
set multiplot layout 2,1
set ylabel "swap-ins/s (major faults, pages)"
p2 = 0; t2 = 0
do for [m in modes] {
	set title title(m)
	if (file_ok(tf(m, 0))) {
		plot for [i=0:n-1] tf(m, i) using 1:($15 / iv) with lines lw 1.5 title sprintf("t%d", i), \
		     hf(m) using 1:(d = $2 - p2, dt = $1 - t2, p2 = $2, t2 = $1, $0 > 0 && dt > 0 ? d / dt : 0) with lines lc rgb "black" title "host pswpin"
	} else { plot 0 notitle }
}
unset multiplot

# ---- memory: host cgroup, tenants, utmemd; demand ----
set output dir . "/memory.png"
set multiplot layout 2,1
set ylabel "MiB"
mib(x) = x / 1048576.0
set title title("balloon")
if (file_ok(hf("balloon"))) {
	plot hf("balloon") using 1:(mib($4)) with lines lw 2 lc rgb "black" title "host cgroup usage", \
	     for [i=0:n-1] hf("balloon") using 1:(mib(column(8 + 4 * i))) with lines title sprintf("t%d usage", i), \
	     for [i=0:n-1] sprintf("%s/balloon-limits.dat", dir) using 1:(column(2 + i)) with lines dt 2 title sprintf("t%d limit", i), \
	     for [i=0:n-1] tf("balloon", i) using 1:2 with steps dt 3 title sprintf("t%d demand", i)
} else { plot 0 notitle }
set title title("utmem")
if (file_ok(hf("utmem"))) {
	c0 = 8 + 4 * n + 4
	plot hf("utmem") using 1:(mib($4)) with lines lw 2 lc rgb "black" title "host cgroup usage", \
	     for [i=0:n-1] hf("utmem") using 1:(mib(column(8 + 4 * i))) with lines title sprintf("t%d usage", i), \
	     hf("utmem") using 1:(mib(column(c0))) with lines lw 1.5 title "utmemd capacity", \
	     hf("utmem") using 1:(mib(column(c0 + 1))) with lines lw 1.5 title "utmemd charged", \
	     hf("utmem") using 1:(mib(column(c0 + 2))) with lines lw 1.5 title "utmemd RSS", \
	     for [i=0:n-1] tf("utmem", i) using 1:2 with steps dt 3 title sprintf("t%d demand", i)
} else { plot 0 notitle }
unset multiplot

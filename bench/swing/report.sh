#!/usr/bin/env bash
# bench/swing/report.sh DIR — summary table (report.md) and plots (*.png)
# of a swinging-demand run made by bench/swing/run.sh. Only reads DIR.
#
# Per setup and tenant: throughput as a share of the offered rate (mean,
# and the worst interval: 1 - that is the dip), the worst and the median
# per-interval p99 service time, swap-ins (the tenant's major faults),
# OOM kills (cgroup counter) and restarts, operations missed (a backlog
# over 100 ms dropped), corrupt reads, PUTs refused. Then the same for the
# utmem tenants restricted to the intervals in which the balloon
# baseline's tenants were swapping in (any major fault) or were dead:
# issue 10's "dip of at most 10 % where the baseline swaps or is killed".
set -euo pipefail
DIR=$(cd "$1" && pwd)
cd "$(dirname "$0")"
. "$DIR/params.sh"
OFFER=$(awk -v r="$RATE" -v i="$INTERVAL" 'BEGIN { print r * i }')

# One file per tenant and setup, restarts concatenated in time order.
for mode in balloon utmem; do
	for i in $(seq 0 $((N - 1))); do
		ls "$DIR/$mode-t$i".run*.dat >/dev/null 2>&1 || continue
		# the first interval of the first process is its start-up (connect,
		# pools opened), not service
		{
			grep -v '^#' "$DIR/$mode-t$i.run1.dat" | tail -n +2
			for f in "$DIR/$mode-t$i".run*.dat; do
				[ "$f" = "$DIR/$mode-t$i.run1.dat" ] || grep -v '^#' "$f"
			done
		} | sort -g >"$DIR/$mode-t$i.dat"
	done
done

# Intervals (rounded to INTERVAL) in which the baseline swapped in or a
# baseline tenant was down.
: >"$DIR/balloon-bad.txt"
if [ -f "$DIR/balloon-t0.dat" ]; then
	for i in $(seq 0 $((N - 1))); do
		awk -v iv="$INTERVAL" -v off="$OFFER" '$0 !~ /^#/ && $1 >= 0 && ($15 > 0 || $4 < 0.5 * off) {
			printf "%d\n", int($1 / iv + 0.5) }' "$DIR/balloon-t$i.dat"
	done | sort -un >"$DIR/balloon-bad.txt"
fi

# stats FILE [BADLIST]: mean ratio, min ratio, p99 max, p99 median, majflt,
# missed, corrupt, refused, intervals -- over t >= 0 (after the start).
stats() {
	awk -v off="$OFFER" -v iv="$INTERVAL" -v bad="${2:-}" '
	BEGIN { if (bad != "") while ((getline l < bad) > 0) B[l] = 1 }
	$0 ~ /^#/ || $1 < 0 { next }
	{
		k = int($1 / iv + 0.5)
		if (bad != "" && !(k in B)) next
		r = $4 / off; if (r > 1) r = 1
		n++; s += r; if (n == 1 || r < mn) mn = r
		p[n] = $6; if ($6 > pm) pm = $6
		flt += $15; miss += $13; cor += $12; ref += $10 + $11
	}
	END {
		if (!n) { print "- - - - - - - - 0"; exit }
		for (i = 2; i <= n; i++) { # insertion sort: mawk has no asort
			v = p[i]; for (j = i - 1; j >= 1 && p[j] > v; j--) p[j + 1] = p[j]; p[j + 1] = v
		}
		printf "%.3f %.3f %.0f %.0f %d %d %d %d %d\n",
			s / n, mn, pm, p[int((n + 1) / 2)], flt, miss, cor, ref, n }' "$1"
}

pct() { awk "BEGIN { print ($1) * 100 }"; }

oom_of() { # setup tenant -> cgroup oom_kill at the end (column of host.dat)
	local f=$DIR/$1-host.dat col
	[ -f "$f" ] || { echo 0; return; }
	col=$((3 + 4 * ($2 + 1) + 4)) # t, pswpin, pswpout, host cg (4), then 4 per tenant
	tail -n 1 "$f" | awk -v c="$col" '{ print $c + 0 }'
}

{
	echo "# Swinging-demand experiment: $(basename "$DIR")"
	echo
	echo "Command: \`$CMDLINE\` (commit $COMMIT); raw data in $DIR."
	echo "$N tenants, data set ${LOW}..${HIGH} MiB, out of phase (period ${PERIOD} s, one high at a time),"
	echo "${RATE} ops/s offered each, items of ${VALUE} B, growth at ${GROW} MiB/s; host budget ${BUDGET} MiB."
	echo "Balloon: limits follow the demand of ${DELAY} s ago at ${BALLOON_RATE} MiB/s, disk swap behind."
	echo "utmem: tenant cgroups ${TENANT_CG} MiB (cache ${LOCAL} MiB), utmemd capacity ${CAPACITY} MiB in the rest."
	echo "Load average before $(cat "$DIR/load-before" 2>/dev/null), after $(cat "$DIR/load-after" 2>/dev/null)."
	echo
	echo "| setup | tenant | mean tput | worst interval | dip | p99 max (us) | p99 median (us) | swap-ins | OOM kills | restarts | missed ops | corrupt | refused PUTs |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for mode in balloon utmem; do
		for i in $(seq 0 $((N - 1))); do
			[ -f "$DIR/$mode-t$i.dat" ] || continue
			read -r mean mn pm pmed flt miss cor ref n < <(stats "$DIR/$mode-t$i.dat")
			deaths=$(grep -c " t$i " "$DIR/$mode-deaths" 2>/dev/null || true)
			printf '| %s | t%d | %.1f %% | %.1f %% | %.1f %% | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
				"$mode" "$i" "$(pct "$mean")" "$(pct "$mn")" "$(pct "1 - $mn")" "$pm" "$pmed" "$flt" "$(oom_of "$mode" "$i")" \
				"${deaths:-0}" "$miss" "$cor" "$ref"
		done
	done
	if [ -s "$DIR/balloon-bad.txt" ] && [ -f "$DIR/utmem-t0.dat" ]; then
		echo
		echo "utmem tenants in the $(wc -l <"$DIR/balloon-bad.txt") intervals of ${INTERVAL} s in which the balloon"
		echo "baseline swapped in or served under half its offered rate:"
		echo
		echo "| tenant | mean tput | worst interval | dip | p99 max (us) | swap-ins |"
		echo "|---|---:|---:|---:|---:|---:|"
		for i in $(seq 0 $((N - 1))); do
			read -r mean mn pm pmed flt miss cor ref n < <(stats "$DIR/utmem-t$i.dat" "$DIR/balloon-bad.txt")
			[ "$mean" = - ] && continue
			printf '| t%d | %.1f %% | %.1f %% | %.1f %% | %s | %s |\n' "$i" \
				"$(pct "$mean")" "$(pct "$mn")" "$(pct "1 - $mn")" "$pm" "$flt"
		done
	fi
	echo
	echo "Host swap (pswpin/pswpout, pages) during each setup:"
	for mode in balloon utmem; do
		[ -f "$DIR/$mode-host.dat" ] || continue
		awk -v m="$mode" 'NR == 1 { i0 = $2; o0 = $3 } { i = $2; o = $3 }
			END { printf "- %s: %d in, %d out\n", m, i - i0, o - o0 }' "$DIR/$mode-host.dat"
	done
	if [ -f "$DIR/utmemd.log" ]; then
		echo
		echo "utmemd controller changes: $(grep -c 'controller: capacity' "$DIR/utmemd.log" || true)"
		grep 'controller: capacity' "$DIR/utmemd.log" | head -n 5 | sed 's/^/    /' || true
	fi
	echo
	echo "Plots: throughput.png, p99.png, swapins.png, memory.png."
} >"$DIR/report.md"

gnuplot -e "dir='$DIR'; n=$N; rate=$RATE; iv=$INTERVAL; dur=$DURATION" swing.gp
cat "$DIR/report.md"

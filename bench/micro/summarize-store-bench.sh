#!/bin/sh
# Summarize the output of run-store-bench.sh: for every build (A, B), mode,
# value size and thread count, the median over rounds of each column and,
# in parentheses, the lowest and highest round. Usage:
#   bench/micro/run-store-bench.sh build-x > log; bench/micro/summarize-store-bench.sh log
set -eu
[ $# -eq 1 ] || { echo "usage: $0 run-store-bench-output" >&2; exit 2; }
awk -F'|' '
/^### round/ { mode = $0; sub(/.*mode /, "", mode); next }
/^A: / { who = "A"; next }
/^B: / { who = "B"; next }
/^\| +[0-9]+ \| [0-9] \|/ {
	key = who " " mode " " $2+0 " " $3+0
	if (!(key in n)) order[++nk] = key
	n[key]++
	for (c = 4; c <= NF - 1; c++) v[key, c, n[key]] = $c + 0
	ncol = NF - 1
}
function fmt(x) {
	if (x >= 1e6) return sprintf("%.2f M", x / 1e6)
	if (x >= 1e3) return sprintf("%.1f k", x / 1e3)
	return sprintf("%.2f", x)
}
function stat(key, c,   m, i, j, t, a) {
	m = n[key]
	for (i = 1; i <= m; i++) a[i] = v[key, c, i]
	for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	if (m == 1) return fmt(a[1])
	return fmt(a[int((m + 1) / 2)]) " (" fmt(a[1]) "–" fmt(a[m]) ")"
}
END {
	print "| build | mode | value | thr | PUT ops/s | GET ops/s | PUT x1thr | GET x1thr | memcpy x1thr | PUT cpu-eff | GET cpu-eff | cores | rounds |"
	print "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for (k = 1; k <= nk; k++) {
		key = order[k]; split(key, f, " ")
		line = "| " f[1] " | " f[2] " | " f[3] " | " f[4] " | " stat(key, 4) " | " stat(key, 5)
		if (ncol >= 15)
			line = line " | " stat(key, 10) " | " stat(key, 11) " | " stat(key, 12) " | " stat(key, 13) " | " stat(key, 14) " | " stat(key, 15)
		print line " | " n[key] " |"
	}
}' "$1"

#!/bin/sh
# Run the store microbenchmark side by side, A B A B A B, so background
# noise hits both alike, and print the load average before each run.
# A is the jemalloc build (the store as shipped); B is the same store on
# glibc malloc, or, with STORE_BENCH_B=path, any other store-bench binary
# (e.g. one built from an older commit, for a before/after comparison).
# STORE_BENCH_MODES lists the sharing modes to run (default "pool"; see
# store-bench.c: pool, tenant, hot); other STORE_BENCH_* settings pass
# through. Usage:
#   bench/micro/run-store-bench.sh [build-dir]   (default build-store)
set -eu
b=${1:-build-store}
a_bin="$b/bench/micro/store-bench"
b_bin=${STORE_BENCH_B:-"$b/bench/micro/store-bench-libc"}
rounds=${STORE_BENCH_ROUNDS:-3}
for bin in "$a_bin" "$b_bin"; do
	if [ ! -x "$bin" ]; then
		echo "run-store-bench: $bin is not built" >&2
		exit 1
	fi
done
round=1
while [ "$round" -le "$rounds" ]; do
	for mode in ${STORE_BENCH_MODES:-pool}; do
		echo "### round $round, mode $mode"
		echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
		echo "A: $a_bin"
		STORE_BENCH_MODE=$mode "$a_bin"
		echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
		echo "B: $b_bin"
		STORE_BENCH_MODE=$mode "$b_bin"
	done
	round=$((round + 1))
done

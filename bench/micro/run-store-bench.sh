#!/bin/sh
# Run the store microbenchmark A B A B A B: jemalloc build, glibc build,
# three times each, so background noise hits both alike. Usage:
#   bench/micro/run-store-bench.sh [build-dir]   (default build-store)
set -eu
b=${1:-build-store}
for round in 1 2 3; do
	echo "### round $round"
	"$b/bench/micro/store-bench"
	"$b/bench/micro/store-bench-libc"
done

#!/usr/bin/env bash
# bench/micro/flush-rss.sh — does a flush give a tenant's value-region memory
# back when the flushed pool's records share slabs with another pool's?
#
# One utmemd on its defaults; two utmem-bench processes fill two persistent
# pools of the default tenant at the same time over the default unix: path
# (ring and value region), so that their records interleave in every slab;
# then `utmemctl pool flush` drops one and what utmemd holds (its anonymous
# RSS plus its memfds' pages, bench/held.sh) and its charge are
# sampled every 50 ms for 3 s. Prints one line per sample and a summary with
# the store's margin (charge + charge/8 + 8 MiB; docs/store.md).
#
# Usage: bench/micro/flush-rss.sh [BUILD] — environment (defaults in
# brackets): SIZE [16K] value size (utmem-bench syntax), MIB [256] of values
# per pool (every key written once).
# docs/evaluation.md §8 ("In a tenant's value region") has the figures.
set -euo pipefail

cd "$(dirname "$0")/../.." || exit 1
BENCH_BUILD=${1:-${BENCH_BUILD:-build}}
SIZE=${SIZE:-16K}
MIB=${MIB:-256}

{
# shellcheck source=bench/lib.sh
. bench/lib.sh

bench_init
bytes=$(bench_size_bytes "$SIZE") && [ "$bytes" -gt 0 ] || bench_die "bad SIZE $SIZE"
keys=$(((MIB << 20) / bytes))
bench_start_utmemd

pids=()
for pool in flushed kept; do
	"$BENCH_UTMEM_BENCH" --addr "unix:$UTMEMD_SOCK" --pool "$pool" \
		--value-size "$SIZE" --keys "$keys" --preload --requests 1 \
		--warmup 0 --op put >/dev/null &
	pids+=($!)
done
for p in "${pids[@]}"; do
	wait "$p" || bench_die "utmem-bench fill failed"
done
full=$(($(held_kb "$UTMEMD_PID") << 10))
before=$(bench_info charged_bytes)
echo "value $SIZE, $keys keys per pool: held $((full >> 20)) MiB (RSS $(($(bench_info rss_bytes) >> 20))), charged $((before >> 20)) MiB"
start=$(date +%s%N)
bench_ctl --force pool flush flushed --tenant default >/dev/null ||
	bench_die "flush failed"
within=""
for _ in $(seq 60); do
	ms=$((($(date +%s%N) - start) / 1000000))
	rss=$(($(held_kb "$UTMEMD_PID") << 10))
	charged=$(bench_info charged_bytes)
	limit=$((charged + charged / 8 + (8 << 20)))
	echo "$ms ms: held $((rss >> 20)) MiB, charged $((charged >> 20)) MiB"
	[ -z "$within" ] && [ "$rss" -le "$limit" ] && within=$ms
	sleep 0.05
done
echo "after 3 s: held $((rss >> 20)) MiB for $((charged >> 20)) MiB charged" \
	"(margin $((limit >> 20)) MiB); within the margin after ${within:-never} ms" \
	"(load $(cut -d' ' -f1-3 /proc/loadavg))"
}
exit

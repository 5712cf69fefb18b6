#!/usr/bin/env bash
# bench/micro/shrink-rss.sh — how fast does the memory utmemd holds follow a tenant's
# shrink on the default path, where a private pool's values live in the
# tenant's value region (bench/micro/shrink-bench times the store alone,
# with values in utmemd's heap)?
#
# One utmemd on its defaults; one utmem-bench fills an ephemeral pool of
# the default tenant over the default unix: path (ring and value region)
# with FILL MiB of charge, then reads an eighth of the keys at random, so
# that the survivors are scattered; then `utmemctl --force tenant set default --max
# KEEP` evicts down to KEEP MiB while the memory utmemd holds is read from
# /proc every few ms: its anonymous RSS (heap, index shadows) plus the
# pages of the files it has open (the value regions and rings, memfds).
# Its RSS alone misses region pages that only the tenant's process mapped:
# a staged value (PUT_REF) is written by the client and adopted unread, so
# 1 GiB of 1 MiB values showed as 8 MiB of RSS. Prints the time to the
# store's margin (KEEP + KEEP/8 + 8 MiB; docs/store.md), what is held at
# 100 ms, and the charge and what is held 3 s after.
#
# Usage: bench/micro/shrink-rss.sh [BUILD] — environment (defaults in
# brackets): SIZE [1K] value size (utmem-bench syntax), FILL [1152] and
# KEEP [128] MiB (issue 10's case: a 1 GiB shrink); PERF [none]: a perf
# subcommand and its options, run on utmemd for the 4 s around the shrink
# (e.g. PERF="record -g -o /tmp/shrink.data", or "stat -e tlb:tlb_flush
# --per-thread"; docs/evaluation.md §8 read the shrink this way). perf
# starts 0.3 s before the shrink, outside the times printed.
set -euo pipefail

cd "$(dirname "$0")/../.." || exit 1
BENCH_BUILD=${1:-${BENCH_BUILD:-build}}
SIZE=${SIZE:-1K}
FILL=${FILL:-1152}
KEEP=${KEEP:-128}

{
# shellcheck source=bench/lib.sh
. bench/lib.sh

bench_init
bytes=$(bench_size_bytes "$SIZE") && [ "$bytes" -gt 0 ] || bench_die "bad SIZE $SIZE"
bench_start_utmemd
common=(--addr "unix:$UTMEMD_SOCK" --pool shrunk --ephemeral --value-size "$SIZE"
	--warmup 0)
# FILL MiB of charge, as shrink-bench fills (small values cost more than
# their size: their entry, index slot and record header): the charge per
# key is read off a first fill of up to 64 Ki keys.
keys=$(((FILL << 20) / bytes))
probe=$((keys < 65536 ? keys : 65536))
"$BENCH_UTMEM_BENCH" "${common[@]}" --keys "$probe" --preload --requests 1 --op put >/dev/null ||
	bench_die "utmem-bench fill failed"
keys=$(((FILL << 20) * probe / $(bench_info charged_bytes)))
common+=(--keys "$keys")
"$BENCH_UTMEM_BENCH" "${common[@]}" --preload --requests 1 --op put >/dev/null ||
	bench_die "utmem-bench fill failed"
# An eighth of the keys read: the survivors a recency order keeps, spread out.
"$BENCH_UTMEM_BENCH" "${common[@]}" --no-preload --requests $((keys / 8)) \
	--op get >/dev/null || bench_die "utmem-bench read failed"
echo "value $SIZE, $keys keys: held $(($(held_kb "$UTMEMD_PID") >> 10)) MiB (RSS $(($(bench_info rss_bytes) >> 20))), charged $(($(bench_info charged_bytes) >> 20)) MiB"
limit_kb=$(((KEEP + KEEP / 8 + 8) << 10))
if [ -n "${PERF:-}" ]; then
	# shellcheck disable=SC2086 # PERF is words on purpose
	perf $PERF -p "$UTMEMD_PID" -- sleep 4 >"$BENCH_TMP/perf.out" 2>&1 &
	perf_pid=$!
	BENCH_PIDS+=("$perf_pid")
	sleep 0.3
fi
samples=$BENCH_TMP/rss.txt
start=$(date +%s%N)
"$BENCH_BUILD/bench/micro/held-sample" "$UTMEMD_PID" "$start" >"$samples" &
sampler=$!
BENCH_PIDS+=("$sampler")
bench_ctl --force tenant set default --max "${KEEP}M" >/dev/null ||
	bench_die "tenant set failed"
done_ms=$((($(date +%s%N) - start) / 1000000))
sleep 3
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
awk -v lim="$limit_kb" -v done_ms="$done_ms" '
	{ ms = $1 / 1e6 }
	!within && $2 <= lim { within = ms; printf "within the margin (%d MiB) after %.0f ms\n", lim / 1024, ms }
	ms <= 100 { at100 = $2 }
	END {
		if (!within) printf "never within the margin (%d MiB)\n", lim / 1024
		printf "held at 100 ms: %d MiB; the command returned after %d ms\n", at100 / 1024, done_ms
	}' "$samples"
if [ -n "${PERF:-}" ]; then
	wait "$perf_pid" 2>/dev/null || true
	cat "$BENCH_TMP/perf.out"
fi
echo "compaction: $(bench_info compaction_moved) records moved, $(($(bench_info compaction_moved_bytes) >> 20)) MiB, in $(bench_info compaction_ms) ms"
echo "after 3 s: held $(($(held_kb "$UTMEMD_PID") >> 10)) MiB (RSS $(($(bench_info rss_bytes) >> 20))) for $(($(bench_info charged_bytes) >> 20)) MiB charged" \
	"(load $(cut -d' ' -f1-3 /proc/loadavg))"
}
exit

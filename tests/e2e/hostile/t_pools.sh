#!/usr/bin/env bash
# Attack: pools (issue 8: 176,128 pools opened in 90 s, RSS 1.46 GB, 0
# bytes charged; other tenants' POOL_OPEN went from 0.035 to 3.6 ms). Here
# the attacker opens pools as fast as utmemd answers for up to 3 s. A
# tenant may have max_pools (64 here) private pools, each charged its
# metadata: the attacker is refused QUOTA at the 65th, its charge shows in
# the store's total, and the good tenant's POOL_OPEN keeps its latency.
. "$(dirname "$0")/lib.sh"
hostile_start
before=$("$HOSTILE" poolopen "$GOOD" 300) || fail "poolopen"
c0=$(ctl --json capacity | sed -n 's/.*"charged":\([0-9]*\).*/\1/p')
out=$("$HOSTILE" pools "$EVIL" 100000 3) || fail "attack did not run"
echo "attack: $out"
after=$("$HOSTILE" poolopen "$GOOD" 300) || fail "poolopen"
c1=$(ctl --json capacity | sed -n 's/.*"charged":\([0-9]*\).*/\1/p')
echo "good's POOL_OPEN before: $before; after: $after; store charged ${c0:-?} -> ${c1:-?} bytes"
made=$(field "$out" made)
[ "$made" -le 64 ] || fail "the attacker opened $made pools (max_pools 64)"
[ "$(field "$out" first_refusal_status)" = 6 ] || fail "no QUOTA refusal at max_pools: $out"
[ -n "$c1" ] && [ "$c1" -ge $((c0 + made * 1024)) ] ||
	fail "the pools' metadata is not charged: $c0 -> $c1 bytes for $made pools"
b=$(field "$before" p50_us)
a=$(field "$after" p50_us)
[ "$a" -le $((b * 5 > b + 1000 ? b * 5 : b + 1000)) ] ||
	fail "good's POOL_OPEN median went from $b us to $a us"
hostile_end "pools"

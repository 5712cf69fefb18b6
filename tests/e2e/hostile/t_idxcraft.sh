#!/usr/bin/env bash
# Attack: keys crafted against the tenant's own value-region index. The
# index's seed is in the region header every client of the tenant maps, so
# the tenant can choose keys that share two buckets: 7 per sub-table make
# each of the 64 double again and again (idxcraft.c), 448 entries holding
# about 2.2 MiB of tables where each entry pays 80 B for its share. What
# the tables cost beyond that share and 256 KiB is charged to the tenant
# (docs/security.md), visible as INFO index_held_bytes, and given back when
# the keys go (the tables shrink). The daemon before this held it
# uncharged: index_held_bytes did not exist.
HOSTILE_RING_SIZE=1M # the value region comes with the fast path
. "$(dirname "$0")/lib.sh"
hostile_start
info() { ctl info | awk -v k="$1" '$1 == k { print $2 }'; }
out=$("$HOSTILE" idxcraft "$EVIL" put) || fail "attack did not run: $out"
echo "attack: $out"
[ "$(field "$out" errors)" = 0 ] || fail "the crafted PUTs failed: $out"
held=$(info index_held_bytes)
[ -n "$held" ] && [ "$held" -ge $((3 << 19)) ] ||
	fail "index_held_bytes '$held' after $(field "$out" keys) crafted keys, want >= 1.5 MiB"
ok "$(field "$out" keys) crafted keys: $held bytes of index beyond their share charged to the tenant"
out=$("$HOSTILE" idxcraft "$EVIL" remove) || fail "removal did not run: $out"
[ "$(field "$out" errors)" = 0 ] || fail "the crafted invalidates failed: $out"
held=$(info index_held_bytes)
[ "$held" = 0 ] || fail "index_held_bytes $held after the keys went"
ok "keys removed: the tables shrank and the charge came back (index_held_bytes 0)"
hostile_end "crafted index keys"

#!/usr/bin/env bash
# Attack: a flush left in a ring when its socket closes (found in an audit
# on 2026-12-03). utmemd serves what a ring still holds after its client
# hung up, so that posted requests take effect; a POOL_FLUSH among them
# ran right there, on the worker, with every other tenant of that worker
# waiting for the whole pool (2 s at a 256 MiB quota). Both tenants share
# one worker; the attacker pauses its ring with a 6 MiB reply it never
# reads, leaves a flush of its full pool in the ring and closes its socket
# (hostile/flush.c, ringdrain). The good tenant's pings must not wait for
# that flush, the flush must still go through (it was sent) and through
# the bulk thread, and the five properties of lib.sh hold.
HOSTILE_WORKERS=1
HOSTILE_RING_SIZE=1M
. "$(dirname "$0")/lib.sh"
hostile_start
jobs0=$(ctl info | awk '$1 == "bulk_jobs" { print $2 }')
out=$("$HOSTILE" ringdrain "$EVIL" "$GOOD") || fail "ringdrain did not run"
echo "a flush left in a closed ring: $out"
jobs1=$(ctl info | awk '$1 == "bulk_jobs" { print $2 }')
d=$(field "$out" flush_us)
w=$(field "$out" worst_ping_us)
[ "$d" -ge 20000 ] || fail "the flush was too short to judge: $out"
[ "$(field "$out" entries_after)" = 0 ] || fail "the flush left in the ring did not take effect: $out"
[ -n "$jobs1" ] && [ "$((jobs1 - jobs0))" -ge 2 ] ||
	fail "the drained flush did not go through the bulk thread: bulk_jobs $jobs0 -> $jobs1"
[ "$((w * 2))" -lt "$d" ] ||
	fail "the good tenant waited for the flush left in a closed ring: $out"
hostile_end "ringdrain"

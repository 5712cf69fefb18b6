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
# the bulk thread. Then a ring that lies (an impossible index) while its
# socket is parked on a flush must wait, unserved, for the job. And the
# five properties of lib.sh hold.
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
# A ring closed while its socket is parked on a flush (it published an
# impossible index) waits for the job, unserved: it was served again and
# again meanwhile, its worker spinning for the whole flush and logging
# the same warning each time (until the rate limit, 10 per 10 s). Three
# rounds: one warning each now. utmemd's CPU time against a control whose
# ring stays quiet is printed, not judged: the probe's load blurs it here
# (alone, one worker: 158-163 ticks against 107-120 before, even after).
ticks() { awk '{ print $14 + $15 }' "/proc/$DPID/stat"; }
warns() { grep -c "impossible index" "$T/d.log"; }
n0=$(warns)
c0=$(ticks)
out=$("$HOSTILE" flushhup "$EVIL" liar) || fail "flushhup liar did not run"
c1=$(ticks)
n1=$(warns)
ctrl=$("$HOSTILE" flushhup "$EVIL" quiet) || fail "flushhup quiet did not run"
c2=$(ticks)
echo "a lying ring behind a parked flush: $out, $((n1 - n0)) warnings, utmemd $((c1 - c0)) CPU ticks; a quiet one: $ctrl, $((c2 - c1)) ticks"
[ "$(field "$out" flush_us)" -ge 60000 ] || fail "the flushes were too short to judge: $out"
[ "$((n1 - n0))" -ge 1 ] || fail "utmemd did not see the impossible index"
[ "$((n1 - n0))" -le 3 ] ||
	fail "a ring closed behind a parked flush was served again and again: $((n1 - n0)) warnings for 3 rounds"
hostile_end "ringdrain"

#!/usr/bin/env bash
# Attack: keys crafted to collide (issue 8: 60,000 keys sharing one hash
# cost ~8x the CPU and raised another tenant's latency to 1.5 ms). The
# attacker PUTs 20,000 keys that share one 64-bit hash under the former
# public hash (collide.h), and 20,000 random keys, each as one pipelined
# batch, fastest of three (the old daemon took 34-40x as long for the
# crafted ones). With the keyed hash they cost what random ones do, give or
# take this machine's noise: at most 4x is accepted.
# HOSTILE_SEED replays the random keys (the seed is printed).
. "$(dirname "$0")/lib.sh"
hostile_start
out=$("$HOSTILE" collide "$EVIL" 20000) || fail "attack did not run"
echo "attack: $out"
[ "$(field "$out" errors)" = 0 ] || fail "the attacker's PUTs failed: $out"
r=$(field "$out" ratio_x100)
[ "$r" -le 400 ] || fail "crafted keys cost $((r / 100)).$((r % 100))x random ones: $out"
hostile_end "colliding keys"

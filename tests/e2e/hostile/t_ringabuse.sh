#!/usr/bin/env bash
# Attack: the shared-memory fast path (docs/security.md, "Rings" and
# "Posting rules"; until this case the suite ran with rings off). utmemd
# runs with 1 MiB rings and 256 descriptors, so the attacker's connection
# limit is its descriptor share divided by 3 (26 < max_conns 32) and each
# ring costs 4 KiB + 2 MiB of its 16 MiB in-flight budget.
#  1. hoarding: the attacker opens ring connections until it is refused,
#     keeps them busy for 3 s and makes utmemd touch every page of every
#     ring. Exactly floor(16 MiB / ring) rings are granted; further
#     RING_SETUPs are answered NOMEM and those connections, and libutmem
#     clients, go on over their sockets; connections past the limit are
#     refused; the good tenant still gets a ring of its own.
#  2. posting rules, by hand through the ring, one new ring per attempt
#     for 4 s: credit overspent (after giving it all back, and by one
#     frame just above the grant), PUT_REF naming no slot, a slot with
#     another generation, a slot given back, a slot already adopted, an
#     extent too short, a valid slot without credit, CREDIT_RETURN of more
#     than was granted; and
#  3. impossible indices (tail past the ring, tail backwards, reply head
#     far ahead) while the ring holds credit, staging extents, posted PUTs
#     and a half-received 2 MiB posted frame. (t_ring.sh scribbles on
#     indices of rings that hold none of these, without an RSS bound.)
# Every such connection must be closed (PROTO answered for a broken rule),
# nothing of its request stored, the legitimate values beside them intact,
# and once they are closed the tenant must hold no credit and get all its
# rings again (their in-flight charge was given back). Then lib.sh's five
# properties. The attack order is drawn from a seed (printed; HOSTILE_SEED
# replays it).
HOSTILE_RING_SIZE=1M
. "$(dirname "$0")/lib.sh"
REAL=$UTMEMD
printf '#!/bin/sh\nulimit -n 256 || exit 1\nexec "%s" "$@"\n' "$REAL" >"$T/utmemd-256"
chmod +x "$T/utmemd-256"
UTMEMD=$T/utmemd-256

# What docs/security.md says the attacker gets: rings within its in-flight
# budget; connections within its descriptor share (256 less 64 kept back,
# 16 admin, 3 per worker, 1 per tenant, max_unauth + 1 for TCP; divided
# among 2 tenants, then by 3 with rings on) and max_conns.
RING_BYTES=$((4096 + 2 * (1 << 20)))
RINGS=$((INFLIGHT_MB * (1 << 20) / RING_BYTES))
LIMIT=$(((256 - 64 - 16 - 3 * WORKERS - 2 - (8 + 1)) / 2 / 3))
[ "$LIMIT" -le "$MAX_CONNS" ] || LIMIT=$MAX_CONNS

hostile_start

# 1. hoarding
rss0=$(rss_kb "$DPID")
"$HOSTILE" ringhold "$EVIL" 60 2 3 >"$T/hold.out" &
A=$!
PIDS+=("$A")
for i in $(seq 1 400); do
	grep -q '^ready' "$T/hold.out" && break
	kill -0 "$A" 2>/dev/null || break
	sleep 0.05
done
grep -q '^ready' "$T/hold.out" || fail "the attacker did not get its rings ready: $(cat "$T/hold.out")"
rss1=$(rss_kb "$DPID")
echo "measured: utmemd's RSS $((rss0 >> 10)) MiB before the rings, $((rss1 >> 10)) MiB with the attacker's rings held and streamed through"
good=$(set -o pipefail; "$HOSTILE" ringhold "$GOOD" 1 0 0 | tail -n 1) || fail "good ring"
echo "good while the attacker holds its rings: $good"
[ "$(field "$good" rings)" = 1 ] || fail "the good tenant got no ring while the attacker held its own: $good"
wait "$A" || fail "ringhold did not run"
out=$(tail -n 1 "$T/hold.out")
echo "attack (hoarding): $out"
[ "$(field "$out" ring_bytes)" = "$RING_BYTES" ] || fail "rings of another size: $out"
[ "$(field "$out" rings)" = "$RINGS" ] ||
	fail "the attacker got $(field "$out" rings) rings, its in-flight budget holds $RINGS: $out"
[ "$(field "$out" touched)" = "$RINGS" ] || fail "rings not streamed through: $out"
nomem=$(field "$out" ring_nomem)
[ "$nomem" -ge 1 ] || fail "no RING_SETUP refused: $out"
[ "$(field "$out" socket_ok)" = "$nomem" ] || fail "refused rings did not go on over the socket: $out"
[ "$(field "$out" lib_ok)" = 2 ] || fail "libutmem did not fall back to the socket: $out"
[ "$(field "$out" admitted)" = "$LIMIT" ] ||
	fail "the attacker had $(field "$out" admitted) connections, its limit is $LIMIT: $out"
[ "$(field "$out" refused)" -ge 1 ] || fail "no connection refused past the limit: $out"
[ "$(field "$out" other)" = 0 ] || fail "unexpected answers: $out"
[ "$(field "$out" kept)" = "$LIMIT" ] || fail "held connections were lost: $out"
grep -q "tenant 'evil': cannot set up a shared-memory ring" "$T/d.log" ||
	fail "refused rings were not logged"
ok "hoarding: $RINGS rings of $((RING_BYTES >> 10)) KiB granted (in-flight budget $INFLIGHT_MB MiB), $nomem refused (NOMEM, served on the socket, libutmem too), $LIMIT connections then $(field "$out" refused) refused, all kept 3 s; good got a ring"

# 2 and 3. posting rules and indices
out=$("$HOSTILE" ringpost "$EVIL" 4) || fail "ringpost did not run"
echo "attack (posting): $out"
attacks=0
for k in overspent overframe noslot wronggen released twice short refcredit badreturn index headonly; do
	n=$(field "$out" "$k")
	[ "${n:-0}" -ge 1 ] || fail "attack $k never ran: $out"
	attacks=$((attacks + n))
done
for k in not_closed stored_bad nocredit no_staging setup_failed legit_bad credit_after; do
	[ "$(field "$out" "$k")" = 0 ] || fail "$k is not 0: $out"
done
[ "$(field "$out" refused)" = "$attacks" ] || fail "not every broken ring was closed: $out"
[ "$(field "$out" proto)" = "$(field "$out" proto_expected)" ] ||
	fail "broken posting rules not answered PROTO: $out"
[ "$(field "$out" entries)" = "$(field "$out" expected_entries)" ] ||
	fail "the pool holds other entries than the legitimate ones: $out"
[ "$(field "$out" conns_after)" = 1 ] || fail "the attacker's rings did not close: $out"
again=$(set -o pipefail; "$HOSTILE" ringhold "$EVIL" $((RINGS + 2)) 0 0 | tail -n 1) || fail "ringhold again"
echo "rings again after the attack: $again"
[ "$(field "$again" rings)" = "$RINGS" ] ||
	fail "the in-flight charge of closed rings was not given back: $again"
ok "posting: $attacks broken rings closed (seed $(field "$out" seed)), $(field "$out" proto) PROTO answers, overspent by at most $(field "$out" over_by_max) bytes caught, nothing of them stored, credit back to 0, $RINGS rings again"

hostile_end "ring abuse"

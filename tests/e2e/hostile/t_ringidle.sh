#!/usr/bin/env bash
# Attack: the suite's stalling attacks (t_unread.sh, t_halfput.sh,
# t_conns.sh) through shared-memory rings instead of sockets. utmemd runs
# with 1 MiB rings, so each ring costs 4 KiB + 2 MiB of the attacker's
# 16 MiB in-flight budget (docs/security.md, "Everything a tenant makes
# utmemd hold is charged and bounded"); the harness sets client_timeout
# and frame_timeout to 2 s, idle_timeout to 3 s, and timeouts are checked
# once a second, so a connection goes between T and T + 1 s after T.
#  1. replies never read: the attacker stores two 4 MiB values, posts a
#     GET of one on each of 3 rings, then (once its answer is in the reply
#     ring) 1,999 more, and never takes a reply. Beside the rings' 6 MiB
#     the budget holds two such replies: two rings each begin one, fill
#     their reply ring to the last byte, hold the rest (3 MiB) and pause
#     (backlog >= OUT_HIGH, 4 MiB; resumed only below RING_OUT_LOW, 2 MiB),
#     taking not one more request; the third ring's GETs are all answered
#     NOMEM.
#     A 4 MiB GET on the attacker's socket is NOMEM meanwhile (the backlog
#     is charged), a small one is served. The paused rings are closed after
#     client_timeout, the other one (nothing pending) after idle_timeout;
#     then the 4 MiB GET is served again.
#  2. half-sent frames: 3 rings each announce a 4 MiB PUT and write 60 %
#     of it. Beside the rings the budget holds two such frames, charged at
#     their header: the third is answered NOMEM and closed at once, the
#     two stalled ones are closed after frame_timeout.
#  3. idle rings: the attacker opens rings until RING_SETUP is refused
#     (7 of them) and does nothing: they are closed after idle_timeout.
# After each part the attacker gets all its 7 rings again (the in-flight
# charge of the closed ones was given back), and utmemd's peak RSS during
# the part is printed and checked against the bound; then lib.sh's five
# properties.
HOSTILE_RING_SIZE=1M
. "$(dirname "$0")/lib.sh"

RING_BYTES=$((4096 + 2 * (1 << 20)))
BUDGET=$((INFLIGHT_MB << 20))
RINGS=$((BUDGET / RING_BYTES))
IN_BASE=16384           # UD_IN_BASE: a connection's input buffer (uncharged)
CLIENT_MS=2000          # client_timeout and frame_timeout (lib.sh)
FRAME_MS=2000
IDLE_MS=3000            # idle_timeout (lib.sh)
LATE_MS=$((1000 + 2500)) # a sweep (SWEEP_MS) plus a loaded machine's slack
EARLY_MS=200            # our clock starts just after utmemd's
N=3                     # rings of parts 1 and 2
VLEN=$((4 << 20))
GETS=2000
GET_BYTES=$((32 + 4))   # a GET of "big0" or "big1"
NOMEM=8                 # UWIRE_S_NOMEM

# within MS LOW HIGH WHAT: MS is in [LOW, HIGH].
within() {
	[ "$1" -ge "$2" ] && [ "$1" -le "$3" ] || fail "$4: $1 ms, expected $2..$3 ms"
}
# rings_again WHAT: the attacker gets all its rings again.
rings_again() {
	local again
	again=$(set -o pipefail; "$HOSTILE" ringhold "$EVIL" $((RINGS + 2)) 0 0 | tail -n 1) || fail "ringhold after $1"
	[ "$(field "$again" rings)" = "$RINGS" ] ||
		fail "after $1 the attacker got $(field "$again" rings) rings, not $RINGS: the closed rings' in-flight charge was not given back ($again)"
}
# closes SINCE REASON: the attacker's connections utmemd closed for REASON
# (its log line) since line SINCE of its log.
closes() { tail -n +"$1" "$T/d.log" | grep -c "tenant 'evil' (fd [0-9]*): $2; closing"; }
# part_rss FROM: utmemd's peak RSS (KiB) sampled since line FROM of rss.txt.
part_rss() { tail -n +"$1" "$T/rss.txt" | sort -n | tail -n 1; }
check_rss() {
	local peak bound
	peak=$(part_rss "$1")
	bound=$(rss_bound_kb)
	echo "measured: $2: utmemd's peak RSS $((peak >> 10)) MiB, bound $((bound >> 10)) MiB"
	[ "$peak" -le "$bound" ] || fail "$2: RSS $peak KiB above the bound $bound KiB"
}

hostile_start

# 1. replies never read
FIT=$(((BUDGET - N * RING_BYTES) / VLEN))
from=$(($(wc -l <"$T/rss.txt") + 1))
logfrom=$(($(wc -l <"$T/d.log") + 1))
out=$("$HOSTILE" ringunread "$EVIL" "$N" "$GETS" "$VLEN") || fail "ringunread did not run"
echo "attack (replies never read): $out"
for k in setup_failed put_failed write_failed bad_rings; do
	[ "$(field "$out" "$k")" = 0 ] || fail "unread: $k is not 0: $out"
done
[ "$(field "$out" ok_rings)" = "$FIT" ] ||
	fail "unread: $(field "$out" ok_rings) rings began a $VLEN-byte reply, the budget holds $FIT beside $N rings: $out"
[ "$(field "$out" nomem_rings)" = $((N - FIT)) ] || fail "unread: GETs beyond the budget not answered NOMEM: $out"
[ "$(field "$out" full_rings)" = "$FIT" ] || fail "unread: reply rings not filled to the last byte: $out"
[ "$(field "$out" ring_bytes)" = $((1 << 20)) ] || fail "unread: rings of another size: $out"
[ "$(field "$out" paused_taken_max)" = "$GET_BYTES" ] ||
	fail "unread: a ring with $VLEN bytes of replies pending took $(field "$out" paused_taken_max) bytes of requests, not only its first GET ($GET_BYTES): it did not pause: $out"
[ "$(field "$out" nomem_taken_min)" = $((GETS * GET_BYTES)) ] || fail "unread: NOMEM ring did not take all its GETs: $out"
[ "$(field "$out" big_during)" = "$NOMEM" ] ||
	fail "unread: a $VLEN-byte GET on the socket was not refused while the rings' backlog held the budget: $out"
[ "$(field "$out" small_during)" = 0 ] || fail "unread: a small GET on the socket failed: $out"
[ "$(field "$out" closed)" = "$N" ] || fail "unread: rings with replies untaken were not closed: $out"
within "$(field "$out" paused_close_min_ms)" $((CLIENT_MS - EARLY_MS)) $((CLIENT_MS + LATE_MS)) "unread: paused ring closed (first)"
within "$(field "$out" paused_close_max_ms)" $((CLIENT_MS - EARLY_MS)) $((CLIENT_MS + LATE_MS)) "unread: paused ring closed (last)"
within "$(field "$out" nomem_close_min_ms)" $((IDLE_MS - EARLY_MS)) $((IDLE_MS + LATE_MS)) "unread: NOMEM ring closed (first)"
within "$(field "$out" nomem_close_max_ms)" $((IDLE_MS - EARLY_MS)) $((IDLE_MS + LATE_MS)) "unread: NOMEM ring closed (last)"
[ "$(field "$out" big_after)" = 0 ] || fail "unread: the $VLEN-byte GET still refused after the rings closed: $out"
untaken=$(closes "$logfrom" "its replies went untaken for client_timeout")
idle=$(closes "$logfrom" "idle for idle_timeout")
echo "measured: replies never read: utmemd logged $untaken closes for client_timeout, $idle for idle_timeout"
[ "$untaken" = "$FIT" ] && [ "$idle" = $((N - FIT)) ] ||
	fail "unread: closed for other reasons than $FIT x client_timeout and $((N - FIT)) x idle_timeout: $(tail -n +"$logfrom" "$T/d.log" | grep closing)"
check_rss "$from" "replies never read"
rings_again "replies never read"
echo "measured: replies never read: $FIT rings each began a $((VLEN >> 20)) MiB reply, 1 MiB in the ring and $(((VLEN >> 20) - 1)) MiB held, then took no request after the first ($(field "$out" paused_taken_max) bytes taken); $((N - FIT)) ring answered $GETS NOMEM; closed after $(field "$out" paused_close_min_ms)-$(field "$out" paused_close_max_ms) ms (paused) and $(field "$out" nomem_close_min_ms)-$(field "$out" nomem_close_max_ms) ms (nothing pending)"
ok "replies never read through rings: backlog bounded and charged, closed after client_timeout / idle_timeout, charge given back"

# 2. half-sent frames
FIT=$(((BUDGET - N * RING_BYTES) / (VLEN + 32 + 1 - IN_BASE)))
from=$(($(wc -l <"$T/rss.txt") + 1))
logfrom=$(($(wc -l <"$T/d.log") + 1))
out=$("$HOSTILE" ringhalf "$EVIL" "$N" "$VLEN" 600) || fail "ringhalf did not run"
echo "attack (half-sent frames): $out"
[ "$(field "$out" setup_failed)" = 0 ] || fail "half: rings refused: $out"
[ "$(field "$out" written)" = "$FIT" ] ||
	fail "half: $(field "$out" written) frames of $VLEN bytes taken in part, the budget holds $FIT beside $N rings: $out"
[ "$(field "$out" refused)" = $((N - FIT)) ] && [ "$(field "$out" refused_status)" = "$NOMEM" ] ||
	fail "half: a frame beyond the budget was not refused NOMEM at its header: $out"
[ "$(field "$out" closed)" = "$N" ] || fail "half: rings with a frame left half-sent were not closed: $out"
within "$(field "$out" stalled_close_min_ms)" $((FRAME_MS - EARLY_MS)) $((FRAME_MS + LATE_MS)) "half: stalled ring closed (first)"
within "$(field "$out" stalled_close_max_ms)" $((FRAME_MS - EARLY_MS)) $((FRAME_MS + LATE_MS)) "half: stalled ring closed (last)"
unfinished=$(closes "$logfrom" "a frame stayed unfinished for frame_timeout")
echo "measured: half-sent frames: utmemd logged $unfinished closes for frame_timeout"
[ "$unfinished" = "$FIT" ] ||
	fail "half: not $FIT closes for frame_timeout: $(tail -n +"$logfrom" "$T/d.log" | grep closing)"
check_rss "$from" "half-sent frames"
rings_again "half-sent frames"
echo "measured: half-sent frames: $FIT frames of $((VLEN >> 20)) MiB stalled at $(field "$out" sent) bytes, closed after $(field "$out" stalled_close_min_ms)-$(field "$out" stalled_close_max_ms) ms; $((N - FIT)) refused NOMEM at its header (seen closed after $(field "$out" refused_close_max_ms) ms)"
ok "half-sent frames through rings: charged at the header, closed after frame_timeout, charge given back"

# 3. idle rings
from=$(($(wc -l <"$T/rss.txt") + 1))
out=$("$HOSTILE" ringidle "$EVIL" $((RINGS + 2))) || fail "ringidle did not run"
echo "attack (idle rings): $out"
[ "$(field "$out" rings)" = "$RINGS" ] && [ "$(field "$out" ring_nomem)" = 1 ] &&
	[ "$(field "$out" other)" = 0 ] || fail "idle: the attacker did not get exactly its $RINGS rings: $out"
[ "$(field "$out" closed)" = "$RINGS" ] || fail "idle: idle rings were not closed: $out"
within "$(field "$out" close_min_ms)" $((IDLE_MS - EARLY_MS)) $((IDLE_MS + LATE_MS)) "idle: ring closed (first)"
within "$(field "$out" close_max_ms)" $((IDLE_MS - EARLY_MS)) $((IDLE_MS + LATE_MS)) "idle: ring closed (last)"
check_rss "$from" "idle rings"
rings_again "idle rings"
echo "measured: idle rings: $RINGS rings closed after $(field "$out" close_min_ms)-$(field "$out" close_max_ms) ms"
ok "idle rings: closed after idle_timeout, charge given back"

hostile_end "stalled rings"

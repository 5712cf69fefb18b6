#!/usr/bin/env bash
# Attack: the `posting` word of the ring header (docs/protocol.md section
# 10, "Reclaim"; docs/security.md, "Rings"). A raw ring client takes
# credit, marks itself idle and stays so; its tenant is refused for the
# quota on a plain connection (a recall), and utmemd takes the idle
# client's credit back; the client then posts a PUT from the credit it no
# longer has, as if it had not seen the recall. utmemd must have taken the
# credit back (tenant_credit_bytes 0, tenant_credit_reclaimed_bytes > 0),
# answer the PUT PROTO, close the ring, store nothing of it, and hold no
# credit afterwards. Then lib.sh's five properties.
HOSTILE_RING_SIZE=1M
. "$(dirname "$0")/lib.sh"
hostile_start
out=$("$HOSTILE" ringliar "$EVIL") || fail "ringliar did not run"
echo "attack (liar): $out"
[ "$(field "$out" credit)" -gt 0 ] || fail "the ring got no credit: $out"
[ "$(field "$out" held_before)" -gt 0 ] || fail "no credit held before the recall: $out"
[ "$(field "$out" refused_status)" = 6 ] || fail "the fill was not refused for the quota: $out"
[ "$(field "$out" held_after_recall)" = 0 ] || fail "the idle client's credit was not taken back: $out"
[ "$(field "$out" reclaimed)" -gt 0 ] || fail "nothing counted as reclaimed: $out"
[ "$(field "$out" proto)" = 1 ] || fail "the PUT beyond the reclaimed credit was not answered PROTO: $out"
[ "$(field "$out" closed)" = 1 ] || fail "the liar's ring was not closed: $out"
[ "$(field "$out" stored)" = 0 ] || fail "the liar's PUT was stored: $out"
[ "$(field "$out" held_end)" = 0 ] || fail "credit still held after the liar was closed: $out"
ok "liar: its credit taken back after the recall ($(field "$out" reclaimed) bytes), its PUT from it answered PROTO, ring closed, nothing stored"
hostile_end "ring liar"

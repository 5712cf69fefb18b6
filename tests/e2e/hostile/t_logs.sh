#!/usr/bin/env bash
# Attack: flooding the log (issue 8: each connection logged an info line,
# 87 MB of log from one flood). 1,000 connections each send one malformed
# frame, and wrong TCP tokens are tried for 1 s. Per-connection lines are
# debug; warnings a tenant can provoke are rate-limited (10 per 10 s per
# kind): the log must grow by a bounded number of lines.
. "$(dirname "$0")/lib.sh"
hostile_start
l0=$(wc -l <"$T/d.log")
out=$("$HOSTILE" flood "$EVIL" 1000) || fail "attack did not run"
echo "attack: $out"
# The flood must have reached utmemd for a quiet log to mean anything.
[ "$(field "$out" connections)" -ge 900 ] || fail "the flood made too few connections: $out"
out=$("$HOSTILE" guess "$TCP" 1) || fail "attack did not run"
echo "attack: $out"
l1=$(wc -l <"$T/d.log")
echo "log: $((l1 - l0)) lines during the attack"
[ $((l1 - l0)) -le 60 ] || fail "the log grew by $((l1 - l0)) lines: $(tail -n 5 "$T/d.log")"
hostile_end "log flood"

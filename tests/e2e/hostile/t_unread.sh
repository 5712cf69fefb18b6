#!/usr/bin/env bash
# Attack: replies a client never reads (issue 8: 30 connections x 10
# pipelined GETs of a 64 MiB value took RSS from 80 MB to 1,995 MB against
# a 512 MiB capacity). Here 30 connections x 10 GETs of an 8 MiB value
# (max_value) sit unread for 3 s. Each reply is charged to the attacker's
# in-flight budget (16M), so at most two are queued and the rest answered
# NOMEM; connections whose replies go untaken are closed after
# client_timeout. See lib.sh for the checks every case makes.
. "$(dirname "$0")/lib.sh"
hostile_start
out=$("$HOSTILE" unread "$EVIL" 30 10 "$MAXV" 3) || fail "attack did not run"
echo "attack: $out"
[ "$(field "$out" put_status)" = 0 ] || fail "the attacker could not store its value: $out"
[ "$(field "$out" failed)" = 0 ] || fail "the attacker's connections did not all connect: $out"
# The connections holding queued replies were closed within the 3 s
# (client_timeout 2 s), for that reason.
[ "$(field "$out" closed)" -ge 1 ] || fail "no connection with replies untaken was closed: $out"
grep -q "tenant 'evil' (fd [0-9]*): its replies went untaken for client_timeout; closing" "$T/d.log" ||
	fail "no connection closed for client_timeout: $out"
hostile_end "unread replies"

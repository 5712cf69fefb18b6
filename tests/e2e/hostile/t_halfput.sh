#!/usr/bin/env bash
# Attack: half-sent large frames (issue 8: a header announcing 64 MiB
# reserved the daemon-wide large-buffer budget; 9 such connections, over
# TCP before the token too, made every other tenant's PUT over ~16 KiB fail
# with NOMEM). Here 9 Unix connections of the attacker and 9 TCP
# connections without a token each announce an 8 MiB PUT, and 30 more Unix
# connections a 1 MiB one (filling what 8 MiB frames leave), each sending
# 60 % of it, then stall. A frame is charged its announced size to its own
# tenant's budget at its header, so the good tenant's large PUTs go on; a
# TCP client that has not authenticated may send one HELLO-sized frame,
# so those are refused at the header; frame_timeout closes the stalled
# ones.
. "$(dirname "$0")/lib.sh"
hostile_start
"$HOSTILE" halfput "$EVIL" 9 "$MAXV" 600 3.5 >"$T/unix.out" &
A1=$!
"$HOSTILE" halfput "$TCP" 9 "$MAXV" 600 3.5 >"$T/tcp.out" &
A2=$!
sleep 0.3
"$HOSTILE" halfput "$EVIL" 30 $((1 << 20)) 600 3 >"$T/small.out" &
A3=$!
PIDS+=("$A1" "$A2" "$A3")
sleep 0.8
big=$("$HOSTILE" bigput "$GOOD" 65536 20) || fail "bigput"
echo "good during the attack: $big"
big1=$("$HOSTILE" bigput "$GOOD" 1048576 4) || fail "bigput"
echo "good during the attack: $big1"
for a in "$A1" "$A2" "$A3"; do
	wait "$a" || fail "an attacker exited with $?"
done
echo "attack (unix): $(cat "$T/unix.out")"
echo "attack (unix, 1 MiB frames): $(cat "$T/small.out")"
echo "attack (tcp, no token): $(cat "$T/tcp.out")"
# Every attacking connection was made: one that was not is neither
# answered nor closed, and proves nothing about them.
for f in unix small tcp; do
	[ "$(field "$(cat "$T/$f.out")" failed)" = 0 ] ||
		fail "attacker ($f): not every connection was made: $(cat "$T/$f.out")"
done
[ "$(field "$big" failed)" = 0 ] || fail "good's 64 KiB PUTs failed during the attack: $big"
[ "$(field "$big1" failed)" = 0 ] || fail "good's 1 MiB PUTs failed during the attack: $big1"
[ "$(field "$(cat "$T/tcp.out")" answered)" = 9 ] ||
	fail "TCP frames before HELLO not refused at their header: $(cat "$T/tcp.out")"
[ "$(field "$(cat "$T/unix.out")" closed)" = 9 ] ||
	fail "stalled frames not closed after frame_timeout: $(cat "$T/unix.out")"
hostile_end "half-sent frames"

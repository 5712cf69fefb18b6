#!/usr/bin/env bash
# Spec vs code: a request carrying the RESPONSE flag (issue 8: it was
# served). Such a frame is a protocol error (PROTO, 9), answered at its
# header and the connection closed: also when it announces a value only a
# response may carry (4 MiB on a GET), which the daemon must not wait for
# and buffer.
. "$(dirname "$0")/lib.sh"
hostile_start
out=$("$HOSTILE" respflag "$EVIL") || fail "attack did not run"
echo "attack: $out"
[ "$out" = "put 0 get 9 closed 1 big 9" ] || fail "RESPONSE flag on a request not refused: $out"
hostile_end "RESPONSE flag on requests"

#!/usr/bin/env bash
# Spec vs code: an empty key (issue 8: stored, although docs/protocol.md
# and include/utmem.h call it invalid). PUT, GET and INVALIDATE with an
# empty key are answered INVALID (2) and the connection stays usable.
. "$(dirname "$0")/lib.sh"
hostile_start
out=$("$HOSTILE" emptykey "$EVIL") || fail "attack did not run"
echo "attack: $out"
[ "$out" = "put 2 get 2 invalidate 2 ping_after 0" ] || fail "empty key not refused as INVALID: $out"
hostile_end "empty keys"

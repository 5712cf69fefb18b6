#!/usr/bin/env bash
# Attack: a shared pool's grantee wipes it for everyone (issue 8: a tenant
# only granted a shared pool could flush or destroy it). "common" is
# granted to good and evil, and only good may manage it. The harness's
# acknowledged shared values (good's) must all survive evil's attempts.
. "$(dirname "$0")/lib.sh"
hostile_start
out=$("$HOSTILE" shared "$EVIL" common) || fail "attack did not run"
echo "attack: $out"
[ "$(field "$out" flush)" = -13 ] || fail "evil's FLUSH of the shared pool not refused with -EACCES: $out"
[ "$(field "$out" destroy)" = -13 ] || fail "evil's DESTROY of the shared pool not refused with -EACCES: $out"
hostile_end "shared pool rights"

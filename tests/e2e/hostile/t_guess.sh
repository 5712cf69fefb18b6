#!/usr/bin/env bash
# Attack: guessing a TCP token (issue 8: ~7,000 guesses/s, no slowdown).
# For 3 s the attacker connects and says HELLO with a wrong token as fast
# as it can. After 3 free failures its address is refused at accept, for
# 250 ms doubling up to 30 s, so only a handful of guesses are ever judged.
# (The good tenant's probe runs on its Unix socket: a client on the same
# address as a guesser is refused over TCP while the address backs off.)
. "$(dirname "$0")/lib.sh"
hostile_start
out=$("$HOSTILE" guess "$TCP" 3) || fail "attack did not run"
echo "attack: $out"
[ "$(field "$out" judged)" -le 12 ] || fail "$(field "$out" judged) guesses judged in 3 s: $out"
# The same from a new loopback source address for every guess (127.1.x.y):
# all of 127.0.0.0/8 is one host and backs off as one, so rotating gains
# nothing (it still backs off from the run above).
out=$("$HOSTILE" guess "$TCP" 2 rotate) || fail "rotating attack did not run"
echo "rotating attack: $out"
[ "$(field "$out" judged)" -le 12 ] || fail "$(field "$out" judged) rotating guesses judged in 2 s: $out"
hostile_end "token guessing"

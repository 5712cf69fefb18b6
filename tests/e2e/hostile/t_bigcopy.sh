#!/usr/bin/env bash
# Attack: large GETs copied under a stripe lock (found in an audit on
# 2026-12-03). utmemd copies a GET's value into its reply under the key's
# stripe lock, and pools of the same pool group (any tenant's) share those
# stripes. The copy used to page-fault under the lock: into a fresh reply
# segment (a value above a worker's 16 MiB segment cache gets one each
# time: 16,384 pages for 64 MiB, 13-19 us each on the development VM),
# and out of value-region pages a client wrote and utmemd never touched,
# so another tenant's requests on those stripes waited 200-400 ms per GET.
# utmemd now faults both in first, without the lock (op_get), and only the
# copy is left under it.
# Here the limits are raised for 64 MiB values (capacity, max_value, the
# attacker's max and in-flight budget; the RSS bound follows), and both
# tenants stay on their sockets (rings off, no value region): the case is
# the fresh reply segment. The attacker GETs three 64 MiB values in turn
# for 4 s (at least 5 of them) from a pool in the good tenant's pool
# group, and (the control) from a pool in another; the good tenant, on the
# other worker, GETs small values meanwhile. Its GETs slower than 50 ms of
# their own time (the machine's stalls taken out; the copy alone takes
# 4-19 ms here, a faulting one 200-400) must be about as few beside the
# attacker's group as beside the control, and the five properties of
# lib.sh hold.
HOSTILE_CAP_MB=512
HOSTILE_MAX_VALUE_MB=64
HOSTILE_EVIL_MAX_MB=256
HOSTILE_INFLIGHT_MB=160
. "$(dirname "$0")/lib.sh"
hostile_start
ctrl=$("$HOSTILE" bigcopy "$EVIL" "$GOOD" 4 other 64) || fail "bigcopy other did not run"
echo "attacker in another pool group: $ctrl"
same=$("$HOSTILE" bigcopy "$EVIL" "$GOOD" 4 same 64) || fail "bigcopy same did not run"
echo "attacker in the good tenant's pool group: $same"
for out in "$ctrl" "$same"; do
	[ "$(field "$out" evil_gets)" -ge 5 ] || fail "the attacker's GETs were too few to judge: $out"
done
[ "$(field "$same" slow)" -le "$(($(field "$ctrl" slow) + 3))" ] ||
	fail "the good tenant's GETs waited for the attacker's copies: $(field "$same" slow) slow against $(field "$ctrl" slow) in the control"
hostile_end "bigcopy"

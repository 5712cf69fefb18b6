#!/usr/bin/env bash
# A tenant ("evil") writes random bytes over its own value region (values,
# staging extents, index, hazard words) while its client posts PUTs and
# reads; another tenant ("good") works meanwhile. Checked (the full list
# of what evil may and may not change is in e2e_ring.c, cmd_scribble):
# shared-pool values never change, good's values and service are intact,
# utmemd keeps every entry of evil with its length and stores evil's later
# values exactly, and utmemd stays up and stops cleanly. FP_SEED=N replays
# the scribbling's choices.
. "$(dirname "$0")/lib.sh"
RUN=$T/run
cat >"$T/d.ini" <<INI
[utmemd]
capacity = 512M
workers = 2
log_level = debug
[tenant good]
[tenant evil]
[pool common]
kind = persistent
tenants = good, evil
INI
start_daemon d "$RUN" -c "$T/d.ini"
"$E2E_RING" tenant-scribble "$RUN/evil.sock" "$RUN/good.sock" "${FP_SEED:-0}" ||
	fail "scribbling tenant harmed more than its own values (replay: FP_SEED=<seed above>)"
grep -q "tenant 'evil' uses a shared-memory ring" "$T/d.log" || fail "evil had no ring"
kill -0 "$DPID" || fail "utmemd died"
ok "a tenant scribbling on its region changes only its own values"
stop_daemon "$DPID" || fail "utmemd exit status $?"

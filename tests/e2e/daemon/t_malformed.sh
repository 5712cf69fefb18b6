#!/usr/bin/env bash
# Hostile input on a tenant socket (truncated frames, oversized lengths,
# unknown opcode, wrong version, garbage, admin opcodes) gets an error
# status or a closed connection, while other clients keep being served and
# nothing leaks; the daemon stays up and exits cleanly.
. "$(dirname "$0")/lib.sh"
RUN=$T/run
start_daemon d "$RUN"
"$E2E_CLIENT" serve "$RUN/utmemd.sock" 4 >"$T/serve.out" 2>"$T/serve.log" &
SP=$!
PIDS+=("$SP")
"$E2E_RAW" malformed "$RUN/utmemd.sock" || fail "malformed-input checks"
ok "malformed frames refused, well-behaved connection served throughout"
"$E2E_RAW" heavy "$RUN/utmemd.sock" || fail "slow large PUT / backpressure"
ok "a stalled 8 MiB PUT and 64 MiB of unread GET replies do not stall another client"
wait "$SP" || fail "concurrent libutmem client failed during the hostile input"
ok "concurrent libutmem client: $(cat "$T/serve.out")"
# Admin opcodes are refused on tenant sockets (checked above); the tenant
# socket cannot reach the admin socket's functions either way.
kill -0 "$DPID" || fail "utmemd died"
stop_daemon "$DPID" || fail "utmemd exit status $?"
ok "utmemd exits 0 after hostile input"

# The tenant's in-flight budget (docs/security.md): 16 MiB, so 6 stalled
# 4 MiB PUTs cannot all hold a frame-sized buffer; a large frame is charged
# its announced size at its header and refused (NOMEM) when it does not fit.
RUN2=$T/run2
printf '[utmemd]\ncapacity = 16M\nmax_value = 4M\n[tenant default]\ninflight = 16M\n' >"$T/budget.ini"
start_daemon b "$RUN2" -c "$T/budget.ini"
"$E2E_RAW" budget "$RUN2/utmemd.sock" 6 4194304 >"$T/budget.out" || fail "buffer budget"
ok "$(cat "$T/budget.out"); budget released afterwards"
stop_daemon "$DPID" || fail "utmemd exit status $?"

# A client that reads slowly but steadily is not closed for a frame it
# never left unfinished: 8 GETs of 1 MiB pipelined, replies read at about
# 1.3 MiB/s, so the connection stays paused with whole GETs in its buffer
# for longer than frame_timeout (1 s) while replies keep being taken
# (client_timeout 3 s never passes without progress).
RUN3=$T/run3
printf '[utmemd]\ncapacity = 64M\nframe_timeout = 1\nclient_timeout = 3\n[tenant default]\n' >"$T/slow.ini"
start_daemon s "$RUN3" -c "$T/slow.ini"
out=$("$E2E_RAW" slowread "$RUN3/utmemd.sock" 8 128 100) || fail "slow reader closed: $out"
ok "a slow, steady reader keeps its connection: $out"
grep -q "frame stayed unfinished" "$T/s.log" && fail "closed for frame_timeout: $(grep unfinished "$T/s.log")"
stop_daemon "$DPID" || fail "utmemd exit status $?"

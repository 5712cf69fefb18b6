#!/usr/bin/env bash
# Logging and the service manager: syslog priorities when stderr is not a
# terminal (so journalctl -p filters), no timestamp of our own on the
# journal, no info line per utmemctl call or per client connection (debug
# only), and sd_notify: READY=1, RELOADING=1 then READY=1 on SIGHUP,
# STOPPING=1, through a stand-in for systemd's notification socket.
. "$(dirname "$0")/lib.sh"
RUN=$T/run

printf '[utmemd]\ncapacity = 64M\n[tenant default]\n' >"$T/l.ini"
"$E2E_NOTIFY" "$T/notify.sock" 30 >"$T/notify.out" &
NP=$!
PIDS+=("$NP")
for i in $(seq 1 100); do [ -S "$T/notify.sock" ] && break; sleep 0.05; done
NOTIFY_SOCKET=$T/notify.sock start_daemon d "$RUN" -c "$T/l.ini"
for i in $(seq 1 100); do grep -q READY=1 "$T/notify.out" && break; sleep 0.05; done
grep -q "^READY=1|STATUS=1 tenant, 0 connections, 0 of 67108864 bytes charged|MAINPID=$DPID$" "$T/notify.out" ||
	fail "READY: $(cat "$T/notify.out")"
ok "sd_notify: $(head -n 1 "$T/notify.out")"

# Priorities: stderr is a file here, so every line starts with <N>.
grep -q "^<6>20[0-9-]*T[0-9:.]*Z utmemd info: ready (pid $DPID)$" "$T/d.log" || fail "info line: $(head -n 3 "$T/d.log")"
grep -v '^<[3467]>' "$T/d.log" | grep -q . && fail "a line without a priority: $(grep -v '^<[3467]>' "$T/d.log")"
ok "log lines carry their priority: $(head -n 1 "$T/d.log")"

# No line per utmemctl call, nor per client connection, at info level.
n0=$(wc -l <"$T/d.log")
for i in 1 2 3; do ctl stats >/dev/null || fail "stats"; done
"$E2E_CLIENT" put "$RUN/utmemd.sock" p k v >/dev/null || fail "put"
[ "$(wc -l <"$T/d.log")" -eq "$n0" ] || fail "utmemctl or a client logged at info: $(tail -n +$((n0 + 1)) "$T/d.log")"
ctl log-level debug >/dev/null
"$E2E_CLIENT" put "$RUN/utmemd.sock" p k v >/dev/null || fail "put"
grep -q '^<7>.* utmemd debug: fd [0-9]*: default connection from pid [0-9]* uid [0-9]*' "$T/d.log" ||
	fail "no debug line for a connection: $(tail -n 5 "$T/d.log")"
# Another change leaves the level (it put log_level back before); a
# reload, which reads the file's, does not.
ctl tenant add lx >/dev/null || fail "tenant add lx"
n1=$(wc -l <"$T/d.log")
"$E2E_CLIENT" put "$RUN/utmemd.sock" p k v >/dev/null || fail "put"
tail -n +$((n1 + 1)) "$T/d.log" | grep -q '^<7>.* utmemd debug: fd [0-9]*: default connection' ||
	fail "tenant add undid log-level debug: $(tail -n 5 "$T/d.log")"
ctl reload >/dev/null || fail "reload"
n1=$(wc -l <"$T/d.log")
"$E2E_CLIENT" put "$RUN/utmemd.sock" p k v >/dev/null || fail "put"
tail -n +$((n1 + 1)) "$T/d.log" | grep -q '^<7>' && fail "debug after a reload: $(tail -n 5 "$T/d.log")"
ok "no info line per utmemctl call or connection; debug has them, until a reload"

# SIGHUP: RELOADING=1 then READY=1; a broken file is an error line (<3>).
kill -HUP "$DPID"
for i in $(seq 1 100); do [ "$(grep -c READY=1 "$T/notify.out")" -ge 2 ] && break; sleep 0.05; done
grep -q "^RELOADING=1|MONOTONIC_USEC=[0-9]*$" "$T/notify.out" || fail "RELOADING: $(cat "$T/notify.out")"
[ "$(grep -c READY=1 "$T/notify.out")" -ge 2 ] || fail "no READY=1 after the reload: $(cat "$T/notify.out")"
printf '[utmemd]\ncapacity = 64Q\n' >"$T/l.ini"
kill -HUP "$DPID"
for i in $(seq 1 100); do grep -q "reload failed" "$T/d.log" && break; sleep 0.05; done
grep -q "^<3>.* utmemd error: SIGHUP: reload failed, nothing changed: .*l.ini:2: capacity '64Q'" "$T/d.log" ||
	fail "broken reload: $(tail -n 3 "$T/d.log")"
ok "SIGHUP: RELOADING/READY; a broken file: $(grep 'reload failed' "$T/d.log")"
# A file that applies part way (a new VM tenant whose region cannot be
# made) does not claim that nothing changed, and logs one line per event.
printf '[utmemd]\ncapacity = 256M\n[tenant vm]\nivshmem = %s/nodir/region\n' "$T" >"$T/l.ini"
kill -HUP "$DPID"
wait_output "$T/d.log" "reload failed, part of the file applied" "$DPID" ||
	fail "part-way reload: $(tail -n 4 "$T/d.log")"
grep -q "^<3>.* utmemd error: SIGHUP: reload failed, part of the file applied (logged above): stopped: tenant 'vm': ivshmem region $T/nodir/region: No such file or directory$" "$T/d.log" ||
	fail "part-way reload: $(tail -n 4 "$T/d.log")"
tail -n 1 "$T/d.log" | grep -q "^<3>" || fail "the error took several log lines: $(tail -n 3 "$T/d.log")"
ok "SIGHUP applied part way: $(grep 'part of the file applied' "$T/d.log")"

stop_daemon "$DPID" || fail "utmemd exit status $?"
wait "$NP" || fail "no STOPPING=1: $(cat "$T/notify.out")"
tail -n 1 "$T/notify.out" | grep -q "^STOPPING=1$" || fail "last message: $(cat "$T/notify.out")"
ok "STOPPING=1 on SIGTERM"

# On the journal (JOURNAL_STREAM names stderr) the journal's timestamp is enough.
: >"$T/j.log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$T/j.log") "$UTMEMD" --run-dir "$T/run2" >/dev/null 2>>"$T/j.log" &
JP=$!
PIDS+=("$JP")
for i in $(seq 1 100); do grep -q ready "$T/j.log" && break; sleep 0.05; done
grep -q "^<6>utmemd info: ready (pid $JP)$" "$T/j.log" || fail "journal line: $(cat "$T/j.log")"
stop_daemon "$JP" || fail "utmemd exit status $?"
ok "on the journal: $(head -n 1 "$T/j.log")"

#!/usr/bin/env bash
# Startup errors: bad config files of several kinds, a socket in use by a
# live daemon, an unusable run directory. Each gives ONE clear line on
# stderr naming the problem (file:line for config errors) and a non-zero
# exit, and leaves no socket behind.
. "$(dirname "$0")/lib.sh"
RUN=$T/run

# bad NAME EXPECTED-REGEX: write $T/NAME.ini from stdin, expect refusal.
bad() {
	local name=$1 want=$2 rc
	cat >"$T/$name.ini"
	# A config that is wrongly accepted starts a daemon: do not wait forever.
	timeout 20 "$UTMEMD" --run-dir "$T/never" -c "$T/$name.ini" >"$T/$name.out" 2>"$T/$name.err"
	rc=$?
	[ $rc -ne 0 ] || fail "$name: accepted (exit 0)"
	[ "$(wc -l <"$T/$name.err")" -eq 1 ] || fail "$name: want one line, got: $(cat "$T/$name.err")"
	grep -Eq "$want" "$T/$name.err" || fail "$name: message '$(cat "$T/$name.err")' lacks /$want/"
	[ ! -e "$T/never" ] || fail "$name: run dir created for a bad config"
	ok "$name refused: $(cat "$T/$name.err")"
}

bad unknown-key "unknown-key.ini:2: unknown key 'capacityy'" <<CFG
[utmemd]
capacityy = 1G
CFG
bad unknown-section "unknown-section.ini:3: unknown section \[tenants x\]" <<CFG
[utmemd]
capacity = 1G
[tenants x]
CFG
bad bad-number "bad-number.ini:3: max '12Q'" <<CFG
[utmemd]
[tenant a]
max = 12Q
CFG
bad bad-percent "bad-percent.ini:2: capacity '250%'" <<CFG
[utmemd]
capacity = 250%
CFG
bad dup-tenant "dup-tenant.ini:4: duplicate tenant 'a' \(first at line 1\)" <<CFG
[tenant a]
max = 1G

[tenant a]
max = 2G
CFG
bad dup-key "dup-key.ini:3: 'max' given twice" <<CFG
[tenant a]
max = 1G
max = 2G
CFG
bad bad-weight "bad-weight.ini:2: weight '0'" <<CFG
[tenant a]
weight = 0
CFG
bad bad-tcp "bad-tcp.ini:2: tcp 'localhost:99'" <<CFG
[utmemd]
tcp = localhost:99
CFG
bad min-over-max "min-over-max.ini:1: tenant 'a': min is larger than max" <<CFG
[tenant a]
min = 2G
max = 1G
CFG
bad pool-unknown-tenant "pool-unknown-tenant.ini:4: pool 'p': no tenant named 'zz'" <<CFG
[tenant a]
[pool p]
kind = persistent
tenants = a, zz
CFG
bad syntax "syntax.ini:2: syntax error" <<CFG
[utmemd]
this line has no equals sign
CFG
bad bad-name "bad-name.ini:1: tenant name 'a/b'" <<CFG
[tenant a/b]
CFG
bad dot-name "dot-name.ini:1: tenant name '\\.': use 1..63 of A-Z a-z 0-9 . _ -, not . or .." <<CFG
[tenant .]
CFG
bad dotdot-name "dotdot-name.ini:2: tenant name '\\.\\.'" <<CFG
[utmemd]
[tenant ..]
CFG
bad dotdot-pool "dotdot-pool.ini:1: pool name '\\.\\.'" <<CFG
[pool ..]
kind = persistent
CFG
bad after-header "after-header.ini:2: text after the section header" <<CFG
[utmemd]
[tenant a] max = 1G
CFG
[ "$(sed "s|$T||g" "$T/after-header.err" | grep -c 'max = 1G')" = 0 ] || fail "after-header: the line's text is echoed"

# A UTF-8 byte-order mark, as some editors write, and comments after headers.
printf '\xEF\xBB\xBF[utmemd] ; the daemon\ncapacity = 64M\n[tenant a] # one tenant\nmax = 8M\n' >"$T/bom.ini"
"$UTMEMD" -c "$T/bom.ini" --check-config >"$T/bom.out" 2>&1 || fail "BOM file: $(cat "$T/bom.out")"
grep -q "ok (1 tenant, 0 shared pools, capacity 67108864 bytes)" "$T/bom.out" || fail "BOM file: $(cat "$T/bom.out")"
ok "byte-order mark and comments after headers: $(cat "$T/bom.out")"

"$UTMEMD" -c "$T/missing.ini" 2>"$T/missing.err" && fail "missing file accepted"
grep -q "missing.ini: cannot open" "$T/missing.err" || fail "missing file: $(cat "$T/missing.err")"
ok "missing config file refused: $(cat "$T/missing.err")"

# --check-config on a good file.
cat >"$T/good.ini" <<CFG
; comment
[utmemd]
capacity = 512M
max_value = 4M
workers = 2
log_level = debug
[tenant a]
min = 1M
max = 64M
weight = 3
[pool p]
kind = ephemeral
tenants = a
CFG
"$UTMEMD" -c "$T/good.ini" --check-config >"$T/check.out" 2>&1 || fail "check-config: $(cat "$T/check.out")"
grep -q "ok (1 tenant, 1 shared pool, capacity 536870912 bytes)" "$T/check.out" ||
	fail "check-config output: $(cat "$T/check.out")"
ok "--check-config: $(cat "$T/check.out")"
"$UTMEMD" --bogus >/dev/null 2>&1
[ $? -eq 2 ] || fail "unknown option: want exit 2"
ok "unknown option exits 2"

# Socket in use by a live daemon: refused, and the live one keeps its socket.
start_daemon d "$RUN"
"$UTMEMD" --run-dir "$RUN" >"$T/second.out" 2>"$T/second.err" && fail "second daemon started"
[ "$(wc -l <"$T/second.err")" -eq 1 ] || fail "second daemon: $(cat "$T/second.err")"
grep -q "in use" "$T/second.err" || fail "second daemon message: $(cat "$T/second.err")"
[ -S "$RUN/admin.sock" ] && [ -S "$RUN/utmemd.sock" ] || fail "live daemon lost its sockets"
ctl capacity >/dev/null || fail "live daemon no longer answers"
ok "socket in use refused: $(cat "$T/second.err")"
stop_daemon "$DPID" || fail "exit status $?"

# Unusable run directory (a path through a regular file).
touch "$T/file"
"$UTMEMD" --run-dir "$T/file/run" >/dev/null 2>"$T/rundir.err" && fail "bad run dir accepted"
[ "$(wc -l <"$T/rundir.err")" -eq 1 ] || fail "bad run dir: $(cat "$T/rundir.err")"
grep -q "cannot create run directory" "$T/rundir.err" || fail "bad run dir: $(cat "$T/rundir.err")"
ok "bad run directory refused: $(cat "$T/rundir.err")"

# A config whose tenant socket clashes with a non-socket file.
mkdir -p "$T/run2"
touch "$T/run2/a.sock"
printf '[tenant a]\n' >"$T/clash.ini"
"$UTMEMD" --run-dir "$T/run2" -c "$T/clash.ini" >/dev/null 2>"$T/clash.err" && fail "clash accepted"
grep -q "exists and is not a socket" "$T/clash.err" || fail "clash: $(cat "$T/clash.err")"
[ ! -e "$T/run2/admin.sock" ] || fail "admin socket left behind after a failed start"
ok "failed start leaves no socket: $(cat "$T/clash.err")"

# A tenant socket path too long for a unix socket: the message names the
# path and the limit (a socket path takes at most 107 bytes).
LONG=$(printf 'x%.0s' $(seq 70))
printf '[tenant a]\nsocket = %s.sock\n' "$LONG" >"$T/long.ini"
timeout 20 "$UTMEMD" --run-dir "$T/run-dir-of-some-length" -c "$T/long.ini" >/dev/null 2>"$T/long.err" &&
	fail "too long socket path accepted"
grep -qF "tenant 'a': socket path too long (" "$T/long.err" || fail "long path: $(cat "$T/long.err")"
grep -qF "at most 107" "$T/long.err" || fail "long path, no limit: $(cat "$T/long.err")"
grep -qF "${LONG:0:40}.sock" "$T/long.err" || fail "long path, no path: $(cat "$T/long.err")"
ok "too long socket path: $(cat "$T/long.err")"
# So does a run directory too long for the admin socket in it.
LONGDIR=$T/$(printf 'd%.0s' $(seq 120))
timeout 20 "$UTMEMD" --run-dir "$LONGDIR" >/dev/null 2>"$T/longdir.err" && fail "too long run directory accepted"
grep -qF "admin socket path too long (" "$T/longdir.err" || fail "long run dir: $(cat "$T/longdir.err")"
grep -qF "at most 107" "$T/longdir.err" || fail "long run dir, no limit: $(cat "$T/longdir.err")"
grep -qF "dddddddddd/admin.sock" "$T/longdir.err" || fail "long run dir, no path: $(cat "$T/longdir.err")"
ok "too long run directory: $(cat "$T/longdir.err")"
# The check alone (-t, as the systemd unit's pre-start runs it) refuses
# both, and a refused start creates no run directory.
[ ! -e "$LONGDIR" ] || fail "a refused start created its run directory"
timeout 20 "$UTMEMD" -t --run-dir "$LONGDIR" >/dev/null 2>"$T/longdir-t.err" &&
	fail "check passed a run directory too long for admin.sock"
grep -qF "admin socket path too long (" "$T/longdir-t.err" ||
	fail "long run dir, -t: $(cat "$T/longdir-t.err")"
timeout 20 "$UTMEMD" -t --run-dir "$T/run-dir-of-some-length" -c "$T/long.ini" \
	>/dev/null 2>"$T/long-t.err" && fail "check passed a too long socket path"
grep -qF "tenant 'a': socket path too long (" "$T/long-t.err" ||
	fail "long path, -t: $(cat "$T/long-t.err")"
ok "-t refuses them too: $(cat "$T/long-t.err")"
# A relative run directory (the default ./run/utmem, or --run-dir r) is
# made absolute before anything is bound: a socket path that fits as
# written but not from the working directory is refused by the check and
# at start alike, with the path utmemd would bind, before any directory
# is made.
WD=$T/w
mkdir -p "$WD"
n=$((112 - ${#WD} - 8)) # WD + "/r/" + NAME + ".sock" = 112 bytes
NAME=$(printf 's%.0s' $(seq "$n"))
printf '[tenant a]\nsocket = %s.sock\n' "$NAME" >"$T/rel.ini"
(cd "$WD" && timeout 20 "$UTMEMD" -t --run-dir r -c "$T/rel.ini") >/dev/null 2>"$T/rel-t.err" &&
	fail "check passed a socket path too long once the run directory is absolute"
grep -qF "tenant 'a': socket path too long (112 bytes, at most 107): $WD/r/" "$T/rel-t.err" ||
	fail "relative run dir, -t: $(cat "$T/rel-t.err")"
(cd "$WD" && timeout 20 "$UTMEMD" --run-dir ./r -c "$T/rel.ini") >/dev/null 2>"$T/rel.err" &&
	fail "too long socket path under a relative run directory accepted"
[ "$(wc -l <"$T/rel.err")" -eq 1 ] || fail "relative run dir: $(cat "$T/rel.err")"
grep -qF "tenant 'a': socket path too long (112 bytes" "$T/rel.err" ||
	fail "relative run dir: $(cat "$T/rel.err")"
[ ! -e "$WD/r" ] || fail "a refused start created its relative run directory"
ok "relative run directory measured from the working directory: $(cat "$T/rel-t.err")"

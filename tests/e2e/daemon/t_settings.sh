#!/usr/bin/env bash
# One validation for every setting, whoever gives it (config file, utmemctl,
# the admin protocol itself), and the changes that would lose data: each
# friction an operator met, end to end against a live utmemd.
. "$(dirname "$0")/lib.sh"
RUN=$T/run

# expect_usage WANT CMD...: utmemctl refuses with exit 2 and message WANT.
expect_usage() {
	local want=$1 rc
	shift
	ctl "$@" >"$T/o" 2>"$T/e"
	rc=$?
	[ $rc -eq 2 ] || fail "utmemctl $*: want exit 2, got $rc: $(cat "$T/o" "$T/e")"
	grep -qF "$want" "$T/e" || fail "utmemctl $*: message lacks '$want': $(cat "$T/e")"
	ok "utmemctl $* -> exit 2: $(head -n 1 "$T/e")"
}

# expect_daemon_refuses WANT ARGS...: e2e_admin (no client-side checks) is refused.
expect_daemon_refuses() {
	local want=$1
	shift
	"$E2E_ADMIN" "$RUN/admin.sock" "$@" >"$T/o" 2>&1 && fail "utmemd accepted: $* ($(cat "$T/o"))"
	grep -qF "$want" "$T/o" || fail "utmemd's refusal of $* lacks '$want': $(cat "$T/o")"
	ok "utmemd itself refuses $*: $(cat "$T/o")"
}

cat >"$T/u.ini" <<CFG
[utmemd]
capacity = 256M
[tenant default]
[tenant web]
max = 64M
CFG
start_daemon d "$RUN" -c "$T/u.ini"
cap0=$(ctl capacity --json)

# Sizes that would break a running pool: refused by utmemctl, and by utmemd.
expect_usage "capacity '0': below the smallest capacity, 64K" capacity set 0
expect_usage "capacity '1K': below the smallest capacity, 64K" capacity set 1K
expect_usage "capacity '100T': more than this host's memory" capacity set 100T
expect_daemon_refuses "capacity '0': below the smallest capacity" capacity 0
expect_daemon_refuses "capacity '1024': below the smallest capacity" set utmemd capacity 1024
expect_daemon_refuses "more than this host's memory" set utmemd capacity 100T
[ "$(ctl capacity --json)" = "$cap0" ] || fail "capacity changed by refused requests"

# "." and ".." are no names, for utmemctl, utmemd and the config file alike.
expect_usage "bad tenant name '..' (1..63 of A-Z a-z 0-9 . _ -, not . or ..)" tenant add ..
expect_usage "bad tenant name '.'" tenant add .
expect_daemon_refuses "bad section 'tenant ..'" add .. max 1M
expect_daemon_refuses "bad section 'tenant .'" add . max 1M

# A token taken by another tenant: both are named, truly whichever is
# changed (it once said the one that held it used the other's).
ctl tenant add t1 >/dev/null && ctl tenant add t2 --token t2token-abcdef >/dev/null || fail "add t1, t2"
ctl tenant set t1 --token t2token-abcdef 2>"$T/e" && fail "t1 took t2's token"
grep -qF "tenants 't1' and 't2' have the same token" "$T/e" || fail "token of t2 set on t1: $(cat "$T/e")"
ctl tenant add t3 --token t2token-abcdef 2>"$T/e" && fail "t3 took t2's token"
grep -qF "tenants 't2' and 't3' have the same token" "$T/e" || fail "token of t2 on a new t3: $(cat "$T/e")"
ctl tenant remove t1 >/dev/null && ctl tenant remove t2 >/dev/null || fail "remove t1, t2"
ok "a shared token names both tenants: $(cat "$T/e")"

# A token is checked the same way in a file, by utmemctl and by utmemd.
expect_usage "token: expected 8..255 bytes, got 5" tenant add x --token 12345
expect_daemon_refuses "token: expected 8..255 bytes, got 5" add x token 12345
printf '[tenant x]\ntoken = 12345\n' >"$T/tok.ini"
"$UTMEMD" -c "$T/tok.ini" --check-config 2>"$T/e" && fail "short token accepted in a file"
grep -qF "tok.ini:2: token: expected 8..255 bytes, got 5" "$T/e" || fail "file token: $(cat "$T/e")"
ok "short token refused in the file too: $(cat "$T/e")"
expect_usage "unknown setting 'colour' for tenant NAME (settings: min, max, weight" tenant set web colour=blue
# A key given twice is refused, as in a file, not "the last one wins"
# (max-conns and max_conns are one key).
expect_usage "'max' given twice" tenant set web --max 8M --max 9M
expect_usage "'max_conns' given twice" tenant set web --max-conns 8 max_conns=9
expect_daemon_refuses "'max' given twice" set "tenant web" max 8M max 9M
ctl config get tenant web | grep -qx "max = 64M" || fail "a refused set changed max: $(ctl config get tenant web | grep max)"
# Decoding is strict (protocol-admin.md): a request whose value is empty
# carries nothing, the listings as INFO and SAVE.
for op in 0x40 0x44 0x46 0x49 0x51 0x52; do
	expect_daemon_refuses "takes no arguments" raw $op 00000000
done

# Reserved minimums past the capacity: at runtime and in a file.
ctl tenant set default --min 200M >/dev/null || fail "min within capacity"
ctl tenant add batch --min 100M 2>"$T/e" && fail "mins past capacity accepted"
grep -qF "tenant 'batch': min 100M brings the tenants' reserved total to 300M, more than the capacity 256M" "$T/e" ||
	fail "mins past capacity: $(cat "$T/e")"
ok "runtime: $(cat "$T/e")"
printf '[utmemd]\ncapacity = 1G\n[tenant a]\nmin = 700M\n[tenant b]\nmin = 700M\n' >"$T/mins.ini"
"$UTMEMD" -c "$T/mins.ini" --check-config 2>"$T/e" && fail "--check-config passed mins past capacity"
grep -qF "mins.ini:5: tenant 'b': min 700M brings" "$T/e" || fail "mins file: $(cat "$T/e")"
ok "--check-config: $(cat "$T/e")"

# Percentages, as in the config file; every change prints a line.
ctl capacity set 1% >"$T/o" || fail "capacity set 1%"
grep -q "^capacity: 256M -> 1%$" "$T/o" || fail "capacity set 1%: $(cat "$T/o")"
ok "capacity set 1%: $(head -n 1 "$T/o")"
ctl capacity set 256M >/dev/null || fail "capacity back"
ctl tenant set default --min 0 >/dev/null || fail "min back"

# Messages that pointed the wrong way.
ctl tenant add x --socket admin.sock 2>"$T/e" && fail "tenant on the admin socket"
grep -qF "is utmemd's admin socket" "$T/e" || fail "admin.sock: $(cat "$T/e")"
ctl tenant add x --socket ./admin.sock 2>"$T/e" && fail "tenant on ./admin.sock"
grep -qF "socket './admin.sock' is utmemd's admin socket ($RUN/admin.sock)" "$T/e" || fail "./admin.sock: $(cat "$T/e")"
ctl tenant add x --socket ./web.sock 2>"$T/e" && fail "tenant on ./web.sock"
grep -qF "socket './web.sock' already used by 'web' as socket 'web.sock'" "$T/e" || fail "./web.sock: $(cat "$T/e")"
ok "tenant add x --socket admin.sock: $(cat "$T/e")"
"$UTMEMD" -c /etc --check-config >"$T/o" 2>"$T/e" && fail "-c /etc --check-config said ok: $(cat "$T/o")"
grep -qF "/etc: not a regular file (a directory)" "$T/e" || fail "-c /etc: $(cat "$T/e")"
ok "-c /etc: $(cat "$T/e")"
"$UTMEMD" --run-dir /etc/passwd >/dev/null 2>"$T/e" && fail "--run-dir /etc/passwd started"
grep -qF "run directory /etc/passwd exists and is not a directory" "$T/e" || fail "run dir: $(cat "$T/e")"
ok "--run-dir /etc/passwd: $(cat "$T/e")"
"$E2E_CLIENT" put "$T/no-such.sock" p k v 2>"$T/e" && fail "put on a missing socket"
grep -qF "no utmemd listening at that address (not running, or no socket at that path)" "$T/e" ||
	fail "libutmem on a missing socket: $(cat "$T/e")"
ok "libutmem on a missing socket path: $(cat "$T/e")"
"$UTMEMCTL" --run-dir "$T" stats 2>"$T/e" && fail "stats with no daemon"
grep -qF "no admin socket $T/admin.sock: utmemd is not running with this run directory" "$T/e" ||
	fail "no daemon: $(cat "$T/e")"
ok "no daemon there: $(cat "$T/e")"

# Data loss takes --force and says what went: shrinking below what is stored.
"$E2E_CLIENT" fill "$RUN/web.sock" eph ephemeral 2000 4000 k || fail "fill ephemeral"
"$E2E_CLIENT" fill "$RUN/web.sock" keep persistent 100 1000 k || fail "fill persistent"
ctl tenant set web --max 4M 2>"$T/e" && fail "max below what web stores, without --force"
grep -qF "tenant 'web': max 4M is below its" "$T/e" || fail "shrink refusal: $(cat "$T/e")"
grep -qF "repeat with --force" "$T/e" || fail "shrink refusal: $(cat "$T/e")"
ok "shrink refused: $(head -n 1 "$T/e")"
ctl tenant set web --max 4M --force >"$T/o" || fail "shrink --force"
grep -q "^tenant 'web': max: 64M -> 4M$" "$T/o" || fail "shrink output: $(cat "$T/o")"
grep -q "^evicted [0-9]* entries to fit (charged .* -> .*)$" "$T/o" || fail "shrink output: $(cat "$T/o")"
ok "shrink with --force: $(tr '\n' ';' <"$T/o")"
grep -q "utmemd info: evicted [0-9]* entries to fit" "$T/d.log" || fail "the log does not say what was evicted"
[ "$(json_num "$(ctl stats --json)" keep entries)" = 100 ] || fail "persistent entries dropped by the shrink"

# Pool flush and destroy: refused while holding entries, then say what went.
ctl pool flush keep --tenant web 2>"$T/e" && fail "flush of a non-empty pool without --force"
grep -qF "pool 'keep' of tenant web holds 100 entries" "$T/e" || fail "flush refusal: $(cat "$T/e")"
ctl pool flush keep --tenant web --force >"$T/o" || fail "flush --force"
grep -qF "pool 'keep' of tenant web flushed: dropped 100 entries" "$T/o" || fail "flush: $(cat "$T/o")"
ok "$(cat "$T/o")"
ctl pool destroy keep --tenant web >"$T/o" || fail "destroy of an empty pool"
grep -qF "pool 'keep' of tenant web destroyed: dropped 0 entries" "$T/o" || fail "destroy: $(cat "$T/o")"
ctl pool create cache --kind ephemeral --tenants web,default >/dev/null || fail "pool create"
ctl pool destroy cache >"$T/o" || fail "destroy shared pool"
ctl pool list | grep -q "^cache " && fail "destroyed pool still listed"
ctl pool flush nosuch 2>"$T/e"; [ $? -eq 1 ] || fail "flush unknown: want 1"
grep -qF "no shared pool named 'nosuch'" "$T/e" || fail "flush unknown: $(cat "$T/e")"
ok "pool flush/destroy; unknown pool: $(cat "$T/e")"

# --json anywhere, for every command, errors included; --version; help.
j1=$(ctl --json tenant list); j2=$(ctl tenant list --json); j3=$(ctl tenant --json list)
[ "$j1" = "$j2" ] && [ "$j2" = "$j3" ] || fail "--json position changes the output"
case "$j1" in '{"tenants":[{'*) ;; *) fail "tenant list --json: $j1" ;; esac
ctl tenant set web --weight 2 --json >"$T/o" || fail "set --json"
grep -qxF "{\"ok\":true,\"changes\":[\"tenant 'web': weight: 1 -> 2\"]}" "$T/o" || fail "set --json: $(cat "$T/o")"
ctl tenant set nobody --weight 2 --json >"$T/o" 2>/dev/null; [ $? -eq 1 ] || fail "json error: want exit 1"
grep -qxF "{\"ok\":false,\"status\":\"NOTFOUND\",\"error\":\"no tenant named 'nobody'\"}" "$T/o" || fail "json error: $(cat "$T/o")"
# A usage error (a bad value, refused before connecting) is JSON too.
ctl capacity set 0 --json >"$T/o" 2>/dev/null; [ $? -eq 2 ] || fail "json usage error: want exit 2"
grep -qxF "{\"ok\":false,\"status\":\"USAGE\",\"error\":\"capacity '0': below the smallest capacity, 64K\"}" "$T/o" ||
	fail "json usage error: $(cat "$T/o")"
ctl info --json | grep -q '^{"version":"0.1.0","pid":[0-9]*,"uptime_seconds":[0-9]*,' || fail "info --json: $(ctl info --json)"
ctl config get --json | grep -q '^\[{"section":"utmemd","key":"capacity","value":"256M","given":true' ||
	fail "config get --json: $(ctl config get --json | head -c 200)"
"$UTMEMCTL" --version | grep -qx "utmemctl 0.1.0" || fail "--version"
"$UTMEMCTL" version --json | grep -qx '{"utmemctl":"0.1.0"}' || fail "version --json"
"$UTMEMCTL" help tenant | grep -q "^    token " || fail "help tenant lists the settings"
"$UTMEMCTL" help | grep -q "^  top " || fail "help"
ok "--json in any position, JSON errors, --version, help"
expect_usage "pool list: unexpected argument 'x'" pool list x
expect_usage "config keys: unexpected argument 'x'" config keys x

# A token never leaves utmemd: config get shows that one is set, in text
# and in JSON alike, and never its value.
ctl tenant add tok --token s3cretToken99 >/dev/null || fail "add tok"
ctl config get tenant tok >"$T/o" || fail "config get tenant tok"
ctl config get --json >>"$T/o" || fail "config get --json"
grep -q s3cret "$T/o" && fail "a token was echoed: $(grep s3cret "$T/o" | head -c 300)"
grep -qx 'token = \*\*\*\*\*\*\*\*' "$T/o" || fail "config get: no masked token: $(cat "$T/o")"
grep -qF '"key":"token","value":"********","given":true' "$T/o" || fail "config get --json: no masked token"
ctl tenant remove tok >/dev/null || fail "remove tok"
ok "tokens masked by utmemd in config get, text and JSON"

# A setting that takes a restart changes nothing before one: more workers
# set now raised the overhead bound and cut every tenant's descriptor
# share at once, for workers that did not exist.
ob() { ctl info | awk '$1 == "overhead_bound_bytes" { print $2 }'; }
b0=$(ob)
ctl config set utmemd workers=200 >"$T/o" || fail "config set workers: $(cat "$T/o")"
grep -qF "(takes a restart)" "$T/o" || fail "config set workers: $(cat "$T/o")"
b1=$(ob)
[ "$b1" = "$b0" ] || fail "overhead_bound_bytes moved from $b0 to $b1 before a restart"
ok "workers=200 pending a restart: overhead bound stays $b0"

# config get comments out what is not set with what utmemd uses instead:
# uncommented, the file is still accepted (it once said inflight = 0 and
# max_conns = 0, which the keys refuse) and says the same.
ctl config get >"$T/all.ini" || fail "config get"
sed 's/^; \([a-z_]* = .\)/\1/' "$T/all.ini" >"$T/unc.ini"
"$UTMEMD" -c "$T/unc.ini" --check-config >"$T/o" 2>&1 || fail "config get's defaults, uncommented: $(cat "$T/o")"
grep -qx "; max_conns = 256" "$T/all.ini" || fail "config get: max_conns default: $(grep max_conns "$T/all.ini")"
grep -qx "; socket = $RUN/web.sock" "$T/all.ini" || fail "config get: socket default: $(grep socket "$T/all.ini")"
grep -qx "; run_dir = $RUN" "$T/all.ini" || fail "config get: run_dir: $(grep run_dir "$T/all.ini")"
ok "config get's commented defaults are values utmemd takes: $(cat "$T/o")"
# ... and a change from such a default reports it so, not as the 0 that
# stands for it in the record ("max_conns: 0 -> 8", which the key refuses).
ctl tenant add lim >/dev/null || fail "add lim"
ctl tenant set lim --max-conns 8 --max-pools 9 --inflight 1M >"$T/o" || fail "set lim: $(cat "$T/o")"
grep -qx "tenant 'lim': max_conns: 256 -> 8" "$T/o" || fail "max_conns from its default: $(cat "$T/o")"
grep -qx "tenant 'lim': max_pools: 256 -> 9" "$T/o" || fail "max_pools from its default: $(cat "$T/o")"
grep -qx "tenant 'lim': inflight: $(sed -n 's/^; inflight = //p' "$T/all.ini" | head -n 1) -> 1M" "$T/o" ||
	fail "inflight from its default: $(cat "$T/o")"
ok "limits changed from their defaults: $(tr '\n' ';' <"$T/o")"
ctl tenant remove lim >/dev/null || fail "remove lim"

# Runtime changes can be written back to the file, and survive a reload.
ctl tenant add api --max 32M --weight 7 >/dev/null || fail "add api"
ctl info | grep -q "^config_unsaved  *yes" || fail "info does not say changes are unsaved"
ctl config save >"$T/o" || fail "config save: $(cat "$T/o")"
grep -qF "wrote $T/u.ini (3 tenants, 0 shared pools); the previous file is kept as .bak" "$T/o" ||
	fail "config save: $(cat "$T/o")"
[ -f "$T/u.ini.bak" ] || fail "no .bak"
grep -q "^\[tenant api\]" "$T/u.ini" || fail "saved file lacks api: $(cat "$T/u.ini")"
"$UTMEMD" -c "$T/u.ini" --check-config >/dev/null || fail "saved file does not check"
ctl reload >"$T/o" || fail "reload after save"
grep -qx "no changes" "$T/o" || fail "reload after save changed things: $(cat "$T/o")"
ctl tenant list | grep -q "^api " || fail "api lost by the reload"
ok "config save then reload: $(cat "$T/o")"
ctl config save "$T/copy.ini" >/dev/null || fail "config save PATH"
"$UTMEMD" -c "$T/copy.ini" --check-config >/dev/null || fail "copy does not check"

# A reload that would remove a tenant holding data takes --force.
"$E2E_CLIENT" put "$RUN/api.sock" p k v >/dev/null || fail "put api"
printf '[utmemd]\ncapacity = 256M\n[tenant default]\n[tenant web]\nmax = 64M\n' >"$T/u.ini"
ctl reload 2>"$T/e" && fail "reload dropping api's data without --force"
grep -qF "tenant 'api' would be removed with its 1 entries" "$T/e" || fail "reload refusal: $(cat "$T/e")"
ctl reload --force >"$T/o" || fail "reload --force"
grep -qF "tenant 'api' removed: dropped 1 entries" "$T/o" || fail "reload --force: $(cat "$T/o")"
grep -qF "tenant 'web': max: 4M -> 64M" "$T/o" || fail "reload --force: $(cat "$T/o")"
ok "reload: refused, then with --force: $(tr '\n' ';' <"$T/o")"

# A reload makes the shared pools those of the file, as it does the
# tenants: one created at runtime and not saved is destroyed with its
# entries (it once stayed, granted and holding data, but gone from
# config get and config save), after --force; SIGHUP forces.
ctl pool create rt --kind ephemeral --tenants web >/dev/null || fail "pool create rt"
"$E2E_CLIENT" fill "$RUN/web.sock" rt shared-ephemeral 3 100 k >/dev/null || fail "fill rt"
ctl reload 2>"$T/e" && fail "reload dropping rt's entries without --force"
grep -qF "shared pool 'rt' would be destroyed with its 3 entries" "$T/e" || fail "reload refusal: $(cat "$T/e")"
ctl pool list | grep -q "^rt " || fail "a refused reload dropped rt"
ctl reload --force >"$T/o" || fail "reload --force: $(cat "$T/o")"
grep -qF "shared pool 'rt' destroyed: dropped 3 entries" "$T/o" || fail "reload --force: $(cat "$T/o")"
ctl pool list | grep -q "^rt " && fail "rt still in the store after the reload: $(ctl pool list)"
"$E2E_CLIENT" open "$RUN/web.sock" rt s 13 || fail "web still opens rt"
ctl pool create rt --kind ephemeral --tenants web >/dev/null || fail "rt cannot be created again"
"$E2E_CLIENT" check "$RUN/web.sock" rt shared-ephemeral 1 100 k 2>/dev/null &&
	fail "the new rt holds the old one's entries"
ok "reload --force: $(tr '\n' ';' <"$T/o")"
"$E2E_CLIENT" fill "$RUN/web.sock" rt shared-ephemeral 2 100 k >/dev/null || fail "fill rt again"
kill -HUP "$DPID"
wait_output "$T/d.log" "shared pool 'rt' destroyed: dropped 2 entries" "$DPID" ||
	fail "SIGHUP kept rt: $(tail -n 5 "$T/d.log")"
for i in $(seq 1 100); do ctl pool list | grep -q "^rt " || break; sleep 0.05; done
ctl pool list | grep -q "^rt " && fail "rt still in the store after SIGHUP"
ok "SIGHUP: $(grep -o "shared pool 'rt' destroyed.*" "$T/d.log" | tail -n 1)"
stop_daemon "$DPID" || fail "utmemd exit status $?"

# SIGHUP without a file is not an error.
start_daemon nofile "$T/run2"
kill -HUP "$DPID"
sleep 0.3
grep -q "SIGHUP: utmemd runs without a config file (-c): nothing to reload" "$T/nofile.log" ||
	fail "SIGHUP without a file: $(cat "$T/nofile.log")"
grep -q " error: " "$T/nofile.log" && fail "SIGHUP without a file logged an error"
ok "SIGHUP without a file: info, not error"
stop_daemon "$DPID" || fail "utmemd exit status $?"

# Who may connect changes without a restart: a tenant's socket mode, owner
# and group, by reload or config set, on the file utmemd bound (a reload
# once listed 'mode: 0660 -> 0600' and left the socket 0660). What cannot
# change before a restart says so.
cat >"$T/p.ini" <<CFG
[utmemd]
capacity = 64M
[tenant a]
mode = 0660
[tenant v]
mode = 0644
ivshmem = v.shm
[pool pk]
kind = ephemeral
tenants = a
CFG
RUN=$T/run3
start_daemon perm "$RUN" -c "$T/p.ini"
perms() { stat -c '%a %g' "$RUN/a.sock"; }
[ "$(perms)" = "660 0" ] || fail "a.sock at start: $(perms)"
[ "$(stat -c %a "$RUN/v.shm" "$RUN/v.sock" | tr '\n' ' ')" = "644 644 " ] ||
	fail "VM tenant v at start: $(stat -c '%n %a' "$RUN/v.shm" "$RUN/v.sock")"
ctl config get tenant v | grep -qx "; socket = $RUN/v.sock" ||
	fail "config get of a VM tenant hides its socket: $(ctl config get tenant v | grep socket)"
sed -i 's/^mode = 0660/mode = 0600/; s/^mode = 0644/mode = 0640/' "$T/p.ini"
ctl reload >"$T/o" || fail "reload: $(cat "$T/o")"
grep -qx "tenant 'a': mode: 0660 -> 0600" "$T/o" || fail "reload: $(cat "$T/o")"
[ "$(perms)" = "600 0" ] || fail "a.sock after the reload to 0600: $(perms)"
[ "$(stat -c %a "$RUN/v.shm" "$RUN/v.sock" | tr '\n' ' ')" = "640 640 " ] ||
	fail "VM tenant v after the reload: $(stat -c '%n %a' "$RUN/v.shm" "$RUN/v.sock")"
ctl config set tenant a mode=0640 group=65534 >"$T/o" || fail "config set mode: $(cat "$T/o")"
[ "$(perms)" = "640 65534" ] || fail "a.sock after config set: $(perms)"
"$E2E_CLIENT" put "$RUN/a.sock" p k v >/dev/null || fail "a.sock no longer serves"
ok "socket mode and group applied live: $(perms)"
# A setting given at creation cannot change: the refusal says how to,
# in utmemctl's words (a pool is destroyed and created, not removed).
ctl config set pool pk kind=persistent >"$T/o" 2>&1 && fail "kind changed: $(cat "$T/o")"
grep -qF "pool 'pk': 'kind' is set when it is created; destroy and create it again" "$T/o" ||
	fail "kind refusal: $(cat "$T/o")"
ctl config set tenant a socket=b.sock >"$T/o" 2>&1 && fail "socket changed: $(cat "$T/o")"
grep -qF "tenant 'a': 'socket' is set when it is created; remove and add it again" "$T/o" ||
	fail "socket refusal: $(cat "$T/o")"
ok "creation settings refused with the commands that change them"
sed -i 's/^mode = 0600/mode = 0600\nsocket = elsewhere.sock/; s/^kind = ephemeral/kind = persistent/' "$T/p.ini"
ctl reload >"$T/o" || fail "reload: $(cat "$T/o")"
# Paths as the files they name: the default socket is not "(none)".
grep -qF "tenant 'a': socket: $RUN/a.sock -> $RUN/elsewhere.sock (takes a restart)" "$T/o" ||
	fail "socket change: $(cat "$T/o")"
grep -qF "pool 'pk': kind: ephemeral -> persistent (takes a restart)" "$T/o" ||
	fail "kind change: $(cat "$T/o")"
[ "$(perms)" = "600 0" ] || fail "a.sock after the reload back to the file's: $(perms)"
ok "what takes a restart says so: $(tr '\n' ';' <"$T/o")"
# ... and config get marks those values as pending until then, as it does
# the main settings that take a restart.
ctl config get >"$T/g" || fail "config get"
grep -qxF "socket = elsewhere.sock    ; takes effect at the next restart" "$T/g" ||
	fail "config get: socket not pending: $(grep -F socket "$T/g")"
grep -qxF "kind = persistent    ; takes effect at the next restart" "$T/g" ||
	fail "config get: kind not pending: $(grep -F kind "$T/g")"
ctl --json config get tenant a | grep -qF '"key":"socket","value":"elsewhere.sock","given":true,"restart":true,"pending":true' ||
	fail "config get --json: socket not pending: $(ctl --json config get tenant a)"
ctl config get tenant v | grep -F "ivshmem" | grep -qF "takes effect" &&
	fail "config get: an unchanged ivshmem marked pending: $(ctl config get tenant v | grep -F ivshmem)"
ok "config get marks creation settings a reload changed as pending"
# A second change is reported against the socket running, not the one
# the first reload set (operations.md: "against the value running").
sed -i 's/^socket = elsewhere.sock/socket = other.sock/' "$T/p.ini"
ctl reload >"$T/o" || fail "reload: $(cat "$T/o")"
grep -qxF "tenant 'a': socket: $RUN/a.sock -> $RUN/other.sock (takes a restart)" "$T/o" ||
	fail "second socket change: $(cat "$T/o")"
sed -i 's/^socket = other.sock/socket = elsewhere.sock/' "$T/p.ini"
ctl reload >"$T/o" || fail "reload: $(cat "$T/o")"
grep -qxF "tenant 'a': socket: $RUN/a.sock -> $RUN/elsewhere.sock (takes a restart)" "$T/o" ||
	fail "socket changed back: $(cat "$T/o")"
# Back to the running socket, spelt otherwise: the same file, nothing to
# wait for.
sed -i 's|^socket = elsewhere.sock|socket = ./a.sock|' "$T/p.ini"
ctl reload >"$T/o" || fail "reload: $(cat "$T/o")"
grep -qxF "tenant 'a': socket: $RUN/a.sock (as running; the pending $RUN/elsewhere.sock is dropped)" "$T/o" ||
	fail "socket back to the running one: $(cat "$T/o")"
sed -i 's|^socket = ./a.sock|socket = elsewhere.sock|' "$T/p.ini"
ctl reload >/dev/null || fail "reload back"
ok "a creation setting changed twice is reported against what runs"
# Another socket put at the name is not utmemd's to change.
rm "$RUN/a.sock"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$RUN/a.sock"
chmod 0604 "$RUN/a.sock"
ctl config set tenant a mode=0666 >"$T/o" 2>&1 && fail "config set on a replaced socket: $(cat "$T/o")"
grep -qF "$RUN/a.sock is no longer utmemd's socket" "$T/o" || fail "replaced socket: $(cat "$T/o")"
[ "$(perms)" = "604 0" ] || fail "the other socket was changed: $(perms)"
ok "a socket put in its place is left alone: $(cat "$T/o")"
# A reload that stops at tenant a (its socket replaced) lists only what took
# effect: capacity before it; not a's max, v's, the timeout or the pool's
# grant after it (it once listed them all as changed).
sed -i 's/^capacity = 64M/capacity = 96M\nidle_timeout = 77/; s/^mode = 0600/mode = 0666\nmax = 48M/; s/^mode = 0640/mode = 0640\nmax = 32M/; s/^tenants = a/tenants = a, v/' "$T/p.ini"
ctl reload >"$T/o" 2>&1 && fail "reload past a replaced socket: $(cat "$T/o")"
sed -i 's/^utmemctl: //' "$T/o"
grep -qx "capacity: 64M -> 96M" "$T/o" || fail "part-way reload, capacity: $(cat "$T/o")"
grep -qx "stopped: tenant 'a': $RUN/a.sock is no longer utmemd's socket" "$T/o" ||
	fail "part-way reload, stop: $(cat "$T/o")"
grep -qE "max|idle_timeout|tenants|mode" "$T/o" && fail "part-way reload lists what did not take effect: $(cat "$T/o")"
ctl --json tenant list >"$T/l" || fail "tenant list"
python3 - "$T/l" <<'PY' || fail "part-way reload changed tenants after the stop: $(cat "$T/l")"
import json, sys
rows = json.load(open(sys.argv[1]))
rows = rows.get("tenants", rows) if isinstance(rows, dict) else rows
m = {r["name"]: r for r in rows}
sys.exit(0 if m["a"]["max"] != 48 << 20 and m["v"]["max"] != 32 << 20 else 1)
PY
[ "$(ctl --json capacity | python3 -c 'import json,sys; print(json.load(sys.stdin)["capacity"])')" = $((96 << 20)) ] ||
	fail "capacity after the part-way reload: $(ctl --json capacity)"
ok "a reload that stops part way lists what it did: $(tr '\n' ';' <"$T/o")"
# What took effect is the running configuration: with the cause fixed (a's
# mode left as it is, so its socket is not touched), the next reload lists
# the rest and not the capacity again (it once did: the running
# configuration stayed the one before the stop).
ctl config get | grep -qx "capacity = 96M" || fail "config get after the stop: $(ctl config get | grep capacity)"
sed -i 's/^mode = 0666/mode = 0600/' "$T/p.ini"
ctl reload >"$T/o" 2>&1 || fail "reload after the fix: $(cat "$T/o")"
for want in "tenant 'a': max: 64M -> 48M" "tenant 'v': max: 64M -> 32M" "idle_timeout: 600 -> 77" \
	"pool 'pk': tenants: a -> a, v"; do
	grep -qxF "$want" "$T/o" || fail "reload after the fix lacks '$want': $(cat "$T/o")"
done
grep -q "capacity" "$T/o" && fail "reload after the fix lists the capacity again: $(cat "$T/o")"
ok "the reload after it lists only the rest: $(tr '\n' ';' <"$T/o")"
stop_daemon "$DPID" || fail "utmemd exit status $?"

# A reload reports a setting that takes a restart against what runs: with
# 1 worker running and 4 set since (pending), a file back at 1 drops the
# pending value (it once said 'workers: 4 -> 1 (takes a restart)').
printf '[utmemd]\ncapacity = 64M\nworkers = 1\n' >"$T/w.ini"
RUN=$T/run5
start_daemon w "$RUN" -c "$T/w.ini"
ctl config set utmemd workers=4 >"$T/o" || fail "config set workers=4: $(cat "$T/o")"
grep -qxF "workers: 1 -> 4 (takes a restart)" "$T/o" || fail "config set workers=4: $(cat "$T/o")"
ctl reload >"$T/o" || fail "reload to workers=1: $(cat "$T/o")"
grep -qxF "workers: 1 (as running; the pending 4 is dropped)" "$T/o" ||
	fail "reload back to the running workers: $(cat "$T/o")"
printf '[utmemd]\ncapacity = 64M\nworkers = 3\n' >"$T/w.ini"
ctl reload >"$T/o" || fail "reload to workers=3: $(cat "$T/o")"
grep -qxF "workers: 1 -> 3 (takes a restart)" "$T/o" || fail "reload to workers=3: $(cat "$T/o")"
ok "restart settings reported against what runs: $(tr '\n' ';' <"$T/o")"
stop_daemon "$DPID" || fail "utmemd exit status $?"

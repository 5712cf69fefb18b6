#!/usr/bin/env bash
# Persistence (persist = FILE): persistent pools, private and shared, come
# back byte for byte after a real restart (saved on SIGTERM, and on demand
# with utmemctl save); ephemeral pools do not. A corrupt, a truncated, a
# foreign file and one that no longer fits are refused at start with what
# is wrong, nothing restored, the file left as it was, no socket left.
. "$(dirname "$0")/lib.sh"
RUN=$T/run
STATE=$T/state
mkdir -p "$STATE"

cfg() { # CAPACITY: the test's config, persisting to $STATE/pools.utmem
	cat <<CFG
[utmemd]
capacity = $1
persist = $STATE/pools.utmem
[tenant a]
[tenant b]
max = 32M
[pool sp]
kind = persistent
tenants = a, b
[pool se]
kind = ephemeral
tenants = a
CFG
}
cfg 256M >"$T/p.ini"

# Without persist: one info line, and save says it is off.
start_daemon off "$T/run0"
grep -q "persistence is off: persistent pools start empty" "$T/off.log" || fail "no word on persistence: $(cat "$T/off.log")"
"$UTMEMCTL" --run-dir "$T/run0" save 2>"$T/e" && fail "save without persist"
grep -q "persistence is off (set persist = FILE)" "$T/e" || fail "save off: $(cat "$T/e")"
stop_daemon "$DPID" || fail "exit status $?"
ok "persist off: start says so, save refuses: $(cat "$T/e")"

start_daemon d1 "$RUN" -c "$T/p.ini"
grep -q "no saved pools at $STATE/pools.utmem yet" "$T/d1.log" || fail "first start: $(cat "$T/d1.log")"
C=$E2E_CLIENT
$C fill "$RUN/a.sock" pa persistent 300 1000 a || fail "fill a"
$C fill "$RUN/b.sock" pb persistent 40 100000 b || fail "fill b"
$C fill "$RUN/a.sock" sp shared 20 500 sa || fail "fill shared by a"
$C fill "$RUN/b.sock" sp shared 30 700 sb || fail "fill shared by b"
$C fill "$RUN/a.sock" ea ephemeral 50 100 e || fail "fill ephemeral"
$C fill "$RUN/a.sock" se shared-ephemeral 5 100 x || fail "fill shared ephemeral" # not saved either
[ "$(json_num "$(ctl stats --json)" se entries)" = 5 ] || fail "the shared ephemeral pool was not filled"
ctl save >"$T/o" || fail "save: $(cat "$T/o")"
grep -q "^saved 3 persistent pools, 390 entries (.*) to $STATE/pools.utmem in [0-9]* ms$" "$T/o" ||
	fail "save: $(cat "$T/o")"
ok "utmemctl save: $(cat "$T/o")"
$C fill "$RUN/a.sock" pa persistent 301 1000 a || fail "one more entry"
before=$(ctl stats --json)
stop_daemon "$DPID" || fail "utmemd exit status $?"
grep -q "utmemd info: saved 3 persistent pools, 391 entries" "$T/d1.log" || fail "no save at SIGTERM: $(tail -n 3 "$T/d1.log")"
[ -f "$STATE/pools.utmem" ] || fail "no file"
ls "$STATE" | grep -q tmp && fail "a temporary file was left"
ok "saved at SIGTERM: $(grep 'saved 3' "$T/d1.log" | tail -n 1 | sed 's/.*info: //')"

# A real restart: everything persistent is back, byte for byte.
start_daemon d2 "$RUN" -c "$T/p.ini"
grep -q "utmemd info: restored 3 persistent pools, 391 entries" "$T/d2.log" || fail "restore: $(cat "$T/d2.log")"
$C check "$RUN/a.sock" pa persistent 301 1000 a || fail "a's pool after restart"
$C check "$RUN/b.sock" pb persistent 40 100000 b || fail "b's pool after restart"
$C check "$RUN/a.sock" sp shared 20 500 sa || fail "shared pool (a's entries)"
$C check "$RUN/b.sock" sp shared 30 700 sb || fail "shared pool (b's entries)"
after=$(ctl stats --json)
for p in pa pb sp; do
	for f in entries bytes_stored; do
		[ "$(json_num "$before" $p $f)" = "$(json_num "$after" $p $f)" ] ||
			fail "pool $p $f: $(json_num "$before" $p $f) before, $(json_num "$after" $p $f) after"
	done
done
[ "$(json_num "$after" b entries)" = 70 ] || fail "tenant b's entries (its pool and its share of sp)"
[ "$(json_num "$after" ea entries)" = "" ] || fail "an ephemeral pool came back"
[ "$(json_num "$after" se entries)" = 0 ] || fail "the shared ephemeral pool came back with entries"
ok "after a restart: $(grep restored "$T/d2.log" | sed 's/.*info: //'); pools' entries and bytes as before"
stop_daemon "$DPID" || fail "utmemd exit status $?"
cp "$STATE/pools.utmem" "$T/good.utmem"

# refused NAME WANT: utmemd must refuse to start with the file as it is.
refused() {
	local name=$1 want=$2
	cp "$STATE/pools.utmem" "$T/$name.before"
	"$UTMEMD" --run-dir "$RUN" -c "$T/p.ini" >"$T/$name.out" 2>"$T/$name.err" && fail "$name: utmemd started"
	[ "$(grep -vc '^<[67]>' "$T/$name.err")" = 1 ] || fail "$name: want one error line: $(cat "$T/$name.err")"
	grep -q "$want" "$T/$name.err" || fail "$name: message lacks /$want/: $(cat "$T/$name.err")"
	grep -q "nothing was restored (move the file away to start without it)" "$T/$name.err" || fail "$name: $(cat "$T/$name.err")"
	cmp -s "$STATE/pools.utmem" "$T/$name.before" || fail "$name: the file was changed"
	[ -e "$RUN/admin.sock" ] && fail "$name: a socket was left"
	ok "$name refused: $(grep -v '^<[67]>' "$T/$name.err")"
}
size=$(stat -c %s "$T/good.utmem")
# One byte of a value in the middle flipped.
cp "$T/good.utmem" "$STATE/pools.utmem"
printf '\x5a' | dd of="$STATE/pools.utmem" bs=1 seek=$((size / 2)) conv=notrunc status=none
refused corrupt "checksum mismatch: the file is corrupt"
# Cut in the middle, and cut just before the checksum.
head -c $((size / 2)) "$T/good.utmem" >"$STATE/pools.utmem"
refused truncated "truncated at byte $((size / 2))"
head -c $((size - 4)) "$T/good.utmem" >"$STATE/pools.utmem"
refused no-checksum "truncated at byte $((size - 4)): the checksum (from byte $((size - 8))) is cut"
printf 'not a pool file at all, just text\n' >"$STATE/pools.utmem"
refused foreign "not a utmem pool file"
# A good file that this configuration cannot take: a tenant gone, or too small.
cp "$T/good.utmem" "$STATE/pools.utmem"
cfg 256M | sed 's/^\[tenant b\]$/[tenant c]/; s/tenants = a, b/tenants = a, c/' >"$T/p.ini"
refused no-tenant "tenant 'b'.*which the configuration does not"
cfg 256M | sed 's/^max = 32M$/max = 2M/' >"$T/p.ini"
refused quota "the tenant's max is too small for what was saved"

# And the good file still loads once the configuration fits again.
cfg 256M >"$T/p.ini"
start_daemon d3 "$RUN" -c "$T/p.ini"
$C check "$RUN/b.sock" pb persistent 40 100000 b || fail "b's pool after the refusals"
stop_daemon "$DPID" || fail "utmemd exit status $?"
ok "after the refusals the same file restores"

# Relative paths as INFO shows them: the config file against the directory
# utmemd started in, persist against the run directory (where it is
# written); both absolute, whatever directory utmemctl runs in.
printf '[utmemd]\ncapacity = 64M\npersist = rel.utmem\n' >"$T/rel.ini"
pushd "$T" >/dev/null
start_daemon rel rrun -c rel.ini
popd >/dev/null
info() { "$UTMEMCTL" --run-dir "$T/rrun" info | awk -v k="$1" '$1 == k { print $2 }'; }
rdir=$(info run_dir)
[ "$(info config_file)" = "$T/rel.ini" ] || fail "config_file $(info config_file), want $T/rel.ini"
[ "$(info persist)" = "$rdir/rel.utmem" ] || fail "persist $(info persist), want $rdir/rel.utmem"
"$UTMEMCTL" --run-dir "$T/rrun" save >/dev/null || fail "save"
[ -s "$rdir/rel.utmem" ] || fail "the save is not where info says"
stop_daemon "$DPID" || fail "utmemd exit status $?"
ok "relative -c and persist shown absolute: $(basename "$T")/rel.ini, run_dir/rel.utmem"

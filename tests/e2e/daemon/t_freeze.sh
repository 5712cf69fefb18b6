#!/usr/bin/env bash
# Freeze and thaw (issue 10): `utmemctl tenant freeze` makes utmemd refuse
# the tenant's PUTs with status FROZEN (-EROFS at the client, key left
# empty) while its GETs and INVALIDATEs are served and other tenants go
# on; stats show frozen and freeable; thaw accepts PUTs again.
. "$(dirname "$0")/lib.sh"
RUN=$T/run
cat >"$T/u.ini" <<INI
[utmemd]
capacity = 64M
run_dir = $RUN
[tenant a]
[tenant b]
INI
start_daemon d "$RUN" -c "$T/u.ini"
A=$RUN/a.sock
B=$RUN/b.sock
"$E2E_CLIENT" put "$A" p k1 one || fail "PUT before freezing"
"$E2E_CLIENT" put "$A" p k2 two || fail "PUT before freezing"
out=$(ctl tenant freeze a) || fail "utmemctl tenant freeze"
# Every change prints what it did and utmemd logs the same line.
grep -qF "utmemd info: $out" "$T/d.log" || fail "freeze printed '$out', the log has: $(grep -F frozen "$T/d.log")"
ctl tenant list | grep -q '^a .*(frozen)' || fail "tenant list does not mark a frozen: $(ctl tenant list)"
json=$(ctl --json stats)
printf '%s' "$json" | tr '{' '\n' | grep '"name":"a"' | grep -q '"frozen":true' ||
	fail "stats: a not frozen: $json"
"$E2E_CLIENT" refused "$A" p new EROFS || fail "PUT of a frozen tenant not refused with EROFS"
"$E2E_CLIENT" refused "$A" p k2 EROFS || fail "refused PUT kept the old value"
"$E2E_CLIENT" get "$A" p k1 one || fail "GET of a frozen tenant not served"
"$E2E_CLIENT" put "$B" p k1 other || fail "another tenant's PUT refused"
ok "frozen: PUT -EROFS and key left empty, GET served, other tenant unaffected"
json=$(ctl --json stats)
refused=$(json_num "$json" a refused_puts)
[ "${refused:-0}" -ge 2 ] || fail "refused_puts $refused, want >= 2: $json"
out=$(ctl tenant thaw a) || fail "utmemctl tenant thaw"
grep -qF "utmemd info: $out" "$T/d.log" || fail "thaw printed '$out', the log has: $(grep -F thawed "$T/d.log")"
"$E2E_CLIENT" put "$A" p k2 again || fail "PUT after thawing"
"$E2E_CLIENT" get "$A" p k2 again || fail "GET after thawing"
ctl tenant freeze nosuch 2>/dev/null && fail "freezing an unknown tenant succeeded"
ok "thawed: PUTs accepted; unknown tenant refused"
# freeable: the charge of ephemeral entries (none here: private pools are persistent)
[ "$(json_num "$(ctl --json stats)" a freeable)" = 0 ] || fail "freeable not 0 for persistent data"
stop_daemon "$DPID" || fail "utmemd exit status $?"

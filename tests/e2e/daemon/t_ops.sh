#!/usr/bin/env bash
# Every operation through libutmem on every pool kind (private/shared x
# persistent/ephemeral), pipelining, and tenant isolation: two tenants
# cannot read, pop, invalidate, flush or destroy each other's pools, and a
# tenant not granted a shared pool cannot open it. Tenant a may also flush
# and destroy the shared pools ("manage"); tests/e2e/hostile checks that a
# plain grantee may not.
. "$(dirname "$0")/lib.sh"
RUN=$T/run
cat >"$T/cfg.ini" <<CFG
[utmemd]
capacity = 256M
workers = 2
[tenant a]
max = 128M
[tenant b]
max = 64M
[pool shp]
kind = persistent
tenants = a
manage = a
[pool she]
kind = ephemeral
tenants = a, b
manage = a
CFG
start_daemon d "$RUN" -c "$T/cfg.ini"

"$E2E_CLIENT" ops "$RUN/a.sock" shp she || fail "operations on every pool kind"
ok "every operation on private/shared x persistent/ephemeral pools"

"$E2E_RAW" pipeline "$RUN/a.sock" 5000 || fail "5000 pipelined requests"
ok "5000 pipelined PINGs answered in order"

# Isolation. a stores a secret in its private pool "mine".
"$E2E_CLIENT" put "$RUN/a.sock" mine secret s3cr3t || fail "a: put"
# b's pool of the same name is b's own: the secret is not there.
"$E2E_CLIENT" get "$RUN/b.sock" mine secret - || fail "b read a's value by name"
# b addresses every pool id that exists by number: all BADPOOL.
npools=$(ctl --json stats | tr '{' '\n' | grep -c '"kind"')
maxid=$(ctl --json stats | tr ',' '\n' | sed -n 's/.*"id":\([0-9]*\).*/\1/p' | sort -n | tail -n 1)
# b's own pool "mine" is the newest; probe everything else that a owns.
aids=$(ctl --json pool list | tr '{' '\n' | grep '"owner":1' |
	sed -n 's/.*"id":\([0-9]*\).*/\1/p')
[ -n "$aids" ] || fail "no pools owned by tenant a listed ($npools pools, max id $maxid)"
for id in $aids; do
	"$E2E_RAW" probe "$RUN/b.sock" "$id" "$id" || fail "b reached a's pool $id"
done
ok "tenant b gets BADPOOL for GET, pop, INVALIDATE, PUT, FLUSH, DESTROY, STATS on a's pools ($(echo $aids | wc -w) pools)"
"$E2E_CLIENT" get "$RUN/a.sock" mine secret s3cr3t || fail "a's value damaged by b"
ok "a's value intact after b's attempts"

# Shared pools: b is granted "she" but not "shp".
"$E2E_CLIENT" open "$RUN/b.sock" shp s 13 || fail "b opened shp without a grant"
"$E2E_CLIENT" open "$RUN/b.sock" she se 0 || fail "b cannot open granted she"
ok "non-granted tenant gets -EACCES on a shared pool; granted one opens it"

# utmemctl grant then lets b in.
ctl pool grant shp b || fail "grant shp b"
"$E2E_CLIENT" open "$RUN/b.sock" shp s 0 || fail "b cannot open shp after grant"
ok "utmemctl pool grant takes effect at once"

stop_daemon "$DPID" || fail "utmemd exit status $?"

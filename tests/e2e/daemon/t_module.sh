#!/usr/bin/env bash
# The Redis module refuses to load with arguments that could never work,
# instead of loading and then answering NOPERM to every command: a TCP
# address without a token. Needs Debian's redis-server; skipped otherwise.
. "$(dirname "$0")/lib.sh"

command -v redis-server >/dev/null || { echo "skip: no redis-server"; exit 77; }
[ -n "${UTMEM_MODULE:-}" ] || { echo "skip: the Redis module is not built"; exit 77; }

timeout 20 "${REDIS_ENV[@]}" redis-server --port 0 --unixsocket "$T/r.sock" --dir "$T" --save '' \
	--loadmodule "$UTMEM_MODULE" addr=tcp:127.0.0.1:7000 pool=p >"$T/r.log" 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "redis-server with addr=tcp: and no token: exit $rc, $(cat "$T/r.log")"
grep -q "utmem: not loaded: addr=tcp:127.0.0.1:7000 needs token=" "$T/r.log" || fail "message: $(cat "$T/r.log")"
ok "$(grep -o 'utmem: not loaded: [^;]*' "$T/r.log")"

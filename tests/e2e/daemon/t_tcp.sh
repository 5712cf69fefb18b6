#!/usr/bin/env bash
# TCP on a random loopback port: a tenant's token authenticates it; no
# token or a wrong token is refused (UWIRE_S_AUTH -> -EPERM, then closed).
. "$(dirname "$0")/lib.sh"
RUN=$T/run
cat >"$T/cfg.ini" <<CFG
[utmemd]
tcp = 127.0.0.1:0
[tenant remote]
token = abcdef0123456789
max = 16M
CFG
start_daemon d "$RUN" -c "$T/cfg.ini"
addr=$(sed -n 's/^tcp: \(tcp:[0-9.]*:[0-9]*\).*/\1/p' "$T/d.out")
[ -n "$addr" ] || fail "no tcp line in banner: $(cat "$T/d.out")"
"$E2E_CLIENT" tcp "$addr" abcdef0123456789 0 || fail "TCP with the right token"
ok "TCP with token works ($addr)"
"$E2E_CLIENT" tcp "$addr" wrongtoken000000 1 || fail "wrong token accepted"
"$E2E_CLIENT" tcp "$addr" - 1 || fail "no token accepted"
ok "TCP without or with a wrong token refused"
# utmemd holds tokens of 8..255 bytes: any other length is a refused
# token (-EPERM, utmem.h), not a bad argument or a too-long key, up to
# the library's own limit of 64 KiB (-EINVAL before dialling).
for n in 7 256 300 2000 65536; do
	"$E2E_CLIENT" tcp "$addr" "$(head -c "$n" /dev/zero | tr '\0' a)" 1 ||
		fail "a token of $n bytes not refused as a token"
done
"$E2E_CLIENT" tcp "$addr" "$(head -c 65537 /dev/zero | tr '\0' a)" 22 ||
	fail "a token over 64 KiB not refused before dialling"
ok "a token of a length utmemd never holds is refused as a token"
# Before a good HELLO nothing but AUTH and a close: not INVALID for a bad
# request or a HELLO too long for a token, with the connection kept.
"$E2E_RAW" preauth "$addr" || fail "frames before HELLO not refused with AUTH"
ok "bad frames before HELLO are answered AUTH and closed"
json=$(ctl --json stats)
[ "$(json_num "$json" remote puts)" = 1 ] || fail "TCP PUT not counted for 'remote': $json"
ok "TCP requests are charged to the token's tenant"
stop_daemon "$DPID" || fail "utmemd exit status $?"

#!/usr/bin/env bash
# Socket ownership across users, as Debian runs Redis: a real redis-server
# running as user redis reaches a tenant socket given to redis (owner =),
# is refused with "Permission denied" (not "pool not granted") on one that
# is root's, uses the shared-memory ring across users (memfds are passed),
# and utmemd itself runs as redis after binding (user =). Needs root and
# Debian's redis-server (which creates the redis user), both of which
# `make test` provides: without them the test fails, it is not skipped.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || fail "needs root (make test runs as root)"
command -v redis-server >/dev/null && command -v redis-cli >/dev/null &&
	getent passwd redis >/dev/null || fail "no redis-server or redis user (make test installs Debian's redis-server)"
[ -n "${UTMEM_MODULE:-}" ] || fail "the Redis module is not built"
RUID=$(id -u redis)
RGID=$(id -g redis)
chmod 755 "$T"   # redis must reach the sockets below it
RUN=$T/run

# start_redis NAME ADDR: redis-server as user redis with the module at ADDR.
start_redis() {
	local name=$1 addr=$2 i
	mkdir -p "$T/$name"
	chown redis:redis "$T/$name"
	setpriv --reuid=redis --regid=redis --init-groups "${REDIS_ENV[@]}" \
		redis-server --port 0 --unixsocket "$T/$name/r.sock" --unixsocketperm 777 \
		--dir "$T/$name" --save '' --appendonly no \
		--loadmodule "$UTMEM_MODULE" "addr=$addr" pool=p >"$T/$name.log" 2>&1 &
	RPID=$!
	PIDS+=("$RPID")
	for i in $(seq 1 200); do
		redis-cli -s "$T/$name/r.sock" ping >/dev/null 2>&1 && break
		sleep 0.05
	done
	[ "$(stat -c %u /proc/$RPID)" = "$RUID" ] || fail "$name: redis-server is not running as redis"
}
rcli() { local name=$1; shift; redis-cli -s "$T/$name/r.sock" "$@" 2>&1; }

cat >"$T/o.ini" <<CFG
[utmemd]
capacity = 64M
user = redis
[tenant cache]
owner = redis
mode = 0600
[tenant private]
mode = 0600
CFG
start_daemon d "$RUN" -c "$T/o.ini"

# utmemd dropped to redis after binding.
grep -q "^Uid:	$RUID	$RUID	$RUID	$RUID$" /proc/$DPID/status || fail "utmemd uid: $(grep Uid /proc/$DPID/status)"
grep -q "^Gid:	$RGID	$RGID	$RGID	$RGID$" /proc/$DPID/status || fail "utmemd gid: $(grep Gid /proc/$DPID/status)"
[ "$(stat -c '%U %a' "$RUN/cache.sock")" = "redis 600" ] || fail "cache.sock: $(stat -c '%U %a' "$RUN/cache.sock")"
[ "$(stat -c '%U %a' "$RUN/private.sock")" = "root 600" ] || fail "private.sock: $(stat -c '%U %a' "$RUN/private.sock")"
ctl info | grep -q "^user  *redis$" || fail "info user: $(ctl info | grep user)"
ok "utmemd runs as redis ($(grep Uid /proc/$DPID/status | tr '\t' ' ')); sockets: cache redis 600, private root 600"

# A redis-server running as redis, on the socket given to redis.
start_redis ok "unix:$RUN/cache.sock"
[ "$(rcli ok TMEM.PUT k hello)" = OK ] || fail "TMEM.PUT as redis: $(rcli ok TMEM.PUT k hello)"
[ "$(rcli ok TMEM.GET k)" = hello ] || fail "TMEM.GET as redis: $(rcli ok TMEM.GET k)"
ok "redis-server as redis on cache.sock: TMEM.PUT/GET work"

# ... and on root's socket: refused as what it is.
start_redis denied "unix:$RUN/private.sock"
out=$(rcli denied TMEM.PUT k hello)
case "$out" in *"Permission denied"*) ;; *) fail "root's socket: '$out'" ;; esac
case "$out" in *"not granted"*) fail "permission problem reported as a grant problem: '$out'" ;; esac
ok "redis-server as redis on root's 0600 socket: $out"
setpriv --reuid=redis --regid=redis --init-groups env LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}" \
	"$E2E_CLIENT" put "$RUN/private.sock" p k v 2>"$T/e" && fail "libutmem as redis on root's socket"
grep -q "permission denied (.*a socket whose owner, group or mode does not admit this user)" "$T/e" ||
	fail "libutmem's EACCES: $(cat "$T/e")"
ok "libutmem as redis on root's socket: $(cat "$T/e")"

# A tenant added at runtime can only be given to utmemd's own user now.
ctl tenant add late --owner root 2>"$T/e" && fail "runtime socket given to root by a non-root utmemd"
grep -qx "utmemctl: cannot give $RUN/late.sock to owner 0 group -1: Operation not permitted" "$T/e" || fail "late: $(cat "$T/e")"
ctl tenant list | grep -q "^late " && fail "a tenant whose socket failed is listed"
ctl tenant add late2 --owner redis >/dev/null || fail "runtime socket for redis"
ok "after dropping privileges: $(cat "$T/e")"
stop_daemon "$DPID" || fail "utmemd exit status $?"

# The shared-memory ring across users: utmemd as root, redis-server as redis.
RUN=$T/run2
printf '[utmemd]\ncapacity = 64M\nlog_level = debug\n[tenant cache]\nowner = redis\nmode = 0600\n' >"$T/r.ini"
start_daemon d2 "$RUN" -c "$T/r.ini"
start_redis ring "ring:$RUN/cache.sock"
[ "$(rcli ring TMEM.PUT k ringvalue)" = OK ] || fail "TMEM.PUT over the ring: $(rcli ring TMEM.PUT k ringvalue)"
[ "$(rcli ring TMEM.GET k)" = ringvalue ] || fail "TMEM.GET over the ring"
grep -q "tenant 'cache' uses a shared-memory ring" "$T/d2.log" || fail "no ring was set up: $(cat "$T/d2.log")"
ok "ring across users (utmemd root, redis-server redis): $(grep -m1 'shared-memory ring' "$T/d2.log")"

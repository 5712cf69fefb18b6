#!/usr/bin/env bash
# A tenant's socket in a directory the tenant can write (a container's own
# directory, bind-mounted in, is the usual case). utmemd binds the socket
# under a temporary name, then gives it its owner and mode by path; a
# tenant that swaps that name for a symlink in between must not get
# utmemd (root) to change the link's target. strace holds utmemd's bind()
# for a second while the test makes the swap; the target, a root file of
# mode 0600, must keep its mode and owner, and the tenant is not added.
. "$(dirname "$0")/lib.sh"
RUN=$T/run
command -v strace >/dev/null || fail "strace is not installed (make test installs it)"
[ "$(id -u)" = 0 ] || fail "needs root (to own the victim file and give sockets owners)"

start_daemon d "$RUN"
mkdir -p "$T/pub"
chmod 0777 "$T/pub"
printf 'secret\n' >"$T/victim"
chmod 0600 "$T/victim"
chown 0:0 "$T/victim"

# Hold every bind() of utmemd for a second after it returns.
strace -f -qq -o /dev/null -p "$DPID" -e trace=bind \
	-e inject=bind:delay_exit=1000000 2>"$T/strace.err" &
SPID=$!
PIDS+=("$SPID")
# Attached to every thread before the bind (strace prints nothing with
# -qq): each task's TracerPid names it. A sleep once sufficed, but an
# unattached strace now fails the test below rather than passing it.
for i in $(seq 1 400); do
	n=0
	for s in /proc/"$DPID"/task/*/status; do
		awk '$1 == "TracerPid:" { exit $2 == 0 }' "$s" 2>/dev/null || n=$((n + 1))
	done
	[ "$n" = 0 ] && break
	sleep 0.025
done
[ "$n" = 0 ] || fail "strace did not attach to utmemd's threads in 10 s: $(cat "$T/strace.err")"
"$UTMEMCTL" --run-dir "$RUN" tenant add x --socket "$T/pub/x.sock" --mode 0666 \
	--group 65534 >"$T/add.out" 2>&1 &
A=$!
PIDS+=("$A")
tmp=
for i in $(seq 1 200); do
	tmp=$(find "$T/pub" -name 'x.sock.*.tmp' 2>/dev/null | head -n 1)
	[ -n "$tmp" ] && break
	sleep 0.005
done
[ -n "$tmp" ] || fail "no temporary socket name appeared: $(ls -la "$T/pub")"
rm -f "$tmp" && ln -s "$T/victim" "$tmp" || fail "swap"
wait "$A"
rc=$?
kill "$SPID" 2>/dev/null
wait "$SPID" 2>/dev/null
m=$(stat -c '%a %u:%g' "$T/victim")
[ "$m" = "600 0:0" ] || fail "utmemd changed the symlink's target: $m (tenant add exit $rc: $(cat "$T/add.out"))"
# The swap must have come between bind() and utmemd's check: a swap after
# it (strace not holding the bind) leaves the target alone too, proving
# nothing. Then the tenant is added, and utmemd did not see the link.
[ "$rc" -ne 0 ] && grep -q 'the socket just bound was replaced by another file' "$T/add.out" ||
	fail "the swap was not seen by utmemd: tenant add exit $rc: $(cat "$T/add.out")"
ok "a swapped temporary name does not reach its target: victim $m; tenant add exit $rc: $(cat "$T/add.out")"
ctl stats >/dev/null || fail "utmemd no longer answers"
stop_daemon "$DPID" || fail "utmemd exit status $?"

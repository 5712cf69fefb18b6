#!/usr/bin/env bash
# Descriptors of VM tenants and of the metrics endpoint are kept out of the
# tenants' connection shares (docs/security.md, "descriptor share"). With
# 160 descriptors, three VM tenants (region file, epoll sets, eventfds,
# doorbell listener: up to UD_VM_FDS = 16 each) and metrics on (12), a
# tenant opening 60 connections gets its share of what is left after the
# daemon's reserve, those and the admin connections (rings off: one
# descriptor a connection):
#   (160 - 64 reserve - 16 admin - 3 x 2 workers - 4 tenants - 3 x 16 - 12) / 4 = 2
# (the arithmetic that forgot them gave (160 - 90) / 4 = 17, and a VM's
# descriptors came out of the reserve). While it holds them, utmemd keeps
# descriptors to spare, and the admin socket answers.
. "$(dirname "$0")/../daemon/lib.sh"
RUN=$T/run
REAL=$UTMEMD
printf '#!/bin/sh\nulimit -n 160 || exit 1\nexec "%s" "$@"\n' "$REAL" >"$T/utmemd-160"
chmod +x "$T/utmemd-160"
UTMEMD=$T/utmemd-160
cat >"$T/v.ini" <<INI
[utmemd]
capacity = 64M
workers = 2
ring_size = off
metrics = 127.0.0.1:0
[tenant evil]
INI
for v in vma vmb vmc; do
	printf '[tenant %s]\nivshmem = %s.shm\nivshmem_size = 1M\nivshmem_doorbell = %s.bell\n' \
		"$v" "$v" "$v" >>"$T/v.ini"
done
start_daemon d "$RUN" -c "$T/v.ini"
out=$("$HOSTILE" conns "$RUN/evil.sock" 60 1)
served=$(printf '%s\n' "$out" | tr ' ' '\n' | awk 'p { print; exit } $0 == "served" { p = 1 }')
echo "measured: $out"
[ "$served" = 2 ] || fail "evil got $served connections, want its share 2: $out"
ok "a tenant's share leaves out three VM tenants' and the metrics endpoint's descriptors ($out)"
"$HOSTILE" conns "$RUN/evil.sock" 60 3 >"$T/hold.out" &
H=$!
PIDS+=("$H")
sleep 1
used=$(find /proc/"$DPID"/fd -mindepth 1 -maxdepth 1 | wc -l)
echo "measured: descriptors in use while evil holds its share: $used of 160"
[ "$used" -le $((160 - 32)) ] || fail "$used of 160 descriptors in use: the reserve is eaten"
ctl info >/dev/null || fail "utmemctl cannot connect while evil holds its share"
# ... and evil did hold it: without its connections the bound proves nothing.
wait "$H" || fail "the holding attacker exited with $?"
held=$(tr ' ' '\n' <"$T/hold.out" | awk 'p { print; exit } $0 == "served" { p = 1 }')
[ "$held" = 2 ] || fail "evil held $held connections, not its share 2: $(cat "$T/hold.out")"
ok "utmemd keeps its reserve ($used of 160 in use) and the admin socket answers"
stop_daemon "$DPID" || fail "utmemd exit status $?"

#!/usr/bin/env bash
# ring-eval.sh BUILD [ROUNDS] [DURATION] — the shared-memory ring against the
# Unix socket and redis-server, natively (1 KiB, p=1 and p=16) and through the
# Redis module (TMEM.* over ring: and unix: vs SET/GET at 1 KiB, 128 KiB, 1 MiB).
# Kinds alternate in every round; cells are medians. Prints markdown tables;
# raw per-run numbers go to stderr. PIN=1 pins utmemd to CPU 1, the rest to
# CPU 0. Servers are stopped by pid and the temp dir removed on exit.
set -u
B=$(realpath "${1:-build-ring}"); ROUNDS=${2:-3}; DUR=${3:-3}
BENCH=$B/tools/utmem-bench/utmem-bench
D=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$D"' EXIT
${PIN:+taskset -c 1} $B/src/daemon/utmemd --run-dir "$D/u" >"$D/utmemd.out" 2>"$D/utmemd.log" &
PIDS+=($!)
for i in $(seq 100); do [ -S "$D/u/utmemd.sock" ] && break; sleep 0.05; done
start_redis() { # name, extra args
	local n=$1; shift
	${PIN:+taskset -c 0} redis-server --port 0 --unixsocket "$D/$n.sock" --save '' --appendonly no \
		--dir "$D" --logfile "$D/$n.log" "$@" &
	PIDS+=($!)
	for i in $(seq 100); do redis-cli -s "$D/$n.sock" ping >/dev/null 2>&1 && return; sleep 0.05; done
	echo "redis $n did not start" >&2; exit 1
}
start_redis plain
start_redis modring --loadmodule "$B/src/redis/utmem.so" "addr=ring:$D/u/utmemd.sock" pool=r
start_redis modunix --loadmodule "$B/src/redis/utmem.so" "addr=unix:$D/u/utmemd.sock" pool=u
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
run() { # KIND OP SIZE P KEYS -> "ops/s p50"
	local kind=$1 op=$2 size=$3 p=$4 keys=$5 args
	case $kind in
	ring) args=(--target utmem --addr "ring:$D/u/utmemd.sock") ;;
	unix) args=(--target utmem --addr "unix:$D/u/utmemd.sock") ;;
	redis) args=(--target redis --addr "unix:$D/plain.sock") ;;
	modring) args=(--target redis --addr "unix:$D/modring.sock" --put-cmd TMEM.PUT --get-cmd TMEM.GET) ;;
	modunix) args=(--target redis --addr "unix:$D/modunix.sock" --put-cmd TMEM.PUT --get-cmd TMEM.GET) ;;
	esac
	${PIN:+taskset -c 0} $BENCH "${args[@]}" --op "$op" --value-size "$size" --pipeline "$p" \
		--keys "$keys" --duration "$DUR" --warmup 0.5 --json 2>/dev/null |
		sed -n 's/.*"ops_per_s":\([0-9.]*\).*"p50_us":\([0-9.]*\).*/\1 \2/p'
}
row() { # TITLE OP SIZE P KEYS KINDS...: alternate the kinds, median per kind
	local title=$1 op=$2 size=$3 p=$4 keys=$5; shift 5
	local kinds=("$@") k r
	declare -A ops lat
	for r in $(seq "$ROUNDS"); do
		for k in "${kinds[@]}"; do
			read -r o l < <(run "$k" "$op" "$size" "$p" "$keys")
			ops[$k]+="${o:-0} "; lat[$k]+="${l:-0} "
		done
	done
	printf '| %s |' "$title"
	for k in "${kinds[@]}"; do
		printf ' %s (p50 %s us) |' \
			"$(printf '%s\n' ${ops[$k]} | median | awk '{printf "%.0f", $1}')" \
			"$(printf '%s\n' ${lat[$k]} | median)"
	done
	echo
	echo "raw $title: $(for k in "${kinds[@]}"; do echo "$k=[${ops[$k]}]"; done)" >&2
}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| workload | ring: | unix: | redis-server SET/GET |"
for p in 1 16; do for op in put get; do
	row "1 KiB $op c=1 p=$p" "$op" 1K "$p" 10000 ring unix redis
done; done
echo "| workload | TMEM.* addr=ring: | TMEM.* addr=unix: | SET/GET |"
for sz in 1K 128K 1M; do
	keys=10000; [ "$sz" = 128K ] && keys=1000; [ "$sz" = 1M ] && keys=200
	for op in put get; do row "$sz $op" "$op" "$sz" 1 "$keys" modring modunix redis; done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

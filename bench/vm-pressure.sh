#!/usr/bin/env bash
# bench/vm-pressure.sh — the thesis's Tables 3.3/3.4 with a real guest:
# Redis inside a QEMU guest with little RAM and a swap device of its own,
# SET (Redis keeps the values, the guest swaps) against TMEM.PUT (the
# values go to utmemd on the host through the guest's /dev/utmem), 128 KiB
# values at 87.5 .. 112.5 % of the guest's memory.
#
# Every run boots a fresh guest (tests/vm/lib.sh; TCG here) with VM_MEM MiB,
# a virtio-blk swap disk (a sparse host file, SWAP_MIB), an
# ivshmem-doorbell device served by a fresh utmemd (tenant vm, the guest
# module loaded), and user-mode networking forwarding a host port to the
# guest's redis-server (Debian's, with build/src/redis/utmem.so loaded,
# addr=UTMEM_ADDR, maxmemory 0). The guest prints its /proc/vmstat swap
# counters every second on the serial console. Systems:
#   swap   SET; the guest swaps to its disk (thesis "SET")
#   zswap  SET; the guest's zswap on (compressed swap in guest RAM; the
#          nearest thing to the thesis's "Frontswap" column here)
#   tmem   TMEM.PUT/TMEM.GET to utmemd on the host (thesis "TMEMPUT")
# On the host, utmem-bench (RESP over TCP, through QEMU's user network)
# fills N keys (N × 128 KiB = LEVEL % of VM_MEM), then runs timed PUT
# intervals over random keys until two in a row differ by < TOL (or
# MAX_INTERVALS), then GET intervals the same way; the figure is the mean
# of the last two intervals.
#
# Nothing on the host changes (the swap is the guest's). Run it on a quiet
# machine: the guest's vCPU is one host thread.
#
# Environment: BENCH_BUILD [build]  VM_MEM [256]  SWAP_MIB [4 × VM_MEM]
#   LEVELS ["87.5 93.75 100 106.25 112.5"]  SIZE [128K]
#   SYSTEMS ["swap zswap tmem"]  INTERVAL [5]  MIN_INTERVALS [2]
#   MAX_INTERVALS [5]  GET_MAX_INTERVALS [3]  TOL [0.05]  REPS [1]
#   UTMEM_ADDR [dev:/dev/utmem]  OUT [$UTMEM_RESULTS/vm-pressure-<UTC time>]
#   UTMEM_RESULTS [/var/tmp/utmem-results]  PUBLISH [1]: copy the report to
#   bench/results/vm-pressure.md
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BENCH_BUILD=${BENCH_BUILD:-build}
export VM_MEM=${VM_MEM:-256}
SWAP_MIB=${SWAP_MIB:-$((VM_MEM * 4))}
LEVELS=${LEVELS:-"87.5 93.75 100 106.25 112.5"}
SIZE=${SIZE:-128K}
SYSTEMS=${SYSTEMS:-"swap zswap tmem"}
INTERVAL=${INTERVAL:-5}
MIN_INTERVALS=${MIN_INTERVALS:-2}
MAX_INTERVALS=${MAX_INTERVALS:-5}
GET_MAX_INTERVALS=${GET_MAX_INTERVALS:-3}
TOL=${TOL:-0.05}
REPS=${REPS:-1}
UTMEM_ADDR=${UTMEM_ADDR:-dev:/dev/utmem}
PUBLISH=${PUBLISH:-1}
UTMEM_RESULTS=${UTMEM_RESULTS:-/var/tmp/utmem-results}
OUT=${OUT:-$UTMEM_RESULTS/vm-pressure-$(date -u +%Y%m%dT%H%M%SZ)}
UTMEMD=$BENCH_BUILD/src/daemon/utmemd
MODULE=$BENCH_BUILD/src/redis/utmem.so
UTMEM_KO=$BENCH_BUILD/src/guest/utmem.ko
export VM_CACHE=$PWD/$BENCH_BUILD/tests/vm

. bench/lib.sh
. tests/vm/lib.sh

{
log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$OUT/log.txt" >&2; }

# The guest's part: swap on, zswap per system, the network, the module,
# redis-server; then report swap counters until the host stops the guest.
guest_script() {
	cat <<'EOF'
mkswap /dev/vda >/dev/null && swapon /dev/vda || echo "VMTEST FAIL swapon"
echo "$VMT_zswap" >/sys/module/zswap/parameters/enabled 2>/dev/null
ip link set lo up; ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2
insmod /utmem.ko || echo "VMTEST FAIL insmod"
mkdir -p /var/redis
/usr/bin/redis-server --bind 0.0.0.0 --port 6379 --protected-mode no \
	--save '' --appendonly no --dir /var/redis --maxmemory 0 \
	--loadmodule /utmem.so addr="$VMT_addr" pool=bench >/tmp/redis.log 2>&1 &
for i in $(seq 1 100); do
	grep -q "Ready to accept" /tmp/redis.log && break
	sleep 0.2
done
grep -q "Ready to accept" /tmp/redis.log && echo "VMBENCH READY" || { echo "VMBENCH FAIL redis"; cat /tmp/redis.log; }
while :; do
	echo "VMSTAT $(awk '/^(pswpin|pswpout|zswpout) / {printf "%s=%s ", $1, $2}' /proc/vmstat)$(awk '/^(MemFree|SwapFree|SwapTotal):/ {printf "%s=%s ", $1, $2}' /proc/meminfo)"
	sleep 1
done
EOF
}

# ub SYS ARGS...: utmem-bench against the guest's Redis; JSON in UB_LINE.
ub() {
	local sys=$1
	shift
	local -a cmd=("$BENCH_UTMEM_BENCH" --target redis --addr "tcp:127.0.0.1:$HPORT"
		--connections 1 --pipeline 1 --json)
	[ "$sys" = tmem ] && cmd+=(--put-cmd TMEM.PUT --get-cmd TMEM.GET)
	UB_LINE=$("${cmd[@]}" "$@" 2>>"$OUT/log.txt")
}

# converge SYS OP KEYS MAX: CV_OPS (mean of the last two), CV_CONV, CV_N.
converge() {
	local sys=$1 op=$2 keys=$3 max=$4 i prev="" cur
	CV_OPS="-"; CV_CONV=0; CV_N=0
	for ((i = 1; i <= max; i++)); do
		CV_N=$i
		ub "$sys" --op "$op" --no-preload --value-size "$SIZE" --keys "$keys" \
			--duration "$INTERVAL" --warmup 0 --seed "$i" --max-time $((INTERVAL * 4 + 120)) ||
			{ log "  $op interval $i failed: $UB_LINE"; CV_OPS="-"; return 1; }
		cur=$(bench_json_field "$UB_LINE" ops_per_s)
		log "  $sys $op interval $i: $cur ops/s, p99 $(bench_json_field "$UB_LINE" p99_us) us"
		if [ -z "$prev" ]; then CV_OPS=$cur; prev=$cur; continue; fi
		CV_OPS=$(awk -v a="$prev" -v b="$cur" 'BEGIN { printf "%.1f", (a + b) / 2 }')
		if ((i >= MIN_INTERVALS)) && awk -v a="$prev" -v b="$cur" -v t="$TOL" \
			'BEGIN { m = a > b ? a : b; d = a - b; if (d < 0) d = -d; exit !(m > 0 && d / m < t) }'; then
			CV_CONV=1
			return 0
		fi
		prev=$cur
	done
}

# vmstat_last LOG KEY: the last value of KEY in the guest's VMSTAT lines.
vmstat_last() {
	grep '^VMSTAT' "$1" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$2[=:]//p" | head -n 1
}

one_run() {
	local sys=$1 level=$2 rep=$3 id bytes keys qpid upid t0 t1 fill_s put get dir sw0 sw1 zs1
	id=$sys-$level-$rep
	dir=$T/$id
	bytes=$(bench_size_bytes "$SIZE") || bench_die "bad SIZE $SIZE"
	keys=$(awk -v l="$level" -v m="$VM_MEM" -v b="$bytes" 'BEGIN { printf "%d", l / 100 * m * 1048576 / b }')
	log "run $id: $keys keys of $SIZE = $level% of a ${VM_MEM} MiB guest"
	mkdir -p "$dir"
	cat >"$dir/vm.ini" <<INI
[utmemd]
capacity = 4G
[tenant vm]
ivshmem = vm.shm
ivshmem_size = 16M
ivshmem_doorbell = vm.bell
INI
	"$UTMEMD" -c "$dir/vm.ini" --run-dir "$dir/u" >"$dir/utmemd.out" 2>"$dir/utmemd.log" &
	upid=$!
	BENCH_PIDS+=("$upid")
	bench_wait_socket "$dir/u/vm.bell" "$upid" 10 || { log "utmemd did not start"; return 1; }
	truncate -s "${SWAP_MIB}M" "$dir/swap.img"
	HPORT=$((30000 + RANDOM % 20000))
	VM_APPEND="vmtest.zswap=$([ "$sys" = zswap ] && echo 1 || echo 0) vmtest.addr=$UTMEM_ADDR"
	export VM_APPEND
	timeout -k 5 3600 "$VM_QEMU" -M q35 -m "$VM_MEM" -smp 1 -nodefaults -no-user-config \
		-display none -no-reboot -serial "file:$dir/guest.log" \
		-kernel "$VM_KERNEL" -initrd "$T/initrd.cpio" \
		-append "console=ttyS0 quiet panic=-1 $VM_FAST_BOOT $VM_APPEND" \
		-drive "file=$dir/swap.img,if=none,id=sw,format=raw,cache=unsafe" \
		-device virtio-blk-pci,drive=sw \
		-netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$HPORT-:6379" \
		-device virtio-net-pci,netdev=n0 \
		-chardev "socket,id=bell,path=$dir/u/vm.bell" \
		-device ivshmem-doorbell,chardev=bell,vectors=2 \
		</dev/null >"$dir/qemu.log" 2>&1 &
	qpid=$!
	BENCH_PIDS+=("$qpid")
	for i in $(seq 1 600); do
		grep -q 'VMBENCH \(READY\|FAIL\)' "$dir/guest.log" 2>/dev/null && break
		kill -0 "$qpid" 2>/dev/null || break
		sleep 0.2
	done
	if ! grep -q 'VMBENCH READY' "$dir/guest.log"; then
		log "  the guest's redis did not come up: $(tail -n 5 "$dir/guest.log" | tr '\n' ' ')"
		kill "$qpid" "$upid" 2>/dev/null
		return 1
	fi
	sleep 1
	sw0=$(vmstat_last "$dir/guest.log" pswpout)
	t0=$(date +%s.%N)
	if ub "$sys" --op get --value-size "$SIZE" --keys "$keys" --requests 1 --warmup 0 --max-time 3000 &&
		[ "$(bench_json_field "$UB_LINE" errors)" = 0 ]; then
		t1=$(date +%s.%N)
		fill_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
		log "  filled in $fill_s s"
		converge "$sys" put "$keys" "$MAX_INTERVALS"
		put="$CV_OPS $CV_CONV $CV_N"
		converge "$sys" get "$keys" "$GET_MAX_INTERVALS"
		get="$CV_OPS $CV_CONV $CV_N"
	else
		fill_s="-"; put="- 0 0"; get="- 0 0"
		log "  fill failed: $UB_LINE"
	fi
	sleep 1.5
	sw1=$(vmstat_last "$dir/guest.log" pswpout)
	zs1=$(vmstat_last "$dir/guest.log" zswpout)
	kill "$qpid" 2>/dev/null; wait "$qpid" 2>/dev/null
	kill -TERM "$upid" 2>/dev/null; wait "$upid" 2>/dev/null
	# shellcheck disable=SC2086
	set -- $put $get
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sys" "$level" "$rep" "$keys" \
		"$fill_s" "$1" "$2" "$3" "$4" "$5" "$6" \
		"$(awk -v a="${sw0:-0}" -v b="${sw1:-0}" 'BEGIN { printf "%.1f", (b - a) * 4096 / 1048576 }')" \
		"$(awk -v z="${zs1:-0}" 'BEGIN { printf "%.1f", z * 4096 / 1048576 }')" >>"$OUT/runs.tsv"
	log "  $sys: PUT $1 ops/s (converged=$2 after $3), GET $4 ops/s (converged=$5 after $6)"
}

for f in "$UTMEMD" "$MODULE" "$UTMEM_KO" "$BENCH_BUILD/tools/utmem-bench/utmem-bench"; do
	[ -e "$f" ] || bench_die "no $f (build it: ninja -C $BENCH_BUILD)"
done
command -v redis-server >/dev/null || bench_die "redis-server not installed"
bench_init
T=$BENCH_TMP
vm_require
mkdir -p "$OUT"
printf 'sys\tlevel\trep\tkeys\tfill_s\tput_ops\tput_conv\tput_n\tget_ops\tget_conv\tget_n\tguest_swapout_mib\tguest_zswapout_mib\n' >"$OUT/runs.tsv"
G=$T/guest
mkdir -p "$G"
cp "$UTMEM_KO" "$G/utmem.ko"
cp "$MODULE" "$G/utmem.so"
vm_add_binary "$G" /usr/bin/redis-server
guest_script >"$G/test.sh"
vm_initrd "$G" "$T/initrd.cpio" virtio_pci virtio_blk virtio_net
MACHINE=$(bench_machine)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
T_START=$(date +%s)
read -ra SYS_ARR <<<"$SYSTEMS"
k=0
for ((rep = 1; rep <= REPS; rep++)); do
	for level in $LEVELS; do
		n=${#SYS_ARR[@]}
		for ((j = 0; j < n; j++)); do
			one_run "${SYS_ARR[$(((j + k) % n))]}" "$level" "$rep" || log "run failed"
		done
		k=$((k + 1))
	done
done
T_END=$(date +%s)
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

cell() { # SYS LEVEL COL: median over reps
	awk -F'\t' -v s="$1" -v l="$2" -v c="$3" 'NR > 1 && $1 == s && $2 == l && $c != "-" { print $c }' \
		"$OUT/runs.tsv" | bench_median | sed 's/^nan$/-/'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }
{
	echo "### Redis in a guest under memory pressure (thesis Tables 3.3/3.4, real guest)"
	echo
	echo "$MACHINE"
	echo "- guest: QEMU $($VM_QEMU --version | head -n1 | awk '{print $4}'), $(grep -q . /dev/kvm 2>/dev/null && echo KVM || echo TCG), ${VM_MEM} MiB RAM, 1 vCPU, kernel $VM_KVER, swap ${SWAP_MIB} MiB on a virtio-blk disk (sparse host file, cache=unsafe); redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') in the guest with utmem.so (addr=$UTMEM_ADDR through the guest module over ivshmem-doorbell); utmemd on the host, fresh per run"
	echo "- client: utmem-bench on the host, RESP over QEMU user networking, 1 connection, pipeline 1, $SIZE incompressible values, random keys of the filled keyspace"
	echo "- convergence: ${INTERVAL} s intervals until two in a row differ by < $(awk -v t="$TOL" 'BEGIN{print t*100}')% (at least $MIN_INTERVALS, at most $MAX_INTERVALS PUT / $GET_MAX_INTERVALS GET); $REPS repetition(s), median"
	echo "- load average before/after: $LOAD0 / $LOAD1; wall time $((T_END - T_START)) s"
	echo "- command: \`VM_MEM=$VM_MEM SWAP_MIB=$SWAP_MIB LEVELS=\"$LEVELS\" SYSTEMS=\"$SYSTEMS\" INTERVAL=$INTERVAL MAX_INTERVALS=$MAX_INTERVALS GET_MAX_INTERVALS=$GET_MAX_INTERVALS REPS=$REPS bench/vm-pressure.sh\`"
	echo
	echo "| data / guest RAM | TMEM.PUT | SET zswap | SET swap | TMEM/swap | TMEM/zswap | TMEM.GET | GET zswap | GET swap |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for l in $LEVELS; do
		tp=$(cell tmem "$l" 6); zp=$(cell zswap "$l" 6); sp=$(cell swap "$l" 6)
		echo "| $l% | $tp | $zp | $sp | $(ratio "$tp" "$sp") | $(ratio "$tp" "$zp") | $(cell tmem "$l" 9) | $(cell zswap "$l" 9) | $(cell swap "$l" 9) |"
	done
	echo
	echo "#### Every run"
	echo
	echo "| $(head -n1 "$OUT/runs.tsv" | sed 's/\t/ | /g') |"
	echo "|$(head -n1 "$OUT/runs.tsv" | awk -F'\t' '{ for (i = 1; i <= NF; i++) printf "---|" }')"
	tail -n +2 "$OUT/runs.tsv" | sed 's/\t/ | /g; s/^/| /; s/$/ |/'
} >"$OUT/vm-pressure.md"
cat "$OUT/vm-pressure.md"
[ "$PUBLISH" = 1 ] && cp "$OUT/vm-pressure.md" bench/results/vm-pressure.md
exit 0
}

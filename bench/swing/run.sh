#!/usr/bin/env bash
# bench/swing/run.sh — the swinging-demand experiment (issue 10), one
# command: both setups one after the other, then the report and plots.
# README.md in this directory explains the setup and the figures.
#
#   bench/swing/run.sh [--quick] [--only balloon|utmem] [--balloon-rate MIB_S]
#                      [--out DIR] [--publish NAME] [BUILD_DIR]
#
# --quick is a short, small run for development (about 2.5 minutes, a 480
# MiB budget); the default is the full run for a quiet machine (about 8
# minutes, 2.5 GiB of memory, one swap file of 4 GiB). Needs root: it
# creates memory cgroups and a swap file, and puts everything back on any
# exit (bench/hoststate.sh), Ctrl-C included. Raw data and plots go to DIR
# (default $UTMEM_RESULTS/swing-DATE, UTMEM_RESULTS=/var/tmp/utmem-results);
# --publish NAME copies the report to bench/results/NAME.md and the plots
# to docs/img/NAME-*.png (what docs/evaluation.md cites).
#
# The host is a memory cgroup "utmem-bench-PID" whose limit is the memory
# the tenants share (BUDGET). Inside it, N tenants whose data set swings
# between LOW and HIGH MiB out of phase (one at a time is high), served at
# RATE operations per second each (bench/swing/swingload.c):
#   balloon  each tenant in its own cgroup with all its data in its own
#            memory, swap behind it; swingballoon moves the limits to the
#            demand of DELAY seconds ago at BALLOON_RATE MiB/s.
#   utmem    each tenant in a fixed small cgroup (LOCAL MiB of cache plus
#            its process); its colder data in utmemd (persistent pools),
#            which runs in a sibling cgroup with the rest of the budget
#            and the host controller following the host cgroup.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/hoststate.sh

QUICK=0 ONLY="" OUT="" BUILD=build BALLOON_RATE=190 PUBLISH=""
CMDLINE="bench/swing/run.sh $*"
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--only)
		case ${2:-} in
		balloon | utmem) ONLY=$2 ;;
		*) echo "run.sh: --only takes balloon or utmem, not '${2:-}'" >&2; exit 2 ;;
		esac
		shift ;;
	--balloon-rate) BALLOON_RATE=$2; shift ;;
	--out) OUT=$2; shift ;;
	--publish) PUBLISH=$2; shift ;;
	-h | --help) sed -n '2,30p' "$0"; exit 0 ;;
	-*) echo "run.sh: unknown option '$1' (--help lists them)" >&2; exit 2 ;;
	*) BUILD=$1 ;;
	esac
	shift
done
hoststate_require_root
for b in src/daemon/utmemd tools/utmemctl/utmemctl bench/swing/swingload bench/swing/swingballoon; do
	[ -x "$BUILD/$b" ] || { echo "run.sh: no $BUILD/$b (build first: ninja -C $BUILD)" >&2; exit 1; }
done
command -v gnuplot >/dev/null || { echo "run.sh: gnuplot is needed for the plots" >&2; exit 1; }

# ---- parameters (MiB, seconds, operations per second) ----
N=3
if [ "$QUICK" = 1 ]; then
	LOW=32 HIGH=192 PERIOD=30 DURATION=60 RATE=2000 GROW=256 VALUE=16384
	SEG=8 LOCAL=24 HEADROOM=32 SLACK=128 SWAP_MIB=512 DELAY=2 WARMUP=10
else
	LOW=256 HIGH=1536 PERIOD=60 DURATION=180 RATE=20000 GROW=512 VALUE=16384
	SEG=64 LOCAL=192 HEADROOM=64 SLACK=256 SWAP_MIB=4096 DELAY=2 WARMUP=20
fi
# WARMUP: seconds from the tenants' start to the shared epoch, every
# tenant low: its data set loaded and its local cache filled by its own
# accesses (the cold tenth of them fills 192 MiB in ~15 s), so the first
# swing meets the steady state every later one meets. With 3 s the first
# ingest began while the tenants still held most of their data remote,
# and the first tenant's was refused for room near its end.
# SWING_DURATION, SWING_RATE, SWING_GROW, SWING_WARMUP override the chosen
# size's (a short smoke test of the full size, or another ingest speed);
# SWING_UTMEMD adds lines to utmemd's [utmemd] section (e.g. "workers = 3").
DURATION=${SWING_DURATION:-$DURATION} RATE=${SWING_RATE:-$RATE} GROW=${SWING_GROW:-$GROW}
WARMUP=${SWING_WARMUP:-$WARMUP}
DUTY=$(awk -v n=$N 'BEGIN { printf "%.6f", 1 / n }')
BUDGET=$((HIGH + (N - 1) * LOW + N * HEADROOM + SLACK))
TENANT_CG=$((LOCAL + HEADROOM))            # utmem mode: each tenant's fixed cgroup
POOL_MIB=$((BUDGET - N * TENANT_CG))       # what is left for utmemd
CAPACITY=$((POOL_MIB - POOL_MIB / 16 - 16)) # utmemd's own memory beside the charge
INTERVAL=0.5
OUT=${OUT:-${UTMEM_RESULTS:-/var/tmp/utmem-results}/swing-$(date -u +%Y%m%dT%H%MZ)$([ "$QUICK" = 1 ] && echo -quick || true)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
exec > >(tee -a "$OUT/run.log") 2>&1

log() { printf '[swing %s] %s\n' "$(date +%T)" "$*"; }
mib() { echo $(($1 * 1024 * 1024)); }

cat >"$OUT/params.sh" <<EOF
N=$N LOW=$LOW HIGH=$HIGH PERIOD=$PERIOD DUTY=$DUTY DURATION=$DURATION RATE=$RATE
GROW=$GROW VALUE=$VALUE SEG=$SEG LOCAL=$LOCAL HEADROOM=$HEADROOM BUDGET=$BUDGET
TENANT_CG=$TENANT_CG POOL_MIB=$POOL_MIB CAPACITY=$CAPACITY DELAY=$DELAY
BALLOON_RATE=$BALLOON_RATE INTERVAL=$INTERVAL QUICK=$QUICK WARMUP=$WARMUP
CMDLINE="$CMDLINE" COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
EOF
log "parameters: $(tr '\n' ' ' <"$OUT/params.sh")"
log "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$(cut -d' ' -f1-3 /proc/loadavg)" >"$OUT/load-before"

hoststate_init
ZSWAP_BEFORE=$(cat /sys/module/zswap/parameters/enabled 2>/dev/null || echo "")
hoststate_swap_on "$SWAP_MIB"
[ -n "$ZSWAP_BEFORE" ] && hoststate_zswap OFF # disk swap behind the balloon

# ---- sampling: every INTERVAL, cgroups, host swap, utmemd ----

# field FILE KEY: the number after KEY in a "key value" file, without a
# fork (the sampler runs many of these every half second).
field() {
	local k v
	while read -r k v; do
		[ "$k" = "$2" ] && { echo "$v"; return; }
	done <"$1"
	echo 0
}

# cg_line DIR: "usage swap majflt oom_kill" of one cgroup (v1 or v2)
cg_line() {
	local d=$1 u s f o
	if [ -f "$d/memory.current" ]; then
		u=$(<"$d/memory.current")
		s=$(<"$d/memory.swap.current")
		f=$(field "$d/memory.stat" pgmajfault)
		o=$(field "$d/memory.events" oom_kill)
	else
		u=$(<"$d/memory.usage_in_bytes")
		s=$(field "$d/memory.stat" total_swap)
		f=$(field "$d/memory.stat" total_pgmajfault)
		o=$(field "$d/memory.oom_control" oom_kill)
	fi
	echo "${u:-0} ${s:-0} ${f:-0} ${o:-0}"
}

# now_rel EPOCH: seconds since EPOCH (not before it) with centiseconds,
# without a fork
now_rel() {
	local t=$EPOCHREALTIME
	printf '%.2f' "$(( ${t%.*} - $1 )).${t#*.}"
}

# sampler FILE EPOCH DIRS...: "t host_pswpin host_pswpout [usage swap majflt oom]..."
# plus, in utmem mode ($RUN set), utmemd's capacity, charged and RSS.
sampler() {
	local file=$1 epoch=$2
	shift 2
	(
		trap - EXIT INT TERM HUP
		while [ "${EPOCHREALTIME%.*}" -lt "$epoch" ]; do sleep 0.05; done
		while [ -d "$HS_CG_PATH" ]; do
			local line d cap="" ch="" rss=""
			line="$(now_rel "$epoch")"
			line+=" $(field /proc/vmstat pswpin) $(field /proc/vmstat pswpout)"
			for d in "$@"; do line+=" $(cg_line "$d")"; done
			if [ -n "${RUN:-}" ] && [ -S "$RUN/admin.sock" ]; then
				read -r cap ch rss < <("$BUILD/tools/utmemctl/utmemctl" --run-dir "$RUN" info 2>/dev/null |
					awk '$1=="capacity_bytes"{c=$2} $1=="charged_bytes"{h=$2} $1=="rss_bytes"{r=$2} END{print c+0, h+0, r+0}')
				line+=" $cap $ch $rss"
			fi
			echo "$line" >>"$file"
			sleep "$INTERVAL"
		done
	) &
	hoststate_track_pid $!
	SAMPLER=$!
}

# tenant MODE I DIR ADDR: run tenant I in cgroup DIR for the whole run,
# restarting it when it dies (an OOM kill: the event is logged, the data
# is gone, the new process loads it again).
tenant() {
	local mode=$1 i=$2 dir=$3 addr=$4 phase run=0
	phase=$(awk -v i="$i" -v p="$PERIOD" -v n=$N 'BEGIN { printf "%.3f", i * p / n }')
	(
		trap - EXIT INT TERM HUP
		local end left
		end=$(awk -v e="$EPOCH" -v d="$DURATION" 'BEGIN { printf "%d", e + d }')
		while :; do
			left=$((end - $(date +%s)))
			[ "$left" -gt 1 ] || break
			run=$((run + 1))
			echo "$BASHPID" >"$dir/cgroup.procs"
			set +e
			"$BUILD/bench/swing/swingload" --mode "$mode" ${addr:+--addr "$addr"} \
				--epoch "$EPOCH" --out "$OUT/$MODE-t$i.run$run.dat" \
				--value "$VALUE" --seg-mib "$SEG" --low-mib "$LOW" --high-mib "$HIGH" \
				--local-mib "$LOCAL" --period-s "$PERIOD" --duty "$DUTY" --phase-s "$phase" \
				--rate "$RATE" --grow-mib-s "$GROW" --duration-s "$left" \
				--interval-s "$INTERVAL"
			rc=$?
			set -e
			[ "$rc" = 0 ] && break
			echo "$(now_rel "$EPOCH") t$i exit $rc" >>"$OUT/$MODE-deaths"
			sleep 0.5
		done
	) &
	hoststate_track_pid $!
	TENANT_PIDS+=($!)
}

# ---- one setup ----
run_mode() {
	MODE=$1
	local dirs=() i
	TENANT_PIDS=()
	RUN=""
	log "=== $MODE: budget ${BUDGET}M, $N tenants ${LOW}M..${HIGH}M, period ${PERIOD}s, ${RATE} ops/s each"
	hoststate_cgroup_create "$(mib "$BUDGET")"
	EPOCH=$(($(date +%s) + WARMUP))
	if [ "$MODE" = balloon ]; then
		for i in $(seq 0 $((N - 1))); do
			hoststate_cgroup_child "t$i" "$(mib $((LOW + HEADROOM)))"
			dirs+=("$HS_LAST_CHILD")
		done
		local args=()
		for i in $(seq 0 $((N - 1))); do
			args+=("${dirs[$i]}:$(awk -v i="$i" -v p="$PERIOD" -v n=$N 'BEGIN { printf "%.3f", i * p / n }')")
		done
		"$BUILD/bench/swing/swingballoon" --epoch "$EPOCH" --out "$OUT/$MODE-limits.dat" \
			--budget-mib "$BUDGET" --delay-s "$DELAY" --rate-mib-s "$BALLOON_RATE" \
			--headroom-mib "$HEADROOM" --low-mib "$LOW" --high-mib "$HIGH" \
			--period-s "$PERIOD" --duty "$DUTY" "${args[@]}" &
		hoststate_track_pid $!
		BALLOON=$!
		sampler "$OUT/$MODE-host.dat" "$EPOCH" "$HS_CG_PATH" "${dirs[@]}"
		for i in $(seq 0 $((N - 1))); do tenant mem "$i" "${dirs[$i]}" ""; done
	else
		RUN=$OUT/run-utmemd
		mkdir -p "$RUN"
		hoststate_cgroup_child pool ""
		local pool=$HS_LAST_CHILD
		for i in $(seq 0 $((N - 1))); do
			hoststate_cgroup_child "t$i" "$(mib "$TENANT_CG")"
			dirs+=("$HS_LAST_CHILD")
		done
		{
			echo "[utmemd]"
			echo "capacity = ${CAPACITY}M"
			echo "run_dir = $RUN"
			echo "ring_size = 1M"
			echo "controller = cgroup:$HS_CG_PATH"
			echo "controller_reserve = 32M"
			[ -z "${SWING_UTMEMD:-}" ] || printf '%s\n' "$SWING_UTMEMD"
			for i in $(seq 0 $((N - 1))); do echo "[tenant t$i]"; done
		} >"$OUT/utmemd.ini"
		hoststate_cgroup_exec_in "$pool" "$BUILD/src/daemon/utmemd" -c "$OUT/utmemd.ini" \
			>"$OUT/utmemd.out" 2>"$OUT/utmemd.log"
		UTMEMD=$HS_LAST_PID
		for i in $(seq 1 100); do [ -S "$RUN/admin.sock" ] && break; sleep 0.1; done
		[ -S "$RUN/admin.sock" ] || { log "utmemd did not start"; cat "$OUT/utmemd.log"; exit 1; }
		sampler "$OUT/$MODE-host.dat" "$EPOCH" "$HS_CG_PATH" "${dirs[@]}" "$pool"
		for i in $(seq 0 $((N - 1))); do tenant utmem "$i" "${dirs[$i]}" "ring:$RUN/t$i.sock"; done
	fi
	for p in "${TENANT_PIDS[@]}"; do wait "$p" || true; hoststate_untrack_pid "$p"; done
	log "$MODE: tenants done; load $(cut -d' ' -f1-3 /proc/loadavg)"
	[ "$MODE" = balloon ] && hoststate_stop_pid "$BALLOON"
	if [ "$MODE" = utmem ]; then
		"$BUILD/tools/utmemctl/utmemctl" --run-dir "$RUN" info >"$OUT/utmemd-info.txt" 2>&1 || true
		hoststate_stop_pid "$UTMEMD"
	fi
	hoststate_stop_pid "$SAMPLER"
	# Next setup starts from a clean host cgroup.
	hs__cgroup_remove
	HS_CG_PATH=""
	RUN=""
}

for m in balloon utmem; do
	[ -z "$ONLY" ] || [ "$ONLY" = "$m" ] || continue
	run_mode "$m"
done
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$(cut -d' ' -f1-3 /proc/loadavg)" >"$OUT/load-after"
hoststate_restore
hoststate_verify_clean "$ZSWAP_BEFORE" && log "host state restored"
bench/swing/report.sh "$OUT"
log "report: $OUT/report.md"
if [ -n "$PUBLISH" ]; then
	cp "$OUT/report.md" "bench/results/$PUBLISH.md"
	mkdir -p docs/img
	for p in throughput p99 swapins memory; do
		[ -f "$OUT/$p.png" ] && cp "$OUT/$p.png" "docs/img/$PUBLISH-$p.png"
	done
	log "published bench/results/$PUBLISH.md and docs/img/$PUBLISH-*.png"
fi

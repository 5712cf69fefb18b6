#!/usr/bin/env bash
# bench/pressure.sh — the thesis's Tables 3.3 and 3.4: Redis under memory
# pressure, plain SET swapping (to disk, or through zswap) against TMEM.PUT
# storing the values in utmemd outside the guest.
#
# The guest is a memory cgroup (LIMIT_MIB) holding one redis-server (with
# utmem.so loaded, maxmemory 0). utmemd runs outside the cgroup, fresh for
# every run. A swap file on the root disk is on for the whole experiment
# (the guest must swap, not be OOM-killed). For every configuration — value
# size × share of the limit — three systems run back to back:
#   swap   SET, zswap off: Redis swaps to the disk file (thesis "SET")
#   zswap  SET, zswap on: compressed swap in RAM (thesis "Frontswap")
#   tmem   TMEM.PUT, zswap off: values go to utmemd (thesis "TMEMPUT")
# Each run: fill N keys (N × value size = the target share of the limit),
# then timed PUT intervals of INTERVAL s over random keys until two
# consecutive intervals differ by < TOL (converged) or MAX_INTERVALS, then
# GET intervals over random keys the same way (cap GET_MAX_INTERVALS). The
# converged figure is the mean of the last two intervals. Swap traffic
# (/proc/vmstat pswpout, zswpout), the cgroup's swap use and OOM kills are
# recorded per run. Host state is restored on exit, error or signal.
#
# Output: a directory under $UTMEM_RESULTS (per-run and per-interval TSV, a
# markdown report, gnuplot data, cgroup samples); the report and the plot
# data are copied to bench/results/pressure{.md,-size.dat,-level.dat}, and
# the plots to docs/img/pressure-size.png and docs/img/pressure-level.png
# (unless PUBLISH=0).
#
# Environment (defaults in brackets):
#   BENCH_BUILD [build]  LIMIT_MIB [256]  SWAP_MIB [4 × LIMIT_MIB]
#   LEVELS ["87.5 93.75 100 106.25 112.5"] (128K values)
#   SIZES ["128K 256K 512K 1M"] (at 100%)   SYSTEMS ["swap zswap tmem"]
#   INTERVAL [5] s  MIN_INTERVALS [2]  MAX_INTERVALS [5]  GET_MAX_INTERVALS [3]
#   TOL [0.05]  CONNS [1]  PIPELINE [1]  REPS [1]
#   ZSWAP_COMPRESSOR [host's]  ZSWAP_POOL_PERCENT [host's]
#   PAGE_CLUSTER [host's] vm.page-cluster  CG_SWAPPINESS [inherited]
#   SAMPLE [0.2] s between cgroup samples, 0 = none (see docs/evaluation.md:
#          without sampling this kernel OOM-kills the swapping guest)
#   UTMEM_TRANSPORT [unix] how utmem.so reaches utmemd: unix or ring
#   (shared-memory ring set up over the same socket)
#   PUBLISH [1] copy the results to bench/results/pressure.* and the plots
#          to docs/img/ (0: leave them only in OUT)
#   REPORT_FROM [unset] a result directory: measure nothing, rebuild its
#          report, data files and (PUBLISH=1) plots from its runs.tsv
#   OUT [$UTMEM_RESULTS/pressure-<UTC time>]; UTMEM_RESULTS [/var/tmp/utmem-results]:
#          raw data stays out of the tree (bench/results/README.md)
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
BENCH_BUILD=${BENCH_BUILD:-build}
LIMIT_MIB=${LIMIT_MIB:-256}
SWAP_MIB=${SWAP_MIB:-$((LIMIT_MIB * 4))}
LEVELS=${LEVELS:-"87.5 93.75 100 106.25 112.5"}
SIZES=${SIZES:-"128K 256K 512K 1M"}
SYSTEMS=${SYSTEMS:-"swap zswap tmem"}
INTERVAL=${INTERVAL:-5}
MIN_INTERVALS=${MIN_INTERVALS:-2}
MAX_INTERVALS=${MAX_INTERVALS:-5}
GET_MAX_INTERVALS=${GET_MAX_INTERVALS:-3}
TOL=${TOL:-0.05}
CONNS=${CONNS:-1}
PIPELINE=${PIPELINE:-1}
REPS=${REPS:-1}
ZSWAP_COMPRESSOR=${ZSWAP_COMPRESSOR:-}
ZSWAP_POOL_PERCENT=${ZSWAP_POOL_PERCENT:-}
PAGE_CLUSTER=${PAGE_CLUSTER-}
CG_SWAPPINESS=${CG_SWAPPINESS-}
SAMPLE=${SAMPLE:-0.2}
PUBLISH=${PUBLISH:-1}
UTMEM_TRANSPORT=${UTMEM_TRANSPORT:-unix}
UTMEM_RESULTS=${UTMEM_RESULTS:-/var/tmp/utmem-results}
OUT=${OUT:-$UTMEM_RESULTS/pressure-$(date -u +%Y%m%dT%H%M%SZ)}
MODULE=$PWD/$BENCH_BUILD/src/redis/utmem.so
UTMEMD=$BENCH_BUILD/src/daemon/utmemd
UTMEMCTL=$BENCH_BUILD/tools/utmemctl/utmemctl

# shellcheck source=bench/lib.sh
. bench/lib.sh
# shellcheck source=bench/hoststate.sh
. bench/hoststate.sh

# The whole program is one brace group, read completely before it starts:
# editing this file while an experiment runs cannot change what runs.
{

# setup_host: check the machine, create the guest cgroup and the swap file.
setup_host() {
	hoststate_require_root
	for f in "$MODULE" "$UTMEMD" "$BENCH_BUILD/tools/utmem-bench/utmem-bench"; do
		[ -e "$f" ] || { echo "pressure.sh: no $f (build it: ninja -C $BENCH_BUILD)" >&2; exit 1; }
	done
	command -v redis-server >/dev/null || { echo "pressure.sh: redis-server not installed" >&2; exit 1; }
	if grep -q '^/' <(tail -n +2 /proc/swaps); then
		echo "pressure.sh: swap is already on ($(tail -n +2 /proc/swaps | awk '{print $1}' | tr '\n' ' '));" \
			"the disk-swap baseline needs a host whose only swap is this script's" >&2
		exit 1
	fi

	# lib.sh's traps first, then ours over them: hoststate_restore calls
	# bench_stop_all, so one EXIT/INT/TERM/HUP path undoes everything.
	bench_init
	hoststate_init || exit 1
	ZSWAP_BEFORE=$(cat "$HS_ZSWAP_DIR/enabled" 2>/dev/null || echo none)
	mkdir -p "$OUT"
	RUNS=$OUT/runs.tsv
	IVS=$OUT/intervals.tsv
	printf 'sys\tsize\tlevel\trep\tkeys\tfill_s\tput_ops\tput_conv\tput_n\tget_ops\tget_conv\tget_n\tpswpout_mib\tpswpin_mib\tzswpout_mib\tcg_swap_mib\toom_kills\tredis_alive\tutmemd_charged_mib\tnote\n' >"$RUNS"
	printf 'sys\tsize\tlevel\trep\tphase\tinterval\tops_per_s\tp99_us\n' >"$IVS"
	# What REPORT_FROM needs to rebuild the report of this run.
	for v in LIMIT_MIB SWAP_MIB LEVELS SIZES SYSTEMS INTERVAL MIN_INTERVALS MAX_INTERVALS \
		GET_MAX_INTERVALS TOL CONNS PIPELINE REPS SAMPLE UTMEM_TRANSPORT BENCH_BUILD; do
		printf '%s=%q\n' "$v" "${!v}"
	done >"$OUT/config.env"

	hoststate_cgroup_create $((LIMIT_MIB << 20)) || exit 1
	hoststate_swap_on "$SWAP_MIB" || exit 1
	if [ -n "$PAGE_CLUSTER" ]; then hoststate_sysctl vm.page-cluster "$PAGE_CLUSTER" || exit 1; fi
	if [ -n "$CG_SWAPPINESS" ]; then hoststate_cgroup_set memory.swappiness "$CG_SWAPPINESS" || exit 1; fi

}

LOG=$OUT/log.txt
log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$LOG" >&2; }

# ub SYS ARGS...: utmem-bench against our redis with SYS's commands. Its
# JSON line is left in UB_LINE; returns its status. It runs in the background
# and the shell waits for it, so a signal reaches our traps at once instead
# of after the (possibly long) run; restore stops it like every tracked pid.
ub() {
	local sys=$1 pid rc
	shift
	local -a cmd=("$BENCH_UTMEM_BENCH" --target redis --addr "unix:$P_REDIS_SOCK"
		--connections "$CONNS" --pipeline "$PIPELINE" --json)
	[ "$sys" = tmem ] && cmd+=(--put-cmd TMEM.PUT --get-cmd TMEM.GET)
	"${cmd[@]}" "$@" >"$BENCH_TMP/ub.out" 2>>"$LOG" &
	pid=$!
	hoststate_track_pid "$pid"
	wait "$pid"
	rc=$?
	hoststate_untrack_pid "$pid"
	UB_LINE=$(cat "$BENCH_TMP/ub.out")
	return $rc
}

# converge SYS OP SIZE LEVEL REP KEYS MAX: timed intervals until two in a
# row are within TOL. Sets CV_OPS (mean of the last two intervals, "-" when
# the run failed), CV_CONV (1 converged, 0 stopped at MAX) and CV_N.
converge() {
	local sys=$1 op=$2 size=$3 level=$4 rep=$5 keys=$6 max=$7
	local i prev="" cur
	CV_OPS="-"; CV_CONV=0; CV_N=0
	for ((i = 1; i <= max; i++)); do
		CV_N=$i
		if ! ub "$sys" --op "$op" --no-preload --value-size "$size" --keys "$keys" \
			--duration "$INTERVAL" --warmup 0 --seed "$((rep * 1000 + i))" \
			--max-time $((INTERVAL * 4 + 60)); then
			log "  $sys $op interval $i failed: $UB_LINE"
			CV_OPS="-"
			return 1
		fi
		cur=$(bench_json_field "$UB_LINE" ops_per_s)
		if [ "$(bench_json_field "$UB_LINE" errors)" != 0 ]; then
			log "  $sys $op: errors: $(bench_json_field "$UB_LINE" first_error)"
			CV_OPS="-"
			return 1
		fi
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sys" "$size" "$level" "$rep" "$op" "$i" \
			"$cur" "$(bench_json_field "$UB_LINE" p99_us)" >>"$IVS"
		log "  $sys $op interval $i: $cur ops/s"
		if [ -z "$prev" ]; then
			CV_OPS=$cur
			prev=$cur
			continue
		fi
		CV_OPS=$(awk -v a="$prev" -v b="$cur" 'BEGIN { printf "%.1f", (a + b) / 2 }')
		if ((i >= MIN_INTERVALS)) && awk -v a="$prev" -v b="$cur" -v t="$TOL" \
			'BEGIN { m = a > b ? a : b; d = a - b; if (d < 0) d = -d;
			         exit !(m > 0 && d / m < t) }'; then
			CV_CONV=1
			return 0
		fi
		prev=$cur
	done
	return 0
}

# start_servers SYS RUNID: a fresh utmemd outside the cgroup and a
# redis-server inside it. Sets P_UTMEMD_PID P_UTMEMD_RUN P_REDIS_PID
# P_REDIS_SOCK.
start_servers() {
	local sys=$1 id=$2 dir=$BENCH_TMP/$2
	mkdir -p "$dir/u"
	"$UTMEMD" --run-dir "$dir/u" >"$dir/utmemd.log" 2>&1 &
	P_UTMEMD_PID=$!
	P_UTMEMD_RUN=$dir/u
	hoststate_track_pid "$P_UTMEMD_PID"
	bench_wait_socket "$dir/u/utmemd.sock" "$P_UTMEMD_PID" 10 ||
		{ log "utmemd did not start: $(tail -n 3 "$dir/utmemd.log")"; return 1; }
	P_REDIS_SOCK=$dir/redis.sock
	hoststate_cgroup_exec redis-server --port 0 --unixsocket "$P_REDIS_SOCK" \
		--save '' --appendonly no --daemonize no --dir "$dir" --maxmemory 0 \
		--loadmodule "$MODULE" "addr=$UTMEM_TRANSPORT:$dir/u/utmemd.sock" "pool=p$id" \
		>"$dir/redis.log" 2>&1
	P_REDIS_PID=$HS_LAST_PID
	bench_wait_socket "$P_REDIS_SOCK" "$P_REDIS_PID" 10 ||
		{ log "redis-server did not start: $(tail -n 3 "$dir/redis.log")"; return 1; }
}

stop_servers() {
	hoststate_stop_pid "$P_REDIS_PID"
	hoststate_stop_pid "$P_UTMEMD_PID"
}

mib() { awk -v p="$1" 'BEGIN { printf "%.1f", p / 1048576 }'; }

# one_run SYS SIZE LEVEL REP: fill, converge PUT, converge GET, record.
one_run() {
	local sys=$1 size=$2 level=$3 rep=$4
	local bytes keys id t0 t1 fill_s put get note=""
	local sw0 si0 zs0 oom0 sw1 si1 zs1 oom1 cg alive charged="-"
	bytes=$(bench_size_bytes "$size") || bench_die "bad size $size"
	keys=$(awk -v l="$level" -v m="$LIMIT_MIB" -v b="$bytes" \
		'BEGIN { printf "%d", l / 100 * m * 1048576 / b }')
	id=$sys-$size-$level-$rep
	log "run $id: $keys keys of $size = $level% of ${LIMIT_MIB} MiB"
	if [ "$sys" = zswap ]; then
		hoststate_zswap ON "$ZSWAP_COMPRESSOR" "$ZSWAP_POOL_PERCENT" || return 1
	else
		hoststate_zswap OFF || return 1
	fi
	start_servers "$sys" "$id" || { stop_servers; return 1; }
	read -r _ _ oom0 < <(hoststate_cgroup_stat)
	if [ "$SAMPLE" != 0 ]; then
		hoststate_cgroup_sampler "$OUT/samples-$id.txt" "$SAMPLE" || return 1
	fi
	sw0=$(hoststate_vmstat pswpout); si0=$(hoststate_vmstat pswpin); zs0=$(hoststate_vmstat zswpout)

	t0=$(date +%s.%N)
	# --op get preloads every key once (keys 0..N-1, through the PUT command)
	# before its timed phase; one timed request is all we need of that.
	if ub "$sys" --op get --value-size "$size" --keys "$keys" --requests "$CONNS" \
		--warmup 0 --max-time 900 &&
		[ "$(bench_json_field "$UB_LINE" errors)" = 0 ]; then
		t1=$(date +%s.%N)
		fill_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
		log "  filled in $fill_s s"
		converge "$sys" put "$size" "$level" "$rep" "$keys" "$MAX_INTERVALS"
		put="$CV_OPS $CV_CONV $CV_N"
		converge "$sys" get "$size" "$level" "$rep" "$keys" "$GET_MAX_INTERVALS"
		get="$CV_OPS $CV_CONV $CV_N"
	else
		fill_s="-"; put="- 0 0"; get="- 0 0"; note="fill failed"
		log "  fill failed: $UB_LINE"
	fi
	if kill -0 "$P_REDIS_PID" 2>/dev/null; then alive=yes; else alive=no; note="$note redis died"; fi
	if [ "$sys" = tmem ] && [ -x "$UTMEMCTL" ]; then
		charged=$("$UTMEMCTL" --run-dir "$P_UTMEMD_RUN" --json stats 2>/dev/null |
			sed -n 's/^{"capacity":[0-9]*,"charged":\([0-9]*\).*/\1/p')
		[ -n "$charged" ] && charged=$(mib "$charged") || charged="-"
	fi
	read -r _ cg oom1 < <(hoststate_cgroup_stat)
	sw1=$(hoststate_vmstat pswpout); si1=$(hoststate_vmstat pswpin); zs1=$(hoststate_vmstat zswpout)
	stop_servers
	[ "$SAMPLE" != 0 ] && hoststate_stop_pid "$HS_SAMPLER_PID"
	# shellcheck disable=SC2086
	set -- $put $get
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		"$sys" "$size" "$level" "$rep" "$keys" "$fill_s" "$1" "$2" "$3" "$4" "$5" "$6" \
		"$(mib $(((sw1 - sw0) * 4096)))" "$(mib $(((si1 - si0) * 4096)))" \
		"$(mib $(((zs1 - zs0) * 4096)))" "$(mib "$cg")" "$((oom1 - oom0))" "$alive" \
		"$charged" "${note:-ok}" >>"$RUNS"
	log "  $sys: PUT $1 ops/s (converged=$2 after $3), GET $4 ops/s (converged=$5 after $6)"
}

# run_all: every configuration × system × repetition, then restore the host.
run_all() {
	# The configurations: 128K at every level, then the other sizes at 100%
	# (128K at 100% is shared by both tables). Systems rotate their order per
	# configuration so that none always runs first on a cold or warm host.
	CONFIGS=()
	for l in $LEVELS; do CONFIGS+=("128K:$l"); done
	for s in $SIZES; do
		[ "$s" = 128K ] && [[ " $LEVELS " == *" 100 "* ]] && continue
		CONFIGS+=("$s:100")
	done
	read -ra SYS_ARR <<<"$SYSTEMS"
	T_START=$(date +%s)
	log "pressure.sh: ${#CONFIGS[@]} configurations × ${#SYS_ARR[@]} systems × $REPS reps, cgroup v$HS_CG_VERSION limit ${LIMIT_MIB} MiB, swap ${SWAP_MIB} MiB, zswap was $ZSWAP_BEFORE"
	k=0
	for ((rep = 1; rep <= REPS; rep++)); do
		for cfg in "${CONFIGS[@]}"; do
			size=${cfg%%:*}
			level=${cfg#*:}
			n=${#SYS_ARR[@]}
			for ((j = 0; j < n; j++)); do
				sys=${SYS_ARR[$(((j + k) % n))]}
				one_run "$sys" "$size" "$level" "$rep" || log "run $sys $size $level failed"
			done
			k=$((k + 1))
		done
	done
	T_END=$(date +%s)

	hoststate_restore
	if hoststate_verify_clean "$ZSWAP_BEFORE"; then
		log "host state restored: no swap file, no cgroup, zswap enabled=$(cat "$HS_ZSWAP_DIR/enabled")"
	else
		log "WARNING: host state not fully restored (see above)"
	fi

	echo "$T_START $T_END" >"$OUT/wall.txt"
}

# ---- report -----------------------------------------------------------------
# cell SYS SIZE LEVEL COL: median over reps of column COL (1-based) of runs.tsv;
# "-" when no run produced a number.
cell() {
	awk -F'\t' -v s="$1" -v z="$2" -v l="$3" -v c="$4" \
		'NR > 1 && $1 == s && $2 == z && $3 == l && $c != "-" { print $c }' "$RUNS" |
		bench_median | sed 's/^nan$/-/'
}
# rcell A B SIZE LEVEL COL: median over repetitions of A/B, each ratio taken
# within one repetition (the systems ran back to back), "-" when none.
rcell() {
	awk -F'\t' -v a="$1" -v b="$2" -v z="$3" -v l="$4" -v c="$5" '
		NR > 1 && $2 == z && $3 == l && $c != "-" { v[$1, $4] = $c; r[$4] = 1 }
		END { for (k in r) if ((a, k) in v && (b, k) in v && v[b, k] > 0)
			print v[a, k] / v[b, k] }' "$RUNS" |
		bench_median | awk '{ if ($1 == "nan") print "-"; else printf "%.2f\n", $1 }'
}
r0() { awk -v a="$1" 'BEGIN { if (a == "-") print "-"; else printf "%.0f", a }'; }

# table TITLE KEYCOL KEYS FIXED: one table (PUT and GET) over sizes or levels.
table() {
	local title=$1 what=$2 col=$3 key size level tp zp sp tg zg sg
	echo "#### $title"
	echo
	echo "| $what | TMEM.PUT | SET zswap | SET swap | TMEM/swap | TMEM/zswap | TMEM.GET | GET zswap | GET swap | TMEM.GET/swap | TMEM.GET/zswap |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for key in $col; do
		if [ "$what" = "value size" ]; then size=$key; level=100; else size=128K; level=$key; fi
		tp=$(cell tmem "$size" "$level" 7); zp=$(cell zswap "$size" "$level" 7); sp=$(cell swap "$size" "$level" 7)
		tg=$(cell tmem "$size" "$level" 10); zg=$(cell zswap "$size" "$level" 10); sg=$(cell swap "$size" "$level" 10)
		echo "| $key$([ "$what" = "value size" ] || echo %) | $(r0 "$tp") | $(r0 "$zp") | $(r0 "$sp") | $(rcell tmem swap "$size" "$level" 7) | $(rcell tmem zswap "$size" "$level" 7) | $(r0 "$tg") | $(r0 "$zg") | $(r0 "$sg") | $(rcell tmem swap "$size" "$level" 10) | $(rcell tmem zswap "$size" "$level" 10) |"
	done
	echo
}

# report: tables, plot data and plots from $OUT/runs.tsv.
report() {
	SIZE_LIST="128K"
	for s in $SIZES; do [ "$s" = 128K ] || SIZE_LIST="$SIZE_LIST $s"; done
	MD=$OUT/pressure.md
	{
		echo "### Memory pressure (thesis Tables 3.3 and 3.4)"
		echo
		bench_machine
		echo "- guest: memory cgroup v$HS_CG_VERSION, limit ${LIMIT_MIB} MiB, holding redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') (maxmemory 0, utmem.so loaded, reaching utmemd over $UTMEM_TRANSPORT:); utmemd outside it (default config, fresh per run)"
		echo "- swap file ${SWAP_MIB} MiB on the root disk ($(findmnt -no SOURCE,FSTYPE / | tr -s ' ')), zswap compressor $(cat "$HS_ZSWAP_DIR/compressor" 2>/dev/null), max_pool_percent $(cat "$HS_ZSWAP_DIR/max_pool_percent" 2>/dev/null) (host values unless set), on only for the zswap system"
		echo "- client utmem-bench (RESP) outside the cgroup, $CONNS connection(s), pipeline $PIPELINE, incompressible values; PUT then GET over random keys of the filled keyspace"
		echo "- ops/s: median over repetitions; ratios: median of the per-repetition ratios (systems of one repetition ran back to back)"
	echo "- convergence: ${INTERVAL} s intervals until two in a row differ by < $(awk -v t="$TOL" 'BEGIN{print t*100}')% (at least $MIN_INTERVALS, at most $MAX_INTERVALS for PUT, $GET_MAX_INTERVALS for GET); figure = mean of the last two intervals; $REPS repetition(s), median"
		echo "- wall time $([ "$T_END" -gt 0 ] && echo "$((T_END - T_START)) s" || echo unknown); command: \`BENCH_BUILD=$BENCH_BUILD LIMIT_MIB=$LIMIT_MIB SWAP_MIB=$SWAP_MIB LEVELS=\"$LEVELS\" SIZES=\"$SIZES\" SYSTEMS=\"$SYSTEMS\" INTERVAL=$INTERVAL MAX_INTERVALS=$MAX_INTERVALS GET_MAX_INTERVALS=$GET_MAX_INTERVALS REPS=$REPS UTMEM_TRANSPORT=$UTMEM_TRANSPORT bench/pressure.sh\`"
		echo
		table "Table 3.3 — 100% of the limit, ops/s by value size" "value size" "$SIZE_LIST"
		table "Table 3.4 — 128 KiB values, ops/s by share of the limit" "data / limit" "$LEVELS"
		echo "#### Every run"
		echo
		echo "fill_s = time to write the keyspace; conv = converged (1) or stopped at the cap (0) after n intervals; swap columns in MiB over the whole run (pswp* host-wide /proc/vmstat; cg_swap = the cgroup's swap at the end); utmemd_charged = bytes utmemd charged the tenant."
		echo
		echo "| $(head -n1 "$RUNS" | sed 's/\t/ | /g') |"
		echo "|$(head -n1 "$RUNS" | awk -F'\t' '{ for (i = 1; i <= NF; i++) printf "---|" }')"
		tail -n +2 "$RUNS" | sed 's/\t/ | /g; s/^/| /; s/$/ |/'
	} >"$MD"

	# Data for the plots: one row per size (KiB) / level; columns PUT tmem zswap
	# swap, GET tmem zswap swap.
	{
		echo "# size_kib put_tmem put_zswap put_swap get_tmem get_zswap get_swap"
		for s in $SIZE_LIST; do
			printf '%s' "$(($(bench_size_bytes "$s") >> 10))"
			for c in 7 10; do for y in tmem zswap swap; do printf ' %s' "$(cell "$y" "$s" 100 "$c")"; done; done
			echo
		done
	} >"$OUT/pressure-size.dat"
	{
		echo "# level_pct put_tmem put_zswap put_swap get_tmem get_zswap get_swap"
		for l in $LEVELS; do
			printf '%s' "$l"
			for c in 7 10; do for y in tmem zswap swap; do printf ' %s' "$(cell "$y" 128K "$l" "$c")"; done; done
			echo
		done
	} >"$OUT/pressure-level.dat"

	cat "$MD"
	[ "$PUBLISH" = 1 ] || return 0
	for f in pressure.md pressure-size.dat pressure-level.dat; do
		cp "$OUT/$f" "bench/results/$f"
	done
	if command -v gnuplot >/dev/null; then
		mkdir -p docs/img
		gnuplot -e "datafile='$OUT/pressure-size.dat'; outfile='docs/img/pressure-size.png'; limit='$LIMIT_MIB'" bench/plot/pressure-size.gp &&
			gnuplot -e "datafile='$OUT/pressure-level.dat'; outfile='docs/img/pressure-level.png'; limit='$LIMIT_MIB'" bench/plot/pressure-level.gp ||
			log "gnuplot failed; the tables stand"
	fi

}

if [ -n "${REPORT_FROM-}" ]; then
	# Rebuild the report of an earlier (possibly interrupted) run.
	OUT=${REPORT_FROM%/}
	RUNS=$OUT/runs.tsv
	IVS=$OUT/intervals.tsv
	LOG=$OUT/log.txt
	[ -f "$RUNS" ] || { echo "pressure.sh: no $RUNS" >&2; exit 1; }
	# shellcheck disable=SC1091
	[ -f "$OUT/config.env" ] && . "$OUT/config.env"
	ZSWAP_BEFORE=$(cat "$HS_ZSWAP_DIR/enabled" 2>/dev/null || echo none)
	read -r T_START T_END 2>/dev/null <"$OUT/wall.txt" || { T_START=0; T_END=0; }
	hoststate_init || exit 1
	trap - EXIT INT TERM HUP
else
	setup_host
	run_all
fi
report
exit 0
}

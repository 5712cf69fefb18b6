# shellcheck shell=bash
# bench/hoststate.sh — host state for the memory-pressure experiments.
#
# A sourced library (bash). It changes host-wide state the way the thesis's
# guests needed it — a memory cgroup playing the guest's RAM, a swap file on
# the root disk, zswap on or off — and puts everything back through one
# function, hoststate_restore, which is installed on EXIT INT TERM HUP as soon
# as the first change is made, so an interrupted experiment leaves the host as
# it found it. It never touches state it did not create: it swapoffs only its
# own swap file, removes only its own cgroup, kills only pids it recorded or
# found inside its own cgroup, and writes zswap parameters back to the exact
# values read before the first change.
#
# Public functions (all return 0 or non-zero with a message on stderr):
#   hoststate_require_root            exit 2 with a message unless uid 0
#   hoststate_init                    detect cgroup version, install traps
#   hoststate_cgroup_create BYTES     create utmem-bench-$$ with a memory limit
#   hoststate_cgroup_add PID          move a process into it
#   hoststate_cgroup_exec CMD...      run CMD in the background inside it
#   hoststate_cgroup_child NAME [BYTES]  a child cgroup under ours (its
#                                     path in HS_LAST_CHILD); the parent's
#                                     limit caps the children's sum
#   hoststate_cgroup_exec_in DIR CMD...  run CMD in the background in DIR
#   hoststate_cgroup_stat             print "usage swap oom_kill" (bytes/count)
#   hoststate_cgroup_sampler FILE S   sample that every S seconds into FILE
#   hoststate_swap_on MIB             create and enable a swap file
#   hoststate_zswap ON|OFF [COMPRESSOR] [MAX_POOL_PERCENT]
#   hoststate_cgroup_set FILE VALUE   write a control file of our cgroup
#   hoststate_sysctl NAME VALUE       set a sysctl, restored on exit
#   hoststate_track_pid PID           kill PID on restore
#   hoststate_stop_pid PID            stop a tracked PID now and forget it
#   hoststate_untrack_pid PID         forget a tracked PID that has exited
#   hoststate_vmstat NAME             print one counter of /proc/vmstat
#   hoststate_restore                 undo everything (idempotent)
#   hoststate_verify_clean            check nothing of ours is left

HS_ZSWAP_DIR=${HS_ZSWAP_DIR:-/sys/module/zswap/parameters}
HS_CG_VERSION=""        # 1 or 2
HS_CG_PATH=""           # our cgroup directory, empty when none
HS_CG_CHILDREN=()       # child cgroups of ours, removed before it
HS_SWAPFILE=""          # our swap file, empty when none
HS_SWAP_ACTIVE=0        # 1 while our swap file is swapon'ed
HS_ZSWAP_SAVED=0        # 1 once HS_ZSWAP_ORIG_* hold the original values
HS_ZSWAP_PARAMS="enabled compressor max_pool_percent"
declare -A HS_ZSWAP_ORIG=()
declare -A HS_SYSCTL_ORIG=()   # /proc/sys paths we changed -> original value
HS_PIDS=()              # pids we started and must stop
HS_RESTORED=0
HS_TRAPS=0

hs_log() { printf '[hoststate] %s\n' "$*" >&2; }

# hoststate_require_root: the experiments write /sys and call swapon; say so
# plainly instead of failing halfway through with EACCES.
hoststate_require_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "error: $(basename "$0") changes cgroups, swap and zswap; run it as root" >&2
		exit 2
	fi
}

# hs__on_signal SIG: restore, then exit with the conventional 128+signo so
# the caller sees the run was interrupted, not successful.
hs__on_signal() {
	local sig=$1 code=1
	case $sig in INT) code=130 ;; TERM) code=143 ;; HUP) code=129 ;; esac
	# In a background job not yet exec'd (it inherits the traps): just go.
	[ "$BASHPID" = "$$" ] || exit "$code"
	hs_log "caught SIG$sig, restoring host state"
	hoststate_restore
	trap - EXIT
	exit "$code"
}

# hoststate_init: detect the memory cgroup flavour and install the traps.
# Returns 1 when this kernel offers no memory cgroup at all.
hoststate_init() {
	if [ -f /sys/fs/cgroup/cgroup.controllers ] &&
		grep -qw memory /sys/fs/cgroup/cgroup.controllers; then
		HS_CG_VERSION=2
		HS_CG_ROOT=/sys/fs/cgroup
	elif [ -f /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
		HS_CG_VERSION=1
		HS_CG_ROOT=/sys/fs/cgroup/memory
	else
		hs_log "no memory cgroup (neither v2 memory controller nor v1 /sys/fs/cgroup/memory)"
		return 1
	fi
	if [ "$HS_TRAPS" -eq 0 ]; then
		trap 'hoststate_restore' EXIT
		trap 'hs__on_signal INT' INT
		trap 'hs__on_signal TERM' TERM
		trap 'hs__on_signal HUP' HUP
		HS_TRAPS=1
	fi
	HS_RESTORED=0
	return 0
}

# hoststate_cgroup_create BYTES: create utmem-bench-<shell pid> at the root
# of the memory hierarchy with a hard limit of BYTES and unlimited swap, so
# the guest swaps instead of being OOM-killed (the thesis's guests had swap).
hoststate_cgroup_create() {
	local bytes=$1
	[ -n "$HS_CG_VERSION" ] || hoststate_init || return 1
	[ -z "$HS_CG_PATH" ] || { hs_log "cgroup $HS_CG_PATH already exists"; return 1; }
	HS_RESTORED=0
	HS_CG_PATH=$HS_CG_ROOT/utmem-bench-$$
	if ! mkdir "$HS_CG_PATH"; then
		hs_log "cannot create $HS_CG_PATH"
		HS_CG_PATH=""
		return 1
	fi
	if [ "$HS_CG_VERSION" = 2 ]; then
		echo "$bytes" >"$HS_CG_PATH/memory.max" &&
			echo max >"$HS_CG_PATH/memory.swap.max"
	else
		echo "$bytes" >"$HS_CG_PATH/memory.limit_in_bytes"
	fi || { hs_log "cannot set the limit of $HS_CG_PATH"; return 1; }
	hs_log "cgroup v$HS_CG_VERSION $HS_CG_PATH limit $bytes bytes"
}

# hoststate_cgroup_child NAME [BYTES]: create NAME under our cgroup, with a
# limit of BYTES when given (v1 is hierarchical here: memory.use_hierarchy
# is 1, so our own limit caps the sum of the children). Sets HS_LAST_CHILD.
hoststate_cgroup_child() {
	local dir=$HS_CG_PATH/$1
	[ -n "$HS_CG_PATH" ] || { hs_log "no cgroup created"; return 1; }
	mkdir "$dir" || { hs_log "cannot create $dir"; return 1; }
	HS_CG_CHILDREN+=("$dir")
	if [ -n "${2:-}" ]; then
		if [ "$HS_CG_VERSION" = 2 ]; then
			echo "$2" >"$dir/memory.max" && echo max >"$dir/memory.swap.max"
		else
			echo "$2" >"$dir/memory.limit_in_bytes"
		fi || { hs_log "cannot set the limit of $dir"; return 1; }
	fi
	HS_LAST_CHILD=$dir
}

# hoststate_cgroup_exec_in DIR CMD...: as hoststate_cgroup_exec, in DIR
# (our cgroup or one of its children).
hoststate_cgroup_exec_in() {
	local procs=$1/cgroup.procs
	shift
	( echo "$BASHPID" >"$procs" && exec "$@" ) &
	HS_LAST_PID=$!
	hoststate_track_pid "$HS_LAST_PID"
}

# hoststate_cgroup_add PID: move PID (all its threads) into our cgroup.
hoststate_cgroup_add() {
	[ -n "$HS_CG_PATH" ] || { hs_log "no cgroup created"; return 1; }
	echo "$1" >"$HS_CG_PATH/cgroup.procs"
}

# hoststate_cgroup_exec CMD...: start CMD in the background already inside
# the cgroup (a subshell moves itself in, then execs), so none of its memory
# is ever charged elsewhere. Sets HS_LAST_PID and tracks it for restore.
hoststate_cgroup_exec() {
	[ -n "$HS_CG_PATH" ] || { hs_log "no cgroup created"; return 1; }
	local procs=$HS_CG_PATH/cgroup.procs
	( echo "$BASHPID" >"$procs" && exec "$@" ) &
	HS_LAST_PID=$!
	hoststate_track_pid "$HS_LAST_PID"
}

# hoststate_cgroup_stat: print "<usage bytes> <swap bytes> <oom kills>" for
# our cgroup. v1 reports swap as memory.stat "swap" (needs swap accounting,
# which this kernel has: memory.memsw.* exist); v2 as memory.swap.current.
hoststate_cgroup_stat() {
	local usage swap oom
	[ -n "$HS_CG_PATH" ] || { echo "0 0 0"; return 1; }
	if [ "$HS_CG_VERSION" = 2 ]; then
		usage=$(cat "$HS_CG_PATH/memory.current")
		swap=$(cat "$HS_CG_PATH/memory.swap.current" 2>/dev/null || echo 0)
		oom=$(awk '$1=="oom_kill"{print $2}' "$HS_CG_PATH/memory.events")
	else
		usage=$(cat "$HS_CG_PATH/memory.usage_in_bytes")
		swap=$(awk '$1=="swap"{print $2}' "$HS_CG_PATH/memory.stat")
		oom=$(awk '$1=="oom_kill"{print $2}' "$HS_CG_PATH/memory.oom_control")
	fi
	echo "${usage:-0} ${swap:-0} ${oom:-0}"
}

# hoststate_cgroup_sampler FILE PERIOD: in the background, append a line
# "<unix time> <usage> <swap> <oom_kill>" for our cgroup to FILE every PERIOD
# seconds until stopped (hoststate_stop_pid "$HS_SAMPLER_PID"). Reading the
# memory statistics also makes the kernel flush its per-cgroup counters,
# which reclaim consults; see docs/evaluation.md for why that matters here.
hoststate_cgroup_sampler() {
	local file=$1 period=$2
	[ -n "$HS_CG_PATH" ] || { hs_log "no cgroup created"; return 1; }
	(
		trap - EXIT INT TERM HUP
		while [ -d "$HS_CG_PATH" ]; do
			echo "$(date +%s.%N) $(hoststate_cgroup_stat)" >>"$file"
			sleep "$period"
		done
	) &
	HS_SAMPLER_PID=$!
	hoststate_track_pid "$HS_SAMPLER_PID"
}

# hoststate_vmstat NAME: one host-wide counter (pswpin, pswpout, zswpout...).
hoststate_vmstat() {
	awk -v n="$1" '$1==n{print $2; f=1} END{if(!f) print 0}' /proc/vmstat
}

# hoststate_swap_on MIB: a swap file of MIB MiB on the root disk (the disk
# the thesis's "SET" baseline swapped to). fallocate is fast but some file
# systems give swapon a file with holes, so fall back to writing zeros.
hoststate_swap_on() {
	local mib=$1 dir=${HS_SWAPDIR:-/var/tmp}
	[ -n "$HS_CG_VERSION" ] || hoststate_init || return 1
	[ -z "$HS_SWAPFILE" ] || { hs_log "swap file $HS_SWAPFILE already exists"; return 1; }
	HS_RESTORED=0
	HS_SWAPFILE=$dir/utmem-bench-swap.$$
	if ! (umask 077 && fallocate -l "${mib}M" "$HS_SWAPFILE" 2>/dev/null); then
		rm -f "$HS_SWAPFILE"
		(umask 077 && dd if=/dev/zero of="$HS_SWAPFILE" bs=1M count="$mib" status=none) ||
			{ hs_log "cannot create $HS_SWAPFILE"; return 1; }
	fi
	chmod 600 "$HS_SWAPFILE"
	mkswap -q "$HS_SWAPFILE" >/dev/null || { hs_log "mkswap $HS_SWAPFILE failed"; return 1; }
	if ! swapon "$HS_SWAPFILE" 2>/dev/null; then
		hs_log "swapon of a fallocated file failed, writing it out with dd"
		dd if=/dev/zero of="$HS_SWAPFILE" bs=1M count="$mib" status=none &&
			mkswap -q "$HS_SWAPFILE" >/dev/null && swapon "$HS_SWAPFILE" ||
			{ hs_log "swapon $HS_SWAPFILE failed"; return 1; }
	fi
	HS_SWAP_ACTIVE=1
	hs_log "swap file $HS_SWAPFILE ${mib} MiB on"
}

# hs__zswap_save: read the original zswap parameters once, before the first
# write, so restore can put back exactly what the host had.
hs__zswap_save() {
	local p
	[ "$HS_ZSWAP_SAVED" -eq 1 ] && return 0
	[ -d "$HS_ZSWAP_DIR" ] || { hs_log "this kernel has no zswap ($HS_ZSWAP_DIR)"; return 1; }
	for p in $HS_ZSWAP_PARAMS; do
		[ -r "$HS_ZSWAP_DIR/$p" ] && HS_ZSWAP_ORIG[$p]=$(cat "$HS_ZSWAP_DIR/$p")
	done
	HS_ZSWAP_SAVED=1
}

# hoststate_zswap ON|OFF [COMPRESSOR] [MAX_POOL_PERCENT]: switch zswap, the
# in-kernel heir of frontswap + tmem's compressing backend.
hoststate_zswap() {
	local want=$1 comp=${2:-} pool=${3:-}
	[ -n "$HS_CG_VERSION" ] || hoststate_init || return 1
	hs__zswap_save || return 1
	HS_RESTORED=0
	if [ -n "$comp" ] && [ "$(cat "$HS_ZSWAP_DIR/compressor")" != "$comp" ]; then
		echo "$comp" >"$HS_ZSWAP_DIR/compressor" ||
			{ hs_log "zswap compressor $comp refused"; return 1; }
	fi
	if [ -n "$pool" ]; then
		echo "$pool" >"$HS_ZSWAP_DIR/max_pool_percent" || return 1
	fi
	case $want in
	ON | on | Y | 1) echo Y >"$HS_ZSWAP_DIR/enabled" ;;
	OFF | off | N | 0) echo N >"$HS_ZSWAP_DIR/enabled" ;;
	*) hs_log "hoststate_zswap: ON or OFF, not '$want'"; return 1 ;;
	esac
}

# hoststate_sysctl NAME VALUE: set /proc/sys/NAME (dots or slashes), saving
# the original value the first time so restore writes it back.
hoststate_sysctl() {
	local path=/proc/sys/${1//./\/}
	[ -w "$path" ] || { hs_log "no sysctl $1"; return 1; }
	HS_RESTORED=0
	[ -n "${HS_SYSCTL_ORIG[$path]+x}" ] || HS_SYSCTL_ORIG[$path]=$(cat "$path")
	echo "$2" >"$path"
}

# hs__sysctl_restore: write back every sysctl we changed.
hs__sysctl_restore() {
	local path
	for path in "${!HS_SYSCTL_ORIG[@]}"; do
		echo "${HS_SYSCTL_ORIG[$path]}" >"$path" ||
			hs_log "could not restore $path=${HS_SYSCTL_ORIG[$path]}"
	done
	HS_SYSCTL_ORIG=()
}

# hoststate_cgroup_set FILE VALUE: write one of our cgroup's control files
# (e.g. memory.swappiness); it vanishes with the cgroup, nothing to restore.
hoststate_cgroup_set() {
	[ -n "$HS_CG_PATH" ] || { hs_log "no cgroup created"; return 1; }
	echo "$2" >"$HS_CG_PATH/$1"
}

# hoststate_track_pid PID: remember a process we started; restore stops it.
hoststate_track_pid() {
	HS_RESTORED=0
	HS_PIDS+=("$1")
}

# hs__stop_pid PID: TERM, wait up to 5 s, then KILL. Only for pids we know.
hs__stop_pid() {
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	sleep 0.1
}

# hoststate_untrack_pid PID: forget a process that has exited, so a later
# restore can never signal an unrelated process that reused the pid.
hoststate_untrack_pid() {
	local pid=$1 i keep=()
	for i in "${HS_PIDS[@]}"; do [ "$i" = "$pid" ] || keep+=("$i"); done
	HS_PIDS=("${keep[@]}")
}

# hoststate_stop_pid PID: stop a tracked process now and forget it.
hoststate_stop_pid() {
	hs__stop_pid "$1"
	wait "$1" 2>/dev/null || true
	hoststate_untrack_pid "$1"
}

# hs__cgroup_remove: kill every process still inside our cgroup by pid (they
# are ours by construction), then remove the directory, retrying while the
# kernel finishes tearing them down.
hs__cgroup_remove() {
	local pid i child
	[ -n "$HS_CG_PATH" ] && [ -d "$HS_CG_PATH" ] || { HS_CG_PATH=""; return 0; }
	for child in "${HS_CG_CHILDREN[@]}"; do
		[ -d "$child" ] || continue
		for i in $(seq 50); do
			local left=0
			while read -r pid; do
				[ -n "$pid" ] || continue
				left=1
				kill -KILL "$pid" 2>/dev/null
			done <"$child/cgroup.procs"
			[ "$left" -eq 0 ] && rmdir "$child" 2>/dev/null && break
			sleep 0.1
		done
		[ -d "$child" ] && hs_log "could not remove $child"
	done
	HS_CG_CHILDREN=()
	for i in $(seq 50); do
		local left=0
		while read -r pid; do
			[ -n "$pid" ] || continue
			left=1
			kill -KILL "$pid" 2>/dev/null
		done <"$HS_CG_PATH/cgroup.procs"
		[ "$left" -eq 0 ] && rmdir "$HS_CG_PATH" 2>/dev/null && break
		sleep 0.1
	done
	if [ -d "$HS_CG_PATH" ]; then
		hs_log "could not remove $HS_CG_PATH"
		return 1
	fi
	HS_CG_PATH=""
}

# hs__swap_remove: swapoff our file (after the processes holding swapped
# pages are gone, so it is quick) and delete it.
hs__swap_remove() {
	[ -n "$HS_SWAPFILE" ] || return 0
	if [ "$HS_SWAP_ACTIVE" -eq 1 ] || grep -q "^$HS_SWAPFILE " /proc/swaps; then
		swapoff "$HS_SWAPFILE" || { hs_log "swapoff $HS_SWAPFILE failed"; return 1; }
		HS_SWAP_ACTIVE=0
	fi
	rm -f "$HS_SWAPFILE"
	HS_SWAPFILE=""
}

# hs__zswap_restore: write back every saved parameter that differs now.
# compressor before enabled, so zswap never runs on a compressor it did not have.
hs__zswap_restore() {
	local p
	[ "$HS_ZSWAP_SAVED" -eq 1 ] || return 0
	for p in compressor max_pool_percent enabled; do
		[ -n "${HS_ZSWAP_ORIG[$p]+x}" ] || continue
		if [ "$(cat "$HS_ZSWAP_DIR/$p")" != "${HS_ZSWAP_ORIG[$p]}" ]; then
			echo "${HS_ZSWAP_ORIG[$p]}" >"$HS_ZSWAP_DIR/$p" ||
				hs_log "could not restore zswap $p=${HS_ZSWAP_ORIG[$p]}"
		fi
	done
}

# hoststate_restore: undo everything, in the order that makes each step
# cheap: stop processes, empty and remove the cgroup, swapoff, zswap.
# Idempotent; safe to call from a trap at any point of a run.
hoststate_restore() {
	local pid rc=0
	# Only the script restores the host: a background job inherits this
	# trap until it execs and would run it if a signal reached it then
	# (tests/e2e/daemon/lib.sh tells the case).
	[ "$BASHPID" = "$$" ] || return 0
	[ "$HS_RESTORED" -eq 1 ] && return 0
	HS_RESTORED=1
	trap '' INT TERM HUP
	if declare -F bench_stop_all >/dev/null; then bench_stop_all >/dev/null 2>&1; fi
	for pid in "${HS_PIDS[@]}"; do hs__stop_pid "$pid"; done
	HS_PIDS=()
	hs__cgroup_remove || rc=1
	hs__swap_remove || rc=1
	hs__zswap_restore || rc=1
	hs__sysctl_restore || rc=1
	if [ "$HS_TRAPS" -eq 1 ]; then
		trap 'hs__on_signal INT' INT
		trap 'hs__on_signal TERM' TERM
		trap 'hs__on_signal HUP' HUP
	fi
	return $rc
}

# hoststate_verify_clean [ZSWAP_BEFORE]: after a run, check the rules: no
# swap of ours, no utmem-bench cgroup, zswap enabled as before. Prints what
# is wrong and returns 1, or returns 0 silently.
hoststate_verify_clean() {
	local before=${1:-${HS_ZSWAP_ORIG[enabled]:-}} bad=0
	if grep -q 'utmem-bench-swap' /proc/swaps; then
		hs_log "a utmem-bench swap file is still active"; bad=1
	fi
	if ls -d /sys/fs/cgroup/utmem-bench-* /sys/fs/cgroup/memory/utmem-bench-* >/dev/null 2>&1; then
		hs_log "a utmem-bench cgroup still exists"; bad=1
	fi
	if [ -n "$before" ] && [ "$(cat "$HS_ZSWAP_DIR/enabled")" != "$before" ]; then
		hs_log "zswap enabled is $(cat "$HS_ZSWAP_DIR/enabled"), was $before"; bad=1
	fi
	return $bad
}

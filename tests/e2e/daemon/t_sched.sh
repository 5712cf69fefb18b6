#!/usr/bin/env bash
# The serving threads' scheduler slice (src/daemon/sched.c): utmemd's
# workers ask the kernel for worker_slice_us (default 100 us), keep the
# kernel's default with 0, and INFO's worker_slice_ns tells what the kernel
# granted. Checked against what the kernel itself shows for each thread
# (/proc/PID/task/TID/sched, se.slice) where it shows it; on a kernel
# without per-thread slices (before Linux 6.12) INFO must say 0 and the log
# must say why. A slice below the kernel's least is refused at start-up.
. "$(dirname "$0")/lib.sh"
RUN=$T/run

# The kernel's slice of one thread in ns (empty if /proc does not show it).
slice_of() { awk '$1 == "se.slice" { print $3 }' "$1/sched" 2>/dev/null; }
# The distinct slices of utmemd's workers, one per line.
worker_slices() {
	local t
	for t in /proc/"$1"/task/*; do
		case $(cat "$t/comm") in utmemd-w*) slice_of "$t" ;; esac
	done | sort -u
}
info_slice() { ctl info | awk '$1 == "worker_slice_ns" { print $2 }'; }

# Linux 6.12 and later honour a fair thread's own slice (sched_setattr).
IFS=. read -r kmaj kmin _ <<<"$(uname -r)"
kmin=${kmin%%[!0-9]*}
custom=0
[ "$kmaj" -gt 6 ] || { [ "$kmaj" -eq 6 ] && [ "$kmin" -ge 12 ]; } && custom=1
shown=0
[ -n "$(slice_of /proc/self)" ] && shown=1
echo "kernel $(uname -r): per-thread slices $custom, shown in /proc $shown"

# run NAME SETTING-LINES EXPECTED-NS: start utmemd with the lines in its
# [utmemd] section, check INFO and the workers' slices, stop it.
run() {
	local name=$1 lines=$2 want=$3 got ws main
	printf '[utmemd]\nworkers = 2\n%b' "$lines" >"$T/$name.ini"
	start_daemon "$name" "$RUN" -c "$T/$name.ini"
	got=$(info_slice)
	[ -n "$got" ] || fail "$name: INFO has no worker_slice_ns"
	ws=$(worker_slices "$DPID")
	main=$(slice_of "/proc/$DPID/task/$DPID")
	if [ "$custom" = 1 ]; then
		[ "$got" = "$want" ] || fail "$name: worker_slice_ns $got, want $want"
		if [ "$shown" = 1 ]; then
			[ "$(echo "$ws" | wc -l)" = 1 ] || fail "$name: workers differ: $ws"
			if [ "$want" = 0 ]; then
				[ "$ws" = "$main" ] ||
					fail "$name: workers' slice $ws, not the main thread's $main"
			else
				[ "$ws" = "$want" ] || fail "$name: kernel shows workers' slice $ws, want $want"
			fi
		fi
	else
		[ "$got" = 0 ] || fail "$name: worker_slice_ns $got on a kernel without per-thread slices"
		if [ "$want" != 0 ]; then
			grep -q "ignores a thread's own scheduler slice" "$T/$name.log" ||
				fail "$name: no log line about the ignored slice"
		fi
	fi
	stop_daemon "$DPID" || fail "$name: utmemd exited with $?"
	ok "$name: worker_slice_ns $got, workers' slice in /proc: ${ws:-not shown}"
}

run default "" 100000
run slice300 "worker_slice_us = 300\n" 300000
run off "worker_slice_us = 0\n" 0

# Below the kernel's least slice: refused before anything starts.
printf '[utmemd]\nworker_slice_us = 50\n' >"$T/bad.ini"
if "$UTMEMD" --run-dir "$RUN" -c "$T/bad.ini" >"$T/bad.out" 2>"$T/bad.log"; then
	fail "utmemd started with worker_slice_us = 50"
fi
grep -q "worker_slice_us '50': expected 0 or 100..100000" "$T/bad.log" ||
	fail "no clear error for worker_slice_us = 50: $(cat "$T/bad.log")"
ok "worker_slice_us = 50 refused: $(head -n1 "$T/bad.log")"

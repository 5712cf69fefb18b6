# freeze.sh — SIGSTOP a process and wait until it has really stopped
# (sourced by daemon/lib.sh and redis/redis_module_test.sh).
#
# `kill -STOP` returns once the signal is queued. One thread of the target
# then takes it and asks the others to stop; until they have, a worker
# thread that is running goes on serving. On a loaded machine that window
# lasted long enough in CI for a TMEM.POP sent after the kill to be
# answered. freeze_pid PID: SIGSTOP, then wait (5 s at most) until every
# thread of PID is in state T. If it does not stop in time, the sourcing
# script's fail() is called (and 1 returned, should fail() return).
freeze_pid() {
	local pid=$1 i f st all
	kill -STOP "$pid" || { fail "SIGSTOP to pid $pid failed"; return 1; }
	for i in $(seq 500); do
		all=1
		for f in /proc/"$pid"/task/*/stat; do
			st=$(cat "$f" 2>/dev/null) || continue # thread gone
			st=${st##*) }
			case ${st%% *} in T | t) ;; *) all=0 && break ;; esac
		done
		[ "$all" = 1 ] && return 0
		sleep 0.01
	done
	fail "pid $pid did not stop within 5 s of SIGSTOP"
	return 1
}

#!/usr/bin/env bash
# The harness itself (lib.sh): a background job is, until it execs, a copy
# of the script's shell with its EXIT trap, and a signal reaching it then
# runs the trap. Only the script may clean up: jobs sent SIGTERM the moment
# they start must leave $T and the script's processes alone.
. "$(dirname "$0")/lib.sh"
sleep 300 &
canary=$!
PIDS+=("$canary")
touch "$T/mark"
jobs_=()
# (stderr quiet: a job running the trap says "wait_for: No record of process")
for _ in $(seq 200); do
	sleep 30 &
	kill -TERM "$!" 2>/dev/null
	jobs_+=("$!")
done 2>/dev/null
# Any of them that lost its SIGTERM in the same window goes now.
kill -KILL "${jobs_[@]}" 2>/dev/null
wait "${jobs_[@]}" 2>/dev/null
# fail() reads $T's logs: report a missing $T without it.
[ -e "$T/mark" ] || { echo "FAIL: \$T removed by a job's cleanup" >&2; exit 1; }
kill -0 "$canary" 2>/dev/null || fail "the script's process killed by a job's cleanup"
ok "200 jobs sent SIGTERM as they started: \$T and the script's processes intact"

# held.sh — what a process holds, one definition for the benchmarks
# (bench/lib.sh) and the end-to-end tests (tests/e2e/daemon/lib.sh).
# Sourced; bash.
# shellcheck shell=bash
#
# held_kb PID: KiB process PID holds, its anonymous RSS plus the pages of
# the memfds it has open (for utmemd: its value regions; not its rings,
# whose descriptors it closes once it has passed them to the client: their
# pages count in its RSS only where it touched them). Not its RSS: a
# region's pages that only the tenant mapped (staged values), or that
# utmemd unmapped from its view before punching freed records among them
# (the live ones stay in the file), are held all the same.
# bench/micro/held-sample reads the same every millisecond.
held_kb() {
	local kb f
	kb=$(awk '/^RssAnon:/ { print $2 }' "/proc/$1/status")
	for f in /proc/"$1"/fd/*; do
		case $(readlink "$f" 2>/dev/null) in
		/memfd:*) kb=$((kb + $(stat -L -c %b "$f" 2>/dev/null || echo 0) / 2)) ;;
		esac
	done
	echo "$kb"
}

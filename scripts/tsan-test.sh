#!/usr/bin/env bash
# tsan-test.sh — meson test's wrapper in the ThreadSanitizer build (make
# tsan): runs one test with every process it starts (utmemd, the clients,
# the tools) writing its TSan reports to files of this run, and fails the
# test if any process reported, whatever the test made of that process's
# exit. TSAN_OPTIONS from the caller are kept (halt_on_error, the
# suppressions); only log_path is added.
#
# Usage: scripts/tsan-test.sh COMMAND [ARGS...]   (meson test --wrapper)
set -uo pipefail
dir=$(mktemp -d "${TMPDIR:-/tmp}/tsan.XXXXXX")
trap 'rm -rf "$dir"' EXIT
export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}log_path=$dir/report"
"$@"
rc=$?
shopt -s nullglob
reports=("$dir"/report.*)
if ((${#reports[@]})); then
	for f in "${reports[@]}"; do
		echo "=== ThreadSanitizer: $(basename "$f") (pid)"
		cat "$f"
	done >&2
	# 66 is TSan's own exit status for a report.
	[[ $rc -ne 0 ]] || rc=66
fi
exit "$rc"

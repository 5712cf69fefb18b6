#!/usr/bin/env bash
# test-summary.sh — run `meson test` in a build directory and end with one
# line "N passed, N failed, N skipped" (timeouts count as failures).
#
# Usage: scripts/test-summary.sh BUILD_DIR [meson test args...]
# Exit status: that of meson test.
set -uo pipefail
build=$1
shift
log=$(mktemp)
trap 'rm -f "$log"' EXIT
meson test -C "$build" --print-errorlogs "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
awk '
	/^Ok:/ { ok += $2 }
	/^Expected Fail:/ { ok += $3 }
	/^Fail:/ { fail += $2 }
	/^Unexpected Pass:/ { fail += $3 }
	/^Timeout:/ { fail += $2 }
	/^Skipped:/ { skip += $2 }
	END { printf "%d passed, %d failed, %d skipped\n", ok, fail, skip }
' "$log"
exit "$rc"

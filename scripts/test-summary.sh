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
# What failed, once more at the end: CI keeps only the tail of a long log.
if [ "$rc" -ne 0 ] && [ -f "$build/meson-logs/testlog.json" ]; then
	python3 - "$build/meson-logs/testlog.json" <<'PY'
import json, re, sys
want = re.compile(r'FAIL|[Ee]rror|[Aa]ssert|not ok|timed out|Sanitizer')
for line in open(sys.argv[1], encoding='utf-8', errors='replace'):
    t = json.loads(line)
    if t.get('result') in ('OK', 'SKIP', 'EXPECTEDFAIL'):
        continue
    print(f"---- {t['name']}: {t['result']} (exit {t.get('returncode')})")
    out = (t.get('stdout') or '').splitlines()
    hits = []  # each matching line and the indented lines after it
    for i, l in enumerate(out):
        if want.search(l):
            hits.append(l)
            hits += [m for m in out[i + 1:i + 4] if m[:1] in (' ', '\t')]
    for l in (hits or out)[-30:]:
        print('  ' + l[:300])
PY
fi
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

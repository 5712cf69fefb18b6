#!/bin/bash
# smoke.sh BUILD_DIR SECONDS — run every libFuzzer target of a -Dfuzz=true
# build for SECONDS each, starting from the committed seed corpus (copied,
# so the tree is not modified). Exits non-zero if any target finds a crash,
# a leak, a timeout or an assertion failure; the reproducer is kept in the
# work directory, which is printed.
set -euo pipefail

build=$(cd "${1:?usage: smoke.sh BUILD_DIR SECONDS}" && pwd)
secs=${2:?usage: smoke.sh BUILD_DIR SECONDS}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/utmem-fuzz.XXXXXX)
status=0

for target in fuzz_wire fuzz_client fuzz_dispatch fuzz_ring; do
	bin=$build/tests/fuzz/$target
	if [ ! -x "$bin" ]; then
		echo "smoke: $bin missing (configure with -Dfuzz=true, CC=clang)" >&2
		exit 1
	fi
	mkdir -p "$work/$target/corpus"
	# The seed corpus is in the tree: fuzzing from nothing by accident
	# would still pass, finding less.
	cp "$here/corpus/$target"/* "$work/$target/corpus/" || {
		echo "smoke: no seed corpus in $here/corpus/$target" >&2
		exit 1
	}
	echo "== $target: ${secs}s"
	if (cd "$work/$target" && "$bin" -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
		corpus >log 2>&1); then
		grep -E "^(stat::number_of_executed_units|#[0-9]+ +DONE)" \
			"$work/$target/log" | tail -2 || true
	else
		echo "smoke: $target FAILED; log and reproducer in $work/$target" >&2
		tail -40 "$work/$target/log" >&2
		status=1
	fi
done
if [ "$status" = 0 ]; then
	rm -rf "$work"
fi
exit "$status"

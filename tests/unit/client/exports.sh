#!/bin/bash
# exports.sh LIBUTMEM_SO — the shared library exports exactly the public
# API: every dynamic symbol it defines is utmem_*, versioned UTMEM_0, and
# every function declared in include/utmem.h is among them.
set -euo pipefail
lib=${1:?usage: exports.sh LIBUTMEM_SO HEADER}
header=${2:?usage: exports.sh LIBUTMEM_SO HEADER}

defined=$(nm -D --defined-only "$lib" | awk '$2 != "A" { print $3 }')
bad=$(printf '%s\n' "$defined" | grep -v '^utmem_[a-z_]*@@UTMEM_0$' || true)
if [ -n "$bad" ]; then
	echo "exports.sh: unexpected exports from $lib:" >&2
	printf '%s\n' "$bad" >&2
	exit 1
fi
missing=0
for f in $(grep -o 'utmem_[a-z_]*(' "$header" | tr -d '(' | sort -u); do
	# A here-string, not a pipe: with pipefail, grep -q quitting early
	# can kill printf with SIGPIPE and fail the test at random.
	if ! grep -qx "$f@@UTMEM_0" <<<"$defined"; then
		echo "exports.sh: $f is declared in utmem.h but not exported" >&2
		missing=1
	fi
done
exit "$missing"

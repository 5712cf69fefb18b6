#!/bin/bash
# exports.sh LIBUTMEM_SO HEADER MAP CC... — the shared library exports
# exactly the public API, checked both ways:
#   - every dynamic symbol it defines is a function declared in HEADER,
#     versioned with MAP's version node (UTMEM_0);
#   - every function HEADER declares is exported so.
# HEADER's declarations are read by the compiler (CC -aux-info), not by a
# pattern, so comments, line breaks and names with digits cannot hide one.
set -euo pipefail
usage='usage: exports.sh LIBUTMEM_SO HEADER MAP CC...'
lib=${1:?$usage}
header=${2:?$usage}
map=${3:?$usage}
shift 3
[ $# -gt 0 ] || { echo "$usage" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The map's one version node: "NAME {" at the start of a line.
node=$(sed -n 's/^\([A-Za-z0-9_.]*\)[[:space:]]*{.*/\1/p' "$map")
if [ -z "$node" ] || [ "$(printf '%s\n' "$node" | wc -l)" -ne 1 ]; then
	echo "exports.sh: expected one version node in $map, found: $node" >&2
	exit 1
fi

# Functions declared in the header itself (not in what it includes).
"$@" -fsyntax-only -aux-info "$tmp/aux" -x c "$header"
# A line: "/* HEADER:LINE:NC */ extern int name (args);", HEADER as given.
# Static inline functions are the header's own, never exported.
grep -F "/* $header:" "$tmp/aux" | sed 's|^/\*[^*]*\*/ ||' |
	grep -v '^static ' |
	sed -n 's/^[^(]*[^A-Za-z0-9_]\([A-Za-z_][A-Za-z0-9_]*\) (.*/\1/p' |
	sort -u >"$tmp/declared"
if ! [ -s "$tmp/declared" ]; then
	echo "exports.sh: no function declarations found in $header" >&2
	exit 1
fi

# Defined dynamic symbols, less the version node's own (type A).
nm -D --defined-only "$lib" | awk '$2 != "A" { print $3 }' | sort -u \
	>"$tmp/defined"

bad=0
while read -r sym; do
	name=${sym%%@*}
	if [ "$sym" != "$name@@$node" ]; then
		echo "exports.sh: $sym is not versioned $node" >&2
		bad=1
	fi
	if ! grep -qxF "$name" "$tmp/declared"; then
		echo "exports.sh: $name is exported but not declared in $header" >&2
		bad=1
	fi
done <"$tmp/defined"
while read -r name; do
	if ! grep -qxF "$name@@$node" "$tmp/defined"; then
		echo "exports.sh: $name is declared in $header but not exported" >&2
		bad=1
	fi
done <"$tmp/declared"
exit "$bad"

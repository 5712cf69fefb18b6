#!/usr/bin/env bash
# tsan-tests.sh — the tests `make tsan` runs: tests/tsan.list resolved
# against a configured build, one meson test name a line on stdout.
#
# Usage: scripts/tsan-tests.sh BUILD_DIR [LIST]
# Fails (exit 1, the reason on stderr) if the list names a test or suite
# the build does not have, or leaves a test of the e2e or vm suites
# unmentioned (neither run nor left out with a reason), or a left-out
# test has no reason.
set -euo pipefail
build=${1:?usage: tsan-tests.sh BUILD_DIR [LIST]}
list=${2:-$(dirname "$0")/../tests/tsan.list}

# "NAME SUITE,SUITE" for every test of the build (suites without the
# project prefix).
tests=$(meson introspect "$build" --tests | python3 -c '
import json, sys
for t in json.load(sys.stdin):
    print(t["name"], ",".join(s.split(":", 1)[-1] for s in t["suite"]))')

awk -v tests="$tests" '
BEGIN {
	n = split(tests, lines, "\n")
	for (i = 1; i <= n; i++) {
		split(lines[i], f, " ")
		order[i] = f[1]
		suites[f[1]] = "," f[2] ","
	}
	bad = 0
}
/^[[:space:]]*(#|$)/ { next }
{
	name = $1
	if (name ~ /^suite:/) {
		s = substr(name, 7)
		found = 0
		for (t in suites)
			if (index(suites[t], "," s ",")) { run[t] = 1; found = 1 }
		if (!found) { print "tsan-tests.sh: no suite " s >"/dev/stderr"; bad = 1 }
		next
	}
	out = name ~ /^-/
	if (out) name = substr(name, 2)
	if (!(name in suites)) {
		print "tsan-tests.sh: " FILENAME ": no test " name >"/dev/stderr"
		bad = 1
		next
	}
	if (out && NF < 2) {
		print "tsan-tests.sh: " name " is left out without a reason" >"/dev/stderr"
		bad = 1
	}
	if (out) left[name] = 1; else run[name] = 1
}
END {
	for (t in suites)
		if ((index(suites[t], ",e2e,") || index(suites[t], ",vm,")) &&
		    !(t in run) && !(t in left)) {
			print "tsan-tests.sh: " t " is neither run nor left out in " FILENAME >"/dev/stderr"
			bad = 1
		}
	if (bad) exit 1
	for (i = 1; i <= n; i++)
		if (order[i] in run && !(order[i] in left)) print order[i]
}' "$list"

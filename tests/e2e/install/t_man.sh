#!/usr/bin/env bash
# The man pages: each renders with `man -l` without a warning, has its
# sections, and utmemd(8) and docs/operations.md name every setting utmemd
# knows (the settings table, through utmemctl config keys), so a new key
# cannot go undocumented.
set -u
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
command -v man >/dev/null || { echo "FAIL: man (man-db) is not installed (make test installs it)"; exit 1; }
M=$BUILD_ROOT/docs/man
for page in utmemd.8 utmemctl.8 libutmem.3; do
	[ -s "$M/$page" ] || fail "$page was not built"
	out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$M/$page" 2>"$M/$page.err")
	[ -s "$M/$page.err" ] && fail "$page: man warns: $(cat "$M/$page.err")"
	for s in NAME SYNOPSIS DESCRIPTION "SEE ALSO"; do
		grep -q "^$s" <<<"$out" || fail "$page: no $s section"
	done
	ok "man -l $page: $(wc -l <<<"$out") lines, no warning"
done
utmemd_text=$(LC_ALL=C.UTF-8 MANWIDTH=200 man -l "$M/utmemd.8" 2>/dev/null)
keys=$("$UTMEMCTL" config keys --json | tr '{' '\n' | sed -n 's/.*"key":"\([a-z_]*\)".*/\1/p')
[ "$(wc -w <<<"$keys")" -gt 20 ] || fail "too few keys: $keys"
for k in $keys; do
	grep -qw -- "$k" <<<"$utmemd_text" || fail "utmemd(8) does not mention setting '$k'"
	grep -q -- "\`$k\`" "$SOURCE_ROOT/docs/operations.md" || fail "docs/operations.md does not mention setting '$k'"
done
ok "utmemd(8) and docs/operations.md name all $(wc -w <<<"$keys") settings"

#!/usr/bin/env bash
# `meson install` (what make install runs) into a staging root: binaries,
# the library and its pkg-config file, the man pages, the systemd unit with
# this prefix's paths, the tmpfiles.d entry and the example configuration,
# which utmemd accepts. And the post-install step: nothing under DESTDIR,
# a note for a library directory the dynamic linker does not search.
set -u
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
T=$(mktemp -d)
trap '[ "$BASHPID" = "$$" ] && rm -rf "$T"' EXIT # not in a job (daemon/lib.sh)
meson install -C "$BUILD_ROOT" --no-rebuild --destdir "$T/root" >"$T/install.log" 2>&1 ||
	fail "meson install: $(tail -n 20 "$T/install.log")"
grep -q "^post-install:" "$T/install.log" && fail "post-install ran under DESTDIR: $(grep post-install "$T/install.log")"
prefix=$(meson introspect "$BUILD_ROOT" --buildoptions | tr '{' '\n' | sed -n 's/.*"name": "prefix", "value": "\([^"]*\)".*/\1/p')
[ -n "$prefix" ] || prefix=$(grep -o 'Installing .* to [^ ]*' "$T/install.log" | head -n 1 | sed 's/.* to //;s|/bin$||')
R=$T/root$prefix
for f in bin/utmemd bin/utmemctl share/man/man8/utmemd.8 share/man/man8/utmemctl.8 \
	share/man/man3/libutmem.3 lib/systemd/system/utmemd.service lib/tmpfiles.d/utmem.conf \
	etc/utmem/utmemd.example.ini include/utmem.h; do
	[ -e "$R/$f" ] || fail "not installed: $prefix/$f ($(cd "$T/root" && find . -type f | head -n 40))"
done
ls "$R"/lib*/*/libutmem.so.0 "$R"/lib*/libutmem.so.0 2>/dev/null | grep -q . || fail "libutmem.so.0 not installed"
ls "$R"/lib*/*/pkgconfig/utmem.pc "$R"/lib*/pkgconfig/utmem.pc 2>/dev/null | grep -q . || fail "utmem.pc not installed"
ok "installed under $prefix: binaries, libutmem.so.0, utmem.pc, 3 man pages, unit, tmpfiles.d, example config"
unit=$R/lib/systemd/system/utmemd.service
grep -qx "Type=notify" "$unit" || fail "unit: not Type=notify"
grep -qx "ExecStart=$prefix/bin/utmemd -c $prefix/etc/utmem/utmemd.ini --run-dir /run/utmem" "$unit" ||
	fail "unit ExecStart: $(grep ExecStart "$unit")"
grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$unit" || fail "unit ExecReload"
# config save writes the file back under ProtectSystem=full.
grep -qx "ReadWritePaths=-$prefix/etc/utmem" "$unit" || fail "unit: config dir not writable: $(grep -i readwrite "$unit")"
grep -q '@' "$unit" && fail "unit has unsubstituted @VARS@: $(grep @ "$unit")"
if command -v systemd-analyze >/dev/null; then
	# Only the unit's own syntax: its binaries are under the staging root.
	systemd-analyze verify "$unit" 2>&1 | grep -v "is not executable\|No such file\|utmemd.service: Command" |
		grep -i "unknown\|invalid\|failed to parse" && fail "systemd-analyze"
fi
grep -qx "d /run/utmem 0755 root root -" "$R/lib/tmpfiles.d/utmem.conf" || fail "tmpfiles.d entry"
ok "unit (Type=notify, ExecStart/ExecReload with $prefix) and tmpfiles.d entry"
"$UTMEMD" -c "$R/etc/utmem/utmemd.example.ini" --check-config >"$T/check.out" 2>&1 ||
	fail "the installed example config is refused: $(cat "$T/check.out")"
ok "the installed example config: $(cat "$T/check.out")"
UTMEM_NO_LDCONFIG=1 "$SOURCE_ROOT/scripts/post-install.sh" /opt/utmem-nowhere/lib >"$T/post.out"
grep -q "/opt/utmem-nowhere/lib is not searched by the dynamic linker: add it to /etc/ld.so.conf.d/ and run ldconfig" "$T/post.out" ||
	fail "post-install note: $(cat "$T/post.out")"
ok "post-install for an unsearched libdir: $(cat "$T/post.out")"

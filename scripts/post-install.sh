#!/bin/sh
# post-install.sh LIBDIR — run by `meson install` (make install) after
# installing. With DESTDIR (staging) it does nothing. Otherwise, when LIBDIR
# is a directory the dynamic linker searches, it refreshes the linker's
# cache (ldconfig, as root) so programs find the new libutmem.so.0 at once;
# when it is not, it says how to make them find it.
# UTMEM_NO_LDCONFIG=1 skips ldconfig (tests).
libdir=$1
[ -n "${DESTDIR:-}" ] && exit 0
searched=0
for d in $( (cat /etc/ld.so.conf /etc/ld.so.conf.d/*.conf 2>/dev/null) | grep '^/'); do
	[ "$d" = "$libdir" ] && searched=1
done
case "$libdir" in /lib|/usr/lib|/lib64|/usr/lib64) searched=1 ;; esac
if [ "$searched" = 1 ]; then
	if [ "$(id -u)" = 0 ] && [ "${UTMEM_NO_LDCONFIG:-0}" != 1 ]; then
		ldconfig && echo "post-install: ldconfig: libutmem.so.0 in $libdir is found by the dynamic linker"
	else
		echo "post-install: run ldconfig as root so programs find libutmem.so.0 in $libdir"
	fi
else
	echo "post-install: $libdir is not searched by the dynamic linker: add it to /etc/ld.so.conf.d/ and run ldconfig, or link with -Wl,-rpath,$libdir (or set LD_LIBRARY_PATH)"
fi
exit 0

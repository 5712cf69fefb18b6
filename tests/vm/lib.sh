# lib.sh — the QEMU harness of the VM tests (sourced by tests/vm/t_*.sh and
# bench/vm-*.sh).
#
# It finds a bootable Debian kernel, builds a small initramfs (busybox-static,
# the kernel modules a guest needs for virtio-serial, the test's own files
# and an /init that runs /test.sh), boots it under QEMU with whatever
# devices the caller passes, and collects the guest's output from its serial
# console into a log. Lines the guest prints as "VMTEST ..." are its
# results; /init ends with "VMTEST DONE rc=N" and powers the guest off.
#
# Never skips: QEMU that is missing or does not run, like a missing kernel
# or busybox, is a failure that names the package to install (make test
# installs them all).
set -u

VM_QEMU=${VM_QEMU:-qemu-system-x86_64}
VM_MEM=${VM_MEM:-256}
# Kernel options that shorten an emulated boot: no speculation mitigations
# (every one costs under TCG), no calibration loops, one UART.
VM_FAST_BOOT="mitigations=off tsc=reliable no_timer_check lpj=4000000 cryptomgr.notests 8250.nr_uarts=1 random.trust_cpu=on"

vm_missing() {
	echo "FAIL: $*" >&2
	exit 1
}

# vm_kver: the newest kernel version with both a vmlinuz and its modules
# (the one the guest module is built for; tests/vm/kver.sh).
vm_kver() {
	"$(dirname "${BASH_SOURCE[0]}")/kver.sh"
}

# vm_require: QEMU runs, a kernel and busybox are there. Sets VM_KVER,
# VM_KERNEL, VM_MODDIR.
vm_require() {
	command -v "$VM_QEMU" >/dev/null 2>&1 ||
		vm_missing "$VM_QEMU not installed (Debian: qemu-system-x86; make test installs it)"
	"$VM_QEMU" -machine help >/dev/null 2>&1 ||
		vm_missing "$VM_QEMU does not run on this machine"
	VM_KVER=${VM_KVER:-$(vm_kver)}
	[ -n "$VM_KVER" ] || {
		echo "FAIL: no bootable kernel with modules in /boot and /lib/modules (apt-get install linux-image-amd64)" >&2
		exit 1
	}
	VM_KERNEL=/boot/vmlinuz-$VM_KVER
	VM_MODDIR=/lib/modules/$VM_KVER
	[ -r "$VM_KERNEL" ] || { echo "FAIL: cannot read $VM_KERNEL" >&2; exit 1; }
	vm_fast_kernel
	# busybox-static installs a static /bin/busybox (the dynamic
	# busybox package would need its libraries in the guest).
	VM_BUSYBOX=/bin/busybox
	[ -x "$VM_BUSYBOX" ] || { echo "FAIL: no /bin/busybox (apt-get install busybox-static)" >&2; exit 1; }
}

# vm_fast_kernel: under TCG, decompressing Debian's xz bzImage takes most of
# the boot. The image holds an ELF vmlinux with a PVH entry note (Debian
# sets CONFIG_PVH), which QEMU boots directly: extract it once into
# VM_CACHE (default: the test's temp dir) and use it. Falls back to the
# bzImage if anything is missing.
vm_fast_kernel() {
	local cache=${VM_CACHE:-${T:-/tmp}} out off tmp
	out=$cache/vmlinux-$VM_KVER
	if [ ! -s "$out" ]; then
		command -v xz >/dev/null 2>&1 || return 0
		off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$VM_KERNEL" | head -n 1 | cut -d: -f1)
		[ -n "$off" ] || return 0
		mkdir -p "$cache"
		tmp=$(mktemp "$cache/.vmlinux.XXXXXX") || return 0
		tail -c +"$((off + 1))" "$VM_KERNEL" | xz -dc 2>/dev/null >"$tmp"
		if ! readelf -n "$tmp" 2>/dev/null | grep -q 'Xen.*0x00000012\|Unknown note type: (0x00000012)'; then
			rm -f "$tmp"
			return 0
		fi
		mv -f "$tmp" "$out" # atomic: a parallel run sees all or nothing
	fi
	VM_KERNEL=$out
}

# vm_mod_order MODULE...: the .ko files (relative to $VM_MODDIR) to load for
# these modules, dependencies first, each once (from modules.dep).
vm_mod_order() {
	local m
	declare -A seen=()
	_vm_mod_visit() {
		local name=$1 line file deps d
		line=$(grep -E "(^|/)$name\.ko(\.xz|\.zst|\.gz)?:" "$VM_MODDIR/modules.dep" | head -n 1)
		[ -n "$line" ] || return 0 # built into the kernel
		file=${line%%:*}
		[ -n "${seen[$file]:-}" ] && return 0
		seen[$file]=1
		deps=${line#*:}
		for d in $deps; do
			d=${d##*/}
			_vm_mod_visit "${d%%.ko*}"
		done
		echo "$file"
	}
	for m in "$@"; do
		_vm_mod_visit "$m"
	done
}

# vm_add_binary ROOT BIN: BIN and the shared libraries it needs, at the
# same paths under ROOT (the guest has no other libraries).
vm_add_binary() {
	local root=$1 bin=$2 lib
	mkdir -p "$root$(dirname "$bin")"
	cp -L "$bin" "$root$bin"
	for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
		mkdir -p "$root$(dirname "$lib")"
		[ -e "$root$lib" ] || cp -L "$lib" "$root$lib"
	done
}

# vm_initrd ROOT OUT [MODULE...]: pack ROOT (the caller's files: bin/, test.sh,
# ...) with busybox, the named modules and their dependencies (decompressed),
# and /init, into the newc cpio OUT.
vm_initrd() {
	local root=$1 out=$2 f base
	shift 2
	mkdir -p "$root"/{bin,dev,proc,sys,tmp,lib/modules}
	cp "$VM_BUSYBOX" "$root/bin/busybox"
	ln -sf busybox "$root/bin/sh" # /init installs the other applets

	: >"$root/modules.order"
	for f in $(vm_mod_order "$@"); do
		base=${f##*/}
		case $f in
		*.xz) xz -dc "$VM_MODDIR/$f" >"$root/lib/modules/${base%.xz}"; base=${base%.xz} ;;
		*.zst) zstd -qdc "$VM_MODDIR/$f" >"$root/lib/modules/${base%.zst}"; base=${base%.zst} ;;
		*.gz) gzip -dc "$VM_MODDIR/$f" >"$root/lib/modules/${base%.gz}"; base=${base%.gz} ;;
		*) cp "$VM_MODDIR/$f" "$root/lib/modules/$base" ;;
		esac
		echo "$base" >>"$root/modules.order"
	done
	cp "$(dirname "${BASH_SOURCE[0]}")/guest-init.sh" "$root/init"
	chmod 755 "$root/init"
	# Not compressed: QEMU loads the file as it is, and an emulated
	# gunzip costs the guest a second or two of its boot.
	(cd "$root" && find . | cpio -H newc -o --quiet) >"$out"
}

# vm_boot LOG TIMEOUT_S INITRD [QEMU ARGS...]: boot the guest, its serial
# console written to LOG; returns when it powers off (0) or after TIMEOUT_S
# (1, QEMU killed). The kernel command line gets VM_APPEND appended.
vm_boot() {
	local log=$1 secs=$2 initrd=$3 rc
	shift 3
	timeout -k 5 "$secs" "$VM_QEMU" -M q35 -m "$VM_MEM" -smp 1 \
		-nodefaults -no-user-config -display none -no-reboot \
		-serial "file:$log" \
		-kernel "$VM_KERNEL" -initrd "$initrd" \
		-append "console=ttyS0 quiet panic=-1 $VM_FAST_BOOT ${VM_APPEND:-}" \
		"$@" </dev/null >"$log.qemu" 2>&1
	rc=$?
	[ "$rc" -eq 0 ] && return 0
	echo "QEMU exited with $rc (124: timed out after ${secs}s)" >>"$log.qemu"
	return 1
}

# vm_result LOG: 0 if the guest's script finished with rc=0.
vm_result() {
	grep -q '^VMTEST DONE rc=0' "$1"
}

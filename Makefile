# utmem — the two commands a new machine needs, and a few more.
#
#   make run    install what is missing, build, start utmemd in the foreground
#   make test   install what is missing, build, run every test
#
# Other targets: build, install (PREFIX honoured, default /usr/local),
# asan (sanitizer build + tests), tsan (ThreadSanitizer build + the tests
# of tests/tsan.list), fuzz (libFuzzer smoke run), bench, clean.
# Packages come from Debian's archive only (scripts/deps.sh).

BUILD     ?= build
PREFIX    ?= /usr/local
RUN_DIR   ?= ./run/utmem
FUZZ_SECS ?= 30

DEPS       = gcc make meson ninja-build pkg-config libc6-dev \
             libcmocka-dev libhiredis-dev libjemalloc-dev libxxhash-dev \
             libsystemd-dev scdoc \
             redis-server redis-tools
# The VM tests (tests/vm): QEMU, a guest kernel with its headers (the guest
# module is built against them), a static busybox for the initramfs.
VM_DEPS    = qemu-system-x86 linux-image-amd64 linux-headers-amd64 \
             busybox-static cpio xz-utils binutils
# Tools the tests use: promtool checks the metrics endpoint, man renders
# the man pages, strace holds a daemon's listen() (t_sockpub.sh).
TEST_DEPS  = prometheus man-db strace
FUZZ_DEPS  = clang libclang-rt-14-dev
BENCH_DEPS = gnuplot-nox util-linux

.PHONY: all deps build test run install uninstall asan tsan fuzz bench clean

all: build

deps:
	@scripts/deps.sh $(DEPS) $(VM_DEPS)

# Configure once; later runs only re-apply the prefix, so PREFIX is honoured.
$(BUILD)/build.ninja:
	meson setup $(BUILD) --prefix=$(PREFIX)

build: deps $(BUILD)/build.ninja
	@meson configure $(BUILD) -Dprefix=$(PREFIX) >/dev/null
	ninja -C $(BUILD)

test: build
	@scripts/deps.sh $(TEST_DEPS)
	scripts/test-summary.sh $(BUILD)

run: build
	@echo "utmem: starting utmemd on its embedded default (Ctrl-C stops it)"
	$(BUILD)/src/daemon/utmemd --run-dir $(RUN_DIR)

install: build
	meson install -C $(BUILD)

uninstall:
	ninja -C $(BUILD) uninstall

# Every test again under AddressSanitizer + UndefinedBehaviorSanitizer.
asan: deps
	@test -f build-asan/build.ninja || meson setup build-asan \
		-Db_sanitize=address,undefined -Db_lundef=false
	ninja -C build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		scripts/test-summary.sh build-asan

# The tests of tests/tsan.list (every unit test, the end-to-end tests of
# utmemd's threads) under ThreadSanitizer, built with clang. Any report of
# any process fails its test (scripts/tsan-test.sh); suppressions only for
# jemalloc and the deliberate scribblers (tests/tsan.supp).
# detect_deadlocks=0: the store takes every stripe lock at once, more than
# the 64 held locks TSan's deadlock detector can follow (it aborts).
# handle_sigbus=0: t_ivshmem's client dies of SIGBUS on purpose (its region
# truncated), which TSan would report. UTMEM_TEST_SLOWDOWN: time bounds of
# the tests scale by it (tests/e2e/daemon/lib.sh); meson's timeouts by 3.
TSAN_RUN_OPTIONS = halt_on_error=1:detect_deadlocks=0:handle_sigbus=0:suppressions=$(CURDIR)/tests/tsan.supp
tsan: deps
	@scripts/deps.sh $(FUZZ_DEPS) $(TEST_DEPS)
	@test -f build-tsan/build.ninja || CC=clang meson setup build-tsan \
		-Db_sanitize=thread -Db_lundef=false
	ninja -C build-tsan
	scripts/tsan-tests.sh build-tsan >build-tsan/tsan-tests.txt
	TSAN_OPTIONS=$(TSAN_RUN_OPTIONS) UTMEM_TEST_SLOWDOWN=10 \
		scripts/test-summary.sh build-tsan --no-rebuild \
		--timeout-multiplier 3 --wrapper $(CURDIR)/scripts/tsan-test.sh \
		$$(cat build-tsan/tsan-tests.txt)

# libFuzzer targets built with clang, each run for FUZZ_SECS seconds.
fuzz: deps
	@scripts/deps.sh $(FUZZ_DEPS)
	@test -f build-fuzz/build.ninja || CC=clang meson setup build-fuzz \
		-Dfuzz=true -Dtests=disabled -Db_lundef=false
	ninja -C build-fuzz
	tests/fuzz/smoke.sh build-fuzz $(FUZZ_SECS)

bench: build
	@scripts/deps.sh $(BENCH_DEPS)
	bench/daemon-vs-redis.sh $(BUILD)

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz

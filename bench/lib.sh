# bench/lib.sh — helpers shared by utmem's benchmark scripts (sourced, bash).
#
# Servers are started in the background under a private temporary directory
# and remembered by pid; bench_stop_all stops exactly those pids (never by
# name: other people run servers on the same machine) and removes the
# temporary directories. bench_init installs traps so that this happens on
# normal exit, on error (set -e) and on Ctrl-C or SIGTERM alike.
#
# Variables a script may set before bench_init:
#   BENCH_BUILD   build directory holding src/daemon/utmemd and
#                 tools/utmem-bench/utmem-bench (default: build)
# Variables set for the script:
#   BENCH_TMP     the run's temporary directory
#   UTMEMD_PID, UTMEMD_SOCK, UTMEMD_RUN     after bench_start_utmemd
#   REDIS_PID, REDIS_SOCK, REDIS_ADDR       after bench_start_redis
#                 (REDIS_ADDR: tcp:127.0.0.1:PORT with BENCH_REDIS_TCP=1,
#                 else unix:REDIS_SOCK; the address load generators use)
#   BENCH_UTMEM_BENCH                       path of utmem-bench

BENCH_PIDS=()
BENCH_TMPDIRS=()

# bench_size_bytes SIZE: a size as utmem-bench takes it (ub_parse_size), in
# bytes: digits, then K, M or G in either case (powers of 1024), each
# optionally followed by iB or B, or a plain number with an optional B
# (128K, 128k, 128KiB -> 131072). Prints nothing and returns 1 otherwise.
bench_size_bytes() {
	local re='^([0-9]+)([kKmMgG](iB|B|b)?|B|b)?$' n unit
	[[ $1 =~ $re ]] || return 1
	n=$((10#${BASH_REMATCH[1]}))
	unit=${BASH_REMATCH[2]:0:1}
	case $unit in
	k | K) echo $((n << 10)) ;; m | M) echo $((n << 20)) ;;
	g | G) echo $((n << 30)) ;; *) echo "$n" ;;
	esac
}

# Print a message to stderr and exit 1 (traps clean up).
bench_die() {
	echo "$(basename "$0"): $*" >&2
	exit 1
}

# Stop every server this script started, by pid: SIGTERM, up to 5 s for it to
# exit, then SIGKILL. Remove the temporary directories. Safe to call twice.
bench_stop_all() {
	local pid i
	# A background job inherits the traps until it execs, and runs them
	# if a signal reaches it then: only the script itself stops servers
	# and removes directories (tests/e2e/daemon/lib.sh tells the case).
	[ "$BASHPID" = "$$" ] || return 0
	for pid in "${BENCH_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || continue
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	BENCH_PIDS=()
	for i in "${BENCH_TMPDIRS[@]}"; do
		[[ -n $i && -d $i ]] && rm -rf -- "$i"
	done
	BENCH_TMPDIRS=()
}

# Create the run's temporary directory and install the cleanup traps.
bench_init() {
	BENCH_BUILD=${BENCH_BUILD:-build}
	BENCH_UTMEM_BENCH=$BENCH_BUILD/tools/utmem-bench/utmem-bench
	BENCH_LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
	BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/utmem-bench.XXXXXX")
	BENCH_TMPDIRS+=("$BENCH_TMP")
	trap 'bench_stop_all' EXIT
	trap 'echo "$(basename "$0"): interrupted" >&2; exit 130' INT
	trap 'exit 143' TERM HUP
}

# bench_init_redis: for a script that drives Redis with utmem.so loaded:
# dies unless $MODULE is built, then bench_init, and creates $OUT with an
# empty raw-data file $RAW ($OUT/raw.jsonl).
bench_init_redis() {
	[ -f "$MODULE" ] || bench_die "no $MODULE (build it: ninja -C $BENCH_BUILD src/redis/utmem.so)"
	bench_init
	mkdir -p "$OUT"
	RAW=$OUT/raw.jsonl
	: >"$RAW"
}

# Wait up to $3 seconds for socket $1 to appear while pid $2 lives.
# Returns 0 when it is there, 1 otherwise.
bench_wait_socket() {
	local sock=$1 pid=$2 i
	for ((i = 0; i < ${3:-10} * 20; i++)); do
		[[ -S $sock ]] && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# A TCP port of 127.0.0.1 nobody listens on now (from the ephemeral range's
# upper half; a race with another process taking it makes redis-server
# fail to start, which bench_start_redis reports).
bench_free_port() {
	local p
	for ((i = 0; i < 50; i++)); do
		p=$((40000 + RANDOM % 20000))
		ss -Htln "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return; }
	done
	bench_die "no free TCP port found"
}

# Start utmemd with its sockets under $BENCH_TMP/utmemd; extra arguments are
# passed on. Sets UTMEMD_PID, UTMEMD_RUN and UTMEMD_SOCK (the default
# tenant's socket). Its log is $UTMEMD_RUN.log.
bench_start_utmemd() {
	local exe=$BENCH_BUILD/src/daemon/utmemd
	[[ -x $exe ]] || bench_die "no $exe (build it first: ninja -C $BENCH_BUILD)"
	UTMEMD_RUN=$BENCH_TMP/utmemd
	mkdir -p "$UTMEMD_RUN"
	"$exe" --run-dir "$UTMEMD_RUN" "$@" >"$UTMEMD_RUN.log" 2>&1 &
	UTMEMD_PID=$!
	BENCH_PIDS+=("$UTMEMD_PID")
	UTMEMD_SOCK=$UTMEMD_RUN/utmemd.sock
	if ! bench_wait_socket "$UTMEMD_SOCK" "$UTMEMD_PID" 10; then
		sed 's/^/  utmemd: /' "$UTMEMD_RUN.log" >&2
		bench_die "utmemd did not create $UTMEMD_SOCK"
	fi
}

# bench_ctl ARGS...: utmemctl against the utmemd of bench_start_utmemd.
bench_ctl() {
	local exe=$BENCH_BUILD/tools/utmemctl/utmemctl
	[[ -x $exe ]] || bench_die "no $exe (build it first: ninja -C $BENCH_BUILD)"
	"$exe" --run-dir "$UTMEMD_RUN" "$@"
}

# bench_info KEY: one figure of that utmemd's INFO (rss_bytes, ...).
bench_info() { bench_ctl info | awk -v k="$1" '$1 == k { print $2 }'; }

# held_kb PID: KiB it holds (bench/held.sh).
# shellcheck source=bench/held.sh
. "$(dirname "${BASH_SOURCE[0]}")/held.sh"

# Start redis-server on a Unix socket (no persistence) and, with
# BENCH_REDIS_TCP=1, also on a free TCP port of 127.0.0.1 (as the thesis's
# clients reached it); extra arguments are appended (e.g. --loadmodule
# PATH, --maxmemory ...). Sets REDIS_PID, REDIS_SOCK and REDIS_ADDR. Its log
# is $BENCH_TMP/redis.log.
bench_start_redis() {
	local port=0
	command -v redis-server >/dev/null || bench_die "redis-server not installed"
	REDIS_SOCK=$BENCH_TMP/redis.sock
	REDIS_ADDR=unix:$REDIS_SOCK
	if [[ ${BENCH_REDIS_TCP:-0} = 1 ]]; then
		port=$(bench_free_port)
		REDIS_ADDR=tcp:127.0.0.1:$port
	fi
	redis-server --port "$port" --bind 127.0.0.1 --unixsocket "$REDIS_SOCK" \
		--save '' --appendonly no --daemonize no --dir "$BENCH_TMP" "$@" \
		>"$BENCH_TMP/redis.log" 2>&1 &
	REDIS_PID=$!
	BENCH_PIDS+=("$REDIS_PID")
	if ! bench_wait_socket "$REDIS_SOCK" "$REDIS_PID" 10; then
		sed 's/^/  redis: /' "$BENCH_TMP/redis.log" >&2
		bench_die "redis-server did not create $REDIS_SOCK"
	fi
}

# bench_conns_for SIZE: the connection counts $CONNS gives for SIZE ("SIZE:N"
# entries for that size, plain numbers for every size); dies if none.
bench_conns_for() {
	local e out=""
	for e in $CONNS; do
		case $e in
		*:*) [ "${e%%:*}" = "$1" ] && out="$out ${e#*:}" ;;
		*) out="$out $e" ;;
		esac
	done
	[ -n "$out" ] || bench_die "CONNS gives no connection count for $1"
	echo $out
}

# Print the machine as markdown: CPU, cores, memory, kernel, load now.
bench_machine() {
	local cpu mem kernel os load
	cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n1)
	mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
	kernel=$(uname -r)
	os=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")
	load="${BENCH_LOAD_START:-?} (at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
	echo "- CPU: ${cpu:-unknown} ($(nproc) online cores)"
	echo "- Memory: $mem"
	echo "- Kernel: Linux $kernel (${os:-unknown OS})"
	echo "- Load average at start: $load"
}

# Median of the numbers given as arguments (or one per line on stdin).
bench_median() {
	{ if (($#)); then printf '%s\n' "$@"; else cat; fi; } | sort -g |
		awk '{ v[NR] = $1 } END {
			if (NR == 0) { print "nan"; exit }
			if (NR % 2) print v[(NR + 1) / 2]
			else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# "min max" of the numbers given as arguments.
bench_minmax() {
	printf '%s\n' "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 }
		END { print lo, hi }'
}

# Value of a flat field of a one-line JSON object: bench_json_field LINE KEY.
# A string comes back whole (commas included) with its escapes as written.
bench_json_field() {
	printf '%s\n' "$1" | sed -n \
		-e 's/.*"'"$2"'":"\(\([^"\\]\|\\.\)*\)".*/\1/p; t' \
		-e 's/.*"'"$2"'":\([^,}]*\).*/\1/p'
}

# bench_ratios A B: per-repetition ratios B/A of two space-separated lists.
bench_ratios() {
	paste <(tr ' ' '\n' <<<"$1" | sed '/^$/d') <(tr ' ' '\n' <<<"$2" | sed '/^$/d') |
		awk '{ printf "%.3f ", ($1 > 0) ? $2 / $1 : 0 }'
}

# bench_range LIST [DECIMALS]: "median (min–max)" of a space-separated
# list, with DECIMALS digits (default 0: ops/s rounded).
bench_range() {
	local med mm
	# shellcheck disable=SC2086
	med=$(bench_median $1); mm=$(bench_minmax $1)
	awk -v m="$med" -v mm="$mm" -v d="${2:-0}" 'BEGIN { split(mm, a, " ");
		printf "%.*f (%.*f–%.*f)", d, m, d, a[1], d, a[2] }'
}

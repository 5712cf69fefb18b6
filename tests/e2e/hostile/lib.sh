# lib.sh — the hostile-tenant suite's harness (sourced by each t_*.sh).
#
# Every case runs one attack of issue 8 against a real utmemd with two
# tenants, "evil" (the attacker) and "good" (a well-behaved one), and then
# checks the same five properties (docs/security.md, "Tested"):
#   1. utmemd is still up (and its admin socket still answers);
#   2. good is served during the attack at its usual latency: a probe of
#      PUT+GET round trips runs before (baseline) and during the attack,
#      every GET checked byte for byte, no error allowed, the median within
#      10x the baseline (or 2 ms above it), the 99th percentile (of at
#      least 200 round trips) within 250 ms and none above 750 ms (below
#      the shortest timeout, 1 s, an attack could make utmemd wait out).
#      The last two judge each round trip's own time: its latency less
#      the machine's stalls within it, which a thread of the probe that
#      sleeps 1 ms at a time sees (hostile/stall.c). Two of these cases
#      side by side on 2 vCPUs stalled the whole machine for up to 920 ms,
#      and a case failed on that, not on utmemd;
#   3. utmemd's RSS, sampled every 50 ms, never exceeds the capacity plus
#      the documented overhead of this configuration (rss_bound below);
#   4. nothing acknowledged is lost: values good PUT before the attack are
#      all there, byte for byte, afterwards;
#   5. SIGTERM still stops utmemd within 5 s, exit status 0.
# The attacks are scaled down (capacity 64M, max_value 8M, limits and
# timeouts lowered) where the property is the same, so the suite is fast.
#
# HOSTILE_OLD=1 runs a case against a utmemd that predates the limits (its
# config reader knows none of the new keys, so they are left out of the
# file): used once to show that each case fails without the fixes.
. "$(dirname "$0")/../daemon/lib.sh"

# Under AddressSanitizer the RSS bound (property 3) is about utmemd, not
# ASan: its quarantine holds freed blocks on purpose (256 MiB by default),
# and a flood of small frees (t_flush.sh) put utmemd at 152-157 MiB
# against a bound of 148, 67 MiB with the quarantine off.
case ${UTMEM_SANITIZE:-none} in
*address*)
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:allocator_release_to_os_interval_ms=0"
	;;
esac

# Against the old daemon every check is reported and the case goes on, so
# that one run shows all the figures (the exit status is still 1).
if [ "${HOSTILE_OLD:-0}" = 1 ]; then
	OLD_FAILS=0
	fail() {
		echo "FAIL (old daemon): $*" >&2
		OLD_FAILS=$((OLD_FAILS + 1))
		return 0
	}
	trap 'cleanup; [ "$OLD_FAILS" = 0 ] || exit 1' EXIT
fi

RUN=$T/run
# A case about large values may raise these (t_bigcopy.sh); the RSS bound
# follows.
CAP_MB=${HOSTILE_CAP_MB:-64}
MAXV_MB=${HOSTILE_MAX_VALUE_MB:-8}
MAXV=$((MAXV_MB << 20))
INFLIGHT_MB=${HOSTILE_INFLIGHT_MB:-16}
EVIL_MAX_MB=${HOSTILE_EVIL_MAX_MB:-24}
MAX_CONNS=32
WORKERS=${HOSTILE_WORKERS:-2} # a case may share one worker between tenants
RING_SIZE=${HOSTILE_RING_SIZE:-off} # a case may turn the fast path on
TOKEN_GOOD=good-token-0123456789
TOKEN_EVIL=evil-token-0123456789

# hostile_config [EXTRA_MAIN_LINES]: the two-tenant configuration. Keys a
# pre-issue-8 utmemd would refuse are tagged "#new" and dropped for it.
hostile_config() {
	{
		cat <<CFG
[utmemd]
capacity = ${CAP_MB}M
max_value = ${MAXV_MB}M
workers = $WORKERS
ring_size = $RING_SIZE
tcp = 127.0.0.1:0
log_level = info
idle_timeout = 3 #new
client_timeout = 2 #new
frame_timeout = 2 #new
auth_timeout = 1 #new
max_unauth = 8 #new
${1:-}
[tenant good]
max = 24M
token = $TOKEN_GOOD
inflight = ${INFLIGHT_MB}M #new
max_conns = $MAX_CONNS #new
max_pools = 64 #new
[tenant evil]
max = ${EVIL_MAX_MB}M
token = $TOKEN_EVIL
inflight = ${INFLIGHT_MB}M #new
max_conns = $MAX_CONNS #new
max_pools = 64 #new
[pool common]
kind = persistent
tenants = good, evil
manage = good #new
CFG
	} | if [ "${HOSTILE_OLD:-0}" = 1 ]; then grep -v '#new'; else sed 's/ #new$//'; fi \
		>"$T/h.ini"
}

# The bound on utmemd's RSS for this configuration (docs/security.md):
# capacity + each tenant's in-flight budget (its rings included) + its
# connections' base buffers (50 KiB each, twice with rings on: the ring
# is a connection of its own) + each worker's reply cache (16 MiB) + admin
# and pre-auth connections + 32 MiB fixed (code, stacks, allocator and
# store tables).
rss_bound_kb() {
	local per_conn=1
	[ "$RING_SIZE" = off ] || per_conn=2
	echo $(((CAP_MB + 2 * INFLIGHT_MB + WORKERS * 16 + 32) * 1024 +
		(2 * MAX_CONNS * per_conn + 16 + 8) * 50))
}

rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# hostile_start [EXTRA_MAIN_LINES]: start utmemd, store the acknowledged
# set, measure good's baseline, then start the RSS sampler and the probe.
hostile_start() {
	hostile_config "${1:-}"
	start_daemon d "$RUN" -c "$T/h.ini"
	TCP=$(sed -n 's/^tcp: \(tcp:[0-9.]*:[0-9]*\).*/\1/p' "$T/d.out")
	GOOD=$RUN/good.sock
	EVIL=$RUN/evil.sock
	out=$("$HOSTILE" ack put "$GOOD" acked 200) || fail "ack put: $out"
	[ "$out" = "acked 200 failed 0" ] || fail "acknowledged set not stored: $out"
	out=$("$HOSTILE" ack put "$GOOD" common 50 shared) || fail "ack put shared: $out"
	[ "$out" = "acked 50 failed 0" ] || fail "shared set not stored: $out"
	BASE=$("$HOSTILE" probe "$GOOD" 0.5) || fail "baseline probe"
	echo "baseline: $BASE"
	(while kill -0 "$DPID" 2>/dev/null; do rss_kb "$DPID"; sleep 0.05; done) \
		>"$T/rss.txt" &
	RSSPID=$!
	PIDS+=("$RSSPID")
	"$HOSTILE" probe "$GOOD" 120 "$T/probe.stop" >"$T/probe.out" 2>"$T/probe.log" &
	PROBEPID=$!
	PIDS+=("$PROBEPID")
	ATTACK_START=$(date +%s%N)
}

field() { printf '%s\n' "$1" | tr ' ' '\n' | awk -v k="$2" 'p { print; exit } $0 == k { p = 1 }'; }

# hostile_end NAME: stop the probe and check the five properties.
hostile_end() {
	local name=$1 during base50 d50 d99 dmax stall errs max_rss bound lim
	touch "$T/probe.stop"
	wait "$PROBEPID" || fail "$name: probe failed: $(cat "$T/probe.log")"
	during=$(cat "$T/probe.out")
	echo "during attack: $during"
	kill -0 "$DPID" 2>/dev/null || fail "$name: utmemd died"
	errs=$(field "$during" errors)
	[ "$errs" = 0 ] || fail "$name: good tenant saw $errs errors during the attack: $during ($(head -3 "$T/probe.log"))"
	base50=$(field "$BASE" p50_us)
	d50=$(field "$during" p50_us)
	d99=$(field "$during" own_p99_us)
	stall=$(field "$during" stall_max_us)
	lim=$((base50 * 10 > base50 + 2000 ? base50 * 10 : base50 + 2000))
	[ "$d50" -le "$lim" ] || fail "$name: good tenant's median $d50 us, baseline $base50 us (limit $lim)"
	# Absolute bounds scale with the build's slowdown (TSan: 10x); the
	# plain build of make test holds them as written. (One TSan run saw a
	# 1.16 s round trip of a good tenant while a compiler shared the two
	# cores; three reruns saw 3.5 ms at most.)
	[ "$d99" -le $((250000 * SLOWDOWN)) ] || fail "$name: good tenant's p99 $d99 us of its own (the machine stalled up to $stall us): $during"
	dmax=$(field "$during" own_max_us)
	[ "$dmax" -le $((750000 * SLOWDOWN)) ] || fail "$name: one of good tenant's round trips took $dmax us of its own (the machine stalled up to $stall us): $during"
	kill "$RSSPID" 2>/dev/null
	wait "$RSSPID" 2>/dev/null
	# One sample now too: a short attack can end before the sampler's
	# first turn (a loaded machine), which left the file empty.
	rss_kb "$DPID" >>"$T/rss.txt"
	max_rss=$(sort -n "$T/rss.txt" | tail -n 1)
	bound=$(rss_bound_kb)
	echo "rss: max $((max_rss / 1024)) MiB during the attack, bound $((bound / 1024)) MiB (capacity $CAP_MB MiB)"
	if rss_judged; then
		[ "$max_rss" -le "$bound" ] || fail "$name: RSS $max_rss KiB above the bound $bound KiB"
	else
		echo "rss: not judged under ThreadSanitizer (its shadow memory)"
	fi
	out=$("$HOSTILE" ack check "$GOOD" acked 200)
	[ "$out" = "checked 200 lost 0" ] || fail "$name: acknowledged values lost: $out"
	out=$("$HOSTILE" ack check "$GOOD" common 50 shared)
	[ "$out" = "checked 50 lost 0" ] || fail "$name: acknowledged shared values lost: $out"
	ctl stats >/dev/null || fail "$name: the admin socket does not answer"
	local t0=$(date +%s%N)
	# stop_daemon kills a utmemd still running 5 s after SIGTERM (30
	# under a sanitizer) and returns 124.
	stop_daemon "$DPID" || fail "$name: utmemd exit status $? on SIGTERM (124: it did not stop)"
	[ "${OLD_FAILS:-0}" = 0 ] && ok "$name: utmemd up, good served (p50 $d50 us vs $base50 us, p99 $d99 us, max $dmax us of its own, machine stalls up to $stall us, 0 errors), RSS $((max_rss / 1024)) MiB <= $((bound / 1024)) MiB, nothing lost, SIGTERM stop in $((($(date +%s%N) - t0) / 1000000)) ms"
}

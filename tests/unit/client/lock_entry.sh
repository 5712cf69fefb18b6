#!/usr/bin/env bash
# Every public call of libutmem takes its client's lock through
# uclient_lock() (src/client/client_int.h), which also takes over a client
# inherited through fork(). A call that took c->lock by hand could skip
# that check: nothing but uclient_lock() may lock a client's lock.
# Argument: the directory src/client.
set -u
dir=$1
status=0
# c->lock, b->c->lock, &cl->lock: any lock taken through a member `lock`.
pat='pthread_mutex_(lock|trylock|timedlock)[[:space:]]*\([^)]*(->|\.)lock[[:space:]]*[,)]'
hits=$(grep -nE "$pat" "$dir"/*.c "$dir"/*.h)
if [ -z "$hits" ]; then
	echo "FAIL: no lock taken at all: is uclient_lock() still in client_int.h?"
	exit 1
fi
while IFS= read -r line; do
	file=${line%%:*}
	rest=${line#*:}
	n=${rest%%:*}
	# The one allowed place: inside uclient_lock() in client_int.h.
	fn=$(awk -v n="$n" 'NR <= n && /^(static inline )?[a-z].*\(/ { f = $0 } NR == n { print f }' "$file")
	case "$(basename "$file"):$fn" in
	client_int.h:*" uclient_lock("*) ;;
	*)
		echo "FAIL: $file:$n takes a client's lock by hand (use uclient_lock()): ${rest#*:}"
		status=1
		;;
	esac
done <<<"$hits"
[ "$status" = 0 ] && echo "every lock of a client is taken through uclient_lock()"
exit "$status"

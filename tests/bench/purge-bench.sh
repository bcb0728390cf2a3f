#!/bin/bash
# A purge of expired tokens, on an idle apitokend and under load:
#
#     tests/bench/purge-bench.sh [BUILD_DIR]
#
# For each mode in PURGE_LOAD ("0 1"): bench_populate makes PURGE_SIZE
# (1000000) users with a token each and PURGE_EXPIRING (200000) more
# whose tokens expire PURGE_MARGIN (45) seconds later; apitokend starts
# on the store (no relay, sweep_interval 1d), is warmed with wrk (5 s
# uniform, twice 5 s Zipf: its worker threads then hold read snapshots),
# and once those tokens have expired `apitokenctl purge` runs through the
# admin socket, alone (mode 0) or while 3 s Zipf wrk runs go on (mode 1).
# Printed per mode: how long the purge took and what apitokenctl said,
# the Berkeley DB freezer files in the store after it (old page versions
# pushed out of the cache; store_snapshot.c), requests/s during the
# purge (median) and after it (median of three runs).
# Builds nothing, not part of make check; about 2 minutes per mode.
set -u
BUILD=$(cd "${1:-.}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
SIZE=${PURGE_SIZE:-1000000}
EXPIRING=${PURGE_EXPIRING:-200000}
MARGIN=${PURGE_MARGIN:-45}
LOADS=${PURGE_LOAD:-0 1}
LUA="$here/scale.lua"
for v in "$SIZE" "$EXPIRING" "$MARGIN"; do
	case $v in
	'' | *[!0-9]*) echo "purge-bench: PURGE_SIZE, PURGE_EXPIRING and PURGE_MARGIN are whole numbers, not '$v'" >&2; exit 2 ;;
	esac
done
for load in $LOADS; do
	case $load in
	0 | 1) ;;
	*) echo "purge-bench: PURGE_LOAD is a list of 0 (idle) and 1 (under load), not '$load'" >&2; exit 2 ;;
	esac
done
NAME=purge-bench
. "$here/bench-store.sh"
bench_setup introspect/apitokend core/apitokenctl tests/bench/bench_populate

# rps DIST SECONDS: requests/s of one wrk run
rps() {
	BENCH_DIST=$1 BENCH_TOKENS="$d/tokens" BENCH_AUTH="$auth" \
		timeout $(($2 + 60)) wrk -t2 -c64 -d"$2s" -s "$LUA" "$url" 2>&1 |
		awk '/^Requests\/sec:/ { printf "%.0f\n", $2 }'
}

echo "# purge-bench: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
for load in $LOADS; do
	d="$tmp/store-$load"
	bench_config "$d"
	"$BUILD/tests/bench/bench_populate" --config "$d/apitoken.json" \
		--count "$SIZE" --notices --out "$d/tokens" >/dev/null 2>&1 ||
		{ echo "purge-bench: bench_populate failed" >&2; exit 1; }
	exp=$(($(date +%s) + MARGIN))
	"$BUILD/tests/bench/bench_populate" --config "$d/apitoken.json" \
		--prefix x --count "$EXPIRING" --expire-at "$exp" --notices \
		--out "$d/expiring" >/dev/null 2>&1 ||
		{ echo "purge-bench: bench_populate failed" >&2; exit 1; }
	bench_client
	bench_start "$d"
	[ "$(date +%s)" -lt "$exp" ] ||
		{ echo "purge-bench: the tokens expired before apitokend started; raise PURGE_MARGIN" >&2; exit 1; }
	warm="$(rps uniform 5) $(rps zipf 5) $(rps zipf 5)"
	while [ "$(date +%s)" -le "$exp" ]; do sleep 1; done
	: >"$d/during"
	t0=$(date +%s.%N)
	# The end is noted by the purge's own subshell: under load the wait
	# below ends only with the wrk run that covered it.
	("$BUILD/core/apitokenctl" purge >"$d/purge.out" 2>&1
	 date +%s.%N >"$d/purge.end") &
	ppid=$!
	pids="$pids $ppid"
	if [ "$load" = 1 ]; then
		while kill -0 "$ppid" 2>/dev/null; do rps zipf 3 >>"$d/during"; done
	fi
	wait "$ppid"
	took=$(awk -v a="$t0" -v b="$(cat "$d/purge.end")" 'BEGIN { printf "%.1f", b - a }')
	frozen=$(find "$d/store" -maxdepth 1 -name '__db.freezer.*' | wc -l)
	after=$(for i in 1 2 3; do rps zipf 3; done | median)
	during=$(median <"$d/during")
	[ -s "$d/during" ] || during=-
	printf '%s %d + %d expiring: purge %s s (%s); freezer files after: %d; req/s during: %s; after: %s (warm-up: %s)\n' \
		"$([ "$load" = 1 ] && echo "under load" || echo "idle      ")" \
		"$SIZE" "$EXPIRING" "$took" "$(tail -n 1 "$d/purge.out")" \
		"$frozen" "$during" "$after" "$warm"
	kill "$pid"
	wait "$pid" 2>/dev/null
	rm -rf "$d"
done

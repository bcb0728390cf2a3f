#!/bin/bash
# Introspection throughput under a steady stream of writes to OTHER users
# (issue 10): 10000 tokens, all asked (introspect.lua, wrk -t2 -cCONNS
# keep-alive), while admin_writer.py changes the role of users that hold
# no asked token at 0, 1, 10 and 50 writes/s through the admin socket.
# static_server runs in every round as the reference.  The cells are
# measured in turn, ROUNDS times (alternating), and per cell the medians
# are printed: requests/s, the ratio to no writes and to static, the
# daemon's CPU time per request (utime + stime from /proc over the run,
# writes included), and the share of answers that were kept ones (from
# /metrics).  Target: 50 writes/s >= 0.85x the throughput with none.
#
#     tests/bench/write-load.sh [BUILD_DIR]
#
# BENCH_ROUNDS (3), BENCH_SECONDS (5), BENCH_CONNS (64), BENCH_RATES
# ("0 1 10 50").  BENCH_DRAIN_OUTBOX=1 empties the outbox before the
# daemon starts (bench_issue --drain-outbox): without a relay the 10000
# "created" notices stay queued, and the mail thread walks them all after
# every admin command (issue 10, item 2), which is then measured too.  Builds nothing, not part of make check; about
# ROUNDS * (rates + 1) * (SECONDS + 1) seconds plus a few for the store.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/bench-dirs.sh" "${1:-}"
. "$top_srcdir/tests/daemon.sh"

ROUNDS=${BENCH_ROUNDS:-3}
SECS=${BENCH_SECONDS:-5}
CONNS=${BENCH_CONNS:-64}
RATES=${BENCH_RATES:-0 1 10 50}
OTHERS=200
STATIC="$top_builddir/tests/bench/static_server"
ISSUE="$top_builddir/tests/bench/bench_issue"
LUA="$top_srcdir/tests/bench/introspect.lua"
WRITER="$top_srcdir/tests/bench/admin_writer.py"
for b in "$APITOKEND" "$APITOKENCTL" "$STATIC" "$ISSUE"; do
	[ -x "$b" ] || { echo "write-load: $b is not built" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "write-load: wrk not found" >&2; exit 1; }
command -v python3 >/dev/null || { echo "write-load: no python3" >&2; exit 1; }

daemon_config '"sweep_interval": "1h", "mail": { "reminders": [] }'
drain=""
[ "${BENCH_DRAIN_OUTBOX:-0}" = 1 ] && drain=--drain-outbox
"$ISSUE" --config "$DAEMON_CONFIG" --count 10000 $drain \
	--out "$scratch/issued" >/dev/null || exit 1
cut -d' ' -f2 "$scratch/issued" >"$scratch/tokens"
for i in $(seq 0 $((OTHERS - 1))); do
	echo "other$i,other$i@example.org,user,"
done | "$APITOKENCTL" user import - >/dev/null 2>&1 ||
	{ echo "write-load: user import failed" >&2; exit 1; }
secret=$("$APITOKENCTL" client add bench 2>/dev/null |
	grep -Eo 'apicli_[0-9A-Za-z]+' | tail -n 1)
[ -n "$secret" ] || { echo "write-load: client add failed" >&2; exit 1; }
BENCH_AUTH="Basic $(printf 'bench:%s' "$secret" | base64 -w0)"
BENCH_TOKENS="$scratch/tokens"
export BENCH_AUTH BENCH_TOKENS

start_daemon --log-level notice ||
	{ echo "write-load: apitokend did not start" >&2; exit 1; }
"$STATIC" --port-file "$scratch/static.port" &
static_pid=$!
writer_pid=""
at_exit 'kill $static_pid $writer_pid 2>/dev/null; wait $static_pid 2>/dev/null'
for i in $(seq 1 100); do
	[ -s "$scratch/static.port" ] && break
	sleep 0.1
done
STATIC_URL="http://$(cat "$scratch/static.port")"

hits() {
	curl -s "$BASE_URL/metrics" | awk '
		/^apitokend_introspection_cache_total\{result="hit"\}/ { h = $2 }
		/^apitokend_introspection_cache_total\{result="miss"\}/ { m = $2 }
		END { print h + 0, m + 0 }'
}

# cell NAME RATE URL PID: one run; prints "NAME rps us/req kept% writes".
cell() {
	local name=$1 rate=$2 url=$3 pid=$4 t0 t1 rps h0 m0 h1 m1 w=0
	if [ "$rate" != 0 ]; then
		python3 "$WRITER" "$DAEMON_ADMIN_SOCKET" "$rate" other "$OTHERS" \
			>"$scratch/writer.out" &
		writer_pid=$!
		sleep 0.5
	fi
	set -- $(hits)
	h0=$1 m0=$2
	t0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
	rps=$(wrk -t2 -c"$CONNS" -d"${SECS}s" -s "$LUA" "$url/introspect" |
		awk '/^Requests\/sec:/ { print $2 }')
	t1=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
	set -- $(hits)
	h1=$1 m1=$2
	if [ -n "$writer_pid" ]; then
		kill -TERM "$writer_pid"
		wait "$writer_pid"
		writer_pid=""
		w=$(awk '{ print $2 - $4 }' "$scratch/writer.out")
	fi
	awk -v n="$name" -v r="${rps:-0}" -v t=$((t1 - t0)) \
		-v hz="$(getconf CLK_TCK)" -v s="$SECS" -v dh=$((h1 - h0)) \
		-v dm=$((m1 - m0)) -v w="$w" 'BEGIN {
		us = r > 0 ? t / hz * 1e6 / (r * s) : 0
		k = dh + dm > 0 ? 100 * dh / (dh + dm) : 0
		printf "%s %.0f %.2f %.1f %s\n", n, r, us, k, w }'
}

cell warm 0 "$BASE_URL" "$DAEMON_PID" >/dev/null
cell warm 0 "$STATIC_URL" "$static_pid" >/dev/null
for round in $(seq 1 "$ROUNDS"); do
	cell static 0 "$STATIC_URL" "$static_pid"
	for rate in $RATES; do
		cell "w$rate" "$rate" "$BASE_URL" "$DAEMON_PID"
	done
done >"$scratch/results"

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
col() { awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$scratch/results" | median; }

base=$(col w0 2)
stat=$(col static 2)
printf '%-14s %9s %9s %9s %9s %8s %8s\n' writes/s "req/s" "vs 0" \
	"vs static" "us/req" "kept%" "writes"
printf '%-14s %9s %9s %9s %9s %8s %8s\n' static "$stat" - 1.00 \
	"$(col static 3)" - -
for rate in $RATES; do
	r=$(col "w$rate" 2)
	printf '%-14s %9s %9s %9s %9s %8s %8s\n' "$rate" "$r" \
		"$(awk -v a="$r" -v b="$base" 'BEGIN { printf "%.2f", a / b }')" \
		"$(awk -v a="$r" -v b="$stat" 'BEGIN { printf "%.2f", a / b }')" \
		"$(col "w$rate" 3)" "$(col "w$rate" 4)" "$(col "w$rate" 5)"
done
echo "# medians of $ROUNDS alternating ${SECS}s runs, wrk -t2 -c$CONNS" \
	"keep-alive, 10000 tokens, writes to $OTHERS other users," \
	"outbox $([ -n "$drain" ] && echo emptied || echo full)," \
	"$(nproc) CPUs" >&2
sed 's/^/# /' "$scratch/results" >&2

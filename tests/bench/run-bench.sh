#!/bin/sh
# Throughput of apitokend's POST /introspect against a static
# libmicrohttpd server with the same flags (tests/bench/static_server), with
# wrk: keep-alive and a new connection per request, 8 and 64 connections,
# 2 threads, BENCH_SECONDS (5) each, best of BENCH_ROUNDS (1) alternating
# rounds.  10000 users with one token each are
# made first (bench_issue, through the core API); requests cycle through
# all tokens, client_secret_basic.  BENCH_DAEMON_ARGS adds apitokend
# options (e.g. "--log-level notice" to leave out the access log);
# BENCH_MODES ("keepalive close") and BENCH_CONNS ("8 64") pick cells;
# BENCH_CONFIG adds keys to apitokend's configuration (e.g.
# '"introspection_cache": 0' to compute every answer).  At the end the
# kept-answer hits and misses from /metrics show which path was measured.
#
# Builds nothing: run it from a build folder after `make`:
#     /path/to/src/tests/bench/run-bench.sh [BUILD_DIR]
# Not part of make check: it takes about a minute and measures, not tests.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/bench-dirs.sh" "${1:-}"
. "$top_srcdir/tests/daemon.sh"

TOKENS=${BENCH_TOKENS_COUNT:-10000}
SECONDS_EACH=${BENCH_SECONDS:-5}
ROUNDS=${BENCH_ROUNDS:-1}	# best of N alternating rounds per cell
STATIC="$top_builddir/tests/bench/static_server"
ISSUE="$top_builddir/tests/bench/bench_issue"
LUA="$top_srcdir/tests/bench/introspect.lua"

for b in "$APITOKEND" "$APITOKENCTL" "$STATIC" "$ISSUE"; do
	if [ ! -x "$b" ]; then
		echo "run-bench: $b is not built; run make first" >&2
		exit 1
	fi
done
if ! command -v wrk >/dev/null; then
	echo "run-bench: wrk not found (apt-get install wrk)" >&2
	exit 1
fi

daemon_config "${BENCH_CONFIG:-}"
echo "# making $TOKENS users and tokens" >&2
t0=$(date +%s)
"$ISSUE" --config "$DAEMON_CONFIG" --count "$TOKENS" \
	--out "$scratch/issued" || exit 1
cut -d' ' -f2 "$scratch/issued" >"$scratch/tokens"
client_secret=$("$APITOKENCTL" client add bench 2>/dev/null |
	grep -Eo 'apicli_[0-9A-Za-z]+' | tail -n 1)
[ -n "$client_secret" ] || { echo "run-bench: client add failed" >&2; exit 1; }
echo "# provisioned in $(($(date +%s) - t0)) s" >&2

start_daemon ${BENCH_DAEMON_ARGS:-} || { echo "run-bench: apitokend did not start" >&2; exit 1; }
"$STATIC" --port-file "$scratch/static.port" &
static_pid=$!
at_exit 'kill $static_pid 2>/dev/null; wait $static_pid 2>/dev/null'
for i in $(seq 1 100); do
	[ -s "$scratch/static.port" ] && break
	sleep 0.1
done
[ -s "$scratch/static.port" ] ||
	{ echo "run-bench: static_server did not start" >&2; exit 1; }
STATIC_URL="http://$(cat "$scratch/static.port")"

BENCH_AUTH="Basic $(printf 'bench:%s' "$client_secret" | base64 -w0)"
BENCH_TOKENS="$scratch/tokens"
export BENCH_AUTH BENCH_TOKENS

# Every token must really be active, or we would measure the wrong path.
for tok in $(shuf -n 3 "$scratch/tokens"); do
	body=$(curl -s -H "Authorization: $BENCH_AUTH" \
		--data-urlencode "token=$tok" "$BASE_URL/introspect")
	case "$body" in
	'{"active":true'*) ;;
	*) echo "run-bench: token not active: $body" >&2; exit 1 ;;
	esac
done

# run URL CONNS MODE: requests/s of one wrk run; non-2xx answers or socket
# errors are reported on stderr and make the cell "err".
run() {
	local url="$1" conns="$2" mode="$3" out rps bad p99
	set -- -t2 -c"$conns" -d"${SECONDS_EACH}s" --latency -s "$LUA"
	[ "$mode" = close ] && set -- "$@" -H "Connection: close"
	out=$(wrk "$@" "$url/introspect" 2>&1)
	rps=$(printf '%s\n' "$out" | awk '/^Requests\/sec:/ { print $2 }')
	bad=$(printf '%s\n' "$out" |
		grep -E 'Non-2xx|Socket errors' | tr -s ' ' | tr '\n' ';')
	if [ -n "$bad" ]; then
		echo "# $url c=$conns $mode: $bad" >&2
	fi
	p99=$(printf '%s\n' "$out" | awk '$1 == "99%" { print $2 }')
	echo "${rps:-0} ${p99:-?}"
}

# Warm up both (page cache, thread pools).
run "$BASE_URL" 8 keepalive >/dev/null
run "$STATIC_URL" 8 keepalive >/dev/null

printf '%-10s %5s  %12s %9s  %12s %9s  %7s\n' mode conns \
	"apitokend/s" "p99" "static/s" "p99" ratio
for mode in ${BENCH_MODES:-keepalive close}; do
	for conns in ${BENCH_CONNS:-8 64}; do
		a=0 s=0 ap99=? sp99=?
		# Alternate the two servers; keep each one's best round.
		for round in $(seq 1 "$ROUNDS"); do
			set -- $(run "$BASE_URL" "$conns" "$mode")
			if awk -v x="$1" -v y="$a" 'BEGIN { exit !(x > y) }'
			then
				a=$1 ap99=$2
			fi
			set -- $(run "$STATIC_URL" "$conns" "$mode")
			if awk -v x="$1" -v y="$s" 'BEGIN { exit !(x > y) }'
			then
				s=$1 sp99=$2
			fi
		done
		ratio=$(awk -v a="$a" -v s="$s" \
			'BEGIN { if (s > 0) printf "%.2f", a / s; else print "-" }')
		printf '%-10s %5s  %12.0f %9s  %12.0f %9s  %7s\n' "$mode" \
			"$conns" "$a" "$ap99" "$s" "$sp99" "$ratio"
	done
done
curl -s "$BASE_URL/metrics" |
	sed -n 's/^apitokend_introspection_cache_total{result="\(.*\)"} /# kept answers, \1: /p' >&2
echo "# $TOKENS tokens, wrk -t2, ${SECONDS_EACH}s per run, best of $ROUNDS," \
	"$(nproc) CPUs," \
	"apitokend and static_server with $(nproc) MHD threads" >&2

#!/bin/bash
# Compare two builds of apitokend side by side (e.g. before and after a
# change), with static_server as the reference:
#
#     tests/bench/compare-builds.sh BUILD_A BUILD_B [ROUNDS] [CONNS]
#
# Each build gets its own store with the same population (10000 users with
# one token each, bench_issue) and its own apitokend; the three servers are
# then measured in turn, ROUNDS (8) times, with 2-second keep-alive runs of
# wrk -t2 -cCONNS (8) and introspect.lua.  Printed per server: the median
# requests/s and the median server CPU time per request (utime + stime of
# the process over the run, divided by its requests).  Alternating the
# servers and taking medians is what makes a few percent visible on a noisy
# machine; even so, repeat a comparison before believing a small
# difference.  Builds nothing, is not part of make check, and takes about a
# minute per 4 rounds.
#
# BENCH_EXTRA_A / BENCH_EXTRA_B (optional): extra members of each
# apitokend's configuration, e.g. '"last_used": false'
# (compare-configs.sh runs one build under two configurations this way).
set -u
if [ $# -lt 2 ]; then
	echo "usage: $0 BUILD_A BUILD_B [ROUNDS] [CONNS]" >&2
	exit 64
fi
A=$(cd "$1" && pwd) B=$(cd "$2" && pwd)
ROUNDS=${3:-8} CONNS=${4:-8}
here=$(cd "$(dirname "$0")" && pwd)
LUA="$here/introspect.lua"
for b in "$A" "$B"; do
	for p in introspect/apitokend core/apitokenctl tests/bench/bench_issue \
		tests/bench/static_server; do
		if [ ! -x "$b/$p" ]; then
			echo "compare-builds: $b/$p is not built" >&2
			exit 1
		fi
	done
done
command -v wrk >/dev/null || { echo "compare-builds: wrk not found" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/apitoken-compare.XXXXXX")
pids=""
trap 'kill $pids 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT

# setup NAME BUILD EXTRA: store, tokens, client and a running apitokend.
setup() {
	local d="$tmp/$1" secret i
	mkdir -p "$d"
	cat >"$d/apitoken.json" <<EOF
{ "store": "$d/store", "listen": "127.0.0.1:0",
  "roles": { "admin": ["api:read", "api:write", "api:admin"],
             "user": ["api:read"] }${3:+, $3} }
EOF
	"$2/tests/bench/bench_issue" --config "$d/apitoken.json" \
		--count 10000 --out "$d/issued" >/dev/null || exit 1
	cut -d' ' -f2 "$d/issued" >"$d/tokens"
	secret=$(APITOKEN_CONFIG="$d/apitoken.json" \
		"$2/core/apitokenctl" client add bench 2>/dev/null |
		grep -Eo 'apicli_[0-9A-Za-z]+' | tail -n 1)
	[ -n "$secret" ] || { echo "compare-builds: client add failed" >&2; exit 1; }
	printf 'Basic %s' "$(printf 'bench:%s' "$secret" | base64 -w0)" \
		>"$d/auth"
	"$2/introspect/apitokend" --foreground --config "$d/apitoken.json" \
		--port-file "$d/port" 2>"$d/log" &
	echo $! >"$d/pid"
	pids="$pids $!"
	for i in $(seq 1 100); do
		[ -s "$d/port" ] && return 0
		sleep 0.1
	done
	echo "compare-builds: apitokend of $2 did not start" >&2
	exit 1
}
setup a "$A" "${BENCH_EXTRA_A:-}"
setup b "$B" "${BENCH_EXTRA_B:-}"
mkdir -p "$tmp/s"
"$A/tests/bench/static_server" --port-file "$tmp/s/port" &
echo $! >"$tmp/s/pid"
pids="$pids $!"
cp "$tmp/a/auth" "$tmp/a/tokens" "$tmp/s/"
for i in $(seq 1 100); do
	[ -s "$tmp/s/port" ] && break
	sleep 0.1
done

# run NAME: "requests/s server-us/request" of one 2-second run.
run() {
	local d="$tmp/$1" pid t0 t1 rps
	pid=$(cat "$d/pid")
	t0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
	rps=$(BENCH_AUTH=$(cat "$d/auth") BENCH_TOKENS="$d/tokens" \
		wrk -t2 -c"$CONNS" -d2s -s "$LUA" \
		"http://$(cat "$d/port")/introspect" |
		awk '/^Requests\/sec:/ { print $2 }')
	t1=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
	awk -v r="${rps:-0}" -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" \
		'BEGIN { if (r > 0) printf "%.0f %.2f\n", r, t / hz * 1e6 / (r * 2); else print "0 0" }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

for n in a b s; do run $n >/dev/null; done # warm-up
for i in $(seq 1 "$ROUNDS"); do
	for n in a b s; do echo "$n $(run $n)"; done
done >"$tmp/results"
for n in a b s; do
	case $n in
	a) what="A $A${BENCH_EXTRA_A:+ $BENCH_EXTRA_A}" ;;
	b) what="B $B${BENCH_EXTRA_B:+ $BENCH_EXTRA_B}" ;;
	s) what="static_server" ;;
	esac
	printf '%-60s %9s req/s %7s us/req\n' "$what" \
		"$(awk -v n=$n '$1 == n { print $2 }' "$tmp/results" | median)" \
		"$(awk -v n=$n '$1 == n { print $3 }' "$tmp/results" | median)"
done
echo "# medians of $ROUNDS alternating 2 s runs, wrk -t2 -c$CONNS keep-alive," \
	"$(nproc) CPUs" >&2

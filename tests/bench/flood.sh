#!/bin/bash
# Connection floods and failed-authentication throttling against real
# apitokends (issue 12), the long version of tests/integration/front-door.sh:
#
#     tests/bench/flood.sh BUILD_DIR [OTHER_BUILD_DIR]
#
# For each build (side by side when two are given, e.g. before and after a
# change): a fresh store with one user, token and client; then, per
# scenario, N connections held from 127.0.0.3 (idle: connected only;
# slowloris: a partial request head, a byte a second; "+20": spread over
# 127.0.0.3..22) while a normal client on 127.0.0.2 sends FLOOD_REQS (500)
# introspections, each on a new connection (5 s timeout each, at most
# FLOOD_BUDGET_S (60) seconds in all).  Printed: connections the server
# kept, answers, the normal client's p50/p99/max in ms.  Then 2000 wrong
# client secrets from one address on one keep-alive connection: which
# request got the first 429, the answers by status, the rate, Retry-After
# and the time until the right secret got in.
#
# Builds nothing; not part of make check; the connections need a hard
# open-files limit of at least 5000.  On a shared 2-CPU machine the
# latencies are noisy: compare the builds within one run.
set -u
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [OTHER_BUILD_DIR]" >&2; exit 64; }
here=$(cd "$(dirname "$0")" && pwd)
FD="python3 $here/../integration/front_door.py"
REQS=${FLOOD_REQS:-500}
SCENARIOS=${FLOOD_SCENARIOS:-"0:idle 1000:idle 1100:idle 4000:idle 4000:slowloris 4000+20:slowloris"}
# mktemp says why it failed (no such folder, no room).
tmp=$(mktemp -d "${TMPDIR:-/tmp}/apitoken-flood.XXXXXX") || exit 1
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
ulimit -n "$(ulimit -Hn)"

run_build() {
	local b=$1 name=$2 dir="$tmp/$2" n scen mode got
	mkdir -p "$dir"
	cat >"$dir/cfg.json" <<JSON
{"store": "$dir/store", "listen": "127.0.0.1:0"}
JSON
	export APITOKEN_CONFIG="$dir/cfg.json"
	"$b/core/apitokenctl" init >/dev/null
	"$b/core/apitokenctl" user add alice --email a@example.org --role admin >/dev/null
	local tok sec
	tok=$("$b/core/apitokenctl" token generate alice 2>/dev/null)
	sec=$("$b/core/apitokenctl" client add rs1 2>/dev/null)
	"$b/introspect/apitokend" --foreground --log-level notice \
		--port-file "$dir/port" 2>"$dir/log" &
	pid=$!
	for _ in $(seq 1 100); do [ -s "$dir/port" ] && break; sleep 0.1; done
	local port
	port=$(sed 's/.*://' "$dir/port")
	for scen in $SCENARIOS; do
		n=${scen%%:*} mode=${scen#*:}
		got=$($FD flood "$port" "${n%%+*}" "127.0.0.3$( [ "${n#*+}" != "$n" ] && echo "+${n#*+}")" \
			"$mode" "$REQS" 127.0.0.2 "rs1:$sec" "$tok")
		printf '%-8s %-10s %-8s %s\n' "$name" "$mode" "$n" "$got"
		sleep 2 # let the server see the hang-ups
	done
	got=$($FD throttle "$port" 2000 127.0.0.9 "rs1:wrong" "rs1:$sec" "$tok")
	printf '%-8s throttle   2000     %s\n' "$name" "$got"
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	pid=""
	printf '%-8s log lines: %s\n' "$name" "$(wc -l <"$dir/log")"
}

printf '%-8s %-10s %-8s %s\n' build mode held result
run_build "$(cd "$1" && pwd)" A
[ $# -ge 2 ] && run_build "$(cd "$2" && pwd)" B
exit 0

#!/bin/bash
# Regions benchmark (not part of make check): three sites on 127.0.0.1.
#  1. Revocation propagation: BENCH_REVOCATIONS (2000) revocations at the
#     master, each timed from the master's answer (after a quorum commit)
#     to "inactive" at each replica.
#  2. Failover: BENCH_FAILOVERS (5) times, kill -9 of the master while a
#     writer revokes tokens through a replica; time from the kill to the
#     first write reported done (median).
#  3. Introspection throughput (wrk, keep-alive, HTTPS) on a replica and on
#     a single site with the same tokens, side by side.
# Run from a build folder after make:  /path/to/tests/bench/regions-bench.sh
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/bench-dirs.sh" "${1:-}"
. "$top_srcdir/tests/regions-lib.sh"

N=${BENCH_REVOCATIONS:-2000}
RUNS=${BENCH_FAILOVERS:-5}
SECS=${BENCH_SECONDS:-5}
ISSUE="$top_builddir/tests/bench/bench_issue"
PY="$top_srcdir/tests/bench/regions_bench.py"
LUA="$top_srcdir/tests/bench/introspect.lua"
TOKENS=$((2 * N + RUNS * 2000 + 100))

regions_setup || { echo "regions-bench: setup failed" >&2; exit 1; }
# Site a's store is filled before it creates the group (offline, no
# replication key yet); b and c copy it when they join.
plain="$scratch/plain.json"
sed '/"replication"/,$d' "$scratch/a.json" | sed '$ s/,$//' >"$plain"
echo "}" >>"$plain"
echo "# making $TOKENS users and tokens" >&2
"$ISSUE" --config "$plain" --count "$TOKENS" --out "$scratch/issued" ||
	exit 1
cut -d' ' -f2 "$scratch/issued" >"$scratch/tokens"
# The same tokens in a single-site store for the throughput comparison.
cp -a "$scratch/a/store" "$scratch/single-store"
for s in a b c; do start_site "$s" || exit 1; done
RS_SECRET=$(ctl_at a client add rs1 --can-revoke 2>/dev/null)
AUTH="Basic $(printf 'rs1:%s' "$RS_SECRET" | base64 -w0)"
echo "# group up: master $(master_site)" >&2

# 3 first (needs active tokens): throughput on replica b vs single site
# (a store made from the same tokens, the same TLS certificate).
SPORT=$(free_port)
SINGLE_URL="https://127.0.0.1:$SPORT"
sed -e "s|$scratch/a/store|$scratch/single-store|" \
	-e "s|\"listen\": \"127.0.0.1:[0-9]*\"|\"listen\": \"127.0.0.1:$SPORT\"|" \
	"$plain" >"$scratch/single.json"
SSECRET=$(APITOKEN_CONFIG="$scratch/single.json" "$APITOKENCTL" client add \
	rs1 2>/dev/null)
SAUTH="Basic $(printf 'rs1:%s' "$SSECRET" | base64 -w0)"
"$APITOKEND" --foreground --config "$scratch/single.json" \
	--log-level notice 2>>"$scratch/single.log" &
single=$!
at_exit "kill $single 2>/dev/null"
sleep 1
head -n 10000 "$scratch/tokens" | tail -n 5000 >"$scratch/tput-tokens"
BENCH_AUTH="$AUTH" BENCH_TOKENS="$scratch/tput-tokens"
export BENCH_AUTH BENCH_TOKENS
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# One wrk run against URL served by PID: "req/s cpu-us-per-request".
wrkrun() {
	local t0 t1 rps
	t0=$(cpu_ticks "$2")
	rps=$(wrk -t2 -c"${BENCH_CONNS:-8}" -d"${SECS}s" -s "$LUA" "$1/introspect" 2>&1 |
		awk '/^Requests\/sec:/ { print $2 } /Non-2xx/ { print "ERR " $0 }')
	t1=$(cpu_ticks "$2")
	awk -v r="$rps" -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v s="$SECS" \
		'BEGIN { printf "%.0f %.1f\n", r, t / hz * 1e6 / (r * s) }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
wrkrun "$(url_of b)" "$SITE_PID_b" >/dev/null
BENCH_AUTH="$SAUTH" wrkrun "$SINGLE_URL" "$single" >/dev/null
# Alternating rounds; medians.
: >"$scratch/tput"
for round in $(seq 1 "${BENCH_ROUNDS:-5}"); do
	echo "replica $(wrkrun "$(url_of b)" "$SITE_PID_b")" >>"$scratch/tput"
	echo "single $(BENCH_AUTH="$SAUTH" wrkrun "$SINGLE_URL" "$single")" >>"$scratch/tput"
done
echo "introspection, wrk -t2 -c${BENCH_CONNS:-8} ${SECS}s keep-alive HTTPS, alternating rounds (req/s, server CPU us/request):"
for side in replica single; do
	echo "  $side: $(awk -v s=$side '$1 == s { printf "%s/%s ", $2, $3 }' "$scratch/tput")"
done
rr=$(awk '$1 == "replica" { print $2 }' "$scratch/tput" | median)
ro=$(awk '$1 == "single" { print $2 }' "$scratch/tput" | median)
cr=$(awk '$1 == "replica" { print $3 }' "$scratch/tput" | median)
co=$(awk '$1 == "single" { print $3 }' "$scratch/tput" | median)
awk -v a="$rr" -v b="$ro" -v c="$cr" -v d="$co" 'BEGIN {
	printf "  median replica / single: %.0f / %.0f req/s = %.2f; CPU per request %.1f / %.1f us = %.2f\n", a, b, a / b, c, d, c / d }'
kill "$single"; wait "$single" 2>/dev/null

# 1. Propagation.
tail -n $((N + 50)) "$scratch/tokens" | head -n "$N" >"$scratch/prop-tokens"
python3 "$PY" propagation "$(url_of a)" "$(url_of b)" "$(url_of c)" \
	--ca "$scratch/ca.pem" --tokens "$scratch/prop-tokens" --n "$N" \
	--auth "$AUTH"
# The same through each replica's local socket (C poller, no TLS).
tail -n $((2 * N + 50)) "$scratch/tokens" | head -n "$N" >"$scratch/prop-tokens2"
python3 "$PY" propagation-local "$(url_of a)" "$scratch/b/store/local.sock" \
	"$scratch/c/store/local.sock" --poll "$top_builddir/tests/bench/bench_poll" \
	--so "$top_builddir/plugin/.libs/validator.so" --ca "$scratch/ca.pem" \
	--tokens "$scratch/prop-tokens2" --n "$N" --auth "$AUTH"

# 2. Failover.
head -n $((RUNS * 2000)) "$scratch/tokens" | tail -n $((RUNS * 2000)) \
	>"$scratch/fo-tokens"
split -l 2000 -d "$scratch/fo-tokens" "$scratch/fo-part."
times=""
run=0
for part in "$scratch"/fo-part.*; do
	[ $run -lt "$RUNS" ] || break
	run=$((run + 1))
	M=$(master_site)
	for s in a b c; do [ "$s" != "$M" ] && W=$s; done
	: >"$scratch/fo.log"
	python3 "$PY" failover-writer "$(url_of "$W")" --ca "$scratch/ca.pem" \
		--auth "$AUTH" --tokens "$part" --out "$scratch/fo.log" \
		--seconds 6 >/dev/null &
	wpid=$!
	sleep 1.5
	t_kill=$(($(date +%s%N) / 1000000))
	kill_site "$M" KILL
	wait "$wpid"
	# The first write sent after the kill and reported done.
	first=$(awk -v t="$t_kill" '$1 > t && $3 == 200 { print $2 - t; exit }' \
		"$scratch/fo.log")
	fails=$(awk -v t="$t_kill" '$2 > t && $3 != 200' "$scratch/fo.log" | wc -l)
	echo "failover run $run: master $M killed; first write sent after the kill and done through $W after ${first:-never} ms ($fails refused meanwhile)"
	times="$times ${first:-999999}"
	start_site "$M" >/dev/null || exit 1
	sleep 2
done
echo "$times" | tr ' ' '\n' | sed '/^$/d' | sort -n |
	awk '{ v[NR] = $1 } END { printf "failover: median %d ms over %d runs\n", v[int((NR + 1) / 2)], NR }'
echo "# $(nproc) CPUs shared with other work; loopback; TCP_NODELAY on" >&2

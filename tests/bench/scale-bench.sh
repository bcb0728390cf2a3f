#!/bin/bash
# apitokend at scale, side by side with static_server (issue 10):
#
#     tests/bench/scale-bench.sh [BUILD_DIR]
#
# For each store size in SCALE_SIZES ("10000 1000000"): bench_populate
# makes that many users with one token each (and a queued "created"
# notice each, as a store without a mail relay holds), apitokend starts
# on it (no relay, sweep_interval 1d) and then, with static_server:
#   1. introspection throughput, tokens picked uniformly and Zipf (s =
#      1.0), wrk -t2 -cSCALE_CONNS (64) keep-alive, SCALE_SECONDS (3) per
#      run, apitokend and static_server alternating, SCALE_ROUNDS (3)
#      rounds: median requests/s, median server CPU per request (utime +
#      stime from /proc over the run), and the ratio;
#   2. idle CPU of apitokend over SCALE_IDLE (20) seconds, % of one core;
#   3. the local socket (the plugin's path): bench_local with 1, 2, 4
#      and 8 client threads (SCALE_CLIENTS), median and p99 per check,
#      1 client that checks once a millisecond, and 1 client with
#      apitokend and the client pinned to one CPU;
#   4. on the largest store only: SCALE_PURGE (200000) more tokens that
#      expire a minute or two after apitokend starts, then `apitokenctl
#      purge` (through the admin socket) while wrk runs (Zipf):
#      requests/s during the purge against after it, alternating with
#      static_server as in 1.
# Builds nothing, not part of make check; takes about 10 minutes with the
# defaults (most of it making the 1M store).  The machine's other load
# moves absolute numbers: compare the ratios, which come from runs next
# to each other.
set -u
BUILD=$(cd "${1:-.}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
SIZES=${SCALE_SIZES:-10000 1000000}
ROUNDS=${SCALE_ROUNDS:-3}
SECS=${SCALE_SECONDS:-3}
CONNS=${SCALE_CONNS:-64}
IDLE=${SCALE_IDLE:-20}
CLIENTS=${SCALE_CLIENTS:-1 2 4 8}
PURGE=${SCALE_PURGE:-200000}
LUA="$here/scale.lua"
NAME=scale-bench
. "$here/bench-store.sh"
bench_setup introspect/apitokend core/apitokenctl tests/bench/bench_populate \
	tests/bench/bench_local tests/bench/static_server \
	plugin/.libs/validator.so

say() { printf '%s\n' "$*"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# static_server, once for the whole run.
"$BUILD/tests/bench/static_server" --port-file "$tmp/static.port" &
static_pid=$!
pids="$pids $static_pid"
wait_file "$tmp/static.port" || { echo "scale-bench: static_server did not start" >&2; exit 1; }
static_url="http://$(cat "$tmp/static.port")/introspect"

# wrkrun URL PID DIST TOKENS AUTH: "requests/s cpu-us/request"
wrkrun() {
	local url=$1 pid=$2 t0 t1 out rps bad
	t0=$(cpu_ticks "$pid")
	out=$(BENCH_DIST=$3 BENCH_TOKENS=$4 BENCH_AUTH=$5 \
		timeout $((SECS + 60)) wrk -t2 -c"$CONNS" -d"${SECS}s" \
		-s "$LUA" "$url" 2>&1)
	t1=$(cpu_ticks "$pid")
	rps=$(printf '%s\n' "$out" | awk '/^Requests\/sec:/ { print $2 }')
	bad=$(printf '%s\n' "$out" | grep -E 'Non-2xx|Socket errors' | tr '\n' ' ')
	[ -n "$bad" ] && echo "# $url: $bad" >&2
	awk -v r="${rps:-0}" -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" \
		-v s="$SECS" 'BEGIN { if (r > 0) printf "%.0f %.1f\n", r, t / hz * 1e6 / (r * s); else print "0 0" }'
}

# compare LABEL DIST TOKENS AUTH ROUNDS: alternating rounds, medians.
compare() {
	local label=$1 dist=$2 toks=$3 auth=$4 n=$5 i
	: >"$tmp/cmp"
	for i in $(seq 1 "$n"); do
		echo "a $(wrkrun "$url" "$pid" "$dist" "$toks" "$auth")" >>"$tmp/cmp"
		echo "s $(wrkrun "$static_url" "$static_pid" "$dist" "$toks" "$auth")" >>"$tmp/cmp"
	done
	report "$label" "$tmp/cmp"
}

# report LABEL FILE: one table line from "a|s rps cpu" lines.
report() {
	local ar ac sr sc
	ar=$(awk '$1 == "a" { print $2 }' "$2" | median)
	ac=$(awk '$1 == "a" { print $3 }' "$2" | median)
	sr=$(awk '$1 == "s" { print $2 }' "$2" | median)
	sc=$(awk '$1 == "s" { print $3 }' "$2" | median)
	printf '%-34s %9s %7s us  %9s %7s us  %5s  (%s rounds)\n' "$1" \
		"$ar" "$ac" "$sr" "$sc" \
		"$(awk -v a="$ar" -v s="$sr" 'BEGIN { if (s > 0) printf "%.2f", a / s; else print "-" }')" \
		"$(grep -c '^a' "$2")"
}

largest=$(printf '%s\n' $SIZES | sort -n | tail -n 1)
say "# scale-bench: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at start, $(date -u +%FT%TZ)"
printf '%-34s %9s %10s  %9s %10s  %5s\n' "case" "apitokend" "cpu/req" \
	"static" "cpu/req" "ratio"
for n in $SIZES; do
	d="$tmp/s$n"
	bench_config "$d"
	t0=$(date +%s.%N)
	"$BUILD/tests/bench/bench_populate" --config "$d/apitoken.json" \
		--count "$n" --notices --out "$d/tokens" 2>/dev/null ||
		{ echo "scale-bench: bench_populate failed" >&2; exit 1; }
	say "# $n users, tokens and notices made in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }') s"
	purge_n=0
	if [ "$n" = "$largest" ] && [ "$PURGE" -gt 0 ]; then
		# Valid while apitokend starts (its first sweep at start must
		# find nothing): making them takes about a second per 5000 on
		# a busy machine, and the measurements before the purge take
		# a few minutes anyway.
		exp=$(($(date +%s) + 60 + PURGE / 2000))
		"$BUILD/tests/bench/bench_populate" --config "$d/apitoken.json" \
			--prefix x --count "$PURGE" --expire-at "$exp" \
			--notices --out "$d/expiring" 2>/dev/null ||
			{ echo "scale-bench: bench_populate failed" >&2; exit 1; }
		purge_n=$PURGE
	fi
	bench_client
	bench_start "$d"
	if [ "$purge_n" -gt 0 ] && [ "$(date +%s)" -ge "$exp" ]; then
		echo "scale-bench: the expiring tokens expired before apitokend started; raise the margin" >&2
		exit 1
	fi
	# Warm up both (and the kept answers).
	wrkrun "$url" "$pid" uniform "$d/tokens" "$auth" >/dev/null
	wrkrun "$static_url" "$static_pid" uniform "$d/tokens" "$auth" >/dev/null

	compare "$n tokens, uniform" uniform "$d/tokens" "$auth" "$ROUNDS"
	compare "$n tokens, zipf s=1.0" zipf "$d/tokens" "$auth" "$ROUNDS"

	t0=$(cpu_ticks "$pid")
	sleep "$IDLE"
	t1=$(cpu_ticks "$pid")
	say "# $n tokens: idle apitokend used $(awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v s="$IDLE" 'BEGIN { printf "%.2f", t / hz / s * 100 }')% of a core over $IDLE s ($(curl -s "${url%/introspect}/metrics" | awk '/^apitokend_mail_(queued|outbox_scans_total) / { printf "%s=%s ", $1, $2 }'))"

	for c in $CLIENTS; do
		printf '# %s tokens, local socket: ' "$n"
		timeout 120 "$BUILD/tests/bench/bench_local" \
			"$BUILD/plugin/.libs/validator.so" "$d/store/local.sock" \
			"$d/tokens" "$c" "$SECS" "$pid" || echo "(failed)"
	done
	# One client that checks now and then (every millisecond), not in a
	# tight loop: each check then finds apitokend asleep.
	printf '# %s tokens, local socket, a check every 1000 us: ' "$n"
	timeout 120 "$BUILD/tests/bench/bench_local" \
		"$BUILD/plugin/.libs/validator.so" "$d/store/local.sock" \
		"$d/tokens" 1 "$SECS" "$pid" 1000 || echo "(failed)"
	# One client again, with apitokend and the client on one CPU: no
	# wake-up crosses CPUs, which shows the daemon's own latency.
	if command -v taskset >/dev/null; then
		printf '# %s tokens, local socket, client and daemon on CPU 0: ' "$n"
		taskset -a -p -c 0 "$pid" >/dev/null
		timeout 120 taskset -c 0 "$BUILD/tests/bench/bench_local" \
			"$BUILD/plugin/.libs/validator.so" "$d/store/local.sock" \
			"$d/tokens" 1 "$SECS" "$pid" || echo "(failed)"
		taskset -a -p -c "0-$(($(nproc) - 1))" "$pid" >/dev/null
	fi

	if [ "$purge_n" -gt 0 ]; then
		while [ "$(date +%s)" -le "$exp" ]; do sleep 1; done
		: >"$tmp/during"
		t0=$(date +%s.%N)
		"$BUILD/core/apitokenctl" purge >"$d/purge.out" 2>&1 &
		ppid=$!
		pids="$pids $ppid"
		i=0
		while kill -0 "$ppid" 2>/dev/null && [ "$i" -lt 20 ]; do
			echo "a $(wrkrun "$url" "$pid" zipf "$d/tokens" "$auth")" >>"$tmp/during"
			echo "s $(wrkrun "$static_url" "$static_pid" zipf "$d/tokens" "$auth")" >>"$tmp/during"
			i=$((i + 1))
		done
		wait "$ppid"
		say "# purge of $purge_n expired tokens took $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s: $(tail -n 1 "$d/purge.out")"
		report "$n tokens, zipf, during purge" "$tmp/during"
		compare "$n tokens, zipf, after purge" zipf "$d/tokens" "$auth" "$ROUNDS"
	fi
	kill "$pid"
	wait "$pid" 2>/dev/null
	rm -rf "$d"
done
say "# wrk -t2 -c$CONNS keep-alive, ${SECS} s runs; cpu/req: server utime+stime per request; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"

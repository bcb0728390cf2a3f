# Sourced by scale-bench.sh and purge-bench.sh: what both do with a store
# of their own.  The caller sets BUILD (its build folder) and NAME (for
# messages), then calls bench_setup.

# bench_setup PROGRAM...: each must be built under $BUILD, and wrk
# installed.  Makes the folder $tmp; at exit every process in $pids is
# killed and $tmp removed.
bench_setup() {
	local p
	for p in "$@"; do
		[ -e "$BUILD/$p" ] || { echo "$NAME: $BUILD/$p is not built" >&2; exit 1; }
	done
	command -v wrk >/dev/null || { echo "$NAME: wrk not found" >&2; exit 1; }
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/apitoken-$NAME.XXXXXX") ||
		{ echo "$NAME: cannot make a folder in ${TMPDIR:-/tmp}" >&2; exit 1; }
	pids=""
	trap 'kill $pids 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
	trap 'exit 130' INT TERM
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print 0 }'; }
wait_file() {
	local i
	for i in $(seq 1 300); do [ -s "$1" ] && return 0; sleep 0.1; done
	return 1
}

# bench_config DIR: DIR/apitoken.json for a store in DIR/store (no mail
# relay, the sweep once a day), made the one apitokenctl uses.
bench_config() {
	mkdir -p "$1"
	cat >"$1/apitoken.json" <<EOF
{ "store": "$1/store", "listen": "127.0.0.1:0", "sweep_interval": "1d" }
EOF
	export APITOKEN_CONFIG="$1/apitoken.json"
}

# bench_client: registers client "bench" in $APITOKEN_CONFIG's store and
# sets auth to its Basic authorization header.
bench_client() {
	local secret
	secret=$("$BUILD/core/apitokenctl" client add bench 2>/dev/null |
		grep -Eo 'apicli_[0-9A-Za-z]+' | tail -n 1)
	[ -n "$secret" ] || { echo "$NAME: client add failed" >&2; exit 1; }
	auth="Basic $(printf 'bench:%s' "$secret" | base64 -w0)"
}

# bench_start DIR: apitokend on DIR/apitoken.json (log in DIR/log); sets
# pid and url (its /introspect).
bench_start() {
	"$BUILD/introspect/apitokend" --foreground --log-level notice \
		--config "$1/apitoken.json" --port-file "$1/port" 2>"$1/log" &
	pid=$!
	pids="$pids $pid"
	wait_file "$1/port" || { echo "$NAME: apitokend did not start" >&2; cat "$1/log" >&2; exit 1; }
	url="http://$(cat "$1/port")/introspect"
}

#!/usr/bin/env bash
# The run command: install what is missing (Debian 12), build, make a store
# in ./apitoken-store with a demo user, a token and a resource-server
# client, start apitokend on 127.0.0.1:8080 and show an introspection.
# apitokend keeps running in the foreground; Ctrl-C stops it.
#   scripts/demo.sh            build, provision, serve
#   scripts/demo.sh --no-serve build, provision, show, stop again
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

scripts/install-deps.sh
if [ ! -x configure ] || [ configure.ac -nt configure ]; then
	autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
fi
build="$top/build/demo"
mkdir -p "$build"
(cd "$build" && { [ -f Makefile ] || "$top/configure" -q >/dev/null 2>&1 || "$top/configure"; } && make -j"$(nproc)" -s >/dev/null)

ctl() { "$build/core/apitokenctl" --store "$top/apitoken-store" "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "store ./apitoken-store (Berkeley DB, created if missing)"
ctl init
if ! ctl user show demo >/dev/null 2>&1; then
	ctl user add demo --email demo@localhost --role developer --bu sales --bu support
fi
ctl user show demo

say "apitokend on 127.0.0.1:8080"
"$build/introspect/apitokend" --foreground --store "$top/apitoken-store" &
daemon=$!
trap 'kill $daemon 2>/dev/null; wait $daemon 2>/dev/null' EXIT
for _ in $(seq 50); do
	curl -fsS http://127.0.0.1:8080/healthz >/dev/null 2>&1 && break
	sleep 0.1
done

say "a resource-server client (secret shown once)"
ctl client remove demo-rs >/dev/null 2>&1 || true
client_secret=$(ctl client add demo-rs --name "demo resource server")
echo "client_id=demo-rs client_secret=$client_secret"

say "the demo user's token (apitokenctl token generate demo --replace; shown once)"
token=$(ctl token generate demo --replace)
echo "$token"

say "curl: RFC 7662 introspection of that token"
curl -sS -u "demo-rs:$client_secret" --data-urlencode "token=$token" \
	http://127.0.0.1:8080/introspect
echo
say "curl: introspection of a made-up token"
curl -sS -u "demo-rs:$client_secret" -d "token=apitok_nonsense" \
	http://127.0.0.1:8080/introspect
echo

if [ "${1:-}" = "--no-serve" ]; then
	exit 0
fi
say "apitokend keeps serving on http://127.0.0.1:8080 (Ctrl-C stops it)"
wait $daemon

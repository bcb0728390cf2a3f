#!/bin/bash
# Revocation propagation between regions 40 ms apart (not part of make
# check; needs root for network namespaces).  Each site runs in its own
# network namespace with its own loopback; the sites' replication
# addresses (10.77.0.1-3:7001) lead, in each namespace, to a delay proxy
# (tests/bench/delay_proxy.py) that carries the bytes over a UNIX socket
# to the other namespace after BENCH_DELAY_MS (40) ms, each way: every
# connection between two sites crosses one such proxy.  The harness
# reaches each apitokend through an undelayed relay.  Then
# BENCH_REVOCATIONS (2000) revocations at the master, each timed from the
# master's answer to inactive at each replica.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/bench-dirs.sh" "${1:-}"
. "$top_srcdir/tests/regions-lib.sh"

N=${BENCH_REVOCATIONS:-2000}
DELAY=${BENCH_DELAY_MS:-40}
PROXY="$top_srcdir/tests/bench/delay_proxy.py"
PY="$top_srcdir/tests/bench/regions_bench.py"
ISSUE="$top_builddir/tests/bench/bench_issue"
[ "$(id -u)" = 0 ] || { echo "regions-delay: needs root (unshare -n)" >&2; exit 1; }

regions_setup || exit 1
idx() { case $1 in a) echo 1 ;; b) echo 2 ;; c) echo 3 ;; esac; }
# Rewrite each site's configuration for its namespace.
for s in a b c; do
	python3 - "$scratch/$s.json" "$s" <<'PYEOF'
import json, sys
p, me = sys.argv[1], sys.argv[2]
n = {"a": 1, "b": 2, "c": 3}
c = json.load(open(p))
c["listen"] = "127.0.0.1:8443"
r = c["replication"]
r["listen"] = "10.77.0.%d:7001" % n[me]
for site in r["sites"]:
    site["address"] = "10.77.0.%d:7001" % n[site["name"]]
    site["url"] = "https://10.77.0.%d:8443" % n[site["name"]]
json.dump(c, open(p, "w"), indent=1)
PYEOF
done
plain="$scratch/plain.json"
python3 - "$scratch/a.json" "$plain" <<'PYEOF'
import json, sys
c = json.load(open(sys.argv[1]))
del c["replication"]
json.dump(c, open(sys.argv[2], "w"))
PYEOF
"$ISSUE" --config "$plain" --count "$((2 * N + 10))" --out "$scratch/issued" ||
	exit 1
cut -d' ' -f2 "$scratch/issued" | head -n "$N" >"$scratch/tokens"
cut -d' ' -f2 "$scratch/issued" | tail -n "$N" >"$scratch/tokens2"

pgids="" pids=""
at_exit 'for g in $pgids; do kill -- -$g 2>/dev/null; done; kill $pids 2>/dev/null'
start_ns_site() {
	local s=$1 n o m
	n=$(idx "$s")
	{
		echo "ip link set lo up"
		echo "for i in 1 2 3; do ip addr add 10.77.0.\$i/32 dev lo; done"
		echo "python3 '$PROXY' unix:$scratch/rep-$s.sock tcp:10.77.0.$n:7001 &"
		echo "python3 '$PROXY' unix:$scratch/http-$s.sock tcp:127.0.0.1:8443 &"
		for o in a b c; do
			[ "$o" = "$s" ] && continue
			m=$(idx "$o")
			echo "python3 '$PROXY' tcp:10.77.0.$m:7001 unix:$scratch/rep-$o.sock --delay $DELAY &"
		done
		echo "exec '$APITOKEND' --foreground --config '$scratch/$s.json' --log-level notice 2>>'$scratch/$s.log'"
	} >"$scratch/ns-$s.sh"
	setsid unshare -n bash "$scratch/ns-$s.sh" &
	pgids="$pgids $!"
	eval "HTTP_PORT_$s=$(free_port)"
	python3 "$PROXY" "tcp:127.0.0.1:$(eval echo \$HTTP_PORT_$s)" \
		"unix:$scratch/http-$s.sock" &
	pids="$pids $!"
}
up() {
	curl -s -o /dev/null --max-time 2 --cacert "$scratch/ca.pem" \
		"$(url_of "$1")/healthz"
}
for s in a b c; do
	start_ns_site "$s"
	wait_for 90 up "$s" || { echo "site $s did not start" >&2; tail "$scratch/$s.log" >&2; exit 1; }
done
one_master() { [ -n "$(master_site)" ]; }
for s in a b c; do eval "SITE_PID_$s=1"; done # for master_site
wait_for 30 one_master
echo "# group up: master $(master_site)" >&2
RS_SECRET=$(ctl_at a client add rs1 --can-revoke 2>/dev/null)
AUTH="Basic $(printf 'rs1:%s' "$RS_SECRET" | base64 -w0)"
# Every replica has the client before we start.
sleep 1
echo "one-way delay between regions: $DELAY ms (user-space proxy)"
# Through each replica's local socket (a UNIX socket: reachable across
# network namespaces; C poller, no TLS, no relay).
python3 "$PY" propagation-local "$(url_of a)" "$scratch/b/store/local.sock" \
	"$scratch/c/store/local.sock" --poll "$top_builddir/tests/bench/bench_poll" \
	--so "$top_builddir/plugin/.libs/validator.so" --ca "$scratch/ca.pem" \
	--tokens "$scratch/tokens2" --n "$N" --auth "$AUTH"
python3 "$PY" propagation "$(url_of a)" "$(url_of b)" "$(url_of c)" \
	--ca "$scratch/ca.pem" --tokens "$scratch/tokens" --n "$N" \
	--auth "$AUTH"

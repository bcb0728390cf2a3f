#!/bin/sh
# apitokend's periodic sweep: with token_lifetime 3s and sweep_interval
# 1s a token turns inactive at expiry and is then deleted with an
# "expired" audit record; the active-token gauge follows.  Also: idle HTTP
# connections are closed after connection_timeout, --ready-fd and
# --listen.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/daemon.sh"

[ -x "$APITOKEND" ] || skip_all "apitokend not built"
[ -x "$APITOKENCTL" ] || skip_all "apitokenctl not built"
command -v curl >/dev/null || skip_all "curl not installed"

daemon_config '"token_lifetime": "3s", "sweep_interval": "1s",
  "connection_timeout": 1'
ctl init >/dev/null 2>&1
ctl user add alice --email alice@example.org --role user >/dev/null 2>&1
SR=$(ctl client add rs1 2>/dev/null)
if ! start_daemon; then
	not_ok "apitokend starts"
	done_testing
fi
ok "apitokend starts"

TA=$(ctl token generate alice 2>/dev/null)
check_match "token issued online" '^apitok_' "$TA"
http POST /introspect -u "rs1:$SR" -d "token=$TA"
check_match "fresh token is active" '^\{"active":true,' "$HTTP_BODY"
gauge=""
for i in $(seq 1 30); do
	gauge=$(curl -s "$BASE_URL/metrics" |
		sed -n 's/^apitokend_tokens_active //p')
	[ "$gauge" = 1 ] && break
	sleep 0.1
done
check_eq "the sweep counts it in apitokend_tokens_active" 1 "$gauge"

# Expiry at iat + 3 s; the sweep runs every second.
deleted=""
for i in $(seq 1 100); do
	if grep -q "sweep: deleted 1 expired token" "$DAEMON_LOG"; then
		deleted=1
		break
	fi
	sleep 0.1
done
check "the sweep deleted the expired token" test -n "$deleted"
http POST /introspect -u "rs1:$SR" -d "token=$TA"
check_eq "expired token: exactly {\"active\":false}" '{"active":false}' \
	"$HTTP_BODY"
check_match "audit: expired" "expired" "$(ctl audit alice 2>/dev/null)"
check "token show: no token left" sh -c "! \"$APITOKENCTL\" token show alice >/dev/null 2>&1"
gauge=$(curl -s "$BASE_URL/metrics" | sed -n 's/^apitokend_tokens_active //p')
check_eq "apitokend_tokens_active back to 0" 0 "$gauge"

# An idle client is dropped after connection_timeout (1 s here).
idle=$(python3 - "$DAEMON_PORT" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"POST /introspect HTTP/1.1\r\nHost: x\r\n")
t = time.monotonic()
try:
    d = s.recv(1024)
except socket.timeout:
    print("still open after 10 s")
    sys.exit(0)
print("closed" if time.monotonic() - t < 5 else "closed late")
EOF
)
check_eq "a slow client is cut off after connection_timeout" closed "$idle"
check "SIGTERM: clean exit" stop_daemon

# --ready-fd, --listen and --store
# --store names a folder that does not exist yet: it is created.
"$APITOKEND" --foreground --config "$DAEMON_CONFIG" --listen 127.0.0.1:0 \
	--store "$scratch/fresh" --ready-fd 3 3>"$scratch/ready" \
	2>>"$DAEMON_LOG" &
pid=$!
at_exit "kill -9 $pid 2>/dev/null"
for i in $(seq 1 100); do
	[ -s "$scratch/ready" ] && break
	sleep 0.1
done
ready=$(cat "$scratch/ready")
check_match "--ready-fd receives host:port once ready" \
	'^127\.0\.0\.1:[0-9]+$' "$ready"
check_eq "... and that address answers" 200 \
	"$(curl -s -o /dev/null -w '%{http_code}' "http://$ready/healthz")"
check "--store: a store is created from nothing" test -d "$scratch/fresh"
check "--store: the sockets follow the store" \
	test -S "$scratch/fresh/local.sock" -a -S "$scratch/fresh/admin.sock"
check_match "the default issuer follows --listen and the bound port" \
	"\"issuer\":\"http://$ready\"" \
	"$(curl -s "http://$ready/.well-known/oauth-authorization-server")"
kill -TERM $pid
wait $pid
check_eq "... clean exit" 0 "$?"

done_testing

# Shared helper to run apitokend in integration tests.  Source it after
# tests/lib.sh:
#     . "$top_srcdir/tests/lib.sh"
#     . "$top_srcdir/tests/daemon.sh"
#
# Functions:
#   daemon_config [JSON members]
#       Write $DAEMON_CONFIG ($scratch/apitoken.json): store $scratch/store,
#       listen 127.0.0.1:0, roles "admin" (api:read api:write api:admin) and
#       "user" (api:read), plus the extra members given, e.g.
#           daemon_config '"sweep_interval": "1s", "token_lifetime": "2s"'
#       Exports APITOKEN_CONFIG=$DAEMON_CONFIG so apitokenctl uses it too.
#       start_daemon calls it with no members if it was not called before.
#   start_daemon [apitokend options]
#       Start apitokend --foreground --config $DAEMON_CONFIG, bound to a
#       port the kernel chose, and wait (at most 20 s) until it answers
#       /healthz.  Sets DAEMON_PID, DAEMON_PORT, BASE_URL
#       (http://127.0.0.1:PORT, or https:// when DAEMON_SCHEME=https) and
#       DAEMON_LOG (its stderr, kept across restarts).  Stops it at exit.
#       Returns 1 (and prints the log as TAP comments) if it did not start.
#   stop_daemon
#       SIGTERM, wait at most 10 s for a clean exit, then SIGKILL.
#       Returns the daemon's exit status (0 after a clean shutdown).
#   kill_daemon
#       SIGKILL, as a crash would.
#   ctl ARGS...
#       Run apitokenctl with the test configuration (online when the
#       daemon runs, offline otherwise); output as apitokenctl's.
#   http METHOD PATH [curl options...]
#       curl against $BASE_URL; body in $HTTP_BODY, headers (lower-cased
#       names, CR removed) in $HTTP_HEADERS, status in $HTTP_CODE.
#   http_header NAME
#       Value of response header NAME (lower-case) of the last http call.
#   local_request JSON-LINE
#       Send one line over the local socket; prints the reply line.
#   DAEMON_STORE, DAEMON_LOCAL_SOCKET, DAEMON_ADMIN_SOCKET: the paths used.
#   DAEMON_WRAPPER: command words put before apitokend by start_daemon
#       (e.g. "env LD_PRELOAD=..."); it must exec apitokend so that
#       DAEMON_PID stays the daemon's pid.

# A test killed by a signal (or whose output pipe closed) must still stop
# its daemon: turn those signals into an exit, which runs the EXIT trap.
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM

DAEMON_CONFIG="$scratch/apitoken.json"
DAEMON_STORE="$scratch/store"
DAEMON_LOCAL_SOCKET="$scratch/store/local.sock"
DAEMON_ADMIN_SOCKET="$scratch/store/admin.sock"
DAEMON_LOG="$scratch/apitokend.log"
DAEMON_PID=""
DAEMON_PORT=""
DAEMON_SCHEME="${DAEMON_SCHEME:-http}"
DAEMON_CURL_OPTS=${DAEMON_CURL_OPTS:-}
DAEMON_WRAPPER=${DAEMON_WRAPPER:-}
BASE_URL=""
daemon_configured=""

daemon_config() {
	local extra="${1:-}"
	[ -n "$extra" ] && extra=", $extra"
	cat >"$DAEMON_CONFIG" <<EOF
{
  "store": "$DAEMON_STORE",
  "listen": "127.0.0.1:0",
  "roles": {
    "admin": ["api:read", "api:write", "api:admin"],
    "user": ["api:read"]
  }$extra
}
EOF
	APITOKEN_CONFIG="$DAEMON_CONFIG"
	export APITOKEN_CONFIG
	daemon_configured=1
}

start_daemon() {
	local portfile="$scratch/apitokend.port" i
	[ -n "$daemon_configured" ] || daemon_config
	rm -f "$portfile"
	$DAEMON_WRAPPER "$APITOKEND" --foreground --config "$DAEMON_CONFIG" \
		--port-file "$portfile" "$@" 2>>"$DAEMON_LOG" &
	DAEMON_PID=$!
	for i in $(seq 1 200); do
		if [ -s "$portfile" ]; then
			break
		fi
		if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	if [ ! -s "$portfile" ]; then
		diag "apitokend did not start; its log:"
		sed 's/^/# /' "$DAEMON_LOG"
		kill -9 "$DAEMON_PID" 2>/dev/null
		DAEMON_PID=""
		return 1
	fi
	DAEMON_PORT=$(sed 's/.*://' "$portfile")
	BASE_URL="$DAEMON_SCHEME://127.0.0.1:$DAEMON_PORT"
	at_exit 'daemon_at_exit'
	for i in $(seq 1 100); do
		if curl -s -o /dev/null $DAEMON_CURL_OPTS "$BASE_URL/healthz"
		then
			return 0
		fi
		sleep 0.1
	done
	diag "apitokend does not answer /healthz"
	return 1
}

daemon_at_exit() {
	if [ -n "$DAEMON_PID" ]; then
		kill -9 "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
		DAEMON_PID=""
	fi
}

stop_daemon() {
	local i rc
	[ -n "$DAEMON_PID" ] || return 0
	kill -TERM "$DAEMON_PID" 2>/dev/null
	for i in $(seq 1 100); do
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID"
	rc=$?
	DAEMON_PID=""
	return $rc
}

kill_daemon() {
	[ -n "$DAEMON_PID" ] || return 0
	kill -9 "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=""
}

ctl() {
	"$APITOKENCTL" "$@"
}

HTTP_BODY=""
HTTP_HEADERS=""
HTTP_CODE=""

http() {
	local method="$1" path="$2"
	shift 2
	HTTP_CODE=$(curl -s -X "$method" $DAEMON_CURL_OPTS \
		-o "$scratch/http.body" -D "$scratch/http.headers" \
		-w '%{http_code}' "$@" "$BASE_URL$path")
	HTTP_BODY=$(cat "$scratch/http.body" 2>/dev/null)
	HTTP_HEADERS=$(tr -d '\r' <"$scratch/http.headers" 2>/dev/null |
		awk -F': ' 'NF > 1 { printf "%s: ", tolower($1);
			sub(/^[^:]*: /, ""); print; next } { print }')
}

http_header() {
	printf '%s\n' "$HTTP_HEADERS" | sed -n "s/^$1: //p" | tail -n 1
}

local_request() {
	python3 - "$DAEMON_LOCAL_SOCKET" "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
buf = b""
while not buf.endswith(b"\n"):
    d = s.recv(65536)
    if not d:
        break
    buf += d
sys.stdout.write(buf.decode(errors="replace"))
EOF
}

# jq-like: print member $2 of JSON $1 (lists joined by spaces, true/false,
# "<absent>"; "keys": the sorted member names).
jget() {
	python3 -c '
import json, sys
d = json.loads(sys.argv[1])
k = sys.argv[2]
if k == "keys":
    print(" ".join(sorted(d)))
else:
    v = d.get(k, "<absent>")
    if isinstance(v, list):
        print(" ".join(v))
    elif isinstance(v, bool):
        print("true" if v else "false")
    else:
        print(v)
' "$1" "$2"
}


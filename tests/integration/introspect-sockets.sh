#!/bin/sh
# apitokend's UNIX sockets and lifecycle: the local socket protocol
# (docs/local-socket.md), the admin socket (apitokenctl online answers as
# offline), the store lock (a second daemon is refused), SIGHUP reload,
# kill -9 and restart with tokens intact, daemon mode with a pidfile.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/daemon.sh"

[ -x "$APITOKEND" ] || skip_all "apitokend not built"
[ -x "$APITOKENCTL" ] || skip_all "apitokenctl not built"
command -v curl >/dev/null || skip_all "curl not installed"
command -v python3 >/dev/null || skip_all "python3 not installed"

# Send each argument as one line on ONE connection and print each reply
# line.  With CHECK_CLOSE=1, then print "EOF" if the daemon closed the
# connection within 1 s, else "OPEN".  (The daemon's idle timeout is
# 3 s here, so "OPEN" cannot be mistaken for an idle close.)
local_session() {
	CHECK_CLOSE=${CHECK_CLOSE:-0} python3 - "$DAEMON_LOCAL_SOCKET" "$@" <<'EOF'
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
f = s.makefile("rb")
def line():
    try:
        return f.readline()
    except ConnectionResetError:
        return b""
for req in sys.argv[2:]:
    s.sendall(req.encode() + b"\n")
    r = line()
    if not r:
        print("EOF")
        sys.exit(0)
    sys.stdout.write(r.decode())
if os.environ["CHECK_CLOSE"] == "1":
    s.settimeout(1)
    try:
        print("EOF" if not line() else "OPEN")
    except socket.timeout:
        print("OPEN")
EOF
}

write_config() {
	cat >"$DAEMON_CONFIG" <<EOF
{
  "store": "$DAEMON_STORE",
  "listen": "127.0.0.1:0",
  "audience": "$2",
  "token_lifetime": "${3:-180d}",
  "admin_socket": "$DAEMON_ADMIN_SOCKET",
  "local_socket_timeout": 3,
  "roles": { "admin": ["api:read", $1"api:admin"], "user": ["api:read"] }
}
EOF
	APITOKEN_CONFIG="$DAEMON_CONFIG"
	export APITOKEN_CONFIG
	daemon_configured=1
}

# The admin socket lives where other uids can reach it, so that the
# daemon's own uid check (not the folder's mode) is what turns them away.
mkdir -p "$scratch/pub"
chmod 0711 "$scratch"
chmod 0755 "$scratch/pub"
DAEMON_ADMIN_SOCKET="$scratch/pub/admin.sock"
write_config "" "aud-one"
ctl init >/dev/null 2>&1
ctl user add alice --email alice@example.org --role admin --bu sales \
	>/dev/null 2>&1
ctl user add bob --email bob@example.org --role user >/dev/null 2>&1
TA=$(ctl token generate alice 2>/dev/null)
TB=$(ctl token generate bob 2>/dev/null)
SR=$(ctl client add rs1 2>/dev/null)
offline_list=$(ctl user list 2>&1)
offline_show=$(ctl token show alice 2>&1)

if ! start_daemon; then
	not_ok "apitokend starts"
	done_testing
fi
ok "apitokend starts"

# --- local socket ----------------------------------------------------------
check_eq "local socket mode is local_socket_mode (0660)" 660 \
	"$(stat -c %a "$DAEMON_LOCAL_SOCKET")"
check_eq "admin socket is owner-only without admin_group" 600 \
	"$(stat -c %a "$DAEMON_ADMIN_SOCKET")"

http POST /introspect -u "rs1:$SR" -d "token=$TA"
http_body=$(printf '%s' "$HTTP_BODY" | sed 's/"client_id":"rs1",//')
reply=$(local_request "{\"op\":\"check\",\"token\":\"$TA\"}")
check_eq "check: the HTTP introspection object without client_id" \
	"$http_body" "$reply"
check_eq "check: no client_id member" "<absent>" \
	"$(jget "$reply" client_id)"
reply=$(local_request '{"op":"check","token":"apitok_nonsense"}')
check_eq "check of a malformed token: exactly {\"active\":false}" \
	'{"active":false}' "$reply"
reply=$(local_request '{"op":"user","user":"alice"}')
check_eq "user: existing, option on" '{"user":"alice","active":true}' \
	"$reply"
reply=$(local_request '{"op":"user","user":"nobody"}')
check_eq "user: unknown" '{"user":"nobody","active":false}' "$reply"
ctl user api-access bob off >/dev/null 2>&1
reply=$(local_request '{"op":"user","user":"bob"}')
check_eq "user: option off (set online through the admin socket)" \
	'{"user":"bob","active":false}' "$reply"
reply=$(local_request "{\"op\":\"check\",\"token\":\"$TB\"}")
check_eq "check: disabled user's token is inactive" '{"active":false}' \
	"$reply"
ctl user api-access bob on >/dev/null 2>&1

# An idle local connection is closed after local_socket_timeout (3 s here).
idle=$(python3 - "$DAEMON_LOCAL_SOCKET" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(15)
s.connect(sys.argv[1])
t0 = time.monotonic()
try:
    d = s.recv(1)
except socket.timeout:
    d = None
print("closed %.1f" % (time.monotonic() - t0) if d == b"" else "open")
EOF
)
check_match "an idle local connection is closed after local_socket_timeout" \
	'^closed ([3-6]\.|2\.[5-9])' "$idle"

check_b=$(local_request "{\"op\":\"check\",\"token\":\"$TB\"}")
out=$(local_session '{"op":"user","user":"alice"}' \
	"{\"op\":\"check\",\"token\":\"$TB\"}" '{"op":"user","user":"bob"}')
check_eq "several requests on one connection" \
	"$(printf '%s\n%s\n%s' '{"user":"alice","active":true}' \
		"$check_b" '{"user":"bob","active":true}')" "$out"

bad_line() {
	out=$(CHECK_CLOSE=1 local_session "$2")
	first=$(printf '%s\n' "$out" | head -n 1)
	last=$(printf '%s\n' "$out" | tail -n 1)
	check_eq "$1: invalid_request" invalid_request \
		"$(jget "$first" error)"
	check_eq "$1: connection closed after the reply" EOF "$last"
}
out=$(CHECK_CLOSE=1 local_session '{"op":"user","user":"alice"}')
check_eq "a good request leaves the connection open" OPEN \
	"$(printf '%s\n' "$out" | tail -n 1)"
bad_line "not JSON" 'hello'
bad_line "JSON but not an object" '[1,2]'
bad_line "unknown op" '{"op":"delete"}'
bad_line "check without token" '{"op":"check"}'
bad_line "user without user" '{"op":"user"}'
long=$(head -c 5000 /dev/zero | tr '\0' a)
bad_line "line over 4096 bytes" "{\"op\":\"check\",\"token\":\"$long\"}"

check "peer uid and pid are logged at connect" \
	grep -q "local socket: connection from uid $(id -u) pid [0-9]" \
	"$DAEMON_LOG"

# --- admin socket -----------------------------------------------------------
check_eq "apitokenctl online: user list as offline" "$offline_list" \
	"$(ctl user list 2>&1)"
online_show=$(ctl token show alice 2>&1)
check_eq "apitokenctl online: token show as offline (but for last use)" \
	"$(printf '%s\n' "$offline_show" | grep -v '^last use:')" \
	"$(printf '%s\n' "$online_show" | grep -v '^last use:')"
check_match "... online, last use from the local socket checks above" \
	"^last use: [0-9T:-]+Z from local socket pid [0-9]+ \\(local uid $(id -u)\\)" \
	"$(printf '%s\n' "$online_show" | grep '^last use:')"
check "admin connections are logged with uid and pid" \
	grep -q "admin socket: connection from uid $(id -u) pid [0-9]" \
	"$DAEMON_LOG"

# A peer that is not root, the daemon's user or in admin_group is turned
# away by the daemon itself, even if the socket's mode lets it connect.
if [ "$(id -u)" = 0 ]; then
	chmod 0666 "$DAEMON_ADMIN_SOCKET"
	python3 - "$DAEMON_ADMIN_SOCKET" <<'EOF'
import os, socket, sys
os.setgid(65534)
os.setgroups([])
os.setuid(65534)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
try:
    s.sendall(b"garbage\n")
    s.recv(100)
except OSError:
    pass
EOF
	check "admin socket: other uids are refused and logged" \
		grep -q "admin socket: refused uid 65534" "$DAEMON_LOG"
	chmod 0600 "$DAEMON_ADMIN_SOCKET"
fi

# --- the store has one owner -----------------------------------------------
"$APITOKEND" --foreground --config "$DAEMON_CONFIG" \
	--port-file "$scratch/second.port" >"$scratch/second.out" 2>&1
rc=$?
check_eq "a second apitokend on the same store exits EX_TEMPFAIL" 75 "$rc"
check_match "... saying who holds the store" \
	"store .* is in use by process $DAEMON_PID" "$(cat "$scratch/second.out")"
check "... and leaves the running daemon's sockets alone" \
	test -S "$DAEMON_LOCAL_SOCKET" -a -S "$DAEMON_ADMIN_SOCKET"
http GET /healthz
check_eq "... which still answers" 200 "$HTTP_CODE"

# --- SIGHUP reload ------------------------------------------------------------
write_config '"api:extra", ' "aud-two" 7d
kill -HUP "$DAEMON_PID"
scope=""
for i in $(seq 1 50); do
	http POST /introspect -u "rs1:$SR" -d "token=$TA"
	scope=$(jget "$HTTP_BODY" scope)
	case "$scope" in *api:extra*) break ;; esac
	sleep 0.1
done
check_eq "SIGHUP: new role scopes apply at the next check" \
	"api:read api:extra api:admin bu:sales" "$scope"
check_eq "SIGHUP: new audience" aud-two "$(jget "$HTTP_BODY" aud)"
TB=$(ctl token generate bob --replace 2>/dev/null)
http POST /introspect -u "rs1:$SR" -d "token=$TB"
check_eq "SIGHUP: new token_lifetime for tokens issued after it" 604800 \
	$(( $(jget "$HTTP_BODY" exp) - $(jget "$HTTP_BODY" iat) ))
echo '{ "store": ' >"$DAEMON_CONFIG"
kill -HUP "$DAEMON_PID"
sleep 0.5
http POST /introspect -u "rs1:$SR" -d "token=$TA"
check_eq "SIGHUP with a broken file keeps the old configuration" \
	"api:read api:extra api:admin bu:sales" "$(jget "$HTTP_BODY" scope)"
check "... and logs why" grep -q "reload failed" "$DAEMON_LOG"
write_config '"api:extra", ' "aud-two" 7d

# --- kill -9 and restart ------------------------------------------------------
old_pid=$DAEMON_PID
kill_daemon
check "after kill -9 the socket files are left behind" \
	test -S "$DAEMON_LOCAL_SOCKET"
if start_daemon; then
	ok "restart after kill -9 (stale sockets replaced)"
else
	not_ok "restart after kill -9 (stale sockets replaced)"
fi
check "... the new daemon is another process" test "$old_pid" != "$DAEMON_PID"
http POST /introspect -u "rs1:$SR" -d "token=$TA"
check_eq "tokens intact after kill -9" true "$(jget "$HTTP_BODY" active)"
reply=$(local_request "{\"op\":\"check\",\"token\":\"$TB\"}")
check_eq "local socket works after restart" true "$(jget "$reply" active)"
check "SIGTERM: clean exit" stop_daemon

# --- admin_group ------------------------------------------------------------------
if [ "$(id -u)" = 0 ] && getent group nogroup >/dev/null; then
	sed -i 's/^  "audience"/  "admin_group": "nogroup",\n  "audience"/' \
		"$DAEMON_CONFIG"
	if start_daemon; then
		check_eq "admin_group: socket mode 0660" 660 \
			"$(stat -c %a "$DAEMON_ADMIN_SOCKET")"
		check_eq "admin_group: socket group" nogroup \
			"$(stat -c %G "$DAEMON_ADMIN_SOCKET")"
		python3 - "$DAEMON_ADMIN_SOCKET" <<'EOF'
import os, socket, sys
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
try:
    s.sendall(b"garbage\n")
    s.shutdown(socket.SHUT_WR)
    s.recv(100)
except OSError:
    pass
EOF
		check "admin_group: a member is served" \
			grep -q "admin socket: connection from uid 65534" \
			"$DAEMON_LOG"
		check "SIGTERM: clean exit" stop_daemon
	else
		not_ok "apitokend starts with admin_group"
	fi
fi

# --- daemon mode ----------------------------------------------------------------
pidfile="$scratch/apitokend.pid"
"$APITOKEND" --config "$DAEMON_CONFIG" --pidfile "$pidfile" \
	--port-file "$scratch/bg.port" >"$scratch/bg.out" 2>&1
rc=$?
check_eq "daemon mode: the starting process exits 0 once ready" 0 "$rc"
bg_pid=$(cat "$pidfile" 2>/dev/null)
check_match "daemon mode: pidfile names the daemon" '^[0-9]+$' "$bg_pid"
at_exit "kill -9 $bg_pid 2>/dev/null"
check "daemon mode: it runs" kill -0 "$bg_pid"
port=$(sed 's/.*://' "$scratch/bg.port")
check_eq "daemon mode: serves HTTP" 200 \
	"$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz")"
"$APITOKEND" --config "$DAEMON_CONFIG" --pidfile "$scratch/other.pid" \
	>"$scratch/bg2.out" 2>&1
rc=$?
check_eq "daemon mode: a refused start reports EX_TEMPFAIL" 75 "$rc"
check_match "daemon mode: ... and the reason on the terminal" \
	"is in use by process $bg_pid" "$(cat "$scratch/bg2.out")"
kill -TERM "$bg_pid"
for i in $(seq 1 100); do
	kill -0 "$bg_pid" 2>/dev/null || break
	sleep 0.1
done
check "daemon mode: SIGTERM stops it" test ! -d "/proc/$bg_pid"
check "daemon mode: pidfile removed" test ! -e "$pidfile"

done_testing

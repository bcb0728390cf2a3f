#!/bin/sh
# apitokend's UNIX sockets under a local user's flood (issue 12): separate
# budgets for the admin and the local socket, a per-uid limit (root
# exempt), a request deadline that trickled bytes do not extend, a "busy"
# answer (apitokenctl: exit 75 and a message saying busy, not
# permission), and tokens or user names with a NUL refused, never cut.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/daemon.sh"

[ -x "$APITOKEND" ] || skip_all "apitokend not built"
[ -x "$APITOKENCTL" ] || skip_all "apitokenctl not built"
command -v python3 >/dev/null || skip_all "python3 not installed"

# The local socket outside the 0700 store, so another uid can reach it.
chmod 0711 "$scratch"
mkdir -m 0755 "$scratch/pub"
LOCAL="$scratch/pub/local.sock"
daemon_config '"local_socket": "'"$LOCAL"'", "local_socket_mode": "0666",
  "local_socket_max_connections": 4, "admin_socket_max_connections": 2,
  "socket_max_connections_per_uid": 2, "local_socket_timeout": 2'
DAEMON_LOCAL_SOCKET=$LOCAL
ctl init >/dev/null 2>&1
ctl user add alice --email alice@example.org --role admin >/dev/null 2>&1
TA=$(ctl token generate alice 2>/dev/null)
if ! start_daemon; then
	not_ok "apitokend starts"
	done_testing
fi
ok "apitokend starts"

# hold SOCKET N [UID]: open N connections (as UID if given) and keep
# them; prints, per connection, what the daemon sent in the first 0.5 s
# ("-" if nothing), then "ready".  Runs until killed.
hold() {
	python3 - "$@" <<'EOF' &
import os, socket, sys, time
path, n = sys.argv[1], int(sys.argv[2])
if len(sys.argv) > 3:
    os.setgid(int(sys.argv[3]))
    os.setuid(int(sys.argv[3]))
conns = []
for i in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    conns.append(s)
time.sleep(0.5)
for s in conns:
    s.setblocking(False)
    try:
        print(s.recv(4096).decode().strip() or "closed")
    except BlockingIOError:
        print("-")
print("ready", flush=True)
sys.stdout.flush()
time.sleep(60)
EOF
	HOLD_PID=$!
}
HOLD_PID=""
stop_hold() {
	[ -n "$HOLD_PID" ] && kill "$HOLD_PID" 2>/dev/null
	wait "$HOLD_PID" 2>/dev/null
	HOLD_PID=""
	sleep 0.3 # the daemon notices the hang-ups
}
at_exit 'stop_hold'
wait_ready() {
	local i
	for i in $(seq 1 50); do
		grep -q ready "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# --- admin socket full: apitokenctl says busy, exit 75 -------------------
hold "$DAEMON_ADMIN_SOCKET" 2 >"$scratch/h1"
wait_ready "$scratch/h1"
out=$(ctl user list 2>&1)
rc=$?
check_eq "admin socket full: apitokenctl exits 75 (EX_TEMPFAIL)" 75 "$rc"
check_match "admin socket full: the message says busy" \
	'apitokend is busy' "$out"
case "$out" in
*admin_group* | *permission*) not_ok "admin socket full: no permission message" ;;
*) ok "admin socket full: no permission message" ;;
esac
check_eq "admin socket full: the local socket still answers" true \
	"$(jget "$(local_request '{"op":"check","token":"'"$TA"'"}')" active)"
stop_hold
out=$(ctl user list 2>&1)
check_match "admin socket free again: apitokenctl works" alice "$out"

# --- local socket full: busy answer, admin unaffected -------------------
hold "$LOCAL" 5 >"$scratch/h2"
wait_ready "$scratch/h2"
check_eq "local socket: 4 held by root" 4 "$(grep -c '^-$' "$scratch/h2")"
check_match "local socket: the 5th told busy" \
	'"error":"temporarily_unavailable".*busy' "$(cat "$scratch/h2")"
out=$(ctl user list 2>&1)
check_match "local socket full: the admin socket still works" alice "$out"
stop_hold

# --- one uid cannot take the local socket (root is not limited) ----------
if [ "$(id -u)" = 0 ]; then
	hold "$LOCAL" 3 65534 >"$scratch/h3"
	wait_ready "$scratch/h3"
	check_eq "uid 65534: 2 connections held" 2 \
		"$(grep -c '^-$' "$scratch/h3")"
	check_match "uid 65534: the 3rd told busy" 'busy' \
		"$(sed -n 3p "$scratch/h3")"
	check_eq "uid 65534 at its limit: root's PAM check answered" true \
		"$(jget "$(local_request '{"op":"check","token":"'"$TA"'"}')" active)"
	stop_hold
	# Logged just after the busy answer is sent (and even in the second
	# the full socket above was logged: once a second for each reason).
	refusal='local socket: too many connections from this uid, refusing uid 65534'
	for _ in $(seq 1 50); do
		grep -q "$refusal" "$DAEMON_LOG" && break
		sleep 0.1
	done
	check_match "the refusal is logged with the uid" "$refusal" \
		"$(cat "$DAEMON_LOG")"
else
	ok "# SKIP per-uid limit: needs root to act as another uid"
fi

# --- a deadline, not an idle timer ----------------------------------------
got=$(python3 - "$LOCAL" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
t0 = time.monotonic()
try:
    for ch in b'{"op":"check","token":"' + b"x" * 40:
        s.send(bytes([ch]))
        time.sleep(0.25)
        s.settimeout(0.01)
        try:
            if s.recv(1) == b"":
                break
        except socket.timeout:
            pass
except (BrokenPipeError, ConnectionResetError):
    pass
print("%.1f" % (time.monotonic() - t0))
EOF
)
diag "a byte every 0.25 s, never a whole line: closed after $got s"
check "trickled request cut at the 2 s deadline" \
	python3 -c "import sys; sys.exit(0 if 1.8 <= $got < 4 else 1)"

# --- NUL and control characters: refused whole ------------------------------
r=$(local_request '{"op":"check","token":"'"$TA"'\u0000junk"}')
check_match "local: token with \\u0000: refused" '"error":"invalid_request"' "$r"
r=$(python3 - "$LOCAL" "$TA" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b'{"op":"check","token":"' + sys.argv[2].encode() + b'\x00junk"}\n')
print(s.makefile().readline().strip())
EOF
)
check_match "local: token with a raw NUL: refused" '"error":"invalid_request"' "$r"
r=$(local_request '{"op":"user","user":"alice\u0000x"}')
check_match "local: user name with \\u0000: refused" '"error":"invalid_request"' "$r"
r=$(local_request '{"op":"user","user":"alice\nx"}')
check_match "local: user name with \\n: refused" '"error":"invalid_request"' "$r"
r=$(local_request '{"op":"user","user":"alice"}')
check_match "local: plain user name still answered" '"active":true' "$r"
check "apitokend still running" kill -0 "$DAEMON_PID"
stop_daemon
check_eq "clean shutdown (no leak or sanitizer report)" 0 "$?"

done_testing

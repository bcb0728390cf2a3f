#!/bin/sh
# systemd's readiness protocol (sd_notify, Type=notify in
# contrib/systemd/apitokend.service): apitokend sends READY=1 from its
# main process once it answers, RELOADING=1 then READY=1 around a SIGHUP
# reload, and STOPPING=1 when it stops.  A Python datagram socket stands
# in for systemd's and records each message with its sender's pid.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/daemon.sh"

[ -x "$APITOKEND" ] || skip_all "apitokend not built"
command -v curl >/dev/null || skip_all "curl not installed"
command -v python3 >/dev/null || skip_all "python3 not found"
grep -q '^#define HAVE_SYSTEMD 1' "$top_builddir/config.h" ||
	skip_all "built without libsystemd (--without-systemd)"

sock="$scratch/notify.sock"
out="$scratch/notify.out"
: >"$out"
python3 - "$sock" "$out" <<'PY' &
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.settimeout(120)
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        try:
            msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            break
        pid = 0
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iii", data[:12])[0]
        f.write("%d %s\n" % (pid, msg.decode().replace("\n", " ")))
        if b"STOPPING=1" in msg:
            break
PY
listener=$!
at_exit "kill $listener 2>/dev/null"
i=0
while [ ! -S "$sock" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if [ ! -S "$sock" ]; then
	not_ok "the stand-in notify socket is there"
	done_testing
fi

# wait_line N: until $out has N lines (10 s at most).
wait_line() {
	i=0
	while [ "$(wc -l <"$out")" -lt "$1" ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
}

ctl init >/dev/null 2>&1
NOTIFY_SOCKET="$sock"
export NOTIFY_SOCKET
if ! start_daemon; then
	not_ok "apitokend starts"
	done_testing
fi
unset NOTIFY_SOCKET
ok "apitokend starts"
wait_line 1
check_match "READY=1 with the address it listens on" \
	"^[0-9]+ READY=1 STATUS=listening on 127\\.0\\.0\\.1:$DAEMON_PORT\$" \
	"$(sed -n 1p "$out")"
check_eq "... sent by apitokend's main process (NotifyAccess=main)" \
	"$DAEMON_PID" "$(sed -n '1s/ .*//p' "$out")"
http GET /healthz
check_eq "... and it answers" 200 "$HTTP_CODE"

kill -HUP "$DAEMON_PID"
wait_line 3
check_match "SIGHUP: RELOADING=1 first" "^[0-9]+ RELOADING=1 " \
	"$(sed -n 2p "$out")"
check_match "... then READY=1 again, once reloaded" \
	"^[0-9]+ READY=1 STATUS=listening on " "$(sed -n 3p "$out")"

stop_daemon
check_eq "apitokend stops cleanly" 0 "$?"
wait_line 4
check_match "STOPPING=1 when it stops" "^[0-9]+ STOPPING=1 " \
	"$(sed -n 4p "$out")"
check_eq "no other message" 4 "$(wc -l <"$out")"
done_testing

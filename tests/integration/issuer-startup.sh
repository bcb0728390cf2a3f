#!/bin/sh
# The default issuer names the port apitokend really bound ("listen" with
# port 0) in every answer, from the very first one: the issuer is final
# before any thread that answers exists (no answer with port 0, no data
# race on the issuer).  A client polls the local socket while apitokend
# starts and checks a token in the first instant it can.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/daemon.sh"

[ -x "$APITOKEND" ] && [ -x "$APITOKENCTL" ] || skip_all "apitokend not built"
command -v python3 >/dev/null || skip_all "no python3"

# Many HTTP threads: apitokend takes a while to start them, which is
# when a first answer could see a provisional issuer.
daemon_config "\"threads\": 512"
ctl init >/dev/null 2>&1
ctl user add alice --email alice@example.com --role user >/dev/null
T=$(ctl token generate alice 2>/dev/null)

cat >"$scratch/first.py" <<'PY'
import json, socket, sys, time
path, token, out = sys.argv[1], sys.argv[2], sys.argv[3]
end = time.time() + 20
while time.time() < end:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError:
        s.close()
        continue
    s.settimeout(10)
    s.sendall(json.dumps({"op": "check", "token": token}).encode() + b"\n")
    buf = b""
    while not buf.endswith(b"\n"):
        d = s.recv(65536)
        if not d:
            break
        buf += d
    open(out, "w").write(json.loads(buf).get("iss", "<none>"))
    sys.exit(0)
sys.exit(1)
PY

rounds=8
bad=0
for i in $(seq 1 $rounds); do
	rm -f "$DAEMON_LOCAL_SOCKET" "$scratch/iss"
	python3 "$scratch/first.py" "$DAEMON_LOCAL_SOCKET" "$T" \
		"$scratch/iss" &
	poller=$!
	start_daemon || { not_ok "apitokend starts"; kill "$poller"; done_testing; }
	wait "$poller"
	iss=$(cat "$scratch/iss" 2>/dev/null)
	want="http://127.0.0.1:$DAEMON_PORT"
	if [ "$iss" != "$want" ]; then
		diag "round $i: first answer's iss is '$iss', bound $want"
		bad=$((bad + 1))
	fi
	stop_daemon
done
check_eq "the first answer of each of $rounds starts names the bound port" \
	"0" "$bad"

# A later answer over HTTP and the metadata agree.
start_daemon || { not_ok "apitokend starts"; done_testing; }
http GET /.well-known/oauth-authorization-server
meta=$HTTP_BODY
check_eq "metadata issuer is the bound address" "$BASE_URL" \
	"$(jget "$meta" issuer)"
stop_daemon
done_testing

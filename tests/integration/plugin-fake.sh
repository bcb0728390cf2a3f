#!/bin/sh
# validator.so's local back end against a fake apitokend that speaks
# docs/local-socket.md and misbehaves on purpose: error replies, silence,
# hang-ups, idle closes.  The real daemon is tested in plugin.sh; this one
# covers what a healthy daemon never does.
. "$top_srcdir/tests/lib.sh"

HOST="$top_builddir/tests/plugin/host"
SO="$top_builddir/plugin/.libs/validator.so"
[ -x "$HOST" ] && [ -f "$SO" ] || skip_all "host or validator.so not built"
command -v python3 >/dev/null || skip_all "no python3"

# A sanitized plugin in an uninstrumented host needs the runtime first;
# host itself is built with the same flags, so it needs nothing.

cat >"$scratch/fake.py" <<'PY'
import os, socket, sys, time, zlib, json, threading
A = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
def b62(n, w):
    s = ""
    while n:
        n, r = divmod(n, 62); s = A[r] + s
    return s.rjust(w, "0")
def token(seed):
    secret = int.from_bytes(seed.to_bytes(1, "big") * 32, "big")
    body = "apitok_" + b62(secret, 43)
    return body + b62(zlib.crc32(body.encode()), 6)
if sys.argv[1] == "token":
    print(token(int(sys.argv[2]))); sys.exit(0)
path, mode, countfile = sys.argv[1], sys.argv[2], sys.argv[3]
T = {token(i): i for i in range(1, 8)}
def reply(n):
    if n == 1:
        return {"active": True, "username": "alice", "sub": "alice",
                "scope": "api:read bu:7", "role": "user",
                "business_units": ["7"], "exp": 2000000000, "jti": "J1"}
    if n == 2: return {"active": False}
    if n == 3: return {"error": "temporarily_unavailable",
                       "error_description": "store failed"}
    if n == 6: return {"active": True}           # no username
    if n == 7: return {"active": "yes", "username": "alice"}
    return None
def serve(c):
    f = c.makefile("rb")
    for line in f:
        try:
            req = json.loads(line)
        except Exception:
            c.sendall(b'{"error":"invalid_request"}\n'); break
        if req.get("op") == "user":
            out = {"user": req["user"], "active": req["user"] == "alice"}
        else:
            n = T.get(req.get("token"), 0)
            if n == 4:
                time.sleep(5); break             # silence
            if n == 5:
                break                            # hang up
            out = reply(n) or {"active": False}
        c.sendall(json.dumps(out).encode() + b"\n")
        if mode == "close":
            break                                # as an idle timeout would
    c.close()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path); s.listen(16)
open(path + ".ready", "w").close()
while True:
    c, _ = s.accept()
    with open(countfile, "a") as cf: cf.write("connection\n")
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY

tok() { python3 "$scratch/fake.py" token "$1"; }
T_GOOD=$(tok 1); T_INACTIVE=$(tok 2); T_ERROR=$(tok 3); T_SILENT=$(tok 4)
T_HANGUP=$(tok 5); T_NOUSER=$(tok 6); T_BADACTIVE=$(tok 7)

fake_pid=""
start_fake() {
	rm -f "$scratch/fake.sock" "$scratch/fake.sock.ready"
	python3 "$scratch/fake.py" "$scratch/fake.sock" "$1" \
		"$scratch/conns" &
	fake_pid=$!
	for i in $(seq 1 100); do
		[ -e "$scratch/fake.sock.ready" ] && return 0
		sleep 0.05
	done
	return 1
}
stop_fake() {
	[ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null
	wait "$fake_pid" 2>/dev/null
	fake_pid=""
}
at_exit stop_fake

run() {
	"$HOST" "$@" "$SO" mode=local "socket=$scratch/fake.sock" timeout=500
}
conns() { wc -l <"$scratch/conns" | tr -d ' '; }

start_fake keep || { not_ok "fake daemon starts"; done_testing; }

out=$(printf '%s\n' "$T_GOOD" | run)
check_match "active reply is VALID with the identity" \
	'^VALID user=alice role=user scope="api:read bu:7" bus="7" exp=set flags=0' \
	"$out"
check_match "ABI version reported" '^abi 1\.0' "$out"

out=$(printf '%s\n' "$T_GOOD" | run -s "api:read bu:7")
check_match "required scopes all present: VALID" '^VALID user=alice' "$out"
out=$(printf '%s\n' "$T_GOOD" | run -s "api:read api:write")
check_match "a missing required scope: INVALID, flagged" \
	'^INVALID user=alice .*flags=1 reason="insufficient scope"' "$out"

out=$(printf '%s\n' "$T_INACTIVE" | run)
check_match "active:false is INVALID" '^INVALID reason="inactive token"' \
	"$out"
out=$(printf '%s\n' "$T_ERROR" | run)
check_match "error reply is UNAVAILABLE" \
	'^UNAVAILABLE reason="apitokend error: temporarily_unavailable"' "$out"
out=$(printf '%s\n' "$T_NOUSER" "$T_BADACTIVE" | run)
check_eq "malformed active replies are UNAVAILABLE, never VALID" \
	"UNAVAILABLE UNAVAILABLE" \
	"$(printf '%s\n' "$out" | awk 'NR>1 {print $1}' | xargs)"

# Garbage is refused without asking: the daemon sees no connection.
rm -f "$scratch/conns"
out=$(printf '%s\n' "nonsense" "apitok_short" \
	"$(printf '%s' "$T_GOOD" | sed 's/.$/x/')" "" | run)
check_eq "malformed tokens are INVALID" \
	"INVALID INVALID INVALID INVALID" \
	"$(printf '%s\n' "$out" | awk 'NR>1 {print $1}' | xargs)"
check "... without any I/O" test ! -e "$scratch/conns"

# One connection serves many checks.
rm -f "$scratch/conns"
out=$(for i in 1 2 3 4 5; do echo "$T_GOOD"; done | run)
check_eq "five checks, five VALID" "5" \
	"$(printf '%s\n' "$out" | grep -c '^VALID')"
check_eq "... over one kept connection" "1" "$(conns)"

# Silence: UNAVAILABLE within the timeout, and the next check recovers.
t0=$(date +%s%N)
out=$(printf '%s\n' "$T_SILENT" "$T_GOOD" | run)
t1=$(date +%s%N)
check_match "no answer is UNAVAILABLE" \
	'^UNAVAILABLE reason="apitokend did not answer in time"' \
	"$(printf '%s\n' "$out" | sed -n 2p)"
ms=$(( (t1 - t0) / 1000000 ))
check "... within the timeout (500 ms; took $ms ms)" test "$ms" -lt 2500
check_match "... and the next check works again" '^VALID user=alice' \
	"$(printf '%s\n' "$out" | sed -n 3p)"

out=$(printf '%s\n' "$T_HANGUP" | run)
check_match "hang-up before the reply is UNAVAILABLE" '^UNAVAILABLE' \
	"$(printf '%s\n' "$out" | sed -n 2p)"

out=$(printf '%s\n' "$T_GOOD" | run -T 8)
check_match "8 threads through one handle agree" '^VALID threads agree' \
	"$(printf '%s\n' "$out" | sed -n 2p)"

# A fork while another thread is inside a check (holding the handle's
# lock, waiting for a slow answer): the child's own check must work.
out=$(printf '%s\n' "$T_SILENT" "$T_GOOD" | "$HOST" -F "$SO" mode=local \
	"socket=$scratch/fake.sock" timeout=1000)
check_match "fork during another thread's check: the child checks fine" \
	'^child VALID user=alice' "$out"

# A plugin of the next minor (its result has one member more) in this
# 1.0 host: it writes only the 1.0 members (host.c guards the bytes after
# its struct), with the same answers as the 1.0 plugin.
NEXT="$top_builddir/tests/plugin/.libs/validator_next.so"
if [ -f "$NEXT" ]; then
	in=$(printf '%s\n' "$T_GOOD" "$T_INACTIVE" "$T_ERROR" "nonsense")
	want=$(printf '%s\n' "$in" | run | sed 1d)
	got=$(printf '%s\n' "$in" | "$HOST" "$NEXT" mode=local \
		"socket=$scratch/fake.sock" timeout=500)
	check_eq "a 1.1 plugin in a 1.0 host: exit 0, no result overrun" \
		"0" "$?"
	check_match "... it is the next minor" '^abi 1\.1' "$got"
	check_eq "... the same answers as the 1.0 plugin" "$want" \
		"$(printf '%s\n' "$got" | sed 1d)"
	got=$(printf '%s\n' "nonsense" | "$HOST" -a 0x10001 "$NEXT" \
		mode=local "socket=$scratch/fake.sock" 2>&1)
	check_match "... a host that claims 1.1 but has a 1.0 struct: overrun" \
		'RESULT OVERRUN' "$got"
else
	not_ok "tests/plugin/validator_next.so built"
fi
stop_fake

# A daemon that closes every connection after one reply (as its idle
# timeout does): the kept connection is stale, the plugin redials once.
start_fake close || { not_ok "fake daemon restarts"; done_testing; }
rm -f "$scratch/conns"
out=$(for i in 1 2 3; do echo "$T_GOOD"; done | run)
check_eq "stale connection: redial once, all VALID" "3" \
	"$(printf '%s\n' "$out" | grep -c '^VALID')"
check_eq "... on three connections" "3" "$(conns)"
stop_fake

out=$(printf '%s\n' "$T_GOOD" | run)
check_match "no daemon at all: UNAVAILABLE" \
	'^UNAVAILABLE reason="cannot connect to' \
	"$(printf '%s\n' "$out" | sed -n 2p)"

# Who listens: a server that does not run as the owner of the socket's
# folder (or as root) is not apitokend.  /tmp belongs to root; the fake
# runs as ourselves, or as nobody when we are root.
peer="/tmp/apitoken-peer-$$"
cp "$scratch/fake.py" "$peer.py"
chmod 644 "$peer.py"
runas="" py=python3
if [ "$(id -u)" = 0 ]; then
	# (root's python3 may be a shim under /root that nobody can run)
	runas="setpriv --reuid=65534 --regid=65534 --clear-groups"
	py=/usr/bin/python3
fi
$runas $py "$peer.py" "$peer.sock" keep "$peer.conns" &
peer_pid=$!
at_exit "kill $peer_pid 2>/dev/null; rm -f $peer.py $peer.sock $peer.sock.ready $peer.conns"
for i in $(seq 1 100); do
	[ -e "$peer.sock.ready" ] && break
	sleep 0.05
done
out=$(printf '%s\n' "$T_GOOD" | "$HOST" "$SO" mode=local \
	"socket=$peer.sock" timeout=1000)
check_match "a server not run by the socket folder's owner is refused" \
	'^UNAVAILABLE reason="the server at /tmp/apitoken-peer-[0-9]*.sock runs as uid [0-9]*, not as the owner of /tmp \(uid 0\)' \
	"$(printf '%s\n' "$out" | sed -n 2p)"
kill "$peer_pid" 2>/dev/null
wait "$peer_pid" 2>/dev/null

# Options and versions.
out=$("$HOST" "$SO" mode=foo </dev/null)
check_match "unknown mode refused by open" '^open refused: option mode' \
	"$out"
out=$("$HOST" "$SO" mode=remote </dev/null)
check_match "remote without url refused" \
	'^open refused: mode=remote needs url' "$out"
out=$("$HOST" "$SO" mode=local colour=blue "socket=$scratch/x" </dev/null)
check_match "unknown option keys are ignored" '^abi 1\.0$' "$out"
out=$("$HOST" -a 0x20000 "$SO" mode=local </dev/null)
check_match "a host of ABI major 2 is refused" \
	'^open refused: host speaks another major' "$out"
out=$("$HOST" -a 0x10005 "$SO" mode=local </dev/null)
check_match "a host of a later 1.x minor is accepted" '^abi 1\.0$' "$out"

out=$("$HOST" "$top_builddir/tests/plugin/.libs/fake_v2.so" </dev/null)
check_eq "host refuses a plugin of ABI major 2 (exit 3)" \
	"plugin ABI 2.0 refused 3" "$out $?"

# Remote back end against a server that accepts and never answers: the
# timeout (whole seconds for liboauth2) bounds the wait.
cat >"$scratch/silent.py" <<'PY'
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0)); s.listen(8)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
conns = []
while True:
    c, _ = s.accept(); conns.append(c)
PY
python3 "$scratch/silent.py" "$scratch/silent.port" &
silent_pid=$!
at_exit "kill $silent_pid 2>/dev/null"
for i in $(seq 1 100); do
	[ -s "$scratch/silent.port" ] && break
	sleep 0.05
done
(umask 077; printf 'apicli_x\n' >"$scratch/s600")
t0=$(date +%s%N)
out=$(printf '%s\n' "$T_GOOD" | "$HOST" "$SO" mode=remote insecure \
	"url=http://127.0.0.1:$(cat "$scratch/silent.port")/introspect" \
	client_id=c "secret_file=$scratch/s600" timeout=1000 | sed -n 2p)
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
check_match "remote: silent server is UNAVAILABLE" '^UNAVAILABLE' "$out"
check "... within the timeout (1 s; took $ms ms)" test "$ms" -lt 3000

printf 'apitok_secret\n' >"$scratch/secret"
chmod 644 "$scratch/secret"
out=$("$HOST" "$SO" mode=remote url=https://127.0.0.1:1/introspect \
	client_id=c "secret_file=$scratch/secret" </dev/null)
check_match "world-readable secret_file refused" \
	'^open refused: secret_file .* must not be readable' "$out"
case "$out" in *apitok_secret*) not_ok "secret not echoed";;
	*) ok "secret not echoed";; esac

syms=$(nm -D --defined-only "$SO" | awk '{print $3}' | xargs)
check_eq "validator.so exports only apitoken_validator" \
	"apitoken_validator" "$syms"
if command -v ldd >/dev/null; then
	out=$(ldd "$SO")
	case "$out" in
	*libdb*|*libapitoken*) not_ok "no Berkeley DB / libapitoken in the host";;
	*) ok "no Berkeley DB / libapitoken in the host";;
	esac
fi
done_testing

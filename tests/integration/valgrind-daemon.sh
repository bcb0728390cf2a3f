#!/bin/sh
# apitokend under valgrind memcheck while every parser it has is fed good
# and bad input: HTTP forms and Basic credentials, Bearer revocation, the
# local socket's JSON lines, the admin socket's framed requests.  Passes
# when valgrind reports no invalid access, no uninitialised read and no
# definite leak, and the daemon still shuts down cleanly.  Normal build
# only (ASan and valgrind cannot share a process).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/daemon.sh"

[ -x "$APITOKEND" ] || skip_all "apitokend not built"
command -v valgrind >/dev/null 2>&1 || skip_all "valgrind not installed"
command -v curl >/dev/null || skip_all "curl not installed"
command -v python3 >/dev/null || skip_all "python3 not installed"
if grep -q -- '-fsanitize=' "$top_builddir/Makefile" 2>/dev/null; then
	skip_all "sanitizer build"
fi

daemon_config '"max_body": 1024'
ctl init >/dev/null 2>&1
ctl user add alice --email alice@example.org --role admin --bu sales \
	>/dev/null 2>&1
ctl user add bob --email bob@example.org --role user >/dev/null 2>&1
TA=$(ctl token generate alice 2>/dev/null)
TB=$(ctl token generate bob 2>/dev/null)
SECRET=$(ctl client add rs1 --can-revoke 2>/dev/null)

vglog="$scratch/valgrind.log"
DAEMON_WRAPPER="$top_builddir/libtool --mode=execute valgrind -q --fair-sched=yes
	--suppressions=$top_srcdir/tests/valgrind-libdb.supp
	--error-exitcode=42 --leak-check=full
	--errors-for-leak-kinds=definite,indirect --track-origins=yes
	--log-file=$vglog"
if ! start_daemon; then
	not_ok "apitokend starts under valgrind"
check_match "it really runs under valgrind" 'valgrind|memcheck' \
	"$(tr '\0' ' ' <"/proc/$DAEMON_PID/cmdline" 2>/dev/null)"
	done_testing
fi
ok "apitokend starts under valgrind"
check_match "it really runs under valgrind" 'valgrind|memcheck' \
	"$(tr '\0' ' ' <"/proc/$DAEMON_PID/cmdline" 2>/dev/null)"

# RFC 7662 introspection, good and bad.
http POST /introspect -u "rs1:$SECRET" --data-urlencode "token=$TA"
check_match "active token introspected" '"active":true' "$HTTP_BODY"
first=$HTTP_BODY
http POST /introspect -u "rs1:$SECRET" --data-urlencode "token=$TA"
check_eq "the kept answer is given again" "$first" "$HTTP_BODY"
http POST /introspect -d "client_id=rs1" --data-urlencode \
	"client_secret=$SECRET" --data-urlencode "token=$TB"
check_match "client_secret_post works" '"username":"bob"' "$HTTP_BODY"
http POST /introspect -u "rs1:$SECRET" -d "token=apitok_garbage&token=x"
check_eq "repeated token refused" 400 "$HTTP_CODE"
http POST /introspect -u "rs1:$SECRET" -d "token=%ZZ%00%&&=&token_type_hint"
check_eq "broken percent-encoding: an inactive token" '{"active":false}' \
	"$HTTP_BODY"
http POST /introspect -H "Authorization: Basic !!!notbase64" -d "token=x"
check_eq "malformed Basic credentials refused" 401 "$HTTP_CODE"
http POST /introspect -H "Authorization: Basic $(printf 'rs1' | base64)" \
	-d "token=x"
check_eq "Basic credentials without a colon refused" 401 "$HTTP_CODE"
http POST /introspect -u "rs1:$SECRET" -H "Content-Type: application/json" \
	-d '{"token":"x"}'
check_eq "JSON body refused" 400 "$HTTP_CODE"
head -c 4096 /dev/zero | tr '\0' 'a' >"$scratch/big"
http POST /introspect -u "rs1:$SECRET" --data-binary "@$scratch/big"
check_eq "oversize body refused" 413 "$HTTP_CODE"
http GET /introspect
check_eq "GET refused" 405 "$HTTP_CODE"
http GET /.well-known/oauth-authorization-server
check_eq "metadata served" 200 "$HTTP_CODE"
http GET /metrics
check_eq "metrics served" 200 "$HTTP_CODE"

# RFC 7009 self-revocation with a Bearer token, and a bad Bearer.
http POST /revoke -H "Authorization: Bearer apitok_nonsense" -d "token=x"
check_eq "bad Bearer refused" 401 "$HTTP_CODE"
http POST /revoke -H "Authorization: Bearer $TB" --data-urlencode "token=$TB"
check_eq "self-revocation accepted" 200 "$HTTP_CODE"

# Local socket: good, bad and oversize lines.
reply=$(local_request "{\"op\":\"check\",\"token\":\"$TA\"}")
check_match "local socket check" '"active":true' "$reply"
reply=$(local_request '{"op":"user","user":"alice"}')
check_match "local socket user" '"active":true' "$reply"
reply=$(local_request '{"op":"check","token":12}')
check_match "local socket wrong type" '"error"' "$reply"
reply=$(local_request '{"op":')
check_match "local socket broken JSON" '"error"' "$reply"
reply=$(local_request "$(head -c 6000 /dev/zero | tr '\0' 'x')")
check_match "local socket oversize line" '"error"' "$reply"

# Admin socket: a real command, then garbage frames.
quiet() { "$@" >/dev/null 2>&1; }
check "admin socket command" quiet ctl user show alice
python3 - "$DAEMON_ADMIN_SOCKET" <<'PY'
import socket, struct, sys
for frame in (b"\x00\x00\x00\x05{\"v\":", b"\xff\xff\xff\xff",
              struct.pack(">I", 9) + b'{"v":"x"}',
              struct.pack(">I", 24) + b'{"v":1,"argv":[1,2,{}]}'):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(sys.argv[1])
    s.sendall(frame)
    s.shutdown(socket.SHUT_WR)
    try:
        s.recv(65536)
    except OSError:
        pass
    s.close()
PY
check "admin socket still serves after garbage" quiet ctl user show bob
# A write retires the kept answer; the new one replaces it.
check "admin socket write" quiet ctl user set alice --role user
http POST /introspect -u "rs1:$SECRET" --data-urlencode "token=$TA"
check_match "the answer after the write is computed anew" '"role":"user"' \
	"$HTTP_BODY"

# Clean shutdown, then read valgrind's verdict.
kill -TERM "$DAEMON_PID" 2>/dev/null
i=0
while kill -0 "$DAEMON_PID" 2>/dev/null && [ $i -lt 600 ]; do
	sleep 0.1
	i=$((i + 1))
done
if kill -0 "$DAEMON_PID" 2>/dev/null; then
	kill -9 "$DAEMON_PID"
	not_ok "apitokend exits on SIGTERM under valgrind"
else
	wait "$DAEMON_PID"
	check_eq "apitokend exits cleanly, valgrind found nothing" 0 "$?"
fi
DAEMON_PID=""
if [ -s "$vglog" ]; then
	not_ok "valgrind log is empty"
	head -n 60 "$vglog" | sed 's/^/# /'
else
	ok "valgrind log is empty"
fi
done_testing

#!/bin/sh
# apitokend started as a daemon (no --foreground) logs through syslog(3):
# ident "apitokend", LOG_PID, LOG_DAEMON; notices at LOG_NOTICE; with
# --log-level info one LOG_INFO message per HTTP request in the access-log
# format, written at once (not buffered as on standard error); never a
# token or a secret.  syslog(3) is captured by preloading
# tests/integration/libsyslogcap.so (see syslog_capture.c): these machines
# run no syslog daemon.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/daemon.sh"

[ -x "$APITOKEND" ] || skip_all "apitokend not built"
[ -x "$APITOKENCTL" ] || skip_all "apitokenctl not built"
command -v curl >/dev/null || skip_all "curl not installed"
cap_lib="$top_builddir/tests/integration/.libs/libsyslogcap.so"
[ -f "$cap_lib" ] || skip_all "libsyslogcap.so not built"

cap="$scratch/syslog"
daemon_config
ctl init >/dev/null 2>&1
ctl user add alice --email alice@example.org --role user >/dev/null 2>&1
TA=$(ctl token generate alice 2>/dev/null)
SR=$(ctl client add rs1 --can-revoke 2>/dev/null)

# The real apitokend binary: libtool's wrapper script would fork it.
bin="$top_builddir/introspect/.libs/apitokend"
[ -x "$bin" ] || bin=$APITOKEND
env LD_PRELOAD="$cap_lib" APITOKEN_SYSLOG_CAPTURE="$cap" \
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
	LD_LIBRARY_PATH="$top_builddir/core/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
	"$bin" --config "$DAEMON_CONFIG" --pidfile "$scratch/pid" \
	--port-file "$scratch/port" --log-level info 2>"$scratch/stderr"
check_eq "apitokend daemonizes and reports success" 0 "$?"
pid=$(cat "$scratch/pid" 2>/dev/null)
check_match "it wrote its pid file" '^[0-9]+$' "$pid"
at_exit 'kill -9 $pid 2>/dev/null'
BASE_URL="http://$(cat "$scratch/port")"
check_eq "nothing on the caller's standard error" "" "$(cat "$scratch/stderr")"

check_match "openlog: ident apitokend, LOG_PID, LOG_DAEMON" \
	"^openlog apitokend $(python3 -c 'import syslog; print(syslog.LOG_PID, syslog.LOG_DAEMON)')\$" \
	"$(grep '^openlog' "$cap" | head -n 1)"
check_match "start-up notice at LOG_NOTICE" "^5 " \
	"$(grep 'listening' "$cap" | head -n 1)"

http POST /introspect -u "rs1:$SR" -d "token=$TA"
check_match "introspection works" '"active":true' "$HTTP_BODY"
http POST /introspect -u "rs1:wrong" -d "token=$TA"
check_eq "wrong secret: 401" 401 "$HTTP_CODE"
http GET "/introspect/$TA"
check_eq "a token in an unknown path: 404" 404 "$HTTP_CODE"

# At once: no buffering through syslog.
access=$(grep '^6 access: ' "$cap")
check_eq "one LOG_INFO access message per request, at once" 3 \
	"$(printf '%s\n' "$access" | grep -c .)"
check_match "the introspection's line names client and token id" \
	'^6 access: POST /introspect 200 [0-9]+\.[0-9]{6}s client=rs1 jti=[A-Za-z0-9]{16}$' \
	"$(printf '%s\n' "$access" | sed -n 1p)"
check_match "the refused client's line" \
	'^6 access: POST /introspect 401 [0-9]+\.[0-9]{6}s client=- jti=-$' \
	"$(printf '%s\n' "$access" | sed -n 2p)"
check_match "the unknown path is not logged as sent" \
	'^6 access: GET \(unknown\) 404 ' "$(printf '%s\n' "$access" | sed -n 3p)"
check_eq "every captured line is a whole message" "" \
	"$(grep -Ev '^(openlog |[0-7] )' "$cap")"
check "no token in the log" sh -c "! grep -qF '$TA' '$cap'"
check "no client secret in the log" sh -c "! grep -qF '$SR' '$cap'"

kill -TERM "$pid"
for i in $(seq 1 100); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
check "SIGTERM: the daemon exits" sh -c "! kill -0 $pid 2>/dev/null"
check_match "the shutdown is logged at LOG_NOTICE" '^5 SIGTERM: shutting down' \
	"$(grep 'shutting down' "$cap")"
check "the pid file is removed" test ! -e "$scratch/pid"

done_testing

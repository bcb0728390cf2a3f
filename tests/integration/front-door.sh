#!/bin/sh
# apitokend's front door against hostile HTTP input (issue 12): a bad-input
# matrix sent raw (what was sent, what came back, the daemon still
# serving), body and token sizes (a client that writes a 1 MiB body before
# reading gets the 413), slow senders cut by the read deadlines, Basic
# with a body client_id, failed-authentication throttling (429,
# Retry-After, recovery, NOTICE lines, /metrics), and 4000 idle or
# slowloris connections from one address beside a normal client.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/daemon.sh"

[ -x "$APITOKEND" ] || skip_all "apitokend not built"
[ -x "$APITOKENCTL" ] || skip_all "apitokenctl not built"
command -v curl >/dev/null || skip_all "curl not installed"
command -v python3 >/dev/null || skip_all "python3 not installed"

FD="python3 $top_srcdir/tests/integration/front_door.py"

daemon_config '"http_header_timeout": 2, "http_min_body_rate": 2048,
  "auth_throttle_burst": 5, "auth_throttle_per_minute": 60'
ctl init >/dev/null 2>&1
ctl user add alice --email alice@example.org --role admin >/dev/null 2>&1
TA=$(ctl token generate alice 2>/dev/null)
TB=$(ctl token generate alice 2>/dev/null)
SR=$(ctl client add rs1 --can-revoke 2>/dev/null)
SN=$(ctl client add rs2 2>/dev/null)
if ! start_daemon; then
	not_ok "apitokend starts"
	done_testing
fi
ok "apitokend starts"

still_serving() {
	http POST /introspect -u "rs1:$SR" -d "token=$TA"
	check_eq "$1: daemon still serving" 200 "$HTTP_CODE"
}

# raw NAME EXPECTED-PREFIX REQUEST (Python escapes: \r\n, \x00)
raw() {
	local got
	got=$(printf '%s' "$3" | $FD raw "$DAEMON_PORT")
	diag "sent: $3"
	diag "got:  $got"
	check_match "$1" "$2" "$got"
}

AUTH=$(printf 'rs1:%s' "$SR" | base64 -w0)
H='POST /introspect HTTP/1.1\r\nHost: x\r\nAuthorization: Basic '"$AUTH"'\r\nContent-Type: application/x-www-form-urlencoded\r\n'
BODY="token=$TA"
LEN=${#BODY}

# --- framing -------------------------------------------------------------
raw "two different Content-Length headers: 400 and close" \
	'^400 closed .*conflicting Content-Length' \
	"${H}Content-Length: $LEN\\r\\nContent-Length: $((LEN + 1))\\r\\n\\r\\n$BODY "
still_serving "after conflicting Content-Length"
raw "the same Content-Length twice: answered" '^200 open .*"active":true' \
	"${H}Content-Length: $LEN\\r\\nContent-Length: $LEN\\r\\n\\r\\n$BODY"
raw "Content-Length with Transfer-Encoding: 400 and close" \
	'^400 closed .*Content-Length with Transfer-Encoding' \
	"${H}Content-Length: $LEN\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n$(printf '%x' $LEN)\\r\\n$BODY\\r\\n0\\r\\n\\r\\n"
still_serving "after Content-Length with Transfer-Encoding"

# --- NUL and control bytes: taken whole, never cut -----------------------
B2="token=$TA\\x00junk"
raw "raw NUL after a valid token: inactive, not the valid token" \
	'^200 open \{"active":false\}$' \
	"${H}Content-Length: $((LEN + 5))\\r\\n\\r\\n$B2"
B3="token=$TA%00junk"
raw "escaped NUL after a valid token: inactive" \
	'^200 open \{"active":false\}$' \
	"${H}Content-Length: ${#B3}\\r\\n\\r\\n$B3"
B4="token=$TA\\x01"
raw "control byte after a valid token: inactive" \
	'^200 open \{"active":false\}$' \
	"${H}Content-Length: $((LEN + 1))\\r\\n\\r\\n$B4"
PH='POST /introspect HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n'
B5="client_id=rs1\\x00x&client_secret=$SR&token=$TA"
raw "raw NUL in client_id (post): 401, not client rs1" '^401 ' \
	"${PH}Content-Length: $((${#B5} - 3))\\r\\n\\r\\n$B5"
B6="client_id=rs1&client_secret=$SR%00x&token=$TA"
raw "escaped NUL after a right client_secret: 401" '^401 ' \
	"${PH}Content-Length: ${#B6}\\r\\n\\r\\n$B6"
still_serving "after NUL bytes"

# --- access log: every byte it did not write is escaped --------------------
raw "a method with ESC, CR and BEL: answered" '^[0-9]' \
	'G\x1bE\x07T /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
sleep 1.2 # the access log is flushed every second
if grep -q "$(printf '\033')" "$DAEMON_LOG" ||
	grep -q "$(printf '\007')" "$DAEMON_LOG"; then
	not_ok "access log: no raw ESC or BEL"
else
	ok "access log: no raw ESC or BEL"
fi
check_match "access log: the method escaped" 'G\\x1bE\\x07T' \
	"$(grep 'access: G' "$DAEMON_LOG")"

# --- Basic plus a body client_id ----------------------------------------
http POST /introspect -u "rs1:$SR" -d "client_id=rs1&token=$TA"
check_eq "Basic rs1 + client_id=rs1: 200" 200 "$HTTP_CODE"
check_eq "Basic rs1 + client_id=rs1: active" true "$(jget "$HTTP_BODY" active)"
http POST /introspect -u "rs1:$SR" -d "client_id=rs2&token=$TA"
check_eq "Basic rs1 + client_id=rs2: 400" 400 "$HTTP_CODE"
check_eq "Basic rs1 + client_id=rs2: invalid_request" invalid_request \
	"$(jget "$HTTP_BODY" error)"
http POST /introspect -u "rs1:$SR" -d "client_id=rs1&client_secret=$SR&token=$TA"
check_eq "Basic + client_secret in the body: still two methods, 400" 400 \
	"$HTTP_CODE"

# --- sizes ----------------------------------------------------------------
got=$($FD bigbody "$DAEMON_PORT" 60000 cl "rs1:$SR")
check_eq "60 KB foreign token: inactive" '200 {"active":false}' "$got"
got=$($FD bigbody "$DAEMON_PORT" 60000 chunked "rs1:$SR")
check_eq "60 KB foreign token, chunked: inactive" '200 {"active":false}' "$got"
got=$($FD bigbody "$DAEMON_PORT" 1048576 cl "rs1:$SR")
check_match "1 MiB body written before reading: the client reads 413" \
	'^413 .*larger than 65536' "$got"
got=$($FD bigbody "$DAEMON_PORT" 1048576 chunked "rs1:$SR")
check_match "1 MiB chunked body written before reading: 413" \
	'^413 .*larger than 65536' "$got"
got=$($FD endless "$DAEMON_PORT" "rs1:$SR")
diag "endless chunked body: $got"
n=$(echo "$got" | awk '{print $3}')
check "endless chunked body: closed before 16 MiB" [ "$n" -lt 16777216 ]
http POST /introspect -u "rs1:$SR" -H 'Expect: 100-continue' \
	-H 'Content-Length: 104857600' --data-binary "token=x"
check_eq "100 MiB announced with Expect: 100-continue: 413 at once" 413 \
	"$HTTP_CODE"
still_serving "after oversized bodies"

# --- slow senders -----------------------------------------------------------
t0=$(date +%s)
got=$($FD slow "$DAEMON_PORT" head 0.3 "rs1:$SR")
diag "request head at one byte per 0.3 s: $got"
check_match "slow request head: cut (header timeout 2 s)" '^closed after [2-4]\.' "$got"
got=$($FD slow "$DAEMON_PORT" body 0.5 "rs1:$SR")
diag "body at 2 bytes/s (minimum 2048): $got"
check_match "slow body: cut after the 2 s grace" '^closed after [2-4]\.' "$got"
http GET /metrics
check_match "metrics: connections cut for a slow head" \
	'apitokend_http_connections_cut_total\{phase="head"\} [1-9]' "$HTTP_BODY"
check_match "metrics: connections cut for a slow body" \
	'apitokend_http_connections_cut_total\{phase="body"\} [1-9]' "$HTTP_BODY"

# --- failed-authentication throttling ---------------------------------------
# Wrong secrets from 127.0.0.5 until 429.
n=0
code=401
while [ "$code" = 401 ] && [ $n -lt 50 ]; do
	n=$((n + 1))
	code=$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.5 \
		-u "rs1:wrong$n" -d "token=$TA" "$BASE_URL/introspect")
done
diag "wrong client secrets until 429: $n"
check_eq "wrong secrets from one address: 429 after burst 5" 6 "$n"
http POST /introspect --interface 127.0.0.5 -u "rs1:$SR" -d "token=$TA"
check_eq "throttled address: right secret also 429" 429 "$HTTP_CODE"
ra=$(http_header retry-after)
check_eq "429 has Retry-After: 1" 1 "$ra"
check_eq "429 body: temporarily_unavailable" temporarily_unavailable \
	"$(jget "$HTTP_BODY" error)"
http POST /introspect --interface 127.0.0.6 -u "rs1:$SR" -d "token=$TA"
check_eq "another address is not throttled" 200 "$HTTP_CODE"
t0=$(python3 -c 'import time; print(time.monotonic())')
sleep "$ra"
http POST /introspect --interface 127.0.0.5 -u "rs1:$SR" -d "token=$TA"
check_eq "after Retry-After, the right secret gets in" 200 "$HTTP_CODE"
diag "recovery: $(python3 -c "import time; print('%.2f s' % (time.monotonic() - $t0))") after the 429"
check_match "NOTICE: the address throttled, no secret" \
	'throttle address: 127\.0\.0\.5 throttled after 5 failed' \
	"$(cat "$DAEMON_LOG")"
if grep -q "wrong[0-9]" "$DAEMON_LOG" || grep -qF "$SR" "$DAEMON_LOG"; then
	not_ok "no client secret in the log"
else
	ok "no client secret in the log"
fi
# One client id guessed from many addresses: rs2 throttled for everyone
# who has not authenticated as rs2 before.
for i in 1 2 3 4 5 6; do
	curl -s -o /dev/null --interface "127.0.1.$i" -u "rs2:bad$i" \
		-d "token=$TA" "$BASE_URL/introspect"
done
http POST /introspect --interface 127.0.1.20 -u "rs2:bad" -d "token=$TA"
check_eq "client id guessed from 6 addresses: 429 from a 7th" 429 "$HTTP_CODE"
check_match "NOTICE: the client id throttled" \
	'throttle client_id: rs2 throttled' "$(cat "$DAEMON_LOG")"
# /revoke with wrong bearer tokens.
n=0
code=401
while [ "$code" = 401 ] && [ $n -lt 50 ]; do
	n=$((n + 1))
	code=$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.7 \
		-H "Authorization: Bearer apitok_wrong$n" -d "token=x" \
		"$BASE_URL/revoke")
done
check_eq "/revoke: wrong bearer tokens until 429" 6 "$n"
http GET /metrics
check_match "metrics: 429 answers counted" \
	'apitokend_requests_total\{endpoint="introspect",code="429"\} [1-9]' \
	"$HTTP_BODY"
check_match "metrics: throttle refusals by table" \
	'apitokend_throttle_refused_total\{table="address"\} [1-9]' "$HTTP_BODY"
check_match "metrics: throttle starts by client id" \
	'apitokend_throttle_starts_total\{table="client_id"\} [1-9]' "$HTTP_BODY"

# --- 4000 connections from one address beside a normal client ---------------
for mode in idle slowloris; do
	got=$($FD flood "$DAEMON_PORT" 4000 127.0.0.3 $mode 200 127.0.0.2 \
		"rs1:$SR" "$TA")
	diag "4000 $mode connections from 127.0.0.3: $got"
	check_match "$mode flood: the normal client got every answer" \
		'answered=200/200' "$got"
	p99=$(echo "$got" | sed 's/.*p99_ms=\([0-9.]*\).*/\1/')
	check "$mode flood: normal client's p99 < 50 ms ($p99 ms)" \
		python3 -c "import sys; sys.exit(0 if $p99 < 50 else 1)"
	held=$(echo "$got" | sed 's/.*held=\([0-9]*\).*/\1/')
	check "$mode flood: at most 64 held (per-address limit; $held)" \
		[ "$held" -le 64 ]
done
# From 20 addresses, 4000 connections exceed http_max_connections (1024):
# the server makes room by cutting those waiting longest for a head.
got=$($FD flood "$DAEMON_PORT" 4000 127.0.0.30+20 slowloris 200 127.0.0.2 \
	"rs1:$SR" "$TA")
diag "4000 slowloris connections from 20 addresses: $got"
check_match "20-address flood: the normal client got every answer" \
	'answered=200/200' "$got"
p99=$(echo "$got" | sed 's/.*p99_ms=\([0-9.]*\).*/\1/')
check "20-address flood: normal client's p99 < 50 ms ($p99 ms)" \
	python3 -c "import sys; sys.exit(0 if $p99 < 50 else 1)"
http GET /metrics
check_match "metrics: refusals over the per-address limit counted" \
	'apitokend_http_connections_refused_total\{limit="address"\} [0-9]{4}' \
	"$HTTP_BODY"
check_match "metrics: connections evicted for room" \
	'apitokend_http_connections_cut_total\{phase="evicted"\} [1-9]' \
	"$HTTP_BODY"
n=$(grep -c 'connection limit\|refusing connections' "$DAEMON_LOG")
check "floods: at most a few log lines about refusals ($n)" [ "$n" -lt 20 ]
still_serving "after the floods"
check "apitokend still running" kill -0 "$DAEMON_PID"
stop_daemon
check_eq "clean shutdown (no leak or sanitizer report)" 0 "$?"

done_testing

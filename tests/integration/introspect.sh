#!/bin/sh
# apitokend over HTTP: RFC 7662 introspection, RFC 7009 revocation,
# RFC 8414 metadata, /healthz, /metrics, the access log.  Every rule of
# docs/apitokend.8's HTTP section is checked by status, headers and body.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/daemon.sh"

[ -x "$APITOKEND" ] || skip_all "apitokend not built"
[ -x "$APITOKENCTL" ] || skip_all "apitokenctl not built"
command -v curl >/dev/null || skip_all "curl not installed"
command -v python3 >/dev/null || skip_all "python3 not installed"

b64() { printf '%s' "$1" | base64 -w0; }

daemon_config '"issuer": "https://issuer.example", "audience": "api.example",
  "max_body": 1024'
ctl init >/dev/null 2>&1
ctl user add alice --email alice@example.org --role admin --bu sales \
	--bu hr >/dev/null 2>&1
for u in bob carol dave erin; do
	ctl user add $u --email $u@example.org --role user >/dev/null 2>&1
done
TA=$(ctl token generate alice 2>/dev/null)
TB=$(ctl token generate bob 2>/dev/null)
TC=$(ctl token generate carol 2>/dev/null)
TD=$(ctl token generate dave 2>/dev/null)
TE=$(ctl token generate erin 2>/dev/null)
SR=$(ctl client add rs1 --can-revoke 2>/dev/null)
SN=$(ctl client add rs2 2>/dev/null)
check_match "offline provisioning gave a token" '^apitok_' "$TA"
check_match "offline provisioning gave a client secret" '^apicli_' "$SR"

# Start with a low soft limit on open files, which apitokend must raise.
command -v prlimit >/dev/null && DAEMON_WRAPPER="prlimit --nofile=512: --"
if ! start_daemon; then
	not_ok "apitokend starts"
	done_testing
fi
ok "apitokend starts on a kernel-chosen port ($DAEMON_PORT)"
if [ -n "$DAEMON_WRAPPER" ] && [ -r "/proc/$DAEMON_PID/limits" ]; then
	check_eq "open files soft limit raised to the hard limit" \
		"$(awk '/Max open files/ {print $5}' "/proc/$DAEMON_PID/limits")" \
		"$(awk '/Max open files/ {print $4}' "/proc/$DAEMON_PID/limits")"
fi

json_headers_ok() {
	[ "$(http_header content-type)" = "application/json" ] &&
		[ "$(http_header cache-control)" = "no-store" ] &&
		[ "$(http_header pragma)" = "no-cache" ]
}

# --- active token, client_secret_basic ---------------------------------
http POST /introspect -u "rs1:$SR" -d "token=$TA"
check_eq "active token: 200" 200 "$HTTP_CODE"
check "active token: JSON, no-store, no-cache headers" json_headers_ok
A_BODY=$HTTP_BODY
check_eq "active token: exactly the documented members" \
	"active aud business_units client_id exp iat iss jti role scope sub token_type username" \
	"$(jget "$A_BODY" keys)"
check_eq "active: true" true "$(jget "$A_BODY" active)"
check_eq "scope: role scopes then bu:<unit>" \
	"api:read api:write api:admin bu:sales bu:hr" "$(jget "$A_BODY" scope)"
check_eq "username" alice "$(jget "$A_BODY" username)"
check_eq "sub = username" alice "$(jget "$A_BODY" sub)"
check_eq "token_type Bearer" Bearer "$(jget "$A_BODY" token_type)"
check_eq "iss from config" https://issuer.example "$(jget "$A_BODY" iss)"
check_eq "aud from config" api.example "$(jget "$A_BODY" aud)"
check_eq "client_id is the authenticated client" rs1 \
	"$(jget "$A_BODY" client_id)"
check_eq "role" admin "$(jget "$A_BODY" role)"
check_eq "business_units array" "sales hr" \
	"$(jget "$A_BODY" business_units)"
check_match "exp and iat are integers" '"exp":[0-9]+,"iat":[0-9]+,' \
	"$A_BODY"
check_eq "exp = iat + 180 days" 15552000 \
	$(( $(jget "$A_BODY" exp) - $(jget "$A_BODY" iat) ))
JTI=$(jget "$A_BODY" jti)
check_match "jti is the public id apitokenctl shows" "$JTI" \
	"$(ctl token show alice 2>/dev/null)"

# --- client_secret_post, form-encoded Basic credentials -----------------
http POST /introspect -d "client_id=rs1&client_secret=$SR&token=$TA"
check_eq "client_secret_post: same answer" "$A_BODY" "$HTTP_BODY"
http POST /introspect -H "Authorization: Basic $(b64 "%72s%31:$SR")" \
	-d "token=$TA"
check_eq "Basic id/secret are form-decoded (RFC 6749 2.3.1)" \
	"$A_BODY" "$HTTP_BODY"
http POST /introspect -u "rs1:$SR" -d "token=$TA&token_type_hint=refresh_token"
check_eq "token_type_hint never changes the answer" "$A_BODY" "$HTTP_BODY"
http POST /introspect -u "rs1:$SR" -d "token=$TA&foo=bar&x"
check_eq "unknown parameters are ignored" "$A_BODY" "$HTTP_BODY"
http POST /introspect -u "rs1:$SR" \
	-H "Content-Type: application/x-www-form-urlencoded; charset=UTF-8" \
	--data-binary "token=$TA"
check_eq "charset parameter on the content type is accepted" \
	"$A_BODY" "$HTTP_BODY"

# --- inactive: exactly {"active":false} --------------------------------
inactive() {
	http POST /introspect -u "rs1:$SR" --data-urlencode "token=$2"
	if [ "$HTTP_CODE" = 200 ] && [ "$HTTP_BODY" = '{"active":false}' ] &&
		json_headers_ok; then
		ok "$1: 200 and exactly {\"active\":false}"
	else
		not_ok "$1: 200 and exactly {\"active\":false}"
		diag "got $HTTP_CODE $HTTP_BODY"
	fi
}
inactive "malformed token" "apitok_garbage"
inactive "non-token text" "hello world"
# A well-formed token never issued: flip a body character of alice's
# token and the checksum no longer matches; so use an issued-then-revoked
# one for "unknown to the store" and garbage for the checksum path.
ctl token revoke carol >/dev/null 2>&1
inactive "revoked token (apitokenctl online)" "$TC"
ctl user remove dave >/dev/null 2>&1
inactive "token of a removed user" "$TD"
ctl user api-access erin off >/dev/null 2>&1
inactive "token of a user whose API-token option is off" "$TE"
ctl user api-access erin on >/dev/null 2>&1
http POST /introspect -u "rs1:$SR" -d "token=$TE"
check_eq "API-token option back on: active again" true \
	"$(jget "$HTTP_BODY" active)"

# --- client authentication failures ------------------------------------
http POST /introspect -u "rs1:apicli_wrong" -d "token=$TA"
check_eq "wrong secret: 401" 401 "$HTTP_CODE"
WRONG_BODY=$HTTP_BODY
WRONG_HDR=$(http_header www-authenticate)
check_eq "wrong secret: invalid_client" invalid_client \
	"$(jget "$HTTP_BODY" error)"
check_eq "401 carries WWW-Authenticate Basic" 'Basic realm="apitoken"' \
	"$WRONG_HDR"
check "401 has the JSON/no-store headers" json_headers_ok
http POST /introspect -u "nosuchclient:$SR" -d "token=$TA"
check_eq "unknown client: same status as wrong secret" 401 "$HTTP_CODE"
check_eq "unknown client: same body as wrong secret" "$WRONG_BODY" \
	"$HTTP_BODY"
check_eq "unknown client: same WWW-Authenticate" "$WRONG_HDR" \
	"$(http_header www-authenticate)"
http POST /introspect -d "token=$TA"
check_eq "no client authentication: 401" 401 "$HTTP_CODE"
check_eq "no client authentication: invalid_client" invalid_client \
	"$(jget "$HTTP_BODY" error)"
http POST /introspect -d "client_id=rs1&token=$TA"
check_eq "client_id without secret: 401" 401 "$HTTP_CODE"
http POST /introspect -H "Authorization: Basic !!!notbase64" -d "token=$TA"
check_eq "garbage Basic credentials: 401" 401 "$HTTP_CODE"
http POST /introspect -H "Authorization: Bearer $TA" -d "token=$TA"
check_eq "a bearer token is no client authentication: 401" 401 \
	"$HTTP_CODE"
http POST /introspect -u "rs1:$SR" -d "client_id=rs1&client_secret=$SR&token=$TA"
check_eq "Basic and client_secret_post at once: 400" 400 "$HTTP_CODE"
check_eq "... invalid_request" invalid_request "$(jget "$HTTP_BODY" error)"
http POST /introspect -d "client_id=rs1&client_id=rs1&client_secret=$SR&token=$TA"
check_eq "repeated client_id: 400" 400 "$HTTP_CODE"

# Authentications are remembered; removing a client must end them at once.
S3=$(ctl client add rs3 2>/dev/null)
for i in 1 2 3 4; do
	http POST /introspect -u "rs3:$S3" -d "token=$TA"
done
check_eq "a new client (added online) authenticates" 200 "$HTTP_CODE"
http POST /introspect -u "rs3:apicli_wrong" -d "token=$TA"
check_eq "... a wrong secret for it still fails after successes" 401 \
	"$HTTP_CODE"
ctl client remove rs3 >/dev/null 2>&1
fails=0
for i in 1 2 3 4; do
	http POST /introspect -u "rs3:$S3" -d "token=$TA"
	[ "$HTTP_CODE" = 401 ] && fails=$((fails + 1))
done
check_eq "a removed client is refused at once, on every connection" 4 \
	"$fails"

# --- the token parameter -------------------------------------------------
http POST /introspect -u "rs1:$SR" -d "foo=bar"
check_eq "missing token: 400" 400 "$HTTP_CODE"
check_eq "missing token: invalid_request" invalid_request \
	"$(jget "$HTTP_BODY" error)"
check_match "error_description present" '"error_description":"[^"]+"' \
	"$HTTP_BODY"
check "400 has the JSON/no-store headers" json_headers_ok
http POST /introspect -u "rs1:$SR" -d "token="
check_eq "empty token: 400" 400 "$HTTP_CODE"
http POST /introspect -u "rs1:$SR" -d "token=$TA&token=$TA"
check_eq "repeated token: 400" 400 "$HTTP_CODE"
check_eq "repeated token: invalid_request" invalid_request \
	"$(jget "$HTTP_BODY" error)"
HTTP_Q="/introspect?token=$TA"
http POST "$HTTP_Q" -u "rs1:$SR" -d "foo=bar"
check_eq "token only in the query string is not read: 400" 400 \
	"$HTTP_CODE"
http POST /introspect -u "rs1:$SR" -H "Content-Type: application/json" \
	--data-binary "{\"token\":\"$TA\"}"
check_eq "JSON body: 400" 400 "$HTTP_CODE"
check_eq "JSON body: invalid_request" invalid_request \
	"$(jget "$HTTP_BODY" error)"

# --- methods, sizes, paths ----------------------------------------------
http GET /introspect -u "rs1:$SR"
check_eq "GET /introspect: 405" 405 "$HTTP_CODE"
check_eq "GET /introspect: Allow: POST" POST "$(http_header allow)"
check "405 has the JSON/no-store headers" json_headers_ok
http PUT /revoke -u "rs1:$SR" -d "token=$TA"
check_eq "PUT /revoke: 405" 405 "$HTTP_CODE"
check_eq "PUT /revoke: Allow: POST" POST "$(http_header allow)"
http GET /revoke
check_eq "GET /revoke: 405" 405 "$HTTP_CODE"
big=$(head -c 2000 /dev/zero | tr '\0' a)
http POST /introspect -u "rs1:$SR" -d "token=$TA&pad=$big"
check_eq "body over max_body (Content-Length): 413" 413 "$HTTP_CODE"
check "413 has the JSON/no-store headers" json_headers_ok
http POST /introspect -u "rs1:$SR" -H "Transfer-Encoding: chunked" \
	-d "token=$TA&pad=$big"
check_eq "body over max_body (chunked): 413" 413 "$HTTP_CODE"
http POST /introspect -u "rs1:$SR" -H "Transfer-Encoding: chunked" \
	-d "token=$TA"
check_eq "chunked body within max_body: answered" "$A_BODY" "$HTTP_BODY"
http GET /nosuchpath
check_eq "unknown path: 404" 404 "$HTTP_CODE"
http GET "/introspect/$TA"
check_eq "a token in an unknown path: 404 (and not logged, see below)" \
	404 "$HTTP_CODE"
http POST /healthz
check_eq "POST /healthz: 405" 405 "$HTTP_CODE"

# --- revocation (RFC 7009) -----------------------------------------------
http POST /revoke -u "rs2:$SN" -d "token=$TB"
check_eq "client without the revoke right: 400 (RFC 6749 5.2)" 400 \
	"$HTTP_CODE"
check_eq "... unauthorized_client" unauthorized_client \
	"$(jget "$HTTP_BODY" error)"
http POST /introspect -u "rs1:$SR" -d "token=$TB"
check_eq "... and the token is still active" true \
	"$(jget "$HTTP_BODY" active)"
http POST /revoke -u "rs1:apicli_wrong" -d "token=$TB"
check_eq "revoke with a wrong client secret: 401" 401 "$HTTP_CODE"
check_eq "... invalid_client" invalid_client "$(jget "$HTTP_BODY" error)"
http POST /revoke -u "rs1:$SR"
check_eq "revoke without token: 400" 400 "$HTTP_CODE"
http POST /revoke -u "rs1:$SR" -d "token=$TB"
check_eq "revoke by a client with the right: 200" 200 "$HTTP_CODE"
check_eq "... body {}" '{}' "$HTTP_BODY"
check "... JSON/no-store headers" json_headers_ok
inactive "token revoked over /revoke" "$TB"
http POST /revoke -u "rs1:$SR" -d "token=$TB"
check_eq "revoking an already revoked token: 200" 200 "$HTTP_CODE"
http POST /revoke -u "rs1:$SR" -d "token=apitok_garbage"
check_eq "revoking a malformed token: 200" 200 "$HTTP_CODE"
check_match "audit names the client as actor, its address, the route" \
	"client:rs1 +127\.0\.0\.1 .*via /revoke" \
	"$(ctl audit bob 2>/dev/null)"

TB2=$(ctl token generate bob 2>/dev/null)
check_match "apitokenctl online issues a token" '^apitok_' "$TB2"
TA_BEARER_CHECK=$TA
http POST /revoke -H "Authorization: Bearer $TB2" -d "token=$TA"
check_eq "a bearer may not revoke another user's token: 400" 400 \
	"$HTTP_CODE"
http POST /introspect -u "rs1:$SR" -d "token=$TA_BEARER_CHECK"
check_eq "... which stays active" true "$(jget "$HTTP_BODY" active)"
http POST /revoke -H "Authorization: Bearer $TB2" -d "token=$TB2"
check_eq "self-revocation with the bearer token: 200" 200 "$HTTP_CODE"
inactive "self-revoked token" "$TB2"
check_match "audit records self-revocation and the remote address" \
	"user:bob +127\.0\.0\.1 .*self-revocation via /revoke" \
	"$(ctl audit bob 2>/dev/null)"
http POST /revoke -H "Authorization: Bearer $TB2" -d "token=$TB2"
check_eq "inactive bearer token: 401" 401 "$HTTP_CODE"
check_eq "... invalid_token" invalid_token "$(jget "$HTTP_BODY" error)"
check_eq "... WWW-Authenticate: Bearer error=\"invalid_token\"" \
	'Bearer error="invalid_token"' "$(http_header www-authenticate)"

# --- metadata, health, metrics -------------------------------------------
http GET /.well-known/oauth-authorization-server
check_eq "metadata: 200" 200 "$HTTP_CODE"
check "metadata: JSON/no-store headers" json_headers_ok
check_eq "metadata: issuer" https://issuer.example \
	"$(jget "$HTTP_BODY" issuer)"
check_eq "metadata: introspection_endpoint" \
	https://issuer.example/introspect \
	"$(jget "$HTTP_BODY" introspection_endpoint)"
check_eq "metadata: revocation_endpoint" https://issuer.example/revoke \
	"$(jget "$HTTP_BODY" revocation_endpoint)"
check_eq "metadata: introspection auth methods" \
	"client_secret_basic client_secret_post" \
	"$(jget "$HTTP_BODY" introspection_endpoint_auth_methods_supported)"
check_eq "metadata: revocation auth methods" \
	"client_secret_basic client_secret_post" \
	"$(jget "$HTTP_BODY" revocation_endpoint_auth_methods_supported)"
check_eq "metadata: no token endpoint (we issue none over HTTP)" \
	"<absent>" "$(jget "$HTTP_BODY" token_endpoint)"
check_eq "metadata: grant_types_supported is empty" "" \
	"$(jget "$HTTP_BODY" grant_types_supported)"

http GET /healthz
check_eq "healthz: 200" 200 "$HTTP_CODE"
check_eq "healthz: body" '{"status":"ok"}' "$HTTP_BODY"

http GET /metrics
check_eq "metrics: 200" 200 "$HTTP_CODE"
check_eq "metrics: Prometheus text 0.0.4" \
	"text/plain; version=0.0.4; charset=utf-8" \
	"$(http_header content-type)"
check_match "metrics: requests by endpoint and code" \
	'apitokend_requests_total\{endpoint="introspect",code="200"\} [1-9]' \
	"$HTTP_BODY"
check_match "metrics: 401s counted" \
	'apitokend_requests_total\{endpoint="introspect",code="401"\} [1-9]' \
	"$HTTP_BODY"
check_match "metrics: duration histogram" \
	'apitokend_request_duration_seconds_bucket\{endpoint="introspect",le="\+Inf"\} [1-9]' \
	"$HTTP_BODY"
check_match "metrics: histogram count" \
	'apitokend_request_duration_seconds_count\{endpoint="introspect"\} [1-9]' \
	"$HTTP_BODY"
check_match "metrics: active tokens gauge" \
	'apitokend_tokens_active [0-9]+' "$HTTP_BODY"
check_match "metrics: store errors" 'apitokend_store_errors_total 0' \
	"$HTTP_BODY"
check_match "metrics: the mail module's metrics are included" \
	'apitokend_mail_sent_total [0-9]+' "$HTTP_BODY"

# --- access log ------------------------------------------------------------
# Lines are buffered per worker thread and written within a second.
for i in $(seq 1 30); do
	grep -q "access: POST /introspect 200 [0-9.]*s client=rs1 jti=$JTI" \
		"$DAEMON_LOG" && break
	sleep 0.1
done
check "access log: one line per request with client and jti" \
	grep -q "access: POST /introspect 200 [0-9.]*s client=rs1 jti=$JTI" \
	"$DAEMON_LOG"
check "access log: 401 lines too" \
	grep -q "access: POST /introspect 401 " "$DAEMON_LOG"
# A lone request on a quiet server still reaches the log within ~1 s.
http GET /metrics
found=""
for i in $(seq 1 30); do
	if grep -q "access: GET /metrics 200 " "$DAEMON_LOG"; then
		found=yes
		break
	fi
	sleep 0.1
done
check_eq "access log: a quiet server's line is written within 3 s" yes \
	"$found"
check_eq "access log: every line whole (method path status time ids)" "" \
	"$(grep 'access:' "$DAEMON_LOG" | grep -Ev \
	'^apitokend: access: [A-Z]+ [^ ]+ [0-9]{3} [0-9]+\.[0-9]{6}s client=[^ ]+ jti=[^ ]+$')"
leaked=""
for s in "$TA" "$TB" "$TB2" "$TC" "$TD" "$TE" "$SR" "$SN"; do
	grep -qF "$s" "$DAEMON_LOG" && leaked="$leaked $s"
done
check_eq "the log holds no token and no client secret" "" "$leaked"

# --- keep-alive: answers must not cost the connection -------------------
conns=$(curl -s -w '%{num_connects} ' -o /dev/null "$BASE_URL/healthz" \
	-o /dev/null "$BASE_URL/healthz" \
	-o /dev/null "$BASE_URL/.well-known/oauth-authorization-server")
check_eq "GET answers keep the connection alive" "1 0 0 " "$conns"
conns=$(curl -s -w '%{num_connects} ' -u "rs1:$SR" -d "token=$TA" \
	-o /dev/null "$BASE_URL/introspect" -o /dev/null "$BASE_URL/introspect")
check_eq "POST /introspect answers keep the connection alive" "1 0 " \
	"$conns"

check "SIGTERM: clean exit" stop_daemon
check "socket files removed at shutdown" \
	test ! -e "$DAEMON_LOCAL_SOCKET" -a ! -e "$DAEMON_ADMIN_SOCKET"

done_testing

#!/bin/sh
# The self-service page and its JSON API against the real apitokend, with
# curl: sign-in through PAM (pam_wrapper + pam_matrix, no system account),
# sessions, CSRF and cross-site refusal, security headers, the token rules,
# the portal client's manage right, the audit's actor and source, sign-in
# throttling, session expiry, cookie flags over HTTPS, and the trusted-proxy
# header mode (a forged header from another address is ignored).  The
# browser itself is tests/integration/web-browser.sh.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/daemon.sh"
. "$top_srcdir/tests/web-lib.sh"

[ -x "$APITOKEND" ] && [ -x "$APITOKENCTL" ] || skip_all "apitokend not built"
command -v curl >/dev/null || skip_all "curl not installed"
web_pam_setup alice:pw-alice bob:pw-bob carol:pw-carol erin:pw-erin \
	frank:pw-frank
exec 3>&1

# ---- off unless configured; bad configurations refused ----
daemon_config
ctl init >/dev/null 2>&1
start_daemon || { not_ok "apitokend starts"; done_testing; }
http GET /account/
check_eq "no web section: /account/ is 404" 404 "$HTTP_CODE"
http GET /api/v1/me/token
check_eq "no web section: /api/v1/me/token is 404" 404 "$HTTP_CODE"
stop_daemon

bad_config() {
	local what="$1" web="$2" want="$3" out
	daemon_config "\"web\": {$web}"
	out=$($DAEMON_WRAPPER "$APITOKEND" --foreground --config "$DAEMON_CONFIG" \
		--port-file "$scratch/bad.port" 2>&1 </dev/null)
	check_match "config refused: $what" "$want" "$out"
}
bad_config "unknown auth" '"auth": "ldap"' "web.auth'.*\"pam\" or \"header\""
bad_config "header mode without trusted_proxies" '"auth": "header"' \
	"web.trusted_proxies'.*required"
bad_config "a proxy that is not an address" \
	'"auth": "header", "trusted_proxies": ["proxy.example"]' \
	"web.trusted_proxies'.*numeric IP"
bad_config "idle longer than max" \
	'"auth": "pam", "session_idle": "2h", "session_max": "1h"' \
	"web.session_idle'"
bad_config "unknown key" '"auth": "pam", "colour": "red"' \
	"unknown key 'web.colour'"
bad_config "missing page files" "\"auth\": \"pam\", \"assets\": \"$scratch/none\"" \
	"cannot open $scratch/none/index.html"

# ---- PAM sign-in ----
web_config '"auth": "pam", "pam_service": "apitoken-web",
  "support_contact": "IT service desk, +1 555 0100", "signin_failures": 3,
  "signin_lockout": "60s", "max_sessions": 4'
ctl user add alice --email alice@example.org --role user >/dev/null 2>&1
ctl user add bob --email bob@example.org --role user >/dev/null 2>&1
ctl user add carol --email carol@example.org --role user >/dev/null 2>&1
ctl user add frank --email frank@example.org --role user >/dev/null 2>&1
ctl user api-access carol off >/dev/null 2>&1
start_daemon || { not_ok "apitokend starts with web"; done_testing; }

headers_ok() { # what
	check_match "$1: CSP default-src 'self', frame-ancestors 'none'" \
		"default-src 'self';.*frame-ancestors 'none'" \
		"$(http_header content-security-policy)"
	check_eq "$1: nosniff" nosniff "$(http_header x-content-type-options)"
	check_eq "$1: Referrer-Policy no-referrer" no-referrer \
		"$(http_header referrer-policy)"
	check_eq "$1: Cache-Control no-store" no-store \
		"$(http_header cache-control)"
}
http GET /account/
check_eq "GET /account/: 200" 200 "$HTTP_CODE"
check_match "the page is HTML" "^text/html" "$(http_header content-type)"
headers_ok "the page"
check_eq "the page has no inline script" \
	"$(printf '%s' "$HTTP_BODY" | grep -c '<script')" \
	"$(printf '%s' "$HTTP_BODY" | grep -c '<script src="/account/app.js"')"
check_eq "the page has no inline event handlers" 0 \
	"$(printf '%s' "$HTTP_BODY" | grep -Eic ' on[a-z]+=')"
http GET /account/app.js
check_match "app.js is JavaScript" "^text/javascript" \
	"$(http_header content-type)"
headers_ok "app.js"
http GET /account
check_eq "/account redirects to /account/" "301 /account/" \
	"$HTTP_CODE $(http_header location)"
http GET /api/v1/me/token
check_eq "me/token without a session: 401" 401 "$HTTP_CODE"
check_eq "... error not_signed_in" not_signed_in "$(jget "$HTTP_BODY" error)"
headers_ok "an API error"
http GET /api/v1/session
check_eq "session before sign-in: signed out, PAM" "false pam" \
	"$(jget "$HTTP_BODY" signed_in) $(jget "$HTTP_BODY" auth)"

web_signin alice wrong-password
wrong_code=$HTTP_CODE wrong_body=$HTTP_BODY
web_signin nosuchuser pw-alice
check_eq "wrong password: 401" 401 "$wrong_code"
check_eq "unknown user: the same answer as a wrong password" \
	"$wrong_code $wrong_body" "$HTTP_CODE $HTTP_BODY"
check_eq "... which says invalid_credentials" invalid_credentials \
	"$(jget "$wrong_body" error)"
http POST /api/v1/session -H 'Content-Type: application/x-www-form-urlencoded' \
	-H 'Origin: http://evil.example' --data 'user=alice&password=pw-alice'
check_eq "cross-site form POST to sign in: 403" 403 "$HTTP_CODE"

rm -f "$WEB_JAR"
web_signin alice pw-alice
check_eq "alice signs in: 200" 200 "$HTTP_CODE"
check_eq "... signed in as alice" "true alice" \
	"$(jget "$HTTP_BODY" signed_in) $(jget "$HTTP_BODY" user)"
check_match "... with a 64-hex CSRF token" '^[0-9a-f]{64}$' "$CSRF"
cookie=$(http_header set-cookie)
check_match "session cookie: random id, Path=/, HttpOnly, SameSite=Strict" \
	'^apitoken_session=[0-9a-f]{64}; Path=/; HttpOnly; SameSite=Strict$' \
	"$cookie"
headers_ok "the sign-in answer"

web_curl GET /api/v1/me/token
check_eq "alice has no token" "200 none true" \
	"$HTTP_CODE $(jget "$HTTP_BODY" state) $(jget "$HTTP_BODY" known)"
web_curl POST /api/v1/me/token
check_eq "POST without the CSRF token: 403 csrf" "403 csrf" \
	"$HTTP_CODE $(jget "$HTTP_BODY" error)"
web_curl POST /api/v1/me/token -H "X-CSRF-Token: $(printf '%064d' 0)"
check_eq "POST with a wrong CSRF token: 403" 403 "$HTTP_CODE"
web_curl POST /api/v1/me/token -H "X-CSRF-Token: $CSRF" \
	-H 'Origin: http://evil.example'
check_eq "POST from another origin (with the right token): 403 cross_site" \
	"403 cross_site" "$HTTP_CODE $(jget "$HTTP_BODY" error)"
web_curl POST /api/v1/me/token -H "X-CSRF-Token: $CSRF" \
	-H 'Sec-Fetch-Site: cross-site'
check_eq "POST marked Sec-Fetch-Site: cross-site: 403" 403 "$HTTP_CODE"
web_curl POST /api/v1/me/token -H "X-CSRF-Token: $CSRF" \
	-H 'Content-Type: application/x-www-form-urlencoded' --data 'replace=1'
check_eq "a form body: 415" 415 "$HTTP_CODE"
check_eq "nothing was issued by the refused requests" "" \
	"$(ctl token list 2>/dev/null | awk '$2 == "alice"')"

ctl client add rs1 >"$scratch/rs1" 2>/dev/null
RS1=$(tail -n 1 "$scratch/rs1")
introspect() { # token -> true/false
	http POST /introspect -u "rs1:$RS1" --data-urlencode "token=$1"
	jget "$HTTP_BODY" active
}

web_curl POST /api/v1/me/token -H "X-CSRF-Token: $CSRF" \
	-H "Origin: $BASE_URL" -H 'Sec-Fetch-Site: same-origin'
check_eq "generate from our own page: 201" 201 "$HTTP_CODE"
T1=$(jget "$HTTP_BODY" token)
ID1=$(printf '%s' "$HTTP_BODY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["info"]["id"])')
check_match "... the secret is in the answer" '^apitok_' "$T1"
check_eq "... and introspects active" true "$(introspect "$T1")"
web_curl GET /api/v1/me/token
check_eq "status: active with that id" "active $ID1" \
	"$(jget "$HTTP_BODY" state) $(printf '%s' "$HTTP_BODY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"]["id"])')"
check_eq "... its last use: by rs1 from 127.0.0.1, shown at once" \
	"rs1 127.0.0.1" \
	"$(printf '%s' "$HTTP_BODY" | python3 -c 'import json,sys; u = json.load(sys.stdin)["token"]["last_used"]; print(u["client"], u["source"])')"
check_eq "status never carries the secret" "" \
	"$(printf '%s' "$HTTP_BODY" | grep -F "$T1")"
web_curl POST /api/v1/me/token -H "X-CSRF-Token: $CSRF"
check_eq "a second token: 409 token_exists" "409 token_exists" \
	"$HTTP_CODE $(jget "$HTTP_BODY" error)"
web_curl POST /api/v1/me/token -H "X-CSRF-Token: $CSRF" \
	-H 'Content-Type: application/json' --data '{"replace": true}'
check_eq "regenerate: 201" 201 "$HTTP_CODE"
T2=$(jget "$HTTP_BODY" token)
web_curl GET /api/v1/me/token
check_eq "... the new token was never used" None \
	"$(printf '%s' "$HTTP_BODY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"]["last_used"])')"
check_eq "... the old token is inactive at once" false "$(introspect "$T1")"
check_eq "... the new one active" true "$(introspect "$T2")"
web_curl DELETE /api/v1/me/token -H "X-CSRF-Token: $CSRF"
check_eq "revoke: 200" 200 "$HTTP_CODE"
check_eq "... the token is inactive" false "$(introspect "$T2")"
web_curl DELETE /api/v1/me/token -H "X-CSRF-Token: $CSRF"
check_eq "revoke again: 404" 404 "$HTTP_CODE"
# audit_count ACTOR USER REASON: token records by that actor (kind:id)
# on USER's token, from 127.0.0.1, with that reason.
audit_count() {
	ctl --json audit --actor "$1" 2>/dev/null | python3 -c '
import json, sys
n = 0
for line in sys.stdin:
    r = json.loads(line)
    if (r["event"] in ("issued", "replaced", "revoked") and
            r["user"] == sys.argv[1] and r["source"] == "127.0.0.1" and
            r["reason"] == sys.argv[2]):
        n += 1
print(n)' "$2" "$3"
}
check_eq "audit: issue, replace, revoke by actor user alice, web session, from 127.0.0.1" \
	4 "$(audit_count user:alice alice "web session")"

# ---- users the page cannot serve ----
rm -f "$WEB_JAR"
web_signin carol pw-carol
web_curl GET /api/v1/me/token
check_eq "carol (API access off): state disabled, with the contact" \
	"disabled IT service desk, +1 555 0100" \
	"$(jget "$HTTP_BODY" state) $(jget "$HTTP_BODY" support_contact)"
web_curl POST /api/v1/me/token -H "X-CSRF-Token: $CSRF"
check_eq "carol cannot generate: 403 api_access_off" "403 api_access_off" \
	"$HTTP_CODE $(jget "$HTTP_BODY" error)"
rm -f "$WEB_JAR"
web_signin erin pw-erin
check_eq "erin (in the directory, not in the store) signs in" 200 "$HTTP_CODE"
web_curl GET /api/v1/me/token
check_eq "... the page is told she is unknown" "unknown false" \
	"$(jget "$HTTP_BODY" state) $(jget "$HTTP_BODY" known)"
web_curl POST /api/v1/me/token -H "X-CSRF-Token: $CSRF"
check_eq "... and she cannot generate: 404" 404 "$HTTP_CODE"

# ---- sign-out ----
rm -f "$WEB_JAR"
web_signin bob pw-bob
cp "$WEB_JAR" "$scratch/bob.jar"
web_curl DELETE /api/v1/session -H "X-CSRF-Token: $CSRF"
check_eq "sign-out: 200, signed out" "200 false" \
	"$HTTP_CODE $(jget "$HTTP_BODY" signed_in)"
check_match "... the cookie is cleared" '^apitoken_session=; Path=/; Max-Age=0' \
	"$(http_header set-cookie)"
http GET /api/v1/me/token -b "$scratch/bob.jar"
check_eq "... the old cookie no longer works" 401 "$HTTP_CODE"

# ---- the session limit ----
for i in 1 2 3 4 5; do
	web_signin bob pw-bob "$scratch/limit$i.jar"
done
http GET /api/v1/me/token -b "$scratch/limit1.jar"
check_eq "max_sessions 4: the least recently used session went first" \
	401 "$HTTP_CODE"
http GET /api/v1/me/token -b "$scratch/limit5.jar"
check_eq "... the newest works" 200 "$HTTP_CODE"

# ---- a portal client with the manage right ----
ctl client add portal-ro >"$scratch/p1" 2>/dev/null
P1=$(tail -n 1 "$scratch/p1")
ctl client add portal --name "Staff portal" --can-manage >"$scratch/p2" \
	2>/dev/null
P2=$(tail -n 1 "$scratch/p2")
check_match "client list shows the manage right" '^portal +no +yes ' \
	"$(ctl client list 2>/dev/null)"
http GET /api/v1/users/bob/token -u "portal-ro:$P1"
check_eq "a client without the right: 403 unauthorized_client" \
	"403 unauthorized_client" "$HTTP_CODE $(jget "$HTTP_BODY" error)"
http GET /api/v1/users/bob/token -u "portal:wrong$P2"
check_eq "a wrong client secret: 401" 401 "$HTTP_CODE"
http GET /api/v1/users/bob/token
check_eq "no client authentication: 401" 401 "$HTTP_CODE"
http GET /api/v1/users/bob/token -u "portal:$P2"
check_eq "portal reads bob's status" "200 none" \
	"$HTTP_CODE $(jget "$HTTP_BODY" state)"
http POST /api/v1/users/bob/token -u "portal:$P2"
check_eq "portal generates bob's token: 201" 201 "$HTTP_CODE"
TB=$(jget "$HTTP_BODY" token)
check_eq "... it introspects as bob's" true "$(introspect "$TB")"
http POST /api/v1/users/carol/token -u "portal:$P2"
check_eq "portal and carol (API access off): 403" 403 "$HTTP_CODE"
http DELETE /api/v1/users/bob/token -u "portal:$P2"
check_eq "portal revokes bob's token: 200" 200 "$HTTP_CODE"
check_eq "... inactive" false "$(introspect "$TB")"
check_eq "audit: actor client portal, for user bob, from 127.0.0.1" 2 \
	"$(audit_count client:portal bob "portal, for user bob")"

# ---- sign-in throttling ----
for i in 1 2 3; do
	web_signin frank "wrong$i" "$scratch/frank.jar"
done
check_eq "frank: three wrong passwords: 401" 401 "$HTTP_CODE"
web_signin frank pw-frank "$scratch/frank.jar"
check_eq "... then even the right one: 429" 429 "$HTTP_CODE"
retry=$(http_header retry-after)
check_match "... with Retry-After in seconds" '^[1-9][0-9]*$' "$retry"
frank_body=$HTTP_BODY
for i in 1 2 3; do
	web_signin nobody-here "wrong$i" "$scratch/x.jar"
done
web_signin nobody-here wrong "$scratch/x.jar"
check_eq "an unknown user is throttled alike (nothing says who exists)" \
	"429 $frank_body" "$HTTP_CODE $HTTP_BODY"
web_signin bob pw-bob "$scratch/bob2.jar"
check_eq "bob is not held up by frank's lockout" 200 "$HTTP_CODE"
n=0
while [ $n -lt 20 ]; do
	web_signin "u$n" wrong "$scratch/x.jar"
	[ "$HTTP_CODE" = 429 ] && break
	n=$((n + 1))
done
check_eq "many users failing from one address: that address gets 429" \
	429 "$HTTP_CODE"
web_signin bob pw-bob "$scratch/bob3.jar"
check_eq "... for everyone signing in from it" 429 "$HTTP_CODE"

http GET /metrics
check_match "/metrics counts the page's requests" 'endpoint="web"' \
	"$HTTP_BODY"
for s in "$T1" "$T2" "$TB" pw-alice pw-bob pw-frank; do
	if grep -qF -- "$s" "$DAEMON_LOG"; then
		not_ok "no secret or password in the daemon's log ($s)"
	else
		ok "no secret or password in the daemon's log"
	fi
done
check "apitokend exits cleanly (sessions, sign-ins and tables freed)" \
	stop_daemon

# ---- session expiry, and a token deleted by expiry ----
web_config '"auth": "pam", "session_idle": "3s", "session_max": "7s"' \
	'"token_lifetime": "3s", "sweep_interval": "1s"'
start_daemon || { not_ok "apitokend restarts"; done_testing; }
rm -f "$WEB_JAR"
start=$(date +%s)
web_signin alice pw-alice
web_curl POST /api/v1/me/token -H "X-CSRF-Token: $CSRF"
generated=$HTTP_BODY
# Used every second (less than session_idle apart): it lives past
# session_idle, and ends at session_max (counted here in whole seconds).
alive=0 ended=0
while [ $(($(date +%s) - start)) -lt 12 ]; do
	sleep 1
	web_curl GET /api/v1/me/token
	if [ "$HTTP_CODE" = 200 ]; then
		alive=$(($(date +%s) - start))
	else
		ended=$(($(date +%s) - start))
		diag "after $ended s: $HTTP_CODE $HTTP_BODY"
		break
	fi
done
check "in use every second, the session outlives session_idle (3 s)" \
	test "$alive" -ge 4
check "... and ends at session_max (7 s): after ${ended} s" \
	test "$ended" -ge 6 -a "$ended" -le 10
IDX=$(printf '%s' "$generated" | python3 -c 'import json,sys; print(json.load(sys.stdin)["info"]["id"])')
rm -f "$WEB_JAR"
web_signin alice pw-alice
sleep 4
web_curl GET /api/v1/me/token
check_eq "unused for 4 s, the session ends (session_idle 3 s)" 401 \
	"$HTTP_CODE"
web_signin alice pw-alice
web_curl GET /api/v1/me/token
check_eq "a token removed by expiry: state expired, with its id" \
	"expired $IDX" \
	"$(jget "$HTTP_BODY" state) $(printf '%s' "$HTTP_BODY" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("expired_token", {}).get("id"))')"
stop_daemon

# ---- HTTPS: the __Host- cookie, Secure ----
if openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -days 1 \
	-keyout "$scratch/key.pem" -out "$scratch/cert.pem" 2>/dev/null; then
	web_config '"auth": "pam"' \
		"\"tls_cert\": \"$scratch/cert.pem\", \"tls_key\": \"$scratch/key.pem\""
	DAEMON_SCHEME=https
	DAEMON_CURL_OPTS="--cacert $scratch/cert.pem"
	start_daemon || { not_ok "apitokend starts with TLS"; done_testing; }
	rm -f "$WEB_JAR"
	web_signin alice pw-alice
	check_match "over HTTPS: __Host- cookie with Secure" \
		'^__Host-apitoken_session=[0-9a-f]{64}; Path=/; HttpOnly; SameSite=Strict; Secure$' \
		"$(http_header set-cookie)"
	web_curl GET /api/v1/me/token
	check_eq "... and it signs the browser in" 200 "$HTTP_CODE"
	stop_daemon
	DAEMON_SCHEME=http
	DAEMON_CURL_OPTS=""
else
	not_ok "openssl makes a test certificate"
fi

# ---- header mode: only from the trusted proxies ----
web_config '"auth": "header", "user_header": "X-Remote-User",
  "trusted_proxies": ["192.0.2.10", "::1"]'
start_daemon || { not_ok "apitokend starts in header mode"; done_testing; }
rm -f "$WEB_JAR"
web_curl GET /api/v1/session -H 'X-Remote-User: alice'
check_eq "a forged header from a non-proxy address is ignored" \
	"200 false header" "$HTTP_CODE $(jget "$HTTP_BODY" signed_in) $(jget "$HTTP_BODY" auth)"
check_eq "... and sets no cookie" "" "$(http_header set-cookie)"
web_curl GET /api/v1/me/token -H 'X-Remote-User: alice'
check_eq "... me/token stays 401" 401 "$HTTP_CODE"
stop_daemon
web_config '"auth": "header", "user_header": "X-Remote-User",
  "trusted_proxies": ["127.0.0.1"]'
start_daemon || { not_ok "apitokend restarts in header mode"; done_testing; }
web_curl GET /api/v1/session -H 'X-Remote-User: alice'
check_eq "from a trusted proxy the header signs alice in" "true alice" \
	"$(jget "$HTTP_BODY" signed_in) $(jget "$HTTP_BODY" user)"
CSRF=$(jget "$HTTP_BODY" csrf_token)
web_curl POST /api/v1/me/token -H 'X-Remote-User: alice' \
	-H "X-CSRF-Token: $CSRF"
check_eq "... she generates a token" 201 "$HTTP_CODE"
web_curl GET /api/v1/me/token
check_eq "the session without the proxy's header (signed out there): 401" \
	401 "$HTTP_CODE"
web_curl GET /api/v1/me/token -H 'X-Remote-User: bob'
check_eq "another user's header does not take over alice's session" 401 \
	"$HTTP_CODE"
http POST /api/v1/session -H 'Content-Type: application/json' \
	--data '{"user": "alice", "password": "pw-alice"}'
check_eq "no password sign-in in header mode: 405" 405 "$HTTP_CODE"
check "apitokend exits cleanly in header mode" stop_daemon
check_eq "no sanitizer report in the daemon's log" "" \
	"$(grep -E 'Sanitizer|runtime error' "$DAEMON_LOG")"
done_testing

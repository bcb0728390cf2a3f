#!/bin/sh
# Apache httpd + mod_auth_openidc (AuthType oauth20) as a real resource
# server in front of apitokend over HTTPS, configured with
# contrib/apache/apitoken-openidc.conf exactly as shipped.  The backend is
# a CGI script that prints what it was given.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/daemon.sh"
. "$top_srcdir/tests/apache-lib.sh"

SNIPPET="$top_srcdir/contrib/apache/apitoken-openidc.conf"
TTL=3	# OIDCOAuthTokenIntrospectionInterval: the revocation bound under test

[ -x "$APITOKEND" ] || skip_all "apitokend not built"
[ -x "$APITOKENCTL" ] || skip_all "apitokenctl not built"
[ -x "$HTTPD" ] || skip_all "no $HTTPD (apt-get install apache2)"
command -v openssl >/dev/null || skip_all "openssl not installed"
for m in mpm_prefork authn_core authz_core authz_user alias cgi \
	auth_openidc; do
	[ -f "$MODDIR/mod_$m.so" ] ||
		skip_all "no mod_$m (apt-get install libapache2-mod-auth-openidc)"
done

# Milliseconds since the epoch.
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# mod_auth_openidc introspects over HTTPS only: apitokend gets a
# certificate made here, which Apache trusts through APITOKEN_CA_BUNDLE.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" \
	-addext "subjectAltName=IP:127.0.0.1" -keyout "$scratch/key.pem" \
	-out "$ap/cert.pem" >/dev/null 2>&1 ||
	skip_all "openssl cannot make a test certificate"
# A certificate apitokend does not use, for a virtual host that must
# therefore refuse every token.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" \
	-addext "subjectAltName=IP:127.0.0.1" -keyout "$scratch/other.key" \
	-out "$ap/other.pem" >/dev/null 2>&1 ||
	skip_all "openssl cannot make a test certificate"
chmod 644 "$ap/cert.pem" "$ap/other.pem"
daemon_config "\"tls_cert\": \"$ap/cert.pem\",
  \"tls_key\": \"$scratch/key.pem\""
DAEMON_SCHEME=https
DAEMON_CURL_OPTS="--cacert $ap/cert.pem"

ctl init >/dev/null || { echo "Bail out! apitokenctl init failed"; exit 99; }
for u in alice bob carol dave eve frank grace; do
	ctl user add "$u" --email "$u@example.org" --role user \
		--bu sales >/dev/null ||
		{ echo "Bail out! user add $u failed"; exit 99; }
done
ctl user add root1 --email root1@example.org --role admin >/dev/null ||
	{ echo "Bail out! user add root1 failed"; exit 99; }
client_secret=$(secret_of "$(ctl client add apache-oidc --name Apache)" \
	apicli_)
alice=$(secret_of "$(ctl token generate alice)" apitok_)
bob=$(secret_of "$(ctl token generate bob)" apitok_)
carol=$(secret_of "$(ctl token generate carol)" apitok_)
dave=$(secret_of "$(ctl token generate dave)" apitok_)
eve=$(secret_of "$(ctl token generate eve)" apitok_)
frank=$(secret_of "$(ctl token generate frank)" apitok_)
grace=$(secret_of "$(ctl token generate grace)" apitok_)
root1=$(secret_of "$(ctl token generate root1)" apitok_)
if [ -z "$client_secret" ] || [ -z "$alice" ] || [ -z "$bob" ] ||
   [ -z "$carol" ] || [ -z "$dave" ] || [ -z "$eve" ] ||
   [ -z "$frank" ] || [ -z "$grace" ] || [ -z "$root1" ]; then
	echo "Bail out! provisioning with apitokenctl failed"
	exit 99
fi
start_daemon || { echo "Bail out! apitokend did not start"; exit 99; }

# The backend prints REMOTE_USER, what mod_auth_openidc set (OIDC_*, the
# token itself hidden) and any OIDC request header that reached it.
cat >"$ap/cgi/whoami" <<'CGI'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
printf 'REMOTE_USER=%s\n' "${REMOTE_USER-}"
env | grep -i -e '^OIDC_' -e '^HTTP_OIDC' |
	sed 's/^\(OIDC_access_token=\).*/\1<hidden>/' | sort
CGI
chmod 755 "$ap/cgi/whoami"

port=$(free_port)
port2=$(free_port)
{
httpd_conf_head
cat <<CONF
Listen 127.0.0.1:$port2
LoadModule auth_openidc_module $MODDIR/mod_auth_openidc.so
Define APITOKEN_INTROSPECT_URL $BASE_URL/introspect
Define APITOKEN_CLIENT_ID apache-oidc
Define APITOKEN_CLIENT_SECRET $client_secret
Define APITOKEN_CA_BUNDLE $ap/cert.pem
Define APITOKEN_PROTECTED_PATH /api
Define APITOKEN_CACHE_TTL $TTL
ScriptAlias /api/ $ap/cgi/
Include $SNIPPET
# The same snippet again for locations that require a claim.
Define APITOKEN_PROTECTED_PATH /admin
Define APITOKEN_REQUIRE_CLAIM role:admin
ScriptAlias /admin/ $ap/cgi/
Include $SNIPPET
Define APITOKEN_PROTECTED_PATH /sales
Define APITOKEN_REQUIRE_CLAIM business_units:sales
ScriptAlias /sales/ $ap/cgi/
Include $SNIPPET
Define APITOKEN_PROTECTED_PATH /write
Define APITOKEN_REQUIRE_CLAIM scope~(^|[[:space:]])api:write($|[[:space:]])
ScriptAlias /write/ $ap/cgi/
Include $SNIPPET
# A virtual host that trusts another CA than the one of apitokend's
# certificate.
UnDefine APITOKEN_REQUIRE_CLAIM
Define APITOKEN_PROTECTED_PATH /api
Define APITOKEN_CA_BUNDLE $ap/other.pem
<VirtualHost 127.0.0.1:$port2>
	ScriptAlias /api/ $ap/cgi/
	Include $SNIPPET
</VirtualHost>
CONF
} >"$ap/httpd.conf"
apache_start


get "$alice" -H "OIDC_CLAIM_username: mallory" \
	-H "OIDC-CLAIM-role: admin" -H "oidc-access-token: forged"
check_eq "active token reaches the backend" 200 "$CODE"
check_match "backend sees REMOTE_USER=alice (the username claim)" \
	'^REMOTE_USER=alice$' "$BODY"
check_match "claims reach the backend as variables: username" \
	'^OIDC_CLAIM_username=alice$' "$BODY"
check_match "claims reach the backend: role" '^OIDC_CLAIM_role=user$' \
	"$BODY"
check_match "claims reach the backend: scope" \
	'^OIDC_CLAIM_scope=api:read bu:sales$' "$BODY"
check_match "claims reach the backend: business_units" \
	'^OIDC_CLAIM_business_units=sales$' "$BODY"
check_match "the token itself is passed too (OIDC_access_token)" \
	'^OIDC_access_token=<hidden>$' "$BODY"
# CGI never sees request headers with underscores, but a dashed one would
# arrive as HTTP_OIDC_CLAIM_ROLE had mod_auth_openidc not removed it.
check "a forged OIDC-CLAIM-role request header does not reach the backend" \
	test -z "$(printf '%s\n' "$BODY" | grep -i '^HTTP_OIDC')"
check "... mod_auth_openidc removed the forged OIDC-CLAIM-role header" \
	grep -q 'scrubbed suspicious request header (OIDC-CLAIM-role' \
	"$ap/error.log"
check "... and the forged OIDC_CLAIM_username header" \
	grep -q 'scrubbed suspicious request header (OIDC_CLAIM_username' \
	"$ap/error.log"

get ""
check_eq "no token: 401" 401 "$CODE"
check_match "no token: WWW-Authenticate Bearer (RFC 6750 3)" \
	'^Bearer' "$WWWAUTH"
check_match "no token: backend not reached" '^<!DOCTYPE' "$BODY"

get "apitok_NotARealTokenAtAllxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
check_eq "unknown token: 401" 401 "$CODE"
check_match "unknown token: WWW-Authenticate Bearer error=invalid_token" \
	'^Bearer .*error="invalid_token"' "$WWWAUTH"
check_match "unknown token: backend not reached" '^<!DOCTYPE' "$BODY"
get "not a token at all %%% ;"
check_eq "garbage token: 401" 401 "$CODE"
check_match "garbage token: WWW-Authenticate Bearer" '^Bearer' "$WWWAUTH"
get "${alice}x"
check_eq "a valid token with a character appended: 401" 401 "$CODE"

get "" -u "alice:$alice"
check_eq "token as a Basic password is not accepted: 401" 401 "$CODE"
path="/api/whoami?access_token=$alice"
get ""
check_eq "token in the query string is not accepted: 401 (RFC 6750 5.3)" \
	401 "$CODE"
path=/api/whoami

# apitokend's certificate is checked (APITOKEN_SSL_VERIFY defaults to true).
CODE=$(curl -s -o /dev/null -w '%{http_code}' \
	-H "Authorization: Bearer $grace" "http://127.0.0.1:$port2/api/whoami")
check_eq "apitokend's certificate not trusted: a valid token is refused" \
	401 "$CODE"

# Revoked (or API access turned off) before it was ever used here: refused
# at once, since negative answers are not cached.
ctl token revoke bob >/dev/null
get "$bob"
check_eq "revoked token: 401" 401 "$CODE"
check_match "revoked token: WWW-Authenticate Bearer error=invalid_token" \
	'^Bearer .*error="invalid_token"' "$WWWAUTH"
ctl user api-access eve off >/dev/null
get "$eve"
check_eq "token of a user whose API access is off: 401" 401 "$CODE"
ctl user api-access eve on >/dev/null
get "$eve"
check_eq "API access on again: accepted at once (refusals are not cached)" \
	200 "$CODE"

# Used, then revoked (carol) or API access turned off (dave):
# mod_auth_openidc answers from its cache until APITOKEN_CACHE_TTL seconds
# (whole seconds) passed since the introspection, then the change holds.
# Poll both tokens and note the last time each was still accepted.
t0=$(now_ms)
get "$carol"
c1=$CODE
get "$dave"
c2=$CODE
t1=$(now_ms)
check_eq "carol's and dave's tokens work before the change" "200 200" \
	"$c1 $c2"
ctl token revoke carol >/dev/null
ctl user api-access dave off >/dev/null
t2=$(now_ms)
get "$carol"
c1=$CODE
get "$dave"
c2=$CODE
if [ $((t2 - t0)) -lt $(((TTL - 1) * 1000)) ]; then
	check_eq "inside the bound: the cached answer still accepts both" \
		"200 200" "$c1 $c2"
else
	ok "inside the bound # SKIP revocation took $((t2 - t0)) ms"
fi
carol_last=""
dave_last=""
carol_gone=""
dave_gone=""
carol_code=200
dave_code=200
deadline=$((t1 + (TTL + 6) * 1000))
while [ "$(now_ms)" -lt "$deadline" ]; do
	t=$(now_ms)
	if [ "$carol_code" = 200 ]; then
		get "$carol"
		carol_code=$CODE
		if [ "$CODE" = 200 ]; then carol_last=$t; else carol_gone=$t; fi
	fi
	t=$(now_ms)
	if [ "$dave_code" = 200 ]; then
		get "$dave"
		dave_code=$CODE
		if [ "$CODE" = 200 ]; then dave_last=$t; else dave_gone=$t; fi
	fi
	[ "$carol_code" != 200 ] && [ "$dave_code" != 200 ] && break
	sleep 0.2
done
check_eq "revoked token refused after the cache interval" 401 "$carol_code"
check_eq "API access off: token refused after the cache interval" 401 \
	"$dave_code"
# t1 is no earlier than the introspection that filled the cache.
bound=$(((TTL + 1) * 1000))
diag "revoked token last accepted $((${carol_last:-$t0} - t1)) ms," \
	"API access off $((${dave_last:-$t0} - t1)) ms after it was cached;" \
	"documented bound: < $bound ms"
[ -n "$carol_gone" ] && [ -n "$dave_gone" ] &&
	diag "refused $((carol_gone - t2)) ms (revoked)," \
		"$((dave_gone - t2)) ms (API access off) after the change"
check "revoked token accepted no longer than APITOKEN_CACHE_TTL + 1 s" \
	test "$((${carol_last:-$t0} - t1))" -lt "$bound"
check "API access off: accepted no longer than APITOKEN_CACHE_TTL + 1 s" \
	test "$((${dave_last:-$t0} - t1))" -lt "$bound"

get "$alice"
check_eq "the other user's token still works" 200 "$CODE"

# APITOKEN_REQUIRE_CLAIM: only tokens with that claim get through.
path=/admin/whoami
get "$root1"
check_eq "role:admin location: an admin's token gets through" 200 "$CODE"
check_match "role:admin location: REMOTE_USER=root1" '^REMOTE_USER=root1$' \
	"$BODY"
get "$alice"
check_eq "role:admin location: a user's token is refused: 403" 403 "$CODE"
check_match "role:admin location: backend not reached" '^<!DOCTYPE' "$BODY"
diag "role:admin location, 403: WWW-Authenticate: ${WWWAUTH:-<none>}"
get ""
check_eq "role:admin location: no token: 401" 401 "$CODE"
check_match "role:admin location: no token: WWW-Authenticate Bearer" \
	'^Bearer' "$WWWAUTH"

path=/sales/whoami
get "$alice"
check_eq "business_units:sales (array claim): a sales user gets through" \
	200 "$CODE"
get "$root1"
check_eq "business_units:sales: an admin outside sales is refused: 403" \
	403 "$CODE"

path=/write/whoami
get "$root1"
check_eq "scope~ regex: a token with scope api:write gets through" 200 \
	"$CODE"
get "$alice"
check_eq "scope~ regex: a token with scope api:read only is refused: 403" \
	403 "$CODE"

# apitokend unreachable: tokens not in the cache are refused (fail closed).
check "apitokend stops cleanly (SIGTERM)" stop_daemon
path=/api/whoami
get "$frank"
check_eq "apitokend down: a valid token not in the cache is refused" 401 \
	"$CODE"

stop_httpd
check "Apache's error log (LogLevel warn) holds no token" \
	test -z "$(grep -l 'apitok_' "$ap/error.log")"
done_testing

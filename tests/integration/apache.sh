#!/bin/sh
# Apache httpd + mod_oauth2 as a real resource server in front of
# apitokend, configured with contrib/apache/apitoken-oauth2.conf exactly as
# shipped.  The backend is a CGI script that prints what it was given.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/daemon.sh"
. "$top_srcdir/tests/apache-lib.sh"

SNIPPET="$top_srcdir/contrib/apache/apitoken-oauth2.conf"
TTL=2	# introspection cache TTL: the revocation bound under test

[ -x "$APITOKEND" ] || skip_all "apitokend not built"
[ -x "$APITOKENCTL" ] || skip_all "apitokenctl not built"
[ -x "$HTTPD" ] || skip_all "no $HTTPD (apt-get install apache2)"
for m in mpm_prefork authn_core authz_core authz_user alias cgi headers \
	oauth2; do
	[ -f "$MODDIR/mod_$m.so" ] ||
		skip_all "no mod_$m (apt-get install libapache2-mod-oauth2)"
done

daemon_config
ctl init >/dev/null || { echo "Bail out! apitokenctl init failed"; exit 99; }
for u in alice bob carol; do
	ctl user add "$u" --email "$u@example.org" --role user \
		--bu sales >/dev/null ||
		{ echo "Bail out! user add $u failed"; exit 99; }
done
ctl user add root1 --email root1@example.org --role admin >/dev/null ||
	{ echo "Bail out! user add root1 failed"; exit 99; }
client_secret=$(secret_of "$(ctl client add apache-rs --name Apache)" \
	apicli_)
alice=$(secret_of "$(ctl token generate alice)" apitok_)
bob=$(secret_of "$(ctl token generate bob)" apitok_)
carol=$(secret_of "$(ctl token generate carol)" apitok_)
root1=$(secret_of "$(ctl token generate root1)" apitok_)
if [ -z "$client_secret" ] || [ -z "$alice" ] || [ -z "$bob" ] ||
   [ -z "$carol" ] || [ -z "$root1" ]; then
	echo "Bail out! provisioning with apitokenctl failed"
	exit 99
fi
start_daemon || { echo "Bail out! apitokend did not start"; exit 99; }

cat >"$ap/cgi/whoami" <<'CGI'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
printf 'REMOTE_USER=%s\n' "${REMOTE_USER-}"
env | grep -i '^[A-Z_]*OAUTH2_CLAIM_' | sort
CGI
chmod 755 "$ap/cgi/whoami"

port=$(free_port)
{
httpd_conf_head
cat <<CONF
LoadModule headers_module $MODDIR/mod_headers.so
LoadModule oauth2_module $MODDIR/mod_oauth2.so
Define APITOKEN_INTROSPECT_URL $BASE_URL/introspect
Define APITOKEN_CLIENT_ID apache-rs
Define APITOKEN_CLIENT_SECRET $client_secret
Define APITOKEN_PROTECTED_PATH /api
Define APITOKEN_CACHE_TTL $TTL
ScriptAlias /api/ $ap/cgi/
Include $SNIPPET
# The same snippet again for an admins-only location.
Define APITOKEN_PROTECTED_PATH /admin
Define APITOKEN_REQUIRE_CLAIM role:admin
ScriptAlias /admin/ $ap/cgi/
Include $SNIPPET
CONF
} >"$ap/httpd.conf"
apache_start


get "$alice" -H "OAUTH2_CLAIM_username: mallory"
check_eq "active token reaches the backend" 200 "$CODE"
check_match "backend sees REMOTE_USER=alice" '^REMOTE_USER=alice$' "$BODY"
check_match "claims reach the backend as variables" \
	'^OAUTH2_CLAIM_username=alice$' "$BODY"
check_match "scope claim reaches the backend" \
	'^OAUTH2_CLAIM_scope=api:read bu:sales$' "$BODY"
# CGI never sees request headers with underscores, so look at what
# mod_oauth2 did with the forged one: it must have removed it.
check "a forged OAUTH2_CLAIM_ request header is removed by mod_oauth2" \
	grep -q 'cleaned suspicious request header (OAUTH2_CLAIM_username' \
	"$ap/error.log"

get ""
check_eq "no token: 401" 401 "$CODE"
check_match "no token: WWW-Authenticate Bearer (RFC 6750 3)" \
	'^Bearer' "$WWWAUTH"

get "apitok_NotARealTokenAtAllxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
check_eq "unknown token: 401" 401 "$CODE"
check_match "unknown token: WWW-Authenticate Bearer error=invalid_token" \
	'^Bearer .*error="invalid_token"' "$WWWAUTH"
check_match "unknown token: backend not reached" '^<!DOCTYPE' "$BODY"

get "" -u "alice:$alice"
check_eq "token as a Basic password is not accepted: 401" 401 "$CODE"
path="/api/whoami?access_token=$alice"
get ""
check_eq "token in the query string is not accepted: 401 (RFC 6750 5.3)" \
	401 "$CODE"
path=/api/whoami

# Revoked before it was ever used here: refused at once.
ctl token revoke bob >/dev/null
get "$bob"
check_eq "revoked token: 401" 401 "$CODE"
check_match "revoked token: WWW-Authenticate Bearer error=invalid_token" \
	'^Bearer .*error="invalid_token"' "$WWWAUTH"

# Used, then revoked: mod_oauth2 may answer from its cache for at most
# APITOKEN_CACHE_TTL seconds; after that the revocation holds.
get "$carol"
check_eq "carol's token works before revocation" 200 "$CODE"
ctl token revoke carol >/dev/null
revoked_at=$(date +%s)
get "$carol"
diag "right after revocation (within the ${TTL}s cache TTL): HTTP $CODE"
sleep $((TTL + 1))
get "$carol"
check_eq "revoked token refused once the cache TTL (${TTL}s) passed" \
	401 "$CODE"
diag "refused $(($(date +%s) - revoked_at))s after revocation"

get "$alice"
check_eq "the other user's token still works" 200 "$CODE"

# APITOKEN_REQUIRE_CLAIM: only tokens with that claim value get through.
path=/admin/whoami
get "$root1"
check_eq "role:admin location: an admin's token gets through" 200 "$CODE"
check_match "role:admin location: REMOTE_USER=root1" '^REMOTE_USER=root1$' \
	"$BODY"
get "$alice"
check_eq "role:admin location: a user's token is refused" 401 "$CODE"
check_match "role:admin location: WWW-Authenticate insufficient_scope" \
	'^Bearer .*error="insufficient_scope"' "$WWWAUTH"
check_match "role:admin location: backend not reached" '^<!DOCTYPE' "$BODY"
get ""
check_eq "role:admin location: no token: 401" 401 "$CODE"

stop_httpd
done_testing

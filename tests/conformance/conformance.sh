#!/bin/sh
# Run the RFC 7662/7009/8414 conformance suite against the real apitokend,
# provisioned with apitokenctl: one introspection-only client, one client
# allowed to revoke, an active token, a token to revoke, and tokens that
# must be inactive (user disabled, user removed, revoked, replaced).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/daemon.sh"

CONFORMANCE="$top_builddir/tests/conformance/conformance"
[ -x "$APITOKEND" ] || skip_all "apitokend not built"
[ -x "$APITOKENCTL" ] || skip_all "apitokenctl not built"
[ -x "$CONFORMANCE" ] || skip_all "conformance not built"

# secret_of TEXT: the apicli_/apitok_ secret printed by apitokenctl.
secret_of() {
	printf '%s\n' "$1" | grep -Eo "$2[0-9A-Za-z]+" | tail -n 1
}
# apitokenctl's notes ("shown only this once") go to a log, not the TAP.
ctl() {
	"$APITOKENCTL" "$@" 2>>"$scratch/ctl.log"
}

# CONFORMANCE_TLS=1 (conformance-tls.sh): the same suite over HTTPS.
cacert=""
if [ "${CONFORMANCE_TLS:-}" = 1 ]; then
	command -v openssl >/dev/null || skip_all "no openssl"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
		-days 1 -keyout "$scratch/key.pem" -out "$scratch/cert.pem" \
		2>/dev/null || skip_all "openssl cannot make a certificate"
	daemon_config "\"tls_cert\": \"$scratch/cert.pem\",
		\"tls_key\": \"$scratch/key.pem\""
	DAEMON_SCHEME=https
	DAEMON_CURL_OPTS="--cacert $scratch/cert.pem"
	cacert="$scratch/cert.pem"
else
	daemon_config
fi
ctl init >/dev/null || { echo "Bail out! apitokenctl init failed"; exit 99; }
for u in alice bob carol dave erin frank; do
	ctl user add "$u" --email "$u@example.org" --role user \
		--bu sales >/dev/null ||
		{ echo "Bail out! user add $u failed"; exit 99; }
done
out=$(ctl client add rs-introspect --name "resource server")
client_secret=$(secret_of "$out" apicli_)
out=$(ctl client add rs-revoke --name "revoker" --can-revoke)
revoke_secret=$(secret_of "$out" apicli_)
active=$(secret_of "$(ctl token generate alice)" apitok_)
revocable=$(secret_of "$(ctl token generate bob)" apitok_)
disabled=$(secret_of "$(ctl token generate carol)" apitok_)
ctl user api-access carol off >/dev/null
# More tokens apitokend must call inactive: of a removed user, revoked with
# apitokenctl, and replaced by a regenerated one.
removed=$(secret_of "$(ctl token generate dave)" apitok_)
ctl user remove dave >/dev/null
revoked=$(secret_of "$(ctl token generate erin)" apitok_)
ctl token revoke erin >/dev/null
replaced=$(secret_of "$(ctl token generate frank)" apitok_)
ctl token generate frank --replace >/dev/null
# A client id that needs form-encoding (RFC 6749 2.3.1), if apitokenctl
# accepts one; it does not today (ids are [A-Za-z0-9._-]), so the suite
# skips those two checks.
enc_id='rs enc:%+&'
set --
if out=$(ctl client add "$enc_id"); then
	set -- --encoded-client-id "$enc_id" \
		--encoded-client-secret "$(secret_of "$out" apicli_)"
fi
if [ -z "$client_secret" ] || [ -z "$revoke_secret" ] ||
   [ -z "$active" ] || [ -z "$revocable" ] || [ -z "$disabled" ] ||
   [ -z "$removed" ] || [ -z "$revoked" ] || [ -z "$replaced" ]; then
	echo "Bail out! provisioning with apitokenctl failed"
	exit 99
fi

start_daemon || { echo "Bail out! apitokend did not start"; exit 99; }

# The suite prints the TAP itself; secrets go through the environment so
# that they do not show in ps.
CONFORMANCE_CLIENT_SECRET="$client_secret" \
CONFORMANCE_REVOKE_CLIENT_SECRET="$revoke_secret" \
"$CONFORMANCE" --tap --url "$BASE_URL" \
	--client-id rs-introspect \
	--revoke-client-id rs-revoke \
	--active-token "$active" --revocable-token "$revocable" \
	--inactive-token "$disabled" --inactive-token "$removed" \
	--inactive-token "$revoked" --inactive-token "$replaced" \
	${cacert:+--cacert "$cacert"} "$@"
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 1 ]; then
	echo "# conformance exited $rc; apitokend log:"
	sed 's/^/# /' "$DAEMON_LOG"
fi
exit $rc

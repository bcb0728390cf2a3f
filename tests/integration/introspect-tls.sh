#!/bin/sh
# apitokend over HTTPS: a self-signed certificate made here, curl
# --cacert, TLS 1.2+ only, plain HTTP refused, issuer and metadata https.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/daemon.sh"

[ -x "$APITOKEND" ] || skip_all "apitokend not built"
[ -x "$APITOKENCTL" ] || skip_all "apitokenctl not built"
command -v curl >/dev/null || skip_all "curl not installed"
command -v openssl >/dev/null || skip_all "openssl not installed"

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" \
	-addext "subjectAltName=IP:127.0.0.1" -keyout "$scratch/key.pem" \
	-out "$scratch/cert.pem" >/dev/null 2>&1 ||
	skip_all "openssl cannot make a test certificate"

daemon_config "\"tls_cert\": \"$scratch/cert.pem\",
  \"tls_key\": \"$scratch/key.pem\""
ctl init >/dev/null 2>&1
ctl user add alice --email alice@example.org --role user >/dev/null 2>&1
TA=$(ctl token generate alice 2>/dev/null)
SR=$(ctl client add rs1 2>/dev/null)

DAEMON_SCHEME=https
DAEMON_CURL_OPTS="--cacert $scratch/cert.pem"
if ! start_daemon; then
	not_ok "apitokend starts with TLS"
	done_testing
fi
ok "apitokend starts with TLS"

http GET /healthz
check_eq "HTTPS /healthz verified against the certificate" 200 "$HTTP_CODE"
http POST /introspect -u "rs1:$SR" -d "token=$TA"
check_eq "HTTPS introspection: 200" 200 "$HTTP_CODE"
check_match "HTTPS introspection: active" '^\{"active":true,' "$HTTP_BODY"
check_match "default issuer is https and names the bound port" \
	"\"iss\":\"https://127.0.0.1:$DAEMON_PORT\"" "$HTTP_BODY"
http GET /.well-known/oauth-authorization-server
check_match "metadata: https introspection endpoint" \
	"\"introspection_endpoint\":\"https://127.0.0.1:$DAEMON_PORT/introspect\"" \
	"$HTTP_BODY"

code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
	"http://127.0.0.1:$DAEMON_PORT/healthz")
check "plain HTTP on the TLS port gets no answer" test "$code" != 200
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
	"https://127.0.0.1:$DAEMON_PORT/healthz")
check_eq "an unknown CA is refused by the client" 000 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --tlsv1.2 \
	--tls-max 1.2 $DAEMON_CURL_OPTS "$BASE_URL/healthz")
check_eq "TLS 1.2 accepted" 200 "$code"
if openssl s_client -help 2>&1 | grep -q -- '-tls1_1'; then
	# SECLEVEL=0 lets the client offer TLS 1.1, so a refusal is the
	# server's.
	echo | openssl s_client -connect "127.0.0.1:$DAEMON_PORT" -tls1_1 \
		-cipher 'DEFAULT@SECLEVEL=0' >"$scratch/tls11.out" 2>&1
	check "TLS 1.1 refused by the server (no handshake)" \
		grep -q "no peer certificate available" "$scratch/tls11.out"
	echo | openssl s_client -connect "127.0.0.1:$DAEMON_PORT" -tls1_2 \
		>"$scratch/tls12.out" 2>&1
	check "openssl s_client: TLS 1.2 handshake completes" \
		grep -q "Protocol *: TLSv1.2" "$scratch/tls12.out"
fi
check "SIGTERM: clean exit" stop_daemon

printf 'not a key\n' >"$scratch/bad.pem"
daemon_config "\"tls_cert\": \"$scratch/cert.pem\",
  \"tls_key\": \"$scratch/bad.pem\""
"$APITOKEND" --foreground --config "$DAEMON_CONFIG" \
	--port-file "$scratch/bad.port" >"$scratch/bad.out" 2>&1
rc=$?
check "a bad TLS key: start refused" test "$rc" -ne 0
check "... with a message" test -s "$scratch/bad.out"

printf '{ "listen": "127.0.0.1:0", "tls_cert": "%s" }\n' \
	"$scratch/cert.pem" >"$scratch/half.json"
"$APITOKEND" --foreground --config "$scratch/half.json" \
	--store "$scratch/s2" >"$scratch/half.out" 2>&1
check_eq "tls_cert without tls_key: EX_CONFIG" 78 "$?"
check_match "... naming the keys" "tls_key" "$(cat "$scratch/half.out")"
printf '{ "listen": "127.0.0.1:0", "tls_crt": "x" }\n' >"$scratch/typo.json"
"$APITOKEND" --foreground --config "$scratch/typo.json" \
	>"$scratch/typo.out" 2>&1
check_eq "an unknown configuration key: EX_CONFIG" 78 "$?"
check_match "... naming the file and the key" "typo.json.*tls_crt" \
	"$(cat "$scratch/typo.out")"
"$APITOKEND" --foreground --config "$scratch/nonexistent.json" \
	>"$scratch/none.out" 2>&1
check_eq "a missing configuration file: EX_CONFIG" 78 "$?"
"$APITOKEND" --foreground --bogus-option >"$scratch/usage.out" 2>&1
check_eq "an unknown option: EX_USAGE" 64 "$?"
check_match "... with the usage" "usage: apitokend" \
	"$(cat "$scratch/usage.out")"

done_testing

#!/bin/sh
# RFC 9701 signed introspection answers, verified by an independent JWT
# library (python3-jwt): apitokend makes its signing key on first start,
# publishes it as a JWKS (jwks_uri and introspection_signing_alg_values_
# supported in the metadata), answers Accept: application/token-
# introspection+jwt with an ES256 JWT (iss, aud = client id, iat,
# token_introspection), also for an inactive token; after "apitokenctl
# key rotate" both keys are published and the new one signs; a tampered
# signature or payload does not verify.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/daemon.sh"

[ -x "$APITOKEND" ] || skip_all "apitokend not built"
[ -x "$APITOKENCTL" ] || skip_all "apitokenctl not built"
command -v curl >/dev/null || skip_all "curl not installed"
# Debian's interpreter carries python3-jwt; another one may not.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
"$PY" -c 'import jwt, cryptography' 2>/dev/null ||
	skip_all "python3-jwt not installed"

daemon_config
ctl init >/dev/null 2>&1
rm -f "$DAEMON_STORE/signing-key.pem" # made again by the first start
ctl user add alice --email alice@example.org --role admin >/dev/null 2>&1
SR=$(ctl client add rs1 2>/dev/null)
TA=$(ctl token generate alice 2>/dev/null)
if ! start_daemon; then
	not_ok "apitokend starts"
	done_testing
fi
ok "apitokend starts"
check "the first start made the signing key, mode 0600" test \
	"$(stat -c %a "$DAEMON_STORE/signing-key.pem" 2>/dev/null)" = 600

http GET /.well-known/oauth-authorization-server
meta=$HTTP_BODY
check_eq "metadata: introspection_signing_alg_values_supported" '["ES256"]' \
	"$(printf '%s' "$meta" | "$PY" -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["introspection_signing_alg_values_supported"]))')"
check_eq "metadata: jwks_uri" "$BASE_URL/.well-known/jwks.json" \
	"$(printf '%s' "$meta" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["jwks_uri"])')"
http GET /.well-known/jwks.json
printf '%s' "$HTTP_BODY" >"$scratch/jwks1"
check_eq "JWKS: one EC P-256 signing key, no private part" "1 EC P-256 sig ES256 no-d" \
	"$("$PY" -c 'import json,sys
k = json.load(open(sys.argv[1]))["keys"]
print(len(k), k[0]["kty"], k[0]["crv"], k[0]["use"], k[0]["alg"], "d" in k[0] and "has-d" or "no-d")' "$scratch/jwks1")"

# verify JWT-FILE JWKS-FILE AUD: print the verified claims' summary.
cat >"$scratch/verify.py" <<'EOF'
import json, sys, jwt
token = open(sys.argv[1]).read().strip()
keys = {k["kid"]: jwt.PyJWK.from_dict(k) for k in json.load(open(sys.argv[2]))["keys"]}
hdr = jwt.get_unverified_header(token)
try:
    c = jwt.decode(token, keys[hdr["kid"]].key, algorithms=["ES256"],
                   audience=sys.argv[3], issuer=sys.argv[4])
except Exception as e:
    print("rejected:", type(e).__name__)
    sys.exit(0)
ti = c["token_introspection"]
print(hdr["typ"], hdr["alg"], c["aud"], isinstance(c["iat"], int),
      ti["active"], ti.get("username", "-"), ti.get("client_id", "-"),
      hdr["kid"])
EOF
signed() {
	curl -s -o "$scratch/jwt" -w '%{http_code} %{content_type}' \
		-H 'Accept: application/token-introspection+jwt' \
		-u "rs1:$SR" --data-urlencode "token=$1" "$BASE_URL/introspect"
}
check_eq "Accept token-introspection+jwt: 200 with that media type" \
	"200 application/token-introspection+jwt" "$(signed "$TA")"
kid1=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["keys"][0]["kid"])' "$scratch/jwks1")
check_eq "python3-jwt verifies it: typ, alg, aud = client, iat, the answer" \
	"token-introspection+jwt ES256 rs1 True True alice rs1 $kid1" \
	"$("$PY" "$scratch/verify.py" "$scratch/jwt" "$scratch/jwks1" rs1 "$BASE_URL")"
check_eq "... for another audience it is refused" "rejected: InvalidAudienceError" \
	"$("$PY" "$scratch/verify.py" "$scratch/jwt" "$scratch/jwks1" rs2 "$BASE_URL")"

# Tampering: one changed character in the signature, or in the payload.
"$PY" - "$scratch/jwt" <<'EOF'
import sys, base64, json
t = open(sys.argv[1]).read().strip()
h, p, s = t.split(".")
s2 = s[:10] + ("A" if s[10] != "A" else "B") + s[11:]
open(sys.argv[1] + ".sig", "w").write(".".join([h, p, s2]))
claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
claims["token_introspection"]["scope"] = "api:admin everything"
p2 = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
open(sys.argv[1] + ".payload", "w").write(".".join([h, p2, s]))
EOF
check_eq "a tampered signature is rejected" "rejected: InvalidSignatureError" \
	"$("$PY" "$scratch/verify.py" "$scratch/jwt.sig" "$scratch/jwks1" rs1 "$BASE_URL")"
check_eq "a tampered payload is rejected" "rejected: InvalidSignatureError" \
	"$("$PY" "$scratch/verify.py" "$scratch/jwt.payload" "$scratch/jwks1" rs1 "$BASE_URL")"

signed "apitok_garbage" >/dev/null
check_eq "inactive token: a signed {\"active\": false}" \
	"token-introspection+jwt ES256 rs1 True False - - $kid1" \
	"$("$PY" "$scratch/verify.py" "$scratch/jwt" "$scratch/jwks1" rs1 "$BASE_URL")"
http POST /introspect -u "rs1:$SR" -d "token=$TA"
check_match "without the Accept header: plain JSON as before" \
	'^\{"active":true,' "$HTTP_BODY"

# Rotation through the daemon: both keys published, the new one signs.
out=$(ctl key rotate)
check_match "key rotate: names the new key" "^new signing key [A-Za-z0-9_-]{43};" "$out"
http GET /.well-known/jwks.json
printf '%s' "$HTTP_BODY" >"$scratch/jwks2"
kids=$("$PY" -c 'import json,sys; print(" ".join(k["kid"] for k in json.load(open(sys.argv[1]))["keys"]))' "$scratch/jwks2")
kid2=${kids%% *}
check_eq "after rotate: JWKS has the new key and the previous one" \
	"2 $kid1" "$(echo $kids | wc -w) ${kids##* }"
signed "$TA" >/dev/null
check_eq "the new key signs, and verifies against the published JWKS" \
	"token-introspection+jwt ES256 rs1 True True alice rs1 $kid2" \
	"$("$PY" "$scratch/verify.py" "$scratch/jwt" "$scratch/jwks2" rs1 "$BASE_URL")"
check "... and not against the old JWKS alone" sh -c \
	"\"$PY\" \"$scratch/verify.py\" \"$scratch/jwt\" \"$scratch/jwks1\" rs1 \"$BASE_URL\" 2>&1 | grep -q KeyError"
check_eq "key list: the signing key and the previous one" "signs previous" \
	"$(ctl --json key list | "$PY" -c 'import json,sys; print(" ".join(k["use"] for k in json.load(sys.stdin)))')"
ctl key retire >/dev/null
http GET /.well-known/jwks.json
check_eq "key retire: only the new key is published" "$kid2" \
	"$(printf '%s' "$HTTP_BODY" | "$PY" -c 'import json,sys; print(" ".join(k["kid"] for k in json.load(sys.stdin)["keys"]))')"

# Keys from configured files: rotate refuses, the file's key signs.
stop_daemon
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-out "$scratch/own.pem" 2>/dev/null
daemon_config "\"signing_key\": \"$scratch/own.pem\""
start_daemon || not_ok "apitokend starts with signing_key"
ctl key rotate >/dev/null 2>&1
check_eq "configured key files: key rotate refused (77)" 77 "$?"
http GET /.well-known/jwks.json
printf '%s' "$HTTP_BODY" >"$scratch/jwks3"
signed "$TA" >/dev/null
check_match "the configured key signs" \
	"^token-introspection\\+jwt ES256 rs1 True True alice rs1 " \
	"$("$PY" "$scratch/verify.py" "$scratch/jwt" "$scratch/jwks3" rs1 "$BASE_URL")"
stop_daemon
check_eq "apitokend shuts down cleanly (no leak, no sanitizer report)" 0 "$?"
done_testing

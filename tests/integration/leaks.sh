#!/bin/sh
# POST /leaks: a client with the report-leaks right reports 3 tokens
# (ours active, ours revoked, foreign): only the first is revoked, its
# owner is mailed where it was found, the audit log says leak-reported
# with the client and its address, the answer says which were ours and
# echoes no token.  GitHub's secret scanning format: a valid ECDSA
# signature is accepted and answered in GitHub's format, a forged one is
# refused.  Clients without the right are refused; reports are
# rate-limited per address.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/daemon.sh"

[ -x "$APITOKEND" ] || skip_all "apitokend not built"
[ -x "$APITOKENCTL" ] || skip_all "apitokenctl not built"
command -v curl >/dev/null || skip_all "curl not installed"
command -v openssl >/dev/null || skip_all "openssl not installed"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
"$PY" -c 'import aiosmtpd' 2>/dev/null ||
	skip_all "python3-aiosmtpd not installed"

INBOX="$scratch/inbox"
mkdir -p "$INBOX"
"$PY" "$top_srcdir/tests/smtp_sink.py" --dir "$INBOX" --port 0 \
	--port-file "$scratch/sink.port" 2>>"$scratch/sink.log" &
SINK_PID=$!
at_exit 'kill $SINK_PID 2>/dev/null; wait $SINK_PID 2>/dev/null'
for i in $(seq 1 150); do
	[ -s "$scratch/sink.port" ] && break
	sleep 0.1
done
[ -s "$scratch/sink.port" ] || { echo "Bail out! smtp_sink.py did not start"; exit 99; }

# GitHub's side: a P-256 key pair; apitokend gets the public key.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-out "$scratch/gh.key" 2>/dev/null
openssl pkey -in "$scratch/gh.key" -pubout -out "$scratch/gh.pub" 2>/dev/null
GHKID=bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-out "$scratch/forger.key" 2>/dev/null

daemon_config "\"mail\": { \"relay\": \"smtp://127.0.0.1:$(cat "$scratch/sink.port")\",
  \"from\": \"apitoken@example.net\" },
  \"leak_report_keys\": { \"$GHKID\": \"$scratch/gh.pub\" }"
ctl init >/dev/null 2>&1
for u in alice bob carol; do
	ctl user add $u --email $u@example.org --role user >/dev/null 2>&1
done
SL=$(ctl client add scanner --can-report-leaks 2>/dev/null)
SR=$(ctl client add rs1 2>/dev/null)
TA=$(ctl token generate alice 2>/dev/null)
TB=$(ctl token generate bob 2>/dev/null)
ctl token revoke bob >/dev/null 2>&1
mkdir -p "$scratch/other"
"$APITOKENCTL" --store "$scratch/other/s" init >/dev/null 2>&1
"$APITOKENCTL" --store "$scratch/other/s" user add x --email x@example.org \
	--role admin >/dev/null 2>&1
TF=$("$APITOKENCTL" --store "$scratch/other/s" token generate x 2>/dev/null)
if ! start_daemon; then
	not_ok "apitokend starts"
	done_testing
fi
ok "apitokend starts"

cat >"$scratch/report.json" <<EOF
[{"token": "$TA", "url": "https://git.example.com/acme/app/blob/main/.env", "source": "commit"},
 {"token": "$TB", "url": "https://pastebin.example.com/x", "source": "paste"},
 {"token": "$TF", "url": "https://example.com/y", "source": "issue"}]
EOF
http POST /leaks -u "scanner:$SL" -H 'Content-Type: application/json' \
	--data-binary "@$scratch/report.json"
check_eq "report of 3: 200" 200 "$HTTP_CODE"
check_eq "... per item: ours revoked, ours already, not ours" \
	'{"results":[{"index":0,"result":"revoked"},{"index":1,"result":"already"},{"index":2,"result":"not-ours"}]}' \
	"$HTTP_BODY"
leak=0
for t in "$TA" "$TB" "$TF"; do
	case "$HTTP_BODY" in *"${t#apitok_}"*) leak=1 ;; esac
	grep -q "${t#apitok_}" "$DAEMON_LOG" && leak=1
done
check_eq "no token in the answer or apitokend's log" 0 "$leak"
http POST /introspect -u "rs1:$SR" -d "token=$TA"
check_eq "alice's token is revoked at once" '{"active":false}' "$HTTP_BODY"
check_eq "the foreign token's store is untouched" 0 \
	"$(printf '%s\n' "$TF" | "$APITOKENCTL" --store "$scratch/other/s" token check >/dev/null 2>&1; echo $?)"
check_eq "audit: leak-reported by client scanner from 127.0.0.1, where" \
	"alice client scanner 127.0.0.1 True" \
	"$(ctl --json audit --event leak-reported | "$PY" -c 'import json,sys
r = [json.loads(l) for l in sys.stdin]
assert len(r) == 1, r
r = r[0]
print(r["user"], r["actor"], r["actor_id"], r["source"], "git.example.com/acme/app/blob/main/.env" in r["reason"])')"
check_eq "token identify: revoked (leak-reported)" "revoked leak-reported" \
	"$(printf '%s\n' "$TA" | ctl --json token identify | "$PY" -c 'import json,sys; d = json.load(sys.stdin); print(d["state"], d["ended_by"])')"
mail=""
for i in $(seq 1 100); do
	mail=$(grep -l "^X-Sink-Rcpt-To: <\?alice@example.org" "$INBOX"/* 2>/dev/null |
		xargs -r grep -l "revoked" 2>/dev/null | head -n 1)
	[ -n "$mail" ] && break
	sleep 0.1
done
check "alice is mailed about the revocation" test -n "$mail"
check_eq "... and the mail says where the token was found" yes \
	"$("$PY" - "$INBOX" <<'EOF'
import email, email.policy, os, sys
for f in os.listdir(sys.argv[1]):
    m = email.message_from_bytes(open(os.path.join(sys.argv[1], f), "rb").read(),
                                 policy=email.policy.default)
    body = m.get_body(preferencelist=("plain",)).get_content()
    if "alice@example.org" in str(m["To"]) and \
            "git.example.com/acme/app/blob/main/.env" in body:
        print("yes")
        break
EOF
)"
check_eq "bob (already revoked) and nobody else got a leak mail" "" \
	"$(grep -l "pastebin.example.com" "$INBOX"/* 2>/dev/null)"

# Refusals.
http POST /leaks -u "rs1:$SR" -H 'Content-Type: application/json' \
	--data-binary "@$scratch/report.json"
check_eq "a client without report-leaks: 403" 403 "$HTTP_CODE"
http POST /leaks -H 'Content-Type: application/json' --data-binary '[]'
check_eq "no credentials, no signature: 401" 401 "$HTTP_CODE"
http POST /leaks -u "scanner:$SL" -H 'Content-Type: application/json' \
	--data-binary '{"token": "x"}'
check_eq "not an array: 400" 400 "$HTTP_CODE"
"$PY" -c 'import json; print(json.dumps([{"token": "x"}] * 1001))' >"$scratch/big.json"
http POST /leaks -u "scanner:$SL" -H 'Content-Type: application/json' \
	--data-binary "@$scratch/big.json"
check_eq "1001 items: 400" 400 "$HTTP_CODE"

# GitHub's format, signed.
TC=$(ctl token generate carol 2>/dev/null)
cat >"$scratch/gh.json" <<EOF
[{"token":"$TC","type":"apitoken_personal","url":"https://github.com/acme/app/blob/abc/config.yml","source":"content"},
 {"token":"$TF","type":"apitoken_personal","url":"https://github.com/acme/app/blob/abc/x","source":"content"}]
EOF
sign() {
	openssl dgst -sha256 -sign "$1" "$scratch/gh.json" | base64 -w0
}
http POST /leaks -H 'Content-Type: application/json' \
	-H "Github-Public-Key-Identifier: $GHKID" \
	-H "Github-Public-Key-Signature: $(sign "$scratch/forger.key")" \
	--data-binary "@$scratch/gh.json"
check_eq "GitHub format, forged signature: 401" 401 "$HTTP_CODE"
http POST /introspect -u "rs1:$SR" -d "token=$TC"
check_match "... and carol's token is still active" '"active":true' \
	"$HTTP_BODY"
http POST /leaks -H 'Content-Type: application/json' \
	-H "Github-Public-Key-Identifier: $GHKID" \
	-H "Github-Public-Key-Signature: $(sign "$scratch/gh.key")" \
	--data-binary "@$scratch/gh.json"
check_eq "GitHub format, valid signature: 200" 200 "$HTTP_CODE"
check_eq "... answered in GitHub's format (token_hash, token_type, label)" \
	"$(printf '%s' "$TC" | sha256sum | cut -c1-64) apitoken_personal true_positive $(printf '%s' "$TF" | sha256sum | cut -c1-64) apitoken_personal false_positive" \
	"$(printf '%s' "$HTTP_BODY" | "$PY" -c 'import json,sys; print(" ".join("%s %s %s" % (i["token_hash"], i["token_type"], i["label"]) for i in json.load(sys.stdin)))')"
http POST /introspect -u "rs1:$SR" -d "token=$TC"
check_eq "... carol's token is revoked" '{"active":false}' "$HTTP_BODY"
http POST /leaks -H 'Content-Type: application/json' \
	-H "Github-Public-Key-Identifier: 0000" \
	-H "Github-Public-Key-Signature: $(sign "$scratch/gh.key")" \
	--data-binary "@$scratch/gh.json"
check_eq "GitHub format, unknown key identifier: 401" 401 "$HTTP_CODE"

# Rate limit: 30 reports at once per address, then 429.
codes=""
for i in $(seq 1 40); do
	codes="$codes $(curl -s -o /dev/null -w '%{http_code}' -u "scanner:$SL" \
		-H 'Content-Type: application/json' --data-binary '[]' \
		"$BASE_URL/leaks")"
done
check_match "a burst of reports from one address ends in 429" " 429" "$codes"
stop_daemon
check_eq "apitokend shuts down cleanly (no leak, no sanitizer report)" 0 "$?"
done_testing

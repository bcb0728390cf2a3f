#!/bin/sh
# apitokend when the store fails: introspection answers 503
# temporarily_unavailable (never "active"), /revoke 503, /healthz 503, the
# local socket temporarily_unavailable, store errors are counted, and all
# recovers when the store does.  The failure is injected by preloading
# tests/integration/libstorefault.so (see store_fault.c).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/daemon.sh"

[ -x "$APITOKEND" ] || skip_all "apitokend not built"
[ -x "$APITOKENCTL" ] || skip_all "apitokenctl not built"
command -v curl >/dev/null || skip_all "curl not installed"
command -v python3 >/dev/null || skip_all "python3 not installed"
fault_lib="$top_builddir/tests/integration/.libs/libstorefault.so"
[ -f "$fault_lib" ] || skip_all "libstorefault.so not built"

fault="$scratch/fault"
daemon_config
ctl init >/dev/null 2>&1
ctl user add alice --email alice@example.org --role user >/dev/null 2>&1
TA=$(ctl token generate alice 2>/dev/null)
SR=$(ctl client add rs1 --can-revoke 2>/dev/null)

# The sanitizer runtime must come first in the link order; the preloaded
# double comes before it, which is harmless here.
DAEMON_WRAPPER="env LD_PRELOAD=$fault_lib APITOKEN_STORE_FAULT=$fault
	ASAN_OPTIONS=${ASAN_OPTIONS:-}:verify_asan_link_order=0"
if ! start_daemon; then
	not_ok "apitokend starts with the fault library"
	done_testing
fi
ok "apitokend starts with the fault library"

http POST /introspect -u "rs1:$SR" -d "token=$TA"
check_match "store healthy: token active" '^\{"active":true,' "$HTTP_BODY"

# TA's answer is kept now (answer_cache.c).  Once any request has seen the
# store fail, no kept answer is used: they come from the store again.
touch "$fault"
http GET /healthz
check_eq "store failing: /healthz 503" 503 "$HTTP_CODE"
http POST /introspect -u "rs1:$SR" -d "token=$TA"
check_eq "store failing: introspection 503 (kept answer not used)" 503 \
	"$HTTP_CODE"
check_eq "... temporarily_unavailable, never active" \
	temporarily_unavailable \
	"$(printf '%s' "$HTTP_BODY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["error"])')"
check_eq "... with the no-store headers" no-store \
	"$(http_header cache-control)"
http POST /revoke -u "rs1:$SR" -d "token=$TA"
check_eq "store failing: revocation 503" 503 "$HTTP_CODE"
check_match "... temporarily_unavailable" '"error":"temporarily_unavailable"' \
	"$HTTP_BODY"
http POST /revoke -H "Authorization: Bearer $TA" -d "token=$TA"
check_eq "store failing: self-revocation 503 (not 401)" 503 "$HTTP_CODE"
reply=$(local_request "{\"op\":\"check\",\"token\":\"$TA\"}")
check_match "store failing: local check temporarily_unavailable" \
	'^\{"error":"temporarily_unavailable",' "$reply"
reply=$(local_request '{"op":"user","user":"alice"}')
check_match "store failing: local user temporarily_unavailable" \
	'^\{"error":"temporarily_unavailable",' "$reply"
http GET /metrics
check_match "store errors are counted" \
	'apitokend_store_errors_total [1-9]' "$HTTP_BODY"
check "store failures are logged" grep -q "store failed" "$DAEMON_LOG"

rm -f "$fault"
http POST /introspect -u "rs1:$SR" -d "token=$TA"
check_match "store back: token active again (nothing was revoked)" \
	'^\{"active":true,' "$HTTP_BODY"
http GET /healthz
check_eq "store back: /healthz 200" 200 "$HTTP_CODE"
check "SIGTERM: clean exit" stop_daemon

done_testing

#!/bin/sh
# The conformance suite must notice non-conformance: run it against
# mock_as.py, first as the RFCs ask (everything passes, the form-encoded
# client id included), then with one defect at a time (the matching check
# fails and the suite exits 1).
. "$top_srcdir/tests/lib.sh"

CONFORMANCE="$top_builddir/tests/conformance/conformance"
MOCK="$top_srcdir/tests/conformance/mock_as.py"
[ -x "$CONFORMANCE" ] || skip_all "conformance not built"
command -v python3 >/dev/null || skip_all "no python3"

mock_pid=""
stop_mock() {
	if [ -n "$mock_pid" ]; then
		kill "$mock_pid" 2>/dev/null
		wait "$mock_pid" 2>/dev/null
		mock_pid=""
	fi
}
at_exit stop_mock

# suite [--defect NAME]: start the mock, run the suite; output in
# $scratch/out, exit status in $rc.
suite() {
	local i
	rm -f "$scratch/port"
	python3 "$MOCK" --port-file "$scratch/port" "$@" &
	mock_pid=$!
	for i in $(seq 1 100); do
		[ -s "$scratch/port" ] && break
		sleep 0.1
	done
	if [ ! -s "$scratch/port" ]; then
		echo "Bail out! mock_as.py did not start"
		exit 99
	fi
	"$CONFORMANCE" --tap --url "http://127.0.0.1:$(cat "$scratch/port")" \
		--client-id rs --client-secret rs-secret \
		--revoke-client-id rv --revoke-client-secret rv-secret \
		--encoded-client-id 'rs enc:%+&' \
		--encoded-client-secret 's3cret:+ %' \
		--active-token tok-active --revocable-token tok-revocable \
		--oversize 65536 >"$scratch/out" 2>&1
	rc=$?
	stop_mock
}

suite
check_eq "conforming server: suite exits 0" 0 "$rc"
check_eq "conforming server: no check fails" 0 \
	"$(grep -c '^not ok' "$scratch/out")"
check_eq "conforming server: no check skipped (all options given)" \
	0 "$(grep -c '# SKIP' "$scratch/out")"
[ "$rc" -eq 0 ] || sed 's/^/# /' "$scratch/out" | grep -v '^# ok'

# defect NAME "text of the check that must fail"
defect() {
	suite --defect "$1"
	check_eq "defect $1: suite exits 1" 1 "$rc"
	if grep '^not ok' "$scratch/out" | grep -qF -- "$2"; then
		ok "defect $1: \"$2\" fails"
	else
		not_ok "defect $1: \"$2\" fails"
		sed 's/^/# /' "$scratch/out" | grep -v '^# ok'
	fi
}

defect inactive-extra 'unknown token: "active": false and no other member'
defect no-cache-headers \
	'400 for a missing token: Cache-Control: no-store and Pragma'
defect enumerate 'basic: unknown client and wrong secret get identical'
defect query-token 'token only in the query string is not read'
defect both-auth-ok 'basic and post credentials together: HTTP 400'
defect no-decode 'basic credentials with every byte percent-encoded'
defect revoke-noop 'revoked token: "active": false and no other member'
defect hint-sensitive 'token_type_hint=refresh_token gives the same answer'
defect no-allow '405 names POST in Allow'
defect string-exp 'active token: exp is an integer'
defect issuer-mismatch 'metadata: issuer is identical to the issuer'
defect no-size-limit '65536-byte body: 413'
defect echo-token 'token given twice: the answer echoes no token or secret'

done_testing

#!/bin/sh
# pam_apitoken.so in real PAM hosts against the real apitokend, without
# root or /etc: pam_wrapper points libpam at service files in a scratch
# folder; pamtester (password from stdin) and a libpamtest program
# (tests/plugin/pamtest) are the applications.  Both modes.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/daemon.sh"

PAMMOD="$top_builddir/plugin/pam/.libs/pam_apitoken.so"
PAMTEST="$top_builddir/tests/plugin/pamtest"
[ -f "$PAMMOD" ] || skip_all "pam_apitoken.so not built"
[ -x "$APITOKEND" ] && [ -x "$APITOKENCTL" ] || skip_all "apitokend not built"
command -v pamtester >/dev/null || skip_all "no pamtester"
PWRAP=$(for d in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib; do
	[ -f "$d/libpam_wrapper.so" ] && echo "$d/libpam_wrapper.so" && break
	done)
[ -n "$PWRAP" ] || skip_all "no libpam_wrapper.so (libpam-wrapper)"

# Under --enable-sanitizers the module is instrumented but pamtester and
# libpam are not: the ASan runtime must come first, and leaks in the
# uninstrumented host are not ours to report.
preload="$PWRAP"
if ldd "$PAMMOD" | grep -q libasan; then
	asan=$(${CC:-gcc} -print-file-name=libasan.so)
	preload="$asan $PWRAP"
	ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
	export ASAN_OPTIONS
fi

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -days 1 \
	-keyout "$scratch/key.pem" -out "$scratch/cert.pem" 2>/dev/null ||
	skip_all "openssl cannot make a certificate"
tls="\"tls_cert\": \"$scratch/cert.pem\", \"tls_key\": \"$scratch/key.pem\""
daemon_config "$tls"
DAEMON_SCHEME=https
DAEMON_CURL_OPTS="--cacert $scratch/cert.pem"
ctl init >/dev/null 2>&1
ctl user add alice --email alice@example.com --role user --bu 7 >/dev/null
ctl user add bob --email bob@example.com --role admin >/dev/null
ctl user add carol --email carol@example.com --role user >/dev/null
start_daemon || { not_ok "apitokend starts"; done_testing; }
T_ALICE=$(ctl token generate alice 2>/dev/null)
T_BOB=$(ctl token generate bob 2>/dev/null)
T_CAROL=$(ctl token generate carol 2>/dev/null)
ctl client add pam --name "PAM test" >"$scratch/client" 2>/dev/null
(umask 077; tail -n 1 "$scratch/client" >"$scratch/secret")

syms=$(nm -D --defined-only "$PAMMOD" | awk '{print $3}' | sort | xargs)
check_eq "pam_apitoken.so exports only pam_sm_*" \
	"pam_sm_acct_mgmt pam_sm_authenticate pam_sm_setcred" "$syms"
case "$(ldd "$PAMMOD")" in
*libdb*|*libapitoken*) not_ok "no Berkeley DB / libapitoken in PAM hosts";;
*) ok "no Berkeley DB / libapitoken in PAM hosts";;
esac

svcdir="$scratch/pam.d"
mkdir "$svcdir"
service() {
	local name="$1"
	shift
	printf 'auth     required %s %s\naccount  required %s %s\n' \
		"$PAMMOD" "$*" "$PAMMOD" "$*" >"$svcdir/$name"
}
LOCAL="mode=local socket=$DAEMON_LOCAL_SOCKET timeout=1000"
remote() {
	echo "mode=remote url=$BASE_URL/introspect client_id=pam" \
		"secret_file=$scratch/secret ca_file=$scratch/cert.pem" \
		"timeout=2000 cache_ttl=0 $*"
}
make_services() {
	service local $LOCAL
	service local-scope $LOCAL scope=api:write
	service remote $(remote)
	service remote-scope $(remote scope=api:write)
	service badmode mode=ldap
	printf 'auth required %s %s [scope=api:read api:write] try_first_pass\n' \
		"$PAMMOD" "$LOCAL" >"$svcdir/local-scopes"
	service unknownopt $LOCAL scpoe=api:write
	service nourl mode=remote client_id=pam "secret_file=$scratch/secret"
	printf 'auth required %s mode=remote url=%s client_id=pam secret_file=%s\n' \
		"$PAMMOD" "$BASE_URL/introspect" "$scratch/nosuchfile" \
		>"$svcdir/badsecret"
	# The account step reads no secret (it never asks apitokend in
	# remote mode): its own line may name a file that is not there.
	printf 'auth required %s %s\naccount required %s %s\n' \
		"$PAMMOD" "$(remote)" "$PAMMOD" \
		"$(remote) secret_file=$scratch/nosuchfile" \
		>"$svcdir/remote-acct-nosecret"
}
make_services

# pt SERVICE USER TOKEN OPERATION...: pamtester's verdict (and, with
# PAM_WRAPPER_DEBUGLEVEL=2, libpam's syslog lines) on one line.
pt() {
	local svc="$1" user="$2" tok="$3"
	shift 3
	printf '%s\n' "$tok" |
		PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$svcdir" \
		PAM_WRAPPER_DEBUGLEVEL="${PWDEBUG:-0}" LD_PRELOAD="$preload" \
		pamtester "$svc" "$user" "$@" 2>&1 | tr '\n' ' '
}
OK='successfully authenticated'
ACCT_OK='account management done'
AUTH_ERR='Authentication failure'
UNAVAIL='Authentication service cannot retrieve authentication info'
SERVICE_ERR='Error in service module'
DENIED='Permission denied'

for mode in local remote; do
	check_match "$mode: alice, her token: authenticated, account ok" \
		"$OK.*$ACCT_OK" "$(pt $mode alice "$T_ALICE" authenticate acct_mgmt)"
	check_match "$mode: bob with alice's token: PAM_AUTH_ERR" "$AUTH_ERR" \
		"$(pt $mode bob "$T_ALICE" authenticate)"
	check_match "$mode: garbage: PAM_AUTH_ERR" "$AUTH_ERR" \
		"$(pt $mode alice "not-a-token" authenticate)"
	check_match "$mode: scope=api:write, bob (admin): authenticated" "$OK" \
		"$(pt $mode-scope bob "$T_BOB" authenticate)"
	check_match "$mode: scope=api:write, alice (user): PAM_AUTH_ERR" \
		"$AUTH_ERR" "$(pt $mode-scope alice "$T_ALICE" authenticate)"
done

check_match "[scope=api:read api:write]: bob (admin) authenticated" "$OK" \
	"$(pt local-scopes bob "$T_BOB" authenticate)"
check_match "[scope=api:read api:write]: alice (api:read only) refused" \
	"$AUTH_ERR" "$(pt local-scopes alice "$T_ALICE" authenticate)"

# The syslog lines: pam_unix style, the user named, never the token.
log=$(PWDEBUG=2 pt local bob "$T_ALICE" authenticate)
check_match "failure logged as 'authentication failure; ... user=bob'" \
	'authentication failure; rhost= user=bob \(token of another user' "$log"
case "$log" in *"$T_ALICE"*) not_ok "token not in the log";;
	*) ok "token not in the log";; esac
# An empty token (PAM_DISALLOW_NULL_AUTHTOK or not) is refused at once.
log=$(PWDEBUG=2 pt local alice "" authenticate)
check_match "empty token: PAM_AUTH_ERR, logged as such" \
	"$AUTH_ERR" "$log"
check_match "... the log says 'empty token'" \
	'authentication failure; rhost= user=alice \(empty token\)' "$log"

# Disabled user: auth refused in both modes, account refused (local asks
# apitokend; remote trusts only this transaction's auth).
ctl user api-access carol off >/dev/null 2>&1
check_match "local: disabled user: PAM_AUTH_ERR" "$AUTH_ERR" \
	"$(pt local carol "$T_CAROL" authenticate)"
check_match "remote: disabled user: PAM_AUTH_ERR" "$AUTH_ERR" \
	"$(pt remote carol "$T_CAROL" authenticate)"
check_match "local: disabled user's account: PAM_PERM_DENIED" "$DENIED" \
	"$(pt local carol "" acct_mgmt)"
check_match "remote: account without auth in this transaction: refused" \
	"$DENIED" "$(pt remote carol "" acct_mgmt)"
ctl user api-access carol on >/dev/null 2>&1
check_match "local: re-enabled user: authenticated" "$OK.*$ACCT_OK" \
	"$(pt local carol "$T_CAROL" authenticate acct_mgmt)"

ctl token revoke carol >/dev/null 2>&1
check_match "local: revoked token: PAM_AUTH_ERR" "$AUTH_ERR" \
	"$(pt local carol "$T_CAROL" authenticate)"
check_match "remote: revoked token: PAM_AUTH_ERR" "$AUTH_ERR" \
	"$(pt remote carol "$T_CAROL" authenticate)"

# Bad module arguments.
check_match "mode=ldap: PAM_SERVICE_ERR" "$SERVICE_ERR" \
	"$(pt badmode alice "$T_ALICE" authenticate)"
check_match "misspelt option (scpoe=): PAM_SERVICE_ERR, not ignored" \
	"$SERVICE_ERR" "$(pt unknownopt alice "$T_ALICE" authenticate)"
check_match "mode=remote without url: PAM_SERVICE_ERR" "$SERVICE_ERR" \
	"$(pt nourl alice "$T_ALICE" authenticate)"
check_match "unreadable secret_file: PAM_SERVICE_ERR" "$SERVICE_ERR" \
	"$(pt badsecret alice "$T_ALICE" authenticate)"

# The same through libpamtest, in one process: auth then account.
if [ -x "$PAMTEST" ]; then
	for mode in local remote; do
		out=$(APITOKEN_TEST_TOKEN="$T_ALICE" PAM_WRAPPER=1 \
			PAM_WRAPPER_SERVICE_DIR="$svcdir" LD_PRELOAD="$preload" \
			"$PAMTEST" $mode alice PAM_SUCCESS PAM_SUCCESS 2>/dev/null)
		check_eq "libpamtest $mode: auth + account succeed" "pass" "$out"
		out=$(APITOKEN_TEST_TOKEN="$T_ALICE" PAM_WRAPPER=1 \
			PAM_WRAPPER_SERVICE_DIR="$svcdir" LD_PRELOAD="$preload" \
			"$PAMTEST" $mode bob PAM_AUTH_ERR 2>/dev/null)
		check_eq "libpamtest $mode: another user's token: PAM_AUTH_ERR" \
			"pass" "$out"
	done
	# Remote account trusts only this transaction's auth; local account
	# asks apitokend about the user (bob is active), whatever auth said.
	out=$(APITOKEN_TEST_TOKEN="$T_ALICE" PAM_WRAPPER=1 \
		PAM_WRAPPER_SERVICE_DIR="$svcdir" LD_PRELOAD="$preload" \
		"$PAMTEST" remote bob PAM_AUTH_ERR PAM_PERM_DENIED 2>/dev/null)
	check_eq "libpamtest remote: failed auth, then account refused" \
		"pass" "$out"
	out=$(APITOKEN_TEST_TOKEN="$T_ALICE" PAM_WRAPPER=1 \
		PAM_WRAPPER_SERVICE_DIR="$svcdir" LD_PRELOAD="$preload" \
		"$PAMTEST" local bob PAM_AUTH_ERR PAM_SUCCESS 2>/dev/null)
	check_eq "libpamtest local: account asks apitokend, not auth" \
		"pass" "$out"
	out=$(APITOKEN_TEST_TOKEN="$T_ALICE" PAM_WRAPPER=1 \
		PAM_WRAPPER_SERVICE_DIR="$svcdir" LD_PRELOAD="$preload" \
		"$PAMTEST" remote-acct-nosecret alice PAM_SUCCESS PAM_SUCCESS \
		2>/dev/null)
	check_eq "libpamtest remote: the account step reads no secret_file" \
		"pass" "$out"
else
	not_ok "tests/plugin/pamtest built"
fi

# apitokend down: PAM_AUTHINFO_UNAVAIL within the timeout.
stop_daemon
for mode in local remote; do
	t0=$(date +%s%N)
	out=$(pt $mode alice "$T_ALICE" authenticate)
	t1=$(date +%s%N)
	check_match "$mode: apitokend stopped: PAM_AUTHINFO_UNAVAIL" \
		"$UNAVAIL" "$out"
	ms=$(( (t1 - t0) / 1000000 ))
	check "... within the timeout (took $ms ms)" test "$ms" -lt 5000
done
check_match "local: account with apitokend stopped: PAM_AUTHINFO_UNAVAIL" \
	"$UNAVAIL" "$(pt local alice "" acct_mgmt)"

# Expiry: a 2-second token lifetime.
daemon_config "$tls, \"token_lifetime\": \"2s\", \"sweep_interval\": \"1s\""
start_daemon || { not_ok "apitokend restarts"; done_testing; }
make_services	# the port changed
T_SHORT=$(ctl token generate carol 2>/dev/null)
check_match "short-lived token authenticates at first" "$OK" \
	"$(pt local carol "$T_SHORT" authenticate)"
sleep 3
check_match "local: expired token: PAM_AUTH_ERR" "$AUTH_ERR" \
	"$(pt local carol "$T_SHORT" authenticate)"
check_match "remote: expired token: PAM_AUTH_ERR" "$AUTH_ERR" \
	"$(pt remote carol "$T_SHORT" authenticate)"
done_testing

#!/bin/sh
# The self-service page in a real browser (tests/web/browser.mjs: Debian's
# headless Chromium driven by playwright-core, axe-core on every state):
# sign-in through PAM (pam_wrapper + pam_matrix) straight at apitokend, and
# through the header mode behind a real Apache (mod_auth_basic in front,
# contrib/apache/apitoken-selfservice.conf); emails through the SMTP sink.
# Screenshots of each state go to tests/web-artifacts/ in the build folder.
# npm packages come from tests/web/package-lock.json (npm ci).  Skipped only
# when Chromium cannot start.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/daemon.sh"
. "$top_srcdir/tests/web-lib.sh"

[ -x "$APITOKEND" ] && [ -x "$APITOKENCTL" ] || skip_all "apitokend not built"
[ -x /usr/bin/chromium ] || skip_all "no /usr/bin/chromium (Debian chromium)"
PY=/usr/bin/python3
"$PY" -c 'import aiosmtpd' 2>/dev/null || skip_all "python3-aiosmtpd not installed"
command -v htpasswd >/dev/null || skip_all "no htpasswd (apache2-utils)"
[ -x "${HTTPD:-/usr/sbin/apache2}" ] || skip_all "no apache2"
web_pam_setup alice:pw-alice

NODE_PGID=""
at_exit '[ -n "$NODE_PGID" ] && kill -KILL -- -$NODE_PGID 2>/dev/null'

# ---- the npm packages, pinned by the lock file ----
NODEDIR="$top_builddir/tests/web-node"
mkdir -p "$NODEDIR"
cp "$top_srcdir/tests/web/package.json" "$top_srcdir/tests/web/package-lock.json" \
	"$top_srcdir/tests/web/browser.mjs" "$NODEDIR/"
if ! (cd "$NODEDIR" && npm ci --no-audit --no-fund --loglevel=error \
	>"$scratch/npm.log" 2>&1); then
	sed 's/^/# /' "$scratch/npm.log"
	not_ok "npm ci installs playwright-core and axe-core"
	done_testing
fi
# Skip (before any result) only if Chromium cannot start here.
MODE=probe PROFILE="$scratch/profile-probe" setsid node \
	"$NODEDIR/browser.mjs" >"$scratch/probe.out" 2>&1 &
NODE_PGID=$!
wait "$NODE_PGID"
kill -KILL -- -"$NODE_PGID" 2>/dev/null
NODE_PGID=""
if ! grep -q '^LAUNCHED' "$scratch/probe.out"; then
	sed 's/^/# /' "$scratch/probe.out"
	skip_all "Chromium cannot start here"
fi
ok "npm ci installs playwright-core and axe-core; Chromium starts"
ARTIFACTS="$top_builddir/tests/web-artifacts"
rm -rf "$ARTIFACTS"
mkdir -p "$ARTIFACTS"

# ---- the SMTP sink ----
INBOX="$scratch/inbox"
"$PY" "$top_srcdir/tests/smtp_sink.py" --dir "$INBOX" --port 0 \
	--port-file "$scratch/sink.port" 2>>"$scratch/sink.log" &
SINK_PID=$!
at_exit 'kill $SINK_PID 2>/dev/null; wait $SINK_PID 2>/dev/null'
for i in $(seq 1 150); do
	[ -s "$scratch/sink.port" ] && break
	sleep 0.1
done
SINK_PORT=$(cat "$scratch/sink.port")
MAIL="\"mail\": {\"relay\": \"smtp://127.0.0.1:$SINK_PORT\", \"from\": \"apitoken@example.net\", \"retry_max\": \"1s\"}"

# kinds USER: the notice kinds USER@example.org received, sorted.
kinds() {
	"$PY" - "$INBOX" "$1@example.org" <<'PYEOF'
import email, os, sys
out = []
for name in sorted(os.listdir(sys.argv[1])) if os.path.isdir(sys.argv[1]) else []:
    if name.startswith("."):
        continue
    raw = open(os.path.join(sys.argv[1], name), "rb").read()
    head, _, rest = raw.partition(b"\r\n")
    rcpt_line, _, msg = rest.partition(b"\r\n")
    if rcpt_line.decode().split(": ", 1)[1] != sys.argv[2]:
        continue
    out.append(email.message_from_bytes(msg)["X-Apitoken-Notice"] or "-")
print(" ".join(sorted(out)))
PYEOF
}
wait_kinds() { # USER WANT
	local i
	for i in $(seq 1 100); do
		[ "$(kinds "$1")" = "$2" ] && return 0
		sleep 0.2
	done
	return 1
}

# browser MODE USER PASSWORD PAGE_URL: run browser.mjs in its own process
# group (killed whole at exit) and turn its lines into TAP.
browser() {
	local line what detail
	rm -rf "$scratch/profile-$1"
	MODE="$1" USER_NAME="$2" USER_PASSWORD="$3" PAGE_URL="$4" \
	DIRECT_URL="$BASE_URL" RS_ID=rs1 RS_SECRET="$RS1" \
	ARTIFACTS="$ARTIFACTS" PROFILE="$scratch/profile-$1" CTL="$APITOKENCTL" \
	SECRETS_OUT="$scratch/secrets" \
		setsid node "$NODEDIR/browser.mjs" >"$scratch/browser-$1.out" \
		2>"$scratch/browser-$1.err" &
	NODE_PGID=$!
	wait "$NODE_PGID"
	kill -KILL -- -"$NODE_PGID" 2>/dev/null
	NODE_PGID=""
	if grep -q '^CANNOT_LAUNCH' "$scratch/browser-$1.out"; then
		sed 's/^/# /' "$scratch/browser-$1.out" "$scratch/browser-$1.err"
		not_ok "$1: Chromium starts (it did for the probe)"
	fi
	[ -s "$scratch/browser-$1.out" ] ||
		not_ok "$1: the browser test printed results"
	while IFS='	' read -r line what detail; do
		case "$line" in
		PASS) ok "$1: $what" ;;
		FAIL) not_ok "$1: $what"; diag "$detail" ;;
		esac
	done <"$scratch/browser-$1.out"
	sed 's/^/# stderr: /' "$scratch/browser-$1.err" | head -n 20
}

# ---- PAM sign-in, straight at apitokend ----
web_config '"auth": "pam", "support_contact": "IT service desk, +1 555 0100"' \
	"$MAIL"
ctl init >/dev/null 2>&1
ctl user add alice --email alice@example.org --role user >/dev/null 2>&1
ctl user add bob --email bob@example.org --role user >/dev/null 2>&1
ctl client add rs1 >"$scratch/rs1" 2>/dev/null
RS1=$(tail -n 1 "$scratch/rs1")
start_daemon || { not_ok "apitokend starts"; done_testing; }
: >"$scratch/secrets"
browser pam alice pw-alice "$BASE_URL"
check "alice's emails: created, regenerated, revoked" \
	wait_kinds alice "created regenerated revoked"
stop_daemon

# ---- header sign-in behind Apache (mod_auth_basic) ----
. "$top_srcdir/tests/apache-lib.sh"
web_config '"auth": "header", "user_header": "X-Remote-User",
  "trusted_proxies": ["127.0.0.1", "::1"]' "$MAIL"
start_daemon || { not_ok "apitokend starts in header mode"; done_testing; }
port=$(free_port)
htpasswd -bc "$ap/htpasswd" bob pw-bob 2>/dev/null
htpasswd -b "$ap/htpasswd" alice pw-alice-basic 2>/dev/null
chmod 644 "$ap/htpasswd"
{
	httpd_conf_head
	cat <<CONF
LoadModule proxy_module $MODDIR/mod_proxy.so
LoadModule proxy_http_module $MODDIR/mod_proxy_http.so
LoadModule headers_module $MODDIR/mod_headers.so
LoadModule auth_basic_module $MODDIR/mod_auth_basic.so
LoadModule authn_file_module $MODDIR/mod_authn_file.so
Define APITOKEND_URL $BASE_URL
Include $top_srcdir/contrib/apache/apitoken-selfservice.conf
<LocationMatch "^/(account/|api/v1/session\$|api/v1/me/)">
    AuthType Basic
    AuthName "apitoken test"
    AuthBasicProvider file
    AuthUserFile $ap/htpasswd
</LocationMatch>
CONF
} >"$ap/httpd.conf"
apache_start
APURL="http://127.0.0.1:$port"
code=$(curl -s -o /dev/null -w '%{http_code}' "$APURL/account/")
check_eq "through Apache without signing in: 401 from Apache" 401 "$code"
body=$(curl -s -u bob:pw-bob -H 'X-Remote-User: alice' "$APURL/api/v1/session")
check_eq "a browser's own X-Remote-User is replaced by Apache's user" \
	"true bob" "$(jget "$body" signed_in) $(jget "$body" user)"
browser header bob pw-bob "$APURL"
check "bob's emails: created, regenerated, revoked" \
	wait_kinds bob "created regenerated revoked"
stop_httpd
check "apitokend exits cleanly" stop_daemon
check_eq "no sanitizer report in the daemon's log" "" \
	"$(grep -E 'Sanitizer|runtime error' "$DAEMON_LOG")"

# ---- no secret anywhere it should not be ----
n=$(wc -l <"$scratch/secrets")
check_eq "four tokens were shown in the browser" 4 "$n"
leaks=0
while read -r s; do
	[ -n "$s" ] || continue
	if grep -rqF -- "$s" "$DAEMON_LOG" "$ap"/*.log "$INBOX" 2>/dev/null
	then
		leaks=$((leaks + 1))
	fi
done <"$scratch/secrets"
check_eq "no token in the daemon's log, Apache's logs or any email" 0 "$leaks"
for s in pw-alice pw-bob; do
	check "no password in the daemon's log ($s)" \
		sh -c "! grep -qF -- '$s' '$DAEMON_LOG'"
done
shots=$(ls "$ARTIFACTS" | grep -c '\.png$')
check_match "screenshots of each state saved ($shots)" '^[1-9][0-9]+$' "$shots"
done_testing

# Shared harness of the Apache resource-server tests (apache.sh with
# mod_oauth2, apache-openidc.sh with mod_auth_openidc); sourced after
# tests/lib.sh and tests/daemon.sh.  Each test writes its own httpd.conf
# into $ap, then calls apache_start; get() asks it.

HTTPD=${HTTPD:-/usr/sbin/apache2}
MODDIR=${APACHE_MODDIR:-/usr/lib/apache2/modules}

# secret_of TEXT PREFIX: the last PREFIX... secret in apitokenctl's output.
secret_of() {
	printf '%s\n' "$1" | grep -Eo "$2[0-9A-Za-z]+" | tail -n 1
}
# apitokenctl's notes ("shown only this once") go to a log, not the TAP.
ctl() {
	"$APITOKENCTL" "$@" 2>>"$scratch/ctl.log"
}

free_port() {
	python3 -c 'import socket; s = socket.socket()
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Apache drops root privileges to www-data: give it a world-searchable
# folder of its own inside the scratch folder ($ap, with cgi/ and run/),
# and the User/Group lines for httpd.conf ($user_lines).
ap="$scratch/apache"
mkdir -p "$ap/cgi" "$ap/run"
chmod 711 "$scratch"
chmod 755 "$ap" "$ap/cgi"
user_lines=""
if [ "$(id -u)" -eq 0 ]; then
	user_lines="User www-data
Group www-data"
fi

# The head of every test's httpd.conf: one server on 127.0.0.1:$port, its
# files in $ap, the modules both tests need; each adds its own module.
httpd_conf_head() {
	cat <<CONF
ServerName 127.0.0.1
Listen 127.0.0.1:$port
DefaultRuntimeDir $ap/run
PidFile $ap/httpd.pid
ErrorLog $ap/error.log
LogLevel warn
$user_lines
LoadModule mpm_prefork_module $MODDIR/mod_mpm_prefork.so
LoadModule authn_core_module $MODDIR/mod_authn_core.so
LoadModule authz_core_module $MODDIR/mod_authz_core.so
LoadModule authz_user_module $MODDIR/mod_authz_user.so
LoadModule alias_module $MODDIR/mod_alias.so
LoadModule cgi_module $MODDIR/mod_cgi.so
CONF
}

httpd_pid=""
stop_httpd() {
	local i
	[ -n "$httpd_pid" ] || return 0
	kill -TERM "$httpd_pid" 2>/dev/null
	for i in $(seq 1 100); do
		kill -0 "$httpd_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$httpd_pid" 2>/dev/null
	wait "$httpd_pid" 2>/dev/null
	httpd_pid=""
}

# apache_start: check $ap/httpd.conf with apache2 -t (a TAP check: the
# shipped snippet must pass), run it in the foreground (-X) in the
# background and wait until it answers on $port; bail out if it does not.
apache_start() {
	local i up=""
	check "the shipped snippet passes apache2 -t" \
		"$HTTPD" -t -f "$ap/httpd.conf" 2>"$ap/syntax.log"
	"$HTTPD" -X -f "$ap/httpd.conf" 2>>"$ap/error.log" &
	httpd_pid=$!
	at_exit stop_httpd
	for i in $(seq 1 100); do
		if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
			up=1
			break
		fi
		kill -0 "$httpd_pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$up" ]; then
		diag "apache did not start:"
		sed 's/^/# /' "$ap/syntax.log" "$ap/error.log"
		echo "Bail out! apache did not start"
		exit 99
	fi
}

# get [TOKEN] [extra curl args]: GET $path (default /api/whoami) on
# 127.0.0.1:$port; sets CODE, BODY, WWWAUTH.
path=/api/whoami
get() {
	local tok="$1"
	shift
	if [ -n "$tok" ]; then
		set -- -H "Authorization: Bearer $tok" "$@"
	fi
	CODE=$(curl -s -o "$ap/body" -D "$ap/headers" -w '%{http_code}' \
		"$@" "http://127.0.0.1:$port$path")
	BODY=$(cat "$ap/body")
	WWWAUTH=$(tr -d '\r' <"$ap/headers" |
		sed -n 's/^[Ww][Ww][Ww]-[Aa]uthenticate: //p')
}

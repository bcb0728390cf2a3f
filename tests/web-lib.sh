# Shared by the self-service page's tests (web.sh, web-browser.sh); source
# after tests/lib.sh and tests/daemon.sh.
#
#   web_pam_setup USER:PASSWORD...
#       pam_wrapper + pam_matrix: a PAM service "apitoken-web" in
#       $scratch/pam.d that accepts exactly these users and passwords (no
#       system account is touched), and DAEMON_WRAPPER set so that
#       start_daemon runs apitokend under pam_wrapper.  Skips the test if
#       pam_wrapper is missing.
#   web_config '"auth": "pam", ...' [more top-level members]
#       daemon_config with "web": {the members given, assets from the
#       source tree}.
#   web_signin USER PASSWORD [JAR]
#       POST /api/v1/session; cookies in JAR ($scratch/jar); sets
#       HTTP_CODE, HTTP_BODY, CSRF.
#   web_curl METHOD PATH [curl options]: http with the cookie jar.

WEB_ASSETS="$top_srcdir/introspect/web"
WEB_JAR="$scratch/jar"
CSRF=""

web_pam_setup() {
	local pwrap matrix u
	pwrap=$(for d in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib; do
		[ -f "$d/libpam_wrapper.so" ] && echo "$d/libpam_wrapper.so" &&
			break
	done)
	[ -n "$pwrap" ] || skip_all "no libpam_wrapper.so (libpam-wrapper)"
	matrix="$(dirname "$pwrap")/pam_wrapper/pam_matrix.so"
	[ -f "$matrix" ] || skip_all "no pam_matrix.so (libpam-wrapper)"
	mkdir -p "$scratch/pam.d"
	: >"$scratch/passdb"
	for u in "$@"; do
		echo "$u:apitoken-web" >>"$scratch/passdb"
	done
	printf 'auth required %s passdb=%s\naccount required %s passdb=%s\n' \
		"$matrix" "$scratch/passdb" "$matrix" "$scratch/passdb" \
		>"$scratch/pam.d/apitoken-web"
	# An instrumented apitokend needs the ASan runtime first; leaks in
	# the uninstrumented libpam are not ours to report.
	local preload="$pwrap" bin="$APITOKEND"
	# libtool may have put the real program in .libs/ behind a script.
	[ -f "$(dirname "$APITOKEND")/.libs/apitokend" ] &&
		bin="$(dirname "$APITOKEND")/.libs/apitokend"
	if ldd "$bin" 2>/dev/null | grep -q libasan; then
		preload="$(${CC:-gcc} -print-file-name=libasan.so):$pwrap"
	fi
	DAEMON_WRAPPER="env PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR=$scratch/pam.d"
	DAEMON_WRAPPER="$DAEMON_WRAPPER LD_PRELOAD=$preload"
	# Preloaded into libtool's wrapper script, the ASan runtime would
	# report the shell's own leaks: run the program itself.
	if [ "$bin" != "$APITOKEND" ]; then
		DAEMON_WRAPPER="$DAEMON_WRAPPER LD_LIBRARY_PATH=$top_builddir/core/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
		APITOKEND="$bin"
	fi
	export LSAN_OPTIONS="suppressions=$top_srcdir/tests/lsan-pam.supp"
}

web_config() {
	local web="$1"
	shift
	daemon_config "\"web\": {$web, \"assets\": \"$WEB_ASSETS\"}${1:+, $*}"
}

web_curl() {
	local method="$1" path="$2"
	shift 2
	http "$method" "$path" -b "$WEB_JAR" -c "$WEB_JAR" "$@"
}

web_signin() {
	local jar="${3:-$WEB_JAR}"
	http POST /api/v1/session -b "$jar" -c "$jar" \
		-H 'Content-Type: application/json' \
		--data-binary "{\"user\": \"$1\", \"password\": \"$2\"}"
	CSRF=$(printf '%s' "$HTTP_BODY" | python3 -c '
import json, sys
try:
    print(json.load(sys.stdin).get("csrf_token", ""))
except Exception:
    print("")')
}

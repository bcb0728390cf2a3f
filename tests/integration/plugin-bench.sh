#!/bin/sh
# Run tests/plugin/bench_plugin against a real apitokend (not part of make
# check: timings on a shared machine are not a pass/fail matter).
#   cd BUILD && top_srcdir=SRC top_builddir=. \
#       sh SRC/tests/integration/plugin-bench.sh [N]
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/daemon.sh"

BENCH="$top_builddir/tests/plugin/bench_plugin"
SO="$top_builddir/plugin/.libs/validator.so"
PAMMOD="$top_builddir/plugin/pam/.libs/pam_apitoken.so"
daemon_config
ctl init >/dev/null 2>&1
ctl user add alice --email alice@example.com --role user --bu 7 >/dev/null
start_daemon || exit 99
T=$(ctl token generate alice 2>/dev/null)
mkdir "$scratch/pam.d"
echo "auth required $PAMMOD mode=local socket=$DAEMON_LOCAL_SOCKET" \
	>"$scratch/pam.d/bench"
APITOKEN_BENCH_TOKEN="$T" PAM_WRAPPER=1 \
	PAM_WRAPPER_SERVICE_DIR="$scratch/pam.d" \
	LD_PRELOAD=libpam_wrapper.so \
	"$BENCH" "$SO" "$DAEMON_LOCAL_SOCKET" "${1:-20000}" bench alice

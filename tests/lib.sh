# Shared helpers for the integration scripts: TAP output and a scratch
# folder.  Source it:  . "$top_srcdir/tests/lib.sh"
# Every script prints TAP ("ok N - what", "not ok N - what") and ends with
# done_testing, which prints the plan.  Exit 77 means skip, 99 hard error.

set -u
: "${top_srcdir:?run through make check}"
: "${top_builddir:?run through make check}"

tap_n=0
tap_failed=0

ok() {
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $*"
}

not_ok() {
	tap_n=$((tap_n + 1))
	tap_failed=$((tap_failed + 1))
	echo "not ok $tap_n - $*"
}

# check "description" command...: ok if the command succeeds.
check() {
	local what="$1"
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}

# check_eq "description" expected actual
check_eq() {
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		not_ok "$1"
		echo "# expected: $2"
		echo "# actual:   $3"
	fi
}

# check_match "description" extended-regex actual
check_match() {
	if printf '%s' "$3" | grep -Eq -- "$2"; then
		ok "$1"
	else
		not_ok "$1"
		echo "# expected to match: $2"
		echo "# actual: $3"
	fi
}

diag() { echo "# $*"; }

skip_all() {
	echo "1..0 # SKIP $*"
	exit 0
}

done_testing() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
	exit $?
}

# A scratch folder removed at exit; cleanup hooks may be added with
# at_exit "command".
scratch=$(mktemp -d "${TMPDIR:-/tmp}/apitoken-it.XXXXXX")
exit_hooks=""
at_exit() { exit_hooks="$1; $exit_hooks"; }
trap 'eval "$exit_hooks"; rm -rf "$scratch"' EXIT

APITOKENCTL="$top_builddir/core/apitokenctl"
APITOKEND="$top_builddir/introspect/apitokend"

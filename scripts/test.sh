#!/usr/bin/env bash
# The test command: install what is missing, build with -Werror, run every
# test.  The last line is "N passed, N failed, N skipped".
#   scripts/test.sh               normal build in build/normal
#   scripts/test.sh --sanitizers  ASan+UBSan build in build/sanitizers
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

flavour=normal
extra=()
if [ "${1:-}" = "--sanitizers" ]; then
	flavour=sanitizers
	extra=(--enable-sanitizers)
fi

scripts/install-deps.sh
if [ ! -x configure ] || [ configure.ac -nt configure ]; then
	autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
fi

build="$top/build/$flavour"
mkdir -p "$build"
cd "$build"
# (configure's conftest clean-up "rm -f core" complains about our core/
# folder; its output goes to configure.out.)
if [ ! -f Makefile ]; then
	"$top/configure" --enable-werror "${extra[@]}" >configure.out 2>&1 ||
		{ tail -n 30 configure.out; exit 2; }
fi
make -j"$(nproc)" >make.out 2>&1 || { tail -n 60 make.out; exit 2; }
find . -name '*.trs' -delete
status=0
timeout 2400 make -j"$(nproc)" check >check.out 2>&1 || status=$?
if [ "$status" -eq 124 ]; then
	# Count the run that never finished as a failure.
	echo "make check did not finish within 40 minutes"
	printf ':test-result: ERROR\n' >make-check-timeout.trs
fi
# Show what failed, with the log of each failing test.
grep -E '^(FAIL|ERROR|XPASS)' check.out || true
for log in $(grep -lE ':test-result: (FAIL|ERROR|XPASS)' $(find . -name '*.trs') 2>/dev/null); do
	echo "---- ${log%.trs}.log"
	grep -E '^(not ok|#)' "${log%.trs}.log" | head -n 40 || true
done
"$top/scripts/test-summary.sh" .

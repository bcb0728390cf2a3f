#!/usr/bin/env bash
# Count the results of a "make check" run in build folder $1 and print
# "N passed, N failed, N skipped".  Exit 1 if any failed or none ran.
set -euo pipefail
dir="${1:-.}"
pass=0 fail=0 skip=0
while read -r res; do
	case "$res" in
	PASS | XFAIL) pass=$((pass + 1)) ;;
	SKIP) skip=$((skip + 1)) ;;
	*) fail=$((fail + 1)) ;;
	esac
done < <(find "$dir" -name '*.trs' -exec sed -n 's/^:test-result: \([A-Z]*\).*/\1/p' {} +)
# A test program that crashed before reporting is an ERROR line above.
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && [ $((pass + skip)) -gt 0 ]

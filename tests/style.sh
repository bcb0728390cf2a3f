#!/bin/sh
# Every C source and header follows the project's .clang-format.
. "$top_srcdir/tests/lib.sh"

command -v clang-format >/dev/null 2>&1 || skip_all "clang-format not installed"
cd "$top_srcdir" || exit 99
for f in core/*.c core/*.h core/*/*.c core/include/apitoken/*.h \
	introspect/*.c introspect/*.h plugin/*.c plugin/*.h plugin/*/*.c \
	plugin/include/apitoken/*.h tests/*/*.c tests/*/*.h; do
	[ -f "$f" ] || continue
	if clang-format --dry-run --Werror "$f" >"$scratch/fmt" 2>&1; then
		ok "$f is clang-formatted"
	else
		not_ok "$f is clang-formatted"
		head -n 6 "$scratch/fmt" | sed 's/^/# /'
	fi
done
done_testing

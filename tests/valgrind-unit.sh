#!/bin/sh
# Run every Check unit suite (token, config, policy, store, codec, ...) once
# more under valgrind memcheck: no invalid access, no use of uninitialised
# memory, no definite or indirect leak.  Skipped in the sanitizer build
# (ASan and valgrind cannot share a process) and where valgrind is missing.
. "$top_srcdir/tests/lib.sh"

command -v valgrind >/dev/null 2>&1 || skip_all "valgrind not installed"
if grep -q -- '-fsanitize=' "$top_builddir/Makefile" 2>/dev/null; then
	skip_all "sanitizer build"
fi

for suite in "$top_builddir"/tests/unit/test_*; do
	[ -x "$suite" ] && [ -f "$suite" ] || continue
	case "$suite" in *.o | *.log | *.trs) continue ;; esac
	name=$(basename "$suite")
	log="$scratch/$name.valgrind"
	if CK_FORK=no CK_DEFAULT_TIMEOUT=600 "$top_builddir/libtool" \
		--mode=execute valgrind -q --fair-sched=yes --error-exitcode=42 \
		--suppressions="$top_srcdir/tests/valgrind-libdb.supp" \
		--leak-check=full --errors-for-leak-kinds=definite,indirect \
		--track-origins=yes "$suite" >"$log" 2>&1; then
		ok "$name is valgrind-clean"
	else
		not_ok "$name is valgrind-clean"
		grep -E '^==[0-9]+==|^not ok' "$log" | head -n 30 | sed 's/^/# /'
	fi
done
done_testing

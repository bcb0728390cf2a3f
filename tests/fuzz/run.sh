#!/bin/sh
# make check: build the libFuzzer targets (tests/fuzz/build.sh) and run
# each one for a few seconds from its committed corpus (which holds every
# input that ever crashed a target: each must pass now).  Skipped without
# clang and libFuzzer.  FUZZ_SECONDS (default 5) sets the time per target;
# README.md says how to run them for hours.
. "$top_srcdir/tests/lib.sh"

bin="$top_builddir/tests/fuzz/bin"
"$top_srcdir/tests/fuzz/build.sh" "$top_builddir" "$bin" \
	>"$scratch/build.log" 2>&1
rc=$?
[ "$rc" -eq 77 ] && skip_all "no clang with libFuzzer ($(tail -n 1 "$scratch/build.log"))"
if [ "$rc" -ne 0 ]; then
	sed 's/^/# /' "$scratch/build.log"
	not_ok "the fuzz targets build"
	done_testing
fi
ok "the fuzz targets build"

secs=${FUZZ_SECONDS:-5}
for h in "$top_srcdir"/tests/fuzz/fuzz_*.c; do
	t=$(basename "$h" .c)
	t=${t#fuzz_}
	corpus="$scratch/corpus-$t"
	mkdir -p "$corpus"
	cp "$top_srcdir/tests/fuzz/corpus/$t/"* "$corpus/" 2>/dev/null
	# New inputs go to the scratch copy; the committed corpus stays.
	(cd "$scratch" && ASAN_OPTIONS=detect_leaks=1 \
		"$bin/fuzz_$t" -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=1024 -print_final_stats=1 "$corpus" \
		>"$scratch/$t.log" 2>&1)
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/$t.log")
	if [ "$rc" -eq 0 ]; then
		ok "fuzz_$t: ${runs:-?} inputs in ${secs}s, no finding"
	else
		grep -E 'ERROR|runtime error|SUMMARY|Assertion|Test unit' \
			"$scratch/$t.log" | head -n 20 | sed 's/^/# /'
		not_ok "fuzz_$t: a finding (log above)"
	fi
done
done_testing

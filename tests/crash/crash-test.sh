#!/bin/sh
# kill -9 a writer of the store at random moments and check after each
# round that the store opens, that every reported change survived, that no
# replaced or revoked token came back, and that at most the one call in
# flight at the kill is undecided.  About 30 seconds.
. "$top_srcdir/tests/lib.sh"

writer="$top_builddir/tests/crash/crash_writer"
[ -x "$writer" ] || skip_all "crash_writer not built"
store="$scratch/store"
log="$scratch/ops.log"
rounds=8
users=300

# Random pauses from $RANDOM if the shell has it, else from the clock.
pause_ms() {
	r=${RANDOM:-$(date +%N | sed 's/^0*//')}
	echo $(( 300 + ${r:-0} % 2700 ))
}

total_lines=0
round=1
while [ "$round" -le "$rounds" ]; do
	"$writer" write "$store" "$log" "$users" 20 2>"$scratch/writer.err" &
	pid=$!
	ms=$(pause_ms)
	sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid"
		wait "$pid" 2>/dev/null
		status=$?
	else
		wait "$pid"
		status=$?
	fi
	check_eq "round $round: writer was killed by SIGKILL, not failed" \
		137 "$status"
	if [ "$status" -ne 137 ]; then
		sed 's/^/# /' "$scratch/writer.err"
	fi
	out=$("$writer" verify "$store" "$log" 2>&1)
	vstatus=$?
	printf '%s\n' "$out" | grep '^#'
	check_eq "round $round (killed after ${ms} ms): store opens and matches every reported call" \
		0 "$vstatus"
	round=$((round + 1))
done
lines=$(grep -c '^issued\|^revoked' "$log")
diag "$lines calls reported in $rounds rounds"
check "thousands of calls were made and reported" [ "$lines" -ge 1000 ]
done_testing

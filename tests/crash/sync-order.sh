#!/bin/sh
# Power loss: the kill -9 test (crash-test.sh) cannot show that a change
# reported as done is on stable storage, since the page cache outlives a
# killed process.  This one watches the system calls (strace): for every
# write command of apitokenctl, offline, and for apitokend's answers over
# HTTP (/revoke) and the admin socket, each write to the transaction log
# must be followed by an fdatasync/fsync of the log before the success is
# reported (tests/crash/sync-order.py).  Berkeley DB's write-ahead log is
# what recovery replays, so a synced log is a durable change.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/daemon.sh"

command -v strace >/dev/null || skip_all "strace not installed"
command -v python3 >/dev/null || skip_all "python3 not installed"
[ -x "$APITOKENCTL" ] || skip_all "apitokenctl not built"
[ -x "$APITOKEND" ] || skip_all "apitokend not built"
strace -f -o /dev/null true 2>/dev/null || skip_all "strace cannot trace here"
SYNC_ORDER="$top_srcdir/tests/crash/sync-order.py"
# LeakSanitizer cannot run under ptrace (sanitizer build); leaks are the
# other tests' business.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
export ASAN_OPTIONS
CALLS=write,writev,pwrite64,pwritev,pwritev2,fsync,fdatasync,sendmsg,sendto

daemon_config
"$APITOKENCTL" init >/dev/null 2>&1 ||
	{ echo "Bail out! apitokenctl init failed"; exit 99; }

# traced NAME COMMAND...: run apitokenctl COMMAND under strace, then check
# the order of log writes, syncs and its report on stdout/stderr.
n=0
traced() {
	local name="$1" out
	shift
	n=$((n + 1))
	mkdir -p "$scratch/t$n"
	strace -f -ff -y -e trace=$CALLS -o "$scratch/t$n/tr" \
		"$APITOKENCTL" "$@" >"$scratch/t$n/stdout" 2>&1
	check_eq "$name: succeeds" 0 "$?"
	out=$(python3 "$SYNC_ORDER" stdio "$scratch/t$n"/tr.*)
	check_eq "$name: the log is synced before success is reported" 0 \
		"$?"
	diag "$name: $(printf '%s' "$out" | tr '\n' ' ')"
}

traced "user add" user add alice --email alice@example.org --role user
traced "token generate" token generate alice
traced "role change" user set alice --role admin
traced "API access off" user api-access alice off
traced "API access on" user api-access alice on
traced "token revoke" token revoke alice
traced "client add" client add rs1 --can-revoke
SR=$(sed -n 's/.*\(apicli_[0-9A-Za-z]*\).*/\1/p' "$scratch/t$n/stdout" |
	tail -n 1)
traced "user remove" user remove alice

# apitokend: its worker thread commits, then answers.
"$APITOKENCTL" user add bob --email bob@example.org --role user \
	>/dev/null 2>&1
TB=$("$APITOKENCTL" token generate bob 2>/dev/null)
mkdir -p "$scratch/d"
DAEMON_WRAPPER="strace -f -ff -yy -e trace=$CALLS -o $scratch/d/tr"
start_daemon --pidfile "$scratch/d.pid" ||
	{ echo "Bail out! apitokend did not start under strace"; exit 99; }
http POST /revoke -u "rs1:$SR" -d "token=$TB"
check_eq "apitokend /revoke: 200" 200 "$HTTP_CODE"
"$APITOKENCTL" token generate bob >/dev/null 2>&1
check_eq "apitokend admin socket: token generate succeeds" 0 "$?"
"$APITOKENCTL" user set bob --role admin >/dev/null 2>&1
check_eq "apitokend admin socket: role change succeeds" 0 "$?"
# DAEMON_PID is strace's: stop apitokend itself, strace then ends too.
kill -TERM "$(cat "$scratch/d.pid")"
for i in $(seq 1 100); do
	kill -0 "$DAEMON_PID" 2>/dev/null || break
	sleep 0.1
done
stop_daemon
check_eq "apitokend under strace: clean exit" 0 "$?"
out=$(python3 "$SYNC_ORDER" sock "$scratch/d"/tr.*)
check_eq "apitokend: the log is synced before each answer is sent" 0 "$?"
diag "apitokend: $(printf '%s' "$out" | tr '\n' ' ')"
check_match "... and the check saw its log writes (not vacuous)" \
	'[1-9][0-9]* log writes' "$out"

done_testing

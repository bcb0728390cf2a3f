#!/bin/sh
# Offline and online give the same answers: every command runs once with
# apitokenctl opening the store itself (folder off/) and once through the
# admin socket of a process that holds the store (folder on/).  That
# process is first admin_echo_server (a stand-in that only serves the admin
# socket), then the real apitokend when it is built.  stdout, stderr and
# exit codes must match once times, random ids, tokens, folders and the
# origin are masked.
. "$top_srcdir/tests/lib.sh"

SERVER="$top_builddir/tests/integration/admin_echo_server"
[ -x "$SERVER" ] || skip_all "admin_echo_server not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 not found"

cfg="$scratch/apitoken.json"
cat >"$cfg" <<'EOF'
{ "roles": { "admin": ["api:read", "api:write"], "reader": ["api:read"] },
  "listen": "127.0.0.1:0" }
EOF

# ctl SIDE ARGS...: apitokenctl in SIDE's folder; stdout/stderr/rc files.
ctl() {
	side=$1
	shift
	(cd "$scratch/$side" &&
		"$APITOKENCTL" --config "$cfg" --store store "$@" \
			>"$scratch/$side.out" 2>"$scratch/$side.err"
		echo $? >"$scratch/$side.rc")
}

mask() {
	sed -E -e 's/apitok_[0-9A-Za-z]{49}/TOKEN/g' \
		-e 's/apicli_[0-9A-Za-z]{49}/SECRET/g' \
		-e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z/TIME/g' \
		-e 's/\b[0-9]{10}\b/EPOCH/g' \
		-e 's/\b[0-9A-Za-z]{16}\b/ID/g' \
		-e 's/\.\.\.[0-9A-Za-z]{4}/...HINT/g' \
		-e 's/"hint":(\s*)"[0-9A-Za-z]{4}"/"hint":\1"HINT"/' \
		-e "s#$scratch/(on|off)/#DIR/#g" \
		-e 's/apitokenctl uid [0-9]+|admin socket \(test\)|admin socket uid [0-9]+ pid [0-9]+/ORIGIN/g' \
		-e 's/(apitokenctl pid [0-9]+|admin socket pid [0-9]+) */SOURCE /g' \
		"$1"
}

# same [<INPUT-NAME] ARGS...: run on both sides (stdin from
# SIDE/INPUT-NAME when the first argument is "<NAME"), compare.
same() {
	input=""
	case "$1" in "<"*) input=${1#<}; shift ;; esac
	for side in off on; do
		if [ -n "$input" ]; then
			ctl "$side" "$@" <"$scratch/$side/$input"
		else
			ctl "$side" "$@" </dev/null
		fi
		{
			echo "exit $(cat "$scratch/$side.rc")"
			echo "-- stdout"
			mask "$scratch/$side.out"
			echo "-- stderr"
			mask "$scratch/$side.err"
		} >"$scratch/$side.all"
	done
	if cmp -s "$scratch/off.all" "$scratch/on.all"; then
		ok "$backend: same offline and online: $*"
	else
		not_ok "$backend: same offline and online: $*"
		diff "$scratch/off.all" "$scratch/on.all" | sed 's/^/# /'
	fi
}

# wait_for 'SHELL CONDITION': poll it for up to 20 s.
wait_for() {
	i=0
	while ! eval "$1" && [ $i -lt 200 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	eval "$1"
}

fresh_stores() {
	rm -rf "$scratch/off" "$scratch/on"
	mkdir "$scratch/off" "$scratch/on"
	ctl off init
	ctl on init
}

scenario() {
	same init
	same user add alice --email alice@example.com --role admin --bu 12
	same user add alice --email alice@example.com --role admin
	same user add carol --email nope --role admin
	same user add carol --email c@example.com --role wizard
	same user add carol --email c@example.com --role admin --colour red
	same user add bob --email bob@example.com --role reader --bu 1 --bu 2
	same user show alice
	same --json user show alice
	same user list
	same --json user list
	same --json user add dave --email d@example.com --role reader --bu 9
	same --json user set dave --clear-bu
	same --json user api-access dave off
	same --json user remove dave
	same user set bob --role admin --clear-bu
	same user api-access bob off
	same user api-access bob maybe
	same token generate bob
	same user api-access bob on
	same token generate alice
	for side in off on; do cp "$scratch/$side.out" "$scratch/$side/tok"; done
	same token generate alice
	same "<tok" token check
	same "<tok" --json token check
	same token check apitok_0000000000000000000000000000000000000000000000000
	same token show alice
	same --json token show alice
	same token list
	same --json token list --expiring-within 181d
	same token list --expiring-within 1x
	same --json token generate bob
	for side in off on; do
		python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' \
			<"$scratch/$side.out" >"$scratch/$side/tokbob" 2>/dev/null
	done
	same "<tokbob" token check
	same token revoke bob
	same "<tokbob" token check
	same token revoke bob
	printf 'dan,dan@example.com,reader\nbad line\nemma,emma@example.com,admin,3;4\n' \
		>"$scratch/users.csv"
	cp "$scratch/users.csv" "$scratch/off/users.csv"
	cp "$scratch/users.csv" "$scratch/on/users.csv"
	same user import users.csv
	same "<users.csv" user import -
	same user import missing.csv
	same client add rs1 --name "Resource server" --can-revoke
	same client list
	same --json client list
	same client remove rs1
	same client remove rs1
	same user remove alice
	same "<tok" token check
	same audit
	same --json audit alice
	same outbox list
	same --json outbox list
	same outbox retry
	same purge
	same frobnicate
	same help
}

# ---- pass 1: the stand-in --------------------------------------------------
backend=stand-in
fresh_stores
(cd "$scratch/on" && exec "$SERVER" "$cfg" "$scratch/on/store") \
	>"$scratch/server.out" 2>"$scratch/server.err" &
server_pid=$!
at_exit "kill $server_pid 2>/dev/null"
if ! wait_for 'test "$(cat "$scratch/server.out")" = ready'; then
	sed 's/^/# /' "$scratch/server.err"
	echo "Bail out! admin_echo_server did not start"
	exit 99
fi
scenario

# An import larger than the socket's 16 MiB limit: refused before sending.
awk 'BEGIN { for (i = 0; i < 400000; i++)
	printf "huge%07d,huge%07d@example.com,reader,1;2;3\n", i, i }' \
	>"$scratch/on/huge.csv"
ctl on user import huge.csv
check_eq "online import over 16 MiB: exit 65" 65 "$(cat "$scratch/on.rc")"
check_match "online import over 16 MiB: says why" \
	"^apitokenctl: user import: huge.csv is larger than the admin socket's limit" \
	"$(cat "$scratch/on.err")"
ctl on --json user list
check "online import over 16 MiB: nobody added" python3 -c \
	"import json,sys; assert not any(u['user'].startswith('huge') for u in json.load(open(sys.argv[1])))" \
	"$scratch/on.out"
rm -f "$scratch/on/huge.csv"

# A NUL byte cannot travel in the request's JSON: the file is refused.
printf 'nul1,nul1@example.com,reader\nnu\000l2,nul2@example.com,reader\n' \
	>"$scratch/on/nul.csv"
ctl on user import nul.csv
check_eq "online import with a NUL byte: refused, exit 65" \
	"65 apitokenctl: user import: nul.csv contains a NUL byte (not a text file?)" \
	"$(cat "$scratch/on.rc") $(cat "$scratch/on.err")"

# The command really went through the socket: the stand-in's origin.
ctl on audit
check_match "online commands ran inside the store's owner" \
	"admin socket pid [0-9]+" "$(cat "$scratch/on.out")"
ctl off audit
case "$(cat "$scratch/off.out")" in
*"admin socket"*) not_ok "offline commands ran in apitokenctl" ;;
*) ok "offline commands ran in apitokenctl" ;;
esac

# A holder that does not answer: a clear error, not a hang.
rm -f "$scratch/on/store/admin.sock"
ctl on user list
check_eq "owner without a socket: exit 69" 69 "$(cat "$scratch/on.rc")"
check_match "owner without a socket: says so" \
	"^apitokenctl: cannot reach apitokend on $scratch/on/store/admin.sock" \
	"$(cat "$scratch/on.err")"

# Once the owner is gone, apitokenctl opens the store itself again.
kill "$server_pid"
wait "$server_pid" 2>/dev/null
ctl on user show dan
check_eq "owner gone: offline again" 0 "$(cat "$scratch/on.rc")"


# ---- pass 2: the real apitokend ---------------------------------------------
backend=apitokend
if [ ! -x "$APITOKEND" ]; then
	diag "apitokend not built: second pass skipped"
	done_testing
fi
fresh_stores
(cd "$scratch/on" && exec "$APITOKEND" --foreground --config "$cfg" \
	--store store --log-level warning) 2>"$scratch/daemon.log" &
daemon_pid=$!
at_exit "kill $daemon_pid 2>/dev/null"
if ! wait_for 'test -S "$scratch/on/store/admin.sock"'; then
	sed 's/^/# /' "$scratch/daemon.log"
	echo "Bail out! apitokend did not start"
	exit 99
fi
scenario
# Many admins at once: apitokend runs their commands in parallel threads.
# (Wait for these jobs by pid: a bare "wait" would wait for the daemon.)
par_pids=""
for n in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do
	(cd "$scratch/on" &&
		"$APITOKENCTL" --config "$cfg" --store store user add "par$n" \
			--email "par$n@example.com" --role reader >/dev/null &&
		"$APITOKENCTL" --config "$cfg" --store store token generate \
			"par$n" >"$scratch/par$n.tok" 2>/dev/null) &
	par_pids="$par_pids $!"
done
# shellcheck disable=SC2086
wait $par_pids
ctl on --json token list
check "apitokend: 16 parallel add+generate all done" python3 -c \
	"import json,sys; d = json.load(open(sys.argv[1]))
assert sorted(t['user'] for t in d if t['user'].startswith('par')) == sorted('par%d' % n for n in range(1, 17))" \
	"$scratch/on.out"
cp "$scratch/par7.tok" "$scratch/on/par7.tok"
ctl on token check <"$scratch/on/par7.tok"
check_eq "apitokend: a token from the parallel run is active" 0 \
	"$(cat "$scratch/on.rc")"
ctl on audit
check_match "apitokend: online commands ran inside the daemon" \
	"admin socket pid [0-9]+" "$(cat "$scratch/on.out")"
kill "$daemon_pid"
wait "$daemon_pid" 2>/dev/null
ctl on user show dan
check_eq "apitokend stopped: offline again" 0 "$(cat "$scratch/on.rc")"

done_testing

#!/bin/sh
# apitokenctl as an administrator uses it, with the store opened by
# apitokenctl itself (no daemon): users, tokens, clients, audit, purge,
# bad input, --json, and that no secret leaks into any other output.
. "$top_srcdir/tests/lib.sh"

command -v python3 >/dev/null 2>&1 || skip_all "python3 not found"

cfg="$scratch/apitoken.json"
cat >"$cfg" <<'EOF'
{ "roles": { "admin": ["api:read", "api:write", "api:admin"],
             "reader": ["api:read"] } }
EOF
store="$scratch/store"

# run ARGS...: apitokenctl with the test config; sets out, err, rc.
run() {
	out=$("$APITOKENCTL" --config "$cfg" --store "$store" "$@" \
		2>"$scratch/stderr")
	rc=$?
	err=$(cat "$scratch/stderr")
}

# json_ok PYTHON-EXPR: evaluate the expression with d = json of $out.
json_ok() {
	printf '%s' "$out" | python3 -c "import json,sys
d = json.load(sys.stdin)
sys.exit(0 if ($1) else 1)"
}

# ---- store life ----------------------------------------------------------
run user list
check_eq "missing store: exit 69" 69 "$rc"
check_eq "missing store: says to run init" \
	"apitokenctl: store $store does not exist; run apitokenctl init" "$err"
run init
check_eq "init creates the store" "0 created store $store" "$rc $out"
run init
check_eq "init again: fine, says so" "0 store $store already exists" \
	"$rc $out"

# ---- users ---------------------------------------------------------------
run user add alice --email alice@example.com --role admin --bu 12 --bu 34
check_eq "user add alice" "0 added user alice" "$rc $out"
run user add bob --email=bob@example.com --role=reader
check_eq "user add bob (--opt=value)" 0 "$rc"
run user show alice
check_match "user show: role" "role: +admin" "$out"
check_match "user show: units" "business_units: 12 34" "$out"
check_match "user show: no token yet" "token: +none" "$out"
check_match "user show: ISO 8601 UTC times" \
	"created: +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z" "$out"
run --json user list
check "user list --json: both users, units kept" json_ok \
	"[u['user'] for u in d] == ['alice', 'bob'] and \
	 d[0]['business_units'] == ['12', '34'] and d[1]['role'] == 'reader' \
	 and d[0]['api_access'] is True"
run --json user show bob
check "user show --json" json_ok \
	"d['user'] == 'bob' and d['email'] == 'bob@example.com' and \
	 d['token'] is None"

# Changes print the record as it now is with --json.
run --json user add dora --email dora@example.com --role reader --bu 7
check "user add --json: the new record" json_ok \
	"d['user'] == 'dora' and d['role'] == 'reader' and \
	 d['business_units'] == ['7'] and d['api_access'] is True"
run --json user set dora --role admin --clear-bu
check "user set --json: the changed record" json_ok \
	"d['role'] == 'admin' and d['business_units'] == []"
run --json user api-access dora off
check "user api-access --json: access off" json_ok "d['api_access'] is False"
run --json user remove dora
check "user remove --json" json_ok "d == {'user': 'dora', 'removed': True}"
run --json user remove dora
check_eq "user remove --json, unknown user: exit 67, no stdout" "67 " \
	"$rc $out"

# ---- bad input: one clear line, right code, nothing changed ---------------
run --json user list
users_before=$out
run --json audit
audit_before=$out

# bad CODE MESSAGE-REGEX ARGS...
bad() {
	code=$1 msg=$2
	shift 2
	run "$@"
	lines=$(printf '%s\n' "$err" | wc -l)
	if [ "$rc" = "$code" ] && [ "$lines" -eq 1 ] && [ -z "$out" ] &&
		printf '%s' "$err" | grep -Eq -- "^apitokenctl: .*$msg"; then
		ok "refused ($code): $*"
	else
		not_ok "refused ($code): $*"
		diag "exit $rc, stdout '$out', stderr '$err'"
	fi
}
bad 64 "unknown command 'frobnicate'" frobnicate
bad 64 "unknown option '--colour'" user add carol --email c@example.com \
	--role admin --colour red
bad 64 "--role ROLE is required" user add carol --email c@example.com
bad 64 "missing USER" user add --email c@example.com --role admin
bad 64 "needs a value" user add carol --email c@example.com --role
bad 65 "invalid email address 'carol.example.com'" user add carol \
	--email carol.example.com --role admin
bad 65 "space or control" user add carol --email "c arol@example.com" \
	--role admin
# One rule for the CLI, the store and the mailer: what the mailer could
# not send is refused at the door, naming the field.
bad 65 "email address 'a<b@example.com' contains a character that mail" \
	user add carol --email "a<b@example.com" --role admin
bad 65 "email address 'jos.+@x' contains a character that mail" user add carol \
	--email "$(printf 'jos\303\251@x')" --role admin
bad 65 "unknown role 'wizard'" user add carol --email c@example.com \
	--role wizard
bad 65 "invalid business unit id 'a b'" user add carol \
	--email c@example.com --role admin --bu "a b"
bad 65 "invalid user name" user add 'car ol' --email c@example.com \
	--role admin
bad 73 "already" user add alice --email a2@example.com --role reader
bad 65 "unknown role" user set alice --role wizard
bad 64 "nothing to change" user set alice
bad 64 "expected 'on' or 'off'" user api-access alice maybe
bad 67 "" user show nobody
bad 67 "" user remove nobody
bad 65 "invalid duration '5x'" token list --expiring-within 5x
bad 65 "invalid duration" token list --expiring-within -3d
bad 64 "missing sub-command" token
bad 64 "unknown sub-command 'explode'" token explode
bad 67 "" token generate nobody
bad 67 "" token revoke alice
bad 64 "unknown option '--frob'" --frob user list
bad 64 "unexpected argument 'extra'" user list extra
bad 65 "invalid client id" client add "bad id"
run --json user list
check_eq "bad input changed no user" "$users_before" "$out"
run --json audit
check_eq "bad input wrote no audit record" "$audit_before" "$out"

# ---- tokens --------------------------------------------------------------
tokre='^apitok_[0-9A-Za-z]{49}$'
run token generate alice
tok1=$out
check_eq "generate: exit 0" 0 "$rc"
check_eq "generate: exactly one line on stdout" 1 \
	"$(printf '%s\n' "$out" | wc -l)"
check_match "generate: the line is a token" "$tokre" "$out"
check_match "generate: id and expiry on stderr" \
	"token [0-9A-Za-z]{16} for user alice, expires" "$err"
run token generate alice
check_eq "generate again: refused with exit 73" 73 "$rc"
check_eq "generate again: the exact message" \
	"apitokenctl: user alice already has a token; use --replace to regenerate" \
	"$err"
check_eq "generate again: nothing on stdout" "" "$out"
printf '%s\n' "$tok1" >"$scratch/tok1"
run token check <"$scratch/tok1"
check_eq "first token still active after the refusal" 0 "$rc"

run token generate alice --replace
tok2=$out
check_match "--replace prints a new token" "$tokre" "$tok2"
[ "$tok1" != "$tok2" ] && ok "the new token differs" || not_ok "new token"
printf '%s\n' "$tok2" >"$scratch/tok2"
run token check <"$scratch/tok1"
check_eq "old token after --replace: inactive (exit 1)" \
	"1 active:         no" "$rc $out"
run token check <"$scratch/tok2"
check_eq "new token: active (exit 0)" 0 "$rc"
check_match "check: scope from role and units" \
	"scope: +api:read api:write api:admin bu:12 bu:34" "$out"
printf '%s\r\n' "$tok2" | { run token check; echo "$rc" >"$scratch/rc"; }
check_eq "check strips CR LF" 0 "$(cat "$scratch/rc")"

run --json token check <"$scratch/tok2"
check "token check --json: RFC 7662 claims" json_ok \
	"d['active'] is True and d['username'] == 'alice' and \
	 d['business_units'] == ['12', '34'] and 'api:admin' in d['scope'] \
	 and isinstance(d['exp'], int) and len(d['jti']) == 16"
printf 'garbage\n' >"$scratch/garbage"
run token check <"$scratch/garbage"
check_eq "malformed token: inactive" "1 active:         no" "$rc $out"
run token check </dev/null
check_eq "no token on stdin: exit 65" 65 "$rc"

run token check "$tok2"
check_eq "token in argv: refused (64)" 64 "$rc"
check_match "token in argv: says to use stdin" "standard input" "$err"
case "$out$err" in
*"$tok2"*) not_ok "token in argv: not echoed" ;;
*) ok "token in argv: not echoed" ;;
esac

# Role and units are read at check time.
run user set alice --role reader --bu 99
check_eq "user set role/units" "0 updated user alice" "$rc $out"
run token check <"$scratch/tok2"
check_match "role change: new scope at once" "scope: +api:read bu:99$" "$out"
run user set alice --clear-bu
run --json token check <"$scratch/tok2"
check "--clear-bu: no unit scope" json_ok \
	"d['scope'] == 'api:read' and d['business_units'] == []"
run user set alice --role admin --bu 12

run user api-access alice off
check_eq "api-access off" 0 "$rc"
run token check <"$scratch/tok2"
check_eq "api-access off: token inactive" 1 "$rc"
run token show alice
check_match "token show: disabled" "status: +disabled" "$out"
run token generate alice --replace
check_eq "api-access off: generate refused (77)" 77 "$rc"
check_eq "api-access off: nothing on stdout" "" "$out"
run user api-access alice on
run token check <"$scratch/tok2"
check_eq "api-access on: token active again" 0 "$rc"

run token show alice
check_match "token show: id" "^id: +[0-9A-Za-z]{16}" "$out"
check_match "token show: hint is the last 4 characters" \
	"hint: +\.\.\.$(printf '%s' "$tok2" | tail -c 4)" "$out"
check_match "token show: active" "status: +active" "$out"
run --json token show alice
check "token show --json" json_ok \
	"d['user'] == 'alice' and d['status'] == 'active' and \
	 d['exp'] > d['iat'] and 'token' not in d"
run --json token generate bob
check "generate --json: token, id, exp" json_ok \
	"__import__('re').match('$tokre', d['token']) and \
	 len(d['id']) == 16 and isinstance(d['exp'], int)"
tok_bob=$(printf '%s' "$out" | python3 -c \
	'import json,sys; print(json.load(sys.stdin)["token"])')
printf '%s\n' "$tok_bob" >"$scratch/tokbob"
run --json token list
check "token list --json: alice and bob" json_ok \
	"sorted(t['user'] for t in d) == ['alice', 'bob']"
run token list --expiring-within 1d
check_eq "token list --expiring-within 1d: none (180 days)" 1 \
	"$(printf '%s\n' "$out" | wc -l)"
run token list --expiring-within 181d
check_eq "token list --expiring-within 181d: both" 3 \
	"$(printf '%s\n' "$out" | wc -l)"

run token revoke bob
check_match "revoke" "^revoked token [0-9A-Za-z]{16} of user bob$" "$out"
run token check <"$scratch/tokbob"
check_eq "revoked token: inactive" 1 "$rc"
run token revoke bob
check_eq "revoke again: 67" 67 "$rc"

run token generate bob
printf '%s\n' "$out" >"$scratch/tokbob2"
tok_bob2=$out
run user remove bob
check_eq "user remove" "0 removed user bob" "$rc $out"
run token check <"$scratch/tokbob2"
check_eq "removed user's token: inactive" 1 "$rc"

# ---- clients -------------------------------------------------------------
run client add rs1 --name "Resource server 1" --can-revoke
csec=$out
check_eq "client add: exit 0" 0 "$rc"
check_match "client add: one secret line" '^apicli_[0-9A-Za-z]{49}$' "$out"
run client add rs1
check_eq "client add twice: 73" 73 "$rc"
run client add rs2
run client list
check_match "client list: rs1 can revoke" "^rs1 +yes .*Resource server 1$" \
	"$(printf '%s\n' "$out" | grep '^rs1')"
run --json client list
check "client list --json" json_ok \
	"[c['client_id'] for c in d] == ['rs1', 'rs2'] and \
	 d[0]['can_revoke'] is True and d[1]['can_revoke'] is False"
run client remove rs2
check_eq "client remove" "0 removed client rs2" "$rc $out"
run client remove rs2
check_eq "client remove unknown: 67" 67 "$rc"

# ---- audit, outbox; no secret anywhere ------------------------------------
run audit
audit_text=$out
for ev in user-added user-changed issued replaced revoked user-removed \
	client-added client-removed; do
	check_match "audit shows $ev" " $ev " "$audit_text"
done
run audit alice
check_eq "audit USER: only alice's records" "" \
	"$(printf '%s\n' "$out" | sed 1d | grep -v ' alice ')"
run --json audit
check "audit --json: JSON lines with event, actor and source" python3 -c \
	"import json,sys
d = [json.loads(l) for l in sys.argv[1].splitlines()]
assert len(d) > 5 and all('event' in r and r['actor'] == 'admin' and
                          r['source'].startswith('apitokenctl pid ')
                          for r in d)" "$out"
run outbox list
check_match "outbox list: created notice for alice" \
	"created +alice +alice@example.com" "$out"
run --json outbox list
check "outbox list --json" json_ok \
	"any(n['kind'] == 'revoked' and n['user'] == 'bob' for n in d)"
run outbox retry
check_match "outbox retry" "^[0-9]+ notifications? due now$" "$out"
run --json outbox list
check "outbox retry: every notice due now" json_ok \
	"len(d) > 0 and all(n['next_attempt'] <= $(date +%s) + 1 for n in d)"

all=""
for args in "audit" "--json audit" "user list" "--json user list" \
	"user show alice" "--json user show alice" "token list" \
	"--json token list" "token show alice" "--json token show alice" \
	"client list" "--json client list" "outbox list" "--json outbox list"; do
	# shellcheck disable=SC2086
	run $args
	all="$all$out$err"
done
leak=0
for s in "$tok1" "$tok2" "$tok_bob" "$tok_bob2" "$csec" \
	"$(printf '%s' "$tok2" | cut -c8-30)"; do
	case "$all" in *"$s"*) leak=1 ;; esac
done
check_eq "no secret in audit, list, show or outbox output" 0 "$leak"
# Nor in the store's files: only hashes are kept.
if grep -rqF -- "$tok2" "$store" 2>/dev/null; then
	not_ok "no secret in the store's files"
else
	ok "no secret in the store's files"
fi

# ---- help, version ---------------------------------------------------------
out=$("$APITOKENCTL" --help)
check_match "--help prints usage" "^usage: apitokenctl" "$out"
out=$("$APITOKENCTL" help)
check_match "help prints usage" "token generate USER" "$out"
out=$("$APITOKENCTL" --version)
check_match "--version" "^apitokenctl \(apitoken\) [0-9]" "$out"
"$APITOKENCTL" >/dev/null 2>&1
check_eq "no command: 64" 64 "$?"
out=$("$APITOKENCTL" --config "$scratch/nope.json" user list 2>&1)
check_eq "missing config file: 78" 78 "$?"

# ---- expiry and purge (2 s lifetime) ---------------------------------------
cat >"$cfg" <<'EOF'
{ "roles": { "admin": ["api:read"] }, "token_lifetime": "2s" }
EOF
store="$scratch/store2"
run init
run user add eve --email eve@example.com --role admin
run token generate eve
printf '%s\n' "$out" >"$scratch/tokeve"
run token check <"$scratch/tokeve"
check_eq "short-lived token active at first" 0 "$rc"
run purge
check_eq "purge before expiry: nothing" "0 purged 0 expired tokens" "$rc $out"
sleep 3
run token check <"$scratch/tokeve"
check_eq "after its lifetime: inactive" 1 "$rc"
run token show eve
check_match "token show: expired (until purged)" "status: +expired" "$out"
run purge
check_eq "purge deletes it" "0 purged 1 expired token" "$rc $out"
run token show eve
check_eq "after purge: no token (67)" 67 "$rc"
run audit eve
check_match "audit records the expiry" " expired " "$out"
run --json purge
check "purge --json" json_ok "d['purged'] == 0"

# "token check" on a terminal reads without echo; Ctrl-C at the prompt
# must give the terminal its echo back.
cat >"$scratch/ctrlc.py" <<'PY'
import os, pty, select, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
buf, end = b"", time.time() + 10
while b"token: " not in buf and time.time() < end:
    if select.select([fd], [], [], 0.2)[0]:
        try:
            buf += os.read(fd, 1024)
        except OSError:
            break
time.sleep(0.2)
os.write(fd, b"\x03")
_, st = os.waitpid(pid, 0)
echo = termios.tcgetattr(fd)[3] & termios.ECHO
print("prompt" if b"token: " in buf else "no-prompt",
      "signal" if os.WIFSIGNALED(st) else "exit",
      "echo-on" if echo else "echo-off")
PY
out=$(python3 "$scratch/ctrlc.py" "$APITOKENCTL" token check 2>&1)
check_eq "token check: Ctrl-C at the prompt leaves echo on" \
	"prompt signal echo-on" "$out"

done_testing

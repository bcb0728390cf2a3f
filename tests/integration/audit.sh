#!/bin/sh
# The audit log against the real daemon: every record names its actor
# (admin uid, client, user, system) and source (socket peer, address);
# apitokenctl audit filters by user, event, time and actor and writes
# JSON lines; no secret or hash of one appears; audit_retention prunes
# old records in the sweep.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/daemon.sh"

[ -x "$APITOKEND" ] || skip_all "apitokend not built"
[ -x "$APITOKENCTL" ] || skip_all "apitokenctl not built"
command -v curl >/dev/null || skip_all "curl not installed"
command -v python3 >/dev/null || skip_all "python3 not found"

daemon_config '"sweep_interval": "1s"'
ctl init >/dev/null 2>&1
ctl user add alice --email alice@example.org --role user >/dev/null 2>&1
ctl user add bob --email bob@example.org --role user >/dev/null 2>&1
if ! start_daemon; then
	not_ok "apitokend starts"
	done_testing
fi
ok "apitokend starts"
uid=$(id -u)

SR=$(ctl client add rs1 --can-revoke 2>/dev/null)
TA=$(ctl token generate alice 2>/dev/null)
TB=$(ctl token generate bob 2>/dev/null)
TB2=$(ctl token generate bob --replace 2>/dev/null)
ctl user api-access alice off >/dev/null 2>&1
ctl user api-access alice on >/dev/null 2>&1
ctl user set alice --role admin >/dev/null 2>&1
http POST /revoke -u "rs1:$SR" -d "token=$TA"
check_eq "client revokes alice's token over /revoke" 200 "$HTTP_CODE"
http POST /revoke -H "Authorization: Bearer $TB2" -d "token=$TB2"
check_eq "bob revokes his own token" 200 "$HTTP_CODE"
sleep 1.1
before=$(date +%s)

json=$(ctl --json audit)
# jq-like checks in Python over the JSON lines.
q() {
	printf '%s\n' "$json" | python3 -c "import json,sys
d = [json.loads(l) for l in sys.stdin if l.strip()]
r = [x for x in d if $1]
print(len(r))"
}
check_eq "--json: one object per line, each with every field" 0 \
	"$(q "set(x) != {'seq','time','when','event','user','token_id','actor','actor_id','source','reason','detail','origin'}")"
check_eq "admin commands: actor admin, the caller's uid, the socket peer" \
	0 "$(q "x['event'] in ('issued','replaced','client-added') and not (x['actor'] == 'admin' and x['actor_id'] == '$uid' and x['source'].startswith('admin socket pid '))")"
check_eq "/revoke by a client: actor client rs1 from 127.0.0.1" 1 \
	"$(q "x['event'] == 'revoked' and x['user'] == 'alice' and x['actor'] == 'client' and x['actor_id'] == 'rs1' and x['source'] == '127.0.0.1'")"
check_eq "self-revocation: actor user bob from 127.0.0.1" 1 \
	"$(q "x['event'] == 'revoked' and x['user'] == 'bob' and x['actor'] == 'user' and x['actor_id'] == 'bob' and x['source'] == '127.0.0.1'")"
check_eq "regenerate: a 'replaced' record naming the new token" 1 \
	"$(q "x['event'] == 'replaced' and x['detail'].startswith('replaced by ')")"
check_eq "API access off/on: user-disabled and user-enabled" 2 \
	"$(q "x['event'] in ('user-disabled','user-enabled') and x['user'] == 'alice'")"
check_eq "role change: user-changed with the roles" 1 \
	"$(q "x['event'] == 'user-changed' and 'role user -> admin' in x['detail']")"
check_eq "client add: client-added" 1 "$(q "x['event'] == 'client-added'")"

leak=0
for t in "$SR" "$TA" "$TB" "$TB2"; do
	case "$(ctl audit; ctl --json audit)" in *"$t"*) leak=1 ;; esac
	h=$(printf '%s' "$t" | sha256sum | cut -c1-64)
	case "$(ctl audit; ctl --json audit)" in *"$h"*) leak=1 ;; esac
done
check_eq "no secret and no SHA-256 of one in the audit log" 0 "$leak"

# Filters.
out=$(ctl --json audit --user bob)
check_eq "--user bob: only bob's records" "" \
	"$(printf '%s\n' "$out" | grep -v '"user":"bob"')"
check_match "--user bob: has records" '"user":"bob"' "$out"
out=$(ctl --json audit --event revoked)
check_eq "--event revoked: two records, both revoked" "2 0" \
	"$(printf '%s\n' "$out" | grep -c . ) $(printf '%s\n' "$out" | grep -vc '"event":"revoked"')"
out=$(ctl --json audit --actor client:rs1)
check_eq "--actor client:rs1: exactly the /revoke" 1 \
	"$(printf '%s\n' "$out" | grep -c '"actor_id":"rs1"')"
check_eq "--actor client:rs1: nothing else" 1 "$(printf '%s\n' "$out" | grep -c .)"
out=$(ctl --json audit --actor user)
check_eq "--actor user: only bob's self-revocation" 1 \
	"$(printf '%s\n' "$out" | grep -c '"actor":"user"')"
out=$(ctl --json audit --since "$before")
check_eq "--since after the last change: nothing" "" "$out"
out=$(ctl --json audit --until "$before" --event issued)
check_eq "--until now: the three issued records (one a regeneration)" 3 \
	"$(printf '%s\n' "$out" | grep -c '"event":"issued"')"
out=$(ctl --json audit --since 1h --event user-added)
check_eq "--since 1h (a duration ago): both users added" 2 \
	"$(printf '%s\n' "$out" | grep -c .)"
out=$(ctl --json audit --since 2000-01-01 --until 2000-01-02)
check_eq "--since/--until ISO dates far back: nothing" "" "$out"
out=$(ctl audit --actor client:rs1)
check_match "table: ACTOR and SOURCE columns" \
	"revoked +alice +[0-9A-Za-z]{16} +client:rs1 +127\.0\.0\.1" "$out"
for bad in "--event frobbed" "--actor wizard" "--since yesterday" \
	"--until 2026-13-45"; do
	# shellcheck disable=SC2086
	ctl audit $bad >/dev/null 2>&1
	check_eq "refused with 65: audit $bad" 65 "$?"
done

# Retention: with audit_retention 3s the sweep removes older records.
stop_daemon
daemon_config '"sweep_interval": "1s", "audit_retention": "3s"'
start_daemon || not_ok "apitokend restarts"
pruned=""
for i in $(seq 1 100); do
	if grep -q "sweep: pruned [0-9]* audit record" "$DAEMON_LOG"; then
		pruned=1
		break
	fi
	sleep 0.1
done
check "the sweep logs pruning old audit records" test -n "$pruned"
# Records younger than 3 s at the first sweep go at a later one: wait
# until the whole old log is gone (each sweep runs every second).
for i in $(seq 1 100); do
	[ -z "$(ctl --json audit 2>/dev/null)" ] && break
	sleep 0.1
done
check_eq "every record older than audit_retention is pruned" "" \
	"$(ctl --json audit 2>&1)"
ctl user add carol --email carol@example.org --role user >/dev/null 2>&1
out=$(ctl --json audit)
check_eq "only the fresh record is left" "1 user-added carol" \
	"$(printf '%s\n' "$out" | grep -c .) $(printf '%s\n' "$out" |
	python3 -c 'import json,sys; r = json.loads(sys.stdin.readline()); print(r["event"], r["user"])')"
stop_daemon
check_eq "apitokend shuts down cleanly (no leak, no sanitizer report)" 0 "$?"
done_testing

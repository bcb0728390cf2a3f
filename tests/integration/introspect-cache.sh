#!/bin/sh
# apitokend keeps active introspection answers (introspect/answer_cache.c)
# and must never give a kept answer that the store would not give now.
# Each change below follows an introspection whose answer was kept (the
# hit counter in /metrics shows it was), and the very next introspection
# must show the change: role, Business Units, API access off and on,
# roles reloaded by SIGHUP, regeneration, revocation, expiry (before any
# sweep), user removal, revocation through apitokenctl, client removal
# and a client's new secret; another client gets its own client_id; and
# with "introspection_cache": 0 nothing is kept.  Writes that change no
# answer of a token (another user's role change, a user added, outbox
# activity, the purge of expired tokens) must not drop its kept answer:
# the hit counter shows it was given again.  No expiry reminders: their
# scan would write (a reminder for the 3 s token) at a time of its own.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/daemon.sh"

[ -x "$APITOKEND" ] || skip_all "apitokend not built"
[ -x "$APITOKENCTL" ] || skip_all "apitokenctl not built"
command -v curl >/dev/null || skip_all "curl not installed"
command -v python3 >/dev/null || skip_all "python3 not installed"

hits() {
	curl -s "$BASE_URL/metrics" |
		sed -n 's/^apitokend_introspection_cache_total{result="hit"} //p'
}

# metric NAME: a value from /metrics.
metric() {
	curl -s "$BASE_URL/metrics" | sed -n "s/^$1 //p"
}

# settled: wait until the change tail has retired every visible change
# (kept answers are not used until then; it takes microseconds, but the
# machine may be busy).
settled() {
	for i in $(seq 1 100); do
		m=$(curl -s "$BASE_URL/metrics")
		v=$(printf '%s\n' "$m" | sed -n 's/^apitokend_changes_visible //p')
		r=$(printf '%s\n' "$m" | sed -n 's/^apitokend_changes_retired //p')
		[ -n "$v" ] && [ "$v" = "$r" ] && return 0
		sleep 0.05
	done
	diag "the change tail did not catch up: visible $v, retired $r"
	return 1
}

# survives LABEL CLIENT SECRET TOKEN: after an unrelated write, the next
# answer is still the kept one (hit counter +1).
survives() {
	settled
	h0=$(hits)
	ask "$2" "$3" "$4"
	check_eq "$1: the kept answer survives" "$((h0 + 1))" "$(hits)"
}

# ask CLIENT SECRET TOKEN: introspect; the answer in $HTTP_BODY.
ask() {
	http POST /introspect -u "$1:$2" -d "token=$3"
}

# kept LABEL CLIENT SECRET TOKEN: ask twice; the second answer must be the
# kept one (hit counter +1) and equal the first.
kept() {
	ask "$2" "$3" "$4"
	first=$HTTP_BODY
	h0=$(hits)
	ask "$2" "$3" "$4"
	check_eq "$1: answer kept" "$((h0 + 1))" "$(hits)"
	check_eq "$1: kept answer equals the computed one" "$first" \
		"$HTTP_BODY"
}

write_config() {
	local cache=${3:-'"auto"'}
	cat >"$DAEMON_CONFIG" <<EOF
{
  "store": "$DAEMON_STORE",
  "listen": "127.0.0.1:0",
  "token_lifetime": "${2:-180d}",
  "sweep_interval": "1h",
  "introspection_cache": $cache,
  "mail": { "reminders": [] },
  "roles": { "admin": ["api:read", $1"api:admin"], "user": ["api:read"] }
}
EOF
	APITOKEN_CONFIG="$DAEMON_CONFIG"
	export APITOKEN_CONFIG
	daemon_configured=1
}

write_config ""
ctl init >/dev/null 2>&1
ctl user add alice --email alice@example.org --role user --bu sales \
	>/dev/null 2>&1
ctl user add bob --email bob@example.org --role user >/dev/null 2>&1
ctl user add gina --email gina@example.org --role user >/dev/null 2>&1
ctl user add hal --email hal@example.org --role user >/dev/null 2>&1
SR=$(ctl client add rs1 --can-revoke 2>/dev/null)
S2=$(ctl client add rs2 2>/dev/null)
TA=$(ctl token generate alice 2>/dev/null)
TB=$(ctl token generate bob 2>/dev/null)
TG=$(ctl token generate gina 2>/dev/null)
TH=$(ctl token generate hal 2>/dev/null)
if ! start_daemon; then
	not_ok "apitokend starts"
	done_testing
fi

# "auto", the default: a handful of tokens get the smallest table.
check_eq "introspection_cache auto: 65536 places for a small store" 65536 \
	"$(metric apitokend_introspection_cache_places)"
kept "active" rs1 "$SR" "$TA"
check_eq "active: scope" "api:read bu:sales" "$(jget "$HTTP_BODY" scope)"

ask rs2 "$S2" "$TA"
check_eq "another client: its own client_id" rs2 \
	"$(jget "$HTTP_BODY" client_id)"
ask rs1 "$SR" "$TA"
check_eq "... and the first client still gets its own" rs1 \
	"$(jget "$HTTP_BODY" client_id)"

# Writes that change no answer about alice's token.
kept "before unrelated writes" rs1 "$SR" "$TA"
v0=$(metric apitokend_changes_visible)
ctl user set bob --role admin >/dev/null 2>&1
check "another user's role change writes a change record" \
	test "$(metric apitokend_changes_visible)" -gt "$v0"
survives "another user's role change" rs1 "$SR" "$TA"
ctl user add ivy --email ivy@example.org --role user >/dev/null 2>&1
survives "a user added (an audit append)" rs1 "$SR" "$TA"
v0=$(metric apitokend_changes_visible)
ctl outbox retry >/dev/null 2>&1
check_eq "outbox activity writes no change record" "$v0" \
	"$(metric apitokend_changes_visible)"
survives "outbox activity" rs1 "$SR" "$TA"
ctl user set bob --role user >/dev/null 2>&1

# Revocation through apitokenctl (the admin socket).
kept "before apitokenctl token revoke" rs1 "$SR" "$TH"
ctl token revoke hal >/dev/null 2>&1
ask rs1 "$SR" "$TH"
check_eq "revoked by apitokenctl: the next answer is inactive" \
	'{"active":false}' "$HTTP_BODY"

# Clients: a removed client is refused at once, although its logins
# are remembered per thread (asked a few times to fill them); a new
# secret under the same id replaces the old one at once.
kept "rs2, before its removal" rs2 "$S2" "$TG"
for i in 1 2 3 4; do ask rs2 "$S2" "$TG"; done
ctl client remove rs2 >/dev/null 2>&1
ask rs2 "$S2" "$TG"
check_eq "client removed: the next request is refused" 401 "$HTTP_CODE"
S2new=$(ctl client add rs2 2>/dev/null)
ask rs2 "$S2" "$TG"
check_eq "client re-added with a new secret: the old one is refused" 401 \
	"$HTTP_CODE"
ask rs2 "$S2new" "$TG"
check_eq "... the new one works" true "$(jget "$HTTP_BODY" active)"
S2=$S2new

ctl user set alice --role admin >/dev/null 2>&1
ask rs1 "$SR" "$TA"
check_eq "role changed: the next answer has the new role" admin \
	"$(jget "$HTTP_BODY" role)"
check_eq "... and its scope" "api:read api:admin bu:sales" \
	"$(jget "$HTTP_BODY" scope)"

kept "after the role change" rs1 "$SR" "$TA"
ctl user set alice --bu hr --bu it >/dev/null 2>&1
ask rs1 "$SR" "$TA"
check_eq "Business Units changed: the next answer has them" "hr it" \
	"$(jget "$HTTP_BODY" business_units)"

# The local socket (the plugin's and PAM's path) keeps answers too, under
# the same rules (answer_cache.h: client id "").
settled
local_request "{\"op\":\"check\",\"token\":\"$TA\"}" >/dev/null
h0=$(hits)
reply=$(local_request "{\"op\":\"check\",\"token\":\"$TA\"}")
check_eq "local socket: the second check is a kept answer" "$((h0 + 1))" \
	"$(hits)"
check_eq "... the same object as computed (role)" admin "$(jget "$reply" role)"
ctl user set alice --role user >/dev/null 2>&1
reply=$(local_request "{\"op\":\"check\",\"token\":\"$TA\"}")
check_eq "local socket: role changed: the next check has it" user \
	"$(jget "$reply" role)"
ctl user set alice --role admin >/dev/null 2>&1
local_request "{\"op\":\"check\",\"token\":\"$TA\"}" >/dev/null
ctl user api-access alice off >/dev/null 2>&1
check_eq "local socket: API access off: the next check is inactive" \
	'{"active":false}' \
	"$(local_request "{\"op\":\"check\",\"token\":\"$TA\"}")"
ctl user api-access alice on >/dev/null 2>&1

kept "before API access off" rs1 "$SR" "$TA"
ctl user api-access alice off >/dev/null 2>&1
ask rs1 "$SR" "$TA"
check_eq "API access off: the next answer is inactive" '{"active":false}' \
	"$HTTP_BODY"
ctl user api-access alice on >/dev/null 2>&1
ask rs1 "$SR" "$TA"
check_eq "API access on again: active" true "$(jget "$HTTP_BODY" active)"

kept "before SIGHUP" rs1 "$SR" "$TA"
write_config '"api:write", '
kill -HUP "$DAEMON_PID"
for i in $(seq 1 50); do
	grep -q "configuration reloaded" "$DAEMON_LOG" && break
	sleep 0.1
done
ask rs1 "$SR" "$TA"
check_eq "roles reloaded by SIGHUP: the next answer has the new scope" \
	"api:read api:write api:admin bu:hr bu:it" "$(jget "$HTTP_BODY" scope)"

kept "before regeneration" rs1 "$SR" "$TA"
old=$TA
TA=$(ctl token generate alice --replace 2>/dev/null)
ask rs1 "$SR" "$old"
check_eq "regenerated: the old token is inactive at once" \
	'{"active":false}' "$HTTP_BODY"
ask rs1 "$SR" "$TA"
check_eq "... the new one active" true "$(jget "$HTTP_BODY" active)"

kept "before revocation" rs1 "$SR" "$TA"
http POST /revoke -u "rs1:$SR" -d "token=$TA"
check_eq "revoked through /revoke: 200" 200 "$HTTP_CODE"
ask rs1 "$SR" "$TA"
check_eq "revoked: the next answer is inactive" '{"active":false}' \
	"$HTTP_BODY"

kept "before user removal" rs1 "$SR" "$TB"
ctl user remove bob >/dev/null 2>&1
ask rs1 "$SR" "$TB"
check_eq "user removed: the next answer is inactive" '{"active":false}' \
	"$HTTP_BODY"
check "SIGTERM: clean exit" stop_daemon

# Expiry: a kept answer ends at exp, with no sweep (1 h away) to help.
write_config "" 3s
ctl user add carol --email carol@example.org --role user >/dev/null 2>&1
TC=$(ctl token generate carol 2>/dev/null)
start_daemon || not_ok "apitokend restarts"
kept "a 3 s token" rs1 "$SR" "$TC"
exp=$(jget "$HTTP_BODY" exp)
kept "gina's token (180 d)" rs1 "$SR" "$TG"
while [ "$(date +%s)" -lt "$exp" ]; do sleep 0.2; done
ask rs1 "$SR" "$TC"
check_eq "expired: the kept answer is not given past exp" \
	'{"active":false}' "$HTTP_BODY"
v0=$(metric apitokend_changes_visible)
check_match "apitokenctl purge deletes the expired token" "purged 1 expired" \
	"$(ctl purge 2>&1)"
check_eq "the purge of expired tokens writes no change record" "$v0" \
	"$(metric apitokend_changes_visible)"
survives "the purge of expired tokens" rs1 "$SR" "$TG"
check "SIGTERM: clean exit" stop_daemon

# Turned off: answers still right, nothing kept.
write_config "" 180d 0
ctl user add dave --email dave@example.org --role user >/dev/null 2>&1
TD=$(ctl token generate dave 2>/dev/null)
start_daemon || not_ok "apitokend restarts"
ask rs1 "$SR" "$TD"
ask rs1 "$SR" "$TD"
check_eq "introspection_cache 0: still active" true \
	"$(jget "$HTTP_BODY" active)"
check_eq "introspection_cache 0: nothing kept" 0 "$(hits)"
check_eq "introspection_cache 0: no places" 0 \
	"$(metric apitokend_introspection_cache_places)"
ctl token revoke dave >/dev/null 2>&1
ask rs1 "$SR" "$TD"
check_eq "introspection_cache 0: revoked is inactive" '{"active":false}' \
	"$HTTP_BODY"
check "SIGTERM: clean exit" stop_daemon

done_testing

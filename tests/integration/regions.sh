#!/bin/bash
# Regions: three apitokend sites on 127.0.0.1 in one replication group.
# Propagation of generate/revoke/role change from the master and from
# replicas (admin socket and /revoke), forged forwarding refused, offline
# apitokenctl refusing writes on a group member, status, kill -9 failover
# during a stream of writes (no write reported done is lost, the old
# master rejoins), a SIGSTOPped master, and staleness refuse/serve.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/regions-lib.sh"

[ -x "$APITOKEND" ] || skip_all "apitokend not built"
command -v curl >/dev/null || skip_all "curl not installed"
command -v openssl >/dev/null || skip_all "openssl not installed"
command -v python3 >/dev/null || skip_all "python3 not installed"

regions_setup '"staleness_limit": "1s", "heartbeat_interval_ms": 200,
    "heartbeat_timeout_ms": 1000, "ack_timeout_ms": 1000' ||
	skip_all "openssl cannot make test certificates"
# One issuer for the deployment, every site the same; last use sent and
# written every second.
for s in a b c; do
	sed -i "s|\"roles\"|\"issuer\": \"https://tokens.example\", \"last_used_interval\": \"1s\", \"roles\"|" \
		"$scratch/$s.json"
done
# Site c serves when stale; a and b refuse (the default).
sed -i 's|"staleness_limit"|"staleness_action": "serve", "staleness_limit"|' \
	"$scratch/c.json"
one_master() { [ -n "$(master_site)" ]; }

for s in a b c; do
	if ! start_site "$s"; then
		not_ok "site $s starts"
		done_testing
	fi
done
ok "three sites start (a creates the group, b and c join)"
check_eq "a is the master" a "$(master_site)"
check_eq "b is a replica" replica "$(role_of b)"

ctl_at a user add alice --email alice@example.org --role user >/dev/null
ctl_at a user add bob --email bob@example.org --role admin >/dev/null
RS_SECRET=$(ctl_at a client add rs1 --can-revoke 2>/dev/null)
TA=$(ctl_at a token generate alice 2>/dev/null)
check_match "token generated at the master" '^apitok_' "$TA"
for s in b c; do
	check "generated at the master -> active at $s" \
		wait_for 5 active_at "$s" "$TA"
done
A1=$(introspect_at a "$TA" | sed 's/"client_id.*//')
A2=$(introspect_at b "$TA" | sed 's/"client_id.*//')
check_eq "same answer (iss, scope, exp, jti) at master and replica" \
	"$A1" "$A2"

# Last use across regions: a token used only at replica b shows at the
# master (b sends its uses every last_used_interval), naming the site,
# and b no longer holds the uses it sent.
ctl_at a user add carol --email carol@example.org --role user >/dev/null
TCU=$(ctl_at a token generate carol 2>/dev/null)
# Replicated to b, seen without introspecting it: an introspection is a
# use, which b would send to the master within the interval (1 s), and
# the "before" below would race it (seen in the ASan+UBSan build).
token_at_b() {
	ctl_at b user show carol 2>/dev/null | grep -q '^token: .*expires'
}
check "carol's token -> replicated to b" wait_for 5 token_at_b
last_use_at() {
	ctl_at "$1" --json token show "$2" | python3 -c "import json,sys
v = json.load(sys.stdin)['last_use']
print('never' if v is None else v['client'] + ' from ' + v['source'])"
}
check_eq "before: carol's token never used, says the master" never \
	"$(last_use_at a carol)"
check "carol's token -> active at b (used there)" wait_for 5 active_at b "$TCU"
used_at_b() { [ "$(last_use_at a carol)" = "rs1 from 127.0.0.1 at b" ]; }
check "used at replica b -> the master shows it, from b" \
	wait_for 10 used_at_b
check "... and so does replica c (written, replicated)" \
	wait_for 10 eval '[ "$(last_use_at c carol)" = "rs1 from 127.0.0.1 at b" ]'
held_at_b() {
	curl -s --max-time 5 --cacert "$scratch/ca.pem" "$(url_of b)/metrics" |
		grep -q '^apitokend_last_use_held 0$'
}
check "replica b no longer holds the uses it sent" wait_for 10 held_at_b
check_eq "an unsigned POST /_regions/uses is refused" 403 \
	"$(curl -s -o /dev/null -w '%{http_code}' --cacert "$scratch/ca.pem" \
		-H 'Content-Type: application/json' \
		-d '[{"id":"0000000000000000","time":1,"source":"x","client":"y"}]' \
		"$(url_of a)/_regions/uses")"
# signed_uses BODY: the HTTP status of POST /_regions/uses at the master,
# signed as site b signs (regions_forward.c).
signed_uses() {
	python3 - "$scratch/replication.key" "$1" "$(url_of a)" \
		"$scratch/ca.pem" <<'PY'
import hashlib, hmac, os, ssl, sys, time, urllib.error, urllib.request
key = open(sys.argv[1], "rb").read().rstrip(b"\r\n")
body = sys.argv[2].encode()
path, site = "/_regions/uses", "b"
t, nonce = str(int(time.time())), os.urandom(16).hex()
h = lambda b: hashlib.sha256(b).hexdigest()
msg = "\n".join(["apitoken-forward-v1", "POST", path, site, t, nonce,
                 h(b""), h(b""), h(body)])
sig = hmac.new(key, msg.encode(), "sha256").hexdigest()
req = urllib.request.Request(sys.argv[3] + path, data=body, method="POST",
    headers={"Content-Type": "application/json", "X-Apitoken-Site": site,
             "X-Apitoken-Time": t, "X-Apitoken-Nonce": nonce,
             "X-Apitoken-Signature": sig})
ctx = ssl.create_default_context(cafile=sys.argv[4])
try:
    print(urllib.request.urlopen(req, context=ctx, timeout=5).status)
except urllib.error.HTTPError as e:
    print(e.code)
PY
}
ctl_at a user add dave --email dave@example.org --role user >/dev/null
ctl_at a token generate dave >/dev/null 2>&1
DID=$(ctl_at a --json token show dave |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
now=$(date +%s)
check_eq "a signed batch with one malformed use: 400" 400 \
	"$(signed_uses "[{\"id\":\"$DID\",\"time\":$now,\"source\":\"192.0.2.1\",\"client\":\"rs9\"},{\"id\":\"x\",\"time\":$now,\"source\":\"\",\"client\":\"\"}]")"
check_eq "... and none of it noted" never "$(last_use_at a dave)"
check_eq "a use stamped a day ahead: 400" 400 \
	"$(signed_uses "[{\"id\":\"$DID\",\"time\":$((now + 86400)),\"source\":\"192.0.2.1\",\"client\":\"rs9\"}]")"
check_eq "a signed, well-formed batch: 200" 200 \
	"$(signed_uses "[{\"id\":\"$DID\",\"time\":$now,\"source\":\"192.0.2.1\",\"client\":\"rs9\"}]")"
check_eq "... noted at the master, naming the sending site" \
	"rs9 from 192.0.2.1 at b" "$(last_use_at a dave)"

# Revoked at the master.
ctl_at a token revoke alice >/dev/null
inactive_everywhere() {
	local s
	for s in a b c; do
		introspect_at "$s" "$1" | grep -q '^{"active":false}$' ||
			return 1
	done
}
check "revoked at the master -> inactive on every site" \
	wait_for 5 inactive_everywhere "$TA"

# Generated and revoked at a replica through its admin socket: the output
# and exit code are the master's.
TB=$(ctl_at b token generate bob 2>"$scratch/gen.err")
check_eq "token generate at a replica: exit 0" 0 "$?"
check_match "token generate at a replica prints the token" '^apitok_' "$TB"
check "generated at replica b -> active at c" wait_for 5 active_at c "$TB"
out=$(ctl_at c token revoke bob 2>&1)
check_match "token revoke at replica c: the master's message" \
	'^revoked token' "$out"
check "revoked at a replica (admin socket) -> inactive everywhere" \
	wait_for 5 inactive_everywhere "$TB"
out=$(ctl_at c user set nobody --role user 2>&1)
rc=$?
out_m=$(ctl_at a user set nobody --role user 2>&1)
check_eq "a refused write forwarded: same message as at the master" \
	"$out_m" "$out"
check_eq "a refused write forwarded: exit EX_NOUSER" 67 "$rc"

# Revoked at a replica over /revoke (client with the revoke right).
TA=$(ctl_at b token generate alice --replace 2>/dev/null)
check "regenerated at b -> active at a" wait_for 5 active_at a "$TA"
body=$(curl_at c /revoke -u "rs1:$RS_SECRET" -d "token=$TA")
check_eq "/revoke at replica c: the master's 200" 200 "$(last_code)"
check "revoked at a replica (/revoke) -> inactive everywhere" \
	wait_for 5 inactive_everywhere "$TA"
body=$(curl_at b /revoke -u "rs1:wrong" -d "token=$TA")
check_eq "/revoke at a replica with a wrong secret: the master's 401" \
	401 "$(last_code)"

# The self-service page at a replica: the session is the replica's, the
# write is done at the master (web_forward.c) and shows everywhere.
jar="$scratch/web.jar"
curl_at b /api/v1/session -b "$jar" -c "$jar" -H 'X-Remote-User: alice' \
	>/dev/null
csrf=$(sed -n 's/.*"csrf_token":"\([^"]*\)".*/\1/p' "$scratch/curl.body")
body=$(curl_at b /api/v1/me/token -b "$jar" -c "$jar" -X POST \
	-H 'X-Remote-User: alice' -H "X-CSRF-Token: $csrf" \
	-H 'Content-Type: application/json' --data '{"replace": true}')
check_eq "self-service regenerate at replica b: 201" 201 "$(last_code)"
TW=$(printf '%s' "$body" | sed -n 's/.*"token":"\(apitok_[^"]*\)".*/\1/p')
check "... the page's new token is active at the master" \
	wait_for 5 active_at a "$TW"
check "... and at replica c" wait_for 5 active_at c "$TW"
check_match "... the master's audit names the page's user and the site" \
	'issued +alice .*user alice \(127\.0\.0\.1\) via site b' \
	"$(ctl_at a audit --user alice 2>&1 | tail -n 3)"
body=$(curl_at c /api/v1/me/token -b "$scratch/web-c.jar" \
	-c "$scratch/web-c.jar" -X DELETE -H 'X-Remote-User: alice')
check_eq "self-service revoke at replica c before signing in there: 401" \
	401 "$(last_code)"
curl_at c /api/v1/session -b "$scratch/web-c.jar" -c "$scratch/web-c.jar" \
	-H 'X-Remote-User: alice' >/dev/null
csrf=$(sed -n 's/.*"csrf_token":"\([^"]*\)".*/\1/p' "$scratch/curl.body")
body=$(curl_at c /api/v1/me/token -b "$scratch/web-c.jar" \
	-c "$scratch/web-c.jar" -X DELETE -H 'X-Remote-User: alice' \
	-H "X-CSRF-Token: $csrf")
check_eq "self-service revoke at replica c: 200" 200 "$(last_code)"
check "... the page's token is inactive everywhere" \
	wait_for 5 inactive_everywhere "$TW"

# Role change at a replica shows everywhere.
TA=$(ctl_at a token generate alice --replace 2>/dev/null)
check "regenerated -> active at c" wait_for 5 active_at c "$TA"
ctl_at c user set alice --role admin >/dev/null
role_admin() { introspect_at "$1" "$TA" | grep -q '"role":"admin"'; }
for s in a b c; do
	check "role change at replica c -> admin at $s" \
		wait_for 5 role_admin "$s"
done

# Kept answers on a replica (introspection_cache is on by default): a
# revoke, a role change and a client removal made at the master are seen
# by the replica's very next introspection once its store has them.
hits_at() {
	curl_at "$1" /metrics |
		sed -n 's/^apitokend_introspection_cache_total{result="hit"} //p'
}
ctl_at a user add kim --email kim@example.org --role user >/dev/null
TK=$(ctl_at a token generate kim 2>/dev/null)
wait_for 5 active_at c "$TK"
h0=$(hits_at c)
introspect_at c "$TK" >/dev/null
introspect_at c "$TK" >/dev/null
h1=$(hits_at c)
check "a replica keeps answers (hit counter moves)" [ "${h1:-0}" -gt "${h0:-0}" ]
# Not vacuous: the replica settles most checks by the replication
# traffic count, not by a store read each time (regions_sockets.c).
quiet_at() {
	curl_at "$1" /metrics |
		sed -n 's/^apitokend_replica_kept_checks_total{by="traffic"} //p'
}
q0=$(quiet_at c)
for i in 1 2 3 4 5; do introspect_at c "$TK" >/dev/null; done
q1=$(quiet_at c)
check "... and checks them by replication traffic, not a store read each" \
	[ "${q1:-0}" -gt "${q0:-0}" ]
ctl_at a user set kim --role admin >/dev/null
role_here() { ctl_at c user show kim | grep -q 'role: *admin'; }
wait_for 5 role_here
check_match "role change at the master: the replica's next answer has it" \
	'"role":"admin"' "$(introspect_at c "$TK")"
ctl_at a token revoke kim >/dev/null
gone_here() { ! ctl_at c token show kim 2>/dev/null | grep -q expires; }
wait_for 5 gone_here
check_eq "revoke at the master: the replica's next answer is inactive" \
	'{"active":false}' "$(introspect_at c "$TK")"
S2=$(ctl_at a client add rs2 2>/dev/null)
TK=$(ctl_at a token generate kim 2>/dev/null)
wait_for 5 sh -c "curl -s --cacert '$scratch/ca.pem' -u 'rs2:$S2' -d 'token=$TK' '$(url_of c)/introspect' | grep -q active.:true"
curl -s --cacert "$scratch/ca.pem" -u "rs2:$S2" -d "token=$TK" \
	"$(url_of c)/introspect" >/dev/null
ctl_at a client remove rs2 >/dev/null
client_gone() { ! ctl_at c client list | grep -q '^rs2'; }
wait_for 5 client_gone
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$scratch/ca.pem" \
	-u "rs2:$S2" -d "token=$TK" "$(url_of c)/introspect")
check_eq "client removed at the master: the replica's next login fails" \
	401 "$code"

# Forged forwarding is refused.
body=$(curl_at a /_regions/admin -H 'Content-Type: application/json' \
	-d '{"v":1,"argv":["user","remove","alice"]}')
check_eq "unsigned forwarded admin command: 403" 403 "$(last_code)"
now=$(date +%s)
body=$(curl_at a /_regions/admin -H 'Content-Type: application/json' \
	-H "X-Apitoken-Site: b" -H "X-Apitoken-Time: $now" \
	-H "X-Apitoken-Nonce: 00112233445566778899aabbccddeeff" \
	-H "X-Apitoken-Signature: $(printf '%064d' 0)" \
	-d '{"v":1,"argv":["user","remove","alice"]}')
check_eq "forwarded admin command with a forged signature: 403" 403 \
	"$(last_code)"
check "... and alice is still there" ctl_at a user show alice
# A correctly signed request, sent twice: the replay is refused.
NONCE=abababababababababababababababab
sig=$(python3 - "$scratch/replication.key" "$now" "$NONCE" <<'EOF'
import hashlib, hmac, sys
key = open(sys.argv[1], "rb").read().rstrip(b"\r\n")
body = b'{"v":1,"argv":["user","show","alice"]}'
h = lambda b: hashlib.sha256(b).hexdigest()
msg = "apitoken-forward-v1\nPOST\n/_regions/admin\nb\n%s\n%s\n%s\n%s\n%s" % (
    sys.argv[2], sys.argv[3], h(b""), h(b""), h(body))
print(hmac.new(key, msg.encode(), hashlib.sha256).hexdigest())
EOF
)
signed() {
	curl_at a /_regions/admin -H 'Content-Type: application/json' \
		-H "X-Apitoken-Site: b" -H "X-Apitoken-Time: $now" \
		-H "X-Apitoken-Nonce: $NONCE" -H "X-Apitoken-Signature: $sig" \
		-d '{"v":1,"argv":["user","show","alice"]}'
}
body=$(signed)
check_eq "a correctly signed forwarded command is run: 200" 200 "$(last_code)"
check_match "... and answers with the command's reply" '"exit":0' "$body"
body=$(signed)
check_eq "the same signed request replayed: 403" 403 "$(last_code)"
body=$(curl_at a /revoke -u "rs1:$RS_SECRET" -d "token=$TA" \
	-H "X-Apitoken-Site: b" -H "X-Apitoken-Time: $now" \
	-H "X-Apitoken-Nonce: 00112233445566778899aabbccddeeff" \
	-H "X-Apitoken-Signature: $(printf '%064d' 0)")
check_eq "/revoke claiming to be forwarded, forged: 403" 403 "$(last_code)"
check "... and the token stays active" active_at a "$TA"

# Status.
out=$(ctl_at b status)
check_match "status names this site and the master" \
	'site: +b.*master: +a' "$(echo $out)"
check_match "status lists every site with role and connection" \
	'a +master +connected.*c +replica +connected' "$(echo $out)"
curl_at b /metrics >"$scratch/metrics"
check "metrics: role of this site" grep -q \
	'apitoken_replication_role{site="b",role="replica"} 1' \
	"$scratch/metrics"
check "metrics: the master's name" grep -q \
	'apitoken_replication_master{master="a"} 1' "$scratch/metrics"

# kill -9 of the master during a stream of writes through replica b.
: >"$scratch/done"
(
	i=0
	while [ $i -lt 400 ] && [ ! -e "$scratch/stop" ]; do
		i=$((i + 1))
		if ctl_at b user add "u$i" --email "u$i@example.org" \
			--role user >/dev/null 2>&1; then
			echo "u$i $(($(date +%s%N) / 1000000))" >>"$scratch/done"
		fi
	done
) &
writer=$!
at_exit "kill $writer 2>/dev/null"
wait_for 10 sh -c "[ \$(wc -l <'$scratch/done') -ge 20 ]"
t_kill=$(($(date +%s%N) / 1000000))
kill_site a KILL
new_master() { m=$(master_site); [ -n "$m" ] && [ "$m" != a ]; }
wait_for 10 new_master
t_elect=$(($(date +%s%N) / 1000000))
NEWM=$(master_site)
check_match "a new master after kill -9 of the master" '^[bc]$' "$NEWM"
diag "new master $NEWM seen by polling $((t_elect - t_kill)) ms after the kill"
after_kill() { [ -n "$(awk -v t="$t_kill" '$2 > t' "$scratch/done")" ]; }
wait_for 10 after_kill
t_first=$(awk -v t="$t_kill" '$2 > t { print $2; exit }' "$scratch/done")
check "writes continue through replica b after the failover" \
	[ -n "$t_first" ]
[ -n "$t_first" ] &&
	diag "first write reported done $((t_first - t_kill)) ms after the kill"
within() { [ -n "$2" ] && [ $(($2 - t_kill)) -le "$1" ]; }
# The bound is 1 s; the ASan+UBSan build (several times slower, and each
# poll is three TLS handshakes) gets 2 s.
elect_ms=1000
grep -q -e "-fsanitize=address" "$top_builddir/Makefile" && elect_ms=2000
check "a new master is seen within $elect_ms ms of the kill" \
	within "$elect_ms" "$t_elect"
# A commit at the new master can wait ack_timeout (1 s here) for the
# other survivor, still syncing, before it is refused as not confirmed:
# the bound here is lenient; tests/bench measures the median.
check "the first write after the kill is done within 3 s" \
	within 3000 "$t_first"
touch "$scratch/stop"
wait "$writer" 2>/dev/null
diag "$(wc -l <"$scratch/done") writes reported done"
check "old master a rejoins" start_site a
all_there() {
	local s u
	for s in a b c; do
		ctl_at "$s" user list >"$scratch/list.$s" 2>/dev/null || return 1
		while read -r u _; do
			grep -q "^$u " "$scratch/list.$s" || return 1
		done <"$scratch/done"
	done
}
check "every write reported done is on every site (old master too)" \
	wait_for 15 all_there
check_eq "one master after a rejoined" "$NEWM" "$(master_site)"
check_eq "a is now a replica" replica "$(role_of a)"

# Offline apitokenctl on a member refuses writes, still reads.
kill_site a KILL
out=$(ctl_at a user add carol --email carol@example.org --role user 2>&1)
rc=$?
check "offline apitokenctl on a group member refuses a write" \
	[ "$rc" -ne 0 ]
check_match "... and says why" 'replication group' "$out"
check "offline apitokenctl on a group member reads" \
	ctl_at a user show alice
start_site a >/dev/null || true

# A SIGSTOPped master: the other two elect a new one; a write at the
# stopped one is not reported done; one master after SIGCONT.
M=$(master_site)
pid=$(eval echo "\$SITE_PID_$M")
# A token active everywhere, to be revoked by the new master while the
# old one is stopped.
TS=$(ctl_at "$M" token generate alice --replace 2>/dev/null)
for s in a b c; do wait_for 5 active_at "$s" "$TS"; done
kill -STOP "$pid"
ctl_at "$M" user add stopped1 --email s@example.org --role user \
	>"$scratch/stopped.out" 2>&1 &
sw=$!
master_except() {
	local s
	for s in a b c; do
		[ "$s" = "$M" ] && continue
		[ "$(role_of "$s")" = master ] && return 0
	done
	return 1
}
check "a hung master is replaced by the other two" wait_for 15 master_except
NM=""
for s in a b c; do
	[ "$s" != "$M" ] && [ "$(role_of "$s")" = master ] && NM=$s
done
# As after the kill above, a commit at a new master can be refused while
# the other survivor still syncs (not confirmed by a quorum): retry, and
# count the revocation done once alice has no token there.
revoked_at() {
	[ "$1" != none ] || return 1
	ctl_at "$1" token revoke alice && return 0
	ctl_at "$1" user show alice >"$scratch/show" &&
		! grep -q '^token: .*expires' "$scratch/show"
}
check "... and the new master ${NM:-?} revokes a token" \
	wait_for 10 revoked_at "${NM:-none}"
kill -CONT "$pid"
# Back from the pause, the old master has the history the group left: it
# must refuse (stale) rather than answer that revoked token as active.
leaked=no
for i in $(seq 1 25); do
	active_at "$M" "$TS" && leaked=yes
	sleep 0.2
done
check_eq "after SIGCONT the old master never answers a token the new master revoked as active" \
	no "$leaked"
wait "$sw"
rc=$?
# The old master learns of the newer election and exits EX_TEMPFAIL; in
# the ASan+UBSan build (several times slower) that has taken over 15 s.
if wait_for $((elect_ms * 15 / 1000)) one_master; then
	ok "one master after SIGCONT"
else
	not_ok "one master after SIGCONT"
	for s in a b c; do
		diag "site $s: role '$(role_of "$s")'; the end of its log:"
		tail -n 15 "$scratch/$s.log" | sed 's/^/#   /'
	done
fi
# DUPMASTER demotes the new master too; within its lease it must stay (not
# exit with its latest commit unacknowledged), or the third site is left
# without a majority to elect anyone.
nm_pid=$(eval echo "\${SITE_PID_${NM:-none}:-}")
alive() { [ -n "$1" ] && ps -o stat= -p "$1" | grep -qv Z; } # not a zombie
check "the master elected while $M hung (${NM:-none}) is still running" \
	alive "$nm_pid"
if [ "$rc" -eq 0 ]; then
	check "a write reported done at the stopped master is kept" \
		wait_for 10 ctl_at "$(master_site)" user show stopped1
else
	ok "the write at the stopped master was not reported done (exit $rc)"
fi
# Commits the hung master made after SIGCONT were rolled back: once it
# touches a dead handle (whenever that is) it exits EX_TEMPFAIL for
# systemd to restart it; the test restarts it as systemd would.
died=""
old_master_replica() {
	if [ -n "$(eval echo "\${SITE_PID_$M:-}")" ] &&
		! kill -0 "$pid" 2>/dev/null; then
		wait "$pid"
		died=$?
		eval "SITE_PID_$M="
		start_site "$M" >/dev/null || return 1
		pid=$(eval echo "\$SITE_PID_$M")
	fi
	# A read touches the store's handles (a dead one ends the process).
	introspect_at "$M" "$TA" >/dev/null
	sleep 0.2
	kill -0 "$pid" 2>/dev/null && [ "$(role_of "$M")" = replica ]
}
if ! wait_for 10 old_master_replica; then
	# Should not happen (an unconfirmed or probing master learns of the
	# new one, docs/design.md): if it does, restarted as a supervisor
	# would a wedged daemon, it must rejoin the one history.
	diag "old master $M neither a replica nor exited 10 s after SIGCONT" \
		"(role: $(role_of "$M")); restarting it"
	kill_site "$M" KILL
	start_site "$M" >/dev/null
	pid=$(eval echo "\${SITE_PID_$M:-}")
fi
# Not under check(): old_master_replica may restart the site, and the
# new pid must be known in this shell (the staleness checks kill it).
rejoined=no
wait_for 20 old_master_replica && rejoined=yes
check_eq "the old master is a replica of the one history" yes "$rejoined"
if [ -n "$died" ]; then
	check_eq "... after exiting EX_TEMPFAIL (its commits rolled back)" \
		75 "$died"
fi
# Caught up with the new master, the old master answers again (a former
# master refuses only until then).
TR=$(ctl_at "$(master_site)" token generate carol --replace 2>/dev/null)
check "... and answers again once caught up" wait_for 10 active_at "$M" "$TR"

# Staleness: a site left alone (the two others killed) has no majority
# (a replica: no master; or it may have just been elected master).
TC=$(ctl_at b token generate bob --replace 2>/dev/null)
wait_for 5 active_at c "$TC"
M=$(master_site)
R=a
[ "$M" = a ] && R=b
# R (refuse, the default) alone.
# Every process of the other sites, tracked or not (a site the test
# restarted while recovering from the SIGSTOP above included).
for s in a b c; do
	[ "$s" = "$R" ] && continue
	kill_site "$s" KILL
	pkill -9 -f "$scratch/$s.json" 2>/dev/null
done
stale_health() { curl_at "$R" /healthz | grep -q '"status":"stale"'; }
check "a site cut off from the group past staleness_limit says so" \
	wait_for 10 stale_health
h=$(curl_at "$R" /healthz)
check_eq "... /healthz answers 503" 503 "$(last_code)"
check_match "... with its role and staleness" '"stale":true' "$h"
h=$(curl_at "$R" /introspect -u "rs1:$RS_SECRET" -d "token=$TC")
check_eq "... introspection refuses with 503" 503 "$(last_code)"
check_match "... saying why" 'lost contact with the master' "$h"
out=$(python3 - "$scratch/$R/store/local.sock" "$TC" <<'EOF'
import socket, sys, json
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall((json.dumps({"op": "check", "token": sys.argv[2]}) + "\n").encode())
print(s.makefile().readline().strip())
EOF
)
check_match "... and the local socket answers temporarily_unavailable" \
	'"error":"temporarily_unavailable"' "$out"
# Bring the group back, then leave c (serve) alone.
for s in a b c; do [ "$s" != "$R" ] && start_site "$s" >/dev/null; done
if wait_for 40 one_master; then
	ok "the group recovers (one master)"
else
	not_ok "the group recovers (one master)"
	for s in a b c; do
		diag "site $s ($(role_of "$s")), the end of its log:"
		grep -v access: "$scratch/$s.log" | tail -n 20 | sed 's/^/# /'
	done
fi
for s in a b; do kill_site "$s" KILL; done
stale_now() {
	curl_at c /metrics 2>/dev/null | grep -q '^apitoken_replication_stale 1'
}
check "c alone becomes stale" wait_for 10 stale_now
out=$(introspect_at c "$TC")
check_match "a stale replica set to serve keeps answering" '"active":true' \
	"$out"
curl_at c /metrics >"$scratch/metrics"
check "... flagged in metrics" grep -Eq \
	'apitoken_replica_stale_answers_total\{action="serve"\} [1-9]' \
	"$scratch/metrics"

# A master whose commit no quorum confirmed (one replica down, the other
# hung past ack_timeout_ms) is stale at once; once the hung replica is
# back, the master's probe is confirmed and it answers again, without
# waiting for another write.
for s in a b; do start_site "$s" >/dev/null; done
check "the group recovers again" wait_for 40 one_master
M=$(master_site)
R1=""
R2=""
for s in a b c; do
	[ "$s" = "$M" ] && continue
	if [ -z "$R1" ]; then R1=$s; else R2=$s; fi
done
kill_site "$R2" KILL
pkill -9 -f "$scratch/$R2.json" 2>/dev/null
pid=$(eval echo "\${SITE_PID_$R1:-}")
kill -STOP "$pid"
stale_at() {
	curl_at "$1" /metrics 2>/dev/null |
		grep -q '^apitoken_replication_stale 1'
}
rc=0
ctl_at "$M" user add hung1 --email h@example.org --role user \
	>"$scratch/hung.out" 2>&1 || rc=$?
check "a write at a master no quorum confirms is reported failed" \
	[ "$rc" -ne 0 ]
check "... and that master is stale at once" stale_at "$M"
kill -CONT "$pid"
fresh_at() { ! stale_at "$1"; }
check "... and in contact again once the replica is back, with no other write" \
	wait_for 10 fresh_at "$M"

done_testing

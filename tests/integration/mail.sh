#!/bin/sh
# Notification mail end to end: the real apitokend and apitokenctl, a local
# SMTP relay (tests/smtp_sink.py).  Every token change reaches the user's
# mailbox once, never with the secret; nothing is lost while the relay is
# down or when apitokend is killed; a refused change sends nothing.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/daemon.sh"

[ -x "$APITOKEND" ] || skip_all "apitokend not built"
[ -x "$APITOKENCTL" ] || skip_all "apitokenctl not built"
command -v curl >/dev/null || skip_all "curl not installed"
# Debian's interpreter carries python3-aiosmtpd; another one may not.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
"$PY" -c 'import aiosmtpd' 2>/dev/null ||
	skip_all "python3-aiosmtpd not installed"

INBOX="$scratch/inbox"
SINK_PID=""
SINK_PORT=0

# sink_start [PORT [SINK OPTIONS...]]
sink_start() {
	local i port="${1:-0}"
	[ $# -gt 0 ] && shift
	rm -f "$scratch/sink.port"
	"$PY" "$top_srcdir/tests/smtp_sink.py" --dir "$INBOX" \
		--port "$port" --port-file "$scratch/sink.port" "$@" \
		2>>"$scratch/sink.log" &
	SINK_PID=$!
	for i in $(seq 1 150); do
		[ -s "$scratch/sink.port" ] && break
		sleep 0.1
	done
	SINK_PORT=$(cat "$scratch/sink.port" 2>/dev/null)
	[ -n "$SINK_PORT" ]
}

sink_stop() {
	[ -n "$SINK_PID" ] || return 0
	kill "$SINK_PID" 2>/dev/null
	wait "$SINK_PID" 2>/dev/null
	SINK_PID=""
}
at_exit 'sink_stop'

# One line per message received: Message-ID, envelope recipient, To,
# notice kind, Subject, then whether the body names the token id given in
# the environment as TOKEN_ID_<user> (yes/no/-).
cat >"$scratch/inbox.py" <<'EOF'
import email, os, sys
folder = sys.argv[1]
for name in sorted(os.listdir(folder)):
    if name.startswith("."):
        continue
    with open(os.path.join(folder, name), "rb") as f:
        raw = f.read()
    head, _, rest = raw.partition(b"\r\n")
    rcpt_line, _, msg = rest.partition(b"\r\n")
    rcpt = rcpt_line.decode().split(": ", 1)[1]
    m = email.message_from_bytes(msg)
    print("\t".join([m["Message-ID"] or "-", rcpt, m["To"] or "-",
                     m["X-Apitoken-Notice"] or "-", m["Subject"] or "-"]))
EOF
inbox() { "$PY" "$scratch/inbox.py" "$INBOX"; }

# count KIND USER: messages of that kind received by USER@example.org
count() {
	inbox | awk -F '\t' -v k="$1" -v r="$2@example.org" \
		'$4 == k && $2 == r { n++ } END { print n + 0 }'
}

# wait_mail KIND USER [N]: until USER has N (default 1) such messages,
# at most 20 s.
wait_mail() {
	local i
	for i in $(seq 1 200); do
		[ "$(count "$1" "$2")" -ge "${3:-1}" ] && return 0
		sleep 0.1
	done
	return 1
}

# The queued notices of USER that failed at least once, from
# apitokenctl --json outbox list.
failed_queued() {
	ctl --json outbox list 2>/dev/null | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
if isinstance(d, dict):
    d = next((v for v in d.values() if isinstance(v, list)), [])
print(sum(1 for n in d if n.get("user") == sys.argv[1]
          and n.get("attempts", 0) >= 1 and n.get("last_error")))
' "$1"
}

wait_failed_queued() {
	local i
	for i in $(seq 1 150); do
		[ "$(failed_queued "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

outbox_size() {
	ctl --json outbox list 2>/dev/null | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
if isinstance(d, dict):
    d = next((v for v in d.values() if isinstance(v, list)), [])
print(len(d))'
}

sink_start || { echo "Bail out! smtp_sink.py did not start"; exit 99; }
mkdir -p "$INBOX"

# ---- no relay configured: notices wait ---------------------------------
daemon_config '"mail": { "from": "apitoken@example.net" }'
ctl init >/dev/null 2>&1
for u in alice bob carol dave erin frank gina; do
	ctl user add $u --email $u@example.org --role user >/dev/null 2>&1 ||
		{ echo "Bail out! user add $u failed"; exit 99; }
done
ctl user api-access carol off >/dev/null 2>&1 ||
	{ echo "Bail out! user api-access failed"; exit 99; }
if ! start_daemon; then
	not_ok "apitokend starts without mail.relay"
	done_testing
fi
TG=$(ctl token generate gina 2>/dev/null)
check "without mail.relay the start says notifications stay queued" \
	grep -q 'mail.relay not set: notifications stay queued; see apitokenctl outbox list' \
	"$DAEMON_LOG"
sleep 1.5 # a poll: nothing may be attempted
check_eq "without mail.relay the notice stays queued" 1 "$(outbox_size)"
check_eq "without mail.relay nothing is sent" 0 "$(inbox | wc -l)"

# ---- SIGHUP takes new mail settings, or keeps the old ones -------------
log_has() { # wait up to 5 s for a line matching $1 in the daemon's log
	local i
	for i in $(seq 1 50); do
		grep -q "$1" "$DAEMON_LOG" && return 0
		sleep 0.1
	done
	return 1
}
daemon_config "\"mail\": { \"relay\": \"smtp://127.0.0.1:$SINK_PORT\",
  \"from\": \"apitoken@example.net\", \"username\": \"u\",
  \"password_file\": \"$scratch/no-such-password\" }"
kill -HUP "$DAEMON_PID"
check "reload with unusable mail settings: logged, old ones kept" \
	log_has 'reload: mail settings kept: .*no-such-password'
sleep 1.5 # a poll: still nothing may be attempted
check_eq "... and the notice still waits" "1 0" \
	"$(outbox_size) $(inbox | wc -l)"
daemon_config "\"mail\": { \"relay\": \"smtp://127.0.0.1:$SINK_PORT\",
  \"from\": \"apitoken@example.net\" }"
kill -HUP "$DAEMON_PID"
check "reload with mail.relay: the thread says where mail now goes" \
	log_has 'mail: settings reloaded: delivering through 127\.0\.0\.1'
check "reload with mail.relay: the waiting notice is delivered" \
	wait_mail created gina
check_eq "... once, and the outbox is empty" "1 0" \
	"$(count created gina) $(outbox_size)"
stop_daemon

# Short lifetimes so expiry and the reminder come within seconds: a token
# lives 6 s, its reminder is due 4 s before the end (2 s after issue).
daemon_config "\"token_lifetime\": \"6s\", \"sweep_interval\": \"1s\",
  \"mail\": { \"relay\": \"smtp://127.0.0.1:$SINK_PORT\",
              \"from\": \"apitoken@example.net\",
              \"reminders\": [\"4s\"], \"retry_max\": \"2s\" }"
if ! start_daemon; then
	not_ok "apitokend starts with mail.relay set"
	done_testing
fi
ok "apitokend starts with mail.relay set"

# ---- each change is announced -----------------------------------------
T1=$(ctl token generate alice 2>/dev/null)
T2=$(ctl token generate alice --replace 2>/dev/null)
ctl token revoke alice >/dev/null 2>&1
TB=$(ctl token generate bob 2>/dev/null)
check_match "tokens issued" '^apitok_' "$T1$T2$TB"
check "the notice queued without a relay goes out once one is set" \
	wait_mail created gina

check "alice: creation mail arrives" wait_mail created alice
check "alice: regeneration mail arrives" wait_mail regenerated alice
check "alice: revocation mail arrives" wait_mail revoked alice
check "bob: creation mail arrives" wait_mail created bob
check "bob: expiry reminder arrives" wait_mail reminder bob
check "bob: expiry mail arrives (lifetime 6 s, sweep 1 s)" \
	wait_mail expired bob

line=$(inbox | awk -F '\t' '$4 == "created" && $2 == "alice@example.org"')
check_match "recipient in To: is the user's address" \
	'	"alice" <alice@example\.org>	' "$line"
check_match "creation subject" '	Your API token was created$' "$line"
check_match "Message-ID is the notice's (<seq.token-id@apitoken>)" \
	'^<[0-9]+\.[A-Za-z0-9]{16}@apitoken>	' "$line"
check_match "regeneration subject" 'Your API token was regenerated$' \
	"$(inbox | awk -F '\t' '$4 == "regenerated"')"
check_match "revocation subject" 'Your API token was revoked$' \
	"$(inbox | awk -F '\t' '$4 == "revoked"')"
check_match "reminder subject names the day" \
	'Your API token will expire on [0-9]{4}-[0-9]{2}-[0-9]{2}$' \
	"$(inbox | awk -F '\t' '$4 == "reminder" && $2 == "bob@example.org"')"
check_match "expiry subject" 'Your API token expired$' \
	"$(inbox | awk -F '\t' '$4 == "expired" && $2 == "bob@example.org"')"

bobfile=$(grep -l 'X-Apitoken-Notice: created' "$INBOX"/*.eml |
	xargs grep -l '^X-Sink-Rcpt-To: bob@' | head -n 1)
hint=$(printf '%s' "$TB" | tail -c 4)
check "bob's creation mail names the token's last four characters" \
	grep -qF "(the token ends in ...$hint)" "$bobfile"
check "bob's creation mail greets bob" grep -q '^Hello bob,' "$bobfile"

# ---- refused changes send nothing --------------------------------------
if ctl token generate carol >/dev/null 2>&1; then
	not_ok "generate for a user whose API-token option is off is refused"
else
	ok "generate for a user whose API-token option is off is refused"
fi
TD=$(ctl token generate dave 2>/dev/null)
if ctl token generate dave >/dev/null 2>&1; then
	not_ok "a second generate without --replace is refused"
else
	ok "a second generate without --replace is refused"
fi
check "dave: creation mail arrives" wait_mail created dave
sleep 2 # two more polls: anything wrongly queued would have gone out
check_eq "refused generate for a disabled user sent nothing" 0 \
	"$(inbox | awk -F '\t' '$2 == "carol@example.org"' | wc -l)"
check_eq "refused duplicate generate sent no second creation mail" 1 \
	"$(count created dave)"
check_eq "refused duplicate generate sent no regeneration mail" 0 \
	"$(count regenerated dave)"

# ---- relay down while tokens change -------------------------------------
sink_stop
TE=$(ctl token generate erin 2>/dev/null)
ctl token revoke erin >/dev/null 2>&1
check "relay down: both notices stay queued with the error" \
	wait_failed_queued erin 2
check_eq "relay down: nothing reached erin" 0 \
	"$(inbox | awk -F '\t' '$2 == "erin@example.org"' | wc -l)"
http GET /metrics
check_match "metrics count failed attempts" \
	'apitokend_mail_failed_total [1-9]' "$HTTP_BODY"
check_match "metrics show the queue" 'apitokend_mail_queued [1-9]' \
	"$HTTP_BODY"
sink_start "$SINK_PORT" ||
	{ echo "Bail out! smtp_sink.py did not restart"; exit 99; }
ctl outbox retry >/dev/null 2>&1
check "relay back: erin's creation mail arrives" wait_mail created erin
check "relay back: erin's revocation mail arrives" wait_mail revoked erin

# ---- apitokend killed with notices queued -------------------------------
sink_stop
TF=$(ctl token generate frank 2>/dev/null)
ctl token revoke frank >/dev/null 2>&1
check "relay down: frank's notices queued" wait_failed_queued frank 2
kill_daemon
sink_start "$SINK_PORT" ||
	{ echo "Bail out! smtp_sink.py did not restart"; exit 99; }
if start_daemon; then
	ok "apitokend restarts after SIGKILL"
else
	not_ok "apitokend restarts after SIGKILL"
fi
check "after the crash: frank's creation mail arrives" wait_mail created frank
check "after the crash: frank's revocation mail arrives" \
	wait_mail revoked frank

# ---- once each, never a secret ------------------------------------------
check "dave: expiry mail arrives" wait_mail expired dave
# Let the last expiries (dave's token) go out, then the outbox is empty.
for i in $(seq 1 150); do
	[ "$(outbox_size)" = 0 ] && break
	sleep 0.1
done
check_eq "outbox empty once everything is delivered" 0 "$(outbox_size)"
sleep 1.5 # a poll after the last removal: a resend would show now
# The relay was simply down (refused connections), never an unclear
# failure, so no duplicate is acceptable here.
dups=$(inbox | cut -f 1 | sort | uniq -d)
check_eq "each Message-ID arrived exactly once" "" "$dups"
check_eq "each message has a Message-ID" 0 \
	"$(inbox | awk -F '\t' '$1 == "-"' | wc -l)"
diag "$(inbox | wc -l) messages received"

leak=""
for t in "$T1" "$T2" "$TB" "$TD" "$TE" "$TF" "$TG"; do
	[ -n "$t" ] || continue
	h=$(printf '%s' "$t" | sha256sum | cut -d ' ' -f 1)
	body=$(printf '%s' "$t" | cut -c 8-)
	if grep -rqF -e "$t" -e "$h" -e "$body" "$INBOX" "$DAEMON_LOG"; then
		leak="$leak $(printf '%s' "$t" | cut -c 1-11)..."
	fi
done
check_eq "no token, token body or token hash in any message or log" "" \
	"$leak"
check "the log names each delivery by notice, kind and token id" \
	grep -Eq 'mail: notice [0-9]+ \(created, token [A-Za-z0-9]{16}\) delivered to a recipient at example\.org' \
	"$DAEMON_LOG"
check_eq "mail log lines name no mailbox" "" \
	"$(grep 'mail:' "$DAEMON_LOG" | grep -E '[A-Za-z0-9]@' | head -n 3)"

http GET /metrics
check_match "metrics: sent counter" 'apitokend_mail_sent_total [1-9]' \
	"$HTTP_BODY"
check_match "metrics: queue gauge back to 0" '^apitokend_mail_queued 0$' \
	"$HTTP_BODY"

stop_daemon
check_eq "apitokend stops cleanly with the mail thread" 0 "$?"

# ---- refused past mail.give_up_after: given up, with an audit record ---
sink_stop
sink_start 0 --reject-rcpt evil.example ||
	{ echo "Bail out! smtp_sink.py did not restart"; exit 99; }
daemon_config "\"mail\": { \"relay\": \"smtp://127.0.0.1:$SINK_PORT\",
  \"from\": \"apitoken@example.net\", \"retry_max\": \"1s\",
  \"give_up_after\": \"2s\" }"
ctl user add mallory --email mallory@evil.example --role user >/dev/null 2>&1
if ! start_daemon; then
	not_ok "apitokend restarts with mail.give_up_after"
	done_testing
fi
TM=$(ctl token generate mallory 2>/dev/null)
given_up=""
for i in $(seq 1 300); do
	given_up=$(grep -E 'mail: notice [0-9]+ \(created, token [A-Za-z0-9]{16}\) to a recipient at evil\.example given up after [0-9]+ attempts in [0-9]+s: .*550' "$DAEMON_LOG")
	[ -n "$given_up" ] && break
	sleep 0.1
done
check_match "a notice refused 2 s after its change is given up, logged" \
	'given up after' "$given_up"
check_eq "... it is no longer in the outbox" 0 "$(outbox_size)"
check_match "... the audit log says so (notice-undeliverable, origin mail)" \
	'notice-undeliverable.*mail' "$(ctl audit mallory 2>/dev/null)"
http GET /metrics
check_match "metrics: given-up counter" \
	'apitokend_mail_given_up_total 1' "$HTTP_BODY"
check_match "... and the token it announced is still active" \
	'^status: +active$' "$(ctl token show mallory 2>/dev/null)"
stop_daemon
done_testing

#!/bin/sh
# The outbox and the cache at scale, as a user sees them (issue 10):
# without a mail relay the mail thread does not look into the outbox while
# tokens come and go (apitokend_mail_outbox_scans_total stays put), and
# notices older than mail.outbox_max_age are dropped, each with a
# notice-dropped audit record; with a relay a new notice is sent at once,
# without polling; the store_cache key is checked; a DB_CONFIG as older
# versions wrote it is brought up to date so that the key applies.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/daemon.sh"

[ -x "$APITOKEND" ] || skip_all "apitokend not built"
[ -x "$APITOKENCTL" ] || skip_all "apitokenctl not built"
command -v curl >/dev/null || skip_all "curl not installed"

metric() {
	curl -s "$BASE_URL/metrics" | sed -n "s/^$1 //p"
}

# ---- store_cache ------------------------------------------------------------
daemon_config '"store_cache": "12M"'
out=$(ctl init 2>&1)
check_match "store_cache below 16M is refused, naming the key" \
	"key 'store_cache'.*16M" "$out"
check "... and no store was made" test ! -e "$DAEMON_STORE/meta.db"
daemon_config '"store_cache": "lots"'
check_match "store_cache that is no size is refused" \
	"key 'store_cache'" "$(ctl init 2>&1)"
daemon_config '"store_cache": "48M"'
check "store_cache 48M is taken" ctl init
start_daemon || exit 1
check_match "... and used" "cache 48 MB \(store_cache\)" "$(cat "$DAEMON_LOG")"
stop_daemon

# A DB_CONFIG exactly as older versions wrote it loses its fixed cache size.
cat >"$DAEMON_STORE/DB_CONFIG" <<'EOF'
# apitoken store: Berkeley DB settings, read at every open.
# Keep set_tx_max above cache bytes / 4096 (MVCC, see store.c).
set_cachesize 0 67108864 1
set_lg_bsize 1048576
set_lg_max 16777216
set_tx_max 24000
set_lk_detect DB_LOCK_DEFAULT
set_lk_max_locks 20000
set_lk_max_objects 20000
set_lk_max_lockers 4096
EOF
ctl user list >/dev/null 2>&1
check "an old default DB_CONFIG is updated: no set_cachesize" \
	sh -c "! grep -q set_cachesize '$DAEMON_STORE/DB_CONFIG'"
check "... the other settings kept" \
	grep -q '^set_lk_max_locks 20000$' "$DAEMON_STORE/DB_CONFIG"
echo "set_cachesize 0 33554432 1" >>"$DAEMON_STORE/DB_CONFIG"
ctl user list >/dev/null 2>&1
check "a DB_CONFIG edited by hand is left alone" \
	grep -q '^set_cachesize 0 33554432 1$' "$DAEMON_STORE/DB_CONFIG"
rm -rf "$DAEMON_STORE"

# ---- no relay: no polling ---------------------------------------------------
daemon_config
ctl init >/dev/null 2>&1
for u in alice bob carol; do
	ctl user add $u --email $u@example.org --role user >/dev/null 2>&1
done
start_daemon || exit 1
sleep 1
scans0=$(metric apitokend_mail_outbox_scans_total)
check_match "the scans metric is there" '^[0-9]+$' "$scans0"
for u in alice bob carol; do
	ctl token generate $u >/dev/null 2>&1
	sleep 1
done
ctl token revoke bob >/dev/null 2>&1
ctl user set carol --role admin >/dev/null 2>&1
sleep 2
check_eq "no relay: the mail thread did not look at the outbox in 5 s of changes" \
	"$scans0" "$(metric apitokend_mail_outbox_scans_total)"
check_eq "... yet counts the 4 queued notices" 4 \
	"$(metric apitokend_mail_queued)"
check_eq "... which stay queued" 4 \
	"$(ctl outbox list 2>/dev/null | grep -c '@example.org')"
stop_daemon

# ---- no relay: the outbox is bounded -----------------------------------------
daemon_config '"mail": { "outbox_max_age": "3s" }'
sleep 3
start_daemon || exit 1
sleep 1
check_eq "notices older than mail.outbox_max_age are dropped at start" 0 \
	"$(ctl outbox list 2>/dev/null | grep -c '@example.org')"
check_eq "... counted" 4 "$(metric apitokend_mail_dropped_total)"
check_match "... each with an audit record (notice-dropped, origin mail)" \
	'notice-dropped.*mail' "$(ctl audit alice 2>/dev/null)"
check_match "... saying why" 'no mail.relay' "$(ctl audit bob 2>/dev/null)"
check_eq "... two for bob (created, revoked)" 2 \
	"$(ctl audit bob 2>/dev/null | grep -c notice-dropped)"
scans1=$(metric apitokend_mail_outbox_scans_total)
ctl token generate alice --replace >/dev/null 2>&1
check_eq "a new notice is queued" 1 \
	"$(ctl outbox list 2>/dev/null | grep -c '@example.org')"
i=0
while [ "$i" -lt 100 ] &&
	[ "$(ctl outbox list 2>/dev/null | grep -c '@example.org')" != 0 ]; do
	sleep 0.1
	i=$((i + 1))
done
check_eq "... and dropped once 3 s old" 0 \
	"$(ctl outbox list 2>/dev/null | grep -c '@example.org')"
check_eq "... by one look at the outbox, at that time" \
	$((scans1 + 1)) "$(metric apitokend_mail_outbox_scans_total)"
check_eq "... the gauge back to 0" 0 "$(metric apitokend_mail_queued)"
stop_daemon

# ---- with a relay: sent at once, no polling ----------------------------------
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
if "$PY" -c 'import aiosmtpd' 2>/dev/null; then
	mkdir "$scratch/inbox"
	"$PY" "$top_srcdir/tests/smtp_sink.py" --dir "$scratch/inbox" \
		--port 0 --port-file "$scratch/sink.port" \
		2>>"$scratch/sink.log" &
	sink_pid=$!
	at_exit 'kill $sink_pid 2>/dev/null; wait $sink_pid 2>/dev/null'
	for i in $(seq 1 150); do
		[ -s "$scratch/sink.port" ] && break
		sleep 0.1
	done
	daemon_config "\"mail\": { \"relay\": \"smtp://127.0.0.1:$(cat "$scratch/sink.port")\", \"reminders\": [] }"
	start_daemon || exit 1
	sleep 1
	scans2=$(metric apitokend_mail_outbox_scans_total)
	ctl token generate bob >/dev/null 2>&1
	i=0
	while [ "$i" -lt 50 ] && [ "$(ls "$scratch/inbox" | wc -l)" = 0 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	check_eq "with a relay, a new notice is mailed within 5 s" 1 \
		"$(ls "$scratch/inbox" | wc -l)"
	sleep 3
	after=$(metric apitokend_mail_outbox_scans_total)
	check "... with a look or two at the outbox, not one a second" \
		test "$after" -le $((scans2 + 2))
	check_eq "... and the outbox is empty" 0 "$(metric apitokend_mail_queued)"
	stop_daemon
else
	diag "python3-aiosmtpd not installed: relay part skipped"
fi

done_testing

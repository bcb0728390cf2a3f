#!/bin/sh
# Last use of each token: an active introspection or local-socket check
# shows at once (from apitokend's memory) in token show, token list and
# token identify, with the client and address; it is written to the
# store every last_used_interval without dropping kept answers, and so
# survives a crash once written; token list --unused-for finds unused
# tokens; "last_used": false records nothing.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/daemon.sh"

[ -x "$APITOKEND" ] || skip_all "apitokend not built"
[ -x "$APITOKENCTL" ] || skip_all "apitokenctl not built"
command -v curl >/dev/null || skip_all "curl not installed"
command -v python3 >/dev/null || skip_all "python3 not found"

daemon_config '"last_used_interval": "2s"'
ctl init >/dev/null 2>&1
for u in alice bob carol; do
	ctl user add $u --email $u@example.org --role user >/dev/null 2>&1
done
SR=$(ctl client add rs1 2>/dev/null)
TA=$(ctl token generate alice 2>/dev/null)
TB=$(ctl token generate bob 2>/dev/null)
TC=$(ctl token generate carol 2>/dev/null)
if ! start_daemon; then
	not_ok "apitokend starts"
	done_testing
fi
ok "apitokend starts"

# lu USER FIELD: a field of "last_use" in token show --json.
lu() {
	ctl --json token show "$1" | python3 -c "import json,sys
v = json.load(sys.stdin)['last_use']
print('never' if v is None else v['$2'])"
}
hits() {
	curl -s "$BASE_URL/metrics" |
		sed -n 's/^apitokend_introspection_cache_total{result="hit"} //p'
}

check_eq "before any use: never" never "$(lu alice time)"
sleep 5
http POST /introspect -u "rs1:$SR" -d "token=$TA"
check_match "introspection of alice's token: active" '"active":true' \
	"$HTTP_BODY"
check_eq "token show through apitokend: the client at once" rs1 \
	"$(lu alice client)"
check_eq "... and its address" 127.0.0.1 "$(lu alice source)"
check_match "... and a time" '^[0-9]{10}$' "$(lu alice time)"
check_match "token show text: last use line" \
	"last use: [0-9T:-]+Z from 127\\.0\\.0\\.1 \\(rs1\\)" \
	"$(ctl token show alice)"

reply=$(local_request "{\"op\":\"check\",\"token\":\"$TB\"}")
check_match "local socket check of bob's token: active" '"active":true' \
	"$reply"
check_eq "local check: the local peer as client" "local uid $(id -u)" \
	"$(lu bob client)"
check_match "... and the socket peer as source" '^local socket pid [0-9]+$' \
	"$(lu bob source)"

# A cutoff between carol's issue and alice's use (5 s apart), however
# long the checks above took.
iat=$(ctl --json token show carol | python3 -c 'import json,sys; print(json.load(sys.stdin)["iat"])')
used=$(lu alice time)
unused_for=$(( $(date +%s) - (iat + used) / 2 ))
list=$(ctl --json token list --unused-for ${unused_for}s | python3 -c "import json,sys
print(' '.join(sorted(t['user'] for t in json.load(sys.stdin))))")
check_eq "token list --unused-for: only carol's (issued before, unused)" \
	carol "$list"
check_match "token list: LAST USE and FROM columns" \
	"alice .* valid +[0-9T:-]+Z +127\\.0\\.0\\.1" "$(ctl token list)"
check_eq "token identify: last use of alice's token" rs1 \
	"$(printf '%s\n' "$TA" | ctl --json token identify |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["last_use"]["client"])')"

# Kept answers survive last-use writes: one introspection keeps the
# answer; after a write (interval 2 s) the next one is still a hit.
http POST /introspect -u "rs1:$SR" -d "token=$TC"
h0=$(hits)
# A write happens within one interval (2 s) of the use it records.
sleep 2.5
http POST /introspect -u "rs1:$SR" -d "token=$TC"
h1=$(hits)
check_eq "a kept answer is used after a last-use write (hit count +1)" \
	"$((h0 + 1))" "$h1"

# Written and not repeated since: the uses leave apitokend's memory
# (which no longer grows with every token ever used) and are still shown,
# from the store.
held() {
	curl -s "$BASE_URL/metrics" | sed -n 's/^apitokend_last_use_held //p'
}
i=0
while [ "$(held)" != 0 ] && [ $i -lt 50 ]; do
	sleep 0.2
	i=$((i + 1))
done
check_eq "uses written and not repeated leave memory (gauge 0)" 0 "$(held)"
check_eq "... alice's last use is still shown, from the store" \
	"rs1 127.0.0.1" "$(lu alice client) $(lu alice source)"
check_eq "... and bob's" "local uid $(id -u)" "$(lu bob client)"

# Written within the interval: survives kill -9.
sleep 2.5
kill_daemon
start_daemon || not_ok "apitokend restarts after kill -9"
check_eq "after a crash: alice's last use, from the store" rs1 \
	"$(lu alice client)"
check_eq "... bob's too" "local uid $(id -u)" "$(lu bob client)"
check_eq "... carol's, written before the kept answer was used again" rs1 \
	"$(lu carol client)"
stop_daemon
check_eq "offline after a clean stop: the same" "rs1 127.0.0.1" \
	"$(lu alice client) $(lu alice source)"

# Off: nothing noted.
daemon_config '"last_used": false'
TD=$(ctl token generate alice --replace 2>/dev/null)
start_daemon || not_ok "apitokend restarts with last_used false"
http POST /introspect -u "rs1:$SR" -d "token=$TD"
check_eq "last_used false: an introspection is not recorded" never \
	"$(lu alice time)"
stop_daemon
check_eq "apitokend shuts down cleanly (no leak, no sanitizer report)" 0 "$?"
done_testing

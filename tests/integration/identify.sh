#!/bin/sh
# apitokenctl token identify: whose is a token found in a log, and what
# became of it (active, disabled, revoked, expired, unknown), offline and
# through apitokend's admin socket; the token itself is never printed,
# logged or kept, and no tombstone holds its SHA-256.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/daemon.sh"

[ -x "$APITOKEND" ] || skip_all "apitokend not built"
[ -x "$APITOKENCTL" ] || skip_all "apitokenctl not built"
command -v python3 >/dev/null || skip_all "python3 not found"

daemon_config
ctl init >/dev/null 2>&1
for u in alice bob carol dave; do
	ctl user add $u --email $u@example.org --role user >/dev/null 2>&1
done

# identify TOKEN: --json identify of TOKEN on stdin; sets id_json, id_rc.
identify() {
	id_json=$(printf '%s\n' "$1" | ctl --json token identify 2>"$scratch/id.err")
	id_rc=$?
}
jf() {
	printf '%s' "$id_json" | python3 -c "import json,sys
d = json.load(sys.stdin)
v = d
for k in sys.argv[1].split('.'):
    v = v.get(k) if isinstance(v, dict) else None
print('' if v is None else v)" "$1"
}

# Run the same checks offline ($1 = off) and through apitokend (on).
phase() {
	mode=$1
	TA=$(ctl token generate alice 2>/dev/null)
	TB=$(ctl token generate bob 2>/dev/null)
	TC1=$(ctl token generate carol 2>/dev/null)
	TC2=$(ctl token generate carol --replace 2>/dev/null)
	TD=$(ctl token generate dave 2>/dev/null)
	ctl token revoke bob >/dev/null 2>&1
	ctl user api-access dave off >/dev/null 2>&1
	ida=$(ctl --json token show alice | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

	identify "$TA"
	check_eq "$mode: active token: state, owner, id, exit 0" \
		"active alice $ida 0" "$(jf state) $(jf user) $(jf id) $id_rc"
	check_match "$mode: active token: issued and expires" \
		'^[0-9]{10} [0-9]{10}$' "$(jf iat) $(jf exp)"
	identify "$TB"
	check_eq "$mode: revoked token: state, owner, how it ended" \
		"revoked bob revoked" "$(jf state) $(jf user) $(jf ended_by)"
	check_match "$mode: revoked token: when it ended" '^[0-9]{10}$' \
		"$(jf ended)"
	identify "$TC1"
	check_eq "$mode: a regenerated token's old one: revoked (replaced)" \
		"revoked carol replaced" "$(jf state) $(jf user) $(jf ended_by)"
	identify "$TC2"
	check_eq "$mode: ... its successor is active" "active carol" \
		"$(jf state) $(jf user)"
	identify "$TD"
	check_eq "$mode: owner's API access off: disabled" "disabled dave" \
		"$(jf state) $(jf user)"
	identify "$FOREIGN"
	check_eq "$mode: a well-formed token never ours: unknown, exit 1" \
		"unknown 1" "$(jf state) $id_rc"
	check_eq "$mode: ... and nothing else said" '{"state":"unknown"}' \
		"$(printf '%s' "$id_json" | tr -d ' \n\t')"
	identify "apitok_garbage"
	check_eq "$mode: garbage: unknown" "unknown 1" "$(jf state) $id_rc"
	out=$(printf '%s\n' "$TB" | ctl token identify)
	check_match "$mode: text output names state, user and end" \
		"state: +revoked.*user: +bob.*ended: +[0-9T:-]+Z \\(revoked\\)" \
		"$(printf '%s' "$out" | tr '\n' ' ')"
	ctl token identify "$TA" >/dev/null 2>"$scratch/arg.err"
	check_eq "$mode: a token as argument is refused (64), not echoed" \
		"64 0" "$? $(grep -c "${TA#apitok_}" "$scratch/arg.err")"
	ctl user api-access dave on >/dev/null 2>&1
	for u in alice carol dave; do
		ctl token revoke $u >/dev/null 2>&1
	done
}

# A token of another store: well-formed, never ours.
mkdir -p "$scratch/other"
"$APITOKENCTL" --store "$scratch/other/s" init >/dev/null 2>&1
"$APITOKENCTL" --store "$scratch/other/s" user add x --email x@example.org \
	--role admin >/dev/null 2>&1
FOREIGN=$("$APITOKENCTL" --store "$scratch/other/s" token generate x 2>/dev/null)

phase offline
if ! start_daemon; then
	not_ok "apitokend starts"
	done_testing
fi
phase apitokend
stop_daemon

leak=0
for t in "$TA" "$TB" "$TC1" "$TC2" "$TD"; do
	grep -q "${t#apitok_}" "$DAEMON_LOG" && leak=1
done
check_eq "no token in apitokend's log" 0 "$leak"
check_eq "tombstones.db holds no SHA-256 of a revoked token" ok \
	"$(python3 - "$DAEMON_STORE/tombstones.db" "$TB" "$TC1" <<'EOF'
import hashlib, sys
data = open(sys.argv[1], 'rb').read()
bad = [t for t in sys.argv[2:]
       if hashlib.sha256(t.encode()).digest() in data
       or hashlib.sha256(t.encode()).hexdigest().encode() in data
       or t.encode() in data]
print('ok' if not bad and len(data) > 0 else 'found')
EOF
)"

# Expired: live record past exp, then purged (tombstone).
daemon_config '"token_lifetime": "2s", "sweep_interval": "3600s"'
TE=$(ctl token generate alice 2>/dev/null)
sleep 2.2
identify "$TE"
check_eq "expired, not yet purged: expired" "expired alice" \
	"$(jf state) $(jf user)"
ctl purge >/dev/null 2>&1
identify "$TE"
check_eq "expired and purged: still expired, from its tombstone" \
	"expired alice expired" "$(jf state) $(jf user) $(jf ended_by)"
done_testing

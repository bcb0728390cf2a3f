#!/bin/bash
# Regions stress (not part of make check): a hung master must never answer
# a token the group revoked while it was hung.  Three sites on 127.0.0.1;
# ROUNDS (15) times: a fresh token for alice at the master, active at every
# site; SIGSTOP the master; wait for another to be elected; revoke alice's
# token there; SIGCONT the old master and ask it 40 times at once.  A round
# "leaks" if any answer says active.  The old master must then rejoin (a
# replica again, or restarted after exiting EX_TEMPFAIL as systemd would).
# Each round also reports how long after SIGCONT the group had one master.
# HOGS (0) busy loops run meanwhile: the race needs a loaded host.
#
#   tests/bench/regions-stop.sh [BUILD_DIR]        HOGS=3 ROUNDS=15
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/bench-dirs.sh" "${1:-}"
. "$top_srcdir/tests/regions-lib.sh"

ROUNDS=${ROUNDS:-15}
HOGS=${HOGS:-0}
case "$ROUNDS$HOGS" in *[!0-9]*)
	echo "ROUNDS and HOGS must be whole numbers" >&2
	exit 64 ;;
esac
regions_setup '"staleness_limit": "1s", "heartbeat_interval_ms": 200,
    "heartbeat_timeout_ms": 1000, "ack_timeout_ms": 1000' || exit 1
hogs=""
for _ in $(seq 1 "$HOGS"); do
	(while :; do :; done) &
	hogs="$hogs $!"
done
[ -n "$hogs" ] && at_exit "kill $hogs 2>/dev/null"
one_master() { [ -n "$(master_site)" ]; }
for s in a b c; do start_site "$s" || exit 1; done
wait_for 20 one_master || { echo "no master" >&2; exit 1; }
ctl_at a user add alice --email alice@example.org --role user >/dev/null
RS_SECRET=$(ctl_at a client add rs1 --can-revoke 2>/dev/null)
leaks=0
rounds=0
one_times=""
# A site that exited (EX_TEMPFAIL) is started again, as systemd would,
# and said so: only the old master is expected to.
restart_exited() {
	local s p st
	for s in a b c; do
		p=$(eval echo "\${SITE_PID_$s:-}")
		[ -n "$p" ] || continue
		ps -o stat= -p "$p" 2>/dev/null | grep -qv Z && continue
		wait "$p" 2>/dev/null
		st=$?
		echo "round $it: site $s had exited (status $st); restarted;" \
			"the end of its log:"
		grep -v -e ' access: ' -e 'locked out' -e DB_REP_LOCKOUT \
			"$scratch/$s.log" | uniq | tail -n 20 | sed 's/^/    /'
		start_site "$s" >/dev/null
	done
}
for it in $(seq 1 "$ROUNDS"); do
	restart_exited
	wait_for 30 one_master || { echo "round $it: no master"; break; }
	M=$(master_site)
	pid=$(eval echo "\$SITE_PID_$M")
	TS=$(ctl_at "$M" token generate alice --replace 2>/dev/null)
	everywhere=yes
	for s in a b c; do wait_for 5 active_at "$s" "$TS" || everywhere=no; done
	if [ $everywhere = no ]; then
		echo "round $it: the new token is not active everywhere; skipped"
		continue
	fi
	sleep "0.$((RANDOM % 10))"
	kill -STOP "$pid"
	t0=$(date +%s%N)
	NM=""
	for _ in $(seq 1 300); do
		for s in a b c; do
			[ "$s" != "$M" ] && [ "$(role_of "$s")" = master ] && NM=$s
		done
		[ -n "$NM" ] && break
		sleep 0.02
	done
	if [ -z "$NM" ]; then
		echo "round $it: no new master within 6 s"
		kill -CONT "$pid"
		continue
	fi
	for _ in $(seq 1 100); do
		ctl_at "$NM" token revoke alice >/dev/null 2>&1 && break
		ctl_at "$NM" user show alice 2>/dev/null |
			grep -q '^token: .*expires' || break
		sleep 0.1
	done
	t1=$(date +%s%N)
	kill -CONT "$pid"
	leak=no
	refused=0
	inactive=0
	for _ in $(seq 1 40); do
		out=$(introspect_at "$M" "$TS")
		case "$out" in
		*'"active":true'*) leak=yes ;;
		*temporarily_unavailable*) refused=$((refused + 1)) ;;
		*'"active":false'*) inactive=$((inactive + 1)) ;;
		esac
	done
	[ $leak = yes ] && leaks=$((leaks + 1))
	rounds=$((rounds + 1))
	# The duplicate master is resolved (the old one demoted or exited,
	# one master elected): counted from SIGCONT, the 40 answers included.
	if wait_for 30 one_master; then
		one_ms=$((($(date +%s%N) - t1) / 1000000))
	else
		one_ms=none
	fi
	one_times="$one_times $one_ms"
	echo "round $it: master $M stopped, $NM elected and revoked after" \
		"$(((t1 - t0) / 1000000)) ms; old master of 40 answers:" \
		"$refused refused, $inactive inactive, leak=$leak;" \
		"one master $one_ms ms after SIGCONT"
	rejoin() {
		if ! ps -o stat= -p "$pid" 2>/dev/null | grep -qv Z; then
			wait "$pid" 2>/dev/null
			start_site "$M" >/dev/null || return 1
			pid=$(eval echo "\$SITE_PID_$M")
		fi
		introspect_at "$M" "$TS" >/dev/null
		sleep 0.3
		kill -0 "$pid" 2>/dev/null && [ "$(role_of "$M")" = replica ]
	}
	if ! wait_for 20 rejoin; then
		echo "round $it: $M did not rejoin in 20 s; restarted"
		kill_site "$M" KILL
		start_site "$M" >/dev/null
	fi
done
echo "leaks: $leaks of $rounds rounds (HOGS=$HOGS)"
echo "one master after SIGCONT, ms (sorted):" \
	"$(echo $one_times | tr ' ' '\n' | sort -n | tr '\n' ' ')"
[ "$leaks" -eq 0 ]

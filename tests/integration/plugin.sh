#!/bin/sh
# validator.so in a real host (tests/plugin/host) against the real
# apitokend: local socket and HTTPS introspection (remote), lifecycle
# (revoke, disable, expiry), daemon down and back, TLS verification,
# and the remote cache bound.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/daemon.sh"

HOST="$top_builddir/tests/plugin/host"
SO="$top_builddir/plugin/.libs/validator.so"
[ -x "$HOST" ] && [ -f "$SO" ] || skip_all "host or validator.so not built"
[ -x "$APITOKEND" ] && [ -x "$APITOKENCTL" ] || skip_all "apitokend not built"
command -v openssl >/dev/null || skip_all "no openssl"

# A throw-away CA-less certificate for 127.0.0.1.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -days 1 \
	-keyout "$scratch/key.pem" -out "$scratch/cert.pem" 2>/dev/null ||
	skip_all "openssl cannot make a certificate"
tls="\"tls_cert\": \"$scratch/cert.pem\", \"tls_key\": \"$scratch/key.pem\""
daemon_config "$tls"
DAEMON_SCHEME=https
DAEMON_CURL_OPTS="--cacert $scratch/cert.pem"

ctl init >/dev/null 2>&1
ctl user add alice --email alice@example.com --role user --bu 7 >/dev/null
ctl user add bob --email bob@example.com --role admin >/dev/null
start_daemon || { not_ok "apitokend starts"; done_testing; }
T_ALICE=$(ctl token generate alice 2>/dev/null)
T_BOB=$(ctl token generate bob 2>/dev/null)
check_eq "tokens are 56 characters" "56 56" "${#T_ALICE} ${#T_BOB}"
ctl client add rs1 --name "test resource server" >"$scratch/client" \
	2>/dev/null
(umask 077; tail -n 1 "$scratch/client" >"$scratch/secret")

LOCAL="mode=local socket=$DAEMON_LOCAL_SOCKET timeout=1000"
remote_opts() {
	echo "mode=remote url=$BASE_URL/introspect client_id=rs1" \
		"secret_file=$scratch/secret timeout=2000 $*"
}
# first status word of the result line of one check
one() {
	local tok="$1"
	shift
	printf '%s\n' "$tok" | "$HOST" "$@" | sed -n 2p
}

# --- local ----------------------------------------------------------
out=$(one "$T_ALICE" "$SO" $LOCAL)
check_match "local: alice's token is VALID with role, scope and units" \
	'^VALID user=alice role=user scope="api:read bu:7" bus="7" exp=set' \
	"$out"
out=$(one "$T_BOB" -s "api:write api:admin" "$SO" $LOCAL)
check_match "local: bob's admin token satisfies api:write api:admin" \
	'^VALID user=bob role=admin' "$out"
out=$(one "$T_ALICE" -s "api:write" "$SO" $LOCAL)
check_match "local: missing scope is INVALID (insufficient scope)" \
	'^INVALID user=alice .*flags=1 reason="insufficient scope"' "$out"
out=$(one "apitok_garbage" "$SO" $LOCAL)
check_match "local: garbage is INVALID" '^INVALID reason="malformed token"' \
	"$out"
out=$(printf '%s\n' "$T_ALICE" | "$HOST" -T 8 "$SO" $LOCAL | sed -n 2p)
check_eq "local: 8 threads, one handle, same answer" \
	"VALID threads agree" "$out"

# --- remote (HTTPS introspection) -----------------------------------
out=$(one "$T_ALICE" "$SO" $(remote_opts "ca_file=$scratch/cert.pem"))
check_match "remote: VALID over HTTPS with ca_file" \
	'^VALID user=alice role=user scope="api:read bu:7" bus="7"' "$out"
out=$(one "$T_ALICE" -s "api:admin" "$SO" \
	$(remote_opts "ca_file=$scratch/cert.pem"))
check_match "remote: missing scope is INVALID" '^INVALID user=alice' "$out"
out=$(one "$T_ALICE" "$SO" $(remote_opts))
check_match "remote: TLS verified by default (untrusted: UNAVAILABLE)" \
	'^UNAVAILABLE' "$out"
out=$(one "$T_ALICE" "$SO" $(remote_opts insecure))
check_match "remote: insecure skips verification" '^VALID user=alice' \
	"$out"
(umask 077; echo "apicli_wrong" >"$scratch/badsecret")
out=$(one "$T_ALICE" "$SO" mode=remote url="$BASE_URL/introspect" \
	client_id=rs1 "secret_file=$scratch/badsecret" \
	"ca_file=$scratch/cert.pem")
check_match "remote: wrong client secret is UNAVAILABLE (HTTP 401)" \
	'^UNAVAILABLE reason="introspection refused our client credentials' \
	"$out"
for ttl in 0 30; do
	out=$(printf '%s\n' "$T_BOB" | "$HOST" -T 8 "$SO" \
		$(remote_opts "ca_file=$scratch/cert.pem cache_ttl=$ttl") |
		sed -n 2p)
	check_eq "remote (cache_ttl=$ttl): 8 threads, one handle, same answer" \
		"VALID threads agree" "$out"
done
out=$(one "apitok_garbage" "$SO" $(remote_opts "ca_file=$scratch/cert.pem"))
check_match "remote: garbage is INVALID" '^INVALID reason="malformed token"' \
	"$out"

# --- one long-lived host across lifecycle changes --------------------
# host reads tokens from a FIFO, so one handle (and one cache) sees the
# daemon change under it.
mkfifo "$scratch/in.local" "$scratch/in.cached" "$scratch/in.nocache"
"$HOST" "$SO" $LOCAL <"$scratch/in.local" >"$scratch/out.local" &
hl=$!
"$HOST" "$SO" $(remote_opts "ca_file=$scratch/cert.pem cache_ttl=30") \
	<"$scratch/in.cached" >"$scratch/out.cached" &
hc=$!
"$HOST" "$SO" $(remote_opts "ca_file=$scratch/cert.pem cache_ttl=0") \
	<"$scratch/in.nocache" >"$scratch/out.nocache" &
hn=$!
exec 3>"$scratch/in.local" 4>"$scratch/in.cached" 5>"$scratch/in.nocache"
at_exit "exec 3>&- 4>&- 5>&-; kill $hl $hc $hn 2>/dev/null"

# ask FD TOKEN OUTFILE: send one token, print the answer line
ask() {
	local n i
	n=$(($(wc -l <"$3") + 1))
	printf '%s\n' "$2" >&"$1"
	for i in $(seq 1 100); do
		[ "$(wc -l <"$3")" -ge "$n" ] && break
		sleep 0.05
	done
	sed -n "${n}p" "$3"
}
# wait for the "abi" line of each host
for f in out.local out.cached out.nocache; do
	for i in $(seq 1 100); do
		[ -s "$scratch/$f" ] && break
		sleep 0.05
	done
done

check_match "long-lived local host: VALID" '^VALID user=alice' \
	"$(ask 3 "$T_ALICE" "$scratch/out.local")"
check_match "long-lived remote host (cache 30 s): VALID" '^VALID user=alice' \
	"$(ask 4 "$T_ALICE" "$scratch/out.cached")"
check_match "long-lived remote host (no cache): VALID" '^VALID user=alice' \
	"$(ask 5 "$T_ALICE" "$scratch/out.nocache")"

ctl user api-access alice off >/dev/null 2>&1
check_match "local: user's API-token option off: INVALID at once" \
	'^INVALID reason="inactive token"' \
	"$(ask 3 "$T_ALICE" "$scratch/out.local")"
check_match "remote without cache: INVALID at once" '^INVALID' \
	"$(ask 5 "$T_ALICE" "$scratch/out.nocache")"
check_match "remote with cache: still VALID, cached (the documented bound)" \
	'^VALID user=alice .*flags=2' \
	"$(ask 4 "$T_ALICE" "$scratch/out.cached")"
ctl user api-access alice on >/dev/null 2>&1
check_match "local: option back on: VALID again" '^VALID user=alice' \
	"$(ask 3 "$T_ALICE" "$scratch/out.local")"

ctl token revoke alice >/dev/null 2>&1
check_match "local: revoked token is INVALID" '^INVALID' \
	"$(ask 3 "$T_ALICE" "$scratch/out.local")"
check_match "remote without cache: revoked token is INVALID" '^INVALID' \
	"$(ask 5 "$T_ALICE" "$scratch/out.nocache")"

# Daemon down: UNAVAILABLE within the timeout; back up: the same handle
# reconnects by itself.
stop_daemon
t0=$(date +%s%N)
check_match "local: apitokend stopped: UNAVAILABLE" '^UNAVAILABLE' \
	"$(ask 3 "$T_BOB" "$scratch/out.local")"
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
check "... answered within the timeout (took $ms ms)" test "$ms" -lt 3000
check_match "remote: apitokend stopped: UNAVAILABLE" '^UNAVAILABLE' \
	"$(ask 5 "$T_BOB" "$scratch/out.nocache")"
start_daemon || { not_ok "apitokend restarts"; done_testing; }
check_match "local: apitokend back: same handle VALID again" \
	'^VALID user=bob' "$(ask 3 "$T_BOB" "$scratch/out.local")"
# (The restarted apitokend inherited the FIFOs' write ends: end the
# hosts by signal rather than by EOF.)
exec 3>&- 4>&- 5>&-
kill $hl $hc $hn 2>/dev/null
wait $hl $hc $hn 2>/dev/null

# --- expiry ------------------------------------------------------------
stop_daemon
daemon_config "$tls, \"token_lifetime\": \"2s\", \"sweep_interval\": \"1s\""
start_daemon || { not_ok "apitokend restarts (2 s lifetime)"; done_testing; }
T_SHORT=$(ctl token generate alice 2>/dev/null)
check_match "short-lived token VALID at first" '^VALID user=alice' \
	"$(one "$T_SHORT" "$SO" $LOCAL)"
sleep 3
check_match "local: expired token is INVALID" '^INVALID' \
	"$(one "$T_SHORT" "$SO" $LOCAL)"
check_match "remote: expired token is INVALID" '^INVALID' \
	"$(one "$T_SHORT" "$SO" $(remote_opts "ca_file=$scratch/cert.pem"))"
# A kept remote answer ends with the token: cache_ttl 30 s, lifetime 2 s.
ctl user add carol --email carol@example.com --role user >/dev/null 2>&1
T_SHORT2=$(ctl token generate carol 2>/dev/null)
out=$( (echo "$T_SHORT2"; sleep 3; echo "$T_SHORT2") | "$HOST" "$SO" \
	$(remote_opts "ca_file=$scratch/cert.pem cache_ttl=30"))
check_match "remote with cache: VALID at first" '^VALID user=carol' \
	"$(printf '%s\n' "$out" | sed -n 2p)"
check_match "... past its exp INVALID, not served from the cache" \
	'^INVALID' "$(printf '%s\n' "$out" | sed -n 3p)"

if grep -F -e "$T_ALICE" -e "$T_BOB" -e "$T_SHORT" -e "$T_SHORT2" "$DAEMON_LOG" \
	>/dev/null; then
	not_ok "no token in apitokend's log"
else
	ok "no token in apitokend's log"
fi
done_testing

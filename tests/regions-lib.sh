# Three apitokend sites on 127.0.0.1 forming one replication group, for the
# Regions tests.  Source after tests/lib.sh:
#
#   regions_setup [EXTRA_JSON_MEMBERS_OF_replication]
#       Make a CA and a certificate for 127.0.0.1 (openssl), a shared key,
#       probe free ports and write $scratch/<site>.json for sites a, b, c
#       (each its own store folder $scratch/<site>/store; a has
#       create_group true).  Every process started below is killed at exit.
#   start_site SITE       start apitokend for SITE, wait until it answers
#   kill_site SITE [SIG]  send SIG (default KILL) to SITE's apitokend
#   ctl_at SITE ARGS...   apitokenctl with SITE's configuration
#   url_of SITE           https://127.0.0.1:PORT
#   curl_at SITE PATH [curl options]  prints the body; status in
#       $HTTP_CODE, or $(last_code) after a $(curl_at ...) subshell
#   introspect_at SITE TOKEN  prints the introspection answer (client rs1,
#       secret in $RS_SECRET)
#   active_at SITE TOKEN  true if SITE says the token is active
#   role_of SITE          master|replica|"" from /healthz
#   master_site           the site all running sites call master, or ""
#   wait_for SECONDS CMD...  retry CMD every 20 ms until it succeeds

REGIONS_SITES="a b c"
RS_SECRET=""

free_port() {
	python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

regions_setup() {
	local extra="${1:-}" s i=0 others o
	[ -n "$extra" ] && extra=", $extra"
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=test CA" \
		-keyout "$scratch/ca.key" -out "$scratch/ca.pem" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign" >/dev/null 2>&1 ||
		return 1
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
		-keyout "$scratch/site.key" -out "$scratch/site.csr" \
		>/dev/null 2>&1 || return 1
	printf 'subjectAltName=IP:127.0.0.1\n' >"$scratch/site.ext"
	openssl x509 -req -in "$scratch/site.csr" -CA "$scratch/ca.pem" \
		-CAkey "$scratch/ca.key" -CAcreateserial -days 1 \
		-extfile "$scratch/site.ext" -out "$scratch/site.pem" \
		>/dev/null 2>&1 || return 1
	openssl rand -hex 32 >"$scratch/replication.key"
	chmod 600 "$scratch/replication.key"
	for s in $REGIONS_SITES; do
		eval "HTTP_PORT_$s=$(free_port)"
		eval "REP_PORT_$s=$(free_port)"
		mkdir -p "$scratch/$s"
	done
	for s in $REGIONS_SITES; do
		others=""
		for o in $REGIONS_SITES; do
			[ "$o" = "$s" ] && continue
			[ -n "$others" ] && others="$others, "
			others="$others{\"name\": \"$o\", \"address\": \"127.0.0.1:$(eval echo \$REP_PORT_$o)\", \"url\": \"https://127.0.0.1:$(eval echo \$HTTP_PORT_$o)\"}"
		done
		cat >"$scratch/$s.json" <<EOF
{
  "store": "$scratch/$s/store",
  "listen": "127.0.0.1:$(eval echo \$HTTP_PORT_$s)",
  "tls_cert": "$scratch/site.pem",
  "tls_key": "$scratch/site.key",
  "web": {"auth": "header", "user_header": "X-Remote-User",
          "trusted_proxies": ["127.0.0.1"],
          "assets": "$top_srcdir/introspect/web"},
  "roles": {
    "admin": ["api:read", "api:write", "api:admin"],
    "user": ["api:read"]
  },
  "replication": {
    "name": "$s",
    "listen": "127.0.0.1:$(eval echo \$REP_PORT_$s)",
    "sites": [$others],
    "create_group": $([ "$s" = a ] && echo true || echo false),
    "priority": $((100 - i)),
    "secret_file": "$scratch/replication.key",
    "ca_file": "$scratch/ca.pem"$extra
  }
}
EOF
		i=$((i + 1))
	done
	at_exit 'regions_at_exit'
}

regions_at_exit() {
	local s p
	for s in $REGIONS_SITES; do
		p=$(eval echo "\${SITE_PID_$s:-}")
		if [ -n "$p" ]; then
			kill -CONT "$p" 2>/dev/null
			kill -9 "$p" 2>/dev/null
			wait "$p" 2>/dev/null
		fi
	done
}

url_of() { echo "https://127.0.0.1:$(eval echo \$HTTP_PORT_$1)"; }

start_site() {
	local s="$1" p i
	"$APITOKEND" --foreground --config "$scratch/$s.json" \
		--log-level info 2>>"$scratch/$s.log" &
	p=$!
	eval "SITE_PID_$s=$p"
	for i in $(seq 1 600); do
		if curl -s -o /dev/null --cacert "$scratch/ca.pem" \
			"$(url_of "$s")/healthz"; then
			return 0
		fi
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	diag "site $s did not start; its log:"
	sed 's/^/# /' "$scratch/$s.log" | tail -n 30
	return 1
}

kill_site() {
	local p
	p=$(eval echo "\${SITE_PID_$1:-}")
	[ -n "$p" ] || return 0
	kill -"${2:-KILL}" "$p" 2>/dev/null
	if [ "${2:-KILL}" = KILL ]; then
		wait "$p" 2>/dev/null
		eval "SITE_PID_$1="
	fi
}

ctl_at() {
	local s="$1"
	shift
	APITOKEN_CONFIG="$scratch/$s.json" "$APITOKENCTL" "$@"
}

curl_at() {
	local s="$1" path="$2"
	shift 2
	curl -s --cacert "$scratch/ca.pem" -o "$scratch/curl.body" \
		-w '%{http_code}' "$@" "$(url_of "$s")$path" >"$scratch/curl.code"
	HTTP_CODE=$(cat "$scratch/curl.code")
	cat "$scratch/curl.body"
}

introspect_at() {
	curl -s --max-time 5 --cacert "$scratch/ca.pem" -u "rs1:$RS_SECRET" \
		-d "token=$2" "$(url_of "$1")/introspect"
}

active_at() {
	introspect_at "$1" "$2" | grep -q '"active":true'
}

role_of() {
	curl -s --max-time 2 --cacert "$scratch/ca.pem" \
		"$(url_of "$1")/healthz" |
		sed -n 's/.*"role":"\([a-z]*\)".*/\1/p'
}

master_site() {
	local s r m=""
	for s in $REGIONS_SITES; do
		[ -n "$(eval echo "\${SITE_PID_$s:-}")" ] || continue
		r=$(role_of "$s")
		if [ "$r" = master ]; then
			[ -n "$m" ] && { echo ""; return; }
			m=$s
		fi
	done
	echo "$m"
}

wait_for() {
	local secs="$1" end
	shift
	end=$(($(date +%s%N) / 1000000 + secs * 1000))
	while [ $(($(date +%s%N) / 1000000)) -lt $end ]; do
		"$@" && return 0
		sleep 0.02
	done
	return 1
}

last_code() { cat "$scratch/curl.code"; }

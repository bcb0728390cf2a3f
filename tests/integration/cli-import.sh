#!/bin/sh
# apitokenctl user import: CSV and JSON lines, bad lines reported as
# FILE:LINE: reason and skipped, the good ones kept, batches of 500, and a
# 20 000-user file.
. "$top_srcdir/tests/lib.sh"

command -v python3 >/dev/null 2>&1 || skip_all "python3 not found"

cfg="$scratch/apitoken.json"
cat >"$cfg" <<'EOF'
{ "roles": { "admin": ["api:read", "api:write"], "reader": ["api:read"] } }
EOF
store="$scratch/store"

run() {
	out=$("$APITOKENCTL" --config "$cfg" --store "$store" "$@" \
		2>"$scratch/stderr")
	rc=$?
	err=$(cat "$scratch/stderr")
}
count_users() {
	"$APITOKENCTL" --config "$cfg" --store "$store" --json user list |
		python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'
}

run init
run user add zoe --email zoe@example.com --role reader

# ---- CSV (an open quote runs to the end of the file) -----------------------------------------------------------------
csv="$scratch/users.csv"
printf '%s\r\n' 'user,email,role,business_units' >"$csv"
cat >>"$csv" <<'EOF'
anna,anna@example.com,admin,12;34
ben,ben@example.com,reader

carl,not-an-email,reader
dora,dora@example.com,wizard,1
"emil","emil@example.com","reader","7; 8"
fay,fay@example.com,reader,bad unit
gus,gus@example.com
zoe,zoe2@example.com,reader
anna,anna2@example.com,reader
ida , ida@example.com , admin ,  ; 5 ;
"hal,hal@example.com,reader
EOF
run user import "$csv"
check_eq "CSV with bad lines: exit 65" 65 "$rc"
check_eq "CSV: summary" "imported 4 users, rejected 7" "$out"
expected="$csv:5: invalid email address 'not-an-email'
$csv:6: unknown role 'wizard'
$csv:8: invalid business unit id 'bad unit'
$csv:9: expected 3 or 4 fields (user,email,role,unit;unit), found 2
$csv:10: ALREADY
$csv:11: user anna appears again (first on line 2)
$csv:13: unterminated quoted field"
actual=$(printf '%s\n' "$err" | sed -e 's/ (known roles: .*)$//' \
	-e 's/ (expected one .*)$//' -e 's/ (visible ASCII.*)$//' \
	-e "s|^\($csv:10: \).*already.*|\1ALREADY|")
check_eq "CSV: every bad line reported as FILE:LINE: reason, in order" \
	"$expected" "$actual"
run --json user list
check "CSV: the good lines are kept, fields and units parsed" \
	python3 -c "import json,sys
d = {u['user']: u for u in json.loads(sys.argv[1])}
assert sorted(d) == ['anna', 'ben', 'emil', 'ida', 'zoe'], sorted(d)
assert d['anna']['business_units'] == ['12', '34']
assert d['anna']['role'] == 'admin' and d['ben']['business_units'] == []
assert d['emil']['business_units'] == ['7', '8']
assert d['ida']['email'] == 'ida@example.com' and d['ida']['business_units'] == ['5']
assert d['zoe']['email'] == 'zoe@example.com'" "$out"

# A quoted field may span lines; later line numbers stay right.
cat >"$scratch/multi.csv" <<'EOF'
ivy,ivy@example.com,reader,"41;
42"
jo,broken,reader
EOF
run user import "$scratch/multi.csv"
check_eq "CSV: quoted line break, next record numbered 3" \
	"65 imported 1 users, rejected 1 $scratch/multi.csv:3: invalid email address 'broken' (expected one '@' between a name and a domain)" \
	"$rc $out $err"
run --json user show ivy
check "CSV: units across the line break" python3 -c \
	"import json,sys; assert json.loads(sys.argv[1])['business_units'] == ['41', '42']" \
	"$out"

# A NUL byte: that line is rejected, the others kept.
printf 'nul1,nul1@example.com,reader\nnu\000l2,nul2@example.com,reader\nnul3,nul3@example.com,reader\n' \
	>"$scratch/nul.csv"
run user import "$scratch/nul.csv"
check_eq "NUL byte: that line rejected, the rest imported" \
	"65 imported 2 users, rejected 1 $scratch/nul.csv:2: contains a NUL byte (not a text file?)" \
	"$rc $out $err"

# ---- JSON lines ------------------------------------------------------------
jl="$scratch/users.jsonl"
cat >"$jl" <<'EOF'
{"user":"jan","email":"jan@example.com","role":"reader","business_units":["3"]}
{"user":"kim","email":"kim@example.com","role":"admin"}
{"user":"lou","email":"lou@example.com"}
{"user":"max","email":"max@example.com","role":"reader","colour":"red"}
{"user":"ned","email":"ned@example.com","role":"reader","business_units":"3"}
not json at all
{"user":"oli","email":"oli@example.com","role":"reader","api_access":false}
[1,2]
EOF
run user import "$jl"
check_eq "JSON lines: exit 65 and summary" \
	"65 imported 3 users, rejected 5" "$rc $out"
check_eq "JSON lines: reasons by line" \
"$jl:3: missing key 'role'
$jl:4: unknown key 'colour' (expected user, email, role, business_units, api_access)
$jl:5: key 'business_units': expected an array of strings
$jl:6: not valid JSON
$jl:8: expected a JSON object" "$err"
run --json user show oli
check "JSON lines: api_access false kept" \
	python3 -c "import json,sys; assert not json.loads(sys.argv[1])['api_access']" \
	"$out"
run --json user show jan
check "JSON lines: units" python3 -c \
	"import json,sys; assert json.loads(sys.argv[1])['business_units'] == ['3']" \
	"$out"

# ---- stdin, all good, errors -------------------------------------------------
printf 'pia,pia@example.com,reader\nquin,quin@example.com,admin,9\n' |
	{ run user import -; echo "$rc|$out|$err" >"$scratch/res"; }
check_eq "stdin (-), all good: exit 0" \
	"0|imported 2 users, rejected 0|" "$(cat "$scratch/res")"
printf 'rita,bad,reader\n' |
	{ run user import -; echo "$err" >"$scratch/res"; }
check_match "stdin: lines named stdin:LINE" "^stdin:1: invalid email" \
	"$(cat "$scratch/res")"
before=$(count_users)
run user import "$scratch/missing.csv"
check_eq "missing file: exit 66" 66 "$rc"
check_match "missing file: message" \
	"^apitokenctl: user import: cannot open .*missing.csv: No such file" \
	"$err"
run user import
check_eq "no FILE: exit 64" 64 "$rc"
: >"$scratch/empty.csv"
run user import "$scratch/empty.csv"
check_eq "empty file: nothing, exit 0" "0 imported 0 users, rejected 0" \
	"$rc $out"
check_eq "failed imports added nobody" "$before" "$(count_users)"

# ---- batches: line numbers across batch boundaries, 20 000 users -------------
big="$scratch/big.csv"
awk 'BEGIN {
	print "user,email,role,units"
	for (i = 1; i <= 20000; i++) {
		if (i == 700 || i == 15001)
			printf "bulk%05d,broken,reader\n", i
		else
			printf "bulk%05d,bulk%05d@example.com,reader,u%d\n", \
				i, i, i % 50
	}
}' >"$big"
t0=$(date +%s.%N)
run user import "$big"
t1=$(date +%s.%N)
diag "imported 20000-line CSV in $(echo "$t1 - $t0" | bc 2>/dev/null || echo '?') s"
check_eq "20k import: summary" "imported 19998 users, rejected 2" "$out"
check_eq "20k import: the two bad lines, numbered across batches" \
"$big:701: invalid email address 'broken' (expected one '@' between a name and a domain)
$big:15002: invalid email address 'broken' (expected one '@' between a name and a domain)" \
	"$err"
check_eq "20k import: all good users stored" "$((before + 19998))" \
	"$(count_users)"
run --json user show bulk19999
check "20k import: last user intact" python3 -c \
	"import json,sys; d = json.loads(sys.argv[1]); assert d['business_units'] == ['u49'], d" \
	"$out"

# ---- progress: on a terminal only ------------------------------------------
# (Above, stderr was a file: it held the rejected lines and nothing else.)
if command -v script >/dev/null 2>&1; then
	awk 'BEGIN { for (i = 1; i <= 4200; i++)
		printf "tty%05d,tty%05d@example.com,reader\n", i, i }' \
		>"$scratch/tty.csv"
	script -qec "'$APITOKENCTL' --config '$cfg' --store '$store' \
		user import '$scratch/tty.csv' 2>&1" /dev/null \
		</dev/null >"$scratch/tty.out" 2>&1
	check_match "terminal: progress after each batch of 2000" \
		"imported 2000 users, rejected 0\.\.\..*imported 4000 users" \
		"$(tr '\r\n' '  ' <"$scratch/tty.out")"
	check_match "terminal: the summary still at the end" \
		"imported 4200 users, rejected 0.?$" \
		"$(tr -d '\r' <"$scratch/tty.out" | tail -n 1)"
else
	diag "script(1) not found: progress on a terminal not tested"
fi

done_testing

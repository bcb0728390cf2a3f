#!/bin/bash
# Bulk provisioning (issue 10): "apitokenctl user import" of IMPORT_USERS
# (1000000) users from one CSV file into a fresh store, offline (no
# apitokend; through the admin socket a file is limited to 16 MiB).  The
# import runs on a pseudo-terminal so that it shows its progress after
# every batch commit; the progress is timestamped as it arrives, and the
# rate is printed for every tenth of the file, then overall.  The figure
# that matters is the last tenth: the rate must hold to the end (issue 10:
# >= 20000 users/s), when the store is largest.  Each batch is a durable
# (synchronous) commit, as in production.
#
#     tests/bench/import-bench.sh [BUILD_DIR]
#
# Builds nothing, not part of make check; about a minute for 1M users.
set -u
BUILD=$(cd "${1:-.}" && pwd)
USERS=${IMPORT_USERS:-1000000}
CTL="$BUILD/core/apitokenctl"
[ -x "$CTL" ] || { echo "import-bench: $CTL is not built" >&2; exit 1; }
command -v python3 >/dev/null || { echo "import-bench: python3 not found" >&2; exit 1; }
# mktemp says why it failed (no such folder, no room).
tmp=$(mktemp -d "${TMPDIR:-/tmp}/apitoken-import.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

cat >"$tmp/apitoken.json" <<JSON
{ "store": "$tmp/store",
  "roles": { "admin": ["api:read", "api:write", "api:admin"],
             "user": ["api:read"] } }
JSON
# user,email,role,units: names in random order, as a directory export is
# not sorted by our keys.
awk -v n="$USERS" 'BEGIN { srand(7); for (i = 0; i < n; i++)
	printf "u%08d%04d,u%d@example.org,%s,bu%d;bu%d\n", int(rand() * 1e8), i % 10000,
	i, (i % 50 ? "user" : "admin"), i % 17, i % 5 }' >"$tmp/users.csv"
APITOKEN_CONFIG="$tmp/apitoken.json" "$CTL" init >/dev/null 2>&1 || true
echo "# import-bench: $USERS users, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
APITOKEN_CONFIG="$tmp/apitoken.json" python3 - "$CTL" "$tmp/users.csv" "$USERS" <<'PY'
import os, pty, re, subprocess, sys, time
ctl, path, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
master, slave = pty.openpty()
t0 = time.monotonic()
p = subprocess.Popen([ctl, "user", "import", path], stdin=subprocess.DEVNULL,
                     stdout=slave, stderr=slave, close_fds=True)
os.close(slave)
buf, seen = b"", []          # (time, imported so far)
while True:
    try:
        chunk = os.read(master, 65536)
    except OSError:
        break
    if not chunk:
        break
    now = time.monotonic()
    buf += chunk
    for m in re.finditer(rb"imported (\d+) users", buf):
        seen.append((now, int(m.group(1))))
    buf = buf[-200:]
rc = p.wait()
t1 = time.monotonic()
print(f"exit {rc}; imported {seen[-1][1] if seen else 0} of {total} in {t1 - t0:.1f} s "
      f"({(seen[-1][1] if seen else 0) / (t1 - t0):.0f} users/s overall)")
step, mark, prev = total // 10, 1, (t0, 0)
for t, n in seen:
    if n >= mark * step:
        print(f"  {prev[1]:>8} .. {n:>8}: {(n - prev[1]) / (t - prev[0]):8.0f} users/s")
        prev, mark = (t, n), n // step + 1
sys.exit(0 if rc == 0 else 1)
PY

#!/bin/bash
# Compare one build of apitokend under two configurations side by side,
# with static_server as the reference:
#
#     tests/bench/compare-configs.sh BUILD 'JSON_A' 'JSON_B' [ROUNDS] [CONNS]
#
# JSON_A and JSON_B are extra members of apitokend's configuration, e.g.
#     tests/bench/compare-configs.sh build/normal '"last_used": false' \
#         '"last_used": true, "last_used_interval": "1s"'
# (last use off against on, with a write every second: the worst case).
# Otherwise as compare-builds.sh, which does the work.
set -u
if [ $# -lt 3 ]; then
	echo "usage: $0 BUILD 'JSON_A' 'JSON_B' [ROUNDS] [CONNS]" >&2
	exit 64
fi
BENCH_EXTRA_A=$2 BENCH_EXTRA_B=$3 exec "$(dirname "$0")/compare-builds.sh" \
	"$1" "$1" ${4:+"$4"} ${5:+"$5"}

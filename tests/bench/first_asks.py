#!/usr/bin/env python3
"""How many questions no table of kept answers could have answered.

    python3 tests/bench/first_asks.py UNIFORM ZIPF [ZIPF ...]

A kept answer exists only for a token asked about before, so the first
question about each token is computed from the store whatever the table
does.  This draws UNIFORM questions uniformly from N (1000000) tokens,
then one round of each ZIPF count of Zipf (s = 1.0) questions, as
tests/bench/scale.lua draws them, and prints per Zipf round the share of
its questions that asked about a token for the first time: the floor of
the miss rate apitokend's /metrics can show for that round
(apitokend_introspection_cache_total), with a table of any size.  Pass
the question counts a benchmark run made (requests/s times seconds) to
see how far its misses are from that floor.  Pure Python; seconds per
million questions.  Figures: tests/bench/README.md.
"""
import bisect
import random
import sys

N = 1000000

try:
    counts = [int(a) for a in sys.argv[1:]]
    if len(counts) < 2 or min(counts) < 0:
        raise ValueError
except ValueError:
    sys.exit("usage: first_asks.py UNIFORM ZIPF [ZIPF ...] "
             "(question counts, whole numbers >= 0)")
random.seed(5)
cdf, total = [], 0.0
for k in range(1, N + 1):
    total += 1.0 / k
    cdf.append(total)
seen = bytearray(N)
for _ in range(counts[0]):
    seen[random.randrange(N)] = 1
print(f"after {counts[0]} uniform questions: "
      f"{sum(seen) * 100.0 / N:.1f}% of the tokens asked about")
for r, n in enumerate(counts[1:], 1):
    first = 0
    for _ in range(n):
        k = bisect.bisect_left(cdf, random.random() * total)
        if not seen[k]:
            seen[k] = 1
            first += 1
    share = first * 100.0 / n if n else 0.0
    print(f"Zipf round {r}: {n} questions, {share:.1f}% asked first")

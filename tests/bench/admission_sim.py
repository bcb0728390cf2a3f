#!/usr/bin/env python3
"""Simulate introspect/answer_cache.c's admission to a full set.

    python3 tests/bench/admission_sim.py [REFUSED [UNASKED_AFTER]]

The table of kept answers is SETS sets of WAYS ways (65536 answers, the
default); the store has N tokens.  As in scale-bench.sh, a uniform
warm-up (400000 questions) comes first, then three rounds of 400000
Zipf (s = 1.0) questions, then a uniform round; printed per round: the
share of questions answered from the table.  REFUSED (4) is how many
refused newcomers a set remembers (a newcomer among them is let in, in
place of the least used way, whose use counts are then halved);
UNASKED_AFTER (16; 0: off) lets a newcomer take a way nobody asked for
since it was put, that many misses of the set ago.  REFUSED 0 lets every
newcomer in.  A model only: no time, no concurrency, no expiry.
Pure Python; about a minute per run.  Figures: tests/bench/README.md.
"""
import bisect
import random
import sys

try:
    REFUSED = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    UNASKED_AFTER = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    if REFUSED < 0 or UNASKED_AFTER < 0 or len(sys.argv) > 3:
        raise ValueError
except ValueError:
    sys.exit("usage: admission_sim.py [REFUSED [UNASKED_AFTER]] "
             "(whole numbers >= 0)")
SETS, WAYS, N = 8192, 8, 1000000
random.seed(3)
cdf, total = [], 0.0
for k in range(1, N + 1):
    total += 1.0 / k
    cdf.append(total)
perm = list(range(N))
random.shuffle(perm)


def zipf():
    return perm[bisect.bisect_left(cdf, random.random() * total)]


class Set:
    __slots__ = ("keys", "uses", "put", "asked", "refused", "next", "misses")

    def __init__(self):
        self.keys, self.uses = [None] * WAYS, [0] * WAYS
        self.put, self.asked = [0] * WAYS, [False] * WAYS
        self.refused, self.next, self.misses = [None] * max(REFUSED, 1), 0, 0


sets = [Set() for _ in range(SETS)]


def place(s, w, key):
    s.keys[w], s.uses[w], s.put[w], s.asked[w] = key, 0, s.misses, False


def ask(key):
    s = sets[key % SETS]
    if key in s.keys:
        w = s.keys.index(key)
        s.uses[w] = min(s.uses[w] + 1, 255)
        s.asked[w] = True
        return True
    if None in s.keys:
        place(s, s.keys.index(None), key)
        return False
    s.misses += 1
    if UNASKED_AFTER:
        for w in range(WAYS):
            if not s.asked[w] and s.misses - s.put[w] > UNASKED_AFTER:
                place(s, w, key)
                return False
    if REFUSED:
        if key not in s.refused:
            s.refused[s.next % REFUSED] = key
            s.next += 1
            return False
        s.refused[s.refused.index(key)] = None
    w = min(range(WAYS), key=lambda i: s.uses[i])
    s.uses = [u // 2 for u in s.uses]
    place(s, w, key)
    return False


for _ in range(400000):
    ask(random.randrange(N))
for rnd in range(3):
    kept = sum(ask(zipf()) for _ in range(400000))
    print(f"REFUSED={REFUSED} UNASKED_AFTER={UNASKED_AFTER} "
          f"zipf round {rnd + 1}: {kept / 400000:.3f} kept")
kept = sum(ask(random.randrange(N)) for _ in range(400000))
print(f"REFUSED={REFUSED} UNASKED_AFTER={UNASKED_AFTER} "
      f"uniform after: {kept / 400000:.3f} kept")

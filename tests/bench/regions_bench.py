#!/usr/bin/env python3
"""Regions benchmark harness (driven by tests/bench/regions-bench.sh).

propagation MASTER_URL REPLICA_URL... --tokens FILE --n N --auth BASIC
    Revoke N tokens one at a time at the master (POST /revoke, the master
    answers once a quorum has the commit) while polling each replica's
    /introspect until it answers inactive.  Prints p50/p99/max of the time
    from sending the revocation to inactive at each replica (ms), and of
    the revoke call itself.  Each poll is one keep-alive HTTPS request, so
    a figure includes the master's request handling and up to one
    request's time of polling granularity.

failover-writer URL --ca CA --auth BASIC --tokens FILE --out FILE --seconds S
    Revoke fresh tokens one per request through URL; append "<ms since
    epoch sent> <ms since epoch answered> <status>" per request to FILE;
    print how many were revoked.
"""
import http.client
import ssl
import statistics
import sys
import time
import urllib.parse


def conn(url, ca):
    u = urllib.parse.urlsplit(url)
    ctx = ssl.create_default_context(cafile=ca)
    return http.client.HTTPSConnection(u.hostname, u.port, context=ctx,
                                       timeout=10)


def post(c, path, body, auth):
    c.request("POST", path, body=body, headers={
        "Authorization": auth,
        "Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse()
    return r.status, r.read()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def propagation(args):
    ca = args[args.index("--ca") + 1]
    tokens = [l.strip() for l in open(args[args.index("--tokens") + 1])
              if l.strip()]
    n = int(args[args.index("--n") + 1])
    auth = args[args.index("--auth") + 1]
    urls = [a for a in args[:args.index("--ca")]]
    master, replicas = urls[0], urls[1:]
    mc = conn(master, ca)
    rcs = [conn(r, ca) for r in replicas]
    lat0 = {r: [] for r in replicas}
    lat1 = {r: [] for r in replicas}
    call = []
    import threading
    for tok in tokens[:n]:
        body = urllib.parse.urlencode({"token": tok})
        res = {}

        def revoke():
            res["st"], _ = post(mc, "/revoke", body, auth)
            res["t1"] = time.perf_counter()

        # The replicas are polled while the revocation is in flight: a
        # replica may apply it before the master has its quorum's ack.
        t0 = time.perf_counter()
        th = threading.Thread(target=revoke)
        th.start()
        pending = dict(zip(replicas, rcs))
        pending_at = {}
        while pending:
            for r, c in list(pending.items()):
                st, b = post(c, "/introspect", body, auth)
                if st == 200 and b.startswith(b'{"active":false'):
                    now = time.perf_counter()
                    lat0[r].append((now - t0) * 1000)
                    pending_at[r] = now
                    del pending[r]
                elif st != 200:
                    sys.exit("introspect at %s answered %d" % (r, st))
            if time.perf_counter() - t0 > 10:
                sys.exit("not propagated within 10 s")
        th.join()
        if res.get("st") != 200:
            sys.exit("revoke answered %s" % res.get("st"))
        call.append((res["t1"] - t0) * 1000)
        # From the master's answer (its commit has returned by then); 0
        # when the replica answered inactive before the master answered.
        for r in replicas:
            lat1[r].append(max(0.0, (pending_at[r] - res["t1"]) * 1000))
    print("revoke call at the master (quorum commit): p50 %.2f ms, p99 "
          "%.2f ms" % (pct(call, 50), pct(call, 99)))
    for r in replicas:
        print("propagation to %s over %d revocations, from the request "
              "to the master to inactive there: p50 %.2f ms, p99 %.2f ms, "
              "max %.2f ms" % (r, len(lat0[r]), pct(lat0[r], 50),
                               pct(lat0[r], 99), max(lat0[r])))
        print("propagation to %s, from the master's answer (commit done) "
              "to inactive there: p50 %.2f ms, p99 %.2f ms, max %.2f ms"
              % (r, pct(lat1[r], 50), pct(lat1[r], 99), max(lat1[r])))


def failover_writer(args):
    url = args[0]
    ca = args[args.index("--ca") + 1]
    auth = args[args.index("--auth") + 1]
    out = open(args[args.index("--out") + 1], "a", buffering=1)
    tokens = [l.strip() for l in open(args[args.index("--tokens") + 1])
              if l.strip()]
    end = time.time() + float(args[args.index("--seconds") + 1])
    c = None
    i = 0
    # Each request revokes a token not revoked before: 200 means the
    # master committed it with a quorum, 503 that it did not.
    while time.time() < end and i < len(tokens):
        body = urllib.parse.urlencode({"token": tokens[i]})
        sent = time.time()
        try:
            if c is None:
                c = conn(url, ca)
            st, _ = post(c, "/revoke", body, auth)
        except Exception:
            c = None
            st = 0
            time.sleep(0.005)
        if st == 200:
            i += 1
        out.write("%d %d %d\n" % (int(sent * 1000), int(time.time() * 1000),
                                  st))
    print(i)


if __name__ == "__main__":
    if sys.argv[1] == "propagation":
        propagation(sys.argv[2:])
    elif sys.argv[1] == "failover-writer":
        failover_writer(sys.argv[2:])
    else:
        sys.exit(__doc__)

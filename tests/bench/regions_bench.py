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

propagation-local MASTER_URL SOCKET... --poll BENCH_POLL --so VALIDATOR_SO
        --ca CA --tokens FILE --n N --auth BASIC
    The same, with each replica polled through its local UNIX socket by a
    bench_poll process (C, the plugin's local back end, a check every
    100 us): no TLS and no relay between the harness and the replica, so
    the figure is the master's handling of /revoke (with its quorum
    commit) plus propagation plus at most ~0.1 ms of polling.

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
        seen = {}

        # Each replica is polled by a thread of its own while the
        # revocation is in flight (a replica may apply it before the
        # master has its quorum's ack): the polling granularity is one
        # request to that replica, not one round over all of them.
        def poll(r, c):
            while time.perf_counter() - t0 < 10:
                st, b = post(c, "/introspect", body, auth)
                if st != 200:
                    seen[r] = ("status", st)
                    return
                if b.startswith(b'{"active":false'):
                    seen[r] = ("ok", time.perf_counter())
                    return
            seen[r] = ("timeout", 0)

        t0 = time.perf_counter()
        pollers = [threading.Thread(target=poll, args=(r, c))
                   for r, c in zip(replicas, rcs)]
        for th in pollers:
            th.start()
        res["st"], _ = post(mc, "/revoke", body, auth)
        res["t1"] = time.perf_counter()
        for th in pollers:
            th.join()
        for r in replicas:
            what, v = seen[r]
            if what == "status":
                sys.exit("introspect at %s answered %d" % (r, v))
            if what == "timeout":
                sys.exit("not propagated within 10 s")
            lat0[r].append((v - t0) * 1000)
        if res.get("st") != 200:
            sys.exit("revoke answered %s" % res.get("st"))
        call.append((res["t1"] - t0) * 1000)
        # From the master's answer (its commit has returned by then); 0
        # when the replica answered inactive before the master answered.
        for r in replicas:
            lat1[r].append(max(0.0, (seen[r][1] - res["t1"]) * 1000))
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


def propagation_local(args):
    import subprocess
    ca = args[args.index("--ca") + 1]
    tokens = [l.strip() for l in open(args[args.index("--tokens") + 1])
              if l.strip()]
    n = int(args[args.index("--n") + 1])
    auth = args[args.index("--auth") + 1]
    poll = args[args.index("--poll") + 1]
    so = args[args.index("--so") + 1]
    first_opt = next(i for i, a in enumerate(args) if a.startswith("--"))
    master, socks = args[0], args[1:first_opt]
    mc = conn(master, ca)
    pollers = [subprocess.Popen([poll, so, s], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, bufsize=1)
               for s in socks]
    lat = {s: [] for s in socks}
    call = []
    for tok in tokens[:n]:
        body = urllib.parse.urlencode({"token": tok})
        for p in pollers:
            p.stdin.write(tok + "\n")
            p.stdin.flush()
        # perf_counter is CLOCK_MONOTONIC here, as bench_poll's clock.
        t0 = time.clock_gettime(time.CLOCK_MONOTONIC)
        st, _ = post(mc, "/revoke", body, auth)
        t1 = time.clock_gettime(time.CLOCK_MONOTONIC)
        if st != 200:
            sys.exit("revoke answered %d" % st)
        call.append((t1 - t0) * 1000)
        for s, p in zip(socks, pollers):
            line = p.stdout.readline().strip()
            try:
                lat[s].append(float(line) / 1000.0 - t0 * 1000)
            except ValueError:
                sys.exit("poll at %s: %s" % (s, line))
    for p in pollers:
        p.stdin.close()
        p.wait()
    print("revoke call at the master (quorum commit): p50 %.2f ms, p99 "
          "%.2f ms" % (pct(call, 50), pct(call, 99)))
    for s in socks:
        print("propagation to %s over %d revocations, from the request to "
              "the master to inactive there (local socket): p50 %.2f ms, "
              "p99 %.2f ms, max %.2f ms" % (s, len(lat[s]), pct(lat[s], 50),
                                            pct(lat[s], 99), max(lat[s])))


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
    elif sys.argv[1] == "propagation-local":
        propagation_local(sys.argv[2:])
    elif sys.argv[1] == "failover-writer":
        failover_writer(sys.argv[2:])
    else:
        sys.exit(__doc__)

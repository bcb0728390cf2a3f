#!/usr/bin/env python3
"""A steady stream of admin-socket writes for tests/bench/write-load.sh.

    admin_writer.py SOCKET RATE PREFIX COUNT

Every 1/RATE seconds: "user set PREFIX<i> --role admin|user" over the admin
socket (protocol version 1, see core/admin_socket.c: one exchange per
connection, 4-byte big-endian length + JSON each way), cycling through
COUNT users and toggling their role.  Each write commits (with sync) and
writes a change record for that user only.  Four threads share the rate
(a synchronous commit can take longer than 1/RATE on a busy disk).  Runs
until SIGTERM, then prints "writes N failed M" on stdout.  One process,
no fork per write, so that the writer itself costs the shared CPUs
little.
"""
import json
import signal
import socket
import struct
import sys
import threading
import time

THREADS = 4


def call(path, argv):
    req = json.dumps({"v": 1, "argv": argv, "json": False}).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(path)
        s.sendall(struct.pack(">I", len(req)) + req)
        head = b""
        while len(head) < 4:
            chunk = s.recv(4 - len(head))
            if not chunk:
                raise OSError("short reply")
            head += chunk
        (n,) = struct.unpack(">I", head)
        body = b""
        while len(body) < n:
            chunk = s.recv(n - len(body))
            if not chunk:
                raise OSError("short reply")
            body += chunk
    return json.loads(body)


def worker(path, rate, prefix, count, k, done, totals):
    """Thread k of THREADS: users k, k+THREADS, ... at rate/THREADS."""
    interval = THREADS / rate
    writes = failed = 0
    i = k
    nxt = time.monotonic() + k * interval / THREADS
    while not done.is_set():
        delay = nxt - time.monotonic()
        if delay > 0 and done.wait(delay):
            break
        user = "%s%d" % (prefix, i % count)
        role = "admin" if (i // count) % 2 == 0 else "user"
        try:
            r = call(path, ["user", "set", user, "--role", role])
            if r.get("exit") != 0:
                failed += 1
        except OSError:
            failed += 1
        writes += 1
        i += THREADS
        nxt += interval
    totals[k] = (writes, failed)


def main():
    path, rate, prefix, count = (sys.argv[1], float(sys.argv[2]),
                                 sys.argv[3], int(sys.argv[4]))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    totals = [(0, 0)] * THREADS
    threads = [threading.Thread(target=worker,
                                args=(path, rate, prefix, count, k, done,
                                      totals))
               for k in range(THREADS)]
    for t in threads:
        t.start()
    while not done.is_set():
        done.wait(0.5)
    for t in threads:
        t.join()
    print("writes %d failed %d" % (sum(w for w, _ in totals),
                                   sum(f for _, f in totals)))


if __name__ == "__main__":
    main()

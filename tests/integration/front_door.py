#!/usr/bin/env python3
"""Raw HTTP clients for tests/integration/front-door.sh and
tests/bench/flood.sh: requests curl will not send (conflicting framing,
raw NUL bytes, bodies written whole before reading), slow senders, and a
connection flood beside a normal client.  Every subcommand prints one
line of results; it never decides pass or fail itself.

  raw PORT                 request bytes from stdin (Python escapes
                           allowed: \\x00, \\r\\n); prints
                           "<status> <closed|open> <body>"
  bigbody PORT SIZE MODE AUTH
                           POST /introspect with a SIZE-byte token, MODE
                           cl or chunked, the whole body written before
                           anything is read; prints "<status> <body>" or
                           "reset <bytes sent>"
  endless PORT AUTH        a chunked body that never ends; prints
                           "closed after <bytes> bytes in <seconds> s"
  slow PORT WHAT STEP AUTH send the request head (WHAT=head) or the body
                           (WHAT=body) one byte every STEP seconds;
                           prints "closed after <seconds> s" (or
                           "answered <status>")
  flood PORT N FROM MODE REQS TO AUTH TOKEN
                           hold N connections from address FROM (or
                           FROM+K: K consecutive addresses in turn; MODE
                           idle: connect only; slowloris: a partial
                           request head, one more byte every second),
                           then send REQS introspections from address TO,
                           each on a new connection; prints
                           "held=<n> answered=<n>/<REQS> p50_ms= p99_ms=
                           max_ms= refused_at_once=<n>"
  throttle PORT N FROM AUTH_BAD AUTH_GOOD TOKEN
                           N introspections with a wrong secret from FROM
                           on one keep-alive connection, then the right
                           secret until it is answered; prints "first_429=
                           <n> codes=<code:count,...> rate=<req/s>
                           retry_after=<s> recovered_after_s=<s>"
"""
import base64
import os
import resource
import socket
import sys
import time

HOST = "127.0.0.1"


def connect(port, src=None, timeout=10):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if src:
        s.bind((src, 0))
    s.connect((HOST, port))
    return s


def read_response(s, timeout=5):
    """(status, body, closed): one response, then whether the server
    closed the connection (within 0.3 s)."""
    s.settimeout(timeout)
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                break
            buf += d
    except (ConnectionResetError, socket.timeout):
        pass
    if b"\r\n\r\n" not in buf:
        return None, buf, True
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = None
    for ln in lines[1:]:
        k, _, v = ln.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    try:
        while length is not None and len(body) < length:
            d = s.recv(65536)
            if not d:
                break
            body += d
    except (ConnectionResetError, socket.timeout):
        pass
    closed = False
    s.settimeout(0.3)
    try:
        closed = s.recv(1) == b""
    except socket.timeout:
        closed = False
    except ConnectionResetError:
        closed = True
    return status, body, closed


def auth_header(auth):
    return b"Authorization: Basic " + base64.b64encode(auth.encode()) + b"\r\n"


def cmd_raw(port):
    req = sys.stdin.buffer.read()
    req = req.decode("latin-1").encode("latin-1").decode(
        "unicode_escape").encode("latin-1")
    s = connect(port)
    s.sendall(req)
    status, body, closed = read_response(s)
    print(status, "closed" if closed else "open",
          body.decode(errors="replace"))


def cmd_bigbody(port, size, mode, auth):
    size = int(size)
    body = b"token=" + b"A" * (size - 6)
    head = (b"POST /introspect HTTP/1.1\r\nHost: x\r\n" + auth_header(auth) +
            b"Content-Type: application/x-www-form-urlencoded\r\n")
    s = connect(port)
    sent = 0
    try:
        if mode == "cl":
            s.sendall(head + b"Content-Length: %d\r\n\r\n" % len(body))
            for i in range(0, len(body), 65536):
                s.sendall(body[i:i + 65536])
                sent += len(body[i:i + 65536])
        else:
            s.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n")
            for i in range(0, len(body), 65536):
                part = body[i:i + 65536]
                s.sendall(b"%x\r\n" % len(part) + part + b"\r\n")
                sent += len(part)
            s.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        print("reset", sent)
        return
    status, rbody, _ = read_response(s)
    print(status if status else "reset", rbody.decode(errors="replace"))


def cmd_endless(port, auth):
    s = connect(port)
    s.sendall(b"POST /introspect HTTP/1.1\r\nHost: x\r\n" + auth_header(auth) +
              b"Content-Type: application/x-www-form-urlencoded\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n" % 65536 + b"A" * 65536 + b"\r\n"
    sent = 0
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < 20:
            s.sendall(chunk)
            sent += 65536
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass
    print("closed after %d bytes in %.1f s" % (sent, time.monotonic() - t0))


def cmd_slow(port, what, step, auth):
    step = float(step)
    head = (b"POST /introspect HTTP/1.1\r\nHost: x\r\n" + auth_header(auth) +
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 200\r\n\r\n")
    s = connect(port)
    t0 = time.monotonic()
    if what == "body":
        s.sendall(head)
        data = b"token=" + b"A" * 194
    else:
        data = head
    try:
        for i in range(len(data)):
            s.sendall(data[i:i + 1])
            time.sleep(step)
            if time.monotonic() - t0 > 60:
                print("still open after 60 s")
                return
    except (BrokenPipeError, ConnectionResetError):
        print("closed after %.1f s" % (time.monotonic() - t0))
        return
    status, _, _ = read_response(s)
    print("answered", status)


def sources(spec):
    base, _, k = spec.partition("+")
    if not k:
        return [base]
    a, b, c, d = (int(x) for x in base.split("."))
    return ["%d.%d.%d.%d" % (a, b, c, d + i) for i in range(int(k))]


def cmd_flood(port, n, src, mode, reqs, dst, auth, token):
    n, reqs = int(n), int(reqs)
    srcs = sources(src)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    conns = []
    partial = (b"POST /introspect HTTP/1.1\r\nHost: x\r\n" +
               auth_header(auth))
    for i in range(n):
        try:
            s = connect(port, srcs[i % len(srcs)])
        except OSError:
            break
        if mode == "slowloris":
            s.sendall(partial[:20])
        conns.append(s)
    # A flood holds its connections for long; give the server time to
    # see them as waiting (it makes room only from those over 1 s old).
    time.sleep(1.5)
    # Which of them the server kept: a refused one reads EOF at once.
    held = 0
    for s in conns:
        s.setblocking(False)
        try:
            held += 0 if s.recv(1) == b"" else 1
        except BlockingIOError:
            held += 1
        except OSError:
            pass
    body = b"token=" + token.encode()
    req = (b"POST /introspect HTTP/1.1\r\nHost: x\r\n" + auth_header(auth) +
           b"Content-Type: application/x-www-form-urlencoded\r\n"
           b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) +
           body)
    lat = []
    answered = 0
    last_drip = time.monotonic()
    budget = float(os.environ.get("FLOOD_BUDGET_S", "60"))
    start = time.monotonic()
    for i in range(reqs):
        # Against a server that hangs, stop trying (the rest count as
        # not answered).
        if time.monotonic() - start > budget:
            break
        if mode == "slowloris" and time.monotonic() - last_drip > 1:
            for s in conns:
                try:
                    s.send(b"X")
                except OSError:
                    pass
            last_drip = time.monotonic()
        t0 = time.monotonic()
        try:
            s = connect(port, dst, timeout=5)
            s.sendall(req)
            status, rbody, _ = read_response(s, timeout=5)
            s.close()
        except OSError:
            status = None
        lat.append((time.monotonic() - t0) * 1000)
        if status == 200 and b'"active":true' in rbody:
            answered += 1
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(len(lat) * p))]

    print("held=%d answered=%d/%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f "
          "refused_at_once=%d attempted=%d" % (
              held, answered, reqs, pct(0.5), pct(0.99), lat[-1],
              len(conns) - held, len(lat)))
    for s in conns:
        s.close()


def request(body, auth, keep=True):
    return (b"POST /introspect HTTP/1.1\r\nHost: x\r\n" + auth_header(auth) +
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body)


def cmd_throttle(port, n, src, bad, good, token):
    n = int(n)
    body = b"token=" + token.encode()
    codes = {}
    first = None
    retry = None
    s = connect(port, src)
    t0 = time.monotonic()
    for i in range(n):
        s.sendall(request(body, bad))
        status, rbody, closed = read_response_fast(s)
        if status is None:
            s = connect(port, src)
            continue
        codes[status] = codes.get(status, 0) + 1
        if status == 429 and first is None:
            first = i + 1
    elapsed = time.monotonic() - t0
    # Right secret: how long until it gets in.
    t1 = time.monotonic()
    while time.monotonic() - t1 < 120:
        s2 = connect(port, src)
        s2.sendall(request(body, good))
        status, rbody, hdrs = read_response_fast(s2, headers=True)
        s2.close()
        if status == 200:
            break
        if retry is None:
            retry = hdrs.get(b"retry-after", b"?").decode()
        time.sleep(0.05)
    print("first_429=%s codes=%s rate=%.0f retry_after=%s "
          "recovered_after_s=%.2f" % (
              first, ",".join("%d:%d" % kv for kv in sorted(codes.items())),
              n / elapsed, retry, time.monotonic() - t1))


def read_response_fast(s, headers=False):
    """One response on a keep-alive connection, no wait for a close."""
    s.settimeout(5)
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                return (None, b"", {}) if headers else (None, b"", True)
            buf += d
        head, body = buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            hdrs[k.strip().lower()] = v.strip()
        length = int(hdrs.get(b"content-length", b"0"))
        while len(body) < length:
            d = s.recv(65536)
            if not d:
                break
            body += d
    except (ConnectionResetError, socket.timeout):
        return (None, b"", {}) if headers else (None, b"", True)
    status = int(lines[0].split()[1])
    return (status, body, hdrs) if headers else (status, body, False)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    port = int(args[0])
    {"raw": cmd_raw, "bigbody": cmd_bigbody, "endless": cmd_endless,
     "slow": cmd_slow, "flood": cmd_flood,
     "throttle": cmd_throttle}[cmd](port, *args[1:])


if __name__ == "__main__":
    main()

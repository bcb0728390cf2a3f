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
                           hold N connections from address FROM (MODE
                           idle: connect only; slowloris: a partial
                           request head, one more byte every second),
                           then send REQS introspections from address TO,
                           each on a new connection; prints
                           "held=<n> answered=<n>/<REQS> p50_ms= p99_ms=
                           max_ms= refused_at_once=<n>"
"""
import base64
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


def cmd_flood(port, n, src, mode, reqs, dst, auth, token):
    n, reqs = int(n), int(reqs)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    conns = []
    partial = (b"POST /introspect HTTP/1.1\r\nHost: x\r\n" +
               auth_header(auth))
    for i in range(n):
        try:
            s = connect(port, src)
        except OSError:
            break
        if mode == "slowloris":
            s.sendall(partial[:20])
        conns.append(s)
    time.sleep(0.5)
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
    for i in range(reqs):
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
          "refused_at_once=%d" % (held, answered, reqs, pct(0.5), pct(0.99),
                                  lat[-1], len(conns) - held))
    for s in conns:
        s.close()


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    port = int(args[0])
    {"raw": cmd_raw, "bigbody": cmd_bigbody, "endless": cmd_endless,
     "slow": cmd_slow, "flood": cmd_flood}[cmd](port, *args[1:])


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""SMTP sink for the mail tests (aiosmtpd, Debian python3-aiosmtpd).

Listens on 127.0.0.1:<port> (0: the kernel chooses; the port is written to
--port-file once listening) and writes each accepted message to --dir as
one file, created atomically (written to a dot-file, then renamed), so a
test that polls the folder never reads half a message.  The file holds two
envelope lines, then the message exactly as received:

    X-Sink-Mail-From: <sender>
    X-Sink-Rcpt-To: <rcpt>[, <rcpt>...]
    <message>

Options:
  --reject-rcpt DOMAIN  answer 550 to RCPT TO at that domain (permanent
                        failure)
  --auth USER:PASSFILE  require AUTH PLAIN/LOGIN with that user and the
                        password in PASSFILE (no TLS: loopback tests only)
  --starttls CERT:KEY   offer STARTTLS with that certificate and key
Stop it with SIGTERM; start it again with --port <the same port>.
"""

import argparse
import itertools
import logging
import os
import signal
import socket
import ssl
import sys
import time
import warnings

# Tests read stderr; aiosmtpd's warnings about AUTH without TLS are meant.
warnings.simplefilter("ignore")
logging.basicConfig(level=logging.CRITICAL)

try:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult
except ImportError:
    sys.stderr.write("smtp_sink: python3-aiosmtpd is not installed\n")
    sys.exit(77)


class Sink:
    def __init__(self, folder, reject_domain):
        self.folder = folder
        self.reject_domain = reject_domain
        self.counter = itertools.count(1)

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        if self.reject_domain and \
                address.lower().endswith("@" + self.reject_domain):
            # Named as Postfix does: logs must still show no mailbox.
            return "550 5.1.1 <%s>: Recipient address rejected" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        n = next(self.counter)
        name = "%d-%d-%d.eml" % (time.time_ns(), os.getpid(), n)
        tmp = os.path.join(self.folder, "." + name)
        data = envelope.original_content or b""
        head = ("X-Sink-Mail-From: %s\r\nX-Sink-Rcpt-To: %s\r\n" %
                (envelope.mail_from, ", ".join(envelope.rcpt_tos)))
        with open(tmp, "wb") as f:
            f.write(head.encode("utf-8", "replace"))
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(self.folder, name))
        return "250 Message accepted for delivery"


def authenticator(user, passfile):
    with open(passfile, "rb") as f:
        password = f.read().rstrip(b"\r\n")

    def check(server, session, envelope, mechanism, auth_data):
        ok = (auth_data.login == user.encode() and
              auth_data.password == password)
        return AuthResult(success=ok)
    return check


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--reject-rcpt")
    ap.add_argument("--auth")
    ap.add_argument("--starttls")
    args = ap.parse_args()

    os.makedirs(args.dir, exist_ok=True)
    kwargs = {}
    if args.auth:
        user, passfile = args.auth.split(":", 1)
        kwargs = dict(authenticator=authenticator(user, passfile),
                      auth_required=True, auth_require_tls=False)
    if args.starttls:
        cert, key = args.starttls.split(":", 1)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        kwargs["tls_context"] = ctx
    handler = Sink(args.dir, args.reject_rcpt)
    # Bind ourselves so that port 0 works and the real port is known.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    port = sock.getsockname()[1]
    sock.close()
    controller = Controller(handler, hostname="127.0.0.1", port=port,
                            ready_timeout=10, **kwargs)
    controller.start()
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)

    done = []

    def on_term(signum, frame):
        done.append(signum)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    while not done:
        signal.pause()
    controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""A small RFC 7662 / 7009 / 8414 server for testing the conformance suite.

Used only by tests/conformance/selftest.sh: with no --defect it answers
the way the RFCs ask, and each --defect NAME breaks exactly one thing, so
the self-test can show that the suite notices it.

usage: mock_as.py --port-file FILE [--defect NAME]...
Clients: rs/rs-secret (introspect), rv/rv-secret (may revoke) and
"rs enc:%+&" / "s3cret:+ %" (a client id needing form-encoding).
Tokens: tok-active, tok-revocable.
"""
import argparse
import base64
import binascii
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFECTS = {
    "inactive-extra": "inactive answers carry an exp member",
    "no-cache-headers": "error answers lack Cache-Control/Pragma",
    "enumerate": "unknown client and wrong secret answer differently",
    "query-token": "the token is read from the query string too",
    "both-auth-ok": "basic and post credentials together are accepted",
    "no-decode": "basic credentials are not form-decoded",
    "revoke-noop": "revocation answers 200 and changes nothing",
    "hint-sensitive": "token_type_hint=refresh_token hides access tokens",
    "no-allow": "405 without an Allow header",
    "string-exp": "exp is a string",
    "issuer-mismatch": "metadata issuer differs from where it is served",
    "no-size-limit": "bodies of any size are read",
    "echo-token": "a repeated token is quoted in the error description",
}

CLIENTS = {
    "rs": ("rs-secret", False),
    "rv": ("rv-secret", True),
    "rs enc:%+&": ("s3cret:+ %", False),
}
MAX_BODY = 4096


class State:
    def __init__(self, defects):
        self.defects = set(defects)
        self.lock = threading.Lock()
        now = int(time.time())
        self.tokens = {
            "tok-active": {"username": "alice", "iat": now - 10},
            "tok-revocable": {"username": "bob", "iat": now - 10},
        }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes
    state = None
    base = None

    def log_message(self, *args):
        pass

    def has(self, defect):
        return defect in self.state.defects

    def send_json(self, code, obj, extra=None, error=False):
        body = json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        if not (error and self.has("no-cache-headers")):
            self.send_header("Cache-Control", "no-store")
            self.send_header("Pragma", "no-cache")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, code, err, extra=None):
        self.send_json(code, {"error": err}, extra, error=True)

    def do_GET(self):
        if self.path == "/.well-known/oauth-authorization-server":
            iss = self.base + ("/" if self.has("issuer-mismatch") else "")
            methods = ["client_secret_basic", "client_secret_post"]
            return self.send_json(200, {
                "issuer": iss,
                "introspection_endpoint": self.base + "/introspect",
                "revocation_endpoint": self.base + "/revoke",
                "introspection_endpoint_auth_methods_supported": methods,
                "revocation_endpoint_auth_methods_supported": methods,
                "response_types_supported": [],
            })
        extra = {} if self.has("no-allow") else {"Allow": "POST"}
        self.error(405, "invalid_request", extra)

    def client(self, form):
        """(client id or None, error answer args or None)"""
        auth = self.headers.get("Authorization")
        basic = None
        if auth is not None:
            scheme, _, value = auth.partition(" ")
            if scheme.lower() != "basic":
                return None, (400, "invalid_request")
            try:
                raw = base64.b64decode(value, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None, (400, "invalid_request")
            cid, sep, secret = raw.partition(":")
            if not sep:
                return None, (400, "invalid_request")
            if not self.has("no-decode"):
                cid = urllib.parse.unquote_plus(cid)
                secret = urllib.parse.unquote_plus(secret)
            basic = (cid, secret)
        post = None
        if (len(form.get("client_id", [])) > 1 or
                len(form.get("client_secret", [])) > 1):
            return None, (400, "invalid_request")
        if "client_id" in form or "client_secret" in form:
            post = (form.get("client_id", [""])[0],
                    form.get("client_secret", [""])[0])
        if basic and post and not self.has("both-auth-ok"):
            return None, (400, "invalid_request")
        cred = basic or post
        challenge = {"WWW-Authenticate": 'Basic realm="mock"'}
        if cred is None:
            return None, (401, "invalid_client", challenge)
        known = CLIENTS.get(cred[0])
        if known is None or known[0] != cred[1]:
            hdrs = challenge if basic else {}
            if known is None and self.has("enumerate"):
                return None, (401, "unknown_client", hdrs)
            return None, (401, "invalid_client", hdrs)
        return cred[0], None

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        if n > MAX_BODY and not self.has("no-size-limit"):
            self.close_connection = True
            return self.error(413, "invalid_request",
                              {"Connection": "close"})
        body = self.rfile.read(n).decode("utf-8", "replace")
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
        if ctype.lower() != "application/x-www-form-urlencoded":
            return self.error(400, "invalid_request")
        form = urllib.parse.parse_qs(body)
        path, _, query = self.path.partition("?")
        if self.has("query-token") and "token" not in form:
            form.update(urllib.parse.parse_qs(query))
        cid, err = self.client(form)
        if err is not None:
            return self.error(*err)
        tokens = form.get("token", [])
        if len(tokens) > 1 and self.has("echo-token"):
            return self.send_json(400, {
                "error": "invalid_request",
                "error_description": "token %s given twice" % tokens[0],
            }, error=True)
        if len(tokens) != 1:
            return self.error(400, "invalid_request")
        token = tokens[0]
        if path == "/revoke":
            if not CLIENTS[cid][1]:
                return self.error(400, "unauthorized_client")
            if not self.has("revoke-noop"):
                with self.state.lock:
                    self.state.tokens.pop(token, None)
            return self.send_json(200, {})
        if path != "/introspect":
            return self.error(404, "invalid_request")
        with self.state.lock:
            rec = self.state.tokens.get(token)
        hint = form.get("token_type_hint", [""])[0]
        if self.has("hint-sensitive") and hint == "refresh_token":
            rec = None
        if rec is None:
            inactive = {"active": False}
            if self.has("inactive-extra"):
                inactive["exp"] = 0
            return self.send_json(200, inactive)
        exp = rec["iat"] + 3600
        user = rec["username"]
        self.send_json(200, {
            "active": True, "scope": "api:read bu:sales",
            "client_id": cid, "username": user, "sub": user,
            "token_type": "Bearer",
            "exp": str(exp) if self.has("string-exp") else exp,
            "iat": rec["iat"], "iss": self.base, "aud": "apitoken",
            "jti": "jti-" + user,
        })


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--defect", action="append", default=[],
                    choices=sorted(DEFECTS))
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    Handler.state = State(args.defect)
    Handler.base = "http://127.0.0.1:%d" % port
    with open(args.port_file + ".tmp", "w") as f:
        f.write("%d\n" % port)
    os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())

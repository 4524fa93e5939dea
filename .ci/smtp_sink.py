#!/usr/bin/env python3
"""A real SMTP server (aiosmtpd) for tests. Behaviour is chosen by the recipient's local part:

  refuse-*  -> 550 at RCPT
  relay-*   -> 554 5.7.1 at RCPT (relay access denied: the sender's fault, not the recipient's)
  busy-*    -> 421 at RCPT the first 2 tries of that address, then accepted
  drop-*    -> connection closed at RCPT (no reply) the first try, then accepted
  otherwise -> accepted; raw DATA bytes saved to DIR/<recipient>/<n>.eml (atomically)

Usage: smtp_sink.py --port PORT --dir DIR [--auth] [--tls-cert CERT --tls-key KEY [--require-tls]]
Prints "READY <port>" once listening; runs until killed.
"""
import argparse
import asyncio
import collections
import os
import ssl
import sys
import tempfile
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

USER, PASSWORD = b"roster", b"secret"
warnings.simplefilter("ignore")  # aiosmtpd warns about AUTH without TLS and deprecated login_data


class Handler:
    def __init__(self, directory):
        self.directory = directory
        self.tries = collections.Counter()  # per lower-cased address, for busy-/drop-

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        key = address.lower()
        if local.startswith("refuse-"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if local.startswith("relay-"):
            return "554 5.7.1 <%s>: Relay access denied" % address
        if local.startswith("busy-"):
            self.tries[key] += 1
            if self.tries[key] <= 2:
                return "421 4.7.0 Try again later"
        if local.startswith("drop-"):
            self.tries[key] += 1
            if self.tries[key] == 1:
                server.transport.close()  # the reply below is discarded by the closed transport
                return "421 dropped"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        for rcpt in envelope.rcpt_tos:
            safe = rcpt.replace("/", "_").replace("\\", "_").lstrip(".") or "_"
            folder = os.path.join(self.directory, safe)
            os.makedirs(folder, exist_ok=True)
            existing = [int(n[:-4]) for n in os.listdir(folder) if n.endswith(".eml") and n[:-4].isdigit()]
            target = os.path.join(folder, f"{max(existing, default=0) + 1}.eml")
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(envelope.original_content)
            os.replace(tmp, target)
        return "250 2.0.0 OK queued"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER and auth_data.password == PASSWORD
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd sends 535


async def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--auth", action="store_true", help="require AUTH (roster/secret)")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--require-tls", action="store_true")
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    tls = None
    if a.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(a.tls_cert, a.tls_key)
    handler = Handler(a.dir)

    def factory():
        return SMTP(
            handler,
            hostname="sink.test",
            tls_context=tls,
            require_starttls=bool(tls and a.require_tls),
            authenticator=authenticator,
            auth_required=a.auth,
            auth_require_tls=bool(tls and a.require_tls),
        )

    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, host=a.host, port=a.port)
    port = server.sockets[0].getsockname()[1]
    print(f"READY {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)

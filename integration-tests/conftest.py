"""What the integration tests share: a dnslib DNS server whose TXT records the tests change while it runs, and a
live `roster serve` on a fresh data directory that asks it (ROSTER_DNS_SERVER), with accounts made by the CLI."""

import json
import os
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

import pytest
from dnslib import QTYPE, RCODE, RR, TXT
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

BINARY = os.environ["ROSTER_BINARY"]
PASSWORD = "long enough password"
ACCOUNTS = ["owner@acme.test", "ada@acme.test", "eve@elsewhere.test"]


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Zone(BaseResolver):
    """TXT records by name, changed by the tests while the server runs; other names are NXDOMAIN."""

    def __init__(self):
        self.records = {}
        self.queries = []
        self.lock = threading.Lock()

    def publish(self, name, *texts):
        with self.lock:
            self.records[name] = list(texts)

    def withdraw(self, name):
        with self.lock:
            self.records.pop(name, None)

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        with self.lock:
            self.queries.append((name, QTYPE[request.q.qtype]))
            texts = self.records.get(name)
        if texts is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype == QTYPE.TXT:
            for text in texts:
                # Long texts go as several strings of one record, as DNS requires (255 bytes each).
                chunks = [text[i:i + 255] for i in range(0, len(text), 255)] or [""]
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, ttl=60, rdata=TXT(chunks)))
        return reply


class UDPLimitHandler(DNSHandler):
    """Truncates UDP answers past the 4,096 bytes Roster's query advertises (EDNS0), as resolvers do; the whole answer
    is then asked for over TCP."""
    udplen = 4096


@pytest.fixture
def zone():
    z = Zone()
    quiet = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data")
    # One port for UDP and TCP: a port free for UDP may be taken for TCP (an outgoing connection's), so try again.
    for _ in range(50):
        port = free_port(socket.SOCK_DGRAM)
        server = DNSServer(z, port=port, address="127.0.0.1", logger=quiet, handler=UDPLimitHandler)
        try:
            tcp = DNSServer(z, port=port, address="127.0.0.1", logger=quiet, tcp=True)
            break
        except OSError:
            server.server.server_close()
    else:
        raise RuntimeError("no port free for both UDP and TCP")
    server.start_thread()
    tcp.start_thread()
    z.port = port
    z.server = server
    yield z
    server.stop()
    tcp.stop()


class Roster:
    def __init__(self, dns_port):
        self.data = tempfile.mkdtemp(prefix="roster-integration.")
        self.port = free_port()
        self.env = dict(os.environ, ROSTER_DATA_DIR=self.data, ROSTER_PORT=str(self.port), ROSTER_DNS_SERVER=f"127.0.0.1:{dns_port}")
        self.env.pop("DATABASE_URL", None)
        for email in ACCOUNTS:
            self.cli("accounts", "create", "--email", email, "--name", email.split("@")[0].title(), input=PASSWORD + "\n")
        log = open(os.path.join(self.data, "serve.log"), "w")
        self.process = subprocess.Popen([BINARY, "serve"], env=self.env, stdout=log, stderr=log)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        self.tokens = {email: self.call("POST", "/v1/sessions", {"email": email, "password": PASSWORD})["token"]
                       for email in ACCOUNTS[:2]}

    def cli(self, *args, input=None):
        result = subprocess.run([BINARY, *args], input=input, text=True, env=self.env, capture_output=True)
        assert result.returncode == 0, f"roster {' '.join(args)}: {result.stdout} {result.stderr}"
        return result.stdout

    def call(self, method, path, body=None, as_=None, expect=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method)
        if data is not None:
            request.add_header("content-type", "application/json")
        if as_:
            request.add_header("authorization", f"Bearer {self.tokens[as_]}")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, text = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read()
        if expect is not None:
            assert status == expect, f"{method} {path}: {status} {text[:400]!r}"
        return json.loads(text) if text else {}

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


@pytest.fixture
def roster(zone):
    r = Roster(zone.port)
    yield r
    r.stop()



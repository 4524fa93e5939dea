"""Webhook deliveries as a real receiver sees them (issue 15): a live `roster serve` (and `roster worker`s) POST to a
small HTTP server here, which checks every delivery with the `standardwebhooks` library from PyPI — the same check
receivers run.

Run by webhook-tests/run.sh (ROSTER_BINARY; ROSTER_TEST_POSTGRES_URL for the two-workers test)."""

import http.server
import json
import os
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid

import pytest
from standardwebhooks.webhooks import Webhook

BINARY = os.environ["ROSTER_BINARY"]
PASSWORD = "long enough password"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    """Answers POSTs from a script per path (then 200) and keeps every delivery."""

    def __init__(self):
        self.deliveries = []  # (path, headers, body)
        self.scripts = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver.lock:
                    receiver.deliveries.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    script = receiver.scripts.get(self.path, [])
                    status = script.pop(0) if script else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path):
        with self.lock:
            return [(h, b) for p, h, b in self.deliveries if p == path]

    def wait(self, path, count, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if len(self.at(path)) >= count:
                return self.at(path)
            time.sleep(0.05)
        return self.at(path)


class Roster:
    """A `roster serve` on a fresh data directory (or database), with `workers` separate `roster worker`s."""

    def __init__(self, database_url=None, workers=0, retry_seconds=1):
        self.data = tempfile.mkdtemp(prefix="roster-webhooks.")
        self.port = free_port()
        self.env = dict(os.environ, ROSTER_DATA_DIR=self.data, ROSTER_PORT=str(self.port), ROSTER_WEBHOOK_ALLOW_PRIVATE="true",
                        ROSTER_WEBHOOK_RETRY_SECONDS=str(retry_seconds), ROSTER_OUTBOX_WORKER="off" if workers else "on")
        if database_url:
            self.env["DATABASE_URL"] = database_url
        self.processes = []
        subprocess.run([BINARY, "accounts", "create", "--email", "owner@example.com", "--name", "Owner"], input=PASSWORD + "\n",
                       text=True, env=self.env, check=True, capture_output=True)
        self.processes.append(self.start("serve"))
        for _ in range(workers):
            self.processes.append(self.start("worker"))
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        self.token = self.call("POST", "/v1/sessions", {"email": "owner@example.com", "password": PASSWORD})["token"]

    def start(self, command):
        log = open(os.path.join(self.data, f"{command}-{len(self.processes)}.log"), "w")
        return subprocess.Popen([BINARY, command], env=self.env, stdout=log, stderr=log)

    def call(self, method, path, body=None, content_type="application/json", expect=None):
        data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method)
        if data is not None:
            request.add_header("content-type", content_type)
        if getattr(self, "token", None):
            request.add_header("authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, text = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read()
        if expect is not None:
            assert status == expect, f"{method} {path}: {status} {text[:300]!r}"
        return json.loads(text) if text else {}

    def stop(self):
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=30)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture
def roster():
    r = Roster()
    yield r
    r.stop()


def endpoint(roster, receiver, path, types=None):
    body = {"url": receiver.url(path)}
    if types:
        body["event_types"] = types
    created = roster.call("POST", "/v1/orgs/acme/webhooks", body, expect=201)
    return created["id"], created["secret"]


def verified(secret, deliveries):
    """Every delivery verified as a receiver does; the payloads."""
    hook = Webhook(secret)
    return [hook.verify(body, headers) for headers, body in deliveries]


def test_every_event_once_signed_and_in_commit_order(roster, receiver):
    roster.call("POST", "/v1/orgs", {"name": "Acme", "slug": "acme"}, expect=201)
    _, secret = endpoint(roster, receiver, "/all")
    _, invited_secret = endpoint(roster, receiver, "/invited", ["membership.invited"])
    for i in range(5):
        roster.call("POST", "/v1/orgs/acme/members", {"email": f"p{i}@example.com"}, expect=201)
    roster.call("PATCH", "/v1/orgs/acme", {"description": "Our roster"}, expect=200)
    everything = verified(secret, receiver.wait("/all", 6))
    assert [e["type"] for e in everything] == ["membership.invited"] * 5 + ["org.updated"]
    assert [e["data"]["membership"]["email"] for e in everything[:5]] == [f"p{i}@example.com" for i in range(5)]
    sequences = [e["sequence"] for e in everything]
    assert sequences == sorted(sequences) and len(set(sequences)) == 6
    assert len({h["webhook-id"] for h, _ in receiver.at("/all")}) == 6, "one delivery per event"
    invited = verified(invited_secret, receiver.wait("/invited", 5))
    assert [e["type"] for e in invited] == ["membership.invited"] * 5
    time.sleep(2)  # the worker polls every second: nothing more may arrive
    assert len(receiver.at("/all")) == 6 and len(receiver.at("/invited")) == 5


def test_a_signature_with_another_secret_is_rejected(roster, receiver):
    roster.call("POST", "/v1/orgs", {"name": "Acme", "slug": "acme"}, expect=201)
    endpoint(roster, receiver, "/hook")
    roster.call("POST", "/v1/orgs/acme/members", {"email": "a@example.com"}, expect=201)
    (headers, body), = receiver.wait("/hook", 1)
    with pytest.raises(Exception):
        Webhook("whsec_" + "A" * 32).verify(body, headers)


def test_500_twice_then_200_is_delivered_on_the_third_attempt(roster, receiver):
    roster.call("POST", "/v1/orgs", {"name": "Acme", "slug": "acme"}, expect=201)
    webhook, secret = endpoint(roster, receiver, "/flaky", ["membership.invited"])
    receiver.scripts["/flaky"] = [500, 500]
    roster.call("POST", "/v1/orgs/acme/members", {"email": "a@example.com"}, expect=201)
    roster.call("POST", "/v1/orgs/acme/members", {"email": "b@example.com"}, expect=201)
    deliveries = receiver.wait("/flaky", 4)
    events = verified(secret, deliveries)
    assert [e["data"]["membership"]["email"] for e in events] == ["a@example.com"] * 3 + ["b@example.com"], "order kept"
    assert len({h["webhook-id"] for h, _ in deliveries[:3]}) == 1, "retries carry the same webhook-id"
    log = roster.call("GET", f"/v1/orgs/acme/webhooks/{webhook}/deliveries", expect=200)["items"]
    assert [(d["attempt"], d["status"], d["response_status"]) for d in reversed(log)] == \
        [(1, "failed", 500), (2, "failed", 500), (3, "delivered", 200), (1, "delivered", 200)]


def test_410_disables_the_endpoint(roster, receiver):
    roster.call("POST", "/v1/orgs", {"name": "Acme", "slug": "acme"}, expect=201)
    webhook, _ = endpoint(roster, receiver, "/gone")
    receiver.scripts["/gone"] = [410]
    roster.call("POST", "/v1/orgs/acme/members", {"email": "a@example.com"}, expect=201)
    receiver.wait("/gone", 1)
    deadline = time.time() + 10
    while time.time() < deadline and roster.call("GET", f"/v1/orgs/acme/webhooks/{webhook}", expect=200)["enabled"]:
        time.sleep(0.1)
    shown = roster.call("GET", f"/v1/orgs/acme/webhooks/{webhook}", expect=200)
    assert shown["enabled"] is False and shown["disabled_reason"] == "gone"
    roster.call("POST", "/v1/orgs/acme/members", {"email": "b@example.com"}, expect=201)
    time.sleep(2)
    assert len(receiver.at("/gone")) == 1, "nothing more is sent to a disabled endpoint"


def test_refused_and_dry_run_changes_send_nothing(roster, receiver):
    roster.call("POST", "/v1/orgs", {"name": "Acme", "slug": "acme"}, expect=201)
    _, secret = endpoint(roster, receiver, "/hook")
    me = roster.call("GET", "/v1/me", expect=200)
    members = roster.call("GET", "/v1/orgs/acme/members", expect=200)["items"]
    mine = next(m for m in members if m["account_id"] == me["id"])
    roster.call("PATCH", f"/v1/orgs/acme/members/{mine['id']}", {"role": "member"}, expect=409)  # the last owner
    roster.call("POST", "/v1/orgs/acme/imports?dry_run=true", b"email\nx@example.com\n", content_type="text/csv", expect=200)
    roster.call("POST", "/v1/orgs/acme/members", {"email": "after@example.com"}, expect=201)
    events = verified(secret, receiver.wait("/hook", 1))
    time.sleep(2)
    assert [e["data"]["membership"]["email"] for e in verified(secret, receiver.at("/hook"))] == ["after@example.com"]
    assert events[0]["type"] == "membership.invited"


@pytest.mark.skipif(not os.environ.get("ROSTER_TEST_POSTGRES_URL"), reason="needs ROSTER_TEST_POSTGRES_URL")
def test_two_workers_deliver_each_event_once(receiver):
    base = os.environ["ROSTER_TEST_POSTGRES_URL"]
    name = "roster_webhooks_" + uuid.uuid4().hex[:8]
    subprocess.run(["psql", base, "-q", "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True)
    url = base.replace("/roster?", f"/{name}?") if "/roster?" in base else base.rsplit("/", 1)[0] + "/" + name
    count = int(os.environ.get("ROSTER_WEBHOOK_EVENTS", "300"))
    roster = Roster(database_url=url, workers=2)
    try:
        roster.call("POST", "/v1/orgs", {"name": "Acme", "slug": "acme"}, expect=201)
        _, secret = endpoint(roster, receiver, "/hook", ["membership.invited"])
        csv = "email\n" + "".join(f"m{i}@example.com\n" for i in range(count))
        started = time.time()
        roster.call("POST", "/v1/orgs/acme/imports", csv.encode(), content_type="text/csv", expect=200)
        deliveries = receiver.wait("/hook", count, timeout=max(60, count / 50))
        elapsed = time.time() - started
        time.sleep(2)
        deliveries = receiver.at("/hook")
        events = verified(secret, deliveries)
        ids = [h["webhook-id"] for h, _ in deliveries]
        assert len(ids) == count and len(set(ids)) == count, f"{len(ids)} deliveries, {len(set(ids))} distinct"
        sequences = [e["sequence"] for e in events]
        assert sequences == sorted(sequences), "in commit order"
        print(f"\n{count} events delivered once each by two workers in {elapsed:.1f} s (import included)")
    finally:
        roster.stop()
        subprocess.run(["psql", base, "-q", "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], capture_output=True)

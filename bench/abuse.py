#!/usr/bin/env python3
"""Abuse benchmark (issue 13): do probes stay fast under floods, and does a hostile CSV stay cheap?

Phase A: for --duration seconds, clients post ~1 MB multipart bodies of 20,000 parts to web forms and others flood
`POST /v1/sessions` with wrong passwords, while this process polls `GET /healthz` and `GET /readyz` alternately every
20 ms, each on a new connection (as a load balancer's probe does). Target: p99 under 50 ms. A 5 s baseline without the
floods comes first. Phase B: a 1 MB CSV full of stray quotes to `POST /v1/orgs/{org}/imports?dry_run=true`, 5 times.
Targets: response under 64 KiB, server peak RSS (VmHWM) growth under 50 MB.

Multipart targets: `POST /signin` (anonymous, no cookies) always; with --email/--password also the import upload form
`POST /orgs/{org}/import` signed in (session cookie, same-origin `Origin`), the only web form that reads multipart.
The sign-in flood aims half its attempts at an account the script signs up and half at random unknown addresses.
Flood clients are processes (the probe timings do not share a GIL with them). Python 3 standard library only.

Run against a release build (SQLite, fresh data directory; organizations are created by people, so the script signs
in as a verified account made with `roster accounts create` and creates its organization unless --org is given):

    swift build -c release --product roster
    export ROSTER_DATA_DIR=/tmp/abuse R=.build/release/roster
    printf 'abuse password 123\\n' | $R accounts create --email abuse@example.com --name Abuse
    KEY=$($R keys create --name abuse | head -n 1)            # rk_…
    $R serve --log notice & PID=$!                             # ROSTER_PORT / ROSTER_HOST to move it
    python3 bench/abuse.py --base-url http://127.0.0.1:8080 --api-key "$KEY" \\
        --email abuse@example.com --password 'abuse password 123' --server-pid $PID
    kill $PID

Prints the details, then a Markdown summary for docs/benchmarks.md; exits 1 if a check fails.
"""
import argparse
import http.client
import json
import math
import random
import sys
import time
import urllib.parse
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

PROBE_P99_MS = 50
RESPONSE_LIMIT = 64 * 1024
RSS_GROWTH_LIMIT_MB = 50


# MARK: HTTP

def request(base, method, path, body=None, headers=None, timeout=60):
    """One request on a new connection: (status, or the error's name; response body; seconds)."""
    url = urllib.parse.urlsplit(base)
    connection_type = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    connection = connection_type(url.hostname, url.port, timeout=timeout)
    started = time.perf_counter()
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        return response.status, data, time.perf_counter() - started
    except (OSError, http.client.HTTPException) as error:
        return type(error).__name__, b"", time.perf_counter() - started
    finally:
        connection.close()


def call_api(base, method, path, payload=None, token=None, expect=(200, 201)):
    """A setup call whose failure ends the run."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    status, data, _ = request(base, method, path, json.dumps(payload) if payload is not None else None, headers)
    if status not in expect:
        sys.exit(f"setup failed: {method} {path} -> {status} {data[:300].decode(errors='replace')}")
    return json.loads(data) if data else {}


# MARK: Phase A: floods and probes

def multipart_body(parts, size):
    """A multipart/form-data body of `parts` tiny fields, padded to about `size` bytes: (body, content type)."""
    boundary = "x"   # short on purpose: 20,000 parts with their headers must fit in the 1 MiB body limit
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="p"\r\n\r\n'
    closing = f"--{boundary}--\r\n"
    value = "v" * max(0, (size - len(closing)) // parts - len(head) - 2)
    body = (head + value + "\r\n") * parts + closing
    return body.encode(), f"multipart/form-data; boundary={boundary}"


def post_multipart_until(base, target, cookie, deadline, parts, size):
    """Posts the multipart body to `target` back to back until `deadline`: (target, statuses, seconds per post)."""
    body, content_type = multipart_body(parts, size)
    url = urllib.parse.urlsplit(base)
    headers = {"Content-Type": content_type, "Origin": f"{url.scheme}://{url.netloc}"}
    if cookie:
        headers["Cookie"] = cookie
    statuses, seconds = Counter(), []
    while time.time() < deadline:
        status, _, took = request(base, "POST", target, body, headers)
        statuses[status] += 1
        seconds.append(took)
    return target, statuses, seconds


def flood_sign_in_until(base, known_email, deadline, seed):
    """Wrong passwords to `POST /v1/sessions`, for the known account and for random addresses: Counter((who, status))."""
    rng = random.Random(seed)
    statuses = Counter()
    while time.time() < deadline:
        known = rng.random() < 0.5
        email = known_email if known else f"nobody-{rng.getrandbits(64):016x}@example.com"
        payload = json.dumps({"email": email, "password": f"wrong password {rng.getrandbits(32)}"})
        status, _, _ = request(base, "POST", "/v1/sessions", payload, {"Content-Type": "application/json"})
        statuses[("known account" if known else "random address", status)] += 1
    return statuses


def poll_probes(base, seconds, interval):
    """GET /healthz and /readyz alternately for `seconds`: ({path: [ms]}, Counter((path, status)) of non-200s)."""
    latencies, errors = {"/healthz": [], "/readyz": []}, Counter()
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        path = "/healthz" if n % 2 == 0 else "/readyz"
        n += 1
        status, _, took = request(base, "GET", path, timeout=10)
        latencies[path].append(took * 1000)
        if status != 200:
            errors[(path, status)] += 1
        time.sleep(max(0.0, interval - took))
    return latencies, errors


def percentile(values, p):
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def latency_summary(ms):
    return {"n": len(ms), **{f"p{p}": percentile(ms, p) for p in (50, 95, 99)}, "max": max(ms)} if ms else None


def run_flood(args, known_email, targets):
    """Starts the flood clients, polls the probes until they stop, and gathers what everyone saw."""
    deadline = time.time() + args.duration
    with ProcessPoolExecutor(max_workers=args.multipart_clients + args.signin_clients) as pool:
        posts = [pool.submit(post_multipart_until, args.base_url, *targets[i % len(targets)], deadline, args.parts, args.body_bytes)
                 for i in range(args.multipart_clients)]
        sign_ins = [pool.submit(flood_sign_in_until, args.base_url, known_email, deadline, i) for i in range(args.signin_clients)]
        probes = poll_probes(args.base_url, deadline - time.time(), args.probe_interval)
        multipart = {}
        for target, statuses, seconds in (job.result() for job in posts):
            seen = multipart.setdefault(target, (Counter(), []))
            seen[0].update(statuses)
            seen[1].extend(seconds)
        sign_in = sum((job.result() for job in sign_ins), Counter())
    return probes, multipart, sign_in


# MARK: Phase B: the stray-quote CSV and the server's memory

def stray_quote_csv(size):
    """A valid `email,name` header, then ~`size` bytes of lines whose quotes are all misplaced."""
    patterns = ['a{i}"b@example.com,Name "quoted" {i}',   # quotes inside unquoted cells
                '"c{i}"d@example.com,"e"f"{i}',            # text after a closing quote
                '"']                                       # a lone quote, closed on the next line
    lines, total, i = ["email,name"], 12, 0
    while total < size:
        line = patterns[i % len(patterns)].format(i=i)
        lines.append(line)
        total += len(line) + 2
        i += 1
    return ("\r\n".join(lines) + "\r\n").encode()


def server_memory_kib(pid):
    """VmRSS and VmHWM of the server process, in KiB."""
    with open(f"/proc/{pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status if line.startswith(("VmRSS", "VmHWM")))
    return {name: int(value.split()[0]) for name, value in fields.items()}


def reset_peak_rss(pid):
    """Resets VmHWM to the current RSS (Linux `clear_refs` 5); False when not allowed."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def run_stray_quotes(args, org, token):
    """Uploads the CSV `args.uploads` times: per upload (status, bytes, seconds, memory after), and the memory before."""
    csv = stray_quote_csv(args.csv_bytes)
    path = f"/v1/orgs/{urllib.parse.quote(org, safe='')}/imports?dry_run=true"
    headers = {"Content-Type": "text/csv", "Authorization": f"Bearer {token}"}
    before = server_memory_kib(args.server_pid) if args.server_pid else None
    peak_was_reset = bool(args.server_pid) and reset_peak_rss(args.server_pid)
    uploads = []
    for _ in range(args.uploads):
        status, data, seconds = request(args.base_url, "POST", path, csv, headers, timeout=300)
        time.sleep(1)   # the server trims its heap in the background after a request
        uploads.append((status, len(data), seconds, server_memory_kib(args.server_pid) if args.server_pid else None, data))
    return len(csv), before, peak_was_reset, uploads


# MARK: Report

def ms(value):
    return f"{value:.1f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8080")
    parser.add_argument("--api-key", help="platform key (rk_…) for the import; default: the --email session")
    parser.add_argument("--org", help="organization id or slug to import into; default: create one as --email")
    parser.add_argument("--email", help="a verified account (roster accounts create): creates the org, signs the upload form")
    parser.add_argument("--password")
    parser.add_argument("--server-pid", type=int, help="the server's pid, for /proc/PID/status (same machine)")
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--baseline", type=float, default=5)
    parser.add_argument("--multipart-clients", type=int, default=4)
    parser.add_argument("--signin-clients", type=int, default=4)
    parser.add_argument("--parts", type=int, default=20_000)
    parser.add_argument("--body-bytes", type=int, default=1_000_000)
    parser.add_argument("--probe-interval", type=float, default=0.02)
    parser.add_argument("--csv-bytes", type=int, default=1_000_000)
    parser.add_argument("--uploads", type=int, default=5)
    args = parser.parse_args()
    if not args.org and not args.email:
        parser.error("give --org, or --email/--password of a verified account to create one")
    base = args.base_url = args.base_url.rstrip("/")

    # Setup: the sign-in flood's known account, a session and an organization.
    call_api(base, "GET", "/healthz")
    tag = f"{random.getrandbits(40):010x}"
    known_email = f"abuse-target-{tag}@example.com"
    call_api(base, "POST", "/v1/accounts", {"email": known_email, "name": "Abuse Target", "password": "target password 123"})
    session = call_api(base, "POST", "/v1/sessions", {"email": args.email, "password": args.password or ""})["token"] if args.email else None
    org = args.org or call_api(base, "POST", "/v1/orgs", {"name": f"Abuse Bench {tag}"}, token=session)["slug"]
    cookie_prefix = "__Host-" if base.startswith("https:") else ""
    targets = [("/signin", None)]
    if session:
        targets.append((f"/orgs/{org}/import", f"{cookie_prefix}roster_session={session}; {cookie_prefix}roster_csrf=abuse"))
    print(f"server {base}, organization {org}, sign-in flood on {known_email} and random addresses")

    # Phase A.
    print(f"baseline: probes alone for {args.baseline:g} s …", flush=True)
    baseline, baseline_errors = poll_probes(base, args.baseline, args.probe_interval)
    print(f"flood: {args.multipart_clients} multipart + {args.signin_clients} sign-in clients for {args.duration:g} s …", flush=True)
    memory_before_flood = server_memory_kib(args.server_pid) if args.server_pid else None
    (flooded, flood_errors), multipart, sign_in = run_flood(args, known_email, targets)
    memory_after_flood = server_memory_kib(args.server_pid) if args.server_pid else None

    body, _ = multipart_body(args.parts, args.body_bytes)
    print(f"\nmultipart posts ({len(body):,} bytes, {args.parts:,} parts each):")
    for target, (statuses, seconds) in multipart.items():
        print(f"  POST {target}: {sum(statuses.values())} posts, statuses {dict(statuses)}, "
              f"median {ms(percentile(seconds, 50) * 1000)} ms, max {ms(max(seconds) * 1000)} ms")
    print("sign-in flood (POST /v1/sessions):")
    for who in ("known account", "random address"):
        print(f"  {who}: {', '.join(f'{status}: {n}' for (w, status), n in sorted(sign_in.items(), key=str) if w == who)}")
    if memory_before_flood:
        print("server memory over the flood: " + ", ".join(
            f"{name} {memory_before_flood[name]:,} -> {memory_after_flood[name]:,} KiB" for name in ("VmRSS", "VmHWM")))
    print("\n| probe | phase | requests | p50 ms | p95 ms | p99 ms | max ms | non-200 |\n|---|---|---|---|---|---|---|---|")
    for path in ("/healthz", "/readyz"):
        for phase, latencies, errors in (("baseline", baseline, baseline_errors), ("flood", flooded, flood_errors)):
            s = latency_summary(latencies[path])
            bad = sum(n for (p, _), n in errors.items() if p == path)
            print(f"| `{path}` | {phase} | {s['n']} | {ms(s['p50'])} | {ms(s['p95'])} | {ms(s['p99'])} | {ms(s['max'])} | {bad} |")

    # Phase B.
    csv_size, before, peak_was_reset, uploads = run_stray_quotes(args, org, args.api_key or session)
    print(f"\nstray-quote CSV ({csv_size:,} bytes) to POST /v1/orgs/{org}/imports?dry_run=true:")
    if before:
        print(f"  before: VmRSS {before['VmRSS']:,} KiB, VmHWM {before['VmHWM']:,} KiB"
              f"{' (peak reset)' if peak_was_reset else ' (peak could not be reset: growth measured from the old VmHWM)'}")
    for n, (status, size, seconds, memory, _) in enumerate(uploads, 1):
        rss = f", VmRSS {memory['VmRSS']:,} KiB, VmHWM {memory['VmHWM']:,} KiB" if memory else ""
        print(f"  upload {n}: HTTP {status}, {size:,} bytes in {ms(seconds * 1000)} ms{rss}")
    try:
        problem = json.loads(uploads[0][4])
        issues = problem.get("errors") or []
        print(f"  first response: {problem.get('code')}, {len(issues)} problems listed, last: {issues[-1] if issues else None}")
    except ValueError:
        print(f"  first response is not JSON: {uploads[0][4][:200]!r}")

    # Summary and verdict.
    checks = []
    for path in ("/healthz", "/readyz"):
        s = latency_summary(flooded[path])
        bad = sum(n for (p, _), n in flood_errors.items() if p == path)
        checks.append((f"`{path}` p99 under flood", f"{ms(s['p99'])} ms (baseline {ms(latency_summary(baseline[path])['p99'])} ms), "
                       f"{bad} non-200 of {s['n']}", f"< {PROBE_P99_MS} ms, all 200", s["p99"] < PROBE_P99_MS and bad == 0))
    largest = max(size for _, size, _, _, _ in uploads)
    statuses = sorted({str(status) for status, _, _, _, _ in uploads})
    checks.append(("stray-quote CSV response", f"{largest:,} bytes (HTTP {', '.join(statuses)})", "< 64 KiB", largest < RESPONSE_LIMIT))
    if before:
        peak = max(memory["VmHWM"] for _, _, _, memory, _ in uploads)
        growth_mb = (peak - (before["VmRSS"] if peak_was_reset else before["VmHWM"])) * 1024 / 1e6
        after = ", ".join(f"{memory['VmRSS'] * 1024 / 1e6:.0f}" for _, _, _, memory, _ in uploads)
        checks.append(("peak RSS growth (VmHWM)", f"{growth_mb:.1f} MB (RSS after each upload: {after} MB)",
                       f"< {RSS_GROWTH_LIMIT_MB} MB", growth_mb < RSS_GROWTH_LIMIT_MB))
    else:
        checks.append(("peak RSS growth (VmHWM)", "not measured (no --server-pid)", f"< {RSS_GROWTH_LIMIT_MB} MB", None))
    print("\n| check | measured | target | result |\n|---|---|---|---|")
    for name, measured, target, passed in checks:
        print(f"| {name} | {measured} | {target} | {'PASS' if passed else 'skipped' if passed is None else 'FAIL'} |")
    sys.exit(1 if any(passed is False for *_, passed in checks) else 0)


if __name__ == "__main__":
    main()

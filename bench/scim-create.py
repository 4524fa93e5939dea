"""Creates N SCIM users one request at a time from C concurrent clients (keep-alive connections) and prints the
rate and latencies. Usage: python3 bench/scim-create.py BASE_URL ORG KEY [N=10000] [C=8] [DOMAIN=bench.test]"""
import http.client
import json
import sys
import threading
import time
import urllib.parse

base, org, key = sys.argv[1], sys.argv[2], sys.argv[3]
total = int(sys.argv[4]) if len(sys.argv) > 4 else 10000
clients = int(sys.argv[5]) if len(sys.argv) > 5 else 8
domain = sys.argv[6] if len(sys.argv) > 6 else "bench.test"
url = urllib.parse.urlparse(base)
latencies, failures, lock = [], [], threading.Lock()


def client(index):
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    mine = []
    for n in range(index, total, clients):
        body = json.dumps({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": f"user{n}@{domain}",
                           "externalId": f"EXT-{n}-{domain}", "name": {"givenName": "User", "familyName": str(n)}})
        started = time.perf_counter()
        connection.request("POST", f"/scim/v2/orgs/{org}/Users", body=body,
                           headers={"Authorization": f"Bearer {key}", "Content-Type": "application/scim+json"})
        response = connection.getresponse()
        response.read()
        mine.append(time.perf_counter() - started)
        if response.status != 201:
            with lock:
                failures.append(response.status)
    with lock:
        latencies.extend(mine)


threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
started = time.perf_counter()
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
elapsed = time.perf_counter() - started
latencies.sort()
print(f"{total} users, {clients} clients: {elapsed:.1f} s, {total / elapsed:.0f} requests/s; "
      f"p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms; "
      f"failures {len(failures)} {sorted(set(failures))}")

"""Verified domains through real DNS (issue 16): a dnslib server publishes TXT records on a local port; a live
`roster serve` with ROSTER_DNS_SERVER pointing at it verifies a domain, applies its policy, and loses it on the
re-check once the record is gone.

Run by integration-tests/run.sh (ROSTER_BINARY)."""

import time

OWNER = "owner@acme.test"


def test_a_domain_is_verified_through_dns_joins_people_and_is_lost_when_its_record_goes(zone, roster):
    org = roster.call("POST", "/v1/orgs", {"name": "Acme", "slug": "acme"}, as_=OWNER, expect=201)["id"]
    domain = roster.call("POST", f"/v1/orgs/{org}/domains", {"domain": "acme.test", "policy": "auto"}, as_=OWNER, expect=201)
    record = domain["verification"]["value"]
    assert domain["verification"]["type"] == "TXT" and record.startswith("roster-verification=")

    # Not published yet: NXDOMAIN, said plainly.
    refused = roster.call("POST", f"/v1/orgs/{org}/domains/{domain['id']}/verify", as_=OWNER, expect=422)
    assert refused["code"] == "domain_not_verified" and "does not exist" in refused["detail"]
    assert ("acme.test", "TXT") in zone.queries

    # Published among many other records (an answer past 512 bytes) and split in strings: verified.
    zone.publish("acme.test", *[f"v=spf{i} include:mail{i}.acme.test -all" for i in range(20)], record)
    verified = roster.call("POST", f"/v1/orgs/{org}/domains/{domain['id']}/verify", as_=OWNER, expect=200)
    assert verified["status"] == "verified"

    # auto: Ada (verified, acme.test) is a member now; Eve (elsewhere) is not.
    members = roster.call("GET", f"/v1/orgs/{org}/members", as_=OWNER, expect=200)["items"]
    by_email = {m["email"]: m for m in members}
    assert by_email["ada@acme.test"]["source"] == "domain" and by_email["ada@acme.test"]["status"] == "active"
    assert "eve@elsewhere.test" not in by_email

    # The re-check while the record stands keeps it; once the record is gone, the domain is lost.
    assert "0 lost" in roster.cli("domains", "recheck", "--all")
    zone.withdraw("acme.test")
    zone.publish("acme.test", "v=spf1 -all")
    assert "1 lost" in roster.cli("domains", "recheck", "--all")
    lost = roster.call("GET", f"/v1/orgs/{org}/domains/{domain['id']}", as_=OWNER, expect=200)
    assert lost["status"] == "pending" and "No TXT record" in lost["check_result"]
    events = roster.call("GET", f"/v1/orgs/{org}/events?types=domain.*", as_=OWNER, expect=200)["items"]
    assert [e["type"] for e in events] == ["domain.added", "domain.verified", "domain.lost"]


def test_a_record_among_many_large_ones_is_found_over_udp_and_over_tcp(zone, roster):
    """A company domain carries many long TXT records (SPF, other services' verifications): an answer of 2.2 KB comes
    in one datagram, one of 8 KB is truncated for UDP and asked for again over TCP."""
    org = roster.call("POST", "/v1/orgs", {"name": "Acme", "slug": "acme"}, as_=OWNER, expect=201)["id"]
    for name, count in [("big.test", 8), ("huge.test", 30)]:
        domain = roster.call("POST", f"/v1/orgs/{org}/domains", {"domain": name}, as_=OWNER, expect=201)
        zone.publish(name, *[f"service-{i}-verification=" + "x" * 230 for i in range(count)], domain["verification"]["value"])
        verified = roster.call("POST", f"/v1/orgs/{org}/domains/{domain['id']}/verify", as_=OWNER, expect=200)
        assert verified["status"] == "verified", verified


def test_dns_that_does_not_answer_verifies_nothing(zone, roster):
    org = roster.call("POST", "/v1/orgs", {"name": "Acme", "slug": "acme"}, as_=OWNER, expect=201)["id"]
    domain = roster.call("POST", f"/v1/orgs/{org}/domains", {"domain": "acme.test"}, as_=OWNER, expect=201)
    zone.publish("acme.test", domain["verification"]["value"])
    zone.server.stop()
    started = time.time()
    refused = roster.call("POST", f"/v1/orgs/{org}/domains/{domain['id']}/verify", as_=OWNER, expect=422)
    assert "DNS did not answer" in refused["detail"] and time.time() - started < 15
    assert roster.call("GET", f"/v1/orgs/{org}/domains/{domain['id']}", as_=OWNER)["status"] == "pending"

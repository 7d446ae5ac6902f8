"""dnscheck against a real (tiny) DNS server on 127.0.0.1: A, AAAA, PTR, NXDOMAIN, FCrDNS,
the run cache, and a resolver that never answers (one clear line, bounded by the timeout)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import dns.message
import dns.rcode
import dns.rrset
import pytest

from se_dualstack.concerns import dns as dnscheck

ZONE = {
    ("head.example.test.", "A"): ["10.42.0.10"],
    ("head.example.test.", "AAAA"): ["fd42:6::10"],
    ("10.0.42.10.in-addr.arpa.", "PTR"): ["head.example.test."],
    ("0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.0.0.0.2.4.d.f.ip6.arpa.", "PTR"):
        ["head.example.test."],
    ("disk01.example.test.", "A"): ["10.42.0.11"],  # no AAAA (fault no_aaaa)
    ("disk02.example.test.", "AAAA"): ["fd42:6::12"],  # PTR names another host
    ("2.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.0.0.0.2.4.d.f.ip6.arpa.", "PTR"):
        ["old-pool.example.test."],
    ("disk03.example.test.", "AAAA"): ["2001:db8::13"],  # no PTR
}


class FakeDNS:
    """A UDP DNS server answering from ZONE (counts queries, to prove the cache works)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.queries: list[tuple[str, str]] = []
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stop:
            try:
                data, peer = self.sock.recvfrom(4096)
            except (TimeoutError, socket.timeout):  # apart on Python 3.9
                continue
            q = dns.message.from_wire(data)
            qname, rdtype = q.question[0].name.to_text(), dns.rdatatype.to_text(q.question[0].rdtype)
            self.queries.append((qname, rdtype))
            r = dns.message.make_response(q)
            values = ZONE.get((qname.lower(), rdtype))
            if values:
                r.answer.append(dns.rrset.from_text_list(qname, 60, "IN", rdtype, values))
            elif not any(k[0] == qname.lower() for k in ZONE):
                r.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(r.to_wire(), peer)


@pytest.fixture
def server() -> Iterator[FakeDNS]:
    s = FakeDNS()
    s.cache = dnscheck.DnsCache()  # one run's cache, shared by every client of the run
    yield s
    s.stop = True
    s.thread.join(1)
    s.sock.close()


def client(server: FakeDNS) -> dnscheck.DnsClient:
    return dnscheck.DnsClient(["127.0.0.1"], timeout=2.0, port=server.port, cache=server.cache)


def test_a_and_aaaa(server):
    c = client(server)
    assert c.addresses("head.example.test", 4).records == ("10.42.0.10",), "A of head"
    assert c.addresses("head.example.test", 6).records == ("fd42:6::10",), "AAAA of head"


def test_missing_aaaa_is_not_mapped_from_a(server):
    ans = client(server).addresses("disk01.example.test", 6)
    assert ans.records == (), f'no AAAA must stay empty, got {ans}'
    assert ans.status == 'noanswer', f'no AAAA must stay empty, got {ans}'
    assert "no AAAA record" in ans.describe(), ans.describe()


def test_nxdomain(server):
    ans = client(server).addresses("nosuch.example.test", 6)
    assert ans.status == "nxdomain", ans
    assert "NXDOMAIN" in ans.describe(), ans.describe()


def test_answers_are_cached_per_resolver_name_type(server):
    c = client(server)
    for _ in range(3):
        c.addresses("head.example.test", 6)
        client(server).addresses("head.example.test", 6)
    assert server.queries.count(("head.example.test.", "AAAA")) == 1, server.queries


def test_fcrdns_ok_ipv6_and_ipv4(server):
    c = client(server)
    r6 = dnscheck.fcrdns(c, "head.example.test", "fd42:6::10")
    r4 = dnscheck.fcrdns(c, "head.example.test", "10.42.0.10")
    assert r6.ok, (r6, r4)
    assert r4.ok, (r6, r4)


def test_fcrdns_ptr_names_other_host(server):
    r = dnscheck.fcrdns(client(server), "disk02.example.test", "fd42:6::12")
    assert not r.ok, r
    assert 'old-pool.example.test' in r.detail, r


def test_fcrdns_no_ptr(server):
    r = dnscheck.fcrdns(client(server), "disk03.example.test", "2001:db8::13")
    assert not r.ok, r
    assert 'no PTR record' in r.detail, r
    assert dnscheck.reverse_zone_hint("2001:db8::13").endswith("8.b.d.0.1.0.0.2.ip6.arpa."), "hint"


def test_dead_resolver_times_out_once_with_one_line():
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never answers
    silent.bind(("127.0.0.1", 0))
    try:
        c = dnscheck.DnsClient(["127.0.0.1"], timeout=0.5, port=silent.getsockname()[1])
        t0 = time.monotonic()
        with pytest.raises(dnscheck.ResolverDown) as first:
            c.addresses("head.example.test", 6)
        took = time.monotonic() - t0
        assert took < 2.0, f"query must end at the timeout, took {took:.1f}s"
        msg = str(first.value)
        assert '127.0.0.1' in msg, msg
        assert 'timeout' in msg, msg
        assert '\n' not in msg, msg
        t0 = time.monotonic()
        with pytest.raises(dnscheck.ResolverDown, match="not asked again"):
            c.addresses("disk01.example.test", 4)
        assert time.monotonic() - t0 < 0.2, "a dead resolver is not asked again in the run"
    finally:
        silent.close()


def test_a_new_run_has_a_fresh_cache(server):
    dnscheck.DnsClient(["127.0.0.1"], timeout=2.0, port=server.port).addresses("head.example.test", 6)
    dnscheck.DnsClient(["127.0.0.1"], timeout=2.0, port=server.port).addresses("head.example.test", 6)
    assert server.queries.count(("head.example.test.", "AAAA")) == 2, \
        f"clients of two runs share no answers: {server.queries}"


def test_no_resolver_configured():
    with pytest.raises(dnscheck.ResolverDown, match="se_resolvers"):
        dnscheck.DnsClient([], timeout=1)


def test_resolv_conf_and_prefixes():
    text = "# generated\nsearch example.test\nnameserver 10.42.0.1\nnameserver fd42:6::1 # v6\n"
    assert dnscheck.parse_resolv_conf(text) == ["10.42.0.1", "fd42:6::1"], "nameserver lines"
    assert dnscheck.outside_prefixes(["fd42:6::10", "2001:db8::1"], ["2000::/3"]) == ["fd42:6::10"], \
        "ULA is outside global unicast"
    assert dnscheck.outside_prefixes(["fd42:6::10"], ["fd42:6::/64"]) == [], "site ULA prefix"

"""DNS facts about an SE host, asked of the site's resolvers with dnspython.

Why not ``getent``: ``getent ahostsv6`` answers ``::ffff:a.b.c.d`` for a name with only an A
record, so it cannot prove an AAAA record exists; and it goes through the local nsswitch and
/etc/hosts, not the DNS that FTS and remote sites use. Every query has an explicit lifetime; a
resolver that timed out once is not asked again in the run (one clear failure per check instead
of N timeouts). Answers are cached per (resolvers, name, type) so checks never repeat queries.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import dns.exception
import dns.resolver
import dns.reversename


class ResolverDown(Exception):
    """The resolvers did not answer (timeout, refused, SERVFAIL): a one-line reason."""


@dataclass(frozen=True)
class Answer:
    """Records of one type for one name (``status``: ok, nxdomain, noanswer, or synthesized: the
    only AAAA records were made by DNS64 and are left out, see :mod:`.families`)."""

    name: str
    rdtype: str
    records: tuple[str, ...]
    status: str

    def describe(self) -> str:
        if self.records:
            return ", ".join(self.records)
        if self.status == "nxdomain":
            return f"NXDOMAIN for {self.name} (name does not exist)"
        if self.status == "synthesized":
            return f"no {self.rdtype} record of its own for {self.name} (only one synthesized by DNS64)"
        return f"no {self.rdtype} record for {self.name}"


def parse_resolv_conf(text: str) -> list[str]:
    """``nameserver`` lines of resolv.conf, in order."""
    out = []
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split(";", 1)[0].split()
        if len(words) >= 2 and words[0] == "nameserver":
            out.append(words[1])
    return out


def default_resolvers(path: str = "/etc/resolv.conf") -> list[str]:
    """The suite machine's resolvers (the default of ``se_resolvers``)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return parse_resolv_conf(fh.read())
    except OSError:
        return []


class DnsCache:
    """Answers and dead resolvers of one run (one object per run, shared by its clients)."""

    def __init__(self) -> None:
        self.answers: dict[tuple[tuple[str, ...], str, str, str], Answer | ResolverDown] = {}
        self.dead: dict[tuple[str, ...], str] = {}
        self.lock = threading.Lock()


class DnsClient:
    """Queries with explicit timeouts against fixed resolvers, cached in the run's DnsCache."""

    def __init__(self, nameservers: Iterable[str], timeout: float, port: int = 53,
                 cache: DnsCache | None = None) -> None:
        self.cache = cache if cache is not None else DnsCache()
        self.nameservers = tuple(str(n) for n in nameservers)
        self.port = port
        self.timeout = float(timeout)
        if not self.nameservers:
            raise ResolverDown("no resolver to ask: /etc/resolv.conf has no nameserver and se_resolvers "
                               "is not set; set se_resolvers in the inventory")
        self._res = dns.resolver.Resolver(configure=False)
        self._res.nameservers = list(self.nameservers)
        self._res.port = port
        self._res.timeout = self.timeout
        self._res.lifetime = self.timeout
        self._res.cache = None

    @property
    def label(self) -> str:
        return ", ".join(self.nameservers)

    def query(self, name: str, rdtype: str) -> Answer:
        """One query (cached); raises :class:`ResolverDown` with a one-line reason."""
        key = (self.nameservers, str(self.port), name.lower().rstrip("."), rdtype)
        c = self.cache
        with c.lock:
            hit = c.answers.get(key)
            dead = c.dead.get(self.nameservers)
        if isinstance(hit, Answer):
            return hit
        if isinstance(hit, ResolverDown):
            raise hit
        if dead:
            raise ResolverDown(dead)
        try:
            result: Answer | ResolverDown = self._ask(name, rdtype)
        except ResolverDown as e:
            result = e
        with c.lock:
            c.answers[key] = result
        if isinstance(result, ResolverDown):
            raise result
        return result

    def _ask(self, name: str, rdtype: str) -> Answer:
        fqdn = name if name.endswith(".") else name + "."
        try:
            ans = self._res.resolve(fqdn, rdtype, raise_on_no_answer=False, search=False)
        except dns.resolver.NXDOMAIN:
            return Answer(name, rdtype, (), "nxdomain")
        except dns.resolver.NoAnswer:
            return Answer(name, rdtype, (), "noanswer")
        except dns.exception.Timeout:
            msg = (f"DNS resolver {self.label} did not answer {rdtype} {name} within "
                   f"{self.timeout:g}s (timeout)")
            with self.cache.lock:
                self.cache.dead[self.nameservers] = (
                    f"DNS resolver {self.label} timed out earlier in this run "
                    f"({self.timeout:g}s); not asked again")
            raise ResolverDown(msg) from None
        except dns.resolver.NoNameservers as e:
            raise ResolverDown(f"DNS resolver {self.label} failed {rdtype} {name}: "
                               f"{str(e).splitlines()[0]}") from None
        except dns.exception.DNSException as e:
            raise ResolverDown(f"DNS query {rdtype} {name} at {self.label} failed: {e}") from None
        recs = tuple(sorted(_text(r, rdtype) for r in ans)) if ans.rrset is not None else ()
        return Answer(name, rdtype, recs, "ok" if recs else "noanswer")

    def addresses(self, name: str, family: int) -> Answer:
        return self.query(name, "AAAA" if family == 6 else "A")

    def ptr(self, address: str) -> Answer:
        return self.query(dns.reversename.from_address(address).to_text(), "PTR")


def _text(rdata: object, rdtype: str) -> str:
    if rdtype == "PTR":
        return str(rdata.target).rstrip(".").lower()  # type: ignore[attr-defined]
    if rdtype in ("A", "AAAA"):
        return str(ipaddress.ip_address(rdata.address))  # type: ignore[attr-defined]
    return str(rdata)


def outside_prefixes(addresses: Iterable[str], prefixes: Iterable[str]) -> list[str]:
    """The AAAA addresses not within any allowed prefix."""
    nets = [ipaddress.IPv6Network(p, strict=False) for p in prefixes]
    return [a for a in addresses if not any(ipaddress.IPv6Address(a) in n for n in nets)]


@dataclass(frozen=True)
class Fcrdns:
    """Forward-confirmed reverse DNS for one address."""

    address: str
    ok: bool
    detail: str


def fcrdns(client: DnsClient, name: str, address: str) -> Fcrdns:
    """PTR of ``address`` names ``name``, and ``name`` resolves back to ``address``."""
    family = 6 if ":" in address else 4
    want = name.lower().rstrip(".")
    ptr = client.ptr(address)
    if not ptr.records:
        return Fcrdns(address, False, f"no PTR record for {address} ({ptr.describe()})")
    if want not in ptr.records:
        return Fcrdns(address, False, f"PTR of {address} is {', '.join(ptr.records)}, not {want}")
    fwd = client.addresses(want, family)
    if address not in fwd.records:
        return Fcrdns(address, False, f"PTR of {address} is {want} but {want} resolves to "
                                      f"{fwd.describe()}, not back to {address}")
    return Fcrdns(address, True, f"{address} -> {want} -> {address}")


def reverse_zone_hint(address: str) -> str:
    """The PTR owner name to publish, for the fix text."""
    return dns.reversename.from_address(address).to_text()

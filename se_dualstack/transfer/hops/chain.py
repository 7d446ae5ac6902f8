"""The redirect chain as plain data, and which hop of it is wrong, on which host. No I/O.

Why the target is kept as the server wrote it: the field's bugs are in the writing (dCache issue
6749: an IPv6 literal without brackets; 6568: a private IPv4 address:port; 6893: a link-local
address), so the tracers record the ``Location`` header or the ``kXR_redirect`` host and port
verbatim (query dropped: it may carry a token) and this module judges them.

Who is at fault (``Finding.host``), as the transfer checks pin a failure on the host where the
data lands:

* the form of a redirect (not a URL, an IPv6 literal without brackets): the host that wrote it;
* everything about where it points (a literal or a name without an address of the client's
  family, a link-local, loopback or off-prefix address, an address no inventory host publishes,
  a port that refuses the connection): the host it lands on, since in every system the data
  server announces how it is reached (a pool's interfaces, an FST's advertised port, the address
  a data server's cmsd logged in from); when the target is no inventory host, the host whose test
  directory the chain was asked for, else the host that wrote the redirect; an entry point that
  sends a family nowhere for the target's directory (500, "no servers") speaks for the target;
* warnings, not failures, for what is no family matter and both families meet alike, which the
  round trip (SE6-XFER-01) fails on: a port other than the storage registry's for that hop (the
  connection is the fact, the registry a model; the warning says how to declare the port so the
  firewall checks test it), TLS with a target that accepted the connection, and what the data
  server answered once it did (a wrong protocol on the port, a refused credential);
* a server that accepted the connection and then gave no answer within the deadline (stopped,
  hung): a failure of that host, the silent service the transfers' root cause names too.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from se_dualstack import knowledge


def hostport(address: str, port: int) -> str:
    """``host:port``, an IPv6 literal in brackets (as URLs and XRootD's client write it)."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


@dataclass(frozen=True)
class TraceContext:
    """What a tracer needs: the family, the credential as the transfers hold it, timeouts and the
    site's resolvers (``resolve``: name, family -> addresses). ``probe``: the absolute path of a
    fresh file name in the test directory (past the transfers' path guard)."""

    family: int
    auth: str  # "x509" | "token"
    proxy: str  # the X.509 proxy (client certificate), with auth x509
    certdir: str  # X509_CERT_DIR: the CAs a server certificate is verified against
    token_file: str  # the bearer token's file, with auth token (never the value)
    connect_timeout: float
    timeout: float
    resolve: Callable[[str, int], list[str]]
    probe: str
    max_hops: int = 8


@dataclass(frozen=True)
class Target:
    """Where a redirect sends the client, as written (query dropped)."""

    text: str  # the Location up to its path, or the kXR_redirect ``host, port N`` (never a query)
    scheme: str  # the Location's URL scheme; "" when the answer has none (xroot host and port)
    host: str  # name or address, without brackets
    port: int
    literal: int = 0  # 0: a name; 4 or 6: an address literal of that family
    bracketed: bool = True  # an IPv6 literal written in brackets
    problem: str = ""  # why a client cannot follow it at all ("" when it can)

    @property
    def hostport(self) -> str:
        return hostport(self.host, self.port)


def _literal(host: str) -> int:
    try:
        return ipaddress.ip_address(host).version
    except ValueError:
        return 0


def split_authority(authority: str, default_port: int) -> tuple[str, int, bool, str]:
    """(host, port, bracketed, problem) of a URL authority, an IPv6 literal with or without brackets."""
    authority = authority.rpartition("@")[2]
    if authority.startswith("["):
        host, _, rest = authority[1:].partition("]")
        if rest and not re.fullmatch(r":\d{1,5}", rest):
            return host, default_port, True, f"cannot read the port after [{host}]"
        return host, int(rest[1:]) if rest else default_port, True, ""
    if authority.count(":") > 1:
        # An IPv6 literal without brackets: whether its last group is a port nobody can tell
        # (``fd42::11:8080`` is an address too), which is why RFC 3986 wants the brackets.
        if _literal(authority) == 6:
            return authority, default_port, False, ""
        head, _, last = authority.rpartition(":")
        if last.isdigit() and _literal(head) == 6:
            return head, int(last), False, ""
        return authority, default_port, False, f"{authority!r} is neither a name nor an address"
    host, _, port = authority.partition(":")
    if port and not port.isdigit():
        return host, default_port, True, f"port {port!r} is not a number"
    return host, int(port) if port else default_port, True, ""


def parse_location(location: str, scheme: str, host: str, port: int) -> Target:
    """An HTTP ``Location`` header, relative to the URL answered (scheme, host, port)."""
    text = location.strip().split("?", 1)[0].split("#", 1)[0]
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/]*)(/.*)?$", text)
    if text.startswith("/") and not text.startswith("//"):
        return Target("(a path on the same server)", scheme, host, port, _literal(host))
    if not m:
        return Target(text[:120], "", "", 0, problem="not an absolute URL or a path")
    scheme_ = m.group(1).lower()
    t_host, t_port, bracketed, problem = split_authority(m.group(2), knowledge.scheme_port(scheme_) or 0)
    if not t_host:
        problem = problem or "no host"
    # The path is the request's own (the probe file); what matters is written before it.
    shown = f"{m.group(1)}://{m.group(2)}" + ("/..." if (m.group(3) or "/") != "/" else "")
    return Target(shown, scheme_, t_host, t_port, _literal(t_host), bracketed, problem)


def parse_xroot(host_text: str, port: int) -> Target:
    """A ``kXR_redirect`` answer: the host (``host?cgi``, or a URL) and the port (negative: flags)."""
    host_text = host_text.strip()
    bare = host_text.split("?", 1)[0]
    if "://" in bare:
        m = re.match(r"^([a-z]+)://([^/]*)", bare)
        if not m:
            return Target(bare, "", "", 0, problem="not a URL")
        default = port if port > 0 else (knowledge.scheme_port(m.group(1)) or 0)
        t_host, t_port, bracketed, problem = split_authority(m.group(2), default)
        return Target(bare, m.group(1), t_host, t_port, _literal(t_host), bracketed, problem)
    shown = f"{bare}, port {port}"
    if port <= 0:
        return Target(shown, "", bare, 0, _literal(bare), problem=f"port {port}: no port to connect to")
    if bare.startswith("[") and bare.endswith("]"):
        return Target(shown, "", bare[1:-1], port, _literal(bare[1:-1]), True)
    if ":" in bare:
        ok = _literal(bare) == 6
        return Target(shown, "", bare, port, 6 if ok else 0, False,
                      "" if ok else f"{bare!r} is neither a name nor an address")
    return Target(shown, "", bare, port, _literal(bare))


@dataclass(frozen=True)
class Attempt:
    """One TCP connection attempt to an address of a hop."""

    address: str
    port: int
    ok: bool
    error: str = ""  # refused, timed out, no route...


@dataclass
class Hop:
    """One redirect: who answered, with what, where it points, and the connection there."""

    issuer: str  # the host as the client addressed it (a name, or an address literal)
    issuer_port: int
    answer: str  # "307 Temporary Redirect", "kXR_redirect"
    target: Target
    attempts: list[Attempt] = field(default_factory=list)
    tls: str = ""  # the TLS handshake's error at the target ("" none or no TLS)


@dataclass
class Chain:
    """Every hop of one client's request from an entry point, and how it ended."""

    protocol: str
    family: int
    auth: str
    entry: str
    entry_port: int
    request: str  # what was asked, in words ("PUT ... (Expect: 100-continue, no body)")
    start: list[Attempt] = field(default_factory=list)  # connections to the entry point
    hops: list[Hop] = field(default_factory=list)
    final: str = ""  # what the last server answered, when it took the request
    error: str = ""  # why the chain could not be followed further ("" followed to the end)
    error_at: str = ""  # the host that answered with the error
    cleanup: str = ""  # what became of the probe file ("removed", "not created", or the error)
    timed_out: bool = False  # error_at accepted the connection, then gave no answer in time
    server: str = ""  # the servers' software as they named it (Server header, xroot version)

    @property
    def landing(self) -> tuple[str, int]:
        """(host, port) the chain ended on: the last hop's target, or the entry point."""
        if self.hops:
            t = self.hops[-1].target
            return t.host, t.port
        return self.entry, self.entry_port


@dataclass(frozen=True)
class Finding:
    """One thing wrong with a chain: at which hop (-1: the entry point), on which host."""

    hop: int
    host: str
    what: str
    fix: str
    warn: bool = False


@dataclass
class SiteView:
    """What the judgement needs of the site: its resolvers, prefixes, hosts and the registry.

    ``resolve``: name, family -> addresses at the site's resolvers. ``holders``: address -> the
    inventory host publishing it. ``ports``: host -> the ports (label, first, last) the storage
    registry says this chain's hop lands on there (empty: no expectation). ``fallback``: the host
    a target that is no inventory host's is pinned on (the test directory's host)."""

    resolve: Callable[[str, int], list[str]]
    prefixes: list[ipaddress.IPv6Network]
    holders: Mapping[str, str]
    hosts: Iterable[str]
    ports: Callable[[str], list[tuple[str, int, int]]]
    fallback: str = ""


def family_name(family: int) -> str:
    return f"IPv{family}"


def _kind(address: str, family: int, prefixes: list[ipaddress.IPv6Network]) -> str:
    """What is wrong with handing ``address`` to a client ("" nothing)."""
    ip = ipaddress.ip_address(address)
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return f"the IPv4-mapped address {address} (an IPv4 address in IPv6 form)"
    for test, what in ((ip.is_loopback, "loopback"), (ip.is_link_local, "link-local"),
                       (ip.is_unspecified, "unspecified"), (ip.is_multicast, "multicast")):
        if test:
            return f"the {what} address {address}"
    if ip.version == 6 and prefixes and not any(ip in n for n in prefixes):
        nets = ", ".join(map(str, prefixes))
        return f"{address}, outside the site's IPv6 prefixes ({nets}: se_ipv6_prefixes)"
    return ""


def other(family: int) -> int:
    return 4 if family == 6 else 6


def host_of(name: str, view: SiteView, family: int) -> str:
    """The inventory host a name or address is (by name, else by an address it holds), "" none."""
    if _literal(name):
        return landed_host(name, view, [name])
    return landed_host(name, view, view.resolve(name, family) + view.resolve(name, other(family)))


def landed_host(name: str, view: SiteView, addresses: list[str]) -> str:
    """The inventory host called ``name``, else holding one of ``addresses``; "" none."""
    names = {h.lower(): h for h in view.hosts}
    if name.lower().rstrip(".") in names:
        return names[name.lower().rstrip(".")]
    for a in addresses:
        try:
            ip = ipaddress.ip_address(a)
        except ValueError:
            continue
        key = str(getattr(ip, "ipv4_mapped", None) or ip)
        if key in view.holders:
            return view.holders[key]
    return ""


def judge(chain: Chain, view: SiteView) -> list[Finding]:
    """Every problem of the chain, hop by hop, each pinned on the host at fault."""
    fam, out = chain.family, []
    rec = "AAAA" if fam == 6 else "A"
    if chain.start and not any(a.ok for a in chain.start):
        bad = "; ".join(f"{hostport(a.address, a.port)} {a.error}" for a in chain.start)
        out.append(Finding(-1, chain.entry, f"the entry point {chain.entry} did not accept a connection "
                                             f"over {family_name(fam)} ({bad})",
                           f"Check {chain.entry}'s {chain.protocol} service on port {chain.entry_port} over "
                           f"{family_name(fam)} (SE6-SVC-0{4 if fam == 6 else 5}, the firewall checks)."))
    for i, hop in enumerate(chain.hops):
        out += _judge_hop(i, hop, chain, view, rec)
    if chain.error and all(f.warn for f in out):  # a hop's failure explains it otherwise
        at = chain.error_at or (chain.hops[-1].target.host if chain.hops else chain.entry)
        if chain.timed_out:
            # Accepted, then silent: the service there is stopped or hung (or what follows the
            # handshake is dropped), whatever the family; one root cause with the transfers to it.
            host = host_of(at, view, fam) or view.fallback or at
            port = chain.landing[1]
            out.append(Finding(len(chain.hops) - 1, host,
                               f"{at} accepted the connection over {family_name(fam)} on port {port}, then "
                               f"gave no answer: {chain.error}",
                               f"Make the service on port {port} of {host} answer again: it is stopped, hung "
                               f"or overloaded, or a firewall lets the connection in and drops what follows; "
                               f"check its process and log on {host}."))
        elif chain.hops and any(a.ok for a in chain.hops[-1].attempts):
            # Where it landed accepted the connection and answered: the family's path is sound; what
            # the answer means (a wrong protocol on the port, a refused credential) is the round
            # trip's to say (SE6-XFER-01), for both families alike.
            out.append(Finding(len(chain.hops) - 1, host_of(at, view, fam) or view.fallback or at,
                               f"{at} accepted the connection and answered: {chain.error}",
                               "See the round trip through this entry point (SE6-XFER-01).", warn=True))
        elif not chain.hops and view.fallback and any(a.ok for a in chain.start):
            # The entry point sends the client nowhere for the target's directory, as a redirector
            # does that knows no data server of the client's family for the path: the target's.
            t = view.fallback
            out.append(Finding(-1, t, f"{chain.entry}:{chain.entry_port} sent an {family_name(fam)} client "
                                      f"nowhere for {t}'s directory: it {chain.error}",
                               f"Make {t} reachable over {family_name(fam)} and known so to {chain.entry}: "
                               f"its {rec} record, its data server registered on {family_name(fam)} (the "
                               "cmsd's login, the pool's interfaces); then read the redirector's log."))
        else:
            host = host_of(at, view, fam) or view.fallback or chain.entry
            out.append(Finding(len(chain.hops) - 1, host, f"the chain stopped at {at}: {chain.error}",
                               f"Repeat the request by hand (see the report) and read {at}'s log."))
    return out


def _judge_hop(i: int, hop: Hop, chain: Chain, view: SiteView, rec: str) -> list[Finding]:
    t, fam = hop.target, chain.family
    fname = family_name(fam)
    where = f"hop {i + 1}: {hop.issuer}:{hop.issuer_port} answered {hop.answer} to {t.text}"
    if t.problem:
        return [Finding(i, hop.issuer, f"{where}, which a client cannot follow ({t.problem})",
                        f"Make {hop.issuer} redirect to a URL with a host and a port "
                        "(RFC 3986: scheme://host:port/path).")]
    if t.literal == 6 and not t.bracketed:
        return [Finding(i, hop.issuer, f"{where}: an IPv6 literal without brackets ({t.host}), which "
                                       "clients read as host and port wrongly or not at all",
                        f"Make {hop.issuer} write IPv6 literals in brackets, [{t.host}]:{t.port} "
                        "(RFC 3986), or redirect to a name.")]
    addresses = [t.host] if t.literal else view.resolve(t.host, fam)
    host = host_of(t.host, view, fam)
    at = host or view.fallback or hop.issuer
    if t.literal and t.literal != fam:
        return [Finding(i, at, f"{where}: an {fname} client is handed an IPv{t.literal} literal "
                               f"({t.host}), which it cannot reach",
                        f"Make {at} announce (and {hop.issuer} hand out) its {fname} address, or a "
                        f"name with an {rec} record, to {fname} clients (its data server bound and "
                        f"registered on {fname}: xrd.network, dcache.net.listen, the cmsd's login).")]
    if not addresses:
        return [Finding(i, at, f"{where}: {t.host} has no {rec} record at the site's resolvers, so an "
                               f"{fname} client has nowhere to go",
                        f"Publish the {rec} record of {t.host}, or make {hop.issuer} redirect {fname} "
                        f"clients to a name that has one.")]
    out: list[Finding] = []
    for a in addresses:
        bad = _kind(a, fam, view.prefixes)
        if bad:
            said = "" if t.literal else f" ({t.host} resolves to it)"
            out.append(Finding(i, at, f"{where}: {bad}{said}, which no client outside the host can use",
                               f"Make {at} announce a global address of the site to clients (not "
                               "loopback or link-local; its AAAA within se_ipv6_prefixes)."))
    if t.literal and not out and str(ipaddress.ip_address(t.host)) not in view.holders:
        out.append(Finding(i, at, f"{where}: {t.host} is no address any inventory host publishes "
                                  f"(no A/AAAA record holds it), so TLS names, ACLs and the other "
                                  "checks do not know it",
                           f"Make {at} speak from and announce its published address (a route src, "
                           "no temporary address: SE6-IF-07), or add the host holding it to the "
                           "inventory."))
    allowed = view.ports(host) if host else []
    failed = [x for x in hop.attempts if not x.ok]
    if failed:
        said = "; ".join(f"{hostport(x.address, x.port)} {x.error}" for x in failed)
        n = 1 if fam == 6 else 2
        # A port inside a range (a pool's movers): the whole range is what clients are sent to.
        ranges = [f"{lo}:{hi} ({label}, where this hop lands)" for label, lo, hi in allowed
                  if lo < hi and lo <= t.port <= hi]
        what = f"its range {ranges[0]}" if ranges else f"port {t.port}"
        out.append(Finding(i, at, f"{where}: the target did not accept the connection over {fname} ({said})",
                           f"Open {what} over {fname} on {at} (the firewall in force, the service "
                           f"listening on {fname}): SE6-FW-0{n}, SE6-SVC-0{n}."))
    if hop.tls:  # the connection was made: a certificate matter, for the round trip to fail on
        out.append(Finding(i, at, f"{where}: TLS with {t.hostport} failed: {hop.tls}",
                           f"Give {at} a certificate naming {t.host}, or make {hop.issuer} redirect to "
                           "the name its certificate carries.", warn=True))
    if allowed and not any(lo <= t.port <= hi for _, lo, hi in allowed):
        want = ", ".join(f"{label} {lo}" + (f"-{hi}" if hi != lo else "") for label, lo, hi in allowed)
        out.append(Finding(i, at, f"{where}: port {t.port} is not where the storage registry says this "
                                  f"hop lands ({want})",
                           f"Declare {at}'s port in the inventory (se_service_ports, se_service_ranges) "
                           "so the firewall checks test the port clients are sent to.", warn=True))
    return out


def summary(chain: Chain) -> str:
    """One line: entry -> hop -> ... -> where it ended (addresses and ports)."""
    parts = [f"{chain.entry}:{chain.entry_port}"]
    for hop in chain.hops:
        used = next((a for a in hop.attempts if a.ok), None)
        parts.append(hop.target.hostport + (f" ({hostport(used.address, used.port)})"
                                            if used and used.address != hop.target.host else ""))
    end = chain.final or (f"stopped: {chain.error}" if chain.error else "")
    return " -> ".join(parts) + (f" [{end}]" if end else "")

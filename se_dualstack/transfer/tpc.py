"""What a third-party copy shows beyond pass or fail: the servers' own leg, and their refusals.

Why the leg: a TPC forced to IPv6 at the client says nothing about the connection the servers
open between themselves, unless the URLs name IPv6-only aliases (most sites have none); "a
significant number of IPv4 transfers still occur even when both endpoints support IPv6" (EPJ Web
Conf 295, 07036). The suite has ssh to both ends, so while the copy runs it reads the socket table
(``ss -tanH``, TIME-WAIT included) of the end that opens the connection (the destination pulls,
the source pushes) and, after it, of both: a connection between the two hosts on the passive
end's port of the protocol is the leg, and its family is the fact. Who opened it (its local port
is no port of the protocol there) chose the family; :func:`why_ipv4` asks that host why.

Why refusals: a server that will not copy with a credential (XRootD without token forwarding)
is not a failing site; the test skips quoting what the servers answered in this run and the
version they named, never a sentence written for every site.
"""

from __future__ import annotations

import ipaddress
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from se_dualstack import knowledge
from se_dualstack.concerns import resolver
from se_dualstack.transfer import protocols as registry
from se_dualstack.transfer.cases import TpcCase, system_of
from se_dualstack.transfer.evidence import wire_family
from se_dualstack.transfer.outcome import TransferResult

POLL = 0.1  # seconds between two reads of a socket table while the copy runs
SS = "ss -tanH"
CONNTRACK = "cat /proc/net/nf_conntrack"  # root only; absent without a stateful firewall
ADDRESSES = "ip -o addr show"


def refusal(case: TpcCase, result: TransferResult, version: Callable[[], str]) -> str:
    """The skip reason when the servers refused to copy with the case's credential ("" otherwise):
    their answer in this run, the destination's version as it names it, how a site enables it."""
    proto = registry.get(case.protocol)
    error = result.error_summary().replace("\x00", "").replace("\\x00", "").strip()
    if result.ok or not proto.refusal(case.auth, error):
        return ""
    answer = error.split("Server responded with an error: ", 1)[-1]
    v = version()
    named = f"{proto.title} {v}" if v else f"{proto.title}, version not named"
    hint = proto.tpc_enable.get(case.auth, "")
    return (f"{case.protocol} third-party copy with a {case.auth} credential refused by the servers: "
            f"{case.dest_host} ({named}) answered \"{answer}\"" + (f"; {hint}" if hint else ""))


# --------------------------------------------------------------------------- the leg


@dataclass(frozen=True)
class Leg:
    """A TCP connection between the two ends: who opened it, to where, as one end's kernel saw it."""

    seen_on: str  # the host whose table showed it
    how: str  # "connection tracking" (the kernel's record, kept after the close) | "socket table"
    src: str  # the opener's address and port
    sport: int
    dst: str
    dport: int
    state: str
    opened_by: str  # the host that connected

    @property
    def family(self) -> int:
        return wire_family(self.dst)

    def __str__(self) -> str:
        def hp(a: str, p: int) -> str:
            return f"[{a}]:{p}" if ":" in a else f"{a}:{p}"
        return (f"{hp(self.src, self.sport)} -> {hp(self.dst, self.dport)} (IPv{self.family}, {self.state}, "
                f"{self.how} of {self.seen_on})")


_ADDR = re.compile(r"^\[?(?P<a>[^\]]*?)\]?:(?P<p>\d+|\*)$")
Conn = tuple[str, str, int, str, int]  # state, one address and port, the other address and port


def parse_ss(text: str) -> list[Conn]:
    """``ss -tanH`` lines -> (state, local address, port, peer address, port), listeners left out.

    IPv4-mapped addresses (``[::ffff:10.42.0.12]``) are read as the IPv4 they are on the wire.
    """
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 5 or f[0] == "LISTEN":
            continue
        ends = [_ADDR.match(x) for x in f[3:5]]
        if ends[0] is None or ends[1] is None or "*" in (ends[0]["p"], ends[1]["p"]):
            continue
        out.append((f[0], _v4(ends[0]["a"]), int(ends[0]["p"]), _v4(ends[1]["a"]), int(ends[1]["p"])))
    return out


def parse_conntrack(text: str) -> list[Conn]:
    """``/proc/net/nf_conntrack`` TCP entries -> (state, source, port, destination, port) of the
    original direction: the source opened the connection. The kernel keeps an entry after the
    connection closed (TIME_WAIT 120 s, CLOSE 10 s after a reset), so a copy of a few milliseconds
    is still there when it ended."""
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 6 or f[2] != "tcp":
            continue
        kv = {}
        for word in f:
            k, sep, v = word.partition("=")
            if sep and k not in kv:  # the first of each: the original direction
                kv[k] = v
        state = next((w for w in f[5:7] if w.isupper() and "=" not in w), "")
        if {"src", "dst", "sport", "dport"} <= set(kv):
            out.append((state, _v4(kv["src"]), int(kv["sport"]), _v4(kv["dst"]), int(kv["dport"])))
    return out


def _v4(address: str) -> str:
    """An address in its shortest form, IPv4-mapped read as the IPv4 it is on the wire."""
    address = address.split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    return str(getattr(ip, "ipv4_mapped", None) or ip)


@dataclass
class LegWatch:
    """The ends' kernel tables over ssh: connection tracking before and after the copy (what is
    new there is the copy's), and the opener's socket table while it runs (a thread; for hosts
    without connection tracking).

    ``hosts``: name -> an object with ``run(cmd)`` (testinfra). ``published``: name -> the
    addresses of that host's names (A, AAAA, aliases) at the site's resolvers; the addresses it
    speaks from are read from it. ``ports``: name -> whether a port there is one of the
    protocol's (its service port, a data range): a connection to it from the other end is the leg.
    """

    case: TpcCase
    hosts: Mapping[str, Any]
    published: Mapping[str, set[str]]
    ports: Mapping[str, Callable[[int], bool]]
    addresses: dict[str, set[str]] = field(default_factory=dict)
    legs: list[Leg] = field(default_factory=list)
    # Connections between the ends open before the copy began (an XRootD client keeps its
    # channel to a data server for minutes): the copy may have reused one; no leg by themselves.
    kept: list[Leg] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _before: dict[str, set[Conn]] = field(default_factory=dict)
    _before_ss: dict[str, set[Conn]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def ends(self) -> list[str]:
        return list(dict.fromkeys((self.case.source_host, self.case.dest_host)))

    def active(self) -> list[str]:
        """The end that opens the copy's connection (the protocol's ``tpc_active``)."""
        return [self.case.active_host]

    def _run(self, name: str, cmd: str) -> str | None:
        try:
            out = self.hosts[name].run(cmd)
        except BaseException as exc:  # an unreachable host fails its own checks: here, no evidence
            first = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            self.errors.append(f"{name}: {first}")
            return None
        if out.rc != 0:
            self.errors.append(f"{name}: `{cmd}` exited {out.rc}")
            return None
        return out.stdout

    def _leg(self, name: str, how: str, conn: Conn, oriented: bool, into: list[Leg] | None = None) -> None:
        """Record ``conn`` (seen on ``name``) when it goes from the end that opens this copy's
        connection (the protocol says which) to the other's published address, on a port of the
        protocol there. A socket table does not say which side opened a connection: both
        directions are tried. The pool runs one copy between two hosts at a time, and only what
        is new since the copy began counts: the watch is a family's evidence, not a trace."""
        state, a, ap, b, bp = conn
        active = self.active()
        legs = self.legs if into is None else into
        for src, sport, dst, dport in ((a, ap, b, bp),) if oriented else ((a, ap, b, bp), (b, bp, a, ap)):
            for passive in self.ends():
                opener = next((h for h in self.ends() if h != passive), passive)
                if opener in active and src in self.addresses.get(opener, set()) \
                        and dst in self.published.get(passive, set()) and self.ports[passive](dport):
                    leg = Leg(name, how, src, sport, dst, dport, state, opener)
                    if leg not in legs:
                        legs.append(leg)
                    return

    def conntrack(self, name: str) -> set[Conn] | None:
        text = self._run(name, CONNTRACK)
        return set(parse_conntrack(text)) if text is not None else None

    def read(self, name: str) -> None:
        """The socket table of ``name``: connections new since the copy began are legs; one
        already open then (a kept channel, ESTAB) may have been reused, and is noted apart."""
        text = self._run(name, SS)
        old = {c[1:] for c in self._before_ss.get(name, set())}
        for conn in parse_ss(text or ""):
            if conn[1:] not in old:
                self._leg(name, "socket table", conn, oriented=False)
            elif conn[0] == "ESTAB":
                self._leg(name, "socket table, open before the copy", conn, oriented=False, into=self.kept)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for name in self.active():
                self.read(name)
            self._stop.wait(POLL)

    def __enter__(self) -> LegWatch:
        for name in self.ends():
            # Every address the end speaks from (a second, unpublished one too: SE6-IF-07's fault).
            configured = re.findall(r"\binet6? ([0-9a-fA-F:.]+)/", self._run(name, ADDRESSES) or "")
            self.addresses[name] = self.published.get(name, set()) | {_v4(a) for a in configured}
            self._before[name] = self.conntrack(name) or set()
            self._before_ss[name] = set(parse_ss(self._run(name, SS) or ""))
        self._thread = threading.Thread(target=self._loop, daemon=True, name=f"leg-{self.case.id}")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        for name in self.ends():
            after = self.conntrack(name)
            old = {c[1:] for c in self._before.get(name, set())}
            for conn in sorted(after or set()):
                if conn[1:] not in old:
                    self._leg(name, "connection tracking", conn, oriented=True)
            self.read(name)

    def wrong(self, family: int) -> list[Leg]:
        """Legs of the other family than the one the copy was forced to."""
        return [g for g in self.legs if g.family != family]

    def line(self) -> str:
        """One line for the report: the family observed, or why none was."""
        fams = sorted({g.family for g in self.legs})
        if fams:
            return (f"server-to-server leg observed over {' and '.join(f'IPv{f}' for f in fams)}: "
                    + "; ".join(str(g) for g in self.legs[:3]))
        why = "; ".join(dict.fromkeys(self.errors)) or (
            "no new connection between the two ends in their connection tracking or socket tables")
        kept = "; ".join(str(g) for g in self.kept[:2])
        kept = f"; open before the copy, which it may have reused: {kept}" if kept else ""
        return f"server-to-server leg not observed ({why}){kept}"


def port_test(host: Any, protocol: str, site: Any = None) -> Callable[[int], bool]:
    """Whether a port on ``host`` is one of the protocol's: its service ports and their ranges,
    and (given the ``site``) where its system's redirects of the protocol land on the host (a
    dCache pool's mover ranges: a copy addressed to the door moves its data there)."""
    proto = registry.get(protocol)
    spans = [(s.port, s.port) for s in host.services if s.name in proto.services and s.port]
    spans += [(r.first, r.last) for s in host.services if s.name in proto.services for r in s.ranges]
    if site is not None:
        hops = [h for h in system_of(site, host).hops(protocol) if h.to_role == host.role]
        spans += [(p.first, p.last) for hop in hops for p in knowledge.landing(hop, host.services)]
    override = (host.vars.get("se_transfer_ports") or {}).get(protocol)
    if override:
        spans.append((int(override), int(override)))
    return lambda port: any(lo <= port <= hi for lo, hi in spans)


def watch(case: TpcCase, site: Any, resolve: Callable[[str, int], list[str]]) -> LegWatch:
    """A :class:`LegWatch` for ``case`` over the site's ssh connections (the hosts' ``.testinfra``)."""
    names = dict.fromkeys((case.source_host, case.dest_host))
    by_name = {h.name: h for h in site.hosts}
    addresses: dict[str, set[str]] = {}
    for n in names:
        h = by_name[n]
        aliases = [str(h.vars.get(f"se_ipv{f}_alias") or "") for f in (6, 4)]
        names_of = (n, *filter(None, aliases))
        addresses[n] = {_v4(a) for name in names_of for f in (6, 4) for a in resolve(name, f)}
    return LegWatch(case, {n: by_name[n].testinfra for n in names}, addresses,
                    {n: port_test(by_name[n], case.protocol, site) for n in names})


# --------------------------------------------------------------------------- why IPv4


_ENV = re.compile(r"^(XRD_PREFERIPV4|XRD_NETWORKSTACK|JAVA_TOOL_OPTIONS|_JAVA_OPTIONS)=(.*)$")
_JAVA = re.compile(r"-Djava\.net\.(?:preferIPv4Stack=true|preferIPv6Addresses=false)\b")
_SERVERS = ("xrootd", "java", "globus-gridftp-server", "dcache", "eos")


def why_ipv4(host: Any, name: str, peer: str, ipv6: str, ipv4: str) -> list[str]:
    """What may make ``name`` (testinfra ``host``) open IPv4 connections to ``peer``, as seen there:
    its gai.conf, whether it resolves ``peer`` to an IPv6 address at all, and the server processes'
    IPv4 settings (environment, java options, xrd.network)."""
    out: list[str] = []
    f = host.file("/etc/gai.conf")
    why = resolver.prefers_ipv4(f.content_string if f.exists else "", ipv6, ipv4) if ipv6 and ipv4 else ""
    if why:
        out.append(f"{why} on {name}")
    seen = [a.split()[0] for a in host.run("getent ahosts %s", peer).stdout.splitlines() if a.split()]
    if not any(wire_family(_v4(a)) == 6 for a in seen):
        out.append(f"{name} resolves {peer} to no IPv6 address (getent ahosts: "
                   f"{', '.join(dict.fromkeys(seen)) or 'nothing'})")
    for line in host.run("ps -eo pid=,args=").stdout.splitlines():
        pid, _, args = line.strip().partition(" ")
        prog = args.split(" ", 1)[0].rsplit("/", 1)[-1]
        if pid.isdigit() and prog.startswith(_SERVERS):
            out += _process_settings(host, prog, pid, args)
    return out


def _ipv4_setting(var: str, value: str) -> bool:
    value = value.strip()
    return ((var == "XRD_PREFERIPV4" and value not in ("", "0"))
            or (var == "XRD_NETWORKSTACK" and value.lower() == "ipv4") or bool(_JAVA.search(value)))


def _process_settings(host: Any, prog: str, pid: str, args: str) -> list[str]:
    """A server process's settings that make its own connections IPv4 (pulls inherit them)."""
    out = [f"{prog} (pid {pid}) runs with {m.group(0)}" for m in _JAVA.finditer(args)]
    env = host.run("tr '\\0' '\\n' < /proc/%s/environ", pid).stdout.splitlines()
    settings = [m.groups() for m in map(_ENV.match, env) if m]
    out += [f"{prog} (pid {pid}) runs with {v}={x.strip()} in its environment (the third-party copies "
            "it pulls inherit it)" for v, x in settings if _ipv4_setting(v, x)]
    cfg = re.search(r"\s-c\s+(\S+)", f" {args}")
    if prog == "xrootd" and cfg:
        conf = host.file(cfg.group(1))
        lines = [x.strip() for x in (conf.content_string if conf.exists else "").splitlines()]
        out += [f"{cfg.group(1)} sets `{x}`" for x in lines if x.startswith("xrd.network")]
    return out

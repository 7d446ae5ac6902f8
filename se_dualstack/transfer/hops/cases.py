"""Which chains to trace: one per entry point x target x protocol x family x credential.

Why from the storage registry: the entry points are the head nodes running the service a system's
redirect starts from (:func:`~se_dualstack.transfer.cases.entry_points`, as the round trips use
them), and where a hop may land (a service's port, a mover range) is what the registry says of
that redirect. The target is a host whose test directory is reached through the entry point (the
request's path): on a DPM or XRootD site the path picks the data server, on a dCache site the door
picks the pool, which the judgement identifies by its name or address.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from se_dualstack import knowledge
from se_dualstack.transfer import protocols as registry  # the parameters named protocols are lists
from se_dualstack.transfer.addresses import Resolve, holders
from se_dualstack.transfer.cases import (
    FAMILIES,
    TransferSettings,
    auth_suffix,
    build_url,
    entry_points,
    family_label,
    guard_path,
    host_protocols,
    own_port,
    short,
    system_of,
    unique_name,
)
from se_dualstack.transfer.hops.chain import Chain, SiteView, TraceContext


@dataclass(frozen=True)
class ChainCase:
    """One chain to trace: the unit a SE6-XFER-03 test is about."""

    protocol: str
    family: int
    entry: str  # the head node the client starts from
    port: int  # the entry point's service port
    target: str  # the host whose test directory the request names
    test_dir: str
    auth: str = "x509"
    hop: knowledge.Hop | None = None  # the registry's redirect this chain should follow

    @property
    def id(self) -> str:
        via = "" if self.target == self.entry else f"-via-{short(self.target)}"
        return f"{self.entry}-{self.protocol}-{family_label(self.family)}{via}{auth_suffix(self.auth)}"

    @property
    def group_host(self) -> str:
        """xdist group: the target's, as a transfer through the head node."""
        return self.target

    @property
    def skip_reason(self) -> str:
        """A redirect chain always applies: its entry point was built from the registry's hops."""
        return ""


def traced(protocol: str) -> bool:
    """Whether the protocol's module names a redirect tracer. GridFTP's hop (the data channel of
    a PASV/EPSV reply) has none: its round trip forced to each family (SE6-XFER-01) proves it."""
    return bool(registry.get(protocol).redirect.tracer)


def _self_entry(site: Any, host: Any, protocol: str) -> list[tuple[Any, int, knowledge.Hop | None]]:
    """A head node whose own directory is the path, when it is itself an entry point of the protocol."""
    for hop in system_of(site, host).hops(protocol):
        svc = next((s for s in host.services if s.name == hop.from_service), None)
        if hop.from_role == host.role and svc is not None:
            port = (host.vars.get("se_transfer_ports") or {}).get(protocol) or svc.port
            return [(host, int(port or own_port(host, protocol) or 0), hop)]
    return []


def chain_cases(site: Any, protocols: Iterable[str] | None = None, families: Iterable[int] = FAMILIES,
                auths: Iterable[str] = ("x509",)) -> list[ChainCase]:
    """Every chain of the site: X.509 first, then per target, protocol, entry point and family.

    A head node's own directory is a target only for a protocol no disk node's directory is
    reached through a head node with (a DPM head stores nothing itself, as for the round trips).
    """
    wanted = list(protocols) if protocols else None
    dirs = [h for h in site.hosts if h.vars.get("se_transfer_dir")]
    redirected = {p for h in dirs if h.role != "headnode" for p in host_protocols(h)
                  if entry_points(site, h, p)}
    out: list[ChainCase] = []
    for auth in auths:
        for target in dirs:
            tdir = str(target.vars["se_transfer_dir"]).rstrip("/")
            for proto in host_protocols(target):
                if wanted is not None and proto not in wanted:
                    continue
                if (auth == "token" and not registry.get(proto).token) or not traced(proto):
                    continue
                if target.role == "headnode":
                    entries = [] if proto in redirected else _self_entry(site, target, proto)
                else:
                    entries = entry_points(site, target, proto)
                for ent, port, hop in entries:
                    out += [ChainCase(proto, fam, ent.name, port, target.name, tdir, auth, hop)
                            for fam in families]
    return out


def tracer(protocol: str) -> Callable[[str, str, int, TraceContext], Chain]:
    """The protocol's tracer, as its module names it (``Redirect.tracer``)."""
    return registry.tracer(protocol)


def context(case: ChainCase, settings: TransferSettings, resolve: Resolve) -> TraceContext:
    """How to trace ``case``: a fresh probe file name in the test directory, past the transfers'
    path guard."""
    name = unique_name(f"chain-{case.protocol}-{family_label(case.family)}")
    probe = guard_path(build_url(case.protocol, "x", 1, f"{case.test_dir}/{name}"), case.test_dir)
    return trace_context(settings, case.family, resolve, probe)


def trace_context(settings: TransferSettings, family: int, resolve: Resolve,
                  probe: str = "/") -> TraceContext:
    """Asking servers as the transfers would: their credential (``settings.auth``), their timeouts."""
    return TraceContext(family, settings.auth, settings.proxy, settings.certdir, settings.token_file,
                        float(settings.connect_timeout), trace_timeout(settings), resolve, probe)


def trace_timeout(settings: TransferSettings) -> float:
    """Seconds a server has to answer one request of a trace: no data moves, so the connection
    window is enough (a redirector that makes an XRootD client wait, kXR_wait, ends a chain at it)."""
    return float(min(settings.timeout, max(5, settings.connect_timeout)))


def landing_ports(site: Any, case: ChainCase) -> Callable[[str], list[tuple[str, int, int]]]:
    """Host name -> where the registry says the chain may land there: the redirect's ports and
    ranges on a host of its target role, the protocol's entry service on another head node."""
    by_name = {h.name: h for h in site.hosts}

    def ports(name: str) -> list[tuple[str, int, int]]:
        h = by_name.get(name)
        if h is None or case.hop is None:
            return []
        if h.role == case.hop.to_role:
            return [(p.label, p.first, p.last) for p in knowledge.landing(case.hop, h.services)]
        port = own_port(h, case.protocol)
        return [(case.protocol, port, port)] if port else []

    return ports


def site_view(site: Any, case: ChainCase, resolve: Resolve) -> SiteView:
    """What the judgement needs of the site for ``case``."""
    return SiteView(resolve, site.ipv6_prefixes, holders(site, resolve), [h.name for h in site.hosts],
                    landing_ports(site, case), case.target if case.target != case.entry else "")


def trace(case: ChainCase, settings: TransferSettings, resolve: Resolve) -> Chain:
    """Trace ``case`` with its protocol's tracer."""
    return tracer(case.protocol)(case.protocol, case.entry, case.port, context(case, settings, resolve))

"""Per-address transfers: every published A and AAAA of an endpoint gets its own round trip.

Why: a transfer forced to IPv6 proves only that *some* IPv6 address of the name answers (the
client takes the first that does). A stale second AAAA, or one dead door behind a service alias,
fails a fraction of FTS transfers while every hand test passes. So when a name has more than one
address of a family, each address is tested on its own, pinned by the family shim (``SE6_PIN``),
and named in the test id; with one address per family nothing changes (same ids, no extra cost).

Service aliases (``se_endpoints``: door or redirector names that are not inventory hosts) are
tested per address the same way; each address is mapped back to the inventory host holding it
(by the hosts' own A/AAAA records), whose test directory it uses, or reported as no host's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from se_dualstack.concerns import dns as dnscheck
from se_dualstack.transfer import protocols as registry  # the parameters named protocols are lists
from se_dualstack.transfer.cases import FAMILIES, Endpoint, TransferCase, host_protocols
from se_dualstack.transfer.evidence import used_connections
from se_dualstack.transfer.outcome import TransferResult

# name, family -> its addresses, sorted (the same order on the xdist controller and workers)
Resolve = Callable[[str, int], list[str]]


def sort_addresses(addresses: Iterable[str]) -> list[str]:
    """Unique, normalised, in numeric order (test ids must not depend on the DNS answer order)."""
    norm = {str(ipaddress.ip_address(a)) for a in addresses}
    return sorted(norm, key=ipaddress.ip_address)


def dns_resolve(servers: list[str], timeout: float, cache: dnscheck.DnsCache) -> Resolve:
    """A/AAAA at the site's resolvers (dnspython, answers cached for the run).

    A dead resolver gives no addresses: the cases stay as without per-address runs, and the DNS
    checks say why in one line.
    """

    def resolve(name: str, family: int) -> list[str]:
        try:
            client = dnscheck.DnsClient(servers, timeout, cache=cache)
            return sort_addresses(client.addresses(name, family).records)
        except (dnscheck.ResolverDown, ValueError):
            return []

    return resolve


def site_resolve(site: Any, cache: dnscheck.DnsCache) -> Resolve:
    """:func:`dns_resolve` at the site's resolvers (``se_resolvers``, else this machine's)."""
    v = getattr(site, "vars", {}) or {}
    servers = [str(x) for x in (v.get("se_resolvers") or dnscheck.default_resolvers())]
    return dns_resolve(servers, float(v.get("se_dns_timeout", 3)), cache)


@dataclass(frozen=True)
class ServiceAlias:
    """One ``se_endpoints`` entry: a DNS name in front of doors or servers."""

    name: str
    protocols: tuple[str, ...]
    ports: tuple[tuple[str, int], ...] = ()
    transfer_dir: str = ""  # empty: the test directory of the host holding each address

    def port(self, protocol: str) -> int:
        return dict(self.ports).get(protocol, registry.get(protocol).default_port)


def site_aliases(site: Any) -> list[ServiceAlias]:
    """Every ``se_endpoints`` entry of the site (group or host level), once per name."""
    seen: dict[str, ServiceAlias] = {}
    for h in site.hosts:
        for e in h.vars.get("se_endpoints") or []:
            name = str(e["name"]).rstrip(".").lower()
            if name in seen:
                continue
            protos = tuple(e.get("protocols") or host_protocols(h))
            bad = registry.unknown(list(protos))
            if bad:
                raise ValueError(f"{h.name}: se_endpoints {name} has unknown protocol(s) {bad}; "
                                 f"known: {list(registry.names())}")
            ports = tuple(sorted((str(k), int(v)) for k, v in (e.get("ports") or {}).items()))
            seen[name] = ServiceAlias(name, protos, ports, str(e.get("transfer_dir") or "").rstrip("/"))
    return list(seen.values())


def holders(site: Any, resolve: Resolve) -> dict[str, str]:
    """Address -> the inventory host whose own A/AAAA record it is."""
    out: dict[str, str] = {}
    for h in site.hosts:
        for fam in FAMILIES:
            for a in resolve(h.name, fam):
                out.setdefault(a, h.name)
    return out


def per_address(cases: Iterable[TransferCase], resolve: Resolve) -> list[TransferCase]:
    """One case per address where the entry (or the redirect target) has several of the family.

    Both the entry's name and the target's name are pinned: a redirect from the head node names
    the disk node, and a disk with two AAAA is tested at each, as a client following it would be.
    """
    out: list[TransferCase] = []
    for c in cases:
        entry_addrs = resolve(c.endpoint.host, c.family)
        target_addrs = resolve(c.target, c.family) if c.target != c.entry else []
        e_opts = entry_addrs if len(entry_addrs) > 1 else [""]
        t_opts = target_addrs if len(target_addrs) > 1 else [""]
        if e_opts == [""] and t_opts == [""]:
            out.append(c)
            continue
        for ea in e_opts:
            for ta in t_opts:
                pins = tuple((n, a) for n, a in ((c.endpoint.host, ea), (c.target, ta)) if a)
                out.append(replace(c, pins=pins, address=ea, target_address=ta))
    return out


def alias_cases(site: Any, resolve: Resolve, protocols: Iterable[str] | None = None,
                families: Iterable[int] = FAMILIES) -> list[TransferCase]:
    """Round trips through each service alias (X.509), one per address when it has several.

    An address of no inventory host uses the alias's ``transfer_dir``; without one the case has
    no test directory and its test fails saying so. An alias without records of a family yields
    one case without address, whose test fails naming the missing record.
    """
    aliases = site_aliases(site)
    if not aliases:
        return []
    wanted = list(protocols) if protocols else None
    owner = holders(site, resolve)
    by_name = {h.name: h for h in site.hosts}
    out: list[TransferCase] = []
    for al in aliases:
        for proto in al.protocols:
            if wanted is not None and proto not in wanted:
                continue
            for fam in families:
                addrs = resolve(al.name, fam)
                if not addrs:
                    ep = Endpoint(proto, al.name, al.port(proto), al.transfer_dir)
                    out.append(TransferCase(proto, fam, al.name, al.name, ep, alias=True))
                    continue
                for a in addrs:
                    host = by_name.get(owner.get(a, ""))
                    tdir = al.transfer_dir or str(
                        (host.vars.get("se_transfer_dir") if host else "") or "").rstrip("/")
                    ep = Endpoint(proto, al.name, al.port(proto), tdir)
                    multi = len(addrs) > 1
                    out.append(TransferCase(
                        proto, fam, al.name, host.name if host else al.name, ep,
                        pins=((al.name, a),) if multi else (), address=a if multi else "",
                        alias=True))
    return out


def attribute(res: TransferResult, case: TransferCase) -> TransferResult:
    """Record where the round trip went and, when it failed, the host and address at fault.

    The first address the worker connected to is the entry's; any other is where a redirect
    landed (the kernel socket table and the shim's log show it). A connection that failed points
    at its own address; otherwise the target (where the data lands) is at fault.
    """
    shown = [c for c in res.connections if not c.refused]
    first = shown[0].address if shown else ""
    res.address = case.address or first
    landed = [c for c in used_connections(res.connections) if c.address != first]
    res.landed = ", ".join(dict.fromkeys(f"[{c.address}]:{c.port}" for c in landed))
    res.endpoint = case.endpoint.host
    if res.ok or res.precondition:
        return res
    broken = next((c for c in shown if c.error), None)
    if broken is not None:
        res.fault_address = broken.address
        res.fault_host = case.entry if broken.address == first and case.entry != case.target \
            and not case.alias else case.target
    else:
        res.fault_host = case.target
        res.fault_address = (landed[0].address if landed else "") or case.target_address or res.address
    return res

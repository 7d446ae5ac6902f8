"""The storage systems' own settings that decide whether a family is served (SE6-SYS-01..06).

Why: a firewall and a listener can both be right while the product itself refuses a family:
dCache's PoolManager matches IPv6 clients to no link when ``world-net`` holds only 0.0.0.0/0,
``dcache.net.listen`` pins the movers to an IPv4 address, an EOS FST advertises an HTTP port its
XrdHttp does not serve, an XRootD daemon runs with ``-I v4``, nginx listens on ``[::]:8443``
only (``ipv6only=on`` is its default) or ``8443`` only, StoRM WebDAV binds one IPv4 address.
Pure logic over the files and command lines as read from the host (formats: :mod:`.sysconf`);
each verdict says what it saw, where, and the lines that fix it in the product's own words.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from se_dualstack.concerns.sysconf import NginxListen, XrdDaemon, assignments, parse_layout

EOS_FST_HTTP_DEFAULT = 8001  # XrdFstOfs.cc: mHttpdPort without EOS_FST_HTTP_PORT (cern-eos/eos)


@dataclass(frozen=True)
class Finding:
    """A system check's verdict on one host: what it saw, and the fix lines when it fails."""

    ok: bool
    observed: str
    fix: str = ""


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


# --------------------------------------------------------------------------- SE6-SYS-01


def world_net(text: str) -> Finding:
    """poolmanager.conf: every unit group a link uses that matches all IPv4 clients
    (0.0.0.0/0) must match all IPv6 clients (::/0) too, or IPv6 clients match no link."""
    nets: dict[str, ipaddress.IPv4Network | ipaddress.IPv6Network] = {}
    groups: dict[str, list[str]] = {}
    linked: list[str] = []
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if words[:4] == ["psu", "create", "unit", "-net"] and len(words) > 4:
            net = _net(words[4])
            if net is not None:
                nets[words[4]] = net
        elif words[:3] == ["psu", "create", "ugroup"] and len(words) > 3:
            groups.setdefault(words[3], [])
        elif words[:3] == ["psu", "addto", "ugroup"] and len(words) > 4:
            groups.setdefault(words[3], []).append(words[4])
        elif words[:3] == ["psu", "create", "link"] and len(words) > 4:
            linked.extend(words[4:])
    gaps, seen = [], []
    for name, units in groups.items():
        members = [nets[u] for u in units if u in nets]
        if not members or (linked and name not in linked):
            continue
        any4 = any(n.version == 4 and n.prefixlen == 0 for n in members)
        any6 = any(n.version == 6 and n.prefixlen == 0 for n in members)
        held = ", ".join(u for u in units if u in nets)
        seen.append(f"{name}: {held}")
        if any4 and not any6:
            gaps.append((name, held))
    if not seen:
        return Finding(True, "no unit group of a link holds a -net unit (links match every client)")
    if not gaps:
        return Finding(True, "; ".join(seen))
    has6 = any(n.version == 6 and n.prefixlen == 0 for n in nets.values())
    create = [] if has6 else ["psu create unit -net ::/0"]
    lines = [*create, *(f"psu addto ugroup {g} ::/0" for g, _ in gaps)]
    observed = "; ".join(f"unit group {g} holds {held} (every IPv4 client) but no ::/0: IPv6 clients "
                         "match no link" for g, held in gaps)
    return Finding(False, observed, " ; ".join(f"`{x}`" for x in lines))


# --------------------------------------------------------------------------- SE6-SYS-02


def _pinned(value: str) -> bool:
    ip = _ip(value)
    return ip is not None and not ip.is_unspecified


def dcache_listen(conf: str, conf_path: str, layout: str | None, layout_path: str) -> Finding:
    """``dcache.net.listen`` as each domain and cell of the host runs it: dcache.conf, then the
    layout file's properties, its ``[domain]`` and ``[domain/service]`` sections (each
    overriding the one before). Pinned to one address, the domain's doors or movers serve that
    address's family only (dCache's default, blank, binds every interface)."""
    key = "dcache.net.listen"

    def last(props: Iterable[tuple[str, str]], where: str) -> tuple[str, str] | None:
        values = [v for k, v in props if k == key]
        return (where, values[-1]) if values else None

    top = last(assignments(conf), conf_path)
    sections = parse_layout(layout) if layout is not None else []
    for s in sections:
        if not s.name:
            top = last(s.properties, f"{layout_path} (before any domain)") or top
    scopes: list[tuple[str, tuple[str, str] | None]] = []
    domains: dict[str, tuple[str, str] | None] = {}
    for s in sections:
        if s.name and "/" not in s.name:
            domains[s.name] = last(s.properties, f"{layout_path} [{s.name}]") or top
            scopes.append((s.name, domains[s.name]))
        elif s.name:
            scopes.append((s.name, last(s.properties, f"{layout_path} [{s.name}]")
                           or domains.get(s.domain, top)))
    pinned: dict[tuple[str, str], list[str]] = {}
    for scope, val in scopes or [("every domain", top)]:
        if val is not None and _pinned(val[1]):
            pinned.setdefault(val, []).append(scope)
    if not pinned:
        shown = f"{key} = {top[1]} ({top[0]})" if top and top[1] else f"{key} blank (every interface)"
        return Finding(True, shown)
    observed = []
    for (where, value), names in pinned.items():
        ip = _ip(value)
        fam = f"IPv{ip.version if ip else 4}"
        observed.append(f"{key} = {value} ({where}) for {', '.join(names)}: bound to one {fam} "
                        f"address, it serves {fam} only")
    return Finding(False, "; ".join(observed),
                   f"remove the {key} line(s) named (blank: every interface, both families) and "
                   "restart the domains")


# --------------------------------------------------------------------------- SE6-SYS-03


def eos_fst_http(env: dict[str, str], served: list[int], declared: int | None,
                 cfg_path: str) -> Finding:
    """An FST advertises ``EOS_FST_HTTP_PORT`` to the MGM (8001 when unset), which redirects
    HTTP clients there: its XrdHttp (``xrd.protocol XrdHttp:<port>`` in xrd.cf.fst) must serve
    that port, and it is the port the site's other checks test (the declared one)."""
    raw = env.get("EOS_FST_HTTP_PORT", "")
    advertised = int(raw) if raw.isdigit() else EOS_FST_HTTP_DEFAULT
    said = f"EOS_FST_HTTP_PORT={raw}" if raw else f"EOS_FST_HTTP_PORT unset (the FST advertises {advertised})"
    served_txt = ", ".join(map(str, served)) or "no port"
    problems, fixes = [], []
    if advertised not in served:
        problems.append(f"{said}: the MGM redirects HTTP clients to {advertised}, where {cfg_path} "
                        f"serves no XrdHttp (XrdHttp on {served_txt})")
        fixes.append(f"make `xrd.protocol XrdHttp:{advertised}` in {cfg_path} and EOS_FST_HTTP_PORT "
                     "name the same port, then restart the FST")
    if declared is not None and declared != advertised:
        problems.append(f"the site declares eos-fst-https on {declared} (the firewall and listener "
                        f"checks test that port) while the FST advertises {advertised}")
        fixes.append(f"set se_service_ports {{eos-fst-https: {advertised}}} for this FST (or change "
                     "EOS_FST_HTTP_PORT)")
    if problems:
        return Finding(False, "; ".join(problems), "; ".join(fixes))
    return Finding(True, f"{said}, XrdHttp on {served_txt} in {cfg_path}")


# --------------------------------------------------------------------------- SE6-SYS-04


def xrootd_families(daemons: list[tuple[str, XrdDaemon]], networks: list[tuple[str, list[str]]],
                    ipv6_only: bool = False) -> Finding:
    """XRootD daemons (running, or started by a unit or sysconfig file: (where, daemon)) must
    not drop a family with ``-I v4`` (or ``-I v6`` on a host that serves IPv4), and their
    ``xrd.network`` must not set ``assumev4`` (old IPv6 clients then get IPv4 addresses)."""
    problems, fixes = [], []
    for where, d in daemons:
        if d.family == "v4" or (d.family == "v6" and not ipv6_only):
            only = "IPv4" if d.family == "v4" else "IPv6"
            problems.append(f"{d.label} {where} with -I {d.family}: it listens and announces {only} "
                            "only (the redirector still sends the other family's clients)")
            fixes.append(f"remove `-I {d.family}` from the {d.label} command line ({where}) and restart it")
    for where, opts in networks:
        if "assumev4" in opts:
            problems.append(f"`xrd.network {' '.join(opts)}` ({where}): assumev4 takes IPv6 clients "
                            "older than protocol version 4 (XRootD 4.0 clients) for dual-stack, and "
                            "they may be redirected to IPv4 addresses")
            fixes.append(f"drop assumev4 from xrd.network in {where}")
    if problems:
        return Finding(False, "; ".join(problems), "; ".join(dict.fromkeys(fixes)))
    shown = ", ".join(sorted({d.label for _, d in daemons})) or "no daemon"
    nets = "; ".join(f"xrd.network {' '.join(o)}" for _, o in networks) or "no xrd.network"
    return Finding(True, f"{shown} without -I; {nets}")


# --------------------------------------------------------------------------- SE6-SYS-05


def nginx_families(listens: list[NginxListen], ports: list[int]) -> Finding | None:
    """Per port of ``ports`` nginx listens on, both families: ``listen P`` alone is IPv4 only,
    ``listen [::]:P`` alone IPv6 only (``ipv6only=on`` is nginx's default since 1.3.4), so
    both lines (or ``listen [::]:P ipv6only=off``) are needed. None: nginx serves none of them."""
    by_port: dict[int, list[NginxListen]] = {}
    for lst in listens:
        if not lst.unix and not lst.loopback and lst.port in ports:
            by_port.setdefault(lst.port, []).append(lst)
    if not by_port:
        return None
    problems, fixes, seen = [], [], []
    for port, group in sorted(by_port.items()):
        fams = frozenset().union(*(x.families for x in group))
        lines = "; ".join(f"`{x.text}`" for x in group)
        seen.append(f"{port}: {lines}")
        if not fams or fams == {4, 6}:
            continue
        missing = 6 if 4 in fams else 4
        opts = " ".join(group[0].options)
        add = f"listen [::]:{port}" if missing == 6 else f"listen {port}"
        problems.append(f"{port} is served over IPv{4 if missing == 6 else 6} only ({lines} in "
                        f"{group[0].file})")
        fixes.append(f"`{add}{' ' + opts if opts else ''};` beside it")
    if problems:
        return Finding(False, "; ".join(problems), "add " + ", ".join(fixes) + ", then `nginx -s reload`")
    return Finding(True, "both families on " + "; ".join(seen))


# --------------------------------------------------------------------------- SE6-SYS-06

STORM_ADDRESS = "STORM_WEBDAV_SERVER_ADDRESS"
STORM_JVM = "STORM_WEBDAV_JVM_OPTS"


def storm_address(settings: list[tuple[str, dict[str, str]]]) -> Finding:
    """StoRM WebDAV's bind address in each file that sets it (/etc/sysconfig/storm-webdav, the
    systemd drop-ins): unset or 0.0.0.0 (StoRM's default; Java binds the dual-stack wildcard for
    it) serves both families, a loopback address serves only the proxy in front, one host address
    one family; ``-Djava.net.preferIPv4Stack=true`` in its JVM options makes Java IPv4 only."""
    problems, fixes, seen = [], [], []
    for where, env in settings:
        addr = env.get(STORM_ADDRESS)
        if addr is not None:
            seen.append(f"{STORM_ADDRESS}={addr} ({where})")
            ip = _ip(addr)
            if ip is not None and not ip.is_unspecified and not ip.is_loopback:
                problems.append(f"{STORM_ADDRESS}={addr} in {where}: StoRM WebDAV listens on that "
                                f"IPv{ip.version} address only")
                fixes.append(f"set {STORM_ADDRESS}=0.0.0.0 (StoRM's default: every address, both "
                             f"families) in {where}")
        jvm = env.get(STORM_JVM, "")
        if re.search(r"-Djava\.net\.preferIPv4Stack=true\b", jvm):
            problems.append(f"{STORM_JVM} in {where} sets -Djava.net.preferIPv4Stack=true: Java "
                            "opens IPv4 sockets only")
            fixes.append(f"remove -Djava.net.preferIPv4Stack=true from {STORM_JVM} in {where}")
    if problems:
        return Finding(False, "; ".join(problems),
                       "; ".join(fixes) + "; then `systemctl restart storm-webdav`")
    return Finding(True, "; ".join(seen) or f"{STORM_ADDRESS} unset (StoRM's default 0.0.0.0, both families)")

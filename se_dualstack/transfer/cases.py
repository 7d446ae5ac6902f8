"""What to transfer: the run's settings, the SE URLs and their guard, one case per test.

Why apart from the runner: cases are computed at collection time (test ids, xdist groups) from the
site alone, without a worker, a proxy or a network; the path guard is the one place that decides
what the suite may ever delete on production storage.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from se_dualstack import knowledge
from se_dualstack.transfer import protocols as registry  # the parameters named protocols are lists

FAMILIES = (6, 4)
# Credentials a transfer can prove: the grid proxy, a WLCG bearer token (transfer/tokens.py).
AUTHS = ("x509", "token")

# Defaults of the se_transfer_* inventory variables: knowledge.yml ``defaults:`` is the one place.
DEFAULTS: dict[str, Any] = knowledge.defaults()


class PathGuardError(ValueError):
    """A URL would touch something outside the configured test directory."""


def family_label(family: int) -> str:
    return f"ipv{family}"

# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class TransferSettings:
    """Per-run knobs (inventory vars, overridable from the command line)."""

    size: int = DEFAULTS["se_transfer_size"]
    timeout: float = DEFAULTS["se_transfer_timeout"]
    connect_timeout: int = DEFAULTS["se_transfer_connect_timeout"]
    repeat: int = 1
    min_success: float = DEFAULTS["se_transfer_min_success"]
    proxy: str = ""
    certdir: str = ""
    auth: str = "x509"  # the credential this run's workers use: "x509" or "token"
    token_file: str = ""  # with auth "token": the file a worker reads it from (never the value)

    @classmethod
    def from_vars(cls, vars_: dict[str, Any], **overrides: Any) -> TransferSettings:
        """Build from merged site vars; ``None`` overrides are ignored (option not given)."""
        v = {**DEFAULTS, **{k: x for k, x in vars_.items() if x is not None}}
        kw: dict[str, Any] = {
            "size": parse_size(v["se_transfer_size"]),
            "timeout": float(v["se_transfer_timeout"]),
            "connect_timeout": int(v["se_transfer_connect_timeout"]),
            "repeat": int(v["se_transfer_repeat"]),
            "min_success": float(v["se_transfer_min_success"]),
            "proxy": os.environ.get("X509_USER_PROXY") or f"/tmp/x509up_u{os.getuid()}",
            "certdir": os.environ.get("X509_CERT_DIR") or "/etc/grid-security/certificates",
        }
        kw.update({k: x for k, x in overrides.items() if x is not None})
        if kw["repeat"] < 1 or not 0.0 <= kw["min_success"] <= 1.0 or kw["timeout"] <= 0:
            raise ValueError(f"bad transfer settings: {kw}")
        return cls(**kw)


def parse_size(value: Any) -> int:
    """``1048576``, ``"1M"``, ``"100MiB"``, ``"10k"`` -> bytes."""
    if isinstance(value, int):
        return value
    m = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]?)(?:i?[bB])?\s*", str(value))
    if not m:
        raise ValueError(f"bad size {value!r}; use e.g. 1048576, 1M, 100MiB")
    return int(m.group(1)) * 1024 ** " KMG".index(m.group(2).upper() or " ")


# --------------------------------------------------------------------------- URLs and the guard


def url_host(host: str) -> str:
    """Bracket an IPv6 literal for a URL."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def build_url(protocol: str, host: str, port: int, path: str) -> str:
    """URL of an absolute SE path, in the protocol's form (root:// wants a double slash)."""
    proto = registry.get(protocol)
    if not path.startswith("/"):
        raise ValueError(f"SE path must be absolute: {path!r}")
    return proto.url(url_host(host), port, path)


def url_path(url: str) -> str:
    """The SE path of a URL built by :func:`build_url` (``root://h:1//p`` -> ``/p``)."""
    m = re.fullmatch(r"[a-z]+://(\[[^\]]+\]|[^/:]+)(?::\d+)?(/.*)", url)
    if not m:
        raise PathGuardError(f"not an SE URL: {url!r}")
    path = m.group(2)
    return "/" + path.lstrip("/")


def guard_path(url: str, test_dir: str) -> str:
    """Refuse any URL whose path is not strictly inside ``test_dir``; return the path.

    Why so strict: the suite deletes files on production storage. No ``..``, no ``.``, no
    empty or relative test dir, no test dir shallower than two levels (``/store`` alone is not a
    test directory), and the file must be a direct child of it.
    """
    d = PurePosixPath(test_dir)
    if not test_dir.startswith("/") or any(p in ("..", ".") for p in test_dir.split("/")):
        raise PathGuardError(f"test directory must be an absolute normalised path: {test_dir!r}")
    if len(d.parts) < 3:
        raise PathGuardError(f"test directory {test_dir!r} is too close to the root (need 2+ levels)")
    path = url_path(url)
    raw = [p for p in path.split("/") if p]
    if any(p in ("..", ".") for p in raw) or "//" in path.lstrip("/"):
        raise PathGuardError(f"refusing {url}: path is not normalised")
    p = PurePosixPath(path)
    if p.parent != d or not p.name:
        raise PathGuardError(f"refusing {url}: not a file directly inside the test directory {test_dir}")
    return path


def unique_name(tag: str = "") -> str:
    """A file name no other run (or host, or worker) will pick: time, host, pid, 64 random bits."""
    t = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    me = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:20]
    extra = f"-{re.sub(r'[^A-Za-z0-9-]', '-', tag)}" if tag else ""
    return f"se6test-{t}-{me}-{os.getpid()}{extra}-{secrets.token_hex(8)}.dat"


# --------------------------------------------------------------------------- transfer cases


@dataclass(frozen=True)
class Endpoint:
    """Where a URL points: a host name, a port, and the test directory on the SE."""

    protocol: str
    host: str  # name used in the URL
    port: int
    test_dir: str

    def url(self, name: str = "") -> str:
        path = f"{self.test_dir}/{name}" if name else self.test_dir
        return build_url(self.protocol, self.host, self.port, path)


@dataclass(frozen=True)
class TransferCase:
    """One protocol x family x entry point: the unit a test (and its report row) is about."""

    protocol: str
    family: int
    entry: str  # host name of the endpoint contacted first
    target: str  # host whose test directory is used (== entry unless reached through the head)
    endpoint: Endpoint
    auth: str = "x509"  # the credential proven; X.509 ids carry no suffix (as before tokens)
    # Per-address runs (a name with several A or AAAA records, see transfer/addresses.py): ``pins``
    # maps names to the one address the worker's shim resolves each to; ``address`` and
    # ``target_address`` are the pinned entry and redirect-target addresses, named in the id.
    pins: tuple[tuple[str, str], ...] = ()
    address: str = ""
    target_address: str = ""
    alias: bool = False  # entry is a service alias (se_endpoints); target holds the address
    # Why no round trip applies (the test skips with it): a data server that listens on no fixed
    # port for the protocol (a dCache pool's movers) is reached only through its door's redirect.
    skip: str = ""
    # The only AAAA the client gets (entry or redirect target) was synthesized by DNS64: the copy
    # goes through a NAT64 gateway, not to the host's own IPv6 (se_dualstack.applicability).
    nat64: bool = False

    @property
    def id(self) -> str:
        addr = f"-{self.address}" if self.address else ""
        via = "" if self.entry == self.target or self.alias else f"-via-{short(self.target)}"
        tgt = f"-{self.target_address}" if self.target_address else ""
        return (f"{self.entry}-{self.protocol}-{family_label(self.family)}{addr}{via}{tgt}"
                f"{nat64_suffix(self.nat64)}{auth_suffix(self.auth)}")

    @property
    def group_host(self) -> str:
        """xdist group: the target's (the data lands there), also when reached through the head."""
        return self.target

    @property
    def skip_reason(self) -> str:
        """Why the round trip does not apply ("": it does); its test skips with it."""
        return self.skip


@dataclass(frozen=True)
class TpcCase:
    """Third-party copy from one endpoint to another (the servers move the data)."""

    protocol: str
    family: int
    source: Endpoint
    dest: Endpoint
    source_host: str
    dest_host: str
    names_forced: bool  # URLs use single-family aliases, so server-to-server is forced too
    auth: str = "x509"
    unsupported: str = ""  # why the servers cannot do this combination (the test skips with it)
    mode: str = ""  # HTTP-TPC "pull" | "push" ("": gfal2's default, pull)
    nat64: bool = False  # the client reaches an end only through NAT64 (a DNS64-made AAAA)
    # The head node an end's URL names when that end listens for the protocol on no fixed port
    # (a dCache pool): its door, which redirects to it, as a dCache client addresses a copy.
    source_entry: str = ""
    dest_entry: str = ""

    @property
    def id(self) -> str:
        mode = f"-{self.mode}" if self.mode else ""
        doors = [short(e) for e in dict.fromkeys((self.source_entry, self.dest_entry)) if e]
        via = f"-via-{'-'.join(doors)}" if doors else ""
        return (f"{self.source_host}-to-{short(self.dest_host)}-{self.protocol}-{family_label(self.family)}"
                f"{mode}{via}{nat64_suffix(self.nat64)}{auth_suffix(self.auth)}")

    @property
    def contacted(self) -> tuple[str, str]:
        """(source, destination) as the client contacts them: the door where an end has one."""
        return self.source_entry or self.source_host, self.dest_entry or self.dest_host

    @property
    def active_host(self) -> str:
        """The end that opens the server-to-server connection (the protocol declares it per copy
        mode): the one that could not reach the other when the copy itself fails."""
        end = registry.get(self.protocol).tpc_active.get(self.mode, "dest")
        return self.source_host if end == "source" else self.dest_host

    @property
    def group_host(self) -> str:
        """xdist group: the destination's (the copy is checked and cleaned there)."""
        return self.dest_host

    @property
    def skip_reason(self) -> str:
        """Why the servers cannot do this copy ("": they can); its test skips with it."""
        return self.unsupported


def auth_suffix(auth: str) -> str:
    return "" if auth == "x509" else f"-{auth}"


def nat64_suffix(nat64: bool) -> str:
    return "-nat64" if nat64 else ""


def is_nat64(case_id: str) -> bool:
    """A case id with the ``-nat64`` label (:func:`nat64_suffix`)."""
    return "nat64" in case_id.split("-")


def short(name: str) -> str:
    return name.split(".", 1)[0]


def protocol_port(host: Any, protocol: str) -> int:
    """Port of ``protocol`` on a host: ``se_transfer_ports`` override, the first of the host's
    services that carries it (the protocol registry names them), the protocol's default."""
    port = own_port(host, protocol)
    return port if port is not None else registry.get(protocol).default_port


def own_port(host: Any, protocol: str) -> int | None:
    """The fixed port ``protocol`` has on a host (override, else the first of its services that
    carries it); None when it runs none with a fixed port (a dCache pool: movers on a range)."""
    override = (host.vars.get("se_transfer_ports") or {}).get(protocol)
    if override:
        return int(override)
    proto = registry.get(protocol)
    for svc in getattr(host, "services", []) or []:
        if svc.name in proto.services and svc.port is not None:
            return int(svc.port)
    return None


def system_of(site: Any, host: Any) -> knowledge.System:
    """The storage system a host belongs to (its ``se_flavour``, else the site's)."""
    return knowledge.system(str(host.vars.get("se_flavour") or getattr(site, "flavour", "") or "dpm"))


def entry_points(site: Any, target: Any, protocol: str) -> list[tuple[Any, int, knowledge.Hop | None]]:
    """(head node, port, hop) a client of ``protocol`` starts from to reach ``target``.

    The storage registry decides (``redirects`` of the target's system): every head node running
    the service a redirect of the protocol to the target's role starts from, at that service's
    port (``se_transfer_ports`` wins). ``se_transfer_via_head``, when a site sets it, overrides
    which protocols go through a head node (the first head node, when the registry names none).
    """
    override = target.vars.get("se_transfer_via_head")
    if override is not None and protocol not in override:
        return []
    out: list[tuple[Any, int, knowledge.Hop | None]] = []
    for hop in system_of(site, target).hops(protocol):
        if hop.to_role != target.role:
            continue
        for h in site.hosts:
            svc = next((s for s in h.services if s.name == hop.from_service), None)
            if h is target or h.role != hop.from_role or svc is None or any(h is e for e, _, _ in out):
                continue
            port = (h.vars.get("se_transfer_ports") or {}).get(protocol) or svc.port
            out.append((h, int(port) if port else protocol_port(h, protocol), hop))
    heads = [h for h in site.hosts if h.role == "headnode" and h is not target]
    if not out and override is not None and heads and target.role != "headnode":
        out.append((heads[0], protocol_port(heads[0], protocol), None))
    return out


def no_fixed_port(site: Any, target: Any, protocol: str, entries: list[tuple[Any, int, Any]]) -> str:
    """Why ``target`` gets no round trip of its own over ``protocol`` ("" when it has a port).

    A data server whose movers listen on a port of a range only during a transfer (a dCache pool)
    is reached through its door's redirect, never directly: the round trip through the door and
    the redirect chain (SE6-XFER-03) test that hop, the firewall checks the range.
    """
    if own_port(target, protocol) is not None:
        return ""
    hops = [h for h in system_of(site, target).hops(protocol) if h.to_role == target.role]
    lands = [f"{p.label} {p.first}-{p.last}" for h in hops for p in knowledge.landing(h, target.services)]
    if lands:
        via = ", ".join(e.name for e, _, _ in entries) or "a head node"
        return (f"{target.name} listens for {protocol} on no fixed port: a client reaches it only through "
                f"{via}'s redirect, to a mover on a port of {', '.join(dict.fromkeys(lands))} (the round "
                "trip through the entry point and SE6-XFER-03 cover that hop)")
    return (f"{target.name} runs no service that carries {protocol} (its services: "
            f"{', '.join(s.name for s in target.services) or 'none'}); leave {protocol} out of its "
            "se_transfer_protocols, or declare the service (se_services, se_service_ports)")


def host_protocols(host: Any) -> list[str]:
    """Validated ``se_transfer_protocols`` of a host; the default list (unset, or written as it)
    narrowed to the protocols the host serves (:func:`serves`): an EOS or XRootD site runs no
    GridFTP, and is not asked to say so. A list of the site's own is taken as written."""
    protos = host.vars.get("se_transfer_protocols") or DEFAULTS["se_transfer_protocols"]
    if list(protos) == list(DEFAULTS["se_transfer_protocols"]):
        protos = [p for p in protos if serves(host, p)]
    bad = registry.unknown(list(protos))
    if bad:
        raise ValueError(f"{host.name}: se_transfer_protocols has unknown {bad}; "
                         f"known: {list(registry.names())}")
    return list(protos)


def serves(host: Any, protocol: str) -> bool:
    """Whether one of the host's services carries ``protocol`` (the protocol registry names them),
    or its storage system redirects clients of the protocol to hosts of its role (a dCache
    pool's movers, on a range); a host whose services are unknown is taken to serve it."""
    services = getattr(host, "services", None)
    if not services:
        return True
    if any(s.name in registry.get(protocol).services for s in services):
        return True
    system = knowledge.system(str(host.vars.get("se_flavour") or "dpm"))
    return any(h.to_role == host.role for h in system.hops(protocol))


def alias_for(host: Any, family: int) -> str | None:
    """A declared single-family DNS alias (``se_ipv6_alias`` / ``se_ipv4_alias``), if any."""
    v = host.vars.get(f"se_ipv{family}_alias")
    return str(v) if v else None


def transfer_cases(site: Any, protocols: Iterable[str] | None = None,
                   families: Iterable[int] = FAMILIES, use_aliases: bool = False,
                   auths: Iterable[str] = ("x509",)) -> list[TransferCase]:
    """Every protocol x family x entry point of the site.

    Targets are hosts with ``se_transfer_dir``. A disk node is reached through every head node
    whose service a redirect of the protocol starts from (:func:`entry_points`: the storage
    registry's ``redirects``, at that service's port), directly otherwise; protocols in
    ``se_transfer_direct`` also get a direct round trip, at the disk's own port for the protocol
    (none: the case skips, saying why). A head node's own directory is used for the other
    protocols, and for the redirected ones only when no disk node's directory is reached through a
    head (a DPM head stores nothing itself). With
    ``use_aliases`` (no family shim available) URLs use the declared single-family alias. Per
    credential in ``auths`` (X.509 first, so its ids keep their order); tokens only for the
    protocols whose servers take one (not gsiftp).
    """
    wanted = list(protocols) if protocols else None
    # Protocols for which some disk node's directory is reached through a head node: for those the
    # head (a redirector that stores nothing itself) is tested through the disk nodes.
    redirected = {p for h in site.hosts if h.role == "disknode" and h.vars.get("se_transfer_dir")
                  for p in host_protocols(h) if entry_points(site, h, p)}
    out: list[TransferCase] = []
    for auth in auths:
        for target in site.hosts:
            tdir = target.vars.get("se_transfer_dir")
            if not tdir:
                continue
            tdir = str(tdir).rstrip("/")
            for proto in host_protocols(target):
                if wanted is not None and proto not in wanted:
                    continue
                if target.role == "headnode" and proto in redirected:
                    continue
                if auth == "token" and not registry.get(proto).token:
                    continue
                entries = entry_points(site, target, proto)
                # A redirect may land on another port of the disk than its own for ``proto`` (an
                # XRootD manager sends https clients to the data server's xroot port; see the
                # system's redirects in data/flavours/): that port is tested only by a direct round
                # trip, as a client given that URL does; a direct round trip of a protocol whose
                # redirect lands on its own port tests the data server without its redirector.
                direct = not entries or proto in target.vars.get(
                    "se_transfer_direct", DEFAULTS["se_transfer_direct"])
                own = [(target, own_port(target, proto) or 0, no_fixed_port(site, target, proto, entries))]
                for ent, port, skip in [*((e, p, "") for e, p, _ in entries), *(own if direct else [])]:
                    for fam in families:
                        name = (alias_for(ent, fam) if use_aliases else None) or ent.name
                        ep = Endpoint(proto, name, port, tdir)
                        out.append(TransferCase(proto, fam, ent.name, target.name, ep, auth, skip=skip))
    return out


def tpc_pairs(disks: list[Any]) -> list[tuple[Any, Any]]:
    """(source, destination) disk nodes: the first to the second (or to itself under another
    name), then both ways between the first dual-stack node and each one declared IPv6-only
    (``se_families: [ipv6]``): a copy across families, where xrootd issue 968 and EOS-2775 broke."""
    if not disks:
        return []
    pairs = [(disks[0], disks[1] if len(disks) > 1 else disks[0])]
    dual = [h for h in disks if "ipv4" in (h.vars.get("se_families") or ("ipv6", "ipv4"))]
    for v6 in (h for h in disks if h not in dual):
        pairs += [(dual[0], v6), (v6, dual[0])] if dual else []
    unique: dict[tuple[str, str], tuple[Any, Any]] = {}
    for s, d in pairs:
        unique.setdefault((s.name, d.name), (s, d))
    return list(unique.values())


def tpc_cases(site: Any, protocols: Iterable[str] | None = None,
              auths: Iterable[str] = ("x509",)) -> list[TpcCase]:
    """IPv6 third-party copies between disk nodes (:func:`tpc_pairs`), per protocol that can.

    Uses each disk node's own endpoint (server to server is the point) and the IPv6-only alias
    when declared, so the servers themselves cannot fall back to IPv4. A disk node that listens
    for the protocol on no fixed port (a dCache pool) is addressed at its entry point, the door
    that redirects to it, as a dCache client (FTS, gfal-copy) writes a copy: the door hands the
    copy to the pool, and the pools move the data.
    """
    disks = [h for h in site.hosts if h.role == "disknode" and h.vars.get("se_transfer_dir")]
    out: list[TpcCase] = []
    for src, dst in tpc_pairs(disks):
        out += _tpc_cases(site, src, dst, protocols, auths)
    return out


def tpc_end(site: Any, host: Any, protocol: str) -> tuple[Endpoint, Any, str]:
    """(endpoint, the door it names or None, why the copy cannot address it) of a copy's end: the
    host's own port for the protocol (its IPv6 alias when declared), else its first entry point."""
    tdir = str(host.vars["se_transfer_dir"]).rstrip("/")
    entries = entry_points(site, host, protocol)
    if own_port(host, protocol) is None and entries:
        door, port, _ = entries[0]
        return Endpoint(protocol, alias_for(door, 6) or door.name, port, tdir), door, ""
    why = no_fixed_port(site, host, protocol, entries)
    return Endpoint(protocol, alias_for(host, 6) or host.name, protocol_port(host, protocol), tdir), None, why


def _tpc_cases(site: Any, src: Any, dst: Any, protocols: Iterable[str] | None,
               auths: Iterable[str]) -> list[TpcCase]:
    protos = list(protocols) if protocols else list(
        src.vars.get("se_transfer_tpc_protocols", DEFAULTS["se_transfer_tpc_protocols"]))
    out: list[TpcCase] = []
    for auth in auths:
        for proto in protos:
            if proto not in host_protocols(src) or proto not in host_protocols(dst):
                continue
            if auth == "token" and not registry.get(proto).token:
                continue
            (s, s_door, s_why), (d, d_door, d_why) = tpc_end(site, src, proto), tpc_end(site, dst, proto)
            # Forced by names only when both URLs name an IPv6-only alias of the servers that copy
            # (a door's redirect names the pool itself).
            forced = bool(alias_for(src, 6) and alias_for(dst, 6)) and s_door is None and d_door is None
            # The copy modes tested with this credential, and why the servers cannot (the test
            # skips with it), as the protocol declares them.
            p = registry.get(proto)
            why = s_why or d_why or p.unsupported(auth)
            out += [TpcCase(proto, 6, s, d, src.name, dst.name, forced, auth, why, m,
                            source_entry=s_door.name if s_door is not None else "",
                            dest_entry=d_door.name if d_door is not None else "")
                    for m in p.copy_modes(auth)]
    return out

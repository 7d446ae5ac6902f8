"""Site knowledge: the storage systems as data, resolver tables, the inventory's defaults.

``data/knowledge.yml`` holds what every system shares (the services several systems run alike,
resolver tables, the defaults of the inventory variables); ``data/flavours/<system>.yml`` holds
one storage system each: its roles, services with ports and port ranges, the config files a check
reads and how a client is redirected from an entry point to a data server. Loaded once and
validated, so a broken file fails loudly at start-up rather than as a puzzling check failure.
"""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from se_dualstack.model import ROLES, PortRange, Service, TransferPort

KNOWLEDGE = "data/knowledge.yml"
FLAVOURS = "data/flavours"


def _read(path: str) -> Any:
    return yaml.safe_load(resources.files("se_dualstack").joinpath(path).read_text())


@functools.cache
def load() -> dict[str, Any]:
    """The parsed knowledge (cached; callers must not mutate it): knowledge.yml, with
    ``flavours`` (one entry per file of data/flavours/) and ``services`` merged from all files."""
    data = _read(KNOWLEDGE)
    if not isinstance(data, dict):
        raise ValueError(f"se_dualstack/{KNOWLEDGE}: top level must be a mapping")
    data["flavours"] = {}
    shared = dict(data.get("services") or {})
    for f in sorted(resources.files("se_dualstack").joinpath(FLAVOURS).iterdir(), key=lambda x: x.name):
        if not f.name.endswith(".yml"):
            continue
        where = f"se_dualstack/{FLAVOURS}/{f.name}"
        raw = yaml.safe_load(f.read_text())
        if not isinstance(raw, dict) or raw.get("system") != f.name[:-4]:
            raise ValueError(f"{where}: must be a mapping whose system is {f.name[:-4]!r}")
        for name, svc in (raw.get("services") or {}).items():
            if name in shared:
                raise ValueError(f"{where}: service {name!r} is defined twice (names are site-wide)")
            shared[name] = svc
        data["flavours"][raw["system"]] = raw
    data["services"] = shared
    _validate(data)
    return data


def _validate(data: dict[str, Any]) -> None:
    """Catch an inconsistent knowledge file (a role naming an undefined service, say)."""
    services = data["services"]
    for name, svc in services.items():
        at = f"se_dualstack/data: service {name}"
        port = svc.get("port")
        if port is not None and not (isinstance(port, int) and 0 < port < 65536):
            raise ValueError(f"{at}: port {port!r} is not a TCP port (or null)")
        if port is None and not svc.get("ranges"):
            raise ValueError(f"{at}: a service without a port must have ranges")
        names = [r.get("name") for r in svc.get("ranges") or []]
        if len(set(names)) != len(names) or not all(names):
            raise ValueError(f"{at}: its ranges need distinct names")
        for r in svc.get("ranges") or []:
            PortRange.parse(str(r["range"]))
    labels = set(services) | set(range_labels(services))
    for flavour, sysdata in data["flavours"].items():
        at = f"se_dualstack/{FLAVOURS}/{flavour}.yml"
        roles = sysdata.get("roles") or {}
        if set(roles) != set(ROLES):
            raise ValueError(f"{at}: roles must be exactly {', '.join(ROLES)}")
        for role in ROLES:
            for name in roles[role].get("services") or []:
                if name not in services:
                    raise ValueError(f"{at}: {role} names undefined service {name!r}")
        for cf in sysdata.get("config_files") or []:
            if not str(cf.get("path", "")).startswith("/") or not set(cf.get("roles") or ()) <= set(ROLES):
                raise ValueError(f"{at}: config file {cf!r} needs an absolute path and roles of {ROLES}")
        _validate_detection(at, sysdata.get("detection") or {}, services)
        for src in sysdata.get("token_issuers") or []:
            how = src.get("how")
            need = {"xrootd-scitokens": ("process", "default"), "pattern": ("paths", "pattern", "what")}
            if how not in need or not all(src.get(k) for k in need[how]) or \
                    not set(src.get("roles") or ROLES) <= set(ROLES):
                raise ValueError(f"{at}: token_issuers entry {src!r} needs how ({', '.join(need)}) "
                                 f"and its keys, and roles of {ROLES}")
            if how == "pattern":
                re.compile(str(src["pattern"]))
        for hop in sysdata.get("redirects") or []:
            frm, to = hop.get("from") or {}, hop.get("to") or {}
            if frm.get("role") not in ROLES or to.get("role") not in ROLES or not hop.get("protocol"):
                raise ValueError(f"{at}: redirect {hop!r} needs a protocol and from/to roles")
            bad = [x for x in [frm.get("service"), *(to.get("ports") or [])] if x not in labels]
            if bad or not to.get("ports"):
                raise ValueError(f"{at}: redirect {hop['protocol']} names unknown services or ranges {bad}")
    crl = (data.get("dependencies") or {}).get("crl") or {}
    if not crl.get("files") or not isinstance(crl.get("fetch_crl_configs"), list):
        raise ValueError(f"se_dualstack/{KNOWLEDGE}: dependencies.crl needs files and fetch_crl_configs")
    if not isinstance(data.get("defaults"), dict):
        raise ValueError(f"se_dualstack/{KNOWLEDGE}: defaults must be a mapping of variables")


def _validate_detection(at: str, det: dict[str, Any], services: dict[str, Any]) -> None:
    """A system's ``detection``: markers name a process or a file, ports a known service."""
    for m in det.get("markers") or []:
        if bool(m.get("process")) == bool(m.get("file")) or not m.get("what") or \
                m.get("role") not in (None, *ROLES):
            raise ValueError(f"{at}: detection marker {m!r} needs a process or a file, what, and a role "
                             f"of {ROLES} (or none)")
        for key in ("args", "contains"):
            if m.get(key):
                re.compile(str(m[key]))
    for p in det.get("ports") or []:
        if p.get("service") not in services or not (p.get("xrootd") in ("xrd.port", "XrdHttp")
                                                    or (p.get("file") and p.get("key"))):
            raise ValueError(f"{at}: detection port {p!r} needs a known service and file+key or "
                             "xrootd: xrd.port|XrdHttp")


def detection_markers() -> list[dict[str, Any]]:
    """Every system's detection markers, each with its ``flavour`` (data/flavours/*.yml)."""
    return [{**m, "flavour": name} for name, raw in load()["flavours"].items()
            for m in (raw.get("detection") or {}).get("markers") or []]


def detection_ports(flavour: str) -> list[dict[str, Any]]:
    """Where a host of ``flavour`` sets its services' ports itself (``detection: ports``)."""
    return list(((load()["flavours"][flavour].get("detection") or {}).get("ports")) or [])


def defaults() -> dict[str, Any]:
    """Defaults of the inventory variables (``defaults:``): a fresh copy each call.

    One mapping for the site checks and the transfers alike, so a default is never written twice.
    """
    return copy.deepcopy(dict(load()["defaults"]))


def flavours() -> list[str]:
    """Known storage systems (SE flavours), sorted (for error messages and docs)."""
    return sorted(load()["flavours"])


def service_names() -> list[str]:
    """All service names the knowledge files define, sorted."""
    return sorted(load()["services"])


# --------------------------------------------------------------------------- services and ranges


@dataclass(frozen=True)
class RangeDecl:
    """A port range a service declares: its label, its default and the older variable setting it."""

    label: str  # <service>-<name>: the firewall check's row, the se_service_ranges key
    default: PortRange
    var: str = ""  # e.g. se_gridftp_data_range ("" none)


def declared_ranges(name: str) -> list[RangeDecl]:
    """The port ranges of a known service, as declared."""
    return [RangeDecl(f"{name}-{r['name']}", PortRange.parse(str(r["range"])), str(r.get("var") or ""))
            for r in load()["services"][name].get("ranges") or []]


def range_labels(services: dict[str, Any] | None = None) -> list[str]:
    """Every declared range's label (``gsiftp-data``, ``dcache-pool-xrootd`` ...), sorted."""
    svcs = load()["services"] if services is None else services
    return sorted(f"{n}-{r['name']}" for n, s in svcs.items() for r in s.get("ranges") or [])


def service(name: str, port: int | None = None, processes: list[str] | None = None,
            ranges: dict[str, PortRange] | None = None) -> Service:
    """A known service, optionally with the port, processes and ranges (label -> range) a site
    overrides."""
    raw = load()["services"][name]
    known_port = port if port is not None else raw.get("port")
    return Service(
        name=name,
        port=int(known_port) if known_port is not None else None,
        processes=tuple(processes if processes is not None else raw.get("processes", [])),
        transfer=bool(raw.get("transfer", False)),
        title=str(raw.get("title", name)),
        ranges=tuple(TransferPort(d.label, r.first, r.last) for d in declared_ranges(name)
                     for r in [(ranges or {}).get(d.label, d.default)]),
    )


def services_for(flavour: str, role: str) -> list[str]:
    """Service names a host of this flavour and role runs by default."""
    return list(system(flavour).roles[role].services)


def default_data_range() -> str:
    """The GridFTP data port range used when a site sets none (``se_gridftp_data_range``)."""
    return str(next(d.default for name in load()["services"] for d in declared_ranges(name)
                    if d.var == "se_gridftp_data_range"))


# --------------------------------------------------------------------------- storage systems


@dataclass(frozen=True)
class Role:
    """What a head node (entry point) or disk node (data server) is in one storage system."""

    name: str  # headnode | disknode
    what: str  # door node, MGM, redirector, frontend / pool, FST, data server

    @property
    def short(self) -> str:
        """What the role is called in the system's own words (``door node``, ``FST``)."""
        return self.what.split(" (", 1)[0]
    several: bool  # more than one such host allowed
    services: tuple[str, ...]


@dataclass(frozen=True)
class ConfigFile:
    """A configuration file a check reads, on the hosts of ``roles``."""

    path: str  # absolute; ``<layout>`` or a glob where the name varies
    format: str  # properties, xrootd, shell-env, nginx, ...
    roles: tuple[str, ...]
    keys: tuple[str, ...]  # what a check reads in it


@dataclass(frozen=True)
class Hop:
    """How a client is sent from an entry point to a data server, for one protocol."""

    protocol: str
    from_role: str
    from_service: str  # the entry point's service (its port is where the client starts)
    to_role: str
    to: tuple[str, ...]  # services (their port) or range labels the redirect may land on
    how: str


@dataclass(frozen=True)
class System:
    """One storage system (an SE flavour), from data/flavours/<name>.yml."""

    name: str
    title: str
    roles: dict[str, Role]
    config_files: tuple[ConfigFile, ...]
    redirects: tuple[Hop, ...]

    def hops(self, protocol: str) -> list[Hop]:
        return [h for h in self.redirects if h.protocol == protocol]

    def files(self, role: str) -> list[ConfigFile]:
        return [f for f in self.config_files if role in f.roles]

    def paths(self, fmt: str) -> list[str]:
        """The paths of this system's config files of one format (``xrootd``, ``nginx``...)."""
        return [f.path for f in self.config_files if f.format == fmt]


def system(flavour: str) -> System:
    """The storage system ``flavour`` (a KeyError naming the known ones otherwise)."""
    try:
        raw = load()["flavours"][flavour]
    except KeyError:
        raise KeyError(f"unknown flavour {flavour!r}; known: {', '.join(flavours())}") from None
    return System(
        name=flavour, title=str(raw.get("title", flavour)),
        roles={r: Role(r, str(raw["roles"][r].get("what", "")), bool(raw["roles"][r].get("several", True)),
                       tuple(raw["roles"][r].get("services") or ())) for r in ROLES},
        config_files=tuple(ConfigFile(str(c["path"]), str(c.get("format", "")), tuple(c.get("roles") or ()),
                                      tuple(str(k) for k in c.get("keys") or ()))
                           for c in raw.get("config_files") or []),
        redirects=tuple(Hop(str(h["protocol"]), h["from"]["role"], h["from"]["service"], h["to"]["role"],
                            tuple(h["to"]["ports"]), str(h.get("how", "")))
                        for h in raw.get("redirects") or []),
    )


def landing(hop: Hop, services: list[Service]) -> list[TransferPort]:
    """Where ``hop`` may land on a target host running ``services`` (with the site's overrides):
    the port of each service it names, each range it names."""
    out: list[TransferPort] = []
    for svc in services:
        if svc.name in hop.to and svc.port is not None:
            out.append(TransferPort(svc.name, svc.port, svc.port))
        out += [r for r in svc.ranges if r.label in hop.to]
    return out


def gai_labels() -> list[str]:
    """The complete ``/etc/gai.conf`` label table EL6 hosts need (one line each)."""
    return [str(x) for x in load()["gai_conf_labels"]]


def hosts_ipv6_localhost() -> tuple[str, list[str]]:
    """Address and names of the IPv6 loopback line ``/etc/hosts`` must have."""
    raw = load()["hosts_ipv6_localhost"]
    return str(raw["address"]), [str(n) for n in raw["names"]]


def hosts_line() -> str:
    """The ``/etc/hosts`` line to add, exactly as a fix message should print it."""
    address, names = hosts_ipv6_localhost()
    return f"{address}   {' '.join(names)}"


def ifcfg_os() -> list[str]:
    """OS families whose saved network configuration is an ifcfg file."""
    return [str(x) for x in load()["ifcfg_os"]]


def gai_conf_os() -> list[str]:
    """OS families that need the gai.conf label table."""
    return [str(x) for x in load()["gai_conf_os"]]


def uses_ifcfg(os_family: str | None) -> bool:
    return os_family in ifcfg_os()


def needs_gai_conf(os_family: str | None) -> bool:
    return os_family in gai_conf_os()


# Distributions (as testinfra's system_info names them) that are Enterprise Linux rebuilds.
_EL_DISTRIBUTIONS = {
    "rhel", "redhat", "centos", "scientific", "sl", "scientificsl", "scientificfermi",
    "rocky", "almalinux", "alma", "ol", "oracle", "oraclelinux", "cloudlinux", "eurolinux",
    "redhatenterpriseserver", "centos-stream", "circle", "navy",
}

# se_os values a site may declare: EL families (and their common aliases) or distro+major.
OS_PATTERN = re.compile(r"^(el|sl|centos|rhel|rocky|alma)(\d+)$|^([a-z]+)(\d+)$")
OS_ALIASES = {"sl": "el", "centos": "el", "rhel": "el", "rocky": "el", "alma": "el"}


def normalise_os(value: str) -> str | None:
    """``SL6`` -> ``el6``, ``centos7`` -> ``el7``, ``debian12`` stays; None if not an OS name."""
    v = str(value).strip().lower()
    m = OS_PATTERN.match(v)
    if not m:
        return None
    if m.group(1):
        return f"el{int(m.group(2))}"
    return f"{m.group(3)}{int(m.group(4))}"


def os_family(distribution: str | None, release: str | None) -> str | None:
    """Map testinfra's ``system_info`` to an OS family: ``el7``, ``el9``, ``debian12``...

    Only the major release matters to the checks (ifcfg vs NetworkManager, gai.conf).
    """
    if not distribution:
        return None
    dist = re.sub(r"[\s_]", "", str(distribution).lower())
    m = re.match(r"\d+", str(release or "").strip())
    if not m:
        return None
    major = int(m.group(0))
    if dist in _EL_DISTRIBUTIONS or dist.startswith(("centos", "scientific", "redhat")):
        return f"el{major}"
    return f"{dist}{major}"


def os_from_release(text: str) -> str | None:
    """OS family from ``/etc/os-release`` (``ID``, ``VERSION_ID``) or, on EL6, ``/etc/redhat-release``
    (``Scientific Linux release 6.10 (Carbon)``), read as testinfra's ``system_info`` reads them."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() in ("ID", "VERSION_ID"):
            fields[key.strip()] = value.replace('"', "").replace("'", "").strip()
    if "ID" in fields:
        return os_family(fields["ID"], fields.get("VERSION_ID"))
    m = re.match(r"^(.+) release ([^ ]+)", text.strip())
    return os_family(m.group(1), m.group(2)) if m else None


def scheme_port(scheme: str) -> int | None:
    """The port a URL of this scheme means when it names none (``url_schemes`` in knowledge.yml)."""
    raw = (load().get("url_schemes") or {}).get(scheme.lower())
    return int(raw["port"]) if raw else None


def scheme_tls(scheme: str) -> bool:
    """Whether a URL of this scheme is spoken over TLS (a credential may be sent there)."""
    raw = (load().get("url_schemes") or {}).get(scheme.lower())
    return bool(raw and raw.get("tls"))

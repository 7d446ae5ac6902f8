"""The site variables the suite reads (``se_*``): defaults, validation, services per host.

Why apart from the inventory reader: Ansible decides *which* value a host gets (precedence);
this module decides whether that value makes sense to the suite (a port, an IPv6 prefix, a
known flavour) and says so in one line naming the host, the key and the fix.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from typing import Any

import yaml

from se_dualstack import knowledge
from se_dualstack.errors import InventoryError
from se_dualstack.model import Connection, PortRange, SEHost, Service

# Defaults under every inventory (see inventory/README.md): knowledge.yml ``defaults:`` is the one
# place for them, the transfer runner's included. No login user: ssh picks it, as it does for
# Ansible, unless the site sets ansible_user.
DEFAULTS: dict[str, Any] = knowledge.defaults()

LIST_VARS = ("se_ipv6_prefixes", "se_resolvers", "se_transfer_protocols", "se_services",
             "se_transfer_via_head", "se_transfer_tpc_protocols", "se_transfer_direct", "se_transfer_auth",
             "se_families")
FLOAT_VARS = ("se_dns_timeout", "se_connect_timeout", "se_ssh_timeout")


def as_list(value: Any) -> list[Any]:
    """Lists may be written as YAML lists or, in INI or on the command line, as ``a,b``."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [x for x in re.split(r"[,\s]+", str(value)) if x]


def port(at: str, key: str, value: Any) -> int:
    """A TCP port, or one line saying what is wrong with it."""
    try:
        p = int(str(value).strip())
        if not 0 < p < 65536:
            raise ValueError
    except (TypeError, ValueError):
        raise InventoryError(f"{at}: {key} {value!r} is not a TCP port; use a number 1-65535") from None
    return p


def flavour_of(at: str, value: Any) -> str:
    """A known SE flavour (lower case), else one line listing the known ones."""
    flavour = str(value).strip().lower()
    if flavour not in knowledge.flavours():
        raise InventoryError(
            f"{at}: se_flavour {value!r} is unknown; use one of: {', '.join(knowledge.flavours())}"
        )
    return flavour


def validate(at: str, v: dict[str, Any]) -> dict[str, Any]:
    """Check and normalise the variables the suite reads; ``at`` is ``FILE: host X``."""
    v["se_flavour"] = flavour_of(at, v.get("se_flavour", "dpm"))
    for key in LIST_VARS:
        if key in v and v[key] is not None:
            if isinstance(v[key], dict):
                raise InventoryError(f"{at}: {key} must be a list, not a mapping; write it as [a, b]")
            v[key] = [str(x) for x in as_list(v[key])]
    for key in FLOAT_VARS:
        if key in v:
            try:
                val = float(v[key])
                if not 0 < val <= 600:
                    raise ValueError
            except (TypeError, ValueError):
                raise InventoryError(
                    f"{at}: {key} {v[key]!r} is not a number of seconds between 0 and 600; "
                    "write e.g. 3"
                ) from None
            v[key] = val
    prefixes = []
    for p in v.get("se_ipv6_prefixes") or []:
        try:
            prefixes.append(str(ipaddress.IPv6Network(str(p))))
        except ValueError:
            hint = ""
            with contextlib.suppress(ValueError):
                hint = f" (did you mean {ipaddress.IPv6Network(str(p), strict=False)}?)"
            raise InventoryError(
                f"{at}: se_ipv6_prefixes entry {p!r} is not an IPv6 network in CIDR form{hint}; "
                "write e.g. 2001:db8:1::/48"
            ) from None
    if "se_ipv6_prefixes" in v:
        v["se_ipv6_prefixes"] = prefixes
    for r in v.get("se_resolvers") or []:
        try:
            ipaddress.ip_address(r)
        except ValueError:
            raise InventoryError(
                f"{at}: se_resolvers entry {r!r} is not an IP address; list the DNS servers' "
                "addresses (e.g. [192.0.2.53, 2001:db8::53])"
            ) from None
    if v.get("se_os") not in (None, ""):
        norm = knowledge.normalise_os(str(v["se_os"]))
        if norm is None:
            raise InventoryError(
                f"{at}: se_os {v['se_os']!r} is not an OS family; use el6, el7, el8, el9 "
                "(sl6/sl7/centos7 are accepted aliases) or e.g. debian12, or remove it to detect the OS"
            )
        v["se_os"] = norm
    iface = v.get("se_external_interface")
    if iface is not None and not re.match(r"^[A-Za-z0-9_.:@-]{1,15}$", str(iface)):
        raise InventoryError(
            f"{at}: se_external_interface {iface!r} is not an interface name; write e.g. eth0"
        )
    if v.get("se_endpoints") is not None:
        v["se_endpoints"] = endpoints(at, v["se_endpoints"])
    if v.get("se_config_files") is not None:
        v["se_config_files"] = config_files(at, v["se_config_files"])
    if "se_families" in v:
        v["se_families"] = families(at, v["se_families"])
    cdir = v.get("se_certificates_dir")
    if cdir is not None and not (str(cdir).startswith("/") and "\n" not in str(cdir)):
        raise InventoryError(f"{at}: se_certificates_dir {cdir!r} must be an absolute directory, "
                             "e.g. /etc/grid-security/certificates")
    return v


PLAIN_PATH = re.compile(r"^/[A-Za-z0-9_./*?@+,<>\[\]-]+$")


def config_files(at: str, value: Any) -> dict[str, str]:
    """``se_config_files``: the storage data's path of a config file -> the host's path."""
    example = "{/var/lib/dcache/config/poolmanager.conf: /srv/dcache/poolmanager.conf}"
    if not isinstance(value, dict):
        raise InventoryError(f"{at}: se_config_files must be a mapping path: path, e.g. {example}")
    known = {f.path for name in knowledge.flavours() for f in knowledge.system(name).config_files}
    out = {}
    for key, path in value.items():
        if str(key) not in known:
            raise InventoryError(f"{at}: se_config_files names {key!r}, which is no config file of the "
                                 f"storage data; use one of: {', '.join(sorted(known))}")
        if not PLAIN_PATH.match(str(path)):
            raise InventoryError(f"{at}: se_config_files {key}: {path!r} is not an absolute path of plain "
                                 f"characters (no spaces, quotes or $), e.g. {example}")
        out[str(key)] = str(path)
    return out


FAMILY_ALIASES = {"ipv6": "ipv6", "ipv4": "ipv4", "6": "ipv6", "4": "ipv4", "inet6": "ipv6", "inet": "ipv4"}


def families(at: str, value: Any) -> list[str]:
    """``se_families``: the address families a host (or the site) serves, IPv6 first.

    ``[ipv6, ipv4]`` (the default) is dual-stack, ``[ipv6]`` IPv6-only; IPv4 alone is refused:
    the suite proves IPv6, and a host left out of the dual-stacking is what its IPv6 checks find.
    """
    names = []
    for x in value or []:
        name = FAMILY_ALIASES.get(str(x).strip().lower())
        if name is None:
            raise InventoryError(f"{at}: se_families entry {x!r} is not an address family; write "
                                 "[ipv6, ipv4] (dual-stack) or [ipv6] (IPv6-only)")
        names.append(name)
    if "ipv6" not in names:
        raise InventoryError(f"{at}: se_families {value!r} leaves out ipv6; the suite proves IPv6: "
                             "write [ipv6, ipv4] (dual-stack) or [ipv6] (IPv6-only)")
    return [n for n in ("ipv6", "ipv4") if n in names]


ENDPOINT_EXAMPLE = "[{name: door.example.org, protocols: [<protocol>], ports: {<protocol>: <port>}}]"


def endpoints(at: str, value: Any) -> list[dict[str, Any]]:
    """``se_endpoints``: service aliases (door/redirector names that are not inventory hosts),
    each tested per address like a host: name, protocols, optional ports and transfer_dir."""
    if not isinstance(value, list):
        raise InventoryError(f"{at}: se_endpoints must be a list of mappings, e.g. {ENDPOINT_EXAMPLE}")
    out = []
    for e in value:
        if not isinstance(e, dict) or not str(e.get("name") or "").strip() or \
                set(e) - {"name", "protocols", "ports", "transfer_dir"}:
            raise InventoryError(f"{at}: se_endpoints entry {e!r} needs a name and may have protocols, "
                                 f"ports and transfer_dir, e.g. {ENDPOINT_EXAMPLE}")
        ports = e.get("ports") or {}
        if not isinstance(ports, dict):
            raise InventoryError(f"{at}: se_endpoints {e['name']}: ports must be a mapping protocol: port")
        tdir = str(e.get("transfer_dir") or "")
        if tdir and not tdir.startswith("/"):
            raise InventoryError(f"{at}: se_endpoints {e['name']}: transfer_dir {tdir!r} must be absolute")
        out.append({"name": str(e["name"]).strip(),
                    "protocols": [str(p) for p in as_list(e.get("protocols"))],
                    "ports": {str(k): port(at, f"se_endpoints {e['name']} port", p)
                              for k, p in ports.items()},
                    "transfer_dir": tdir})
    return out


def port_range(at: str, key: str, value: Any) -> PortRange:
    """A port range ``FIRST-LAST``, or one line saying what is wrong with it."""
    try:
        return PortRange.parse(str(value).strip())
    except ValueError:
        raise InventoryError(
            f"{at}: {key} {value!r} is not a port range; write it as FIRST-LAST within 1-65535, "
            f"e.g. {knowledge.default_data_range()}"
        ) from None


def ranges(at: str, v: dict[str, Any]) -> dict[str, PortRange]:
    """Range label -> the site's range: ``se_service_ranges``, else an older variable that sets
    it (``se_gridftp_data_range`` for every GridFTP data range); unset ranges keep the data's."""
    raw = v.get("se_service_ranges") or {}
    labels = knowledge.range_labels()
    if not isinstance(raw, dict):
        raise InventoryError(f"{at}: se_service_ranges must be a mapping range: FIRST-LAST, "
                             f"e.g. {{{labels[0]}: {knowledge.default_data_range()}}}")
    out: dict[str, PortRange] = {}
    for name in knowledge.service_names():
        for d in knowledge.declared_ranges(name):
            if d.var and v.get(d.var) not in (None, ""):
                out[d.label] = port_range(at, d.var, v[d.var])
    for label, value in raw.items():
        if str(label) not in labels:
            raise InventoryError(f"{at}: se_service_ranges names unknown range {label!r}; use one of: "
                                 f"{', '.join(labels)}")
        out[str(label)] = port_range(at, f"se_service_ranges.{label}", value)
    return out


def services(at: str, v: dict[str, Any], role: str | None) -> list[Service]:
    """The host's services: ``se_services`` or the flavour's defaults for its role, with overrides
    of their ports, processes and ranges.

    A host whose role is not known gets none: only role-independent checks run on it.
    """
    known = knowledge.service_names()
    ports_raw = v.get("se_service_ports") or {}
    if not isinstance(ports_raw, dict):
        raise InventoryError(f"{at}: se_service_ports must be a mapping service: port, "
                             f"e.g. {{srm: {knowledge.service('srm').port}}}")
    ports = {str(k): port(at, f"se_service_ports.{k}", p) for k, p in ports_raw.items()}
    procs_raw = v.get("se_service_processes") or {}
    if not isinstance(procs_raw, dict):
        raise InventoryError(
            f"{at}: se_service_processes must be a mapping service: [process, ...], "
            "e.g. {gsiftp: [globus-gridftp-server]}"
        )
    procs = {str(k): [str(x) for x in as_list(p)] for k, p in procs_raw.items()}
    names = v.get("se_services")
    if names is None:
        names = knowledge.services_for(v["se_flavour"], role) if role else []
    custom = set(ports)  # a site may add a service of its own by giving its port
    for n in [*names, *ports, *procs]:
        if n not in known and n not in custom:
            raise InventoryError(
                f"{at}: unknown service {n!r}; use one of: {', '.join(known)} "
                "(or give a site-specific service its port in se_service_ports)"
            )
    site_ranges = ranges(at, v)
    out: list[Service] = []
    for n in names:
        if n in known:
            out.append(knowledge.service(n, ports.get(n), procs.get(n), site_ranges))
        else:
            out.append(Service(n, ports[n], tuple(procs.get(n, [])), False, n))
    return out


def build_host(at: str, name: str, role: str | None, merged: dict[str, Any],
               conn: Connection | None, role_source: str = "") -> SEHost:
    """Validate one host's merged variables and resolve its services from site knowledge."""
    v = validate(at, merged)
    data_range = port_range(at, "se_gridftp_data_range",
                            v.get("se_gridftp_data_range", knowledge.default_data_range()))
    v["se_gridftp_data_range"] = str(data_range)
    svcs = services(at, v, role)
    return SEHost(name=name, role=role, vars=v, services=svcs, data_range=data_range, connection=conn,
                  role_source=role_source)


def with_role(h: SEHost, role: str | None, source: str, flavour: str | None = None,
              found: dict[str, Any] | None = None) -> SEHost:
    """The same host with its role (and flavour) decided later, e.g. by detection on the host;
    ``found``: variables read on the host, under any the site gave (``--se-var``)."""
    merged = dict(h.vars)
    for key, value in (found or {}).items():
        merged.setdefault(key, value)
    if flavour:
        merged["se_flavour"] = flavour
    return build_host(f"host {h.name}", h.name, role, merged, h.connection, source)


def parse_assignments(items: list[str] | None, option: str, values: tuple[str, ...] = ()) -> dict[str, Any]:
    """``KEY=VALUE`` options (``--se-var``, ``--se-role``) -> a dict, values read as YAML.

    ``--se-var se_resolvers=[fd42::1, 10.0.0.1]`` gives a list, ``se_ssh_timeout=5`` a number;
    ``values`` limits what ``--se-role`` accepts.
    """
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise InventoryError(f"{option} {item!r}: write it as KEY=VALUE")
        if values:
            if raw.strip() not in values:
                raise InventoryError(f"{option} {item!r}: use {key}={'|'.join(values)}")
            out[key] = raw.strip()
            continue
        if not key.startswith("se_"):
            raise InventoryError(f"{option} {item!r}: only site variables (se_*) can be set this "
                                 "way; set connection variables in an inventory")
        try:
            out[key] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            out[key] = raw
    return out

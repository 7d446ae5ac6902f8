"""Site knowledge from ``data/knowledge.yml``: services per flavour and role, resolver tables.

Loaded once and validated, so a broken knowledge file fails loudly at start-up rather than as a
puzzling check failure on some host.
"""

from __future__ import annotations

import copy
import functools
import re
from importlib import resources
from typing import Any

import yaml

from se_dualstack.model import ROLES, PortRange, Service


@functools.cache
def load() -> dict[str, Any]:
    """The parsed knowledge file (cached; callers must not mutate it)."""
    text = resources.files("se_dualstack").joinpath("data/knowledge.yml").read_text()
    data = yaml.safe_load(text)
    _validate(data)
    return data


def _validate(data: Any) -> None:
    """Catch an inconsistent knowledge file (a flavour naming an undefined service, say)."""
    if not isinstance(data, dict):
        raise ValueError("se_dualstack/data/knowledge.yml: top level must be a mapping")
    known = set(data.get("services") or {})
    for flavour, roles in (data.get("flavours") or {}).items():
        for role in ROLES:
            for name in (roles or {}).get(role, []):
                if name not in known:
                    raise ValueError(
                        f"se_dualstack/data/knowledge.yml: flavour {flavour} {role} names "
                        f"undefined service {name!r}"
                    )
    PortRange.parse(str(data["gridftp_data_range"]))
    if not isinstance(data.get("defaults"), dict):
        raise ValueError("se_dualstack/data/knowledge.yml: defaults must be a mapping of variables")


def defaults() -> dict[str, Any]:
    """Defaults of the inventory variables (``defaults:``): a fresh copy each call.

    One mapping for the site checks and the transfers alike, so a default is never written twice.
    """
    return copy.deepcopy(dict(load()["defaults"]))


def flavours() -> list[str]:
    """Known SE flavours, sorted (for error messages and docs)."""
    return sorted(load()["flavours"])


def service_names() -> list[str]:
    """All service names the knowledge file defines, sorted."""
    return sorted(load()["services"])


def service(name: str, port: int | None = None, processes: list[str] | None = None) -> Service:
    """A known service, optionally with the port/processes a site overrides."""
    raw = load()["services"][name]
    return Service(
        name=name,
        port=int(port if port is not None else raw["port"]),
        processes=tuple(processes if processes is not None else raw.get("processes", [])),
        transfer=bool(raw.get("transfer", False)),
        title=str(raw.get("title", name)),
    )


def services_for(flavour: str, role: str) -> list[str]:
    """Service names a host of this flavour and role runs by default."""
    try:
        return list(load()["flavours"][flavour].get(role, []))
    except KeyError:
        raise KeyError(f"unknown flavour {flavour!r}; known: {', '.join(flavours())}") from None


def default_data_range() -> str:
    """The GridFTP data port range used when a site sets none."""
    return str(load()["gridftp_data_range"])


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

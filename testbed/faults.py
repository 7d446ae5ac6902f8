"""The fault catalogue: each entry is one thing an admin got wrong while dual-stacking a DPM.

The catalogue is data (``faults.yml`` beside this file): the story line, where the fault applies,
and which acceptance checks catch it, so a reader sees in one place which check catches which
mistake and the fault-catalogue test derives its expectations from the same entries.

Faults are named per host in the site file (``faults: [no_aaaa, ip6tables_close:443]``). The
modules that build a host (dns.py, osfiles.py, firewall.py, netns.py, the service engine) ask
:func:`has` / :func:`params` and change what they generate; nothing else knows about faults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CATALOGUE_FILE = Path(__file__).with_name("faults.yml")
APPLIES = ("dns", "net", "os", "fw", "svc")
PARAMS = {"port": "443", "service": "gsiftp"}  # parameter kind -> example for error messages
ENTRY_KEYS = {"applies", "story", "param", "only", "catches", "catches_on", "catches_with", "note",
              "catches_dns64", "catches_dependents"}
ONLY_KEYS = {"os", "role", "families"}


@dataclass(frozen=True)
class Fault:
    """One catalogue entry (see the header of faults.yml for the meaning of each key)."""

    name: str
    applies: str
    story: str
    catches: frozenset[str]
    param: str | None = None
    only_os: tuple[str, ...] = ()
    only_role: str | None = None
    catches_on: dict[str, frozenset[str]] = field(default_factory=dict)
    catches_with: dict[str, frozenset[str]] = field(default_factory=dict)
    note: str = ""
    only_families: tuple[str, ...] = ()
    catches_dns64: frozenset[str] | None = None
    catches_dependents: frozenset[str] = frozenset()


def _entry(name: str, raw: Any) -> Fault:
    where = f"{CATALOGUE_FILE.name}: fault {name}"
    if not isinstance(raw, dict) or set(raw) - ENTRY_KEYS:
        raise ValueError(f"{where}: a mapping with keys from {sorted(ENTRY_KEYS)}")
    if raw.get("applies") not in APPLIES or not raw.get("story") or "\n" in str(raw["story"]):
        raise ValueError(f"{where}: needs applies (one of {APPLIES}) and a one-line story")
    if raw.get("param") not in (None, *PARAMS):
        raise ValueError(f"{where}: param must be one of {sorted(PARAMS)}")
    only = raw.get("only") or {}
    if not isinstance(only, dict) or set(only) - ONLY_KEYS:
        raise ValueError(f"{where}: only may set {sorted(ONLY_KEYS)}")
    dns64 = raw.get("catches_dns64")
    return Fault(name, raw["applies"], str(raw["story"]), frozenset(raw.get("catches") or ()),
                 raw.get("param"), tuple(only.get("os") or ()), only.get("role"),
                 {str(k): frozenset(v) for k, v in (raw.get("catches_on") or {}).items()},
                 {str(k): frozenset(v) for k, v in (raw.get("catches_with") or {}).items()},
                 str(raw.get("note") or ""), tuple(only.get("families") or ()),
                 None if dns64 is None else frozenset(dns64),
                 frozenset(raw.get("catches_dependents") or ()))


def load(path: Path = CATALOGUE_FILE) -> dict[str, Fault]:
    """Read and validate the catalogue file."""
    raw = yaml.safe_load(path.read_text()) or {}
    return {name: _entry(name, entry) for name, entry in raw.items()}


CATALOGUE: dict[str, Fault] = load()


def split(fault: str) -> tuple[str, str | None]:
    """'ip6tables_close:443' -> ('ip6tables_close', '443')."""
    name, _, param = fault.partition(":")
    return name, (param or None)


def validate(faults: list[str], host: dict[str, Any]) -> None:
    """Raise ValueError with a one-line reason for an unknown or misplaced fault."""
    for f in faults:
        name, param = split(f)
        if name not in CATALOGUE:
            raise ValueError(f"unknown fault {f!r}; known: {', '.join(sorted(CATALOGUE))}")
        entry = CATALOGUE[name]
        if entry.param and not param:
            raise ValueError(f"fault {name} needs a parameter, e.g. {name}:{PARAMS[entry.param]}")
        if not entry.param and param:
            raise ValueError(f"fault {name} takes no parameter (got {f!r})")
        if entry.param == "port" and not (param or "").isdigit():
            raise ValueError(f"fault {f!r}: the parameter is a TCP port number")
        personality = host.get("personality", host.get("os"))
        if entry.only_os and personality not in entry.only_os:
            raise ValueError(f"fault {name} only applies to {'/'.join(entry.only_os)} hosts "
                             f"(this host is {personality})")
        if entry.only_role and host.get("role") != entry.only_role:
            role = {"headnode": "head node",
                    "issuer": "token issuer (site file: issuer: {faults: [...]})"}.get(entry.only_role)
            raise ValueError(f"fault {name} only applies to the {role or entry.only_role}")
        if host.get("role") == "issuer" and entry.only_role != "issuer":
            raise ValueError(f"the token issuer takes only issuer faults, not {name}")
        families = list(host.get("families") or ("ipv6", "ipv4"))
        if entry.only_families and families != list(entry.only_families):
            raise ValueError(f"fault {name} only applies to a host declared with families "
                             f"{list(entry.only_families)} (this host: {families})")


def catches(fault: str, host: dict[str, Any], site: dict[str, Any] | None = None) -> frozenset[str]:
    """The check ids that fault string ``fault`` makes fail on ``host`` (with ``site``: on a
    site whose suite machine resolves through DNS64, ``catches_dns64`` where the entry has it)."""
    name, param = split(fault)
    entry = CATALOGUE[name]
    if param is not None and param in entry.catches_with:
        return entry.catches_with[param]
    if site is not None and site.get("dns64") and entry.catches_dns64 is not None:
        return entry.catches_dns64
    return entry.catches_on.get(host.get("personality", host.get("os", "")), entry.catches)


def expected_failures(host: dict[str, Any], site: dict[str, Any] | None = None) -> frozenset[str]:
    """Union of the checks caught by every fault the host carries (empty: a healthy host). With
    ``site``, an SE host also fails what the token issuer's faults catch on every host that
    depends on it (``catches_dependents``: every SE host trusts the site's one issuer)."""
    out: frozenset[str] = frozenset()
    for f in host.get("faults", []):
        out = out | catches(f, host, site)
    issuer = (site or {}).get("issuer")
    if issuer and host.get("role") in ("headnode", "disknode"):
        for f in issuer.get("faults", []):
            out = out | CATALOGUE[split(f)[0]].catches_dependents
    return out


ALIAS_SHORT = "disks"  # fault alias_one_dead: <ALIAS_SHORT>.<domain> over every disk node
ALIAS_PROTOCOL, ALIAS_PORT = "root", 1094  # the alias's service, down over IPv6 on the faulty node


def endpoint_alias(site: dict[str, Any]) -> str | None:
    """The service alias the site publishes (fault alias_one_dead on some host), else None."""
    if any(has(h, "alias_one_dead") for h in site["hosts"]):
        return f"{ALIAS_SHORT}.{site['domain']}"
    return None


def has(host: dict[str, Any], name: str) -> bool:
    """True if the host carries fault ``name`` (with any parameter)."""
    return any(split(f)[0] == name for f in host.get("faults", []))


def params(host: dict[str, Any], name: str) -> list[str]:
    """All parameters given to a parametrised fault on this host."""
    return [p for f in host.get("faults", []) for n, p in [split(f)] if n == name and p]


def describe() -> str:
    """The catalogue as text for `python -m testbed faults`: story, then the checks that catch it."""
    out = []
    for f in CATALOGUE.values():
        name = f"{f.name}:<{f.param}>" if f.param else f.name
        where = ", ".join(filter(None, ["/".join(f.only_os), f.only_role or "",
                                        "declared " + "+".join(f.only_families) if f.only_families else ""]))
        out.append(f"{name:<30} [{f.applies}]{f' ({where} only)' if where else ''} {f.story}")
        if f.catches or not f.catches_dependents:
            out.append(f"{'':<30} caught by: {', '.join(sorted(f.catches)) or 'nothing'}")
        if f.catches_dependents:
            out.append(f"{'':<30} caught on every SE host that depends on it by: "
                       f"{', '.join(sorted(f.catches_dependents))}")
        extra = [*f.catches_on.items(), *f.catches_with.items()]
        if f.catches_dns64 is not None:
            extra.append(("behind DNS64", f.catches_dns64))
        for key, ids in extra:
            out.append(f"{'':<30}   {key}: {', '.join(sorted(ids))}")
        if f.note:
            out.append(f"{'':<30}   ({f.note})")
    return "\n".join(out)

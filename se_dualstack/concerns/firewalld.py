"""firewalld: zones as ``firewall-cmd --list-all-zones`` prints them, permanent vs runtime, and the
exact ``firewall-cmd`` commands that fix a finding.

Why: on EL9 the firewall is firewalld. What is in force is the runtime configuration (the nft
rules it generated, which :mod:`nft` evaluates); what survives a reload or reboot is the
permanent one. A port opened with ``firewall-cmd --add-port`` and never ``--permanent`` works
today and is gone tomorrow, so the two must agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from se_dualstack.concerns.firewall import PortSet

# keys whose values are compared; interfaces are left out on purpose: NetworkManager assigns
# the interface to its zone at runtime (connection.zone), the permanent zone never lists it
COMPARED = ("target", "icmp-block-inversion", "sources", "services", "ports", "protocols",
            "forward", "masquerade", "forward-ports", "source-ports", "icmp-blocks", "rich rules")
ADD_OPTION = {"services": "--add-service", "ports": "--add-port", "sources": "--add-source",
              "protocols": "--add-protocol", "source-ports": "--add-source-port",
              "icmp-blocks": "--add-icmp-block", "forward-ports": "--add-forward-port",
              "rich rules": "--add-rich-rule"}
Zones = dict[str, dict[str, frozenset[str]]]


def parse_zones(text: str) -> tuple[Zones, str]:
    """``firewall-cmd [--permanent] --list-all-zones`` -> (zone -> key -> values, default zone
    if marked). Values are whitespace-separated, except rich rules: one per line."""
    zones: Zones = {}
    default = ""
    zone = ""
    key = ""
    for raw in text.splitlines():
        if not raw.strip():
            continue
        if not raw[0].isspace():
            m = re.match(r"^(\S+)(?:\s+\((.*)\))?\s*$", raw)
            if not m:
                continue
            zone = m.group(1)
            zones[zone] = {}
            if m.group(2) and "default" in m.group(2):
                default = zone
            key = ""
            continue
        if not zone:
            continue
        line = raw.strip()
        m = re.match(r"^([a-z][a-z0-9 -]*):\s*(.*)$", line)
        if m and raw.startswith("  ") and not raw.startswith("\t"):
            key, value = m.group(1), m.group(2)
            zones[zone][key] = frozenset([value] if key == "rich rules" and value else value.split())
        elif key == "rich rules":  # continuation lines (tab-indented) of the rich rules
            zones[zone][key] = zones[zone].get(key, frozenset()) | {line}
    return zones, default


def zone_of(zones: Zones, iface: str, default: str) -> str:
    """The zone that handles traffic arriving on ``iface`` (its own zone, else the default)."""
    for name, z in zones.items():
        if iface in z.get("interfaces", frozenset()):
            return name
    return default or "public"


@dataclass(frozen=True)
class ZoneDiff:
    """One difference: zone, key, values only in runtime, values only in permanent."""

    zone: str
    key: str
    runtime_only: frozenset[str]
    permanent_only: frozenset[str]


def compare(permanent: Zones, runtime: Zones) -> list[ZoneDiff]:
    """What the runtime configuration has that the permanent lacks, and the reverse."""
    out = []
    for zone in sorted(set(permanent) | set(runtime)):
        p, r = permanent.get(zone, {}), runtime.get(zone, {})
        for key in COMPARED:
            pv, rv = p.get(key, frozenset()), r.get(key, frozenset())
            if pv != rv:
                out.append(ZoneDiff(zone, key, rv - pv, pv - rv))
    return out


def describe(diffs: list[ZoneDiff]) -> str:
    parts = []
    for d in diffs:
        if d.runtime_only:
            parts.append(f"zone {d.zone} {d.key} at runtime only (not --permanent): "
                         + ", ".join(sorted(d.runtime_only)))
        if d.permanent_only:
            parts.append(f"zone {d.zone} {d.key} permanent only (not loaded): "
                         + ", ".join(sorted(d.permanent_only)))
    return "; ".join(parts) or "no difference"


def fix_commands(diffs: list[ZoneDiff]) -> list[str]:
    """Make the permanent configuration hold what runs now; then load what only the permanent has."""
    cmds = []
    for d in diffs:
        opt = ADD_OPTION.get(d.key)
        for value in sorted(d.runtime_only):
            if opt:
                quoted = f"'{value}'" if " " in value else value
                cmds.append(f"firewall-cmd --permanent --zone={d.zone} {opt}={quoted}")
            else:
                cmds.append("firewall-cmd --runtime-to-permanent")
    if any(d.permanent_only for d in diffs):
        cmds.append("firewall-cmd --reload")
    return list(dict.fromkeys(cmds))


def port_specs(ports: PortSet) -> list[str]:
    """PortSet -> firewalld port specs: 22/tcp, 30000-30100/tcp."""
    return [f"{a}/tcp" if a == b else f"{a}-{b}/tcp" for a, b in ports.intervals]


def open_command(zone: str, ports: PortSet, family: int | None = None, source: str = "") -> str:
    """The command that opens ``ports`` in ``zone`` permanently and loads it. With ``family``
    (and ``source``), a rich rule for that family (peers limited to ``source``)."""
    if family is None and not source:
        adds = " ".join(f"--add-port={p}" for p in port_specs(ports))
        return f"firewall-cmd --permanent --zone={zone} {adds} && firewall-cmd --reload"
    fam = f' family="ipv{family}"' if family else ""
    src = f' source address="{source}"' if source else ""
    rules = []
    for a, b in ports.intervals:
        port = str(a) if a == b else f"{a}-{b}"
        rules.append(f"--add-rich-rule='rule{fam}{src} port port=\"{port}\" protocol=\"tcp\" accept'")
    return f"firewall-cmd --permanent --zone={zone} {' '.join(rules)} && firewall-cmd --reload"

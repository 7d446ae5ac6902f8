"""Which firewall a host runs, what it accepts per address family, and the fix in its own tool.

Why: the same checks (FW-01..04) hold on an SL6/EL7 host with iptables-services and on an EL9
host with firewalld or a plain nftables.conf, but what is in force, what is saved and the line
an admin pastes differ: ``ip6tables -I INPUT ...`` + ``service ip6tables save``,
``firewall-cmd --permanent --zone=public --add-port=... && firewall-cmd --reload``, or
``nft insert rule inet filter input ...`` + nftables.conf.

Kinds: ``firewalld`` (running), ``nftables`` (native nft tables that iptables did not make),
``iptables-nft`` / ``iptables-legacy`` (what ``iptables -V`` says), ``none``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from se_dualstack.concerns import firewalld, nft
from se_dualstack.concerns.firewall import Acceptance, PortSet, acceptance, combine
from se_dualstack.concerns.iptables import ip6tables_line, iptables_line, parse_iptables

KINDS = ("firewalld", "nftables", "iptables-nft", "iptables-legacy", "none")
NFT_CONF = "/etc/sysconfig/nftables.conf"


def detect(firewalld_state: str, nft_json: str, iptables_version: str) -> str:
    """The firewall in force, from ``firewall-cmd --state``, ``nft -j list ruleset`` and
    ``iptables -V`` (each may be empty when the tool is missing)."""
    if firewalld_state.strip() == "running":
        return "firewalld"
    try:
        native = nft.site_tables(nft.objects(nft_json))
    except ValueError:
        native = []
    if native:
        return "nftables"
    if "nf_tables" in iptables_version:
        return "iptables-nft"
    if "iptables" in iptables_version:
        return "iptables-legacy"  # EL6/EL7 print no backend: legacy
    return "none"


@dataclass
class HostFirewall:
    """A host's firewall as gathered once: kind, raw rule sets, firewalld zones."""

    kind: str
    nft_json: str = ""
    iptables: dict[int, list[str]] = field(default_factory=dict)  # family -> `-S` lines
    zone: str = ""  # firewalld: the zone of the external interface
    iface: str = ""  # the external interface (peers arrive there)
    permanent: firewalld.Zones = field(default_factory=dict)
    runtime: firewalld.Zones = field(default_factory=dict)

    def label(self) -> str:
        """How the report names it: ``firewalld (zone public)``, ``nftables``, ..."""
        return f"{self.kind} (zone {self.zone})" if self.kind == "firewalld" else self.kind

    def view(self, family: int) -> Acceptance:
        """What the input hook accepts over ``family``: every chain a packet must pass."""
        views: list[Acceptance] = []
        skip: list[tuple[str, str]] = []
        if self.kind.startswith("iptables") and family in self.iptables:
            views.append(acceptance(parse_iptables(self.iptables[family], self.iface)))
            if self.kind == "iptables-nft":  # its tables are what iptables -S just showed
                skip = [("ip6" if family == 6 else "ip", "filter")]
        views += [acceptance(rs) for rs in nft.parse(self.nft_json, family, skip, self.iface)]
        return combine(views)


_NFT_SOURCE = re.compile(r"^nft table (\S+) (\S+) chain (\S+)$")


def blocking_chain(view: Acceptance, ports: PortSet) -> tuple[str, str, str] | None:
    """(family, table, chain) of the first nft base chain that does not accept ``ports``."""
    first, last = ports.intervals[0]
    for part in view.parts or [view]:
        m = _NFT_SOURCE.match(part.source)
        if m and part.status(first, last)[0] != "open":
            return m.group(1), m.group(2), m.group(3)
    return None


def _nft_ports(ports: PortSet) -> str:
    items = [str(a) if a == b else f"{a}-{b}" for a, b in ports.intervals]
    return items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }"


def open_command(fw: HostFirewall, ports: PortSet, family: int, source: str = "") -> str:
    """The exact command that accepts ``ports`` over ``family`` (only for peers in ``source``
    if given), in the host's own firewall tool."""
    if fw.kind == "firewalld":
        if source:
            return firewalld.open_command(fw.zone or "public", ports, family, source)
        return firewalld.open_command(fw.zone or "public", ports)
    if fw.kind == "nftables":
        fam, table, chain = blocking_chain(fw.view(family), ports) or ("inet", "filter", "input")
        src = f"{'ip6' if family == 6 else 'ip'} saddr {source} " if source else ""
        return f"nft insert rule {fam} {table} {chain} {src}tcp dport {_nft_ports(ports)} accept"
    return ip6tables_line(ports, source) if family == 6 else iptables_line(ports)


def keep_hint(kind: str, family: int) -> str:
    """How the change survives a restart of the firewall or a reboot, per kind."""
    if kind == "firewalld":
        return "--permanent keeps it across reloads and reboots, --reload puts it in force"
    if kind == "nftables":
        return (f"add the same rule to {NFT_CONF} so it survives a reboot (one inet table "
                "serves IPv4 and IPv6 alike)")
    return f"save it: `service {'ip6tables' if family == 6 else 'iptables'} save`"

"""The el9-nft personality's firewall: plain nftables from /etc/sysconfig/nftables.conf.

What an EL9 site without firewalld runs: `nftables.service` loads /etc/sysconfig/nftables.conf,
one `inet` table whose input chain serves IPv4 and IPv6 alike. The text is written the way
`nft list ruleset` prints it back, so saved and live agree unless a fault says otherwise.
"""

from __future__ import annotations

from typing import Any

from testbed import faults
from testbed.hostenv import run_in, write_file

CONF = "/etc/sysconfig/nftables.conf"
LOAD_TIMEOUT = 15.0
SAVED_DIFFERS_PORT = 443  # nft_saved_differs: the saved file lacks this port's rule
HEADER = ("#!/usr/sbin/nft -f\n# SE firewall, loaded at boot by nftables.service "
          "(systemctl enable --now nftables)\n\nflush ruleset\n\n")


def _ports_expr(ports: list[int | str]) -> str:
    items = [str(p).replace(":", "-") for p in ports]
    return items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }"


def _input_chain(family_icmp: str, ports: list[int | str]) -> str:
    lines = ["\tchain input {", "\t\ttype filter hook input priority filter; policy drop;",
             "\t\tct state established,related accept", "\t\tct state invalid drop",
             '\t\tiifname "lo" accept', f"\t\t{family_icmp} accept", "\t\ttcp dport 22 accept"]
    se = [p for p in ports if p != 22]
    if se:
        lines.append(f"\t\ttcp dport {_ports_expr(se)} accept")
    return "\n".join(lines) + "\n\t}\n"


def _chains(family_icmp: str, ports: list[int | str]) -> str:
    return (_input_chain(family_icmp, ports) +
            "\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n\t}\n"
            "\n\tchain output {\n\t\ttype filter hook output priority filter; policy accept;\n\t}\n")


def ruleset(host: dict[str, Any], ports: list[int | str], saved: bool = False) -> str:
    """The nftables.conf text for the host's TCP ports (or 'A:B' ranges), faults applied."""
    if saved and faults.has(host, "nft_saved_differs"):
        ports = [p for p in ports if p != SAVED_DIFFERS_PORT]
    if faults.has(host, "nft_ip_table_only"):
        # the service rules went into an `ip` table; IPv6 gets only the generic rules
        return (HEADER + "table ip filter {\n" + _chains("meta l4proto icmp", ports) + "}\n\n"
                "table ip6 filter {\n" + _chains("meta l4proto ipv6-icmp", [22]) + "}\n")
    return HEADER + "table inet filter {\n" + _chains("meta l4proto { icmp, ipv6-icmp }", ports) + "}\n"


def apply(pid: int, host: dict[str, Any], ports: list[int | str]) -> None:
    """Load the live rule set as nftables.service would, and write the saved file."""
    run_in(pid, ["nft", "-f", "-"], input=ruleset(host, ports), timeout=LOAD_TIMEOUT)
    write_file(pid, CONF, ruleset(host, ports, saved=True), 0o600)

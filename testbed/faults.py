"""The fault catalogue: each entry is one thing an admin got wrong while dual-stacking a DPM.

Faults are named per host in the site file (``faults: [no_aaaa, ip6tables_close:443]``). The
modules that build a host (dns.py, osfiles.py, firewall.py, netns.py, the service engine) ask
:func:`has` / :func:`params` and change what they generate; nothing else knows about faults.
"""

from __future__ import annotations

from typing import Any

# name -> (applies to, one line: what the admin got wrong, in the story's terms)
CATALOGUE: dict[str, tuple[str, str]] = {
    "no_aaaa": (
        "dns", "IPv6 address assigned and configured, but nobody published the AAAA record "
        "(the IPv6 PTR is there)."),
    "aaaa_mismatch": (
        "dns", "the AAAA record points to an address that is not on the host (typo or stale "
        "allocation); A and both PTRs are right."),
    "no_ipv6_ptr": (
        "dns", "A, AAAA and the IPv4 PTR are published, the IPv6 reverse (PTR) record is missing."),
    "not_dual_stacked": (
        "net", "host left out of the dual-stacking (partial site): no IPv6 address, no AAAA, "
        "ifcfg without IPv6, IPv4-only firewall."),
    "ifcfg_no_ipv6init": (
        "os", "IPv6 works live but the saved config lacks IPV6INIT/DHCPV6C (el9: NetworkManager "
        "keyfile [ipv6] method=disabled): lost at the next reboot."),
    "hosts_no_ipv6_localhost": (
        "os", "/etc/hosts lacks the '::1 localhost localhost.localdomain localhost6 "
        "localhost6.localdomain6' line."),
    "gai_conf_empty": (
        "os", "SL6 /etc/gai.conf empty: globus does not work over IPv6 (FTS: could not open "
        "connection to <head>:8446)."),
    "gai_conf_partial": (
        "os", "SL6 /etc/gai.conf has only the first four label lines of the incantation "
        "(no ::ffff:0:0/96, no fc00::/7)."),
    "ip6tables_transfer_only": (
        "fw", "head node ip6tables opens only the transfer ports (gsiftp, xrootd, https) while "
        "iptables also opens SRM 8446, DPNS 5010, DPM 5015: DPM talking to itself over IPv6 fails."),
    "ip6tables_close": (
        "fw", "ip6tables_close:<port>: ip6tables (live and saved) rejects one service port that "
        "iptables opens."),
    "service_ipv4_only": (
        "svc", "service_ipv4_only:<service>: the service listens on IPv4 only (e.g. gsiftp before "
        "gai.conf was filled in on SL6)."),
    "ip6tables_saved_differs": (
        "fw", "ip6tables live rules were changed by hand and never saved: /etc/sysconfig/ip6tables "
        "lacks the https (443) rule the live set has."),
}
PARAMETRISED = {"ip6tables_close", "service_ipv4_only"}
SL6_ONLY = {"gai_conf_empty", "gai_conf_partial"}
HEAD_ONLY = {"ip6tables_transfer_only"}


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
        if name in PARAMETRISED and not param:
            raise ValueError(f"fault {name} needs a parameter, e.g. {name}:" +
                             ("443" if name == "ip6tables_close" else "gsiftp"))
        if name not in PARAMETRISED and param:
            raise ValueError(f"fault {name} takes no parameter (got {f!r})")
        if name == "ip6tables_close" and not (param or "").isdigit():
            raise ValueError(f"fault {f!r}: the parameter is a TCP port number")
        if name in SL6_ONLY and host.get("os") != "sl6":
            raise ValueError(f"fault {name} only applies to sl6 hosts (gai.conf matters on SL6 only)")
        if name in HEAD_ONLY and host.get("role") != "headnode":
            raise ValueError(f"fault {name} only applies to the head node")


def has(host: dict[str, Any], name: str) -> bool:
    """True if the host carries fault ``name`` (with any parameter)."""
    return any(split(f)[0] == name for f in host.get("faults", []))


def params(host: dict[str, Any], name: str) -> list[str]:
    """All parameters given to a parametrised fault on this host."""
    return [p for f in host.get("faults", []) for n, p in [split(f)] if n == name and p]


def describe() -> str:
    """The catalogue as text for `python -m testbed faults`."""
    return "\n".join(f"{n:<26} [{kind}] {text}" for n, (kind, text) in CATALOGUE.items())

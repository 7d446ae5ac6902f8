"""Saved network configuration (ifcfg, NetworkManager) and live IPv6 state of an interface.

Why both: an address added by hand works until the next reboot; a config edited but never
applied does nothing yet. The checks read the saved file and the live state separately, and
:func:`saved_vs_live` says which of the two situations a host is in.
"""

from __future__ import annotations

import configparser
import ipaddress
import json
import shlex
from dataclasses import dataclass

# initscripts' is_true() / NetworkManager's ifcfg-rh svGetValueBoolean accept these as "yes"
TRUE_WORDS = {"yes", "y", "true", "t", "on", "1"}


# --------------------------------------------------------------------------- ifcfg

def parse_ifcfg(text: str) -> dict[str, str]:
    """Parse a shell-style ifcfg file: KEY=value, quotes, comments, ``export``."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        if line.startswith("export "):
            line = line[len("export "):].strip()
        key, _, value = line.partition("=")
        key = key.strip()
        if not key.replace("_", "").isalnum():
            continue
        try:
            words = shlex.split(value, comments=True)
        except ValueError:
            words = [value.strip().strip("\"'")]
        out[key] = words[0] if words else ""
    return out


def is_true(value: str | None) -> bool:
    return (value or "").strip().lower() in TRUE_WORDS


@dataclass(frozen=True)
class SavedIPv6:
    """Does the saved configuration bring IPv6 up on the interface?"""

    enabled: bool
    observed: str  # what the file says, for the message
    missing: tuple[str, ...] = ()  # lines to add (ifcfg) / settings to change (NM)


def ifcfg_ipv6(values: dict[str, str]) -> SavedIPv6:
    """EL6/EL7: IPV6INIT=yes and an address source (DHCPV6C=yes, IPV6ADDR, or IPV6_AUTOCONF=yes)."""
    shown = " ".join(f"{k}={values[k]}" for k in ("IPV6INIT", "DHCPV6C", "IPV6ADDR", "IPV6_AUTOCONF")
                     if k in values) or "no IPV6INIT, DHCPV6C, IPV6ADDR or IPV6_AUTOCONF"
    missing = []
    if not is_true(values.get("IPV6INIT")):
        missing.append("IPV6INIT=yes")
    source = (is_true(values.get("DHCPV6C")) or bool(values.get("IPV6ADDR", "").strip())
              or is_true(values.get("IPV6_AUTOCONF")))
    if not source:
        missing.append("DHCPV6C=yes")
    return SavedIPv6(not missing, shown, tuple(missing))


# --------------------------------------------------------------------------- NetworkManager

@dataclass(frozen=True)
class NMProfile:
    """The parts of a NetworkManager connection profile the checks need."""

    name: str  # connection.id (file stem when absent)
    interface: str  # connection.interface-name ("" = any)
    ipv6_method: str  # auto, dhcp, manual, link-local, ignore, disabled, shared
    source: str  # file path or "nmcli"


DISABLING_METHODS = {"disabled", "ignore"}


def parse_keyfile(text: str, path: str = "") -> NMProfile:
    """Parse a ``.nmconnection`` keyfile (GLib key file: ``#`` comments, ``[section]``)."""
    cp = configparser.ConfigParser(interpolation=None, strict=False, comment_prefixes=("#",),
                                   inline_comment_prefixes=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read_string(text)
    stem = path.rsplit("/", 1)[-1].removesuffix(".nmconnection")
    name = cp.get("connection", "id", fallback=stem)
    iface = cp.get("connection", "interface-name", fallback="")
    # no [ipv6] section: NetworkManager normalises the profile to method=auto
    method = cp.get("ipv6", "method", fallback="auto").strip().lower()
    return NMProfile(name, iface, method, path)


def parse_nmcli_field(text: str, field_name: str = "ipv6.method") -> str | None:
    """``nmcli -t -f ipv6.method connection show NAME`` -> ``auto`` (terse ``key:value``)."""
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == field_name:
            return value.strip().lower()
    return None


def nm_ipv6(profiles: list[NMProfile], iface: str) -> SavedIPv6:
    """EL8+: the profile(s) bound to ``iface`` must not disable IPv6."""
    mine = [p for p in profiles if p.interface == iface]
    if not mine:
        return SavedIPv6(False, f"no NetworkManager profile with interface-name={iface}",
                         (f"nmcli connection add type ethernet ifname {iface} con-name {iface} "
                          "ipv6.method auto",))
    bad = [p for p in mine if p.ipv6_method in DISABLING_METHODS]
    shown = "; ".join(f"{p.name} ({p.source}): ipv6.method={p.ipv6_method}" for p in mine)
    if bad:
        return SavedIPv6(False, shown, tuple(f"nmcli connection modify '{p.name}' ipv6.method auto"
                                              for p in bad))
    return SavedIPv6(True, shown)


# --------------------------------------------------------------------------- live state

@dataclass(frozen=True)
class LiveIPv6:
    """Global IPv6 addresses on the interface (from ``ip -j addr show IFACE``)."""

    global_addresses: tuple[str, ...]
    all_ipv6: tuple[str, ...]

    @property
    def has_global(self) -> bool:
        return bool(self.global_addresses)


@dataclass(frozen=True)
class IfAddress:
    """One address of ``ip -j addr``: family (4 or 6), address, prefix length, scope, interface."""

    family: int
    address: str
    prefixlen: int
    scope: str
    ifname: str
    dadfailed: bool = False

    def __str__(self) -> str:
        return f"{self.address}/{self.prefixlen} on {self.ifname}"


def ip_addresses(text: str) -> list[IfAddress]:
    """Every address of ``ip -j addr show [dev IFACE]`` (both families), in the kernel's order;
    ``ip -o addr show`` text too (EL6/EL7's iproute has no ``-j``)."""
    text = (text or "").strip()
    if text and not text.startswith("["):
        return _ip_o_addresses(text)
    out = []
    for link in json.loads(text or "[]"):
        for a in link.get("addr_info", []):
            if a.get("family") not in ("inet", "inet6") or "local" not in a:
                continue
            out.append(IfAddress(6 if a["family"] == "inet6" else 4, str(a["local"]),
                                 int(a.get("prefixlen", 0)), str(a.get("scope", "")),
                                 str(link.get("ifname", "")), bool(a.get("dadfailed"))))
    return out


def _ip_o_addresses(text: str) -> list[IfAddress]:
    """``ip -o addr show``: ``2: eth0    inet6 fd42::10/64 scope global nodad ...`` a line."""
    out = []
    for line in text.splitlines():
        words = line.split()
        if len(words) < 4 or words[2] not in ("inet", "inet6") or "/" not in words[3]:
            continue
        addr, _, plen = words[3].partition("/")
        scope = words[words.index("scope") + 1] if "scope" in words[:-1] else ""
        out.append(IfAddress(6 if words[2] == "inet6" else 4, addr, int(plen or 0), scope,
                             words[1].split("@", 1)[0], "dadfailed" in words))
    return out


def parse_ip_addr_json(text: str) -> LiveIPv6:
    """Global-scope, usable IPv6 addresses (not tentative after DAD failure, not deprecated-only)."""
    glob, every = [], []
    for a in ip_addresses(text):
        if a.family != 6:
            continue
        every.append(f"{a.address}/{a.prefixlen} scope {a.scope}")
        if a.scope == "global" and not a.dadfailed:
            glob.append(a.address)
    return LiveIPv6(tuple(glob), tuple(every))


def is_global_ipv6(address: str) -> bool:
    """Not link-local, loopback or multicast (ULA counts: the site decides with its prefixes)."""
    ip = ipaddress.IPv6Address(address)
    return not (ip.is_link_local or ip.is_loopback or ip.is_multicast or ip.is_unspecified)


def parse_default_routes(text: str) -> list[str]:
    """``ip -6 route show default`` (text, any iproute2) or its ``-j`` JSON -> route lines."""
    text = (text or "").strip()
    if text.startswith("["):
        out = []
        for r in json.loads(text):
            via = f" via {r['gateway']}" if r.get("gateway") else ""
            out.append(f"{r.get('dst', 'default')}{via} dev {r.get('dev', '?')}")
        return out
    return [ln.strip() for ln in text.splitlines() if ln.split()[:1] == ["default"]]


# --------------------------------------------------------------------------- saved vs live

def saved_vs_live(saved_enabled: bool, live_global: bool) -> tuple[bool, str]:
    """Agreement between the saved config and the live state, with the consequence when not."""
    if saved_enabled and not live_global:
        return False, ("saved configuration enables IPv6 but the interface has no global IPv6 "
                       "address: the change was not applied (restart the interface)")
    if live_global and not saved_enabled:
        return False, ("the interface has a global IPv6 address but the saved configuration does "
                       "not enable IPv6: it will be lost at the next reboot")
    if saved_enabled:
        return True, "saved configuration and live state both have IPv6"
    return True, "neither saved configuration nor live state has IPv6 (reported by the other checks)"


# --------------------------------------------------------------------------- source address

GLOBAL_PROBE = "2001:db8::1"  # any global destination: the kernel's choice, no packet is sent


def parse_route_get_src(text: str) -> str | None:
    """``ip -6 route get DEST`` -> the ``src`` address the kernel would speak from."""
    words = (text or "").split()
    for i, w in enumerate(words[:-1]):
        if w == "src":
            return words[i + 1]
    return None


def parse_addr_flags(text: str) -> dict[str, tuple[str, ...]]:
    """``ip -6 addr show dev IFACE`` (text, any iproute2, EL6 too) -> {address: flags}."""
    out: dict[str, tuple[str, ...]] = {}
    for line in (text or "").splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "inet6":
            out[words[1].split("/", 1)[0]] = tuple(words[2:])
    return out


def temporary_addresses(flags: dict[str, tuple[str, ...]]) -> list[str]:
    """Addresses carrying the ``temporary`` (RFC 4941 privacy) flag."""
    return [a for a, f in flags.items() if "temporary" in f]


def route_get_script(destinations: list[str]) -> str:
    """One shell command asking the kernel's source address toward each destination (one ssh
    round trip for a whole site; the destinations are IP literals, checked here)."""
    dests = " ".join(str(ipaddress.ip_address(d)) for d in destinations)
    return f'for d in {dests}; do echo "== $d"; ip -6 route get "$d" 2>&1; done'


def parse_route_get_many(text: str) -> dict[str, str | None]:
    """Output of :func:`route_get_script` -> {destination: source address or None}."""
    out: dict[str, str | None] = {}
    dest = None
    for line in (text or "").splitlines():
        if line.startswith("== "):
            dest = line[3:].strip()
            out[dest] = None
        elif dest is not None and out[dest] is None:
            out[dest] = parse_route_get_src(line)
    return out


@dataclass(frozen=True)
class SourceVerdict:
    """Is the kernel's IPv6 source address the published one, with no privacy address?"""

    ok: bool
    observed: str
    fix_kind: str  # "privacy" (temporary addresses / use_tempaddr) or "src" (route source)


def source_address(sources: dict[str, str], published: list[str], temporary: list[str],
                   use_tempaddr: str | None, iface: str) -> SourceVerdict:
    """``sources``: destination label -> the source address the kernel picks toward it.

    Why it matters: peers check the client's address (reverse DNS, ACLs, GSI), so a host that
    speaks from an address not in DNS fails as a TPC client (the other SE hosts are among the
    destinations: what they see) although every listener on the published address is right.
    """
    problems = []
    same = {_norm(a) for a in published}
    wrong: dict[str, list[str]] = {}
    for dest, src in sources.items():
        if _norm(src) not in same:
            wrong.setdefault(src, []).append(dest)
    for src, dests in wrong.items():
        kind = "a temporary (privacy) address" if src in temporary else "an address not in DNS"
        problems.append(f"the kernel speaks from {src} ({kind}) to {', '.join(dests)}, "
                        f"not from the published AAAA {', '.join(published)}")
    if temporary:
        problems.append(f"temporary address(es) {', '.join(temporary)} on {iface}")
    if use_tempaddr not in (None, "0"):
        problems.append(f"net.ipv6.conf.{iface}.use_tempaddr={use_tempaddr}")
    if not problems:
        return SourceVerdict(True, f"source {', '.join(sorted(set(sources.values())))} toward "
                                   f"{', '.join(sources)} is the published AAAA; no temporary "
                                   f"address; use_tempaddr={use_tempaddr}", "")
    privacy = bool(temporary) or use_tempaddr not in (None, "0") or any(s in temporary for s in wrong)
    return SourceVerdict(False, "; ".join(problems), "privacy" if privacy else "src")


def _norm(address: str) -> str:
    try:
        return str(ipaddress.IPv6Address(address))
    except ValueError:
        return address

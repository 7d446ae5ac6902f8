"""Address families as facts: what a site declares, what a machine has, what DNS64 made up.

Why: a site moving to IPv6-only asks two questions the dual-stack checks cannot answer. Run from
a client with no IPv4, every IPv4 item would read as a fault of the SE; and behind a DNS64
resolver an AAAA may be synthesized from the A record (RFC 6147), so "reached over IPv6" only
proves that the NAT64 gateway works. This module is the pure logic: the declared families of a
host (``se_families``), the addresses and default routes of a machine (``ip -j``, or /proc where
iproute2 is missing), the NAT64 prefix a resolver uses (RFC 7050: the AAAA of ``ipv4only.arpa``)
and the IPv4 address embedded in a synthesized AAAA (RFC 6052 section 2.2).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from se_dualstack.concerns import services as listening
from se_dualstack.concerns.interfaces import IfAddress, ip_addresses, parse_default_routes

FAMILY_NAMES = {"ipv6": 6, "ipv4": 4}
DEFAULT_FAMILIES = ("ipv6", "ipv4")
DECLARED_IPV6_ONLY = "declared IPv6-only in the inventory (se_families: [ipv6])"

# RFC 6052 section 2.1 / RFC 7050: the well-known prefix, the name whose A records are known,
# and those records (192.0.0.170 and .171), found inside its AAAA to learn a resolver's prefix.
WELL_KNOWN_PREFIX = "64:ff9b::/96"
IPV4ONLY_ARPA = "ipv4only.arpa"
IPV4ONLY_ADDRESSES = ("192.0.0.170", "192.0.0.171")
# Prefix lengths RFC 6052 allows, most common first (the order prefixes are tried in).
NAT64_LENGTHS = (96, 64, 56, 48, 40, 32)


def declared(value: Any) -> tuple[int, ...]:
    """``se_families`` (already validated by sitevars) -> families as numbers, IPv6 first."""
    names = [str(x).lower() for x in (value or DEFAULT_FAMILIES)]
    return tuple(FAMILY_NAMES[n] for n in DEFAULT_FAMILIES if n in names)


def ipv6_only(vars_: Mapping[str, Any]) -> bool:
    """The inventory declares the host IPv6-only (no IPv4 wanted on it)."""
    return 4 not in declared(vars_.get("se_families"))


# --------------------------------------------------------------------------- NAT64 prefixes


def embedded_ipv4(address: str, prefixlen: int) -> str:
    """The IPv4 address RFC 6052 embeds after a prefix of ``prefixlen`` bits (bits 64-71 skipped)."""
    raw = ipaddress.IPv6Address(address).packed
    start = prefixlen // 8
    octets = [raw[i] for i in range(start, 16) if i != 8][:4]
    return str(ipaddress.IPv4Address(bytes(octets)))


def nat64_prefixes(ipv4only_aaaa: Iterable[str]) -> list[str]:
    """The NAT64 prefixes a DNS64 resolver revealed in its AAAA answer for ipv4only.arpa.

    RFC 7050 section 3: the prefix is where one of the well-known IPv4 addresses sits, at one of
    the lengths RFC 6052 allows.
    """
    out: list[str] = []
    for a in ipv4only_aaaa:
        for plen in NAT64_LENGTHS:
            if embedded_ipv4(a, plen) in IPV4ONLY_ADDRESSES:
                net = str(ipaddress.IPv6Network(f"{a}/{plen}", strict=False))
                if net not in out:
                    out.append(net)
                break
    return out


@dataclass(frozen=True)
class Synthesized:
    """An AAAA made by DNS64: the prefix it lies in and the IPv4 address it carries."""

    address: str
    prefix: str
    ipv4: str


def synthesized(address: str, prefixes: Iterable[str]) -> Synthesized | None:
    """The NAT64 prefix ``address`` lies in (and its embedded IPv4), else None (a native AAAA)."""
    ip = ipaddress.IPv6Address(address)
    for p in prefixes:
        net = ipaddress.IPv6Network(p, strict=False)
        if ip in net:
            return Synthesized(str(ip), str(net), embedded_ipv4(address, net.prefixlen))
    return None


# --------------------------------------------------------------------------- a machine's families


def _usable(a: IfAddress) -> bool:
    """An address a peer elsewhere could talk to: not loopback, not link-local, not failed DAD."""
    ip = ipaddress.ip_address(a.address)
    return not (ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified
                or a.dadfailed or a.scope == "host")


@dataclass(frozen=True)
class MachineNet:
    """A machine's addresses and default routes per family, as its kernel reports them.

    ``source`` names where they were read (``ip -j``, ``/proc``); with ``error`` and no
    addresses nothing is known, and :meth:`has` answers True for both families (the suite then
    tries, as it did before it looked).
    """

    addresses: tuple[IfAddress, ...] = ()
    routes: tuple[tuple[int, str], ...] = ()  # (family, "default via X dev Y")
    source: str = ""
    error: str = ""

    @property
    def known(self) -> bool:
        return bool(self.addresses) or not self.error

    def usable(self, family: int) -> list[IfAddress]:
        return usable(self.addresses, family)

    def default_routes(self, family: int) -> list[str]:
        return [r for f, r in self.routes if f == family]

    def has(self, family: int) -> bool:
        """An address of ``family`` a remote host could answer (a route alone is not enough)."""
        return not self.known or bool(self.usable(family))

    @property
    def label(self) -> str:
        """``dual-stack``, ``IPv6-only``, ``IPv4-only``, ``no network`` or ``not known``."""
        if not self.known:
            return "not known"
        has6, has4 = bool(self.usable(6)), bool(self.usable(4))
        return {(True, True): "dual-stack", (True, False): "IPv6-only", (False, True): "IPv4-only",
                (False, False): "without a usable address"}[(has6, has4)]

    def family_text(self, family: int) -> str:
        addrs = ", ".join(str(a) for a in self.usable(family))
        routes = "; ".join(r.removeprefix("default ") for r in self.default_routes(family))
        if not addrs:
            return f"no IPv{family} address" + (f" (default route {routes})" if routes else
                                                 f", no IPv{family} default route")
        return f"IPv{family} {addrs}; " + (f"default route {routes}" if routes
                                           else f"no IPv{family} default route")

    def details(self) -> str:
        """Each family's addresses and default routes, and where they were read."""
        if not self.known:
            return f"not known ({self.error})"
        return f"{self.family_text(6)}; {self.family_text(4)} (read from {self.source})"

    def describe(self) -> str:
        """One line for the report header: the label, then :meth:`details`."""
        return f"{self.label}: {self.details()}" if self.known else self.details()


def machine_from_ip(addr_json: str, route4: str, route6: str) -> MachineNet:
    """From ``ip -j addr show`` and ``ip -j -4/-6 route show default`` (or their text forms)."""
    routes = [(4, r) for r in parse_default_routes(route4)] + [(6, r) for r in parse_default_routes(route6)]
    return MachineNet(tuple(ip_addresses(addr_json)), tuple(routes), "ip addr, ip route")


def proc_if_inet6(text: str) -> list[IfAddress]:
    """``/proc/net/if_inet6``: address (32 hex digits), ifindex, prefix length, scope, flags, name."""
    scopes = {"00": "global", "20": "link", "10": "host", "40": "site"}
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 6 or len(f[0]) != 32:
            continue
        addr = str(ipaddress.IPv6Address(bytes.fromhex(f[0])))
        out.append(IfAddress(6, addr, int(f[2], 16), scopes.get(f[3], f[3]), f[5]))
    return out


def proc_fib_trie_local(text: str) -> list[IfAddress]:
    """IPv4 addresses of the machine from ``/proc/net/fib_trie`` (``/32 host LOCAL`` leaves)."""
    out: list[IfAddress] = []
    last = ""
    for line in text.splitlines():
        words = line.replace("|--", " ").replace("+--", " ").split()
        if len(words) == 1 and words[0].count(".") == 3:
            last = words[0]
        elif words[:3] == ["/32", "host", "LOCAL"] and last and all(a.address != last for a in out):
            out.append(IfAddress(4, last, 32, "host" if last.startswith("127.") else "global", ""))
    return out


def proc_default_routes(route4: str, route6: str) -> list[tuple[int, str]]:
    """Default routes from ``/proc/net/route`` (hex, little-endian) and ``/proc/net/ipv6_route``."""
    out: list[tuple[int, str]] = []
    for line in route4.splitlines()[1:]:
        f = line.split()
        if len(f) > 2 and f[1] == "00000000":
            gw = str(ipaddress.IPv4Address(bytes.fromhex(f[2])[::-1]))
            out.append((4, f"default via {gw} dev {f[0]}"))
    for line in route6.splitlines():
        f = line.split()
        if len(f) == 10 and f[0] == "0" * 32 and f[1] == "00" and f[9] != "lo":
            gw = str(ipaddress.IPv6Address(bytes.fromhex(f[4])))
            out.append((6, f"default via {gw} dev {f[9]}"))
    return out


# --------------------------------------------------------------------------- IPv4 really gone


def usable(addresses: Iterable[IfAddress], family: int) -> list[IfAddress]:
    """The addresses of ``family`` a peer could reach (loopback and link-local left out)."""
    return [a for a in addresses if a.family == family and _usable(a)]


def ipv4_listeners(listeners: list[listening.Listener], bindv6only: int) -> list[str]:
    """Each port that accepts IPv4 connections, with the socket that does (``ss`` semantics).

    Only meaningful with an IPv4 address on the host: a wildcard or dual-stack socket on a host
    without one has nothing to be reached at over IPv4.
    """
    out = []
    for port in sorted({x.port for x in listeners if not x.loopback}):
        v = listening.listening_on(listeners, port, 4, bindv6only)
        if v.ok:
            owners = ", ".join(listening.owners(listeners, port)) or "unknown process"
            out.append(f"TCP {port} ({owners}): {v.detail}")
    return out

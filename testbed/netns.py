"""Network namespaces: the site's bridge namespace and one namespace per host.

The bridge lives in its own namespace ``<name>-site``, so the machine's root namespace is never
touched (no bridge, no address, no route, no firewall rule there). Each host gets a veth pair:
``eth0`` inside the host, ``v<index>`` (short, index-based: interface names max 15 chars) on
the bridge. Addresses are static and added with ``nodad`` (and accept_dad=0) so they are usable
at once: no sleeps.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from testbed import faults
from testbed.site import members

IP_TIMEOUT = 20.0
NETNS_DIR = Path("/run/netns")


class NetError(RuntimeError):
    """A namespace or link operation failed; the message carries ip's own error."""


def _ip_batch(lines: list[str], ns: str | None = None) -> None:
    """Run many `ip` commands in one process (one fork instead of dozens)."""
    argv = ["ip", "-force"] + (["-n", ns] if ns else []) + ["-batch", "-"]
    res = subprocess.run(argv, input="\n".join(lines) + "\n", capture_output=True, text=True,
                         timeout=IP_TIMEOUT)
    if res.returncode != 0:
        raise NetError(f"ip {'-n ' + ns if ns else ''} batch failed: {res.stderr.strip()}")


def site_ns(name: str) -> str:
    """Name of the namespace holding the bridge and dnsmasq."""
    return f"{name}-site"


def list_namespaces(name: str) -> list[str]:
    """Every namespace of testbed ``name`` (names cannot contain '-', so the prefix is exact)."""
    try:
        entries = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    return sorted(e for e in entries if e.startswith(f"{name}-"))


def create(site: dict[str, Any]) -> None:
    """Create the site namespace with bridge and DNS addresses, host namespaces and veth pairs."""
    sns = site_ns(site["name"])
    hosts = members(site)
    _ip_batch([f"netns add {sns}", *(f"netns add {h['ns']}" for h in hosts)])
    _set_sysctls(sns, {"net/ipv6/conf/all/accept_dad": "0", "net/ipv6/conf/default/accept_dad": "0"})
    lines = [
        "link set lo up",
        "link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0",
        f"addr add {site['dns']['ipv4']}/{site['ipv4_prefixlen']} dev br0",
        f"addr add {site['dns']['ipv6']}/{site['ipv6_prefixlen']} dev br0 nodad",
        "link set br0 up",
    ]
    if site.get("dns64"):  # the DNS64 resolver's own address beside dnsmasq's (testbed/dns64.py)
        lines.append(f"addr add {site['dns64']['address']}/{site['ipv6_prefixlen']} dev br0 nodad")
    if site.get("nat64"):  # the site namespace is the gateway: it routes to the NAT64 (nat64.py)
        _set_sysctls(sns, {"net/ipv4/ip_forward": "1", "net/ipv6/conf/all/forwarding": "1"})
    for h in hosts:
        lines += [f"link add {h['ifname']} type veth peer name eth0 netns {h['ns']}",
                  f"link set {h['ifname']} master br0 up"]
    _ip_batch(lines, sns)


def _set_sysctls(ns: str, values: dict[str, str]) -> None:
    """Write sysctls inside a namespace (one process for all of them)."""
    script = "; ".join(f"echo '{v}' > /proc/sys/{k}" for k, v in values.items())
    res = subprocess.run(["ip", "netns", "exec", ns, "sh", "-c", script], capture_output=True,
                         text=True, timeout=IP_TIMEOUT)
    if res.returncode != 0:
        raise NetError(f"sysctl in {ns} failed: {res.stderr.strip()}")


def configure_host(site: dict[str, Any], host: dict[str, Any]) -> None:
    """Addresses and default routes of each family the host has on its eth0 (no IPv4 on an
    IPv6-only host, no IPv6 on one not dual-stacked). The host's init has set accept_dad=0."""
    lines = ["link set lo up", "link set eth0 up"]
    if host["ipv4"]:
        lines += [f"addr add {host['ipv4']}/{site['ipv4_prefixlen']} dev eth0",
                  f"route add default via {site['dns']['ipv4']} dev eth0"]
    if host["has_ipv6"]:
        lines += [f"addr add {host['ipv6']}/{site['ipv6_prefixlen']} dev eth0 nodad",
                  f"route add default via {site['dns']['ipv6']} dev eth0"]
    _ip_batch(lines, host["ns"])
    if host["has_ipv6"] and faults.has(host, "temporary_source"):
        add_second_source(host, site)


def route_into(ns: str, dev: str, prefixes: list[str]) -> None:
    """Bring a device of namespace ``ns`` up and route the prefixes into it (the NAT64's TUN)."""
    _ip_batch([f"link set {dev} up", *(f"route add {p} dev {dev}" for p in prefixes)], ns)


def second_source(site: dict[str, Any], host: dict[str, Any]) -> str:
    """The non-DNS address a host with fault temporary_source speaks from."""
    return str(ipaddress.IPv6Network(site["ipv6_prefix"]).network_address + 0x5CE0000 + host["index"])


def add_second_source(host: dict[str, Any], site: dict[str, Any]) -> None:
    """Fault temporary_source: a second address on eth0, made the default route's source."""
    src = second_source(site, host)
    _ip_batch([f"addr add {src}/{site['ipv6_prefixlen']} dev eth0 nodad",
               f"route replace default via {site['dns']['ipv6']} dev eth0 src {src}"], host["ns"])


def remove_ipv6(host: dict[str, Any], site: dict[str, Any]) -> None:
    """Take the host's IPv6 address away (fault not_dual_stacked applied by hand)."""
    _ip_batch([f"route del default via {site['dns']['ipv6']} dev eth0",
               f"addr del {host['ipv6']}/{site['ipv6_prefixlen']} dev eth0"], host["ns"])


def ns_pids(ns: str) -> list[int]:
    """PIDs of every process whose network namespace is ``ns`` (after a crash: the leftovers)."""
    res = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=IP_TIMEOUT)
    return [int(p) for p in res.stdout.split() if p.isdigit()]


def kill_ns_processes(namespaces: list[str], timeout: float = 5.0) -> list[int]:
    """SIGKILL every process in the namespaces and wait (bounded) until they are gone.

    Killing a host's init (PID 1 of its PID namespace) takes all that host's processes with it;
    the rest (nsenter wrappers, dnsmasq in the site namespace) are killed directly."""
    pids: list[int] = []
    for ns in namespaces:
        pids += ns_pids(ns)
    for p in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    left = pids
    while left and time.monotonic() < deadline:
        left = [p for p in left if _exists(p)]
        if left:
            time.sleep(0.01)
    return left


def _exists(pid: int) -> bool:
    """Process exists and is not a zombie (zombies hold no sockets or mounts)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def delete(namespaces: list[str]) -> None:
    """Delete namespaces (their veths and the bridge go with them); missing ones are fine."""
    if namespaces:
        subprocess.run(["ip", "-force", "-batch", "-"], input="".join(f"netns del {n}\n" for n in namespaces),
                       capture_output=True, text=True, timeout=IP_TIMEOUT)

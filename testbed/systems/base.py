"""Small facts every storage system module needs about a site: its head node, its disk nodes,
which port of a range a disk node's mover takes."""

from __future__ import annotations

from typing import Any

Host = dict[str, Any]


def head(site: dict[str, Any]) -> Host:
    return next(h for h in site["hosts"] if h["role"] == "headnode")


def disks(site: dict[str, Any]) -> list[Host]:
    return [h for h in site["hosts"] if h["role"] == "disknode"]


def ordinal(site: dict[str, Any], host: Host) -> int:
    """1 for the first disk node, 2 for the second, ..."""
    return [h["short"] for h in disks(site)].index(host["short"]) + 1


def range_port(lo: int, hi: int, n: int) -> int:
    """The port of range lo..hi that the n-th disk node's mover listens on: a mover takes a port
    of its range per transfer; the testbed fixes one per node, different nodes different ports
    (wrapping round in a range narrower than the site)."""
    return lo + (n - 1) % (hi - lo + 1)


def span(lo: int, hi: int) -> str:
    """A port range as the firewall modules spell it."""
    return f"{lo}:{hi}"


def export(host: Host) -> str:
    """The namespace path a disk node serves (and a head node redirects for it)."""
    return f"/store/{host['short']}/"

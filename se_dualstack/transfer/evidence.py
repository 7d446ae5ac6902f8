"""Evidence of the address family a worker used: its connects, the kernel's socket table, PASV.

Why three sources: the shim logs every connect the worker attempts (refused ones too), the
kernel's ``/proc/<pid>/net/tcp{,6}`` shows what was really connected whatever library made it,
and gsiftp's PASV event names the data channel's family. A used connection of the other family
is a violation: the forced transfer was not forced.
"""

from __future__ import annotations

import contextlib
import errno as errno_mod
import os
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def parse_proc_addr(hexaddr: str) -> tuple[str, int]:
    """``/proc/net/tcp{,6}`` ``ADDR:PORT`` (host-order 32-bit words) -> (address text, port)."""
    a, p = hexaddr.split(":")
    raw = bytes.fromhex(a)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    fam = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(fam, words), int(p, 16)


def wire_family(address: str) -> int:
    """4 or 6 as on the wire: an IPv4-mapped IPv6 address is IPv4."""
    if ":" not in address:
        return 4
    return 4 if address.lower().startswith("::ffff:") and "." in address else 6


def parse_proc_tcp(text: str, inodes: set[str]) -> list[tuple[int, str, int]]:
    """Remote (family, address, port) of the non-listening sockets whose inode is in ``inodes``."""
    out = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 10 or f[9] not in inodes or f[3] == "0A":  # 0A = LISTEN
            continue
        addr, port = parse_proc_addr(f[2])
        if port == 0:
            continue
        out.append((wire_family(addr), addr, port))
    return out


def socket_inodes(pid: int) -> set[str]:
    """Socket inodes of a process now."""
    out: set[str] = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    out.add(link[8:-1])
    except OSError:
        pass
    return out


def proc_connections(pid: int, skip: set[str] | None = None) -> list[tuple[int, str, int]]:
    """The TCP peers of process ``pid`` now, from the kernel's view (not the process's).

    ``skip``: socket inodes to ignore (connections that existed before the step started, e.g. a
    pooled session of an earlier transfer, are not evidence for this one).
    """
    inodes: set[str] = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        return []
    if skip:
        inodes -= skip
    out: list[tuple[int, str, int]] = []
    if not inodes:
        return out
    for name in ("tcp", "tcp6"):
        try:
            text = Path(f"/proc/{pid}/net/{name}").read_text()
        except OSError:
            continue
        out += parse_proc_tcp(text, inodes)
    return out


@dataclass(frozen=True)
class Connection:
    """One TCP connection attempt of a worker, as evidence of the family used."""

    family: int
    address: str
    port: int
    source: str  # "shim" (the worker's connect) | "proc" (kernel socket table) | "pasv" (gridftp event)
    refused: bool = False  # the shim refused it (other family): an attempt, no traffic
    error: str = ""

    def __str__(self) -> str:
        a = f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"
        state = " refused by the family shim" if self.refused else (f" ({self.error})" if self.error else "")
        return f"IPv{self.family} {a} via {self.source}{state}"


def parse_shim_line(line: str) -> Connection | None:
    """``connect 6 fd42::11 <port> -1 115`` -> Connection (EINPROGRESS counts as connecting)."""
    f = line.split()
    if len(f) != 6 or f[0] not in ("connect", "refused"):
        return None
    rc, err = int(f[4]), int(f[5])
    failed = f[0] == "connect" and rc != 0 and err not in (errno_mod.EINPROGRESS, 0)
    return Connection(int(f[1]), f[2], int(f[3]), "shim", refused=f[0] == "refused",
                      error=os.strerror(err) if failed else "")


PASV_RE = re.compile(r"^(IPV[46])\s*:\s*\[?([0-9A-Fa-f:.]+?)\]?:(\d+)\s*$")


def parse_pasv_event(event: str) -> Connection | None:
    """gfal2 gridftp PASV plugin event ``IPV6: [fd42::11]:20001`` -> Connection."""
    m = PASV_RE.match(event.strip())
    if not m:
        return None
    return Connection(int(m.group(1)[-1]), m.group(2), int(m.group(3)), "pasv")


def used_connections(conns: Iterable[Connection]) -> list[Connection]:
    """Connections that carried (or could carry) traffic: not refused, not failed."""
    return [c for c in conns if not c.refused and not c.error]


def family_violations(conns: Iterable[Connection], family: int) -> list[Connection]:
    """Used connections of the other family: the proof that a forced transfer was not forced."""
    return [c for c in used_connections(conns) if c.family != family]


def dedupe(conns: Iterable[Connection]) -> list[Connection]:
    seen: dict[tuple[Any, ...], Connection] = {}
    for c in conns:
        seen.setdefault((c.family, c.address, c.port, c.source, c.refused, c.error), c)
    return list(seen.values())


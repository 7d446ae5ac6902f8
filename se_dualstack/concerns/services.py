"""Which TCP ports a host listens on per address family (``ss`` output), and the client connect.

Why not only testinfra's ``host.socket``: its ``is_listening`` treats ``tcp://0.0.0.0:P`` as
listening when only an IPv6 wildcard socket exists (it ORs in the ``::`` case), and it cannot see
``IPV6_V6ONLY``. Here the rule is exact: modern ``ss`` prints a dual-stack IPv6 wildcard socket
(V6ONLY off) as ``*:P`` and a V6ONLY one as ``[::]:P``; with ``-e`` it also prints ``v6only:0|1``.
Old ``ss`` (EL6, EL7 before iproute 4.x) prints the IPv4 wildcard as ``*:P`` and the IPv6
wildcard as ``:::P``; there the V6ONLY flag comes from ``-e`` if shown, else from the
``net.ipv6.bindv6only`` default (the only thing knowable from outside the process).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import re
import socket
from dataclasses import dataclass

COMM_LEN = 15  # the kernel truncates a process name (comm) to 15 characters


@dataclass(frozen=True)
class Listener:
    """One listening TCP socket."""

    local: str  # as printed: "*", "[::]", "0.0.0.0", "[fd42::10]", ":::" ...
    address: str  # bare address ("::", "0.0.0.0", "fd42::10"), "" for old-style "*"
    port: int
    family: int  # 4 or 6 (the socket's own family)
    v6only: bool | None  # for IPv6 sockets: True/False when known, None when ss cannot tell
    processes: tuple[tuple[str, int], ...]  # (comm, pid) from ``users:(...)``
    line: str

    @property
    def wildcard(self) -> bool:
        return self.address in ("::", "0.0.0.0")

    @property
    def loopback(self) -> bool:
        try:
            ip = ipaddress.ip_address(self.address)
        except ValueError:
            return False
        mapped = getattr(ip, "ipv4_mapped", None)
        return ip.is_loopback or bool(mapped and mapped.is_loopback)


_USERS = re.compile(r'\("([^"]*)",pid=(\d+)')


def _split_local(local: str) -> tuple[str, int]:
    host, _, port = local.rpartition(":")
    return host, int(port)


def parse_ss(text: str) -> list[Listener]:
    """Parse ``ss -tlnp[e]`` / ``ss -Htlnp`` output (header optional, old and new formats)."""
    rows = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith(("State", "Netid"))]
    new_style = any("[" in ln.split()[3] or ln.split()[3].startswith("0.0.0.0:")
                    for ln in rows if len(ln.split()) > 3)
    out: list[Listener] = []
    for ln in rows:
        cols = ln.split()
        if cols[0] in ("tcp", "tcp6"):
            cols = cols[1:]
        if len(cols) < 4 or cols[0] != "LISTEN":
            continue
        local = cols[3]
        host, port = _split_local(local)
        m = re.search(r"\bv6only:([01])\b", ln)
        v6only: bool | None = (m.group(1) == "1") if m else None
        procs = tuple((name, int(pid)) for name, pid in _USERS.findall(ln))
        if host == "*":
            # new ss: IPv6 wildcard with V6ONLY off; old ss: IPv4 wildcard (never has v6only:)
            if new_style or m:
                out.append(Listener(local, "::", port, 6, False if v6only is None else v6only, procs, ln))
            else:
                out.append(Listener(local, "0.0.0.0", port, 4, None, procs, ln))
            continue
        bracketed = host.startswith("[") and host.endswith("]")
        addr = host[1:-1] if bracketed else host
        addr = addr.split("%", 1)[0]  # link-local scope "fe80::1%eth0"
        if addr in ("", "::"):
            addr = "::"
        fam = 6 if ":" in addr else 4
        if fam == 6 and v6only is None and bracketed and addr == "::":
            v6only = True  # new ss without -e: a dual-stack socket would print as "*"
        out.append(Listener(local, addr, port, fam, v6only if fam == 6 else None, procs, ln))
    return out


@dataclass(frozen=True)
class FamilyVerdict:
    """Whether a port is served over one family, and the sockets that say so."""

    ok: bool
    detail: str


def _desc(ls: list[Listener]) -> str:
    return ", ".join(f"{x.local}:{x.port}" if not x.local.endswith(f":{x.port}") else x.local
                     for x in ls) or "nothing"


def listening_on(listeners: list[Listener], port: int, family: int, bindv6only: int = 0) -> FamilyVerdict:
    """Does something listen on ``port`` reachable over ``family`` from the network?

    IPv6: an IPv6 wildcard or a non-loopback IPv6 address. IPv4: the IPv4 wildcard, a
    non-loopback IPv4 address, or an IPv6 wildcard socket that is not V6ONLY (for old ``ss``
    that cannot print the flag: when ``net.ipv6.bindv6only`` is 0)."""
    on_port = [x for x in listeners if x.port == port]
    if not on_port:
        return FamilyVerdict(False, f"nothing listens on TCP port {port}")
    all_desc = _desc(on_port)
    if family == 6:
        good = [x for x in on_port if x.family == 6 and not x.loopback
                and not (x.address.startswith("::ffff:"))]
        if good:
            return FamilyVerdict(True, f"listening on {_desc(good)}")
        return FamilyVerdict(False, f"port {port} listens only on {all_desc} (no IPv6 socket)")
    good = [x for x in on_port if x.family == 4 and not x.loopback]
    if good:
        return FamilyVerdict(True, f"listening on {_desc(good)}")
    for x in on_port:
        if x.family == 6 and x.address == "::":
            if x.v6only is False:
                return FamilyVerdict(True, f"{x.local} is an IPv6 wildcard socket without V6ONLY: "
                                           "it also accepts IPv4")
            if x.v6only is None and bindv6only == 0:
                return FamilyVerdict(True, f"{x.local} IPv6 wildcard socket; net.ipv6.bindv6only=0 so "
                                           "it accepts IPv4 unless the service sets IPV6_V6ONLY "
                                           "(this ss cannot show the flag)")
    mapped = [x for x in on_port if x.address.startswith("::ffff:") and not x.loopback]
    if mapped:
        return FamilyVerdict(True, f"listening on IPv4-mapped {_desc(mapped)}")
    why = ""
    if any(x.family == 6 and x.address == "::" and x.v6only for x in on_port):
        why = " (the IPv6 wildcard socket is V6ONLY"
        why += ", net.ipv6.bindv6only=1)" if bindv6only else ")"
    return FamilyVerdict(False, f"port {port} listens only on {all_desc}{why}; no IPv4 socket")


def comm_matches(comm: str, name: str) -> bool:
    """A process name from ``ps``/``ss`` matches a service's process name (15-char truncation)."""
    return comm == name or (len(name) > COMM_LEN and comm == name[:COMM_LEN])


def owners(listeners: list[Listener], port: int) -> list[str]:
    """Names of the processes holding listening sockets on ``port`` (``ss -p``)."""
    return sorted({n for x in listeners if x.port == port for n, _ in x.processes})


# --------------------------------------------------------------------------- client connect

@dataclass(frozen=True)
class ConnectResult:
    """Outcome of one TCP connect from the machine running the suite."""

    address: str
    port: int
    ok: bool
    error: str

    @property
    def endpoint(self) -> str:
        return f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"


def connect(address: str, port: int, timeout: float) -> ConnectResult:
    """Open (and close) one TCP connection; never hangs past ``timeout``."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return ConnectResult(address, port, True, "")
    except (TimeoutError, socket.timeout):  # one class from Python 3.10 on; apart on 3.9
        return ConnectResult(address, port, False, f"Connection timed out after {timeout:g}s")
    except OSError as e:
        text = e.strerror or str(e)
        if e.errno is not None and not e.strerror:
            text = os.strerror(e.errno)
        if e.errno == errno.ENETUNREACH:
            text += " (this machine has no IPv6 route to it)" if ":" in address else ""
        return ConnectResult(address, port, False, text)


def fts_message(host: str, port: int, family: int, results: list[ConnectResult]) -> str:
    """The message FTS users know: ``could not open connection to host:port over IPv6 (...)``."""
    fam = "IPv6" if family == 6 else "IPv4"
    bad = [r for r in results if not r.ok]
    inner = "; ".join(f"{r.endpoint}: {r.error}" for r in bad)
    return f"could not open connection to {host}:{port} over {fam} ({inner})"

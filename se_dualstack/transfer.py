"""gfal2 transfer runner: real files copied to and from the SE, one address family per process.

Why a runner of its own: a transfer is a sequence of dependent steps (list/create the test dir,
upload with ADLER32, stat, checksum, download, compare, delete, confirm gone) where a failed step
must skip the later ones *with the reason*, the file must be cleaned up whatever happens, every
step has a hard deadline, and the family must be forced and proven. The gfal2 calls run in
:mod:`se_dualstack.gfal_worker` child processes (one per family); this module is plain functions
and small classes, importable and unit-tested without a site.

How the family is forced (see :func:`forcing_description`):

* every protocol: the worker is started with ``LD_PRELOAD`` of ``data/family_shim.c`` (compiled at
  run time with ``cc``, cached): ``getaddrinfo()`` answers only the forced family and a TCP
  ``connect()`` to the other family fails with ENETUNREACH, in that process only. This works with
  a site's ordinary dual-stack names (no single-family DNS aliases needed).
* root://: additionally ``XRD_NETWORKSTACK=IPv6|IPv4`` (XRootD's own switch, read at start-up).
* gsiftp://: additionally gfal2's ``GRIDFTP PLUGIN:IPV6`` (which alone only *prefers* IPv6).
* without a C compiler: single-family DNS aliases when the inventory declares them
  (``se_ipv6_alias`` / ``se_ipv4_alias``), else root:// only is forced and the others are verified.

How the family is verified, independently of the forcing: the shim logs every TCP connect (wire
family, address, port); the parent samples the worker's sockets in ``/proc/<pid>/net/tcp{,6}``
while each step runs; gsiftp's PASV plugin event names the data channel's family. Any connection
of the other family fails the transfer.
"""

from __future__ import annotations

import contextlib
import errno as errno_mod
import hashlib
import html
import json
import os
import re
import secrets
import select
import shlex
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

FAMILIES = (6, 4)
PROTOCOLS = ("gsiftp", "root", "davs", "https")
DEFAULT_PORTS = {"gsiftp": 2811, "root": 1094, "davs": 443, "https": 443}
# Service names (knowledge.yml) that carry each protocol, to find the host's port.
PROTOCOL_SERVICES = {
    "gsiftp": ("gsiftp", "dcache-gsiftp"),
    "root": ("xrootd", "dcache-xrootd"),
    "davs": ("https", "dcache-webdav", "eos-https", "storm-webdav"),
    "https": ("https", "dcache-webdav", "eos-https", "storm-webdav"),
}
STEPS = ("list", "upload", "stat", "checksum", "download", "compare", "delete", "gone")
# Steps that clean up: they run whenever the upload may have created the file.
CLEANUP_STEPS = ("delete", "gone")

# Defaults of the se_transfer_* inventory variables (architecture.md points here).
DEFAULTS: dict[str, Any] = {
    "se_transfer_protocols": ["gsiftp", "root", "davs"],
    "se_transfer_size": 1024 * 1024,  # bytes of the random test file
    "se_transfer_timeout": 60.0,  # seconds, hard deadline of each step (the worker is killed)
    "se_transfer_connect_timeout": 10,  # seconds, XRootD connection window
    "se_transfer_repeat": 1,
    "se_transfer_min_success": 0.95,  # used when repeating
    # Protocols for which a disk node is reached through the head node's endpoint (the head
    # redirects); the others (GridFTP on a DPM-like testbed) go to the disk node directly.
    "se_transfer_via_head": ["root", "davs", "https"],
    "se_transfer_ports": {},  # protocol -> port override
    "se_transfer_tpc_protocols": ["davs", "root", "gsiftp"],
}

EXPIRED_FIX = "renew the proxy: voms-proxy-init --voms <vo> (or grid-proxy-init), then re-run"


class PathGuardError(ValueError):
    """A URL would touch something outside the configured test directory."""


class WorkerTimeout(RuntimeError):
    """A worker missed its deadline and was killed."""


class WorkerDied(RuntimeError):
    """A worker exited (crashed) without answering."""


def family_label(family: int) -> str:
    return f"ipv{family}"


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class TransferSettings:
    """Per-run knobs (inventory vars, overridable from the command line)."""

    size: int = DEFAULTS["se_transfer_size"]
    timeout: float = DEFAULTS["se_transfer_timeout"]
    connect_timeout: int = DEFAULTS["se_transfer_connect_timeout"]
    repeat: int = 1
    min_success: float = DEFAULTS["se_transfer_min_success"]
    proxy: str = ""
    certdir: str = ""

    @classmethod
    def from_vars(cls, vars_: dict[str, Any], **overrides: Any) -> TransferSettings:
        """Build from merged site vars; ``None`` overrides are ignored (option not given)."""
        v = {**DEFAULTS, **{k: x for k, x in vars_.items() if x is not None}}
        kw: dict[str, Any] = {
            "size": parse_size(v["se_transfer_size"]),
            "timeout": float(v["se_transfer_timeout"]),
            "connect_timeout": int(v["se_transfer_connect_timeout"]),
            "repeat": int(v["se_transfer_repeat"]),
            "min_success": float(v["se_transfer_min_success"]),
            "proxy": os.environ.get("X509_USER_PROXY") or f"/tmp/x509up_u{os.getuid()}",
            "certdir": os.environ.get("X509_CERT_DIR") or "/etc/grid-security/certificates",
        }
        kw.update({k: x for k, x in overrides.items() if x is not None})
        if kw["repeat"] < 1 or not 0.0 <= kw["min_success"] <= 1.0 or kw["timeout"] <= 0:
            raise ValueError(f"bad transfer settings: {kw}")
        return cls(**kw)


def parse_size(value: Any) -> int:
    """``1048576``, ``"1M"``, ``"100MiB"``, ``"10k"`` -> bytes."""
    if isinstance(value, int):
        return value
    m = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]?)(?:i?[bB])?\s*", str(value))
    if not m:
        raise ValueError(f"bad size {value!r}; use e.g. 1048576, 1M, 100MiB")
    return int(m.group(1)) * 1024 ** " KMG".index(m.group(2).upper() or " ")


# --------------------------------------------------------------------------- URLs and the guard


def url_host(host: str) -> str:
    """Bracket an IPv6 literal for a URL."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def build_url(protocol: str, host: str, port: int, path: str) -> str:
    """URL of an absolute SE path; root:// wants the path after a double slash."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown transfer protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    if not path.startswith("/"):
        raise ValueError(f"SE path must be absolute: {path!r}")
    sep = "/" if protocol == "root" else ""
    return f"{protocol}://{url_host(host)}:{port}{sep}{path}"


def url_path(url: str) -> str:
    """The SE path of a URL built by :func:`build_url` (``root://h:1//p`` -> ``/p``)."""
    m = re.fullmatch(r"[a-z]+://(\[[^\]]+\]|[^/:]+)(?::\d+)?(/.*)", url)
    if not m:
        raise PathGuardError(f"not an SE URL: {url!r}")
    path = m.group(2)
    return "/" + path.lstrip("/")


def guard_path(url: str, test_dir: str) -> str:
    """Refuse any URL whose path is not strictly inside ``test_dir``; return the path.

    Why so strict: the suite deletes files on production storage. No ``..``, no ``.``, no
    empty or relative test dir, no test dir shallower than two levels (``/store`` alone is not a
    test directory), and the file must be a direct child of it.
    """
    d = PurePosixPath(test_dir)
    if not test_dir.startswith("/") or any(p in ("..", ".") for p in test_dir.split("/")):
        raise PathGuardError(f"test directory must be an absolute normalised path: {test_dir!r}")
    if len(d.parts) < 3:
        raise PathGuardError(f"test directory {test_dir!r} is too close to the root (need 2+ levels)")
    path = url_path(url)
    raw = [p for p in path.split("/") if p]
    if any(p in ("..", ".") for p in raw) or "//" in path.lstrip("/"):
        raise PathGuardError(f"refusing {url}: path is not normalised")
    p = PurePosixPath(path)
    if p.parent != d or not p.name:
        raise PathGuardError(f"refusing {url}: not a file directly inside the test directory {test_dir}")
    return path


def unique_name(tag: str = "") -> str:
    """A file name no other run (or host, or worker) will pick: time, host, pid, 64 random bits."""
    t = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    me = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:20]
    extra = f"-{re.sub(r'[^A-Za-z0-9-]', '-', tag)}" if tag else ""
    return f"se6test-{t}-{me}-{os.getpid()}{extra}-{secrets.token_hex(8)}.dat"


# --------------------------------------------------------------------------- transfer cases


@dataclass(frozen=True)
class Endpoint:
    """Where a URL points: a host name, a port, and the test directory on the SE."""

    protocol: str
    host: str  # name used in the URL
    port: int
    test_dir: str

    def url(self, name: str = "") -> str:
        path = f"{self.test_dir}/{name}" if name else self.test_dir
        return build_url(self.protocol, self.host, self.port, path)


@dataclass(frozen=True)
class TransferCase:
    """One protocol x family x entry point: the unit a test (and its report row) is about."""

    protocol: str
    family: int
    entry: str  # host name of the endpoint contacted first
    target: str  # host whose test directory is used (== entry unless reached through the head)
    endpoint: Endpoint

    @property
    def id(self) -> str:
        via = "" if self.entry == self.target else f"-via-{short(self.target)}"
        return f"{self.entry}-{self.protocol}-{family_label(self.family)}{via}"

    @property
    def group_host(self) -> str:
        """xdist group: the target's (the data lands there), also when reached through the head."""
        return self.target


@dataclass(frozen=True)
class TpcCase:
    """Third-party copy from one endpoint to another (the servers move the data)."""

    protocol: str
    family: int
    source: Endpoint
    dest: Endpoint
    source_host: str
    dest_host: str
    names_forced: bool  # URLs use single-family aliases, so server-to-server is forced too

    @property
    def id(self) -> str:
        return f"{self.source_host}-to-{short(self.dest_host)}-{self.protocol}-{family_label(self.family)}"

    @property
    def group_host(self) -> str:
        """xdist group: the destination's (the copy is checked and cleaned there)."""
        return self.dest_host


def short(name: str) -> str:
    return name.split(".", 1)[0]


def protocol_port(host: Any, protocol: str) -> int:
    """Port of ``protocol`` on a host: ``se_transfer_ports`` override, the service, the default."""
    override = (host.vars.get("se_transfer_ports") or {}).get(protocol)
    if override:
        return int(override)
    for svc in getattr(host, "services", []) or []:
        if svc.name in PROTOCOL_SERVICES[protocol]:
            return int(svc.port)
    return DEFAULT_PORTS[protocol]


def host_protocols(host: Any) -> list[str]:
    """Validated ``se_transfer_protocols`` of a host."""
    protos = host.vars.get("se_transfer_protocols") or DEFAULTS["se_transfer_protocols"]
    bad = [p for p in protos if p not in PROTOCOLS]
    if bad:
        raise ValueError(f"{host.name}: se_transfer_protocols has unknown {bad}; known: {list(PROTOCOLS)}")
    return list(protos)


def alias_for(host: Any, family: int) -> str | None:
    """A declared single-family DNS alias (``se_ipv6_alias`` / ``se_ipv4_alias``), if any."""
    v = host.vars.get(f"se_ipv{family}_alias")
    return str(v) if v else None


def transfer_cases(site: Any, protocols: Iterable[str] | None = None,
                   families: Iterable[int] = FAMILIES, use_aliases: bool = False) -> list[TransferCase]:
    """Every protocol x family x entry point of the site.

    Targets are hosts with ``se_transfer_dir``. A disk node is reached through the (first) head
    node's endpoint for the protocols in ``se_transfer_via_head``, directly otherwise. The head
    node's own directory is used for the other protocols, and for the redirected ones only when
    no disk node's directory is reached through the head (a DPM head stores nothing itself). With
    ``use_aliases`` (no family shim available) URLs use the declared single-family alias.
    """
    heads = [h for h in site.hosts if h.role == "headnode"]
    head = heads[0] if heads else None
    wanted = list(protocols) if protocols else None

    def via_head(h: Any) -> list[str]:
        return list(h.vars.get("se_transfer_via_head", DEFAULTS["se_transfer_via_head"]))

    # Protocols for which some disk node's directory is reached through the head: for those the
    # head (a redirector that stores nothing itself) is tested through the disk nodes.
    redirected = {p for h in site.hosts if h.role == "disknode" and h.vars.get("se_transfer_dir")
                  for p in host_protocols(h) if p in via_head(h)} if head is not None else set()
    out: list[TransferCase] = []
    for target in site.hosts:
        tdir = target.vars.get("se_transfer_dir")
        if not tdir:
            continue
        tdir = str(tdir).rstrip("/")
        for proto in host_protocols(target):
            if wanted is not None and proto not in wanted:
                continue
            if target is head and proto in redirected:
                continue
            entry = head if (head is not None and target.role != "headnode"
                             and proto in via_head(target)) else target
            for fam in families:
                name = (alias_for(entry, fam) if use_aliases else None) or entry.name
                ep = Endpoint(proto, name, protocol_port(entry, proto), tdir)
                out.append(TransferCase(proto, fam, entry.name, target.name, ep))
    return out


def tpc_cases(site: Any, protocols: Iterable[str] | None = None) -> list[TpcCase]:
    """IPv6 third-party copies: first disk node -> second (or to itself under another name).

    Uses each disk node's own endpoint (server to server is the point) and the IPv6-only alias
    when declared, so the servers themselves cannot fall back to IPv4.
    """
    disks = [h for h in site.hosts if h.role == "disknode" and h.vars.get("se_transfer_dir")]
    if not disks:
        return []
    src, dst = disks[0], (disks[1] if len(disks) > 1 else disks[0])
    protos = list(protocols) if protocols else list(
        src.vars.get("se_transfer_tpc_protocols", DEFAULTS["se_transfer_tpc_protocols"]))
    out: list[TpcCase] = []
    for proto in protos:
        if proto not in host_protocols(src) or proto not in host_protocols(dst):
            continue
        forced = bool(alias_for(src, 6) and alias_for(dst, 6))
        s = Endpoint(proto, alias_for(src, 6) or src.name, protocol_port(src, proto),
                     str(src.vars["se_transfer_dir"]).rstrip("/"))
        d = Endpoint(proto, alias_for(dst, 6) or dst.name, protocol_port(dst, proto),
                     str(dst.vars["se_transfer_dir"]).rstrip("/"))
        out.append(TpcCase(proto, 6, s, d, src.name, dst.name, forced))
    return out


# --------------------------------------------------------------------------- local files


def adler32_hex(data: bytes, value: int = 1) -> str:
    """ADLER32 as gfal2 and the SEs print it: 8 lowercase hex digits."""
    return f"{zlib.adler32(data, value) & 0xFFFFFFFF:08x}"


def adler32_file(path: str | Path, chunk: int = 4 << 20) -> str:
    value = 1
    with open(path, "rb") as f:
        while block := f.read(chunk):
            value = zlib.adler32(block, value)
    return f"{value & 0xFFFFFFFF:08x}"


def make_random_file(path: str | Path, size: int, chunk: int = 4 << 20) -> str:
    """Write ``size`` fresh random bytes (never a cached/dedupable pattern); return ADLER32."""
    value = 1
    with open(path, "wb") as f:
        left = size
        while left > 0:
            block = os.urandom(min(chunk, left))
            value = zlib.adler32(block, value)
            f.write(block)
            left -= len(block)
    return f"{value & 0xFFFFFFFF:08x}"


def files_equal(a: str | Path, b: str | Path, chunk: int = 4 << 20) -> tuple[bool, str]:
    """Byte compare; the detail names the first differing offset or the size difference."""
    sa, sb = os.path.getsize(a), os.path.getsize(b)
    if sa != sb:
        return False, f"sizes differ: {sa} vs {sb} bytes"
    off = 0
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(chunk), fb.read(chunk)
            if x != y:
                i = next(i for i, (p, q) in enumerate(zip(x, y, strict=False)) if p != q)
                return False, f"first difference at byte {off + i}"
            if not x:
                return True, f"{sa} bytes identical"
            off += len(x)


# --------------------------------------------------------------------------- family evidence


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
    """``connect 6 fd42::11 1094 -1 115`` -> Connection (EINPROGRESS counts as connecting)."""
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


# --------------------------------------------------------------------------- the family shim


def shim_source() -> str:
    return resources.files("se_dualstack").joinpath("data/family_shim.c").read_text()


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "se_dualstack"


def build_shim(timeout: float = 60.0) -> tuple[str | None, str]:
    """Compile the family shim once per source version; return (path or None, why not).

    Cached by the source's hash; compiled to a temp name and renamed, so parallel pytest-xdist
    workers never load a half-written library.
    """
    src = shim_source()
    digest = hashlib.sha256(src.encode()).hexdigest()[:16]
    for d in (cache_dir(), Path(tempfile.gettempdir()) / f"se_dualstack-{os.getuid()}"):
        so = d / f"family_shim-{digest}.so"
        if so.exists():
            return str(so), ""
        cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
        if not cc:
            return None, "no C compiler (cc) to build the family shim"
        try:
            d.mkdir(parents=True, exist_ok=True)
            c_file = d / f"family_shim-{digest}.c"
            c_file.write_text(src)
            tmp = d / f".family_shim-{digest}-{os.getpid()}.so"
            res = subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", str(tmp), str(c_file), "-ldl"],
                                 capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            why = f"building the family shim failed: {exc}"
            continue
        if res.returncode != 0:
            return None, f"building the family shim failed: {res.stderr.strip()[:300]}"
        os.replace(tmp, so)
        return str(so), ""
    return None, why


def forcing_description(protocol: str, family: int, shim: str | None, alias: bool) -> str:
    """One line for the report: how this transfer's family was forced."""
    fam = f"IPv{family}"
    parts = []
    if shim:
        parts.append(f"family shim (LD_PRELOAD, getaddrinfo/connect restricted to {fam})")
    if protocol == "root":
        parts.append(f"XRD_NETWORKSTACK={fam}")
    if protocol == "gsiftp":
        parts.append(f"GRIDFTP PLUGIN:IPV6={'true' if family == 6 else 'false'}")
    if alias:
        parts.append(f"{fam}-only DNS alias in the URL")
    if not shim and not alias and protocol != "root":
        parts.append(f"NOT forced (no shim, no alias): family verified only, other than {fam} fails")
    return "; ".join(parts)


def is_forced(protocol: str, shim: str | None, alias: bool) -> bool:
    return bool(shim) or alias or protocol == "root"


# --------------------------------------------------------------------------- proxy


NO_PROXY_FIX = "run voms-proxy-init"


@dataclass(frozen=True)
class ProxyProblem:
    """Why the grid proxy cannot be used: the path, a short reason, and the tests' message."""

    path: str
    reason: str  # "no such file", "expired on 2026-11-24 20:00:00 UTC", ...
    message: str  # the one line every transfer test fails with (path and fix)

    def could_not_run_line(self) -> str:
        """The run's one terminal line when it exits "could not run (no credentials)"."""
        return (f"no valid grid proxy ({self.path}: {self.reason}): transfer checks could not run; "
                f"{NO_PROXY_FIX}")


def _openssl_date(text: str) -> str:
    """``Nov 24 20:00:00 2026 GMT`` -> ``2026-11-24 20:00:00 UTC`` (unchanged if unparsable)."""
    from datetime import datetime

    try:
        return datetime.strptime(text.replace("  ", " "), "%b %d %H:%M:%S %Y %Z").strftime(
            "%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return text


def check_proxy(path: str, timeout: float = 10.0) -> ProxyProblem | None:
    """None if the proxy is usable; else what is wrong with it (missing, unreadable, expired).

    Uses ``openssl x509 -checkend 0`` (the python cryptography package may be absent on a UI).
    Only the end date is read; the proxy's contents never leave this function.
    """
    if not path or not os.path.exists(path):
        shown = path or "$X509_USER_PROXY"
        return ProxyProblem(shown, "no such file",
                            f"no grid proxy at {shown}: create one with voms-proxy-init "
                            f"(or grid-proxy-init) and set X509_USER_PROXY")
    try:
        end = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-enddate"],
                             capture_output=True, text=True, timeout=timeout)
        chk = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-checkend", "0"],
                             capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return ProxyProblem(path, f"cannot be read ({exc})",
                            f"cannot read the grid proxy {path} with openssl: {exc}")
    if end.returncode != 0:
        return ProxyProblem(path, "not a readable certificate",
                            f"grid proxy {path} is not a readable certificate (openssl x509 failed)")
    when = end.stdout.strip().partition("=")[2]
    if chk.returncode != 0:
        return ProxyProblem(path, f"expired on {_openssl_date(when)}",
                            f"grid proxy {path} expired ({when}); {EXPIRED_FIX}")
    return None


def proxy_problem(path: str, timeout: float = 10.0) -> str | None:
    """None if the proxy is usable; else one line naming the path and the fix."""
    problem = check_proxy(path, timeout)
    return problem.message if problem is not None else None


# --------------------------------------------------------------------------- the worker process


def worker_env(family: int, settings: TransferSettings, shim: str | None, connlog: str) -> dict[str, str]:
    """Environment of a family's worker: the forcing and XRootD's bounded retries."""
    env = dict(os.environ)
    pkg_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(x for x in (pkg_root, env.get("PYTHONPATH", "")) if x)
    env.pop("PYTEST_ADDOPTS", None)
    stack = "IPv6" if family == 6 else "IPv4"
    t = max(1, int(settings.timeout))
    env.update({
        "XRD_NETWORKSTACK": stack,
        # A forced-but-broken path otherwise retries for minutes (testbed-facts.md).
        "XRD_CONNECTIONWINDOW": str(max(1, settings.connect_timeout)),
        "XRD_CONNECTIONRETRY": "1",
        "XRD_REQUESTTIMEOUT": str(t),
        "XRD_STREAMTIMEOUT": str(t),
        "XRD_TIMEOUTRESOLUTION": "1",
        # root:// third-party copy: the destination pulls with the client's delegated proxy; the
        # GSI plugin delegates only when asked before the first connection (else the server says
        # "no delegated credentials for tpc"). Harmless for plain copies.
        "XrdSecGSIDELEGPROXY": "1",
        "SE6_FAMILY": str(family),
        "SE6_CONNLOG": connlog,
    })
    if settings.proxy:
        env["X509_USER_PROXY"] = settings.proxy
    if settings.certdir:
        env["X509_CERT_DIR"] = settings.certdir
    if shim:
        env["LD_PRELOAD"] = " ".join(x for x in (shim, env.get("LD_PRELOAD", "")) if x)
    else:
        env.pop("LD_PRELOAD", None)
    return env


_HASH_LINK = re.compile(r"^[0-9a-f]{8}\.[0-9]+$")
_EMPTY_BUNDLE = """\
This file intentionally holds no certificates (se_dualstack, gfal2 worker).
davix 0.8 calls OpenSSL's X509_STORE_set_default_paths() for EVERY https request, which parses
the whole default CA bundle ($SSL_CERT_FILE, ~140 certificates, ~35 ms with OpenSSL 3) each time.
The same CAs stay trusted: OpenSSL finds them lazily by hash in $SSL_CERT_DIR, and the grid CAs
in $X509_CERT_DIR, which gfal2 adds as a CA path. Set SE6_KEEP_CA_BUNDLE=1 to disable this.
"""


def default_ca_dirs(env: dict[str, str]) -> list[str]:
    """OpenSSL's default CA directories for this environment ($SSL_CERT_DIR or the built-in one)."""
    value = env.get("SSL_CERT_DIR") or ssl.get_default_verify_paths().openssl_capath
    return [d for d in value.split(os.pathsep) if d]


def lazy_ca_bundle(env: dict[str, str], workdir: str | Path) -> str | None:
    """Point ``SSL_CERT_FILE`` of a worker at an empty bundle when that changes no trust.

    Why: davix re-reads the default CA bundle for every request (7+ per davs:// copy: ~0.25 s of
    a 100 MiB upload on the testbed). Done only when a default CA directory holds hashed links,
    i.e. OpenSSL still finds every default CA there (Debian/Ubuntu); not on a layout without them
    (e.g. RHEL's /etc/pki/tls/certs); only over the distribution's default bundle (kept in step
    with that directory by update-ca-certificates), never over a bundle the user chose; not with
    ``SE6_KEEP_CA_BUNDLE=1``. Returns the path set, or None.
    """
    if env.get("SE6_KEEP_CA_BUNDLE", "") not in ("", "0"):
        return None
    default_file = ssl.get_default_verify_paths().openssl_cafile
    current = env.get("SSL_CERT_FILE") or default_file
    if os.path.realpath(current) != os.path.realpath(default_file):
        return None  # a bundle of the user's own choosing: its CAs may be nowhere else
    hashed = False
    for d in default_ca_dirs(env):
        with contextlib.suppress(OSError):
            hashed = hashed or any(_HASH_LINK.match(n) for n in os.listdir(d))
    if not hashed:
        return None
    path = Path(workdir) / "no-preloaded-ca-bundle.pem"
    path.write_text(_EMPTY_BUNDLE)
    env["SSL_CERT_FILE"] = str(path)
    return str(path)


class WorkerProcess:
    """A gfal2 worker for one family; :meth:`call` enforces the hard deadline of each request."""

    def __init__(self, family: int, settings: TransferSettings, shim: str | None,
                 options: list[tuple[str, str, Any]] | None = None) -> None:
        self.family = family
        self.settings = settings
        self.shim = shim
        self.options = options or []
        self.proc: subprocess.Popen[bytes] | None = None
        self._buf = b""
        self._next_id = 1
        self.tmpdir = tempfile.mkdtemp(prefix=f"se6-worker-ipv{family}-")
        self.connlog = os.path.join(self.tmpdir, "connect.log")
        self.stderr_path = os.path.join(self.tmpdir, "stderr.log")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        """Start the child and wait for its gfal2 context (bounded)."""
        env = worker_env(self.family, self.settings, self.shim, self.connlog)
        lazy_ca_bundle(env, self.tmpdir)
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "se_dualstack.gfal_worker"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=err, env=env, start_new_session=True)
        self._buf = b""
        config = {"family": self.family, "timeout": int(self.settings.timeout), "options": self.options}
        answer = self._exchange(config, timeout)
        if not answer.get("ok"):
            err_text = answer.get("error", "")
            self.kill()
            raise WorkerDied(f"gfal2 worker for IPv{self.family} did not start: {err_text}")

    def kill(self) -> None:
        """Kill the worker's whole process group (gfal2 may have helpers) and reap it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        for f in (self.proc.stdin, self.proc.stdout):
            if f:
                with contextlib.suppress(OSError):
                    f.close()
        self.proc = None

    def close(self, timeout: float = 5.0) -> None:
        """Let the worker exit on EOF; kill it if it does not within ``timeout``."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                if self.proc.stdin is not None:
                    self.proc.stdin.close()
                self.proc.wait(timeout=timeout)
        self.kill()

    def stderr_tail(self, n: int = 2000) -> str:
        try:
            data = Path(self.stderr_path).read_bytes()[-n:]
        except OSError:
            return ""
        return data.decode(errors="replace").strip()

    def _exchange(self, request: dict[str, Any], timeout: float,
                  sample: Callable[[int], None] | None = None) -> dict[str, Any]:
        """Send one line, wait for one line until the deadline, sampling /proc meanwhile."""
        if self.proc is None or self.proc.stdin is None or self.proc.stdout is None:
            raise WorkerDied("gfal2 worker not started")
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except OSError as exc:
            tail = self.stderr_tail(300)
            raise WorkerDied(f"gfal2 worker (IPv{self.family}) is gone: {exc}; {tail}") from exc
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                pid = self.proc.pid
                self.kill()
                raise WorkerTimeout(f"no answer within {timeout:g} s: worker pid {pid} killed")
            ready, _, _ = select.select([fd], [], [], min(left, 0.05))
            if sample is not None:
                sample(self.proc.pid)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    code = self.proc.wait(timeout=5)
                    tail = self.stderr_tail(500)
                    self.kill()
                    raise WorkerDied(f"gfal2 worker (IPv{self.family}) exited with {code}: {tail}")
                self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return json.loads(line)

    def call(self, request: dict[str, Any], timeout: float) -> tuple[dict[str, Any], list[Connection]]:
        """One gfal2 operation; returns the answer and the connections seen while it ran."""
        if not self.alive():
            self.start()
        seen: list[Connection] = []
        before = socket_inodes(self.proc.pid) if self.proc else set()

        def sample(pid: int) -> None:
            for fam, addr, port in proc_connections(pid, before):
                seen.append(Connection(fam, addr, port, "proc"))

        req = {**request, "id": self._next_id}
        self._next_id += 1
        answer = self._exchange(req, timeout, sample)
        conns = [c for c in (parse_shim_line(x) for x in answer.get("connections", [])) if c]
        for ev in answer.get("events", []) or []:
            c = parse_pasv_event(ev)
            if c:
                conns.append(c)
        return answer, dedupe(conns + seen)


class WorkerPool:
    """One live worker per family (re-created after a kill); closed at the end of the session."""

    def __init__(self, settings: TransferSettings, shim: str | None,
                 options: list[tuple[str, str, Any]] | None = None) -> None:
        self.settings = settings
        self.shim = shim
        self.options = options
        self.workers: dict[int, WorkerProcess] = {}

    def get(self, family: int) -> WorkerProcess:
        w = self.workers.get(family)
        if w is None or not w.alive():
            w = WorkerProcess(family, self.settings, self.shim, self.options)
            self.workers[family] = w
        return w

    def close(self) -> None:
        for w in self.workers.values():
            w.close()
            shutil.rmtree(w.tmpdir, ignore_errors=True)
        self.workers.clear()


# --------------------------------------------------------------------------- steps and results


@dataclass
class Step:
    """One step of a transfer: what happened, how long it took, why it failed or was skipped."""

    name: str
    status: str = "pending"  # passed | failed | timeout | skipped
    seconds: float = 0.0
    detail: str = ""
    error: str = ""
    nbytes: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "passed"

    @property
    def throughput(self) -> float | None:
        """Bytes per second of a data-moving step."""
        return self.nbytes / self.seconds if self.nbytes and self.seconds > 0 and self.ok else None


@dataclass
class TransferResult:
    """Everything the report and the test need about one transfer."""

    case_id: str
    protocol: str
    family: int
    size: int
    local_checksum: str = ""
    remote_url: str = ""
    local_url: str = ""
    steps: list[Step] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)
    forcing: str = ""
    forced: bool = True
    commands: list[str] = field(default_factory=list)
    target: str = ""
    cleanup_note: str = ""
    precondition: str = ""  # e.g. expired proxy: no step ran

    @property
    def failed_step(self) -> Step | None:
        return next((s for s in self.steps if s.status in ("failed", "timeout")), None)

    @property
    def violations(self) -> list[Connection]:
        return family_violations(self.connections, self.family)

    @property
    def ok(self) -> bool:
        return not self.precondition and self.failed_step is None and not self.violations and all(
            s.ok for s in self.steps)

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)

    @property
    def upload_rate(self) -> float | None:
        s = self.step("upload")
        return s.throughput if s else None

    @property
    def download_rate(self) -> float | None:
        s = self.step("download")
        return s.throughput if s else None

    @property
    def families_used(self) -> list[int]:
        return sorted({c.family for c in used_connections(self.connections)})

    def error_summary(self) -> str:
        """One line: the first failure (or the family violation), the addresses used."""
        if self.precondition:
            return self.precondition
        bad = self.failed_step
        if bad is not None:
            what = "timed out" if bad.status == "timeout" else "failed"
            return f"step {bad.name} {what} after {bad.seconds:.2f} s: {bad.error or bad.detail}"
        if self.violations:
            return (f"IPv{self.family} was forced but traffic used "
                    + ", ".join(str(c) for c in self.violations))
        return ""


def _err_text(answer: dict[str, Any]) -> str:
    text = " ".join(str(answer.get("error", "")).split())
    return redact(text)


def redact(text: str) -> str:
    """Remove anything that looks like PEM material (credentials never reach the report)."""
    return re.sub(r"-----BEGIN [^-]+-----.*?(-----END [^-]+-----|$)", "[redacted PEM]", text, flags=re.S)


class StepRunner:
    """Runs named steps in order; after a failure the later steps are skipped with the reason."""

    def __init__(self, result: TransferResult) -> None:
        self.result = result
        self.blocker: str = ""  # "upload failed: ..." once something failed

    def run(self, name: str, fn: Callable[[Step], None], always: bool = False) -> Step:
        """Run ``fn(step)`` unless blocked (``always``: cleanup steps run anyway)."""
        step = Step(name)
        self.result.steps.append(step)
        if self.blocker and not always:
            step.status = "skipped"
            step.detail = f"skipped: {self.blocker}"
            return step
        t0 = time.monotonic()
        try:
            fn(step)
            if step.status == "pending":
                step.status = "passed"
        except WorkerTimeout as exc:
            step.status, step.error = "timeout", str(exc)
        except WorkerDied as exc:
            step.status, step.error = "failed", str(exc)
        except StepFailed as exc:
            step.status, step.error = "failed", str(exc)
        finally:
            step.seconds = step.seconds or (time.monotonic() - t0)
        if step.status in ("failed", "timeout") and not self.blocker:
            self.blocker = f"{name} {'timed out' if step.status == 'timeout' else 'failed'}"
        return step


class StepFailed(Exception):
    """A step's own verdict (gfal2 error, wrong size, checksum mismatch)."""


def _call(worker: WorkerProcess, result: TransferResult, step: Step, request: dict[str, Any],
          timeout: float) -> dict[str, Any]:
    """Run a worker request for a step; gfal2 errors become StepFailed; evidence is kept."""
    answer, conns = worker.call(request, timeout)
    result.connections = dedupe(result.connections + conns)
    step.seconds = float(answer.get("elapsed", 0.0))
    if not answer.get("ok"):
        raise StepFailed(_err_text(answer) or f"{request['op']} failed")
    return answer


def gfal_copy_command(src: str, dst: str, protocol: str, family: int, timeout: float,
                      shim: str | None, checksum: str = "ADLER32") -> str:
    """The equivalent gfal-copy command line, with the same forcing, to paste in a shell."""
    env = []
    if shim:
        env += [f"LD_PRELOAD={shlex.quote(shim)}", f"SE6_FAMILY={family}"]
    if "root://" in (src + dst):
        env.append(f"XRD_NETWORKSTACK=IPv{family}")
        if "root://" in src and "root://" in dst:
            env.append("XrdSecGSIDELEGPROXY=1")
    args = ["gfal-copy", "-f", "-t", str(int(timeout)), "-K", checksum, "--checksum-mode", "both"]
    if "gsiftp://" in (src + dst):
        args += ["-D", f"GRIDFTP PLUGIN:IPV6={'true' if family == 6 else 'false'}"]
    return " ".join([*env, *(shlex.quote(a) for a in args), shlex.quote(src), shlex.quote(dst)])


def gfal_rm_command(url: str, protocol: str, family: int, shim: str | None) -> str:
    """The equivalent gfal-rm, with the same forcing (to clean up by hand)."""
    env = [f"LD_PRELOAD={shlex.quote(shim)}", f"SE6_FAMILY={family}"] if shim else []
    if protocol == "root":
        env.append(f"XRD_NETWORKSTACK=IPv{family}")
    return " ".join([*env, "gfal-rm", shlex.quote(url)])


def run_transfer(case: TransferCase, pool: WorkerPool, settings: TransferSettings,
                 workdir: str | Path, shim: str | None = None, alias: bool = False) -> TransferResult:
    """The full round trip for one case. Cleanup (remote delete, local files) always runs."""
    w = pool.get(case.family)
    t = settings.timeout
    name = unique_name(f"{case.protocol}-ipv{case.family}")
    dir_url, remote = case.endpoint.url(), case.endpoint.url(name)
    guard_path(remote, case.endpoint.test_dir)
    local = Path(workdir) / name
    back = Path(workdir) / f"{name}.back"
    res = TransferResult(case.id, case.protocol, case.family, settings.size, remote_url=remote,
                         local_url=f"file://{local}", target=case.target,
                         forcing=forcing_description(case.protocol, case.family, shim, alias),
                         forced=is_forced(case.protocol, shim, alias))
    res.commands = [
        f"dd if=/dev/urandom of={shlex.quote(str(local))} bs={settings.size} count=1",
        gfal_copy_command(f"file://{local}", remote, case.protocol, case.family, t, shim),
        gfal_copy_command(remote, f"file://{back}", case.protocol, case.family, t, shim),
        gfal_rm_command(remote, case.protocol, case.family, shim),
    ]
    runner = StepRunner(res)
    upload_tried = False
    try:
        res.local_checksum = make_random_file(local, settings.size)

        def s_list(step: Step) -> None:
            a = _call(w, res, step, {"op": "listdir", "url": dir_url, "create": True}, t)
            if a["entries"] == -1:
                raise StepFailed(f"{dir_url} exists but is not a directory")
            step.detail = f"{a['entries']} entries" + (" (created)" if a.get("created") else "")

        def s_upload(step: Step) -> None:
            nonlocal upload_tried
            upload_tried = True
            a = _call(w, res, step, {"op": "copy", "src": f"file://{local}", "dst": remote,
                                     "checksum": res.local_checksum, "checksum_mode": "both",
                                     "timeout": int(t)}, t)
            step.nbytes = settings.size
            step.detail = f"ADLER32 {res.local_checksum} verified at both ends"
            _ = a

        def s_stat(step: Step) -> None:
            a = _call(w, res, step, {"op": "stat", "url": remote}, t)
            if int(a["size"]) != settings.size:
                raise StepFailed(f"size on the SE is {a['size']}, uploaded {settings.size}")
            step.detail = f"{a['size']} bytes"

        def s_checksum(step: Step) -> None:
            a = _call(w, res, step, {"op": "checksum", "url": remote, "algo": "ADLER32"}, t)
            if a["checksum"].lstrip("0") != res.local_checksum.lstrip("0"):
                raise StepFailed(f"ADLER32 on the SE is {a['checksum']}, local {res.local_checksum}")
            step.detail = f"ADLER32 {a['checksum']}"

        def s_download(step: Step) -> None:
            _call(w, res, step, {"op": "copy", "src": remote, "dst": f"file://{back}",
                                 "checksum": res.local_checksum, "checksum_mode": "both",
                                 "timeout": int(t)}, t)
            step.nbytes = settings.size
            step.detail = "ADLER32 verified at both ends"

        def s_compare(step: Step) -> None:
            same, detail = files_equal(local, back)
            step.detail = detail
            if not same:
                raise StepFailed(f"downloaded file differs from the uploaded one: {detail}")

        runner.run("list", s_list)
        runner.run("upload", s_upload)
        runner.run("stat", s_stat)
        runner.run("checksum", s_checksum)
        runner.run("download", s_download)
        runner.run("compare", s_compare)
    finally:
        # Cleanup: runs on failure and on Ctrl-C (KeyboardInterrupt passes through after it).
        _cleanup(res, runner, pool, case, remote, upload_tried, t)
        for p in (local, back):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
    return res


def _cleanup(res: TransferResult, runner: StepRunner, pool: WorkerPool, case: TransferCase,
             remote: str, upload_tried: bool, t: float) -> None:
    """Delete the remote file and confirm it is gone; as steps when the file may exist."""
    guard_path(remote, case.endpoint.test_dir)
    if not upload_tried:
        for name in CLEANUP_STEPS:
            res.steps.append(Step(name, "skipped", detail=f"skipped: {runner.blocker or 'no upload'}"
                                  " (nothing was uploaded)"))
        return
    upload = res.step("upload")
    uploaded = upload is not None and upload.ok

    def s_delete(step: Step) -> None:
        w = pool.get(case.family)  # a fresh worker if the last one was killed
        try:
            _call(w, res, step, {"op": "unlink", "url": remote}, t)
        except StepFailed as exc:
            if uploaded:
                raise
            step.detail = f"nothing to delete after the failed upload ({exc})"
            step.status = "passed"

    def s_gone(step: Step) -> None:
        w = pool.get(case.family)
        a = _call(w, res, step, {"op": "gone", "url": remote}, t)
        if not a.get("gone"):
            raise StepFailed(f"{remote} still exists ({a.get('size')} bytes) after the delete")
        step.detail = a.get("note", "gone")

    before = runner.blocker
    runner.blocker = ""
    d = runner.run("delete", s_delete, always=True)
    if d.ok:
        runner.run("gone", s_gone, always=True)
    else:
        res.steps.append(Step("gone", "skipped", detail="skipped: delete failed"))
        res.cleanup_note = f"the test file may remain on the SE: {remote}"
    if before:
        runner.blocker = before


def precondition_result(case: TransferCase, settings: TransferSettings, why: str) -> TransferResult:
    """A result for a transfer that could not start (expired proxy): every step skipped."""
    res = TransferResult(case.id, case.protocol, case.family, settings.size,
                         remote_url=case.endpoint.url("<unique name>"), target=case.target,
                         precondition=why)
    res.steps = [Step(n, "skipped", detail=f"skipped: {why}") for n in STEPS]
    return res


# --------------------------------------------------------------------------- third-party copy


def run_tpc(case: TpcCase, pool: WorkerPool, settings: TransferSettings, workdir: str | Path,
            shim: str | None = None) -> TransferResult:
    """Upload to the source, server-to-server copy with ADLER32 check, verify, clean both ends."""
    w = pool.get(case.family)
    t = settings.timeout
    n1, n2 = unique_name(f"tpc-src-{case.protocol}"), unique_name(f"tpc-dst-{case.protocol}")
    src, dst = case.source.url(n1), case.dest.url(n2)
    guard_path(src, case.source.test_dir)
    guard_path(dst, case.dest.test_dir)
    local = Path(workdir) / n1
    res = TransferResult(case.id, case.protocol, case.family, settings.size, remote_url=dst,
                         local_url=src, target=case.dest_host,
                         forcing=forcing_description(case.protocol, case.family, shim, case.names_forced)
                         + ("" if case.names_forced else
                            "; server-to-server family NOT forced (declare se_ipv6_alias)"),
                         forced=is_forced(case.protocol, shim, case.names_forced))
    res.commands = [gfal_copy_command(src, dst, case.protocol, case.family, t, shim)]
    runner = StepRunner(res)
    created: list[str] = []
    try:
        res.local_checksum = make_random_file(local, settings.size)

        def s_list(step: Step) -> None:
            for ep in (case.source, case.dest):
                _call(w, res, step, {"op": "listdir", "url": ep.url(), "create": True}, t)

        def s_seed(step: Step) -> None:
            created.append(src)
            _call(w, res, step, {"op": "copy", "src": f"file://{local}", "dst": src,
                                 "checksum": res.local_checksum, "timeout": int(t)}, t)
            step.detail = "source file uploaded"

        def s_tpc(step: Step) -> None:
            created.append(dst)
            a = _call(w, res, step, {"op": "copy", "src": src, "dst": dst, "checksum": res.local_checksum,
                                     "checksum_mode": "both", "timeout": int(t)}, t)
            step.nbytes = settings.size
            evs = [e for e in a.get("events", []) if "TYPE" in e.upper() or "MODE" in e.upper()]
            step.detail = "ADLER32 verified at both ends" + (f"; {evs[0]}" if evs else "")

        def s_checksum(step: Step) -> None:
            a = _call(w, res, step, {"op": "checksum", "url": dst, "algo": "ADLER32"}, t)
            if a["checksum"].lstrip("0") != res.local_checksum.lstrip("0"):
                raise StepFailed(
                    f"ADLER32 at the destination is {a['checksum']}, source {res.local_checksum}")
            step.detail = f"ADLER32 {a['checksum']}"

        runner.run("list", s_list)
        runner.run("seed", s_seed)
        runner.run("tpc", s_tpc)
        runner.run("checksum", s_checksum)
    finally:
        for url, ep in ((dst, case.dest), (src, case.source)):
            if url not in created:
                continue
            guard_path(url, ep.test_dir)

            def s_del(step: Step, url: str = url) -> None:
                try:
                    _call(pool.get(case.family), res, step, {"op": "unlink", "url": url}, t)
                except StepFailed as exc:
                    if "No such file" not in str(exc) and "not found" not in str(exc).lower():
                        raise
                    step.detail = "already absent"

            before, runner.blocker = runner.blocker, ""
            runner.run("delete-" + ("dest" if url == dst else "source"), s_del, always=True)
            runner.blocker = runner.blocker or before
        with contextlib.suppress(FileNotFoundError):
            local.unlink()
    return res


# --------------------------------------------------------------------------- repeats and stats


@dataclass
class RepeatStats:
    """Success rate and throughput of N runs of one transfer (or one protocol x family)."""

    runs: int
    successes: int
    failures: list[str]
    upload: list[float]  # bytes/s of successful uploads
    download: list[float]

    @property
    def rate(self) -> float:
        return self.successes / self.runs if self.runs else 0.0

    @staticmethod
    def _mmm(xs: list[float]) -> tuple[float, float, float] | None:
        return (statistics.median(xs), min(xs), max(xs)) if xs else None

    @property
    def upload_mmm(self) -> tuple[float, float, float] | None:
        return self._mmm(self.upload)

    @property
    def download_mmm(self) -> tuple[float, float, float] | None:
        return self._mmm(self.download)


def summarize(results: Iterable[TransferResult]) -> RepeatStats:
    rs = list(results)
    ok = [r for r in rs if r.ok]
    return RepeatStats(
        runs=len(rs), successes=len(ok),
        failures=[f"{r.case_id}: {r.error_summary()}" for r in rs if not r.ok],
        upload=[x for r in ok if (x := r.upload_rate)],
        download=[x for r in ok if (x := r.download_rate)],
    )


# Data-moving step -> direction of the result file's transfer figures.
DIRECTIONS = {"upload": "upload", "download": "download", "tpc": "tpc"}


def figures(results: Iterable[TransferResult]) -> list[dict[str, Any]]:
    """The result file's ``transfer`` figures of one test: one per direction, over its repeats.

    ``bytes`` and ``seconds`` are summed over the successful transfers (so the rate is their
    aggregate throughput) and ``runs`` counts them; one figure per protocol/family/direction is
    what :mod:`se_dualstack.compare` matches between two runs. Failed transfers add nothing.
    """
    acc: dict[tuple[str, int, str], list[float]] = {}
    for r in results:
        if not r.ok:
            continue
        for s in r.steps:
            direction = DIRECTIONS.get(s.name)
            if direction is None or s.throughput is None:
                continue
            tot = acc.setdefault((r.protocol, r.family, direction), [0, 0.0, 0])
            tot[0] += s.nbytes
            tot[1] += s.seconds
            tot[2] += 1
    return [{"protocol": p, "family": f, "direction": d, "bytes": int(b), "seconds": round(sec, 6),
             "runs": int(n)} for (p, f, d), (b, sec, n) in acc.items()]


def group_stats(results: Iterable[TransferResult]) -> dict[tuple[str, int], RepeatStats]:
    """Stats per (protocol, family), over every entry point and repeat."""
    groups: dict[tuple[str, int], list[TransferResult]] = {}
    for r in results:
        groups.setdefault((r.protocol, r.family), []).append(r)
    return {k: summarize(v) for k, v in sorted(groups.items())}


def mib_s(rate: float | None) -> str:
    return "-" if rate is None else f"{rate / 2**20:.1f} MiB/s"


def fmt_mmm(m: tuple[float, float, float] | None) -> str:
    if m is None:
        return "-"
    return f"{m[0] / 2**20:.1f} (min {m[1] / 2**20:.1f}, max {m[2] / 2**20:.1f}) MiB/s"


# --------------------------------------------------------------------------- report rendering


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def result_html(results: list[TransferResult], stats: RepeatStats | None = None) -> str:
    """The pytest-html extra of one transfer test (no credentials: paths and URLs only)."""
    r = results[-1]
    used = used_connections(r.connections)
    fams = ", ".join(f"IPv{f}" for f in r.families_used) or "none observed"
    addrs = "; ".join(str(c) for c in dedupe(
        Connection(c.family, c.address, c.port, c.source) for c in used)) or "-"
    refused = [str(c) for c in r.connections if c.refused]
    rows = "".join(
        f"<tr><td>{_esc(s.name)}</td><td class='se6-{_esc(s.status)}'>{_esc(s.status)}</td>"
        f"<td>{s.seconds:.3f} s</td><td>{_esc(mib_s(s.throughput)) if s.nbytes else ''}</td>"
        f"<td>{_esc(s.error or s.detail)}</td></tr>" for s in r.steps)
    parts = [
        "<div class='se6-transfer'>",
        f"<p><b>{_esc(r.case_id)}</b>: {'OK' if r.ok else 'FAILED: ' + _esc(r.error_summary())}</p>",
        "<table>",
        f"<tr><th>remote URL</th><td>{_esc(r.remote_url)}</td></tr>",
        f"<tr><th>local URL</th><td>{_esc(r.local_url)}</td></tr>",
        f"<tr><th>size</th><td>{r.size} bytes, ADLER32 {_esc(r.local_checksum or '-')}</td></tr>",
        f"<tr><th>family forced</th><td>IPv{r.family}: {_esc(r.forcing)}</td></tr>",
        f"<tr><th>family used</th><td>{_esc(fams)}</td></tr>",
        f"<tr><th>addresses</th><td>{_esc(addrs)}</td></tr>",
    ]
    if refused:
        parts.append(f"<tr><th>refused (other family)</th><td>{_esc('; '.join(refused))}</td></tr>")
    parts.append(f"<tr><th>throughput</th><td>upload {_esc(mib_s(r.upload_rate))}, "
                 f"download {_esc(mib_s(r.download_rate))}</td></tr>")
    if stats and stats.runs > 1:
        parts.append(f"<tr><th>repeats</th><td>{stats.successes}/{stats.runs} ok ({stats.rate:.0%}); "
                     f"upload {_esc(fmt_mmm(stats.upload_mmm))}; download {_esc(fmt_mmm(stats.download_mmm))}"
                     "</td></tr>")
        if stats.failures:
            parts.append("<tr><th>failures</th><td>" + "<br>".join(_esc(f) for f in stats.failures[:20])
                         + "</td></tr>")
    if r.cleanup_note:
        parts.append(f"<tr><th>cleanup</th><td>{_esc(r.cleanup_note)}</td></tr>")
    parts += ["</table>", "<table><tr><th>step</th><th>status</th><th>time</th><th>rate</th>"
              "<th>detail / gfal2 error</th></tr>", rows, "</table>",
              "<p>Reproduce by hand:</p><pre>" + _esc("\n".join(r.commands)) + "</pre>", "</div>"]
    return redact("\n".join(parts))


def throughput_svg(stats: dict[tuple[str, int], RepeatStats], width: int = 520) -> str:
    """Inline SVG bar chart: median upload/download MiB/s per protocol, IPv6 next to IPv4."""
    protos = sorted({p for p, _ in stats})
    if not protos:
        return ""
    bars: list[tuple[str, int, str, float]] = []
    for p in protos:
        for direction in ("upload", "download"):
            for fam in FAMILIES:
                s = stats.get((p, fam))
                m = (s.upload_mmm if direction == "upload" else s.download_mmm) if s else None
                bars.append((p, fam, direction, m[0] / 2**20 if m else 0.0))
    top = max([b[3] for b in bars] + [1.0])
    row_h, label_w, chart_w = 16, 170, width - 170 - 70
    h = row_h * len(bars) + 30
    colors = {6: "#2b6cb0", 4: "#dd8f1c"}
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{h}' role='img' "
           "aria-label='median throughput IPv6 vs IPv4 per protocol'>",
           "<style>text{font:11px sans-serif}</style>",
           f"<text x='0' y='12'>median throughput (MiB/s); "
           f"<tspan fill='{colors[6]}'>IPv6</tspan> vs <tspan fill='{colors[4]}'>IPv4</tspan></text>"]
    for i, (p, fam, direction, v) in enumerate(bars):
        y = 22 + i * row_h
        wbar = int(chart_w * v / top) if v else 0
        label = f"{p} {direction} IPv{fam}"
        out.append(f"<text x='0' y='{y + 11}'>{_esc(label)}</text>")
        out.append(f"<rect x='{label_w}' y='{y + 2}' width='{wbar}' height='{row_h - 4}' "
                   f"fill='{colors[fam]}'/>")
        value = f"{v:.1f}" if v else "n/a"
        out.append(f"<text x='{label_w + wbar + 4}' y='{y + 11}'>{value}</text>")
    out.append("</svg>")
    return "".join(out)


def stats_html(stats: dict[tuple[str, int], RepeatStats]) -> str:
    """Summary table per protocol x family plus the chart (HTML report summary)."""
    rows = []
    for (p, fam), s in stats.items():
        rows.append(f"<tr><td>{_esc(p)}</td><td>IPv{fam}</td><td>{s.successes}/{s.runs} ({s.rate:.0%})</td>"
                    f"<td>{_esc(fmt_mmm(s.upload_mmm))}</td><td>{_esc(fmt_mmm(s.download_mmm))}</td>"
                    f"<td>{'<br>'.join(_esc(f) for f in s.failures[:5])}</td></tr>")
    return redact(
        "<h3>Transfers per protocol and family</h3><table><tr><th>protocol</th><th>family</th>"
        "<th>success</th><th>upload median</th><th>download median</th><th>failures</th></tr>"
        + "".join(rows) + "</table>" + throughput_svg(stats))


def stats_lines(stats: dict[tuple[str, int], RepeatStats]) -> Iterator[str]:
    """The same summary for the terminal."""
    for (p, fam), s in stats.items():
        yield (f"{p:7} IPv{fam}: {s.successes}/{s.runs} ok ({s.rate:.0%}), upload {fmt_mmm(s.upload_mmm)}, "
               f"download {fmt_mmm(s.download_mmm)}")
        for f in s.failures[:5]:
            yield f"    {f}"

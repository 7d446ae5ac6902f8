"""A host's SE role and flavour from what it runs, for ``--hosts`` without an inventory.

Why: checking a healthy disk node as a DPM head node raises a dozen false alarms (SRM, DPNS,
DPM "not listening"). The SE daemons and their files say what a host is: DPM's name server and
SRM run on the head node, an XRootD manager's cmsd listens on the manager port, EOS names its MGM
and FST, a dCache layout names its doors or pools, StoRM WebDAV has its settings files. The
markers are data (each system's ``detection`` in ``data/flavours/<system>.yml``); this module
is pure logic over ``ps -eo comm,args``, ``ss -Htlnp`` and the marker files as read from the
host, tested on captures from the testbed. A host that shows nothing decisive gets no role, and
the line saying why.

Without an inventory nobody declared the host's ports and processes either: :func:`host_vars`
reads them where the host sets them (EOS_FST_HTTP_PORT in eos_env, xrd.port and XrdHttp in the
config the running xrootd reads) and takes a service's process from the socket on its port when
none of the storage data's names runs (a site whose doors are not the product's own Java, as in
the site in a box), the variables a site would otherwise write in its inventory.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from se_dualstack import knowledge
from se_dualstack.concerns import sysconf
from se_dualstack.concerns.interfaces import parse_ifcfg
from se_dualstack.concerns.services import Listener, comm_matches, in_ranges, owners, parse_ss

PS_COMMAND = "ps -eo comm,args"
SS_COMMAND = "ss -Htlnp"


@dataclass(frozen=True)
class Process:
    """One process: its kernel name (``comm``, 15 characters at most) and its command line."""

    comm: str
    args: str

    @property
    def program(self) -> str:
        """Base name of the program (``/usr/sbin/globus-gridftp-server`` -> its full name)."""
        first = self.args.split(None, 1)[0] if self.args.strip() else ""
        return os.path.basename(first)

    def is_named(self, name: str) -> bool:
        return comm_matches(self.comm, name) or self.program == name


@dataclass(frozen=True)
class Verdict:
    """What the evidence says: role (None: cannot tell), flavour (None: no marker) and why."""

    role: str | None
    flavour: str | None
    evidence: list[str] = field(default_factory=list)  # "dpnsdaemon running (DPM name server)"
    reason: str = ""  # one line: why this role, or why none
    # What was read, for host_vars once the site's flavour is settled.
    processes: list[Process] = field(default_factory=list, repr=False)
    listeners: list[Listener] = field(default_factory=list, repr=False)
    files: dict[str, str] = field(default_factory=dict, repr=False)

    def summary(self) -> str:
        """The line the report and ``se-dualstack site`` show."""
        role = self.role or "role unknown"
        flavour = f", flavour {self.flavour}" if self.flavour else ""
        return f"{role}{flavour}: {self.reason}"


def parse_ps(text: str) -> list[Process]:
    """``ps -eo comm,args`` -> processes (the header line is skipped)."""
    out = []
    for line in text.splitlines():
        if not line.strip() or line.split(None, 1)[0] == "COMMAND":
            continue
        comm, _, args = line.strip().partition(" ")
        out.append(Process(comm, args.strip()))
    return out


def _manager_ports() -> set[int]:
    return {int(p) for p in knowledge.load()["detection"]["cmsd_manager_ports"]}


def wanted_files(processes: list[Process]) -> tuple[str, ...]:
    """What to read on a host for :func:`detect` and :func:`host_vars`: every marker's and port
    file (globs), and the config files the running xrootd daemons name."""
    paths = [m["file"] for m in knowledge.detection_markers() if m.get("file")]
    paths += [p["file"] for f in knowledge.flavours() for p in knowledge.detection_ports(f) if p.get("file")]
    paths += [d.config for p in processes if (d := sysconf.parse_xrootd_cmdline(p.args)) and d.config]
    return tuple(dict.fromkeys(x for x in paths if x.startswith("/")))


def _seen(m: dict[str, Any], processes: list[Process], files: dict[str, str]) -> str | None:
    """The evidence line of a marker, None when the host does not show it."""
    if m.get("process"):
        hit = any(p.is_named(m["process"]) and (not m.get("args") or re.search(m["args"], p.args))
                  for p in processes)
        return f"{m['process']} running ({m['what']})" if hit else None
    path = next((p for p in sorted(files) if fnmatch.fnmatch(p, m["file"])
                 and (not m.get("contains") or re.search(m["contains"], files[p], re.M))), None)
    return f"{path} ({m['what']})" if path else None


def detect(processes: list[Process], listeners: list[Listener],
           files: dict[str, str] | None = None) -> Verdict:
    """Role and flavour of one host from its processes, listening TCP sockets and the marker
    files read from it (path -> text)."""
    files = files or {}
    roles: dict[str, list[str]] = {"headnode": [], "disknode": []}
    flavours: list[str] = []
    evidence: list[str] = []
    for m in knowledge.detection_markers():
        line = _seen(m, processes, files)
        if line is None:
            continue
        evidence.append(line)
        if m.get("role"):
            roles[m["role"]].append(line)
        if m.get("flavour") and m["flavour"] not in flavours:
            flavours.append(m["flavour"])
    cluster = _xrootd_cluster(processes, listeners)
    if cluster:
        role, line = cluster
        evidence.append(line)
        roles[role].append(line)
    flavour = flavours[0] if flavours else None
    read = {"processes": processes, "listeners": listeners, "files": files}
    for role in ("headnode", "disknode"):
        if roles[role]:
            return Verdict(role, flavour, evidence, "; ".join(roles[role]), **read)
    seen = sorted({p.comm for p in processes if _is_se_process(p)})
    why = (f"runs {', '.join(seen)} but nothing that tells a head node from a disk node"
           if seen else "runs no SE daemon the suite knows")
    return Verdict(None, flavour, evidence, why + "; give --se-role HOST=headnode|disknode", **read)


def _xrootd_cluster(processes: list[Process], listeners: list[Listener]) -> tuple[str, str] | None:
    """XRootD clustering: cmsd on a manager port = manager (head); else a data server (disk)."""
    if not any(p.is_named("cmsd") for p in processes):
        return None
    cmsd_ports = sorted({x.port for x in listeners if any(n == "cmsd" for n, _ in x.processes)})
    managers = [p for p in cmsd_ports if p in _manager_ports()]
    if managers:
        return "headnode", f"cmsd listening on manager port {managers[0]} (XRootD manager)"
    if any(p.is_named("xrootd") for p in processes):
        where = f"on port {cmsd_ports[0]}" if cmsd_ports else "on no manager port"
        return "disknode", f"xrootd with cmsd {where}, not a manager port (XRootD data server)"
    return None


def _is_se_process(p: Process) -> bool:
    names = {n for s in knowledge.load()["services"].values() for n in s.get("processes", [])}
    names.discard("java")
    return any(p.is_named(n) for n in names)


def detect_text(ps_text: str, ss_text: str, files: dict[str, str] | None = None) -> Verdict:
    """:func:`detect` over the raw outputs of :data:`PS_COMMAND` and :data:`SS_COMMAND`."""
    return detect(parse_ps(ps_text), parse_ss(ss_text), files)


def _xrootd_ports(v: Verdict, flavour: str, hostname: str) -> dict[str, int]:
    """xrd.port and the XrdHttp port of the running xrootd reading one of the system's configs."""
    configs = knowledge.system(flavour).paths("xrootd")
    d = next((d for p in v.processes if (d := sysconf.parse_xrootd_cmdline(p.args))
              and d.program == "xrootd" and d.config in configs and d.config in v.files), None)
    if d is None:
        return {}
    directives = sysconf.xrootd_directives(v.files[d.config], "xrootd", d.instance,
                                           (hostname, hostname.split(".")[0]))
    port = sysconf.xrootd_port(directives, knowledge.service("xrootd").port)
    http = sysconf.xrdhttp_ports(directives, port)
    return {k: val for k, val in (("xrd.port", port), ("XrdHttp", http[0] if http else None)) if val}


def host_vars(v: Verdict, flavour: str, role: str | None, hostname: str) -> tuple[dict[str, Any], list[str]]:
    """The ``se_service_ports`` and ``se_service_processes`` a host shows for itself (see the
    module's docstring), and one note for each."""
    if role is None:
        return {}, []
    ports: dict[str, int] = {}
    notes: list[str] = []
    xrd = _xrootd_ports(v, flavour, hostname)
    for p in knowledge.detection_ports(flavour):
        if p.get("xrootd"):
            value, where = xrd.get(p["xrootd"]), f"{p['xrootd']} of the running xrootd's config"
        else:
            raw = parse_ifcfg(v.files.get(p["file"], "")).get(p["key"], "")
            value, where = (int(raw) if raw.isdigit() else None), f"{p['key']} in {p['file']}"
        if value and value != knowledge.service(p["service"]).port:
            ports[p["service"]] = value
            notes.append(f"{p['service']} on {value} ({where})")
    procs: dict[str, list[str]] = {}
    for name in knowledge.services_for(flavour, role):
        svc = knowledge.service(name, ports.get(name))
        if any(p.is_named(n) for p in v.processes for n in svc.processes):
            continue
        if svc.port is not None:
            held = owners(v.listeners, svc.port)
            where = f"port {svc.port}"
        else:
            # the process holding most sockets in the ranges: another daemon's socket on an
            # ephemeral port may land in a range inside the kernel's (a cmsd in 33115-33145)
            inside = in_ranges(v.listeners, [(r.first, r.last) for r in svc.ranges], (), limit=1000)
            counts = Counter(n for x in v.listeners if x.port in inside for n in {n for n, _ in x.processes})
            held = sorted(n for n, c in counts.items() if c == max(counts.values()))
            where = f"its ranges ({', '.join(map(str, svc.ranges))})"
        if held:
            procs[name] = held
            notes.append(f"{name} served by {', '.join(held)} on {where} (no {'/'.join(svc.processes)})")
    out = {k: val for k, val in (("se_service_ports", ports), ("se_service_processes", procs)) if val}
    return out, notes


def site_flavour(verdicts: list[Verdict], given: str | None, default: str) -> tuple[str, str]:
    """The run's flavour and where it came from: ``--se-flavour``, the hosts' markers, a default.

    A disk node often runs nothing flavour-specific (plain xrootd and GridFTP), so it takes the
    flavour its head node shows.
    """
    if given:
        return given, "--se-flavour"
    seen = sorted({v.flavour for v in verdicts if v.flavour})
    if len(seen) == 1:
        return seen[0], "detected on the hosts"
    if seen:
        return default, f"hosts disagree ({', '.join(seen)}); give --se-flavour"
    return default, "default: no flavour marker seen; give --se-flavour to change it"

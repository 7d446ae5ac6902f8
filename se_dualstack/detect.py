"""A host's SE role and flavour from what it runs, for ``--hosts`` without an inventory.

Why: checking a healthy disk node as a DPM head node raises a dozen false alarms (SRM, DPNS,
DPM "not listening"). The SE daemons say what a host is: DPM's name server and SRM run on the
head node, an XRootD manager's cmsd listens on the manager port, EOS names its MGM and FST.
The markers are data (``detection`` in ``data/knowledge.yml``); this module is pure logic over
``ps -eo comm,args`` and ``ss -Htlnp`` outputs, tested on captures from the testbed. A host
that shows nothing decisive gets no role, and the line saying why.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from se_dualstack import knowledge
from se_dualstack.concerns.services import Listener, comm_matches, parse_ss

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


def _markers() -> list[dict[str, str]]:
    return list(knowledge.load()["detection"]["markers"])


def _manager_ports() -> set[int]:
    return {int(p) for p in knowledge.load()["detection"]["cmsd_manager_ports"]}


def detect(processes: list[Process], listeners: list[Listener]) -> Verdict:
    """Role and flavour of one host from its processes and listening TCP sockets."""
    roles: dict[str, list[str]] = {"headnode": [], "disknode": []}
    flavours: list[str] = []
    evidence: list[str] = []
    for m in _markers():
        hit = next((p for p in processes if p.is_named(m["process"])
                    and (not m.get("args") or re.search(m["args"], p.args))), None)
        if hit is None:
            continue
        line = f"{m['process']} running ({m['what']})"
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
    if roles["headnode"]:
        return Verdict("headnode", flavour, evidence, "; ".join(roles["headnode"]))
    if roles["disknode"]:
        return Verdict("disknode", flavour, evidence, "; ".join(roles["disknode"]))
    seen = sorted({p.comm for p in processes if _is_se_process(p)})
    why = (f"runs {', '.join(seen)} but nothing that tells a head node from a disk node"
           if seen else "runs no SE daemon the suite knows")
    return Verdict(None, flavour, evidence, why + "; give --se-role HOST=headnode|disknode")


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


def detect_text(ps_text: str, ss_text: str) -> Verdict:
    """:func:`detect` over the raw outputs of :data:`PS_COMMAND` and :data:`SS_COMMAND`."""
    return detect(parse_ps(ps_text), parse_ss(ss_text))


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

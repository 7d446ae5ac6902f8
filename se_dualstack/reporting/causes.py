"""One root cause, one line: failures that share a cause are shown once, with their checks.

Why: with one disk node down, forty red lines on three hosts hide the one fact a site admin
must act on, and blame hosts that are fine. A failure carries its cause (``record.cause``:
``unreachable:<host>`` for a host ssh cannot reach, ``resolver:<servers>`` for a dead DNS
resolver, ``suite-family:<4|6>`` for a suite machine without that family (could not run, no
host at fault), ``dependency:<what> <url>`` for something the SE hosts fetch that is not
reachable over IPv6, ``no-aaaa:<host>`` for a host without an AAAA of its own (each host whose
check failed stays at fault), ``silent:<host>|<service>`` for a service that did not answer a
transfer (one line per host, its silent services named in it)) and the host at fault
(``record.host``; the host a transfer ran through stays in ``record.through``). Failures on an
unreachable host (its service ports, transfers through other hosts reaching it) join that cause;
a silent service takes only the transfers that waited for it or were not tried for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from se_dualstack.reporting.records import Record

# The connect checks: when all of a host's fail, its every service port is down too.
CONNECT_CHECKS = ("SE6-SVC-04", "SE6-SVC-05")
# Shared causes whose failures stay findings on their hosts (the host's other failures do not
# join them, as they join an unreachable host's cause).
BLAMES_ITS_HOSTS = ("dependency", "no-aaaa")
# Causes that are one host's own (the key names it): every failure on an unreachable host joins
# its cause; a silent service's cause takes only the transfers that waited for it.
HOST_CAUSES = ("unreachable", "silent")


def cause_kind(cause: str | None) -> str:
    """The kind of a cause (``unreachable``, ``resolver``, ``suite-family``...), or ""."""
    return (cause or "").partition(":")[0]


def elsewhere(rec: Record) -> bool:
    """A check that could not run for a reason outside its host (the suite machine's own), not
    for its host's own cause (unreachable over ssh, a service that did not answer)."""
    return rec.could_not_run and cause_kind(rec.cause) not in ("", *HOST_CAUSES)


@dataclass
class RootCause:
    """A cause and the records it explains."""

    key: str
    host: str | None  # the inventory host at fault, None for a site-wide cause (resolver)
    records: list[Record] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)  # silent: the host's services that did not answer

    @property
    def kind(self) -> str:
        return cause_kind(self.key)

    @property
    def could_not_run(self) -> int:
        return sum(r.could_not_run for r in self.records)

    @property
    def through_others(self) -> int:
        return sum(bool(r.through) and not r.could_not_run for r in self.records)

    @property
    def failed_here(self) -> int:
        return len(self.records) - self.could_not_run - self.through_others

    def line(self, unreachable_reason: str = "") -> str:
        """The one line the summary and the terminal show."""
        kind, _, what = self.key.partition(":")
        if kind == "unreachable":
            ports = " and on every service port" if self._every_port_down() else ""
            why = f" ({unreachable_reason})" if unreachable_reason else ""
            bits = [f"{self.could_not_run} checks could not run"]
            if self.failed_here:
                bits.append(f"{self.failed_here} checks of it failed")
            if self.through_others:
                bits.append(f"{self.through_others} transfers through other hosts failed because of it")
            return f"{what} unreachable over ssh{why}{ports}: {'; '.join(bits)}"
        if kind == "silent":
            fams = sorted({t.family for r in self.records for t in r.transfers}, reverse=True)
            over = " and ".join(f"IPv{f}" for f in fams)
            services = " and ".join(self.parts) or "a service"
            it = "them" if len(self.parts) > 1 else "it"
            timed_out = len(self.records) - self.could_not_run
            bits = [f"{timed_out} transfer{'s' if timed_out != 1 else ''} timed out waiting for {it}"]
            if self.could_not_run:
                bits.append(f"{self.could_not_run} could not run (not tried: no second wait)")
            return (f"{what}: {services} did not answer{f' over {over}' if over else ''}: "
                    f"{'; '.join(bits)}")
        hosts = sorted({r.host for r in self.records if r.host})
        if kind == "resolver":
            return (f"DNS resolver {what} did not answer: {len(self.records)} checks on "
                    f"{len(hosts)} hosts failed because of it")
        if kind == "suite-family":
            return (f"the suite machine has no IPv{what}: {len(self.records)} IPv{what} checks and "
                    f"transfers on {len(hosts)} hosts could not run (no SE host is at fault; run "
                    f"them from a machine with IPv{what})")
        if kind == "no-aaaa":
            others = [r for r in self.records if r.check != "SE6-DNS-02"]
            tail = f": {len(others)} IPv6 transfers and connects failed because of it" if others else ""
            return f"{what} has no AAAA record of its own (SE6-DNS-02){tail}"
        if kind == "dependency":
            own = sorted({r.host.split(".")[0] for r in self.records
                          if r.check == "SE6-DEP-01" and r.host})
            others = [r for r in self.records if r.check != "SE6-DEP-01"]
            bits = [f"SE6-DEP-01 failed on {len(own)} hosts ({', '.join(own)})"] if own else []
            if others:
                bits.append(f"{len(others)} transfers failed because of it")
            return f"{what} cannot be reached over IPv6 from the SE hosts: {'; '.join(bits)}"
        return f"{self.key}: {len(self.records)} checks"

    def _every_port_down(self) -> bool:
        connects = [r for r in self.records if r.check in CONNECT_CHECKS]
        return bool(connects) and all(r.failed for r in connects)


def root_causes(records: Iterable[Record]) -> tuple[list[RootCause], list[Record]]:
    """(causes, failures explained by no cause), both in record order."""
    failed = [r for r in records if r.failed]
    down = {(r.cause or "").partition(":")[2] for r in failed if (r.cause or "").startswith("unreachable:")}
    causes: dict[str, RootCause] = {}
    for r in failed:
        key = _group(r.cause or "", down)
        if key:
            kind, _, what = key.partition(":")
            host = what if kind in HOST_CAUSES else None
            cause = causes.setdefault(key, RootCause(key, host))
            part = (r.cause or "").partition("|")[2]
            if kind == "silent" and part and part not in cause.parts:
                cause.parts.append(part)
    # An unreachable host explains every failure on it; other causes only their own records.
    host_cause = {c.host: c for c in causes.values() if c.host and c.kind == "unreachable"}
    loose: list[Record] = []
    for r in failed:
        key = _group(r.cause or "", down)
        if key:
            causes[key].records.append(r)
        elif r.host in host_cause:
            host_cause[r.host].records.append(r)
        else:
            loose.append(r)
    return list(causes.values()), loose


def _group(key: str, down: set[str]) -> str:
    """The cause a record's key is shown under: a host's silent services share one line
    (``silent:<host>|<service>`` -> ``silent:<host>``), the host's unreachability when ssh
    cannot reach it either (``down``: the unreachable hosts)."""
    if not key.startswith("silent:"):
        return key
    host = key.partition(":")[2].partition("|")[0]
    return f"unreachable:{host}" if host in down else f"silent:{host}"


def hosts_at_fault(causes: list[RootCause], loose: list[Record]) -> list[str]:
    """The hosts a verdict may name: those of host causes and of unexplained failures."""
    out = [c.host for c in causes if c.host]
    out += [r.host for c in causes if cause_kind(c.key) in BLAMES_ITS_HOSTS
            for r in c.records if r.host]
    out += [r.host for r in loose if r.host]
    return list(dict.fromkeys(out))

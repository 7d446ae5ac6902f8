"""One root cause, one line: failures that share a cause are shown once, with their checks.

Why: with one disk node down, forty red lines on three hosts hide the one fact a site admin
must act on, and blame hosts that are fine. A failure carries its cause (``record.cause``:
``unreachable:<host>`` for a host ssh cannot reach, ``resolver:<servers>`` for a dead DNS
resolver, ``silent:<host>|<service>`` for a service that did not answer a transfer) and the host
at fault (``record.host``; the host a transfer ran through stays in ``record.through``). Failures
on an unreachable host (its service ports, transfers through other hosts reaching it) join that
cause; a silent service takes only the transfers that waited for it or were not tried for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from se_dualstack.reporting.records import Record

# The connect checks: when all of a host's fail, its every service port is down too.
CONNECT_CHECKS = ("SE6-SVC-04", "SE6-SVC-05")


@dataclass
class RootCause:
    """A cause and the records it explains."""

    key: str
    host: str | None  # the inventory host at fault, None for a site-wide cause (resolver)
    records: list[Record] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)  # silent: the host's services that did not answer

    @property
    def kind(self) -> str:
        return self.key.partition(":")[0]

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
        if kind == "resolver":
            hosts = sorted({r.host for r in self.records if r.host})
            return (f"DNS resolver {what} did not answer: {len(self.records)} checks on "
                    f"{len(hosts)} hosts failed because of it")
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
            host = what if kind in ("unreachable", "silent") else None
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
    out += [r.host for r in loose if r.host]
    return list(dict.fromkeys(out))

"""The run's summary, built once at the end: verdict, counts, matrix, root causes, waivers.

Why one object: the HTML report, the terminal and the verdict must say the same thing about the
same run, so the root causes, the counts and the verdict are computed here once and every
renderer reads them. Pure: records and site in, a :class:`RunSummary` (and its HTML) out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from se_dualstack.model import SEHost, Site
from se_dualstack.reporting import templates
from se_dualstack.reporting.causes import RootCause, elsewhere, hosts_at_fault, root_causes
from se_dualstack.reporting.concerns import title
from se_dualstack.reporting.matrix import LEGEND, Matrix, matrix
from se_dualstack.reporting.records import PASSED, HostFacts, Record

MAX_FAILURES = 200


@dataclass
class Counts:
    """One count of checks, used by the verdict, the matrix legend and the count line."""

    total: int = 0
    passed: int = 0
    failed: int = 0  # could-not-run included
    could_not_run: int = 0
    waived: int = 0
    not_applicable: int = 0

    @classmethod
    def of(cls, records: Iterable[Record]) -> Counts:
        c = cls()
        for r in records:
            c.total += 1
            if r.outcome in PASSED:
                c.passed += 1
            elif r.failed:
                c.failed += 1
                c.could_not_run += r.could_not_run
            elif r.outcome in ("waived", "xfailed"):
                c.waived += 1
            else:
                c.not_applicable += 1
        return c

    def line(self, hosts: int, seconds: float) -> str:
        """``177 checks on 3 hosts in 23 s: 170 passed, 6 not applicable, 1 waived``."""
        bits = [f"{n} {what}" for n, what in (
            (self.failed - self.could_not_run, "failed"), (self.could_not_run, "could not run"),
            (self.passed, "passed"), (self.waived, "waived"),
            (self.not_applicable, "not applicable")) if n]
        return (f"{self.total} checks on {hosts} hosts in {seconds:.0f} s"
                + (f": {', '.join(bits)}" if bits else "") + ".")


@dataclass
class RunSummary:
    """Everything the report's first screen and the terminal say about the run."""

    site: Site
    records: list[Record]  # the checks about a host, in record order
    hosts: Mapping[str, HostFacts]
    matrix: Matrix
    causes: list[RootCause]
    loose: list[Record]  # failures explained by no root cause
    counts: Counts
    kind: str  # pass | fail | skip
    verdict: str
    adhoc: bool = False
    seconds: float = 0.0
    waived: list[Record] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [h.name for h in self.site.hosts]

    def facts(self, name: str) -> HostFacts:
        return self.hosts.get(name) or HostFacts()

    def os_text(self, h: SEHost) -> str:
        f = self.facts(h.name)
        return host_os_text(h, f.detected_os or None, bool(f.unreachable))

    def unreachable(self) -> dict[str, str]:
        return {n: f.unreachable for n, f in sorted(self.hosts.items()) if f.unreachable}


def host_os_text(h: SEHost, detected: str | None, unreachable: bool) -> str:
    """``OS el7 declared and detected``, ``OS el9 detected``, ``OS not detected (unreachable)``."""
    declared = h.declared_os
    detected = detected or h.detected_os
    if unreachable:
        det = "not detected (unreachable)"
    elif detected:
        det = f"{detected} detected"
    else:
        det = "not detected"
    if declared:
        if detected == declared:
            return f"OS {declared} declared and detected"
        return f"OS {declared} declared ({det})"
    return f"OS {det}"


def waiver_text(r: Record) -> str:
    """``SE6-RES-01 on disk01 until 2099-12-31 (ticket 77)``: a waived failure, named."""
    w = r.waiver
    return (f"{r.check or r.nodeid} on {r.host} until {w.expires if w else '?'} "
            f"({w.justification if w else 'no justification'})")


def verdict(counts: Counts, names: list[str], causes: list[RootCause], loose: list[Record],
            waived: list[Record]) -> tuple[str, str]:
    """(css class, sentence): ACCEPTED (with waivers, naming them), NOT ACCEPTED naming the hosts
    at fault, or NO RESULT."""
    waivers = ""
    if waived:
        waivers = (f" {len(waived)} failure{'s' if len(waived) > 1 else ''} waived: "
                   + "; ".join(waiver_text(r) for r in waived) + ".")
    failed = [r for c in causes for r in c.records] + loose
    if failed and all(elsewhere(r) for r in failed):
        # Nothing failed on a host: items the suite machine could not run (no IPv4 on it).
        why = "; ".join(c.line() for c in causes)
        if counts.passed and all(c.key == "suite-family:4" for c in causes):
            return ("pass", f"ACCEPTED for what this machine can prove: all {counts.passed} applicable "
                            f"checks passed on {len(names)} hosts ({counts.waived + counts.not_applicable}"
                            f" not applicable or waived); {why}.{waivers}")
        return ("skip", f"NO RESULT for the site: {why}; {counts.passed} other checks passed.{waivers}")
    if counts.failed:
        at_fault = sorted(hosts_at_fault(causes, loose),
                          key=lambda n: names.index(n) if n in names else len(names))
        n_norun = counts.could_not_run
        what = f"{counts.failed - n_norun} of {counts.total} checks failed" + (
            f" and {n_norun} could not run" if n_norun else "")
        where = f" on {len(at_fault)} of {len(names)} hosts ({', '.join(at_fault)})" if at_fault else ""
        site_wide = [c.line() for c in causes if c.host is None]
        why = f"; root cause: {'; '.join(site_wide)}" if site_wide else ""
        return ("fail", f"NOT ACCEPTED: {what}{where}{why}. Each failure below names its fix."
                        + waivers)
    if counts.passed:
        na = f" ({counts.not_applicable} not applicable)" if counts.not_applicable else ""
        if waived:
            return ("pass", f"ACCEPTED WITH WAIVERS: {counts.passed} of {counts.passed + counts.waived}"
                            f" applicable checks passed on {len(names)} hosts{na}.{waivers}")
        return ("pass", f"ACCEPTED: all {counts.passed} applicable checks passed on {len(names)} "
                        f"hosts{na}.")
    return ("skip", "NO RESULT: no check ran to completion." + waivers)


def summarize(site: Site, records: Iterable[Record], hosts: Mapping[str, HostFacts],
              adhoc: bool = False, seconds: float = 0.0) -> RunSummary:
    """The run's summary: root causes computed here, once, for every renderer."""
    rows = [r for r in records if r.host]
    names = [h.name for h in site.hosts]
    causes, loose = root_causes(rows)
    counts = Counts.of(rows)
    waived = [r for r in rows if r.waived]
    kind, sentence = verdict(counts, names, causes, loose, waived)
    return RunSummary(site, rows, hosts, matrix(rows, names), causes, loose, counts, kind, sentence,
                      adhoc, seconds, waived)


def failure_items(failed: list[Record], names: list[str]) -> list[dict[str, str]]:
    """Failures in host order, each split into what was found and its fix (for the template)."""
    shown = sorted(failed, key=lambda r: (names.index(r.host) if r.host in names else 99,
                                          r.check or ""))
    out = []
    for r in shown[:MAX_FAILURES]:
        cid = r.check or ""
        text = r.message.removeprefix(f"[{cid}] ").removeprefix(f"{r.host}: ")
        what, _, fix = text.partition(" Fix: ")
        out.append({"check": cid or "?", "host": r.host or "", "through": r.through or "",
                    "what": what, "fix": fix})
    return out


def summary_html(s: RunSummary) -> str:
    """Verdict, count line, hosts x concerns matrix, unreachable hosts, root causes, failures."""
    names = s.names
    return templates.render(
        "summary.html.j2", s=s, title=title, legend=LEGEND,
        count_line=s.counts.line(len(names), s.seconds),
        causes=[(c.line(s.facts(c.host or "").unreachable), failure_items(c.records, names),
                 len(c.records)) for c in s.causes],
        failures=failure_items(s.loose, names), more=max(0, len(s.loose) - MAX_FAILURES),
        failures_heading="Other failed checks" if s.causes else "Failed checks")

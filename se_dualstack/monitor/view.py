"""One run as every monitoring output sees it: the report's counts, root causes and hosts at
fault, each host x concern cell, its verdict, and the median latency of each transfer step.

Why one view: the probe's status line, the Prometheus series and a night of the history page
must say what the run's own report says, so they take the summary's own pieces (:class:`Counts`,
:func:`root_causes`, :func:`matrix`, :func:`verdict`) over the result file's records.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timezone

from se_dualstack.reporting.causes import RootCause, hosts_at_fault, root_causes
from se_dualstack.reporting.matrix import Matrix, matrix
from se_dualstack.reporting.records import Record
from se_dualstack.reporting.resultfile import ResultDoc
from se_dualstack.reporting.summary import Counts, verdict
from se_dualstack.transfer.stats import group_stats

# (protocol, family, credential, step) -> median seconds
Latencies = dict[tuple[str, int, str, str], float]
STEP_LISTS = (("upload", "upload_s"), ("download", "download_s"), ("tpc", "tpc_s"))


@dataclass
class RunView:
    """What one result file says, computed once."""

    doc: ResultDoc
    rows: list[Record]  # the checks about a host
    counts: Counts
    causes: list[RootCause]
    loose: list[Record]  # failures no root cause explains
    hosts: list[str]  # in the result file's order
    at_fault: list[str]
    matrix: Matrix
    kind: str  # the report's verdict: pass | fail | skip
    verdict: str
    latencies: Latencies = field(default_factory=dict)

    @property
    def failed_only(self) -> int:
        """Failures that are findings (not checks that could not run)."""
        return self.counts.failed - self.counts.could_not_run

    def finished(self) -> datetime | None:
        """When the run ended (UTC), from the result file."""
        return parse_time(self.doc.finished or self.doc.started)


def parse_time(text: str | None) -> datetime | None:
    """``2026-12-03T10:31:51Z`` -> an aware datetime (None when absent or malformed)."""
    if not text:
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def latencies(records: list[Record]) -> Latencies:
    """Median seconds per protocol, family, credential and data step, over the run's transfers."""
    out: Latencies = {}
    for (protocol, family, auth), st in group_stats(t for r in records for t in r.transfers).items():
        for step, attr in STEP_LISTS:
            xs = getattr(st, attr)
            if xs:
                out[(protocol, family, auth, step)] = statistics.median(xs)
    return out


def view(doc: ResultDoc) -> RunView:
    """The run of a result file, as its own report summarized it."""
    rows = [r for r in doc.records if r.host]
    names = [str(h["name"]) for h in doc.hosts if isinstance(h, dict) and h.get("name")]
    names += [n for n in dict.fromkeys(r.host for r in rows if r.host) if n not in names]
    causes, loose = root_causes(rows)
    at_fault = sorted(hosts_at_fault(causes, loose),
                      key=lambda n: names.index(n) if n in names else len(names))
    counts = Counts.of(rows)
    kind, sentence = verdict(counts, names, causes, loose, [r for r in rows if r.waived])
    return RunView(doc, rows, counts, causes, loose, names, at_fault,
                   matrix(rows, names), kind, sentence, latencies(doc.records))

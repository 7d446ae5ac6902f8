"""The Prometheus exposition of the newest run of each site, for node_exporter's textfile
collector (``--collector.textfile.directory``).

Why a textfile: the suite runs once a night, not on a scrape; node_exporter serves the file
it finds in its directory at every scrape, so the series stay until the next night replaces
them. The writer renames a temporary file over the old one (a scrape never sees half a file),
and no sample carries a timestamp (node_exporter refuses them in textfiles): the run's end time
is a series of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from se_dualstack import exitcodes
from se_dualstack.monitor.view import RunView, view
from se_dualstack.reporting.matrix import Cell
from se_dualstack.reporting.resultfile import ResultDoc

# The matrix's cell counts (not_run_here: the suite machine lacked the family, no host at fault).
OUTCOMES = ("passed", "failed", "could_not_run", "not_run_here", "waived", "not_applicable")
CATEGORIES = tuple(dict.fromkeys(exitcodes.CATEGORY.values()))


def escape(value: str) -> str:
    """A label value as the exposition format wants it: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def number(value: float) -> str:
    """A sample value, exact (the shortest text that reads back the same float)."""
    v = float(value)
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


@dataclass
class Family:
    """One metric: its help, type and samples (labels, value)."""

    name: str
    help: str
    type: str = "gauge"
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.type}"]
        for labels, value in self.samples:
            text = ",".join(f'{k}="{escape(str(v))}"' for k, v in labels.items())
            out.append(f"{self.name}{{{text}}} {number(value)}")
        return out


def families() -> dict[str, Family]:
    """Every metric the file may hold, in the order it lists them."""
    return {f.name: f for f in (
        Family("se6_checks", "Checks of one concern on one host by outcome, as the report's "
                             "hosts x concerns matrix counts them (newest run of the site)."),
        Family("se6_check_passing", "1 when every test of the check on the host passed, was "
                                    "waived or did not apply; 0 when one failed or could not run."),
        Family("se6_transfer_step_latency_seconds", "Median seconds of a transfer step (upload, "
               "download, tpc) per protocol, address family and credential."),
        Family("se6_transfers", "Transfers per protocol, address family, credential and result."),
        Family("se6_run_end_timestamp_seconds", "When the newest run of the site ended (Unix time)."),
        Family("se6_run_duration_seconds", "How long the newest run of the site took."),
        Family("se6_run_exit_status", "The suite's exit status: 0 passed, 1 checks failed, "
                                      "2-5 could not run."),
        Family("se6_run_exit_category", "1 for the newest run's exit category (passed, "
                                        "checks-failed, could-not-run), 0 for the others."),
        Family("se6_run_info", "The newest run: suite version, flavour, selection (whole, or "
                               "what narrowed it)."),
    )}


def _outcome_of(records: list) -> float:
    return 0.0 if any(r.failed for r in records) else 1.0


def add_run(fams: dict[str, Family], v: RunView) -> None:
    """The series of one site's newest run."""
    site = {"site": v.doc.site}
    for host in v.hosts:
        for concern in v.matrix.concerns:
            cell = v.matrix.cell(host, concern) or Cell()
            for outcome in OUTCOMES:
                fams["se6_checks"].samples.append(
                    ({**site, "host": host, "concern": concern, "outcome": outcome},
                     float(getattr(cell, outcome))))
    by_check: dict[tuple[str, str], list] = {}
    for r in v.rows:
        if r.check:
            by_check.setdefault((r.host or "", r.check), []).append(r)
    for (host, check), recs in sorted(by_check.items()):
        fams["se6_check_passing"].samples.append(({**site, "host": host, "check": check}, _outcome_of(recs)))
    for (protocol, family, auth, step), seconds in sorted(v.latencies.items()):
        fams["se6_transfer_step_latency_seconds"].samples.append(
            ({**site, "protocol": protocol, "family": f"ipv{family}", "credential": auth, "step": step},
             seconds))
    counts: dict[tuple[str, int, str, str], int] = {}
    for r in v.doc.records:
        for t in r.transfers:
            key = (t.protocol, t.family, t.auth, "ok" if t.ok else "failed")
            counts[key] = counts.get(key, 0) + 1
    for (protocol, family, auth, result), n in sorted(counts.items()):
        fams["se6_transfers"].samples.append(
            ({**site, "protocol": protocol, "family": f"ipv{family}", "credential": auth,
              "result": result}, float(n)))
    end = v.finished()
    if end is not None:
        fams["se6_run_end_timestamp_seconds"].samples.append((site, end.timestamp()))
    fams["se6_run_duration_seconds"].samples.append((site, v.doc.duration))
    if v.doc.exit_status is not None:
        fams["se6_run_exit_status"].samples.append((site, float(v.doc.exit_status)))
    for category in CATEGORIES:
        fams["se6_run_exit_category"].samples.append(
            ({**site, "category": category}, float(v.doc.exit_category == category)))
    fams["se6_run_info"].samples.append(({
        **site, "suite_version": v.doc.suite_version or "", "flavour": v.doc.flavour or "",
        "selection": "; ".join(v.doc.partial) or "whole"}, 1.0))


def exposition(docs: Iterable[ResultDoc]) -> str:
    """The text of the ``.prom`` file for the newest run of each site."""
    fams = families()
    for doc in docs:
        add_run(fams, view(doc))
    lines = [line for f in fams.values() if f.samples for line in f.lines()]
    return "\n".join(lines) + "\n"

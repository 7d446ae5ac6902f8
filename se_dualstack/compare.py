"""Compare two result files: what regressed, what was fixed, what is still failing.

Why: a site runs the suite before and after a change (and every night); the question is "what
did the change break or repair", not "what fails".  Tests are matched by pytest node id, which
names the check and the host (``test_x[host-detail]``).  The exit status gates CI: 0 nothing
regressed, 1 at least one test regressed, 2 a file could not be read.

Usage::

    python -m se_dualstack.compare OLD.json NEW.json [--html OUT.html] [--text OUT.txt]
                                   [--throughput-threshold 0.2] [--latency-threshold 1.0]

Transfer figures: a step that moved at least 32 MiB (the suite's own rule,
:data:`se_dualstack.transfer.stats.THROUGHPUT_MIN_BYTES`) is compared by its throughput; a
smaller one by its latency (seconds), listed when it changed by more than the latency threshold
and by at least :data:`LATENCY_FLOOR` seconds.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from se_dualstack import exitcodes
from se_dualstack.reporting import templates
from se_dualstack.reporting.records import FAILED, Record
from se_dualstack.reporting.resultfile import ResultDoc, ResultFileError, read
from se_dualstack.transfer.stats import figures, latencies

DEFAULT_THRESHOLD = 0.2
# A latency change is listed beyond this fraction (1.0: twice as slow, or twice as fast)...
DEFAULT_LATENCY_THRESHOLD = 1.0
# ...and only when it moved by this many seconds: below that it is noise (on the testbed a 1 MiB
# GridFTP download took 0.13 s one night and 0.53 s the next, nothing changed); what breaks a
# path costs more (a resolver timeout, a TCP SYN retry: 1-5 s).
LATENCY_FLOOR = 0.5
BAD = frozenset(FAILED)  # outcomes that make the suite exit 1
# A result file as read (or as its JSON content, read through the same ResultDoc).
Doc = Union[ResultDoc, Mapping[str, Any]]
__all__ = ["ResultFileError", "compare", "main", "render_html", "render_text"]


@dataclass(frozen=True)
class Change:
    """One test present in both runs whose outcome moved between categories (or stayed failing)."""

    nodeid: str
    check: str | None
    host: str | None
    old: str
    new: str
    message: str  # the newer message (the older one if the test now passes)


@dataclass(frozen=True)
class Presence:
    """A test present in only one of the runs."""

    nodeid: str
    check: str | None
    host: str | None
    outcome: str
    message: str


@dataclass(frozen=True)
class Throughput:
    """A transfer figure whose rate changed by more than the threshold."""

    nodeid: str
    host: str | None
    label: str
    old: float
    new: float

    @property
    def ratio(self) -> float:
        return (self.new - self.old) / self.old if self.old else float("inf")


@dataclass(frozen=True)
class Latency:
    """A latency-bound transfer step whose median time changed beyond the latency threshold."""

    nodeid: str
    host: str | None
    label: str
    old: float  # seconds
    new: float

    @property
    def ratio(self) -> float:
        return (self.new - self.old) / self.old if self.old else float("inf")


@dataclass
class Comparison:
    """Everything the reports list, already sorted; ``exit_status`` is the CI verdict."""

    old_meta: dict[str, Any]
    new_meta: dict[str, Any]
    threshold: float
    latency_threshold: float = DEFAULT_LATENCY_THRESHOLD
    regressions: list[Change] = field(default_factory=list)
    fixed: list[Change] = field(default_factory=list)
    still_failing: list[Change] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    added: list[Presence] = field(default_factory=list)
    removed: list[Presence] = field(default_factory=list)
    added_checks: list[str] = field(default_factory=list)
    removed_checks: list[str] = field(default_factory=list)
    added_hosts: list[str] = field(default_factory=list)
    removed_hosts: list[str] = field(default_factory=list)
    throughput: list[Throughput] = field(default_factory=list)
    latency: list[Latency] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_status(self) -> int:
        return exitcodes.COMPARE_REGRESSED if self.regressions else exitcodes.COMPARE_OK

    def summary_line(self) -> str:
        added_bad = sum(1 for p in self.added if p.outcome in BAD)
        return (f"{len(self.regressions)} regressed, {len(self.fixed)} fixed, "
                f"{len(self.still_failing)} still failing, {len(self.changed)} other changes, "
                f"{len(self.added)} added ({added_bad} failing), {len(self.removed)} removed, "
                f"{len(self.throughput)} throughput changes, {len(self.latency)} latency changes")


# --------------------------------------------------------------------------- comparing


def _doc(doc: Doc) -> ResultDoc:
    return doc if isinstance(doc, ResultDoc) else ResultDoc.from_dict(doc, path=None)


def _key(item: Change | Presence | Throughput) -> tuple[str, str, str]:
    return (getattr(item, "check", None) or "", item.host or "", item.nodeid)


def compare(old: Doc, new: Doc, threshold: float = DEFAULT_THRESHOLD,
            latency_threshold: float = DEFAULT_LATENCY_THRESHOLD) -> Comparison:
    """Classify every test id of the two runs; see the module doc for the categories."""
    old, new = _doc(old), _doc(new)
    comp = Comparison(old_meta=_meta(old), new_meta=_meta(new), threshold=threshold,
                      latency_threshold=latency_threshold)
    olds: dict[str, Record] = {r.nodeid: r for r in old.records}
    news: dict[str, Record] = {r.nodeid: r for r in new.records}
    for nodeid in sorted(olds.keys() & news.keys()):
        o, n = olds[nodeid], news[nodeid]
        message = n.message if n.outcome != "passed" else o.message
        ch = Change(nodeid, n.check or o.check, n.host or o.host, o.outcome, n.outcome, message)
        if n.outcome in BAD and o.outcome not in BAD:
            comp.regressions.append(ch)
        elif o.outcome in BAD and n.outcome == "passed":
            comp.fixed.append(ch)
        elif o.outcome in BAD and n.outcome in BAD:
            comp.still_failing.append(ch)
        elif o.outcome != n.outcome:
            comp.changed.append(ch)
        of, nf = figures(o.transfers), figures(n.transfers)
        for label in sorted(of.keys() & nf.keys()):
            a, b = of[label], nf[label]
            if a > 0 and abs(b - a) / a > threshold:
                comp.throughput.append(Throughput(nodeid, ch.host, label, a, b))
        ol, nl = latencies(o.transfers), latencies(n.transfers)
        for label in sorted(ol.keys() & nl.keys()):
            a, b = ol[label], nl[label]
            if a > 0 and abs(b - a) / a > latency_threshold and abs(b - a) >= LATENCY_FLOOR:
                comp.latency.append(Latency(nodeid, ch.host, label, a, b))
    for nodeid in sorted(news.keys() - olds.keys()):
        r = news[nodeid]
        comp.added.append(Presence(nodeid, r.check, r.host, r.outcome, r.message))
    for nodeid in sorted(olds.keys() - news.keys()):
        r = olds[nodeid]
        comp.removed.append(Presence(nodeid, r.check, r.host, r.outcome, r.message))
    comp.added_checks = sorted(new.check_ids() - old.check_ids())
    comp.removed_checks = sorted(old.check_ids() - new.check_ids())
    comp.added_hosts = sorted(new.host_names() - old.host_names())
    comp.removed_hosts = sorted(old.host_names() - new.host_names())
    for lst in (comp.regressions, comp.fixed, comp.still_failing, comp.changed, comp.added, comp.removed):
        lst.sort(key=_key)
    comp.throughput.sort(key=lambda t: (t.ratio, t.nodeid, t.label))  # biggest slow-downs first
    comp.latency.sort(key=lambda t: (-t.ratio, t.nodeid, t.label))  # biggest slow-downs first
    comp.warnings = _warnings(old, new)
    return comp


def _meta(doc: ResultDoc) -> dict[str, Any]:
    return {"path": doc.path, "site": doc.site, "started": doc.started,
            "suite_version": doc.suite_version, "inventory_sha256": doc.inventory.get("sha256"),
            "exit_status": doc.exit_status, "exit_category": doc.exit_category,
            "tests": len(doc.records), "format": doc.format}


def _warnings(old: ResultDoc, new: ResultDoc) -> list[str]:
    """Things that make the comparison less meaningful, said up front rather than hidden."""
    out = []
    if old.site != new.site:
        out.append(f"different sites: {old.site!r} vs {new.site!r}")
    for label, doc in (("old", old), ("new", new)):
        if doc.exit_category == "could-not-run" or not doc.records:
            out.append(f"the {label} run did not run its checks ({doc.exit_detail or 'no records'})")
    oi, ni = old.inventory.get("sha256"), new.inventory.get("sha256")
    if oi and ni and oi != ni:
        out.append("the inventory changed between the runs (sha256 differs)")
    if old.suite_version != new.suite_version:
        out.append(f"suite version changed: {old.suite_version} -> {new.suite_version}")
    return out


# --------------------------------------------------------------------------- rendering


def _change_line(c: Change) -> str:
    return f"{c.check or '-'}  {c.host or '-'}  {c.nodeid}  {c.old} -> {c.new}"


def regression_lines(comp: Comparison) -> list[str]:
    """One line per regression with its message: the part a nightly log shows."""
    return [f"{_change_line(c)}: {c.message}" for c in comp.regressions]


def _sections(comp: Comparison) -> list[tuple[str, list[str]]]:
    """(title, lines) in report order: regressions first, because that is what gates."""
    def changes(items: list[Change]) -> list[str]:
        return [_change_line(c) + (f"\n      {c.message}" if c.message else "") for c in items]

    def presences(items: list[Presence]) -> list[str]:
        return [f"{p.check or '-'}  {p.host or '-'}  {p.nodeid}  {p.outcome}"
                + (f"\n      {p.message}" if p.message and p.outcome != "passed" else "") for p in items]

    pct = f"{comp.threshold:.0%}"
    return [
        ("Regressions (newly failing)", changes(comp.regressions)),
        ("Fixed (newly passing)", changes(comp.fixed)),
        ("Still failing", changes(comp.still_failing)),
        ("Other outcome changes (skipped, waived, ...)", changes(comp.changed)),
        ("Added tests (only in the new run)", presences(comp.added)),
        ("Removed tests (only in the old run)", presences(comp.removed)),
        ("Added checks", comp.added_checks),
        ("Removed checks", comp.removed_checks),
        ("Added hosts", comp.added_hosts),
        ("Removed hosts", comp.removed_hosts),
        (f"Transfer throughput changes beyond {pct} (transfers of 32 MiB or more)",
         [f"{t.host or '-'}  {t.nodeid}  {t.label}: {t.old:.2f} -> {t.new:.2f} MB/s ({t.ratio:+.0%})"
          for t in comp.throughput]),
        (f"Transfer latency changes beyond {comp.latency_threshold:.0%} and {LATENCY_FLOOR:g} s "
         "(smaller transfers)",
         [f"{t.host or '-'}  {t.nodeid}  {t.label}: {t.old:.3f} -> {t.new:.3f} s ({t.ratio:+.0%})"
          for t in comp.latency]),
    ]


def _verdict(comp: Comparison) -> str:
    if comp.regressions:
        return f"REGRESSED: {len(comp.regressions)} test(s) newly failing (exit {comp.exit_status})"
    return f"no regressions (exit {comp.exit_status})"


def _run_line(label: str, m: dict[str, Any]) -> str:
    sha = (m.get("inventory_sha256") or "")[:12] or "-"
    return (f"{label}: {m.get('site')} started {m.get('started')}  suite {m.get('suite_version')}  "
            f"inventory {sha}  exit {m.get('exit_status')} ({m.get('exit_category')})  "
            f"{m.get('tests')} tests  [{m.get('path')}]")


def render_text(comp: Comparison) -> str:
    """Plain-text report for logs and mail."""
    lines = ["se-dualstack run comparison", _run_line("old", comp.old_meta), _run_line("new", comp.new_meta),
             f"verdict: {_verdict(comp)}", f"summary: {comp.summary_line()}"]
    lines += [f"warning: {w}" for w in comp.warnings]
    for title, items in _sections(comp):
        lines.append("")
        lines.append(f"{title}: {len(items)}")
        lines += [f"  {item}" for item in items]
    return "\n".join(lines) + "\n"


def render_html(comp: Comparison) -> str:
    """Self-contained HTML report (the report's style sheet inline, no assets) for CI."""
    def changes(items: list[Change]) -> list[list[str]]:
        return [[c.check or "-", c.host or "-", c.nodeid, c.old, c.new, c.message] for c in items]

    def presences(items: list[Presence]) -> list[list[str]]:
        return [[p.check or "-", p.host or "-", p.nodeid, p.outcome, p.message] for p in items]

    change_head = ["check", "host", "test", "before", "after", "message"]
    presence_head = ["check", "host", "test", "outcome", "message"]
    moved = [comp.added_checks, comp.removed_checks, comp.added_hosts, comp.removed_hosts]
    blocks = [
        ("Regressions (newly failing)", change_head, changes(comp.regressions)),
        ("Fixed (newly passing)", change_head, changes(comp.fixed)),
        ("Still failing", change_head, changes(comp.still_failing)),
        ("Other outcome changes", change_head, changes(comp.changed)),
        ("Added tests", presence_head, presences(comp.added)),
        ("Removed tests", presence_head, presences(comp.removed)),
        ("Added / removed checks and hosts", ["what", "added", "removed"],
         [["checks", ", ".join(comp.added_checks) or "-", ", ".join(comp.removed_checks) or "-"],
          ["hosts", ", ".join(comp.added_hosts) or "-", ", ".join(comp.removed_hosts) or "-"]]
         if any(moved) else []),
        (f"Transfer throughput changes beyond {comp.threshold:.0%} (transfers of 32 MiB or more)",
         ["host", "test", "figure", "before MB/s", "after MB/s", "change"],
         [[t.host or "-", t.nodeid, t.label, f"{t.old:.2f}", f"{t.new:.2f}", f"{t.ratio:+.0%}"]
          for t in comp.throughput]),
        (f"Transfer latency changes beyond {comp.latency_threshold:.0%} and {LATENCY_FLOOR:g} s "
         "(smaller transfers)",
         ["host", "test", "step", "before s", "after s", "change"],
         [[t.host or "-", t.nodeid, t.label, f"{t.old:.3f}", f"{t.new:.3f}", f"{t.ratio:+.0%}"]
          for t in comp.latency]),
    ]
    runs = [[label, m.get("site"), m.get("started"), m.get("suite_version"),
             (m.get("inventory_sha256") or "")[:12], f"{m.get('exit_status')} ({m.get('exit_category')})",
             m.get("tests"), m.get("path")] for label, m in (("old", comp.old_meta), ("new", comp.new_meta))]
    counts = [len(rows) for _, _, rows in blocks[:-3]] + [sum(map(len, moved)), len(comp.throughput),
                                                          len(comp.latency)]
    return templates.render("compare.html.j2", comp=comp, verdict=_verdict(comp), runs=runs,
                            blocks=[(*b, n) for b, n in zip(blocks, counts)]) + "\n"


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m se_dualstack.compare``; returns the exit status."""
    ap = argparse.ArgumentParser(
        prog="python -m se_dualstack.compare",
        description="Compare two se-dualstack result files. Exit 0: nothing regressed; "
                    "1: at least one test newly failing; 2: a file could not be read.")
    ap.add_argument("old", help="the earlier result file (e.g. reports/<site>-latest.json of last night)")
    ap.add_argument("new", help="the later result file")
    ap.add_argument("--html", metavar="OUT.html", help="write the HTML report here")
    ap.add_argument("--text", metavar="OUT.txt", help="write the plain-text report here")
    ap.add_argument("--throughput-threshold", type=float, default=DEFAULT_THRESHOLD, metavar="F",
                    help="report transfer throughput changes beyond this fraction (default 0.2 = 20%%); "
                         "the pytest option has the same name; only transfers of 32 MiB or more")
    ap.add_argument("--latency-threshold", type=float, default=DEFAULT_LATENCY_THRESHOLD, metavar="F",
                    help="report step latency changes of smaller transfers beyond this fraction "
                         f"(default 1.0 = twice as slow or fast) and {LATENCY_FLOOR:g} s; the pytest "
                         "option has the same name")
    ap.add_argument("-q", "--quiet", action="store_true", help="print only the verdict line")
    args = ap.parse_args(argv)
    docs = []
    for path in (args.old, args.new):
        try:
            docs.append(read(path))
        except ResultFileError as exc:
            print(f"compare: {path}: {exc}", file=sys.stderr)
            return exitcodes.COMPARE_BAD_INPUT
    comp = compare(docs[0], docs[1], threshold=args.throughput_threshold,
                   latency_threshold=args.latency_threshold)
    text = render_text(comp)
    try:
        if args.html:
            Path(args.html).write_text(render_html(comp), encoding="utf-8")
        if args.text:
            Path(args.text).write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"compare: cannot write report: {exc}", file=sys.stderr)
        return exitcodes.COMPARE_BAD_INPUT
    print(f"verdict: {_verdict(comp)}" if args.quiet else text, end="\n" if args.quiet else "")
    return comp.exit_status


if __name__ == "__main__":
    sys.exit(main())

"""Compare two result files: what regressed, what was fixed, what is still failing.

Why: a site runs the suite before and after a change (and every night); the question is "what
did the change break or repair", not "what fails".  Tests are matched by pytest node id, which
names the check and the host (``test_x[host-detail]``).  The exit status gates CI: 0 nothing
regressed, 1 at least one test regressed, 2 a file could not be read.

Usage::

    python -m se_dualstack.compare OLD.json NEW.json [--html OUT.html] [--text OUT.txt]
                                   [--throughput-threshold 0.2]
"""

from __future__ import annotations

import argparse
import html
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from se_dualstack import exitcodes

DEFAULT_THRESHOLD = 0.2
BAD = frozenset({"failed", "error"})  # outcomes that make the suite exit 1
RATE_KEYS = ("throughput_MBps", "throughput_mbps", "throughput_MiBps", "throughput", "rate_MBps",
             "mbps", "MBps", "rate")  # already MB/s
BPS_KEYS = ("throughput_Bps", "bytes_per_second", "Bps")  # bytes/s
BYTES_KEYS = ("bytes", "size", "size_bytes")
SECONDS_KEYS = ("seconds", "duration", "elapsed", "time")
LABEL_KEYS = ("protocol", "scheme", "family", "direction", "op", "operation", "name", "label")


class ResultFileError(Exception):
    """A result file is missing, not JSON, or not a result file (one-line message)."""


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


@dataclass
class Comparison:
    """Everything the reports list, already sorted; ``exit_status`` is the CI verdict."""

    old_meta: dict[str, Any]
    new_meta: dict[str, Any]
    threshold: float
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
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_status(self) -> int:
        return exitcodes.COMPARE_REGRESSED if self.regressions else exitcodes.COMPARE_OK

    def summary_line(self) -> str:
        added_bad = sum(1 for p in self.added if p.outcome in BAD)
        return (f"{len(self.regressions)} regressed, {len(self.fixed)} fixed, "
                f"{len(self.still_failing)} still failing, {len(self.changed)} other changes, "
                f"{len(self.added)} added ({added_bad} failing), {len(self.removed)} removed, "
                f"{len(self.throughput)} throughput changes")


# --------------------------------------------------------------------------- loading


def load(path: str | Path) -> dict[str, Any]:
    """Read and sanity-check a result file written by :mod:`se_dualstack.results`."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultFileError("no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultFileError(f"cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ResultFileError(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or not str(data.get("format", "")).startswith("se-dualstack-results/"):
        raise ResultFileError("not an se-dualstack result file (no 'format': 'se-dualstack-results/N')")
    records = data.get("records")
    if not isinstance(records, list) or not all(isinstance(r, dict) and "nodeid" in r for r in records):
        raise ResultFileError("'records' must be a list of objects with a 'nodeid'")
    data.setdefault("_path", str(p))
    return data


# --------------------------------------------------------------------------- transfer figures


def _number(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if f >= 0 else None


def figure_rate(fig: Any) -> float | None:
    """Throughput of one transfer figure: an explicit rate key, else bytes / seconds (in MB/s)."""
    if isinstance(fig, (int, float)):
        return _number(fig)
    if not isinstance(fig, dict):
        return None
    for key in RATE_KEYS:
        if key in fig:
            return _number(fig[key])
    for key in BPS_KEYS:
        if key in fig:
            bps = _number(fig[key])
            return None if bps is None else bps / 1e6
    size = next((_number(fig[k]) for k in BYTES_KEYS if k in fig), None)
    secs = next((_number(fig[k]) for k in SECONDS_KEYS if k in fig), None)
    if size is not None and secs:
        return size / secs / 1e6
    return None


def figure_label(fig: Any, index: int) -> str:
    """A label that matches the same figure across runs (protocol/family/... else position)."""
    if isinstance(fig, dict):
        parts = [str(fig[k]) for k in LABEL_KEYS if k in fig and isinstance(fig[k], (str, int))]
        if parts:
            return "/".join(parts)
    return f"#{index}"


def _figures(rec: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    flat: list[Any] = []
    for entry in rec.get("transfer") or []:
        flat.extend(entry if isinstance(entry, list) else [entry])
    for i, fig in enumerate(flat):
        rate = figure_rate(fig)
        if rate is not None:
            label = figure_label(fig, i)
            while label in out:
                label += "'"
            out[label] = rate
    return out


# --------------------------------------------------------------------------- comparing


def _hosts(doc: dict[str, Any]) -> set[str]:
    names = {h["name"] for h in doc.get("hosts") or [] if isinstance(h, dict) and h.get("name")}
    names |= {r["host"] for r in doc["records"] if r.get("host")}
    return names


def _checks(doc: dict[str, Any]) -> set[str]:
    return {r["check"] for r in doc["records"] if r.get("check")}


def _key(item: Change | Presence | Throughput) -> tuple[str, str, str]:
    return (getattr(item, "check", None) or "", item.host or "", item.nodeid)


def compare(old: dict[str, Any], new: dict[str, Any], threshold: float = DEFAULT_THRESHOLD) -> Comparison:
    """Classify every test id of the two runs; see the module doc for the categories."""
    comp = Comparison(old_meta=_meta(old), new_meta=_meta(new), threshold=threshold)
    olds = {r["nodeid"]: r for r in old["records"]}
    news = {r["nodeid"]: r for r in new["records"]}
    for nodeid in sorted(olds.keys() & news.keys()):
        o, n = olds[nodeid], news[nodeid]
        o_out, n_out = str(o.get("outcome")), str(n.get("outcome"))
        message = str(n.get("message") or "") if n_out != "passed" else str(o.get("message") or "")
        ch = Change(nodeid, n.get("check") or o.get("check"), n.get("host") or o.get("host"),
                    o_out, n_out, message)
        if n_out in BAD and o_out not in BAD:
            comp.regressions.append(ch)
        elif o_out in BAD and n_out == "passed":
            comp.fixed.append(ch)
        elif o_out in BAD and n_out in BAD:
            comp.still_failing.append(ch)
        elif o_out != n_out:
            comp.changed.append(ch)
        of, nf = _figures(o), _figures(n)
        for label in sorted(of.keys() & nf.keys()):
            a, b = of[label], nf[label]
            if a > 0 and abs(b - a) / a > threshold:
                comp.throughput.append(Throughput(nodeid, ch.host, label, a, b))
    for nodeid in sorted(news.keys() - olds.keys()):
        r = news[nodeid]
        comp.added.append(Presence(nodeid, r.get("check"), r.get("host"), str(r.get("outcome")),
                                   str(r.get("message") or "")))
    for nodeid in sorted(olds.keys() - news.keys()):
        r = olds[nodeid]
        comp.removed.append(Presence(nodeid, r.get("check"), r.get("host"), str(r.get("outcome")),
                                     str(r.get("message") or "")))
    comp.added_checks = sorted(_checks(new) - _checks(old))
    comp.removed_checks = sorted(_checks(old) - _checks(new))
    comp.added_hosts = sorted(_hosts(new) - _hosts(old))
    comp.removed_hosts = sorted(_hosts(old) - _hosts(new))
    for lst in (comp.regressions, comp.fixed, comp.still_failing, comp.changed, comp.added, comp.removed):
        lst.sort(key=_key)
    comp.throughput.sort(key=lambda t: (t.ratio, t.nodeid, t.label))  # biggest slow-downs first
    comp.warnings = _warnings(old, new)
    return comp


def _meta(doc: dict[str, Any]) -> dict[str, Any]:
    inv = doc.get("inventory") or {}
    return {"path": doc.get("_path"), "site": doc.get("site"), "started": doc.get("started"),
            "suite_version": doc.get("suite_version"), "inventory_sha256": inv.get("sha256"),
            "exit_status": doc.get("exit_status"), "exit_category": doc.get("exit_category"),
            "tests": len(doc["records"])}


def _warnings(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Things that make the comparison less meaningful, said up front rather than hidden."""
    out = []
    if old.get("site") != new.get("site"):
        out.append(f"different sites: {old.get('site')!r} vs {new.get('site')!r}")
    for label, doc in (("old", old), ("new", new)):
        if doc.get("exit_category") == "could-not-run" or not doc["records"]:
            out.append(f"the {label} run did not run its checks ({doc.get('exit_detail') or 'no records'})")
    oi, ni = (old.get("inventory") or {}).get("sha256"), (new.get("inventory") or {}).get("sha256")
    if oi and ni and oi != ni:
        out.append("the inventory changed between the runs (sha256 differs)")
    if old.get("suite_version") != new.get("suite_version"):
        out.append(f"suite version changed: {old.get('suite_version')} -> {new.get('suite_version')}")
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
        (f"Transfer throughput changes beyond {pct}",
         [f"{t.host or '-'}  {t.nodeid}  {t.label}: {t.old:.2f} -> {t.new:.2f} MB/s ({t.ratio:+.0%})"
          for t in comp.throughput]),
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


_CSS = """body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin-bottom:1em}
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}
.regressed{color:#b00}.ok{color:#070}.warn{color:#a60}h2 .n{color:#666;font-weight:normal}
td.msg{font-family:monospace;font-size:90%}"""


def _table(headers: Sequence[str], rows: list[Sequence[Any]]) -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(
        f"<td{' class=msg' if i == len(r) - 1 and headers[-1] == 'message' else ''}>{e(str(v))}</td>"
        for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(comp: Comparison) -> str:
    """Self-contained HTML report (no assets) to keep as a CI artefact."""
    e = html.escape
    cls = "regressed" if comp.regressions else "ok"
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>se-dualstack comparison "
             f"{e(str(comp.new_meta.get('site')))}</title><style>{_CSS}</style></head><body>",
             "<h1>se-dualstack run comparison</h1>",
             _table(["run", "site", "started", "suite", "inventory sha256", "exit", "tests", "file"],
                    [[label, m.get("site"), m.get("started"), m.get("suite_version"),
                      (m.get("inventory_sha256") or "")[:12],
                      f"{m.get('exit_status')} ({m.get('exit_category')})",
                      m.get("tests"), m.get("path")] for label, m in (("old", comp.old_meta),
                                                                       ("new", comp.new_meta))]),
             f"<p class='{cls}'><b>{e(_verdict(comp))}</b></p><p>{e(comp.summary_line())}</p>"]
    parts += [f"<p class='warn'>warning: {e(w)}</p>" for w in comp.warnings]
    change_headers = ["check", "host", "test", "before", "after", "message"]
    presence_headers = ["check", "host", "test", "outcome", "message"]

    def change_rows(items: list[Change]) -> list[Sequence[Any]]:
        return [[c.check or "-", c.host or "-", c.nodeid, c.old, c.new, c.message] for c in items]

    def presence_rows(items: list[Presence]) -> list[Sequence[Any]]:
        return [[p.check or "-", p.host or "-", p.nodeid, p.outcome, p.message] for p in items]

    blocks: list[tuple[str, str, int]] = [
        ("Regressions (newly failing)", _table(change_headers, change_rows(comp.regressions)),
         len(comp.regressions)),
        ("Fixed (newly passing)", _table(change_headers, change_rows(comp.fixed)), len(comp.fixed)),
        ("Still failing", _table(change_headers, change_rows(comp.still_failing)), len(comp.still_failing)),
        ("Other outcome changes", _table(change_headers, change_rows(comp.changed)), len(comp.changed)),
        ("Added tests", _table(presence_headers, presence_rows(comp.added)), len(comp.added)),
        ("Removed tests", _table(presence_headers, presence_rows(comp.removed)), len(comp.removed)),
        ("Added / removed checks and hosts", _table(["what", "added", "removed"], [
            ["checks", ", ".join(comp.added_checks) or "-", ", ".join(comp.removed_checks) or "-"],
            ["hosts", ", ".join(comp.added_hosts) or "-", ", ".join(comp.removed_hosts) or "-"]]),
         len(comp.added_checks) + len(comp.removed_checks) + len(comp.added_hosts) + len(comp.removed_hosts)),
        (f"Transfer throughput changes beyond {comp.threshold:.0%}", _table(
            ["host", "test", "figure", "before MB/s", "after MB/s", "change"],
            [[t.host or "-", t.nodeid, t.label, f"{t.old:.2f}", f"{t.new:.2f}", f"{t.ratio:+.0%}"]
             for t in comp.throughput]), len(comp.throughput)),
    ]
    for title, table, n in blocks:
        parts.append(f"<h2>{e(title)} <span class='n'>({n})</span></h2>")
        parts.append(table if n else "<p>none</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


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
                    help="report transfer throughput changes beyond this fraction (default 0.2 = 20%%)")
    ap.add_argument("-q", "--quiet", action="store_true", help="print only the verdict line")
    args = ap.parse_args(argv)
    docs = []
    for path in (args.old, args.new):
        try:
            docs.append(load(path))
        except ResultFileError as exc:
            print(f"compare: {path}: {exc}", file=sys.stderr)
            return exitcodes.COMPARE_BAD_INPUT
    comp = compare(docs[0], docs[1], threshold=args.throughput_threshold)
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

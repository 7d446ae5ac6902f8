"""The nightly history: one self-contained page over a site's result files.

Why: one night's report says what fails; a site admin also asks since when, whether it comes and
goes, and whether IPv6 got slower than IPv4 last week. The page puts the checks (per host)
against the nights (passed, failed, could not run, waived, n/a), says since which night each
failing check fails and which flap, and charts each protocol's IPv6 and IPv4 step latency
across the nights (inline SVG, the report's style sheet inline: no file or script from the net).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from se_dualstack import checks
from se_dualstack.monitor.view import RunView, parse_time, view
from se_dualstack.reporting import templates
from se_dualstack.reporting.matrix import column
from se_dualstack.reporting.records import Record
from se_dualstack.reporting.resultfile import ResultDoc
from se_dualstack.transfer.render import COLORS

# A (check, host)'s state in a night: the worst of its tests, in this order ("not_run_here": the
# suite machine lacked the family, e.g. IPv4 from an IPv6-only client; no host at fault, grey).
ORDER = ("failed", "could_not_run", "waived", "not_run_here", "passed", "not_applicable")
LETTER = {"failed": "F", "could_not_run": "X", "waived": "W", "not_run_here": "x", "passed": "p",
          "not_applicable": "n", "": ""}
WORDS = {"failed": "failed", "could_not_run": "could not run", "waived": "waived",
         "not_run_here": "could not run from here", "passed": "passed",
         "not_applicable": "not applicable", "": "not run that night"}
BAD = ("failed", "could_not_run")
FLAPPING = 2  # switches between passing and failing that make a check "flapping"
CHART_W, CHART_H, PAD_L, PAD_B, PAD_T = 460, 190, 52, 34, 24


@dataclass
class Night:
    """One run: its view, its label and the link to its own report."""

    view: RunView
    label: str  # 2026-12-03 03:15
    report: str  # the night's HTML report next to its result file ("" when absent)

    @property
    def doc(self) -> ResultDoc:
        return self.view.doc


@dataclass
class Cell:
    state: str  # one of ORDER, "" when the check did not run that night
    note: str = ""  # what failed (test ids and messages), for the cell's tooltip

    @property
    def letter(self) -> str:
        return LETTER[self.state]

    @property
    def words(self) -> str:
        return WORDS[self.state]


@dataclass
class Row:
    """A check on a host across the nights."""

    check: str
    host: str
    title: str
    cells: list[Cell]
    failing_since: str = ""  # the night the current failure started ("" when it passes now)
    since_first: bool = False  # ... and it failed already in the first night shown
    changes: int = 0  # switches between passing and failing

    @property
    def failing(self) -> bool:
        return bool(self.cells) and self.cells[-1].state in BAD

    @property
    def flapping(self) -> bool:
        return self.changes >= FLAPPING

    @property
    def ever_failed(self) -> bool:
        return any(c.state in BAD for c in self.cells)

    @property
    def notable(self) -> bool:
        """Worth a row in the table: failed, could not run or was waived in some night."""
        return self.flapping or any(c.state in (*BAD, "waived") for c in self.cells)


@dataclass
class Chart:
    """One protocol and step: a line per address family (and credential) across the nights."""

    title: str
    series: list[dict] = field(default_factory=list)  # label, color, dash, points [(x, y, text)]
    ticks: list[tuple[float, str]] = field(default_factory=list)  # (y, label)
    xlabels: list[tuple[float, str]] = field(default_factory=list)


def night_labels(docs: list[ResultDoc]) -> list[str]:
    """``2026-12-03 03:15`` per run (to the second when two runs share a minute)."""
    times = [parse_time(d.started) for d in docs]
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"):
        labels = [t.strftime(fmt) if t is not None else (d.started or "?") for t, d in zip(times, docs)]
        if len(set(labels)) == len(labels):
            break
    return labels


def _report_link(doc: ResultDoc, out_dir: Path | None) -> str:
    """The night's HTML report, relative to the page when it sits beside the result file."""
    if not doc.path:
        return ""
    html = Path(doc.path).with_suffix(".html")
    if not html.is_file():
        return ""
    if out_dir is not None and html.parent.resolve() == out_dir.resolve():
        return html.name
    return html.resolve().as_uri()


def _note(records: list[Record]) -> str:
    bad = [r for r in records if r.failed]
    lines = [f"{r.nodeid.split('::')[-1]}: {r.message[:240]}" for r in bad[:3]]
    if len(bad) > 3:
        lines.append(f"... and {len(bad) - 3} more")
    return "\n".join(lines)


def rows(nights: list[Night]) -> list[Row]:
    """Every (check, host) of the nights, with its cells, failing-since and switches."""
    keys: dict[tuple[str, str], None] = {}
    per_night: list[dict[tuple[str, str], list[Record]]] = []
    for n in nights:
        groups: dict[tuple[str, str], list[Record]] = {}
        for r in n.view.rows:
            key = (r.check or r.test, r.host or "")
            groups.setdefault(key, []).append(r)
            keys.setdefault(key, None)
        per_night.append(groups)
    out = []
    for check, host in keys:
        cells = []
        for groups in per_night:
            recs = groups.get((check, host), [])
            st = min((column(r) for r in recs), key=ORDER.index, default="")
            cells.append(Cell(st, _note(recs) if st in BAD else ""))
        out.append(_row(check, host, cells, nights))
    return sorted(out, key=_rank)


def _row(check: str, host: str, cells: list[Cell], nights: list[Night]) -> Row:
    try:
        title = checks.get(check).title
    except (KeyError, OSError):
        title = ""
    row = Row(check, host, title, cells)
    present = [c.state in BAD for c in cells if c.state]
    row.changes = sum(a != b for a, b in zip(present, present[1:]))
    if row.failing:
        i = len(cells) - 1
        while i > 0 and cells[i - 1].state in BAD:
            i -= 1
        row.failing_since, row.since_first = nights[i].label, i == 0
    return row


def _rank(r: Row) -> tuple:
    """Failing now first (the oldest failure first), then flapping, then failed once, then the rest."""
    group = 0 if r.failing else 1 if r.flapping else 2 if r.ever_failed else 3 if r.notable else 4
    return (group, r.failing_since or "~", r.host, r.check)


def charts(nights: list[Night]) -> list[Chart]:
    """A chart per protocol and step with the median latency of each family and credential."""
    keys = sorted({(p, s) for n in nights for (p, _, _, s) in n.view.latencies})
    out = []
    left, width = PAD_L + 14, CHART_W - PAD_L - 44  # room for the first and last date
    xs = [left + (width * i / (len(nights) - 1) if len(nights) > 1 else width / 2)
          for i in range(len(nights))]
    for protocol, step in keys:
        lines = sorted({(f, a) for n in nights for (p, f, a, s) in n.view.latencies
                        if (p, s) == (protocol, step)}, key=lambda fa: (-fa[0], fa[1]))
        top = max(v for n in nights for (p, _, _, s), v in n.view.latencies.items()
                  if (p, s) == (protocol, step)) or 1.0
        top *= 1.1
        h = CHART_H - PAD_B - PAD_T

        def y(v: float, h: float = h, top: float = top) -> float:
            return PAD_T + h - h * v / top

        chart = Chart(f"{protocol} {step}: median latency (s)")
        for fam, auth in lines:
            pts = []
            for x, n in zip(xs, nights):
                v = n.view.latencies.get((protocol, fam, auth, step))
                if v is not None:
                    pts.append((round(x, 1), round(y(v), 1), f"{n.label}: IPv{fam} {auth} {v:.3f} s"))
            label = f"IPv{fam}" + ("" if auth == "x509" else f" {auth}")
            chart.series.append({"label": label, "color": COLORS[fam],
                                 "dash": "" if auth == "x509" else "5,3", "points": pts})
        chart.ticks = [(round(y(v), 1), f"{v:.3g}") for v in (0.0, top / 2, top)]
        every = max(1, len(nights) // 6)
        days = [n.label[5:10] for n in nights]
        short = len(set(days)) == len(days)  # one night a day: the date says which
        chart.xlabels = [(round(x, 1), n.label[5:10] if short else n.label[5:])
                         for i, (x, n) in enumerate(zip(xs, nights))
                         if i % every == 0 or i == len(nights) - 1]
        out.append(chart)
    return out


def history_html(docs: list[ResultDoc], out_dir: Path | None = None) -> str:
    """The page for a site's nights (``docs`` oldest first)."""
    nights = [Night(view(d), label, _report_link(d, out_dir)) for d, label in zip(docs, night_labels(docs))]
    table = rows(nights)
    shown = [r for r in table if r.notable]
    quiet = [r for r in table if not r.notable]
    site = docs[-1].site if docs else "?"
    return templates.render(
        "history.html.j2", site=site, nights=nights, shown=shown, quiet=quiet,
        failing=[r for r in table if r.failing], flapping=[r for r in table if r.flapping],
        charts=charts(nights), selection="; ".join(docs[-1].partial) if docs else "",
        chart_w=CHART_W, chart_h=CHART_H, pad_l=PAD_L, pad_b=PAD_B, flap=FLAPPING) + "\n"

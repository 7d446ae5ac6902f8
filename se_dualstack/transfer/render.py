"""HTML, SVG and terminal lines of transfers: pure rendering over results, rows and stats.

The HTML comes from the report's templates (``data/templates/``), which redact every page: gfal2
errors are quoted as they come, and a report is an artefact a site keeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from se_dualstack.reporting import templates
from se_dualstack.reporting.records import TransferRow
from se_dualstack.transfer.cases import FAMILIES
from se_dualstack.transfer.evidence import Connection, dedupe, used_connections
from se_dualstack.transfer.outcome import TransferResult
from se_dualstack.transfer.stats import (
    THROUGHPUT_MIN_BYTES,
    RepeatStats,
    fmt_mmm,
    latency_note,
    measured_rate,
    mib_s,
    secs,
)

Stats = dict[tuple[str, int, str], RepeatStats]
# "WLCG token", not "bearer ...": redact() takes the word after "bearer" for a token value.
CREDENTIAL = {"x509": "X.509 proxy", "token": "WLCG token"}
# Chart colours: bars and their legend text keep 4.5:1 against white (WCAG AA for text).
COLORS = {6: "#2b6cb0", 4: "#9a4f00"}
DIRECTIONS = ("upload", "download")


def credential(auth: str) -> str:
    return CREDENTIAL.get(auth, auth or "-")


def result_html(results: list[TransferResult], stats: RepeatStats | None = None) -> str:
    """The pytest-html extra of one transfer test (no credentials: paths and URLs only)."""
    r = results[-1]
    used = used_connections(r.connections)
    up, down = r.step("upload"), r.step("download")
    return templates.render(
        "transfer_result.html.j2", r=r, stats=stats, credential=credential(r.auth),
        families=", ".join(f"IPv{f}" for f in r.families_used) or "none observed",
        addresses="; ".join(str(c) for c in dedupe(
            Connection(c.family, c.address, c.port, c.source) for c in used)) or "-",
        refused="; ".join(str(c) for c in r.connections if c.refused),
        latency=f"upload {secs(up.seconds if up and up.ok else None)}, "
                f"download {secs(down.seconds if down and down.ok else None)}",
        throughput=(f"upload {mib_s(measured_rate(up))}, download {mib_s(measured_rate(down))}"
                    if r.size >= THROUGHPUT_MIN_BYTES else latency_note(r.size)),
        repeats=(f"{stats.successes}/{stats.runs} ok ({stats.rate:.0%}); upload "
                 f"{fmt_mmm(stats.upload_mmm)}; download {fmt_mmm(stats.download_mmm)}"
                 if stats and stats.runs > 1 else ""),
        steps=[(s.name, s.status, f"{s.seconds:.3f} s", mib_s(measured_rate(s)) if s.nbytes else "",
                s.error or s.detail) for s in r.steps])


def _pairs(stats: Stats) -> list[tuple[str, str]]:
    """(protocol, credential) rows, in order; each shows IPv6 and IPv4 side by side."""
    return sorted({(p, a) for p, _, a in stats}, key=lambda pa: (pa[0], pa[1] != "x509", pa[1]))


def _bars(stats: Stats, value: Any) -> list[tuple[str, int, float]]:
    """(label, family, value) per protocol, credential, direction and family; 0: no value."""
    bars = []
    for p, a in _pairs(stats):
        for direction in DIRECTIONS:
            for fam in FAMILIES:
                s = stats.get((p, fam, a))
                bars.append((f"{p} {a} {direction}", fam, (value(s, direction) or 0.0) if s else 0.0))
    return bars


def bar_chart(title: str, bars: list[tuple[str, int, float]], unit: str, width: int = 560) -> str:
    """Horizontal bars (label, family, value), IPv6 next to IPv4; 0 means no value."""
    top = max([b[2] for b in bars] + [1e-9])
    row_h, label_w = 16, 200
    chart_w = width - label_w - 70
    rows = [(22 + i * row_h, f"{label} IPv{fam}", fam, int(chart_w * v / top) if v else 0,
             ((f"{v:.3f}" if unit == "s" else f"{v:.1f}") if v else "n/a"))
            for i, (label, fam, v) in enumerate(bars)]
    return templates.render("bar_chart.svg.j2", title=title, rows=rows, width=width,
                            height=row_h * len(bars) + 30, row_h=row_h, label_w=label_w, colors=COLORS)


def latency_svg(stats: Stats) -> str:
    """Median seconds of the upload and download steps per protocol and credential."""
    bars = _bars(stats, lambda s, d: s.median(s.upload_s if d == "upload" else s.download_s))
    return bar_chart("median step latency (s)", bars, "s") if bars else ""


def throughput_svg(stats: Stats) -> str:
    """Median MiB/s of the steps long enough to measure (empty when none was)."""
    def median(s: RepeatStats, d: str) -> float | None:
        m = s.upload_mmm if d == "upload" else s.download_mmm
        return m[0] / 2**20 if m else None

    bars = _bars(stats, median)
    if not any(v for _, _, v in bars):
        return ""
    return bar_chart(f"median throughput (MiB/s), steps of >= {THROUGHPUT_MIN_BYTES // 2**20} MiB",
                     bars, "MiB/s")


def _cell(stats: Stats, p: str, a: str, what: str) -> str:
    """One figure for IPv6 and IPv4 side by side: "IPv6 | IPv4"."""
    vals = []
    for fam in FAMILIES:
        s = stats.get((p, fam, a))
        if s is None:
            vals.append("-")
        elif what == "success":
            vals.append(f"{s.successes}/{s.runs}")
        elif what == "upload":
            vals.append(secs(s.median(s.upload_s)))
        elif what == "download":
            vals.append(secs(s.median(s.download_s)))
        elif what == "tpc":
            vals.append(secs(s.median(s.tpc_s)))
        else:
            vals.append(fmt_mmm(s.upload_mmm) + " / " + fmt_mmm(s.download_mmm) if s.measurable else "-")
    return " | ".join(vals)


def endpoint_tables(rows: list[TransferRow]) -> list[tuple[str, list[TransferRow]]]:
    """Per endpoint, its transfers: by protocol, IPv6 first, address, credential.

    One line per transfer: a name with several addresses of a family shows one line per address,
    so one dead address among good ones stands out; the credential names each repeat of a line.
    """
    by_ep: dict[str, list[TransferRow]] = {}
    for r in rows:
        if r.endpoint:
            by_ep.setdefault(r.endpoint, []).append(r)
    return [(ep, sorted(rs, key=lambda r: (r.protocol, -r.family, r.address, r.auth != "x509", r.auth,
                                           r.case)))
            for ep, rs in sorted(by_ep.items())]


def transfers_html(stats: Stats, rows: list[TransferRow]) -> str:
    """The report's transfer section: per protocol and credential (IPv6 | IPv4 side by side)
    with the charts, then per endpoint address."""
    sizes = [s.size for s in stats.values() if s.size]
    measured = any(s.measurable for s in stats.values())
    cols = ("success", "upload", "download", "tpc") + (("throughput",) if measured else ())
    table = [(p, credential(a), [_cell(stats, p, a, c) for c in cols],
              [f for fam in FAMILIES if (s := stats.get((p, fam, a))) for f in s.failures[:3]])
             for p, a in _pairs(stats)]
    return templates.render(
        "transfers.html.j2", table=table, measured=measured,
        note="" if measured or not sizes else latency_note(max(sizes)),
        latency_svg=latency_svg(stats), throughput_svg=throughput_svg(stats),
        endpoints=endpoint_tables(rows), credential=credential)


def stats_lines(stats: Stats) -> Iterator[str]:
    """The same summary for the terminal: one line per protocol and credential."""
    for p, a in _pairs(stats):
        yield (f"{p:7} {a:5}  ok {_cell(stats, p, a, 'success')}  upload {_cell(stats, p, a, 'upload')}  "
               f"download {_cell(stats, p, a, 'download')}"
               + (f"  tpc {_cell(stats, p, a, 'tpc')}" if any(
                   (s := stats.get((p, f, a))) and s.tpc_s for f in FAMILIES) else "")
               + (f"  throughput {_cell(stats, p, a, 'throughput')}" if any(
                   (s := stats.get((p, f, a))) and s.measurable for f in FAMILIES) else ""))
        for fam in FAMILIES:
            s = stats.get((p, fam, a))
            for f in (s.failures[:5] if s else []):
                yield f"    {f}"
    sizes = [s.size for s in stats.values() if s.size]
    if sizes and not any(s.measurable for s in stats.values()):
        yield f"(columns IPv6 | IPv4; {latency_note(max(sizes))})"
    else:
        yield "(columns IPv6 | IPv4)"

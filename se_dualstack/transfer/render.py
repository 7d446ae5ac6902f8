"""HTML, SVG and terminal lines of transfers: pure rendering over results and stats.

Why every HTML string ends in :func:`~se_dualstack.redact.redact`: gfal2 errors are quoted as
they come, and a report is an artefact a site keeps; no credential may reach it.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

from se_dualstack.redact import redact
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


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def result_html(results: list[TransferResult], stats: RepeatStats | None = None) -> str:
    """The pytest-html extra of one transfer test (no credentials: paths and URLs only)."""
    r = results[-1]
    used = used_connections(r.connections)
    fams = ", ".join(f"IPv{f}" for f in r.families_used) or "none observed"
    addrs = "; ".join(str(c) for c in dedupe(
        Connection(c.family, c.address, c.port, c.source) for c in used)) or "-"
    refused = [str(c) for c in r.connections if c.refused]
    rows = "".join(
        f"<tr><td>{_esc(s.name)}</td><td class='se6-{_esc(s.status)}'>{_esc(s.status)}</td>"
        f"<td>{s.seconds:.3f} s</td><td>{_esc(mib_s(measured_rate(s))) if s.nbytes else ''}</td>"
        f"<td>{_esc(s.error or s.detail)}</td></tr>" for s in r.steps)
    parts = [
        "<div class='se6-transfer'>",
        f"<p><b>{_esc(r.case_id)}</b>: {'OK' if r.ok else 'FAILED: ' + _esc(r.error_summary())}</p>",
        "<table>",
        f"<tr><th>remote URL</th><td>{_esc(r.remote_url)}</td></tr>",
        f"<tr><th>local URL</th><td>{_esc(r.local_url)}</td></tr>",
        f"<tr><th>size</th><td>{r.size} bytes, ADLER32 {_esc(r.local_checksum or '-')}</td></tr>",
        f"<tr><th>credential</th><td>{_esc(CREDENTIAL.get(r.auth, r.auth))}</td></tr>",
        f"<tr><th>family forced</th><td>IPv{r.family}: {_esc(r.forcing)}</td></tr>",
        f"<tr><th>family used</th><td>{_esc(fams)}</td></tr>",
        f"<tr><th>addresses</th><td>{_esc(addrs)}</td></tr>",
    ]
    if r.landed:
        parts.append(f"<tr><th>redirect landed on</th><td>{_esc(r.landed)}</td></tr>")
    if r.fault_address and not r.ok:
        parts.append(f"<tr><th>at fault</th><td>{_esc(r.fault_address)} ({_esc(r.fault_host)})</td></tr>")
    if refused:
        parts.append(f"<tr><th>refused (other family)</th><td>{_esc('; '.join(refused))}</td></tr>")
    up, down = r.step("upload"), r.step("download")
    parts.append(f"<tr><th>latency</th><td>upload {secs(up.seconds if up and up.ok else None)}, "
                 f"download {secs(down.seconds if down and down.ok else None)}</td></tr>")
    if r.size >= THROUGHPUT_MIN_BYTES:
        parts.append(f"<tr><th>throughput</th><td>upload {_esc(mib_s(measured_rate(up)))}, "
                     f"download {_esc(mib_s(measured_rate(down)))}</td></tr>")
    else:
        parts.append(f"<tr><th>throughput</th><td>{_esc(latency_note(r.size))}</td></tr>")
    if stats and stats.runs > 1:
        parts.append(f"<tr><th>repeats</th><td>{stats.successes}/{stats.runs} ok ({stats.rate:.0%}); "
                     f"upload {_esc(fmt_mmm(stats.upload_mmm))}; download {_esc(fmt_mmm(stats.download_mmm))}"
                     "</td></tr>")
        if stats.failures:
            parts.append("<tr><th>failures</th><td>" + "<br>".join(_esc(f) for f in stats.failures[:20])
                         + "</td></tr>")
    if r.cleanup_note:
        parts.append(f"<tr><th>cleanup</th><td>{_esc(r.cleanup_note)}</td></tr>")
    parts += ["</table>", "<table><tr><th>step</th><th>status</th><th>time</th><th>rate</th>"
              "<th>detail / gfal2 error</th></tr>", rows, "</table>",
              "<p>Reproduce by hand:</p><pre>" + _esc("\n".join(r.commands)) + "</pre>", "</div>"]
    return redact("\n".join(parts))


def _pairs(stats: Stats) -> list[tuple[str, str]]:
    """(protocol, credential) rows, in order; each shows IPv6 and IPv4 side by side."""
    return sorted({(p, a) for p, _, a in stats}, key=lambda pa: (pa[0], pa[1] != "x509", pa[1]))


def _bar_chart(title: str, bars: list[tuple[str, int, float]], unit: str, width: int = 560) -> str:
    """Horizontal bars (label, family, value), IPv6 next to IPv4; 0 means no value."""
    top = max([b[2] for b in bars] + [1e-9])
    row_h, label_w, chart_w = 16, 200, width - 200 - 70
    h = row_h * len(bars) + 30
    colors = {6: "#2b6cb0", 4: "#dd8f1c"}
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{h}' role='img' "
           f"aria-label='{_esc(title)}'>", "<style>text{font:11px sans-serif}</style>",
           f"<text x='0' y='12'>{_esc(title)}; <tspan fill='{colors[6]}'>IPv6</tspan> vs "
           f"<tspan fill='{colors[4]}'>IPv4</tspan></text>"]
    for i, (label, fam, v) in enumerate(bars):
        y = 22 + i * row_h
        wbar = int(chart_w * v / top) if v else 0
        out.append(f"<text x='0' y='{y + 11}'>{_esc(label)} IPv{fam}</text>")
        out.append(f"<rect x='{label_w}' y='{y + 2}' width='{wbar}' height='{row_h - 4}' "
                   f"fill='{colors[fam]}'/>")
        value = (f"{v:.3f}" if unit == "s" else f"{v:.1f}") if v else "n/a"
        out.append(f"<text x='{label_w + wbar + 4}' y='{y + 11}'>{value}</text>")
    out.append("</svg>")
    return "".join(out)


def latency_svg(stats: Stats) -> str:
    """Median seconds of the upload and download steps per protocol and credential."""
    bars = []
    for p, a in _pairs(stats):
        for direction in ("upload", "download"):
            for fam in FAMILIES:
                s = stats.get((p, fam, a))
                v = s.median(s.upload_s if direction == "upload" else s.download_s) if s else None
                bars.append((f"{p} {a} {direction}", fam, v or 0.0))
    return _bar_chart("median step latency (s)", bars, "s") if bars else ""


def addresses_html(rows: list[dict[str, Any]]) -> str:
    """Per endpoint, a small table: each address the transfers used, its family and the result.

    ``rows`` are the per-transfer summary records (``endpoint``, ``protocol``, ``address``,
    ``family``, ``ok``, ``error``, ``landed``); a name with several addresses of a family shows
    one line per address, so one dead address among good ones stands out.
    """
    by_ep: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r.get("endpoint"):
            by_ep.setdefault(str(r["endpoint"]), []).append(r)
    if not by_ep:
        return ""
    parts = ["<h3>Transfers per endpoint address</h3>"]
    for ep, rs in sorted(by_ep.items()):
        lines = "".join(
            f"<tr><td>{_esc(r.get('address') or '-')}</td><td>IPv{_esc(r['family'])}</td>"
            f"<td>{_esc(r['protocol'])}</td>"
            f"<td class='se6-{'passed' if r['ok'] else 'failed'}'>"
            f"{'passed' if r['ok'] else 'failed: ' + _esc(r.get('error') or '')}</td>"
            f"<td>{_esc(r.get('landed') or '')}</td></tr>"
            for r in sorted(rs, key=lambda r: (r["protocol"], -int(r["family"]), str(r.get("address")))))
        parts.append(f"<p><b>{_esc(ep)}</b></p><table><tr><th>address</th><th>family</th>"
                     f"<th>protocol</th><th>result</th><th>redirect landed on</th></tr>{lines}</table>")
    return redact("".join(parts))


def throughput_svg(stats: Stats) -> str:
    """Median MiB/s of the steps long enough to measure (empty when none was)."""
    bars = []
    for p, a in _pairs(stats):
        for direction in ("upload", "download"):
            for fam in FAMILIES:
                s = stats.get((p, fam, a))
                m = (s.upload_mmm if direction == "upload" else s.download_mmm) if s else None
                bars.append((f"{p} {a} {direction}", fam, m[0] / 2**20 if m else 0.0))
    if not any(v for _, _, v in bars):
        return ""
    return _bar_chart(f"median throughput (MiB/s), steps of >= {THROUGHPUT_MIN_BYTES // 2**20} MiB", bars,
                      "MiB/s")


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


def stats_html(stats: Stats) -> str:
    """Summary table per protocol and credential, IPv6 | IPv4 side by side, plus the charts."""
    sizes = [s.size for s in stats.values() if s.size]
    measured = any(s.measurable for s in stats.values())
    cols = ("success", "upload", "download", "tpc") + (("throughput",) if measured else ())
    rows = []
    for p, a in _pairs(stats):
        fails = [f for fam in FAMILIES if (s := stats.get((p, fam, a))) for f in s.failures[:3]]
        rows.append(f"<tr><td>{_esc(p)}</td><td>{_esc(CREDENTIAL.get(a, a))}</td>"
                    + "".join(f"<td>{_esc(_cell(stats, p, a, c))}</td>" for c in cols)
                    + f"<td>{'<br>'.join(_esc(f) for f in fails)}</td></tr>")
    head = ("<tr><th>protocol</th><th>credential</th><th>success IPv6 | IPv4</th>"
            "<th>upload latency IPv6 | IPv4</th><th>download latency IPv6 | IPv4</th>"
            "<th>third-party copy IPv6 | IPv4</th>"
            + ("<th>throughput up / down IPv6 | IPv4</th>" if measured else "") + "<th>failures</th></tr>")
    note = "" if measured or not sizes else f"<p>{_esc(latency_note(max(sizes)))}.</p>"
    return redact(
        "<h3>Transfers per protocol, credential and family</h3><p>Latency: median seconds of each "
        "step (upload, download, third-party copy), the per-request cost: redirects, TLS, the "
        "server's new-file lookup.</p>" + note + "<table>" + head + "".join(rows) + "</table>"
        + latency_svg(stats) + throughput_svg(stats))


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

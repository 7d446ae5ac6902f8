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
from se_dualstack.transfer.stats import RepeatStats, fmt_mmm, mib_s


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
        f"<td>{s.seconds:.3f} s</td><td>{_esc(mib_s(s.throughput)) if s.nbytes else ''}</td>"
        f"<td>{_esc(s.error or s.detail)}</td></tr>" for s in r.steps)
    parts = [
        "<div class='se6-transfer'>",
        f"<p><b>{_esc(r.case_id)}</b>: {'OK' if r.ok else 'FAILED: ' + _esc(r.error_summary())}</p>",
        "<table>",
        f"<tr><th>remote URL</th><td>{_esc(r.remote_url)}</td></tr>",
        f"<tr><th>local URL</th><td>{_esc(r.local_url)}</td></tr>",
        f"<tr><th>size</th><td>{r.size} bytes, ADLER32 {_esc(r.local_checksum or '-')}</td></tr>",
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
    parts.append(f"<tr><th>throughput</th><td>upload {_esc(mib_s(r.upload_rate))}, "
                 f"download {_esc(mib_s(r.download_rate))}</td></tr>")
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


def throughput_svg(stats: dict[tuple[str, int], RepeatStats], width: int = 520) -> str:
    """Inline SVG bar chart: median upload/download MiB/s per protocol, IPv6 next to IPv4."""
    protos = sorted({p for p, _ in stats})
    if not protos:
        return ""
    bars: list[tuple[str, int, str, float]] = []
    for p in protos:
        for direction in ("upload", "download"):
            for fam in FAMILIES:
                s = stats.get((p, fam))
                m = (s.upload_mmm if direction == "upload" else s.download_mmm) if s else None
                bars.append((p, fam, direction, m[0] / 2**20 if m else 0.0))
    top = max([b[3] for b in bars] + [1.0])
    row_h, label_w, chart_w = 16, 170, width - 170 - 70
    h = row_h * len(bars) + 30
    colors = {6: "#2b6cb0", 4: "#dd8f1c"}
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{h}' role='img' "
           "aria-label='median throughput IPv6 vs IPv4 per protocol'>",
           "<style>text{font:11px sans-serif}</style>",
           f"<text x='0' y='12'>median throughput (MiB/s); "
           f"<tspan fill='{colors[6]}'>IPv6</tspan> vs <tspan fill='{colors[4]}'>IPv4</tspan></text>"]
    for i, (p, fam, direction, v) in enumerate(bars):
        y = 22 + i * row_h
        wbar = int(chart_w * v / top) if v else 0
        label = f"{p} {direction} IPv{fam}"
        out.append(f"<text x='0' y='{y + 11}'>{_esc(label)}</text>")
        out.append(f"<rect x='{label_w}' y='{y + 2}' width='{wbar}' height='{row_h - 4}' "
                   f"fill='{colors[fam]}'/>")
        value = f"{v:.1f}" if v else "n/a"
        out.append(f"<text x='{label_w + wbar + 4}' y='{y + 11}'>{value}</text>")
    out.append("</svg>")
    return "".join(out)


def stats_html(stats: dict[tuple[str, int], RepeatStats]) -> str:
    """Summary table per protocol x family plus the chart (HTML report summary)."""
    rows = []
    for (p, fam), s in stats.items():
        rows.append(f"<tr><td>{_esc(p)}</td><td>IPv{fam}</td><td>{s.successes}/{s.runs} ({s.rate:.0%})</td>"
                    f"<td>{_esc(fmt_mmm(s.upload_mmm))}</td><td>{_esc(fmt_mmm(s.download_mmm))}</td>"
                    f"<td>{'<br>'.join(_esc(f) for f in s.failures[:5])}</td></tr>")
    return redact(
        "<h3>Transfers per protocol and family</h3><table><tr><th>protocol</th><th>family</th>"
        "<th>success</th><th>upload median</th><th>download median</th><th>failures</th></tr>"
        + "".join(rows) + "</table>" + throughput_svg(stats))


def stats_lines(stats: dict[tuple[str, int], RepeatStats]) -> Iterator[str]:
    """The same summary for the terminal."""
    for (p, fam), s in stats.items():
        yield (f"{p:7} IPv{fam}: {s.successes}/{s.runs} ok ({s.rate:.0%}), upload {fmt_mmm(s.upload_mmm)}, "
               f"download {fmt_mmm(s.download_mmm)}")
        for f in s.failures[:5]:
            yield f"    {f}"

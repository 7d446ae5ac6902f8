"""The report's summary: verdict, hosts x concerns matrix, unreachable hosts, failures with fixes.

Pure: the run's records and site in, HTML out, so it is tested without a pytest run.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from se_dualstack.model import SEHost, Site
from se_dualstack.reporting.causes import RootCause, elsewhere, hosts_at_fault, root_causes
from se_dualstack.reporting.matrix import CONCERNS, cell_html, matrix, title, used_concerns

MAX_FAILURES = 200


@cache
def css() -> str:
    """The report's style sheet (package data)."""
    text = resources.files("se_dualstack").joinpath("data/report.css").read_text()
    return f"<style>\n{text}</style>\n"


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


def verdict(records: list[Mapping[str, Any]], names: list[str]) -> tuple[str, str]:
    """(css class, sentence): ACCEPTED, NOT ACCEPTED naming the hosts at fault, or NO RESULT."""
    rows = [r for r in records if r.get("host")]
    failed = [r for r in rows if r["outcome"] in ("failed", "error")]
    n_pass = sum(r["outcome"] in ("passed", "xpassed") for r in rows)
    if failed and all(elsewhere(r) for r in failed):
        # Nothing failed on a host: items the suite machine could not run (no IPv4 on it).
        causes, _ = root_causes(rows)
        why = "; ".join(c.line() for c in causes)
        if n_pass and all(c.key == "suite-family:4" for c in causes):
            return ("pass", f"ACCEPTED for what this machine can prove: all {n_pass} applicable checks "
                            f"passed on {len(names)} hosts ({len(rows) - n_pass - len(failed)} not "
                            f"applicable or waived); {why}.")
        return ("skip", f"NO RESULT for the site: {why}; {n_pass} other checks passed.")
    if failed:
        causes, loose = root_causes(rows)
        at_fault = sorted(hosts_at_fault(causes, loose),
                          key=lambda n: names.index(n) if n in names else len(names))
        n_norun = sum(bool(r.get("could_not_run")) for r in failed)
        what = f"{len(failed) - n_norun} of {len(rows)} checks failed" + (
            f" and {n_norun} could not run" if n_norun else "")
        where = f" on {len(at_fault)} of {len(names)} hosts ({', '.join(at_fault)})" if at_fault else ""
        site_wide = [c.line() for c in causes if c.host is None]
        why = f"; root cause: {'; '.join(site_wide)}" if site_wide else ""
        return ("fail", f"NOT ACCEPTED: {what}{where}{why}. Each failure below names its fix.")
    if n_pass:
        return ("pass", f"ACCEPTED: all {n_pass} applicable checks passed on {len(names)} "
                        f"hosts ({len(rows) - n_pass} not applicable or waived).")
    return ("skip", "NO RESULT: no check ran to completion.")


def summary_html(site: Site, records: list[Mapping[str, Any]], concern_of: Mapping[str, str],
                 host_os: Mapping[str, str], unreachable: Mapping[str, str], adhoc: bool,
                 firewalls: Mapping[str, str] | None = None) -> str:
    """Verdict, hosts x concerns matrix, unreachable hosts and the list of failures."""
    names = [h.name for h in site.hosts]
    concerns, cells = matrix(records, concern_of)
    concerns = used_concerns(concerns, cells, names) or list(CONCERNS)
    kind, sentence = verdict(records, names)
    out = [css(), '<div class="se6">', f'<p class="se6-verdict {kind}">{html.escape(sentence)}</p>']
    if adhoc:
        out.append('<p class="muted">No inventory was given: the hosts came from --hosts; each '
                   "role below was detected from what the host runs (or given with --se-role). "
                   "A host whose role is unknown got only the role-independent checks.</p><ul>")
        out.extend(f"<li><code>{html.escape(h.name)}</code>: {html.escape(h.role or 'role unknown')}"
                   f" ({html.escape(h.role_source)})</li>" for h in site.hosts)
        out.append("</ul>")
    out.append('<h3>Hosts &times; concerns</h3><table class="se6-matrix"><tr><th>Host</th>'
               "<th>Role</th><th>OS</th><th>Firewall in use</th>")
    out.extend(f"<th>{title(c)}</th>" for c in concerns)
    out.append("</tr>")
    for h in site.hosts:
        os_text = host_os_text(h, host_os.get(h.name), h.name in unreachable).removeprefix("OS ")
        fw = (firewalls or {}).get(h.name) or "not read"
        out.append(f'<tr><td class="host">{html.escape(h.name)}</td><td>{h.role or "unknown"}</td>'
                   f"<td>{html.escape(os_text)}</td><td>{html.escape(fw)}</td>")
        out.extend(cell_html(cells.get((h.name, c))) for c in concerns)
        out.append("</tr>")
    out.append("</table>")
    out.append('<p class="muted">Counts are checks per host and concern: passed, failed, and '
               "n/a (a check that does not apply to the host, with the reason in its row). "
               "Red: at least one failure; green: all applicable checks passed.</p>")
    if unreachable:
        out.append("<h3>Unreachable hosts</h3><ul>")
        out.extend(f"<li><code>{html.escape(h)}</code>: {html.escape(r)}</li>"
                   for h, r in sorted(unreachable.items()))
        out.append("</ul>")
    causes, loose = root_causes([r for r in records if r.get("host")])
    out.extend(_causes(causes, unreachable, names))
    out.extend(_failures(loose, names, "Other failed checks" if causes else "Failed checks"))
    out.append("</div>")
    return "".join(out)


def _causes(causes: list[RootCause], unreachable: Mapping[str, str], names: list[str]) -> list[str]:
    if not causes:
        return []
    out = ['<h3>Root causes</h3><ul class="se6-failures">']
    for c in causes:
        line = c.line(unreachable.get(c.host or "", ""))
        out.append(f"<li><b>{html.escape(line)}</b><details><summary>{len(c.records)} checks"
                   "</summary><ul>")
        out.extend(_failure_items(c.records, names))
        out.append("</ul></details></li>")
    out.append("</ul>")
    return out


def _failures(failed: list[Mapping[str, Any]], names: list[str], heading: str) -> list[str]:
    if not failed:
        return []
    out = [f'<h3>{html.escape(heading)}</h3><ul class="se6-failures">']
    out.extend(_failure_items(failed, names))
    out.append("</ul>")
    return out


def _failure_items(failed: list[Mapping[str, Any]], names: list[str]) -> list[str]:
    out = []
    shown = sorted(failed, key=lambda r: (names.index(r["host"]) if r["host"] in names else 99,
                                          r.get("check") or ""))
    for r in shown[:MAX_FAILURES]:
        cid = r.get("check") or ""
        text = str(r.get("message", "")).removeprefix(f"[{cid}] ").removeprefix(f"{r['host']}: ")
        what, sep, fix = text.partition(" Fix: ")
        fix_html = (f'<br><span class="se6-fixline"><b>Fix:</b> {html.escape(fix)}</span>'
                    if sep else "")
        through = (f" (through <code>{html.escape(str(r['through']))}</code>)"
                   if r.get("through") else "")
        out.append(f"<li><b>{html.escape(cid or '?')}</b> <code>{html.escape(r['host'])}</code>"
                   f"{through}: {html.escape(what)}{fix_html}</li>")
    if len(shown) > MAX_FAILURES:
        out.append(f"<li>... and {len(shown) - MAX_FAILURES} more (see the results table)</li>")
    return out

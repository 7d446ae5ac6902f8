"""What the certification reviewer reads: pytest-html hooks, the hosts x concerns matrix.

The reviewer never ran the suite, so the report states the site, the suite version, the exact
inventory (path and sha256), each host with role and OS, a verdict, a matrix of hosts x
concerns, and for every failure the check id and the remediation.  Nothing secret may end up
in it: PEM blocks (proxies, keys) are redacted from logs, and metadata keys that look like
credentials are dropped.
"""

from __future__ import annotations

import hashlib
import html
import re
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import se_dualstack
from se_dualstack import checks
from se_dualstack.plugin import CONCERNS, STATE_KEY, State, attach, detect_os

CONCERN_TITLES = {
    "dns": "DNS", "interfaces": "Interfaces", "resolver": "Resolver files",
    "firewall": "Firewall", "services": "Services", "transfer": "Transfers",
}

# --------------------------------------------------------------------------- redaction

_PEM = re.compile(
    r"-----BEGIN ([A-Z0-9 ]+)-----.*?(?:-----END \1-----|\Z)", re.DOTALL
)
SECRET_NAME = re.compile(
    r"(?i)(token|secret|passw|pwd|apikey|api_key|private|proxy|credential|auth|cookie|"
    r"session|x509|_key$|^key$|cert)"
)
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s@:]*):[^/\s@]+@")


def redact(text: str) -> str:
    """Remove PEM blocks (proxy certificates and keys) and passwords inside URLs."""
    if not text:
        return text
    out = _PEM.sub(lambda m: f"[{m.group(1).lower()} redacted]", text)
    return _URL_PASSWORD.sub(r"\1:[redacted]@", out)


def _redact_longrepr(report: pytest.TestReport) -> None:
    text = report.longreprtext if report.longrepr is not None else ""
    clean = redact(text)
    if clean != text:
        report.longrepr = clean


def decorate(report: pytest.TestReport) -> None:
    """Scrub one test report and give it the check's explanation (and fix) as an HTML extra."""
    report.sections = [(k, redact(v)) for k, v in report.sections]
    _redact_longrepr(report)
    report.se_message = redact(getattr(report, "se_message", ""))
    if report.when != "call" and report.passed:
        return
    if report.when == "teardown":
        return
    cid = getattr(report, "se_check", "")
    if not cid:
        return
    try:
        chk: checks.Check | None = checks.get(cid)
    except (KeyError, OSError):
        chk = None
    parts = [f'<div class="se6-extra"><p><b>{html.escape(cid)}</b>']
    if chk is not None:
        parts.append(f" &mdash; {html.escape(chk.title)}</p>")
        parts.append(f'<p class="se6-why"><b>Why it matters:</b> {html.escape(chk.rationale)}</p>')
    else:
        parts.append("</p>")
    finding = str(getattr(report, "se_message", "")).removeprefix(f"[{cid}] ").partition(" Fix: ")[0]
    if report.failed and finding:
        parts.append(f'<p class="se6-finding"><b>Finding:</b> {html.escape(redact(finding))}</p>')
    fix = getattr(report, "se_fix", "")
    if report.failed and fix:
        parts.append(f'<p class="se6-fix"><b>Remediation:</b> {html.escape(redact(fix))}</p>')
    parts.append("</div>")
    try:
        from pytest_html import extras
    except ImportError:  # pytest-html disabled: nothing to attach
        return
    report.extras = [*getattr(report, "extras", []), extras.html("".join(parts))]


# --------------------------------------------------------------------------- results tracking


@dataclass
class Row:
    """One test's outcome as the matrix counts it."""

    host: str
    concern: str
    check: str
    outcome: str = "passed"
    message: str = ""


_RANK = {"passed": 0, "skipped": 1, "xfailed": 2, "failed": 3}


@dataclass
class Tracker:
    """Outcomes per test id (on the xdist controller too), plus what was learnt per host."""

    rows: dict[str, Row] = field(default_factory=dict)
    host_os: dict[str, str] = field(default_factory=dict)
    unreachable: dict[str, str] = field(default_factory=dict)

    def add(self, report: pytest.TestReport) -> None:
        host = getattr(report, "se_host", "")
        if getattr(report, "se_os", ""):
            self.host_os[host] = report.se_os
        if getattr(report, "se_unreachable", ""):
            self.unreachable[host] = report.se_unreachable
        outcome = _outcome(report)
        if outcome is None:
            return
        row = self.rows.get(report.nodeid)
        if row is None:
            row = self.rows[report.nodeid] = Row(host, getattr(report, "se_concern", "") or "other",
                                                 getattr(report, "se_check", ""), outcome)
        elif _RANK[outcome] > _RANK[row.outcome]:
            row.outcome = outcome
        if outcome == "failed" and not row.message:
            row.message = getattr(report, "se_message", "") or _first_line(report.longreprtext)


def _first_line(text: str) -> str:
    for line in (text or "").splitlines():
        s = line.strip().removeprefix("E").strip()
        if s:
            return redact(s)[:400]
    return ""


def _outcome(report: pytest.TestReport) -> str | None:
    xfail = hasattr(report, "wasxfail")
    if report.failed:
        return "failed"
    if report.skipped:
        return "xfailed" if xfail else "skipped"
    if report.when == "call":
        return "passed"
    return None


TRACKER_KEY = pytest.StashKey[Tracker]()


def tracker_of(config: pytest.Config) -> Tracker:
    if TRACKER_KEY not in config.stash:
        config.stash[TRACKER_KEY] = Tracker()
    return config.stash[TRACKER_KEY]


# --------------------------------------------------------------------------- metadata


def inventory_digest(path: str | None) -> str:
    """sha256 of the inventory file, so the reviewer knows exactly which one was used."""
    if not path:
        return ""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


# CI variables pytest-metadata copies into the report that are safe and useful to a reviewer;
# the others it knows (URLs, users, e-mails, paths) are dropped.
CI_ALLOWED = {"CI", "CI_JOB_ID", "CI_PIPELINE_ID", "CI_COMMIT_SHA", "CI_COMMIT_REF_NAME",
              "CI_JOB_NAME", "BUILD_NUMBER", "BUILD_ID", "JOB_NAME", "GIT_COMMIT", "GIT_BRANCH",
              "GITLAB_CI"}


def _ci_variables() -> set[str]:
    try:
        from pytest_metadata.plugin import CONTINUOUS_INTEGRATION
    except ImportError:
        return set()
    return {v for provider in CONTINUOUS_INTEGRATION for v in provider}


def clean_metadata(metadata: dict[str, Any]) -> None:
    """Drop entries that may carry secrets (CI tokens, proxies, keys) before they are shown."""
    ci = _ci_variables() - CI_ALLOWED
    for key in list(metadata):
        value = metadata[key]
        if SECRET_NAME.search(str(key)) or str(key) in ci:
            del metadata[key]
            continue
        if isinstance(value, dict):
            clean_metadata(value)
        elif isinstance(value, str):
            if "-----BEGIN" in value:
                del metadata[key]
            else:
                metadata[key] = redact(value)


def _metadata(config: pytest.Config) -> dict[str, Any] | None:
    try:
        from pytest_metadata.plugin import metadata_key
    except ImportError:
        return None
    return config.stash.get(metadata_key, None)


def _host_line(st: State, tr: Tracker, name: str) -> str:
    assert st.site is not None, "only called with a site"
    h = st.site.host(name)
    os_text = host_os_text(h, tr)
    return f"{h.role}, {os_text}, ssh {h.user}@{h.connection}" + (f":{h.port}" if h.port else "")


def host_os_text(h: Any, tr: Tracker) -> str:
    declared = h.declared_os
    detected = tr.host_os.get(h.name) or h.detected_os
    if h.name in tr.unreachable:
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


def _fill_metadata(config: pytest.Config) -> None:
    md = _metadata(config)
    st = config.stash.get(STATE_KEY, None)
    if md is None:
        return
    clean_metadata(md)
    if st is None or st.site is None:
        return
    tr = tracker_of(config)
    md["Site"] = st.site.name
    md["SE flavour"] = st.site.flavour
    md["Suite version"] = f"se_dualstack {se_dualstack.__version__}"
    md["Inventory"] = html.escape(st.inventory or "(none: hosts from --hosts, taken as DPM head nodes)")
    digest = inventory_digest(st.inventory)
    if digest:
        md["Inventory sha256"] = digest
    md["Hosts"] = {h.name: html.escape(_host_line(st, tr, h.name)) for h in st.site.hosts}
    md["Started (UTC)"] = st.started.strftime("%Y-%m-%d %H:%M:%S")
    md["Suite machine"] = html.escape(socket.gethostname())


def _detect_missing_os(config: pytest.Config, st: State, tr: Tracker) -> None:
    """Ask hosts whose OS no check needed (a `-m dns` run, say), in parallel and bounded."""
    assert st.site is not None, "only called with a site"
    ran = {r.host for r in tr.rows.values()}
    todo = [h for h in st.site.hosts
            if h.name in ran and h.name not in tr.unreachable and not tr.host_os.get(h.name)
            and not h.detected_os]
    if not todo:
        return

    def one(h: Any) -> None:
        try:
            attach(config, h)
            h.detected_os = detect_os(config, h)
        except BaseException:  # pytest.fail() is a BaseException: OS stays unknown
            probe = st.probes.get(h.name)
            if probe is not None and not probe.ok:
                tr.unreachable.setdefault(h.name, probe.reason)

    threads = [threading.Thread(target=one, args=(h,), daemon=True) for h in todo]
    for t in threads:
        t.start()
    bound = max(float(h.vars.get("se_ssh_timeout", 10)) for h in todo) * 2 + 10
    for t in threads:
        t.join(bound)
    for h in todo:
        if h.detected_os:
            tr.host_os[h.name] = h.detected_os


# --------------------------------------------------------------------------- the summary


@dataclass
class Cell:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    xfailed: int = 0

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.skipped + self.xfailed

    @property
    def css(self) -> str:
        if self.failed:
            return "fail"
        if self.passed:
            return "pass"
        return "skip" if self.total else "none"


def matrix(tr: Tracker, hosts: list[str]) -> tuple[list[str], dict[tuple[str, str], Cell]]:
    """Concern columns (known ones first, in order) and counts per (host, concern)."""
    cells: dict[tuple[str, str], Cell] = {}
    concerns = list(CONCERNS)
    for row in tr.rows.values():
        if not row.host:
            continue
        if row.concern not in concerns:
            concerns.append(row.concern)
        c = cells.setdefault((row.host, row.concern), Cell())
        setattr(c, row.outcome, getattr(c, row.outcome) + 1)
    return concerns, cells


def _cell_html(c: Cell | None) -> str:
    if c is None or not c.total:
        return '<td class="se6-none" title="no check of this concern ran">&ndash;</td>'
    bits = []
    if c.failed:
        bits.append(f'<span class="n-fail">{c.failed} failed</span>')
    if c.passed:
        bits.append(f"{c.passed} passed")
    if c.skipped:
        bits.append(f'<span class="n-skip">{c.skipped} n/a</span>')
    if c.xfailed:
        bits.append(f'<span class="n-skip">{c.xfailed} waived</span>')
    return f'<td class="se6-{c.css}">{"<br>".join(bits)}</td>'


_CSS = """
<style>
.se6 {font-size: 14px; margin: 0.5em 0 1em 0; max-width: 1300px; color: #222;}
.se6 h3 {margin: 1em 0 0.4em 0; color: #222;}
.se6-verdict {font-size: 16px; padding: 0.6em 0.9em; border-radius: 4px; margin: 0.3em 0 0.8em 0;}
.se6-verdict.fail {background: #fdecea; border-left: 6px solid #c62828; color: #7f1d1d;}
.se6-verdict.pass {background: #e8f5e9; border-left: 6px solid #2e7d32; color: #1b4d20;}
.se6-verdict.skip {background: #f3f3f3; border-left: 6px solid #888; color: #333;}
.se6 table {border-collapse: collapse; margin-bottom: 0.4em;}
.se6 th, .se6 td {border: 1px solid #ccc; padding: 4px 10px; text-align: left; vertical-align: top;}
.se6 th {background: #f0f2f5;}
.se6 td.se6-pass {background: #e3f4e4; color: #1b4d20;}
.se6 td.se6-fail {background: #fbe0dd; color: #7f1d1d;}
.se6 td.se6-skip {background: #f1f1f1; color: #555;}
.se6 td.se6-none {color: #aaa; text-align: center;}
.se6 .n-fail {font-weight: bold;}
.se6 .n-skip {color: #666;}
.se6 .muted {color: #666; font-size: 12px;}
.se6 td.host {font-family: monospace; white-space: nowrap;}
.se6 ul.se6-failures {margin: 0.2em 0; padding-left: 1.2em;}
.se6 ul.se6-failures li {margin: 0.45em 0; color: #222;}
.se6 .se6-fixline {color: #5d4200;}
.se6 code {background: #f5f5f5; padding: 0 3px;}
.se6-extra p {margin: 0.3em 0; white-space: normal; overflow-wrap: anywhere;}
#results-table td.col-check, #results-table td.col-sehost, #results-table td.col-concern,
#results-table td.col-result, #results-table td.col-duration {white-space: nowrap; width: 1%;}
#results-table td.col-testId {overflow-wrap: anywhere;}
.se6-extra .se6-finding {color: #7f1d1d;}
.se6-extra .se6-fix {background: #fff8e1; border-left: 4px solid #f9a825; padding: 0.4em 0.6em;}
.se6-extra .se6-why {color: #444;}
</style>
"""


def summary_html(st: State, tr: Tracker) -> str:
    """Verdict, hosts x concerns matrix, unreachable hosts and the list of failures."""
    assert st.site is not None, "only called with a site"
    names = [h.name for h in st.site.hosts]
    concerns, cells = matrix(tr, names)
    concerns = [c for c in concerns if any((h, c) in cells for h in names)] or list(CONCERNS)
    rows = [r for r in tr.rows.values() if r.host]
    failed = [r for r in rows if r.outcome == "failed"]
    failed_hosts = sorted({r.host for r in failed}, key=names.index)
    n_pass = sum(r.outcome == "passed" for r in rows)
    if failed:
        verdict = ("fail", f"NOT ACCEPTED: {len(failed)} of {len(rows)} checks failed on "
                           f"{len(failed_hosts)} of {len(names)} hosts "
                           f"({', '.join(failed_hosts)}). Each failure below names its fix.")
    elif n_pass:
        verdict = ("pass", f"ACCEPTED: all {n_pass} applicable checks passed on {len(names)} "
                           f"hosts ({len(rows) - n_pass} not applicable or waived).")
    else:
        verdict = ("skip", "NO RESULT: no check ran to completion.")
    out = [_CSS, '<div class="se6">',
           f'<p class="se6-verdict {verdict[0]}">{html.escape(verdict[1])}</p>']
    if st.adhoc:
        out.append('<p class="muted">No inventory was given: the hosts came from --hosts and were '
                   "checked as DPM head nodes with default settings.</p>")
    out.append("<h3>Hosts &times; concerns</h3><table class=\"se6-matrix\"><tr><th>Host</th>"
               "<th>Role</th><th>OS</th>")
    out.extend(f"<th>{html.escape(CONCERN_TITLES.get(c, c))}</th>" for c in concerns)
    out.append("</tr>")
    for h in st.site.hosts:
        os_text = host_os_text(h, tr).removeprefix("OS ")
        out.append(f'<tr><td class="host">{html.escape(h.name)}</td><td>{h.role}</td>'
                   f"<td>{html.escape(os_text)}</td>")
        out.extend(_cell_html(cells.get((h.name, c))) for c in concerns)
        out.append("</tr>")
    out.append("</table>")
    out.append('<p class="muted">Counts are checks per host and concern: passed, failed, and '
               "n/a (a check that does not apply to the host, with the reason in its row). "
               "Red: at least one failure; green: all applicable checks passed.</p>")
    if tr.unreachable:
        out.append("<h3>Unreachable hosts</h3><ul>")
        out.extend(f"<li><code>{html.escape(h)}</code>: {html.escape(r)}</li>"
                   for h, r in sorted(tr.unreachable.items()))
        out.append("</ul>")
    if failed:
        out.append("<h3>Failed checks</h3><ul class=\"se6-failures\">")
        shown = sorted(failed, key=lambda r: (names.index(r.host) if r.host in names else 99,
                                              r.check))
        for r in shown[:200]:
            text = r.message.removeprefix(f"[{r.check}] ").removeprefix(f"{r.host}: ")
            what, sep, fix = text.partition(" Fix: ")
            fix_html = (f'<br><span class="se6-fixline"><b>Fix:</b> {html.escape(fix)}</span>'
                        if sep else "")
            out.append(f"<li><b>{html.escape(r.check or '?')}</b> <code>{html.escape(r.host)}</code>: "
                       f"{html.escape(what)}{fix_html}</li>")
        if len(shown) > 200:
            out.append(f"<li>... and {len(shown) - 200} more (see the results table)</li>")
        out.append("</ul>")
    out.append("</div>")
    return "".join(out)


# --------------------------------------------------------------------------- the plugin


class SEReport:
    """The report hooks, one instance per pytest run (pytester runs nest; no module globals)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        tracker_of(self.config).add(report)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        _fill_metadata(self.config)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        config = self.config
        if hasattr(config, "workerinput"):
            return
        st = config.stash.get(STATE_KEY, None)
        if st is not None and st.site is not None and not config.getoption("collectonly", False):
            _detect_missing_os(config, st, tracker_of(config))
        _fill_metadata(config)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report: Any) -> None:
        st = self.config.stash.get(STATE_KEY, None)
        name = st.site.name if st is not None and st.site is not None else "(no site)"
        report.title = f"IPv6 dual-stack acceptance: {name}"

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells[1:1] = [
            '<th class="sortable" data-column-type="check">Check</th>',
            '<th class="sortable" data-column-type="sehost">Host</th>',
            '<th class="sortable" data-column-type="concern">Concern</th>',
        ]

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: Any, cells: list[str]) -> None:
        cid = html.escape(getattr(report, "se_check", ""))
        host = html.escape(getattr(report, "se_host", ""))
        concern = getattr(report, "se_concern", "")
        title = html.escape(CONCERN_TITLES.get(concern, concern))
        cells[1:1] = [
            f'<td class="col-check">{cid}</td>',
            f'<td class="col-sehost">{host}</td>',
            f'<td class="col-concern">{title}</td>',
        ]

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_html(self, report: Any, data: list[str]) -> None:
        data[:] = [redact(d) for d in data]

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self, prefix: list[str], summary: list[str],
                                    postfix: list[str], session: pytest.Session) -> None:
        st = self.config.stash.get(STATE_KEY, None)
        if st is None or st.site is None:
            return
        prefix.append(summary_html(st, tracker_of(self.config)))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """The same matrix on the terminal, for the admin who runs the suite."""
        config = self.config
        if hasattr(config, "workerinput"):
            return
        st = config.stash.get(STATE_KEY, None)
        tr = config.stash.get(TRACKER_KEY, None)
        if st is None or st.site is None or tr is None or not tr.rows:
            return
        names = [h.name for h in st.site.hosts]
        concerns, cells = matrix(tr, names)
        concerns = [c for c in concerns if any((h, c) in cells for h in names)]
        if not concerns:
            return
        width = max(len(n) for n in names)
        terminalreporter.write_sep("=", f"IPv6 dual-stack acceptance: {st.site.name}")
        head = "  ".join(c[:12].ljust(12) for c in concerns)
        terminalreporter.write_line("host".ljust(width) + "  " + head)
        for n in names:
            parts = []
            for c in concerns:
                cell = cells.get((n, c))
                txt = "-" if cell is None else (f"FAIL {cell.failed}/{cell.total}" if cell.failed
                                                else f"ok {cell.passed}/{cell.total}")
                parts.append(txt.ljust(12))
            bad = any((cells.get((n, c)) or Cell()).failed for c in concerns)
            terminalreporter.write_line(n.ljust(width) + "  " + "  ".join(parts), red=bad, green=not bad)
        for h, r in sorted(tr.unreachable.items()):
            terminalreporter.write_line(f"unreachable: {h}: {r}", red=True)
        if st.report_html is not None:
            terminalreporter.write_line(f"report: {st.report_html}")

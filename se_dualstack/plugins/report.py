"""The HTML report (pytest-html) and the terminal summary: one report object per run.

Default paths: unless the user chose ``--html``, every site run writes
``reports/<site>-<UTC start>.html`` (self-contained) and JUnit XML beside it, and points
``<site>-latest.html`` at it. The summary (verdict, matrix, failures with their fixes) is rendered
by :mod:`se_dualstack.reporting`; this module only wires it into pytest and pytest-html.
"""

from __future__ import annotations

import hashlib
import html
import re
import shutil
import socket
from datetime import timezone
from pathlib import Path
from typing import Any

import pytest

import se_dualstack
from se_dualstack import checks
from se_dualstack.plugins.state import State, is_worker, state_of
from se_dualstack.redact import redact
from se_dualstack.reporting import matrix, resultfile, summary
from se_dualstack.reporting.causes import root_causes

# Metadata keys that may carry secrets (CI tokens, proxies, keys) are never shown.
SECRET_NAME = re.compile(
    r"(?i)(token|secret|passw|pwd|apikey|api_key|private|proxy|credential|auth|cookie|"
    r"session|x509|_key$|^key$|cert)"
)
# CI variables pytest-metadata copies into the report that are safe and useful to a reviewer;
# the others it knows (URLs, users, e-mails, paths) are dropped.
CI_ALLOWED = {"CI", "CI_JOB_ID", "CI_PIPELINE_ID", "CI_COMMIT_SHA", "CI_COMMIT_REF_NAME",
              "CI_JOB_NAME", "BUILD_NUMBER", "BUILD_ID", "JOB_NAME", "GIT_COMMIT", "GIT_BRANCH",
              "GITLAB_CI"}
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_LISTED = 12  # checks listed under a root cause on the terminal (the report lists all)


# This module works alone (``-p se_dualstack.plugins.report``) on the state and tags it needs.
pytest_plugins = ["se_dualstack.plugins.state", "se_dualstack.plugins.tags"]


def safe_name(name: str) -> str:
    """A site name usable in a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "site"


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("se_dualstack_report"):
        config.pluginmanager.register(SEReport(config, state_of(config)), "se_dualstack_report")


def pytest_se_dualstack_site(config: pytest.Config, state: State) -> None:
    """Unless the user chose ``--html``, write reports/<site>-<UTC>.html (+ JUnit XML)."""
    st = state
    assert st.site is not None, "called only once the site is known"
    if is_worker(config) or config.getoption("collectonly", False):
        return
    if config.pluginmanager.hasplugin("html") is False or not hasattr(config.option, "htmlpath"):
        return
    if config.option.htmlpath:
        return
    args = [a for a in config.args if not a.startswith("-")]
    if args and all("selftests" in Path(a.split("::")[0]).parts for a in args):
        return  # the project's own tests: no site report
    stamp = st.started.astimezone(timezone.utc).strftime(STAMP_FORMAT)
    chosen = config.getoption("results_dir", None)  # se-dualstack run: ./reports where typed
    reports = Path(config.invocation_params.dir, chosen) if chosen else config.rootpath / "reports"
    base = reports / resultfile.claim_stem(reports, f"{safe_name(st.site.name)}-{stamp}", ".html")
    config.option.htmlpath = str(base.parent / f"{base.name}.html")
    config.option.self_contained_html = True
    if not getattr(config.option, "xmlpath", None):
        config.option.xmlpath = str(base.parent / f"{base.name}.xml")
    st.report_base = base
    st.report_html = base.parent / f"{base.name}.html"


def pytest_unconfigure(config: pytest.Config) -> None:
    """Point reports/<site>-latest.html at this run's report (stable link for the reviewer)."""
    st = state_of(config)
    if st.report_html is None or st.site is None or not st.report_html.exists():
        return
    latest = st.report_html.parent / f"{safe_name(st.site.name)}-latest.html"
    try:
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(st.report_html.name)
    except OSError:
        shutil.copyfile(st.report_html, latest)


# --------------------------------------------------------------------------- metadata


def inventory_digest(path: str | None) -> str:
    """sha256 of the inventory file, so the reviewer knows exactly which one was used."""
    if not path:
        return ""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


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


def _host_line(st: State, name: str) -> str:
    assert st.site is not None, "only called with a site"
    h = st.site.host(name)
    os_text = summary.host_os_text(h, st.hostinfo.get(name, {}).get("detected_os"),
                                   name in st.unreachable)
    c = h.connection
    via = "local" if c.kind == "local" else (
        f"{c.kind} {c.user + '@' if c.user else ''}{c.address}{f':{c.port}' if c.port else ''}"
        + (f", key {c.private_key_file}" if c.private_key_file else "")
        + (f", become {c.become_user}" if c.become else ""))
    firewall = st.hostinfo.get(name, {}).get("firewall")
    fw_text = f", firewall {firewall}" if firewall else ""
    return f"{h.role or 'role unknown'} ({h.role_source}), {os_text}{fw_text}, {via}"


def fill_metadata(config: pytest.Config, st: State) -> None:
    md = _metadata(config)
    if md is None:
        return
    clean_metadata(md)
    if st.site is None:
        return
    md["Site"] = st.site.name
    md["SE flavour"] = st.site.flavour
    md["Suite version"] = f"se_dualstack {se_dualstack.__version__}"
    md["Inventory"] = html.escape(st.inventory or st.site.origin)
    digest = inventory_digest(st.inventory)
    if digest:
        md["Inventory sha256"] = digest
    md["Hosts"] = {h.name: html.escape(_host_line(st, h.name)) for h in st.site.hosts}
    md["Started (UTC)"] = st.started.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    md["Suite machine"] = html.escape(socket.gethostname())


# --------------------------------------------------------------------------- per-test extras


def check_extra(report: pytest.TestReport) -> str | None:
    """The check's explanation (why it matters, the finding, the fix) for its row, as HTML."""
    if report.when == "teardown" or (report.when != "call" and report.passed):
        return None
    cid = getattr(report, "se_check", "")
    if not cid:
        return None
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
    return "".join(parts)


# --------------------------------------------------------------------------- the report object


class SEReport:
    """The report hooks, one instance per pytest run (pytester runs nest; no module globals)."""

    def __init__(self, config: pytest.Config, state: State) -> None:
        self.config = config
        self.state = state

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Give each check's row its explanation before pytest-html renders it."""
        extra = check_extra(report)
        if extra is None:
            return
        try:
            from pytest_html import extras
        except ImportError:  # pytest-html disabled: nothing to attach
            return
        report.extras = [*getattr(report, "extras", []), extras.html(extra)]

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        fill_metadata(self.config, self.state)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not is_worker(self.config):
            fill_metadata(self.config, self.state)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report: Any) -> None:
        name = self.state.site.name if self.state.site is not None else "(no site)"
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
        concern = matrix.title(getattr(report, "se_concern", ""))
        cells[1:1] = [
            f'<td class="col-check">{cid}</td>',
            f'<td class="col-sehost">{host}</td>',
            f'<td class="col-concern">{concern}</td>',
        ]

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_html(self, report: Any, data: list[str]) -> None:
        longrepr = getattr(report, "longrepr", None)
        if report.skipped and isinstance(longrepr, tuple) and len(longrepr) == 3:
            # pytest keeps a skip as (path, line, reason): show the reason as a sentence.
            reason = str(longrepr[2]).removeprefix("Skipped: ")
            data[:] = [f'<div class="log">{html.escape(redact(reason))}</div>']
            return
        data[:] = [redact(d) for d in data]

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self, prefix: list[str], summary: list[str],
                                    postfix: list[str], session: pytest.Session) -> None:
        st = self.state
        if st.site is None:
            return
        host_os = {n: i["detected_os"] for n, i in st.hostinfo.items() if i.get("detected_os")}
        prefix.append(_summary(st, host_os))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """The same matrix on the terminal, for the admin who runs the suite."""
        st = self.state
        if is_worker(self.config) or st.site is None or not st.records:
            return
        names = [h.name for h in st.site.hosts]
        concerns, cells = matrix.matrix(st.records.values(), st.concerns)
        concerns = matrix.used_concerns(concerns, cells, names)
        if not concerns:
            return
        terminalreporter.write_sep("=", f"IPv6 dual-stack acceptance: {st.site.name}")
        for line, bad in matrix.terminal_lines(names, concerns, cells):
            if line.startswith("host"):
                terminalreporter.write_line(line)
            else:
                terminalreporter.write_line(line, red=bad, green=not bad)
        causes, _ = root_causes([r for r in st.records.values() if r.get("host")])
        for c in causes:
            terminalreporter.write_line(f"root cause: {c.line(st.unreachable.get(c.host or '', ''))}",
                                        red=True, bold=True)
            for rec in c.records[:MAX_LISTED]:
                terminalreporter.write_line(f"    {rec['nodeid']}")
            if len(c.records) > MAX_LISTED:
                terminalreporter.write_line(f"    ... and {len(c.records) - MAX_LISTED} more")
        for h, r in sorted(st.unreachable.items()):
            if not any(c.host == h for c in causes):
                terminalreporter.write_line(f"unreachable: {h}: {r}", red=True)
        if st.report_html is not None:
            terminalreporter.write_line(f"report: {st.report_html}")


def _summary(st: State, host_os: dict[str, str]) -> str:
    assert st.site is not None, "only called with a site"
    firewalls = {n: i["firewall"] for n, i in st.hostinfo.items() if i.get("firewall")}
    return summary.summary_html(st.site, list(st.records.values()), st.concerns, host_os,
                                st.unreachable, st.adhoc, firewalls)




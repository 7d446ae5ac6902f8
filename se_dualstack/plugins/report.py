"""The HTML report (pytest-html) and the terminal summary: one report object per run.

Default paths: unless the user chose ``--html``, every site run writes
``reports/<site>-<UTC start>.html`` (self-contained) and JUnit XML beside it, and points
``<site>-latest.html`` at it. The summary (verdict, matrix, failures with their fixes) is rendered
by :mod:`se_dualstack.reporting`; this module only wires it into pytest and pytest-html.
"""

from __future__ import annotations

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
from se_dualstack.plugins import outcomes
from se_dualstack.plugins.state import State, is_worker, state_of
from se_dualstack.redact import redact
from se_dualstack.reporting import files, matrix, templates
from se_dualstack.reporting.concerns import title
from se_dualstack.reporting.records import Record
from se_dualstack.reporting.summary import RunSummary, host_os_text, summary_html

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
MAX_LISTED = 12  # checks listed under a root cause on the terminal (the report lists all)


# How pytest-html's filter boxes name the outcomes: a skip here is a check that does not apply,
# and the only expected failure is a waived one.
OUTCOME_LABELS = {"skipped": "Not applicable", "xfailed": "Waived"}
# The columns the suite adds to pytest-html's results table: (column type, title).
TABLE = "results_table.html.j2"
COLUMNS = (("check", "Check"), ("sehost", "Host"), ("concern", "Concern"))


# This module works alone (``-p se_dualstack.plugins.report``) on the state and outcomes it needs.
pytest_plugins = ["se_dualstack.plugins.state", "se_dualstack.plugins.outcomes"]


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("se_dualstack_report"):
        config.pluginmanager.register(SEReport(config, state_of(config)), "se_dualstack_report")


def pytest_se_dualstack_site(config: pytest.Config, state: State) -> None:
    """Unless the user chose ``--html``, write <site>-<UTC>.html (+ JUnit XML) in ``--results-dir``,
    else reports/."""
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
    chosen = config.getoption("results_dir", None)  # se-dualstack run: ./reports where typed
    reports = Path(config.invocation_params.dir, chosen) if chosen else config.rootpath / "reports"
    stem = f"{files.safe_name(st.site.name)}-{files.stamp(st.started)}"
    base = reports / files.claim_stem(reports, stem, ".html")
    config.option.htmlpath = str(base.parent / f"{base.name}.html")
    config.option.self_contained_html = True
    if not getattr(config.option, "xmlpath", None):
        config.option.xmlpath = str(base.parent / f"{base.name}.xml")
    st.reports.base = base
    st.reports.html = base.parent / f"{base.name}.html"


def pytest_unconfigure(config: pytest.Config) -> None:
    """Point reports/<site>-latest.html at this run's report (stable link for the reviewer),
    as the result file's ``latest``: not for a run that could not run, and a partial run
    (``-m dns``) only its own selection's (``<site>-m_dns-latest.html``)."""
    st = state_of(config)
    report, latest_json = st.reports.html, st.results.latest_path
    if report is None or st.site is None or not report.exists() or latest_json is None:
        return
    latest = report.parent / f"{latest_json.stem}.html"
    try:
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(report.name)
    except OSError:
        shutil.copyfile(report, latest)


# --------------------------------------------------------------------------- metadata


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
    """Role, OS, firewall and how the suite reaches the host (never a key's path)."""
    assert st.site is not None, "only called with a site"
    h = st.site.host(name)
    facts = st.outcomes.host(name)
    os_text = host_os_text(h, facts.detected_os or None, bool(facts.unreachable))
    c = h.connection
    via = "local" if c.kind == "local" else (
        f"{c.kind} {c.user + '@' if c.user else ''}{c.address}{f':{c.port}' if c.port else ''}"
        + (", key from the inventory" if c.private_key_file else "")
        + (f", become {c.become_user}" if c.become else ""))
    fw_text = f", firewall {facts.firewall}" if facts.firewall else ""
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
    md["Inventory"] = html.escape(st.source.inventory or st.site.origin)
    digest = files.sha256(st.source.inventory)
    if digest:
        md["Inventory sha256"] = digest
    md["Hosts"] = {h.name: html.escape(_host_line(st, h.name)) for h in st.site.hosts}
    md["Started (UTC)"] = st.started.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    md["Suite machine"] = html.escape(socket.gethostname())


# --------------------------------------------------------------------------- per-test extras


def check_extra(report: pytest.TestReport, rec: Record | None) -> str | None:
    """The check's explanation (why it matters, the finding, the fix) for its row, as HTML."""
    if rec is None or not rec.check or report.when == "teardown" or (
            report.when != "call" and report.passed):
        return None
    try:
        chk: checks.Check | None = checks.get(rec.check)
    except (KeyError, OSError):
        chk = None
    finding = rec.message.removeprefix(f"[{rec.check}] ").partition(" Fix: ")[0]
    return templates.render("check_extra.html.j2", cid=rec.check, check=chk,
                            finding=finding if report.failed else "",
                            fix=rec.fix if report.failed else "")


# --------------------------------------------------------------------------- the report object


class SEReport:
    """The report hooks, one instance per pytest run (pytester runs nest; no module globals)."""

    def __init__(self, config: pytest.Config, state: State) -> None:
        self.config = config
        self.state = state

    def record(self, report: Any) -> Record | None:
        return self.state.outcomes.records.get(report.nodeid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Give each check's row its explanation before pytest-html renders it.

        Not tryfirst: the outcomes plugin folds the report into its record first (tryfirst),
        and pytest-html renders the row last (trylast)."""
        if is_worker(self.config):
            return
        extra = check_extra(report, self.record(report))
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
        for outcome, label in OUTCOME_LABELS.items():
            if outcome in report.outcomes:
                report.outcomes[outcome]["label"] = label

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells[1:1] = [templates.macro(TABLE, "header", column, name) for column, name in COLUMNS]

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: Any, cells: list[str]) -> None:
        rec = self.record(report) or Record(report.nodeid)
        if rec.waived and cells and "XFailed" in cells[0]:
            cells[0] = cells[0].replace("XFailed", "Waived")
        values = (rec.check or "", rec.host or "", title(rec.concern))
        cells[1:1] = [templates.macro(TABLE, "cell", c, v) for (c, _), v in zip(COLUMNS, values)]

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_html(self, report: Any, data: list[str]) -> None:
        if report.skipped and isinstance(report.longrepr, tuple):
            # pytest keeps a skip as (path, line, reason): show the reason as a sentence.
            data[:] = [templates.macro(TABLE, "log", outcomes.skip_reason(report))]
            return
        data[:] = [redact(d) for d in data]

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self, prefix: list[str], summary: list[str],
                                    postfix: list[str], session: pytest.Session) -> None:
        run = self.state.outcomes.summary
        if run is not None:
            prefix.append(summary_html(run))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """The same matrix on the terminal, for the admin who runs the suite."""
        run = self.state.outcomes.summary
        if is_worker(self.config) or run is None or not run.records:
            return
        write_terminal(terminalreporter, run)
        if self.state.reports.html is not None:
            terminalreporter.write_line(f"report: {self.state.reports.html}")


def write_terminal(tr: Any, run: RunSummary) -> None:
    """Matrix (one convention per cell, with its legend), root causes, unreachable hosts."""
    if not run.matrix.concerns:
        return
    tr.write_sep("=", f"IPv6 dual-stack acceptance: {run.site.name}")
    lines = matrix.terminal_lines(run.matrix)
    tr.write_line(lines[0][0])
    for line, bad in lines[1:-1]:
        tr.write_line(line, red=bad, green=not bad)
    tr.write_line(lines[-1][0])
    for c in run.causes:
        tr.write_line(f"root cause: {c.line(run.facts(c.host or '').unreachable)}", red=True, bold=True)
        for rec in c.records[:MAX_LISTED]:
            tr.write_line(f"    {rec.nodeid}")
        if len(c.records) > MAX_LISTED:
            tr.write_line(f"    ... and {len(c.records) - MAX_LISTED} more")
    for h, why in run.unreachable().items():
        if not any(c.host == h for c in run.causes):
            tr.write_line(f"unreachable: {h}: {why}", red=True)

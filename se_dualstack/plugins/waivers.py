"""``--waivers``: a failure matching an unexpired waiver is reported as WAIVED, never as passed.

The file format and its validation are :mod:`se_dualstack.waivers`; this module loads it before
anything runs (a malformed file is a one-line usage error, exit 4) and applies it to reports.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime, timezone
from typing import Any

import pytest

from se_dualstack import checks
from se_dualstack.plugins import outcomes
from se_dualstack.plugins.state import state_of
from se_dualstack.reporting.files import sha256
from se_dualstack.reporting.records import WaiverNote
from se_dualstack.waivers import WaiverFileError, find, load

# This module works alone (``-p se_dualstack.plugins.waivers``) on the state and outcomes it needs.
pytest_plugins = ["se_dualstack.plugins.state", "se_dualstack.plugins.outcomes"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("se-waivers", "se-dualstack waivers")
    group.addoption("--waivers", default=None, metavar="FILE",
                    help="YAML list of waivers {check, hosts, justification, expires}; a matching "
                         "failure is reported as WAIVED until the expiry date")
    parser.addini("se_waivers", "waiver file (relative to the ini file), as --waivers", default="")


def _waiver_path(config: pytest.Config) -> str | None:
    opt = config.getoption("waivers", None)
    if opt:
        return str(opt)
    ini = config.getini("se_waivers")
    if ini:
        base = config.inipath.parent if config.inipath else config.rootpath
        return str(base / str(ini))
    return None


def _known_checks() -> set[str] | None:
    """Catalogue ids (a typo in a waiver's check id is caught at load time)."""
    try:
        return set(checks.catalogue())
    except OSError:
        return None


def pytest_configure(config: pytest.Config) -> None:
    """Load and validate the file before anything runs: a bad waiver file is a usage error."""
    path = _waiver_path(config)
    if not path:
        return
    try:
        waivers = load(path, _known_checks())
    except WaiverFileError as exc:
        raise pytest.UsageError(str(exc)) from None
    ws = state_of(config).waivers
    ws.entries, ws.path = waivers, path
    ws.today = today = datetime.now(timezone.utc).date()
    ws.meta = {
        "path": path, "sha256": sha256(path), "today": today.isoformat(),
        "entries": [dict(w.as_dict(), expired=w.expired(today)) for w in waivers]}


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Turn a failure matching an unexpired waiver into WAIVED; mark one matching only expired ones.

    Outermost wrapper (tryfirst), so it sees the report as the outcomes wrapper leaves it: with
    its tag (check id, host, one-line message).
    """
    report = yield
    ws = state_of(item.config).waivers
    if ws.entries is None or report.when != "call" or not report.failed or hasattr(report, "wasxfail"):
        return report
    assert ws.today is not None, "set with the waivers"
    tag = outcomes.tag_of(report)
    valid, expired = find(ws.entries, tag.check or None, tag.host or None, ws.today)
    if valid is not None:
        report.outcome = "skipped"
        report.wasxfail = f"waived: {valid.justification} (until {valid.expires.isoformat()})"  # type: ignore[attr-defined]
        tag.waiver = WaiverNote(**valid.as_dict(), file=ws.path, expired=False)
        report.sections.append(("waiver", f"waiver {valid.index} of {ws.path} applies: "
                                          f"{valid.justification} (until {valid.expires.isoformat()})"))
    elif expired is not None:
        note = (f"waiver {expired.index} of {ws.path} for check {expired.check} on "
                f"{', '.join(expired.hosts)} expired on {expired.expires.isoformat()} "
                f"(justification was: {expired.justification}); fix the failure or renew the waiver")
        tag.waiver = WaiverNote(**expired.as_dict(), file=ws.path, expired=True)
        longrepr = report.longrepr
        prefix = f"waiver expired on {expired.expires.isoformat()}: "
        crash = getattr(longrepr, "reprcrash", None)
        if isinstance(longrepr, str):
            report.longrepr = longrepr = prefix + longrepr
        elif crash is not None and isinstance(getattr(crash, "message", None), str):
            crash.message = prefix + crash.message
        if hasattr(longrepr, "addsection"):
            longrepr.addsection("waiver expired", note)  # type: ignore[union-attr]
        else:
            report.sections.append(("waiver expired", note))
    outcomes.put(report, tag)
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    """Count waived failures as their own category ("N waived"), shown as WAIVED, never as passed."""
    if not (report.skipped and hasattr(report, "wasxfail")):
        return None
    waiver = outcomes.tag_of(report).waiver
    if waiver and not waiver.expired:
        return "waived", "w", "WAIVED"
    return None


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """List waived failures with their justification, and waivers that expired."""
    tr = terminalreporter
    st = state_of(config)
    ws = st.waivers
    waived = [r for r in st.outcomes.records.values() if r.waived]
    if not waived and ws.entries is None:
        return
    if waived:
        tr.write_sep("=", f"{len(waived)} waived failure(s)", yellow=True)
        for rec in waived:
            w = rec.waiver
            tr.write_line(f"WAIVED {rec.nodeid} - waived: {w.justification if w else '?'} "
                          f"(until {w.expires if w else '?'})")
    if ws.entries is not None and ws.today is not None:
        for w in ws.entries:
            if w.expired(ws.today):
                tr.write_line(f"waiver {w.index} ({w.check} on {', '.join(w.hosts)}) in {ws.path} "
                              f"expired on {w.expires.isoformat()}: it no longer applies", yellow=True)

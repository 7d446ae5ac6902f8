"""``--waivers``: a failure matching an unexpired waiver is reported as WAIVED, never as passed.

The file format and its validation are :mod:`se_dualstack.waivers`; this module loads it before
anything runs (a malformed file is a one-line usage error, exit 4) and applies it to reports.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from se_dualstack import checks
from se_dualstack.plugins.state import state_of
from se_dualstack.waivers import WaiverFileError, find, load

# This module works alone (``-p se_dualstack.plugins.waivers``) on the state and tags it needs.
pytest_plugins = ["se_dualstack.plugins.state", "se_dualstack.plugins.tags"]


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
    st = state_of(config)
    st.waivers, st.waiver_path = waivers, path
    st.waiver_today = today = datetime.now(timezone.utc).date()
    try:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        digest = None
    st.waiver_meta = {
        "path": path, "sha256": digest, "today": today.isoformat(),
        "entries": [dict(w.as_dict(), expired=w.expired(today)) for w in waivers]}


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Turn a failure matching an unexpired waiver into WAIVED; mark one matching only expired ones.

    Outermost wrapper (tryfirst), so it sees the report as the tags wrapper leaves it: with its
    check id, host and one-line message.
    """
    report = yield
    st = state_of(item.config)
    if st.waivers is None or report.when != "call" or not report.failed or hasattr(report, "wasxfail"):
        return report
    assert st.waiver_today is not None, "set with the waivers"
    valid, expired = find(st.waivers, report.se_check or None, report.se_host or None,
                          st.waiver_today)
    if valid is not None:
        report.outcome = "skipped"
        report.wasxfail = f"waived: {valid.justification} (until {valid.expires.isoformat()})"  # type: ignore[attr-defined]
        report.se_waiver = dict(valid.as_dict(), file=st.waiver_path, expired=False)  # type: ignore[attr-defined]
        report.sections.append(("waiver", f"waiver {valid.index} of {st.waiver_path} applies: "
                                          f"{valid.justification} (until {valid.expires.isoformat()})"))
    elif expired is not None:
        note = (f"waiver {expired.index} of {st.waiver_path} for check {expired.check} on "
                f"{', '.join(expired.hosts)} expired on {expired.expires.isoformat()} "
                f"(justification was: {expired.justification}); fix the failure or renew the waiver")
        report.se_waiver = dict(expired.as_dict(), file=st.waiver_path, expired=True)  # type: ignore[attr-defined]
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
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    """Count waived failures as their own category ("N waived"), shown as WAIVED, never as passed."""
    waiver = getattr(report, "se_waiver", None)
    if waiver and not waiver.get("expired") and report.skipped and hasattr(report, "wasxfail"):
        return "waived", "w", "WAIVED"
    return None


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """List waived failures with their justification, and waivers that expired."""
    tr = terminalreporter
    waived = tr.stats.get("waived", [])
    st = state_of(config)
    if not waived and st.waivers is None:
        return
    if waived:
        tr.write_sep("=", f"{len(waived)} waived failure(s)", yellow=True)
        for rep in waived:
            tr.write_line(f"WAIVED {rep.nodeid} - {rep.wasxfail}")
    if st.waivers is not None and st.waiver_today is not None:
        for w in st.waivers:
            if w.expired(st.waiver_today):
                tr.write_line(f"waiver {w.index} ({w.check} on {', '.join(w.hosts)}) in {st.waiver_path} "
                              f"expired on {w.expires.isoformat()}: it no longer applies", yellow=True)

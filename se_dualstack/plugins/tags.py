"""What each test is about and how it ended: check id, host, concern, fix, one-line message.

Why here, once: the report's matrix, the result file, waivers and the terminal summary all need
the same facts about a test. They are attached to the report in the process that ran the test
(reports are all an xdist controller sees) and folded, on the controller, into one record per
test in the run's :class:`~se_dualstack.plugins.state.State`. Credentials are scrubbed here, so
nothing downstream (HTML, JUnit XML, JSON, terminal) ever sees one.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Generator, Iterable
from pathlib import Path
from typing import Any

import pytest

from se_dualstack import checks
from se_dualstack.model import SEHost
from se_dualstack.plugins.state import State, is_worker, state_of
from se_dualstack.redact import redact

CONCERNS = ("dns", "interfaces", "resolver", "firewall", "services", "transfer")
# Fixtures that carry the test's inventory host (alone or as the first item of a pair).
HOST_FIXTURES = ("se_host", "se_host_service", "se_host_transfer_port", "se_headnode")
pytest_plugins = ["se_dualstack.plugins.state"]
UNREACHABLE_FIX = ("Make the host reachable over ssh from the machine running the suite "
                   "(sshd running, key accepted), or fix ansible_host / --ssh-config.")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "check(id): the acceptance check this test implements (id from data/checks.yml)")
    if not is_worker(config) and not config.pluginmanager.has_plugin("se_dualstack-outcomes"):
        config.pluginmanager.register(Outcomes(state_of(config)), "se_dualstack-outcomes")


# --------------------------------------------------------------------------- identification


def check_id(item: pytest.Item) -> str | None:
    """The id of the item's ``@pytest.mark.check`` (None for a test that is no check)."""
    mark = item.get_closest_marker("check")
    if mark is None:
        return None
    value = mark.args[0] if mark.args else mark.kwargs.get("id")
    return str(value) if value else None


def se_host(item: pytest.Item) -> SEHost | None:
    """The inventory host among the item's parameters (``se_host`` or the first of a pair)."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    for name in HOST_FIXTURES:
        val = callspec.params.get(name)
        if isinstance(val, SEHost):
            return val
        if isinstance(val, tuple) and val and isinstance(val[0], SEHost):
            return val[0]
    return None


def host_in_nodeid(nodeid: str, names: Iterable[str]) -> str | None:
    """The host a test id is about: ``test_x[pool07.example.org-gsiftp]`` -> pool07.example.org.

    Known names (the site's) are matched first; without a site, an FQDN at the start of the
    parameter is taken (host names contain hyphens, so it ends at the first ``-`` after the
    FQDN's last dot).
    """
    m = re.search(r"\[(?P<param>.*)\]$", nodeid)
    if not m:
        return None
    param = m.group("param")
    for name in sorted(names, key=len, reverse=True):
        if param == name or param.startswith(name + "-"):
            return name
    # the shortest FQDN followed by "-" or the end: "disks.example.test-root-ipv4-10.42.0.11"
    fqdn = re.match(r"^(?P<host>(?:[A-Za-z0-9-]+?\.)+?[A-Za-z0-9]+?)(?=-|$)", param)
    if fqdn:
        return fqdn.group("host")
    return None


def identify(item: pytest.Item) -> tuple[str | None, SEHost | None, str | None]:
    """(check id, inventory host object if any, host name) of a test."""
    st = state_of(item.config)
    seh = se_host(item)
    name = seh.name if seh is not None else None
    for key, value in item.user_properties:
        if key == "host" and value:
            name = str(value)
    if name is None:
        names = [h.name for h in st.site.hosts] if st.site is not None else []
        name = host_in_nodeid(item.nodeid, names)
    if seh is None and name and st.site is not None:
        seh = next((h for h in st.site.hosts if h.name == name), None)
    return check_id(item), seh, name


def concern(item: pytest.Item, cid: str | None) -> str:
    """Concern for the matrix: the catalogue's, else a concern marker, else the module name."""
    if cid:
        try:
            return checks.get(cid).concern
        except (KeyError, OSError):
            pass
    for c in CONCERNS:
        if item.get_closest_marker(c) is not None:
            return c
    stem = Path(str(getattr(item, "path", ""))).stem
    return stem.removeprefix("test_") if stem.startswith("test_") else "other"


def one_line(text: Any) -> str:
    """First non-empty line: what people and diffs read."""
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()
    return ""


# --------------------------------------------------------------------------- the report (worker side)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Tag the report with what the test was about; scrub credentials from everything on it."""
    report = yield
    st = state_of(item.config)
    cid, seh, name = identify(item)
    report.se_check = cid or ""
    report.se_host = name or ""
    report.se_role = seh.role if seh is not None else ""
    report.se_concern = concern(item, cid)
    report.se_os = (seh.detected_os or "") if seh is not None else ""
    report.se_declared_os = (seh.declared_os or "") if seh is not None else ""
    # The firewall in use, once a check of this process has read it (travels like se_os).
    report.se_firewall = (st.facts.known_firewall(name) or "") if name else ""
    probe = st.probes.get(name) if name else None
    report.se_unreachable = probe.reason if probe is not None and not probe.ok else ""
    report.se_fix = ""
    report.se_message = ""
    report.se_cause = ""
    report.se_could_not_run = False
    report.se_through = ""
    excinfo = call.excinfo
    if excinfo is not None and not excinfo.errisinstance(pytest.skip.Exception):
        exc = excinfo.value
        report.se_message = one_line(redact(str(exc))) or excinfo.typename
        parts = {k: redact(getattr(exc, k)) for k in ("expected", "observed", "fix")
                 if isinstance(getattr(exc, k, None), str)}
        if parts:
            report.se_detail = parts
        if isinstance(exc, (checks.CheckFailure, checks.CouldNotRun)):
            report.se_fix = redact(exc.fix)
            report.se_cause = exc.cause
            report.se_could_not_run = isinstance(exc, checks.CouldNotRun)
            if exc.host and name and exc.host != name:
                # The check names the host at fault (a transfer's target, a TPC peer): the
                # record is about that host; the host the test ran through stays beside it.
                report.se_host, report.se_through = exc.host, name
                fault = st.site.hosts if st.site is not None else []
                at = next((h for h in fault if h.name == exc.host), None)
                report.se_role = at.role if at is not None else ""
                report.se_os = (at.detected_os or "") if at is not None else ""
                report.se_declared_os = (at.declared_os or "") if at is not None else ""
            # A failed check is a finding about the host, not a fault in the suite: show the
            # message alone (as pytest.fail(pytrace=False) does), not a Python traceback.
            report.longrepr = redact(str(exc))
        elif cid and report.failed:
            if report.se_unreachable:
                report.se_fix = UNREACHABLE_FIX
            else:
                with contextlib.suppress(KeyError, OSError):
                    report.se_fix = checks.get(cid).fix
    _scrub(report)
    return report


def _scrub(report: pytest.TestReport) -> None:
    report.sections = [(k, redact(v)) for k, v in report.sections]
    if report.longrepr is not None and not isinstance(report.longrepr, tuple):
        text = report.longreprtext
        clean = redact(text)
        if clean != text:
            report.longrepr = clean
    report.user_properties = [(k, _scrub_value(v)) for k, v in report.user_properties]


def _scrub_value(value: Any) -> Any:
    """User properties go to JUnit XML and the result file: scrub their strings too."""
    if isinstance(value, str):
        return redact(value)
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        return value
    clean = redact(text)
    return value if clean == text else json.loads(clean)


# --------------------------------------------------------------------------- outcomes (controller side)


def skip_reason(report: pytest.TestReport) -> str:
    """A skip's reason as a sentence (never the ``(path, line, reason)`` tuple pytest keeps)."""
    longrepr = report.longrepr
    if isinstance(longrepr, (tuple, list)) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return one_line(getattr(report, "longreprtext", "") or longrepr or "")


def failure_line(report: pytest.TestReport) -> str:
    msg = getattr(report, "se_message", "")
    if msg:
        return str(msg)
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return one_line(crash.message)
    return one_line(getattr(report, "longreprtext", "") or report.longrepr or "")


def phase_outcome(report: pytest.TestReport) -> str:
    waiver = getattr(report, "se_waiver", None)
    if hasattr(report, "wasxfail"):
        if report.skipped:
            return "waived" if waiver and not waiver.get("expired") else "xfailed"
        return "xpassed"
    if report.failed:
        return "failed" if report.when == "call" else "error"
    return "skipped" if report.skipped else "passed"


def fold(state: State, report: pytest.TestReport) -> None:
    """Fold the setup/call/teardown reports of one test into its record."""
    rec = state.records.get(report.nodeid)
    if rec is None:
        name = report.nodeid.split("::")[-1]
        rec = state.records[report.nodeid] = {
            "nodeid": report.nodeid, "test": re.sub(r"\[.*\]$", "", name), "check": None,
            "host": None, "outcome": "passed", "message": "", "duration": 0.0, "transfer": [],
            "waiver": None,
        }
    rec["check"] = rec["check"] or getattr(report, "se_check", None) or None
    if getattr(report, "se_through", ""):  # a failure attributed to another host than the test's
        rec["host"], rec["through"] = report.se_host, report.se_through
    rec["host"] = rec["host"] or getattr(report, "se_host", None) or None
    if getattr(report, "se_cause", ""):
        rec["cause"] = report.se_cause
    if getattr(report, "se_could_not_run", False):
        rec["could_not_run"] = True
    rec["duration"] = round(rec["duration"] + float(report.duration or 0.0), 6)
    if getattr(report, "se_concern", ""):
        state.concerns[report.nodeid] = report.se_concern
    host = getattr(report, "se_host", "")
    if host and getattr(report, "se_role", ""):
        info = state.hostinfo.setdefault(host, {})
        info["role"] = report.se_role
        for key, attr in (("detected_os", "se_os"), ("declared_os", "se_declared_os"),
                          ("firewall", "se_firewall")):
            if getattr(report, attr, ""):
                info[key] = getattr(report, attr)
    if host and getattr(report, "se_unreachable", ""):
        state.unreachable[host] = report.se_unreachable
    outcome = phase_outcome(report)
    if report.when == "setup":
        if outcome != "passed":
            rec["outcome"] = outcome if outcome != "failed" else "error"
            rec["message"] = skip_reason(report) if outcome == "skipped" else failure_line(report)
    elif report.when == "call":
        rec["outcome"] = outcome
        if outcome in ("failed", "waived", "xfailed", "error"):
            rec["message"] = failure_line(report)
        elif outcome == "skipped":
            rec["message"] = skip_reason(report)
        detail = getattr(report, "se_detail", None)
        if detail:
            rec["detail"] = detail
        waiver = getattr(report, "se_waiver", None)
        if waiver:
            rec["waiver"] = waiver
            if waiver.get("expired"):
                rec["message"] = f"{rec['message']} (waiver expired on {waiver['expires']})"
    elif report.when == "teardown" and report.failed:
        if rec["outcome"] in ("passed", "skipped"):
            rec["outcome"] = "error"
            rec["message"] = failure_line(report)
        else:
            rec["teardown_error"] = failure_line(report)
    transfers = [json.loads(json.dumps(v, default=str))
                 for (k, v) in getattr(report, "user_properties", []) if k == "transfer"]
    if transfers:
        rec["transfer"] = transfers


class Outcomes:
    """Controller-side fold of every report into the run's records (one per config)."""

    def __init__(self, state: State) -> None:
        self.state = state

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        fold(self.state, report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """Collection errors mean checks did not run: keep them in the result file."""
        if report.failed:
            self.state.collection_errors.append(
                {"nodeid": report.nodeid, "message": failure_line(report)})  # type: ignore[arg-type]

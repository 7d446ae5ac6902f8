"""What each test was about and how it ended: the one makereport wrapper, the credential
scrubbing of every report, and the fold of a test's reports into its :class:`Record`.

Why here, once: the report's matrix, the result file, waivers and the terminal summary all need
the same facts about a test. They are attached to the report in the process that ran the test,
as one :class:`~se_dualstack.reporting.records.Tag` (``report.se``, a plain dict: reports are
all an xdist controller sees), and folded on the controller into one typed record per test in
``state.outcomes``; at the end of the session the run's summary (verdict, matrix, root causes)
is built there once for every renderer. Credentials are scrubbed here, so nothing downstream
(HTML, JUnit XML, JSON, terminal) ever sees one, nor the path of one on this machine.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Generator, Iterable
from pathlib import Path
from typing import Any

import pytest

from se_dualstack import checks, nodeids
from se_dualstack.model import SEHost
from se_dualstack.plugins.state import OutcomeState, State, is_worker, state_of
from se_dualstack.redact import redact
from se_dualstack.reporting import summary
from se_dualstack.reporting.concerns import concerns
from se_dualstack.reporting.records import HostFacts, Record, Tag, TransferRow

# Fixtures that carry the test's inventory host (alone or as the first item of a pair).
HOST_FIXTURES = ("se_host", "se_host_service", "se_host_transfer_port", "se_headnode")
pytest_plugins = ["se_dualstack.plugins.state"]
UNREACHABLE_FIX = ("Make the host reachable over ssh from the machine running the suite "
                   "(sshd running, key accepted), or fix ansible_host / --ssh-config.")
# What a test's transfers left for its report (the transfers plugin's ``record`` fixture puts
# them here; the makereport wrapper moves them into the call report's tag).
TRANSFERS = pytest.StashKey[Tag]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "check(id): the acceptance check this test implements (id from data/checks.yml)")
    for c in concerns().values():
        config.addinivalue_line("markers", f"{c.name}: {c.marker}")
    if not config.pluginmanager.has_plugin("se_dualstack-outcomes"):
        config.pluginmanager.register(Outcomes(state_of(config), controller=not is_worker(config)),
                                      "se_dualstack-outcomes")


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
        name = nodeids.host_in_nodeid(item.nodeid, names)
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
    for c in concerns():
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


def host_facts(st: State, name: str, seh: SEHost | None) -> HostFacts:
    """What this process knows about the host ``name`` itself (never about another host)."""
    probe = st.hosts.probes.get(name)
    return HostFacts(
        role=(seh.role or "") if seh is not None else "",
        detected_os=(seh.detected_os or "") if seh is not None else "",
        declared_os=(seh.declared_os or "") if seh is not None else "",
        firewall=st.hosts.facts.known_firewall(name) or "",
        unreachable=probe.reason if probe is not None and not probe.ok else "")


# --------------------------------------------------------------------------- the report (worker side)


def tag_of(report: pytest.TestReport) -> Tag:
    """The tag of a report (an empty one for a report no wrapper tagged)."""
    data = getattr(report, "se", None)
    return Tag.from_dict(data) if isinstance(data, dict) else Tag()


def put(report: pytest.TestReport, tag: Tag) -> None:
    """Hang ``tag`` on the report as the plain dict xdist carries."""
    report.se = tag.to_dict()  # type: ignore[attr-defined]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Tag the report with what the test was about; scrub credentials from everything on it."""
    report = yield
    st = state_of(item.config)
    cid, seh, name = identify(item)
    tag = Tag(check=cid or "", host=name or "", concern=concern(item, cid))
    if name:
        tag.facts[name] = host_facts(st, name, seh)
    excinfo = call.excinfo
    if excinfo is not None and not excinfo.errisinstance(pytest.skip.Exception):
        exc = excinfo.value
        tag.message = one_line(redact(str(exc))) or excinfo.typename
        tag.detail = {k: redact(getattr(exc, k)) for k in ("expected", "observed", "fix")
                      if isinstance(getattr(exc, k, None), str)}
        if isinstance(exc, (checks.CheckFailure, checks.CouldNotRun)):
            tag.fix = redact(exc.fix)
            tag.cause = exc.cause
            tag.could_not_run = isinstance(exc, checks.CouldNotRun)
            if exc.host and name and exc.host != name:
                # The check names the host at fault (a transfer's target, a TPC peer): the
                # record is about that host; the host the test ran through stays beside it.
                tag.host, tag.through = exc.host, name
            # A failed check is a finding about the host, not a fault in the suite: show the
            # message alone (as pytest.fail(pytrace=False) does), not a Python traceback.
            report.longrepr = redact(str(exc))
        elif cid and report.failed:
            if tag.facts.get(name or "", HostFacts()).unreachable:
                tag.fix = UNREACHABLE_FIX
            else:
                with contextlib.suppress(KeyError, OSError):
                    tag.fix = checks.get(cid).fix
    left = item.stash.get(TRANSFERS, None)
    if left is not None and report.when == "call":
        tag.transfers, tag.no_credentials = left.transfers, left.no_credentials
    withheld = st.outcomes.withheld
    put(report, scrub_tag(tag, withheld))
    _scrub(report, withheld)
    return report


def withhold(text: str, withheld: dict[str, str]) -> str:
    """``text`` with credentials redacted and this machine's credential paths replaced."""
    out = redact(text)
    for path, shown in sorted(withheld.items(), key=lambda kv: -len(kv[0])):
        out = out.replace(path, shown)
    return out


def scrub_tag(tag: Tag, withheld: dict[str, str]) -> Tag:
    """The tag's texts as they may leave the suite."""
    tag.message, tag.fix = withhold(tag.message, withheld), withhold(tag.fix, withheld)
    tag.no_credentials = withhold(tag.no_credentials, withheld)
    tag.detail = {k: withhold(v, withheld) for k, v in tag.detail.items()}
    for t in tag.transfers:
        t.error = withhold(t.error, withheld)
    return tag


def _scrub(report: pytest.TestReport, withheld: dict[str, str]) -> None:
    report.sections = [(k, withhold(v, withheld)) for k, v in report.sections]
    if report.longrepr is not None and not isinstance(report.longrepr, tuple):
        text = report.longreprtext
        clean = withhold(text, withheld)
        if clean != text:
            report.longrepr = clean
    report.user_properties = [(k, _scrub_value(v, withheld)) for k, v in report.user_properties]


def _scrub_value(value: Any, withheld: dict[str, str]) -> Any:
    """User properties go to JUnit XML and the result file: scrub their strings too."""
    if isinstance(value, str):
        return withhold(value, withheld)
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        return value
    clean = withhold(text, withheld)
    return value if clean == text else json.loads(clean)


def scrub_extras(report: pytest.TestReport, withheld: dict[str, str]) -> None:
    """Report extras (pytest-html attaches them after every makereport wrapper)."""
    for extra in getattr(report, "extras", None) or []:
        if isinstance(extra, dict) and isinstance(extra.get("content"), str):
            extra["content"] = withhold(extra["content"], withheld)


# --------------------------------------------------------------------------- outcomes (controller side)


def skip_reason(report: pytest.TestReport) -> str:
    """A skip's reason as a sentence (never the ``(path, line, reason)`` tuple pytest keeps)."""
    longrepr = report.longrepr
    if isinstance(longrepr, (tuple, list)) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return one_line(getattr(report, "longreprtext", "") or longrepr or "")


def failure_line(report: pytest.TestReport, tag: Tag) -> str:
    if tag.message:
        return tag.message
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return one_line(crash.message)
    return one_line(getattr(report, "longreprtext", "") or report.longrepr or "")


def phase_outcome(report: pytest.TestReport, tag: Tag) -> str:
    if hasattr(report, "wasxfail"):
        if report.skipped:
            return "waived" if tag.waiver and not tag.waiver.expired else "xfailed"
        return "xpassed"
    if report.failed:
        return "failed" if report.when == "call" else "error"
    return "skipped" if report.skipped else "passed"


def fold(state: State, report: pytest.TestReport) -> Record:
    """Fold the setup/call/teardown reports of one test into its record."""
    out: OutcomeState = state.outcomes
    tag = tag_of(report)
    rec = out.records.get(report.nodeid)
    if rec is None:
        name = report.nodeid.split("::")[-1]
        rec = out.records[report.nodeid] = Record(report.nodeid, test=re.sub(r"\[.*\]$", "", name))
    rec.check = rec.check or tag.check or None
    if tag.through:  # a failure attributed to another host than the test's
        rec.host, rec.through = tag.host, tag.through
    rec.host = rec.host or tag.host or None
    rec.concern = tag.concern or rec.concern
    if tag.cause:
        rec.cause = tag.cause
    if tag.could_not_run:
        rec.could_not_run = True
    if tag.fix:
        rec.fix = tag.fix
    rec.duration = round(rec.duration + float(report.duration or 0.0), 6)
    for host, facts in tag.facts.items():
        out.host(host).merge(facts)
    if tag.no_credentials and state.transfers.no_credentials is None:
        state.transfers.no_credentials = tag.no_credentials
    outcome = phase_outcome(report, tag)
    if report.when == "setup":
        if outcome != "passed":
            rec.outcome = outcome if outcome != "failed" else "error"
            rec.message = skip_reason(report) if outcome == "skipped" else failure_line(report, tag)
    elif report.when == "call":
        rec.outcome = outcome
        if outcome in ("failed", "waived", "xfailed", "error"):
            rec.message = failure_line(report, tag)
        elif outcome == "skipped":
            rec.message = skip_reason(report)
        if tag.detail:
            rec.detail = tag.detail
        if tag.waiver:
            rec.waiver = tag.waiver
            if tag.waiver.expired:
                rec.message = f"{rec.message} (waiver expired on {tag.waiver.expires})"
        if tag.transfers:
            rec.transfers = tag.transfers
    elif report.when == "teardown" and report.failed:
        if rec.outcome in ("passed", "skipped"):
            rec.outcome = "error"
            rec.message = failure_line(report, tag)
        else:
            rec.teardown_error = failure_line(report, tag)
    return rec


def transfer_rows(records: Iterable[Record]) -> list[TransferRow]:
    """Every transfer of the run, in record order."""
    return [t for r in records for t in r.transfers]


class Outcomes:
    """Every report's extras scrubbed where they were made (before xdist sends the report on);
    on the controller, the fold of every report into the run's records, and the run's summary."""

    def __init__(self, state: State, controller: bool) -> None:
        self.state = state
        self.controller = controller

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        scrub_extras(report, self.state.outcomes.withheld)
        if self.controller:
            fold(self.state, report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """Collection errors mean checks did not run: keep them in the result file."""
        if report.failed and self.controller:
            self.state.outcomes.collection_errors.append(
                {"nodeid": report.nodeid, "message": failure_line(report, Tag())})  # type: ignore[arg-type]

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """The summary, once, after every plugin learnt what it learns at the end (the hosts'
        OS: tryfirst) and before anything renders it (pytest-html, the result file: trylast)."""
        st = self.state
        if st.site is None or not self.controller:
            return
        seconds = time.time() - st.started.timestamp()
        st.outcomes.summary = summary.summarize(st.site, st.outcomes.records.values(),
                                                st.outcomes.hosts, st.source.adhoc, seconds)

"""The suite machine's families and DNS64 in the report, and the exit status they lead to.

Why a plugin of its own: what the suite machine can reach decides what a run can prove. An
IPv6-only client proves the IPv6 side and nothing about IPv4, so the report says at the top that
the machine is IPv6-only (and which resolvers synthesize AAAA records: names whose only AAAA is
made up are reached through NAT64), and the run is not "checks failed" just because its IPv4
items could not run. The facts are the run's (``State.hosts.facts``: read once per process);
the rendering is a pytest-html summary prefix (``templates/suite_machine.html.j2``, styled by
``report.css``), the report title and two metadata rows, so the report plugin itself is
untouched.

Exit status (documented in se_dualstack/exitcodes.py): when every failure is a check the suite
machine could not run because it has no IPv4, the run exits 0 (the verdict says which items did
not run and why); when the machine has no IPv6, whatever else happened, it exits 4 ("could not
run"): the suite exists to prove IPv6 and could not.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

import pytest

from se_dualstack import exitcodes
from se_dualstack.plugins.state import State, is_worker, state_of
from se_dualstack.reporting import templates
from se_dualstack.reporting.causes import elsewhere
from se_dualstack.reporting.records import Record

# This module works alone (``-p se_dualstack.plugins.families``) on the state and outcomes it needs.
pytest_plugins = ["se_dualstack.plugins.state", "se_dualstack.plugins.outcomes"]
# A suite machine with one family only: it proves nothing about the other.
SINGLE = ("IPv6-only", "IPv4-only")


def machine_lines(st: State) -> tuple[str, str]:
    """(the suite machine's line, the site resolvers' DNS64 line)."""
    facts = st.hosts.facts
    site_vars = dict(st.site.vars) if st.site is not None else {}
    return facts.suite_machine().describe(), facts.dns64(site_vars).describe()


def exit_status(records: Iterable[Record], status: int) -> int:
    """The run's exit status once the suite machine's own could-not-runs are taken out."""
    failed = [r for r in records if r.failed]
    causes = {str(r.cause) for r in failed if elsewhere(r)}
    if "suite-family:6" in causes and status in (exitcodes.PASSED, exitcodes.CHECKS_FAILED):
        return exitcodes.USAGE_ERROR
    if failed and status == exitcodes.CHECKS_FAILED and causes == {"suite-family:4"} and \
            all(elsewhere(r) for r in failed):
        return exitcodes.PASSED
    return status


def banner_html(st: State) -> str:
    """The report's first lines: what the suite machine is and which resolvers do DNS64."""
    facts = st.hosts.facts
    machine = facts.suite_machine()
    dns64 = facts.dns64(dict(st.site.vars) if st.site is not None else {})
    return templates.render("suite_machine.html.j2", machine=machine, dns64=dns64,
                            warn=machine.label in SINGLE or bool(dns64.synthesizing))


class SuiteNetwork:
    """The report hooks and the exit status, one instance per run."""

    def __init__(self, config: pytest.Config, state: State) -> None:
        self.config = config
        self.state = state

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        if self.state.site is None:
            return []
        machine, dns64 = machine_lines(self.state)
        return [f"se_dualstack: suite machine: {machine}", f"se_dualstack: resolvers: {dns64}"]

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.state.site is None or is_worker(self.config):
            return
        try:
            from pytest_metadata.plugin import metadata_key
        except ImportError:
            return
        md = self.config.stash.get(metadata_key, None)
        if md is not None:
            machine, dns64 = machine_lines(self.state)
            md["Suite machine network"] = html.escape(machine)
            md["DNS64 at the site's resolvers"] = html.escape(dns64)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Before the result file is written (its exit status must be the run's)."""
        if is_worker(self.config) or self.state.site is None:
            return
        session.exitstatus = exit_status(self.state.outcomes.records.values(), int(session.exitstatus))

    @pytest.hookimpl(optionalhook=True, trylast=True)
    def pytest_html_report_title(self, report: Any) -> None:
        if self.state.site is None:
            return
        label = self.state.hosts.facts.suite_machine().label
        if label in SINGLE:
            report.title = f"{report.title} (from an {label} suite machine)"

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self, prefix: list[str], summary: list[str],
                                    postfix: list[str]) -> None:
        if self.state.site is not None:
            prefix.insert(0, banner_html(self.state))


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("se_dualstack_families"):
        config.pluginmanager.register(SuiteNetwork(config, state_of(config)), "se_dualstack_families")

"""The run's one state object, under one stash key, in groups: each plugin reads its part.

Why one: the hosts, report, results, waivers and transfer plugins all need the site, what each
test was about and how it ended. Keeping that in one :class:`State` per pytest config (xdist
workers and pytester runs each have their own) means no plugin reaches into another. Why
groups: a plugin reads ``state.site`` and its own group (``state.results``, ``state.waivers``...)
and the outcomes every renderer shares (``state.outcomes``), not thirty loose fields.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from se_dualstack.facts import Facts
from se_dualstack.model import Site
from se_dualstack.remote import Probe
from se_dualstack.reporting.records import HostFacts, Record
from se_dualstack.reporting.resultfile import ResultDoc
from se_dualstack.reporting.summary import RunSummary
from se_dualstack.waivers import Waiver


@dataclass
class SiteSource:
    """Where the site came from (hosts plugin, at configure)."""

    inventory: str | None = None
    adhoc: bool = False  # --hosts without an inventory: roles detected
    needs_inventory: list[str] = field(default_factory=list)  # tests that wanted one
    usage_errors: list[str] = field(default_factory=list)


@dataclass
class HostState:
    """Reaching the hosts (hosts plugin, in the process that runs the tests)."""

    testinfra: dict[str, Any] = field(default_factory=dict)  # host name -> testinfra Host
    probes: dict[str, Probe] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    facts: Facts = field(default_factory=Facts)
    # Parameter id -> inventory host whose xdist group the test joins.
    group_hosts: dict[str, str] = field(default_factory=dict)


@dataclass
class OutcomeState:
    """What the tests found (outcomes plugin): one record per test id (controller side), the
    facts learnt per host, the summary built once at the end, and the credential paths of this
    process that no output may show (path -> what is shown instead)."""

    records: dict[str, Record] = field(default_factory=dict)
    hosts: dict[str, HostFacts] = field(default_factory=dict)
    collection_errors: list[dict[str, str]] = field(default_factory=list)
    summary: RunSummary | None = None
    withheld: dict[str, str] = field(default_factory=dict)

    def host(self, name: str) -> HostFacts:
        """The facts of one host (created empty on first use)."""
        return self.hosts.setdefault(name, HostFacts())


@dataclass
class ReportPaths:
    """reports/<site>-<stamp>.{html,xml,json} unless the user chose paths (report plugin)."""

    base: Path | None = None
    html: Path | None = None


@dataclass
class ResultState:
    """The result file and the --baseline comparison (results plugin)."""

    baseline: ResultDoc | None = None
    baseline_path: str | None = None
    json_path: Path | None = None
    latest_path: Path | None = None
    comparison: Any = None  # compare.Comparison
    compare_paths: list[Path] = field(default_factory=list)
    write_error: str | None = None
    baseline_note: str = ""  # --baseline DIR without a file of this site and selection in it
    site: str = ""
    partial: list[str] = field(default_factory=list)  # what narrowed the selection ([]: whole)


@dataclass
class WaiverState:
    """The --waivers file (waivers plugin)."""

    entries: list[Waiver] | None = None
    path: str | None = None
    today: date | None = None
    meta: dict[str, Any] | None = None


@dataclass
class TransferState:
    """Transfers (transfers plugin): the run's cases and credentials, made once
    (plugins/transfers.py RunCases), and the could-not-run line when no credential is usable."""

    cases: Any = None
    no_credentials: str | None = None


@dataclass
class State:
    """Per-run state (one per pytest config)."""

    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    site: Site | None = None
    source: SiteSource = field(default_factory=SiteSource)
    hosts: HostState = field(default_factory=HostState)
    outcomes: OutcomeState = field(default_factory=OutcomeState)
    reports: ReportPaths = field(default_factory=ReportPaths)
    results: ResultState = field(default_factory=ResultState)
    waivers: WaiverState = field(default_factory=WaiverState)
    transfers: TransferState = field(default_factory=TransferState)


STATE_KEY = pytest.StashKey[State]()


def state_of(config: pytest.Config) -> State:
    """This run's state (created on first use)."""
    if STATE_KEY not in config.stash:
        config.stash[STATE_KEY] = State()
    return config.stash[STATE_KEY]


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from se_dualstack.plugins import hooks

    pluginmanager.add_hookspecs(hooks)


def is_worker(config: pytest.Config) -> bool:
    """An xdist worker: it runs tests, the controller writes reports."""
    return hasattr(config, "workerinput")


# Options that narrow the selection of checks: (option dest, how the result file names it).
NARROWING = (("markexpr", "-m"), ("keyword", "-k"), ("hosts", "--hosts"),
             ("transfer_protocols", "--transfer-protocols"), ("deselect", "--deselect"),
             ("ignore", "--ignore"), ("ignore_glob", "--ignore-glob"), ("lf", "--last-failed"),
             ("stepwise", "--stepwise"))


def partial_selection(config: pytest.Config) -> list[str]:
    """What narrowed this run's selection (``["-m dns"]``); empty for the whole selection.

    Why: ``<site>-latest.json`` is the next night's baseline, so only a run of every check on
    every host may replace it; a run narrowed by ``-m``, ``-k``, ``--hosts``, a test path... is
    compared with, and becomes the baseline of, runs of the same selection only.
    """
    out = []
    for dest, flag in NARROWING:
        value = config.getoption(dest, None)
        if isinstance(value, (list, tuple)):
            value = " ".join(str(v) for v in value)
        if value not in (None, "", False):
            out.append(flag if value is True else f"{flag} {value}")
    if config.args_source == pytest.Config.ArgsSource.ARGS:
        root = config.invocation_params.dir
        given = {str((root / a.split("::")[0]).resolve()) + ("::" if "::" in a else "")
                 for a in config.args}
        default = {str((config.rootpath / p).resolve()) for p in config.getini("testpaths")}
        if given != default:
            out.append("paths " + " ".join(config.args))
    return out

"""The run's one state object, under one stash key.

Why one: the hosts, report, results, waivers and transfer plugins all need the site, what each
test was about and how it ended. Keeping that in one :class:`State` per pytest config (xdist
workers and pytester runs each have their own) means no plugin reaches into another.
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
from se_dualstack.waivers import Waiver


@dataclass
class State:
    """Per-run state (one per pytest config)."""

    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    # the site
    site: Site | None = None
    inventory: str | None = None
    adhoc: bool = False
    needs_inventory: list[str] = field(default_factory=list)  # tests that wanted one
    usage_errors: list[str] = field(default_factory=list)
    # hosts (worker side)
    testinfra_hosts: dict[str, Any] = field(default_factory=dict)
    probes: dict[str, Probe] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    facts: Facts = field(default_factory=Facts)
    # Parameter id -> inventory host whose xdist group the test joins.
    group_hosts: dict[str, str] = field(default_factory=dict)
    # outcomes (controller side): one record per test id, as the result file keeps them
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    concerns: dict[str, str] = field(default_factory=dict)  # test id -> concern (the matrix)
    hostinfo: dict[str, dict[str, Any]] = field(default_factory=dict)  # role, OS learnt per host
    unreachable: dict[str, str] = field(default_factory=dict)
    collection_errors: list[dict[str, str]] = field(default_factory=list)
    # report files: reports/<site>-<stamp>.{html,xml,json} unless the user chose paths
    report_base: Path | None = None
    report_html: Path | None = None
    # results
    baseline: dict[str, Any] | None = None
    baseline_path: str | None = None
    json_path: Path | None = None
    latest_path: Path | None = None
    comparison: Any = None  # compare.Comparison
    compare_paths: list[Path] = field(default_factory=list)
    write_error: str | None = None
    # waivers
    waivers: list[Waiver] | None = None
    waiver_path: str | None = None
    waiver_today: date | None = None
    waiver_meta: dict[str, Any] | None = None
    # transfers (controller side): per-transfer figures for the summary, could-not-run line
    transfer_rows: list[dict[str, Any]] = field(default_factory=list)
    no_credentials: str | None = None


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

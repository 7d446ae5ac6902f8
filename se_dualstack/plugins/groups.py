"""xdist groups: each host's checks on one worker (one ssh master per host), a transfer with
the host it lands on.

Why apart from :mod:`.hosts`: grouping is about scheduling, not about reaching hosts; it reads
the site and the declared groups from the run's state and nothing else.
"""

from __future__ import annotations

from typing import Any

import pytest

from se_dualstack import nodeids
from se_dualstack.plugins import outcomes
from se_dualstack.plugins.state import state_of

# This module works alone (``-p se_dualstack.plugins.groups``) on the state and outcomes it needs.
pytest_plugins = ["se_dualstack.plugins.state", "se_dualstack.plugins.outcomes"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "xdist_group(name): keep a host's checks on one xdist worker")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with the xdist group of its host (``--dist loadgroup``)."""
    for item in items:
        group = item_group_host(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


def group_host(nodeid: str, names: list[str], declared: dict[str, str] | None = None) -> str | None:
    """The host whose xdist group a test id belongs to: a declared one, else the host in the id."""
    param = nodeids.param_id(nodeid)
    if param is not None and declared and param in declared:
        return declared[param]
    return nodeids.host_in_nodeid(nodeid, names, guess=False)


def item_group_host(item: pytest.Item) -> str | None:
    """The host whose group an item joins: a parameter's ``group_host``, else its SE host."""
    callspec = getattr(item, "callspec", None)
    for val in (callspec.params.values() if callspec is not None else ()):
        declared = getattr(val, "group_host", None)
        if isinstance(declared, str) and declared:
            return declared
    seh = outcomes.se_host(item)
    return seh.name if seh is not None else None


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup``: keep each host's checks on one worker (one ssh master per host).

    xdist groups by an ``@group`` suffix its workers add to node ids, which pytest 9.2's
    structured node ids silently drop (pytest-xdist#1386), so the controller also groups by
    the host of the test id: the one declared for its parameter id (the transfers plugin
    declares a transfer through the head node in its target disk node's group), else the host
    the id starts with. The ``xdist_group`` marks stay for a fixed xdist.
    """
    st = state_of(config)
    if config.getvalue("dist") != "loadgroup" or st.site is None:
        return None
    from xdist.scheduler import LoadGroupScheduling

    names = [h.name for h in st.site.hosts]
    declared = st.hosts.group_hosts

    class HostGroupScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            if scope != nodeid:
                return scope
            return group_host(nodeid, names, declared) or nodeid

    return HostGroupScheduling(config, log)

"""xdist end to end (pytester): ``--dist loadgroup`` keeps a host's checks on one worker, a
transfer through the head node joins its target's group, and the report is built on the
controller from what the workers' reports carry."""

from __future__ import annotations

import re

import pytest
from pluginsuite import CHECKS, CONFTEST, FAILING, local_os, read_report


def test_xdist_loadgroup_keeps_hosts_together(project: pytest.Pytester) -> None:
    pytest.importorskip("xdist", reason="pytest-xdist is not installed")
    project.makepyfile(test_checks=FAILING)
    result = project.runpytest_subprocess("--inventory=inventory.yml", "--connection=local",
                                        "-n", "2", "--dist", "loadgroup", "-v")
    result.assert_outcomes(passed=31, failed=1, skipped=2)
    workers: dict[str, set[str]] = {}
    names = ["head.example.test", "disk01.example.test", "disk02.example.test"]
    for line in result.outlines:
        m = re.search(r"\[(gw\d)\].*test_checks\.py::\S+\[(\S+?)[-\]@]", line + "@")
        if m:
            host = next((n for n in names if m.group(2).startswith(n)), m.group(2))
            workers.setdefault(host, set()).add(m.group(1))
    assert set(workers) == {"head.example.test", "disk01.example.test", "disk02.example.test"}, workers
    assert all(len(w) == 1 for w in workers.values()), f"one worker per host: {workers}"
    html = read_report(next((project.path / "reports").glob("testsite-2*.html")))
    assert "NOT ACCEPTED: 1 of" in html, "matrix built on the controller"
    assert f"{local_os()} detected" in html, "OS learnt in the workers reaches the report"


VIA_CONFTEST = CONFTEST + '''

class Case:
    """Like a transfer case: the id starts with the entry host, the work lands on group_host."""

    def __init__(self, id, group_host):
        self.id, self.group_host = id, group_host


VIA = [Case("head.example.test-root-ipv6-via-disk01", "disk01.example.test"),
       Case("disk01.example.test-to-disk02-root-ipv6", "disk02.example.test")]
_fake_catalogue = pytest_configure


def pytest_configure(config):
    from se_dualstack.plugins.state import state_of

    _fake_catalogue(config)
    state_of(config).hosts.group_hosts.update({c.id: c.group_host for c in VIA})
'''

VIA_CHECKS = CHECKS + '''
from conftest import VIA


@pytest.mark.check("SE6-T-02")
@pytest.mark.parametrize("case", VIA, ids=[c.id for c in VIA])
def test_via(case, request):
    mark = request.node.get_closest_marker("xdist_group")
    assert mark is not None and mark.args[0] == case.group_host, "xdist group of the target"
'''


def test_group_host_prefers_the_declared_host() -> None:
    from se_dualstack.plugins import groups as plugin

    names = ["head.example.test", "disk01.example.test", "disk02.example.test"]
    declared = {"head.example.test-root-ipv6-via-disk01": "disk01.example.test"}
    nid = "tests/test_transfers.py::test_transfer[head.example.test-root-ipv6-via-disk01]"
    assert plugin.group_host(nid, names, declared) == "disk01.example.test", "declared target wins"
    assert plugin.group_host(nid, names) == "head.example.test", "undeclared: the host in the id"
    assert plugin.group_host("t.py::test_x[disk02.example.test-xrootd]", names, declared) == \
        "disk02.example.test", "other tests keep their host"
    assert plugin.group_host("t.py::test_plain", names, declared) is None, "not per host"


def test_xdist_loadgroup_puts_via_and_tpc_tests_in_the_target_group(project: pytest.Pytester) -> None:
    """A transfer through the head node to disk01 runs with disk01's checks, a TPC to disk02
    with disk02's: on 1+N sites the head node's group is no longer the critical path."""
    pytest.importorskip("xdist", reason="pytest-xdist is not installed")
    project.makeconftest(VIA_CONFTEST)
    project.makepyfile(test_checks=VIA_CHECKS)
    # Three hosts, three workers: loadgroup gives each group its own worker.
    result = project.runpytest_subprocess("--inventory=inventory.yml", "--connection=local",
                                        "-n", "3", "--dist", "loadgroup", "-v")
    result.assert_outcomes(passed=30)
    workers: dict[str, set[str]] = {}
    names = ["head.example.test", "disk01.example.test", "disk02.example.test"]
    for line in result.outlines:
        m = re.search(r"\[(gw\d)\].*test_checks\.py::(test_\w+)\[(\S+?)\]", line)
        if not m:
            continue
        if m.group(2) == "test_via":
            key = f"via:{m.group(3)}"
        else:
            key = next((n for n in names if m.group(3).startswith(n)), m.group(3))
        workers.setdefault(key, set()).add(m.group(1))
    assert all(len(w) == 1 for w in workers.values()), f"one worker per group: {workers}"
    head, d1, d2 = (workers[n] for n in names)
    assert len(head | d1 | d2) == 3, f"three groups on three workers: {workers}"
    assert workers["via:head.example.test-root-ipv6-via-disk01"] == d1, f"via disk01 -> disk01: {workers}"
    assert workers["via:disk01.example.test-to-disk02-root-ipv6"] == d2, f"TPC to disk02 -> disk02: {workers}"

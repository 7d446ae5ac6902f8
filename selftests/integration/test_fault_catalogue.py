"""The suite against real testbed sites: each fault trips exactly its checks on exactly its host.

Why: a check that never fails proves nothing, and one that fails on a healthy host is a false
alarm a site admin learns to ignore. One site carries every fault of the testbed's catalogue on
its own host (``sites/fault-catalogue.yml``), and ``testbed/faults.yml`` says which checks
each fault trips; the default and ``seed-after`` sites must pass
every host-state check. Transfers have their own integration tests (``-m "not transfer"`` here).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from tbrun import ROOT, Testbed, failing_by_host, tb_name, unavailable

from testbed import faults
from testbed.site import load_site

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))

SITES = Path(__file__).with_name("sites")

CATALOGUE_SITE = SITES / "fault-catalogue.yml"


def expected_failures(site_file: Path) -> dict[str, set[str]]:
    """Host short name -> check ids expected to fail there (every other check passes or is N/A):
    the union of what testbed/faults.yml says each of the host's faults (in the site file) catches."""
    site = load_site(site_file)
    return {h["short"]: set(faults.expected_failures(h)) for h in site["hosts"]}


EXPECTED_FAILURES = expected_failures(CATALOGUE_SITE)


def run_suite_on_site(site_file: Path, name: str, out: Path) -> dict:
    """Bring a site up, run the host-state checks from its client host, always tear it down.

    Returns the run's JSON result document.
    """
    with Testbed(name, str(site_file)) as tb:
        # two workers: test_parallel.py proves a parallel run gives the serial run's outcomes
        run = tb.run_suite(out, "-m", "not transfer", "-n", "2", timeout=1200)
    assert run.status in (0, 1), (
        f"suite could not run on {site_file.name} (exit {run.status}):\n{run.output[-4000:]}")
    return run.result


@pytest.fixture(scope="module")
def catalogue_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return run_suite_on_site(CATALOGUE_SITE, tb_name("fltcat"),
                             tmp_path_factory.mktemp("fault-catalogue"))


@pytest.mark.parametrize("short", sorted(EXPECTED_FAILURES))
def test_fault_trips_exactly_its_checks(catalogue_run: dict, short: str) -> None:
    failing = failing_by_host(catalogue_run).get(short, {})
    expected = EXPECTED_FAILURES[short]
    detail = "\n".join(f"  {cid}: {msgs[0]}" for cid, msgs in sorted(failing.items()))
    assert set(failing) == expected, (
        f"{short}: expected failing {sorted(expected)}, got {sorted(failing)}\n{detail}")


def test_catalogue_site_checked_every_host(catalogue_run: dict) -> None:
    """Guard against a run that silently covered fewer hosts (a vacuous pass above)."""
    hosts = {(r["host"] or "").split(".")[0] for r in catalogue_run["records"]}
    assert set(EXPECTED_FAILURES) <= hosts, f"hosts without any result: {set(EXPECTED_FAILURES) - hosts}"
    outcomes = {r["outcome"] for r in catalogue_run["records"]}
    assert {"passed", "failed"} <= outcomes, f"outcomes seen: {outcomes}"


@pytest.mark.parametrize("site_file", [ROOT / "testbed/sites/default.yml",
                                       ROOT / "testbed/sites/seed-after.yml"],
                         ids=["default", "seed-after"])
def test_healthy_site_has_no_false_alarm(site_file: Path, tmp_path: Path) -> None:
    doc = run_suite_on_site(site_file, "flthealthy", tmp_path)
    failing = failing_by_host(doc)
    detail = "\n".join(f"  {h} {cid}: {m[0]}" for h, c in failing.items() for cid, m in c.items())
    assert not failing, f"false alarms on {site_file.name}:\n{detail}"
    passed: dict[str, int] = defaultdict(int)
    for r in doc["records"]:
        passed[(r["host"] or "?").split(".")[0]] += r["outcome"] == "passed"
    thin = {h: n for h, n in passed.items() if n < 15}
    assert len(passed) >= 3, f"results for fewer than 3 hosts: {dict(passed)}"
    assert not thin, f"too few passing checks per host: {dict(passed)}"

"""The suite against real testbed sites: each fault trips exactly its checks on exactly its host.

Why: a check that never fails proves nothing, and one that fails on a healthy host is a false
alarm a site admin learns to ignore. One site carries every fault of the testbed's catalogue on
its own host (``sites/fault-catalogue.yml``); the default and ``seed-after`` sites must pass
every host-state check. Transfers have their own integration tests (``-m "not transfer"`` here).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from tbrun import ROOT, Testbed, unavailable

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))

SITES = Path(__file__).with_name("sites")

# Host short name -> check ids expected to fail there (every other check passes or is N/A).
EXPECTED_FAILURES: dict[str, set[str]] = {
    # head node ip6tables opens only gsiftp/xrootd/https: DPM's own ports unreachable over IPv6
    "head": {"SE6-FW-03", "SE6-SVC-04"},
    "disk01": {"SE6-DNS-02", "SE6-SVC-04"},  # no AAAA: nothing to connect to over IPv6
    "disk02": {"SE6-DNS-04", "SE6-DNS-06", "SE6-SVC-04"},  # AAAA points elsewhere
    "disk03": {"SE6-DNS-04"},  # no IPv6 PTR
    # not dual-stacked: no AAAA, ifcfg without IPv6, no address, no route, IPv4-only firewall
    "disk04": {"SE6-DNS-02", "SE6-IF-01", "SE6-IF-03", "SE6-IF-04", "SE6-FW-01", "SE6-SVC-04"},
    "disk05": {"SE6-IF-01", "SE6-IF-06"},  # el7 ifcfg lacks IPV6INIT/DHCPV6C, live works
    "disk06": {"SE6-IF-02", "SE6-IF-06"},  # el9 NetworkManager keyfile method=disabled
    "disk07": {"SE6-RES-01"},  # /etc/hosts without the ::1 line
    "disk08": {"SE6-RES-02"},  # SL6, empty gai.conf
    "disk09": {"SE6-RES-02"},  # SL6, partial gai.conf
    "disk10": {"SE6-FW-01", "SE6-SVC-04"},  # ip6tables closes xrootd 1094
    "disk11": {"SE6-SVC-01", "SE6-SVC-04"},  # gsiftp bound to IPv4 only
    "disk12": {"SE6-FW-04"},  # saved ip6tables differs from live
    "disk13": set(),  # healthy el9
    "disk14": set(),  # healthy sl6
}


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


def failing_by_host(doc: dict) -> dict[str, dict[str, list[str]]]:
    """host short name -> check id -> failure messages (errors count as failures)."""
    out: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for rec in doc["records"]:
        if rec["outcome"] in ("failed", "error"):
            short = (rec["host"] or "?").split(".")[0]
            out[short][rec["check"]].append(rec["message"])
    return out


@pytest.fixture(scope="module")
def catalogue_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return run_suite_on_site(SITES / "fault-catalogue.yml", "fltcat",
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

"""Each storage system's healthy site passes the host checks, with its inventory and without.

Why: the storage data (data/flavours/) and the site in a box must agree on every port, range,
process and config file, or a healthy site raises false alarms; and a site admin who runs
``--hosts`` alone (no inventory) must see each host taken for what it is (door or pool, MGM or
FST, redirector or data server, frontend or WebDAV server) and no false alarm either. Each site
comes up once for both runs: with its inventory the whole suite (host checks, round trips, third-
party copies, redirect chains; X.509 and the site's token), with ``--hosts`` alone the host checks.
Cost: ~45 s a site (4 sites).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from tbrun import Testbed, failing_by_host, tb_name, unavailable

from se_dualstack import knowledge

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))

SYSTEMS = ("dcache", "eos", "xrootd", "storm")
MIN_PASSED = 15  # host checks passed per host at least: guards against a vacuous run


def _runs(system: str, out: Path) -> dict[str, Any]:
    """The site up once: a run with the generated inventory, one with --hosts alone."""
    with Testbed(tb_name(f"{system[:3]}ok"), system) as tb:
        hosts = tb.hosts()
        with_inventory = tb.run_suite(out / "inventory", "-n", "2", timeout=1200)
        adhoc = tb.run_suite(out / "hosts", "-m", "not transfer", "-n", "2",
                             "--hosts=" + ",".join(f"ssh://root@{h['fqdn']}" for h in hosts),
                             "--se-var=se_ipv6_prefixes=[fd42:6::/64]",
                             "--se-var=se_resolvers=[fd42:6::1, 10.42.0.1]", timeout=1200, inventory=False)
    return {"hosts": hosts, "inventory": with_inventory, "hosts-alone": adhoc}


@pytest.fixture(scope="module", params=SYSTEMS)
def site_runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = _runs(request.param, tmp_path_factory.mktemp(request.param))
    out["system"] = request.param
    return out


@pytest.mark.parametrize("how", ["inventory", "hosts-alone"])
def test_healthy_site_has_no_false_alarm(site_runs: dict[str, Any], how: str) -> None:
    run = site_runs[how]
    assert run.status in (0, 1), f"could not run ({how}, exit {run.status}):\n{run.output[-3000:]}"
    failing = failing_by_host(run.result)
    detail = "\n".join(f"  {h} {cid}: {m[0]}" for h, c in failing.items() for cid, m in c.items())
    assert not failing, f"false alarms on {site_runs['system']} ({how}):\n{detail}"
    passed: dict[str, int] = defaultdict(int)
    for r in run.result["records"]:
        if not r["host"]:  # a test with no case at this site (StoRM: no redirect chain), N/A
            assert r["outcome"] == "skipped", f"a result about no host: {r['nodeid']} {r['outcome']}"
            continue
        passed[r["host"].split(".")[0]] += r["outcome"] == "passed"
    shorts = {h["short"] for h in site_runs["hosts"]}
    assert set(passed) == shorts, f"results for {sorted(passed)}, hosts {sorted(shorts)}"
    assert all(n >= MIN_PASSED for n in passed.values()), f"too few passing checks per host: {dict(passed)}"
    assert run.status == 0


def test_healthy_site_moves_data_through_every_entry_point(site_runs: dict[str, Any]) -> None:
    """The inventory run's transfers ran, not N/A away: round trips on both families, and a
    third-party copy; redirect chains wherever the system redirects (StoRM serves data where
    clients connect)."""
    ran: dict[str, set[str]] = defaultdict(set)
    for r in site_runs["inventory"].result["records"]:
        test = r["nodeid"].split("::")[-1].split("[")[0]
        if r["outcome"] == "passed":
            ran[test].add("ipv6" if "-ipv6" in r["nodeid"] else "ipv4" if "-ipv4" in r["nodeid"] else "")
    assert {"ipv6", "ipv4"} <= ran["test_transfer"], f"round trips passed: {dict(ran)}"
    assert "ipv6" in ran["test_third_party_copy"], f"third-party copies passed: {dict(ran)}"
    if knowledge.system(site_runs["system"]).redirects:  # the storage registry's redirects
        assert {"ipv6", "ipv4"} <= ran["test_redirect_chain"], f"chains passed: {dict(ran)}"


def test_hosts_alone_detects_each_role_and_the_system(site_runs: dict[str, Any]) -> None:
    doc = site_runs["hosts-alone"].result
    assert doc["flavour"] == site_runs["system"], "the system detected on the hosts"
    roles = {h["name"]: h["role"] for h in doc["hosts"]}
    assert roles == {h["fqdn"]: h["role"] for h in site_runs["hosts"]}, "each host's role detected"

"""EL9 firewalls against the suite: firewalld and nftables hosts pass healthy, and each firewall
fault applied live with `testbed fault` trips exactly its checks on exactly its host.

Why live: an admin's mistake happens on a running host (a rich rule added, a port opened at
runtime only, a table rewritten); `testbed fault` regenerates the host's firewall the way the
admin's commands would, and the next suite run must see it, with a fix line in the host's own
tool (firewall-cmd or nft). Expected checks come from testbed/faults.yml, as in the catalogue.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tbrun import Testbed, tb_name, unavailable
from test_fault_catalogue import failing_by_host

from testbed import faults
from testbed.site import load_site

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))

SITE = Path(__file__).with_name("sites") / "firewalls.yml"
# host short name -> the fault applied to it while the site runs
LIVE_FAULTS = {
    "head": "firewalld_head_transfer_only",
    "disk01": "firewalld_ipv4_only_rule:1094",
    "disk02": "nft_ip_table_only",
    "disk03": "firewalld_runtime_only:2811",
    "disk04": "nft_saved_differs",
}
FIX_TOOL = {"firewalld": "firewall-cmd", "nftables": "nft"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The suite's host-state checks on the healthy site, then again after the live faults."""
    out: dict[str, dict] = {}
    with Testbed(tb_name("fw2"), str(SITE)) as tb:
        run = tb.run_suite(tmp_path_factory.mktemp("healthy"), "-m", "not transfer", timeout=900)
        assert run.status in (0, 1), f"suite could not run (exit {run.status}):\n{run.output[-3000:]}"
        out["healthy"] = run.result
        for short, fault in LIVE_FAULTS.items():
            res = tb._tb("fault", short, fault, timeout=120)
            assert res.returncode == 0, f"testbed fault {short} {fault}: {res.stderr.strip()}"
        run = tb.run_suite(tmp_path_factory.mktemp("faulty"), "-m", "not transfer", timeout=900)
        assert run.status in (0, 1), f"suite could not run (exit {run.status}):\n{run.output[-3000:]}"
        out["faulty"] = run.result
    return out


def test_healthy_firewalld_and_nftables_hosts_pass(runs: dict[str, dict]) -> None:
    failing = failing_by_host(runs["healthy"])
    detail = "\n".join(f"  {h} {cid}: {m[0]}" for h, c in failing.items() for cid, m in c.items())
    assert not failing, f"false alarms on healthy EL9 firewalls:\n{detail}"
    fw = [r for r in runs["healthy"]["records"] if r["check"].startswith("SE6-FW")]
    hosts = {(r["host"] or "").split(".")[0] for r in fw if r["outcome"] == "passed"}
    assert set(LIVE_FAULTS) <= hosts, f"firewall checks passed on {sorted(hosts)} only"


@pytest.mark.parametrize("short", sorted(LIVE_FAULTS))
def test_live_fault_trips_exactly_its_checks(runs: dict[str, dict], short: str) -> None:
    site = load_site(SITE)
    host = next(h for h in site["hosts"] if h["short"] == short)
    expected = set(faults.catches(LIVE_FAULTS[short], host))
    failing = failing_by_host(runs["faulty"]).get(short, {})
    detail = "\n".join(f"  {cid}: {msgs[0]}" for cid, msgs in sorted(failing.items()))
    assert set(failing) == expected, (
        f"{short} with {LIVE_FAULTS[short]}: expected failing {sorted(expected)}, got "
        f"{sorted(failing)}\n{detail}")
    tool = FIX_TOOL[host["firewall"]]
    for cid, msgs in failing.items():
        if cid.startswith("SE6-FW"):
            assert f"Fix: Run on {host['fqdn']}: `{tool} " in msgs[0] or f"`{tool} " in msgs[0], (
                f"{short} {cid}: the fix is not a {tool} command: {msgs[0]}")
            assert host["firewall"] in msgs[0], f"{short} {cid}: the firewall kind is not named: {msgs[0]}"

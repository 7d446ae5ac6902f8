"""Each storage system's faults, each caught on the host at fault and nowhere else (issue 17.7).

Why: a check that never fails proves nothing, and one that fails on a healthy host is a false
alarm. Each ``testbed/sites/<system>-faults.yml`` carries the system's faults, one host each, with
healthy hosts beside them; ``testbed/faults.yml`` says which checks each fault trips
(``testbed.faults.expected_failures``). Each site comes up once, the suite runs from its client
with the generated inventory, and every host must fail exactly its expected checks.

What is compared: the host checks, and apart the transfer checks (SE6-XFER-01/02/03: round
trips, third-party copies, redirect chains; XFER-02 where the host takes part in a copy). Cost:
~25 s a site, transfers included (4 sites, ~100 s on 2 CPUs).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tbrun import ROOT, Testbed, failing_by_host, tb_name, unavailable

from se_dualstack import checks
from testbed import faults
from testbed.site import load_site

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))

SYSTEMS = ("dcache", "eos", "xrootd", "storm")
SITES = {s: ROOT / "testbed" / "sites" / f"{s}-faults.yml" for s in SYSTEMS}
# The host checks; every other id a fault names (SE6-XFER-01/02/03: concern transfer, or a check
# another branch's catalogue adds) is a transfer's, compared only when transfers run.
HOST_CHECKS = frozenset(c.id for c in checks.catalogue().values() if c.concern != "transfer")
HOSTS = [(s, h["short"]) for s in SYSTEMS for h in load_site(SITES[s])["hosts"]]
Run = tuple[dict[str, Any], dict[str, Any]]  # the site file as loaded, the run's result document


def run_fault_site(system: str, out: Path) -> Run:
    """Bring the system's fault site up, run the suite from its client, always tear it down."""
    site = load_site(SITES[system])
    with Testbed(tb_name(f"{system[:3]}flt"), str(SITES[system])) as tb:
        run = tb.run_suite(out, "-n", "2", timeout=1800)
    assert run.status in (0, 1), (f"suite could not run on {system}-faults (exit {run.status}):\n"
                                  f"{run.output[-4000:]}")
    return site, run.result


@pytest.fixture(scope="module")
def fault_runs(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Run]:
    """The run of each system's fault site, made the first time a test asks for it."""
    done: dict[str, Run] = {}

    def get(system: str) -> Run:
        if system not in done:
            done[system] = run_fault_site(system, tmp_path_factory.mktemp(f"{system}-faults"))
        return done[system]

    return get


def _expected_and_failing(fault_runs: Callable[..., Any], system: str, short: str
                          ) -> tuple[set[str], set[str], dict[str, list[str]]]:
    site, doc = fault_runs(system)
    host = next(h for h in site["hosts"] if h["short"] == short)
    failing = failing_by_host(doc).get(short, {})
    return set(faults.expected_failures(host, site)), set(failing), failing


@pytest.mark.parametrize(("system", "short"), HOSTS, ids=[f"{s}-{h}" for s, h in HOSTS])
def test_host_checks_catch_each_fault_on_its_host_only(fault_runs, system: str, short: str) -> None:
    expected, failing, messages = _expected_and_failing(fault_runs, system, short)
    want, got = expected & HOST_CHECKS, failing & HOST_CHECKS
    detail = "\n".join(f"  {cid}: {msgs[0]}" for cid, msgs in sorted(messages.items()))
    assert got == want, f"{system} {short}: expected failing {sorted(want)}, got {sorted(got)}\n{detail}"


@pytest.mark.parametrize(("system", "short"), HOSTS, ids=[f"{s}-{h}" for s, h in HOSTS])
def test_transfer_checks_catch_each_fault_on_its_host_only(fault_runs, system: str, short: str) -> None:
    site = load_site(SITES[system])
    host = next(h for h in site["hosts"] if h["short"] == short)
    want = set(faults.expected_failures(host, site)) - HOST_CHECKS
    _, failing, messages = _expected_and_failing(fault_runs, system, short)
    if short not in tpc_hosts(fault_runs(system)[1]):
        want -= {"SE6-XFER-02"}  # a fault breaks the third-party copies the host takes part in
    detail = "\n".join(f"  {cid}: {msgs[0]}" for cid, msgs in sorted(messages.items()))
    assert failing - HOST_CHECKS == want, f"{system} {short}: transfer checks\n{detail}"


def tpc_hosts(doc: dict[str, Any]) -> set[str]:
    """Short names of the hosts the run's third-party copies went between (``<a>-to-<b>`` ids)."""
    out: set[str] = set()
    for r in doc["records"]:
        m = re.search(r"test_third_party_copy\[([^.\]-]+)[^\]]*?-to-([^-\]]+)-", r["nodeid"])
        if m:
            out |= {m.group(1), m.group(2)}
    return out


@pytest.mark.parametrize("system", SYSTEMS)
def test_fault_site_checked_every_host_with_its_system(fault_runs, system: str) -> None:
    """Guard against a vacuous pass: every host has results, the system checks ran on it."""
    site, doc = fault_runs(system)
    assert doc["flavour"] == system, "the generated inventory names the system"
    shorts = {h["short"] for h in site["hosts"]}
    seen = {(r["host"] or "").split(".")[0] for r in doc["records"]}
    assert shorts <= seen, f"hosts without any result: {shorts - seen}"
    ran = {r["check"] for r in doc["records"] if r["outcome"] in ("passed", "failed")}
    assert {"SE6-FW-01", "SE6-SVC-01"} <= ran, sorted(ran)
    assert any(c.startswith("SE6-SYS-") for c in ran), f"no system check ran on {system}: {sorted(ran)}"

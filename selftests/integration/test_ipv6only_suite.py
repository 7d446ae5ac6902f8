"""The whole suite from an IPv6-only client (issue 18): a verdict with no false alarm on the
``ipv6only`` site, and each fault of ``ipv6only-faults`` caught by its check on its host only.

Why: an IPv6-only client used to report every IPv4 item as a fault of the SE, and could not tell
an AAAA a DNS64 made up from the host's own. Now the IPv4 items are N/A (a host declared
IPv6-only) or "could not run" with one root cause (the suite machine has no IPv4), native IPv6
transfers pass, and the faults (disk01's AAAA removed behind DNS64, the token issuer made
IPv4-only, disk03 declared IPv6-only with IPv4 left on) trip SE6-DNS-02, SE6-DEP-01 and SE6-FAM-01
where ``testbed.faults.expected_failures`` says; the transfers that fail because of a fault are
pinned on the host at fault with that fault's cause. The report of the IPv6-only run says at its
top that the suite machine is IPv6-only and which resolvers synthesize AAAA records.

Cost (2 CPUs, shared): two `up`s (~4 s each) and two whole suite runs with X.509 and a token
(~200 tests each, ~20-30 s each, pool of 2): about 60-70 s.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from tbrun import ROOT, STATE_ROOT, Run, Testbed, tb_name, unavailable

from testbed import faults
from testbed.site import load_site

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))

SITES = ROOT / "testbed" / "sites"
MACHINE_CAUSE = "suite-family:4"
# The transfer checks: on the faulty site their failures are judged by cause (a fault on one
# host fails transfers and chains through others), not per host.
TRANSFER_CHECKS = ("SE6-XFER-01", "SE6-XFER-02", "SE6-XFER-03")


def _run(site: str, base: str, out: Path) -> tuple[Run, str]:
    """Bring ``site`` up, run the whole suite from its IPv6-only client with the valid token,
    take it down; the run and its HTML report."""
    name = tb_name(base)
    with Testbed(name, site) as tb:
        token = STATE_ROOT / name / "tokens" / "valid.jwt"
        run = tb.run_suite(out, f"--bearer-token-file={token}", timeout=900)
    return run, (out / "report.html").read_text()


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, str]:
    return _run("ipv6only", "v6suite", tmp_path_factory.mktemp("ipv6only"))


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, str]:
    return _run("ipv6only-faults", "v6sfault", tmp_path_factory.mktemp("ipv6only-faults"))


def _failed(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in doc["records"] if r["outcome"] in ("failed", "error")]


def _short(rec: dict[str, Any]) -> str:
    return str(rec.get("host") or "?").split(".")[0]


def _show(recs: list[dict[str, Any]]) -> str:
    return "\n".join(f"  {r['nodeid']}: {r['message'][:300]}" for r in recs[:20])


# --- the healthy ipv6only site -------------------------------------------------------------------


def test_ipv6only_verdict_has_no_false_alarm(healthy: tuple[Run, str]) -> None:
    run, _ = healthy
    failed = _failed(run.result)
    alarms = [r for r in failed if not (r.get("could_not_run") and r.get("cause") == MACHINE_CAUSE)]
    assert not alarms, f"false alarms on the healthy IPv6-only site:\n{_show(alarms)}"
    assert failed, "no IPv4 item reached 'could not run': the suite machine was not seen as IPv6-only"
    for r in failed:  # could not run: only IPv4 reachability, IPv4 transfers and redirect chains
        assert r["check"] == "SE6-SVC-05" or (r["check"] in ("SE6-XFER-01", "SE6-XFER-03")
                                              and "-ipv4" in r["nodeid"]), r["nodeid"]
    assert run.status == 0, f"exit {run.status}: only IPv4 items could not run\n{run.output[-3000:]}"
    assert run.result["exit_category"] == "passed"
    assert re.search(r"root cause: the suite machine has no IPv4: \d+ IPv4 checks and transfers",
                     run.output), "one root-cause line for the IPv4 items"


def test_ipv6only_host_declared_ipv6_only_has_its_ipv4_items_na(healthy: tuple[Run, str]) -> None:
    run, _ = healthy
    disk02 = [r for r in run.result["records"] if _short(r) == "disk02"]
    v4 = [r for r in disk02 if r["check"] in ("SE6-DNS-01", "SE6-DNS-05", "SE6-SVC-02", "SE6-SVC-05",
                                              "SE6-FW-02")]
    assert v4, "disk02's IPv4 checks ran"
    assert all(r["outcome"] == "skipped" and "declared IPv6-only" in r["message"] for r in v4), _show(v4)
    fam = [r for r in disk02 if r["check"] == "SE6-FAM-01"]
    assert len(fam) == 3, _show(fam)
    assert all(r["outcome"] == "passed" for r in fam), _show(fam)


def test_ipv6only_native_ipv6_transfers_pass(healthy: tuple[Run, str]) -> None:
    run, _ = healthy
    xfer = [r for r in run.result["records"] if r["check"] in ("SE6-XFER-01", "SE6-XFER-02")
            and "-ipv6" in r["nodeid"]]
    ran = [r for r in xfer if r["outcome"] != "skipped"]
    assert len(ran) >= 20, f"too few IPv6 transfers ran: {len(ran)}"
    assert all(r["outcome"] == "passed" for r in ran), _show([r for r in ran if r["outcome"] != "passed"])
    assert not [r for r in xfer if "-nat64" in r["nodeid"]], "no name of the healthy site needs NAT64"
    ids = {r["nodeid"].split("[", 1)[1] for r in ran}
    for proto in ("davs", "root", "gsiftp"):  # across families, both directions
        assert f"disk01.example.test-to-disk02-{proto}-ipv6]" in ids, proto
        assert f"disk02.example.test-to-disk01-{proto}-ipv6]" in ids, proto


def test_ipv6only_report_says_at_the_top_the_machine_is_ipv6_only(healthy: tuple[Run, str]) -> None:
    _, page = healthy
    top = page[: page.find("Hosts &times; concerns")]
    assert "(from an IPv6-only suite machine)" in page[:2000], "the title says it"
    assert "Suite machine: IPv6-only" in top
    assert "Resolvers that synthesize AAAA records (DNS64)" in top
    assert "fd42:6::64 synthesizes AAAA records (DNS64) in 64:ff9b::/96" in top


# --- the ipv6only-faults site --------------------------------------------------------------------


def test_ipv6only_faults_each_caught_by_its_check_on_its_host(faulty: tuple[Run, str]) -> None:
    run, _ = faulty
    site = load_site(SITES / "ipv6only-faults.yml")
    failing: dict[str, set[str]] = defaultdict(set)
    for r in _failed(run.result):
        if not r.get("could_not_run") and r["check"] not in TRANSFER_CHECKS:
            failing[_short(r)].add(r["check"])
    for h in site["hosts"]:
        expected = set(faults.expected_failures(h, site))
        assert failing.get(h["short"], set()) == expected, (
            f"{h['short']}: expected {sorted(expected)}, failing {sorted(failing.get(h['short'], ()))}")
    assert run.status == 1, run.output[-3000:]


def test_ipv6only_faults_messages_name_dns64_issuer_and_ipv4(faulty: tuple[Run, str]) -> None:
    run, _ = faulty
    by = {(r["check"], _short(r)): r["message"] for r in _failed(run.result)}
    dns02 = by[("SE6-DNS-02", "disk01")]
    for word in ("DNS64", "fd42:6::64", "64:ff9b::/96", "A record 10.42.0.11"):
        assert word in dns02, (word, dns02)
    for short in ("head", "disk01", "disk02", "disk03"):
        dep = by[("SE6-DEP-01", short)]
        for word in ("https://issuer.example.test", "no AAAA", f"tried from {short}."):
            assert word in dep, (word, dep)
    assert "10.42.0.13" in by[("SE6-FAM-01", "disk03")]


def test_ipv6only_faults_transfers_fail_only_with_a_fault_cause(faulty: tuple[Run, str]) -> None:
    """Token transfers to the IPv6-only disk02 fail with the issuer's cause; IPv6 transfers and
    redirect chains to disk01 (no AAAA of its own: XRootD's manager will not redirect an IPv6
    client to it) with SE6-DNS-02's; disk01's direct IPv6 round trips pass through NAT64, named
    -nat64; nothing else fails."""
    run, _ = faulty
    xfer = [r for r in _failed(run.result) if r["check"] in TRANSFER_CHECKS and not r.get("could_not_run")]
    chains = [r for r in xfer if r["check"] == "SE6-XFER-03"]
    assert {r["nodeid"].split("[", 1)[1] for r in chains} >= {
        f"head.example.test-{p}-ipv6-via-disk01]" for p in ("root", "davs")}, _show(chains)
    issuer = "dependency:token issuer https://issuer.example.test"
    on02 = [r for r in xfer if _short(r) == "disk02"]
    assert on02, "token transfers to disk02 failed"
    assert all(r.get("cause") == issuer and r["nodeid"].endswith("-token]") for r in on02), _show(on02)
    for proto in ("root", "davs"):
        assert any(f"{proto}-ipv6-token" in r["nodeid"] for r in on02), (proto, _show(on02))
    rest = [r for r in xfer if _short(r) != "disk02"]
    assert all(_short(r) == "disk01" and r.get("cause") == "no-aaaa:disk01.example.test" for r in rest), \
        _show([r for r in rest if r.get("cause") != "no-aaaa:disk01.example.test"])
    assert "root cause: token issuer https://issuer.example.test cannot be reached over IPv6" in run.output
    nat64 = [r for r in run.result["records"] if r["nodeid"].endswith(("-ipv6-nat64]", "-ipv6-nat64-token]"))
             and r["nodeid"].split("[", 1)[1].startswith("disk01.example.test-")]
    assert len(nat64) >= 4, "disk01's direct IPv6 round trips go through NAT64 and are named so"
    assert all(r["outcome"] == "passed" for r in nat64), _show(nat64)
    token_ok = [r for r in run.result["records"] if r["check"] == "SE6-XFER-01" and _short(r) == "disk03"
                and r["nodeid"].endswith("-ipv6-token]")]
    assert token_ok, "token round trips to disk03 ran"
    assert all(r["outcome"] == "passed" for r in token_ok), \
        "disk03 keeps IPv4 (the fault): it fetches the issuer over IPv4 and takes tokens"


def test_ipv6only_faults_result_file_keeps_the_causes(faulty: tuple[Run, str]) -> None:
    run, _ = faulty
    causes = {r.get("cause") for r in _failed(run.result)}
    assert {MACHINE_CAUSE, "no-aaaa:disk01.example.test",
            "dependency:token issuer https://issuer.example.test"} <= causes, causes

"""The IPv6-only causes in the report (issue 18): a suite machine without IPv4 is one root cause
with no host at fault, a grey cell and exit 0 when nothing else failed; an issuer the SE hosts
cannot reach over IPv6 and a host without an AAAA of its own are each one line, and every host
whose check failed stays at fault. Records are what outcomes.fold writes."""

from __future__ import annotations

from typing import Any

from se_dualstack import exitcodes
from se_dualstack.model import PortRange, SEHost, Site
from se_dualstack.plugins.families import exit_status
from se_dualstack.reporting import causes, matrix, summary
from se_dualstack.reporting.records import Record, TransferRow
from se_dualstack.transfer.stats import group_stats

HEAD, D1, D2 = "head.example.test", "disk01.example.test", "disk02.example.test"
NAMES = [HEAD, D1, D2]
SITE = Site("s", "dpm", "inv.yml", [SEHost(n, r, {}, [], PortRange(1, 2)) for n, r in
                                     ((HEAD, "headnode"), (D1, "disknode"), (D2, "disknode"))], {})
ISSUER = "dependency:token issuer https://issuer.example.test"


def rec(nodeid: str, host: str, outcome: str = "passed", check: str = "SE6-DNS-01",
        concern: str = "dns", **extra: Any) -> Record:
    return Record(nodeid, check=check, host=host, outcome=outcome, concern=concern,
                  message=f"[{check}] {host}: something. Fix: do it", **extra)


def ipv6_only_client() -> list[Record]:
    out = [rec(f"t::dns[{h}]", h) for h in NAMES]
    out += [rec(f"t::connect_ipv4[{h}-xrootd]", h, "failed", "SE6-SVC-05", "services",
                could_not_run=True, cause="suite-family:4") for h in (HEAD, D1)]
    out += [rec(f"t::xfer[{D1}-root-ipv4]", D1, "failed", "SE6-XFER-01", "transfer",
                could_not_run=True, cause="suite-family:4"),
            rec(f"t::a[{D2}]", D2, "skipped", "SE6-DNS-01")]
    return out


def test_a_machine_without_ipv4_is_one_cause_and_no_host_at_fault() -> None:
    found, loose = causes.root_causes(ipv6_only_client())
    assert [c.key for c in found] == ["suite-family:4"]
    assert loose == []
    assert causes.hosts_at_fault(found, loose) == []
    assert found[0].line() == ("the suite machine has no IPv4: 3 IPv4 checks and transfers on 2 hosts "
                               "could not run (no SE host is at fault; run them from a machine with IPv4)")
    run = summary.summarize(SITE, ipv6_only_client(), {})
    assert run.kind == "pass", run.verdict
    assert run.verdict.startswith("ACCEPTED for what this machine can prove: all 3 applicable checks "
                                  "passed on 3 hosts (1 not applicable or waived); the suite machine has "
                                  "no IPv4"), run.verdict


def test_its_cells_are_grey_and_its_exit_is_passed() -> None:
    recs = ipv6_only_client()
    m = matrix.matrix(recs, NAMES)
    cell = m.cell(HEAD, "services")
    assert cell is not None
    assert (cell.not_run_here, cell.could_not_run, cell.css) == (1, 0, "skip"), cell
    assert cell.terminal() == "1x", "its own letter on the terminal"
    page = summary.summary_html(summary.summarize(SITE, recs, {}))
    assert '<span class="n-not_run_here">1 could not run from here</span>' in page
    assert exit_status(recs, exitcodes.CHECKS_FAILED) == exitcodes.PASSED
    worse = [*recs, rec(f"t::fw[{D2}]", D2, "failed", "SE6-FW-01", "firewall")]
    assert exit_status(worse, exitcodes.CHECKS_FAILED) == exitcodes.CHECKS_FAILED, "a real failure stays"
    no6 = [rec(f"t::c6[{D1}]", D1, "failed", "SE6-SVC-04", "services", could_not_run=True,
               cause="suite-family:6")]
    assert exit_status(no6, exitcodes.CHECKS_FAILED) == exitcodes.USAGE_ERROR, "nothing IPv6 proven"
    assert summary.summarize(SITE, no6, {}).kind == "skip"


def test_an_issuer_unreachable_over_ipv6_is_one_line_and_each_host_stays_at_fault() -> None:
    recs = [rec(f"t::dep[{h}]", h, "failed", "SE6-DEP-01", "dependencies", cause=ISSUER) for h in NAMES]
    recs += [rec(f"t::xfer[{D2}-davs-ipv6-token]", D2, "failed", "SE6-XFER-01", "transfer", cause=ISSUER),
             rec(f"t::fw[{D1}]", D1, "failed", "SE6-FW-01", "firewall")]
    found, loose = causes.root_causes(recs)
    assert [c.key for c in found] == [ISSUER]
    assert found[0].line() == ("token issuer https://issuer.example.test cannot be reached over IPv6 from "
                               "the SE hosts: SE6-DEP-01 failed on 3 hosts (disk01, disk02, head); "
                               "1 transfers failed because of it")
    assert [r.check for r in loose] == ["SE6-FW-01"], "the host's other failures stay its own"
    assert set(causes.hosts_at_fault(found, loose)) == set(NAMES)


def test_a_host_without_its_own_aaaa_is_one_line() -> None:
    key = f"no-aaaa:{D1}"
    recs = [rec(f"t::aaaa[{D1}]", D1, "failed", "SE6-DNS-02", cause=key),
            rec(f"t::xfer[{HEAD}-root-ipv6-via-disk01-nat64]", D1, "failed", "SE6-XFER-01", "transfer",
                cause=key, through=HEAD)]
    found, loose = causes.root_causes(recs)
    assert found[0].line() == (f"{D1} has no AAAA record of its own (SE6-DNS-02): 1 IPv6 transfers and "
                               "connects failed because of it")
    assert causes.hosts_at_fault(found, loose) == [D1]
    assert summary.summarize(SITE, recs, {}).verdict.startswith(
        "NOT ACCEPTED: 2 of 2 checks failed on 1 of 3 hosts")


def test_copies_through_nat64_stay_out_of_the_ipv6_figures() -> None:
    step = {"upload": (0.1, 1 << 20)}
    rows = [TransferRow(f"{D1}-root-ipv6", "root", 6, ok=True, steps=step),
            TransferRow(f"{D2}-root-ipv6-nat64", "root", 6, ok=True, steps=step, nat64=True)]
    assert [s.runs for s in group_stats(rows).values()] == [1], "only the native copy is counted"
    back = TransferRow.from_dict(rows[1].to_dict())
    assert back.nat64, "the label survives the result file and xdist"

"""The report's verdict, matrix and root causes, from records as the plugin folds them.

Why: with one disk node down the summary must name that node once, not forty lines on three
hosts; with the resolver down, one site-wide cause. A certification reviewer reads the verdict
first: a waived failure is named there, and every count of checks is the same count.
"""

from __future__ import annotations

from typing import Any

from se_dualstack.model import PortRange, SEHost, Site
from se_dualstack.reporting import causes, matrix, summary
from se_dualstack.reporting.records import HostFacts, Record, WaiverNote

HEAD, D1, D2 = "head.example.test", "disk01.example.test", "disk02.example.test"
SITE = Site("s", "dpm", "inv.yml", [SEHost(n, r, {}, [], PortRange(1, 2)) for n, r in
                                     ((HEAD, "headnode"), (D1, "disknode"), (D2, "disknode"))], {})
NAMES = [HEAD, D1, D2]


def rec(nodeid: str, host: str, outcome: str = "passed", check: str = "SE6-DNS-01",
        concern: str = "dns", **extra: Any) -> Record:
    return Record(nodeid, check=check, host=host, outcome=outcome, concern=concern,
                  message=f"[{check}] {host}: something. Fix: do it", **extra)


def disk02_down() -> list[Record]:
    """disk02 unreachable: its ssh checks could not run, its ports refuse, transfers through
    the head node and disk01's TPC to it fail (attributed to disk02 by the transfer tests)."""
    out = [rec(f"t::dns[{h}]", h) for h in (HEAD, D1, D2)]
    out += [rec(f"t::ssh{i}[{D2}]", D2, "failed", "SE6-IF-03", could_not_run=True,
                cause=f"unreachable:{D2}") for i in range(3)]
    out += [rec(f"t::connect[{D2}-{p}]", D2, "failed", "SE6-SVC-04") for p in ("gsiftp", "xrootd")]
    out += [rec(f"t::xfer[{HEAD}-root-ipv6-via-disk02]", D2, "failed", "SE6-XFER-01", "transfer",
                through=HEAD),
            rec(f"t::tpc[{D1}-to-disk02-davs]", D2, "failed", "SE6-XFER-02", "transfer", through=D1)]
    out += [rec(f"t::xfer[{HEAD}-root-ipv6-via-disk01]", HEAD, "passed", "SE6-XFER-01", "transfer")]
    return out


def test_one_unreachable_host_is_one_root_cause_naming_only_that_host() -> None:
    found, loose = causes.root_causes(disk02_down())
    assert [c.key for c in found] == [f"unreachable:{D2}"], found
    assert loose == [], f"every failure is explained by disk02: {loose}"
    line = found[0].line("Connection refused")
    assert line == (f"{D2} unreachable over ssh (Connection refused) and on every service port: "
                    "3 checks could not run; 2 checks of it failed; "
                    "2 transfers through other hosts failed because of it"), line
    run = summary.summarize(SITE, disk02_down(), {})
    assert run.kind == "fail", run.verdict
    assert run.verdict.startswith(f"NOT ACCEPTED: 4 of 11 checks failed and 3 could not run on 1 of 3 "
                                  f"hosts ({D2})"), run.verdict


def test_matrix_counts_could_not_run_apart_and_blames_no_innocent_host() -> None:
    m = matrix.matrix(disk02_down(), NAMES)
    assert m.cell(D2, "dns").could_not_run == 3, m.cell(D2, "dns")
    assert m.cell(D2, "dns").failed == 2, m.cell(D2, "dns")
    assert m.cell(HEAD, "transfer").failed == 0, "the head node's transfer through disk02 is disk02's"
    assert m.cell(D2, "transfer").failed == 2, m.cell(D2, "transfer")
    assert m.concerns == ["dns", "transfer"], "columns in use, in the data's order"
    page = summary.summary_html(summary.summarize(SITE, disk02_down(), {}))
    assert '<span class="n-could_not_run">3 could not run</span>' in page, "shown apart from failed"


def test_every_terminal_cell_counts_each_outcome_the_same_way() -> None:
    """Issue 20: `FAIL 1/6` counted failures and `ok 6/7` passes; a host with one waived and
    one N/A check showed `ok 0/2`. Now each cell counts every outcome, with a legend."""
    recs = [rec("t::a[h]", HEAD), rec("t::b[h]", HEAD, "failed"), rec("t::c[h]", HEAD, "skipped"),
            rec("t::d[h]", D1, "waived"), rec("t::e[h]", D1, "skipped"),
            *(rec(f"t::f{i}[h]", D2) for i in range(6))]
    lines = matrix.terminal_lines(matrix.matrix(recs, NAMES))
    cells = {line.split()[0]: line.split()[1:] for line, _ in lines[1:-1]}
    assert cells == {HEAD: ["1F", "1p", "1n"], D1: ["1w", "1n"], D2: ["6p"]}, cells
    assert [bad for _, bad in lines[1:-1]] == [True, False, False], "red only where a check failed"
    assert "p passed, F failed, X could not run" in lines[-1][0], "the legend says the convention"


def test_dead_resolver_is_one_site_wide_cause() -> None:
    cause = "resolver:10.42.0.1, fd42:6::1"
    recs = [rec(f"t::dns{i}[{h}]", h, "failed", "SE6-DNS-02", cause=cause)
            for h in (HEAD, D1, D2) for i in range(2)]
    found, loose = causes.root_causes(recs)
    assert len(found) == 1, found
    assert not loose, loose
    assert found[0].line() == ("DNS resolver 10.42.0.1, fd42:6::1 did not answer: 6 checks on 3 hosts "
                               "failed because of it"), found[0].line()
    sentence = summary.summarize(SITE, recs, {}).verdict
    assert "on 0 of" not in sentence, f"no host blamed: {sentence}"
    assert HEAD not in sentence, f"no host blamed: {sentence}"
    assert "root cause: DNS resolver 10.42.0.1, fd42:6::1 did not answer" in sentence, sentence


def test_summary_lists_causes_then_other_failures() -> None:
    recs = [*disk02_down(), rec(f"t::ptr[{D1}]", D1, "failed", "SE6-DNS-04")]
    facts = {D1: HostFacts(firewall="firewalld (zone public)"),
             D2: HostFacts(firewall="nftables", unreachable="Connection refused")}
    page = summary.summary_html(summary.summarize(SITE, recs, facts))
    assert "<td>firewalld (zone public)</td>" in page, "the firewall in use, per host"
    assert "<td>nftables</td>" in page, "each host its own firewall"
    assert "<h3>Root causes</h3>" in page, page
    assert "<h3>Other failed checks</h3>" in page, "the unrelated PTR failure stays on its own"
    assert f"(through <code>{HEAD}</code>)" in page, "a transfer shows the host it ran through"
    assert "on 2 of 3 hosts (disk01.example.test, disk02.example.test)" in page, page
    assert "(Connection refused)" in page, "the cause says why the host is unreachable"


def test_no_failure_means_accepted() -> None:
    run = summary.summarize(SITE, [rec("t::a[h]", HEAD), rec("t::b[h]", D1, "skipped")], {})
    assert (run.kind, run.verdict) == ("pass", "ACCEPTED: all 1 applicable checks passed on 3 hosts "
                                               "(1 not applicable)."), run.verdict


def test_a_waived_failure_is_counted_and_named_in_the_verdict() -> None:
    waiver = WaiverNote(1, "SE6-RES-01", [D1], "ticket 77", "2099-12-31", "w.yml")
    recs = [rec("t::a[h]", HEAD), rec("t::b[h]", D1, "waived", "SE6-RES-01", waiver=waiver),
            rec("t::c[h]", D2, "skipped")]
    run = summary.summarize(SITE, recs, {}, seconds=12.4)
    assert run.verdict == ("ACCEPTED WITH WAIVERS: 1 of 2 applicable checks passed on 3 hosts "
                           "(1 not applicable). 1 failure waived: SE6-RES-01 on disk01.example.test "
                           "until 2099-12-31 (ticket 77)."), run.verdict
    failing = summary.summarize(SITE, [*recs, rec("t::d[h]", D2, "failed")], {})
    assert failing.verdict.endswith("1 failure waived: SE6-RES-01 on disk01.example.test until "
                                    "2099-12-31 (ticket 77)."), failing.verdict
    assert run.counts.line(3, run.seconds) == ("3 checks on 3 hosts in 12 s: 1 passed, 1 waived, "
                                               "1 not applicable."), "one count, said once"
    page = summary.summary_html(run)
    assert "<h3>Waived failures</h3>" in page, page
    cells = matrix.matrix(recs, NAMES)
    assert sum(c.total for c in cells.cells.values()) == run.counts.total == 3, "the same count"


def test_a_silent_service_explains_its_transfers_only() -> None:
    """A service that did not answer takes the transfers that waited for it or were not tried
    for it, one line per host whatever its ports; the host's other failures stay its own. On a
    host ssh cannot reach either, the unreachable host is the one cause."""
    silent = [rec(f"t::xfer[{D1}-root-ipv{f}]", D1, "failed", "SE6-XFER-01", "transfer",
                  cause=f"silent:{D1}|{svc}", could_not_run=cnr)
              for f, svc, cnr in ((6, "xrootd", False), (4, "xrootd", True), (6, "https", False))]
    ptr = rec(f"t::ptr[{D1}]", D1, "failed", "SE6-DNS-04")
    found, loose = causes.root_causes([*silent, ptr])
    assert [(c.key, c.parts, len(c.records)) for c in found] == [
        (f"silent:{D1}", ["xrootd", "https"], 3)], found
    assert loose == [ptr], "the PTR failure is not the service's"
    assert found[0].line().startswith(f"{D1}: xrootd and https did not answer: 2 transfers timed out "
                                      "waiting for them; 1 could not run"), found[0].line()
    down = rec(f"t::ssh[{D1}]", D1, "failed", "SE6-IF-03", could_not_run=True, cause=f"unreachable:{D1}")
    found, loose = causes.root_causes([*silent, down])
    assert [(c.key, len(c.records)) for c in found] == [(f"unreachable:{D1}", 4)], found

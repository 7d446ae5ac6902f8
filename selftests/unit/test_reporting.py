"""The report's verdict, matrix and root causes, from records as the plugin folds them.

Why: with one disk node down the summary must name that node once, not forty lines on three
hosts; with the resolver down, one site-wide cause. Records here are what tags.fold writes.
"""

from __future__ import annotations

from se_dualstack.model import PortRange, SEHost, Site
from se_dualstack.reporting import causes, matrix, summary

HEAD, D1, D2 = "head.example.test", "disk01.example.test", "disk02.example.test"
SITE = Site("s", "dpm", "inv.yml", [SEHost(n, r, {}, [], PortRange(1, 2)) for n, r in
                                     ((HEAD, "headnode"), (D1, "disknode"), (D2, "disknode"))], {})


def rec(nodeid: str, host: str, outcome: str = "passed", check: str = "SE6-DNS-01", **extra):
    return {"nodeid": nodeid, "host": host, "check": check, "outcome": outcome,
            "message": f"[{check}] {host}: something. Fix: do it", **extra}


def disk02_down() -> list[dict]:
    """disk02 unreachable: its ssh checks could not run, its ports refuse, transfers through
    the head node and disk01's TPC to it fail (attributed to disk02 by the transfer tests)."""
    out = [rec(f"t::dns[{h}]", h) for h in (HEAD, D1, D2)]
    out += [rec(f"t::ssh{i}[{D2}]", D2, "failed", "SE6-IF-03", could_not_run=True,
                cause=f"unreachable:{D2}") for i in range(3)]
    out += [rec(f"t::connect[{D2}-{p}]", D2, "failed", "SE6-SVC-04") for p in ("gsiftp", "xrootd")]
    out += [rec(f"t::xfer[{HEAD}-root-ipv6-via-disk02]", D2, "failed", "SE6-XFER-01", through=HEAD),
            rec(f"t::tpc[{D1}-to-disk02-davs]", D2, "failed", "SE6-XFER-02", through=D1)]
    out += [rec(f"t::xfer[{HEAD}-root-ipv6-via-disk01]", HEAD, "passed", "SE6-XFER-01")]
    return out


def test_one_unreachable_host_is_one_root_cause_naming_only_that_host() -> None:
    found, loose = causes.root_causes(disk02_down())
    assert [c.key for c in found] == [f"unreachable:{D2}"], found
    assert loose == [], f"every failure is explained by disk02: {loose}"
    line = found[0].line("Connection refused")
    assert line == (f"{D2} unreachable over ssh (Connection refused) and on every service port: "
                    "3 checks could not run; 2 checks of it failed; "
                    "2 transfers through other hosts failed because of it"), line
    kind, sentence = summary.verdict(disk02_down(), [HEAD, D1, D2])
    assert kind == "fail", sentence
    assert sentence.startswith(f"NOT ACCEPTED: 4 of 11 checks failed and 3 could not run on 1 of 3 "
                               f"hosts ({D2})"), sentence


def test_matrix_counts_could_not_run_apart_and_blames_no_innocent_host() -> None:
    recs = disk02_down()
    concern = {r["nodeid"]: ("transfer" if "XFER" in r["check"] else "dns") for r in recs}
    _, cells = matrix.matrix(recs, concern)
    assert cells[(D2, "dns")].could_not_run == 3, cells[(D2, "dns")]
    assert cells[(D2, "dns")].failed == 2, cells[(D2, "dns")]
    assert cells[(HEAD, "transfer")].failed == 0, "the head node's transfer through disk02 is disk02's"
    assert cells[(D2, "transfer")].failed == 2, cells[(D2, "transfer")]
    assert "3 could not run" in matrix.cell_html(cells[(D2, "dns")]), "shown apart from failed"


def test_dead_resolver_is_one_site_wide_cause() -> None:
    cause = "resolver:10.42.0.1, fd42:6::1"
    recs = [rec(f"t::dns{i}[{h}]", h, "failed", "SE6-DNS-02", cause=cause)
            for h in (HEAD, D1, D2) for i in range(2)]
    found, loose = causes.root_causes(recs)
    assert len(found) == 1, found
    assert not loose, loose
    assert found[0].line() == ("DNS resolver 10.42.0.1, fd42:6::1 did not answer: 6 checks on 3 hosts "
                               "failed because of it"), found[0].line()
    _, sentence = summary.verdict(recs, [HEAD, D1, D2])
    assert "on 0 of" not in sentence, f"no host blamed: {sentence}"
    assert HEAD not in sentence, f"no host blamed: {sentence}"
    assert "root cause: DNS resolver 10.42.0.1, fd42:6::1 did not answer" in sentence, sentence


def test_summary_lists_causes_then_other_failures() -> None:
    recs = [*disk02_down(), rec(f"t::ptr[{D1}]", D1, "failed", "SE6-DNS-04")]
    page = summary.summary_html(SITE, recs, {}, {}, {D2: "Connection refused"}, adhoc=False,
                                firewalls={D1: "firewalld (zone public)"})
    assert "<td>firewalld (zone public)</td>" in page, "the firewall in use, per host"
    assert "<h3>Root causes</h3>" in page, page
    assert "<h3>Other failed checks</h3>" in page, "the unrelated PTR failure stays on its own"
    assert f"(through <code>{HEAD}</code>)" in page, "a transfer shows the host it ran through"
    assert "on 2 of 3 hosts (disk01.example.test, disk02.example.test)" in page, page


def test_no_failure_means_accepted() -> None:
    kind, sentence = summary.verdict([rec("t::a[h]", HEAD), rec("t::b[h]", D1, "skipped")], [HEAD, D1])
    assert (kind, sentence) == ("pass", "ACCEPTED: all 1 applicable checks passed on 2 hosts "
                                        "(1 not applicable or waived)."), sentence

"""Before/after on the seed story: the comparison lists exactly what the story's fixes repaired.

Why: this is the certification use of the suite -- run before the change, fix, run after, and
show the reviewer the difference.  ``seed-before`` is the story's site when FTS transfers failed,
``seed-after`` the same site fixed; the comparison must name every repaired check on every host,
nothing else, and the reverse comparison must gate (exit 1) on the same set as regressions.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tbrun import PY, ROOT, Testbed, tb_name, unavailable

from se_dualstack import compare

NAME = tb_name("ba")  # unique testbed name of this test
HEAD, D1, D2, D3 = (f"{s}.example.test" for s in ("head", "disk01", "disk02", "disk03"))

# What the story's fixes repair, per host, as check ids (testbed/sites/seed-before.yml):
#  - ::1 line in /etc/hosts on every host (hosts_no_ipv6_localhost)       -> SE6-RES-01
#  - the gai.conf label table on every SL6 host (gai_conf_empty)           -> SE6-RES-02
#  - head ip6tables in line with iptables (ip6tables_transfer_only)        -> SE6-FW-03, and the
#    IPv6 connects to SRM/DPNS/DPM it blocked                              -> SE6-SVC-04
#  - disk03 dual-stacked (not_dual_stacked): AAAA, ifcfg, address, route, ip6tables ports,
#    IPv6 connects                                                          -> DNS-02 IF-01 IF-03
#                                                                             IF-04 FW-01 SVC-04
STORY_FIXES: dict[str, set[str]] = {
    HEAD: {"SE6-RES-01", "SE6-RES-02", "SE6-FW-03", "SE6-SVC-04"},
    D1: {"SE6-RES-01", "SE6-RES-02"},
    D2: {"SE6-RES-01", "SE6-RES-02"},
    D3: {"SE6-RES-01", "SE6-RES-02", "SE6-DNS-02", "SE6-IF-01", "SE6-IF-03", "SE6-IF-04", "SE6-FW-01",
         "SE6-SVC-04"},
}


def _transfer_to_disk03(c: compare.Change) -> bool:
    """IPv6 transfers to (or redirected to) disk03 fail while it is IPv4-only: repaired too."""
    return (c.check or "").startswith("SE6-XFER") and "disk03" in c.nodeid

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))


def _pairs(items: list[compare.Change]) -> set[tuple[str, str]]:
    return {(c.host or "", c.check or "") for c in items}


def test_seed_before_after(tmp_path: Path) -> None:
    runs = {}
    for site in ("seed-before", "seed-after"):
        with Testbed(NAME, site) as tb:
            runs[site] = tb.run_suite(tmp_path / site)
    before, after = runs["seed-before"], runs["seed-after"]
    assert before.status == 1, f"seed-before must fail checks (exit 1), got {before.status}"
    assert after.status in (0, 1), f"seed-after must run its checks, got exit {after.status}"

    comp = compare.compare(before.result, after.result)
    expected = {(h, c) for h, cs in STORY_FIXES.items() for c in cs}
    fixed = _pairs([c for c in comp.fixed if not _transfer_to_disk03(c)])
    assert expected <= fixed, f"story fixes not listed as fixed: {sorted(expected - fixed)}"
    assert fixed <= expected, f"listed as fixed but not a story fix: {sorted(fixed - expected)}"
    assert not comp.regressions, f"nothing regresses: {comp.regressions}"
    assert not comp.added, f"same tests in both runs (added: {comp.added})"
    assert not comp.removed, f"same tests in both runs (removed: {comp.removed})"

    back = compare.compare(after.result, before.result)
    assert {c.nodeid for c in back.regressions} == {c.nodeid for c in comp.fixed}, (
        "the reverse comparison lists the same tests as regressions")
    assert back.exit_status == 1, "and gates on them"

    cli = [str(PY), "-m", "se_dualstack.compare"]
    text = tmp_path / "reverse.txt"
    res = subprocess.run([*cli, str(after.result_path), str(before.result_path), "--text", str(text),
                          "--html", str(tmp_path / "reverse.html")], cwd=ROOT, capture_output=True,
                         text=True, check=False)
    assert res.returncode == 1, f"CLI exit 1 on the reverse comparison: {res.stdout}{res.stderr}"
    assert f"Regressions (newly failing): {len(comp.fixed)}" in text.read_text(), text.read_text()[:2000]
    res = subprocess.run([*cli, str(before.result_path), str(after.result_path), "-q"], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, f"CLI exit 0 before -> after: {res.stdout}{res.stderr}"

    # The story's "after" site passes every check, so every failure of "before" is a fix.
    assert not comp.still_failing, f"still failing after the fixes: {[c.nodeid for c in comp.still_failing]}"
    assert after.status == 0, f"seed-after: every check must pass (exit 0):\n{after.output[-3000:]}"
    failing_before = {r["nodeid"] for r in before.result["records"] if r["outcome"] in compare.BAD}
    assert {c.nodeid for c in comp.fixed} == failing_before, "every failure of seed-before is fixed"

"""Comparison of two result files: categories, order, throughput, the CLI's exit status.

Why: CI gates on this exit status and people read the report top-down, so both the
classification and the "regressions first" order are contracts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from se_dualstack import compare
from se_dualstack.reporting.resultfile import ResultDoc, ResultFileError, read


def rec(nodeid: str, outcome: str, check: str = "dns-aaaa", host: str = "head.example.org",
        message: str = "", transfer: list[Any] | None = None) -> dict[str, Any]:
    return {"nodeid": nodeid, "check": check, "host": host, "outcome": outcome, "message": message,
            "duration": 0.1, "transfer": transfer or [], "waiver": None}


def doc(*records: dict[str, Any], hosts: list[str] | None = None, site: str = "s1",
        sha: str = "a" * 64) -> dict[str, Any]:
    return {"format": "se-dualstack-results/1", "site": site, "suite_version": "0.1.0",
            "started": "2026-11-24T20:00:00Z", "inventory": {"path": "inv.yml", "sha256": sha},
            "exit_status": 1, "exit_category": "checks-failed",
            "hosts": [{"name": h, "role": "disknode", "os": "el9"} for h in hosts or []],
            "records": list(records)}


OLD = doc(
    rec("t.py::test_a[h1]", "passed", host="h1"),
    rec("t.py::test_b[h1]", "failed", host="h1", message="[dns-aaaa] h1: missing"),
    rec("t.py::test_c[h1]", "failed", check="fw-ports", host="h1"),
    rec("t.py::test_d[h1]", "skipped", check="transfer", host="h1"),
    rec("t.py::test_e[h1]", "error", check="svc", host="h1"),
    rec("t.py::test_gone[h1]", "passed", check="old-check", host="h1"),
    rec("t.py::test_w[h1]", "waived", check="w", host="h1"),
    hosts=["h1", "h2"],
)
NEW = doc(
    rec("t.py::test_a[h1]", "failed", host="h1", message="[dns-aaaa] h1: now missing"),
    rec("t.py::test_b[h1]", "passed", host="h1"),
    rec("t.py::test_c[h1]", "failed", check="fw-ports", host="h1"),
    rec("t.py::test_d[h1]", "failed", check="transfer", host="h1"),
    rec("t.py::test_e[h1]", "skipped", check="svc", host="h1"),
    rec("t.py::test_new[h3]", "failed", check="new-check", host="h3"),
    rec("t.py::test_w[h1]", "failed", check="w", host="h1"),
    hosts=["h1", "h3"],
)


def test_categories() -> None:
    c = compare.compare(OLD, NEW)
    assert [x.nodeid for x in c.regressions] == [
        "t.py::test_a[h1]", "t.py::test_d[h1]", "t.py::test_w[h1]",
    ], "passed/skipped/waived -> failed are regressions, sorted by check id"
    assert [x.nodeid for x in c.fixed] == ["t.py::test_b[h1]"], "failed -> passed is fixed"
    assert [x.nodeid for x in c.still_failing] == ["t.py::test_c[h1]"], "failed both times"
    assert [(x.nodeid, x.old, x.new) for x in c.changed] == [("t.py::test_e[h1]", "error", "skipped")], (
        "error -> skipped is neither fixed nor a regression")
    assert [p.nodeid for p in c.added] == ["t.py::test_new[h3]"], "only in the new run"
    assert [p.nodeid for p in c.removed] == ["t.py::test_gone[h1]"], "only in the old run"
    assert (c.added_checks, c.removed_checks) == (["new-check"], ["old-check"]), "check ids added/removed"
    assert (c.added_hosts, c.removed_hosts) == (["h3"], ["h2"]), "hosts from metadata and records"
    assert c.exit_status == 1, "regressions -> exit 1"
    assert c.regressions[0].message == "[dns-aaaa] h1: now missing", "the new message explains a regression"
    assert c.fixed[0].message == "[dns-aaaa] h1: missing", "the old message says what was fixed"


def test_reverse_swaps_fixed_and_regressions() -> None:
    fwd, back = compare.compare(OLD, NEW), compare.compare(NEW, OLD)
    assert {x.nodeid for x in back.regressions} >= {x.nodeid for x in fwd.fixed}, "fixed become regressions"
    assert compare.compare(OLD, OLD).exit_status == 0, "identical runs: nothing regressed"


def test_added_failing_test_does_not_gate() -> None:
    c = compare.compare(doc(), doc(rec("t.py::x[h]", "failed")))
    assert (c.exit_status, len(c.added)) == (0, 1), "a new failing test is reported as added, not regressed"
    assert "1 added (1 failing)" in c.summary_line(), c.summary_line()


def xfer(protocol: str, seconds: float, nbytes: int = 100_000_000, family: int = 6) -> dict[str, Any]:
    """A transfer row of format 2 that moved ``nbytes`` up in ``seconds``."""
    return {"case": "c", "protocol": protocol, "family": family, "auth": "x509", "ok": True,
            "steps": {"upload": [seconds, nbytes]}}


def test_throughput_threshold_and_labels() -> None:
    def run(s1: float, s2: float) -> dict[str, Any]:
        r = rec("t.py::xfer[h1]", "passed", check="transfer")
        r["transfers"] = [xfer("root", s1), xfer("davs", s2)]
        return doc(r)

    c = compare.compare(run(1.0, 1.0), run(1 / 0.7, 1 / 1.15), threshold=0.2)
    assert [(t.label, round(t.old), round(t.new)) for t in c.throughput] == [("root/6/upload", 100, 70)], (
        "only changes beyond 20% are listed (davs +15% is not)")
    assert c.exit_status == 0, "throughput changes are reported, not gated"
    c = compare.compare(run(1.0, 1.0), run(1 / 0.7, 1 / 1.3), threshold=0.25)
    assert [t.label for t in c.throughput] == ["root/6/upload", "davs/6/upload"], "slow-downs sort first"


def test_a_result_file_of_the_previous_format_still_compares() -> None:
    """A site compares tonight's run with last night's file, written by the previous version
    (format 1: per-direction figures instead of transfer rows)."""
    old = doc(rec("t.py::xfer[h1]", "failed", check="transfer", transfer=[
        {"protocol": "root", "family": 6, "direction": "upload", "bytes": 200_000_000, "seconds": 2.0,
         "runs": 2}]))
    new_rec = rec("t.py::xfer[h1]", "passed", check="transfer")
    new_rec["transfers"] = [xfer("root", 2.0), xfer("root", 2.0)]
    new = {**doc(new_rec), "format": "se-dualstack-results/2"}
    c = compare.compare(old, new, threshold=0.2)
    assert [x.nodeid for x in c.fixed] == ["t.py::xfer[h1]"], "outcomes read from format 1"
    assert [(t.label, t.old, t.new) for t in c.throughput] == [("root/6/upload", 100.0, 50.0)], (
        "format 1's figure and format 2's rows give the same label and unit")
    assert ResultDoc.from_dict(old).records[0].transfers[0].steps == {"upload": (2.0, 200_000_000)}


def test_text_report_lists_regressions_first() -> None:
    text = compare.render_text(compare.compare(OLD, NEW))
    order = ["verdict: REGRESSED: 3", "Regressions (newly failing): 3", "Fixed (newly passing): 1",
             "Still failing: 1", "Added tests", "Removed tests", "Added hosts", "Transfer throughput"]
    positions = [text.index(s) for s in order]
    assert positions == sorted(positions), f"sections out of order:\n{text}"
    assert "dns-aaaa  h1  t.py::test_a[h1]  passed -> failed\n      [dns-aaaa] h1: now missing" in text, text


def test_warnings_about_what_makes_a_comparison_weak() -> None:
    c = compare.compare(doc(site="a"), doc(site="b", sha="b" * 64))
    assert any("different sites" in w for w in c.warnings), c.warnings
    assert any("inventory changed" in w for w in c.warnings), c.warnings
    assert any("did not run its checks" in w for w in c.warnings), c.warnings


def test_html_is_escaped_and_self_contained() -> None:
    new = doc(rec("t.py::a[h]", "failed", message="<script>alert(1)</script>"))
    page = compare.render_html(compare.compare(doc(rec("t.py::a[h]", "passed")), new))
    assert "<script>" not in page, "messages must be escaped"
    assert "&lt;script&gt;" in page, "escaped message shown"
    assert not any(s in page for s in ("<link", "src=")), "no external assets"


def test_load_rejects_non_result_files(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("[1]")
    (tmp_path / "b.json").write_text("{not json")
    with pytest.raises(ResultFileError, match="not an se-dualstack result file"):
        read(tmp_path / "a.json")
    with pytest.raises(ResultFileError, match="not JSON"):
        read(tmp_path / "b.json")
    with pytest.raises(ResultFileError, match="no such file"):
        read(tmp_path / "c.json")


def test_cli_exit_status_and_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(OLD))
    new.write_text(json.dumps(NEW))
    html_out, txt_out = tmp_path / "c.html", tmp_path / "c.txt"
    status = compare.main([str(old), str(new), "--html", str(html_out), "--text", str(txt_out)])
    assert status == 1, "regressed"
    assert txt_out.read_text() == capsys.readouterr().out, "stdout is the text report"
    assert html_out.read_text().startswith("<!DOCTYPE html>"), "html written"
    assert compare.main([str(old), str(old), "-q"]) == 0, "no regressions"
    assert capsys.readouterr().out == "verdict: no regressions (exit 0)\n", "quiet prints the verdict only"
    assert compare.main([str(old), str(tmp_path / "missing.json")]) == 2, "unreadable input"
    assert "missing.json: no such file" in capsys.readouterr().err, "says which file"


def test_small_transfers_compare_by_latency_not_throughput() -> None:
    """1 MiB transfers are latency-bound (the suite's 32 MiB rule): two identical nights list no
    throughput change, and a latency is listed only beyond the threshold and the floor."""
    def run(up: float, down: float) -> dict[str, Any]:
        r = rec("t.py::xfer[h1]", "passed", check="transfer")
        r["transfers"] = [{**xfer("gsiftp", up, nbytes=2**20),
                           "steps": {"upload": [up, 2**20], "download": [down, 2**20]}}]
        return doc(r)

    c = compare.compare(run(0.0039, 0.5), run(1.0, 0.55))
    assert c.throughput == [], "no throughput change from 1 MiB transfers (0.39 -> 115 MB/s was noise)"
    assert [(t.label, t.old, t.new) for t in c.latency] == [("gsiftp/6/upload", 0.0039, 1.0)], (
        "the upload's latency grew 250-fold (listed); the download's +10% is within 100%")
    assert "gsiftp/6/upload: 0.004 -> 1.000 s (+25541%)" in compare.render_text(c), compare.render_text(c)
    assert "0 throughput changes, 1 latency changes" in c.summary_line(), c.summary_line()
    assert compare.compare(run(0.128, 0.5), run(0.525, 0.5)).latency == [], (
        "+310% but 0.4 s: below the floor (a GridFTP download between two identical testbed nights)")
    assert compare.compare(run(0.6, 0.5), run(1.2, 0.5), latency_threshold=0.5).latency[0].label == (
        "gsiftp/6/upload"), "the threshold is the option's"

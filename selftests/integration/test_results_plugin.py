"""The results, waivers and baseline plugins end to end, in throw-away pytest runs (pytester).

Why: these plugins only show their worth in a real session (report hooks, usage errors, exit
codes, xdist), so each case runs a small fake suite with ``-p se_dualstack.plugins.results`` and
``-p se_dualstack.plugins.waivers`` -- each works alone on the state and outcomes it declares.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import se_dualstack
from se_dualstack import compare
from se_dualstack.reporting.records import Record
from se_dualstack.transfer.stats import latencies

pytest_plugins = ["pytester"]

PROJECT = Path(__file__).resolve().parents[2]
PLUGINS = ["-p", "no:se_dualstack.plugins", "-p", "se_dualstack.plugins.results",
           "-p", "se_dualstack.plugins.waivers"]

CONFTEST = '''
import os
import pytest
from se_dualstack.plugins.state import state_of
from se_dualstack.model import PortRange, SEHost, Site

HOSTS = [
    SEHost("head.example.org", "headnode", {}, [], PortRange(20000, 25000)),
    SEHost("disk-1.example.org", "disknode", {"se_os": "el9"}, [], PortRange(20000, 25000)),
]
SITE = Site("exsite", "dpm", "inventory.yml", HOSTS, {})


def pytest_configure(config):
    state_of(config).site = SITE


@pytest.fixture(params=HOSTS, ids=[h.name for h in HOSTS])
def se_host(request):
    if request.param.role == "headnode":
        request.param.detected_os = "el7"
    return request.param


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Like the framework: a failed check shows its one-line message, not a traceback."""
    report = yield
    if os.environ.get("FAKE_STR_LONGREPR") and report.failed and call.excinfo is not None:
        report.longrepr = str(call.excinfo.value)
    return report


def pytest_collection_modifyitems(items):
    if os.environ.get("FAKE_USAGE"):
        raise pytest.UsageError("check id 'X' is not in the catalogue")


def broken(name):
    """Which checks the fake site fails, from the environment (so runs can differ)."""
    return name in os.environ.get("FAKE_BROKEN", "").split(",")
'''

CHECKS = '''
import pytest
from conftest import broken


@pytest.mark.check("SE6-DNS-02")
def test_aaaa(se_host):
    assert not broken("aaaa-" + se_host.name), (
        f"[SE6-DNS-02] {se_host.name}: no AAAA record; expected one; Fix: add it")


@pytest.mark.check("SE6-SVC-01")
@pytest.mark.parametrize("service", ["xrootd", "gsiftp"])
def test_listen(se_host, service):
    assert not broken(f"listen-{service}"), f"[SE6-SVC-01] {se_host.name}: {service} not on [::]"


@pytest.mark.check("SE6-SVC-05")
def test_transfer(se_host):
    if se_host.role == "headnode":
        pytest.skip("[SE6-SVC-05] no se_transfer_dir on the head node")
'''


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A fake two-host site: conftest with a Site and ``se_host``, three checks."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_checks=CHECKS)
    pytester.path.joinpath("inventory.yml").write_text("all: {}\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(PROJECT), str(pytester.path)]))
    monkeypatch.delenv("FAKE_BROKEN", raising=False)
    monkeypatch.setenv("COLUMNS", "250")  # the short summary is cut at the terminal width
    return pytester


def result_files(p: pytest.Pytester) -> list[Path]:
    return sorted(x for x in (p.path / "reports").glob("exsite-*.json") if "latest" not in x.name)


def latest(p: pytest.Pytester) -> dict[str, Any]:
    return json.loads((p.path / "reports" / "exsite-latest.json").read_text())


def outcomes(doc: dict[str, Any]) -> dict[str, str]:
    return {r["nodeid"]: r["outcome"] for r in doc["records"]}


def test_result_file_has_metadata_and_one_record_per_test(suite: pytest.Pytester,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_BROKEN", "aaaa-disk-1.example.org")
    res = suite.runpytest(*PLUGINS)
    assert res.ret == 1, f"one check fails, so exit 1; got {res.ret}\n{res.stdout.str()}"
    files = result_files(suite)
    assert len(files) == 1, f"one timestamped result file expected, found {files}"
    doc = json.loads(files[0].read_text())
    assert doc == latest(suite), "the latest file must be a copy of the timestamped one"
    assert doc["format"] == "se-dualstack-results/2", doc["format"]
    assert doc["site"] == "exsite", f"site name from the Site: {doc['site']}"
    assert doc["suite_version"] == se_dualstack.__version__, "suite version recorded"
    assert doc["inventory"]["path"] == "inventory.yml", f"inventory path: {doc['inventory']}"
    assert len(doc["inventory"]["sha256"]) == 64, "inventory digest must be a sha256 hex digest"
    assert (doc["exit_status"], doc["exit_category"]) == (1, "checks-failed"), "exit metadata"
    assert doc["hosts"] == [
        {"name": "head.example.org", "role": "headnode", "os": "el7", "os_source": "detected"},
        {"name": "disk-1.example.org", "role": "disknode", "os": "el9", "os_source": "declared"},
    ], f"hosts with role and OS in inventory order: {doc['hosts']}"
    assert files[0].name == f"exsite-{doc['started'].replace('-', '').replace(':', '')}.json", (
        f"file named <site>-<UTC start>: {files[0].name} vs {doc['started']}")
    recs = {r["nodeid"]: r for r in doc["records"]}
    assert len(recs) == 8, f"2 hosts x (1 + 2 + 1) tests = 8 records, got {sorted(recs)}"
    bad = recs["test_checks.py::test_aaaa[disk-1.example.org]"]
    assert (bad["outcome"], bad["check"]) == ("failed", "SE6-DNS-02"), f"failed record: {bad}"
    assert bad["host"] == "disk-1.example.org", f"host from the se_host parameter: {bad}"
    assert bad["message"].startswith("[SE6-DNS-02] disk-1.example.org: no AAAA record"), bad["message"]
    listen = recs["test_checks.py::test_listen[head.example.org-gsiftp]"]
    assert (listen["outcome"], listen["check"], listen["host"]) == ("passed", "SE6-SVC-01",
                                                                    "head.example.org"), listen
    skipped = recs["test_checks.py::test_transfer[head.example.org]"]
    assert skipped["outcome"] == "skipped", skipped
    assert skipped["message"] == "[SE6-SVC-05] no se_transfer_dir on the head node", skipped
    assert (bad["concern"], listen["concern"]) == ("dns", "services"), "the catalogue's concern"
    assert all(r["duration"] >= 0 for r in recs.values()), "durations are recorded"
    res.stdout.fnmatch_lines(["*result file: *exsite-*.json (also exsite-latest.json)*"])


def test_results_dir_follows_html_report(suite: pytest.Pytester) -> None:
    res = suite.runpytest(*PLUGINS, "--html", "out/exsite-20260101T000000Z.html")
    assert res.ret == 0, f"all pass: {res.ret}"
    assert (suite.path / "out" / "exsite-20260101T000000Z.json").is_file(), (
        "the JSON must sit next to the HTML report with the same stem")
    assert (suite.path / "out" / "exsite-latest.json").is_file(), "latest next to the report too"


def write_waivers(p: pytest.Pytester, body: str) -> Path:
    path = p.path / "waivers.yml"
    path.write_text(body)
    return path


def test_valid_waiver_reports_waived_not_passed(suite: pytest.Pytester,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_BROKEN", "aaaa-disk-1.example.org")
    write_waivers(suite, """
- check: SE6-DNS-02
  hosts: "disk-*.example.org"
  justification: AAAA pending at the NREN, ticket 42
  expires: 2999-12-31
""")
    res = suite.runpytest(*PLUGINS, "--waivers", "waivers.yml", "-v")
    assert res.ret == 0, f"a waived failure does not fail the run: {res.ret}\n{res.stdout.str()}"
    res.stdout.fnmatch_lines([
        "*test_aaaa?disk-1.example.org? WAIVED*",
        "*1 waived failure(s)*",
        "WAIVED *test_aaaa?disk-1.example.org? - waived: AAAA pending at the NREN, ticket 42 "
        "(until 2999-12-31)",
    ])
    summary = res.stdout.lines[-1]
    assert "1 waived" in summary, f"counted as waived: {summary}"
    assert "failed" not in summary, f"not as failed: {summary}"
    rec = {r["nodeid"]: r for r in latest(suite)["records"]}["test_checks.py::test_aaaa[disk-1.example.org]"]
    assert rec["outcome"] == "waived", f"recorded as waived, not passed: {rec}"
    assert rec["waiver"]["justification"] == "AAAA pending at the NREN, ticket 42", rec
    assert rec["message"].startswith("[SE6-DNS-02]"), f"the failure itself is kept: {rec}"
    assert latest(suite)["waivers"]["path"] == "waivers.yml", "waiver file in the run metadata"


def test_waiver_via_ini(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_BROKEN", "aaaa-head.example.org")
    suite.makeini("[pytest]\nse_waivers = conf/waivers.yml\n")
    (suite.path / "conf").mkdir()
    (suite.path / "conf" / "waivers.yml").write_text(
        "- {check: SE6-DNS-02, hosts: [head.example.org], justification: retiring, expires: 2999-01-01}\n")
    res = suite.runpytest(*PLUGINS)
    assert res.ret == 0, f"ini se_waivers applies relative to the ini file: {res.stdout.str()}"
    assert outcomes(latest(suite))["test_checks.py::test_aaaa[head.example.org]"] == "waived", "waived"


@pytest.mark.parametrize("str_longrepr", ["", "1"], ids=["traceback", "message-only"])
def test_expired_waiver_no_longer_applies_and_says_so(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                                      str_longrepr: str) -> None:
    monkeypatch.setenv("FAKE_BROKEN", "aaaa-disk-1.example.org")
    monkeypatch.setenv("FAKE_STR_LONGREPR", str_longrepr)
    write_waivers(suite, """
- check: SE6-DNS-02
  hosts: "*.example.org"
  justification: was pending
  expires: 2020-01-31
""")
    res = suite.runpytest(*PLUGINS, "--waivers", "waivers.yml", "-rf")
    assert res.ret == 1, f"an expired waiver does not hide the failure: {res.ret}"
    res.stdout.fnmatch_lines([
        "*waiver expired*",
        "*waiver 1 of waivers.yml for check SE6-DNS-02 on *.example.org expired on 2020-01-31*",
        "FAILED *test_aaaa?disk-1.example.org? - waiver expired on 2020-01-31: *",
    ])
    rec = {r["nodeid"]: r for r in latest(suite)["records"]}["test_checks.py::test_aaaa[disk-1.example.org]"]
    assert rec["outcome"] == "failed", f"expired waiver: failed, not waived: {rec}"
    assert rec["message"].endswith("(waiver expired on 2020-01-31)"), rec["message"]
    assert rec["waiver"]["expired"] is True, rec


@pytest.mark.parametrize(("body", "expected"), [
    ("- {check: SE6-DNS-02, hosts: '*', expires: 2999-01-01}\n",
     "entry 1: key 'justification': missing or empty (required)"),
    ("- {check: SE6-DNS-02, hosts: '*', justification: x, expires: 2999-01-01}\n"
     "- {check: SE6-DNS-02, hosts: '*', justification: y, expires: 31.12.2026}\n",
     "entry 2: key 'expires': must be a date YYYY-MM-DD, got '31.12.2026'"),
    ("- {check: SE6-DNS-02, host: '*', justification: x, expires: 2999-01-01}\n",
     "entry 1: key 'host': unknown key"),
    ("check: SE6-DNS-02\n", "expected a YAML list of waivers"),
    ("- {check: SE6-DNS-99, hosts: '*', justification: x, expires: 2999-01-01}\n",
     "entry 1: key 'check': unknown check id 'SE6-DNS-99'"),
])
def test_malformed_waiver_file_is_a_one_line_usage_error(suite: pytest.Pytester, body: str,
                                                         expected: str) -> None:
    write_waivers(suite, body)
    res = suite.runpytest_subprocess(*PLUGINS, "--waivers", "waivers.yml")
    assert res.ret == 4, f"usage error exit 4, got {res.ret}\n{res.stderr.str()}"
    errors = [line for line in res.stderr.lines if line.strip()]
    assert len(errors) == 1, f"exactly one line on stderr: {errors}"
    assert errors[0].startswith("ERROR: waiver file waivers.yml: "), errors[0]
    assert expected in errors[0], f"{expected!r} not in {errors[0]!r}"
    assert not (suite.path / "reports").exists(), "no result file when the suite could not run"


def test_a_narrowed_run_keeps_off_latest_and_a_baseline_directory_finds_its_selection(
        suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a run of the whole selection replaces exsite-latest.json; ``-k`` makes a run of its
    own (exsite-k_aaaa-latest.json); ``--baseline=reports`` compares each with its own kind."""
    (suite.path / "reports").mkdir()
    whole = suite.runpytest(*PLUGINS, "--baseline=reports")
    assert whole.ret == 0, whole.stdout.str()
    whole.stdout.fnmatch_lines(["no baseline: reports holds no exsite-latest.json (the first run*"])
    first = latest(suite)
    assert first["partial"] == [], first["partial"]
    assert "baseline" not in first, first.get("baseline")
    monkeypatch.setenv("FAKE_BROKEN", "aaaa-disk-1.example.org")
    narrow = suite.runpytest(*PLUGINS, "-k", "aaaa", "--baseline=reports")
    assert narrow.ret == 1
    narrow.stdout.fnmatch_lines(["*(also exsite-k_aaaa-latest.json)*",
                                 "partial run (-k aaaa): exsite-latest.json, the baseline of runs of "
                                 "the whole selection, was left as it was"])
    assert latest(suite) == first, "exsite-latest.json untouched by the -k run"
    own = json.loads((suite.path / "reports" / "exsite-k_aaaa-latest.json").read_text())
    assert own["partial"] == ["-k aaaa"], own["partial"]
    again = suite.runpytest(*PLUGINS, "--baseline=reports")
    again.stdout.fnmatch_lines(["*compared with reports/exsite-latest.json: 1 regressed*"])
    assert latest(suite)["baseline"]["started"] == first["started"], "compared with the whole run"


def test_baseline_writes_comparison_and_lists_regressions(suite: pytest.Pytester,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_BROKEN", "listen-gsiftp")
    first = suite.runpytest(*PLUGINS)
    assert first.ret == 1, "the first run fails gsiftp on both hosts"
    old = result_files(suite)[0]
    monkeypatch.setenv("FAKE_BROKEN", "aaaa-head.example.org")
    # No pause: a run started in the same second claims <stem>-2 (O_EXCL), never the first's name.
    second = suite.runpytest(*PLUGINS, "--baseline", "reports/exsite-latest.json")
    assert second.ret == 1, "regressions are check failures: exit 1"
    second.stdout.fnmatch_lines([
        "*compared with reports/exsite-latest.json: 1 regressed, 2 fixed, 0 still failing*",
        "*SE6-DNS-02  head.example.org  test_checks.py::test_aaaa?head.example.org?  passed -> failed*",
    ])
    new = [f for f in result_files(suite) if f != old]
    assert len(new) == 1, f"second run wrote its own file: {result_files(suite)}"
    assert json.loads(old.read_text())["records"] != json.loads(new[0].read_text())["records"], (
        "the first run's file kept its own content")
    txt = new[0].with_name(new[0].stem + "-compare.txt").read_text()
    html_report = new[0].with_name(new[0].stem + "-compare.html").read_text()
    assert txt.index("Regressions (newly failing): 1") < txt.index("Fixed (newly passing): 2"), txt
    assert "test_listen[disk-1.example.org-gsiftp]  failed -> passed" in txt, txt
    assert '<h2>Regressions (newly failing) <span class="muted">(1)</span></h2>' in html_report, "html"
    doc = json.loads(new[0].read_text())
    assert (doc["baseline"]["regressions"], doc["baseline"]["fixed"]) == (1, 2), doc["baseline"]

    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    cli = [sys.executable, "-m", "se_dualstack.compare"]
    fwd = subprocess.run([*cli, str(old), str(new[0]), "-q"], capture_output=True, text=True, env=env,
                         check=False)
    assert fwd.returncode == 1, f"compare exits 1 on regressions: {fwd.stdout}{fwd.stderr}"
    back = subprocess.run([*cli, str(new[0]), str(old), "--text", "back.txt"], capture_output=True,
                          text=True, env=env, check=False, cwd=suite.path)
    assert back.returncode == 1, "reverse: the two gsiftp fixes are now regressions"
    assert "Regressions (newly failing): 2" in (suite.path / "back.txt").read_text(), back.stdout
    same = subprocess.run([*cli, str(old), str(old)], capture_output=True, text=True, env=env, check=False)
    assert same.returncode == 0, f"no change, exit 0: {same.stdout}"
    missing = subprocess.run([*cli, str(old), "nope.json"], capture_output=True, text=True, env=env,
                             check=False)
    assert missing.returncode == 2, f"unreadable input exits 2: {missing.returncode}"
    assert "nope.json: no such file" in missing.stderr, missing.stderr


def test_run_that_could_not_run_keeps_latest(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    assert suite.runpytest(*PLUGINS).ret == 0, "a good first run"
    good = latest(suite)
    monkeypatch.setenv("FAKE_USAGE", "1")
    res = suite.runpytest(*PLUGINS)
    assert res.ret == 4, f"usage error during collection: {res.ret}"
    assert latest(suite) == good, "latest still holds the last run that ran its checks"
    files = result_files(suite)
    assert len(files) == 2, f"the failed run still leaves its own file (same second or not): {files}"
    docs = [json.loads(f.read_text()) for f in files]
    bad = [d for d in docs if d["exit_status"] == 4]
    assert len(bad) == 1, [d["exit_status"] for d in docs]
    assert (bad[0]["exit_category"], bad[0]["records"]) == ("could-not-run", []), bad[0]
    res.stdout.fnmatch_lines(["*the run could not run its checks: the latest file was left as it was*"])


def test_bad_baseline_is_a_usage_error(suite: pytest.Pytester) -> None:
    (suite.path / "old.json").write_text("{}")
    res = suite.runpytest_subprocess(*PLUGINS, "--baseline", "old.json")
    assert res.ret == 4, f"usage error: {res.ret}"
    res.stderr.fnmatch_lines(["ERROR: --baseline old.json: not an se-dualstack result file*"])


def test_xdist_run_records_the_same_outcomes(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_BROKEN", "aaaa-disk-1.example.org,listen-xrootd")
    write_waivers(suite, "- {check: SE6-SVC-01, hosts: head.*, justification: j, expires: 2999-01-01}\n")
    serial = suite.runpytest_subprocess(*PLUGINS, "--waivers", "waivers.yml", "--results-dir", "serial")
    par = suite.runpytest_subprocess(*PLUGINS, "--waivers", "waivers.yml", "--results-dir", "par",
                                     "-n", "2", "-p", "xdist")
    assert serial.ret == par.ret == 1, f"same exit status: {serial.ret} {par.ret}"
    s = json.loads((suite.path / "serial" / "exsite-latest.json").read_text())
    p = json.loads((suite.path / "par" / "exsite-latest.json").read_text())
    assert outcomes(s) == outcomes(p), f"serial {outcomes(s)} != parallel {outcomes(p)}"
    assert "waived" in outcomes(p).values(), "waivers apply in xdist workers"
    assert s["hosts"] == p["hosts"], "host facts (detected OS) cross the xdist boundary"
    strip = ("duration",)
    assert [{k: v for k, v in r.items() if k not in strip} for r in s["records"]] == [
        {k: v for k, v in r.items() if k not in strip} for r in p["records"]], "records identical"
    assert p["xdist_workers"] == 2, "worker count recorded"
    assert compare.compare(s, p).exit_status == 0, "no regressions between serial and parallel"


XFER_CHECKS = '''
import os
import pytest
from se_dualstack.transfer.outcome import Step, TransferResult


def result(case, seconds, ok=True):
    r = TransferResult(case, "root", 6, 1000000)
    if ok:
        r.steps = [Step("upload", "passed", seconds, nbytes=1000000),
                   Step("download", "passed", seconds / 2, nbytes=1000000)]
    else:
        r.precondition = "server said no"
    return r


@pytest.mark.check("SE6-XFER-01")
def test_gfal(se_host, record):
    """Like tests/test_transfers.py: two good repetitions and a failed one, recorded by record()."""
    secs = float(os.environ.get("FAKE_SECONDS", "1.0"))
    case = f"{se_host.name}-root-ipv6"
    record([result(case, secs), result(case, secs), result(case, secs, ok=False)])
'''


def test_transfer_figures_reach_the_result_file_and_the_comparison(suite: pytest.Pytester,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The record fixture puts one row per transfer in the result file (the summary reads the
    same rows); compare lists the latency of these 1 MB transfers beyond the threshold (never a
    throughput: they are latency-bound), and not one within. A run of one test file is partial:
    it writes its own latest, never exsite-latest.json, and says so."""
    suite.makepyfile(test_xfer=XFER_CHECKS)
    args = [*PLUGINS, "-p", "se_dualstack.plugins.transfers", "test_xfer.py"]
    docs = {}
    for name, secs in (("old", "1.0"), ("slower", "2.6"), ("same", "1.1")):
        monkeypatch.setenv("FAKE_SECONDS", secs)
        res = suite.runpytest(*args, f"--results-dir={name}")
        assert res.ret == 0, f"{name}: {res.ret}"
        assert not (suite.path / name / "exsite-latest.json").exists(), "a partial run keeps off latest"
        docs[name] = json.loads((suite.path / name / "exsite-paths_test_xfer.py-latest.json").read_text())
        assert docs[name]["partial"] == ["paths test_xfer.py"], docs[name]["partial"]
        if name == "old":  # the transfer plugin's own summary still reads its entries
            res.stdout.fnmatch_lines(["*transfers per protocol, credential and family*",
                                      "root    x509   ok 4/6 | -*"])
            res.stdout.fnmatch_lines(["partial run (paths test_xfer.py): exsite-latest.json, the "
                                      "baseline of runs of the whole selection, was left as it was"])
    rec = {r["nodeid"]: r for r in docs["old"]["records"]}["test_xfer.py::test_gfal[disk-1.example.org]"]
    assert "transfer" not in rec, "one copy of a transfer's figures: its rows"
    case = "disk-1.example.org-root-ipv6"
    assert rec["transfers"] == 2 * [{
        "case": case, "protocol": "root", "family": 6, "auth": "x509", "ok": True, "endpoint": "",
        "address": "", "landed": "", "error": "",
        "steps": {"upload": [1.0, 1000000], "download": [0.5, 1000000]}}] + [{
        "case": case, "protocol": "root", "family": 6, "auth": "x509", "ok": False, "endpoint": "",
        "address": "", "landed": "", "error": "server said no", "steps": {}}], rec["transfers"]
    assert latencies(Record.from_dict(rec).transfers) == {"root/6/upload": 1.0, "root/6/download": 0.5}
    comp = compare.compare(docs["old"], docs["slower"])
    assert comp.throughput == [], "1 MB transfers measure no throughput"
    changes = {(t.nodeid.split("[")[1], t.label, round(t.old, 3), round(t.new, 3)) for t in comp.latency}
    assert changes == {
        (f"{h}]", label, old, new) for h in ("head.example.org", "disk-1.example.org")
        for label, old, new in (("root/6/upload", 1.0, 2.6), ("root/6/download", 0.5, 1.3))
    }, changes
    assert "root/6/upload: 1.000 -> 2.600 s (+160%)" in compare.render_text(comp), compare.render_text(comp)
    assert comp.exit_status == 0, "latency changes are listed, not gated"
    assert compare.compare(docs["old"], docs["same"]).latency == [], "+10% is within 100%"

"""Three nights of the nightly example on the testbed, as a site watches them (issue 20).

One default site, ``ci-examples/nightly.sh`` run as the client host three times, the site's
transfers narrowed to GridFTP by the inventory's own variable (``--se-var``, not a selection:
the runs are of the whole selection and replace ``<site>-latest.json``):

* night 1: disk01's /etc/hosts lacks the ::1 line, waived (exit 0, ACCEPTED WITH WAIVERS);
* night 2: disk02's IPv6 PTR goes missing and stays so: a regression (exit 1);
* a ``-m dns`` run by hand: its own files, ``latest`` left alone;
* night 3: the same failure, nothing new (exit 10); compared with night 2, no throughput change;
* a run with an expired proxy: could not run (exit 4 from the suite);
* ``se-dualstack nagios`` on nights 1 and 2 and the could-not-run result: 0, 2, 3; ``history``
  names night 2 as the one the PTR failure started.

Cost on the 2-CPU machine: about 70 s (three nights of 145 tests at ~13 s, the dns run ~3 s, the
could-not-run run ~4 s, testbed up and down ~6 s).
"""

from __future__ import annotations

import html
import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tbrun import PY, ROOT, Testbed, tb_name, unavailable

from se_dualstack import compare

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))

NAME = tb_name("nightly")
D1, D2 = "disk01.example.test", "disk02.example.test"
SITE_VARS = "--se-var=se_transfer_protocols=[gsiftp]"  # the site's own choice, not a selection
WAIVERS = """\
- check: SE6-RES-01
  hosts: "disk01.example.test"
  justification: ticket NWC-77, /etc/hosts managed by the vendor image until the next reinstall
  expires: 2099-12-31
"""


@dataclass
class Nights:
    reports: Path
    exits: list[int] = field(default_factory=list)  # nightly.sh: night 1, 2, 3
    results: list[Path] = field(default_factory=list)  # their result files
    logs: list[str] = field(default_factory=list)
    dns_exit: int = -1
    dns_result: Path | None = None
    latest_before_dns: str = ""
    latest_after_dns: str = ""
    no_proxy: Path | None = None


def _tb(tb: Testbed, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PY), "-m", "testbed", "--name", tb.name, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False)


def _night(tb: Testbed, reports: Path, waivers: Path, *extra: str) -> tuple[int, str, Path]:
    """Run the nightly example as the client; its exit, output and the result file it wrote."""
    before = set(reports.glob("*.json"))
    addopts = f"--inventory={tb.state}/inventory.yml --ssh-config={tb.state}/ssh_config"
    res = _tb(tb, "run", "--", "env", f"PYTEST_ADDOPTS={addopts}",
              f"SE_INVENTORY={tb.state}/inventory.yml", f"SE_REPORTS={reports}",
              f"SE_WAIVERS={waivers}", "ci-examples/nightly.sh", *extra)
    new = sorted(p for p in set(reports.glob("*.json")) - before if not p.stem.endswith("-latest"))
    assert len(new) == 1, f"one result file per night, got {new}:\n{res.stdout[-3000:]}{res.stderr[-2000:]}"
    return res.returncode, res.stdout + res.stderr, new[0]


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> Nights:
    tmp = tmp_path_factory.mktemp("nightly")
    waivers = tmp / "waivers.yml"
    waivers.write_text(WAIVERS)
    out = Nights(reports=tmp / "reports")
    out.reports.mkdir()
    with Testbed(NAME) as tb:
        fault = _tb(tb, "fault", "disk01", "hosts_no_ipv6_localhost")
        assert fault.returncode == 0, fault.stderr
        for night in (1, 2, 3):
            if night == 2:
                fault = _tb(tb, "fault", "disk02", "no_ipv6_ptr")
                assert fault.returncode == 0, fault.stderr
            if night == 3:  # a hand run between the nights: only the DNS checks
                out.latest_before_dns = (out.reports / "default-latest.json").read_text()
                out.dns_exit, _, out.dns_result = _night(tb, out.reports, waivers, SITE_VARS, "-m", "dns")
                out.latest_after_dns = (out.reports / "default-latest.json").read_text()
            rc, log, result = _night(tb, out.reports, waivers, SITE_VARS)
            out.exits.append(rc)
            out.logs.append(log)
            out.results.append(result)
        # A night whose proxy expired: the suite could not run its transfer checks (exit 4).
        expired = tmp / "expired"
        expired.mkdir()
        addopts = f"--inventory={tb.state}/inventory.yml --ssh-config={tb.state}/ssh_config"
        _tb(tb, "run", "--", "env", f"PYTEST_ADDOPTS={addopts}",
            f"X509_USER_PROXY={tb.state}/x509/expired-proxy.pem", str(PY), "-m", "pytest",
            "-p", "no:cacheprovider", "-q", f"--results-dir={expired}", SITE_VARS, "-m", "transfer")
        found = [p for p in expired.glob("*.json") if not p.stem.endswith("-latest")]
        out.no_proxy = found[0] if found else None
    return out


def _doc(path: Path) -> dict:
    return json.loads(path.read_text())


def test_night_two_regresses_and_night_three_has_nothing_new(nights: Nights) -> None:
    assert nights.exits == [0, 1, 10], "\n\n".join(log[-1500:] for log in nights.logs)
    assert "nightly: first run for default" in nights.logs[0], nights.logs[0][-800:]
    assert "1 regressions since the previous night" in nights.logs[1], nights.logs[1][-800:]
    assert "checks fail, but none newly since the previous night" in nights.logs[2]
    docs = [_doc(p) for p in nights.results]
    assert [d["partial"] for d in docs] == [[], [], []], "the nights are runs of the whole selection"
    assert docs[2]["baseline"]["path"].endswith("default-latest.json"), docs[2]["baseline"]


def test_a_dns_run_in_between_leaves_latest_alone(nights: Nights) -> None:
    assert nights.dns_result is not None
    dns = _doc(nights.dns_result)
    assert dns["partial"] == ["-m dns"], dns["partial"]
    assert nights.latest_after_dns == nights.latest_before_dns, "default-latest.json untouched"
    assert (nights.reports / "default-m_dns-latest.json").is_file(), "the dns run's own latest"
    night3 = _doc(nights.results[2])
    assert night3["baseline"]["started"] == _doc(nights.results[1])["started"], (
        "night 3 compares with night 2, not with the dns run")


def test_identical_nights_list_no_throughput_change(nights: Nights) -> None:
    comp = compare.compare(_doc(nights.results[1]), _doc(nights.results[2]))
    assert comp.throughput == [], [t.label for t in comp.throughput]
    assert not comp.regressions, comp.summary_line()
    assert not comp.fixed, comp.summary_line()
    assert [(c.host, c.check) for c in comp.still_failing] == [(D2, "SE6-DNS-04")], comp.still_failing
    text = (nights.reports / Path(nights.results[2].stem + "-compare.txt")).read_text()
    assert "Transfer throughput changes beyond 20% (transfers of 32 MiB or more): 0" in text, text[-1500:]


def test_the_failing_report_names_each_hosts_firewall_and_the_waiver(nights: Nights) -> None:
    page = nights.results[1].with_suffix(".html").read_text()
    verdict = html.unescape(re.search(r'<p class="se6-verdict fail">(.*?)</p>', page, re.S).group(1))
    assert f"on 1 of 3 hosts ({D2})" in verdict, verdict
    assert f"1 failure waived: SE6-RES-01 on {D1} until 2099-12-31" in verdict, verdict
    firewalls = dict(re.findall(r'<tr><td class="host">([^<]+)</td><td>[^<]*</td>\s*<td>[^<]*</td>'
                                r'<td>([^<]*)</td>', page))
    assert firewalls == {"head.example.test": "iptables-nft", D1: "firewalld (zone public)",
                         D2: "nftables"}, firewalls


def _probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PY), "-m", "se_dualstack", "nagios", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)


def test_nagios_says_ok_critical_unknown(nights: Nights) -> None:
    assert nights.no_proxy is not None, "the expired-proxy run wrote its result file"
    assert _doc(nights.no_proxy)["exit_status"] == 4
    ok, crit, unknown = (_probe(str(p)) for p in (nights.results[0], nights.results[1], nights.no_proxy))
    assert ok.returncode == 0, ok.stdout
    assert ok.stdout.startswith("SE6 OK - default: all "), ok.stdout
    assert f"1 waived: SE6-RES-01 on {D1}" in ok.stdout.splitlines()[0], ok.stdout
    assert crit.returncode == 2, crit.stdout
    assert crit.stdout.startswith(f"SE6 CRITICAL - default: 1 check failed on {D2}: SE6-DNS-04"), crit.stdout
    assert unknown.returncode == 3, unknown.stdout
    assert "could not run its checks (exit 4" in unknown.stdout, unknown.stdout
    for res in (ok, crit, unknown):
        assert "'checks_failed'=" in res.stdout.splitlines()[0], res.stdout
    for res in (ok, crit):  # the expired-proxy run moved nothing
        assert "'gsiftp_ipv6_upload'=" in res.stdout.splitlines()[0], res.stdout
    newest = _probe("--reports", str(nights.reports))
    assert newest.returncode == 2, newest.stdout
    assert nights.results[2].name in newest.stdout, ("the newest night (not the dns run)", newest.stdout)
    stale = _probe("--reports", str(nights.reports), "--max-age", "0.0001")
    assert stale.returncode == 3, stale.stdout
    assert "h old" in stale.stdout, stale.stdout


def test_history_shows_the_night_the_failure_started(nights: Nights, tmp_path: Path) -> None:
    out = tmp_path / "history.html"
    res = subprocess.run([str(PY), "-m", "se_dualstack", "history", str(nights.reports), "-o", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    assert "3 nights of default" in res.stdout, "the dns run is not a night"
    page = out.read_text()
    starts = [_doc(p)["started"].replace("T", " ").rstrip("Z") for p in nights.results]
    # Nights in minutes of their own are labelled to the minute, else all to the second (two
    # nights of this test can share a minute: nights 2 and 3 as well as 1 and 2).
    minutes = [s[:16] for s in starts]
    night2 = minutes[1] if len(set(minutes)) == len(minutes) else starts[1]
    row = re.search(r"<b>SE6-DNS-04</b>.*?</tr>", page, re.S)
    assert row, "a row for the PTR failure"
    assert D2 in row.group(0), "the PTR failure's row names disk02"
    assert f"<b>{night2}</b>" in row.group(0), f"failing since night 2 ({night2}): {row.group(0)}"
    cells = re.findall(r'class="se6-h se6-h-(\w+)"', row.group(0))
    assert cells == ["passed", "failed", "failed"], cells
    waived = re.search(r"<b>SE6-RES-01</b>.*?</tr>", page, re.S)
    assert waived, "a row for the waived check"
    assert re.findall(r'se6-h-(\w+)"', waived.group(0)) == ["waived"] * 3, "waived each night"
    assert "gsiftp upload: median latency" in page, "the latency chart"
    assert "<script" not in page, "no script"
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", ""), "nothing from the net"

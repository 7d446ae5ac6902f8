"""The monitoring outputs on real result files (selftests/unit/data/results/, from testbed runs).

Why on captured files: the probe, the Prometheus file and the history page are renderers of
the result file; these files are what the suite wrote for three nights of the nightly example
(a waived failure, then a missing IPv6 PTR left in place, a ``-m dns`` run in between), a run
with an expired proxy, a transfers-only run with disk01's xrootd stopped, and the whole suite from
an IPv6-only client (its IPv4 items could not run from there; exit 0).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from se_dualstack import cli
from se_dualstack.monitor import nagios, prometheus, runs
from se_dualstack.monitor.history import Night, history_html, night_labels, rows
from se_dualstack.monitor.view import view
from se_dualstack.reporting.resultfile import read

DATA = Path(__file__).parent / "data" / "results"
NIGHTS = DATA / "nightly"
N1, N2, DNS, N3 = (NIGHTS / f"default-20261203T1040{s}Z.json" for s in ("06", "27", "42", "45"))
NO_PROXY = next((DATA / "expired-proxy").glob("*.json"))
STOPPED = next((DATA / "xrootd-stopped").glob("*.json"))
V6_CLIENT = next((DATA / "ipv6only-client").glob("*.json"))
D1, D2 = "disk01.example.test", "disk02.example.test"
SOON = datetime(2026, 12, 3, 11, 0, tzinfo=timezone.utc)  # an hour after the nights
# 'label'=value[UOM];[warn];[crit];[min];[max] (monitoring-plugins guidelines)
PERF = re.compile(r"^'[^']+'=-?[0-9.]+(?:e[-+]?\d+)?(?:s|%|B|c)?(?:;[^; ]*){0,4}$")


def test_the_nights_of_a_directory_leave_out_the_hand_run_and_the_latest_copies() -> None:
    docs, skipped = runs.read_all(NIGHTS)
    assert skipped == []
    assert sorted(Path(d.path or "").name for d in docs) == sorted(p.name for p in (N1, N2, DNS, N3)), (
        "the -latest copies are not runs of their own")
    nights = runs.nights(runs.of_site(docs, None, "here"))
    assert [Path(d.path or "").name for d in nights] == [N1.name, N2.name, N3.name], "not the -m dns run"
    assert runs.newest(NIGHTS).path == str(N3)
    with pytest.raises(runs.NoRuns, match="no result file of elsewhere"):
        runs.of_site(docs, "elsewhere", "here")


def test_a_directory_of_several_sites_asks_which(tmp_path: Path) -> None:
    shutil.copy(N1, tmp_path / N1.name)
    other = read(N2)
    other.site = "UKI-NWC"
    (tmp_path / "UKI-NWC-20261203T104027Z.json").write_text(other.to_json())
    with pytest.raises(runs.NoRuns, match=r"several sites \(UKI-NWC, default\): give --site"):
        runs.newest(tmp_path)
    assert runs.newest(tmp_path, "UKI-NWC").site == "UKI-NWC"
    assert [d.site for d in runs.newest_per_site(tmp_path)] == ["UKI-NWC", "default"]


def test_only_narrowed_runs_make_the_nights_of_their_selection(tmp_path: Path) -> None:
    shutil.copy(DNS, tmp_path / DNS.name)
    assert [d.partial for d in runs.nights(runs.of_site(runs.read_all(tmp_path)[0], None, "x"))] == [
        ["-m dns"]], "no run of the whole selection: the newest run's selection"


def test_nagios_ok_with_the_waiver_named() -> None:
    p = nagios.probe(read(N1), SOON, max_age_h=26)
    assert p.state == nagios.OK
    first = p.render().splitlines()[0]
    assert first.startswith("SE6 OK - default: all 133 applicable checks passed on 3 hosts "
                            f"(6 not applicable); 1 waived: SE6-RES-01 on {D1} until 2099-12-31 | "), first
    perf = first.partition(" | ")[2].split()
    assert all(PERF.match(item) for item in perf), [i for i in perf if not PERF.match(i)]
    assert "'checks_failed'=0;;0;0" in perf, "a failure is critical: crit 0"
    assert any(i.startswith("'gsiftp_ipv6_upload'=") and i.endswith("s;;;0") for i in perf), perf
    assert "'dns_passed'=18;;;0" in perf, "counts per concern"


def test_nagios_warns_before_a_waiver_expires() -> None:
    late = datetime(2099, 12, 20, tzinfo=timezone.utc)
    p = nagios.probe(read(N1), late)
    assert p.state == nagios.WARNING, p.render()
    assert f"waiver expiring within 14 days: SE6-RES-01 on {D1} on 2099-12-31" in p.text
    assert nagios.probe(read(N1), late, waiver_days=5).state == nagios.OK


def test_nagios_critical_names_the_host_and_the_check() -> None:
    p = nagios.probe(read(N2), SOON)
    assert p.state == nagios.CRITICAL
    assert p.text == f"default: 1 check failed on {D2}: SE6-DNS-04", p.text
    assert any(d.startswith(f"SE6-DNS-04 {D2}: [SE6-DNS-04]") for d in p.details), p.details


def test_nagios_critical_with_one_root_cause_for_a_stopped_service() -> None:
    p = nagios.probe(read(STOPPED), SOON)
    assert p.state == nagios.CRITICAL
    assert p.text.startswith(f"default: 5 checks failed and 5 could not run on {D1}: "), p.text
    assert (f"root cause: {D1}: https and xrootd did not answer over IPv6 and IPv4: 5 transfers timed "
            "out waiting for them; 5 could not run") in p.text, p.text


@pytest.mark.parametrize(("doc", "now", "words"), [
    (NO_PROXY, SOON, "the suite could not run its checks (exit 4"),
    (N3, SOON + timedelta(hours=30), "the newest result is 30.3 h old"),
])
def test_nagios_unknown(doc: Path, now: datetime, words: str) -> None:
    p = nagios.probe(read(doc), now, max_age_h=26)
    assert p.state == nagios.UNKNOWN
    assert words in p.text, p.text


def test_nagios_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["nagios", str(N1)]) == 0
    assert cli.main(["nagios", str(N2)]) == 2
    assert cli.main(["nagios", str(NO_PROXY)]) == 3
    assert cli.main(["nagios", "--reports", str(tmp_path)]) == 3
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"SE6 UNKNOWN - {tmp_path}: no result file of any site in {tmp_path}", out[-1]


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    out = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.fullmatch(r'(\w+)\{(.*)\} (\S+)', line)
        assert m, f"a sample line without a timestamp: {line!r}"
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2)))
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def test_prometheus_exposition() -> None:
    text = prometheus.exposition([read(N2)])
    names = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(names) == len(set(names)), "one HELP and TYPE per metric"
    samples = _samples(text)
    assert {n for n, _, _ in samples} <= set(names)
    get = {(n, tuple(sorted(labels.items()))): v for n, labels, v in samples}
    assert get[("se6_check_passing", (("check", "SE6-DNS-04"), ("host", D2), ("site", "default")))] == 0
    assert get[("se6_check_passing", (("check", "SE6-RES-01"), ("host", D1), ("site", "default")))] == 1
    assert get[("se6_checks", (("concern", "dns"), ("host", D2), ("outcome", "failed"),
                               ("site", "default")))] == 1
    assert get[("se6_run_exit_category", (("category", "checks-failed"), ("site", "default")))] == 1
    assert get[("se6_run_exit_category", (("category", "passed"), ("site", "default")))] == 0
    finished = datetime.fromisoformat(str(read(N2).finished).replace("Z", "+00:00"))
    assert get[("se6_run_end_timestamp_seconds", (("site", "default"),))] == finished.timestamp()
    latency = [labels for n, labels, _ in samples if n == "se6_transfer_step_latency_seconds"]
    assert {"protocol": "gsiftp", "family": "ipv6", "credential": "x509", "step": "upload",
            "site": "default"} in latency, latency


def test_prometheus_label_values_are_escaped() -> None:
    doc = read(N1)
    doc = replace(doc, site='a "quoted" \\ site\nname')
    line = next(x for x in prometheus.exposition([doc]).splitlines() if x.startswith("se6_run_info"))
    assert 'site="a \\"quoted\\" \\\\ site\\nname"' in line, line


def test_prometheus_command_writes_the_file_atomically(tmp_path: Path) -> None:
    out = tmp_path / "textfile" / "se6.prom"
    assert cli.main(["prometheus", "--reports", str(NIGHTS), "-o", str(out)]) == 0
    text = out.read_text()
    assert 'se6_run_info{site="default",suite_version=' in text
    assert [p.name for p in out.parent.iterdir()] == ["se6.prom"], "no temporary file left"


def test_history_failing_since_and_the_waived_check(tmp_path: Path) -> None:
    docs = [read(p) for p in (N1, N2, N3)]
    page = history_html(docs, NIGHTS)
    labels = night_labels(docs)
    assert labels == ["2026-12-03 10:40:06", "2026-12-03 10:40:27", "2026-12-03 10:40:45"], labels
    table = {(r.check, r.host): r for r in rows([Night(view(d), x, "") for d, x in zip(docs, labels)])}
    ptr = table[("SE6-DNS-04", D2)]
    assert [c.state for c in ptr.cells] == ["passed", "failed", "failed"]
    assert (ptr.failing_since, ptr.since_first, ptr.flapping) == (labels[1], False, False)
    assert [c.state for c in table[("SE6-RES-01", D1)].cells] == ["waived"] * 3
    assert f'<a href="{N2.with_suffix(".html").name}">' not in page, "no report beside these files"
    assert "<b>2026-12-03 10:40:27</b>" in page


def test_history_flapping_and_a_failure_older_than_the_page() -> None:
    a, b = read(N1), read(N2)
    docs = [replace(b, started="2026-12-01T03:00:00Z"), replace(a, started="2026-12-02T03:00:00Z"),
            replace(b, started="2026-12-03T03:00:00Z")]
    labels = night_labels(docs)
    assert labels == ["2026-12-01 03:00", "2026-12-02 03:00", "2026-12-03 03:00"], "to the minute"
    row = {(r.check, r.host): r for r in rows([Night(view(d), x, "") for d, x in zip(docs, labels)])}[
        ("SE6-DNS-04", D2)]
    assert (row.changes, row.flapping, row.failing_since) == (2, True, labels[2])
    first = {(r.check, r.host): r for r in rows([Night(view(d), x, "") for d, x in
                                                 zip(docs[:1], labels[:1])])}[("SE6-DNS-04", D2)]
    assert first.since_first, "failing in the first night shown: since then or earlier"
    page = history_html(docs)
    assert "<b>flapping</b> (2 changes)" in page


def test_an_ipv6_only_clients_run_is_what_its_report_says() -> None:
    """Exit 0, ACCEPTED for what the machine can prove: OK (not CRITICAL) with the one cause named;
    its IPv4 items are "could not run from here" in every output, not a host's could-not-run."""
    doc = read(V6_CLIENT)
    assert (doc.exit_status, view(doc).kind) == (0, "pass")
    p = nagios.probe(doc, SOON)
    assert p.state == nagios.OK, p.render()
    assert p.text.startswith("ipv6only: all 144 applicable checks passed on 3 hosts (35 not applicable); "
                             "the suite machine has no IPv4: 19 IPv4 checks and transfers on 2 hosts "
                             "could not run (no SE host is at fault"), p.text
    assert "'checks_could_not_run'=0;;0;0" in p.perfdata, "none is a host's"
    assert "'checks_not_run_here'=19;;;0" in p.perfdata
    samples = _samples(prometheus.exposition([doc]))
    by_outcome = {o: sum(v for n, lb, v in samples if n == "se6_checks" and lb["outcome"] == o)
                  for o in ("could_not_run", "not_run_here", "failed")}
    assert by_outcome == {"could_not_run": 0, "not_run_here": 19, "failed": 0}, by_outcome
    table = rows([Night(view(doc), "2026-12-03 11:03", "")])
    here = [r for r in table if r.cells[-1].state == "not_run_here"]
    assert {r.check for r in here} == {"SE6-SVC-05", "SE6-XFER-01"}, here
    assert not any(r.failing or r.notable for r in here), "grey, no host at fault"
    assert "Last night: every applicable check passed." in history_html([doc])

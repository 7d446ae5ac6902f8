"""One root cause, one line, against a real site: a dead disk node, then a dead resolver.

Why: a site admin reads the verdict first. With one disk node down the report must name that
node alone (its unreachable checks counted as "could not run", transfers through the other
hosts that reached it pinned on it), not forty failures on three hosts; with the resolver dead,
one site-wide cause, not a DNS failure per check.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from tbrun import PY, ROOT, Testbed, tb_name, unavailable

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))

HEAD, D1, D2 = "head.example.test", "disk01.example.test", "disk02.example.test"
FAILED = ("failed", "error")


@pytest.fixture
def testbed_site():
    """A fresh default site per test: each test breaks it in its own way."""
    with Testbed(tb_name("rcause")) as tb:
        yield tb


def failures(doc: dict) -> list[dict]:
    return [r for r in doc["records"] if r["outcome"] in FAILED]


def test_an_unreachable_disk_node_is_one_cause_on_that_node_alone(testbed_site: Testbed,
                                                                  tmp_path: Path) -> None:
    # disk02's only interface goes down: no ssh, no service port, no transfer reaches it.
    down = subprocess.run([str(PY), "-m", "testbed", "--name", testbed_site.name, "exec", "disk02", "--",
                           "ip", "link", "set", "eth0", "down"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert down.returncode == 0, down.stderr
    run = testbed_site.run_suite(tmp_path, "-n", "2", "--transfer-timeout=20", timeout=1200)
    assert run.status == 1, f"checks failed: {run.output[-2000:]}"
    bad = failures(run.result)
    assert bad, "disk02's checks fail"
    wrong = sorted({r["nodeid"] for r in bad if r["host"] != D2})
    assert not wrong, f"every failure is pinned on disk02, none on the hosts that are fine: {wrong}"
    norun = [r for r in bad if r.get("could_not_run")]
    assert norun, "checks that needed ssh on disk02 could not run"
    assert all(r.get("cause") == f"unreachable:{D2}" for r in norun), norun[:3]
    through = [r for r in bad if r.get("through")]
    assert through, "transfers through the head node and disk01's copies to disk02 count for disk02"
    assert {r["through"] for r in through} <= {HEAD, D1}, through
    html = (tmp_path / "report.html").read_text()
    assert f"on 1 of 3 hosts ({D2})" in html, "the verdict names disk02 alone"
    assert f"{D2} unreachable over ssh" in html, "one line for the root cause"
    assert f"{len(norun)} checks could not run" in html, "could-not-run counted apart"
    assert f"root cause: {D2} unreachable over ssh" in run.output, "the terminal says it once"


def test_a_dead_resolver_is_one_site_wide_cause(testbed_site: Testbed, tmp_path: Path) -> None:
    pid = int((testbed_site.state / "dnsmasq.pid").read_text().strip())
    os.kill(pid, signal.SIGKILL)  # the site's only resolver dies
    run = testbed_site.run_suite(tmp_path, "-m", "not transfer", timeout=900)
    assert run.status == 1, run.output[-2000:]
    bad = failures(run.result)
    causes = {r.get("cause") for r in bad}
    loose = [(r["nodeid"], r["message"][:200]) for r in bad if not r.get("cause")]
    assert len(causes) == 1, f"one cause for every failure: {causes}; without: {loose[:4]}"
    cause = causes.pop()
    assert cause is not None, f"failures without a cause: {[r['nodeid'] for r in bad][:5]}"
    assert cause.startswith("resolver:"), cause
    html = (tmp_path / "report.html").read_text()
    assert "root cause: DNS resolver" in html, "the verdict names the resolver"
    assert " hosts (" not in html.split("NOT ACCEPTED", 1)[1].split(".", 1)[0], \
        "and blames no host for it"
    assert run.output.count("root cause: DNS resolver") == 1, "one terminal line for it"

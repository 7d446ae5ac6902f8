"""The Prometheus file served by a real node_exporter (Debian 12's prometheus-node-exporter).

Why a real one: the exposition format has rules a writer can break quietly (a HELP or TYPE line
twice, a timestamp, a badly escaped label value); node_exporter's textfile collector refuses such a
file and says so in ``node_textfile_scrape_error``. The file is made with ``se-dualstack
prometheus`` from result files of real testbed runs (selftests/unit/data/results/), node_exporter
runs with only the textfile collector on a free loopback port, and is always stopped.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from tbrun import PY, ROOT

EXPORTER = shutil.which("prometheus-node-exporter")
RESULTS = ROOT / "selftests" / "unit" / "data" / "results" / "nightly"
pytestmark = pytest.mark.skipif(EXPORTER is None, reason="needs prometheus-node-exporter (make setup)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int, deadline: float = 15.0) -> str:
    """GET /metrics, retried while the exporter starts."""
    end = time.monotonic() + deadline
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                return r.read().decode()
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.2)


def test_node_exporter_serves_the_suites_series(tmp_path: Path) -> None:
    textfiles = tmp_path / "textfile"
    made = subprocess.run([str(PY), "-m", "se_dualstack", "prometheus", "--reports", str(RESULTS),
                           "-o", str(textfiles / "se6.prom")], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert made.returncode == 0, made.stderr
    port = free_port()
    proc = subprocess.Popen([str(EXPORTER), "--collector.disable-defaults", "--collector.textfile",
                             f"--collector.textfile.directory={textfiles}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        metrics = scrape(port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    assert re.search(r"^node_textfile_scrape_error 0$", metrics, re.M), (
        "node_exporter read the file without error", metrics[-2000:])
    # node_exporter orders label names alphabetically
    want = ['se6_check_passing{check="SE6-DNS-04",host="disk02.example.test",site="default"} 0',
            'se6_check_passing{check="SE6-RES-01",host="disk01.example.test",site="default"} 1',
            'se6_checks{concern="dns",host="disk02.example.test",outcome="failed",site="default"} 1',
            'se6_run_exit_category{category="checks-failed",site="default"} 1',
            'se6_run_exit_status{site="default"} 1']
    for line in want:
        assert line in metrics.splitlines(), f"{line} not served"
    assert re.search(r'^se6_transfer_step_latency_seconds\{credential="x509",family="ipv6",protocol="gsiftp",'
                     r'site="default",step="upload"\} [0-9.e-]+$', metrics, re.M), "a latency series"
    assert re.search(r"^se6_run_end_timestamp_seconds\{site=\"default\"\} 1\.79629\d+e\+09$", metrics, re.M)
    assert "# HELP se6_checks Checks of one concern on one host by outcome" in metrics

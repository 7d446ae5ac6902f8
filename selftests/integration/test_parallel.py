"""Many hosts: a pytest-xdist run gives the same outcomes per test as a serial run.

Why: large sites run with ``-n auto --dist loadgroup`` (each host's checks on one worker, one ssh
ControlMaster per host); the certification report must not depend on how the run was spread.
Measured on a 1+32 testbed; the wall times are recorded as test properties (the benchmark
bench/bench_parallel.py produces the README table).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tbrun import Testbed, outcomes, unavailable

from se_dualstack import compare

NAME = "par"  # unique testbed name of this test
DISKS = 32

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))


def test_parallel_run_matches_serial_on_1_plus_32(tmp_path: Path, record_property: pytest.RecordProperty
                                                  ) -> None:
    with Testbed(NAME, disks=DISKS) as tb:
        serial = tb.run_suite(tmp_path / "serial")
        parallel = tb.run_suite(tmp_path / "parallel", "-n", "auto", "--dist", "loadgroup")
    record_property("wall_serial_s", round(serial.seconds, 1))
    record_property("wall_parallel_s", round(parallel.seconds, 1))
    print(f"1+{DISKS} hosts: serial {serial.seconds:.1f} s, -n auto {parallel.seconds:.1f} s "
          f"({parallel.result['xdist_workers']} workers), speed-up {serial.seconds / parallel.seconds:.2f}x")

    assert len(serial.result["hosts"]) == DISKS + 1, f"1+{DISKS} hosts: {len(serial.result['hosts'])}"
    assert parallel.result["xdist_workers"], "the parallel run used xdist workers"
    assert serial.status == parallel.status, f"same exit status: {serial.status} vs {parallel.status}"
    s, p = outcomes(serial.result), outcomes(parallel.result)
    assert s.keys() == p.keys(), f"same tests: only serial {sorted(s.keys() - p.keys())[:10]}, " \
                                 f"only parallel {sorted(p.keys() - s.keys())[:10]}"
    differ = {n: (s[n], p[n]) for n in s if s[n] != p[n]}
    assert not differ, f"outcomes differ between serial and parallel: {differ}"
    comp = compare.compare(serial.result, parallel.result)
    assert (comp.regressions, comp.fixed, comp.changed) == ([], [], []), comp.summary_line()
    assert serial.result["hosts"] == parallel.result["hosts"], "same hosts with role and detected OS"
    per_host = {r["host"] for r in parallel.result["records"] if r["host"]}
    assert len(per_host) == DISKS + 1, f"every host has records: {len(per_host)}"

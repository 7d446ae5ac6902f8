"""Many hosts: xdist and the transfer pool give the same outcomes per test as a serial run.

Why: large sites run with ``-n auto --dist loadgroup`` (each host's checks on one worker, one ssh
ControlMaster per host) and with transfers side by side (``--transfer-concurrency``, on by
default); the certification report must not depend on how the run was spread. "Serial" here is
one test after the other with ``--transfer-concurrency=1``. Measured on a 1+8 testbed (xdist with
the default pool) and a 1+2 testbed (pool alone, pool beside xdist: every test of the suite); the
wall times are recorded as test properties (bench/bench_parallel.py and bench/bench_cost.py produce
the tables of docs/performance.md).

The 1+8 runs leave out the redirect chains (SE6-XFER-03): one probe process per chain, 8 per
disk node, run one after the other in every mode (no transfer pool); with them and a third run
(the pool alone, the 1+2 test's too) a 1+32 site took 15 of make test's 40 minutes, 8 without
them, 4 on 1+16. How xdist spreads the chains is the 1+2 test's ("pool + -n 2"); a 1+32 site's
timings are bench/bench_parallel.py's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tbrun import Run, Testbed, outcomes, tb_name, unavailable

from se_dualstack import compare

NAME = tb_name("par")  # unique testbed name of this test
NAME_POOL = tb_name("parpool")  # and of the transfer pool's test
DISKS = 8
SERIAL = "--transfer-concurrency=1"

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))


def differing(serial: dict[str, Any], other: dict[str, Any]) -> dict[str, str]:
    """Test id -> "serial outcome -> other outcome: other's message", for each test whose outcome
    differs (the message says which transfer hung or failed, and why, when CI shows only this)."""
    before = {r["nodeid"]: r for r in serial["records"]}
    out = {}
    for r in other["records"]:
        b = before.get(r["nodeid"])
        if b is not None and b["outcome"] != r["outcome"]:
            out[r["nodeid"]] = f"{b['outcome']} -> {r['outcome']}: {r['message'] or b['message']}"
    return out


def assert_same_run(label: str, serial: Run, run: Run) -> None:
    """``run`` gave every test the serial run's outcome (a difference named with its message),
    the same exit status, and a result file with no regression, fix or change against it."""
    s, o = outcomes(serial.result), outcomes(run.result)
    assert s.keys() == o.keys(), f"{label}: only serial {sorted(s.keys() - o.keys())[:10]}, " \
                                 f"only {label} {sorted(o.keys() - s.keys())[:10]}"
    differ = differing(serial.result, run.result)
    assert not differ, f"{label}: outcomes differ from the serial run: {differ}"
    assert run.status == serial.status, f"{label}: exit status {run.status}, serial {serial.status}"
    comp = compare.compare(serial.result, run.result)
    assert (comp.regressions, comp.fixed, comp.changed) == ([], [], []), f"{label}: {comp.summary_line()}"


def test_parallel_run_matches_serial_on_1_plus_8(tmp_path: Path, record_property: pytest.RecordProperty
                                                  ) -> None:
    """-n auto (with the default pool shared out over its workers) gives a 1+8 site the serial
    run's outcome for every test (the pool alone: the 1+2 test)."""
    chains = ("-k", "not test_redirect_chain")
    with Testbed(NAME, disks=DISKS) as tb:
        serial = tb.run_suite(tmp_path / "serial", SERIAL, *chains)
        parallel = tb.run_suite(tmp_path / "parallel", "-n", "auto", "--dist", "loadgroup", *chains)
    for label, run in (("serial", serial), ("parallel", parallel)):
        record_property(f"wall_{label}_s", round(run.seconds, 1))
    print(f"1+{DISKS} hosts: serial {serial.seconds:.1f} s, -n auto {parallel.seconds:.1f} s "
          f"({parallel.result['xdist_workers']} workers)")

    assert len(serial.result["hosts"]) == DISKS + 1, f"1+{DISKS} hosts: {len(serial.result['hosts'])}"
    assert parallel.result["xdist_workers"], "the parallel run used xdist workers"
    assert_same_run("-n auto", serial, parallel)
    assert serial.result["hosts"] == parallel.result["hosts"], "-n auto: same hosts, roles and OS"
    per_host = {r["host"] for r in parallel.result["records"] if r["host"]}
    assert len(per_host) == DISKS + 1, f"every host has records: {len(per_host)}"


def test_transfer_pool_matches_serial_on_1_plus_2(tmp_path: Path, record_property: pytest.RecordProperty
                                                 ) -> None:
    """Transfers side by side (alone, and beside two xdist workers): same outcome per test,
    no regression or change in the result files, the same transfers recorded."""
    with Testbed(NAME_POOL, disks=2) as tb:
        serial = tb.run_suite(tmp_path / "serial", SERIAL)
        pool = tb.run_suite(tmp_path / "pool", "--transfer-concurrency=4", "--transfer-per-host=2")
        both = tb.run_suite(tmp_path / "both", "-n", "2", "--dist", "loadgroup",
                            "--transfer-concurrency=4", "--transfer-per-host=2")
    for label, run in (("serial", serial), ("pool", pool), ("pool + -n 2", both)):
        record_property(f"wall_{label}_s", round(run.seconds, 1))
    s = outcomes(serial.result)
    transfers = [n for n in s if "test_transfers.py" in n]
    assert len(transfers) >= 10, f"the 1+2 site runs its transfers: {transfers}"
    for label, run in (("pool", pool), ("pool + -n 2", both)):
        assert_same_run(label, serial, run)

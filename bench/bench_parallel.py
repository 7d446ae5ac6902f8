"""Serial vs pytest-xdist wall time of the suite on testbed sites of 1+2, 1+8 and 1+32 hosts.

Why: large sites have hundreds of disk nodes; this measures what ``-n auto --dist loadgroup``
(each host's checks on one worker, one ssh ControlMaster per host) buys, and checks on the way
that both runs give the same outcome per test.  Prints a markdown table for docs/performance.md.

    .venv/bin/python bench/bench_parallel.py [--sizes 2,8,32] [--workers auto] [--name bp]

Needs root (the testbed); each size brings its own site up and down under ``--name``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "selftests" / "integration"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tbrun import Testbed, outcomes, unavailable


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="2,8,32", help="disk node counts (default 2,8,32)")
    ap.add_argument("--workers", default="auto", help="value of -n for the parallel runs (default auto)")
    ap.add_argument("--name", default="bp", help="testbed name (unique on this machine)")
    ap.add_argument("--select", default="", help="extra pytest args, e.g. \"-m 'not transfer'\"")
    ap.add_argument("--keep", default=None, metavar="DIR",
                    help="keep the result files and reports here (default: a new directory under /tmp)")
    args = ap.parse_args(argv)
    why = unavailable()
    if why:
        print(f"bench_parallel: cannot run: {why}", file=sys.stderr)
        return 2
    extra = shlex.split(args.select)
    rows = []
    keep = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-parallel-"))
    print(f"bench_parallel: result files and reports in {keep}", file=sys.stderr)
    for disks in (int(x) for x in args.sizes.split(",")):
        with Testbed(args.name, disks=disks) as tb:
            base = keep / f"d{disks}"
            serial = tb.run_suite(base / "serial", *extra)
            parallel = tb.run_suite(base / "parallel", "-n", args.workers, "--dist", "loadgroup", *extra)
        so, po = outcomes(serial.result), outcomes(parallel.result)
        same = so == po
        for nodeid in sorted(set(so) | set(po)):
            if so.get(nodeid) != po.get(nodeid):
                print(f"  differs: {nodeid}: serial {so.get(nodeid)}, parallel {po.get(nodeid)}",
                      file=sys.stderr)
        row = (disks, len(serial.result["records"]), serial.seconds, parallel.seconds,
               parallel.result.get("xdist_workers"), same, serial.status, parallel.status)
        rows.append(row)
        print(f"1+{disks}: {row[1]} tests, serial {serial.seconds:.1f} s, "
              f"parallel {parallel.seconds:.1f} s ({row[4]} workers), same outcomes {same}",
              file=sys.stderr, flush=True)
    print(f"\nMachine: {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"wall time of `python -m testbed run -- pytest` from the client host (HTML and JSON "
          f"reports included), `-n {args.workers} --dist loadgroup` for parallel.\n")
    print("| hosts | tests | serial (s) | parallel (s) | workers | speed-up | same outcomes "
          "| exit serial/parallel |")
    print("|---|---|---|---|---|---|---|---|")
    for disks, tests, s, p, w, same, rs, rp in rows:
        print(f"| 1+{disks} | {tests} | {s:.1f} | {p:.1f} | {w} | {s / p:.2f}x | {'yes' if same else 'NO'} | "
              f"{rs}/{rp} |")
    return 0 if all(r[5] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

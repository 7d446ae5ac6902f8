"""Bring-up and teardown times of the testbed for 1+2 and 1+32 hosts, as a markdown table.

Usage (root): .venv/bin/python bench/bench_testbed.py [--runs 3] [--disks 2 32]
                  [--sites default dcache eos xrootd storm]
Each run is the whole CLI (`python -m testbed up` / `down`), wall time, services included.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 300


def timed(args: list[str]) -> float:
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "testbed", *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=TIMEOUT)
    dt = time.monotonic() - t0
    if res.returncode != 0:
        raise SystemExit(f"testbed {' '.join(args)} failed: {res.stderr.strip()}")
    return dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--disks", type=int, nargs="+", default=[2, 32])
    ap.add_argument("--sites", nargs="+", default=["default"],
                    help="site files or names (testbed/sites/<name>.yml), e.g. the storage systems'")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_testbed needs root (it brings real testbeds up)", file=sys.stderr)
        return 2
    name = f"bn{os.getpid() % 100000}"
    rows = []
    try:
        for site in args.sites:
            for disks in args.disks:
                ups, downs = [], []
                for _ in range(args.runs):
                    ups.append(timed(["--name", name, "up", site, "--disks", str(disks)]))
                    downs.append(timed(["--name", name, "down"]))
                rows.append((site, disks, ups, downs))
    finally:
        subprocess.run([sys.executable, "-m", "testbed", "--name", name, "down"], cwd=ROOT,
                       capture_output=True, timeout=TIMEOUT)
    print(f"Testbed bring-up/teardown, wall time of the CLI, {args.runs} runs each, "
          f"{os.cpu_count()} CPUs (median, min-max):\n")
    print("| site | hosts | up (s) | down (s) | target up |")
    print("|---|---|---|---|---|")
    for site, disks, ups, downs in rows:
        target = "< 5 s" if disks <= 2 else "< 30 s" if disks <= 32 else "-"
        up = f"{statistics.median(ups):.2f} ({min(ups):.2f}-{max(ups):.2f})"
        print(f"| {site} | 1+{disks} (+client) | {up} | "
              f"{statistics.median(downs):.2f} ({min(downs):.2f}-{max(downs):.2f}) | {target} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Bring-up and teardown times of the testbed for 1+2 and 1+32 hosts, as a markdown table,
and the time of its test CA alone (``testbed.pki.make_pki``, the step that once dominated ``up``).

Usage (root): .venv/bin/python bench/bench_testbed.py [--runs 3] [--disks 2 32]
                  [--sites default dcache eos xrootd storm]
Each run is the whole CLI (`python -m testbed up` / `down`), wall time, services included;
``make_pki`` runs in a scratch directory on a synthetic site of the same size (no root needed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TIMEOUT = 300


def pki_site(disks: int) -> dict:
    """A synthetic 1+N site dict as the core engine hands it to make_pki."""
    hosts = [{"short": "head", "fqdn": "head.t.test", "role": "headnode", "os": "el7",
              "ipv4": "10.99.0.10", "ipv6": "fd99::10", "faults": []}]
    hosts += [{"short": f"d{i}", "fqdn": f"d{i}.t.test", "role": "disknode", "os": "el7",
               "ipv4": f"10.99.0.{10 + i}", "ipv6": f"fd99::{10 + i}", "faults": []}
              for i in range(1, disks + 1)]
    return {"domain": "t.test", "hosts": hosts, "gridftp_data_range": "20000-25000"}


def pki_times(disks: int, runs: int) -> list[float]:
    """Wall seconds of make_pki for a 1+N site, each run in a fresh directory."""
    from testbed import pki

    out = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="bench-pki-") as d:
            t0 = time.monotonic()
            pki.make_pki(Path(d), pki_site(disks))
            out.append(time.monotonic() - t0)
    return out


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
    pki_rows = [(disks, pki_times(disks, args.runs)) for disks in args.disks]
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
    print("\nThe test CA alone (make_pki), wall time (median, min-max):\n")
    print("| hosts | make_pki (s) | target |")
    print("|---|---|---|")
    for disks, times in pki_rows:
        print(f"| 1+{disks} | {statistics.median(times):.2f} ({min(times):.2f}-{max(times):.2f}) | < 10 s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Host checks with a site's own inventory against the testbed's ssh_config (issue 19's 1.5x).

Why: a site's inventory names a key and a known_hosts file and nothing else about ssh; Ansible
then shares one connection per host (its default ssh_args and a ControlPath it adds). The suite
must do the same, or every command pays an ssh handshake (the issue measured 43.5 s against
5.0 s). Three ways of running the same host checks (``-m "not transfer"``) on one testbed site,
interleaved, as the client host:

- site inventory: the README's command, ``pytest --inventory HOSTS``, HOSTS an INI inventory in
  Ansible's example layout with group_vars/ (tbrun.site_inventory), no ssh settings but a key and
  known_hosts;
- ssh_config: the testbed's own inventory with ``--ssh-config`` (ControlMaster/ControlPath set
  there), how the README's other figures were measured;
- no sharing: the site inventory with ``ANSIBLE_SSH_ARGS=`` (no ControlPersist asked for, so no
  ControlPath): what the suite did before, for reference.

    .venv/bin/python bench/bench_site_ssh.py [--reps 3] [--disks 2] [--name bss]

Prints a markdown table (median and range of each mode's pytest-reported and process wall time)
and the ratio site inventory / ssh_config. Needs root (the testbed).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "selftests" / "integration"))

from tbrun import PY, Testbed, site_inventory, unavailable

SELECT = ["-m", "not transfer"]


def one_run(tb: Testbed, mode: str, hosts: Path, out: Path) -> tuple[float, float]:
    """(pytest's own seconds, the process's wall seconds) of one host-check run."""
    common = [str(PY), "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--results-dir={out}",
              f"--html={out / 'report.html'}", *SELECT]
    if mode == "ssh_config":
        cmd = ["env", f"PYTEST_ADDOPTS=--inventory={tb.state}/inventory.yml "
                      f"--ssh-config={tb.state}/ssh_config", *common]
    else:
        extra = ["ANSIBLE_SSH_ARGS="] if mode == "no sharing" else []
        cmd = ["env", "-u", "PYTEST_ADDOPTS", *extra, *common, "--inventory", str(hosts)]
    t0 = time.monotonic()
    res = tb._tb("run", "--", *cmd, timeout=1800)
    wall = time.monotonic() - t0
    tail = (res.stdout + res.stderr).strip().splitlines()[-1] if (res.stdout + res.stderr).strip() else ""
    m = re.search(r" in ([\d.]+)s", tail)
    if res.returncode != 0 or not m:
        raise RuntimeError(f"{mode}: exit {res.returncode}: {(res.stdout + res.stderr)[-2000:]}")
    return float(m.group(1)), wall


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3, help="runs per mode, interleaved (default 3)")
    ap.add_argument("--disks", type=int, default=2, help="disk nodes of the site (default 2)")
    ap.add_argument("--name", default="bss", help="testbed name (unique on this machine)")
    args = ap.parse_args(argv)
    why = unavailable()
    if why:
        print(f"bench_site_ssh: cannot run: {why}", file=sys.stderr)
        return 2
    modes = ["site inventory", "ssh_config", "no sharing"]
    figures: dict[str, list[tuple[float, float]]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory(prefix="bench-site-ssh-") as tmp, \
            Testbed(args.name, disks=args.disks) as tb:
        hosts = site_inventory(tb.state, Path(tmp) / "inventory")
        for m in modes[:2]:  # warm-up: byte-compiled code, the servers' first logins
            one_run(tb, m, hosts, Path(tmp) / "warm")
        for rep in range(args.reps):
            for m in modes:
                figures[m].append(one_run(tb, m, hosts, Path(tmp) / f"{m.replace(' ', '-')}-{rep}"))
    load = os.getloadavg()[0]
    print(f"\nhost checks (-m 'not transfer') on 1+{args.disks}, {args.reps} runs per mode, "
          f"load average {load:.1f}\n")
    print("| mode | pytest (s), median (min-max) | process wall (s), median (min-max) |")
    print("|---|---|---|")
    med = {}
    for m in modes:
        py = [f[0] for f in figures[m]]
        wall = [f[1] for f in figures[m]]
        med[m] = statistics.median(py)
        print(f"| {m} | {med[m]:.2f} ({min(py):.2f}-{max(py):.2f}) | "
              f"{statistics.median(wall):.2f} ({min(wall):.2f}-{max(wall):.2f}) |")
    ratio = med["site inventory"] / med["ssh_config"]
    print(f"\nsite inventory / ssh_config: {ratio:.2f}x (target at most 1.5x); "
          f"no sharing / ssh_config: {med['no sharing'] / med['ssh_config']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

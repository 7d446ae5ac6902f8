"""Benchmark: what the suite costs per transfer and per host check, beside the servers and waiting.

Why: a site with 200 disk nodes needs the suite's own cost, apart from the testbed's servers that
share this machine's two cores (at a site they run on machines of their own). Three parts:

1. **Per copy, side by side** (inside the client host, one run): the suite's warm worker doing
   one upload step (ADLER32 at both ends; CPU = the worker's process time + the parent thread's)
   next to ``gfal-copy`` doing the same copy with the same forcing (the command the report prints;
   CPU = its whole process tree from ``getrusage(RUSAGE_CHILDREN)``, after an untimed warm-up run).
   Then the suite's whole round trip, step by step: wall, worker CPU, parent CPU, and the rest,
   which is waiting (servers, network, redirector, handshakes).
2. **Whole runs** per site size (1+2, 1+8 by default): serial, ``-n auto --dist loadgroup``, the
   transfer pool (``--transfer-concurrency``), transfers only and host checks only. CPU of the
   suite = the run's process tree (``RUSAGE_CHILDREN`` of this process) plus what ran on in the
   client host's namespace (ssh ControlMasters); CPU of the servers = every other host namespace
   of the site (``/proc/<pid>/stat`` utime+stime+cutime+cstime, grouped by network namespace).
3. **A projection** for a 1+200 site whose servers run elsewhere, with its assumptions.

Usage (root; brings its testbed up and down)::

    .venv/bin/python bench/bench_cost.py [--sizes 2,8] [--name tx1] [--reps 5] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "selftests" / "integration"))

from se_dualstack.transfer.cases import Endpoint, TransferCase, TransferSettings  # noqa: E402
from se_dualstack.transfer.commands import gfal_copy_command  # noqa: E402
from se_dualstack.transfer.files import make_random_file  # noqa: E402
from se_dualstack.transfer.outcome import Step, TransferResult  # noqa: E402
from se_dualstack.transfer.shim import build_shim  # noqa: E402
from se_dualstack.transfer.steps import StepRunner, call, run_transfer  # noqa: E402
from se_dualstack.transfer.worker import WorkerPool  # noqa: E402

TIMEOUT = 120  # seconds: every copy, command and worker call
TICK = os.sysconf("SC_CLK_TCK")
DISK = "disk01.example.test"
TDIR = "/store/disk01/se6test"
# The suite's own routes to disk01: root and davs through the head node (redirected), gsiftp direct.
ROUTES = {"root": ("head.example.test", 1094), "gsiftp": (DISK, 2811), "davs": ("head.example.test", 443)}


def children_cpu() -> float:
    """CPU seconds of every waited-for descendant of this process so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


# --------------------------------------------------------------------------- 1. inside the client


def _case(proto: str) -> TransferCase:
    host, port = ROUTES[proto]
    return TransferCase(proto, 6, host, DISK, Endpoint(proto, host, port, TDIR))


def _shell(cmd: str) -> tuple[float, float]:
    """Run a pasted command line; (wall, CPU of its process tree)."""
    c0, t0 = children_cpu(), time.monotonic()
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=TIMEOUT)
    wall, cpu = time.monotonic() - t0, children_cpu() - c0
    if r.returncode != 0:
        raise RuntimeError(f"{cmd[:120]}... exited {r.returncode}: {(r.stderr or r.stdout).strip()[-300:]}")
    return wall, cpu


def inner(reps: int) -> None:
    """Per-copy CPU, suite vs gfal-copy, and the round trip step by step (printed as markdown)."""
    shim, why = build_shim()
    settings = TransferSettings.from_vars({}, timeout=TIMEOUT)
    work = Path(tempfile.mkdtemp(prefix="se6cost-"))
    pool = WorkerPool(settings, shim)
    w = pool.get(6)
    local = work / "copy.dat"
    adler = make_random_file(local, settings.size)
    copies: dict[tuple[str, str], list[tuple[float, float]]] = {}
    steps: dict[tuple[str, str], list[Step]] = {}
    n = iter(range(10**9))

    def rm(url: str) -> None:
        ans, _ = w.call({"op": "unlink", "url": url}, TIMEOUT)
        if not ans.get("ok"):
            raise RuntimeError(f"cleanup of {url}: {ans.get('error')}")

    def suite_copy(proto: str) -> tuple[float, float]:
        url = _case(proto).endpoint.url(f"cost-{proto}-{next(n)}.dat")
        res = TransferResult("bench", proto, 6, settings.size)

        def upload(step: Step) -> None:  # exactly RoundTrip.upload's request
            call(w, res, step, {"op": "copy", "src": f"file://{local}", "dst": url, "checksum": adler,
                                "checksum_mode": "both", "timeout": TIMEOUT}, TIMEOUT)

        step = StepRunner(res).run("upload", upload)
        if not step.ok:
            raise RuntimeError(f"suite {proto} upload: {step.error}")
        rm(url)
        return step.wall, step.cpu_worker + step.cpu_parent

    crashes: list[str] = []

    def tool_copy(proto: str) -> tuple[float, float]:
        """gfal-copy once; a run that aborts (gfal2 2.21's gfal-copy has been seen to die with
        "double free or corruption" on exit) is noted and repeated, never counted."""
        for _ in range(3):
            url = _case(proto).endpoint.url(f"cost-{proto}-{next(n)}.dat")
            try:
                out = _shell(gfal_copy_command(f"file://{local}", url, proto, 6, TIMEOUT, shim))
            except RuntimeError as exc:
                crashes.append(f"{proto}: {str(exc)[-120:]}")
                with contextlib.suppress(RuntimeError):
                    rm(url)
                continue
            rm(url)
            return out
        raise RuntimeError(f"gfal-copy {proto} failed three times: {crashes[-3:]}")

    def round_trip(proto: str) -> None:
        r = run_transfer(_case(proto), pool, settings, work, shim)
        if not r.ok:
            raise RuntimeError(f"suite {proto} round trip: {r.error_summary()}")
        for s in r.steps:
            steps.setdefault((proto, s.name), []).append(s)

    try:
        for proto in ROUTES:  # warm-up, not counted: first connection, page cache of gfal-copy
            suite_copy(proto)
            tool_copy(proto)
            round_trip(proto)
        for _ in range(reps):
            for proto in ROUTES:
                copies.setdefault((proto, "suite"), []).append(suite_copy(proto))
                copies.setdefault((proto, "gfal-copy"), []).append(tool_copy(proto))
                round_trip(proto)
    finally:
        pool.close()
        local.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            work.rmdir()
    print(f"### Per copy: the suite's warm worker vs gfal-copy, {settings.size} bytes, IPv6, "
          f"ADLER32 at both ends, median of {reps} (shim: {shim or why})\n")
    print("| protocol | suite wall (s) | suite CPU (s) | gfal-copy wall (s) | gfal-copy CPU (s) "
          "| CPU suite / gfal-copy |")
    print("|---|---|---|---|---|---|")
    for proto in ROUTES:
        s, g = copies[(proto, "suite")], copies[(proto, "gfal-copy")]
        sc, gc = med([c for _, c in s]), med([c for _, c in g])
        print(f"| {proto} | {med([x for x, _ in s]):.3f} | {sc:.3f} | {med([x for x, _ in g]):.3f} "
              f"| {gc:.3f} | {sc / gc:.2f}x |")
    if crashes:
        print(f"\ngfal-copy runs that failed and were repeated: {len(crashes)} ({crashes[0]})")
    print(f"\n### The suite's round trip step by step (median of {reps}; waiting = wall - CPU)\n")
    print("| protocol | step | wall (s) | worker CPU (s) | parent CPU (s) | waiting (s) |")
    print("|---|---|---|---|---|---|")
    for proto in ROUTES:
        tot = [0.0, 0.0, 0.0]
        for (p, name), ss in steps.items():
            if p != proto:
                continue
            wall, wc, pc = med([s.wall for s in ss]), med([s.cpu_worker for s in ss]), med(
                [s.cpu_parent for s in ss])
            tot = [tot[0] + wall, tot[1] + wc, tot[2] + pc]
            print(f"| {proto} | {name} | {wall:.3f} | {wc:.3f} | {pc:.3f} | {max(0.0, wall - wc - pc):.3f} |")
        print(f"| {proto} | **round trip** | {tot[0]:.3f} | {tot[1]:.3f} | {tot[2]:.3f} "
              f"| {max(0.0, tot[0] - tot[1] - tot[2]):.3f} |")


# --------------------------------------------------------------------------- 2. whole runs


def netns_inodes(name: str) -> dict[int, str]:
    """Inode of each network namespace of testbed ``name`` -> its host ("site" for the bridge)."""
    out = {}
    for p in Path("/run/netns").glob(f"{name}-*"):
        try:
            out[os.stat(p).st_ino] = p.name[len(name) + 1:]
        except OSError:
            continue
    return out


def ns_cpu(name: str) -> dict[str, float]:
    """CPU seconds so far per host namespace: every process in it, with its reaped children."""
    inodes = netns_inodes(name)
    out: dict[str, float] = dict.fromkeys(inodes.values(), 0.0)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            host = inodes.get(os.stat(f"/proc/{pid}/ns/net").st_ino)
            if host is None:
                continue
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        f = stat.rsplit(")", 1)[1].split()  # after "(comm)": state is f[0], utime f[11] ...
        out[host] += sum(int(x) for x in f[11:15]) / TICK
    return out


def measured(name: str, fn: Callable[[], Any]) -> tuple[Any, float, float, float]:
    """Run ``fn``; (its value, wall, the suite's CPU, the servers' CPU)."""
    ns0, c0, t0 = ns_cpu(name), children_cpu(), time.monotonic()
    value = fn()
    wall, c1, ns1 = time.monotonic() - t0, children_cpu(), ns_cpu(name)
    delta = {h: ns1.get(h, 0.0) - ns0.get(h, 0.0) for h in ns1}
    suite = c1 - c0 + delta.pop("client", 0.0)
    return value, wall, suite, sum(delta.values())


MODES: list[tuple[str, list[str]]] = [
    ("serial", ["--transfer-concurrency=1"]),
    ("-n auto", ["-n", "auto", "--dist", "loadgroup", "--transfer-concurrency=1"]),
    ("pool", ["--transfer-concurrency={c}", "--transfer-per-host={h}"]),
    # --transfer-concurrency is the run's total, shared out over the xdist workers: {cw} gives
    # each of them a pool of {c}.
    ("pool + -n auto", ["-n", "auto", "--dist", "loadgroup", "--transfer-concurrency={cw}",
                        "--transfer-per-host={h}"]),
    ("transfers only, serial", ["-m", "transfer", "--transfer-concurrency=1"]),
    ("transfers only, pool", ["-m", "transfer", "--transfer-concurrency={c}", "--transfer-per-host={h}"]),
    ("host checks only, serial", ["-m", "not transfer"]),
    # The whole acceptance as a site runs it today: host checks, X.509 and token transfers and
    # every third-party copy (the testbed's valid WLCG token; issue 9's 30 s budget on 1+2).
    ("with tokens, serial", ["--transfer-concurrency=1", "--bearer-token-file={tok}"]),
    ("with tokens, pool + -n auto", ["-n", "auto", "--dist", "loadgroup", "--transfer-concurrency={cw}",
                                     "--transfer-per-host={h}", "--bearer-token-file={tok}"]),
]


def whole_runs(args: argparse.Namespace) -> int:
    from tbrun import Testbed, outcomes, unavailable

    why = unavailable()
    if why:
        print(f"bench_cost: cannot run: {why}", file=sys.stderr)
        return 2
    keep = Path(tempfile.mkdtemp(prefix="bench-cost-"))
    print(f"bench_cost: result files and reports in {keep}", file=sys.stderr)
    rows: list[dict[str, Any]] = []
    ok = True
    for i, disks in enumerate(int(x) for x in args.sizes.split(",")):
        with Testbed(args.name, disks=disks) as tb:
            if i == 0 and args.reps > 0:
                py = str(ROOT / ".venv" / "bin" / "python")
                r = subprocess.run([py, "-m", "testbed", "--name", args.name, "run", "--", py,
                                    str(Path(__file__).resolve()), "--inner", "--reps", str(args.reps)],
                                   cwd=ROOT, capture_output=True, text=True, timeout=3600)
                print(r.stdout)
                if r.returncode != 0:
                    print(f"bench_cost: per-copy part failed: {r.stderr[-2000:]}", file=sys.stderr)
                    ok = False
            base: dict[str, str] | None = None
            for mode, opts in MODES:
                if args.modes and mode not in args.modes.split(";"):
                    continue
                extra = [o.format(c=args.concurrency, h=args.per_host,
                                  cw=args.concurrency * (os.cpu_count() or 1),
                                  tok=tb.state / "tokens" / "valid.jwt") for o in opts]
                run, wall, suite, servers = measured(
                    args.name, lambda extra=extra, mode=mode, disks=disks: tb.run_suite(
                        keep / f"d{disks}" / mode.replace(" ", "_").replace("+", "and"), *extra))
                got = outcomes(run.result)
                tests = len(got)
                transfers = sum("test_transfers.py" in k for k in got)
                same = ""
                if mode in ("serial", "-n auto", "pool", "pool + -n auto"):
                    base = base or got
                    same = "yes" if got == base else "NO"
                    ok = ok and got == base
                    for k in sorted(set(base) | set(got)):
                        if base.get(k) != got.get(k):
                            print(f"  1+{disks} {mode}: {k}: serial {base.get(k)}, here {got.get(k)}",
                                  file=sys.stderr)
                rows.append({"disks": disks, "mode": mode, "tests": tests, "transfers": transfers,
                             "wall": wall, "suite": suite, "servers": servers, "same": same,
                             "status": run.status})
                print(f"1+{disks} {mode}: {tests} tests, {wall:.1f} s, suite CPU {suite:.1f} s, "
                      f"servers CPU {servers:.1f} s, same {same or '-'}", file=sys.stderr, flush=True)
    report(rows, args)
    return 0 if ok else 1


def report(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(f"\n### Whole runs ({os.cpu_count()} CPUs shared with the testbed's servers; pool = "
          f"--transfer-concurrency {args.concurrency} --transfer-per-host {args.per_host}; beside -n auto "
          f"a pool of {args.concurrency} per xdist worker)\n")
    print("| site | mode | tests | wall (s) | suite CPU (s) | servers CPU (s) | same outcomes as serial |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| 1+{r['disks']} | {r['mode']} | {r['tests']} | {r['wall']:.1f} | {r['suite']:.1f} "
              f"| {r['servers']:.1f} | {r['same'] or '-'} |")
    per: dict[int, dict[str, float]] = {}
    print("\n### Cost per test (serial runs of one kind; start-up of pytest included)\n")
    print("| site | per transfer test: suite CPU (s) | servers CPU (s) | wall (s) "
          "| per host check: suite CPU (s) | servers CPU (s) | wall (s) |")
    print("|---|---|---|---|---|---|---|")
    for disks in sorted({r["disks"] for r in rows}):
        t = next((r for r in rows if r["disks"] == disks and r["mode"] == "transfers only, serial"), None)
        c = next((r for r in rows if r["disks"] == disks and r["mode"] == "host checks only, serial"), None)
        if t is None or c is None:
            continue
        nt, nc = max(1, t["tests"]), max(1, c["tests"])
        per[disks] = {"t_cpu": t["suite"] / nt, "t_srv": t["servers"] / nt, "t_wall": t["wall"] / nt,
                      "c_cpu": c["suite"] / nc, "c_srv": c["servers"] / nc, "c_wall": c["wall"] / nc,
                      "nt": nt, "nc": nc}
        p = per[disks]
        print(f"| 1+{disks} | {p['t_cpu']:.3f} | {p['t_srv']:.3f} | {p['t_wall']:.2f} | {p['c_cpu']:.3f} "
              f"| {p['c_srv']:.3f} | {p['c_wall']:.3f} |")
    sizes = sorted(per)
    if len(sizes) < 2:
        return
    a, b = per[sizes[0]], per[sizes[-1]]
    span = sizes[-1] - sizes[0]
    t_per_disk = (b["nt"] - a["nt"]) / span
    c_per_disk = (b["nc"] - a["nc"]) / span
    nt = b["nt"] + t_per_disk * (200 - sizes[-1])
    nc = b["nc"] + c_per_disk * (200 - sizes[-1])
    cpu = nt * b["t_cpu"] + nc * b["c_cpu"]
    cores = os.cpu_count() or 1
    serial = nt * b["t_wall"] + nc * b["c_wall"]
    conc = args.concurrency
    pooled = max(cpu / cores, nt * b["t_wall"] / conc + nc * b["c_wall"] / cores)
    print(f"\n### Projection: 1+200, servers on their own machines, this client ({cores} CPUs)\n")
    print(f"- tests: {nt:.0f} transfers ({t_per_disk:.1f} per disk node) and {nc:.0f} host checks "
          f"({c_per_disk:.1f} per disk node), extrapolated linearly from 1+{sizes[0]} and 1+{sizes[-1]}")
    print(f"- the suite's CPU: {nt:.0f} x {b['t_cpu']:.3f} s + {nc:.0f} x {b['c_cpu']:.3f} s = {cpu:.0f} s "
          f"(per-test costs of 1+{sizes[-1]}): at least {cpu / cores:.0f} s of wall on {cores} CPUs")
    print(f"- serial: {nt:.0f} x {b['t_wall']:.2f} s + {nc:.0f} x {b['c_wall']:.3f} s = {serial:.0f} s "
          "(per-test wall of the serial runs, the servers' CPU then being their own machines' latency)")
    print(f"- pool of {conc} beside -n {cores}: about {pooled:.0f} s, the larger of the CPU bound and "
          f"transfers {conc} at a time with host checks over {cores} workers")
    print("- assumptions: servers answer at least as fast as here, on their own CPUs; per-test costs "
          "stay flat with site size; ssh and DNS latency as on the testbed; a per-host limit of "
          f"{args.per_host} never binds with 200 hosts")


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--sizes", default="2,8", help="disk node counts (default 2,8; 32 is heavy on 2 cores)")
    ap.add_argument("--name", default="bcost", help="testbed name (brought up and down here)")
    ap.add_argument("--reps", type=int, default=5, help="per-copy repetitions (0: skip part 1)")
    ap.add_argument("--concurrency", type=int, default=2, help="--transfer-concurrency of the pool rows")
    ap.add_argument("--per-host", type=int, default=2, help="--transfer-per-host of the pool rows")
    ap.add_argument("--modes", default="", help="only these rows, ';'-separated (e.g. 'serial;pool')")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.inner:
        inner(a.reps)
        return 0
    return whole_runs(a)


if __name__ == "__main__":
    sys.exit(main())

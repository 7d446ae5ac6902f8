"""Benchmark: the suite's gfal2 upload vs the raw tools doing the same copy, on the testbed.

One run: brings up a testbed site (``--name``, default ``xfbench``), runs itself inside the
client host (``--inner``), uploads 1 MiB and 100 MiB files over IPv6 to a disk node (root and
davs through the head node, gsiftp directly, as the suite does) and prints a markdown table:

* raw tool: ``xrdcp`` (XRD_NETWORKSTACK=IPv6), ``globus-url-copy -ipv6``, ``curl -6`` with the
  proxy as ``--cert/--key`` and ``--capath``; whole process wall time;
* suite: the parent-measured time of one upload step in a warm gfal2 worker (the suite reuses
  one worker per family), with the suite's checksum mode; plus variants that locate the
  overhead: no checksum, checksum ``both`` (gfal2 re-reads the local file), and cold (a new
  worker process + gfal2 context per copy).

Median of ``--reps`` runs. Usage: ``.venv/bin/python bench/bench_transfers.py [--reps 3]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from se_dualstack import transfer as tx  # noqa: E402 - after the path set-up above

SIZES = {"1 MiB": 1 << 20, "100 MiB": 100 << 20}
TIMEOUT = 300


def _urls(disk: str, name: str) -> dict[str, str]:
    d = f"/store/{disk.split('.')[0]}/se6test"
    return {
        "root": f"root://head.example.test:1094/{d}/{name}",
        "davs": f"davs://head.example.test:443{d}/{name}",
        "gsiftp": f"gsiftp://{disk}:2811{d}/{name}",
    }


def raw_cmd(proto: str, local: str, url: str, proxy: str, capath: str) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    if proto == "root":
        env["XRD_NETWORKSTACK"] = "IPv6"
        return ["xrdcp", "-f", "-s", local, url], env
    if proto == "gsiftp":
        return ["globus-url-copy", "-ipv6", f"file://{local}", url], env
    https = "https://" + url.split("://", 1)[1]
    return ["curl", "-6", "-sS", "-f", "-L", "--cert", proxy, "--key", proxy, "--capath", capath,
            "-T", local, "-o", "/dev/null", https], env


def timed(fn: Callable[[], object], reps: int) -> float:
    out = []
    for _ in range(reps):
        t0 = time.monotonic()
        fn()
        out.append(time.monotonic() - t0)
    return statistics.median(out)


def inner(reps: int) -> None:
    proxy = os.environ["X509_USER_PROXY"]
    capath = os.environ["X509_CERT_DIR"]
    shim, why = tx.build_shim()
    settings = tx.TransferSettings.from_vars({}, timeout=TIMEOUT)
    work = Path(tempfile.mkdtemp(prefix="se6bench-"))
    pool = tx.WorkerPool(settings, shim)
    rows = []
    try:
        w = pool.get(6)
        for label, size in SIZES.items():
            local = work / f"bench-{size}.dat"
            adler = tx.make_random_file(local, size)
            for proto in ("root", "gsiftp", "davs"):
                seq = iter(range(10**6))

                def url(proto: str = proto, size: int = size, seq: object = seq) -> str:
                    n = next(seq)  # type: ignore[call-overload]
                    return _urls("disk01.example.test", f"bench-{proto}-{size}-{n}.dat")[proto]

                def cleanup(u: str, proto: str = proto) -> None:
                    w.call({"op": "unlink", "url": u}, TIMEOUT)

                def suite(mode: str | None, cold: bool = False, proto: str = proto, local: Path = local,
                          adler: str = adler) -> None:
                    u = url(proto)
                    worker = w
                    if cold:
                        worker = tx.WorkerProcess(6, settings, shim)
                    req = {"op": "copy", "src": f"file://{local}", "dst": u, "timeout": TIMEOUT}
                    if mode:
                        req.update(checksum=adler, checksum_mode=mode)
                    ans, _ = worker.call(req, TIMEOUT)
                    if cold:
                        worker.close()
                    if not ans.get("ok"):
                        raise RuntimeError(f"{proto} {mode}: {ans.get('error')}")
                    cleanup(u)

                def raw(proto: str = proto, local: Path = local) -> None:
                    u = url(proto)
                    cmd, env = raw_cmd(proto, str(local), u, proxy, capath)
                    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
                    if r.returncode != 0:
                        raise RuntimeError(f"{cmd[0]}: {r.stderr.strip()[:300]}")
                    cleanup(u)

                suite("both")  # warm the worker's session to this endpoint
                t_raw = timed(raw, reps)
                t_suite = timed(lambda: suite("both"), reps)
                t_none = timed(lambda: suite(None), reps)
                t_target = timed(lambda: suite("target"), reps)
                t_cold = timed(lambda: suite("both", cold=True), reps)
                rows.append((label, proto, raw_cmd(proto, "", "x://y", "", "")[0][0], t_raw, t_suite,
                             t_none, t_target, t_cold))
            local.unlink()
    finally:
        pool.close()
    print(f"family shim: {shim or why}; median of {reps}; upload over IPv6 to disk01 "
          "(root/davs through the head node)\n")
    print("| size | protocol | raw tool | raw s | suite s (warm worker, ADLER32 both) | ratio "
          "| cold worker s | cold ratio | no checksum s | checksum target only s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, proto, tool, t_raw, t_suite, t_none, t_target, t_cold in rows:
        print(f"| {label} | {proto} | {tool} | {t_raw:.3f} | {t_suite:.3f} | {t_suite / t_raw:.2f}x "
              f"| {t_cold:.3f} | {t_cold / t_raw:.2f}x | {t_none:.3f} | {t_target:.3f} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", default="xfbench", help="testbed name (brought up and down here)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--keep", action="store_true", help="use an already running testbed, leave it up")
    a = ap.parse_args()
    if a.inner:
        inner(a.reps)
        return 0
    py = str(ROOT / ".venv" / "bin" / "python")
    tb = [py, "-m", "testbed", "--name", a.name]
    if not a.keep:
        subprocess.run([*tb, "up"], cwd=ROOT, check=True, timeout=300, capture_output=True)
    try:
        r = subprocess.run([*tb, "run", "--", py, str(Path(__file__).resolve()), "--inner", "--reps",
                            str(a.reps)], cwd=ROOT, timeout=3600)
        return r.returncode
    finally:
        if not a.keep:
            subprocess.run([*tb, "down"], cwd=ROOT, timeout=300, capture_output=True)


if __name__ == "__main__":
    raise SystemExit(main())

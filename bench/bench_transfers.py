"""Benchmark: the suite's gfal2 upload vs the raw tools doing the same copy, on the testbed.

Why: issue 4 asks the suite's transfer to stay within 1.5x of the raw tool doing *the same copy*.
The suite verifies ADLER32 at both ends (local file and SE), so the like-for-like raw rows do
that work too; the plain raw rows (no verification) stay next to them for reference:

* root:   ``xrdcp`` plain | ``xrdcp --cksum adler32`` (local ADLER32 vs the server's)
* gsiftp: ``globus-url-copy -ipv6`` plain | ``xrdadler32`` (local) + ``globus-url-copy``; the server
  end is not queried (``-verify-checksum`` cannot do ADLER32 for a local file and no raw CKSM
  client is installed), so this row does less work than the suite: a conservative ratio
* davs:   ``curl -6 -T`` plain | ``xrdadler32`` (local) + ``curl -T`` + ``curl -I -H 'Want-Digest:
  adler32'`` (the server's), compared
* suite:  one upload step as :func:`se_dualstack.transfer.steps.run_transfer` does it (ADLER32 both,
  warm worker: the suite keeps one worker per family), timed by the parent; plus a cold worker
  (a new process + gfal2 context per copy), and diagnostics: no checksum, and (davs) the worker
  with the default CA bundle preloaded (``SE6_KEEP_CA_BUNDLE=1``, the behaviour before the fix).

Raw rows are whole-process wall times (start-up and authentication included, as a user running
the tool pays them). The warm suite row pays neither after its first copy (the worker and its
sessions live for the whole pytest session), which favours it; the cold row pays both (Python,
gfal2 context, authentication), which disfavours it: the suite's real cost lies in between.
Uploads go over IPv6 to disk01 (root/davs through the head node, gsiftp directly, as the suite
does). Repetitions are interleaved round-robin so drift hits every row.

Usage (brings the testbed up and down)::

    .venv/bin/python bench/bench_transfers.py --name bench --reps 5
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from se_dualstack.transfer.cases import TransferSettings  # noqa: E402 - after the path set-up above
from se_dualstack.transfer.files import make_random_file  # noqa: E402 - after the path set-up above
from se_dualstack.transfer.shim import build_shim  # noqa: E402 - after the path set-up above
from se_dualstack.transfer.worker import WorkerPool, WorkerProcess  # noqa: E402 - after the path set-up above

SIZES = {"1 MiB": 1 << 20, "100 MiB": 100 << 20}
PROTOCOLS = ("root", "gsiftp", "davs")
DISK = "disk01.example.test"
TIMEOUT = 300  # seconds, every copy / command / worker call
TESTBED_TIMEOUT = 300


def _urls(name: str) -> dict[str, str]:
    """Upload URLs of one file name per protocol, as the suite builds them for disk01."""
    d = f"/store/{DISK.split('.')[0]}/se6test"
    return {
        "root": f"root://head.example.test:1094/{d}/{name}",
        "davs": f"davs://head.example.test:443{d}/{name}",
        "gsiftp": f"gsiftp://{DISK}:2811{d}/{name}",
    }


def _run(cmd: list[str], env: dict[str, str] | None = None) -> str:
    """Run one raw-tool command with a hard timeout; its stdout, or an error naming the tool."""
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    if r.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {r.returncode}: {(r.stderr or r.stdout).strip()[:300]}")
    return r.stdout


def raw_copy(proto: str, local: str, url: str, adler: str, verify: bool) -> None:
    """The raw tool's upload; with ``verify`` the same ADLER32 work the suite does."""
    proxy, capath = os.environ["X509_USER_PROXY"], os.environ["X509_CERT_DIR"]
    if proto == "root":  # xrdcp --cksum adler32: computes the local end and compares the server's
        env = {**os.environ, "XRD_NETWORKSTACK": "IPv6"}
        _run(["xrdcp", "-f", "-s", *(["--cksum", "adler32"] if verify else []), local, url], env)
        return
    if verify:  # the local end: curl and globus-url-copy cannot checksum ADLER32 themselves
        local_sum = _run(["xrdadler32", local]).split()[0]
        if local_sum.lstrip("0") != adler.lstrip("0"):
            raise RuntimeError(f"xrdadler32 {local_sum} != {adler}")
    if proto == "gsiftp":
        # globus-url-copy -verify-checksum computes the local end with OpenSSL digests only ("Unable
        # to use checksum algorithm adler32") and no raw client here sends GridFTP's CKSM, so the
        # server end is NOT queried: this row does less work than the suite (conservative).
        _run(["globus-url-copy", "-ipv6", f"file://{local}", url])
        return
    https = "https://" + url.split("://", 1)[1]
    curl = ["curl", "-6", "-sS", "-f", "-L", "--max-time", str(TIMEOUT), "--cert", proxy, "--key", proxy,
            "--capath", capath]
    _run([*curl, "-T", local, "-o", "/dev/null", https])
    if verify:
        head = _run([*curl, "-I", "-H", "Want-Digest: adler32", https])
        m = re.findall(r"(?im)^digest:\s*adler32=([0-9a-f]+)", head)
        if not m or m[-1].lstrip("0") != adler.lstrip("0"):
            raise RuntimeError(f"server ADLER32 {m} != {adler}")


@contextlib.contextmanager
def env_var(key: str, value: str) -> Iterator[None]:
    """Temporarily set one environment variable (a worker copies os.environ when it starts)."""
    old = os.environ.get(key)
    os.environ[key] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


@dataclass
class Row:
    """One benchmarked variant of one (size, protocol)."""

    size: str
    proto: str
    tool: str
    checks: str  # "ADLER32" (the suite's verification) or "none"
    raw: bool
    run: Callable[[], float]  # one measured copy, seconds
    times: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def inner(reps: int) -> None:
    """Runs inside the testbed's client host: measure every row, print the table."""
    shim, why = build_shim()
    settings = TransferSettings.from_vars({}, timeout=TIMEOUT)
    work = Path(tempfile.mkdtemp(prefix="se6bench-"))
    pool = WorkerPool(settings, shim)
    w = pool.get(6)
    with env_var("SE6_KEEP_CA_BUNDLE", "1"):
        w_bundle = WorkerProcess(6, settings, shim)
        w_bundle.start()
    counter = iter(range(10**9))
    rows: list[Row] = []

    def cleanup(url: str) -> None:
        ans, _ = w.call({"op": "unlink", "url": url, "timeout": TIMEOUT}, TIMEOUT)
        if not ans.get("ok"):
            raise RuntimeError(f"cleanup of {url}: {ans.get('error')}")

    def suite(proto: str, local: Path, adler: str, checks: bool, worker: str = "warm") -> float:
        url = _urls(f"bench-{proto}-{next(counter)}.dat")[proto]
        req: dict[str, object] = {"op": "copy", "src": f"file://{local}", "dst": url, "timeout": TIMEOUT}
        if checks:  # exactly the suite's upload step (run_transfer's s_upload)
            req.update(checksum=adler, checksum_mode="both")
        wp = {"warm": w, "bundle": w_bundle}.get(worker) or WorkerProcess(6, settings, shim)
        t0 = time.monotonic()
        ans, _ = wp.call(req, TIMEOUT)
        dt = time.monotonic() - t0
        if worker == "cold":
            wp.close()
        if not ans.get("ok"):
            raise RuntimeError(f"suite {proto} ({worker}, checks={checks}): {ans.get('error')}")
        cleanup(url)
        return dt

    def raw(proto: str, local: Path, adler: str, verify: bool) -> float:
        url = _urls(f"bench-{proto}-{next(counter)}.dat")[proto]
        t0 = time.monotonic()
        raw_copy(proto, str(local), url, adler, verify)
        dt = time.monotonic() - t0
        cleanup(url)
        return dt

    files: list[Path] = []
    try:
        for label, size in SIZES.items():
            local = work / f"bench-{size}.dat"
            adler = make_random_file(local, size)
            files.append(local)
            for p in PROTOCOLS:
                tool = {"root": "xrdcp", "gsiftp": "globus-url-copy", "davs": "curl"}[p]
                v_tool = {"root": "xrdcp --cksum adler32",
                          "gsiftp": "xrdadler32 + globus-url-copy (server CKSM not queried)",
                          "davs": "xrdadler32 + curl PUT + curl HEAD Want-Digest"}[p]
                a = (p, local, adler)
                rows += [
                    Row(label, p, tool, "none", True, lambda a=a: raw(*a, verify=False)),
                    Row(label, p, v_tool, "ADLER32", True, lambda a=a: raw(*a, verify=True)),
                    Row(label, p, "suite (warm worker)", "ADLER32", False,
                        lambda a=a: suite(*a, checks=True)),
                    Row(label, p, "suite (cold worker)", "ADLER32", False,
                        lambda a=a: suite(*a, checks=True, worker="cold")),
                    Row(label, p, "suite (warm worker)", "none", False, lambda a=a: suite(*a, checks=False)),
                ]
                if p == "davs":
                    rows.append(Row(label, p, "suite (warm, CA bundle preloaded = before)", "ADLER32", False,
                                    lambda a=a: suite(*a, checks=True, worker="bundle")))
        for r in rows:  # warm-up: first connection of each worker / tool, not counted
            if r.tool.startswith("suite (warm") and r.checks == "ADLER32":
                r.run()
        for _ in range(reps):
            for r in rows:
                r.times.append(r.run())
    finally:
        w_bundle.close()
        pool.close()
        for f in files:
            with contextlib.suppress(FileNotFoundError):
                f.unlink()
        with contextlib.suppress(OSError):
            work.rmdir()
    print_table(rows, reps, shim or why)


def print_table(rows: list[Row], reps: int, shim: str) -> None:
    """Markdown: seconds as median (min-max); ratios to the like-for-like and the plain raw row."""
    print(f"Upload over IPv6 to {DISK} (root/davs through the head node); median of {reps} "
          f"(min-max), interleaved; raw = whole process; suite = one upload step timed by the parent; "
          f"family shim: {shim}\n")
    print("| size | protocol | tool | ADLER32 verified | seconds median (min-max) "
          "| ratio to raw, same checks | ratio to raw plain |")
    print("|---|---|---|---|---|---|---|")
    raws = {(r.size, r.proto, r.checks): r for r in rows if r.raw}
    for r in rows:
        same = raws[(r.size, r.proto, r.checks)]
        plain = raws[(r.size, r.proto, "none")]
        ratio_same = "-" if r.raw else f"{r.median / same.median:.2f}x"
        ratio_plain = "-" if r is plain else f"{r.median / plain.median:.2f}x"
        checks = "yes, both ends" if r.checks == "ADLER32" else "no"
        print(f"| {r.size} | {r.proto} | {r.tool} | {checks} | {r.median:.3f} "
              f"({min(r.times):.3f}-{max(r.times):.3f}) | {ratio_same} | {ratio_plain} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--name", default="bench", help="testbed name (brought up and down here)")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--keep", action="store_true", help="use an already running testbed, leave it up")
    a = ap.parse_args()
    if a.inner:
        inner(a.reps)
        return 0
    py = str(ROOT / ".venv" / "bin" / "python")
    tb = [py, "-m", "testbed", "--name", a.name]
    if not a.keep:
        subprocess.run([*tb, "up"], cwd=ROOT, check=True, timeout=TESTBED_TIMEOUT, capture_output=True)
    try:
        r = subprocess.run([*tb, "run", "--", py, str(Path(__file__).resolve()), "--inner", "--reps",
                            str(a.reps)], cwd=ROOT, timeout=3600)
        return r.returncode
    finally:
        if not a.keep:
            subprocess.run([*tb, "down"], cwd=ROOT, timeout=TESTBED_TIMEOUT, capture_output=True)


if __name__ == "__main__":
    raise SystemExit(main())

"""The transfers themselves: a round trip and a third-party copy, as named steps with verdicts.

Why steps: a transfer is a sequence of dependent operations (list/create the test dir, upload
with ADLER32, stat, checksum, download, compare, delete, confirm gone) where a failed step must
skip the later ones *with the reason*, the file must be cleaned up whatever happens, every step
has a hard deadline (the worker is killed after it) and the family must be forced and proven.

How the family is forced (each protocol's ``forcing_description``, :mod:`se_dualstack.transfer.protocols`):

* every protocol: the worker is started with ``LD_PRELOAD`` of ``data/family_shim.c`` (compiled at
  run time with ``cc``, cached): ``getaddrinfo()`` answers only the forced family and a TCP
  ``connect()`` to the other family fails with ENETUNREACH, in that process only. This works with
  a site's ordinary dual-stack names (no single-family DNS aliases needed).
* additionally each protocol's own switch, where it has one (an environment variable or a gfal2
  option its module declares), in the same worker process.
* without a C compiler: single-family DNS aliases when the inventory declares them
  (``se_ipv6_alias`` / ``se_ipv4_alias``), else only the protocols whose own switch forces the
  family (``needs_shim = False``) are forced and the others are verified.

How the family is verified, independently of the forcing: see :mod:`se_dualstack.transfer.evidence`;
any used connection of the other family fails the transfer.
"""

from __future__ import annotations

import contextlib
import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from se_dualstack.redact import redact
from se_dualstack.transfer import protocols
from se_dualstack.transfer.addresses import attribute
from se_dualstack.transfer.cases import TpcCase, TransferCase, TransferSettings, guard_path, unique_name
from se_dualstack.transfer.commands import gfal_copy_command, gfal_rm_command
from se_dualstack.transfer.evidence import dedupe
from se_dualstack.transfer.files import files_equal, make_random_file
from se_dualstack.transfer.outcome import CLEANUP_STEPS, STEPS, Step, TransferResult
from se_dualstack.transfer.worker import WorkerDied, WorkerPool, WorkerProcess, WorkerTimeout


class StepFailed(Exception):
    """A step's own verdict (gfal2 error, wrong size, checksum mismatch)."""


class StepRunner:
    """Runs named steps in order; after a failure the later steps are skipped with the reason."""

    def __init__(self, result: TransferResult) -> None:
        self.result = result
        self.blocker: str = ""  # "upload failed: ..." once something failed

    def run(self, name: str, fn: Callable[[Step], None], always: bool = False) -> Step:
        """Run ``fn(step)`` unless blocked (``always``: cleanup steps run anyway)."""
        step = Step(name)
        self.result.steps.append(step)
        if self.blocker and not always:
            step.status = "skipped"
            step.detail = f"skipped: {self.blocker}"
            return step
        t0, c0 = time.monotonic(), time.thread_time()
        try:
            fn(step)
            if step.status == "pending":
                step.status = "passed"
        except WorkerTimeout as exc:
            step.status, step.error = "timeout", str(exc)
        except WorkerDied as exc:
            step.status, step.error = "failed", str(exc)
        except StepFailed as exc:
            step.status, step.error = "failed", str(exc)
        finally:
            step.wall, step.cpu_parent = time.monotonic() - t0, time.thread_time() - c0
            # A timed-out step took its wall time (the answers before the late one are a part).
            if step.status == "timeout" or not step.seconds:
                step.seconds = step.wall
        if step.status in ("failed", "timeout") and not self.blocker:
            self.blocker = f"{name} {'timed out' if step.status == 'timeout' else 'failed'}"
        return step

    def run_cleanup(self, name: str, fn: Callable[[Step], None]) -> Step:
        """A cleanup step: runs even after a failure, and leaves the first failure's reason."""
        before, self.blocker = self.blocker, ""
        step = self.run(name, fn, always=True)
        self.blocker = self.blocker or before
        return step


def _token_file(settings: TransferSettings) -> str:
    """The token's file for the pasted commands (X.509 runs: none)."""
    return settings.token_file if settings.auth == "token" else ""


def _err_text(answer: dict[str, Any]) -> str:
    return redact(" ".join(str(answer.get("error", "")).split()))


def call(worker: WorkerProcess, result: TransferResult, step: Step, request: dict[str, Any],
         timeout: float) -> dict[str, Any]:
    """Run a worker request for a step; gfal2 errors become StepFailed; evidence is kept (also
    of a request that timed out: where it waited). A step of several requests sums their time."""
    try:
        answer, conns = worker.call(request, timeout)
    except WorkerTimeout as exc:
        result.connections = dedupe(result.connections + exc.connections)
        raise
    result.connections = dedupe(result.connections + conns)
    step.seconds += float(answer.get("elapsed", 0.0))
    step.cpu_worker += float(answer.get("cpu", 0.0))
    if not answer.get("ok"):
        raise StepFailed(_err_text(answer) or f"{request['op']} failed")
    return answer


class RoundTrip:
    """Upload a fresh random file, check it on the SE, download and compare it, delete it.

    The main steps use the family's worker taken at the start (a killed one restarts itself);
    the cleanup steps take the pool's current worker, a fresh one if the last was killed.
    """

    def __init__(self, case: TransferCase, pool: WorkerPool, settings: TransferSettings,
                 workdir: str | Path, shim: str | None = None, alias: bool = False) -> None:
        self.case, self.pool, self.settings = case, pool, settings
        self.worker = pool.get(case.family, case.pins)
        self.t = settings.timeout
        name = unique_name(f"{case.protocol}-ipv{case.family}")
        self.dir_url, self.remote = case.endpoint.url(), case.endpoint.url(name)
        guard_path(self.remote, case.endpoint.test_dir)
        self.local = Path(workdir) / name
        self.back = Path(workdir) / f"{name}.back"
        proto = protocols.get(case.protocol)
        self.res = TransferResult(
            case.id, case.protocol, case.family, settings.size, remote_url=self.remote,
            local_url=f"file://{self.local}", target=case.target,
            forcing=proto.forcing_description(case.family, shim, alias),
            forced=proto.is_forced(shim, alias))
        self.res.auth, self.res.deadline = settings.auth, self.t
        fam, t, remote, tf = case.family, self.t, self.remote, _token_file(settings)
        self.res.commands = [
            f"dd if=/dev/urandom of={shlex.quote(str(self.local))} bs={settings.size} count=1",
            gfal_copy_command(f"file://{self.local}", remote, case.protocol, fam, t, shim, token_file=tf),
            gfal_copy_command(remote, f"file://{self.back}", case.protocol, fam, t, shim, token_file=tf),
            gfal_rm_command(remote, case.protocol, fam, shim, tf),
        ]
        self.runner = StepRunner(self.res)
        self.upload_tried = False

    def run(self) -> TransferResult:
        """Every step in order; cleanup (remote delete, local files) always runs."""
        try:
            self.res.local_checksum = make_random_file(self.local, self.settings.size)
            for name, fn in (("list", self.list), ("upload", self.upload), ("stat", self.stat),
                             ("checksum", self.checksum), ("download", self.download),
                             ("compare", self.compare)):
                self.runner.run(name, fn)
        finally:
            # Runs on failure and on Ctrl-C (KeyboardInterrupt passes through after it).
            self.cleanup()
            for p in (self.local, self.back):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
        return self.res

    def _call(self, step: Step, request: dict[str, Any], worker: WorkerProcess | None = None
              ) -> dict[str, Any]:
        return call(worker or self.worker, self.res, step, request, self.t)

    def list(self, step: Step) -> None:
        a = self._call(step, {"op": "listdir", "url": self.dir_url, "create": True})
        if a["entries"] == -1:
            raise StepFailed(f"{self.dir_url} exists but is not a directory")
        step.detail = f"{a['entries']} entries" + (" (created)" if a.get("created") else "")

    def upload(self, step: Step) -> None:
        self.upload_tried = True
        self._call(step, {"op": "copy", "src": f"file://{self.local}", "dst": self.remote,
                          "checksum": self.res.local_checksum, "checksum_mode": "both",
                          "timeout": int(self.t)})
        step.nbytes = self.settings.size
        step.detail = f"ADLER32 {self.res.local_checksum} verified at both ends"

    def stat(self, step: Step) -> None:
        a = self._call(step, {"op": "stat", "url": self.remote})
        if int(a["size"]) != self.settings.size:
            raise StepFailed(f"size on the SE is {a['size']}, uploaded {self.settings.size}")
        step.detail = f"{a['size']} bytes"

    def checksum(self, step: Step) -> None:
        a = self._call(step, {"op": "checksum", "url": self.remote, "algo": "ADLER32"})
        if a["checksum"].lstrip("0") != self.res.local_checksum.lstrip("0"):
            raise StepFailed(f"ADLER32 on the SE is {a['checksum']}, local {self.res.local_checksum}")
        step.detail = f"ADLER32 {a['checksum']}"

    def download(self, step: Step) -> None:
        self._call(step, {"op": "copy", "src": self.remote, "dst": f"file://{self.back}",
                          "checksum": self.res.local_checksum, "checksum_mode": "both",
                          "timeout": int(self.t)})
        step.nbytes = self.settings.size
        step.detail = "ADLER32 verified at both ends"

    def compare(self, step: Step) -> None:
        same, detail = files_equal(self.local, self.back)
        step.detail = detail
        if not same:
            raise StepFailed(f"downloaded file differs from the uploaded one: {detail}")

    # --- cleanup ----------------------------------------------------------------------------------

    def cleanup(self) -> None:
        """Delete the remote file and confirm it is gone; as steps when the file may exist."""
        res, runner = self.res, self.runner
        guard_path(self.remote, self.case.endpoint.test_dir)
        if not self.upload_tried:
            for name in CLEANUP_STEPS:
                res.steps.append(Step(name, "skipped", detail=f"skipped: {runner.blocker or 'no upload'}"
                                      " (nothing was uploaded)"))
            return
        before = runner.blocker
        runner.blocker = ""
        d = runner.run("delete", self.delete, always=True)
        if d.ok:
            runner.run("gone", self.gone, always=True)
        else:
            res.steps.append(Step("gone", "skipped", detail="skipped: delete failed"))
            res.cleanup_note = f"the test file may remain on the SE: {self.remote}"
        if before:
            runner.blocker = before

    def delete(self, step: Step) -> None:
        upload = self.res.step("upload")
        uploaded = upload is not None and upload.ok
        try:  # a fresh worker if the last one was killed
            self._call(step, {"op": "unlink", "url": self.remote},
                       self.pool.get(self.case.family, self.case.pins))
        except StepFailed as exc:
            if uploaded:
                raise
            step.detail = f"nothing to delete after the failed upload ({exc})"
            step.status = "passed"

    def gone(self, step: Step) -> None:
        a = self._call(step, {"op": "gone", "url": self.remote, "loop_is_gone":
                              protocols.get(self.case.protocol).gone_on_redirect_loop},
                       self.pool.get(self.case.family, self.case.pins))
        if not a.get("gone"):
            raise StepFailed(f"{self.remote} still exists ({a.get('size')} bytes) after the delete")
        step.detail = a.get("note", "gone")


def run_transfer(case: TransferCase, pool: WorkerPool, settings: TransferSettings,
                 workdir: str | Path, shim: str | None = None, alias: bool = False) -> TransferResult:
    """The full round trip for one case. Cleanup (remote delete, local files) always runs."""
    return attribute(RoundTrip(case, pool, settings, workdir, shim, alias).run(), case)


def precondition_result(case: TransferCase, settings: TransferSettings, why: str) -> TransferResult:
    """A result for a transfer that could not start (expired proxy): every step skipped."""
    res = TransferResult(case.id, case.protocol, case.family, settings.size,
                         remote_url=case.endpoint.url("<unique name>"), target=case.target,
                         precondition=why, auth=case.auth)
    res.steps = [Step(n, "skipped", detail=f"skipped: {why}") for n in STEPS]
    return res


# The servers choose the family of their own leg unless the URLs name single-family aliases.
UNFORCED_LEG = "; server-to-server family NOT forced (declare se_ipv6_alias)"


class ThirdPartyCopy:
    """Upload to the source, server-to-server copy with ADLER32 check, verify, clean both ends."""

    def __init__(self, case: TpcCase, pool: WorkerPool, settings: TransferSettings,
                 workdir: str | Path, shim: str | None = None) -> None:
        self.case, self.pool, self.settings = case, pool, settings
        self.worker = pool.get(case.family)
        self.t = settings.timeout
        n1, n2 = unique_name(f"tpc-src-{case.protocol}"), unique_name(f"tpc-dst-{case.protocol}")
        self.src, self.dst = case.source.url(n1), case.dest.url(n2)
        guard_path(self.src, case.source.test_dir)
        guard_path(self.dst, case.dest.test_dir)
        self.local = Path(workdir) / n1
        proto = self.proto = protocols.get(case.protocol)
        self.res = TransferResult(
            case.id, case.protocol, case.family, settings.size, remote_url=self.dst,
            local_url=self.src, target=case.dest_host,
            forcing=proto.forcing_description(case.family, shim, case.names_forced)
            + ("" if case.names_forced else UNFORCED_LEG),
            forced=proto.is_forced(shim, case.names_forced))
        self.res.auth, self.res.deadline = settings.auth, self.t
        self.copy_mode = case.mode  # "" (gfal2's default), or a mode the protocol declares
        self.res.commands = [gfal_copy_command(self.src, self.dst, case.protocol, case.family, self.t, shim,
                                               token_file=_token_file(settings), copy_mode=self.copy_mode)]
        self.runner = StepRunner(self.res)
        self.created: list[str] = []

    def run(self) -> TransferResult:
        try:
            self.res.local_checksum = make_random_file(self.local, self.settings.size)
            for name, fn in (("list", self.list), ("seed", self.seed), ("tpc", self.tpc),
                             ("checksum", self.checksum)):
                self.runner.run(name, fn)
            # The host at fault: the end the client itself failed on (list, seed), the end that
            # opens the server-to-server connection for the copy (the protocol says which per
            # mode), the destination for its checksum.
            failed = self.res.failed_step.name if self.res.failed_step is not None else ""
            if failed == "tpc":
                self.res.fault_host = self.case.active_host
            elif failed == "checksum":
                self.res.fault_host = self.case.dest_host
            elif self.res.failed_step is None:
                self.res.fault_host = ""
        finally:
            for url, ep, which in ((self.dst, self.case.dest, "dest"),
                                   (self.src, self.case.source, "source")):
                if url not in self.created:
                    continue
                guard_path(url, ep.test_dir)
                self.runner.run_cleanup(f"delete-{which}", lambda step, url=url: self.delete(step, url))
            with contextlib.suppress(FileNotFoundError):
                self.local.unlink()
        return self.res

    def _call(self, step: Step, request: dict[str, Any], worker: WorkerProcess | None = None
              ) -> dict[str, Any]:
        return call(worker or self.worker, self.res, step, request, self.t)

    def list(self, step: Step) -> None:
        for ep, host in ((self.case.source, self.case.source_host), (self.case.dest, self.case.dest_host)):
            # the client lists each end itself: a failure here is that end's, not the copy's
            self.res.fault_host = host
            self._call(step, {"op": "listdir", "url": ep.url(), "create": True})
        self.res.fault_host = ""

    def seed(self, step: Step) -> None:
        self.res.fault_host = self.case.source_host  # the client uploads to the source
        self.created.append(self.src)
        self._call(step, {"op": "copy", "src": f"file://{self.local}", "dst": self.src,
                          "checksum": self.res.local_checksum, "timeout": int(self.t)})
        step.detail = "source file uploaded"

    def tpc(self, step: Step) -> None:
        self.created.append(self.dst)
        req = {"op": "copy", "src": self.src, "dst": self.dst, "checksum": self.res.local_checksum,
               "checksum_mode": "both", "timeout": int(self.t)}
        option = self.proto.copy_mode_option(self.copy_mode) if self.copy_mode else None
        if option is not None:  # HTTP-TPC pull or push, set in the worker's gfal2 context
            req["options"] = [list(option)]
        a = self._call(step, req)
        step.nbytes = self.settings.size
        evs = [e for e in a.get("events", []) if "TYPE" in e.upper() or "MODE" in e.upper()]
        step.detail = "ADLER32 verified at both ends" + (f"; {evs[0]}" if evs else "")

    def checksum(self, step: Step) -> None:
        a = self._call(step, {"op": "checksum", "url": self.dst, "algo": "ADLER32"})
        if a["checksum"].lstrip("0") != self.res.local_checksum.lstrip("0"):
            raise StepFailed(
                f"ADLER32 at the destination is {a['checksum']}, source {self.res.local_checksum}")
        step.detail = f"ADLER32 {a['checksum']}"

    def delete(self, step: Step, url: str) -> None:
        try:
            self._call(step, {"op": "unlink", "url": url}, self.pool.get(self.case.family))
        except StepFailed as exc:
            if "No such file" not in str(exc) and "not found" not in str(exc).lower():
                raise
            step.detail = "already absent"


def run_tpc(case: TpcCase, pool: WorkerPool, settings: TransferSettings, workdir: str | Path,
            shim: str | None = None) -> TransferResult:
    """One third-party copy; both ends are cleaned up whatever happens."""
    return ThirdPartyCopy(case, pool, settings, workdir, shim).run()

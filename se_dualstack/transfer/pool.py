"""Transfers side by side: a bounded pool of slots, each with its own warm gfal2 workers.

Why: most of a transfer's wall time is waiting (redirector lookups, GridFTP data channel set-up,
TPC rendezvous, handshakes), not the suite's CPU; on a site of 200 disk nodes that waiting adds
up when transfers run one after the other. The pool overlaps it while keeping what each transfer
proves unchanged: a job runs the same :func:`~se_dualstack.transfer.steps.run_transfer` (forced,
verified, cleaned up) on a slot's own :class:`~se_dualstack.transfer.worker.WorkerPool` (one warm
worker per family and credential, reused job after job), so no two transfers ever share a worker
or its evidence.

Bounds: ``concurrency`` slots in all, and at most ``per_host`` jobs loading any one host (the
host the data lands on; both ends of a third-party copy), so a site's SE is never hammered; one
third-party copy at a time between two hosts (:func:`case_hosts`).

Jobs are queued in the order the tests will ask for them; a test that asks for a job not yet
started moves it to the front (:meth:`TransferPool.result`), so results come in test order.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from se_dualstack.transfer.cases import TransferSettings
from se_dualstack.transfer.worker import WorkerPool


class Slot:
    """One lane of the pool: its warm workers, one WorkerPool per settings (i.e. per credential)."""

    def __init__(self, shim: str | None, options: list[tuple[str, str, Any]] | None = None) -> None:
        self.shim, self.options = shim, options
        self._pools: dict[TransferSettings, WorkerPool] = {}
        self.warm: set[Any] = set()  # affinity keys of the jobs this slot ran (workers, sessions)

    def workers(self, settings: TransferSettings) -> WorkerPool:
        """This slot's workers for ``settings`` (started on first use, then kept warm)."""
        pool = self._pools.get(settings)
        if pool is None:
            pool = self._pools[settings] = WorkerPool(settings, self.shim, self.options)
        return pool

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


JobFn = Callable[[Slot], Any]


@dataclass
class Job:
    """One unit of work: a key (the case id), the hosts it loads, what to run on a slot."""

    key: str
    hosts: tuple[str, ...]
    fn: JobFn
    # What a slot may already have warm for this job, general to specific, e.g. ((credential,
    # family), (credential, family, host)): a live worker, then its sessions with that host.
    affinity: tuple[Any, ...] = ()
    wanted: bool = False  # a test waits for it: it goes next, whatever the affinity
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


class PoolClosed(RuntimeError):
    """The pool was closed (end of session, Ctrl-C) before this job ran."""


class TransferPool:
    """``concurrency`` threads, each owning one :class:`Slot`, and a per-host limit."""

    def __init__(self, shim: str | None, concurrency: int, per_host: int,
                 options: list[tuple[str, str, Any]] | None = None) -> None:
        if concurrency < 1 or per_host < 1:
            raise ValueError(f"transfer concurrency {concurrency} and per-host limit {per_host} "
                             "must be at least 1")
        self.concurrency, self.per_host = concurrency, per_host
        self.slots = [Slot(shim, options) for _ in range(concurrency)]
        self._cv = threading.Condition()
        self._queue: list[Job] = []
        self._jobs: dict[str, Job] = {}
        self._busy: Counter[str] = Counter()
        self._threads: list[threading.Thread] = []
        self._closing = False

    # --- submitting and waiting ---------------------------------------------------------------

    def submit(self, key: str, hosts: Iterable[str], fn: JobFn, front: bool = False,
               affinity: tuple[Any, ...] = ()) -> Job:
        """Queue a job once per key (a second submit of the same key returns the first job)."""
        with self._cv:
            if self._closing:
                raise PoolClosed("the transfer pool is closed")
            job = self._jobs.get(key)
            if job is None:
                job = Job(key, tuple(dict.fromkeys(hosts)), fn, affinity)
                self._jobs[key] = job
                self._queue.insert(0 if front else len(self._queue), job)
                self._start_threads()
                self._cv.notify_all()
            return job

    def result(self, key: str, fallback: tuple[Iterable[str], JobFn, tuple[Any, ...]] | None = None
               ) -> Any:
        """Wait for a job's result (its exception is raised here, in the caller).

        A job still queued moves to the front; ``fallback`` (hosts, fn, affinity) submits it first if it
        was never submitted. No timeout of its own: every step of a job has its hard deadline.
        """
        with self._cv:
            job = self._jobs.get(key)
            if job is None:
                if fallback is None:
                    raise KeyError(f"no transfer job {key!r} was submitted")
            elif job in self._queue:
                job.wanted = True
                self._queue.remove(job)
                self._queue.insert(0, job)
        if job is None and fallback is not None:
            job = self.submit(key, fallback[0], fallback[1], front=True, affinity=fallback[2])
            job.wanted = True
        assert job is not None
        while not job.done.wait(0.5):
            pass  # short waits: Ctrl-C reaches the main thread
        with self._cv:
            self._jobs.pop(key, None)  # a result is taken once; memory stays flat on a big site
        if job.error is not None:
            raise job.error
        return job.result

    # --- the slots ----------------------------------------------------------------------------

    def _start_threads(self) -> None:
        """Start the slot threads on first use (a run without transfers starts none)."""
        if self._threads:
            return
        for i, slot in enumerate(self.slots):
            t = threading.Thread(target=self._serve, args=(slot,), name=f"se6-transfer-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def _next(self, slot: Slot) -> Job | None:
        """A queued job whose hosts are all under the limit: one a test waits for, else the one
        this slot has most warm (a worker start costs a gfal2 context, a new host a GSI/TLS
        handshake: the suite's largest CPU costs per transfer), else the first. Lock held."""
        best, score = None, -1
        for j in self._queue:
            if not all(self._busy[h] < (1 if h.startswith(LEG) else self.per_host) for h in j.hosts):
                continue
            if j.wanted:  # never passed over for a warmer one
                best = j
                break
            s = sum(k in slot.warm for k in j.affinity)
            if s > score:
                best, score = j, s
                if s == len(j.affinity):
                    break
        if best is None:
            return None
        self._queue.remove(best)
        self._busy.update(best.hosts)
        slot.warm.update(best.affinity)
        return best

    def _serve(self, slot: Slot) -> None:
        while True:
            with self._cv:
                job = None
                while not self._closing and (job := self._next(slot)) is None:
                    self._cv.wait()
                if job is None:
                    return
            try:
                job.result = job.fn(slot)
            except BaseException as exc:  # handed to the test that waits for it
                job.error = exc
            finally:
                with self._cv:
                    self._busy.subtract(job.hosts)
                    job.done.set()
                    self._cv.notify_all()

    def close(self) -> None:
        """Run no further job, let the running ones finish their cleanup, close every worker."""
        with self._cv:
            self._closing = True
            for job in self._queue:
                job.error = PoolClosed(f"transfer {job.key} did not run: the run is ending")
                job.done.set()
            self._queue.clear()
            self._cv.notify_all()
        for t in self._threads:
            t.join()
        for slot in self.slots:
            slot.close()


LEG = "tpc-leg:"  # a key no host name starts with: one third-party copy between two hosts at a time


def case_hosts(case: Any) -> tuple[str, ...]:
    """The hosts a case loads, for the per-host limit: where the data lands; both TPC ends, and
    the pair itself (limit 1): the TPC's leg is read from the two ends' kernels (transfer/tpc.py),
    where a second copy between them at once (a push beside a pull, another protocol whose
    movers share a port range, as a dCache pool's HTTP and FTP movers) could not be told apart."""
    if hasattr(case, "dest_host"):
        ends = tuple(dict.fromkeys((case.source_host, case.dest_host)))
        return (*ends, LEG + "/".join(sorted(ends)))
    return (case.target,)

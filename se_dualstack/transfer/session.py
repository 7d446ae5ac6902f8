"""The run's transfer session: settings, the family shim, gfal2 workers per credential, the slots.

No pytest here: the transfers plugin builds one session per run from its options and each
transfer test asks it for its case's result (run now, or taken from the transfer slot that ran it ahead).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from se_dualstack.transfer import tokens
from se_dualstack.transfer.cases import TpcCase, TransferCase, TransferSettings
from se_dualstack.transfer.outcome import TransferResult
from se_dualstack.transfer.pool import Slot, TransferPool, case_hosts
from se_dualstack.transfer.proxy import ProxyProblem
from se_dualstack.transfer.steps import precondition_result, run_tpc, run_transfer
from se_dualstack.transfer.worker import WorkerPool


@dataclass
class TransferSession:
    """Settings, the family shim, the gfal2 workers and a scratch dir, for the whole run.

    ``workers``: one :class:`WorkerPool` (a gfal2 worker process per family) per credential, as a
    worker holds one credential (XRootD would otherwise pick ztn over gsi). ``slots``: with
    ``--transfer-concurrency`` above 1, the :class:`TransferPool` that runs transfers side by
    side, each slot with workers of its own. The token's claims are read per case, since audience
    and scope depend on the hosts and the directory."""

    settings: TransferSettings
    shim: str | None
    shim_note: str
    workers: dict[str, WorkerPool]  # credential ("x509", "token") -> its gfal2 workers
    workdir: str
    proxy_problem: str | None  # the message every X.509 transfer test fails with
    proxy: ProxyProblem | None = None
    results: list[TransferResult] = field(default_factory=list)
    token: tokens.Token | None = None
    token_note: str = ""  # where discovery looked, when it found nothing
    no_credential: str | None = None  # the could-not-run line: no requested credential usable
    slots: TransferPool | None = None  # --transfer-concurrency > 1: transfers side by side
    plan: list[Any] = field(default_factory=list)  # the cases this process will run, in order
    plan_by_group: bool = False  # xdist --dist loadgroup: run ahead only in the asking case's group

    def _in_slots(self, case: Any, fn: Callable[[Slot], Any]) -> Any:
        """The case's result from the transfer slots, which run the planned cases ahead.

        Under xdist only the cases of the asking case's group are sure to be this process's
        (``--dist loadgroup`` hands a group to one worker), so only those are run ahead."""
        assert self.slots is not None
        if self.plan:
            ahead = [c for c in self.plan if not self.plan_by_group or c.group_host == case.group_host]
            taken = {c.id for c in ahead}
            self.plan = [c for c in self.plan if c.id not in taken]
            for c in ahead:
                self.slots.submit(c.id, case_hosts(c), self._job(c), affinity=_affinity(c))
        return self.slots.result(case.id, fallback=(case_hosts(case), fn, _affinity(case)))

    def _job(self, case: Any) -> Callable[[Slot], Any]:
        """Run ``case`` on a slot, with the slot's own workers for the case's credential."""
        settings = self._credential(case.auth)[1]
        if isinstance(case, TpcCase):
            return lambda slot: self._run_tpc(case, slot.workers(settings))
        return lambda slot: self._run_case(case, slot.workers(settings))

    def _credential(self, auth: str) -> tuple[WorkerPool, TransferSettings]:
        """The session's workers and settings for a credential (X.509's when there is no other)."""
        pool = self.workers.get(auth) or self.workers["x509"]
        return pool, pool.settings

    def precondition(self, auth: str, ends: tuple[tuple[str, str], ...]) -> str | None:
        """Why a transfer with ``auth`` cannot start; ``ends``: (host, test dir) it touches."""
        if auth != "token":
            return self.proxy_problem
        if self.token is None:
            return (f"{self.token_note}: put a WLCG token in a file named by BEARER_TOKEN_FILE "
                    "(e.g. oidc-token <account>) or pass --bearer-token-file")
        for host, test_dir in ends:
            bad = tokens.problem(self.token, (host,), test_dir)
            if bad:
                return bad
        return None

    def run_case(self, case: TransferCase) -> list[TransferResult]:
        """The case ``settings.repeat`` times (each with a fresh file); stops early on Ctrl-C."""
        out = (self._in_slots(case, self._job(case)) if self.slots is not None
               else self._run_case(case, self._credential(case.auth)[0]))
        self.results += out
        return out

    def _run_case(self, case: TransferCase, workers: WorkerPool) -> list[TransferResult]:
        settings = self._credential(case.auth)[1]
        tdir = case.endpoint.test_dir
        why = self.precondition(case.auth, tuple(dict.fromkeys(((case.entry, tdir), (case.target, tdir)))))
        out = []
        for _ in range(self.settings.repeat):
            if why:
                r = precondition_result(case, settings, why)
            else:
                r = run_transfer(case, workers, settings, self.workdir, self.shim,
                                 alias=case.endpoint.host != case.entry)
            out.append(r)
        return out

    def run_tpc(self, case: TpcCase) -> TransferResult:
        r = (self._in_slots(case, self._job(case)) if self.slots is not None
             else self._run_tpc(case, self._credential(case.auth)[0]))
        self.results.append(r)
        return r

    def _run_tpc(self, case: TpcCase, workers: WorkerPool) -> TransferResult:
        settings = self._credential(case.auth)[1]
        why = self.precondition(case.auth, ((case.source_host, case.source.test_dir),
                                            (case.dest_host, case.dest.test_dir)))
        if why:
            r = TransferResult(case.id, case.protocol, case.family, self.settings.size,
                               precondition=why, auth=case.auth)
        else:
            r = run_tpc(case, workers, settings, self.workdir, self.shim)
        return r

    def close(self) -> None:
        if self.slots is not None:
            self.slots.close()  # first: running transfers finish their cleanup
        for workers in self.workers.values():
            workers.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _affinity(case: Any) -> tuple[Any, ...]:
    """What a transfer slot keeps warm for this case: a worker (credential, family), then its
    sessions with the entry and the hosts the data lands on."""
    first = (case.auth, case.family)
    entry = getattr(case, "entry", None) or getattr(case, "source_host", "")
    return (first, (*first, entry), *((*first, h) for h in case_hosts(case)))


def no_credential_line(auths: list[str], sess: TransferSession) -> str | None:
    """The run's "could not run" line: each requested credential this machine cannot use (a
    missing or expired proxy, a missing or invalid token); None if every one is usable.

    Why every one: a credential missing here is the suite machine's problem, not the SE's, so
    its transfers could not run whether or not the other credential works."""
    lines = []
    for auth in auths:
        if auth == "x509":
            if sess.proxy is not None:
                lines.append(sess.proxy.could_not_run_line())
        else:
            bad = sess.token_note if sess.token is None else tokens.validity_problem(sess.token)
            if bad:
                lines.append(f"no usable WLCG token ({bad}): token transfer checks could not run")
    return "; ".join(lines) or None

"""The run's transfer session: settings, the family shim, gfal2 workers per credential, the slots,
the endpoints that did not answer, and each failure's fix from its evidence.

No pytest here: the transfers plugin builds one session per run from its options and each
transfer test asks it for its case's result (run now, or taken from the transfer slot that ran it ahead).

A service that does not answer is one root cause, like an unreachable host: the first transfer
that times out on an endpoint (host, port, family) marks it (:class:`SilentEndpoints`), and every
later transfer to it ends at once as "could not run" under that cause, so a run waits about one
deadline per endpoint, not one per transfer.
"""

from __future__ import annotations

import ipaddress
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from se_dualstack.transfer import protocols, tokens
from se_dualstack.transfer.cases import TpcCase, TransferCase, TransferSettings
from se_dualstack.transfer.evidence import used_connections
from se_dualstack.transfer.outcome import TransferResult, evidence_fix, not_tried_fix
from se_dualstack.transfer.pool import Slot, TransferPool, case_hosts
from se_dualstack.transfer.proxy import ProxyProblem
from se_dualstack.transfer.steps import UNFORCED_LEG, precondition_result, run_tpc, run_transfer
from se_dualstack.transfer.worker import WorkerPool


@dataclass(frozen=True)
class Silence:
    """An endpoint that did not answer: the transfer that waited for it first, and how long."""

    host: str  # the inventory host
    port: int
    family: int
    service: str  # the host's service on that port ("" when the inventory names none)
    case: str  # the transfer that timed out on it
    seconds: float

    @property
    def cause(self) -> str:
        """The root cause's key: one per host and service (its ports and families under it)."""
        return f"silent:{self.host}|{self.service or f'port {self.port}'}"

    def reason(self) -> str:
        svc = self.service or "the service"
        return (f"not tried: {svc} on {self.host} (port {self.port}) did not answer over "
                f"IPv{self.family} within {self.seconds:.0f} s in transfer {self.case}")

    def fix(self, what: str = "transfer") -> str:
        return not_tried_fix(self.host, self.port, self.service, what)


def case_ends(case: Any) -> list[tuple[str, int, int]]:
    """The endpoints (inventory host, port, family) a case contacts itself."""
    if isinstance(case, TpcCase):
        source, dest = case.contacted
        return [(source, case.source.port, case.family), (dest, case.dest.port, case.family)]
    if not isinstance(case, TransferCase):  # a redirect chain (transfer/hops): its entry point
        return [(case.entry, case.port, case.family)]
    entry = case.target if case.alias else case.entry
    return [(entry, case.endpoint.port, case.family)]


def redirected_to(case: Any) -> str:
    """The host a round trip (or a redirect chain) through an entry point is redirected to ("" for
    a direct one)."""
    if isinstance(case, TpcCase) or getattr(case, "alias", False) or case.entry == case.target:
        return ""
    return case.target


class SilentEndpoints:
    """Endpoints (host, port, family) that did not answer a transfer within its deadline.

    Why: a hung service (SIGSTOPped, deadlocked) accepts connections and never answers, a
    filtered one drops them; every transfer to it would wait its whole deadline. The first
    timeout marks the endpoint and a later transfer to it is not tried. A transfer redirected to
    a host is not tried when that host has a silent endpoint of its family (where the redirect
    lands is known only once it is followed). Thread-safe: the transfer slots mark and read
    side by side. Per process: under xdist each worker marks for itself; with ``--dist
    loadgroup`` a host's round trips share its group, hence one worker and its marks.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._marks: dict[tuple[str, int, int], Silence] = {}

    def mark(self, silence: Silence) -> Silence:
        """Mark an endpoint (the first mark of an endpoint stays)."""
        with self._lock:
            return self._marks.setdefault((silence.host, silence.port, silence.family), silence)

    def blocking(self, case: Any) -> Silence | None:
        """The silent endpoint that keeps ``case`` from being tried, if any."""
        with self._lock:
            marks = dict(self._marks)
        for end in case_ends(case):
            if end in marks:
                return marks[end]
        target = redirected_to(case)
        return next((m for (h, _, f), m in marks.items() if h == target and f == case.family), None)

    def all(self) -> list[Silence]:
        with self._lock:
            return list(self._marks.values())


def _norm(address: str) -> str:
    """An address as DNS answers compare: IPv4-mapped IPv6 as IPv4."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    mapped = getattr(ip, "ipv4_mapped", None)
    return str(mapped or ip)


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
    # Third-party copies: reads the servers' socket tables while one runs (transfer/tpc.py), and
    # what it saw per case id.
    leg_watch: Callable[[TpcCase], Any] | None = None
    legs: dict[str, Any] = field(default_factory=dict)
    cases: list[Any] = field(default_factory=list)  # every case this process runs (siblings)
    services: dict[tuple[str, int], list[str]] = field(default_factory=dict)  # (host, port) -> services
    resolve: Callable[[str, int], list[str]] | None = None  # name, family -> its addresses
    silent: SilentEndpoints = field(default_factory=SilentEndpoints)
    finished: dict[str, list[TransferResult]] = field(default_factory=dict)  # case id -> results
    early: dict[str, list[TransferResult]] = field(default_factory=dict)  # run for a sibling's fix

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

    def settings_for(self, auth: str) -> TransferSettings:
        """The settings a credential's transfers run with (its token file, its proxy)."""
        return self._credential(auth)[1]

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
        """The case ``settings.repeat`` times (each with a fresh file); stops early on Ctrl-C.
        Each failure carries the fix its evidence points to (``fix``)."""
        out = self.early.pop(case.id, None)
        if out is None:
            out = self._now(case)
        for r in out:
            if not r.ok and not r.fix:
                r.fix = self._fix(case, r)
        self.results += out
        return out

    def _now(self, case: Any) -> Any:
        """Run a case now (or take it from the slot that runs it)."""
        if self.slots is not None:
            return self._in_slots(case, self._job(case))
        if isinstance(case, TpcCase):
            return self._run_tpc(case, self._credential(case.auth)[0])
        return self._run_case(case, self._credential(case.auth)[0])

    def _run_case(self, case: TransferCase, workers: WorkerPool) -> list[TransferResult]:
        settings = self._credential(case.auth)[1]
        tdir = case.endpoint.test_dir
        why = self.precondition(case.auth, tuple(dict.fromkeys(((case.entry, tdir), (case.target, tdir)))))
        out = []
        for _ in range(self.settings.repeat):
            silence = None if why else self.silent.blocking(case)
            if why:
                r = precondition_result(case, settings, why)
            elif silence is not None:
                r = self._not_tried(precondition_result(case, settings, silence.reason()), case, silence)
            else:
                r = run_transfer(case, workers, settings, self.workdir, self.shim,
                                 alias=case.endpoint.host != case.entry)
                self._after(case, r)
            out.append(r)
        self.finished[case.id] = out
        return out

    def run_tpc(self, case: TpcCase) -> TransferResult:
        r = self._now(case)
        if not r.ok and not r.fix:
            r.fix = self._fix(case, r)
        self.results.append(r)
        return r

    def _run_tpc(self, case: TpcCase, workers: WorkerPool) -> TransferResult:
        settings = self._credential(case.auth)[1]
        why = self.precondition(case.auth, ((case.source_host, case.source.test_dir),
                                            (case.dest_host, case.dest.test_dir)))
        silence = None if why else self.silent.blocking(case)
        if why or silence is not None:
            r = TransferResult(case.id, case.protocol, case.family, self.settings.size,
                               precondition=why or (silence.reason() if silence else ""),
                               auth=case.auth, target=case.dest_host)
            if silence is not None:
                self._not_tried(r, case, silence)
        else:
            r = self._copy(case, workers, settings)
            self._after(case, r)
        self.finished[case.id] = [r]
        return r

    def _copy(self, case: TpcCase, workers: WorkerPool, settings: TransferSettings) -> TransferResult:
        """The copy, with the servers' socket tables read while it runs when a leg watch is set."""
        if self.leg_watch is None:
            return run_tpc(case, workers, settings, self.workdir, self.shim)
        with self.leg_watch(case) as leg:
            r = run_tpc(case, workers, settings, self.workdir, self.shim)
        self.legs[case.id] = leg
        r.forcing = r.forcing.replace(UNFORCED_LEG, "") + f"; {leg.line()}"
        return r

    # --- silent endpoints and the evidence's fix ----------------------------------------------

    def _not_tried(self, r: TransferResult, case: Any, silence: Silence) -> TransferResult:
        """A transfer kept back by a silent endpoint: "could not run" under its root cause."""
        r.cause, r.could_not_run, r.fault_host = silence.cause, True, silence.host
        r.endpoint = getattr(getattr(case, "endpoint", None), "host", "") or r.endpoint
        r.fix = evidence_fix(r, silence.host, silence.port, silence.service, None)
        return r

    def mark_silent(self, case: Any, host: str, port: int, seconds: float) -> Silence:
        """Mark ``host``:``port`` silent over the case's family (a redirect chain that got no
        answer there); the first mark of an endpoint stays."""
        return self.silent.mark(Silence(host, port, case.family, self.service_at(case, host, port),
                                        case.id, seconds))

    def service_at(self, case: Any, host: str, port: int) -> str:
        """The service ``case`` met at ``host``:``port``: of the services sharing that port (XrdHttp
        on a data server's xrd.port), the one the case's protocol speaks, else the first."""
        names = self.services.get((host, port), [])
        own = protocols.get(case.protocol).services
        return next((n for n in names if n in own), names[0] if names else "")

    def _after(self, case: Any, r: TransferResult) -> None:
        """A transfer that timed out marks the endpoint it waited for and takes its cause."""
        if not r.timed_out or r.failed_step is None:
            return
        host, port = self.where(case, r)
        r.cause, r.fault_host = self.mark_silent(case, host, port, r.failed_step.seconds).cause, host

    def where(self, case: Any, r: TransferResult) -> tuple[str, int]:
        """The inventory host and port a failed transfer points at: the connection that failed,
        else the last one it made (where it waited); the entry's port when nothing is known."""
        if isinstance(case, TpcCase):  # the end the client waited for, at the host its URL names
            source, dest = case.contacted
            if (r.fault_host or case.dest_host) in (case.source_host, source):
                return source, case.source.port
            return dest, case.dest.port
        entry = case.target if case.alias else case.entry
        target = redirected_to(case)
        seen = [c for c in r.connections if not c.refused]
        conn = next((c for c in seen if c.error), None) or next(iter(used_connections(seen)[::-1]), None)
        if not target or conn is None:
            return entry, case.endpoint.port
        entry_addrs = {_norm(a) for a in (self.resolve(case.endpoint.host, case.family)
                                          if self.resolve is not None else [])}
        if _norm(conn.address) in entry_addrs:
            return entry, conn.port
        # Not the entry's address (or DNS did not say): the redirect's landing, on the target.
        return target, conn.port

    def _fix(self, case: Any, r: TransferResult) -> str:
        host, port = self.where(case, r)
        return evidence_fix(r, host, port, self.service_at(case, host, port), self._siblings(case))

    def _siblings(self, case: Any) -> list[TransferResult] | None:
        """The results of the same endpoint's transfers forced to the other family, run now if
        this process runs them and they did not run yet (their own tests take them then)."""
        if not isinstance(case, TransferCase):
            return None
        key = (case.protocol, case.entry, case.target, case.auth, case.alias)
        sibs = [c for c in self.cases if isinstance(c, TransferCase) and c.family != case.family
                and (c.protocol, c.entry, c.target, c.auth, c.alias) == key
                and (not self.plan_by_group or c.group_host == case.group_host)]
        if not sibs:
            return None
        out: list[TransferResult] = []
        for sib in sibs:
            got = self.finished.get(sib.id)
            if got is None:
                got = self.early[sib.id] = self._now(sib)
            out += got
        return out

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

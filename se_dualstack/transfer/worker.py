"""The gfal2 worker processes: one per family, each request with a hard deadline.

Why a process per family: ``XRD_NETWORKSTACK`` and the LD_PRELOADed family shim take effect only
at a process's start (see :mod:`se_dualstack.transfer.gfal_worker`, the child). The parent sends
one JSON request per line, samples the child's sockets in ``/proc`` while it waits, and kills the
child's whole process group when an answer is late: that is the only timeout gfal2 cannot ignore.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from se_dualstack.transfer import protocols
from se_dualstack.transfer.cases import TransferSettings
from se_dualstack.transfer.evidence import (
    Connection,
    dedupe,
    parse_pasv_event,
    parse_shim_line,
    proc_connections,
    socket_inodes,
)


class WorkerTimeout(RuntimeError):
    """A worker missed its deadline and was killed; ``connections``: what the kernel showed it
    connected to while it waited (the evidence of which endpoint did not answer)."""

    def __init__(self, message: str, connections: list[Connection] | None = None) -> None:
        super().__init__(message)
        self.connections = list(connections or [])


class WorkerDied(RuntimeError):
    """A worker exited (crashed) without answering."""


def worker_env(family: int, settings: TransferSettings, shim: str | None, connlog: str,
               pins: tuple[tuple[str, str], ...] = ()) -> dict[str, str]:
    """Environment of a family's worker: every protocol's forcing and bounded retries for the
    family and credential (:mod:`se_dualstack.transfer.protocols`), the pinned addresses
    (``pins``: name -> the one address the shim resolves it to), one credential."""
    env = dict(os.environ)
    pkg_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(x for x in (pkg_root, env.get("PYTHONPATH", "")) if x)
    env.pop("PYTEST_ADDOPTS", None)
    t = max(1, int(settings.timeout))
    # One credential per worker, never both: a token found by discovery must not stand in for the
    # proxy under test (and the other way round).
    for var in ("BEARER_TOKEN", "BEARER_TOKEN_FILE", "X509_USER_PROXY"):
        env.pop(var, None)
    env.update(protocols.worker_env(family, settings.connect_timeout, t, settings.auth))
    env.update({"SE6_FAMILY": str(family), "SE6_CONNLOG": connlog})
    if pins:
        env["SE6_PIN"] = ",".join(f"{name}={addr}" for name, addr in pins)
    else:
        env.pop("SE6_PIN", None)
    env["SE6_AUTH"] = settings.auth
    if settings.auth == "token":
        env["BEARER_TOKEN_FILE"] = settings.token_file  # WLCG discovery: every client reads it
        settings = replace(settings, proxy="")
        # davix otherwise presents the default proxy (/tmp/x509up_u$UID) as a TLS client
        # certificate beside the token, and a token the server refuses then passes on the proxy
        # (measured: an untrusted issuer's token "uploaded"). A proxy path that does not exist
        # makes it connect without one (it logs "impossible to open" to the worker's stderr).
        for var in ("X509_USER_CERT", "X509_USER_KEY"):
            env.pop(var, None)
        env["X509_USER_PROXY"] = os.path.join(os.path.dirname(connlog) or "/nonexistent",
                                              "no-client-certificate-in-token-runs")
    if settings.proxy:
        env["X509_USER_PROXY"] = settings.proxy
    if settings.certdir:
        env["X509_CERT_DIR"] = settings.certdir
    if shim:
        env["LD_PRELOAD"] = " ".join(x for x in (shim, env.get("LD_PRELOAD", "")) if x)
    else:
        env.pop("LD_PRELOAD", None)
    return env


_HASH_LINK = re.compile(r"^[0-9a-f]{8}\.[0-9]+$")
_EMPTY_BUNDLE = """\
This file intentionally holds no certificates (se_dualstack, gfal2 worker).
davix 0.8 calls OpenSSL's X509_STORE_set_default_paths() for EVERY https request, which parses
the whole default CA bundle ($SSL_CERT_FILE, ~140 certificates, ~35 ms with OpenSSL 3) each time.
The same CAs stay trusted: OpenSSL finds them lazily by hash in $SSL_CERT_DIR, and the grid CAs
in $X509_CERT_DIR, which gfal2 adds as a CA path. Set SE6_KEEP_CA_BUNDLE=1 to disable this.
"""


def default_ca_dirs(env: dict[str, str]) -> list[str]:
    """OpenSSL's default CA directories for this environment ($SSL_CERT_DIR or the built-in one)."""
    value = env.get("SSL_CERT_DIR") or ssl.get_default_verify_paths().openssl_capath
    return [d for d in value.split(os.pathsep) if d]


def lazy_ca_bundle(env: dict[str, str], workdir: str | Path) -> str | None:
    """Point ``SSL_CERT_FILE`` of a worker at an empty bundle when that changes no trust.

    Why: davix re-reads the default CA bundle for every request (7+ per davs:// copy: ~0.25 s of
    a 100 MiB upload on the testbed). Done only when a default CA directory holds hashed links,
    i.e. OpenSSL still finds every default CA there (Debian/Ubuntu); not on a layout without them
    (e.g. RHEL's /etc/pki/tls/certs); only over the distribution's default bundle (kept in step
    with that directory by update-ca-certificates), never over a bundle the user chose; not with
    ``SE6_KEEP_CA_BUNDLE=1``. Returns the path set, or None.
    """
    if env.get("SE6_KEEP_CA_BUNDLE", "") not in ("", "0"):
        return None
    default_file = ssl.get_default_verify_paths().openssl_cafile
    current = env.get("SSL_CERT_FILE") or default_file
    if os.path.realpath(current) != os.path.realpath(default_file):
        return None  # a bundle of the user's own choosing: its CAs may be nowhere else
    hashed = False
    for d in default_ca_dirs(env):
        with contextlib.suppress(OSError):
            hashed = hashed or any(_HASH_LINK.match(n) for n in os.listdir(d))
    if not hashed:
        return None
    path = Path(workdir) / "no-preloaded-ca-bundle.pem"
    path.write_text(_EMPTY_BUNDLE)
    env["SSL_CERT_FILE"] = str(path)
    return str(path)


class WorkerProcess:
    """A gfal2 worker for one family; :meth:`call` enforces the hard deadline of each request."""

    def __init__(self, family: int, settings: TransferSettings, shim: str | None,
                 options: list[tuple[str, str, Any]] | None = None,
                 pins: tuple[tuple[str, str], ...] = ()) -> None:
        self.family = family
        self.pins = pins
        self.settings = settings
        self.shim = shim
        self.options = options or []
        self.proc: subprocess.Popen[bytes] | None = None
        self._buf = b""
        self._next_id = 1
        self.tmpdir = tempfile.mkdtemp(prefix=f"se6-worker-ipv{family}-")
        self.connlog = os.path.join(self.tmpdir, "connect.log")
        self.stderr_path = os.path.join(self.tmpdir, "stderr.log")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        """Start the child and wait for its gfal2 context (bounded)."""
        env = worker_env(self.family, self.settings, self.shim, self.connlog, self.pins)
        lazy_ca_bundle(env, self.tmpdir)
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "se_dualstack.transfer.gfal_worker"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=err, env=env, start_new_session=True)
        self._buf = b""
        timeout = int(self.settings.timeout)
        config = {"family": self.family, "timeout": timeout,
                  "options": [*protocols.worker_options(self.family, timeout), *self.options],
                  "token_prefixes": list(protocols.token_prefixes())}
        answer = self._exchange(config, timeout)
        if not answer.get("ok"):
            err_text = answer.get("error", "")
            self.kill()
            raise WorkerDied(f"gfal2 worker for IPv{self.family} did not start: {err_text}")

    def kill(self) -> None:
        """Kill the worker's whole process group (gfal2 may have helpers) and reap it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        for f in (self.proc.stdin, self.proc.stdout):
            if f:
                with contextlib.suppress(OSError):
                    f.close()
        self.proc = None

    def close(self, timeout: float = 5.0) -> None:
        """Let the worker exit on EOF; kill it if it does not within ``timeout``."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                if self.proc.stdin is not None:
                    self.proc.stdin.close()
                self.proc.wait(timeout=timeout)
        self.kill()

    def stderr_tail(self, n: int = 2000) -> str:
        try:
            data = Path(self.stderr_path).read_bytes()[-n:]
        except OSError:
            return ""
        return data.decode(errors="replace").strip()

    def _exchange(self, request: dict[str, Any], timeout: float,
                  sample: Callable[[int], None] | None = None) -> dict[str, Any]:
        """Send one line, wait for one line until the deadline, sampling /proc meanwhile."""
        if self.proc is None or self.proc.stdin is None or self.proc.stdout is None:
            raise WorkerDied("gfal2 worker not started")
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except OSError as exc:
            tail = self.stderr_tail(300)
            raise WorkerDied(f"gfal2 worker (IPv{self.family}) is gone: {exc}; {tail}") from exc
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                pid = self.proc.pid
                self.kill()
                raise WorkerTimeout(f"no answer within {timeout:g} s: worker pid {pid} killed")
            ready, _, _ = select.select([fd], [], [], min(left, 0.05))
            if sample is not None:
                sample(self.proc.pid)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    code = self.proc.wait(timeout=5)
                    tail = self.stderr_tail(500)
                    self.kill()
                    raise WorkerDied(f"gfal2 worker (IPv{self.family}) exited with {code}: {tail}")
                self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return json.loads(line)

    def call(self, request: dict[str, Any], timeout: float) -> tuple[dict[str, Any], list[Connection]]:
        """One gfal2 operation; returns the answer and the connections seen while it ran."""
        if not self.alive():
            self.start()
        seen: list[Connection] = []
        before = socket_inodes(self.proc.pid) if self.proc else set()

        def sample(pid: int) -> None:
            for fam, addr, port in proc_connections(pid, before):
                seen.append(Connection(fam, addr, port, "proc"))

        req = {**request, "id": self._next_id}
        self._next_id += 1
        try:
            answer = self._exchange(req, timeout, sample)
        except WorkerTimeout as exc:
            exc.connections = dedupe(seen)
            raise
        conns = [c for c in (parse_shim_line(x) for x in answer.get("connections", [])) if c]
        for ev in answer.get("events", []) or []:
            c = parse_pasv_event(ev)
            if c:
                conns.append(c)
        return answer, dedupe(conns + seen)


class WorkerPool:
    """One live worker per family (re-created after a kill); closed at the end of the session.

    A case pinned to addresses (a name with several A/AAAA records) gets its own worker, since the
    pin, like the family, takes effect at process start; one pinned worker per family is kept.
    """

    def __init__(self, settings: TransferSettings, shim: str | None,
                 options: list[tuple[str, str, Any]] | None = None) -> None:
        self.settings = settings
        self.shim = shim
        self.options = options
        self.workers: dict[Any, WorkerProcess] = {}  # family, or (family, pins)

    def get(self, family: int, pins: tuple[tuple[str, str], ...] = ()) -> WorkerProcess:
        key: Any = (family, pins) if pins else family
        w = self.workers.get(key)
        if w is None or not w.alive():
            if pins:  # the previous pinned worker of this family is done with
                for old in [k for k in self.workers if isinstance(k, tuple) and k[0] == family]:
                    self._drop(old)
            w = WorkerProcess(family, self.settings, self.shim, self.options, pins)
            self.workers[key] = w
        return w

    def _drop(self, key: Any) -> None:
        w = self.workers.pop(key)
        w.close()
        shutil.rmtree(w.tmpdir, ignore_errors=True)

    def close(self) -> None:
        for key in list(self.workers):
            self._drop(key)


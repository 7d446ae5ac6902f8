"""The child process that runs gfal2 operations for ONE address family.

Why a separate process: ``XRD_NETWORKSTACK`` is read once, when gfal2's XRootD plugin starts
(``gfal2.creat_context()``), and the family shim (``data/family_shim.c``) must be LD_PRELOADed at
exec time; both are per process. The parent (:mod:`se_dualstack.transfer.worker`) starts one worker per
family with that environment, sends one JSON request per line on stdin and reads one JSON answer
per line on stdout, and kills the worker when an answer is late: that is the hard timeout.

This module never prints credentials; it only sees the proxy through ``X509_USER_PROXY`` and a
bearer token through the file ``BEARER_TOKEN_FILE`` names (read once, handed to gfal2's
credentials API for the URL prefixes the parent names; other clients read the same file
themselves). It knows no protocol: the parent sends every protocol's options (from
:mod:`se_dualstack.transfer.protocols`) in the worker's configuration and in the requests.
"""

from __future__ import annotations

import json
import os
import signal
import stat as stat_mod
import sys
import time
from typing import Any

# gfal2's own timeouts of every worker (the protocols' plugin options come in the configuration).
CORE_TIMEOUTS = (("CORE", "NAMESPACE_TIMEOUT"), ("CORE", "CHECKSUM_TIMEOUT"))


def _set_opt(ctx: Any, section: str, key: str, value: bool | int | str) -> None:
    """Set one gfal2 option by its Python type (bool before int: bool is an int)."""
    if isinstance(value, bool):
        ctx.set_opt_boolean(section, key, value)
    elif isinstance(value, int):
        ctx.set_opt_integer(section, key, value)
    else:
        ctx.set_opt_string(section, key, value)


def _enoent(exc: Any) -> bool:
    """ENOENT, also as XRootD's redirector reports it (code 400, "no such file or directory")."""
    return exc.code == 2 or "no such file" in str(exc.message).lower()


class Worker:
    """One gfal2 context plus the log of the family shim, answering requests."""

    def __init__(self, config: dict[str, Any]) -> None:
        import gfal2  # imported here: the environment (XRD_*, LD_PRELOAD) is already in place

        self.gfal2 = gfal2
        self.ctx = gfal2.creat_context()
        self.family = int(config.get("family", 0))
        timeout = int(config.get("timeout", 60))
        opts = [(section, key, timeout) for section, key in CORE_TIMEOUTS]
        opts += [tuple(o) for o in config.get("options", [])]  # type: ignore[misc]
        self.options_set: list[str] = []
        for section, key, value in opts:
            try:
                _set_opt(self.ctx, section, key, value)
                self.options_set.append(f"{section}:{key}={value}")
            except gfal2.GError:
                pass  # an option this gfal2 build does not know: the hard timeout still holds
        self.connlog = os.environ.get("SE6_CONNLOG", "")
        self._log_pos = 0
        token_file = os.environ.get("BEARER_TOKEN_FILE", "")
        if os.environ.get("SE6_AUTH") == "token" and token_file:
            with open(token_file) as f:
                cred = self.ctx.cred_new("BEARER", f.read().strip())
            # Third-party copies: gfal2 also passes it on to the active server.
            for prefix in config.get("token_prefixes", []):
                self.ctx.cred_set(prefix, cred)
            # The parent pointed X509_USER_PROXY at no file so that gfal2's http plugin, which
            # reads it when the context is made, presents no client certificate beside the token
            # (worker.worker_env). XrdCl reads it later, at its first TLS connection, and would
            # fail on the missing file: from here on the variable is gone (ztn needs no proxy).
            os.environ.pop("X509_USER_PROXY", None)

    def connections(self) -> list[str]:
        """New lines of the shim's connect log since the last call."""
        if not self.connlog:
            return []
        try:
            with open(self.connlog, "rb") as f:
                f.seek(self._log_pos)
                data = f.read()
        except OSError:
            return []
        self._log_pos += len(data)
        return [ln for ln in data.decode(errors="replace").splitlines() if ln.strip()]

    # --- operations -------------------------------------------------------------------------------

    def op_ping(self, req: dict[str, Any]) -> dict[str, Any]:
        return {"pid": os.getpid(), "version": self.gfal2.get_version(), "options": self.options_set}

    def op_listdir(self, req: dict[str, Any]) -> dict[str, Any]:
        """Stat the test directory (create it with parents when missing), then list it.

        Stat first: gfal2's XRootD listing of an *empty* directory through a redirector answers
        "no such file or directory", which must not be mistaken for a missing directory.
        """
        created = False
        try:
            st = self.ctx.stat(req["url"])
        except self.gfal2.GError as exc:
            if not _enoent(exc) or not req.get("create", True):
                raise
            self.ctx.mkdir_rec(req["url"], 0o755)
            created = True
            st = self.ctx.stat(req["url"])
        if not stat_mod.S_ISDIR(st.st_mode):
            return {"entries": -1, "created": False, "error_text": "not a directory"}
        try:
            entries: int | str = len(self.ctx.listdir(req["url"]))
        except self.gfal2.GError as exc:
            if not _enoent(exc):
                raise
            entries = 0
        return {"entries": entries, "created": created}

    def op_copy(self, req: dict[str, Any]) -> dict[str, Any]:
        """One gfal2 copy with ADLER32 checked at both ends against the value the parent knows."""
        events: list[str] = []
        params = self.ctx.transfer_parameters()
        params.timeout = int(req.get("timeout", 60))
        params.overwrite = bool(req.get("overwrite", False))
        params.create_parent = False
        params.nbstreams = int(req.get("nbstreams", 1))
        if req.get("checksum"):
            params.checksum_check = True
            mode = getattr(self.gfal2.checksum_mode, req.get("checksum_mode", "both"))
            params.set_checksum(mode, "ADLER32", req["checksum"])
        for section, key, value in req.get("options", []):  # e.g. a third-party copy's mode
            _set_opt(self.ctx, section, key, value)

        def on_event(ev: Any) -> None:
            if len(events) < 50:
                events.append(f"{ev.stage}: {ev.description}".strip())

        params.event_callback = on_event
        self.ctx.filecopy(params, req["src"], req["dst"])
        return {"events": events}

    def op_stat(self, req: dict[str, Any]) -> dict[str, Any]:
        st = self.ctx.stat(req["url"])
        return {"size": st.st_size, "mode": st.st_mode}

    def op_checksum(self, req: dict[str, Any]) -> dict[str, Any]:
        return {"checksum": self.ctx.checksum(req["url"], req.get("algo", "ADLER32")).lower()}

    def op_unlink(self, req: dict[str, Any]) -> dict[str, Any]:
        self.ctx.unlink(req["url"])
        return {}

    def op_gone(self, req: dict[str, Any]) -> dict[str, Any]:
        """Confirm a deleted file is gone: ENOENT is success, a stat answer is not."""
        try:
            st = self.ctx.stat(req["url"])
        except self.gfal2.GError as exc:
            if _enoent(exc):
                return {"gone": True, "note": "stat says: no such file"}
            if exc.code == 40 and req.get("loop_is_gone"):
                # ELOOP: a manager still redirects to the server that held the file and that
                # server answers "not found": a redirect loop, i.e. the file is gone there.
                return {"gone": True, "note": "stat: redirect loop (the data server has no such file; "
                        "the manager's location cache still points to it)"}
            raise
        return {"gone": False, "size": st.st_size}

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        """Run one request; a gfal2 error becomes ``ok: false`` with its text and errno."""
        op = getattr(self, f"op_{req.get('op')}", None)
        t0, c0 = time.monotonic(), time.process_time()
        out: dict[str, Any] = {"id": req.get("id"), "op": req.get("op")}
        if op is None:
            out.update(ok=False, error=f"unknown op {req.get('op')!r}", code=0)
        else:
            try:
                out.update(ok=True, **op(req))
            except self.gfal2.GError as exc:
                out.update(ok=False, error=str(exc.message).strip(), code=int(exc.code))
            except (OSError, KeyError, ValueError, TypeError) as exc:
                out.update(ok=False, error=f"{type(exc).__name__}: {exc}", code=0)
        out["elapsed"] = time.monotonic() - t0
        out["cpu"] = time.process_time() - c0  # this worker's CPU (all threads): the cost accounting
        out["connections"] = self.connections()
        return out


def main() -> int:
    """Serve requests until stdin closes. The first line is the worker's configuration."""
    # Ctrl-C belongs to the parent, which still needs this worker for cleanup.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = sys.stdout
    sys.stdout = sys.stderr  # anything a library prints must not corrupt the answer stream
    line = sys.stdin.readline()
    if not line:
        return 1
    try:
        worker = Worker(json.loads(line))
        out.write(json.dumps({"id": 0, "ok": True, "op": "start", "pid": os.getpid()}) + "\n")
    except Exception as exc:  # reported to the parent, which decides
        out.write(json.dumps({"id": 0, "ok": False, "op": "start", "error": repr(exc), "code": 0}) + "\n")
        out.flush()
        return 1
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        answer = worker.handle(json.loads(line))
        out.write(json.dumps(answer) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

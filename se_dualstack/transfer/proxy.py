"""The grid proxy check: a usable proxy, or one line naming its path, what is wrong and the fix.

Why before any transfer: with an expired or missing proxy every transfer would fail the same
way after its handshake; the run says so once ("could not run") and each test names the fix.
Only the end date is read; the proxy's contents never leave :func:`check_proxy`.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

EXPIRED_FIX = "renew the proxy: voms-proxy-init --voms <vo> (or grid-proxy-init), then re-run"

NO_PROXY_FIX = "run voms-proxy-init"


@dataclass(frozen=True)
class ProxyProblem:
    """Why the grid proxy cannot be used: the path, a short reason, and the tests' message."""

    path: str
    reason: str  # "no such file", "expired on 2026-11-24 20:00:00 UTC", ...
    message: str  # the one line every transfer test fails with (path and fix)

    def could_not_run_line(self) -> str:
        """The run's one terminal line when it exits "could not run (no credentials)"."""
        return (f"no valid grid proxy ({self.path}: {self.reason}): transfer checks could not run; "
                f"{NO_PROXY_FIX}")


def _openssl_date(text: str) -> str:
    """``Nov 24 20:00:00 2026 GMT`` -> ``2026-11-24 20:00:00 UTC`` (unchanged if unparsable)."""
    from datetime import datetime

    try:
        return datetime.strptime(text.replace("  ", " "), "%b %d %H:%M:%S %Y %Z").strftime(
            "%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return text


def check_proxy(path: str, timeout: float = 10.0) -> ProxyProblem | None:
    """None if the proxy is usable; else what is wrong with it (missing, unreadable, expired).

    Uses ``openssl x509 -checkend 0`` (the python cryptography package may be absent on a UI).
    Only the end date is read; the proxy's contents never leave this function.
    """
    if not path or not os.path.exists(path):
        shown = path or "$X509_USER_PROXY"
        return ProxyProblem(shown, "no such file",
                            f"no grid proxy at {shown}: create one with voms-proxy-init "
                            f"(or grid-proxy-init) and set X509_USER_PROXY")
    try:
        end = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-enddate"],
                             capture_output=True, text=True, timeout=timeout)
        chk = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-checkend", "0"],
                             capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return ProxyProblem(path, f"cannot be read ({exc})",
                            f"cannot read the grid proxy {path} with openssl: {exc}")
    if end.returncode != 0:
        return ProxyProblem(path, "not a readable certificate",
                            f"grid proxy {path} is not a readable certificate (openssl x509 failed)")
    when = end.stdout.strip().partition("=")[2]
    if chk.returncode != 0:
        return ProxyProblem(path, f"expired on {_openssl_date(when)}",
                            f"grid proxy {path} expired ({when}); {EXPIRED_FIX}")
    return None


def proxy_problem(path: str, timeout: float = 10.0) -> str | None:
    """None if the proxy is usable; else one line naming the path and the fix."""
    problem = check_proxy(path, timeout)
    return problem.message if problem is not None else None


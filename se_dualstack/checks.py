"""The check catalogue and the one helper that builds every failure message.

Each acceptance check has a stable id, a title, a rationale and a fix (the catalogue lives in
``data/checks.yml``, so reviewers read it as a list).  A failing check always says: the check id,
the host, what was expected, what was observed, and the exact fix, on one line first so the
pytest summary line is useful on its own.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from importlib import resources
from typing import Any, NoReturn

import pytest
import yaml


@dataclass(frozen=True)
class Check:
    """One entry of the catalogue."""

    id: str
    title: str
    concern: str
    rationale: str
    fix: str


class CheckFailure(AssertionError):
    """Raised by :func:`fail`; carries the structured parts for the report.

    ``cause`` names a root cause shared with other failures (a dead resolver, an unreachable
    host) so the summary shows it once, with the checks it took down listed under it.
    """

    def __init__(self, check: Check, host: str, expected: str, observed: str, fix: str,
                 cause: str = "") -> None:
        self.check = check
        self.host = host
        self.expected = expected
        self.observed = observed
        self.fix = fix
        self.cause = cause
        super().__init__(failure_message(check, host, expected, observed, fix))


class CouldNotRun(AssertionError):
    """A check that could not look at its host at all: not a finding about the host's
    configuration, so the report counts it apart from failures.

    By default the host is unreachable over ssh (cause ``unreachable:<host>``, the host at
    fault); with a ``cause`` the reason is elsewhere, e.g. ``suite-family:4`` when the suite
    machine itself has no IPv4 (no SE host is at fault, one root cause line for them all), or
    ``silent:<host>|<service>`` when a transfer was not tried because the service it needs did
    not answer an earlier one (one timeout paid per endpoint).
    """

    def __init__(self, check_id: str | None, host: str, reason: str, fix: str,
                 cause: str = "") -> None:
        self.check_id = check_id
        self.host = host
        self.reason = reason
        self.fix = fix
        self.cause = cause or f"unreachable:{host}"
        prefix = f"[{check_id}] " if check_id else ""
        what = f"could not run: {reason}" if cause else \
            f"host unreachable over ssh ({reason}); could not run"
        super().__init__(f"{prefix}{host}: {what}. Fix: {fix}")


@functools.cache
class CheckWarning(UserWarning):
    """What a check saw that is worth a look but no failure (a port the storage registry does not
    name, TLS): shown in pytest's warnings summary. Defined here, not in a test module, so that
    pytest-xdist's controller can rebuild a warning a worker raised."""


def catalogue() -> dict[str, Check]:
    """All checks by id, loaded once from the packaged YAML."""
    text = resources.files("se_dualstack").joinpath("data/checks.yml").read_text()
    raw = yaml.safe_load(text) or {}
    out: dict[str, Check] = {}
    for cid, entry in raw.items():
        out[cid] = Check(
            id=cid,
            title=entry["title"],
            concern=entry["concern"],
            rationale=" ".join(entry["rationale"].split()),
            fix=" ".join(entry["fix"].split()),
        )
    return out


def get(check_id: str) -> Check:
    """Look a check up by id; an unknown id is a programming error."""
    try:
        return catalogue()[check_id]
    except KeyError:
        raise KeyError(f"unknown check id {check_id!r}; add it to se_dualstack/data/checks.yml") from None


def failure_message(check: Check, host: str, expected: str, observed: str, fix: str) -> str:
    """Build the one message format every check uses (first line stands alone)."""
    return (
        f"[{check.id}] {host}: {check.title}: expected {expected}; observed {observed}. "
        f"Fix: {fix}"
    )


def fail(check_id: str, host: str, expected: str, observed: str, fix: str | None = None,
         cause: str = "", **fmt: Any) -> NoReturn:
    """Fail the current test with the standard message.

    ``fix`` defaults to the catalogue's fix text; ``fmt`` fills ``{placeholders}`` in it
    (e.g. ``{host}``, ``{port}``, ``{line}``) so the fix names the exact line or port.
    """
    check = get(check_id)
    text = (fix if fix is not None else check.fix).format(host=host, **fmt)
    raise CheckFailure(check, host, expected, observed, text, cause)


def expect(condition: bool, check_id: str, host: str, expected: str, observed: str,
           fix: str | None = None, **fmt: Any) -> None:
    """Fail with the standard message unless ``condition`` holds."""
    if not condition:
        fail(check_id, host, expected, observed, fix, **fmt)


def not_applicable(check_id: str, host: str, reason: str) -> NoReturn:
    """Skip a check that does not apply to this host, saying why (never to hide a failure)."""
    pytest.skip(f"[{check_id}] {host}: not applicable: {reason}")


@dataclass(frozen=True)
class Bound:
    """One check bound to one host: what a test's ``check`` fixture gives it.

    The id comes from the test's ``@pytest.mark.check`` mark (written once, read by the plugin)
    and the host from its parameter, so a test only states what it expected and observed.
    """

    id: str
    host: str

    def fail(self, expected: str, observed: str, fix: str | None = None, cause: str = "",
             **fmt: Any) -> NoReturn:
        fail(self.id, self.host, expected, observed, fix, cause, **fmt)

    def expect(self, condition: bool, expected: str, observed: str, fix: str | None = None,
               **fmt: Any) -> None:
        expect(condition, self.id, self.host, expected, observed, fix, **fmt)

    def not_applicable(self, reason: str) -> NoReturn:
        not_applicable(self.id, self.host, reason)

    def could_not_run(self, reason: str, fix: str, cause: str) -> NoReturn:
        """This check was not tried, for a root ``cause`` shown once (see :class:`CouldNotRun`)."""
        raise CouldNotRun(self.id, self.host, reason, fix, cause)

    def warn(self, what: str, fix: str) -> None:
        """A finding of this check about this host that is no failure (:class:`CheckWarning`)."""
        warnings.warn(CheckWarning(f"[{self.id}] {self.host}: {what}. Fix: {fix}"), stacklevel=2)

    def at(self, host: str) -> Bound:
        """The same check about another host (a transfer fails on its target, not its entry)."""
        return Bound(self.id, host)

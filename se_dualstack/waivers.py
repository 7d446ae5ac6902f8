"""pytest plugin: site waivers, recorded known deviations with a justification and an expiry.

Why: a site may accept a deviation for a while (a host to be retired, a vendor fix pending).
The failure is then reported as WAIVED with its justification -- never as passed -- and stops
failing the run.  A waiver is valid through its ``expires`` date (UTC); after that it no longer
applies and the failure says the waiver expired, so waivers cannot silently become permanent.

File (``--waivers FILE`` or ini ``se_waivers``), a YAML list::

    - check: dns-ptr6              # check id (exact, from the catalogue)
      hosts: "disk*.example.org"   # glob on the host name (or a list of globs)
      justification: reverse zone delegated by the NREN, ticket #1234
      expires: 2026-12-31          # YYYY-MM-DD, inclusive

A malformed file stops the run (exit 4) with one line naming the file, the entry (1-based) and
the key.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Generator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from se_dualstack import results

KEYS = ("check", "hosts", "justification", "expires")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class _Loader(yaml.SafeLoader):
    """SafeLoader that leaves dates as text, so a bad date is reported with its entry and key
    (PyYAML's own date conversion raises a bare ValueError without a position)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class Waiver:
    """One entry of the waiver file."""

    index: int  # 1-based position in the file, as error messages and reports name it
    check: str
    hosts: tuple[str, ...]
    justification: str
    expires: date

    def matches(self, check: str | None, host: str | None) -> bool:
        """Exact check id; host glob, case-insensitive like DNS names."""
        if check != self.check or not host:
            return False
        return any(fnmatch.fnmatchcase(host.lower(), pat.lower()) for pat in self.hosts)

    def expired(self, today: date) -> bool:
        return today > self.expires

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "check": self.check, "hosts": list(self.hosts),
                "justification": self.justification, "expires": self.expires.isoformat()}


class WaiverFileError(Exception):
    """Malformed waiver file; the message is one line naming file, entry and key."""


def parse(text: str, source: str, known_checks: set[str] | None = None) -> list[Waiver]:
    """Parse and validate the YAML text; ``known_checks`` (the catalogue) catches typos in ids."""
    try:
        raw = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: safe
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise WaiverFileError(f"waiver file {source}: not valid YAML{where}") from None
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise WaiverFileError(f"waiver file {source}: expected a YAML list of waivers, "
                              f"got {type(raw).__name__}")
    out = []
    for i, entry in enumerate(raw, start=1):
        def bad(key: str, why: str, i: int = i) -> WaiverFileError:
            return WaiverFileError(f"waiver file {source}: entry {i}: key '{key}': {why}")

        if not isinstance(entry, dict):
            raise WaiverFileError(f"waiver file {source}: entry {i}: expected a mapping with keys "
                                  f"{', '.join(KEYS)}")
        for key in entry:
            if key not in KEYS:
                raise bad(str(key), f"unknown key (allowed: {', '.join(KEYS)})")
        for key in KEYS:
            if key not in entry or entry[key] is None or entry[key] == "":
                raise bad(key, "missing or empty (required)")
        check = entry["check"]
        if not isinstance(check, str) or not check.strip():
            raise bad("check", "must be a check id string")
        check = check.strip()
        if known_checks is not None and check not in known_checks:
            raise bad("check", f"unknown check id {check!r}")
        hosts = entry["hosts"]
        hosts_t = (hosts,) if isinstance(hosts, str) else tuple(hosts) if isinstance(hosts, list) else None
        if not hosts_t or not all(isinstance(h, str) and h.strip() for h in hosts_t):
            raise bad("hosts", "must be a host glob pattern or a non-empty list of them")
        just = entry["justification"]
        if not isinstance(just, str) or not just.strip():
            raise bad("justification", "must be a non-empty text saying why the deviation is accepted")
        exp = entry["expires"]
        if isinstance(exp, str) and DATE_RE.match(exp.strip()):
            try:
                expires = date.fromisoformat(exp.strip())
            except ValueError:
                raise bad("expires", f"not a valid date: {exp!r}") from None
        else:
            raise bad("expires", f"must be a date YYYY-MM-DD, got {exp!r}")
        out.append(Waiver(i, check, tuple(h.strip() for h in hosts_t), " ".join(just.split()), expires))
    return out


def load(path: str | Path, known_checks: set[str] | None = None) -> list[Waiver]:
    """Read a waiver file; a missing file is as fatal as a malformed one."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise WaiverFileError(f"waiver file {path}: cannot read: {exc.strerror or exc}") from None
    return parse(text, str(path), known_checks)


def find(waivers: list[Waiver], check: str | None, host: str | None, today: date
         ) -> tuple[Waiver | None, Waiver | None]:
    """(first unexpired matching waiver, latest-expiring expired match) for one failure."""
    valid = next((w for w in waivers if w.matches(check, host) and not w.expired(today)), None)
    expired = [w for w in waivers if w.matches(check, host) and w.expired(today)]
    return valid, max(expired, key=lambda w: w.expires, default=None)


def _known_checks() -> set[str] | None:
    """Catalogue ids if the catalogue loads (it may be absent in standalone plugin tests)."""
    try:
        from se_dualstack import checks

        return set(checks.catalogue())
    except Exception:
        return None


# --------------------------------------------------------------------------- plugin


@dataclass
class _Active:
    path: str
    waivers: list[Waiver]
    today: date


ACTIVE_KEY = pytest.StashKey[_Active]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("se-waivers", "se-dualstack waivers")
    group.addoption("--waivers", default=None, metavar="FILE",
                    help="YAML list of waivers {check, hosts, justification, expires}; a matching "
                         "failure is reported as WAIVED until the expiry date")
    parser.addini("se_waivers", "waiver file (relative to the ini file), as --waivers", default="")


def _waiver_path(config: pytest.Config) -> str | None:
    opt = config.getoption("waivers", None)
    if opt:
        return str(opt)
    ini = config.getini("se_waivers")
    if ini:
        base = config.inipath.parent if config.inipath else config.rootpath
        return str(base / str(ini))
    return None


def pytest_configure(config: pytest.Config) -> None:
    """Load and validate the file before anything runs: a bad waiver file is a usage error."""
    path = _waiver_path(config)
    if not path:
        return
    try:
        waivers = load(path, _known_checks())
    except WaiverFileError as exc:
        raise pytest.UsageError(str(exc)) from None
    today = datetime.now(UTC).date()
    config.stash[ACTIVE_KEY] = _Active(path, waivers, today)
    try:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        digest = None
    config.stash[results.WAIVERS_META_KEY] = {
        "path": path, "sha256": digest, "today": today.isoformat(),
        "entries": [dict(w.as_dict(), expired=w.expired(today)) for w in waivers]}


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Turn a failure matching an unexpired waiver into WAIVED; mark one matching only expired ones.

    Outermost wrapper (tryfirst), so it sees the report as the other plugins leave it (the
    framework replaces a check failure's traceback with its one-line message).
    """
    report = yield
    active = item.config.stash.get(ACTIVE_KEY, None)
    if active is None or report.when != "call" or not report.failed or hasattr(report, "wasxfail"):
        return report
    check, host = results.identify(item, call.excinfo)
    valid, expired = find(active.waivers, check, host, active.today)
    if valid is not None:
        report.outcome = "skipped"
        report.wasxfail = f"waived: {valid.justification} (until {valid.expires.isoformat()})"  # type: ignore[attr-defined]
        report.res_waiver = dict(valid.as_dict(), file=active.path, expired=False)  # type: ignore[attr-defined]
        report.sections.append(("waiver", f"waiver {valid.index} of {active.path} applies: "
                                          f"{valid.justification} (until {valid.expires.isoformat()})"))
    elif expired is not None:
        note = (f"waiver {expired.index} of {active.path} for check {expired.check} on "
                f"{', '.join(expired.hosts)} expired on {expired.expires.isoformat()} "
                f"(justification was: {expired.justification}); fix the failure or renew the waiver")
        report.res_waiver = dict(expired.as_dict(), file=active.path, expired=True)  # type: ignore[attr-defined]
        longrepr = report.longrepr
        prefix = f"waiver expired on {expired.expires.isoformat()}: "
        crash = getattr(longrepr, "reprcrash", None)
        if isinstance(longrepr, str):
            report.longrepr = longrepr = prefix + longrepr
        elif crash is not None and isinstance(getattr(crash, "message", None), str):
            crash.message = prefix + crash.message
        if hasattr(longrepr, "addsection"):
            longrepr.addsection("waiver expired", note)  # type: ignore[union-attr]
        else:
            report.sections.append(("waiver expired", note))
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    """Count waived failures as their own category ("N waived"), shown as WAIVED, never as passed."""
    waiver = getattr(report, "res_waiver", None)
    if waiver and not waiver.get("expired") and report.skipped and hasattr(report, "wasxfail"):
        return "waived", "w", "WAIVED"
    return None


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """List waived failures with their justification, and waivers that expired."""
    tr = terminalreporter
    waived = tr.stats.get("waived", [])
    active = config.stash.get(ACTIVE_KEY, None)
    if not waived and active is None:
        return
    if waived:
        tr.write_sep("=", f"{len(waived)} waived failure(s)", yellow=True)
        for rep in waived:
            tr.write_line(f"WAIVED {rep.nodeid} - {rep.wasxfail}")
    if active is not None:
        for w in active.waivers:
            if w.expired(active.today):
                tr.write_line(f"waiver {w.index} ({w.check} on {', '.join(w.hosts)}) in {active.path} "
                              f"expired on {w.expires.isoformat()}: it no longer applies", yellow=True)

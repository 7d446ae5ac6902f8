"""Site waivers: recorded known deviations with a justification and an expiry.

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
the key. The pytest wiring is :mod:`se_dualstack.plugins.waivers`.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

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

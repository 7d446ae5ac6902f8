"""The JSON result file: one machine-readable record per check and host.

Why: sites run the suite before and after a change and every night; the HTML report is for
people, the result file is for :mod:`se_dualstack.compare` and CI. Pure apart from :func:`read`:
the run's records and metadata in, a :class:`ResultDoc` out; the plugin decides where it goes.

Formats: ``se-dualstack-results/2`` keeps each test's transfers as rows (one per transfer:
protocol, family, credential, address, the data steps' seconds and bytes) and its concern;
``/1`` kept per-direction throughput figures instead. Both are read (a site compares tonight's
run with last night's file of the previous version).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import se_dualstack
from se_dualstack import exitcodes
from se_dualstack.reporting.files import latest_stem, sha256
from se_dualstack.reporting.records import HostFacts, Record

FORMAT = "se-dualstack-results/2"
FORMAT_PREFIX = "se-dualstack-results/"


class ResultFileError(Exception):
    """A result file is missing, not JSON, or not a result file (one-line message)."""


@dataclass
class ResultDoc:
    """A result file: the run's metadata and its records (sorted by test id: xdist-stable)."""

    site: str
    records: list[Record]
    format: str = FORMAT
    flavour: str | None = None
    inventory: dict[str, Any] = field(default_factory=dict)  # path, sha256
    suite_version: str | None = None
    started: str | None = None
    finished: str | None = None
    duration: float = 0.0
    hosts: list[dict[str, Any]] = field(default_factory=list)
    exit_status: int | None = None
    exit_category: str | None = None
    exit_detail: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    partial: list[str] = field(default_factory=list)  # what narrowed the selection; [] = whole
    xdist_workers: int = 0
    collection_errors: list[dict[str, str]] = field(default_factory=list)
    waivers: dict[str, Any] | None = None
    baseline: dict[str, Any] | None = None
    path: str | None = None  # where it was read from (not written)

    def host_names(self) -> set[str]:
        names = {str(h["name"]) for h in self.hosts if isinstance(h, dict) and h.get("name")}
        return names | {r.host for r in self.records if r.host}

    @property
    def latest_stem(self) -> str:
        """The ``latest`` file this run may replace: ``<site>-latest``, or its selection's."""
        return latest_stem(self.site, self.partial)

    def check_ids(self) -> set[str]:
        return {r.check for r in self.records if r.check}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": self.format, "site": self.site, "flavour": self.flavour,
            "inventory": self.inventory, "suite_version": self.suite_version,
            "started": self.started, "finished": self.finished, "duration": self.duration,
            "hosts": self.hosts, "exit_status": self.exit_status,
            "exit_category": self.exit_category, "exit_detail": self.exit_detail,
            "counts": self.counts, "args": self.args, "partial": self.partial,
            "xdist_workers": self.xdist_workers,
            "collection_errors": self.collection_errors,
            "records": [r.to_dict() for r in self.records],
        }
        if self.waivers:
            out["waivers"] = self.waivers
        if self.baseline:
            out["baseline"] = self.baseline
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str | None = None) -> ResultDoc:
        """A result file's content (format 1 or 2), checked enough to compare it."""
        if not isinstance(data, Mapping) or not str(data.get("format", "")).startswith(FORMAT_PREFIX):
            raise ResultFileError("not an se-dualstack result file (no 'format': 'se-dualstack-results/N')")
        records = data.get("records")
        if not isinstance(records, list) or not all(isinstance(r, dict) and "nodeid" in r for r in records):
            raise ResultFileError("'records' must be a list of objects with a 'nodeid'")
        return cls(
            site=str(data.get("site") or ""), records=[Record.from_dict(r) for r in records],
            format=str(data["format"]), flavour=data.get("flavour"),
            inventory=dict(data.get("inventory") or {}), suite_version=data.get("suite_version"),
            started=data.get("started"), finished=data.get("finished"),
            duration=float(data.get("duration") or 0.0), hosts=list(data.get("hosts") or []),
            exit_status=data.get("exit_status"), exit_category=data.get("exit_category"),
            exit_detail=data.get("exit_detail"), counts=dict(data.get("counts") or {}),
            args=list(data.get("args") or []), partial=[str(p) for p in data.get("partial") or []],
            xdist_workers=int(data.get("xdist_workers") or 0),
            collection_errors=list(data.get("collection_errors") or []),
            waivers=data.get("waivers"), baseline=data.get("baseline"), path=path)


def read(path: str | Path) -> ResultDoc:
    """Read a result file (format 1 or 2); any problem is one :class:`ResultFileError` line."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultFileError("no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultFileError(f"cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ResultFileError(f"not JSON: {exc}") from None
    return ResultDoc.from_dict(data, path=str(p))


def host_list(site: Any, hosts: Mapping[str, HostFacts], records: Iterable[Record]) -> list[dict[str, Any]]:
    """Hosts in inventory order (others appended), with role, the best OS known and the
    firewall read on the host."""
    order: list[str] = []
    facts: dict[str, dict[str, Any]] = {}
    if site is not None:
        for h in site.hosts:
            order.append(h.name)
            facts[h.name] = {"role": h.role, "detected_os": h.detected_os, "declared_os": h.declared_os}
    for name, f in hosts.items():
        if name not in facts:
            order.append(name)
            facts[name] = {}
        facts[name].update({k: v for k, v in (("role", f.role), ("detected_os", f.detected_os),
                                                ("declared_os", f.declared_os),
                                                ("firewall", f.firewall)) if v})
    for rec in records:
        if rec.host and rec.host not in facts:
            order.append(rec.host)
            facts[rec.host] = {}
    out = []
    for name in order:
        f = facts[name]
        os_name = f.get("detected_os") or f.get("declared_os")
        source = "detected" if f.get("detected_os") else ("declared" if f.get("declared_os") else None)
        host = {"name": name, "role": f.get("role"), "os": os_name, "os_source": source}
        if f.get("firewall"):  # once a check read it
            host["firewall"] = f["firewall"]
        out.append(host)
    return out


def build(*, site: Any, inventory: str | None, started: datetime, finished: datetime,
          records: Mapping[str, Record], hosts: Mapping[str, HostFacts], exitstatus: int,
          args: list[str], workers: int, collection_errors: list[dict[str, str]],
          waivers: dict[str, Any] | None, partial: list[str] | None = None) -> ResultDoc:
    """The run's result file."""
    site_name = getattr(site, "name", None) or (Path(str(inventory)).stem if inventory else "site")
    recs = [records[k] for k in sorted(records)]
    counts: dict[str, int] = {}
    for rec in recs:
        counts[rec.outcome] = counts.get(rec.outcome, 0) + 1
    return ResultDoc(
        site=site_name, records=recs, flavour=getattr(site, "flavour", None),
        inventory={"path": str(inventory) if inventory else None, "sha256": sha256(inventory)},
        suite_version=se_dualstack.__version__,
        started=started.isoformat().replace("+00:00", "Z"),
        finished=finished.isoformat().replace("+00:00", "Z"),
        duration=(finished - started).total_seconds(), hosts=host_list(site, hosts, recs),
        exit_status=int(exitstatus), exit_category=exitcodes.category(exitstatus),
        exit_detail=exitcodes.detail(exitstatus), counts=counts, args=args,
        partial=list(partial or []), xdist_workers=workers,
        collection_errors=collection_errors, waivers=waivers or None)

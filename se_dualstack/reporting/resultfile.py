"""The JSON result file: one machine-readable record per check and host.

Why: sites run the suite before and after a change and every night; the HTML report is for
people, the result file is for :mod:`se_dualstack.compare` and CI. Pure: the run's records and
metadata in, a document out; the plugin decides where it goes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import se_dualstack
from se_dualstack import exitcodes

FORMAT = "se-dualstack-results/1"


def sha256(path: str | None) -> str | None:
    if not path:
        return None
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def host_list(site: Any, hostinfo: Mapping[str, Mapping[str, Any]],
              records: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Hosts in inventory order (records' hosts appended), with role and the best OS known."""
    order: list[str] = []
    facts: dict[str, dict[str, Any]] = {}
    if site is not None:
        for h in site.hosts:
            order.append(h.name)
            facts[h.name] = {"role": h.role, "detected_os": h.detected_os,
                             "declared_os": h.declared_os}
    for name, info in hostinfo.items():
        if name not in facts:
            order.append(name)
            facts[name] = {}
        facts[name].update({k: v for k, v in info.items() if k != "name" and v is not None})
    for rec in records:
        if rec["host"] and rec["host"] not in facts:
            order.append(rec["host"])
            facts[rec["host"]] = {}
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


def build_document(*, site: Any, inventory: str | None, started: datetime, finished: datetime,
                   records: Mapping[str, dict[str, Any]], hostinfo: Mapping[str, Mapping[str, Any]],
                   exitstatus: int, args: list[str], workers: int,
                   collection_errors: list[dict[str, str]],
                   waivers: dict[str, Any] | None) -> dict[str, Any]:
    """The result file's content: run metadata plus records sorted by test id (xdist-stable)."""
    site_name = getattr(site, "name", None) or (Path(str(inventory)).stem if inventory else "site")
    recs = [records[k] for k in sorted(records)]
    counts: dict[str, int] = {}
    for rec in recs:
        counts[rec["outcome"]] = counts.get(rec["outcome"], 0) + 1
    doc: dict[str, Any] = {
        "format": FORMAT,
        "site": site_name,
        "flavour": getattr(site, "flavour", None),
        "inventory": {"path": str(inventory) if inventory else None, "sha256": sha256(inventory)},
        "suite_version": se_dualstack.__version__,
        "started": started.isoformat().replace("+00:00", "Z"),
        "finished": finished.isoformat().replace("+00:00", "Z"),
        "duration": (finished - started).total_seconds(),
        "hosts": host_list(site, hostinfo, recs),
        "exit_status": int(exitstatus),
        "exit_category": exitcodes.category(exitstatus),
        "exit_detail": exitcodes.detail(exitstatus),
        "counts": counts,
        "args": args,
        "xdist_workers": workers,
        "collection_errors": collection_errors,
        "records": recs,
    }
    if waivers:
        doc["waivers"] = waivers
    return doc


def claim_stem(directory: Path, stem: str, suffix: str) -> str:
    """A file name no other run has: ``stem``, else ``stem-2``, ``stem-3``... created with O_EXCL.

    Why: a nightly job and a person starting the same site in the same second must both keep
    their report; creating the file exclusively is the only race-free way to take a name.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10000):
        name = stem if n == 1 else f"{stem}-{n}"
        try:
            os.close(os.open(directory / f"{name}{suffix}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            continue
        return name
    raise FileExistsError(f"{directory}: no free name for {stem}{suffix}")


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)

"""Report file names and writing: the site's safe name, the UTC stamp, exclusive names, digests.

Why one module: the HTML report, the JUnit XML, the result file and the comparison are named
``<site>-<UTC start>`` beside each other, claimed without races, written atomically, and the
inventory and the waiver file are identified by their sha256; each of these is one helper here.
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import datetime, timezone
from pathlib import Path

STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
# <site>-<stamp>, with -2, -3... for runs started in the same second
STAMP_RE = re.compile(r"^(?P<site>.+)-(?P<stamp>\d{8}T\d{6}Z)(?:-\d+)?$")


def safe_name(name: str) -> str:
    """A site name usable in a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "site"


def stamp(when: datetime) -> str:
    """``20261203T093609Z``: the UTC start of a run, as report names carry it."""
    return when.astimezone(timezone.utc).strftime(STAMP_FORMAT)


def sha256(path: str | Path | None) -> str | None:
    """Hex sha256 of a file, None when there is no file (or it cannot be read)."""
    if not path:
        return None
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


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


def selection_label(partial: list[str]) -> str:
    """A file-name-safe label of a narrowed selection (``["-m dns"]`` -> ``m_dns``), short.

    Long selections keep a readable start and a digest, so two selections never share a name.
    """
    text = safe_name(" ".join(p.lstrip("-") for p in partial))
    if len(text) <= 40:
        return text
    digest = hashlib.sha256(" ".join(partial).encode()).hexdigest()[:8]
    return f"{text[:31].rstrip('._-')}-{digest}"


def latest_stem(site: str, partial: list[str]) -> str:
    """``<site>-latest`` for a run of the whole selection, ``<site>-<label>-latest`` otherwise."""
    label = selection_label(partial) if partial else ""
    return f"{safe_name(site)}-{label}-latest" if label else f"{safe_name(site)}-latest"

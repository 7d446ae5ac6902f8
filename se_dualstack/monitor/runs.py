"""The runs of a site in a reports directory: every result file, the nights of one selection,
the newest.

Why here: the Nagios probe, the Prometheus file and the history page all start from "the runs of
this site under reports/", and must agree on which they are. A night is a run of the selection
the site runs every night: the whole selection when the directory holds one (the ``latest`` a
nightly job replaces), else the selection of the newest run (a nightly job that always runs
``-m "not transfer"``); a hand run narrowed by ``-m dns`` in between is none of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from se_dualstack.reporting.resultfile import ResultDoc, ResultFileError, read


class NoRuns(Exception):
    """No result file to read (one-line message: the directory, the site)."""


def result_files(directory: Path) -> list[Path]:
    """The timestamped result files (not the ``latest`` copies, nor hidden baselines)."""
    return sorted(p for p in directory.glob("*.json")
                  if not p.name.startswith(".") and not p.stem.endswith("-latest"))


def read_all(directory: Path) -> tuple[list[ResultDoc], list[str]]:
    """Every result file of the directory, and a line for each JSON that is not one."""
    if not directory.is_dir():
        raise NoRuns(f"{directory} is not a directory")
    docs, skipped = [], []
    for p in result_files(directory):
        try:
            docs.append(read(p))
        except ResultFileError as exc:
            skipped.append(f"{p.name}: {exc}")
    return docs, skipped


def sites(docs: Iterable[ResultDoc]) -> list[str]:
    return sorted({d.site for d in docs})


def of_site(docs: list[ResultDoc], site: str | None, where: str) -> list[ResultDoc]:
    """The runs of ``site`` (the only site there when None), oldest first."""
    names = sites(docs)
    if site is None:
        if len(names) > 1:
            raise NoRuns(f"{where} holds runs of several sites ({', '.join(names)}): give --site")
        site = names[0] if names else None
    mine = [d for d in docs if d.site == site]
    if not mine:
        raise NoRuns(f"no result file of {site or 'any site'} in {where}")
    return sorted(mine, key=lambda d: (d.started or "", d.path or ""))


def nights(runs: list[ResultDoc]) -> list[ResultDoc]:
    """The runs of the nightly selection (see the module doc), oldest first."""
    if not runs:
        return []
    whole = [d for d in runs if not d.partial]
    if whole:
        return whole
    newest = runs[-1].partial
    return [d for d in runs if d.partial == newest]


def newest(directory: Path, site: str | None = None) -> ResultDoc:
    """The newest night of ``site`` under ``directory``."""
    docs, _ = read_all(directory)
    return nights(of_site(docs, site, str(directory)))[-1]


def newest_per_site(directory: Path, site: str | None = None) -> list[ResultDoc]:
    """The newest night of every site under ``directory`` (of ``site`` only, when given)."""
    docs, _ = read_all(directory)
    names = [site] if site else sites(docs)
    if not names:
        raise NoRuns(f"no result file in {directory}")
    return [nights(of_site(docs, n, str(directory)))[-1] for n in names]

"""Numbers over transfers: success rate and throughput per case or per protocol x family.

Why here and not in the report: the same figures go to the terminal, the HTML summary and the
result file (where :mod:`se_dualstack.compare` matches them between two runs).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from se_dualstack.transfer.outcome import TransferResult


@dataclass
class RepeatStats:
    """Success rate and throughput of N runs of one transfer (or one protocol x family)."""

    runs: int
    successes: int
    failures: list[str]
    upload: list[float]  # bytes/s of successful uploads
    download: list[float]

    @property
    def rate(self) -> float:
        return self.successes / self.runs if self.runs else 0.0

    @staticmethod
    def _mmm(xs: list[float]) -> tuple[float, float, float] | None:
        return (statistics.median(xs), min(xs), max(xs)) if xs else None

    @property
    def upload_mmm(self) -> tuple[float, float, float] | None:
        return self._mmm(self.upload)

    @property
    def download_mmm(self) -> tuple[float, float, float] | None:
        return self._mmm(self.download)


def summarize(results: Iterable[TransferResult]) -> RepeatStats:
    rs = list(results)
    ok = [r for r in rs if r.ok]
    return RepeatStats(
        runs=len(rs), successes=len(ok),
        failures=[f"{r.case_id}: {r.error_summary()}" for r in rs if not r.ok],
        upload=[x for r in ok if (x := r.upload_rate)],
        download=[x for r in ok if (x := r.download_rate)],
    )


# Data-moving step -> direction of the result file's transfer figures.
DIRECTIONS = {"upload": "upload", "download": "download", "tpc": "tpc"}


def figures(results: Iterable[TransferResult]) -> list[dict[str, Any]]:
    """The result file's ``transfer`` figures of one test: one per direction, over its repeats.

    ``bytes`` and ``seconds`` are summed over the successful transfers (so the rate is their
    aggregate throughput) and ``runs`` counts them; one figure per protocol/family/direction is
    what :mod:`se_dualstack.compare` matches between two runs. Failed transfers add nothing.
    """
    acc: dict[tuple[str, int, str], list[float]] = {}
    for r in results:
        if not r.ok:
            continue
        for s in r.steps:
            direction = DIRECTIONS.get(s.name)
            if direction is None or s.throughput is None:
                continue
            tot = acc.setdefault((r.protocol, r.family, direction), [0, 0.0, 0])
            tot[0] += s.nbytes
            tot[1] += s.seconds
            tot[2] += 1
    return [{"protocol": p, "family": f, "direction": d, "bytes": int(b), "seconds": round(sec, 6),
             "runs": int(n)} for (p, f, d), (b, sec, n) in acc.items()]


def group_stats(results: Iterable[TransferResult]) -> dict[tuple[str, int], RepeatStats]:
    """Stats per (protocol, family), over every entry point and repeat."""
    groups: dict[tuple[str, int], list[TransferResult]] = {}
    for r in results:
        groups.setdefault((r.protocol, r.family), []).append(r)
    return {k: summarize(v) for k, v in sorted(groups.items())}


def mib_s(rate: float | None) -> str:
    return "-" if rate is None else f"{rate / 2**20:.1f} MiB/s"


def fmt_mmm(m: tuple[float, float, float] | None) -> str:
    if m is None:
        return "-"
    return f"{m[0] / 2**20:.1f} (min {m[1] / 2**20:.1f}, max {m[2] / 2**20:.1f}) MiB/s"

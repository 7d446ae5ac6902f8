"""Numbers over transfers: success rate, per-step latency and (where it means something)
throughput, per case or per protocol x family x credential.

Why here and not in the report: the same figures go to the terminal, the HTML summary and the
result file (where :mod:`se_dualstack.compare` matches them between two runs).

Why latency apart from throughput: a 1 MiB root upload through a redirector takes ~1 s, nearly
all of it the manager's new-file lookup; shown as "1 MiB/s" it reads as a slow IPv6 path. A step
is a throughput figure only when it moved at least THROUGHPUT_MIN_BYTES; below that its time is
reported as latency (seconds) and its rate is not shown.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from se_dualstack.transfer.outcome import Step, TransferResult

# Below this a data step's time is per-request latency (redirects, TLS, the new-file lookup),
# not bandwidth: at ~100 MiB/s 32 MiB take ~0.3 s, well above the ~0.05-1 s of fixed costs
# measured on the testbed, so the rate is mostly the network's.
THROUGHPUT_MIN_BYTES = 32 * 2**20


@dataclass
class RepeatStats:
    """Success rate and throughput of N runs of one transfer (or one protocol x family)."""

    runs: int
    successes: int
    failures: list[str]
    upload: list[float]  # bytes/s of successful uploads that moved >= THROUGHPUT_MIN_BYTES
    download: list[float]
    upload_s: list[float] = field(default_factory=list)  # seconds of every successful upload
    download_s: list[float] = field(default_factory=list)
    tpc_s: list[float] = field(default_factory=list)
    size: int = 0  # bytes moved per transfer (the largest seen)

    @property
    def rate(self) -> float:
        return self.successes / self.runs if self.runs else 0.0

    @property
    def measurable(self) -> bool:
        """Were the transfers long enough for a throughput figure?"""
        return self.size >= THROUGHPUT_MIN_BYTES

    @staticmethod
    def median(xs: list[float]) -> float | None:
        return statistics.median(xs) if xs else None

    @staticmethod
    def _mmm(xs: list[float]) -> tuple[float, float, float] | None:
        return (statistics.median(xs), min(xs), max(xs)) if xs else None

    @property
    def upload_mmm(self) -> tuple[float, float, float] | None:
        return self._mmm(self.upload)

    @property
    def download_mmm(self) -> tuple[float, float, float] | None:
        return self._mmm(self.download)


def measured_rate(step: Step | None) -> float | None:
    """A step's throughput when it moved enough to measure one (see THROUGHPUT_MIN_BYTES)."""
    if step is None or step.nbytes < THROUGHPUT_MIN_BYTES:
        return None
    return step.throughput


def _seconds(results: list[TransferResult], name: str) -> list[float]:
    return [s.seconds for r in results if (s := r.step(name)) is not None and s.ok]


def summarize(results: Iterable[TransferResult]) -> RepeatStats:
    rs = list(results)
    ok = [r for r in rs if r.ok]
    return RepeatStats(
        runs=len(rs), successes=len(ok),
        failures=[f"{r.case_id}: {r.error_summary()}" for r in rs if not r.ok],
        upload=[x for r in ok if (x := measured_rate(r.step("upload")))],
        download=[x for r in ok if (x := measured_rate(r.step("download")))],
        upload_s=_seconds(ok, "upload"), download_s=_seconds(ok, "download"), tpc_s=_seconds(ok, "tpc"),
        size=max((s.nbytes for r in ok for s in r.steps), default=0),
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


def group_stats(results: Iterable[TransferResult]) -> dict[tuple[str, int, str], RepeatStats]:
    """Stats per (protocol, family, credential), over every entry point and repeat."""
    groups: dict[tuple[str, int, str], list[TransferResult]] = {}
    for r in results:
        groups.setdefault((r.protocol, r.family, r.auth), []).append(r)
    return {k: summarize(v) for k, v in sorted(groups.items())}


def mib_s(rate: float | None) -> str:
    return "-" if rate is None else f"{rate / 2**20:.1f} MiB/s"


def secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def latency_note(size: int) -> str:
    """Why no throughput is shown for transfers of ``size`` bytes."""
    return (f"throughput not measured: {size / 2**20:.3g} MiB per transfer is latency-bound "
            f"(< {THROUGHPUT_MIN_BYTES // 2**20} MiB; use --transfer-size 100M for bandwidth)")


def fmt_mmm(m: tuple[float, float, float] | None) -> str:
    if m is None:
        return "-"
    return f"{m[0] / 2**20:.1f} (min {m[1] / 2**20:.1f}, max {m[2] / 2**20:.1f}) MiB/s"

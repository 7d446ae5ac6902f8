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

from se_dualstack.reporting.records import TransferRow
from se_dualstack.transfer.cases import is_nat64
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


# The data-moving steps a row keeps (seconds and bytes), also the comparison's directions.
DATA_STEPS = ("upload", "download", "tpc")


def row(result: TransferResult, entry_address: str = "") -> TransferRow:
    """One transfer as the report, the run summary and the result file keep it (no URLs, no
    credentials: the error is the one-line summary, scrubbed where the report is made).

    ``entry_address``: the entry name's one address of the family, when the caller knows it
    from DNS. A warm worker keeps its XRootD channel to a redirector open, so a later transfer
    through it opens no new connection to the entry: the first connection observed is then
    where the redirect landed (or there is none), not the entry's address.
    """
    address, landed = result.address, result.landed
    if entry_address and address != entry_address:
        seen = next((c for c in result.connections if not c.refused and c.address == address), None)
        moved = f"[{address}]:{seen.port}" if seen is not None else ""
        landed = ", ".join(x for x in dict.fromkeys([moved, *landed.split(", ")]) if x)
        address = entry_address
    return TransferRow(
        case=result.case_id, protocol=result.protocol, family=result.family, auth=result.auth,
        ok=result.ok, endpoint=result.endpoint, address=address, landed=landed,
        error=result.error_summary(), nat64=is_nat64(result.case_id),
        steps={s.name: (round(s.seconds, 6), s.nbytes) for s in result.steps
               if s.ok and s.name in DATA_STEPS})


def _rate(step: tuple[float, int] | None) -> float | None:
    """Bytes/s of a row's step that moved enough to measure one."""
    if step is None or step[1] < THROUGHPUT_MIN_BYTES or step[0] <= 0:
        return None
    return step[1] / step[0]


def repeat_stats(rows: Iterable[TransferRow]) -> RepeatStats:
    """Success rate, latencies and (where measurable) throughputs over transfer rows."""
    rs = list(rows)
    ok = [r for r in rs if r.ok]

    def seconds(name: str) -> list[float]:
        return [r.steps[name][0] for r in ok if name in r.steps]

    return RepeatStats(
        runs=len(rs), successes=len(ok),
        failures=[f"{r.case}: {r.error}" for r in rs if not r.ok],
        upload=[x for r in ok if (x := _rate(r.steps.get("upload")))],
        download=[x for r in ok if (x := _rate(r.steps.get("download")))],
        upload_s=seconds("upload"), download_s=seconds("download"), tpc_s=seconds("tpc"),
        size=max((b for r in ok for _, b in r.steps.values()), default=0),
    )


def summarize(results: Iterable[TransferResult]) -> RepeatStats:
    """:func:`repeat_stats` of one test's transfers (its repeats), as the test reports them."""
    return repeat_stats(row(r) for r in results)


def figures(rows: Iterable[TransferRow]) -> dict[str, float]:
    """A test's rate per ``protocol/family/direction`` (MB/s), over its successful repeats of
    the steps that measured one (moved at least THROUGHPUT_MIN_BYTES).

    Bytes and seconds are summed over the repeats (so the rate is their aggregate throughput):
    one figure per protocol, family and direction is what :mod:`se_dualstack.compare` matches
    between two runs of the same test. Failed transfers and latency-bound steps add nothing: a
    1 MiB upload's "rate" is its latency upside down (0.39 -> 115 MB/s between two identical
    nights on the testbed).
    """
    acc: dict[str, list[float]] = {}
    for r in rows:
        if not r.ok:
            continue
        for direction, (sec, nbytes) in r.steps.items():
            if sec <= 0 or nbytes < THROUGHPUT_MIN_BYTES:
                continue
            tot = acc.setdefault(f"{r.protocol}/{r.family}/{direction}", [0.0, 0.0])
            tot[0] += nbytes
            tot[1] += sec
    return {label: b / s / 1e6 for label, (b, s) in acc.items() if s > 0}


def latencies(rows: Iterable[TransferRow]) -> dict[str, float]:
    """A test's median seconds per ``protocol/family/step`` over its successful repeats, for
    the data steps too small for a throughput (below THROUGHPUT_MIN_BYTES): what the comparison
    matches between two runs when :func:`figures` has nothing to say."""
    acc: dict[str, list[float]] = {}
    for r in rows:
        if not r.ok:
            continue
        for step, (sec, nbytes) in r.steps.items():
            if nbytes < THROUGHPUT_MIN_BYTES:
                acc.setdefault(f"{r.protocol}/{r.family}/{step}", []).append(sec)
    return {label: statistics.median(xs) for label, xs in acc.items()}


def group_stats(rows: Iterable[TransferRow]) -> dict[tuple[str, int, str], RepeatStats]:
    """Stats per (protocol, family, credential), over every entry point and repeat.

    A copy through NAT64 is not native IPv6: it stays out of the per-family figures."""
    groups: dict[tuple[str, int, str], list[TransferRow]] = {}
    for r in rows:
        if r.nat64:
            continue
        groups.setdefault((r.protocol, r.family, r.auth), []).append(r)
    return {k: repeat_stats(v) for k, v in sorted(groups.items())}


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

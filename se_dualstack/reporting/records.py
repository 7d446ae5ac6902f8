"""A run's outcomes as typed records: made once where a test's reports are folded, read by every
renderer (matrix, summary, root causes, result file, comparison, waivers, terminal).

Why typed and here: eight modules used to read the same untyped dicts, each knowing its keys.
These dataclasses are plain data (no pytest, no I/O); each has ``to_dict``/``from_dict`` so the
result file and xdist (which carries plain dicts only) go through one definition.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

FAILED = ("failed", "error")  # outcomes that make the suite exit 1
PASSED = ("passed", "xpassed")


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The keys of ``data`` that are fields of ``cls`` (a newer writer may add keys)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass
class TransferRow:
    """One transfer (one repetition of one case): where it went, how it ended, its data steps.

    ``steps`` keeps the data-moving steps that passed (upload, download, tpc) as (seconds,
    bytes): the summary's latencies and throughputs and the comparison's figures come from them.
    """

    case: str
    protocol: str
    family: int
    auth: str = "x509"
    ok: bool = False
    endpoint: str = ""
    address: str = ""
    landed: str = ""
    error: str = ""
    steps: dict[str, tuple[float, int]] = field(default_factory=dict)
    nat64: bool = False  # through a NAT64 gateway (a DNS64-made AAAA): not native IPv6

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["steps"] = {k: [round(s, 6), int(b)] for k, (s, b) in self.steps.items()}
        if not self.nat64:  # only when set: a native row reads as format 2 always wrote it
            del out["nat64"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TransferRow:
        d = _known(cls, data)
        d["family"] = int(d.get("family") or 0)
        d["steps"] = {str(k): (float(v[0]), int(v[1])) for k, v in (d.get("steps") or {}).items()}
        return cls(**d)


@dataclass
class WaiverNote:
    """The waiver that applied to a failure (or applied until it expired), as the report and the
    result file name it: its entry in the waiver file, the file, whether it had expired."""

    index: int
    check: str
    hosts: list[str]
    justification: str
    expires: str  # YYYY-MM-DD
    file: str | None = None
    expired: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WaiverNote:
        d = _known(cls, data)
        d["hosts"] = list(d.get("hosts") or [])
        return cls(**{"index": 0, "check": "", "justification": "", "expires": "", **d})


def _waiver(data: Any) -> WaiverNote | None:
    return WaiverNote.from_dict(data) if isinstance(data, dict) else None


@dataclass
class HostFacts:
    """What the run learnt about one host, each fact read on that host (never borrowed from
    another host's report): role, OS, the firewall in use, why ssh could not reach it."""

    role: str = ""
    detected_os: str = ""
    declared_os: str = ""
    firewall: str = ""
    unreachable: str = ""

    def merge(self, other: HostFacts) -> None:
        """Take every fact ``other`` knows (a later report may know more, never less)."""
        for f in fields(self):
            value = getattr(other, f.name)
            if value:
                setattr(self, f.name, value)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HostFacts:
        return cls(**{k: str(v or "") for k, v in _known(cls, data).items()})


@dataclass
class Tag:
    """What one test was about and how a phase of it ended, made where the test ran.

    It travels on the pytest report as one dict (``report.se``), because xdist carries a
    report's plain attributes and nothing else. ``facts`` are per host, about the host the test
    ran on; ``host`` is the host the outcome is about (the host at fault when a check names
    another host: a transfer's target, a third-party copy's peer), ``through`` the one it ran on.
    """

    check: str = ""
    host: str = ""
    through: str = ""
    concern: str = ""
    fix: str = ""
    message: str = ""
    cause: str = ""
    could_not_run: bool = False
    detail: dict[str, str] = field(default_factory=dict)
    waiver: WaiverNote | None = None
    facts: dict[str, HostFacts] = field(default_factory=dict)
    transfers: list[TransferRow] = field(default_factory=list)
    no_credentials: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["transfers"] = [t.to_dict() for t in self.transfers]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tag:
        d = _known(cls, data)
        d["facts"] = {h: HostFacts.from_dict(f) for h, f in (d.get("facts") or {}).items()}
        d["transfers"] = [TransferRow.from_dict(t) for t in d.get("transfers") or []]
        d["detail"] = dict(d.get("detail") or {})
        d["waiver"] = _waiver(d.get("waiver"))
        return cls(**d)


@dataclass
class Record:
    """One test's outcome over its setup, call and teardown: one entry of the result file."""

    nodeid: str
    test: str = ""
    check: str | None = None
    host: str | None = None
    outcome: str = "passed"
    message: str = ""
    duration: float = 0.0
    concern: str = ""
    fix: str = ""
    through: str | None = None
    cause: str | None = None
    could_not_run: bool = False
    detail: dict[str, str] = field(default_factory=dict)
    waiver: WaiverNote | None = None
    teardown_error: str | None = None
    transfers: list[TransferRow] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.outcome in FAILED

    @property
    def waived(self) -> bool:
        return self.outcome == "waived"

    def to_dict(self) -> dict[str, Any]:
        """The result file's record; optional keys only when set (as format 1 wrote them)."""
        out: dict[str, Any] = {
            "nodeid": self.nodeid, "test": self.test, "check": self.check, "host": self.host,
            "outcome": self.outcome, "message": self.message, "duration": self.duration,
            "concern": self.concern, "waiver": self.waiver.to_dict() if self.waiver else None,
            "transfers": [t.to_dict() for t in self.transfers],
        }
        for key in ("fix", "through", "cause", "could_not_run", "detail", "teardown_error"):
            value = getattr(self, key)
            if value:
                out[key] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        """A record of a result file, format 2 or 1 (format 1 kept ``transfer`` figures)."""
        d = _known(cls, data)
        d["transfers"] = [TransferRow.from_dict(t) for t in d.get("transfers") or []]
        if "transfer" in data and not d["transfers"]:
            d["transfers"] = rows_from_figures(data["transfer"])
        d["detail"] = dict(d.get("detail") or {})
        d["waiver"] = _waiver(d.get("waiver"))
        d["could_not_run"] = bool(d.get("could_not_run"))
        d["duration"] = float(d.get("duration") or 0.0)
        d["outcome"] = str(d.get("outcome") or "")
        d["message"] = str(d.get("message") or "")
        d["concern"] = str(d.get("concern") or "")
        d["fix"] = str(d.get("fix") or "")
        return cls(**d)


def rows_from_figures(figures: Any) -> list[TransferRow]:
    """Format 1's per-direction figures as rows, so a file of the previous version compares.

    Format 1 summed bytes and seconds of a test's successful repeats per protocol, family and
    direction; one row per figure, with that one step, gives the same sums back.
    """
    out = []
    for fig in figures if isinstance(figures, list) else []:
        if not isinstance(fig, dict) or not {"protocol", "family", "direction"} <= fig.keys():
            continue
        try:
            step = (float(fig.get("seconds") or 0.0), int(fig.get("bytes") or 0))
            out.append(TransferRow(case="", protocol=str(fig["protocol"]), family=int(fig["family"]),
                                   auth="", ok=True, steps={str(fig["direction"]): step}))
        except (TypeError, ValueError):
            continue
    return out

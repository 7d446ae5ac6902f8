"""What happened in one transfer: its steps and the evidence, as plain data (no I/O).

Why apart from the runner: the stats, the report and the plugin's run summary (which rebuilds
results from xdist reports) need these shapes without the worker machinery behind them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from se_dualstack.transfer.evidence import Connection, family_violations, used_connections

STEPS = ("list", "upload", "stat", "checksum", "download", "compare", "delete", "gone")
# Steps that clean up: they run whenever the upload may have created the file.
CLEANUP_STEPS = ("delete", "gone")


@dataclass
class Step:
    """One step of a transfer: what happened, how long it took, why it failed or was skipped."""

    name: str
    status: str = "pending"  # passed | failed | timeout | skipped
    seconds: float = 0.0
    detail: str = ""
    error: str = ""
    nbytes: int = 0
    # Cost accounting (bench/bench_cost.py): the step's wall time seen by the parent, the gfal2
    # worker's CPU and the parent thread's own CPU (request, /proc sampling, local files).
    wall: float = 0.0
    cpu_worker: float = 0.0
    cpu_parent: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "passed"

    @property
    def throughput(self) -> float | None:
        """Bytes per second of a data-moving step."""
        return self.nbytes / self.seconds if self.nbytes and self.seconds > 0 and self.ok else None


@dataclass
class TransferResult:
    """Everything the report and the test need about one transfer."""

    case_id: str
    protocol: str
    family: int
    size: int
    local_checksum: str = ""
    remote_url: str = ""
    local_url: str = ""
    steps: list[Step] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)
    forcing: str = ""
    forced: bool = True
    commands: list[str] = field(default_factory=list)
    target: str = ""
    cleanup_note: str = ""
    precondition: str = ""  # e.g. expired proxy: no step ran
    # Where it went and, on failure, who is at fault (transfer/addresses.py: attribute()): the
    # endpoint name, the pinned entry address, the address a redirect landed on, the host and
    # address at fault.
    endpoint: str = ""
    address: str = ""
    landed: str = ""
    fault_host: str = ""
    fault_address: str = ""
    auth: str = "x509"  # the credential used: "x509" (grid proxy) or "token" (WLCG bearer token)

    @property
    def failed_step(self) -> Step | None:
        return next((s for s in self.steps if s.status in ("failed", "timeout")), None)

    @property
    def violations(self) -> list[Connection]:
        return family_violations(self.connections, self.family)

    @property
    def ok(self) -> bool:
        return not self.precondition and self.failed_step is None and not self.violations and all(
            s.ok for s in self.steps)

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)

    @property
    def upload_rate(self) -> float | None:
        s = self.step("upload")
        return s.throughput if s else None

    @property
    def download_rate(self) -> float | None:
        s = self.step("download")
        return s.throughput if s else None

    @property
    def families_used(self) -> list[int]:
        return sorted({c.family for c in used_connections(self.connections)})

    def error_summary(self) -> str:
        """One line: the first failure (or the family violation), the addresses used."""
        if self.precondition:
            return self.precondition
        bad = self.failed_step
        if bad is not None:
            what = "timed out" if bad.status == "timeout" else "failed"
            return f"step {bad.name} {what} after {bad.seconds:.2f} s: {bad.error or bad.detail}"
        if self.violations:
            return (f"IPv{self.family} was forced but traffic used "
                    + ", ".join(str(c) for c in self.violations))
        return ""

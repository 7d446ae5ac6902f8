"""What happened in one transfer: its steps and the evidence, as plain data (no I/O).

Why apart from the runner: the stats, the report and the plugin's run summary (which rebuilds
results from xdist reports) need these shapes without the worker machinery behind them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from se_dualstack.transfer.evidence import Connection, family_violations, used_connections

# A step that failed after this share of its deadline got no answer in time: the client's own
# request timeout (XRD_REQUESTTIMEOUT = the deadline, 1 s resolution) fires just before the kill.
NO_ANSWER = 0.9
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
    # Set by the session: the root cause shared with other transfers (a service that did not
    # answer: ``silent:<host>|<service>``), whether this transfer was not tried because of it,
    # and the fix its evidence points to (:func:`evidence_fix`).
    cause: str = ""
    could_not_run: bool = False
    fix: str = ""
    deadline: float = 0.0  # each step's hard deadline (seconds; 0: not known)

    @property
    def failed_step(self) -> Step | None:
        return next((s for s in self.steps if s.status in ("failed", "timeout")), None)

    @property
    def timed_out(self) -> bool:
        """A step got no answer within its deadline: the worker was killed, or the client gave
        up on its own just before (XRootD's request timeout is set to the same deadline)."""
        bad = self.failed_step
        return bad is not None and (bad.status == "timeout" or (
            self.deadline > 0 and bad.seconds >= NO_ANSWER * self.deadline))

    @property
    def tried(self) -> bool:
        """Some step ran (no precondition stopped it, no silent endpoint kept it back)."""
        return not self.precondition and not self.could_not_run

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
        if bad is not None and bad.status != "timeout" and self.timed_out:
            return (f"step {bad.name} got no answer within the {self.deadline:g} s deadline (the "
                    f"client gave up after {bad.seconds:.2f} s: {bad.error or bad.detail})")
        if bad is not None:
            what = "timed out" if bad.status == "timeout" else "failed"
            return f"step {bad.name} {what} after {bad.seconds:.2f} s: {bad.error or bad.detail}"
        if self.violations:
            return (f"IPv{self.family} was forced but traffic used "
                    + ", ".join(str(c) for c in self.violations))
        return ""


# How servers say they refused a credential or its mapping (gfal2, davix, XRootD, GridFTP).
REFUSED = re.compile(r"(?i)permission (?:denied|refused)|not ?authori[sz]ed|unauthori[sz]ed|"
                     r"forbidden|HTTP\s*40[13]\b|authentication (?:failed|error|failure)|"
                     r"auth failed|login (?:incorrect|denied)|\b530[- ]|\[3010\]")


def not_tried_fix(host: str, port: int, service: str, what: str = "transfer") -> str:
    """The fix of a transfer (or a redirect chain) not tried because its endpoint was silent."""
    svc = f"{service} (port {port})" if service else f"port {port}"
    return (f"Make {svc} on {host} answer again (the root cause above); this {what} was not tried, "
            "so as not to wait for it once more.")


def evidence_fix(r: TransferResult, host: str, port: int, service: str,
                 other_family: list[TransferResult] | None) -> str:
    """The fix a failed transfer's evidence points to, for a site admin to act on.

    Why not one fix for every transfer failure: "IPv6 only failing: check the AAAA..." misleads
    when both families fail (the service is at fault), and "renew the proxy" when the server
    never saw a credential problem. ``other_family``: the same endpoint's transfers forced to the
    other family (None: not known in this process).
    """
    fam = r.family
    other = 4 if fam == 6 else 6
    svc = f"{service} (port {port})" if service else f"port {port}"
    if r.could_not_run:
        return not_tried_fix(host, port, service)
    if r.precondition:  # the suite could not use the credential: it never reached the server
        return (f"Fix the credential the failure names (it was never sent to {host}), then rerun; "
                f"{host} itself was not tested.")
    tried = [o for o in other_family or [] if o.tried]
    other_failed = any(not o.ok for o in tried)
    other_passed = bool(tried) and not other_failed
    bad = r.failed_step
    if r.timed_out and bad is not None:
        waited = f"{bad.seconds:.0f} s"
        if other_failed:
            return (f"{svc} on {host} did not answer within {waited} over IPv{fam}, and the IPv{other} "
                    f"transfer failed too: the service itself is stopped, hung or overloaded; check "
                    f"its process and log on {host}, restart it, and rerun the gfal-copy command "
                    "shown in the report.")
        if other_passed:
            return (f"{svc} on {host} did not answer within {waited} over IPv{fam} only (IPv{other} "
                    f"passed): something on the IPv{fam} path drops port {port} without a reply (a "
                    f"DROP rule in {host}'s IPv{fam} firewall or on the way), or the service's "
                    f"IPv{fam} socket is stuck; check with the gfal-copy command in the report.")
        return (f"{svc} on {host} did not answer within {waited} over IPv{fam}: the service is "
                f"stopped, hung or overloaded, or a firewall drops port {port} without a reply; "
                f"check its process and log on {host}, and the firewall's IPv{fam} rules.")
    text = (bad.error or bad.detail) if bad is not None else ""
    if REFUSED.search(text):
        # A firewall's reject (ICMPv6 administratively prohibited) reaches the client as EACCES,
        # "Permission denied", as a server's refusal does: the other family tells them apart.
        reject = (f"a firewall rejecting {r.landed or svc} on {host} over IPv{fam} (an ICMP "
                  "'administratively prohibited' reject reads as 'Permission denied'); see SE6-FW-0"
                  f"{1 if fam == 6 else 2} and the redirect chain (SE6-XFER-03)")
        if other_passed:
            return (f"Not the credential: IPv{other} to the same endpoint passed with it. Look for "
                    f"{reject}.")
        cred = "WLCG token" if r.auth == "token" else "grid proxy (X.509)"
        what = ("the token's scope, audience and issuer" if r.auth == "token"
                else "the proxy's VO and roles (voms-proxy-info --all)")
        also = f" Or, if the IPv{other} transfer passes, {reject}." if r.landed else ""
        return (f"{host} refused the {cred}: check {what} and how {host} authorizes it "
                "(grid-mapfile, VOMS or authdb rules, the token issuers it trusts) and the test "
                f"directory's permissions for the user it maps to.{also}")
    if other_failed:
        return (f"{r.protocol} fails over IPv6 and IPv4 to {host}: the service, not an address "
                f"family's path: check {svc} on {host} (running, its log, the test directory and "
                "its permissions) with the gfal-copy command shown in the report.")
    record, rules, route = ("AAAA", "IPv6 (ip6tables/nft ip6, firewalld)", "IPv6 address and default route") \
        if fam == 6 else ("A", "IPv4 (iptables/nft ip, firewalld)", "IPv4 address and default route")
    path = (f"{host}'s {record} record, its {route}, the {rules} rules for port {port}, and "
            f"{service or 'the service'} listening on IPv{fam}")
    if other_passed:
        return f"Only IPv{fam} fails (IPv{other} to the same endpoint passed): check {path}."
    return (f"IPv{fam} fails: check {path}; the IPv{other} transfer of the same endpoint tells "
            "whether the service itself is at fault.")

"""Hosts x concerns: how many checks passed, failed, did not apply or were waived.

Why a matrix: a reviewer of a site certification first wants to see which host is broken in
which respect; the per-test table below it has the details.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from se_dualstack.reporting.causes import elsewhere

CONCERNS = ("dns", "interfaces", "resolver", "firewall", "services", "transfer", "families",
            "dependencies")
CONCERN_TITLES = {
    "dns": "DNS", "interfaces": "Interfaces", "resolver": "Resolver files",
    "firewall": "Firewall", "services": "Services", "transfer": "Transfers",
    "families": "IPv6-only", "dependencies": "Dependencies",
}
# A record's outcome (as the result file keeps it) -> the matrix column it counts in.
CELL_OUTCOME = {"passed": "passed", "xpassed": "passed", "failed": "failed", "error": "failed",
                "skipped": "skipped", "waived": "xfailed", "xfailed": "xfailed"}


@dataclass
class Cell:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    xfailed: int = 0
    could_not_run: int = 0  # checks that could not look at the host (ssh unreachable)
    not_run_here: int = 0  # could not run for the suite machine's reason (not the host's: grey)

    @property
    def total(self) -> int:
        return (self.passed + self.failed + self.skipped + self.xfailed + self.could_not_run
                + self.not_run_here)

    @property
    def css(self) -> str:
        if self.failed or self.could_not_run:
            return "fail"
        if self.passed:
            return "pass"
        return "skip" if self.total else "none"


def matrix(records: Iterable[Mapping[str, Any]], concern_of: Mapping[str, str]
           ) -> tuple[list[str], dict[tuple[str, str], Cell]]:
    """Concern columns (known ones first, in order) and counts per (host, concern)."""
    cells: dict[tuple[str, str], Cell] = {}
    concerns = list(CONCERNS)
    for rec in records:
        if not rec.get("host"):
            continue
        concern = concern_of.get(rec["nodeid"], "other")
        if concern not in concerns:
            concerns.append(concern)
        c = cells.setdefault((rec["host"], concern), Cell())
        col = CELL_OUTCOME.get(rec["outcome"], "failed")
        if col == "failed" and rec.get("could_not_run"):
            col = "not_run_here" if elsewhere(rec) else "could_not_run"
        setattr(c, col, getattr(c, col) + 1)
    return concerns, cells


def used_concerns(concerns: list[str], cells: Mapping[tuple[str, str], Cell],
                  hosts: list[str]) -> list[str]:
    """The concern columns that have at least one check on one host."""
    return [c for c in concerns if any((h, c) in cells for h in hosts)]


def cell_html(c: Cell | None) -> str:
    if c is None or not c.total:
        return '<td class="se6-none" title="no check of this concern ran">&ndash;</td>'
    bits = []
    if c.failed:
        bits.append(f'<span class="n-fail">{c.failed} failed</span>')
    if c.could_not_run:
        bits.append(f'<span class="n-fail">{c.could_not_run} could not run</span>')
    if c.passed:
        bits.append(f"{c.passed} passed")
    if c.not_run_here:
        bits.append(f'<span class="n-skip">{c.not_run_here} could not run from here</span>')
    if c.skipped:
        bits.append(f'<span class="n-skip">{c.skipped} n/a</span>')
    if c.xfailed:
        bits.append(f'<span class="n-skip">{c.xfailed} waived</span>')
    return f'<td class="se6-{c.css}">{"<br>".join(bits)}</td>'


def terminal_lines(hosts: list[str], concerns: list[str],
                   cells: Mapping[tuple[str, str], Cell]) -> list[tuple[str, bool]]:
    """The matrix as terminal lines, each with whether its host failed something."""
    width = max(len(n) for n in hosts)
    out = [("host".ljust(width) + "  " + "  ".join(c[:12].ljust(12) for c in concerns), False)]
    for n in hosts:
        parts = []
        for c in concerns:
            cell = cells.get((n, c))
            if cell is None:
                txt = "-"
            elif cell.failed:
                txt = f"FAIL {cell.failed}/{cell.total}"
            elif cell.could_not_run:
                txt = f"NORUN {cell.could_not_run}/{cell.total}"
            else:
                txt = f"ok {cell.passed}/{cell.total}"
            parts.append(txt.ljust(12))
        bad = any((cells.get((n, c)) or Cell()).css == "fail" for c in concerns)
        out.append((n.ljust(width) + "  " + "  ".join(parts), bad))
    return out


def title(concern: str) -> str:
    return html.escape(CONCERN_TITLES.get(concern, concern))

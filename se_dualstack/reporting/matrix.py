"""Hosts x concerns: how many checks passed, failed, could not run, were waived or did not apply.

Why a matrix: a reviewer of a site certification first wants to see which host is broken in
which respect; the per-test table below it has the details. Every cell, in the report and on
the terminal, counts each outcome on its own (one convention, said in the legend): never a
"failed of total" in one cell beside a "passed of total" in the next.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from se_dualstack.reporting.causes import elsewhere
from se_dualstack.reporting.concerns import concerns
from se_dualstack.reporting.records import Record

# A record's outcome -> the count it adds to (could-not-run failures are counted apart).
CELL_OUTCOME = {"passed": "passed", "xpassed": "passed", "failed": "failed", "error": "failed",
                "skipped": "not_applicable", "waived": "waived", "xfailed": "waived"}
# (count, terminal letter, words in the report), in the order a cell shows them.
PARTS = (("failed", "F", "failed"), ("could_not_run", "X", "could not run"),
         ("passed", "p", "passed"), ("not_run_here", "x", "could not run from here"),
         ("waived", "w", "waived"), ("not_applicable", "n", "n/a"))
LEGEND = ("each cell counts the host's checks of that concern by outcome: p passed, F failed, "
          "X could not run (host unreachable, or a transfer not tried after its service did not "
          "answer), x could not run from here (the suite machine lacks the family; no host at "
          "fault), w failure waived, n not applicable")
WIDTH = 13  # a terminal column: "30p 1F 1w 1n"


@dataclass
class Cell:
    passed: int = 0
    failed: int = 0
    could_not_run: int = 0  # checks that could not look at the host (ssh unreachable)
    not_run_here: int = 0  # could not run for the suite machine's reason, not the host's (grey)
    waived: int = 0
    not_applicable: int = 0

    @property
    def total(self) -> int:
        return (self.passed + self.failed + self.could_not_run + self.not_run_here + self.waived
                + self.not_applicable)

    @property
    def css(self) -> str:
        if self.failed or self.could_not_run:
            return "fail"
        if self.passed:
            return "pass"
        return "skip" if self.total else "none"

    def parts(self) -> list[tuple[str, int, str, str]]:
        """(count name, n, terminal letter, words) of the non-zero counts, failures first."""
        return [(name, getattr(self, name), letter, words) for name, letter, words in PARTS
                if getattr(self, name)]

    def terminal(self) -> str:
        """``30p 1F 1n``: the same counts as the report's cell."""
        return " ".join(f"{n}{letter}" for _, n, letter, _ in self.parts()) or "-"


@dataclass
class Matrix:
    """Concern columns in use (data order) and counts per (host, concern)."""

    hosts: list[str]
    concerns: list[str]
    cells: dict[tuple[str, str], Cell]

    def cell(self, host: str, concern: str) -> Cell | None:
        return self.cells.get((host, concern))

    def host_failed(self, host: str) -> bool:
        return any((self.cells.get((host, c)) or Cell()).css == "fail" for c in self.concerns)


def column(rec: Record) -> str:
    """The count a record adds to (a :class:`Cell` field): its outcome, a could-not-run failure
    apart, and apart again when the suite machine itself could not run it (no host at fault)."""
    col = CELL_OUTCOME.get(rec.outcome, "failed")
    if col == "failed" and rec.could_not_run:
        return "not_run_here" if elsewhere(rec) else "could_not_run"
    return col


def matrix(records: Iterable[Record], hosts: list[str]) -> Matrix:
    """Count every record with a host; columns are the concerns with a check on a listed host."""
    cells: dict[tuple[str, str], Cell] = {}
    order = list(concerns())
    for rec in records:
        if not rec.host:
            continue
        concern = rec.concern or "other"
        if concern not in order:
            order.append(concern)
        c = cells.setdefault((rec.host, concern), Cell())
        col = column(rec)
        setattr(c, col, getattr(c, col) + 1)
    used = [c for c in order if any((h, c) in cells for h in hosts)]
    return Matrix(hosts, used, cells)


def terminal_lines(m: Matrix) -> list[tuple[str, bool]]:
    """The matrix as terminal lines, each with whether its host failed something; then the legend."""
    width = max([len(n) for n in m.hosts] + [4])
    head = "host".ljust(width) + "  " + "  ".join(c[:WIDTH].ljust(WIDTH) for c in m.concerns)
    out = [(head, False)]
    for n in m.hosts:
        parts = [(m.cell(n, c) or Cell()).terminal().ljust(WIDTH) for c in m.concerns]
        out.append((n.ljust(width) + "  " + "  ".join(parts), m.host_failed(n)))
    out.append((f"({LEGEND})", False))
    return out


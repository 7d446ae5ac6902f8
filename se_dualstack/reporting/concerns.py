"""The concerns (dns, interfaces, ...): one list, in ``data/concerns.yml``.

Why data: the matrix's columns and their order, the titles, and the pytest markers the plugin
registers all come from it, so a new concern is one entry there (and its checks in checks.yml).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import yaml


@dataclass(frozen=True)
class Concern:
    """One concern: its marker name, the matrix column's title, the marker's help."""

    name: str
    title: str
    marker: str


@functools.cache
def concerns() -> dict[str, Concern]:
    """Every concern by name, in the report's column order."""
    text = resources.files("se_dualstack").joinpath("data/concerns.yml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text) or {}
    return {name: Concern(name, str(c["title"]), " ".join(str(c["marker"]).split()))
            for name, c in raw.items()}


def title(name: str) -> str:
    """The column title of a concern (its name when it is none of the known ones)."""
    c = concerns().get(name)
    return c.title if c is not None else name

"""Write the documentation's tables from the data they describe (``make docs``).

Why: a table copied by hand into a document drifts from the data (the README's fault list once
missed five of twenty faults). Each generated block sits between two marker comments:

    <!-- generated:NAME (make docs, from SOURCE): edit the source, not this block -->
    ...
    <!-- end generated:NAME -->

and is rewritten from its source: the check catalogue (``se_dualstack/data/checks.yml``), the
inventory variables (``se_dualstack/data/variables.yml``, defaults from ``knowledge.yml``) and
the testbed's fault catalogue (``testbed/faults.yml``). ``--check`` writes nothing and exits 1
when a document differs from what it would write (the unit tests run it).

Usage: python docs/generate.py [--check]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from se_dualstack import checks, knowledge  # noqa: E402  (the project root, not an install)
from testbed import faults  # noqa: E402

BLOCK = re.compile(r"(?P<head><!-- generated:(?P<name>[\w-]+) [^\n]*-->\n)(?P<body>.*?)"
                   r"(?P<tail><!-- end generated:(?P=name) -->)", re.DOTALL)


def cell(text: Any) -> str:
    """A Markdown table cell: one line, no unescaped pipe."""
    return " ".join(str(text).split()).replace("|", "\\|")


def table(head: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- checks


def checks_table() -> str:
    """id, concern (the pytest marker) and title of every check, in catalogue order."""
    return table(["id", "marker", "check"],
                 [[f"`{c.id}`", c.concern, c.title] for c in checks.catalogue().values()])


# --------------------------------------------------------------------------- faults


def _where(f: faults.Fault) -> str:
    bits = [", ".join(f.only_os) if f.only_os else "", f"{f.only_role} only" if f.only_role else ""]
    return "; ".join(b for b in bits if b) or "any host"


def _fault_name(f: faults.Fault) -> str:
    return f"`{f.name}:<{f.param}>`" if f.param else f"`{f.name}`"


def _caught_by(f: Any) -> str:
    """The checks a fault trips: on its own host, and (an issuer's fault) on every host that
    depends on it."""
    own = ", ".join(sorted(f.catches))
    dep = ", ".join(sorted(f.catches_dependents))
    if dep:
        return f"by {own}; on every SE host that depends on it by {dep}" if own else \
            f"on every SE host that depends on it by {dep}"
    return f"by {own}"


def faults_table() -> str:
    """Every fault of the catalogue: what the admin got wrong, where it applies, what catches it."""
    return table(["fault", "layer", "where", "what the admin got wrong", "caught by"],
                 [[_fault_name(f), f.applies, _where(f), f.story,
                   _caught_by(f).removeprefix("by ") + (f" ({f.note})" if f.note else "")]
                  for f in faults.load().values()])


def faults_list() -> str:
    """The same catalogue in one line per fault, for the README."""
    return "".join(f"- {_fault_name(f)}: {cell(f.story)} Caught {_caught_by(f)}.\n"
                   for f in faults.load().values())


# --------------------------------------------------------------------------- variables


def _value(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, (list, dict)):
        return yaml.safe_dump(v, default_flow_style=True, width=1000).strip()
    return str(v)


def variables() -> dict[str, list[dict[str, Any]]]:
    text = resources.files("se_dualstack").joinpath("data/variables.yml").read_text(encoding="utf-8")
    return yaml.safe_load(text) or {}


def _default(v: dict[str, Any], defaults: dict[str, Any]) -> str:
    name = v.get("name")
    if defaults.get(name) is not None:  # null in knowledge.yml: decided elsewhere, `default:` says where
        note = f" ({v['default_note']})" if v.get("default_note") else ""
        return f"`{_value(defaults[name])}`{note}"
    return str(v.get("default", "none"))


def _names(v: dict[str, Any]) -> str:
    names = [v["name"]] if "name" in v else list(v["names"])
    out = ", ".join(f"`{n}`" for n in names)
    aliases = ", ".join(f"`{a}`" for a in v.get("aliases") or [])
    return f"{out} ({aliases})" if aliases else out


def variables_table(section: str) -> str:
    defaults = knowledge.defaults()
    rows = [[_names(v), v["type"], _default(v, defaults), v["used_by"], v["meaning"]]
            for v in variables()[section]]
    return table(["variable", "type", "default", "used by", "meaning"], rows)


# --------------------------------------------------------------------------- documents

GENERATORS: dict[str, Callable[[], str]] = {
    "checks": checks_table,
    "faults": faults_table,
    "faults-list": faults_list,
}
DOCUMENTS = ["README.md", "inventory/README.md", "docs/testbed.md"]


def _generator(name: str) -> Callable[[], str]:
    if name.startswith("variables-"):
        slug = name.removeprefix("variables-")
        section = next((s for s in variables() if _slug(s) == slug), None)
        if section is None:
            raise KeyError(f"no section {slug!r} in se_dualstack/data/variables.yml")
        return lambda: variables_table(section)
    return GENERATORS[name]


def _slug(section: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", section.lower()).strip("-")


def render(text: str) -> str:
    """The document with every generated block rewritten from its source."""
    return BLOCK.sub(lambda m: m.group("head") + _generator(m.group("name"))() + m.group("tail"), text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write the documentation's generated tables.")
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 if a document differs")
    args = ap.parse_args(argv)
    stale = []
    for doc in DOCUMENTS:
        path = ROOT / doc
        text = path.read_text(encoding="utf-8")
        new = render(text)
        if new != text:
            stale.append(doc)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    if args.check and stale:
        print(f"out of date (run make docs): {', '.join(stale)}", file=sys.stderr)
        return 1
    for doc in stale:
        print(f"wrote {doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

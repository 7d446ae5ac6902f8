"""Where the installed suite's acceptance checks are: its ``pytest.ini`` and ``tests/``.

Why: ``se-dualstack run`` runs the suite a site installed, from any directory. A checkout (``pip
install -e .``, or a run from the clone) has them at its top; ``pip install .`` carries a copy
as package data under ``se_dualstack/suite/`` (symbolic links in the checkout, files once
installed). Either way test ids read ``tests/test_dns.py::...``, so result files compare
across the two.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def suite_dir() -> Path:
    """The directory holding the suite's ``pytest.ini`` and ``tests/``: the checkout, else the copy."""
    checkout = PACKAGE.parent
    pyproject = checkout / "pyproject.toml"
    if (checkout / "pytest.ini").is_file() and (checkout / "tests").is_dir() and pyproject.is_file() \
            and 'name = "se-dualstack"' in pyproject.read_text(errors="replace"):
        return checkout
    return PACKAGE / "suite"


def suite_ini() -> Path:
    """The suite's own ini file (markers, ``testpaths = tests``, ``--strict-markers``)."""
    return suite_dir() / "pytest.ini"


def is_suite_ini(path: Path) -> bool:
    """Is ``path`` the suite's ini file (the checkout's or the installed copy's)?"""
    for candidate in {suite_ini(), PACKAGE / "suite" / "pytest.ini"}:
        try:
            if candidate.is_file() and os.path.samefile(candidate, path):
                return True
        except OSError:
            continue
    return False

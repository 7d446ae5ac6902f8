"""Hook specifications of the suite's plugin (added in ``pytest_addhooks``).

Why hooks: the plugin's modules never import each other; when one learns something the others
need at a given moment, it calls a hook and they implement it (as pytest-html's ``hooks.py``
lets other plugins extend its report).
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.hookspec
def pytest_se_dualstack_site(config: pytest.Config, state: Any) -> None:
    """The site under test is known (``state.site``), early in ``pytest_configure``.

    Called before other plugins' ordinary ``pytest_configure`` (pytest-html reads its report
    path there), so an implementation can still choose report paths.
    """

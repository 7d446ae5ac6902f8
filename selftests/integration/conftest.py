"""Fixtures of the integration tests."""

from __future__ import annotations

import pytest
from pluginsuite import make_project


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A throw-away project of the plugin (see pluginsuite.py): conftest, inventory, checks."""
    return make_project(pytester, monkeypatch)

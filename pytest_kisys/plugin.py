"""pytest11 entry point (placeholder while the foundation lands)."""

from __future__ import annotations

import pytest


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Publish the ``pytest_kisys_*`` hooks."""
    from pytest_kisys import hookspecs

    pluginmanager.add_hookspecs(hookspecs)

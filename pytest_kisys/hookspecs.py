"""Hooks that pytest-kisys publishes for other plugins and conftests to implement.

Registered through ``pytest_addhooks`` in :mod:`pytest_kisys.plugin`. Callers always pass
keyword arguments. Hooks are only called while ``--kisys`` is on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest


if TYPE_CHECKING:
    from pytest_kisys.settings import Settings


@pytest.hookspec(historic=True)
def pytest_kisys_configure(config: pytest.Config, settings: Settings) -> None:
    """Called once, right after the kisys settings were resolved.

    Historic: conftests and plugins registered later (conftests load after the settings are
    resolved) are called as soon as they are registered, so a conftest can implement it.

    :param config: the pytest config (early: conftests are not imported yet).
    :param settings: the frozen, resolved settings of this run.

    .. versionadded:: 0.1
    """

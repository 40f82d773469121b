"""Build a :class:`Vetter` wired to a pytest run: run record, audit log and ``-v`` lines.

The installer and the collection safety net call :func:`vetter_for_config` instead of
constructing a ``Vetter`` by hand, so that every decision of the session lands in the run
record (``config.stash[RUN_KEY]``), reaches the ``pytest_kisys_decision`` hook and, with
``-v``, appears as one readable terminal line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pytest_kisys.record import RUN_KEY
from pytest_kisys.settings import Settings
from pytest_kisys.vet.interface import Decision
from pytest_kisys.vet.vetter import Vetter


def terminal_echo(config: pytest.Config) -> Callable[[str], None] | None:
    """``terminalreporter.write_line`` when pytest runs with ``-v`` (or more), else None."""
    if config.getoption("verbose", 0) <= 0:
        return None
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return None
    write_line: Callable[[str], None] = reporter.write_line
    return write_line


def vetter_for_config(config: pytest.Config, settings: Settings, **kwargs: Any) -> Vetter:
    """A Vetter recording into this run's :class:`RunRecord` and echoing with ``-v``.

    Extra keyword arguments (``transport``, ``clock``, ...) are passed to :class:`Vetter`.
    """
    kwargs.setdefault("record", config.stash.get(RUN_KEY, None))
    kwargs.setdefault("echo", terminal_echo(config))

    def on_decision(decision: Decision) -> None:
        config.hook.pytest_kisys_decision(config=config, decision=decision)

    kwargs.setdefault("on_decision", on_decision)
    return Vetter(settings, **kwargs)

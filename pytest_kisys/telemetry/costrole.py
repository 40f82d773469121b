"""Cost attribution without tracing, and the one way the run's cost summary is read.

The telemetry plugin measures every test's CPU time on its own hot path when tracing is on.
With tracing off, :class:`CostRole` does the same measurement (two clock reads and an append per
test) and nothing else, and only when something will read the figures: a JSON report, a cost
rate, or ``-v`` (see :func:`cost_wanted`). Either way the run's :class:`CostLedger` sits in
``config.stash[LEDGER_KEY]``; :func:`cost_summary` turns it into the :class:`CostSummary` the
terminal section and the JSON report show, with test ids redacted (an explicit parametrize id
may hold a secret).
"""

from __future__ import annotations

from collections.abc import Generator
import dataclasses
import time
from typing import Any

import pytest

from pytest_kisys.secrets.masking import redactor_of
from pytest_kisys.settings import Settings
from pytest_kisys.telemetry.cost import CostLedger
from pytest_kisys.telemetry.cost import CostSummary


LEDGER_KEY: pytest.StashKey[CostLedger] = pytest.StashKey()
"""The run's cost ledger (the telemetry plugin's with tracing on, else :class:`CostRole`'s)."""

WORKEROUTPUT_KEY = "kisys_cost"


def cost_wanted(config: pytest.Config, settings: Settings) -> bool:
    """Whether a run without tracing measures cost: only when a report, a rate or ``-v``
    will show it, so a plain ``--kisys`` run pays nothing per test for it."""
    return (
        settings.report is not None
        or settings.cost_per_cpu_hour is not None
        or config.get_verbosity() > 0
    )


def cost_summary(config: pytest.Config, settings: Settings) -> CostSummary | None:
    """The run's cost summary with redacted test ids, or None when nothing measured cost."""
    ledger = config.stash.get(LEDGER_KEY, None)
    if ledger is None:
        return None
    summary = ledger.summary(settings.cost_per_cpu_hour)
    redactor = redactor_of(config)
    if redactor is None:
        return summary
    tests = tuple((redactor.redact(nodeid), seconds) for nodeid, seconds in summary.top_tests)
    return dataclasses.replace(summary, top_tests=tests)


def write_cost_section(terminalreporter: Any, summary: CostSummary | None) -> None:
    """The ``kisys cost`` terminal section (callers decide whether it is shown)."""
    if summary is None or not summary.tests:
        return
    terminalreporter.write_sep("-", "kisys cost")
    for line in summary.lines():
        terminalreporter.write_line(line)


class CostRole:
    """Per-test CPU time for the cost summary while tracing is off."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.ledger = CostLedger()
        self._by_marker = settings.cost_per_cpu_hour is not None
        config.stash[LEDGER_KEY] = self.ledger

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, object, object]:
        """CPU seconds from the start of setup to the end of teardown."""
        cpu = time.process_time_ns()
        result = yield
        seconds = (time.process_time_ns() - cpu) / 1e9
        markers = tuple({m.name for m in item.iter_markers()}) if self._by_marker else ()
        self.ledger.add(item.nodeid, seconds, markers)
        return result

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """xdist controller: merge each worker's entries."""
        entries = getattr(node, "workeroutput", {}).get(WORKEROUTPUT_KEY)
        if isinstance(entries, list):
            self.ledger.extend(entries)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """xdist worker: hand the entries to the controller."""
        workeroutput = getattr(self.config, "workeroutput", None)
        if isinstance(workeroutput, dict):
            workeroutput[WORKEROUTPUT_KEY] = [list(entry) for entry in self.ledger.entries]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """The ``kisys cost`` section with ``-v`` or a cost rate (as with tracing on)."""
        if self.settings.cost_per_cpu_hour is not None or self.config.get_verbosity() > 0:
            write_cost_section(terminalreporter, cost_summary(self.config, self.settings))

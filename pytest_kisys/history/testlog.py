"""The per-test hot path of the history: one list append per report, rows built later.

On the controller (or a plain run) :class:`TestLog` is the only history code pytest calls per
test: ``pytest_runtest_logreport`` appends a small tuple of the report (not the report itself,
so the heap stays small until the poll) and ``pytest_runtest_logfinish`` appends
``(nodeid, time)``. :class:`TestRows` turns that log into ``tests`` rows, span events and cost
entries when the recorder's writer thread polls (and once more at session end), so no row,
dict or event is built while a test runs. On an xdist worker :class:`WorkerMarkers` attaches
each test's marker names to its setup report instead (the controller has no items).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Generator
from collections.abc import Iterable
import json
import time
from typing import Any

import pytest

from pytest_kisys.history import rows as R
from pytest_kisys.history.interface import Event
from pytest_kisys.history.interface import Row


MARKERS_ATTR = "kisys_markers"
_NO_DATA: dict[str, Any] = {}
_string: Callable[[str], str] = json.encoder.encode_basestring_ascii
Phase = tuple[str, str, str, bool, float, Any, Any]
"""One report as the log keeps it: nodeid, when, outcome, wasxfail, duration, start, and the
marker names an xdist worker attached (``None`` otherwise)."""


class TestLog:
    """Controller: what pytest reported, in order, for :class:`TestRows` to read."""

    __test__ = False  # not a test class, whatever pytest's python_classes say

    def __init__(self) -> None:
        self.entries: list[Phase | tuple[str, float]] = []
        """Each item a :data:`Phase` of a report or ``(nodeid, finished)`` (the test is done)."""

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Keep what the row needs of the report, not the report (a smaller heap until the poll)."""
        self.entries.append(
            (
                report.nodeid,
                report.when,
                report.outcome,
                getattr(report, "wasxfail", None) is not None,
                report.duration,
                getattr(report, "start", None),
                getattr(report, MARKERS_ATTR, None),
            )
        )

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        """A test is done."""
        self.entries.append((nodeid, time.time()))

    def take(self) -> list[Phase | tuple[str, float]]:
        """Everything logged since the last call (safe against appends meanwhile)."""
        entries = self.entries
        count = len(entries)
        taken = entries[:count]
        del entries[:count]
        return taken


class WorkerMarkers:
    """xdist worker: the test's marker names travel with its setup report."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: Any) -> Generator[None, Any, Any]:
        """Attach the test's marker names to its setup report (the controller groups cost by them)."""
        report = yield
        if call.when == "setup":
            setattr(report, MARKERS_ATTR, sorted({m.name for m in item.iter_markers()}))
        return report


class MarkerNames:
    """Marker names of the session's items by node id, looked up when a test's row is built.

    Markers of a node's parents are gathered once per parent, so a test costs one set union.
    """

    def __init__(self, items: Callable[[], Iterable[pytest.Item]], redact: Callable[[str], str]) -> None:
        self._items = items
        self._redact = redact
        self._by_id: dict[str, pytest.Item] | None = None
        self._masked: dict[str, pytest.Item] | None = None
        self._inherited: dict[int, frozenset[str]] = {}
        self._sorted: dict[frozenset[str], tuple[str, ...]] = {}

    def of(self, nodeid: str) -> tuple[str, ...]:
        """Sorted marker names of the test ``nodeid`` (a masked id too); ``()`` if unknown."""
        if self._by_id is None:
            self._by_id = {item.nodeid: item for item in self._items()}
        item = self._by_id.get(nodeid)
        if item is None:
            if self._masked is None:  # an explicit id that masking changed: rare
                self._masked = {self._redact(i.nodeid): i for i in self._by_id.values()}
            item = self._masked.get(nodeid)
            if item is None:
                return ()
        names = self._parents(item.parent)
        own = item.own_markers
        if own:
            names = names.union(m.name for m in own)
        hit = self._sorted.get(names)
        if hit is None:
            hit = self._sorted[names] = tuple(sorted(names))
        return hit

    def _parents(self, node: pytest.Collector | None) -> frozenset[str]:
        if node is None:
            return frozenset()
        key = id(node)
        hit = self._inherited.get(key)
        if hit is None:
            hit = self._parents(node.parent).union(m.name for m in node.own_markers)
            self._inherited[key] = hit
        return hit


class TestRows:
    """Builds ``tests`` rows, span events and cost entries from a :class:`TestLog`."""

    __test__ = False

    def __init__(self, markers: MarkerNames) -> None:
        self._markers = markers
        self._open: dict[str, list[Phase]] = {}
        self._marker_text: dict[tuple[str, ...], str] = {}
        self.counts: dict[str, int] = dict.fromkeys(R.OUTCOMES, 0)
        self.costs: list[tuple[str, float, tuple[str, ...]]] = []

    def build(self, entries: Iterable[Phase | tuple[str, float]]) -> tuple[list[Row], list[Event]]:
        """The rows and events of the tests that finished in ``entries`` (phases of tests
        still running are kept for the next call)."""
        rows: list[Row] = []
        events: list[Event] = []
        open_ = self._open
        for entry in entries:
            if len(entry) == 2:
                nodeid, finished = entry
                self._finished(nodeid, finished, open_.pop(nodeid, []), rows, events)
            else:
                phases = open_.get(entry[0])
                if phases is None:
                    open_[entry[0]] = [entry]
                else:
                    phases.append(entry)
        return rows, events

    def _finished(
        self,
        nodeid: str,
        finished: float,
        reports: list[Phase],
        rows: list[Row],
        events: list[Event],
    ) -> None:
        phases: dict[str, tuple[str, bool]] = {}
        duration = 0.0
        markers: tuple[str, ...] | None = None
        for _, when, outcome, wasxfail, took, _, sent in reports:
            phases[when] = (outcome, wasxfail)
            duration += took
            if when == "setup" and sent is not None:  # from an xdist worker
                markers = tuple(sent)
        started = reports[0][5] if reports else None
        if not isinstance(started, float):
            started = finished - duration
        outcome = R.outcome_of(phases)
        self.counts[outcome] += 1
        if markers is None:
            markers = self._markers.of(nodeid)
        self.costs.append((nodeid, duration, markers))
        rows.append(
            {
                "nodeid": nodeid,
                "module": nodeid.partition("::")[0],
                "outcome": outcome,
                "started": started,
                "duration": duration,
                "markers": self._marker_json(markers),
            }
        )
        # The two span events as JSON text (``R.span`` of the test), built without a dict or a
        # json.dumps each: the name is the one value that needs escaping.
        head = f'{{"name": {_string(nodeid)}, "kind": "test", "start": {started!r}, "end": '
        events.append(Event("trace.span.created", started, _NO_DATA, f'{head}null, "status": ""}}'))
        ended = f'{head}{started + duration!r}, "status": "{outcome}"}}'
        events.append(Event("trace.span.ended", finished, _NO_DATA, ended))

    def _marker_json(self, markers: tuple[str, ...]) -> str:
        """The ``markers`` column: one ``json.dumps`` per distinct marker tuple."""
        hit = self._marker_text.get(markers)
        if hit is None:
            hit = self._marker_text[markers] = R.dumps(list(markers)) if markers else "[]"
        return hit

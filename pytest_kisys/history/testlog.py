"""The per-test hot path of the history: one list append per report, rows built at a flush.

In a plain run :class:`TestLog` sees each report through the masking role's report wrapper
(:meth:`~pytest_kisys.secrets.masking.MaskingPlugin.on_report`, the run's one per-report
wrapper): one call and one list append per report, no hookimpl of its own. On an xdist
controller, which makes no reports, it is a ``pytest_runtest_logreport`` hookimpl instead. At
most every ``interval`` seconds it calls the history's flush on the test loop's own thread (no
writer thread competes with it): when a test's setup report is made (a plain run; the tests
before it are final by then, also where a plugin such as pytest-rerunfailures changes a
report between making and logging it) or logged (xdist). :class:`TestRows` turns the reports
into ``tests`` rows (tuples) and cost entries at that flush, so no row is built while a test
runs. A test is finished with its teardown report; the teardown of an attempt that
pytest-rerunfailures reruns (a phase of it reported ``rerun``) is not logged, and its rows do
not count it. On an xdist worker :class:`WorkerMarkers` attaches each test's marker names to
its setup report instead (the controller has no items).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Generator
from collections.abc import Iterable
from collections.abc import Sequence
import time
from typing import Any

import pytest

from pytest_kisys.history import rows as R
from pytest_kisys.history.interface import TestRow


MARKERS_ATTR = "kisys_markers"
_RERUN = "rerun"  # pytest-rerunfailures' outcome of an attempt it runs again
_monotonic = time.monotonic


class TestLog:
    """What pytest reported, in order, for :class:`TestRows` to read."""

    __test__ = False  # not a test class, whatever pytest's python_classes say

    def __init__(self, flush: Callable[[], None] = lambda: None, interval: float = 0.5) -> None:
        self.reports: list[pytest.TestReport] = []
        self._flush = flush
        self._interval = interval
        self._due = _monotonic() + interval

    def log(self, report: pytest.TestReport) -> None:
        """The masking wrapper's tap: keep the report; at a test's setup, flush when the
        interval is up."""
        self.reports.append(report)
        if report.when == "setup" and _monotonic() >= self._due:
            self._flush()
            self._due = _monotonic() + self._interval

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """xdist controller: keep the report; after a test's teardown, flush when the interval is up."""
        self.reports.append(report)
        if report.when == "teardown" and _monotonic() >= self._due:
            self._flush()
            self._due = _monotonic() + self._interval

    def take(self) -> list[pytest.TestReport]:
        """Everything logged since the last call (safe against appends meanwhile)."""
        reports = self.reports
        count = len(reports)
        taken = reports[:count]
        del reports[:count]
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
        self._by_marks: dict[object, tuple[str, ...]] = {}

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
        parent, own = item.parent, item.own_markers
        # The items of one parametrized function share its mark objects: one key for them all,
        # built without a Python-level loop (the marks live as long as the items).
        key = (id(parent), *map(id, own)) if own else id(parent)
        hit = self._by_marks.get(key)
        if hit is None:
            names = self._parents(parent)
            if own:
                names = names.union(m.name for m in own)
            hit = self._sorted.get(names)
            if hit is None:
                hit = self._sorted[names] = tuple(sorted(names))
            self._by_marks[key] = hit
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


def _phases(reports: Iterable[pytest.TestReport]) -> dict[str, tuple[str, bool]]:
    """``when -> (outcome, wasxfail)`` of a test's reports (a later one of a phase wins)."""
    return {r.when: (r.outcome, "wasxfail" in r.__dict__) for r in reports}


def _stamp(report: pytest.TestReport, name: str) -> float | None:
    """The report's ``start`` or ``stop`` epoch time, if it carries one."""
    value = getattr(report, name, None)
    return value if isinstance(value, float) and value > 0 else None


class TestRows:
    """Builds ``tests`` rows and cost entries from the reports of a :class:`TestLog`."""

    __test__ = False

    def __init__(self, markers: MarkerNames) -> None:
        self._markers = markers
        self._open: dict[str, list[pytest.TestReport]] = {}
        self._marker_text: dict[tuple[str, ...], str] = {}
        self.counts: dict[str, int] = dict.fromkeys(R.OUTCOMES, 0)
        self._seconds: dict[tuple[str, tuple[str, ...]], float] = {}
        self._held: pytest.TestReport | None = None

    @property
    def costs(self) -> list[tuple[str, float, tuple[str, ...]]]:
        """``(module, seconds, markers)`` per distinct module and marker set, in first-seen
        order: what :func:`~pytest_kisys.history.rows.cost_rows` groups (a module's path is
        its own module), without one ledger entry per test."""
        return [(module, seconds, markers) for (module, markers), seconds in self._seconds.items()]

    def build(self, reports: Sequence[pytest.TestReport], *, final: bool = True) -> list[TestRow]:
        """The rows of the tests whose teardown is in ``reports``, in that order (the earlier
        phases of tests still running are kept for the next call).

        Unless ``final``, a teardown that is the last report is kept for the next call too:
        a plugin may still change the reports of its test (pytest-rerunfailures marks an
        attempt ``rerun`` once its teardown is made).
        """
        held = self._held
        if held is not None:
            reports = [held, *reports]
            self._held = None
        if not final and reports and reports[-1].when == "teardown":
            self._held = reports[-1]
            reports = reports[:-1]
        rows: list[TestRow] = []
        open_ = self._open
        for report in reports:
            nodeid = report.nodeid  # a property (pytest 9 keeps a NodeId): read it once
            if report.when != "teardown":
                phases = open_.get(nodeid)
                if phases is None:
                    open_[nodeid] = [report]
                else:
                    phases.append(report)
                continue
            earlier = open_.pop(nodeid, None)
            row = self._row(nodeid, report, earlier)
            if row is not None:
                rows.append(row)
            elif earlier is not None:
                open_[nodeid] = earlier  # an attempt run again: its test goes on
        return rows

    def _row(
        self, nodeid: str, teardown: pytest.TestReport, earlier: list[pytest.TestReport] | None
    ) -> TestRow | None:
        reports = (*earlier, teardown) if earlier else (teardown,)
        duration = 0.0
        passed = True
        for report in reports:
            duration += report.duration
            if passed and (report.outcome != "passed" or "wasxfail" in report.__dict__):
                passed = False
        if passed:  # every phase passed (most tests): no phase table to build
            outcome = "passed"
        elif earlier and earlier[-1].outcome == _RERUN:
            return None  # pytest-rerunfailures logs no teardown of an attempt it runs again
        else:
            outcome = R.outcome_of(_phases(reports))
        first = reports[0]
        fields = first.__dict__
        started = fields.get("start")
        if not (isinstance(started, float) and started > 0):  # no timestamps: an old xdist worker
            stopped = _stamp(teardown, "stop")
            started = (time.time() if stopped is None else stopped) - duration
        self.counts[outcome] += 1
        sent = fields.get(MARKERS_ATTR) if first.when == "setup" else None
        markers = self._markers.of(nodeid) if sent is None else tuple(sent)  # sent: xdist worker
        module = nodeid.partition("::")[0]
        key = (module, markers)
        seconds = self._seconds
        seconds[key] = seconds.get(key, 0.0) + duration
        text = self._marker_text.get(markers)
        if text is None:
            text = self._marker_json(markers)
        return (nodeid, module, outcome, started, duration, text)

    def _marker_json(self, markers: tuple[str, ...]) -> str:
        """The ``markers`` column: one ``json.dumps`` per distinct marker tuple."""
        hit = self._marker_text.get(markers)
        if hit is None:
            hit = self._marker_text[markers] = R.dumps(list(markers)) if markers else "[]"
        return hit

"""The history store interface: what a run writes, as frozen values, and the store protocol.

A run writes :class:`Batch` objects: rows for the tables of :mod:`pytest_kisys.history.schema`,
the live :class:`Event` objects the dashboard follows, and changed fields of its own ``runs``
row. Each backend (stdlib SQLite, SQLAlchemy) is one module implementing :class:`HistoryStore`;
nothing here imports a database library.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
import json
from typing import Any
from typing import get_args
from typing import Literal
from typing import Protocol


EventType = Literal[
    "run.started",
    "trace.span.created",
    "trace.span.ended",
    "scan.completed",
    "vulnerability.detected",
    "secret.detected",
    "cost.calculated",
    "run.finished",
]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)

Row = Mapping[str, Any]
TestRow = tuple[str, str, str, float, float, str]
"""A ``tests`` row as the run writes it: the values of :data:`TEST_COLUMNS`, in that order."""
TEST_COLUMNS = ("nodeid", "module", "outcome", "started", "duration", "markers")
TESTS_RECORDED = "tests.recorded"
"""The type of the one stored event per flush that stands for its tests' span events: its data
is ``{"upto": ID, "count": N}`` (the run's N ``tests`` rows with ``id <= ID``). It is never sent
as such: the dashboard's feed sends each test's ``trace.span.created`` and ``trace.span.ended``
in its place, built from those rows (:data:`SEQ_SCALE`)."""
SEQ_SCALE = 1 << 20
"""The feed's ``seq`` of a stored event is its ``events.seq`` times this; the span events a
:data:`TESTS_RECORDED` event stands for take the next ``2 * count`` numbers (so ``count`` is at
most ``SEQ_SCALE // 2`` per event, and the store splits bigger flushes)."""


@dataclass(frozen=True)
class Event:
    """One live event of a run; ``data`` is JSON-serialisable and never holds a secret value."""

    type: EventType
    ts: float
    data: Mapping[str, Any]

    def json(self) -> str:
        """The JSON text of ``data``, as the ``events`` table keeps it."""
        return json.dumps(self.data)


@dataclass(frozen=True)
class Batch:
    """What one flush of the recorder writes, in one transaction."""

    rows: Mapping[str, tuple[Row, ...]] = field(default_factory=dict)
    """Table name -> new rows (without ``id`` and ``run_id``, which the store fills in)."""
    tests: tuple[TestRow, ...] = ()
    """New ``tests`` rows as tuples (one ``executemany``); the store follows them with their
    :data:`TESTS_RECORDED` event, before ``events``."""
    events: tuple[Event, ...] = ()
    run: Row = field(default_factory=dict)
    """Changed fields of this run's ``runs`` row."""

    def __bool__(self) -> bool:
        return bool(self.tests or self.events or self.run or any(self.rows.values()))


class HistoryStore(Protocol):
    """A place runs are recorded. Every method raises :class:`HistoryError` when it cannot."""

    url: str
    """Where the store is, with any password masked (for messages)."""

    def start_run(self, run: Row) -> None:
        """Insert this run's ``runs`` row (with its ``id``)."""
        ...

    def write(self, run_id: str, batch: Batch) -> None:
        """Write ``batch`` for run ``run_id`` in one transaction."""
        ...

    def prune(self, keep: int) -> int:
        """Delete all but the newest ``keep`` runs and what belongs to them; returns how many."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...

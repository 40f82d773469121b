"""The recorder: gathers a run's rows and events and writes them from one background thread.

The pytest hooks only append to in-memory lists; every ``interval`` seconds the writer thread
asks the poll callback for what else the run learned (decisions, installs, checks, stages),
and writes one :class:`~pytest_kisys.history.interface.Batch`. A store that cannot be opened or
written is dropped after the first error (kept in :attr:`Recorder.error` for the one warning);
the rows stay in memory for the HTML report, and the tests never notice.
"""

from __future__ import annotations

from collections.abc import Callable
import threading
from typing import Any

from pytest_kisys.errors import HistoryError
from pytest_kisys.history.interface import Batch
from pytest_kisys.history.interface import Event
from pytest_kisys.history.interface import HistoryStore
from pytest_kisys.history.interface import Row


class Recorder:
    """Thread-safe buffer of one run's history, with an optional writer thread."""

    def __init__(
        self,
        run: Row,
        opener: Callable[[], HistoryStore] | None,
        *,
        poll: Callable[[], None] = lambda: None,
        interval: float = 0.5,
        keep: int = 0,
        keep_rows: bool = True,
    ) -> None:
        self.run: dict[str, Any] = dict(run)
        self.rows: dict[str, list[Row]] = {}
        """Every row of the run so far, by table, with ``keep_rows`` (the HTML report reads these)."""
        self._keep_rows = keep_rows
        self.error: str | None = None
        self.url: str | None = None
        self._opener = opener
        self._poll = poll
        self._interval = interval
        self._keep = keep
        self._store: HistoryStore | None = None
        self._lock = threading.Lock()
        self._pending: dict[str, list[Row]] = {}
        self._events: list[Event] = []
        self._run_changes: dict[str, Any] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, table: str, rows: list[Row]) -> None:
        """Queue rows for ``table``."""
        with self._lock:
            if self._opener is not None:
                self._pending.setdefault(table, []).extend(rows)
            if self._keep_rows:
                self.rows.setdefault(table, []).extend(rows)

    def emit(self, events: list[Event]) -> None:
        """Queue live events."""
        if self._opener is None:
            return  # events only matter to a store
        with self._lock:
            self._events.extend(events)

    def update_run(self, **fields: Any) -> None:
        """Change fields of this run's ``runs`` row."""
        with self._lock:
            self._run_changes.update(fields)
            self.run.update(fields)

    def start(self) -> None:
        """Start the writer thread (nothing to start without a store)."""
        if self._opener is None:
            return
        self._thread = threading.Thread(target=self._loop, name="kisys-history", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        self._open()
        while not self._stop.wait(self._interval):
            self.flush()

    def _open(self) -> None:
        assert self._opener is not None  # noqa: S101  # nosec B101 - start() checked it
        try:
            self._store = self._opener()
            self.url = self._store.url
            self._store.start_run(self.run)
        except HistoryError as exc:
            self._fail(exc)

    def _fail(self, exc: HistoryError) -> None:
        self.error = str(exc)
        store, self._store = self._store, None
        if store is not None:
            try:
                store.close()
            except HistoryError:
                pass  # the first error is the one reported

    def flush(self) -> None:
        """Poll the run, then write what is queued (one transaction)."""
        self._poll()
        with self._lock:
            batch = Batch(
                rows={k: tuple(v) for k, v in self._pending.items() if v},
                events=tuple(self._events),
                run=dict(self._run_changes),
            )
            self._pending, self._events, self._run_changes = {}, [], {}
        if self._store is None or not batch:
            return
        try:
            self._store.write(str(self.run["id"]), batch)
        except HistoryError as exc:
            self._fail(exc)

    def finish(self) -> None:
        """Stop the thread, write the rest, prune to ``keep`` runs and close the store."""
        if self._thread is None:
            self._poll()
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        self.flush()
        store, self._store = self._store, None
        if store is None:
            return
        try:
            if self._keep > 0:
                store.prune(self._keep)
        except HistoryError as exc:
            self.error = str(exc)
        finally:
            store.close()

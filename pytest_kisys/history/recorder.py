"""The recorder: gathers a run's rows and events and writes them to the store, in batches.

The pytest hooks only append to in-memory lists. The test loop's own thread calls
:meth:`Recorder.flush` at most every ``interval`` seconds (after a test's teardown, see
:class:`~pytest_kisys.history.testlog.TestLog`): the flush asks the poll callback for what the
run learned (tests, decisions, installs, checks, stages) and writes one
:class:`~pytest_kisys.history.interface.Batch`. The recorder's own thread opens the store at
session start (the tests never wait for a slow database) and then only watches: it flushes when
nothing was flushed for ``interval`` seconds (a long test holds the loop, or a check finished
meanwhile), so in a run of quick tests it wakes twice a second and does nothing. A store that
cannot be opened or written is dropped after the first error (kept in :attr:`Recorder.error`
for the one warning); the rows stay in memory for the HTML report, and the tests never notice.
"""

from __future__ import annotations

from collections.abc import Callable
import threading
import time
from typing import Any

from pytest_kisys.errors import HistoryError
from pytest_kisys.history.interface import Batch
from pytest_kisys.history.interface import Event
from pytest_kisys.history.interface import HistoryStore
from pytest_kisys.history.interface import Row
from pytest_kisys.history.interface import TEST_COLUMNS
from pytest_kisys.history.interface import TestRow


class Recorder:
    """Thread-safe buffer of one run's history, written by whichever thread flushes."""

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
        """Every row of the run so far but ``tests``, by table, with ``keep_rows``."""
        self.tests: list[TestRow] = []
        """Every ``tests`` row so far, with ``keep_rows`` (the HTML report reads :meth:`kept`)."""
        self._keep_rows = keep_rows
        self.error: str | None = None
        self.url: str | None = None
        self._opener = opener
        self._poll = poll
        self.interval = interval
        self._keep = keep
        self._store: HistoryStore | None = None
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._opened = threading.Event()
        self._stop = threading.Event()
        self._flushed = time.monotonic()
        self._pending: dict[str, list[Row]] = {}
        self._tests: list[TestRow] = []
        self._events: list[Event] = []
        self._run_changes: dict[str, Any] = {}
        self._thread: threading.Thread | None = None

    def add(self, table: str, rows: list[Row]) -> None:
        """Queue rows for ``table``."""
        with self._lock:
            if self._opener is not None:
                self._pending.setdefault(table, []).extend(rows)
            if self._keep_rows:
                self.rows.setdefault(table, []).extend(rows)

    def add_tests(self, rows: list[TestRow]) -> None:
        """Queue ``tests`` rows (tuples of :data:`~pytest_kisys.history.interface.TEST_COLUMNS`)."""
        with self._lock:
            if self._opener is not None:
                self._tests.extend(rows)
            if self._keep_rows:
                self.tests.extend(rows)

    def kept(self) -> dict[str, list[Row]]:
        """Every row kept so far by table, ``tests`` as mappings (for the HTML report)."""
        with self._lock:
            return {**self.rows, "tests": [dict(zip(TEST_COLUMNS, row, strict=True)) for row in self.tests]}

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
        """Start the recorder's thread: it opens the store, then watches for idle intervals."""
        if self._opener is None:
            self._opened.set()
            return
        self._thread = threading.Thread(target=self._loop, name="kisys-history", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        self._open()
        self.flush()
        while not self._stop.wait(self.interval):
            if time.monotonic() - self._flushed >= self.interval:
                self.flush()

    def _open(self) -> None:
        assert self._opener is not None  # noqa: S101  # nosec B101 - start() checked it
        try:
            self._store = self._opener()
            self.url = self._store.url
            self._store.start_run(self.run)
        except HistoryError as exc:
            self._fail(exc)
        finally:
            self._opened.set()

    def _fail(self, exc: HistoryError) -> None:
        self.error = str(exc)
        store, self._store = self._store, None
        if store is not None:
            try:
                store.close()
            except HistoryError:
                pass  # the first error is the one reported

    def flush(self) -> None:
        """Poll the run, then write what is queued (one transaction); from any thread.

        While the store is still being opened this does nothing: the data stays queued.
        """
        if not self._opened.is_set():
            return
        with self._flushing:  # one flush at a time, so the store's events keep their order
            self._flushed = time.monotonic()
            self._poll()
            with self._lock:
                batch = Batch(
                    rows={k: tuple(v) for k, v in self._pending.items() if v},
                    tests=tuple(self._tests),
                    events=tuple(self._events),
                    run=dict(self._run_changes),
                )
                self._pending, self._tests, self._events, self._run_changes = {}, [], [], {}
            if self._store is None or not batch:
                return
            try:
                self._store.write(str(self.run["id"]), batch)
            except HistoryError as exc:
                self._fail(exc)

    def finish(self) -> None:
        """Stop the thread, write the rest, prune to ``keep`` runs and close the store."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        self._opened.set()
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

"""The default history store: one SQLite file through the standard library's ``sqlite3``.

Needs no extra: every ``pytest --kisys`` run can record without SQLAlchemy installed. It applies
the same schema revisions as the Alembic scripts (:mod:`pytest_kisys.history.schema`) and keeps
the revision in ``alembic_version``, so the dashboard (SQLAlchemy) and Alembic read and upgrade
the file it wrote. WAL mode lets the dashboard read while a run writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
import sqlite3
from typing import Any

from pytest_kisys.errors import HistoryError
from pytest_kisys.history import schema
from pytest_kisys.history.interface import Batch
from pytest_kisys.history.interface import Row
from pytest_kisys.history.interface import SEQ_SCALE
from pytest_kisys.history.interface import TEST_COLUMNS
from pytest_kisys.history.interface import TestRow
from pytest_kisys.history.interface import TESTS_RECORDED


_TYPES = {
    "serial": "INTEGER PRIMARY KEY AUTOINCREMENT",
    "key": "TEXT PRIMARY KEY",
    "text": "TEXT",
    "int": "INTEGER",
    "float": "REAL",
}
_MAX_VARIABLES = 999
"""Bound parameters per statement: SQLite's smallest compiled-in limit."""
_TEST_COLUMNS = ("run_id", *TEST_COLUMNS)
_INSERT_EVENT = "INSERT INTO events (run_id, ts, type, data) VALUES (?, ?, ?, ?)"


def table_ddl(table: schema.Table) -> list[str]:
    """``CREATE TABLE`` and ``CREATE INDEX`` statements of ``table`` for SQLite."""
    cols = []
    for col in table.columns:
        null = "" if col.nullable or col.base in ("serial", "key") else " NOT NULL"
        cols.append(f"{col.name} {_TYPES[col.base]}{null}")
    out = [f"CREATE TABLE {table.name} ({', '.join(cols)})"]
    for index in table.indexes:
        out.append(
            f"CREATE INDEX {schema.index_name(table.name, index)} ON {table.name} ({', '.join(index)})"
        )
    return out


class SQLiteStore:
    """:class:`~pytest_kisys.history.interface.HistoryStore` over a SQLite file."""

    def __init__(self, path: Path, *, timeout: float = 5.0) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # The recorder's writer thread owns the connection after the plugin opened it.
            self._db = sqlite3.connect(path, timeout=timeout, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise HistoryError(f"cannot open the history store {self.url}: {exc}") from exc

    def _migrate(self) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL,"
                " CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
            )
            row = db.execute("SELECT version_num FROM alembic_version").fetchone()
            current = row[0] if row else None
            try:
                steps = schema.pending(current)
            except ValueError:
                raise HistoryError(
                    f"the history store {self.url} has schema revision {current!r}, newer than this "
                    f"kisys knows ({schema.HEAD}): upgrade pytest-kisys or use another history_url"
                ) from None
            for rev in steps:
                for table in rev.tables:
                    for statement in table_ddl(table):
                        db.execute(statement)
            if steps:
                db.execute("DELETE FROM alembic_version")
                db.execute("INSERT INTO alembic_version VALUES (?)", (schema.HEAD,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def start_run(self, run: Row) -> None:
        """Insert the ``runs`` row."""
        self._guarded(lambda: self._insert("runs", [dict(run)]))

    def write(self, run_id: str, batch: Batch) -> None:
        """Rows, events and run fields of ``batch`` in one transaction."""

        def work() -> None:
            for name, rows in batch.rows.items():
                self._insert(name, rows, run_id)
            self._insert_tests(run_id, batch.tests)
            if batch.events:
                values: list[Any] = []
                for e in batch.events:
                    values += (run_id, e.ts, e.type, e.json())
                self._insert_values("events", ("run_id", "ts", "type", "data"), values)
            if batch.run:
                fields = list(batch.run)
                assign = ", ".join(f"{f} = ?" for f in fields)
                sql = f"UPDATE runs SET {assign} WHERE id = ?"  # noqa: S608  # nosec B608 - schema names only
                self._db.execute(sql, [*(batch.run[f] for f in fields), run_id])

        self._guarded(work)

    def _insert_tests(self, run_id: str, tests: Sequence[TestRow]) -> None:
        """``tests`` rows, each chunk followed by its
        :data:`~pytest_kisys.history.interface.TESTS_RECORDED` event.

        Multi-row ``INSERT``s (142 rows a statement): 13.5 k instructions a row under
        callgrind, against 22.5 k for an ``executemany`` of the same tuples.
        """
        db = self._db
        per = SEQ_SCALE // 2
        for start in range(0, len(tests), per):
            chunk = tests[start : start + per]
            values: list[Any] = []
            for row in chunk:
                values.append(run_id)
                values += row
            self._insert_values("tests", _TEST_COLUMNS, values)
            (upto,) = db.execute("SELECT last_insert_rowid()").fetchone()
            data = f'{{"upto": {upto}, "count": {len(chunk)}}}'
            db.execute(_INSERT_EVENT, (run_id, chunk[-1][3] + chunk[-1][4], TESTS_RECORDED, data))

    def _insert(self, name: str, rows: Sequence[Row], run_id: str | None = None) -> None:
        """``rows`` into ``name`` (each with ``run_id`` when given)."""
        if not rows:
            return
        first = rows[0]
        cols = [c for c in schema.TABLES[name].column_names if c in first or (c == "run_id" and run_id)]
        values = [run_id if c == "run_id" and run_id else row.get(c) for row in rows for c in cols]
        self._insert_values(name, cols, values)

    def _insert_values(self, name: str, cols: Sequence[str], values: list[Any]) -> None:
        # Many rows per statement: one step (one GIL release and reacquire) per chunk, not per
        # row, so the writer thread barely competes with the test loop.
        width = len(cols)
        per = max(1, _MAX_VARIABLES // width) * width
        head = f"INSERT INTO {name} ({', '.join(cols)}) VALUES "  # noqa: S608  # nosec B608 - schema names only
        one = f"({', '.join('?' * width)})"
        for start in range(0, len(values), per):
            chunk = values[start : start + per]
            self._db.execute(head + ", ".join([one] * (len(chunk) // width)), chunk)

    def _guarded(self, work: Any) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                work()
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise HistoryError(f"cannot write to the history store {self.url}: {exc}") from exc

    def prune(self, keep: int) -> int:
        """Delete runs older than the newest ``keep`` and their rows."""
        removed = 0

        def work() -> None:
            nonlocal removed
            old = [
                r[0]
                for r in self._db.execute(
                    "SELECT id FROM runs ORDER BY started DESC LIMIT -1 OFFSET ?", (keep,)
                )
            ]
            for start in range(0, len(old), 500):
                chunk = old[start : start + 500]
                marks = ", ".join("?" for _ in chunk)
                for name in (*schema.CHILD_TABLES, "runs"):
                    key = "id" if name == "runs" else "run_id"
                    sql = f"DELETE FROM {name} WHERE {key} IN ({marks})"  # noqa: S608  # nosec B608 - schema names only
                    self._db.execute(sql, chunk)
            removed = len(old)

        self._guarded(work)
        return removed

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

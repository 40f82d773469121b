"""The history store for any SQLAlchemy URL (PostgreSQL for a team's CI runners), Core only.

Needs the ``dashboard`` extra (SQLAlchemy, Alembic and a driver such as psycopg); imported only
when ``history_url`` names a non-SQLite database, and by the dashboard, which reads every store
through SQLAlchemy. The schema is migrated with Alembic to :data:`~pytest_kisys.history.schema.HEAD`
(scripts in ``migrations/``, one per :class:`~pytest_kisys.history.schema.Revision`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from pytest_kisys.errors import HistoryError
from pytest_kisys.history import schema
from pytest_kisys.history.interface import Batch
from pytest_kisys.history.interface import Row
from pytest_kisys.history.interface import SEQ_SCALE
from pytest_kisys.history.interface import TEST_COLUMNS
from pytest_kisys.history.interface import TestRow
from pytest_kisys.history.interface import TESTS_RECORDED


MIGRATIONS = Path(__file__).with_name("migrations")


def _sa_type(base: str) -> Any:
    return {
        "serial": sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        "key": sa.String(64),
        "text": sa.Text(),
        "int": sa.Integer(),
        "float": sa.Float(),
    }[base]


def columns(table: schema.Table) -> list[sa.Column[Any]]:
    """SQLAlchemy columns of ``table`` (fresh objects: a Column belongs to one Table)."""
    out: list[sa.Column[Any]] = []
    for col in table.columns:
        key = col.base in ("serial", "key")
        out.append(
            sa.Column(
                col.name,
                _sa_type(col.base),
                primary_key=key,
                autoincrement=col.base == "serial",
                nullable=col.nullable or key,
            )
        )
    return out


def metadata() -> tuple[sa.MetaData, dict[str, sa.Table]]:
    """Every table of the current schema as SQLAlchemy Core ``Table`` objects."""
    meta = sa.MetaData()
    tables = {name: sa.Table(name, meta, *columns(t)) for name, t in schema.TABLES.items()}
    return meta, tables


def apply_revision(op: Any, revision_id: str) -> None:
    """Create what revision ``revision_id`` declares, through Alembic's ``op`` (migration scripts)."""
    [revision] = [r for r in schema.REVISIONS if r.id == revision_id]
    for table in revision.tables:
        op.create_table(table.name, *columns(table))
        for index in table.indexes:
            op.create_index(schema.index_name(table.name, index), table.name, list(index))


def safe_url(url: str) -> str:
    """``url`` with its password masked, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<invalid URL>"


def connect(url: str, *, migrate: bool = True) -> sa.Engine:
    """An engine for ``url`` whose schema is at :data:`~pytest_kisys.history.schema.HEAD`.

    :raises HistoryError: for a bad URL, a missing driver, an unreachable database or a
        schema newer than this kisys knows.
    """
    shown = safe_url(url)
    try:
        args = {"check_same_thread": False} if url.startswith("sqlite") else {}
        engine = sa.create_engine(url, pool_pre_ping=True, connect_args=args)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise HistoryError(
            f"history_url {shown} is not usable: {exc} (a SQLAlchemy URL such as "
            "postgresql+psycopg://user@host/db, with its driver installed)"
        ) from exc
    if migrate:
        try:
            with engine.begin() as conn:
                upgrade(conn)
        except sa.exc.SQLAlchemyError as exc:
            raise HistoryError(f"cannot open the history store {shown}: {exc}") from exc
    return engine


def current_revision(conn: sa.Connection) -> str | None:
    """The schema revision recorded in the store (None for an empty database)."""
    if not sa.inspect(conn).has_table(schema.VERSION_TABLE):
        return None
    row = conn.execute(sa.text("SELECT version_num FROM alembic_version")).first()
    return str(row[0]) if row else None


def upgrade(conn: sa.Connection) -> None:
    """Bring the store to HEAD with Alembic (a no-op when it is there already)."""
    current = current_revision(conn)
    try:
        steps = schema.pending(current)
    except ValueError:
        raise HistoryError(
            f"the history store has schema revision {current!r}, newer than this kisys knows "
            f"({schema.HEAD}): upgrade pytest-kisys"
        ) from None
    if not steps:
        return
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


class SAStore:
    """:class:`~pytest_kisys.history.interface.HistoryStore` over a SQLAlchemy engine."""

    def __init__(self, url: str) -> None:
        self.url = safe_url(url)
        self.engine = connect(url)
        _meta, self.tables = metadata()

    def _run(self, work: Any) -> None:
        try:
            with self.engine.begin() as conn:
                work(conn)
        except sa.exc.SQLAlchemyError as exc:
            raise HistoryError(f"cannot write to the history store {self.url}: {exc}") from exc

    def start_run(self, run: Row) -> None:
        """Insert the ``runs`` row."""
        self._run(lambda conn: conn.execute(sa.insert(self.tables["runs"]), [dict(run)]))

    def write(self, run_id: str, batch: Batch) -> None:
        """Rows, events and run fields of ``batch`` in one transaction."""

        def work(conn: sa.Connection) -> None:
            for name, rows in batch.rows.items():
                if rows:
                    conn.execute(sa.insert(self.tables[name]), [{**r, "run_id": run_id} for r in rows])
            self._insert_tests(conn, run_id, batch.tests)
            if batch.events:
                conn.execute(
                    sa.insert(self.tables["events"]),
                    [{"run_id": run_id, "ts": e.ts, "type": e.type, "data": e.json()} for e in batch.events],
                )
            if batch.run:
                runs = self.tables["runs"]
                conn.execute(sa.update(runs).where(runs.c.id == run_id).values(**batch.run))

        self._run(work)

    def _insert_tests(self, conn: sa.Connection, run_id: str, tests: tuple[TestRow, ...]) -> None:
        """``tests`` rows, each chunk followed by its ``TESTS_RECORDED`` event (the newest id of
        the run's rows: other runs' rows may interleave ids, never this run's)."""
        table = self.tables["tests"]
        per = SEQ_SCALE // 2
        for start in range(0, len(tests), per):
            chunk = tests[start : start + per]
            rows = [{"run_id": run_id, **dict(zip(TEST_COLUMNS, r, strict=True))} for r in chunk]
            conn.execute(sa.insert(table), rows)
            newest = sa.select(sa.func.max(table.c.id)).where(table.c.run_id == run_id)
            upto = conn.execute(newest).scalar_one()
            data = f'{{"upto": {int(upto)}, "count": {len(chunk)}}}'
            when = chunk[-1][3] + chunk[-1][4]
            conn.execute(
                sa.insert(self.tables["events"]),
                [{"run_id": run_id, "ts": when, "type": TESTS_RECORDED, "data": data}],
            )

    def prune(self, keep: int) -> int:
        """Delete runs older than the newest ``keep`` and their rows."""
        removed = 0

        def work(conn: sa.Connection) -> None:
            nonlocal removed
            runs = self.tables["runs"]
            old = list(
                conn.execute(sa.select(runs.c.id).order_by(runs.c.started.desc()).offset(keep)).scalars()
            )
            for start in range(0, len(old), 500):
                chunk = old[start : start + 500]
                for name in schema.CHILD_TABLES:
                    table = self.tables[name]
                    conn.execute(sa.delete(table).where(table.c.run_id.in_(chunk)))
                conn.execute(sa.delete(runs).where(runs.c.id.in_(chunk)))
            removed = len(old)

        self._run(work)
        return removed

    def close(self) -> None:
        """Dispose of the engine's connections."""
        self.engine.dispose()

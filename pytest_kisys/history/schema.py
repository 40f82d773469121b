"""The history schema, declared once as data, rendered by both store backends.

Each :class:`Revision` is one step of the versioned schema; the stdlib SQLite store applies
the steps itself and the SQLAlchemy store through Alembic (one Alembic revision per step, whose
script only calls :func:`pytest_kisys.history.sa_store.apply_revision`). Both keep the applied
revision in Alembic's own ``alembic_version`` table, so Alembic can take over a history file the
default store created. A step is never edited once released: a schema change is a new step.

Column types: ``serial`` (integer primary key, increasing), ``key`` (text primary key),
``text``, ``int``, ``float``; a ``?`` suffix makes the column nullable.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One column: name and portable type (see the module docstring)."""

    name: str
    type: str

    @property
    def nullable(self) -> bool:
        """Whether NULL is allowed (types ending in ``?``)."""
        return self.type.endswith("?")

    @property
    def base(self) -> str:
        """The type without the nullable mark."""
        return self.type.rstrip("?")


@dataclass(frozen=True)
class Table:
    """A table created by a revision, with the columns it is indexed on."""

    name: str
    columns: tuple[Column, ...]
    indexes: tuple[tuple[str, ...], ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        """Every column name, in declaration order."""
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True)
class Revision:
    """One step of the schema: an Alembic revision id and the tables it creates."""

    id: str
    down: str | None
    tables: tuple[Table, ...]


def _cols(spec: str) -> tuple[Column, ...]:
    """``"name:type, ..."`` as columns (keeps the declarations below readable)."""
    out = []
    for part in spec.split(","):
        name, _, type_ = part.strip().partition(":")
        out.append(Column(name, type_))
    return tuple(out)


_CHILD = "id:serial, run_id:text"
REVISIONS: tuple[Revision, ...] = (
    Revision(
        "kisys0001",
        None,
        (
            Table(
                "runs",
                _cols(
                    "id:key, name:text, project:text, host:text, kisys_version:text, started:float,"
                    " ended:float?, status:text, exit_status:int?, outcomes:text, tests:int,"
                    " findings:int, duration:float?, cost_seconds:float, money:float?, settings:text"
                ),
                (("started",), ("project", "started")),
            ),
            Table(
                "events",
                _cols("seq:serial, run_id:text, ts:float, type:text, data:text"),
                (("run_id",),),
            ),
            Table(
                "tests",
                _cols(
                    f"{_CHILD}, nodeid:text, module:text, outcome:text, started:float, duration:float,"
                    " markers:text"
                ),
                (("run_id",),),
            ),
            Table(
                "stages",
                _cols(
                    f"{_CHILD}, name:text, status:text, reason:text, started:float?, ended:float?,"
                    " attempts:int, source:text"
                ),
                (("run_id",),),
            ),
            Table(
                "findings",
                _cols(
                    f"{_CHILD}, check_kind:text, tool:text, rule_id:text, rule_name:text, severity:text,"
                    " path:text, line:int, message:text, fingerprint:text, package:text?,"
                    " version:text?, fix_versions:text, aliases:text"
                ),
                (("run_id", "check_kind"),),
            ),
            Table(
                "decisions",
                _cols(f"{_CHILD}, kind:text, name:text, action:text, data:text"),
                (("run_id",),),
            ),
            Table(
                "costs",
                _cols(f"{_CHILD}, grp:text, name:text, seconds:float, money:float?"),
                (("run_id",),),
            ),
        ),
    ),
)
HEAD = REVISIONS[-1].id
"""The newest schema revision this version of kisys knows."""

TABLES: dict[str, Table] = {t.name: t for rev in REVISIONS for t in rev.tables}
CHILD_TABLES: tuple[str, ...] = tuple(name for name in TABLES if name != "runs")
VERSION_TABLE = "alembic_version"


def index_name(table: str, columns: tuple[str, ...]) -> str:
    """The name of the index of ``table`` over ``columns`` (the same in every backend)."""
    return f"ix_{table}_{'_'.join(columns)}"


def pending(current: str | None) -> tuple[Revision, ...]:
    """The revisions after ``current`` (all of them for a new store).

    :raises ValueError: when ``current`` is not a revision this kisys knows (a newer kisys
        wrote the store).
    """
    ids = [rev.id for rev in REVISIONS]
    if current is None:
        return REVISIONS
    if current not in ids:
        raise ValueError(current)
    return REVISIONS[ids.index(current) + 1 :]

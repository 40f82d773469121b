"""History schema revision kisys0001: runs, events, tests, stages, findings, decisions, costs.

The tables are declared once in :mod:`pytest_kisys.history.schema`; this script applies them.
"""

from __future__ import annotations

from alembic import op

from pytest_kisys.history.sa_store import apply_revision


revision = "kisys0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the tables of revision kisys0001."""
    apply_revision(op, revision)


def downgrade() -> None:
    """Drop the tables of revision kisys0001."""
    from pytest_kisys.history import schema

    [rev] = [r for r in schema.REVISIONS if r.id == revision]
    for table in reversed(rev.tables):
        op.drop_table(table.name)
